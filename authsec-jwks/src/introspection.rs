//! RFC 7662 token introspection: is this token still active?
//!
//! An [`Introspector`] asks the authorization server's introspection endpoint, authenticating
//! as a confidential client ([`ClientCredentials`], `client_secret_basic` or
//! `client_secret_post`). It plays two roles in the Guard:
//!
//! - **check 4** ([`RevocationCheck`]): after a JWT passed the local checks, is it revoked?
//!   `active: true` passes; anything else is `token_revoked`.
//! - **check 1** for opaque tokens ([`IntrospectionVerifier`], a [`TokenVerifier`]): the
//!   response's claims become the [`Claims`] (the Guard then checks `aud` and scopes).
//!
//! Answers are cached per token for `min(ttl, exp − now)` — the *revocation delay budget*: a
//! token revoked at the authorization server is refused at most `ttl` later. A TTL of zero asks
//! on every request. Concurrent requests for one token share one call. The cache is keyed by
//! the token's SHA-256, so the token itself is neither stored as a key nor logged.
//!
//! Fail closed, and say why: an unreachable endpoint, a timeout, a 5xx, or a 401/403 (this
//! server's credentials are wrong) is `authorization_unavailable` (HTTP 503, retry later),
//! never `invalid_token`, so clients keep their tokens.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use authsec_core::jwt::{DEFAULT_LEEWAY_SECONDS, DEFAULT_MAX_TOKEN_BYTES};
use authsec_core::metric;
use authsec_core::principal::fingerprint;
use authsec_core::{Claims, Denial, Principal, RevocationCheck, TokenSource, TokenVerifier};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use quick_cache::sync::Cache;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use url::Url;

use crate::error::FetchError;
use crate::fetch::{Http, HttpOptions, oauth_error_detail};

/// Default revocation delay budget: how long an answer is reused.
pub const DEFAULT_INTROSPECTION_TTL: Duration = Duration::from_secs(30);

/// How a resource server authenticates to the introspection endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientAuthMethod {
    /// HTTP Basic with the form-urlencoded id and secret (RFC 6749 §2.3.1).
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
}

impl ClientAuthMethod {
    /// The RFC 8414 / RFC 7591 name.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientAuthMethod::ClientSecretBasic => "client_secret_basic",
            ClientAuthMethod::ClientSecretPost => "client_secret_post",
        }
    }
}

/// The resource server's client credentials for introspection. The secret is never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCredentials {
    client_id: String,
    client_secret: String,
    method: Option<ClientAuthMethod>,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("method", &self.method)
            .finish()
    }
}

impl ClientCredentials {
    /// Credentials whose method is chosen from the server's
    /// `introspection_endpoint_auth_methods_supported`: `client_secret_basic` unless the server
    /// lists `client_secret_post` and not basic.
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        ClientCredentials {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            method: None,
        }
    }

    /// Credentials sent with `client_secret_basic`.
    pub fn basic(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self::new(client_id, client_secret).with_method(ClientAuthMethod::ClientSecretBasic)
    }

    /// Credentials sent with `client_secret_post`.
    pub fn post(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self::new(client_id, client_secret).with_method(ClientAuthMethod::ClientSecretPost)
    }

    /// Fixes the method.
    #[must_use]
    pub fn with_method(mut self, method: ClientAuthMethod) -> Self {
        self.method = Some(method);
        self
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The method, if fixed.
    pub fn method(&self) -> Option<ClientAuthMethod> {
        self.method
    }

    /// The method to use with a server advertising `supported` (absent: basic, the default of
    /// RFC 8414 for the token endpoint).
    fn resolve_method(&self, supported: Option<&[String]>) -> ClientAuthMethod {
        if let Some(method) = self.method {
            return method;
        }
        match supported {
            Some(list)
                if !list.iter().any(|m| m == "client_secret_basic")
                    && list.iter().any(|m| m == "client_secret_post") =>
            {
                ClientAuthMethod::ClientSecretPost
            }
            _ => ClientAuthMethod::ClientSecretBasic,
        }
    }
}

