//! authsec-client against the real notes servers and the dev issuer: one test per row of the
//! client's retry table (issue 6), each asserting what the agent got, what the client did (its
//! events) and what the authorization server saw (its request counters).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use authsec_client::{
    AuthClient, AuthClientBuilder, ClientError, ClientEvent, HeadlessUserAgent, TokenSet,
};
use authsec_tests::dev_issuer::{
    Consent, DEFAULT_INTROSPECTION_CLIENT_ID, DEFAULT_INTROSPECTION_CLIENT_SECRET, DevIssuer,
    Endpoint,
};
use authsec_tests::mcp_http::{PROTOCOL_VERSION, sse_messages};
use authsec_tests::notes_server::{Adapter, NotesEnv, NotesServer};
use authsec_tests::on_both_adapters;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// An agent: an [`AuthClient`] with a headless login, recording its events.
struct Agent {
    client: AuthClient,
    events: Arc<Mutex<Vec<ClientEvent>>>,
    url: String,
    session: Mutex<Option<String>>,
}

impl Agent {
    fn new(url: &str, configure: impl FnOnce(AuthClientBuilder) -> AuthClientBuilder) -> Agent {
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        let builder = AuthClient::builder()
            .client_name("client_denials test agent")
            .user_agent(HeadlessUserAgent::new())
            .max_backoff(Duration::from_millis(50))
            .observer(move |e| sink.lock().unwrap().push(e.clone()));
        Agent {
            client: configure(builder).build().expect("client"),
            events,
            url: url.to_owned(),
            session: Mutex::new(None),
        }
    }

    /// POSTs one JSON-RPC message through the client; the status and the JSON-RPC response.
    async fn post(&self, body: Value) -> Result<(u16, Value), ClientError> {
        let mut request = self
            .client
            .http()
            .post(&self.url)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("mcp-protocol-version", PROTOCOL_VERSION)
            .body(body.to_string());
        if let Some(session) = self.session.lock().unwrap().clone() {
            request = request.header("mcp-session-id", session);
        }
        let response = self.client.send(request).await?;
        let status = response.status().as_u16();
        if let Some(session) = response.headers().get("mcp-session-id") {
            *self.session.lock().unwrap() = Some(session.to_str().unwrap().to_owned());
        }
        let text = response.text().await.unwrap();
        let message = serde_json::from_str(&text)
            .ok()
            .or_else(|| sse_messages(&text).into_iter().next())
            .unwrap_or(Value::Null);
        Ok((status, message))
    }

    async fn initialize(&self) -> Result<u16, ClientError> {
        let (status, _) = self
            .post(
                json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
                "protocolVersion": PROTOCOL_VERSION, "capabilities": {},
                "clientInfo": {"name": "client_denials", "version": "0"}}}),
            )
            .await?;
        if status == 200 {
            self.post(json!({"jsonrpc":"2.0","method":"notifications/initialized"}))
                .await?;
        }
        Ok(status)
    }

    async fn call(&self, tool: &str, arguments: Value) -> Result<(u16, Value), ClientError> {
        self.post(json!({"jsonrpc":"2.0","id":7,"method":"tools/call",
                         "params":{"name":tool,"arguments":arguments}}))
            .await
    }

    /// The events as text, and clears them.
    fn take_events(&self) -> Vec<String> {
        std::mem::take(&mut *self.events.lock().unwrap())
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn store_key(&self, issuer: &DevIssuer, server: &NotesServer) -> String {
        format!("{} {}", issuer.issuer(), server.resource())
    }

    async fn tokens(&self, issuer: &DevIssuer, server: &NotesServer) -> TokenSet {
        self.client
            .token_store()
            .load(&self.store_key(issuer, server))
            .await
            .unwrap()
            .expect("stored tokens")
    }

    /// Replaces the stored access token, keeping the refresh token.
    async fn replace_access_token(&self, issuer: &DevIssuer, server: &NotesServer, token: String) {
        let mut tokens = self.tokens(issuer, server).await;
        tokens.access_token = token;
        self.client
            .token_store()
            .save(&self.store_key(issuer, server), &tokens)
            .await
            .unwrap();
    }
}

