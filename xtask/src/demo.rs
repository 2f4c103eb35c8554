//! `cargo xtask demo`: an agent built on authsec-client meets a protected MCP server, over real
//! HTTP. The agent's code only makes MCP calls; every denial is handled by the client, whose
//! events are printed as `client:` lines.

use std::sync::Mutex;
use std::time::Duration;

use authsec_client::{AuthClient, ClientError, HeadlessUserAgent, TokenSet};
use authsec_tests::dev_issuer::{
    Consent, DEFAULT_INTROSPECTION_CLIENT_ID, DEFAULT_INTROSPECTION_CLIENT_SECRET, DevIssuer,
    DevIssuerConfig, Endpoint,
};
use authsec_tests::mcp_http::{PROTOCOL_VERSION, sse_messages};
use authsec_tests::notes_server::{NotesEnv, NotesServer};
use serde_json::{Value, json};

type Error = Box<dyn std::error::Error>;

fn color() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

fn step(n: u32, title: &str) {
    if color() {
        println!("\n\x1b[1m{n:>2}. {title}\x1b[0m");
    } else {
        println!("\n{n:>2}. {title}");
    }
}

fn client_says(text: &str) {
    if color() {
        println!("    \x1b[36mclient:\x1b[0m {text}");
    } else {
        println!("    client: {text}");
    }
}

/// The agent: MCP calls through an [`AuthClient`]; nothing about OAuth.
struct Agent {
    client: AuthClient,
    url: String,
    session: Mutex<Option<String>>,
    next_id: Mutex<u64>,
}

impl Agent {
    async fn post(&self, body: Value) -> Result<(u16, Value), ClientError> {
        let mut request = self
            .client
            .http()
            .post(&self.url)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("mcp-protocol-version", PROTOCOL_VERSION)
            .body(body.to_string());
        if let Some(session) = self.session.lock().map(|s| s.clone()).unwrap_or_default() {
            request = request.header("mcp-session-id", session);
        }
        let response = self.client.send(request).await?;
        let status = response.status().as_u16();
        if let Some(session) = response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            && let Ok(mut slot) = self.session.lock()
        {
            *slot = Some(session.to_owned());
        }
        let text = response.text().await.unwrap_or_default();
        let message = serde_json::from_str(&text)
            .ok()
            .or_else(|| sse_messages(&text).into_iter().next())
            .unwrap_or(Value::Null);
        Ok((status, message))
    }

    fn id(&self) -> u64 {
        let mut id = self.next_id.lock().unwrap_or_else(|p| p.into_inner());
        *id += 1;
        *id
    }

    async fn request(&self, method: &str, params: Value) -> Result<Value, ClientError> {
        let id = self.id();
        let (status, message) = self
            .post(json!({"jsonrpc":"2.0","id":id,"method":method,"params":params}))
            .await?;
        println!("    <- HTTP {status}");
        Ok(message)
    }

    async fn call(&self, tool: &str, arguments: Value) -> Result<String, ClientError> {
        println!("    -> tools/call {tool}");
        let message = self
            .request("tools/call", json!({"name": tool, "arguments": arguments}))
            .await?;
        Ok(message
            .pointer("/result/content/0/text")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned())
    }
}

fn expect_error(result: Result<String, ClientError>, what: &str) -> Result<ClientError, Error> {
    match result {
        Ok(text) => Err(format!("{what}: expected the client to give up, got {text:?}").into()),
        Err(error) => {
            println!("    agent gets a typed error: {error}");
            Ok(error)
        }
    }
}

