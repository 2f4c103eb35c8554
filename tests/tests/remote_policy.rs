//! AuthSec's remote tool policy, as a resource server meets it: the real dev issuer signs the
//! tokens, the control-plane stand-in (authsec_tests::control_plane) serves `sdk-policy`, and
//! every request goes through the Guard and the adapter-independent `Protection` that both
//! adapters run, so each assertion is on the exact response an adapter would send.
//!
//! Time in the policy cache is a `ManualClock`: cache expiry (30 s), stale serving (2 min) and
//! the retry delay (10 s) are walked second by second without sleeping.

use std::sync::Arc;
use std::time::Duration;

use authsec_core::adapter::MetadataEndpoint;
use authsec_core::{
    Denial, IncomingRequest, ManualClock, Principal, Protection, RenderedDenial, RequestHeaders,
    ToolManifest, ToolRule, Verdict,
};
use authsec_jwks::control_plane::{
    ControlPlane, ControlPlaneError, PolicyMode, ToolPolicy, ToolPolicyBuilder,
};
use authsec_jwks::{FetchError, RemoteIssuer, ValidationMode};
use authsec_tests::control_plane::{ControlPlaneStandIn, needs_setup_policy, ready_policy};
use authsec_tests::dev_issuer::{DevIssuer, DevIssuerConfig};
use serde_json::{Value, json};

const RESOURCE: &str = "https://mcp.example.com/mcp";
const PRM: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";
const RS_ID: &str = "7d3f2a10-0000-4000-8000-00000000c0de";
const RS_SECRET: &str = "sec_notes-rs-secret";
/// Base64 of `RS_ID:RS_SECRET`.
const BASIC: &str =
    "Basic N2QzZjJhMTAtMDAwMC00MDAwLTgwMDAtMDAwMDAwMDBjMGRlOnNlY19ub3Rlcy1ycy1zZWNyZXQ=";
const T0: u64 = 1_800_000_000;

/// The notes tools as the dashboard maps them: `list_notes` any of read/admin, `add_note`
/// write, `purge_notes` admin, `health` public.
fn notes_policy(generation: u64) -> Value {
    ready_policy(
        generation,
        &[
            ("list_notes", &["notes:read", "notes:admin"]),
            ("add_note", &["notes:write"]),
            ("purge_notes", &["notes:admin"]),
            ("health", &[]),
        ],
    )
}

struct Headers(Vec<(String, String)>);

impl RequestHeaders for Headers {
    fn values(&self, name: &str) -> Vec<&[u8]> {
        self.0
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_bytes())
            .collect()
    }
}

struct Env {
    dev: DevIssuer,
    plane: ControlPlaneStandIn,
    clock: Arc<ManualClock>,
    issuer: RemoteIssuer,
}

struct Server {
    protection: Protection,
    policy: ToolPolicy,
}

impl Env {
    async fn start(policy: Value) -> Env {
        let dev = DevIssuer::start_with(DevIssuerConfig::default().with_default_resource(RESOURCE))
            .await
            .expect("dev issuer starts");
        let plane = ControlPlaneStandIn::start(RS_ID, RS_ID, RS_SECRET)
            .await
            .expect("stand-in starts");
        plane.set_policy(policy);
        let issuer = RemoteIssuer::discover(dev.issuer())
            .await
            .expect("discovery");
        Env {
            dev,
            plane,
            clock: Arc::new(ManualClock::new(T0)),
            issuer,
        }
    }

    fn control_plane(&self) -> ControlPlane {
        ControlPlane::builder(self.plane.base_url(), RS_ID)
            .credentials(RS_ID, RS_SECRET)
            .build()
            .expect("control plane client")
    }

    fn policy(&self, mode: PolicyMode) -> ToolPolicyBuilder {
        ToolPolicy::builder(mode)
            .control_plane(self.control_plane())
            .clock(self.clock.clone())
    }

