//! `cargo xtask demo`: an agent meets a protected MCP server, step by step, over real HTTP.

use authsec_tests::agent::{self, Login};
use authsec_tests::dev_issuer::{
    DEFAULT_INTROSPECTION_CLIENT_ID, DEFAULT_INTROSPECTION_CLIENT_SECRET, DevIssuer,
    DevIssuerConfig,
};
use authsec_tests::mcp_http::{McpHttp, McpResponse, challenge_params};
use authsec_tests::notes_server::{NotesEnv, NotesServer};
use serde_json::{Value, json};

type Error = Box<dyn std::error::Error>;

const REDIRECT_URI: &str = "http://127.0.0.1:53682/callback";

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

fn agent_says(text: &str) {
    if color() {
        println!("    \x1b[36magent:\x1b[0m {text}");
    } else {
        println!("    agent: {text}");
    }
}

fn show(request: &str, response: &McpResponse) {
    println!("    -> {request}");
    println!("    <- {}", response.status);
    if let Some(challenge) = response.www_authenticate() {
        println!("       WWW-Authenticate: {challenge}");
    }
    if let Some(retry) = response.header("retry-after") {
        println!("       Retry-After: {retry}");
    }
    if response.status >= 400 {
        let body = response.json();
        if let Some(description) = body["error_description"].as_str() {
            println!("       body: denial={} \"{description}\"", body["denial"]);
        }
    }
}

fn expect(response: &McpResponse, status: u16, what: &str) -> Result<(), Error> {
    if response.status != status {
        return Err(format!(
            "{what}: expected HTTP {status}, got {} with body {}",
            response.status, response.body
        )
        .into());
    }
    Ok(())
}

fn param(response: &McpResponse, name: &str) -> Option<String> {
    challenge_params(response.www_authenticate()?)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
}

/// The parts of a [`Login`] that change between logins, owned.
struct LoginOwned {
    client_id: String,
    resource: String,
    scope: String,
    extra: Vec<(&'static str, String)>,
}

impl LoginOwned {
    fn as_login(&self) -> Login<'_> {
        Login {
            client_id: &self.client_id,
            redirect_uri: REDIRECT_URI,
            resource: &self.resource,
            scope: &self.scope,
            extra: self.extra.clone(),
        }
    }
}

