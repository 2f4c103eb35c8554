//! In-band denials at the wire, on both adapters' notes servers (real processes, tokens from
//! the dev issuer):
//!
//! - the AuthSec profile (`AUTHSEC_DENIAL_MODE=inband`): the exact bytes of each denial,
//!   compatible with the AuthSec Go SDK (v0.5.0+): `result.isError` + `_meta.authsec` for
//!   `tools/call`, JSON-RPC -32001/-32003 with `data.authsec` otherwise; no token, no
//!   in-band; one denial fails a batch;
//! - issue #8's per-class delivery from authsec.toml (`[denials]`): `policy_denied` as a tool
//!   result or as a JSON-RPC error echoing the id; remediable denials stay HTTP;
//! - the default stays HTTP.

use authsec_tests::dev_issuer::DevIssuer;
use authsec_tests::mcp_http::{McpHttp, McpResponse};
use authsec_tests::notes_server::{Adapter, NotesEnv, NotesServer};
use authsec_tests::on_both_adapters;
use serde_json::{Value, json};

const INBAND: &str = "application/json; charset=utf-8";

struct Setup {
    issuer: DevIssuer,
    server: NotesServer,
    _dir: Option<TempDir>,
}

/// A directory removed on drop.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Setup {
    async fn authsec_profile(adapter: Adapter) -> Setup {
        let issuer = DevIssuer::start().await.expect("dev issuer");
        let mut env = NotesEnv::new(issuer.issuer()).adapter(adapter);
        env.extra
            .push(("AUTHSEC_DENIAL_MODE".into(), "inband".into()));
        let server = NotesServer::start(env).await.expect("notes server");
        Setup {
            issuer,
            server,
            _dir: None,
        }
    }

    /// A notes server configured by an authsec.toml with this `[denials]` table.
    async fn with_file(adapter: Adapter, denials: &str) -> Setup {
        let issuer = DevIssuer::start().await.expect("dev issuer");
        let dir = std::env::temp_dir().join(format!(
            "authsec-inband-{}-{}",
            std::process::id(),
            authsec_tests::notes_server::free_port().unwrap()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let policy = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../authsec-axum/examples/notes-policy.toml"
        );
        let file = dir.join("authsec.toml");
        std::fs::write(
            &file,
            format!(
                "issuer = \"{}\"\nresource = \"http://127.0.0.1:1/mcp\"\ninitial_scopes = [\"notes:read\"]\npolicy_file = {policy:?}\n\n[denials]\n{denials}\n",
                issuer.issuer()
            ),
        )
        .unwrap();
        let mut env = NotesEnv::new(issuer.issuer()).adapter(adapter);
        env.extra
            .push(("AUTHSEC_CONFIG".into(), file.display().to_string()));
        // The harness sets AUTHSEC_RESOURCE (the free port): the environment wins over the file.
        let server = NotesServer::start(env).await.expect("notes server");
        Setup {
            issuer,
            server,
            _dir: Some(TempDir(dir)),
        }
    }

    fn client(&self, token: Option<String>) -> McpHttp {
        let mut mcp = McpHttp::new(self.server.resource());
        mcp.set_token(token);
        mcp
    }

    fn token(&self, scope: &str) -> String {
        self.issuer
            .mint()
            .aud(self.server.resource())
            .scope(scope)
            .sign()
    }
}

fn assert_inband(response: &McpResponse, body: &str) {
    assert_eq!(response.status, 200, "body: {}", response.body);
    assert_eq!(response.header("content-type"), Some(INBAND));
    assert_eq!(response.www_authenticate(), None);
    assert_eq!(response.body, body);
}

const SCOPE_TOOL_ERROR: &str = r#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"Tool 'add_note' cannot be called with this token. Required scope: notes:write. Your token has: notes:read. Ask an admin to grant the required scope to your role, or use a different tool."}],"isError":true,"_meta":{"authsec":{"error":"insufficient_scope","status":403,"error_description":"Tool \"add_note\" requires scope: notes:write. Your token has: notes:read. Ask an AuthSec admin to grant the missing scope, or use a tool that fits your current scopes.","required_scopes":["notes:write"],"granted_scopes":["notes:read"],"tool":"add_note"}}}}"#;

async fn authsec_profile_scope_denial_is_a_tool_error_with_meta(adapter: Adapter) {
    let s = Setup::authsec_profile(adapter).await;
    let mcp = s.client(Some(s.token("notes:read")));
    let response = mcp
        .post(&json!({"jsonrpc":"2.0","id":7,"method":"tools/call",
            "params":{"name":"add_note","arguments":{"text":"x"}}}))
        .await
        .unwrap();
    assert_inband(&response, SCOPE_TOOL_ERROR);
}
on_both_adapters!(authsec_profile_scope_denial_is_a_tool_error_with_meta);