    async fn server(&self, builder: ToolPolicyBuilder) -> Result<Server, ControlPlaneError> {
        let policy = builder.start().await?;
        let guard = policy
            .apply(
                self.issuer
                    .guard(RESOURCE, ValidationMode::Jwt)
                    .expect("jwt mode"),
            )
            .scopes_supported(["configured:scope"])
            .build()
            .expect("guard builds");
        Ok(Server {
            protection: Protection::new(guard),
            policy,
        })
    }

    fn token(&self, scope: &str) -> String {
        self.dev.mint().scope(scope).sign()
    }

    fn advance(&self, seconds: u64) {
        self.clock.advance(seconds);
    }
}

impl Server {
    async fn post(&self, token: &str, body: &Value) -> Result<Principal, RenderedDenial> {
        let headers = Headers(vec![(
            "authorization".to_owned(),
            format!("Bearer {token}"),
        )]);
        let body = body.to_string();
        let request = IncomingRequest::new(&headers).body(Some(body.as_bytes()));
        match self.protection.check(&request).await {
            Verdict::Allow { principal, .. } => Ok(principal),
            Verdict::Deny { response, .. } => Err(response),
            other => {
                unreachable!("pass-through exists only in the AuthSec in-band profile: {other:?}")
            }
        }
    }

    async fn call(&self, token: &str, tool: &str) -> Result<Principal, RenderedDenial> {
        let body = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":tool,"arguments":{}}});
        self.post(token, &body).await
    }

    /// `Ok(status)` 200 or the denial's status.
    async fn status(&self, token: &str, tool: &str) -> u16 {
        match self.call(token, tool).await {
            Ok(_) => 200,
            Err(denied) => denied.status,
        }
    }

    /// The tools of `all` a `tools/list` answer keeps for the caller.
    async fn listed(&self, token: &str, all: &[&str]) -> Result<Vec<String>, RenderedDenial> {
        let body = json!({"jsonrpc":"2.0","id":2,"method":"tools/list"});
        let principal = self.post(token, &body).await?;
        let keep = self.protection.tool_filter(principal, None);
        Ok(all
            .iter()
            .filter(|t| keep(t))
            .map(|t| (*t).to_owned())
            .collect())
    }

    async fn ping(&self, token: &str) -> Result<Principal, RenderedDenial> {
        self.post(token, &json!({"jsonrpc":"2.0","id":3,"method":"ping"}))
            .await
    }

    /// Waits for the background refresh a request may have started.
    async fn settled(&self) {
        self.policy.remote().expect("remote mode").settled().await;
    }

    fn scopes_supported(&self) -> Value {
        let document = MetadataEndpoint::new(self.protection.guard()).document();
        serde_json::from_str::<Value>(&document).expect("metadata JSON")["scopes_supported"].clone()
    }
}

fn body(denied: &RenderedDenial) -> Value {
    serde_json::from_str(&denied.body).expect("JSON body")
}

/// The exact response of `authorization_unavailable` for an unavailable policy
/// (`policy_unavailable` in the body) with this description and Retry-After.
fn unavailable(description: &'static str, retry_after: u64) -> RenderedDenial {
    Denial::policy_unavailable(description)
        .with_retry_after(retry_after)
        .render(PRM)
}

/// A parameter of the `WWW-Authenticate` challenge.
fn challenge_param(denied: &RenderedDenial, name: &str) -> Option<String> {
    let header = denied.www_authenticate.as_deref()?;
    let start = header.find(&format!("{name}=\""))? + name.len() + 2;
    let end = header[start..].find('"')? + start;
    Some(header[start..end].to_owned())
}

/// A 403 `insufficient_scope` whose challenge asks for `scope`.
fn assert_insufficient_scope(denied: &RenderedDenial, scope: &str) {
    assert_eq!(denied.status, 403, "{denied:?}");
    assert_eq!(
        challenge_param(denied, "error").as_deref(),
        Some("insufficient_scope")
    );
    assert_eq!(challenge_param(denied, "scope").as_deref(), Some(scope));
    assert_eq!(
        challenge_param(denied, "resource_metadata").as_deref(),
        Some(PRM)
    );
}

