//! Fetch errors: the authorization server could not be reached, or answered something unusable.
//!
//! Every variant names the URL involved and what was wrong, so the message alone tells an
//! operator what to fix. A `FetchError` never contains a token or a client secret.

use std::time::Duration;

/// A discovery, JWKS or introspection request failed.
///
/// At start-up (discovery) this is fatal; per request it becomes a `Denial`
/// (`authorization_unavailable`, HTTP 503) or, for keys, a lookup error, never a panic.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// A configured or advertised URL does not parse, or has a shape the spec forbids.
    #[error("{url:?} is not a usable URL: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A URL uses plain `http` on a non-loopback host.
    #[error(
        "{url} uses plain http; authorization server endpoints must use https (http is accepted \
         only for loopback hosts, or after HttpOptions::dangerous_allow_insecure_http)"
    )]
    InsecureUrl {
        /// The URL.
        url: String,
    },
    /// No connection could be made, or the connection failed mid-request.
    #[error("could not reach {url}: {reason}")]
    Unreachable {
        /// The URL.
        url: String,
        /// The transport error.
        reason: String,
    },
    /// The request did not complete in time.
    #[error("{url} did not answer within {timeout:?}")]
    Timeout {
        /// The URL.
        url: String,
        /// The configured timeout.
        timeout: Duration,
    },
    /// The server answered with an unexpected HTTP status.
    #[error("{url} answered HTTP {status}{detail}")]
    Status {
        /// The URL.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// The OAuth `error` of the body when there is one (prefixed with `: `), else empty.
        detail: String,
    },
    /// The introspection endpoint refused this resource server's client credentials.
    #[error(
        "{url} refused this server's client credentials (HTTP {status}); check the client id, \
         secret and authentication method registered for introspection"
    )]
    CredentialsRejected {
        /// The URL.
        url: String,
        /// 401 or 403.
        status: u16,
    },
    /// The body is larger than the configured bound.
    #[error("the response from {url} is larger than the {limit}-byte limit")]
    TooLarge {
        /// The URL.
        url: String,
        /// The limit, in bytes.
        limit: usize,
    },
    /// The body is not the document expected (not JSON, wrong shape, missing member).
    #[error("the response from {url} is not valid: {reason}")]
    InvalidDocument {
        /// The URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The metadata names another issuer than the one configured (RFC 8414 §3.3 mix-up defence).
    #[error(
        "the metadata at {url} names the issuer {found:?}, but the configured issuer is \
         {expected:?}; they must be identical, character for character (RFC 8414 §3.3): \
         configure the issuer exactly as the authorization server spells it"
    )]
    IssuerMismatch {
        /// Where the metadata came from.
        url: String,
        /// The configured issuer.
        expected: String,
        /// The `issuer` member of the document.
        found: String,
    },
    /// No metadata document was found at any of the well-known locations.
    #[error(
        "no authorization server metadata found for the issuer {issuer}; tried: {}",
        tried.join("; ")
    )]
    NotFound {
        /// The configured issuer.
        issuer: String,
        /// Each URL tried, with what it answered.
        tried: Vec<String>,
    },
    /// The metadata does not advertise an endpoint this configuration needs.
    #[error("the authorization server {issuer} does not advertise {member} in its metadata")]
    MissingEndpoint {
        /// The issuer.
        issuer: String,
        /// The metadata member, e.g. `jwks_uri`.
        member: &'static str,
    },
    /// The HTTP client could not be built (TLS set-up).
    #[error("could not build the HTTP client: {reason}")]
    Client {
        /// Why.
        reason: String,
    },
}

impl FetchError {
    /// The URL the failed request went to, when there is one.
    pub fn url(&self) -> Option<&str> {
        match self {
            FetchError::InvalidUrl { url, .. }
            | FetchError::InsecureUrl { url }
            | FetchError::Unreachable { url, .. }
            | FetchError::Timeout { url, .. }
            | FetchError::Status { url, .. }
            | FetchError::CredentialsRejected { url, .. }
            | FetchError::TooLarge { url, .. }
            | FetchError::InvalidDocument { url, .. }
            | FetchError::IssuerMismatch { url, .. } => Some(url),
            FetchError::NotFound { .. }
            | FetchError::MissingEndpoint { .. }
            | FetchError::Client { .. } => None,
        }
    }
}
