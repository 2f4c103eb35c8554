//! The notes server against a real, certified authorization server: oidc-provider (Node.js),
//! both started as processes on loopback. DCR, authorization code + PKCE with `resource`, JWT
//! access tokens for the resource, refresh, step-up, and revocation seen through introspection.
//! Each flow runs against both adapters' notes servers (`<flow>_axum`, `<flow>_actix`).

use authsec_tests::mcp_http::McpHttp;
use authsec_tests::notes_server::{Adapter, NotesEnv, NotesServer, free_port};
use authsec_tests::oidc_provider::{
    LoginRequest, OidcProvider, OidcProviderOptions, RegisteredClient,
};
use authsec_tests::on_both_adapters;
use serde_json::json;

const REDIRECT: &str = "http://127.0.0.1:53682/callback";

struct Setup {
    provider: OidcProvider,
    server: NotesServer,
    client: RegisteredClient,
}

async fn setup(
    adapter: Adapter,
    options: OidcProviderOptions,
    env: impl FnOnce(NotesEnv) -> NotesEnv,
) -> Setup {
    let port = free_port().unwrap();
    let resource = format!("http://127.0.0.1:{port}/mcp");
    let provider = OidcProvider::start(OidcProviderOptions {
        resources: vec![resource.clone()],
        ..options
    })
    .await
    .expect("oidc-provider starts (needs Node.js and npm)");
    let mut notes = env(NotesEnv::new(provider.issuer()).adapter(adapter));
    notes.port = Some(port);
    let server = NotesServer::start(notes).await.expect("notes server");
    assert_eq!(server.resource(), resource);
    let client = provider.register_client(REDIRECT).await.expect("DCR");
    Setup {
        provider,
        server,
        client,
    }
}

impl Setup {
    async fn token(&self, scopes: &[&str], acr: Option<&str>) -> String {
        let mut request = LoginRequest::new(self.server.resource(), scopes);
        if let Some(acr) = acr {
            request = request.acr_values(acr);
        }
        self.provider
            .login(&self.client, request)
            .await
            .expect("login")
            .access_token
    }
}

async fn jwt_access_tokens_from_oidc_provider_drive_the_whole_flow(adapter: Adapter) {
    let s = setup(adapter, OidcProviderOptions::default(), |env| env).await;
    let mut mcp = McpHttp::new(s.server.resource());

    // Discovery as a client would do it.
    let response = mcp.initialize().await.unwrap();
    assert_eq!(response.status, 401);
    let prm_url = s.server.url("/.well-known/oauth-protected-resource/mcp");
    assert_eq!(
        response.www_authenticate(),
        Some(format!("Bearer scope=\"notes:read\", resource_metadata=\"{prm_url}\"").as_str())
    );
    let prm: serde_json::Value = reqwest::get(&prm_url).await.unwrap().json().await.unwrap();
    assert_eq!(prm["resource"], s.server.resource());
    assert_eq!(prm["authorization_servers"], json!([s.provider.issuer()]));

    // notes:read only.
    mcp.set_token(Some(s.token(&["notes:read"], None).await));
    assert_eq!(mcp.initialize().await.unwrap().status, 200);
    let list = mcp.tools_list().await.unwrap();
    assert_eq!(list.status, 200);
    assert_eq!(list.tool_names(), ["list_notes"]);
    let call = mcp.call_tool("list_notes", json!({})).await.unwrap();
    assert_eq!(call.status, 200);
    assert_eq!(call.tool_text().as_deref(), Some("alice has no notes"));
    let call = mcp
        .call_tool("add_note", json!({"text": "hi"}))
        .await
        .unwrap();
    assert_eq!(call.status, 403);
    assert_eq!(call.json()["scope"], "notes:read notes:write");

    // Re-consent with the challenged scopes; the refreshed token keeps working.
    let tokens = s
        .provider
        .login(
            &s.client,
            LoginRequest::new(s.server.resource(), &["notes:read", "notes:write"]),
        )
        .await
        .unwrap();
    mcp.set_token(Some(tokens.access_token.clone()));
    let call = mcp
        .call_tool("add_note", json!({"text": "hi"}))
        .await
        .unwrap();
    assert_eq!(call.status, 200, "{}", call.body);
    assert_eq!(call.tool_text().as_deref(), Some("added note 1 for alice"));
    let refreshed = s
        .provider
        .refresh(
            &s.client,
            tokens.refresh_token.as_deref().expect("a refresh token"),
            Some(s.server.resource()),
        )
        .await
        .unwrap();
    assert_ne!(refreshed.access_token, tokens.access_token);
    mcp.set_token(Some(refreshed.access_token));
    let call = mcp.call_tool("list_notes", json!({})).await.unwrap();
    assert_eq!(call.status, 200);
    assert_eq!(call.tool_text().as_deref(), Some("hi"));

    // Step-up: notes:admin with a password login, then with MFA.
    mcp.set_token(Some(s.token(&["notes:admin"], None).await));
    let call = mcp.call_tool("purge_notes", json!({})).await.unwrap();
    assert_eq!(call.status, 401);
    assert_eq!(call.json()["denial"], "step_up_required");
    mcp.set_token(Some(s.token(&["notes:admin"], Some("mfa")).await));
    let call = mcp.call_tool("purge_notes", json!({})).await.unwrap();
    assert_eq!(call.status, 200, "{}", call.body);
    assert_eq!(call.tool_text().as_deref(), Some("alice purged 1 notes"));
}
on_both_adapters!(jwt_access_tokens_from_oidc_provider_drive_the_whole_flow);

async fn opaque_tokens_are_introspected_and_revocation_is_seen_at_once(adapter: Adapter) {
    let options = OidcProviderOptions::opaque();
    let (id, secret) = (
        options.rs_client_id.clone(),
        options.rs_client_secret.clone(),
    );
    let s = setup(adapter, options, |mut env| {
        env.validation_mode = Some("introspection_only".into());
        env.introspection(&id, &secret, 0)
    })
    .await;
    let token = s.token(&["notes:read"], None).await;
    assert_eq!(
        token.split('.').count(),
        1,
        "oidc-provider issued an opaque token"
    );
    let mut mcp = McpHttp::new(s.server.resource());
    mcp.set_token(Some(token.clone()));
    assert_eq!(mcp.initialize().await.unwrap().status, 200);
    let call = mcp.call_tool("list_notes", json!({})).await.unwrap();
    assert_eq!(call.status, 200);
    let call = mcp
        .call_tool("add_note", json!({"text": "x"}))
        .await
        .unwrap();
    assert_eq!(call.status, 403);
    assert_eq!(call.json()["denial"], "scope_insufficient");

    s.provider.revoke(&token).await.unwrap();
    let call = mcp.call_tool("list_notes", json!({})).await.unwrap();
    assert_eq!(call.status, 401);
    assert_eq!(call.json()["denial"], "token_revoked");
}
on_both_adapters!(opaque_tokens_are_introspected_and_revocation_is_seen_at_once);
