//! Manifest publishing to AuthSec's control plane (the stand-in in authsec_tests::control_plane):
//! the tool inventory read from the real notes servers with the synthetic `tools/list`
//! handshake, sent as `PUT …/sdk-manifest` with the family's body shape and Basic auth.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use authsec_jwks::FetchError;
use authsec_jwks::control_plane::{
    ControlPlane, ControlPlaneError, ManifestTool, McpPost, McpReply, McpTransport,
    ServerInventory, ToolInventory, publish_in_background, publish_manifest,
};
use authsec_tests::control_plane::ControlPlaneStandIn;
use authsec_tests::dev_issuer::{DevIssuer, DevIssuerConfig};
use authsec_tests::notes_server::{Adapter, NotesEnv, NotesServer};
use authsec_tests::on_both_adapters;

const RS_ID: &str = "7d3f2a10-0000-4000-8000-00000000c0de";
const RS_SECRET: &str = "sec_notes-rs-secret";
/// Base64 of `RS_ID:RS_SECRET`.
const BASIC: &str =
    "Basic N2QzZjJhMTAtMDAwMC00MDAwLTgwMDAtMDAwMDAwMDBjMGRlOnNlY19ub3Rlcy1ycy1zZWNyZXQ=";

/// The notes server's manifest as the control plane receives it: three tools in the server's
/// order, snake_case `input_schema` (add_note's `text` parameter with its doc comment), and
/// the suggested scopes of `AUTHSEC_TOOL_SCOPE_SUGGESTIONS_JSON`-style suggestions.
const NOTES_MANIFEST: &str = concat!(
    r#"{"tools":["#,
    r#"{"name":"add_note","description":"Add a note (needs notes:write)","input_schema":{"$schema":"https://json-schema.org/draft/2020-12/schema","properties":{"text":{"description":"The text of the note.","type":"string"}},"required":["text"],"type":"object"},"suggested_scopes":["notes:write"]},"#,
    r#"{"name":"list_notes","description":"List your notes (needs notes:read)","input_schema":{"properties":{},"type":"object"},"suggested_scopes":["notes:read"]},"#,
    r#"{"name":"purge_notes","description":"Delete every note (needs notes:admin and a fresh MFA login)","input_schema":{"properties":{},"type":"object"}}"#,
    r#"]}"#
);

/// MCP over real HTTP to a running server, with a bearer token.
struct OverHttp {
    client: reqwest::Client,
    url: String,
    token: String,
}

#[async_trait]
impl McpTransport for OverHttp {
    async fn post(&self, request: McpPost) -> Result<McpReply, String> {
        let mut http = self
            .client
            .post(&self.url)
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .header("accept", request.accept());
        if let Some(session) = &request.session_id {
            http = http.header("mcp-session-id", session);
        }
        if let Some(version) = &request.protocol_version {
            http = http.header("mcp-protocol-version", version);
        }
        let response = http
            .body(request.body.clone())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (content_type, session) = (header("content-type"), header("mcp-session-id"));
        let mut reply = McpReply::new(response.status().as_u16(), Vec::new());
        if let Some(content_type) = content_type {
            reply = reply.content_type(content_type);
        }
        if let Some(session) = session {
            reply = reply.session_id(session);
        }
        reply.body = response.bytes().await.map_err(|e| e.to_string())?.to_vec();
        Ok(reply)
    }
}

struct Env {
    _dev: DevIssuer,
    plane: ControlPlaneStandIn,
    notes: NotesServer,
    token: String,
}

async fn start(adapter: Adapter, json_response: bool) -> Env {
    let dev = DevIssuer::start_with(DevIssuerConfig::default())
        .await
        .expect("dev issuer starts");
    let mut env = NotesEnv::new(dev.issuer()).adapter(adapter);
    if json_response {
        env = env.json_response();
    }
    let notes = NotesServer::start(env).await.expect("notes server starts");
    let token = dev
        .mint()
        .aud(notes.resource())
        .scope("notes:read notes:write notes:admin")
        .sign();
    let plane = ControlPlaneStandIn::start(RS_ID, RS_ID, RS_SECRET)
        .await
        .expect("stand-in starts");
    Env {
        _dev: dev,
        plane,
        notes,
        token,
    }
}

