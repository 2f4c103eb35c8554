//! # authsec-jwks
//!
//! Everything an authsec-protected resource server fetches from its authorization server:
//! the server's metadata (RFC 8414 / OpenID Connect Discovery), its signing keys (a JWKS cache
//! that follows key rotation) and token introspection (RFC 7662, cached).
//!
//! In the request path it sits behind two checks of the authsec-core
//! [`Guard`](authsec_core::Guard):
//!
//! ```text
//! request ─► adapter ─► Guard::check
//!                         1. signature + expiry   JwtVerifier<JwksCache>   or IntrospectionVerifier
//!                         2. audience             core
//!                         3. scopes               core
//!                         4. not revoked          Introspector (RevocationCheck)
//!                         5. policy               authsec-policy
//! ```
//!
//! Requests are served from caches; the network is reached only when a key or an answer is
//! missing or stale, one request at a time per key or token, with timeouts and size bounds.
//! When the authorization server cannot be reached, cached keys keep verifying tokens and
//! what cannot be decided becomes `authorization_unavailable` (HTTP 503, retry later), never
//! `invalid_token`.
//!
//! [`RemoteIssuer`] is the entry point: discover the issuer once at start-up, then let it
//! configure a Guard in one of the [`ValidationMode`]s.
//!
//! ```no_run
//! use std::time::Duration;
//! use authsec_core::ToolManifest;
//! use authsec_jwks::{ClientCredentials, RemoteIssuer, ValidationMode};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! // JWT access tokens, verified locally with the issuer's JWKS.
//! let issuer = RemoteIssuer::discover("https://as.example").await?;
//! let guard = issuer
//!     .guard("https://mcp.example.com/mcp", ValidationMode::Jwt)?
//!     .manifest(ToolManifest::new().tool("list_notes", ["notes:read"]))
//!     .build()?;
//!
//! // The same, plus revocation seen within 10 s through introspection.
//! let issuer = RemoteIssuer::builder("https://as.example")
//!     .introspection_credentials(ClientCredentials::new("notes-rs", "notes-rs-secret"))
//!     .introspection_ttl(Duration::from_secs(10))
//!     .discover()
//!     .await?;
//! let guard = issuer
//!     .guard("https://mcp.example.com/mcp", ValidationMode::Auto)?
//!     .manifest(ToolManifest::new().tool("list_notes", ["notes:read"]))
//!     .build()?;
//! # let _ = guard;
//! # Ok(())
//! # }
//! ```
//!
//! The parts also work alone: [`JwksCache`] is a [`KeyResolver`](authsec_core::KeyResolver)
//! for any [`JwtVerifier`](authsec_core::JwtVerifier), [`Introspector`] a
//! [`RevocationCheck`](authsec_core::RevocationCheck), [`IntrospectionVerifier`] a
//! [`TokenVerifier`](authsec_core::TokenVerifier).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod control_plane;
pub mod discovery;
pub mod error;
pub mod fetch;
pub mod introspection;
pub mod issuer;
pub mod jwks;
pub mod token_shape;

pub use discovery::AuthorizationServerMetadata;
pub use error::FetchError;
pub use fetch::HttpOptions;
pub use introspection::{
    ClientAuthMethod, ClientCredentials, IntrospectionConfig, IntrospectionVerifier, Introspector,
    IntrospectorBuilder, TokenStatus,
};
pub use issuer::{RemoteIssuer, RemoteIssuerBuilder, ValidationMode};
pub use jwks::{JwksCache, JwksConfig};
pub use token_shape::{IntrospectVerifiedJwts, ShapeRoutedVerifier, is_jwt_shaped};

/// `now + duration`, saturating at a year for absurd configurations instead of panicking.
pub(crate) fn later(duration: std::time::Duration) -> std::time::Instant {
    let now = std::time::Instant::now();
    now.checked_add(duration)
        .or_else(|| now.checked_add(std::time::Duration::from_secs(365 * 24 * 3600)))
        .unwrap_or(now)
}