const FETCH_FAILED: &str = "the tool policy could not be fetched from the authorization server";
const INCOMPLETE: &str = "the tool policy of this resource server is incomplete (state \"needs_setup\"): every tool is denied until its setup is finished";

#[tokio::test]
async fn the_policy_is_fetched_with_basic_auth_of_the_resource_server_credentials() {
    let env = Env::start(notes_policy(1)).await;
    let server = env
        .server(env.policy(PolicyMode::RemoteRequired))
        .await
        .unwrap();
    assert_eq!(env.plane.policy_fetches(), 1);
    assert_eq!(env.plane.policy_authorizations(), [Some(BASIC.to_owned())]);
    assert_eq!(server.policy.remote().unwrap().generation(), Some(1));

    let wrong = ControlPlane::builder(env.plane.base_url(), RS_ID)
        .credentials(RS_ID, "sec_wrong")
        .build()
        .unwrap();
    let err = ToolPolicy::builder(PolicyMode::RemoteRequired)
        .control_plane(wrong)
        .start()
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ControlPlaneError::Fetch(FetchError::CredentialsRejected {
            url: format!(
                "{}/authsec/resource-servers/{RS_ID}/sdk-policy",
                env.plane.base_url()
            ),
            status: 401
        })
    );
    assert!(!err.to_string().contains("sec_wrong"));
}

#[tokio::test]
async fn tool_policy_is_read_before_the_legacy_tools_map() {
    let mut policy = notes_policy(1);
    // The legacy map would make add_note public; tool_policy requires notes:write.
    policy["tools"]["add_note"] = json!([]);
    let env = Env::start(policy).await;
    let server = env
        .server(env.policy(PolicyMode::RemoteRequired))
        .await
        .unwrap();
    let denied = server
        .call(&env.token("notes:read"), "add_note")
        .await
        .unwrap_err();
    assert_insufficient_scope(&denied, "notes:read notes:write");
    assert!(
        server
            .call(&env.token("notes:write"), "add_note")
            .await
            .is_ok()
    );

    // Without tool_policy, the legacy map is the policy: an empty list is public.
    let mut legacy = json!({"tools": {"add_note": [], "list_notes": ["notes:read"]}});
    legacy["generation"] = json!(2);
    env.plane.set_policy(legacy);
    server.policy.remote().unwrap().refresh_now().await.unwrap();
    assert!(
        server
            .call(&env.token("other:scope"), "add_note")
            .await
            .is_ok()
    );
    assert_eq!(
        server.status(&env.token("other:scope"), "list_notes").await,
        403
    );
}

#[tokio::test]
async fn a_tool_absent_from_the_policy_is_denied() {
    let mut policy = notes_policy(1);
    // Present but neither public nor scoped: left out, so denied like an absent tool.
    policy["tool_policy"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "unmapped", "is_public": false, "required_scopes": []}));
    let env = Env::start(policy).await;
    let server = env
        .server(env.policy(PolicyMode::RemoteRequired))
        .await
        .unwrap();
    let token = env.token("notes:read notes:write notes:admin");
    for tool in ["export_notes", "unmapped"] {
        let denied = server.call(&token, tool).await.unwrap_err();
        assert_eq!(denied.status, 403, "{tool}");
        assert_eq!(
            denied.www_authenticate, None,
            "{tool}: more consent cannot help"
        );
        let body = body(&denied);
        assert_eq!(body["error"], "policy_denied", "{tool}");
        assert_eq!(
            body["error_description"],
            format!("the tool \"{tool}\" is not in this server's tool manifest")
        );
    }
    assert_eq!(
        server
            .listed(
                &token,
                &["list_notes", "export_notes", "unmapped", "health"]
            )
            .await
            .unwrap(),
        ["list_notes", "health"]
    );
}

