//! The notes demo server at the wire: a real process, configured only through its environment,
//! driven over loopback HTTP, with tokens from the dev issuer. Every assertion is on the exact
//! status, header and body a client sees.
//!
//! One behaviour matrix for both adapters: each behaviour is an `async fn(Adapter)` run as
//! `<behaviour>_axum` and `<behaviour>_actix` (`on_both_adapters!`).

use std::time::Duration;

use authsec_tests::dev_issuer::{
    DEFAULT_INTROSPECTION_CLIENT_ID, DEFAULT_INTROSPECTION_CLIENT_SECRET, DevIssuer, GarbageToken,
    garbage_token,
};
use authsec_tests::mcp_http::{McpHttp, McpResponse};
use authsec_tests::notes_server::{Adapter, NotesEnv, NotesServer};
use authsec_tests::on_both_adapters;
use serde_json::{Value, json};

struct Setup {
    issuer: DevIssuer,
    server: NotesServer,
}

impl Setup {
    async fn jwt_only(adapter: Adapter) -> Setup {
        Self::with(adapter, |env| env).await
    }

    async fn with(adapter: Adapter, env: impl FnOnce(NotesEnv) -> NotesEnv) -> Setup {
        let issuer = DevIssuer::start().await.expect("dev issuer");
        let server = NotesServer::start(env(NotesEnv::new(issuer.issuer()).adapter(adapter)))
            .await
            .expect("notes server");
        Setup { issuer, server }
    }

    async fn introspecting(adapter: Adapter, cache_seconds: u64) -> Setup {
        Self::with(adapter, |env| {
            env.introspection(
                DEFAULT_INTROSPECTION_CLIENT_ID,
                DEFAULT_INTROSPECTION_CLIENT_SECRET,
                cache_seconds,
            )
        })
        .await
    }

    fn prm(&self) -> String {
        self.server.url("/.well-known/oauth-protected-resource/mcp")
    }

    /// A token for this server with these scopes (acr pwd, fresh auth_time).
    fn token(&self, scope: &str) -> String {
        self.issuer
            .mint()
            .aud(self.server.resource())
            .scope(scope)
            .sign()
    }

    /// An initialized MCP session with a token of these scopes.
    async fn session(&self, scope: &str) -> McpHttp {
        let mut mcp = McpHttp::new(self.server.resource());
        mcp.set_token(Some(self.token(scope)));
        let init = mcp.initialize().await.unwrap();
        assert_eq!(init.status, 200, "initialize: {}", init.body);
        mcp
    }
}

fn assert_json_body(response: &McpResponse, expected: Value) {
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.json(), expected, "body: {}", response.body);
}

async fn missing_token_is_401_with_initial_scope_and_resource_metadata(adapter: Adapter) {
    let s = Setup::jwt_only(adapter).await;
    let mcp = McpHttp::new(s.server.resource());
    let response = mcp
        .post(&json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}))
        .await
        .unwrap();
    assert_eq!(response.status, 401);
    assert_eq!(
        response.www_authenticate(),
        Some(
            format!(
                "Bearer scope=\"notes:read\", resource_metadata=\"{}\"",
                s.prm()
            )
            .as_str()
        )
    );
    assert_json_body(
        &response,
        json!({"error":"missing_token","error_description":"an access token is required",
               "denial":"missing_token","reason":"no_token","scope":"notes:read","resource_metadata":s.prm()}),
    );
}
on_both_adapters!(missing_token_is_401_with_initial_scope_and_resource_metadata);

async fn get_stream_and_delete_session_need_a_token_too(adapter: Adapter) {
    let s = Setup::jwt_only(adapter).await;
    let mcp = McpHttp::new(s.server.resource());
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let response = mcp.send(mcp.request(method.clone())).await.unwrap();
        assert_eq!(response.status, 401, "{method}");
        assert_eq!(
            response.www_authenticate(),
            Some(
                format!(
                    "Bearer scope=\"notes:read\", resource_metadata=\"{}\"",
                    s.prm()
                )
                .as_str()
            ),
            "{method}"
        );
    }
    // A notification without a token is refused as well.
    let response = mcp
        .post(&json!({"jsonrpc":"2.0","method":"notifications/initialized"}))
        .await
        .unwrap();
    assert_eq!(response.status, 401);
}
on_both_adapters!(get_stream_and_delete_session_need_a_token_too);

