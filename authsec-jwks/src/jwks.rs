//! The issuer's signing keys: a JWKS fetched over HTTP, cached, and refreshed on rotation.
//!
//! [`JwksCache`] is the [`KeyResolver`] behind a [`JwtVerifier`](authsec_core::JwtVerifier):
//!
//! - **Freshness.** A fetched key set is fresh for the response's `Cache-Control: max-age`
//!   (minus `Age`), clamped to [`JwksConfig::min_ttl`]..[`JwksConfig::max_ttl`], or
//!   [`JwksConfig::default_ttl`] when the header is absent.
//! - **Stale keys keep working.** A request whose key is in a stale set is answered at once from
//!   it while a background task refetches; if the authorization server is down, the cached keys
//!   go on verifying tokens.
//! - **Rotation.** A `kid` not in the set triggers a refetch, as a single flight (concurrent
//!   requests for unknown kids share one fetch), at most once per
//!   [`JwksConfig::min_refetch_interval`]. A kid still unknown after a fetch is remembered for
//!   [`JwksConfig::unknown_kid_ttl`] (negative cache), so neither a repeated bogus kid nor a
//!   flood of random ones makes more fetches than that rate.
//! - **Failure.** Only a key that is not cached *and* could not be fetched is
//!   [`KeyLookupError::Unavailable`] (HTTP 503 `authorization_unavailable` in the Guard); a kid
//!   the issuer does not publish is [`KeyLookupError::UnknownKid`] (`invalid_token`).
//! - **Locks.** Requests served from the cache take a read lock for the time of an `Arc` clone;
//!   only requests that need a fetch wait for it.
//! - **Bounds.** Every fetch has a timeout ([`HttpOptions::timeout`]) and a size limit
//!   ([`JwksConfig::max_document_bytes`]); keys of unknown type or that cannot be used are
//!   skipped, not fatal to the set.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use authsec_core::jsonwebtoken::Algorithm;
use authsec_core::jsonwebtoken::jwk::Jwk;
use authsec_core::jwt::select_key;
use authsec_core::metric;
use authsec_core::{KeyLookupError, KeyResolver, VerificationKey};
use quick_cache::sync::Cache;
use reqwest::header::{AGE, CACHE_CONTROL, HeaderMap};
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use crate::error::FetchError;
use crate::fetch::{Http, HttpOptions, oauth_error_detail};

/// A `kid` longer than this is never looked up remotely (real key ids are short).
const MAX_KID_BYTES: usize = 256;

/// How the JWKS is cached and refetched. Start from [`JwksConfig::default`] and change what you
/// need:
///
/// ```
/// use std::time::Duration;
/// use authsec_jwks::JwksConfig;
///
/// let config = JwksConfig::default()
///     .min_refetch_interval(Duration::from_secs(30))
///     .max_ttl(Duration::from_secs(3600));
/// assert_eq!(config.default_ttl, Duration::from_secs(300));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[must_use]
pub struct JwksConfig {
    /// Freshness when the response has no `Cache-Control: max-age` (default 5 min).
    pub default_ttl: Duration,
    /// Lower bound on freshness, whatever the header says (default 60 s).
    pub min_ttl: Duration,
    /// Upper bound on freshness, whatever the header says (default 24 h).
    pub max_ttl: Duration,
    /// Least time between two fetches caused by unknown kids or failures (default 10 s). A key
    /// rotated in less than this after the previous fetch is seen once the interval has passed.
    pub min_refetch_interval: Duration,
    /// How long a kid found missing after a fetch is answered "unknown" without a new fetch
    /// (default 60 s).
    pub unknown_kid_ttl: Duration,
    /// How many unknown kids are remembered (default 10 000).
    pub unknown_kid_capacity: usize,
    /// Largest JWKS document accepted, in bytes (default 256 KiB).
    pub max_document_bytes: usize,
}

impl Default for JwksConfig {
    fn default() -> Self {
        JwksConfig {
            default_ttl: Duration::from_secs(300),
            min_ttl: Duration::from_secs(60),
            max_ttl: Duration::from_secs(24 * 3600),
            min_refetch_interval: Duration::from_secs(10),
            unknown_kid_ttl: Duration::from_secs(60),
            unknown_kid_capacity: 10_000,
            max_document_bytes: 256 * 1024,
        }
    }
}

