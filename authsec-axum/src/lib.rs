//! # authsec-axum
//!
//! OAuth 2.1 protection for MCP servers (rmcp's `StreamableHttpService`) and any axum or tower
//! service. The adapter is thin: it reads the request, asks an [`authsec_core::Guard`], and
//! renders the answer. Everything that decides lives in authsec-core.
//!
//! - [`AuthsecLayer`]: a tower `Layer` guarding a path prefix (by default the path of the
//!   resource URI). Every request there needs a valid token; `tools/call` bodies get the tool's
//!   scope and policy checks; `tools/list` responses only list what the caller may call.
//!   [`AuthsecLayer::wrap`] puts it around a whole `Router` instead: every route under the
//!   prefix is covered whenever it was added, and axum's per-route layering is skipped.
//! - [`Authenticated`]: the extractor handing the caller's [`Principal`] to handlers. rmcp tools
//!   read it through `Extension<http::request::Parts>`:
//!   `parts.extensions.get::<authsec_core::Principal>()`.
//! - [`metadata_router`]: the RFC 9728 document that tells clients where to log in.
//!
//! ```
//! use authsec_axum::{Authenticated, AuthsecLayer, metadata_router};
//! use authsec_core::{Guard, JwtRules, JwtVerifier, StaticKeys, ToolManifest};
//! use axum::{Router, routing::post};
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
//! let app: Router = Router::new()
//!     .route("/mcp", post(mcp)) // or .nest_service("/mcp", rmcp_streamable_http_service)
//!     .layer(AuthsecLayer::new(guard.clone()))
//!     .merge(metadata_router(&guard));
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod extract;
mod in_process;
mod layer;
mod metadata;
mod sse;

pub use authsec_core::{Guard, Principal};
pub use extract::{Authenticated, LayerMissing};
pub use in_process::InProcessMcp;
pub use layer::{Authsec, AuthsecLayer, DEFAULT_MAX_BODY_BYTES, ResponseFuture};
pub use metadata::{metadata_router, metadata_router_path_only};