async fn metadata_document_is_exact_at_path_and_root(adapter: Adapter) {
    let s = Setup::jwt_only(adapter).await;
    let http = reqwest::Client::new();
    for url in [
        s.prm(),
        s.server.url("/.well-known/oauth-protected-resource"),
    ] {
        let response = http.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(response.headers()["cache-control"], "public, max-age=300");
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body,
            json!({
                "resource": s.server.resource(),
                "authorization_servers": [s.issuer.issuer()],
                "scopes_supported": ["notes:write", "notes:read", "notes:admin"],
                "bearer_methods_supported": ["header"],
                "resource_name": "authsec notes demo"
            })
        );
    }
}
on_both_adapters!(metadata_document_is_exact_at_path_and_root);

async fn metadata_lists_the_configured_authorization_server(adapter: Adapter) {
    // AUTHSEC_AUTHORIZATION_SERVER (family §1.1) is what the document publishes (§6.2), in
    // place of the issuer.
    let s = Setup::with(adapter, |mut env| {
        env.extra.push((
            "AUTHSEC_AUTHORIZATION_SERVER".into(),
            "https://as.example/tenant-1".into(),
        ));
        env
    })
    .await;
    let response = reqwest::get(s.prm()).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["authorization_servers"],
        json!(["https://as.example/tenant-1"])
    );
    assert_eq!(body["resource"], Value::from(s.server.resource()));
}
on_both_adapters!(metadata_lists_the_configured_authorization_server);

async fn garbage_tokens_are_invalid_token(adapter: Adapter) {
    let s = Setup::jwt_only(adapter).await;
    let mut mcp = McpHttp::new(s.server.resource());
    // A value outside the b64token syntax is a malformed header, not a bad token.
    mcp.set_token(Some(garbage_token(GarbageToken::NotBase64)));
    let response = mcp.tools_list().await.unwrap();
    assert_eq!(response.status, 400);
    assert_eq!(
        response.json()["error_description"],
        "the bearer token is not a valid b64token (RFC 6750 section 2.1)"
    );
    for kind in [
        GarbageToken::NotJson,
        GarbageToken::JsonNotObject,
        GarbageToken::TwoSegments,
        GarbageToken::FourSegments,
    ] {
        mcp.set_token(Some(garbage_token(kind)));
        let response = mcp.tools_list().await.unwrap();
        assert_eq!(response.status, 401, "{kind:?}");
        let body = response.json();
        assert_eq!(body["denial"], "invalid_token", "{kind:?}");
        assert_eq!(
            response.www_authenticate().unwrap(),
            format!(
                "Bearer error=\"invalid_token\", error_description=\"{}\", resource_metadata=\"{}\"",
                body["error_description"].as_str().unwrap(),
                s.prm()
            )
        );
    }
    mcp.set_token(Some("garbage".into()));
    let response = mcp.tools_list().await.unwrap();
    assert_eq!(response.status, 401);
    assert_json_body(
        &response,
        json!({"error":"invalid_token",
               "error_description":"the token is not a signed JWT (expected three dot-separated parts)",
               "denial":"invalid_token","reason":"invalid_token","resource_metadata":s.prm()}),
    );
}
on_both_adapters!(garbage_tokens_are_invalid_token);

async fn expired_and_foreign_tokens_are_invalid_token(adapter: Adapter) {
    let s = Setup::jwt_only(adapter).await;
    let mut mcp = McpHttp::new(s.server.resource());
    let cases = [
        (
            s.issuer
                .mint()
                .aud(s.server.resource())
                .scope("notes:read")
                .expires_in(-600)
                .sign(),
            "the token has expired",
            "token_expired",
        ),
        (
            s.issuer
                .mint()
                .aud(s.server.resource())
                .scope("notes:read")
                .alg_none(),
            "unsigned tokens (alg none) are refused",
            "invalid_token",
        ),
        (
            s.issuer
                .mint()
                .aud(s.server.resource())
                .scope("notes:read")
                .foreign_key_with_issuer_kid(),
            "the token signature is invalid",
            "invalid_token",
        ),
        (
            s.issuer
                .mint()
                .aud(s.server.resource())
                .scope("notes:read")
                .typ("JWT")
                .sign(),
            "the token's typ is \"JWT\", expected \"at+jwt\" (RFC 9068)",
            "invalid_token",
        ),
    ];
    for (token, description, reason) in cases {
        mcp.set_token(Some(token));
        let response = mcp.tools_list().await.unwrap();
        assert_eq!(response.status, 401, "{description}");
        assert_json_body(
            &response,
            json!({"error":"invalid_token","error_description":description,
                   "denial":"invalid_token","reason":reason,"resource_metadata":s.prm()}),
        );
    }
}
on_both_adapters!(expired_and_foreign_tokens_are_invalid_token);