impl JwksConfig {
    /// Sets [`default_ttl`](Self::default_ttl).
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.default_ttl = ttl;
        self
    }

    /// Sets [`min_ttl`](Self::min_ttl).
    pub fn min_ttl(mut self, ttl: Duration) -> Self {
        self.min_ttl = ttl;
        self
    }

    /// Sets [`max_ttl`](Self::max_ttl).
    pub fn max_ttl(mut self, ttl: Duration) -> Self {
        self.max_ttl = ttl;
        self
    }

    /// Sets [`min_refetch_interval`](Self::min_refetch_interval).
    pub fn min_refetch_interval(mut self, interval: Duration) -> Self {
        self.min_refetch_interval = interval;
        self
    }

    /// Sets [`unknown_kid_ttl`](Self::unknown_kid_ttl).
    pub fn unknown_kid_ttl(mut self, ttl: Duration) -> Self {
        self.unknown_kid_ttl = ttl;
        self
    }

    /// Sets [`unknown_kid_capacity`](Self::unknown_kid_capacity).
    pub fn unknown_kid_capacity(mut self, capacity: usize) -> Self {
        self.unknown_kid_capacity = capacity;
        self
    }

    /// Sets [`max_document_bytes`](Self::max_document_bytes).
    pub fn max_document_bytes(mut self, bytes: usize) -> Self {
        self.max_document_bytes = bytes;
        self
    }

    /// The freshness of a response with these headers.
    fn ttl_for(&self, headers: &HeaderMap) -> Duration {
        let ttl = cache_lifetime(headers).unwrap_or(self.default_ttl);
        // Not `clamp`: it panics when min > max.
        ttl.max(self.min_ttl).min(self.max_ttl)
    }
}

/// A JWKS fetched from the issuer, cached and refreshed; the [`KeyResolver`] for JWT access
/// tokens. Cheap to clone (clones share the cache).
///
/// ```no_run
/// use authsec_core::{JwtRules, JwtVerifier};
/// use authsec_jwks::JwksCache;
///
/// # fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let keys = JwksCache::new("https://as.example/jwks")?;
/// let verifier = JwtVerifier::new(JwtRules::new("https://as.example"), keys)?;
/// # let _ = verifier;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct JwksCache {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache")
            .field("uri", &self.inner.uri.as_str())
            .field("keys", &self.keys().len())
            .finish_non_exhaustive()
    }
}

struct Inner {
    uri: Url,
    http: Http,
    config: JwksConfig,
    /// The current key set. Read locks last an `Arc` clone; never held across I/O.
    current: RwLock<Option<Arc<KeySet>>>,
    /// Serialises fetches (single flight). Only requests that need a fetch take it.
    fetch: tokio::sync::Mutex<FetchState>,
    /// Number of completed fetch attempts: lets a waiter see that a fetch ran meanwhile.
    attempts: AtomicU64,
    /// A background refresh is scheduled or running.
    background: AtomicBool,
    /// Kids found missing after a fetch, with when.
    unknown_kids: Cache<String, Instant>,
}

struct KeySet {
    keys: Vec<Arc<VerificationKey>>,
    fresh_until: Instant,
}

#[derive(Default)]
struct FetchState {
    last_attempt: Option<Instant>,
    last_error: Option<FetchError>,
}

impl JwksCache {
    /// A cache of the JWKS at `jwks_uri`, with the default [`JwksConfig`] and [`HttpOptions`].
    /// Nothing is fetched until a key is needed (or [`refresh`](Self::refresh) is called).
    pub fn new(jwks_uri: impl AsRef<str>) -> Result<Self, FetchError> {
        Self::with_config(jwks_uri, JwksConfig::default(), &HttpOptions::default())
    }

    /// A cache of the JWKS at `jwks_uri` with this configuration.
    pub fn with_config(
        jwks_uri: impl AsRef<str>,
        config: JwksConfig,
        http: &HttpOptions,
    ) -> Result<Self, FetchError> {
        Self::from_parts(jwks_uri.as_ref(), config, http.build()?)
    }

