//! # authsec-core
//!
//! The runtime-agnostic heart of authsec: everything that decides whether one request to a
//! protected MCP server (or any HTTP API) may proceed, with no async runtime, HTTP client or web
//! framework in sight.
//!
//! An adapter (authsec-axum, authsec-actix) reads the request, builds an [`AccessRequest`] and
//! asks the [`Guard`]. The Guard runs five checks in order and the first failure wins:
//!
//! | # | check | denial |
//! |---|---|---|
//! | 1 | signature + expiry ([`TokenVerifier`], cached once verified) | `invalid_token` |
//! | 2 | audience is this resource | `invalid_audience` |
//! | 3 | scopes cover the tool ([`ToolManifest`]) | `scope_insufficient` |
//! | 4 | not revoked ([`RevocationCheck`]) | `token_revoked` |
//! | 5 | tool policy ([`Policy`]) | `step_up_required` / `policy_denied` / `quota_exceeded` |
//!
//! A [`Denial`] renders itself from one table ([`denial`]): status, `WWW-Authenticate`, JSON
//! body, JSON-RPC error, label.
//!
//! ```
//! use authsec_core::{AccessRequest, Authorization, Decision, Guard, StaticKeys, JwtRules, JwtVerifier, ToolManifest};
//!
//! # tokio_test_block_on(async {
//! let verifier = JwtVerifier::new(JwtRules::new("https://as.example"), StaticKeys::default())?;
//! let guard = Guard::builder("https://mcp.example.com/mcp")
//!     .authorization_server("https://as.example")
//!     .verifier(verifier)
//!     .manifest(ToolManifest::new().tool("list_notes", ["notes:read"]))
//!     .initial_scopes(["notes:read"])
//!     .build()?;
//!
//! // A request without a token is told where to authenticate.
//! let Decision::Deny(denial) = guard.check(&AccessRequest::new(Authorization::Absent)).await else {
//!     unreachable!()
//! };
//! let response = guard.render(&denial);
//! assert_eq!(response.status, 401);
//! assert_eq!(
//!     response.www_authenticate.as_deref(),
//!     Some("Bearer scope=\"notes:read\", resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/mcp\"")
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// Visitor methods taking every JSON scalar but a string as `$value`: the JSON walkers of
/// `mcp` and `tools_list` skip what they do not look into.
macro_rules! non_string_scalars_as {
    ($value:expr) => {
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok($value)
        }
    };
}

pub mod adapter;
pub mod audit;
mod b64;
pub mod bearer;
pub mod client_ip;
pub mod clock;
pub mod denial;
pub mod error;
pub mod guard;
pub mod inband;
pub mod jwt;
pub mod manifest;
pub mod manifest_source;
pub mod mcp;
pub mod metric;
#[cfg(test)]
mod mutations;
mod payload;
pub mod principal;
pub mod resource;
pub mod scope;
mod short_eq;
mod signature;
pub mod tool_inventory;
pub mod tools_list;
pub mod verifier;

pub use adapter::{
    IncomingRequest, KnownHeader, Protection, RequestHeaders, ResponseFilter, Verdict,
};
pub use audit::DecidingRule;
pub use bearer::{Authorization, extract_bearer};
pub use client_ip::TrustedProxies;
pub use clock::{Clock, ManualClock, SystemClock};
pub use denial::{ClientAction, Denial, DenialCode, DenialForm, RenderedDenial};
pub use error::ConfigError;
pub use guard::{AccessRequest, Decision, Guard, GuardBuilder, RuledDecision};
pub use jwt::{
    JwtRules, JwtVerifier, KeyLookupError, KeyResolver, StaticKeys, TypPolicy, VerificationKey,
    install_crypto_provider,
};
pub use manifest::{ScopeMatch, ToolManifest, ToolRule};
pub use manifest_source::{ManifestSource, SharedManifest};
pub use mcp::{JsonText, McpHeaders, McpMessage, McpRequest, classify};
pub use principal::{Claims, Principal, TokenSource};
pub use resource::{ProtectedResourceMetadata, Resource};
pub use scope::ScopeSet;
pub use verifier::{
    Policy, PolicyOutcome, PolicyRequest, RejectAll, RevocationCheck, TokenVerifier,
};

/// Re-exported so implementors of [`KeyResolver`] and users of [`JwtRules`] need no direct
/// dependency on jsonwebtoken.
pub use jsonwebtoken;