async fn token_for_another_resource_is_invalid_audience(adapter: Adapter) {
    let s = Setup::jwt_only(adapter).await;
    let mut mcp = McpHttp::new(s.server.resource());
    mcp.set_token(Some(
        s.issuer
            .mint()
            .aud("https://other.example/mcp")
            .scope("notes:read")
            .sign(),
    ));
    let response = mcp.tools_list().await.unwrap();
    assert_eq!(response.status, 401);
    let description = format!(
        "the token's aud [\"https://other.example/mcp\"] does not include this resource {:?}; request the token with resource={}",
        s.server.resource(),
        s.server.resource()
    );
    assert_eq!(
        response.www_authenticate().unwrap(),
        format!(
            "Bearer error=\"invalid_token\", error_description=\"{}\", resource_metadata=\"{}\"",
            description.replace('"', "'"),
            s.prm()
        )
    );
    assert_json_body(
        &response,
        json!({"error":"invalid_token","error_description":description,
               "denial":"invalid_audience","reason":"audience_mismatch","resource_metadata":s.prm()}),
    );
}
on_both_adapters!(token_for_another_resource_is_invalid_audience);

async fn two_credentials_or_a_query_token_are_invalid_request(adapter: Adapter) {
    let s = Setup::jwt_only(adapter).await;
    let token = s.token("notes:read");
    let http = reqwest::Client::new();
    let two = http
        .post(s.server.resource())
        .header("authorization", format!("Bearer {token}"))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(two.status(), 400);
    assert_eq!(
        two.headers()["www-authenticate"],
        format!(
            "Bearer error=\"invalid_request\", error_description=\"more than one Authorization header was sent\", resource_metadata=\"{}\"",
            s.prm()
        )
        .as_str()
    );
    let query = http
        .post(format!("{}?access_token={token}", s.server.resource()))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(query.status(), 400);
    let body: Value = query.json().await.unwrap();
    assert_eq!(body["denial"], "invalid_request");
    assert_eq!(
        body["error_description"],
        "access tokens in the query string are not accepted; send an Authorization: Bearer header"
    );
}
on_both_adapters!(two_credentials_or_a_query_token_are_invalid_request);

async fn a_malformed_bearer_header_is_400_invalid_request(adapter: Adapter) {
    // C9 of the AuthSec family's conflicts table: the Go SDK's 400, with RFC 6750's error.
    let s = Setup::jwt_only(adapter).await;
    let http = reqwest::Client::new();
    for (header, description) in [
        (
            "Bearer two words",
            "the bearer token is not a valid b64token (RFC 6750 section 2.1)",
        ),
        (
            "Bearer",
            "the Authorization header has the Bearer scheme but no token",
        ),
    ] {
        let response = http
            .post(s.server.resource())
            .header("authorization", header)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{header}");
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(
            response.headers()["www-authenticate"],
            format!(
                "Bearer error=\"invalid_request\", error_description=\"{description}\", resource_metadata=\"{}\"",
                s.prm()
            )
            .as_str()
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body,
            json!({"error":"invalid_request","denial":"invalid_request",
                "error_description":description,"resource_metadata":s.prm()})
        );
    }
}
on_both_adapters!(a_malformed_bearer_header_is_400_invalid_request);

