//! The notes demo server on actix-web: an rmcp MCP server protected by authsec-actix.
//!
//! ```text
//! AUTHSEC_ISSUER=http://127.0.0.1:9000 cargo run --release -p authsec-actix --example notes-server-actix
//! ```
//!
//! The same contract as authsec-axum's `notes-server` (see the README): the same environment,
//! tools, scopes, step-up rule, challenges and metadata, so one test matrix runs against both.
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
//! The tools' scopes and the step-up rule are the axum example's configuration, the same file:
//! `authsec-axum/examples/notes-policy.toml` (authsec-policy's format), built into the binary
//! and checked at start-up.
//!
//! rmcp has no actix transport, so [`mcp`] hands each request to rmcp's
//! `StreamableHttpService` through `authsec_actix::rmcp::serve` (the crate's `rmcp` feature),
//! with the `Principal` that the middleware put in its extensions. MCP itself (sessions, SSE,
//! JSON-RPC) is rmcp's, exactly as in the axum example.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use authsec_actix::{Authsec, DEFAULT_MAX_BODY_BYTES, metadata_service};

#[path = "../../authsec-axum/examples/notes/mod.rs"]
mod notes;

use notes::NotesMcp;

/// rmcp's answer to one request. The body was already bounded and classified by the `Authsec`
/// middleware; `authsec_actix::rmcp::serve` hands rmcp the caller's `Principal` with it
/// (none only for the AuthSec in-band profile's handshake pass-through: initialize or ping with
/// a token that failed validation, which rmcp answers without a caller).
async fn mcp(request: HttpRequest, body: web::Bytes, service: web::Data<NotesMcp>) -> HttpResponse {
    authsec_actix::rmcp::serve(&service, &request, body).await
}

#[actix_web::main]
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
        mcp: service,
    } = notes::from_env().await?;
    // One service (and one session manager) shared by every actix worker.
    let notes: web::Data<NotesMcp> = web::Data::new(service);

    let path = guard.resource().path().to_owned();
    let app_guard = guard.clone();
    let listener = std::net::TcpListener::bind(&listen)?;
    let local = listener.local_addr()?;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(notes.clone())
            // The middleware already bounds the body; the extractor must not cut it shorter.
            .app_data(web::PayloadConfig::new(DEFAULT_MAX_BODY_BYTES))
            .wrap(Authsec::from_protection(protection.clone()))
            .service(metadata_service(&app_guard))
            .service(web::resource(path.as_str()).to(mcp))
    })
    .listen(listener)?
    .run();
    println!(
        "notes-server listening on http://{local} resource={} issuer={}",
        guard.resource().as_str(),
        issuer_url
    );
    server.await?;
    Ok(())
}
