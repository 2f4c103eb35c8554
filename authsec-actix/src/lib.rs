//! # authsec-actix
//!
//! OAuth 2.1 protection for MCP servers and any actix-web app. The adapter is thin: it reads
//! the request, asks [`authsec_core::Protection`] (and through it the [`Guard`]), and renders
//! the answer. Everything that decides lives in authsec-core, so this crate behaves exactly
//! like authsec-axum; the same wire-level test matrix runs against both.
//!
//! - [`Authsec`]: a `Transform` middleware (`App::wrap`) guarding a path prefix (by default
//!   the path of the resource URI). Every request there needs a valid token; `tools/call`
//!   bodies get the tool's scope and policy checks; `tools/list` responses (JSON or SSE) only
//!   list what the caller may call; a new `Mcp-Session-Id` is bound to its caller.
//! - [`Authenticated`]: the extractor handing the caller's [`Principal`] to handlers (or read
//!   it yourself: `request.extensions().get::<authsec_core::Principal>()`).
//! - [`metadata_service`]: the RFC 9728 document that tells clients where to log in.
//!
//! ```
//! use actix_web::{App, web};
//! use authsec_actix::{Authenticated, Authsec, metadata_service};
//! use authsec_core::{Guard, JwtRules, JwtVerifier, StaticKeys, ToolManifest};
//!
//! # fn doc() -> Result<(), authsec_core::ConfigError> {
//! // In a real server the verifier comes from authsec_jwks::RemoteIssuer::discover(issuer).
//! let verifier = JwtVerifier::new(JwtRules::new("https://as.example"), StaticKeys::default())?;
//! let guard = Guard::builder("https://mcp.example.com/mcp")
//!     .authorization_server("https://as.example")
//!     .verifier(verifier)
//!     .manifest(ToolManifest::new().tool("list_notes", ["notes:read"]))
//!     .initial_scopes(["notes:read"])
//!     .build()?;
//!
//! async fn mcp(Authenticated(caller): Authenticated) -> String {
//!     format!("hello {}", caller.subject())
//! }
//!
//! // In main: HttpServer::new(move || App::new()...).bind(...)?.run().await
//! let app = App::new()
//!     .wrap(Authsec::new(guard.clone()))
//!     .service(metadata_service(&guard))
//!     .route("/mcp", web::post().to(mcp));
//! # let _ = app;
//! # Ok(()) }
//! ```
//!
//! actix-web has no MCP server of its own, and rmcp has no actix-web transport: with the `rmcp`
//! feature, `rmcp::serve` hands a request to rmcp's Streamable HTTP service, the caller's
//! [`Principal`] with it (the crate's `notes-server-actix` example serves its tools that way).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod extract;
mod metadata;
mod middleware;
#[cfg(feature = "rmcp")]
pub mod rmcp;
mod sse;

pub use authsec_core::{Guard, Principal};
pub use extract::{Authenticated, MiddlewareMissing};
pub use metadata::{MetadataService, metadata_service, metadata_service_path_only};
pub use middleware::{Authsec, AuthsecMiddleware, DEFAULT_MAX_BODY_BYTES, ResponseFuture};