/// The `Authorization` value of `client_secret_basic`: id and secret are form-urlencoded
/// before being joined and base64-encoded (RFC 6749 §2.3.1).
fn basic_authorization(client_id: &str, client_secret: &str) -> String {
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", encode(client_id), encode(client_secret)))
    )
}

/// What the authorization server says about a token.
#[derive(Clone)]
#[non_exhaustive]
pub enum TokenStatus {
    /// `"active": true`, with the whole response (claims such as `scope`, `exp`, `aud`...).
    Active(Arc<Map<String, Value>>),
    /// Anything else: `"active": false`, a missing `active`, or a non-boolean such as `"true"`.
    Inactive,
}

impl std::fmt::Debug for TokenStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The response may carry personal data (username...): not printed.
        match self {
            TokenStatus::Active(_) => f.write_str("Active(..)"),
            TokenStatus::Inactive => f.write_str("Inactive"),
        }
    }
}

impl TokenStatus {
    /// Whether the token is active.
    pub fn is_active(&self) -> bool {
        matches!(self, TokenStatus::Active(_))
    }

    /// Reads an introspection response body: only a JSON object whose `active` is the boolean
    /// `true` is active.
    pub fn from_response(body: &[u8]) -> Result<Self, String> {
        let map: Map<String, Value> =
            serde_json::from_slice(body).map_err(|e| format!("not a JSON object: {e}"))?;
        Ok(match map.get("active") {
            Some(Value::Bool(true)) => TokenStatus::Active(Arc::new(map)),
            _ => TokenStatus::Inactive,
        })
    }
}

/// Introspection tuning. Start from [`IntrospectionConfig::default`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[must_use]
pub struct IntrospectionConfig {
    /// How long an answer is reused (capped by the token's `exp`); zero asks on every request.
    /// Default [`DEFAULT_INTROSPECTION_TTL`].
    pub ttl: Duration,
    /// How many answers are kept (default 10 000).
    pub capacity: usize,
    /// Largest response accepted, in bytes (default 64 KiB).
    pub max_response_bytes: usize,
}

impl Default for IntrospectionConfig {
    fn default() -> Self {
        IntrospectionConfig {
            ttl: DEFAULT_INTROSPECTION_TTL,
            capacity: 10_000,
            max_response_bytes: 64 * 1024,
        }
    }
}

impl IntrospectionConfig {
    /// Sets [`ttl`](Self::ttl).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Sets [`capacity`](Self::capacity).
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// Sets [`max_response_bytes`](Self::max_response_bytes).
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }
}

type TokenKey = [u8; 32];
type Flight = Shared<BoxFuture<'static, Result<TokenStatus, FetchError>>>;

/// An RFC 7662 client with a per-token cache; the [`RevocationCheck`] of JWT + introspection
/// mode. Cheap to clone (clones share the cache).
///
/// ```no_run
/// use std::time::Duration;
/// use authsec_jwks::{ClientCredentials, IntrospectionConfig, Introspector};
///
/// # fn demo() -> Result<(), authsec_jwks::FetchError> {
/// let introspector = Introspector::builder(
///     "https://as.example/introspect",
///     ClientCredentials::basic("notes-rs", "secret"),
/// )
/// .config(IntrospectionConfig::default().ttl(Duration::from_secs(10)))
/// .build()?;
/// # let _ = introspector;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Introspector {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Introspector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Introspector")
            .field("endpoint", &self.inner.endpoint.as_str())
            .field("client_id", &self.inner.credentials.client_id)
            .field("method", &self.inner.method)
            .field("ttl", &self.inner.config.ttl)
            .finish_non_exhaustive()
    }
}

struct Inner {
    endpoint: Url,
    http: Http,
    credentials: ClientCredentials,
    method: ClientAuthMethod,
    config: IntrospectionConfig,
    answers: Cache<TokenKey, Cached>,
    in_flight: Mutex<HashMap<TokenKey, Flight>>,
}

#[derive(Clone)]
struct Cached {
    status: TokenStatus,
    until: Instant,
}