#[tokio::test]
async fn a_tool_with_an_empty_scope_list_is_public() {
    let env = Env::start(notes_policy(1)).await;
    let server = env
        .server(env.policy(PolicyMode::RemoteRequired))
        .await
        .unwrap();
    let no_scopes = env.dev.mint().without("scope").sign();
    assert!(server.call(&no_scopes, "health").await.is_ok());
    assert_eq!(server.status(&no_scopes, "list_notes").await, 403);
    assert_eq!(
        server
            .listed(
                &no_scopes,
                &["list_notes", "add_note", "purge_notes", "health"]
            )
            .await
            .unwrap(),
        ["health"]
    );
}

#[tokio::test]
async fn any_one_of_a_tools_scopes_is_enough() {
    let env = Env::start(notes_policy(1)).await;
    let server = env
        .server(env.policy(PolicyMode::RemoteRequired))
        .await
        .unwrap();
    assert!(
        server
            .call(&env.token("notes:read"), "list_notes")
            .await
            .is_ok()
    );
    assert!(
        server
            .call(&env.token("notes:admin"), "list_notes")
            .await
            .is_ok()
    );
    let denied = server
        .call(&env.token("notes:write"), "list_notes")
        .await
        .unwrap_err();
    assert_insufficient_scope(&denied, "notes:write notes:read notes:admin");
}

#[tokio::test]
async fn the_policy_is_fresh_for_30_seconds_then_refreshed_in_the_background() {
    let env = Env::start(notes_policy(1)).await;
    let server = env
        .server(env.policy(PolicyMode::RemoteRequired))
        .await
        .unwrap();
    let writer = env.token("notes:write");
    // The admin moves add_note to notes:edit.
    let mut moved = notes_policy(2);
    moved["tool_policy"][1]["required_scopes"] = json!(["notes:edit"]);
    env.plane.set_policy(moved);

    env.advance(29);
    assert_eq!(server.status(&writer, "add_note").await, 200);
    server.settled().await;
    assert_eq!(env.plane.policy_fetches(), 1, "fresh at 29 s: no fetch");

    env.advance(1);
    // At 30 s the request is still served from the cache, and starts the refresh.
    assert_eq!(server.status(&writer, "add_note").await, 200);
    server.settled().await;
    assert_eq!(env.plane.policy_fetches(), 2);
    assert_eq!(server.policy.remote().unwrap().generation(), Some(2));
    assert_eq!(server.status(&writer, "add_note").await, 403);
    assert_eq!(
        server.status(&env.token("notes:edit"), "add_note").await,
        200
    );
    server.settled().await;
    assert_eq!(env.plane.policy_fetches(), 2, "fresh again: no fetch");
}

