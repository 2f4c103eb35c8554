//! Every way the client gives up, each saying what the user should do.

use std::time::Duration;

use authsec_core::DenialCode;

/// An error of [`AuthClient`](crate::AuthClient): discovery, registration, login, token
/// endpoint, store, or a denial the client could not (or must not) remedy.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// A network or HTTP-level failure talking to `url`.
    #[error("could not reach {url}: {source}; check the URL and the network")]
    Http {
        /// What was being fetched.
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// A metadata document (RFC 9728 or RFC 8414/OIDC) is missing or invalid.
    #[error("discovery failed: {0}; the server or authorization server is misconfigured")]
    Discovery(String),
    /// The protected resource metadata names another resource than the URL called (RFC 9728 §3.3).
    #[error(
        "the server's metadata is for {found}, not for {expected}: refusing to log in (possible impersonation); the server's administrator must fix its `resource`"
    )]
    ResourceMismatch {
        /// The URL the client called.
        expected: String,
        /// The metadata's `resource`.
        found: String,
    },
    /// The authorization server's metadata names another issuer (RFC 8414 §3.3).
    #[error(
        "the authorization server metadata says issuer {found}, expected {expected}: refusing it (mix-up defence)"
    )]
    IssuerMismatch {
        /// The issuer the client asked for.
        expected: String,
        /// The metadata's `issuer`.
        found: String,
    },
    /// The authorization server does not advertise PKCE S256 (OAuth 2.1, MCP).
    #[error(
        "the authorization server {issuer} does not advertise PKCE S256: refusing to log in there"
    )]
    PkceUnsupported {
        /// The issuer.
        issuer: String,
    },
    /// No way to obtain a client registration at this authorization server.
    #[error(
        "no client registration for {issuer}: it offers neither a client ID metadata document nor dynamic registration; pre-register a client there and configure it with `preregistered`"
    )]
    NoRegistration {
        /// The issuer.
        issuer: String,
    },
    /// Dynamic client registration was refused.
    #[error("client registration at {issuer} failed: {reason}")]
    Registration {
        /// The issuer.
        issuer: String,
        /// The AS's error.
        reason: String,
    },
    /// A login needs a user, but no [`UserAgent`](crate::UserAgent) hook is configured.
    #[error(
        "a login is needed but no user agent is configured: set one with `AuthClientBuilder::user_agent`, or use client credentials"
    )]
    NoUserAgent,
    /// The user agent hook failed to open the authorization URL.
    #[error("could not open the authorization URL: {0}")]
    UserAgent(String),
    /// The authorization response was refused or invalid (state, `iss`, error from the AS).
    #[error("authorization failed: {0}")]
    Authorization(String),
    /// No authorization response arrived in time on the loopback listener.
    #[error("no authorization response within {0:?}: the user did not finish logging in")]
    AuthorizationTimeout(Duration),
    /// The token endpoint refused a grant.
    #[error("the token endpoint refused the {grant} grant: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    TokenEndpoint {
        /// The grant type.
        grant: &'static str,
        /// The OAuth error code.
        error: String,
        /// The AS's description.
        description: Option<String>,
    },
    /// Reading or writing the token store failed.
    #[error("token store: {0}")]
    Store(String),
    /// The request body is a stream and cannot be sent twice, so it cannot be retried.
    #[error(
        "the request cannot be retried (streaming body); buffer the body to let the client retry after a denial"
    )]
    RequestNotCloneable,
    /// The server still refuses after the client re-authorized: the credentials do not fit.
    #[error(
        "the server still answers {code} after a new login: {description}; check that the server trusts this authorization server and its `resource`"
    )]
    StillUnauthorized {
        /// The last denial code.
        code: DenialCode,
        /// The server's description.
        description: String,
    },
    /// Scope step-ups did not produce a token the server accepts.
    #[error(
        "the server still requires scopes {scope} after {attempts} consent attempt(s); the user or the authorization server did not grant them: ask an administrator to allow these scopes"
    )]
    ScopeNotGranted {
        /// The scopes the server asked for.
        scope: String,
        /// How many consents were tried.
        attempts: u32,
    },
    /// A step-up login (RFC 9470) did not satisfy the server.
    #[error(
        "the server still requires a stronger login (acr_values={acr_values}, max_age={max_age:?}) after {attempts} attempt(s); log in with the required method (e.g. MFA)"
    )]
    StepUpFailed {
        /// Required `acr` values, space-delimited.
        acr_values: String,
        /// Required authentication age.
        max_age: Option<u64>,
        /// How many step-up logins were tried.
        attempts: u32,
    },
    /// A step-up is required but the client uses client credentials (no user to authenticate).
    #[error(
        "the server requires a user login (step-up), which a client-credentials agent cannot provide"
    )]
    StepUpImpossible,
    /// The server's policy refuses the call; no new token would change that.
    #[error(
        "the server's policy refuses this call: {description}; re-authorizing will not help, ask the server's administrator"
    )]
    PolicyDenied {
        /// The server's (safe) description.
        description: String,
    },
    /// The quota is exhausted and waiting would exceed the caller's budget.
    #[error(
        "quota exceeded: {}, beyond the wait budget of {budget:?}; try again later",
        match retry_after {
            Some(after) => format!("the server asks to retry after {after:?}"),
            None => "the server gave no Retry-After".to_owned(),
        }
    )]
    QuotaExceeded {
        /// What the server asked for (`None` if it did not say).
        retry_after: Option<Duration>,
        /// The caller's budget.
        budget: Duration,
    },
    /// The server's authorization service stayed unavailable.
    #[error(
        "the server could not reach its authorization service after {attempts} attempt(s); the token was kept, try again later"
    )]
    AuthorizationUnavailable {
        /// How many times the request was sent.
        attempts: u32,
    },
    /// The server says the request is malformed (a client bug, not an auth problem).
    #[error("the server refused the request as malformed: {0}")]
    InvalidRequest(String),
    /// The MCP session belongs to another principal: start a new session.
    #[error("the MCP session belongs to another user: start a new session (initialize again)")]
    SessionMismatch,
    /// Token exchange (RFC 8693) could not be done.
    #[error("token exchange failed: {0}")]
    Exchange(String),
}

impl ClientError {
    pub(crate) fn http(url: impl Into<String>, source: reqwest::Error) -> Self {
        ClientError::Http {
            url: url.into(),
            source: source.without_url(),
        }
    }
}