async fn authsec_profile_expired_token_on_tools_list_is_a_32001_error(adapter: Adapter) {
    let s = Setup::authsec_profile(adapter).await;
    let expired = s
        .issuer
        .mint()
        .aud(s.server.resource())
        .scope("notes:read")
        .expires_in(-600)
        .sign();
    let mcp = s.client(Some(expired.clone()));
    let response = mcp
        .post(&json!({"jsonrpc":"2.0","id":"list-1","method":"tools/list","params":{}}))
        .await
        .unwrap();
    assert_inband(
        &response,
        r#"{"jsonrpc":"2.0","id":"list-1","error":{"code":-32001,"message":"Token is invalid or expired. The user needs to sign in again.","data":{"authsec":{"error":"invalid_token","status":401,"error_description":"the token has expired"}}}}"#,
    );
    let response = mcp
        .post(&json!({"jsonrpc":"2.0","id":3,"method":"tools/call",
            "params":{"name":"list_notes","arguments":{}}}))
        .await
        .unwrap();
    assert_inband(
        &response,
        r#"{"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"Token is invalid or expired. The user needs to sign in again."}],"isError":true,"_meta":{"authsec":{"error":"invalid_token","status":401,"error_description":"the token has expired","reason":"token_expired"}}}}"#,
    );
}
on_both_adapters!(authsec_profile_expired_token_on_tools_list_is_a_32001_error);

async fn authsec_profile_wrong_audience_carries_invalid_audience_and_its_reason(adapter: Adapter) {
    let s = Setup::authsec_profile(adapter).await;
    let other = s
        .issuer
        .mint()
        .aud("https://other.example/mcp")
        .scope("notes:read")
        .sign();
    let response = s
        .client(Some(other))
        .post(&json!({"jsonrpc":"2.0","id":1,"method":"tools/call",
            "params":{"name":"list_notes","arguments":{}}}))
        .await
        .unwrap();
    let resource = s.server.resource();
    let description = format!(
        "the token's aud [\"https://other.example/mcp\"] does not include this resource {resource:?}; request the token with resource={resource}"
    );
    assert_inband(
        &response,
        &format!(
            r#"{{"jsonrpc":"2.0","id":1,"result":{{"content":[{{"type":"text","text":"Token is invalid or expired. The user needs to sign in again."}}],"isError":true,"_meta":{{"authsec":{{"error":"invalid_audience","status":401,"error_description":{},"reason":"audience_mismatch"}}}}}}}}"#,
            Value::from(description)
        ),
    );
}
on_both_adapters!(authsec_profile_wrong_audience_carries_invalid_audience_and_its_reason);

async fn authsec_profile_without_a_token_is_http_401_with_the_go_challenge(adapter: Adapter) {
    let s = Setup::authsec_profile(adapter).await;
    let response = s
        .client(None)
        .post(&json!({"jsonrpc":"2.0","id":1,"method":"tools/call",
            "params":{"name":"list_notes","arguments":{}}}))
        .await
        .unwrap();
    let prm = s.server.url("/.well-known/oauth-protected-resource/mcp");
    // C4: the family's Go SDK sends error="invalid_token" even when no token was sent, and
    // the resource name as realm.
    assert_eq!(response.status, 401);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(
        response.www_authenticate(),
        Some(
            format!(
                "Bearer realm=\"authsec notes demo\", error=\"invalid_token\", error_description=\"missing bearer token\", scope=\"notes:read\", resource_metadata=\"{prm}\""
            )
            .as_str()
        )
    );
    assert_eq!(
        response.json(),
        json!({"error":"invalid_token","error_description":"missing bearer token",
            "denial":"missing_token","reason":"no_token","scope":"notes:read",
            "resource_metadata":prm})
    );
}
on_both_adapters!(authsec_profile_without_a_token_is_http_401_with_the_go_challenge);

async fn by_default_the_no_token_challenge_carries_no_error(adapter: Adapter) {
    let s = Setup::with_file(adapter, "").await;
    let response = s
        .client(None)
        .post(&json!({"jsonrpc":"2.0","id":1,"method":"tools/call",
            "params":{"name":"list_notes","arguments":{}}}))
        .await
        .unwrap();
    let prm = s.server.url("/.well-known/oauth-protected-resource/mcp");
    // RFC 6750 §3.1: no error code when the request carried no credentials.
    assert_eq!(response.status, 401);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(
        response.www_authenticate(),
        Some(format!("Bearer scope=\"notes:read\", resource_metadata=\"{prm}\"").as_str())
    );
    assert_eq!(
        response.json(),
        json!({"error":"missing_token","error_description":"an access token is required",
            "denial":"missing_token","reason":"no_token","scope":"notes:read",
            "resource_metadata":prm})
    );
}
on_both_adapters!(by_default_the_no_token_challenge_carries_no_error);