impl Env {
    fn control_plane(&self, secret: &str) -> ControlPlane {
        ControlPlane::builder(self.plane.base_url(), RS_ID)
            .credentials(RS_ID, secret)
            .build()
            .expect("control plane client")
    }

    fn inventory(&self) -> ServerInventory<OverHttp> {
        ServerInventory(OverHttp {
            client: reqwest::Client::new(),
            url: self.notes.resource().to_owned(),
            token: self.token.clone(),
        })
    }
}

fn suggestions() -> BTreeMap<String, Vec<String>> {
    BTreeMap::from([
        ("list_notes".to_owned(), vec!["notes:read".to_owned()]),
        ("add_note".to_owned(), vec!["notes:write".to_owned()]),
    ])
}

async fn the_notes_manifest_is_published_with_its_three_tools_and_input_schemas(adapter: Adapter) {
    for json_response in [false, true] {
        let env = start(adapter, json_response).await;
        let published = publish_manifest(
            &env.control_plane(RS_SECRET),
            &env.inventory(),
            &suggestions(),
        )
        .await
        .expect("publishes");
        assert_eq!(published, 3);
        let recorded = env.plane.manifests();
        assert_eq!(recorded.len(), 1);
        assert_eq!(
            recorded[0].body, NOTES_MANIFEST,
            "json_response={json_response}"
        );
        assert_eq!(recorded[0].authorization.as_deref(), Some(BASIC));
        assert_eq!(
            recorded[0].content_type.as_deref(),
            Some("application/json")
        );
        let status = env
            .control_plane(RS_SECRET)
            .manifest_status()
            .await
            .expect("status");
        assert_eq!(status.status.as_deref(), Some("success"));
        assert_eq!(status.tool_count, Some(3));
    }
}

