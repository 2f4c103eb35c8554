//! The two non-remediable rows of the client's retry table against a real protected server (the
//! `AuthsecLayer` with a Guard discovered from the dev issuer and authsec-policy rules):
//! `policy_denied` is a typed error with no retry, `quota_exceeded` waits `Retry-After` only
//! within the caller's budget.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use authsec_axum::{AuthsecLayer, metadata_router};
use authsec_client::{AuthClient, AuthClientBuilder, ClientError, HeadlessUserAgent};
use authsec_jwks::{RemoteIssuer, ValidationMode};
use authsec_policy::PolicyConfig;
use authsec_tests::dev_issuer::DevIssuer;
use serde_json::{Value, json};

const POLICY: &str = r#"
[tools.list_notes]
scopes = ["notes:read"]

[tools.office_report]
scopes = ["notes:read"]
policy = "office_network"

# The test calls from 127.0.0.1: never in the office network.
[policies.office_network]
ip = { allow = ["10.0.0.0/8"] }

[[quotas]]
name = "reads"
per = "user"
rate = "1/2s"
tools = ["list_notes"]
"#;

async fn tool(body: String) -> axum::Json<Value> {
    let request: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    axum::Json(json!({"jsonrpc":"2.0","id":request["id"],
        "result":{"content":[{"type":"text","text":"ok"}]}}))
}

struct Server {
    issuer: DevIssuer,
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn server() -> Server {
    let issuer = DevIssuer::start().await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let (manifest, policies) = PolicyConfig::parse_named("client_policy.toml", POLICY)
        .unwrap()
        .build()
        .unwrap()
        .into_parts();
    let guard = RemoteIssuer::discover(issuer.issuer())
        .await
        .unwrap()
        .guard(url.as_str(), ValidationMode::Jwt)
        .unwrap()
        .manifest(manifest)
        .policy(policies)
        .initial_scopes(["notes:read"])
        .build()
        .unwrap();
    let app = axum::Router::new()
        .route("/mcp", axum::routing::post(tool))
        .layer(AuthsecLayer::new(guard.clone()))
        .merge(metadata_router(&guard));
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    Server { issuer, url, task }
}

struct Agent {
    client: AuthClient,
    events: Arc<Mutex<Vec<String>>>,
}

impl Agent {
    fn new(configure: impl FnOnce(AuthClientBuilder) -> AuthClientBuilder) -> Agent {
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        let builder = AuthClient::builder()
            .user_agent(HeadlessUserAgent::new())
            .observer(move |e| sink.lock().unwrap().push(e.to_string()));
        Agent {
            client: configure(builder).build().unwrap(),
            events,
        }
    }

    async fn call(&self, url: &str, tool: &str) -> Result<u16, ClientError> {
        let body = json!({"jsonrpc":"2.0","id":1,"method":"tools/call",
                          "params":{"name":tool,"arguments":{}}});
        let response = self
            .client
            .send(self.client.http().post(url).json(&body))
            .await?;
        Ok(response.status().as_u16())
    }

    fn take_events(&self) -> Vec<String> {
        std::mem::take(&mut *self.events.lock().unwrap())
    }
}

#[tokio::test]
async fn policy_denied_is_a_typed_error_and_is_never_retried() {
    let s = server().await;
    let agent = Agent::new(|b| b);
    // The first call logs in (one login), then passes.
    assert_eq!(agent.call(&s.url, "list_notes").await.unwrap(), 200);
    agent.take_events();
    let error = agent.call(&s.url, "office_report").await.unwrap_err();
    let ClientError::PolicyDenied { description } = &error else {
        panic!("expected PolicyDenied, got {error:?}");
    };
    assert!(
        error
            .to_string()
            .starts_with("the server's policy refuses this call: ")
    );
    assert!(
        error
            .to_string()
            .ends_with("; re-authorizing will not help, ask the server's administrator")
    );
    // One refusal, no new login, no refresh.
    assert_eq!(
        agent.take_events(),
        [
            format!("403 policy_denied: {description}"),
            "giving up after policy_denied".to_owned()
        ]
    );
    assert_eq!(s.issuer.authorize_requests(), 1);
    assert_eq!(s.issuer.token_requests(), 1);
}

#[tokio::test]
async fn quota_exceeded_waits_retry_after_within_the_budget() {
    let s = server().await;
    let agent = Agent::new(|b| b.quota_budget(Duration::from_secs(5)));
    assert_eq!(agent.call(&s.url, "list_notes").await.unwrap(), 200);
    agent.take_events();
    let started = Instant::now();
    assert_eq!(agent.call(&s.url, "list_notes").await.unwrap(), 200);
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    let events = agent.take_events();
    assert!(events[0].starts_with("429 quota_exceeded: "), "{events:?}");
    assert_eq!(
        events[1],
        "quota_exceeded: retrying in 2000 ms with the same token"
    );
    assert_eq!(events.len(), 2, "{events:?}");
    // Waiting is not re-authorizing.
    assert_eq!(s.issuer.authorize_requests(), 1);
    assert_eq!(s.issuer.token_requests(), 1);
}

#[tokio::test]
async fn quota_exceeded_beyond_the_budget_is_a_typed_error_without_waiting() {
    let s = server().await;
    let agent = Agent::new(|b| b.quota_budget(Duration::from_secs(1)));
    assert_eq!(agent.call(&s.url, "list_notes").await.unwrap(), 200);
    let started = Instant::now();
    let error = agent.call(&s.url, "list_notes").await.unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(1000));
    assert!(
        matches!(error, ClientError::QuotaExceeded { retry_after: Some(r), budget } if r == Duration::from_secs(2) && budget == Duration::from_secs(1)),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "quota exceeded: the server asks to retry after 2s, beyond the wait budget of 1s; try again later"
    );
}