struct Setup {
    issuer: DevIssuer,
    server: NotesServer,
}

impl Setup {
    async fn new(adapter: Adapter, env: impl FnOnce(NotesEnv) -> NotesEnv) -> Setup {
        let issuer = DevIssuer::start().await.expect("dev issuer");
        let server = NotesServer::start(env(NotesEnv::new(issuer.issuer())
            .adapter(adapter)
            .json_response()))
        .await
        .expect("notes server");
        Setup { issuer, server }
    }

    async fn introspecting(adapter: Adapter) -> Setup {
        Setup::new(adapter, |env| {
            env.introspection(
                DEFAULT_INTROSPECTION_CLIENT_ID,
                DEFAULT_INTROSPECTION_CLIENT_SECRET,
                0,
            )
        })
        .await
    }

    fn agent(&self) -> Agent {
        Agent::new(self.server.resource(), |b| b)
    }

    /// An agent that has logged in (with `notes:read`) and initialized; counters reset.
    async fn logged_in(
        &self,
        configure: impl FnOnce(AuthClientBuilder) -> AuthClientBuilder,
    ) -> Agent {
        let agent = Agent::new(self.server.resource(), configure);
        assert_eq!(agent.initialize().await.unwrap(), 200);
        agent.take_events();
        self.issuer.reset_counters();
        agent
    }

    fn counts(&self) -> [u64; 3] {
        [
            self.issuer.registration_requests(),
            self.issuer.authorize_requests(),
            self.issuer.token_requests(),
        ]
    }
}

fn jwt_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

async fn missing_token_discovers_registers_logs_in_and_retries_once(adapter: Adapter) {
    let s = Setup::new(adapter, |e| e).await;
    let agent = s.agent();
    assert_eq!(agent.initialize().await.unwrap(), 200);
    let (status, message) = agent.call("list_notes", json!({})).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        message["result"]["content"][0]["text"],
        "alice has no notes"
    );
    // One registration, one login, one code redemption: nothing repeated.
    assert_eq!(s.counts(), [1, 1, 1]);
    let events = agent.take_events();
    assert_eq!(events[0], "401 missing_token: an access token is required");
    assert_eq!(
        events[1],
        format!(
            "discovered {} → authorization server {}",
            s.server.resource(),
            s.issuer.issuer()
        )
    );
    assert!(events[2].ends_with("(dynamic registration)"), "{events:?}");
    assert_eq!(events[3], "logging in with notes:read");
    assert_eq!(events[4], "token granted, scope \"notes:read\"");
    assert_eq!(events.len(), 5, "{events:?}");
}
on_both_adapters!(missing_token_discovers_registers_logs_in_and_retries_once);

async fn resource_is_sent_byte_for_byte_as_the_metadata_gives_it(adapter: Adapter) {
    let s = Setup::new(adapter, |e| e).await;
    let agent = s.agent();
    assert_eq!(agent.initialize().await.unwrap(), 200);
    let tokens = agent.tokens(&s.issuer, &s.server).await;
    // The dev issuer puts the `resource` it was sent into `aud`: no trailing slash added.
    let resource = s.server.resource();
    assert!(!resource.ends_with('/'));
    assert_eq!(jwt_claims(&tokens.access_token)["aud"], json!(resource));
}
on_both_adapters!(resource_is_sent_byte_for_byte_as_the_metadata_gives_it);