async fn hidden_tool_called_by_name_is_scope_insufficient_with_merged_scope(adapter: Adapter) {
    let s = Setup::jwt_only(adapter).await;
    let mut mcp = s.session("notes:read").await;
    let list = mcp.tools_list().await.unwrap();
    assert_eq!(list.status, 200);
    assert_eq!(list.tool_names(), ["list_notes"]);
    let response = mcp
        .call_tool("add_note", json!({"text":"x"}))
        .await
        .unwrap();
    assert_eq!(response.status, 403);
    assert_eq!(
        response.www_authenticate(),
        Some(
            format!(
                "Bearer error=\"insufficient_scope\", error_description=\"Tool 'add_note' requires scope: notes:write. Your token has: notes:read. Ask an AuthSec admin to grant the missing scope, or use a tool that fits your current scopes.\", scope=\"notes:read notes:write\", resource_metadata=\"{}\"",
                s.prm()
            )
            .as_str()
        )
    );
    assert_json_body(
        &response,
        json!({"error":"insufficient_scope",
               "error_description":"Tool \"add_note\" requires scope: notes:write. Your token has: notes:read. Ask an AuthSec admin to grant the missing scope, or use a tool that fits your current scopes.",
               "denial":"scope_insufficient","tool":"add_note","granted_scopes":["notes:read"],
               "scope":"notes:read notes:write",
               "required_scopes":["notes:write"],"resource_metadata":s.prm()}),
    );
}
on_both_adapters!(hidden_tool_called_by_name_is_scope_insufficient_with_merged_scope);

async fn purge_needs_fresh_mfa_after_scope(adapter: Adapter) {
    let s = Setup::jwt_only(adapter).await;
    let mut mcp = McpHttp::new(s.server.resource());
    let resource = s.server.resource();

    // Scope is checked before policy: no notes:admin → 403 even without MFA.
    mcp.set_token(Some(s.token("notes:read")));
    assert_eq!(mcp.initialize().await.unwrap().status, 200);
    let response = mcp.call_tool("purge_notes", json!({})).await.unwrap();
    assert_eq!(response.status, 403);
    assert_eq!(response.json()["denial"], "scope_insufficient");

    // notes:admin with a password login → step-up.
    mcp.set_token(Some(s.token("notes:read notes:admin")));
    let response = mcp.call_tool("purge_notes", json!({})).await.unwrap();
    assert_eq!(response.status, 401);
    assert_eq!(
        response.www_authenticate(),
        Some(
            format!(
                "Bearer error=\"insufficient_user_authentication\", error_description=\"a stronger or more recent authentication is required\", acr_values=\"mfa\", max_age=\"300\", resource_metadata=\"{}\"",
                s.prm()
            )
            .as_str()
        )
    );
    assert_json_body(
        &response,
        json!({"error":"insufficient_user_authentication",
               "error_description":"a stronger or more recent authentication is required",
               "denial":"step_up_required","acr_values":"mfa","max_age":300,
               "resource_metadata":s.prm()}),
    );

    // MFA, but ten minutes ago → still step-up.
    mcp.set_token(Some(
        s.issuer
            .mint()
            .aud(resource)
            .scope("notes:admin")
            .acr("mfa")
            .amr(["pwd", "mfa"])
            .auth_time_offset(-600)
            .sign(),
    ));
    let response = mcp.call_tool("purge_notes", json!({})).await.unwrap();
    assert_eq!(response.status, 401);
    assert_eq!(response.json()["denial"], "step_up_required");

    // amr contains mfa and the login is fresh → allowed.
    mcp.set_token(Some(
        s.issuer
            .mint()
            .aud(resource)
            .scope("notes:admin")
            .acr("pwd")
            .amr(["pwd", "mfa"])
            .sign(),
    ));
    let response = mcp.call_tool("purge_notes", json!({})).await.unwrap();
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(
        response.tool_text().as_deref(),
        Some("alice purged 0 notes")
    );
}
on_both_adapters!(purge_needs_fresh_mfa_after_scope);

async fn tools_outside_the_manifest_are_policy_denied_without_challenge(adapter: Adapter) {
    let s = Setup::jwt_only(adapter).await;
    let mut mcp = s.session("notes:read notes:write notes:admin").await;
    let response = mcp.call_tool("delete_everything", json!({})).await.unwrap();
    assert_eq!(response.status, 403);
    assert_eq!(response.www_authenticate(), None);
    assert_json_body(
        &response,
        json!({"error":"policy_denied",
               "error_description":"the tool \"delete_everything\" is not in this server's tool manifest",
               "denial":"policy_denied","tool":"delete_everything","resource_metadata":s.prm()}),
    );
}
on_both_adapters!(tools_outside_the_manifest_are_policy_denied_without_challenge);