/// Configuration of an [`Introspector`].
#[derive(Debug)]
#[must_use]
pub struct IntrospectorBuilder {
    endpoint: String,
    credentials: ClientCredentials,
    auth_methods_supported: Option<Vec<String>>,
    config: IntrospectionConfig,
    http: HttpOptions,
}

impl IntrospectorBuilder {
    /// Replaces the cache configuration.
    pub fn config(mut self, config: IntrospectionConfig) -> Self {
        self.config = config;
        self
    }

    /// Shortcut for the TTL (see [`IntrospectionConfig::ttl`]).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.config.ttl = ttl;
        self
    }

    /// Replaces the HTTP settings.
    pub fn http(mut self, http: HttpOptions) -> Self {
        self.http = http;
        self
    }

    /// The server's `introspection_endpoint_auth_methods_supported`, used when the credentials
    /// do not fix a method.
    pub fn auth_methods_supported(mut self, methods: Option<Vec<String>>) -> Self {
        self.auth_methods_supported = methods;
        self
    }

    /// Builds the introspector (no request is made).
    pub fn build(self) -> Result<Introspector, FetchError> {
        let http = self.http.build()?;
        Introspector::from_parts(
            &self.endpoint,
            self.credentials,
            self.auth_methods_supported.as_deref(),
            self.config,
            http,
        )
    }
}

impl Introspector {
    /// Starts an introspector for `endpoint`, authenticating with `credentials`.
    pub fn builder(
        endpoint: impl Into<String>,
        credentials: ClientCredentials,
    ) -> IntrospectorBuilder {
        IntrospectorBuilder {
            endpoint: endpoint.into(),
            credentials,
            auth_methods_supported: None,
            config: IntrospectionConfig::default(),
            http: HttpOptions::default(),
        }
    }