#[tokio::test]
async fn a_stale_policy_is_served_up_to_2_minutes_with_a_retry_every_10_seconds() {
    let env = Env::start(notes_policy(1)).await;
    let server = env
        .server(env.policy(PolicyMode::RemoteRequired))
        .await
        .unwrap();
    let reader = env.token("notes:read");
    env.plane.fail_policy(500);

    // t = 30: stale; the refresh fails, the cached policy still serves.
    env.advance(30);
    assert_eq!(server.status(&reader, "list_notes").await, 200);
    server.settled().await;
    assert_eq!(env.plane.policy_fetches(), 2);
    let error = server.policy.remote().unwrap().last_error().unwrap();
    assert!(error.contains("answered HTTP 500"), "{error}");

    // t = 39: within 10 s of the failure, no new fetch.
    env.advance(9);
    assert_eq!(server.status(&reader, "list_notes").await, 200);
    server.settled().await;
    assert_eq!(env.plane.policy_fetches(), 2);

    // t = 40: 10 s after the failure, one retry.
    env.advance(1);
    assert_eq!(server.status(&reader, "list_notes").await, 200);
    server.settled().await;
    assert_eq!(env.plane.policy_fetches(), 3);

    // t = 120: two minutes after the last success, still served (fetching every 10 s).
    for _ in 0..8 {
        env.advance(10);
        assert_eq!(server.status(&reader, "list_notes").await, 200);
        server.settled().await;
    }
    assert_eq!(env.plane.policy_fetches(), 11);

    // t = 121: too old with failing refreshes: 503 for tool calls and lists, not for ping.
    env.advance(1);
    let denied = server.call(&reader, "list_notes").await.unwrap_err();
    assert_eq!(denied, unavailable(FETCH_FAILED, 9));
    assert_eq!(denied.status, 503);
    assert_eq!(denied.www_authenticate, None);
    assert_eq!(denied.retry_after.as_deref(), Some("9"));
    assert_eq!(
        body(&denied),
        json!({"error":"policy_unavailable","denial":"authorization_unavailable",
            "error_description":FETCH_FAILED,"retry_after":9,"resource_metadata":PRM})
    );
    assert_eq!(
        server
            .listed(&reader, &["list_notes"])
            .await
            .unwrap_err()
            .status,
        503
    );
    assert!(server.ping(&reader).await.is_ok());
    assert_eq!(server.scopes_supported(), json!(["configured:scope"]));

    // The control plane is back: the next retry restores service.
    env.plane.set_policy(notes_policy(3));
    env.advance(9);
    assert_eq!(server.status(&reader, "list_notes").await, 503);
    server.settled().await;
    assert_eq!(server.status(&reader, "list_notes").await, 200);
    assert_eq!(server.policy.remote().unwrap().generation(), Some(3));
}

#[tokio::test]
async fn a_malformed_policy_document_is_a_failed_fetch_that_keeps_the_cached_policy() {
    let env = Env::start(notes_policy(1)).await;
    let server = env
        .server(env.policy(PolicyMode::RemoteRequired))
        .await
        .unwrap();
    let reader = env.token("notes:read");
    for (bad, expected) in [
        (
            json!({"state": "ready", "policy_complete": true, "tool_policy": "all"}),
            "not an sdk-policy document",
        ),
        (json!([1, 2, 3]), "not an sdk-policy document"),
        (
            json!({"state": "ready", "policy_complete": true,
                   "tool_policy": [{"name": "list_notes", "required_scopes": ["offline_access"]}]}),
            "the tool policy is not usable: tool \"list_notes\" requires offline_access",
        ),
    ] {
        env.plane.set_policy(bad);
        env.advance(30);
        assert_eq!(server.status(&reader, "list_notes").await, 200);
        server.settled().await;
        let error = server.policy.remote().unwrap().last_error().unwrap();
        assert!(error.contains(expected), "{error}");
        assert_eq!(server.status(&reader, "list_notes").await, 200);
        assert_eq!(server.policy.remote().unwrap().generation(), Some(1));
        env.plane.set_policy(notes_policy(1));
        server.policy.remote().unwrap().refresh_now().await.unwrap();
    }
}

#[tokio::test]
async fn policy_complete_false_clears_the_cache_and_every_tool_request_is_503() {
    let env = Env::start(notes_policy(1)).await;
    let server = env
        .server(env.policy(PolicyMode::RemoteRequired))
        .await
        .unwrap();
    let reader = env.token("notes:read");
    assert_eq!(
        server.scopes_supported(),
        json!(["notes:read", "notes:admin", "notes:write"])
    );
    env.plane.set_policy(needs_setup_policy());
    env.advance(30);
    assert_eq!(server.status(&reader, "list_notes").await, 200);
    server.settled().await;

    let denied = server.call(&reader, "health").await.unwrap_err();
    assert_eq!(denied, unavailable(INCOMPLETE, 10));
    assert_eq!(denied.status, 503);
    assert_eq!(
        server
            .listed(&reader, &["health"])
            .await
            .unwrap_err()
            .status,
        503
    );
    assert!(server.ping(&reader).await.is_ok());
    assert_eq!(server.scopes_supported(), json!(["configured:scope"]));
}