pub async fn run() -> Result<(), Error> {
    println!("authsec demo: an AI agent built on authsec-client, an MCP notes server protected by");
    println!("authsec, and a local development authorization server (not for production), all on");
    println!("127.0.0.1. The agent only makes MCP calls; the `client:` lines are authsec-client");
    println!("handling every denial by itself.");

    let config = DevIssuerConfig {
        scopes_supported: vec![
            "notes:read".into(),
            "notes:write".into(),
            "notes:admin".into(),
        ],
        ..DevIssuerConfig::default()
    };
    let issuer = DevIssuer::start_with(config).await?;
    let server = NotesServer::start(
        NotesEnv::new(issuer.issuer())
            .introspection(
                DEFAULT_INTROSPECTION_CLIENT_ID,
                DEFAULT_INTROSPECTION_CLIENT_SECRET,
                0,
            )
            .json_response(),
    )
    .await?;
    println!("\n    authorization server: {}", issuer.issuer());
    println!("    notes server (MCP):   {}", server.resource());
    println!("    validation: JWT signature + live introspection on every request (cache 0 s)");

    let client = AuthClient::builder()
        .client_name("authsec demo agent")
        // The dev issuer logs the user in without a screen; a real agent opens a browser.
        .user_agent(HeadlessUserAgent::new())
        .max_backoff(Duration::from_millis(500))
        .observer(|event| client_says(&event.to_string()))
        .build()?;
    let agent = Agent {
        client: client.clone(),
        url: server.resource().to_owned(),
        session: Mutex::new(None),
        next_id: Mutex::new(0),
    };
    let key = format!("{} {}", issuer.issuer(), server.resource());
    let stored = |client: AuthClient, key: String| async move {
        client
            .token_store()
            .load(&key)
            .await
            .ok()
            .flatten()
            .ok_or("no stored token")
    };

    step(
        1,
        "The agent initializes an MCP session; it has no token yet",
    );
    println!("    -> initialize");
    agent
        .request(
            "initialize",
            json!({"protocolVersion": PROTOCOL_VERSION, "capabilities": {},
                   "clientInfo": {"name": "authsec demo agent", "version": "0.1.0"}}),
        )
        .await?;
    agent
        .post(json!({"jsonrpc":"2.0","method":"notifications/initialized"}))
        .await?;
    println!(
        "    (RFC 9728 metadata from the challenge, RFC 8414 discovery, RFC 7591 registration, PKCE login with resource={})",
        server.resource()
    );

    step(2, "tools/list");
    println!("    -> tools/list");
    let list = agent.request("tools/list", json!({})).await?;
    let names: Vec<&str> = list
        .pointer("/result/tools")
        .and_then(Value::as_array)
        .map(|tools| tools.iter().filter_map(|t| t["name"].as_str()).collect())
        .unwrap_or_default();
    println!("    tools visible: {names:?} (only what notes:read allows)");

    step(3, "list_notes");
    println!(
        "    result: {:?}",
        agent.call("list_notes", json!({})).await?
    );

    step(4, "add_note, which needs notes:write");
    let text = agent.call("add_note", json!({"text": "buy milk"})).await?;
    println!("    result: {text:?}");

    step(
        5,
        "purge_notes, which needs notes:admin and a fresh MFA login (RFC 9470)",
    );
    println!(
        "    result: {:?}",
        agent.call("purge_notes", json!({})).await?
    );

    step(6, "The access token is about to expire");
    let mut tokens: TokenSet = stored(client.clone(), key.clone()).await?;
    tokens.expires_at = Some(1);
    client.token_store().save(&key, &tokens).await?;
    println!("    (the demo marks the stored token as expiring)");
    println!(
        "    result: {:?}",
        agent.call("list_notes", json!({})).await?
    );

    step(
        7,
        "The access token is revoked at the authorization server (RFC 7009)",
    );
    let tokens = stored(client.clone(), key.clone()).await?;
    issuer.revoke(&tokens.access_token);
    println!(
        "    result: {:?}",
        agent.call("list_notes", json!({})).await?
    );

    step(8, "The whole grant is revoked (its refresh token too)");
    let tokens = stored(client.clone(), key.clone()).await?;
    issuer.revoke(tokens.refresh_token.as_deref().ok_or("no refresh token")?);
    println!(
        "    result: {:?}",
        agent.call("list_notes", json!({})).await?
    );

    step(
        9,
        "The authorization server's introspection endpoint is down for a moment",
    );
    issuer.set_endpoint_unavailable(Endpoint::Introspect, true);
    let before = issuer.introspection_calls();
    let outage = async {
        while issuer.introspection_calls() == before {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        issuer.set_endpoint_unavailable(Endpoint::Introspect, false);
    };
    let (result, ()) = tokio::join!(agent.call("list_notes", json!({})), outage);
    println!("    result: {:?}", result?);

    step(10, "The introspection endpoint stays down");
    issuer.set_endpoint_unavailable(Endpoint::Introspect, true);
    let error = expect_error(
        agent.call("list_notes", json!({})).await,
        "introspection down",
    )?;
    if !matches!(error, ClientError::AuthorizationUnavailable { attempts: 3 }) {
        return Err(
            format!("expected authorization_unavailable after 3 attempts, got {error:?}").into(),
        );
    }
    issuer.set_endpoint_unavailable(Endpoint::Introspect, false);

    step(
        11,
        "An admin no longer lets this user write: consent to notes:write is withheld",
    );
    issuer.set_consent(Consent {
        withheld_scopes: vec!["notes:write".into()],
        ..Consent::default()
    });
    // The current token still has notes:write; a new login will not.
    let tokens = stored(client.clone(), key.clone()).await?;
    issuer.revoke(tokens.refresh_token.as_deref().ok_or("no refresh token")?);
    agent.call("list_notes", json!({})).await?;
    let error = expect_error(
        agent.call("add_note", json!({"text": "again"})).await,
        "consent withheld",
    )?;
    if !matches!(error, ClientError::ScopeNotGranted { attempts: 2, .. }) {
        return Err(format!("expected scope_not_granted after 2 consents, got {error:?}").into());
    }

    step(12, "What the authorization server saw");
    println!(
        "    registrations: {}, logins: {}, token requests: {}, introspections: {}",
        issuer.registration_requests(),
        issuer.authorize_requests(),
        issuer.token_requests(),
        issuer.introspection_calls()
    );
    println!(
        "\ndemo complete: the agent made only MCP calls; authsec-client acted on every denial as the table says."
    );
    server.stop().await;
    issuer.shutdown().await;
    Ok(())
}