    pub(crate) fn from_parts(
        endpoint: &str,
        credentials: ClientCredentials,
        auth_methods_supported: Option<&[String]>,
        config: IntrospectionConfig,
        http: Http,
    ) -> Result<Self, FetchError> {
        let endpoint = http.endpoint(endpoint)?;
        let method = credentials.resolve_method(auth_methods_supported);
        Ok(Introspector {
            inner: Arc::new(Inner {
                endpoint,
                http,
                credentials,
                method,
                answers: Cache::new(config.capacity.max(1)),
                config,
                in_flight: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The introspection endpoint.
    pub fn endpoint(&self) -> &str {
        self.inner.endpoint.as_str()
    }

    /// The client authentication method in use.
    pub fn method(&self) -> ClientAuthMethod {
        self.inner.method
    }

    /// The configuration.
    pub fn config(&self) -> &IntrospectionConfig {
        &self.inner.config
    }

    /// A [`TokenVerifier`] for opaque tokens, backed by this introspector.
    pub fn verifier(&self) -> IntrospectionVerifier {
        IntrospectionVerifier::new(self.clone())
    }

    /// The status of `token`: from the cache when answered less than the TTL ago (and before
    /// its `exp`), else from the endpoint, sharing a call already in flight for the same token.
    pub async fn status(&self, token: &str) -> Result<TokenStatus, FetchError> {
        let key: TokenKey = Sha256::digest(token.as_bytes()).into();
        if let Some(cached) = self.inner.answers.get(&key) {
            let now = Instant::now();
            if now < cached.until {
                metrics::counter!(metric::INTROSPECTION_CACHE_HITS_TOTAL).increment(1);
                return Ok(cached.status);
            }
            // Only this expired answer: a fresh one may have replaced it meanwhile.
            self.inner.answers.remove_if(&key, |c| c.until <= now);
        }
        let (flight, leader) = {
            let mut in_flight = self
                .inner
                .in_flight
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            // A flight may have completed (and cached its answer) since the look-up above.
            if let Some(cached) = self.inner.answers.get(&key)
                && Instant::now() < cached.until
            {
                metrics::counter!(metric::INTROSPECTION_CACHE_HITS_TOTAL).increment(1);
                return Ok(cached.status);
            }
            match in_flight.get(&key) {
                Some(flight) => (flight.clone(), None),
                None => {
                    let (sender, receiver) = tokio::sync::oneshot::channel();
                    let url = self.inner.endpoint.to_string();
                    let flight: Flight = async move {
                        receiver.await.unwrap_or_else(|_| {
                            Err(FetchError::Unreachable {
                                url,
                                reason: "the introspection call was cancelled".into(),
                            })
                        })
                    }
                    .boxed()
                    .shared();
                    in_flight.insert(key, flight.clone());
                    (flight, Some(sender))
                }
            }
        };
        if let Some(sender) = leader {
            let work = self.flight(key, token, sender);
            // On its own task, so that the call completes (and is cached) even if every waiting
            // request is cancelled; without a Tokio runtime, this request drives it.
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => drop(runtime.spawn(work)),
                Err(_) => work.await,
            }
        }
        flight.await
    }

    /// The work of a new flight: call, cache, answer the waiters, leave the in-flight map.
    fn flight(
        &self,
        key: TokenKey,
        token: &str,
        sender: tokio::sync::oneshot::Sender<Result<TokenStatus, FetchError>>,
    ) -> impl Future<Output = ()> + Send + 'static {
        let inner = self.inner.clone();
        let token = token.to_owned();
        let landing = Landing {
            inner: inner.clone(),
            key,
        };
        async move {
            // Dropped last, or when the work is dropped unfinished.
            let _landing = landing;
            let started = Instant::now();
            let result = inner.call(&token).await;
            metrics::histogram!(metric::INTROSPECTION_DURATION_SECONDS)
                .record(started.elapsed().as_secs_f64());
            match &result {
                Ok(TokenStatus::Active(_)) => {
                    metrics::counter!(metric::INTROSPECTION_REQUESTS_TOTAL, "outcome" => "active")
                        .increment(1)
                }
                Ok(TokenStatus::Inactive) => {
                    metrics::counter!(metric::INTROSPECTION_REQUESTS_TOTAL, "outcome" => "inactive")
                        .increment(1)
                }
                Err(_) => {
                    metrics::counter!(metric::INTROSPECTION_REQUESTS_TOTAL, "outcome" => "error")
                        .increment(1)
                }
            }
            if let Ok(status) = &result {
                inner.remember(key, status);
            }
            let _ = sender.send(result);
        }
    }
}

/// Removes a flight from the in-flight map when its work ends, however it ends.
struct Landing {
    inner: Arc<Inner>,
    key: TokenKey,
}

impl Drop for Landing {
    fn drop(&mut self) {
        self.inner
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.key);
    }
}

impl Inner {
    async fn call(&self, token: &str) -> Result<TokenStatus, FetchError> {
        let url = &self.endpoint;
        let credentials = &self.credentials;
        let mut form: Vec<(&str, &str)> =
            vec![("token", token), ("token_type_hint", "access_token")];
        let mut request = self.http.post(url);
        match self.method {
            ClientAuthMethod::ClientSecretBasic => {
                let value = HeaderValue::from_str(&basic_authorization(
                    &credentials.client_id,
                    &credentials.client_secret,
                ))
                .map_err(|_| FetchError::InvalidUrl {
                    url: url.to_string(),
                    reason: "the client credentials do not fit an HTTP header".into(),
                })?;
                request = request.header(AUTHORIZATION, value);
            }
            ClientAuthMethod::ClientSecretPost => {
                form.push(("client_id", &credentials.client_id));
                form.push(("client_secret", &credentials.client_secret));
            }
        }
        let response = self.http.send(url, request.form(&form)).await?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(FetchError::CredentialsRejected {
                url: url.to_string(),
                status: status.as_u16(),
            });
        }
        if !status.is_success() {
            let body = self
                .http
                .read_bounded(url, response, 16 * 1024)
                .await
                .unwrap_or_default();
            return Err(FetchError::Status {
                url: url.to_string(),
                status: status.as_u16(),
                detail: oauth_error_detail(&body),
            });
        }
        let body = self
            .http
            .read_bounded(url, response, self.config.max_response_bytes)
            .await?;
        TokenStatus::from_response(&body).map_err(|reason| FetchError::InvalidDocument {
            url: url.to_string(),
            reason,
        })
    }

    /// Caches an answer for `min(ttl, exp − now)`.
    fn remember(&self, key: TokenKey, status: &TokenStatus) {
        let mut lifetime = self.config.ttl;
        if let TokenStatus::Active(response) = status
            && let Some(exp) = response.get("exp").and_then(Value::as_f64)
            && let Ok(exp) = Duration::try_from_secs_f64(exp.max(0.0))
            && let Some(exp) = UNIX_EPOCH.checked_add(exp)
        {
            let remaining = exp
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO);
            lifetime = lifetime.min(remaining);
        }
        if lifetime.is_zero() {
            return;
        }
        self.answers.insert(
            key,
            Cached {
                status: status.clone(),
                until: crate::later(lifetime),
            },
        );
    }
}

