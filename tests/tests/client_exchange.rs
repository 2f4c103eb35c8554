//! RFC 8693 token exchange through authsec-client against the dev issuer: an MCP server that must
//! call another protected server swaps the token it received for a down-scoped one for the
//! downstream resource, and the inbound token itself would be refused there.

use authsec_client::{AuthClient, ClientError, HeadlessUserAgent};
use authsec_tests::dev_issuer::{ClientRegistration, DevIssuer, DevIssuerConfig};
use authsec_tests::mcp_http::McpHttp;
use authsec_tests::notes_server::{NotesEnv, NotesServer};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

struct Chain {
    issuer: DevIssuer,
    upstream: NotesServer,
    downstream: NotesServer,
    /// The token the user's agent sent to the upstream server.
    inbound: String,
    /// The upstream server's own client at the issuer.
    gateway: AuthClient,
}

async fn chain() -> Chain {
    let config = DevIssuerConfig::default().with_client(ClientRegistration::confidential(
        "notes-gateway",
        "gateway-secret",
        vec![],
    ));
    let issuer = DevIssuer::start_with(config).await.unwrap();
    let upstream = NotesServer::start(NotesEnv::new(issuer.issuer()).json_response())
        .await
        .unwrap();
    let downstream = NotesServer::start(NotesEnv::new(issuer.issuer()).json_response())
        .await
        .unwrap();
    let agent = AuthClient::builder()
        .user_agent(HeadlessUserAgent::new())
        .scopes(["notes:read", "notes:write"])
        .build()
        .unwrap();
    let inbound = agent.login(upstream.resource()).await.unwrap().access_token;
    let gateway = AuthClient::builder()
        .client_credentials("notes-gateway", "gateway-secret")
        .build()
        .unwrap();
    Chain {
        issuer,
        upstream,
        downstream,
        inbound,
        gateway,
    }
}

async fn list_notes(server: &NotesServer, token: &str) -> (u16, Value) {
    let mut mcp = McpHttp::new(server.resource());
    mcp.set_token(Some(token.to_owned()));
    let init = mcp.initialize().await.unwrap();
    if init.status != 200 {
        return (init.status, init.json());
    }
    let response = mcp.call_tool("list_notes", json!({})).await.unwrap();
    (response.status, response.json())
}

#[tokio::test]
async fn an_inbound_token_is_exchanged_for_a_down_scoped_token_for_the_downstream_server() {
    let c = chain().await;
    assert_eq!(
        claims(&c.inbound)["aud"],
        json!(c.upstream.resource()),
        "the inbound token is for the upstream server"
    );
    let exchanged = c
        .gateway
        .exchange_token(&c.inbound, c.downstream.resource(), &["notes:read"])
        .await
        .unwrap();
    let exchanged_claims = claims(&exchanged.access_token);
    assert_eq!(exchanged_claims["aud"], json!(c.downstream.resource()));
    assert_eq!(exchanged_claims["sub"], "alice");
    assert_eq!(exchanged_claims["client_id"], "notes-gateway");
    assert_eq!(exchanged_claims["scope"], "notes:read");
    assert_eq!(exchanged.scope.as_deref(), Some("notes:read"));
    assert_eq!(exchanged.refresh_token, None);
    // The downstream server accepts the exchanged token, for the same user.
    let (status, body) = list_notes(&c.downstream, &exchanged.access_token).await;
    assert_eq!(status, 200, "{body}");
    // Passing the inbound token through would be refused: wrong audience.
    let (status, body) = list_notes(&c.downstream, &c.inbound).await;
    assert_eq!(status, 401);
    assert_eq!(body["denial"], "invalid_audience");
}

#[tokio::test]
async fn an_exchange_cannot_widen_the_scopes_of_the_inbound_token() {
    let c = chain().await;
    let error = c
        .gateway
        .exchange_token(&c.inbound, c.downstream.resource(), &["notes:admin"])
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ClientError::TokenEndpoint { error, description: Some(d), .. }
            if error == "invalid_scope" && d == "scope \"notes:admin\" is not in the subject token"),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_revoked_inbound_token_cannot_be_exchanged() {
    let c = chain().await;
    assert!(c.issuer.revoke(&c.inbound));
    let error = c
        .gateway
        .exchange_token(&c.inbound, c.downstream.resource(), &["notes:read"])
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "the token endpoint refused the urn:ietf:params:oauth:grant-type:token-exchange grant: invalid_grant (subject_token is not active)"
    );
}

#[tokio::test]
async fn an_exchange_needs_a_confidential_client() {
    let c = chain().await;
    let public = AuthClient::builder().build().unwrap();
    let error = public
        .exchange_token(&c.inbound, c.downstream.resource(), &["notes:read"])
        .await
        .unwrap_err();
    assert!(matches!(error, ClientError::Exchange(_)), "{error:?}");
    assert!(
        error.to_string().contains("needs a confidential client"),
        "{error}"
    );
}