async fn invalid_token_is_refreshed_then_retried_once(adapter: Adapter) {
    let s = Setup::new(adapter, |e| e).await;
    let agent = s.logged_in(|b| b).await;
    let expired = s
        .issuer
        .mint()
        .aud(s.server.resource())
        .scope("notes:read")
        .expires_in(-120)
        .sign();
    agent
        .replace_access_token(&s.issuer, &s.server, expired)
        .await;
    let (status, _) = agent.call("list_notes", json!({})).await.unwrap();
    assert_eq!(status, 200);
    // One refresh grant, no new login.
    assert_eq!(s.counts(), [0, 0, 1]);
    let events = agent.take_events();
    assert!(events[0].starts_with("401 invalid_token: "), "{events:?}");
    assert_eq!(events[1..], ["token refreshed"]);
}
on_both_adapters!(invalid_token_is_refreshed_then_retried_once);

async fn token_revoked_is_refreshed_then_retried_once(adapter: Adapter) {
    let s = Setup::introspecting(adapter).await;
    let agent = s.logged_in(|b| b).await;
    let tokens = agent.tokens(&s.issuer, &s.server).await;
    assert!(s.issuer.revoke(&tokens.access_token));
    let (status, _) = agent.call("list_notes", json!({})).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(s.counts(), [0, 0, 1]);
    assert_eq!(
        agent.take_events(),
        [
            "401 token_revoked: the access token is not active",
            "token refreshed"
        ]
    );
    assert_ne!(
        agent.tokens(&s.issuer, &s.server).await.access_token,
        tokens.access_token
    );
}
on_both_adapters!(token_revoked_is_refreshed_then_retried_once);

async fn a_revoked_refresh_token_leads_to_exactly_one_new_authorization(adapter: Adapter) {
    let s = Setup::introspecting(adapter).await;
    let agent = s.logged_in(|b| b).await;
    let tokens = agent.tokens(&s.issuer, &s.server).await;
    // Revoking the refresh token kills the whole grant, access token included.
    assert!(s.issuer.revoke(tokens.refresh_token.as_deref().unwrap()));
    let (status, _) = agent.call("list_notes", json!({})).await.unwrap();
    assert_eq!(status, 200);
    // The refused refresh, then one login (authorize + code redemption); never a loop.
    assert_eq!(s.counts(), [0, 1, 2]);
    assert_eq!(
        agent.take_events(),
        [
            "401 token_revoked: the access token is not active",
            "refresh refused (invalid_grant): a new login follows",
            "logging in again with notes:read",
            "token granted, scope \"notes:read\"",
        ]
    );
}
on_both_adapters!(a_revoked_refresh_token_leads_to_exactly_one_new_authorization);

async fn invalid_audience_logs_in_again_for_the_metadata_resource_without_refreshing(
    adapter: Adapter,
) {
    let s = Setup::new(adapter, |e| e).await;
    let agent = s.logged_in(|b| b).await;
    let foreign = s
        .issuer
        .mint()
        .aud("http://127.0.0.1:9/other")
        .scope("notes:read")
        .sign();
    agent
        .replace_access_token(&s.issuer, &s.server, foreign)
        .await;
    let (status, _) = agent.call("list_notes", json!({})).await.unwrap();
    assert_eq!(status, 200);
    // Metadata fetched again (RFC 9728 + RFC 8414), a login, no refresh grant.
    let events = agent.take_events();
    assert_eq!(s.counts(), [0, 1, 1], "{events:?}");
    assert!(
        events[0].starts_with("401 invalid_audience: "),
        "{events:?}"
    );
    assert!(events[1].starts_with("discovered "), "{events:?}");
    assert_eq!(
        events[2..],
        [
            "logging in again with notes:read",
            "token granted, scope \"notes:read\""
        ]
    );
    let tokens = agent.tokens(&s.issuer, &s.server).await;
    assert_eq!(
        jwt_claims(&tokens.access_token)["aud"],
        json!(s.server.resource())
    );
}
on_both_adapters!(invalid_audience_logs_in_again_for_the_metadata_resource_without_refreshing);