async fn a_rejected_publication_is_an_error_that_names_the_cause(adapter: Adapter) {
    let env = start(adapter, false).await;
    let url = format!(
        "{}/authsec/resource-servers/{RS_ID}/sdk-manifest",
        env.plane.base_url()
    );
    let err = publish_manifest(
        &env.control_plane("sec_wrong"),
        &env.inventory(),
        &suggestions(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err,
        ControlPlaneError::Fetch(FetchError::CredentialsRejected {
            url: url.clone(),
            status: 401
        })
    );
    assert!(!err.to_string().contains("sec_wrong"));
    env.plane.set_manifest_status(500);
    let err = publish_manifest(
        &env.control_plane(RS_SECRET),
        &env.inventory(),
        &suggestions(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err,
        ControlPlaneError::Fetch(FetchError::Status {
            url,
            status: 500,
            detail: r#": {"error":"manifest rejected"}"#.into()
        })
    );
}

on_both_adapters!(
    the_notes_manifest_is_published_with_its_three_tools_and_input_schemas,
    a_rejected_publication_is_an_error_that_names_the_cause,
);

#[tokio::test]
async fn a_provided_tool_list_is_published_without_enumeration() {
    let plane = ControlPlaneStandIn::start(RS_ID, RS_ID, RS_SECRET)
        .await
        .expect("stand-in starts");
    let control_plane = ControlPlane::builder(plane.base_url(), RS_ID)
        .credentials(RS_ID, RS_SECRET)
        .build()
        .unwrap();
    let provided: Arc<dyn ToolInventory> = Arc::new(vec![
        ManifestTool::new("health").description("Liveness"),
        ManifestTool::new("add_note")
            .input_schema(r#"{"type":"object","properties":{"text":{"type":"string"}}}"#)
            .suggested_scopes(["notes:edit"]),
    ]);
    let outcome = publish_in_background(control_plane, provided, suggestions())
        .await
        .expect("the task ends");
    assert_eq!(outcome, Ok(2));
    assert_eq!(
        plane.manifests()[0].body,
        r#"{"tools":[{"name":"health","description":"Liveness"},{"name":"add_note","input_schema":{"type":"object","properties":{"text":{"type":"string"}}},"suggested_scopes":["notes:edit"]}]}"#
    );
}

#[tokio::test]
async fn a_publication_to_an_unreachable_control_plane_fails_in_the_background_only() {
    let port = authsec_tests::notes_server::free_port().expect("free port");
    let control_plane = ControlPlane::builder(format!("http://127.0.0.1:{port}"), RS_ID)
        .credentials(RS_ID, RS_SECRET)
        .build()
        .unwrap();
    let provided: Arc<dyn ToolInventory> = Arc::new(vec![ManifestTool::new("health")]);
    let outcome = publish_in_background(control_plane, provided, BTreeMap::new())
        .await
        .expect("the task ends");
    assert!(
        matches!(
            outcome,
            Err(ControlPlaneError::Fetch(FetchError::Unreachable { .. }))
        ),
        "{outcome:?}"
    );
}

/// `AUTHSEC_PUBLISH_MANIFEST=1` in `remote_required` while the resource server is still being
/// set up: the notes server starts (answering 503 to tool calls) and publishes its manifest.
async fn the_notes_server_publishes_its_manifest_at_start_up(adapter: Adapter) {
    let dev = DevIssuer::start().await.expect("dev issuer");
    let plane = ControlPlaneStandIn::start(RS_ID, RS_ID, RS_SECRET)
        .await
        .expect("stand-in starts");
    let mut env = NotesEnv::new(dev.issuer()).adapter(adapter);
    env.validation_mode = Some("jwt_only".to_owned());
    env.extra = [
        ("AUTHSEC_RESOURCE_SERVER_ID", RS_ID.to_owned()),
        ("AUTHSEC_AUTHORIZATION_SERVER", plane.base_url()),
        ("AUTHSEC_INTROSPECTION_CLIENT_ID", RS_ID.to_owned()),
        ("AUTHSEC_INTROSPECTION_CLIENT_SECRET", RS_SECRET.to_owned()),
        ("AUTHSEC_POLICY_MODE", "remote_required".to_owned()),
        ("AUTHSEC_PUBLISH_MANIFEST", "yes".to_owned()),
        (
            "AUTHSEC_TOOL_SCOPE_SUGGESTIONS_JSON",
            r#"{"list_notes": ["notes:read"], "add_note": "notes:write"}"#.to_owned(),
        ),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect();
    let notes = NotesServer::start(env)
        .await
        .expect("publishing lets remote_required start without a policy");
    let mut recorded = plane.manifests();
    for _ in 0..100 {
        if !recorded.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        recorded = plane.manifests();
    }
    assert_eq!(recorded.len(), 1, "one publication, no retry");
    assert_eq!(recorded[0].body, NOTES_MANIFEST);
    assert_eq!(recorded[0].authorization.as_deref(), Some(BASIC));

    let mut mcp = authsec_tests::mcp_http::McpHttp::new(notes.resource());
    mcp.set_token(Some(
        dev.mint().aud(notes.resource()).scope("notes:read").sign(),
    ));
    assert_eq!(mcp.initialize().await.unwrap().status, 200);
    let call = mcp
        .call_tool("list_notes", serde_json::json!({}))
        .await
        .unwrap();
    // C7: 503 without a challenge, the family's `policy_unavailable` in the JSON body.
    assert_eq!(call.status, 503);
    assert_eq!(call.www_authenticate(), None);
    assert_eq!(call.header("content-type"), Some("application/json"));
    let retry_after: u64 = call
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=10).contains(&retry_after), "{retry_after}");
    assert_eq!(
        call.json(),
        serde_json::json!({"error":"policy_unavailable","denial":"authorization_unavailable",
            "error_description":"the tool policy of this resource server is incomplete (state \"needs_setup\"): every tool is denied until its setup is finished",
            "retry_after":retry_after,
            "resource_metadata":notes.url("/.well-known/oauth-protected-resource/mcp")})
    );
}

on_both_adapters!(the_notes_server_publishes_its_manifest_at_start_up);