    pub(crate) fn from_parts(
        jwks_uri: &str,
        config: JwksConfig,
        http: Http,
    ) -> Result<Self, FetchError> {
        let uri = http.endpoint(jwks_uri)?;
        let unknown_kids = Cache::new(config.unknown_kid_capacity.max(1));
        Ok(JwksCache {
            inner: Arc::new(Inner {
                uri,
                http,
                config,
                current: RwLock::new(None),
                fetch: tokio::sync::Mutex::new(FetchState::default()),
                attempts: AtomicU64::new(0),
                background: AtomicBool::new(false),
                unknown_kids,
            }),
        })
    }

    /// The JWKS URL.
    pub fn uri(&self) -> &str {
        self.inner.uri.as_str()
    }

    /// The configuration.
    pub fn config(&self) -> &JwksConfig {
        &self.inner.config
    }

    /// The keys currently cached (possibly stale; empty before the first fetch).
    pub fn keys(&self) -> Vec<Arc<VerificationKey>> {
        self.inner
            .snapshot()
            .map(|set| set.keys.clone())
            .unwrap_or_default()
    }

    /// Fetches the JWKS now, whatever its freshness and the refetch interval (e.g. to warm the
    /// cache at start-up and fail early on a wrong URL). Concurrent calls share one fetch.
    /// Returns the number of usable keys.
    pub async fn refresh(&self) -> Result<usize, FetchError> {
        let seen = self.inner.attempts.load(Ordering::Acquire);
        let mut state = self.inner.fetch.lock().await;
        let set = if self.inner.attempts.load(Ordering::Acquire) != seen {
            self.inner.outcome_of_last_fetch(&state)?
        } else {
            self.inner.fetch_now(&mut state).await?
        };
        Ok(set.keys.len())
    }
}

impl Inner {
    fn snapshot(&self) -> Option<Arc<KeySet>> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether `kid` was found missing less than `unknown_kid_ttl` ago.
    fn known_unknown(&self, kid: &str) -> bool {
        match self.unknown_kids.get(kid) {
            Some(since) if since.elapsed() < self.config.unknown_kid_ttl => true,
            Some(_) => {
                self.unknown_kids.remove(kid);
                false
            }
            None => false,
        }
    }

    /// What the last fetch left: its key set, or its error.
    fn outcome_of_last_fetch(&self, state: &FetchState) -> Result<Arc<KeySet>, FetchError> {
        match (&state.last_error, self.snapshot()) {
            (Some(error), _) => Err(error.clone()),
            (None, Some(set)) => Ok(set),
            (None, None) => Err(FetchError::Unreachable {
                url: self.uri.to_string(),
                reason: "the key set has not been fetched yet".into(),
            }),
        }
    }

    /// A fetch for a request whose key is not cached: one at a time, and none if one ran less
    /// than `min_refetch_interval` ago (then that fetch's outcome answers).
    async fn fetch_for_miss(&self, seen: u64) -> Result<Arc<KeySet>, FetchError> {
        let mut state = self.fetch.lock().await;
        if self.attempts.load(Ordering::Acquire) != seen {
            // Another request fetched while this one waited: share its outcome.
            return self.outcome_of_last_fetch(&state);
        }
        if let Some(last) = state.last_attempt
            && last.elapsed() < self.config.min_refetch_interval
        {
            return self.outcome_of_last_fetch(&state);
        }
        self.fetch_now(&mut state).await
    }

    /// Fetches, installs the result, and records the attempt. The caller holds the fetch lock.
    async fn fetch_now(&self, state: &mut FetchState) -> Result<Arc<KeySet>, FetchError> {
        // Recorded only once the download completes: a request cancelled mid-fetch leaves the
        // next waiter free to fetch.
        let started = Instant::now();
        let result = self.download().await;
        state.last_attempt = Some(started);
        let outcome = match result {
            Ok(set) => {
                metrics::counter!(metric::JWKS_REFRESHES_TOTAL).increment(1);
                let set = Arc::new(set);
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = Some(set.clone());
                state.last_error = None;
                Ok(set)
            }
            Err(error) => {
                metrics::counter!(metric::JWKS_REFRESH_FAILURES_TOTAL).increment(1);
                tracing::warn!(jwks_uri = %self.uri, %error, "JWKS fetch failed; cached keys stay in use");
                state.last_error = Some(error.clone());
                Err(error)
            }
        };
        self.attempts.fetch_add(1, Ordering::AcqRel);
        outcome
    }