async fn authsec_profile_unmapped_tool_is_insufficient_scope_with_the_placeholder(
    adapter: Adapter,
) {
    let s = Setup::authsec_profile(adapter).await;
    let response = s
        .client(Some(s.token("notes:read")))
        .post(&json!({"jsonrpc":"2.0","id":4,"method":"tools/call",
            "params":{"name":"delete_everything","arguments":{}}}))
        .await
        .unwrap();
    // C6: the Go SDK's lookup of a tool absent from the map.
    assert_inband(
        &response,
        r#"{"jsonrpc":"2.0","id":4,"result":{"content":[{"type":"text","text":"Tool 'delete_everything' cannot be called with this token. Required scope: <no scope mapping for tool \"delete_everything\">. Your token has: notes:read. Ask an admin to grant the required scope to your role, or use a different tool."}],"isError":true,"_meta":{"authsec":{"error":"insufficient_scope","status":403,"error_description":"Tool \"delete_everything\" requires scope: <no scope mapping for tool \"delete_everything\">. Your token has: notes:read. Ask an AuthSec admin to grant the missing scope, or use a tool that fits your current scopes.","required_scopes":["<no scope mapping for tool \"delete_everything\">"],"granted_scopes":["notes:read"],"tool":"delete_everything"}}}}"#,
    );
}
on_both_adapters!(authsec_profile_unmapped_tool_is_insufficient_scope_with_the_placeholder);

async fn by_default_an_unmapped_tool_is_a_403_policy_denial_without_challenge(adapter: Adapter) {
    let s = Setup::with_file(adapter, "").await;
    let response = s
        .client(Some(s.token("notes:read")))
        .post(&json!({"jsonrpc":"2.0","id":4,"method":"tools/call",
            "params":{"name":"delete_everything","arguments":{}}}))
        .await
        .unwrap();
    let prm = s.server.url("/.well-known/oauth-protected-resource/mcp");
    assert_eq!(response.status, 403);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.www_authenticate(), None);
    assert_eq!(
        response.json(),
        json!({"error":"policy_denied","denial":"policy_denied","tool":"delete_everything",
            "error_description":"the tool \"delete_everything\" is not in this server's tool manifest",
            "resource_metadata":prm})
    );
}
on_both_adapters!(by_default_an_unmapped_tool_is_a_403_policy_denial_without_challenge);

