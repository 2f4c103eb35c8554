//! The notes demo server: an rmcp MCP server protected by authsec.
//!
//! ```text
//! AUTHSEC_ISSUER=http://127.0.0.1:9000 cargo run --release -p authsec-axum --example notes-server
//! ```
//!
//! Environment (the contract; see the README):
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `AUTHSEC_LISTEN` | address to bind | `127.0.0.1:8811` |
//! | `AUTHSEC_ISSUER` | the authorization server; everything else is discovered from it | required |
//! | `AUTHSEC_RESOURCE` | the canonical URI of this server (tokens' audience) | `http://{AUTHSEC_LISTEN}/mcp` |
//! | `AUTHSEC_INTROSPECTION_CLIENT_ID` / `_SECRET` | client_secret_basic credentials for the AS's introspection endpoint; unset means JWT-only | unset |
//! | `AUTHSEC_INTROSPECTION_CACHE_SECONDS` | how long an introspection answer is reused (0 = every request) | `0` |
//! | `AUTHSEC_VALIDATION_MODE` | `jwt_only`, `jwt_and_introspect`, `jwt_or_introspect`, `introspection_only` or `auto` (JWT, plus introspection when credentials are set) | `auto` |
//! | `AUTHSEC_NOTES_JSON_RESPONSE` | `1`: stateless mode with `application/json` responses instead of SSE | unset |
//! | `AUTHSEC_CONFIG` | an `authsec.toml` read first (`examples/notes/authsec.toml`); the variables win over it | unset |
//!
//! Everything is read through `authsec-config`, so every `AUTHSEC_*` variable of the AuthSec SDK
//! family works too (e.g. `AUTHSEC_DENIAL_MODE=inband`, `AUTHSEC_TOOL_SCOPES_JSON`,
//! `AUTHSEC_RESOURCE_SERVER_ID`); see the README's Configuration section.
//!
//! Tools: `list_notes` (`notes:read`), `add_note {text}` (`notes:write`), `purge_notes`
//! (`notes:admin` plus a fresh MFA login: `acr` = `mfa` or `amr` ∋ `mfa`, `auth_time` ≤ 300 s ago).
//! The tools' scopes and the step-up rule are configuration, not code: `notes-policy.toml`
//! beside this file (authsec-policy's format), built into the binary and checked at start-up.

use authsec_axum::{AuthsecLayer, metadata_router};

#[path = "notes/mod.rs"]
mod notes;

#[tokio::main]
async fn main() {
    if let Err(error) = run().await {
        eprintln!("notes-server: {error}");
        std::process::exit(2);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let notes::NotesApp {
        listen,
        issuer_url,
        protection,
        guard,
        mcp,
    } = notes::from_env().await?;
    let path = guard.resource().path().to_owned();
    let app = axum::Router::new()
        .nest_service(&path, mcp)
        .layer(AuthsecLayer::from_protection(protection))
        .merge(metadata_router(&guard));

    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!(
        "notes-server listening on http://{} resource={} issuer={}",
        listener.local_addr()?,
        guard.resource().as_str(),
        issuer_url
    );
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