#[tokio::test]
async fn remote_required_refuses_to_start_without_a_policy() {
    let env = Env::start(notes_policy(1)).await;
    env.plane.fail_policy(503);
    let err = env
        .server(env.policy(PolicyMode::RemoteRequired))
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("answered HTTP 503"), "{err}");

    env.plane.set_policy(needs_setup_policy());
    let err = env
        .server(env.policy(PolicyMode::RemoteRequired))
        .await
        .err()
        .unwrap();
    assert_eq!(
        err,
        ControlPlaneError::PolicyIncomplete {
            state: "needs_setup".into(),
            reason: "rs_needs_setup".into()
        }
    );
}

#[tokio::test]
async fn remote_required_with_manifest_publishing_starts_denying_every_tool_until_set_up() {
    let env = Env::start(needs_setup_policy()).await;
    let server = env
        .server(
            env.policy(PolicyMode::RemoteRequired)
                .publish_manifest(true),
        )
        .await
        .unwrap();
    let admin = env.token("notes:read notes:admin");
    let denied = server.call(&admin, "list_notes").await.unwrap_err();
    assert_eq!(denied, unavailable(INCOMPLETE, 10));
    assert_eq!(denied.status, 503);
    assert_eq!(denied.retry_after.as_deref(), Some("10"));
    assert!(server.ping(&admin).await.is_ok());

    // The admin finishes the setup; the next fetch (10 s after the failed one) serves it.
    env.plane.set_policy(notes_policy(1));
    env.advance(10);
    assert_eq!(server.status(&admin, "list_notes").await, 503);
    server.settled().await;
    assert_eq!(server.status(&admin, "list_notes").await, 200);
}

#[tokio::test]
async fn remote_with_local_fallback_uses_the_local_scopes_while_the_policy_is_unavailable() {
    let env = Env::start(notes_policy(1)).await;
    env.plane.fail_policy(500);
    let local = ToolManifest::new().rule("list_notes", ToolRule::any_of(["local:read"]));
    let server = env
        .server(
            env.policy(PolicyMode::RemoteWithLocalFallback)
                .local_manifest(local),
        )
        .await
        .expect("a failed first fetch is only logged");
    assert_eq!(
        server.status(&env.token("local:read"), "list_notes").await,
        200
    );
    assert_eq!(
        server.status(&env.token("notes:read"), "list_notes").await,
        403
    );

    env.plane.set_policy(notes_policy(1));
    env.advance(10);
    assert_eq!(
        server.status(&env.token("local:read"), "list_notes").await,
        200
    );
    server.settled().await;
    assert_eq!(
        server.status(&env.token("notes:read"), "list_notes").await,
        200
    );
    assert_eq!(
        server.status(&env.token("local:read"), "list_notes").await,
        403
    );

    // policy_complete=false wipes the remote policy: back to the local scopes, never 503.
    env.plane.set_policy(needs_setup_policy());
    env.advance(30);
    assert_eq!(
        server.status(&env.token("notes:read"), "list_notes").await,
        200
    );
    server.settled().await;
    assert_eq!(
        server.status(&env.token("local:read"), "list_notes").await,
        200
    );
    assert_eq!(
        server.status(&env.token("notes:read"), "list_notes").await,
        403
    );
}

#[tokio::test]
async fn local_only_and_open_never_ask_the_control_plane() {
    let env = Env::start(notes_policy(1)).await;
    let local = env
        .server(
            env.policy(PolicyMode::LocalOnly)
                .local_manifest(ToolManifest::new().tool("list_notes", ["local:read"])),
        )
        .await
        .unwrap();
    assert_eq!(
        local.status(&env.token("local:read"), "list_notes").await,
        200
    );
    assert_eq!(
        local.status(&env.token("notes:read"), "list_notes").await,
        403
    );
    assert_eq!(
        local.status(&env.token("local:read"), "add_note").await,
        403
    );

    let open = env.server(env.policy(PolicyMode::Open)).await.unwrap();
    let no_scopes = env.dev.mint().without("scope").sign();
    assert_eq!(open.status(&no_scopes, "purge_notes").await, 200);
    assert_eq!(open.status(&no_scopes, "anything_at_all").await, 200);
    // Open still needs a valid token.
    assert_eq!(open.status("garbage", "purge_notes").await, 401);
    assert_eq!(env.plane.policy_fetches(), 0);
}

