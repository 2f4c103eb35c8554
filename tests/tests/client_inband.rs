//! authsec-client with `inband_denials(true)` against a notes server in the AuthSec in-band
//! profile (`AUTHSEC_DENIAL_MODE=inband`): a denial delivered inside a 200 answer is acted on
//! like the HTTP one; without the opt-in the agent receives the tool error as it is.

use authsec_client::{AuthClient, HeadlessUserAgent};
use authsec_tests::dev_issuer::DevIssuer;
use authsec_tests::mcp_http::{PROTOCOL_VERSION, sse_messages};
use authsec_tests::notes_server::{NotesEnv, NotesServer};
use serde_json::{Value, json};

async fn inband_server() -> (DevIssuer, NotesServer) {
    let issuer = DevIssuer::start().await.unwrap();
    let mut env = NotesEnv::new(issuer.issuer()).json_response();
    env.extra
        .push(("AUTHSEC_DENIAL_MODE".into(), "inband".into()));
    let server = NotesServer::start(env).await.unwrap();
    (issuer, server)
}

async fn post(client: &AuthClient, url: &str, body: Value) -> (u16, Value) {
    let response = client
        .send(
            client
                .http()
                .post(url)
                .header("accept", "application/json, text/event-stream")
                .header("mcp-protocol-version", PROTOCOL_VERSION)
                .json(&body),
        )
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let message = serde_json::from_str(&text)
        .ok()
        .or_else(|| sse_messages(&text).into_iter().next())
        .unwrap_or(Value::Null);
    (status, message)
}

fn initialize() -> Value {
    json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
        "protocolVersion": PROTOCOL_VERSION, "capabilities": {},
        "clientInfo": {"name": "client_inband", "version": "0"}}})
}

fn add_note() -> Value {
    json!({"jsonrpc":"2.0","id":2,"method":"tools/call",
           "params":{"name":"add_note","arguments":{"text":"in band"}}})
}

#[tokio::test]
async fn an_in_band_scope_denial_is_acted_on_when_opted_in() {
    let (issuer, server) = inband_server().await;
    let client = AuthClient::builder()
        .user_agent(HeadlessUserAgent::new())
        .inband_denials(true)
        .build()
        .unwrap();
    assert_eq!(post(&client, server.resource(), initialize()).await.0, 200);
    let (status, message) = post(&client, server.resource(), add_note()).await;
    assert_eq!(status, 200);
    assert_eq!(message["result"]["isError"], false, "{message}");
    assert_eq!(
        message["result"]["content"][0]["text"],
        "added note 1 for alice"
    );
    // The first login, then the consent to notes:write the in-band denial asked for.
    assert_eq!(issuer.authorize_requests(), 2);
}

#[tokio::test]
async fn without_the_opt_in_the_in_band_denial_reaches_the_agent_as_it_is() {
    let (issuer, server) = inband_server().await;
    let client = AuthClient::builder()
        .user_agent(HeadlessUserAgent::new())
        .build()
        .unwrap();
    assert_eq!(post(&client, server.resource(), initialize()).await.0, 200);
    let (status, message) = post(&client, server.resource(), add_note()).await;
    assert_eq!(status, 200);
    assert_eq!(message["result"]["isError"], true, "{message}");
    assert_eq!(
        message["result"]["_meta"]["authsec"]["error"],
        "insufficient_scope"
    );
    assert_eq!(issuer.authorize_requests(), 1);
}
