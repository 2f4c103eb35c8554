//! The family's environment wired to the remote tool policy: `Config::from_lookup` with
//! `AUTHSEC_RESOURCE_SERVER_ID` (and the policy modes) builds a Guard whose tool manifest is
//! the control plane's, against the control-plane stand-in (tests/src/control_plane.rs) and
//! JWTs from the dev issuer.

use authsec_config::{BuildError, Config, PolicyMode};
use authsec_core::{
    AccessRequest, Authorization, Decision, DenialCode, Guard, McpHeaders, classify,
};
use authsec_jwks::control_plane::ControlPlaneError;
use authsec_tests::control_plane::{ControlPlaneStandIn, ready_policy};
use authsec_tests::dev_issuer::DevIssuer;

const RESOURCE: &str = "https://mcp.example.com/mcp";
const RS_ID: &str = "0b6c6f1e-5a7e-4b7a-9d43-3c1f2e0a9b11";
const SECRET: &str = "sec_test";

struct Setup {
    dev: DevIssuer,
    plane: ControlPlaneStandIn,
}

impl Setup {
    async fn start() -> Setup {
        Setup {
            dev: DevIssuer::start().await.expect("dev issuer"),
            plane: ControlPlaneStandIn::start(RS_ID, RS_ID, SECRET)
                .await
                .expect("stand-in"),
        }
    }

    fn config(&self, extra: &[(&str, &str)]) -> Config {
        let mut vars: Vec<(String, String)> = vec![
            ("AUTHSEC_ISSUER".into(), self.dev.issuer().to_owned()),
            ("AUTHSEC_AUTHORIZATION_SERVER".into(), self.plane.base_url()),
            ("AUTHSEC_RESOURCE_URI".into(), RESOURCE.into()),
            ("AUTHSEC_JWKS_URL".into(), self.dev.jwks_uri()),
            ("AUTHSEC_RESOURCE_SERVER_ID".into(), RS_ID.into()),
            ("AUTHSEC_INTROSPECTION_CLIENT_ID".into(), RS_ID.into()),
            ("AUTHSEC_INTROSPECTION_CLIENT_SECRET".into(), SECRET.into()),
        ];
        vars.extend(
            extra
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
        );
        let config = Config::from_lookup("AUTHSEC_", move |name| {
            vars.iter()
                .rev()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        })
        .unwrap();
        config.validate().unwrap();
        config
    }

    fn token(&self, scope: &str) -> String {
        self.dev.mint().aud(RESOURCE).scope(scope).sign()
    }
}

async fn call(guard: &Guard, token: &str, tool: &str) -> Result<(), DenialCode> {
    let body =
        format!(r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"{tool}"}}}}"#);
    let mcp = classify(body.as_bytes(), McpHeaders::default()).unwrap();
    let header = format!("Bearer {token}");
    let request = AccessRequest::new(Authorization::One(header.as_bytes())).mcp(Some(&mcp));
    match guard.check(&request).await {
        Decision::Allow(_) => Ok(()),
        Decision::Deny(denial) => Err(denial.code()),
    }
}

#[tokio::test]
async fn a_resource_server_id_enforces_the_control_planes_tool_policy() {
    let s = Setup::start().await;
    s.plane.set_policy(ready_policy(
        1,
        &[
            ("list_notes", &["notes:read", "notes:admin"]),
            ("health", &[]),
        ],
    ));
    let config = s.config(&[]);
    assert_eq!(config.effective_policy_mode(), PolicyMode::RemoteRequired);
    let guard = config.build().await.unwrap().guard().clone();
    assert_eq!(s.plane.policy_fetches(), 1);
    let reader = s.token("notes:read");
    assert_eq!(call(&guard, &reader, "list_notes").await, Ok(()));
    assert_eq!(
        call(&guard, &s.token("notes:admin"), "list_notes").await,
        Ok(())
    );
    assert_eq!(call(&guard, &s.token("other"), "health").await, Ok(()));
    assert_eq!(
        call(&guard, &s.token("other"), "list_notes").await,
        Err(DenialCode::ScopeInsufficient)
    );
    assert_eq!(
        call(&guard, &reader, "add_note").await,
        Err(DenialCode::PolicyDenied),
        "a tool absent from the policy is denied"
    );
    assert_eq!(
        guard.metadata().scopes_supported,
        ["notes:read", "notes:admin"]
    );
}

#[tokio::test]
async fn remote_required_does_not_start_on_an_incomplete_policy() {
    let s = Setup::start().await;
    let error = s.config(&[]).build().await.unwrap_err();
    assert!(
        matches!(
            &error,
            BuildError::ControlPlane(ControlPlaneError::PolicyIncomplete { state, reason })
                if state == "needs_setup" && reason == "rs_needs_setup"
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn remote_required_with_publish_manifest_starts_denying_every_tool() {
    let s = Setup::start().await;
    let guard = s
        .config(&[("AUTHSEC_PUBLISH_MANIFEST", "true")])
        .build()
        .await
        .unwrap()
        .guard()
        .clone();
    assert_eq!(
        call(&guard, &s.token("notes:read"), "list_notes").await,
        Err(DenialCode::AuthorizationUnavailable)
    );
}

#[tokio::test]
async fn remote_with_local_fallback_uses_the_local_tool_scopes_when_the_policy_fails() {
    let s = Setup::start().await;
    s.plane.fail_policy(500);
    let config = s.config(&[
        ("AUTHSEC_POLICY_MODE", "remote_with_local_fallback"),
        ("AUTHSEC_TOOL_SCOPES_JSON", r#"{"list_notes":"notes:read"}"#),
    ]);
    let guard = config.build().await.unwrap().guard().clone();
    assert_eq!(
        call(&guard, &s.token("notes:read"), "list_notes").await,
        Ok(())
    );
    assert_eq!(
        call(&guard, &s.token("notes:read"), "add_note").await,
        Err(DenialCode::PolicyDenied)
    );
}

#[tokio::test]
async fn observe_mode_ignores_the_control_plane() {
    let s = Setup::start().await;
    let guard = s
        .config(&[("AUTHSEC_POLICY_MODE", "observe")])
        .build()
        .await
        .unwrap()
        .guard()
        .clone();
    assert_eq!(s.plane.policy_fetches(), 0);
    assert_eq!(call(&guard, &s.token("x"), "anything").await, Ok(()));
}