async fn revoked_token_is_refused_on_the_next_request_at_ttl_zero(adapter: Adapter) {
    let s = Setup::introspecting(adapter, 0).await;
    let token = s.token("notes:read");
    let mut mcp = McpHttp::new(s.server.resource());
    mcp.set_token(Some(token.clone()));
    assert_eq!(mcp.initialize().await.unwrap().status, 200);
    assert_eq!(
        mcp.call_tool("list_notes", json!({})).await.unwrap().status,
        200
    );
    assert!(s.issuer.revoke(&token));
    let response = mcp.call_tool("list_notes", json!({})).await.unwrap();
    assert_eq!(response.status, 401);
    assert_eq!(
        response.www_authenticate(),
        Some(
            format!(
                "Bearer error=\"invalid_token\", error_description=\"the access token is not active\", resource_metadata=\"{}\"",
                s.prm()
            )
            .as_str()
        )
    );
    assert_json_body(
        &response,
        json!({"error":"invalid_token","error_description":"the access token is not active",
               "denial":"token_revoked","reason":"token_revoked","resource_metadata":s.prm()}),
    );
}
on_both_adapters!(revoked_token_is_refused_on_the_next_request_at_ttl_zero);

async fn unreachable_authorization_server_is_503_not_invalid_token(adapter: Adapter) {
    let s = Setup::introspecting(adapter, 0).await;
    let mut mcp = s.session("notes:read").await; // JWKS is now cached
    s.issuer.shutdown().await;
    mcp.set_token(Some(s.token("notes:read")));
    let response = mcp.call_tool("list_notes", json!({})).await.unwrap();
    assert_eq!(response.status, 503, "{}", response.body);
    assert_eq!(response.www_authenticate(), None);
    assert_eq!(response.header("retry-after"), Some("5"));
    let body = response.json();
    assert_eq!(body["denial"], "authorization_unavailable");
    assert_eq!(body["error"], "authorization_unavailable");
    assert_eq!(body["retry_after"], 5);
}
on_both_adapters!(unreachable_authorization_server_is_503_not_invalid_token);

async fn a_session_cannot_be_reused_by_another_subject(adapter: Adapter) {
    let s = Setup::jwt_only(adapter).await;
    let alice = s.session("notes:read").await;
    let mut mallory = McpHttp::new(s.server.resource());
    mallory.set_token(Some(
        s.issuer
            .mint()
            .aud(s.server.resource())
            .scope("notes:read")
            .sub("mallory")
            .sign(),
    ));
    mallory.set_session(alice.session().map(str::to_owned));
    let response = mallory.call_tool("list_notes", json!({})).await.unwrap();
    assert_eq!(response.status, 404);
    assert_json_body(
        &response,
        json!({"error":"session_mismatch",
               "error_description":"the session does not belong to this principal",
               "denial":"session_mismatch","resource_metadata":s.prm()}),
    );
}
on_both_adapters!(a_session_cannot_be_reused_by_another_subject);

async fn mcp_name_header_must_match_the_body(adapter: Adapter) {
    let s = Setup::jwt_only(adapter).await;
    let mcp = s.session("notes:read notes:write notes:admin").await;
    let response = mcp
        .send(
            mcp.request(reqwest::Method::POST)
                .header("content-type", "application/json")
                .header("mcp-method", "tools/call")
                .header("mcp-name", "list_notes")
                .body(r#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"purge_notes","arguments":{}}}"#),
        )
        .await
        .unwrap();
    assert_eq!(response.status, 400);
    assert_eq!(
        response.json()["error_description"],
        "the Mcp-Name header \"list_notes\" does not match the tool called in the body \"purge_notes\""
    );
}
on_both_adapters!(mcp_name_header_must_match_the_body);

async fn foreign_origin_and_host_are_refused_own_origin_is_served(adapter: Adapter) {
    let s = Setup::jwt_only(adapter).await;
    let mut mcp = s.session("notes:read notes:write").await;
    let add = |origin: Option<&str>, host: Option<&str>| {
        let mut request = mcp
            .request(reqwest::Method::POST)
            .header("content-type", "application/json")
            .body(r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"add_note","arguments":{"text":"from a page"}}}"#);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        if let Some(host) = host {
            request = request.header("host", host);
        }
        request
    };
    // DNS rebinding: a page on another origin, or a request for another host name.
    let evil = mcp
        .send(add(Some("https://evil.example"), None))
        .await
        .unwrap();
    assert_eq!(evil.status, 403);
    assert_eq!(evil.body, "Forbidden: Origin header is not allowed");
    let rebound = mcp.send(add(None, Some("evil.example"))).await.unwrap();
    assert_eq!(rebound.status, 403);
    assert_eq!(rebound.body, "Forbidden: Host header is not allowed");
    // The resource's own origin is served, and nothing was added before.
    let own = s.server.base().to_owned();
    let ok = mcp.send(add(Some(&own), None)).await.unwrap();
    assert_eq!(ok.status, 200, "{}", ok.body);
    let list = mcp.call_tool("list_notes", json!({})).await.unwrap();
    assert_eq!(list.tool_text().as_deref(), Some("from a page"));
}
on_both_adapters!(foreign_origin_and_host_are_refused_own_origin_is_served);

