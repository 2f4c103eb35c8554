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
//! rmcp has no actix transport, so [`mcp`] bridges: it hands the request (with the
//! [`Principal`] from the [`Authenticated`] extractor in its extensions) to rmcp's
//! `StreamableHttpService::handle` and streams the answer back. MCP itself (sessions, SSE,
//! JSON-RPC) is rmcp's, exactly as in the axum example.

use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_LENGTH, HeaderValue, TRANSFER_ENCODING};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use authsec_actix::{Authenticated, Authsec, DEFAULT_MAX_BODY_BYTES, metadata_service};
use http_body::Body as _;
use http_body_util::{BodyDataStream, BodyExt, Full};

#[path = "../../authsec-axum/examples/notes/mod.rs"]
mod notes;

use notes::NotesMcp;

/// The bridge: one actix request in, rmcp's answer out. The body was already bounded and
/// classified by the `Authsec` middleware; the caller comes from its extractor.
async fn mcp(
    request: HttpRequest,
    body: web::Bytes,
    // `None` only for the AuthSec in-band profile's handshake pass-through (initialize or
    // ping with a token that failed validation): rmcp answers those without a caller.
    caller: Option<Authenticated>,
    service: web::Data<NotesMcp>,
) -> HttpResponse {
    let mut forwarded = http::Request::builder()
        .method(request.method().as_str())
        .uri(request.uri().to_string());
    for (name, value) in request.headers() {
        forwarded = forwarded.header(name.as_str(), value.as_bytes());
    }
    let Ok(mut forwarded) = forwarded.body(Full::new(body)) else {
        return HttpResponse::BadRequest().body("unforwardable request");
    };
    if let Some(Authenticated(caller)) = caller {
        forwarded.extensions_mut().insert(caller);
    }

    let (parts, body) = service.handle(forwarded).await.into_parts();
    let status =
        StatusCode::from_u16(parts.status.as_u16()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::build(status);
    for (name, value) in &parts.headers {
        // actix frames the body itself.
        if name.as_str() == CONTENT_LENGTH.as_str() || name.as_str() == TRANSFER_ENCODING.as_str() {
            continue;
        }
        if let Ok(value) = HeaderValue::from_bytes(value.as_bytes()) {
            response.append_header((name.as_str(), value));
        }
    }
    if body.size_hint().exact().is_some() {
        // A JSON answer (or an empty one): send it with its length.
        let bytes = match body.collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(never) => match never {},
        };
        response.body(bytes)
    } else {
        // An SSE stream: forward each event as it comes.
        response.streaming(BodyDataStream::new(body))
    }
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
