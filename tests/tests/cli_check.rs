//! `authsec check` and `authsec manifest diff` against the real notes server (right config: all
//! pass, exit 0) and against deliberately broken servers built here on 127.0.0.1 (no
//! middleware, wrong `resource` in the metadata, a tool with no scope mapping, `tools/list`
//! unfiltered): each reported with its fix and a non-zero exit.
//!
//! The broken servers are axum apps around a small hand-written MCP endpoint, protected (or not)
//! by the real `AuthsecLayer` with a Guard discovered from the dev issuer.

use std::sync::Arc;

use authsec_axum::{AuthsecLayer, metadata_router};
use authsec_core::ToolManifest;
use authsec_jwks::{RemoteIssuer, ValidationMode};
use authsec_tests::cli::{CliRun, run_authsec};
use authsec_tests::dev_issuer::DevIssuer;
use authsec_tests::notes_server::{Adapter, NotesEnv, NotesServer};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

const MANIFEST: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../authsec-axum/examples/notes-policy.toml"
);

const MIDDLEWARE_FIX: &str = "        fix: your middleware is not running: put authsec in front of the MCP route (axum: .layer(AuthsecLayer::new(guard)); actix-web: .wrap(Authsec::new(guard))) and make sure no other route serves the same path";

fn metadata_line(base: &str) -> String {
    format!("  PASS  protected resource metadata: {base}/.well-known/oauth-protected-resource/mcp")
}

fn as_line(issuer: &DevIssuer) -> String {
    format!(
        "  PASS  authorization server {0}: metadata at {0}/.well-known/oauth-authorization-server, S256 advertised",
        issuer.issuer()
    )
}

const GARBAGE_PASS: &str = "  PASS  Bearer garbage: 401 invalid_token";

#[tokio::test]
async fn the_notes_server_passes_every_check_without_a_token() {
    passes_every_check_without_a_token(Adapter::Axum).await;
}

#[tokio::test]
async fn the_actix_notes_server_passes_every_check_without_a_token() {
    passes_every_check_without_a_token(Adapter::Actix).await;
}

async fn passes_every_check_without_a_token(adapter: Adapter) {
    let issuer = DevIssuer::start().await.unwrap();
    let server = NotesServer::start(NotesEnv::new(issuer.issuer()).adapter(adapter))
        .await
        .unwrap();
    let base = server.base().to_owned();
    let run = run_authsec(&["check", server.resource()], &[])
        .await
        .unwrap();
    assert_eq!(
        run.stdout.lines().next(),
        Some(format!("authsec check {base}/mcp").as_str())
    );
    assert_eq!(
        run.items(),
        [
            format!(
                "  PASS  no token: 401 with a Bearer challenge and resource_metadata={base}/.well-known/oauth-protected-resource/mcp"
            ),
            metadata_line(&base),
            format!("  PASS  metadata resource equals the URL probed: {base}/mcp"),
            as_line(&issuer),
            GARBAGE_PASS.into(),
            "  SKIP  tools/list filtering and scope enforcement".into(),
            "        why: pass --token T (a token for this server) to check them".into(),
            "5 passed, 0 failed, 1 skipped".into(),
        ],
        "{}",
        run.stdout
    );
    assert_eq!(run.code, Some(0));
    assert_eq!(run.stderr, "");
}

#[tokio::test]
async fn the_notes_server_filters_tools_list_and_enforces_scopes_for_a_token() {
    let issuer = DevIssuer::start().await.unwrap();
    let server = NotesServer::start(NotesEnv::new(issuer.issuer()))
        .await
        .unwrap();
    let base = server.base().to_owned();
    let token = issuer
        .mint()
        .aud(server.resource())
        .scope("notes:read notes:write")
        .sign();
    let run = run_authsec(
        &["check", server.resource(), "--manifest", MANIFEST],
        &[("AUTHSEC_TOKEN", &token)],
    )
    .await
    .unwrap();
    assert_eq!(
        run.items(),
        [
            format!("  PASS  no token: 401 with a Bearer challenge and resource_metadata={base}/.well-known/oauth-protected-resource/mcp"),
            metadata_line(&base),
            format!("  PASS  metadata resource equals the URL probed: {base}/mcp"),
            as_line(&issuer),
            GARBAGE_PASS.into(),
            "  PASS  token: accepted (initialize 200)".into(),
            "  PASS  tools/list: 2 tool(s) listed for this token: add_note, list_notes".into(),
            "  PASS  add_note: listed and callable with this token".into(),
            "  PASS  list_notes: listed and callable with this token".into(),
            "  PASS  purge_notes: outside the token's scopes, refused with 403 insufficient_scope scope=\"notes:read notes:write notes:admin\"".into(),
            "10 passed, 0 failed, 0 skipped".into(),
        ],
        "{}",
        run.stdout
    );
    assert_eq!(run.code, Some(0));
    assert!(!run.stdout.contains(&token), "the token is never printed");
}

