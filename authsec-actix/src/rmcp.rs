//! rmcp's Streamable HTTP server on actix-web (feature `rmcp`).
//!
//! rmcp serves MCP over tower's HTTP types and has no actix-web transport. [`serve`] hands one
//! actix-web request to rmcp's [`StreamableHttpService::handle`] and turns its answer into an
//! actix-web response: a JSON answer whole, with its length; an SSE stream event by event, as
//! rmcp writes them. The caller's [`Principal`], which the [`Authsec`](crate::Authsec)
//! middleware put in the request's extensions, goes into the forwarded request's extensions,
//! where rmcp's tools read it (`Extension<http::request::Parts>`) as they do behind
//! authsec-axum. MCP itself (sessions, SSE, JSON-RPC) stays rmcp's.
//!
//! ```
//! use actix_web::{App, HttpRequest, HttpResponse, web};
//! use authsec_actix::{Authsec, DEFAULT_MAX_BODY_BYTES, metadata_service};
//! # use authsec_core::{Guard, JwtRules, JwtVerifier, StaticKeys};
//! use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
//! use rmcp::transport::streamable_http_server::StreamableHttpService;
//! # #[derive(Clone)]
//! # struct Notes;
//! # impl rmcp::ServerHandler for Notes {}
//!
//! type NotesMcp = StreamableHttpService<Notes, LocalSessionManager>;
//!
//! async fn mcp(request: HttpRequest, body: web::Bytes, notes: web::Data<NotesMcp>) -> HttpResponse {
//!     authsec_actix::rmcp::serve(&notes, &request, body).await
//! }
//!
//! # fn doc() -> Result<(), authsec_core::ConfigError> {
//! # let verifier = JwtVerifier::new(JwtRules::new("https://as.example"), StaticKeys::default())?;
//! # let guard = Guard::builder("https://mcp.example.com/mcp")
//! #     .authorization_server("https://as.example")
//! #     .verifier(verifier)
//! #     .build()?;
//! let notes = web::Data::new(NotesMcp::new(
//!     || Ok(Notes),
//!     Default::default(),
//!     Default::default(),
//! ));
//! // In main: HttpServer::new(move || App::new()...).bind(...)?.run().await
//! let app = App::new()
//!     .app_data(notes.clone())
//!     // The middleware bounds the body already; the `Bytes` extractor must not cut it shorter.
//!     .app_data(web::PayloadConfig::new(DEFAULT_MAX_BODY_BYTES))
//!     .wrap(Authsec::new(guard.clone()))
//!     .service(metadata_service(&guard))
//!     .route("/mcp", web::to(mcp));
//! # let _ = app;
//! # Ok(()) }
//! ```

use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_LENGTH, HeaderValue, TRANSFER_ENCODING};
use actix_web::web::Bytes;
use actix_web::{HttpMessage, HttpRequest, HttpResponse};
use authsec_core::Principal;
use http_body::Body as _;
use http_body_util::{BodyDataStream, BodyExt, Full};
use rmcp::ServerHandler;
use rmcp::transport::streamable_http_server::StreamableHttpService;
use rmcp::transport::streamable_http_server::session::SessionManager;

/// Serves one request with rmcp's Streamable HTTP `service`: the request's method, URI, headers
/// and `body` (read whole by the `Bytes` extractor; the [`Authsec`](crate::Authsec) middleware
/// has already bounded it) and its [`Principal`], if it has one. rmcp's answer comes back as
/// it wrote it, except `Content-Length` and `Transfer-Encoding`, which actix-web sets itself.
pub async fn serve<S, M>(
    service: &StreamableHttpService<S, M>,
    request: &HttpRequest,
    body: Bytes,
) -> HttpResponse
where
    S: ServerHandler + Send + 'static,
    M: SessionManager,
{
    let mut forwarded = http::Request::builder()
        .method(request.method().as_str())
        .uri(request.uri().to_string());
    for (name, value) in request.headers() {
        forwarded = forwarded.header(name.as_str(), value.as_bytes());
    }
    let Ok(mut forwarded) = forwarded.body(Full::new(body)) else {
        return HttpResponse::BadRequest().body("the request cannot be handed to the MCP server");
    };
    if let Some(caller) = request.extensions().get::<Principal>() {
        forwarded.extensions_mut().insert(caller.clone());
    }

    let (parts, body) = service.handle(forwarded).await.into_parts();
    let status =
        StatusCode::from_u16(parts.status.as_u16()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::build(status);
    for (name, value) in &parts.headers {
        if name.as_str() == CONTENT_LENGTH.as_str() || name.as_str() == TRANSFER_ENCODING.as_str() {
            continue;
        }
        if let Ok(value) = HeaderValue::from_bytes(value.as_bytes()) {
            response.append_header((name.as_str(), value));
        }
    }
    if body.size_hint().exact().is_some() {
        // A JSON answer (or an empty one): sent whole, with its length.
        let bytes = match body.collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(never) => match never {},
        };
        response.body(bytes)
    } else {
        // An SSE stream: each event as rmcp writes it.
        response.streaming(BodyDataStream::new(body))
    }
}