async fn scope_insufficient_reauthorizes_with_granted_and_challenged_scopes(adapter: Adapter) {
    let s = Setup::new(adapter, |e| e).await;
    let agent = s.logged_in(|b| b).await;
    let (status, message) = agent
        .call("add_note", json!({"text": "buy milk"}))
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        message["result"]["content"][0]["text"],
        "added note 1 for alice"
    );
    assert_eq!(s.counts(), [0, 1, 1]);
    let events = agent.take_events();
    // The server's wording of the description is its own; the code is the contract.
    assert!(
        events[0].starts_with("403 scope_insufficient: "),
        "{events:?}"
    );
    assert_eq!(
        events[1..],
        [
            "re-authorizing with notes:read notes:write",
            "token granted, scope \"notes:read notes:write\"",
        ]
    );
}
on_both_adapters!(scope_insufficient_reauthorizes_with_granted_and_challenged_scopes);

async fn a_server_that_keeps_answering_403_stops_after_the_configured_attempts(adapter: Adapter) {
    let s = Setup::new(adapter, |e| e).await;
    let agent = s.logged_in(|b| b.max_scope_attempts(2)).await;
    // The user never consents to notes:write.
    s.issuer.set_consent(Consent {
        withheld_scopes: vec!["notes:write".into()],
        ..Consent::default()
    });
    let error = agent
        .call("add_note", json!({"text": "x"}))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ClientError::ScopeNotGranted { scope, attempts: 2 } if scope == "notes:read notes:write"),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "the server still requires scopes notes:read notes:write after 2 consent attempt(s); the user or the authorization server did not grant them: ask an administrator to allow these scopes"
    );
    // Exactly two new logins, then the typed error.
    assert_eq!(s.counts(), [0, 2, 2]);
    let events = agent.take_events();
    assert_eq!(events.len(), 8, "{events:?}");
    assert_eq!(events.last().unwrap(), "giving up after scope_insufficient");
}
on_both_adapters!(a_server_that_keeps_answering_403_stops_after_the_configured_attempts);

async fn step_up_required_is_a_new_login_with_acr_values_and_max_age_never_a_refresh(
    adapter: Adapter,
) {
    let s = Setup::new(adapter, |e| e).await;
    let agent = s.logged_in(|b| b).await;
    let (status, message) = agent.call("purge_notes", json!({})).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        message["result"]["content"][0]["text"],
        "alice purged 0 notes"
    );
    // Scope consent, then the MFA login: two logins, no refresh grant.
    assert_eq!(s.counts(), [0, 2, 2]);
    let events = agent.take_events();
    assert!(
        events[0].starts_with("403 scope_insufficient: "),
        "{events:?}"
    );
    assert_eq!(
        events[1..3],
        [
            "re-authorizing with notes:read notes:admin",
            "token granted, scope \"notes:read notes:admin\"",
        ]
    );
    assert!(
        events[3].starts_with("401 step_up_required: "),
        "{events:?}"
    );
    assert_eq!(
        events[4..],
        [
            "step-up login with notes:read notes:admin, acr_values=mfa, max_age=300",
            "token granted, scope \"notes:read notes:admin\"",
        ]
    );
    let tokens = agent.tokens(&s.issuer, &s.server).await;
    assert_eq!(jwt_claims(&tokens.access_token)["acr"], "mfa");
}
on_both_adapters!(step_up_required_is_a_new_login_with_acr_values_and_max_age_never_a_refresh);

async fn a_step_up_the_user_cannot_pass_ends_with_step_up_failed(adapter: Adapter) {
    let s = Setup::new(adapter, |e| e).await;
    let agent = s
        .logged_in(|b| b.scopes(["notes:read", "notes:admin"]))
        .await;
    // The user can only log in with a password.
    s.issuer.set_consent(Consent {
        acr: Some("pwd".into()),
        amr: Some(vec!["pwd".into()]),
        ..Consent::default()
    });
    let error = agent.call("purge_notes", json!({})).await.unwrap_err();
    assert!(
        matches!(&error, ClientError::StepUpFailed { acr_values, max_age: Some(300), attempts: 1 } if acr_values == "mfa"),
        "{error:?}"
    );
}
on_both_adapters!(a_step_up_the_user_cannot_pass_ends_with_step_up_failed);