/// A hand-written MCP endpoint offering `tools`: answers initialize, tools/list and tools/call
/// (with a JSON result), and 202 to notifications.
async fn toy_mcp(State(tools): State<Arc<Vec<&'static str>>>, body: Bytes) -> Response {
    let Ok(message) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let Some(id) = message.get("id").cloned() else {
        return StatusCode::ACCEPTED.into_response();
    };
    let result = match message["method"].as_str() {
        Some("initialize") => json!({
            "protocolVersion": "2025-06-18",
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "toy", "version": "0"}
        }),
        Some("tools/list") => json!({
            "tools": tools.iter().map(|name| json!({"name": name, "inputSchema": {"type": "object"}})).collect::<Vec<_>>()
        }),
        Some("tools/call") => json!({"content": [{"type": "text", "text": "ran"}]}),
        _ => json!({}),
    };
    (
        [(header::CONTENT_TYPE, "application/json")],
        json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string(),
    )
        .into_response()
}

struct Toy {
    base: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Toy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// How the toy server is (mis)configured.
struct ToyConfig {
    tools: Vec<&'static str>,
    /// `None`: no authsec at all.
    protection: Option<Protection>,
}

struct Protection {
    /// The resource URI the Guard is built with, from the base URL.
    resource: fn(&str) -> String,
    manifest: ToolManifest,
    filter_tools_list: bool,
}

async fn start_toy(issuer: &DevIssuer, config: ToyConfig) -> Toy {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mcp = axum::Router::new()
        .route("/mcp", axum::routing::post(toy_mcp))
        .with_state(Arc::new(config.tools));
    let app = match config.protection {
        None => mcp,
        Some(protection) => {
            let remote = RemoteIssuer::discover(issuer.issuer()).await.unwrap();
            let guard = remote
                .guard((protection.resource)(&base), ValidationMode::Jwt)
                .unwrap()
                .manifest(protection.manifest)
                .initial_scopes(["notes:read"])
                .build()
                .unwrap();
            mcp.layer(
                AuthsecLayer::new(guard.clone()).filter_tools_list(protection.filter_tools_list),
            )
            .merge(metadata_router(&guard))
        }
    };
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Toy { base, task }
}

fn notes_manifest() -> ToolManifest {
    ToolManifest::new()
        .tool("list_notes", ["notes:read"])
        .tool("add_note", ["notes:write"])
}

fn mcp_url(base: &str) -> String {
    format!("{base}/mcp")
}

#[tokio::test]
async fn a_server_without_middleware_is_told_its_middleware_is_not_running() {
    let issuer = DevIssuer::start().await.unwrap();
    let toy = start_toy(
        &issuer,
        ToyConfig {
            tools: vec!["list_notes"],
            protection: None,
        },
    )
    .await;
    let base = &toy.base;
    let run: CliRun = run_authsec(&["check", &mcp_url(base)], &[]).await.unwrap();
    assert_eq!(
        run.items(),
        [
            "  FAIL  no token: got 200, expected 401: the server answers without a token".to_owned(),
            MIDDLEWARE_FIX.into(),
            format!("  FAIL  protected resource metadata: {base}/.well-known/oauth-protected-resource/mcp answered 404"),
            "        fix: serve the RFC 9728 document there, without a token (authsec-axum: metadata_router(&guard); authsec-actix: MetadataService)".into(),
            "  FAIL  Bearer garbage: got 200, expected 401 invalid_token".into(),
            MIDDLEWARE_FIX.into(),
            "  SKIP  tools/list filtering and scope enforcement".into(),
            "        why: pass --token T (a token for this server) to check them".into(),
            "0 passed, 3 failed, 1 skipped".into(),
        ],
        "{}",
        run.stdout
    );
    assert_eq!(run.code, Some(1));
}

#[tokio::test]
async fn a_wrong_resource_in_the_metadata_is_reported_with_the_exact_difference() {
    let issuer = DevIssuer::start().await.unwrap();
    let toy = start_toy(
        &issuer,
        ToyConfig {
            tools: vec!["list_notes", "add_note"],
            protection: Some(Protection {
                resource: |base| format!("{base}/mcp/"),
                manifest: notes_manifest(),
                filter_tools_list: true,
            }),
        },
    )
    .await;
    let base = &toy.base;
    let run = run_authsec(&["check", &mcp_url(base)], &[]).await.unwrap();
    assert_eq!(
        run.items(),
        [
            format!(
                "  PASS  no token: 401 with a Bearer challenge and resource_metadata={base}/.well-known/oauth-protected-resource/mcp/"
            ),
            format!(
                "  PASS  protected resource metadata: {base}/.well-known/oauth-protected-resource/mcp/"
            ),
            format!(
                "  FAIL  metadata resource is {base}/mcp/ with a trailing slash; the URL probed is {base}/mcp"
            ),
            format!(
                "        fix: set the server's resource URI to exactly {base}/mcp (AUTHSEC_RESOURCE, or Guard::builder(\"{base}/mcp\")): clients request tokens for it and the server checks aud against it"
            ),
            as_line(&issuer),
            GARBAGE_PASS.into(),
            "  SKIP  tools/list filtering and scope enforcement".into(),
            "        why: pass --token T (a token for this server) to check them".into(),
            "4 passed, 1 failed, 1 skipped".into(),
        ],
        "{}",
        run.stdout
    );
    assert_eq!(run.code, Some(1));
}

#[tokio::test]
async fn a_listed_tool_with_no_scope_mapping_is_reported_by_check_and_by_manifest_diff() {
    let issuer = DevIssuer::start().await.unwrap();
    let toy = start_toy(
        &issuer,
        ToyConfig {
            tools: vec!["list_notes", "add_note", "export_notes"],
            protection: Some(Protection {
                resource: mcp_url,
                manifest: notes_manifest(),
                filter_tools_list: false,
            }),
        },
    )
    .await;
    let base = &toy.base;
    let url = mcp_url(base);
    let token = issuer
        .mint()
        .aud(url.as_str())
        .scope("notes:read notes:write")
        .sign();
    let run = run_authsec(&["check", &url, "--token", &token], &[])
        .await
        .unwrap();
    let items = run.items();
    assert_eq!(
        items[5..],
        [
            "  PASS  token: accepted (initialize 200)".to_owned(),
            "  PASS  tools/list: 3 tool(s) listed for this token: list_notes, add_note, export_notes".into(),
            "  PASS  list_notes: listed and callable with this token".into(),
            "  PASS  add_note: listed and callable with this token".into(),
            "  FAIL  export_notes: listed, but every call is refused (403 policy_denied: the tool \"export_notes\" is not in this server's tool manifest)".into(),
            "        fix: a tool with no scope mapping is denied: add [tools.export_notes] scopes = [\"...\"] to the server's manifest, or stop offering it".into(),
            "  SKIP  a tool outside the token's scopes gets 403 with scope".into(),
            "        why: pass --manifest FILE to name the tools and their scopes".into(),
            "9 passed, 1 failed, 1 skipped".into(),
        ],
        "{}",
        run.stdout
    );
    assert_eq!(run.code, Some(1));

    // The same gap, from the manifest's side: the server offers a tool the manifest lacks, and
    // the manifest maps a tool the server does not offer.
    let run = run_authsec(
        &["manifest", "diff", "--manifest", MANIFEST, "--server", &url],
        &[("AUTHSEC_TOKEN", &token)],
    )
    .await
    .unwrap();
    assert_eq!(
        run.stdout,
        format!(
            "authsec manifest diff ({url})
  PASS  add_note: offered and mapped (notes:write)
  FAIL  export_notes: offered by the server but has no scope mapping, so every call is denied (policy_denied)
        fix: add [tools.export_notes] scopes = [\"...\"] to the manifest, or stop offering the tool
  PASS  list_notes: offered and mapped (notes:read)
  FAIL  purge_notes: mapped in the manifest but the server offers no such tool
        fix: remove [tools.purge_notes] from the manifest (or the server lost a tool it should offer; with a token that cannot see it, tools/list hides it)
2 passed, 2 failed, 0 skipped
"
        )
    );
    assert_eq!(run.code, Some(1));
}

#[tokio::test]
async fn an_unfiltered_tools_list_is_reported_with_the_tool_the_token_cannot_call() {
    let issuer = DevIssuer::start().await.unwrap();
    let toy = start_toy(
        &issuer,
        ToyConfig {
            tools: vec!["list_notes", "add_note"],
            protection: Some(Protection {
                resource: mcp_url,
                manifest: notes_manifest(),
                filter_tools_list: false,
            }),
        },
    )
    .await;
    let url = mcp_url(&toy.base);
    let token = issuer.mint().aud(url.as_str()).scope("notes:read").sign();
    let manifest_path =
        std::env::temp_dir().join(format!("authsec-cli-{}.toml", std::process::id()));
    std::fs::write(&manifest_path, notes_manifest().to_toml_string()).unwrap();
    let run = run_authsec(
        &[
            "check",
            &url,
            "--token",
            &token,
            "--manifest",
            manifest_path.to_str().unwrap(),
        ],
        &[],
    )
    .await
    .unwrap();
    let _ = std::fs::remove_file(&manifest_path);
    let items = run.items();
    assert_eq!(
        items[5..],
        [
            "  PASS  token: accepted (initialize 200)".to_owned(),
            "  PASS  tools/list: 2 tool(s) listed for this token: list_notes, add_note".into(),
            "  PASS  list_notes: listed and callable with this token".into(),
            "  FAIL  add_note: listed, but this token cannot call it (403 insufficient_scope, needs scope=\"notes:read notes:write\"): tools/list is not filtered".into(),
            "        fix: filter tools/list by the caller's scopes: authsec does when the layer sees the JSON-RPC body (keep Protection::filter_tools_list on; no route may bypass the layer)".into(),
            "  PASS  add_note: outside the token's scopes, refused with 403 insufficient_scope scope=\"notes:read notes:write\" (and tools/list shows it: it is not filtered)".into(),
            "9 passed, 1 failed, 0 skipped".into(),
        ],
        "{}",
        run.stdout
    );
    assert_eq!(run.code, Some(1));
}