#[tokio::test]
async fn concurrent_requests_after_expiry_share_one_fetch_and_never_wait_for_it() {
    let env = Env::start(notes_policy(1)).await;
    let server = Arc::new(
        env.server(env.policy(PolicyMode::RemoteRequired))
            .await
            .unwrap(),
    );
    let reader = env.token("notes:read");
    env.plane.set_policy_delay(Duration::from_millis(1500));
    env.advance(30);
    let started = std::time::Instant::now();
    let requests: Vec<_> = (0..50)
        .map(|_| {
            let server = server.clone();
            let reader = reader.clone();
            tokio::spawn(async move { server.status(&reader, "list_notes").await })
        })
        .collect();
    for request in requests {
        assert_eq!(request.await.unwrap(), 200);
    }
    let served_in = started.elapsed();
    assert!(
        served_in < Duration::from_millis(1500),
        "requests waited for the refresh: {served_in:?}"
    );
    assert_eq!(
        server.policy.remote().unwrap().fetches(),
        1,
        "refresh still running"
    );
    server.settled().await;
    assert_eq!(env.plane.policy_fetches(), 2);
    assert_eq!(server.policy.remote().unwrap().fetches(), 2);
}

#[tokio::test]
async fn prm_scopes_supported_follow_the_live_policy() {
    let env = Env::start(notes_policy(1)).await;
    let server = env
        .server(env.policy(PolicyMode::RemoteRequired))
        .await
        .unwrap();
    assert_eq!(
        server.scopes_supported(),
        json!(["notes:read", "notes:admin", "notes:write"])
    );
    let mut next = notes_policy(2);
    next["scopes_supported"] = json!(["notes:read", "notes:write", "notes:admin", "notes:edit"]);
    env.plane.set_policy(next);
    env.advance(30);
    server.scopes_supported();
    server.settled().await;
    assert_eq!(
        server.scopes_supported(),
        json!(["notes:read", "notes:write", "notes:admin", "notes:edit"])
    );
    // An answer without scopes_supported keeps the previous value.
    let mut without = notes_policy(3);
    without.as_object_mut().unwrap().remove("scopes_supported");
    env.plane.set_policy(without);
    env.advance(30);
    server.scopes_supported();
    server.settled().await;
    assert_eq!(server.policy.remote().unwrap().generation(), Some(3));
    assert_eq!(
        server.scopes_supported(),
        json!(["notes:read", "notes:write", "notes:admin", "notes:edit"])
    );
}

// ---------------------------------------------------------------------------------------------
// End to end: the notes servers (both adapters) configured through the AUTHSEC_* environment.

mod notes_e2e {
    use authsec_tests::control_plane::{ControlPlaneStandIn, needs_setup_policy, ready_policy};
    use authsec_tests::dev_issuer::DevIssuer;
    use authsec_tests::mcp_http::{McpHttp, challenge_params};
    use authsec_tests::notes_server::{Adapter, NotesEnv, NotesServer};
    use authsec_tests::on_both_adapters;
    use serde_json::{Value, json};

    use super::{BASIC, RS_ID, RS_SECRET};