async fn authorization_unavailable_backs_off_and_retries_with_the_same_token(adapter: Adapter) {
    let s = Setup::introspecting(adapter).await;
    let agent = s.logged_in(|b| b.unavailable_attempts(5)).await;
    let before = agent.tokens(&s.issuer, &s.server).await.access_token;
    s.issuer
        .set_endpoint_unavailable(Endpoint::Introspect, true);
    let issuer = &s.issuer;
    let (response, ()) = tokio::join!(agent.call("list_notes", json!({})), async {
        tokio::time::sleep(Duration::from_millis(30)).await;
        while issuer.introspection_calls() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        issuer.set_endpoint_unavailable(Endpoint::Introspect, false);
    });
    assert_eq!(response.unwrap().0, 200);
    // Same token, no grant at all.
    assert_eq!(s.counts(), [0, 0, 0]);
    assert_eq!(
        agent.tokens(&s.issuer, &s.server).await.access_token,
        before
    );
    let events = agent.take_events();
    assert!(
        events[0].starts_with("503 authorization_unavailable: "),
        "{events:?}"
    );
    assert_eq!(
        events[1],
        "authorization_unavailable: retrying in 50 ms with the same token"
    );
}
on_both_adapters!(authorization_unavailable_backs_off_and_retries_with_the_same_token);

async fn authorization_unavailable_that_persists_ends_after_the_configured_attempts(
    adapter: Adapter,
) {
    let s = Setup::introspecting(adapter).await;
    let agent = s.logged_in(|b| b.unavailable_attempts(3)).await;
    s.issuer
        .set_endpoint_unavailable(Endpoint::Introspect, true);
    let error = agent.call("list_notes", json!({})).await.unwrap_err();
    assert!(
        matches!(error, ClientError::AuthorizationUnavailable { attempts: 3 }),
        "{error:?}"
    );
    assert_eq!(s.counts(), [0, 0, 0]);
    let denials = agent
        .take_events()
        .iter()
        .filter(|e| e.starts_with("503 "))
        .count();
    assert_eq!(denials, 3);
}
on_both_adapters!(authorization_unavailable_that_persists_ends_after_the_configured_attempts);

async fn concurrent_requests_share_one_refresh(adapter: Adapter) {
    let s = Setup::new(adapter, |e| e).await;
    let agent = Arc::new(s.logged_in(|b| b).await);
    let expired = s
        .issuer
        .mint()
        .aud(s.server.resource())
        .scope("notes:read")
        .expires_in(-120)
        .sign();
    agent
        .replace_access_token(&s.issuer, &s.server, expired)
        .await;
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let agent = agent.clone();
            tokio::spawn(async move { agent.call("list_notes", json!({})).await.map(|r| r.0) })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap(), 200);
    }
    // 20 requests saw invalid_token; one refresh grant served them all.
    assert_eq!(s.counts(), [0, 0, 1]);
}
on_both_adapters!(concurrent_requests_share_one_refresh);

async fn a_token_about_to_expire_is_refreshed_before_the_request(adapter: Adapter) {
    let s = Setup::new(adapter, |e| e).await;
    let agent = s
        .logged_in(|b| b.refresh_skew(Duration::from_secs(60)))
        .await;
    let mut tokens = agent.tokens(&s.issuer, &s.server).await;
    tokens.expires_at = Some(tokens.expires_at.unwrap() - 280); // 20 s left of 300
    agent
        .client
        .token_store()
        .save(&agent.store_key(&s.issuer, &s.server), &tokens)
        .await
        .unwrap();
    let (status, _) = agent.call("list_notes", json!({})).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(s.counts(), [0, 0, 1]);
    // Refreshed before sending: the server never refused anything.
    assert_eq!(agent.take_events(), ["token refreshed"]);
}
on_both_adapters!(a_token_about_to_expire_is_refreshed_before_the_request);

