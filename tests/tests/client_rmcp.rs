//! An rmcp agent gets authsec-client by construction: rmcp's streamable-HTTP transport over
//! `authsec_client::rmcp::AuthsecHttpClient`, against the real notes servers (SSE sessions) and
//! the dev issuer. The agent's code has no OAuth in it.

use std::sync::{Arc, Mutex};

use authsec_client::rmcp::AuthsecHttpClient;
use authsec_client::{AuthClient, HeadlessUserAgent};
use authsec_tests::dev_issuer::{Consent, DevIssuer};
use authsec_tests::notes_server::{Adapter, NotesEnv, NotesServer};
use authsec_tests::on_both_adapters;
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::json;

fn transport(client: AuthClient, url: &str) -> StreamableHttpClientTransport<AuthsecHttpClient> {
    StreamableHttpClientTransport::with_client(
        AuthsecHttpClient::new(client),
        StreamableHttpClientTransportConfig::with_uri(url.to_owned()),
    )
}

fn recording_client(events: &Arc<Mutex<Vec<String>>>) -> AuthClient {
    let sink = events.clone();
    AuthClient::builder()
        .user_agent(HeadlessUserAgent::new())
        .observer(move |e| sink.lock().unwrap().push(e.to_string()))
        .build()
        .unwrap()
}

async fn an_rmcp_agent_logs_in_and_consents_to_more_scope_by_itself(adapter: Adapter) {
    let issuer = DevIssuer::start().await.unwrap();
    let server = NotesServer::start(NotesEnv::new(issuer.issuer()).adapter(adapter))
        .await
        .unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let service =
        ().serve(transport(recording_client(&events), server.resource()))
            .await
            .expect("initialize through the client's login");
    let tools: Vec<String> = service
        .list_all_tools()
        .await
        .unwrap()
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    assert_eq!(tools, ["list_notes"]);
    let arguments = json!({"text": "from rmcp"}).as_object().cloned().unwrap();
    let result = service
        .call_tool(CallToolRequestParams::new("add_note").with_arguments(arguments))
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&result).unwrap()["content"][0]["text"],
        "added note 1 for alice"
    );
    // One registration; the first login and the consent to notes:write.
    assert_eq!(issuer.registration_requests(), 1);
    assert_eq!(issuer.authorize_requests(), 2);
    let events = events.lock().unwrap().clone();
    assert!(
        events.contains(&"re-authorizing with notes:read notes:write".to_owned()),
        "{events:?}"
    );
    service.cancel().await.unwrap();
}
on_both_adapters!(an_rmcp_agent_logs_in_and_consents_to_more_scope_by_itself);

#[tokio::test]
async fn an_rmcp_agent_gets_the_typed_error_when_the_client_gives_up() {
    let issuer = DevIssuer::start().await.unwrap();
    let server = NotesServer::start(NotesEnv::new(issuer.issuer()))
        .await
        .unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let client = recording_client(&events);
    let service = ().serve(transport(client.clone(), server.resource())).await.unwrap();
    issuer.set_consent(Consent {
        withheld_scopes: vec!["notes:write".into()],
        ..Consent::default()
    });
    let arguments = json!({"text": "x"}).as_object().cloned().unwrap();
    let error = service
        .call_tool(CallToolRequestParams::new("add_note").with_arguments(arguments))
        .await
        .unwrap_err();
    // The rmcp error carries the client's message; the authorize count proves the bound.
    assert!(
        error.to_string().contains("after 2 consent attempt(s)"),
        "{error}"
    );
    assert_eq!(issuer.authorize_requests(), 3);
}