    fn notes_env(dev: &DevIssuer, plane: &ControlPlaneStandIn, adapter: Adapter) -> NotesEnv {
        let mut env = NotesEnv::new(dev.issuer()).adapter(adapter);
        env.validation_mode = Some("jwt_only".to_owned());
        env.extra = [
            ("AUTHSEC_RESOURCE_SERVER_ID", RS_ID.to_owned()),
            ("AUTHSEC_AUTHORIZATION_SERVER", plane.base_url()),
            ("AUTHSEC_INTROSPECTION_CLIENT_ID", RS_ID.to_owned()),
            ("AUTHSEC_INTROSPECTION_CLIENT_SECRET", RS_SECRET.to_owned()),
            ("AUTHSEC_POLICY_MODE", "remote_required".to_owned()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
        env
    }

    async fn client(dev: &DevIssuer, notes: &NotesServer, scope: &str) -> McpHttp {
        let mut mcp = McpHttp::new(notes.resource());
        mcp.set_token(Some(dev.mint().aud(notes.resource()).scope(scope).sign()));
        let init = mcp.initialize().await.expect("initialize");
        assert_eq!(init.status, 200, "{}", init.body);
        mcp
    }

    async fn notes_tool_scopes_come_from_the_control_plane(adapter: Adapter) {
        let dev = DevIssuer::start().await.expect("dev issuer");
        let plane = ControlPlaneStandIn::start(RS_ID, RS_ID, RS_SECRET)
            .await
            .expect("stand-in");
        // The dashboard's mapping differs from the notes server's local file: add_note takes
        // notes:edit or notes:write, purge_notes is not mapped.
        plane.set_policy(ready_policy(
            7,
            &[
                ("list_notes", &["notes:read"]),
                ("add_note", &["notes:edit", "notes:write"]),
            ],
        ));
        let notes = NotesServer::start(notes_env(&dev, &plane, adapter))
            .await
            .expect("notes server starts with its remote policy");
        assert_eq!(plane.policy_fetches(), 1);
        assert_eq!(plane.policy_authorizations(), [Some(BASIC.to_owned())]);

        let mut editor = client(&dev, &notes, "notes:read notes:edit notes:admin").await;
        let listed = editor.tools_list().await.expect("tools/list");
        assert_eq!(listed.status, 200);
        assert_eq!(listed.tool_names(), ["add_note", "list_notes"]);
        let added = editor
            .call_tool("add_note", json!({"text": "from the dashboard"}))
            .await
            .expect("tools/call");
        assert_eq!(added.status, 200, "{}", added.body);

        let purge = editor.call_tool("purge_notes", json!({})).await.unwrap();
        assert_eq!(purge.status, 403);
        assert_eq!(purge.json()["error"], "policy_denied");
        assert_eq!(purge.www_authenticate(), None);

        let mut reader = client(&dev, &notes, "notes:read").await;
        let denied = reader
            .call_tool("add_note", json!({"text": "x"}))
            .await
            .unwrap();
        assert_eq!(denied.status, 403);
        let params = challenge_params(denied.www_authenticate().expect("challenge"));
        let param = |name: &str| {
            params
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(param("error"), Some("insufficient_scope"));
        assert_eq!(param("scope"), Some("notes:read notes:edit notes:write"));

        let prm: Value = reqwest::get(notes.url("/.well-known/oauth-protected-resource/mcp"))
            .await
            .expect("metadata")
            .json()
            .await
            .expect("metadata JSON");
        assert_eq!(
            prm["scopes_supported"],
            json!(["notes:read", "notes:edit", "notes:write"])
        );
    }

    async fn remote_required_notes_server_does_not_start_without_its_policy(adapter: Adapter) {
        let dev = DevIssuer::start().await.expect("dev issuer");
        let plane = ControlPlaneStandIn::start(RS_ID, RS_ID, RS_SECRET)
            .await
            .expect("stand-in");
        plane.set_policy(needs_setup_policy());
        assert!(
            NotesServer::start(notes_env(&dev, &plane, adapter))
                .await
                .is_err()
        );
        assert_eq!(plane.policy_fetches(), 1);
    }

    on_both_adapters!(
        notes_tool_scopes_come_from_the_control_plane,
        remote_required_notes_server_does_not_start_without_its_policy,
    );
}