pub async fn run() -> Result<(), Error> {
    println!("authsec demo: an AI agent, an MCP notes server protected by authsec, and a local");
    println!("development authorization server (not for production), all on 127.0.0.1.");

    let config = DevIssuerConfig {
        scopes_supported: vec![
            "notes:read".into(),
            "notes:write".into(),
            "notes:admin".into(),
        ],
        ..DevIssuerConfig::default()
    };
    let issuer = DevIssuer::start_with(config).await?;
    let server = NotesServer::start(NotesEnv::new(issuer.issuer()).introspection(
        DEFAULT_INTROSPECTION_CLIENT_ID,
        DEFAULT_INTROSPECTION_CLIENT_SECRET,
        0,
    ))
    .await?;
    println!("\n    authorization server: {}", issuer.issuer());
    println!("    notes server (MCP):   {}", server.resource());
    println!("    validation: JWT signature + live introspection on every request (cache 0 s)");

    let http = agent::http();
    let mut mcp = McpHttp::new(server.resource());

    step(1, "The agent connects without a token");
    let response = mcp.initialize().await?;
    show("POST /mcp initialize (no Authorization header)", &response);
    expect(&response, 401, "no token")?;
    let metadata_url = param(&response, "resource_metadata").ok_or("no resource_metadata")?;
    let first_scope = param(&response, "scope").unwrap_or_default();
    agent_says(&format!(
        "401 without error: I need a token. The server suggests scope \"{first_scope}\"; its metadata is at resource_metadata."
    ));

    step(2, "Protected resource metadata (RFC 9728)");
    let prm = agent::get_json(&http, &metadata_url).await?;
    println!("    -> GET {metadata_url}");
    println!("    <- 200 {prm}");
    if prm["resource"] != server.resource() {
        return Err("the metadata's resource is not the URL the agent called".into());
    }
    let as_issuer = prm["authorization_servers"][0]
        .as_str()
        .ok_or("no authorization_servers")?
        .to_owned();
    agent_says(&format!(
        "resource matches the server I called; I log in at {as_issuer}"
    ));

    step(3, "Authorization server discovery (RFC 8414)");
    let as_metadata = agent::authorization_server_metadata(&http, &as_issuer).await?;
    println!("    -> GET {as_issuer}/.well-known/oauth-authorization-server");
    println!(
        "    <- 200 issuer={} authorization_endpoint={} token_endpoint={} registration_endpoint={} code_challenge_methods_supported={}",
        as_metadata["issuer"],
        as_metadata["authorization_endpoint"],
        as_metadata["token_endpoint"],
        as_metadata["registration_endpoint"],
        as_metadata["code_challenge_methods_supported"]
    );
    agent_says("the issuer matches and S256 PKCE is supported");

    step(4, "Dynamic client registration (RFC 7591)");
    let client_id = agent::register(&http, &as_metadata, REDIRECT_URI).await?;
    println!(
        "    -> POST {} redirect_uris=[{REDIRECT_URI}]",
        as_metadata["registration_endpoint"]
    );
    println!("    <- 201 client_id={client_id}");

    let resource = server.resource().to_owned();
    let login = |scope: String, extra: Vec<(&'static str, String)>| LoginOwned {
        client_id: client_id.clone(),
        resource: resource.clone(),
        scope,
        extra,
    };

    step(
        5,
        "The user logs in and consents to notes:read (authorization code + PKCE, resource=…)",
    );
    let tokens = agent::login(
        &http,
        &as_metadata,
        &login(first_scope.clone(), vec![]).as_login(),
    )
    .await?;
    println!("    <- token granted, scope=\"{}\"", tokens.scope);
    mcp.set_token(Some(tokens.access_token.clone()));

    step(6, "initialize and tools/list with the token");
    let response = mcp.initialize().await?;
    show("POST /mcp initialize", &response);
    expect(&response, 200, "initialize with a token")?;
    let response = mcp.tools_list().await?;
    show("POST /mcp tools/list", &response);
    expect(&response, 200, "tools/list")?;
    println!("       tools visible: {:?}", response.tool_names());
    agent_says("only the tools my scopes allow are listed");

    step(7, "Call list_notes");
    let response = mcp.call_tool("list_notes", json!({})).await?;
    show("POST /mcp tools/call list_notes", &response);
    expect(&response, 200, "list_notes")?;
    println!(
        "       result: {:?}",
        response.tool_text().unwrap_or_default()
    );

    step(8, "Call add_note, which needs notes:write");
    let response = mcp
        .call_tool("add_note", json!({"text": "buy milk"}))
        .await?;
    show("POST /mcp tools/call add_note", &response);
    expect(&response, 403, "add_note with notes:read")?;
    let wanted = param(&response, "scope").ok_or("no scope in the 403 challenge")?;
    agent_says(&format!(
        "insufficient_scope: I ask the user to consent to \"{wanted}\" (what I had plus what the tool needs)"
    ));

    step(9, "Re-consent, then add_note again");
    let tokens = agent::login(
        &http,
        &as_metadata,
        &login(wanted.clone(), vec![]).as_login(),
    )
    .await?;
    println!("    <- token granted, scope=\"{}\"", tokens.scope);
    mcp.set_token(Some(tokens.access_token.clone()));
    let response = mcp
        .call_tool("add_note", json!({"text": "buy milk"}))
        .await?;
    show("POST /mcp tools/call add_note", &response);
    expect(&response, 200, "add_note with notes:write")?;
    println!(
        "       result: {:?}",
        response.tool_text().unwrap_or_default()
    );

    step(
        10,
        "Call purge_notes, which needs notes:admin and a fresh MFA login",
    );
    let response = mcp.call_tool("purge_notes", json!({})).await?;
    show("POST /mcp tools/call purge_notes", &response);
    expect(&response, 403, "purge_notes without notes:admin")?;
    let wanted = param(&response, "scope").ok_or("no scope in the 403 challenge")?;
    agent_says(&format!(
        "insufficient_scope again: consent to \"{wanted}\""
    ));
    let tokens = agent::login(
        &http,
        &as_metadata,
        &login(wanted.clone(), vec![]).as_login(),
    )
    .await?;
    println!(
        "    <- token granted, scope=\"{}\" (password login, acr=pwd)",
        tokens.scope
    );
    mcp.set_token(Some(tokens.access_token.clone()));
    let response = mcp.call_tool("purge_notes", json!({})).await?;
    show("POST /mcp tools/call purge_notes", &response);
    expect(&response, 401, "purge_notes without MFA")?;
    let acr_values = param(&response, "acr_values").ok_or("no acr_values")?;
    let max_age = param(&response, "max_age").ok_or("no max_age")?;
    agent_says(&format!(
        "insufficient_user_authentication: a refresh cannot fix this; new login with acr_values={acr_values} max_age={max_age}"
    ));

    step(11, "MFA login (RFC 9470 step-up), then purge_notes");
    let tokens = agent::login(
        &http,
        &as_metadata,
        &login(
            wanted.clone(),
            vec![("acr_values", acr_values), ("max_age", max_age)],
        )
        .as_login(),
    )
    .await?;
    println!("    <- token granted, scope=\"{}\" (acr=mfa)", tokens.scope);
    mcp.set_token(Some(tokens.access_token.clone()));
    let response = mcp.call_tool("purge_notes", json!({})).await?;
    show("POST /mcp tools/call purge_notes", &response);
    expect(&response, 200, "purge_notes after MFA")?;
    println!(
        "       result: {:?}",
        response.tool_text().unwrap_or_default()
    );

    step(
        12,
        "The token is revoked at the authorization server (RFC 7009)",
    );
    agent::revoke(&http, &as_metadata, &client_id, &tokens.access_token).await?;
    println!("    -> POST {} token=…", as_metadata["revocation_endpoint"]);
    let response = mcp.call_tool("list_notes", json!({})).await?;
    show("POST /mcp tools/call list_notes", &response);
    expect(&response, 401, "a revoked token")?;
    let body: Value = response.json();
    if body["denial"] != "token_revoked" {
        return Err(format!("expected token_revoked, got {body}").into());
    }
    agent_says(
        "token_revoked: introspection says the token is no longer active; I must log in again",
    );

    println!("\ndemo complete: every step behaved as the denial table says.");
    server.stop().await;
    issuer.shutdown().await;
    Ok(())
}