    async fn download(&self) -> Result<KeySet, FetchError> {
        let url = &self.uri;
        let response = self.http.send(url, self.http.get(url)).await?;
        let status = response.status();
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
        let ttl = self.config.ttl_for(response.headers());
        let body = self
            .http
            .read_bounded(url, response, self.config.max_document_bytes)
            .await?;
        let (keys, skipped) = parse_jwks(&body).map_err(|reason| FetchError::InvalidDocument {
            url: url.to_string(),
            reason,
        })?;
        if !skipped.is_empty() {
            tracing::debug!(jwks_uri = %url, skipped = ?skipped, "JWKS keys skipped");
        }
        if keys.is_empty() {
            tracing::warn!(jwks_uri = %url, "the JWKS has no usable signature key");
        }
        tracing::debug!(jwks_uri = %url, keys = keys.len(), ttl = ?ttl, "JWKS fetched");
        Ok(KeySet {
            keys,
            fresh_until: crate::later(ttl),
        })
    }

    /// Starts a background refetch of a stale set, unless one is pending, a fetch is running,
    /// or the last attempt is too recent. Never waits.
    fn refresh_in_background(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.background.swap(true, Ordering::AcqRel) {
            return;
        }
        let inner = self.clone();
        // Clears the flag even if the task is dropped unpolled (runtime shutting down).
        let pending = BackgroundPending(self.clone());
        runtime.spawn(async move {
            let _pending = pending;
            if let Ok(mut state) = inner.fetch.try_lock() {
                let stale = inner
                    .snapshot()
                    .is_none_or(|set| Instant::now() >= set.fresh_until);
                // A set that went stale after a successful fetch is refetched at once; after a
                // failure, retries wait for the refetch interval.
                let due = state.last_error.is_none()
                    || state
                        .last_attempt
                        .is_none_or(|last| last.elapsed() >= inner.config.min_refetch_interval);
                if stale && due {
                    let _ = inner.fetch_now(&mut state).await;
                }
            }
        });
    }
}

struct BackgroundPending(Arc<Inner>);

impl Drop for BackgroundPending {
    fn drop(&mut self) {
        self.0.background.store(false, Ordering::Release);
    }
}

#[async_trait]
impl KeyResolver for JwksCache {
    async fn resolve(
        &self,
        kid: Option<&str>,
        algorithm: Algorithm,
    ) -> Result<Arc<VerificationKey>, KeyLookupError> {
        let inner = &self.inner;
        // Read before the snapshot, so a fetch completing after it is noticed.
        let seen = inner.attempts.load(Ordering::Acquire);
        if let Some(set) = inner.snapshot() {
            if let Ok(key) = select_key(&set.keys, kid, algorithm) {
                if Instant::now() >= set.fresh_until {
                    inner.refresh_in_background();
                }
                return Ok(key);
            }
            if let Some(kid) = kid
                && (kid.len() > MAX_KID_BYTES || inner.known_unknown(kid))
            {
                return Err(KeyLookupError::UnknownKid(kid.to_owned()));
            }
        }
        match inner.fetch_for_miss(seen).await {
            Ok(set) => select_key(&set.keys, kid, algorithm).inspect_err(|_| {
                if let Some(kid) = kid
                    && kid.len() <= MAX_KID_BYTES
                {
                    inner.unknown_kids.insert(kid.to_owned(), Instant::now());
                }
            }),
            Err(error) => Err(KeyLookupError::Unavailable(error.to_string())),
        }
    }
}

/// How long a response may be cached, from `Cache-Control` (and `Age`). `no-store` and
/// `no-cache` count as zero (the configured minimum then applies).
fn cache_lifetime(headers: &HeaderMap) -> Option<Duration> {
    let mut max_age: Option<u64> = None;
    for value in headers.get_all(CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',') {
            let directive = directive.trim();
            let (name, argument) = match directive.split_once('=') {
                Some((name, argument)) => (name.trim(), Some(argument.trim().trim_matches('"'))),
                None => (directive, None),
            };
            if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
                return Some(Duration::ZERO);
            }
            if name.eq_ignore_ascii_case("max-age")
                && let Some(seconds) = argument.and_then(|a| a.parse::<u64>().ok())
            {
                max_age = Some(max_age.map_or(seconds, |m| m.min(seconds)));
            }
        }
    }
    let age = headers
        .get(AGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    max_age.map(|max_age| Duration::from_secs(max_age.saturating_sub(age)))
}