async fn a_body_over_the_bound_is_refused_cleanly(adapter: Adapter) {
    let s = Setup::jwt_only(adapter).await;
    let mcp = s.session("notes:write").await;
    let text = "x".repeat(1024 * 1024 + 10);
    let response = mcp
        .post(&json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"add_note","arguments":{"text":text}}}))
        .await
        .unwrap();
    assert_eq!(response.status, 413);
    assert_eq!(
        response.json()["error_description"],
        "the request body exceeds 1048576 bytes"
    );
}
on_both_adapters!(a_body_over_the_bound_is_refused_cleanly);

async fn assert_tools_visible(s: &Setup) {
    let cases = [
        ("notes:read", vec!["list_notes"]),
        ("notes:read notes:write", vec!["add_note", "list_notes"]),
        (
            "notes:read notes:write notes:admin",
            vec!["add_note", "list_notes", "purge_notes"],
        ),
        ("profile", vec![]),
    ];
    for (scope, expected) in cases {
        let mut mcp = s.session(scope).await;
        let response = mcp.tools_list().await.unwrap();
        assert_eq!(response.status, 200, "{scope}");
        let mut names = response.tool_names();
        names.sort();
        assert_eq!(names, expected, "{scope}");
        assert_eq!(
            response.response().unwrap()["result"]["cacheScope"],
            "private",
            "{scope}"
        );
    }
}

async fn tools_list_is_filtered_in_sse_responses(adapter: Adapter) {
    let s = Setup::jwt_only(adapter).await;
    let mut mcp = s.session("notes:read").await;
    let response = mcp.tools_list().await.unwrap();
    assert_eq!(response.header("content-type"), Some("text/event-stream"));
    assert_tools_visible(&s).await;
}
on_both_adapters!(tools_list_is_filtered_in_sse_responses);

async fn tools_list_is_filtered_in_json_responses(adapter: Adapter) {
    let s = Setup::with(adapter, NotesEnv::json_response).await;
    let mut mcp = s.session("notes:read").await;
    let response = mcp.tools_list().await.unwrap();
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_tools_visible(&s).await;
}
on_both_adapters!(tools_list_is_filtered_in_json_responses);

async fn two_hundred_concurrent_tool_calls_are_all_answered_correctly(adapter: Adapter) {
    // Stateless JSON mode: every call is its own HTTP exchange, as a load balancer would see it.
    let s = Setup::with(adapter, NotesEnv::json_response).await;
    let writer = s.session("notes:read notes:write").await;
    let reader_token = s.token("notes:read");
    let mut calls = Vec::new();
    for i in 0..200 {
        let mut mcp = writer.clone();
        if i % 2 == 1 {
            // Every other call has a token without notes:write: it must be refused.
            mcp.set_token(Some(reader_token.clone()));
        }
        calls.push(tokio::spawn(async move {
            let response = mcp
                .call_tool("add_note", json!({"text": format!("note {i}")}))
                .await
                .unwrap();
            (i, response.status)
        }));
    }
    for call in calls {
        let (i, status) = call.await.unwrap();
        assert_eq!(status, if i % 2 == 0 { 200 } else { 403 }, "call {i}");
    }
    let mut reader = writer.clone();
    let response = tokio::time::timeout(
        Duration::from_secs(10),
        reader.call_tool("list_notes", json!({})),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.tool_text().unwrap().lines().count(), 100);
}
on_both_adapters!(two_hundred_concurrent_tool_calls_are_all_answered_correctly);