/// Logs a failed introspection (by token fingerprint) and turns it into the denial a client
/// sees: `authorization_unavailable`, without internal details.
fn unavailable(error: &FetchError, token_fingerprint: &str) -> Denial {
    if matches!(error, FetchError::CredentialsRejected { .. }) {
        tracing::error!(token = token_fingerprint, %error, "token introspection failed");
    } else {
        tracing::warn!(token = token_fingerprint, %error, "token introspection failed");
    }
    Denial::authorization_unavailable(
        "the authorization server could not confirm that the token is active; retry later",
    )
}

#[async_trait]
impl RevocationCheck for Introspector {
    async fn check(&self, token: &str, principal: &Principal) -> Result<(), Denial> {
        match self.status(token).await {
            Ok(TokenStatus::Active(_)) => Ok(()),
            Ok(TokenStatus::Inactive) => Err(Denial::token_revoked()),
            Err(error) => Err(unavailable(&error, principal.token_fingerprint())),
        }
    }
}

/// Check 1 for opaque tokens: the token is whatever the introspection endpoint says.
///
/// `active: true` gives [`Claims`] built from the response (source
/// [`TokenSource::Introspection`]); the Guard then checks the audience and scopes. The response
/// must carry an `aud` (unless [`allow_missing_audience`](Self::allow_missing_audience)), its
/// `iss`, when present, must be the issuer, and its `exp`/`nbf` must hold.
///
/// The Guard caches verified tokens until their `exp`; with this verifier that cache would
/// outlive revocation, so build the Guard with `.token_cache_capacity(0)` (as
/// [`RemoteIssuer::apply`](crate::RemoteIssuer::apply) does) and let the introspection TTL do
/// the caching.
#[derive(Clone, Debug)]
pub struct IntrospectionVerifier {
    introspector: Introspector,
    issuer: Option<String>,
    require_audience: bool,
    leeway: u64,
}

impl IntrospectionVerifier {
    /// A verifier asking `introspector`.
    pub fn new(introspector: Introspector) -> Self {
        IntrospectionVerifier {
            introspector,
            issuer: None,
            require_audience: true,
            leeway: DEFAULT_LEEWAY_SECONDS,
        }
    }

    /// An `iss` in the response must equal `issuer`.
    #[must_use]
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Accepts responses without `aud` (for servers that omit it). The token is then accepted
    /// by any resource server using this authorization server.
    #[must_use]
    pub fn allow_missing_audience(mut self) -> Self {
        self.require_audience = false;
        self
    }

    /// Clock leeway for `exp` and `nbf`, in seconds (default 30).
    #[must_use]
    pub fn leeway(mut self, seconds: u64) -> Self {
        self.leeway = seconds;
        self
    }

    /// The introspector.
    pub fn introspector(&self) -> &Introspector {
        &self.introspector
    }