#[tokio::test]
async fn a_metadata_resource_for_another_server_stops_before_any_login() {
    let issuer = DevIssuer::start().await.unwrap();
    let server = NotesServer::start(NotesEnv::new(issuer.issuer()).json_response())
        .await
        .unwrap();
    // The agent calls the server under another name: the metadata's resource does not cover it.
    let alias = server.resource().replace("127.0.0.1", "localhost");
    let agent = Agent::new(&alias, |b| b);
    let error = agent.initialize().await.unwrap_err();
    assert!(
        matches!(&error, ClientError::ResourceMismatch { expected, found }
            if *expected == alias && found == server.resource()),
        "{error:?}"
    );
    assert_eq!(issuer.authorize_requests(), 0);
    assert_eq!(issuer.registration_requests(), 0);
}

#[tokio::test]
async fn a_machine_agent_uses_client_credentials_and_never_a_browser() {
    use authsec_tests::dev_issuer::{ClientRegistration, DevIssuerConfig};
    let config = DevIssuerConfig::default().with_client(ClientRegistration::confidential(
        "robot",
        "robot-secret",
        vec![],
    ));
    let issuer = DevIssuer::start_with(config).await.unwrap();
    let server = NotesServer::start(NotesEnv::new(issuer.issuer()).json_response())
        .await
        .unwrap();
    let events = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = events.clone();
    let client = AuthClient::builder()
        .client_credentials("robot", "robot-secret")
        .observer(move |e| sink.lock().unwrap().push(e.to_string()))
        .build()
        .unwrap();
    let agent = Agent {
        client,
        events: Arc::new(Mutex::new(Vec::new())),
        url: server.resource().to_owned(),
        session: Mutex::new(None),
    };
    assert_eq!(agent.initialize().await.unwrap(), 200);
    let (status, _) = agent
        .call("add_note", json!({"text": "from a robot"}))
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(issuer.authorize_requests(), 0);
    assert_eq!(issuer.registration_requests(), 0);
    // First token with notes:read, then a new client_credentials grant adding notes:write.
    assert_eq!(issuer.token_requests(), 2);
    let events = events.lock().unwrap().clone();
    assert!(
        events.contains(&format!(
            "client robot at {} (pre-registered)",
            issuer.issuer()
        )),
        "{events:?}"
    );
    assert!(
        events.contains(&"re-authorizing with notes:read notes:write".to_owned()),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_step_up_is_impossible_for_a_machine_agent() {
    use authsec_tests::dev_issuer::{ClientRegistration, DevIssuerConfig};
    let config = DevIssuerConfig::default().with_client(ClientRegistration::confidential(
        "robot",
        "robot-secret",
        vec![],
    ));
    let issuer = DevIssuer::start_with(config).await.unwrap();
    let server = NotesServer::start(NotesEnv::new(issuer.issuer()).json_response())
        .await
        .unwrap();
    let client = AuthClient::builder()
        .client_credentials("robot", "robot-secret")
        .scopes(["notes:read", "notes:admin"])
        .build()
        .unwrap();
    let agent = Agent {
        client,
        events: Arc::new(Mutex::new(Vec::new())),
        url: server.resource().to_owned(),
        session: Mutex::new(None),
    };
    assert_eq!(agent.initialize().await.unwrap(), 200);
    let error = agent.call("purge_notes", json!({})).await.unwrap_err();
    assert!(matches!(error, ClientError::StepUpImpossible), "{error:?}");
}

#[tokio::test]
async fn without_a_user_agent_a_login_is_a_typed_error() {
    let s = Setup::new(Adapter::Axum, |e| e).await;
    let agent = Agent {
        client: AuthClient::builder().build().unwrap(),
        events: Arc::new(Mutex::new(Vec::new())),
        url: s.server.resource().to_owned(),
        session: Mutex::new(None),
    };
    let error = agent.initialize().await.unwrap_err();
    assert!(matches!(error, ClientError::NoUserAgent), "{error:?}");
    assert_eq!(s.issuer.authorize_requests(), 0);
}