async fn authsec_profile_one_denial_fails_the_whole_batch(adapter: Adapter) {
    let s = Setup::authsec_profile(adapter).await;
    let response = s
        .client(Some(s.token("notes:read")))
        .post(&json!([
            {"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"list_notes","arguments":{}}},
            {"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"add_note","arguments":{"text":"x"}}}
        ]))
        .await
        .unwrap();
    // The batch as a whole needs both tools' scopes; every envelope gets the same denial.
    let item = |id: u32| {
        SCOPE_TOOL_ERROR
            .replacen(r#""id":7"#, &format!(r#""id":{id}"#), 1)
            .replace("scope: notes:write.", "scope: notes:read, notes:write.")
            .replace(
                r#""required_scopes":["notes:write"]"#,
                r#""required_scopes":["notes:read","notes:write"]"#,
            )
    };
    assert_inband(&response, &format!("[{},{}]", item(6), item(7)));
}
on_both_adapters!(authsec_profile_one_denial_fails_the_whole_batch);

async fn authsec_profile_lets_allowed_calls_through(adapter: Adapter) {
    let s = Setup::authsec_profile(adapter).await;
    let mut mcp = s.client(Some(s.token("notes:read")));
    let init = mcp.initialize().await.unwrap();
    assert_eq!(init.status, 200, "{}", init.body);
    let list = mcp.tools_list().await.unwrap();
    assert_eq!(list.status, 200);
    assert_eq!(list.tool_names(), ["list_notes"]);
}
on_both_adapters!(authsec_profile_lets_allowed_calls_through);

async fn policy_denied_as_a_tool_result_from_authsec_toml(adapter: Adapter) {
    let s = Setup::with_file(adapter, "policy_denied = \"tool_result\"").await;
    let mcp = s.client(Some(s.token("notes:read")));
    let response = mcp
        .post(&json!({"jsonrpc":"2.0","id":9,"method":"tools/call",
            "params":{"name":"delete_everything","arguments":{}}}))
        .await
        .unwrap();
    let prm = s.server.url("/.well-known/oauth-protected-resource/mcp");
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.header("content-type"), Some(INBAND));
    assert_eq!(
        response.json(),
        json!({"jsonrpc":"2.0","id":9,"result":{
            "content":[{"type":"text","text":"Denied (policy_denied): the tool \"delete_everything\" is not in this server's tool manifest"}],
            "isError":true,
            "_meta":{"authsec":{"error":"policy_denied","denial":"policy_denied","tool":"delete_everything",
                "error_description":"the tool \"delete_everything\" is not in this server's tool manifest",
                "resource_metadata":prm}}}})
    );
    // A remediable denial stays HTTP-level: official clients step up scopes on the 403.
    let response = mcp
        .post(&json!({"jsonrpc":"2.0","id":10,"method":"tools/call",
            "params":{"name":"add_note","arguments":{"text":"x"}}}))
        .await
        .unwrap();
    assert_eq!(response.status, 403);
    assert!(response.www_authenticate().is_some());
}
on_both_adapters!(policy_denied_as_a_tool_result_from_authsec_toml);

async fn policy_denied_as_a_jsonrpc_error_echoes_the_id(adapter: Adapter) {
    let s = Setup::with_file(adapter, "policy_denied = \"jsonrpc_error\"").await;
    let response = s
        .client(Some(s.token("notes:read")))
        .post(&json!({"jsonrpc":"2.0","id":"x-1","method":"tools/call",
            "params":{"name":"delete_everything","arguments":{}}}))
        .await
        .unwrap();
    let prm = s.server.url("/.well-known/oauth-protected-resource/mcp");
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.header("content-type"), Some(INBAND));
    assert_eq!(
        response.json(),
        json!({"jsonrpc":"2.0","id":"x-1","error":{"code":-31008,
            "message":"the tool \"delete_everything\" is not in this server's tool manifest",
            "data":{"error":"policy_denied","denial":"policy_denied","tool":"delete_everything",
                "error_description":"the tool \"delete_everything\" is not in this server's tool manifest",
                "resource_metadata":prm}}})
    );
}
on_both_adapters!(policy_denied_as_a_jsonrpc_error_echoes_the_id);

async fn by_default_policy_denied_stays_http_403(adapter: Adapter) {
    let s = Setup::with_file(adapter, "").await;
    let response = s
        .client(Some(s.token("notes:read")))
        .post(&json!({"jsonrpc":"2.0","id":1,"method":"tools/call",
            "params":{"name":"delete_everything","arguments":{}}}))
        .await
        .unwrap();
    assert_eq!(response.status, 403);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.json()["denial"], "policy_denied");
}
on_both_adapters!(by_default_policy_denied_stays_http_403);

async fn authsec_profile_lets_the_handshake_through_with_a_failed_token_only(adapter: Adapter) {
    let s = Setup::authsec_profile(adapter).await;
    let expired = s
        .issuer
        .mint()
        .aud(s.server.resource())
        .scope("notes:read")
        .expires_in(-600)
        .sign();
    // With a token that fails validation, initialize reaches the MCP server (the family's
    // pass-through keeps a session alive across expiry)...
    let mut mcp = s.client(Some(expired));
    let init = mcp.initialize().await.unwrap();
    assert_eq!(init.status, 200, "{}", init.body);
    assert!(
        init.response()
            .and_then(|r| r.pointer("/result/serverInfo/name"))
            .is_some(),
        "{}",
        init.body
    );
    let ping = mcp
        .post(&json!({"jsonrpc":"2.0","id":5,"method":"ping"}))
        .await
        .unwrap();
    assert_eq!(ping.status, 200, "{}", ping.body);
    assert_eq!(
        ping.response().and_then(|r| r.get("result")),
        Some(&json!({}))
    );
    // ...but nothing else does.
    let list = mcp.tools_list().await.unwrap();
    assert_eq!(list.status, 200);
    assert_eq!(list.json()["error"]["code"], -32001, "{}", list.body);
    // Without a token, even initialize is a 401.
    let mut anonymous = s.client(None);
    assert_eq!(anonymous.initialize().await.unwrap().status, 401);
}
on_both_adapters!(authsec_profile_lets_the_handshake_through_with_a_failed_token_only);

async fn by_default_the_handshake_needs_a_valid_token(adapter: Adapter) {
    let s = Setup::with_file(adapter, "").await;
    let expired = s
        .issuer
        .mint()
        .aud(s.server.resource())
        .scope("notes:read")
        .expires_in(-600)
        .sign();
    let mut mcp = s.client(Some(expired));
    let init = mcp.initialize().await.unwrap();
    assert_eq!(init.status, 401, "{}", init.body);
    assert_eq!(init.header("content-type"), Some("application/json"));
}
on_both_adapters!(by_default_the_handshake_needs_a_valid_token);