    fn claims(&self, response: &Map<String, Value>) -> Result<Claims, Denial> {
        let claims =
            Claims::from_map(response.clone(), TokenSource::Introspection).map_err(|why| {
                tracing::warn!(%why, "malformed introspection response");
                Denial::authorization_unavailable(
                    "the authorization server's introspection response is malformed",
                )
            })?;
        if let (Some(expected), Some(found)) = (&self.issuer, &claims.issuer)
            && expected != found
        {
            return Err(Denial::invalid_token(format!(
                "the token was issued by {:?}, not {expected:?}",
                truncate(found)
            )));
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if claims
            .expires_at
            .is_some_and(|exp| now >= exp.saturating_add(self.leeway))
        {
            return Err(Denial::invalid_token("the token has expired"));
        }
        if claims
            .not_before
            .is_some_and(|nbf| nbf > now.saturating_add(self.leeway))
        {
            return Err(Denial::invalid_token("the token is not valid yet (nbf)"));
        }
        if self.require_audience && claims.audience.is_empty() {
            return Err(Denial::invalid_token(
                "the introspection response names no audience for the token",
            ));
        }
        Ok(claims)
    }
}

#[async_trait]
impl TokenVerifier for IntrospectionVerifier {
    async fn verify(&self, token: &str) -> Result<Claims, Denial> {
        if token.len() > DEFAULT_MAX_TOKEN_BYTES {
            return Err(Denial::invalid_token(format!(
                "the token is larger than {DEFAULT_MAX_TOKEN_BYTES} bytes"
            )));
        }
        match self.introspector.status(token).await {
            Ok(TokenStatus::Active(response)) => self.claims(&response),
            Ok(TokenStatus::Inactive) => Err(Denial::token_revoked()),
            Err(error) => Err(unavailable(&error, &fingerprint(token))),
        }
    }
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(64) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_urlencoded_before_base64() {
        // RFC 6749 §2.3.1 / appendix B: "a b:c" becomes "a+b%3Ac".
        let header = basic_authorization("rs:1", "s3cr et/+%");
        let encoded = header.strip_prefix("Basic ").unwrap();
        let decoded = String::from_utf8(STANDARD.decode(encoded).unwrap()).unwrap();
        assert_eq!(decoded, "rs%3A1:s3cr+et%2F%2B%25");
        assert_eq!(
            basic_authorization("notes-rs", "notes-rs-secret"),
            format!("Basic {}", STANDARD.encode("notes-rs:notes-rs-secret"))
        );
    }

    #[test]
    fn only_boolean_true_is_active() {
        let status = |body: &str| TokenStatus::from_response(body.as_bytes()).unwrap();
        assert!(status(r#"{"active":true,"sub":"a"}"#).is_active());
        assert!(!status(r#"{"active":false}"#).is_active());
        assert!(!status(r#"{"active":"true"}"#).is_active());
        assert!(!status(r#"{"active":1}"#).is_active());
        assert!(!status(r#"{"sub":"a"}"#).is_active());
        assert!(TokenStatus::from_response(b"[true]").is_err());
        assert!(TokenStatus::from_response(b"active").is_err());
    }

    #[test]
    fn method_follows_the_server_unless_fixed() {
        let creds = ClientCredentials::new("id", "secret");
        let list = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            creds.resolve_method(None),
            ClientAuthMethod::ClientSecretBasic
        );
        assert_eq!(
            creds.resolve_method(Some(&list(&["client_secret_post"]))),
            ClientAuthMethod::ClientSecretPost
        );
        assert_eq!(
            creds.resolve_method(Some(&list(&["client_secret_post", "client_secret_basic"]))),
            ClientAuthMethod::ClientSecretBasic
        );
        assert_eq!(
            ClientCredentials::post("id", "s").resolve_method(None),
            ClientAuthMethod::ClientSecretPost
        );
    }

    #[test]
    fn debug_output_hides_secrets_and_claims() {
        let creds = format!("{:?}", ClientCredentials::basic("id", "hunter2"));
        assert!(!creds.contains("hunter2"), "{creds}");
        let status = TokenStatus::from_response(br#"{"active":true,"username":"alice"}"#).unwrap();
        assert_eq!(format!("{status:?}"), "Active(..)");
    }
}