/// The usable signature keys of a JWKS document, and a note for each key skipped.
fn parse_jwks(body: &[u8]) -> Result<(Vec<Arc<VerificationKey>>, Vec<String>), String> {
    #[derive(Deserialize)]
    struct Document {
        keys: Vec<Value>,
    }
    let document: Document = serde_json::from_slice(body)
        .map_err(|e| format!("not a JWK Set (a JSON object with a \"keys\" array): {e}"))?;
    let mut keys = Vec::with_capacity(document.keys.len());
    let mut skipped = Vec::new();
    for (index, value) in document.keys.into_iter().enumerate() {
        let name = value
            .get("kid")
            .and_then(Value::as_str)
            .map_or_else(|| format!("#{index}"), |kid| format!("{kid:?}"));
        let jwk: Jwk = match serde_json::from_value(value) {
            Ok(jwk) => jwk,
            Err(e) => {
                skipped.push(format!("{name}: not a supported JWK ({e})"));
                continue;
            }
        };
        match VerificationKey::from_jwk(&jwk) {
            Ok(key) => keys.push(Arc::new(key)),
            Err(why) => skipped.push(format!("{name}: {why}")),
        }
    }
    Ok((keys, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                reqwest::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn max_age_is_read_and_bounded() {
        let config = JwksConfig::default();
        let ttl = |pairs: &[(&str, &str)]| config.ttl_for(&headers(pairs));
        assert_eq!(
            ttl(&[("cache-control", "public, max-age=600")]),
            Duration::from_secs(600)
        );
        assert_eq!(
            ttl(&[("cache-control", "max-age=600"), ("age", "100")]),
            Duration::from_secs(500)
        );
        assert_eq!(ttl(&[]), Duration::from_secs(300));
        assert_eq!(
            ttl(&[("cache-control", "max-age=5")]),
            Duration::from_secs(60)
        );
        assert_eq!(
            ttl(&[("cache-control", "no-store")]),
            Duration::from_secs(60)
        );
        assert_eq!(
            ttl(&[("cache-control", "max-age=999999999")]),
            Duration::from_secs(86_400)
        );
        assert_eq!(
            ttl(&[("cache-control", "max-age=oops")]),
            Duration::from_secs(300)
        );
    }

    #[test]
    fn inverted_bounds_do_not_panic() {
        let config = JwksConfig::default()
            .min_ttl(Duration::from_secs(100))
            .max_ttl(Duration::from_secs(10));
        assert_eq!(config.ttl_for(&HeaderMap::new()), Duration::from_secs(10));
    }

    #[test]
    fn unusable_keys_are_skipped_not_fatal() {
        // The P-256 key is RFC 7517 appendix A.1's.
        let body = br#"{"keys":[
            {"kty":"EC","crv":"P-256","kid":"good","use":"sig",
             "x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4",
             "y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"},
            {"kty":"EC","crv":"P-256","kid":"enc","use":"enc",
             "x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4",
             "y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"},
            {"kty":"oct","kid":"hmac","k":"c2VjcmV0"},
            {"kty":"PQC","kid":"future","pub":"AAAA"},
            {"kid":"no-kty"},
            "not even an object"
        ]}"#;
        let (keys, skipped) = parse_jwks(body).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid(), Some("good"));
        assert_eq!(keys[0].algorithms(), [Algorithm::ES256]);
        assert_eq!(skipped.len(), 5, "{skipped:?}");
    }

    #[test]
    fn a_document_without_keys_is_invalid() {
        assert!(parse_jwks(br#"{"kty":"RSA"}"#).is_err());
        assert!(parse_jwks(b"<html>").is_err());
        assert_eq!(parse_jwks(br#"{"keys":[]}"#).unwrap().0.len(), 0);
    }
}
