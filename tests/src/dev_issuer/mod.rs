//! **authsec dev issuer**: a local OAuth 2.1 authorization server for tests
//! and demos.
//!
//! # NOT FOR PRODUCTION
//!
//! This server logs every user in without asking anything (headless
//! auto-consent), keeps everything in memory, accepts any scope, and offers
//! helpers that forge hostile tokens. It only ever binds a loopback address.
//! Use it to exercise resource servers and clients, never to protect
//! anything.
//!
//! # What it implements
//!
//! * RFC 8414 metadata at `/.well-known/oauth-authorization-server` and the
//!   same document at `/.well-known/openid-configuration`;
//! * JWKS at `/jwks` (with `Cache-Control: max-age`), key rotation
//!   ([`DevIssuer::rotate_keys`], [`DevIssuer::retire_old_keys`]);
//! * `/authorize`: authorization code with PKCE `S256` only, RFC 8707
//!   `resource`, RFC 9207 `iss` in the redirect, headless auto-consent
//!   controlled with [`DevIssuer::set_consent`];
//! * `/token`: `authorization_code`, `refresh_token` (rotating, reuse
//!   detection), `client_credentials`, RFC 8693 token exchange (confidential
//!   clients, access tokens only); client authentication `none`,
//!   `client_secret_basic`, `client_secret_post`;
//! * RFC 9068 JWT access tokens (or opaque ones, see
//!   [`AccessTokenFormat`]);
//! * `/register` (RFC 7591), `/introspect` (RFC 7662), `/revoke` (RFC 7009);
//! * counters of the requests each endpoint received, switches that make
//!   endpoints answer 503 or slowly, and [`DevIssuer::shutdown`] so tests can
//!   see an unreachable authorization server;
//! * [`DevIssuer::mint`]: tokens signed by the issuer's keys without HTTP,
//!   with every claim and header settable, and hostile variants (`alg:
//!   none`, HS256 keyed with the RSA public key, foreign keys, unknown `kid`,
//!   `jku`/`jwk`/`x5u`, oversized tokens) plus [`garbage_token`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), authsec_tests::dev_issuer::DevIssuerError> {
//! use authsec_tests::dev_issuer::{Consent, DevIssuer};
//!
//! let issuer = DevIssuer::start().await?;
//! issuer.set_consent(Consent { acr: Some("mfa".into()), ..Consent::default() });
//! let token = issuer
//!     .mint()
//!     .aud("http://127.0.0.1:3000/mcp")
//!     .scope("notes:read")
//!     .sign();
//! # let _ = token;
//! issuer.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod config;
mod endpoints;
mod jwt;
mod keys;
mod mint;
mod oauth;
mod tokens;

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::{
    AccessTokenFormat, ClientAuthMethod, ClientRegistration, Consent,
    DEFAULT_INTROSPECTION_CLIENT_ID, DEFAULT_INTROSPECTION_CLIENT_SECRET, DEFAULT_PUBLIC_CLIENT_ID,
    DEFAULT_PUBLIC_CLIENT_REDIRECT_URI, DevIssuerConfig, GRANT_AUTHORIZATION_CODE,
    GRANT_CLIENT_CREDENTIALS, GRANT_REFRESH_TOKEN,
};
pub use keys::{PublicKeyFormat, SigningAlgorithm, SigningKey, install_crypto_provider};
pub use mint::{EmbeddedKey, GarbageToken, MintBuilder, garbage_token};

use keys::SigningKey as Key;
use tokens::Store;

/// Errors of the dev issuer's library API (start-up, configuration, keys).
#[derive(Debug)]
#[non_exhaustive]
pub enum DevIssuerError {
    /// Invalid configuration (non-loopback listen address, bad URL…).
    Config(String),
    /// Binding or serving failed.
    Io(std::io::Error),
    /// Key generation or signing failed.
    Crypto(String),
    /// A mint helper asked for a key the issuer does not have.
    NoSuchKey(String),
}

impl fmt::Display for DevIssuerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(m) => write!(f, "dev issuer configuration error: {m}"),
            Self::Io(e) => write!(f, "dev issuer I/O error: {e}"),
            Self::Crypto(m) => write!(f, "dev issuer crypto error: {m}"),
            Self::NoSuchKey(m) => write!(f, "dev issuer has no such key: {m}"),
        }
    }
}

impl std::error::Error for DevIssuerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// The HTTP endpoints of the dev issuer, for counters and availability
/// switches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// Both metadata documents (`/.well-known/oauth-authorization-server`
    /// and `/.well-known/openid-configuration`).
    Metadata,
    /// `/jwks`.
    Jwks,
    /// `/authorize`.
    Authorize,
    /// `/token`.
    Token,
    /// `/register`.
    Register,
    /// `/introspect`.
    Introspect,
    /// `/revoke`.
    Revoke,
    /// `/attacker/jwks`: the attacker's key set (see
    /// [`DevIssuer::attacker_jwks_url`]); a resource server must never
    /// fetch it.
    AttackerJwks,
}

impl Endpoint {
    /// Every endpoint.
    pub const ALL: [Endpoint; 8] = [
        Self::Metadata,
        Self::Jwks,
        Self::Authorize,
        Self::Token,
        Self::Register,
        Self::Introspect,
        Self::Revoke,
        Self::AttackerJwks,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// Current time in seconds since the Unix epoch.
pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Locks a mutex, ignoring poisoning (state stays usable after a panicking
/// test thread).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) struct KeyRing {
    keys: Vec<Arc<Key>>,
    active: String,
}

impl KeyRing {
    pub(crate) fn active(&self) -> Arc<Key> {
        self.keys
            .iter()
            .find(|k| k.kid() == self.active)
            .or_else(|| self.keys.last())
            .cloned()
            .unwrap_or_else(unreachable_empty_ring)
    }

    pub(crate) fn by_kid(&self, kid: &str) -> Option<Arc<Key>> {
        self.keys.iter().find(|k| k.kid() == kid).cloned()
    }

    /// The newest key with this algorithm (the active one if it matches).
    pub(crate) fn by_alg(&self, alg: SigningAlgorithm) -> Option<Arc<Key>> {
        let active = self.active();
        if active.alg() == alg {
            return Some(active);
        }
        self.keys.iter().rev().find(|k| k.alg() == alg).cloned()
    }

    pub(crate) fn jwks(&self) -> Value {
        json!({ "keys": self.keys.iter().map(|k| k.public_jwk()).collect::<Vec<_>>() })
    }
}

#[cold]
fn unreachable_empty_ring() -> Arc<Key> {
    // The ring is created with one key and `retire_old_keys` keeps the
    // active one, so it is never empty.
    panic!("dev issuer key ring is empty (internal invariant broken)")
}

pub(crate) struct Inner {
    pub(crate) issuer: String,
    pub(crate) config: DevIssuerConfig,
    pub(crate) keys: RwLock<KeyRing>,
    pub(crate) store: Mutex<Store>,
    pub(crate) consent: Mutex<Option<Consent>>,
    counters: [AtomicU64; Endpoint::ALL.len()],
    unavailable: Mutex<HashSet<Endpoint>>,
    delay_ms: AtomicU64,
    access_token_lifetime: AtomicU64,
    attacker_keys: Mutex<BTreeMap<SigningAlgorithm, Arc<Key>>>,
}

impl Inner {
    pub(crate) fn keys(&self) -> RwLockReadGuard<'_, KeyRing> {
        self.keys.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn keys_mut(&self) -> RwLockWriteGuard<'_, KeyRing> {
        self.keys.write().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn count(&self, endpoint: Endpoint) {
        self.counters[endpoint.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn is_unavailable(&self, endpoint: Endpoint) -> bool {
        lock(&self.unavailable).contains(&endpoint)
    }

    pub(crate) fn response_delay(&self) -> Duration {
        Duration::from_millis(self.delay_ms.load(Ordering::Relaxed))
    }

    pub(crate) fn access_token_lifetime(&self) -> i64 {
        i64::try_from(self.access_token_lifetime.load(Ordering::Relaxed)).unwrap_or(i64::MAX)
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.issuer, path)
    }

    /// The attacker's key for `alg`, generated on first use.
    pub(crate) fn attacker_key(&self, alg: SigningAlgorithm) -> Result<Arc<Key>, DevIssuerError> {
        let mut keys = lock(&self.attacker_keys);
        if let Some(k) = keys.get(&alg) {
            return Ok(k.clone());
        }
        let key = Arc::new(Key::generate(alg)?);
        keys.insert(alg, key.clone());
        Ok(key)
    }

    pub(crate) fn attacker_jwks(&self) -> Value {
        let alg = self.keys().active().alg();
        // Make sure the set is never empty.
        let _ = self.attacker_key(alg);
        let keys = lock(&self.attacker_keys);
        json!({ "keys": keys.values().map(|k| k.public_jwk()).collect::<Vec<_>>() })
    }
}

struct Server {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// A running dev authorization server (see the [module docs](self); NOT for
/// production).
///
/// Dropping it stops the server (gracefully, in the background); call
/// [`DevIssuer::shutdown`] to wait until the port refuses connections.
pub struct DevIssuer {
    inner: Arc<Inner>,
    addr: SocketAddr,
    server: Mutex<Option<Server>>,
}

impl fmt::Debug for DevIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevIssuer")
            .field("issuer", &self.inner.issuer)
            .field("running", &self.is_running())
            .finish_non_exhaustive()
    }
}

impl DevIssuer {
    /// Starts a dev issuer with the default configuration on
    /// `127.0.0.1:<ephemeral port>`. Must be called inside a Tokio runtime.
    pub async fn start() -> Result<Self, DevIssuerError> {
        Self::start_with(DevIssuerConfig::default()).await
    }

    /// Starts a dev issuer with `config`. The listen address must be a
    /// loopback address.
    pub async fn start_with(config: DevIssuerConfig) -> Result<Self, DevIssuerError> {
        install_crypto_provider();
        if !config.listen.ip().is_loopback() {
            return Err(DevIssuerError::Config(format!(
                "listen address {} is not a loopback address; the dev issuer only binds loopback",
                config.listen
            )));
        }
        if let Some(resource) = &config.default_resource {
            oauth::validate_resource(resource).map_err(|e| {
                DevIssuerError::Config(format!("default_resource {resource:?}: {}", e.description))
            })?;
        }

        let mut ring = Vec::new();
        let active = Arc::new(Key::generate(config.signing_algorithm)?);
        for alg in &config.additional_signing_algorithms {
            ring.push(Arc::new(Key::generate(*alg)?));
        }
        ring.push(active.clone());

        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(DevIssuerError::Io)?;
        let addr = listener.local_addr().map_err(DevIssuerError::Io)?;
        let issuer = match addr {
            SocketAddr::V4(a) => format!("http://{}:{}", a.ip(), a.port()),
            SocketAddr::V6(a) => format!("http://[{}]:{}", a.ip(), a.port()),
        };

        let lifetime = config.access_token_lifetime.as_secs();
        let store = Store::new(config.clients.iter().cloned());
        let inner = Arc::new(Inner {
            issuer,
            keys: RwLock::new(KeyRing {
                keys: ring,
                active: active.kid().to_owned(),
            }),
            store: Mutex::new(store),
            consent: Mutex::new(None),
            counters: Default::default(),
            unavailable: Mutex::new(HashSet::new()),
            delay_ms: AtomicU64::new(0),
            access_token_lifetime: AtomicU64::new(lifetime),
            attacker_keys: Mutex::new(BTreeMap::new()),
            config,
        });

        let app = endpoints::router(inner.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                // Also resolves when the sender is dropped with the DevIssuer.
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                eprintln!("authsec dev issuer: server error: {e}");
            }
        });

        Ok(Self {
            inner,
            addr,
            server: Mutex::new(Some(Server { stop, task })),
        })
    }

    /// The issuer identifier, e.g. `http://127.0.0.1:41234` (no trailing
    /// slash). Equal to the `iss` of every token and the `issuer` of the
    /// metadata.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// The bound socket address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `issuer() + path`, e.g. `url("/token")`.
    pub fn url(&self, path: &str) -> String {
        self.inner.url(path)
    }

    /// URL of the RFC 8414 metadata document.
    pub fn metadata_url(&self) -> String {
        self.url("/.well-known/oauth-authorization-server")
    }

    /// URL of the OpenID discovery document.
    pub fn openid_configuration_url(&self) -> String {
        self.url("/.well-known/openid-configuration")
    }

    /// URL of the JWKS.
    pub fn jwks_uri(&self) -> String {
        self.url("/jwks")
    }

    /// URL of the authorization endpoint.
    pub fn authorization_endpoint(&self) -> String {
        self.url("/authorize")
    }

    /// URL of the token endpoint.
    pub fn token_endpoint(&self) -> String {
        self.url("/token")
    }

    /// URL of the introspection endpoint.
    pub fn introspection_endpoint(&self) -> String {
        self.url("/introspect")
    }

    /// URL of the revocation endpoint.
    pub fn revocation_endpoint(&self) -> String {
        self.url("/revoke")
    }

    /// URL of the registration endpoint.
    pub fn registration_endpoint(&self) -> String {
        self.url("/register")
    }

    /// The configuration the issuer was started with.
    pub fn config(&self) -> &DevIssuerConfig {
        &self.inner.config
    }

    /// Stops the server and waits until the listening socket is closed and
    /// open connections are shut down (in-flight requests complete; idle
    /// keep-alive connections are closed). Afterwards connections to the
    /// port are refused, so a resource server sees the AS as unreachable.
    /// Idempotent.
    pub async fn shutdown(&self) {
        let server = lock(&self.server).take();
        if let Some(Server { stop, mut task }) = server {
            let _ = stop.send(());
            if tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
            {
                task.abort();
                let _ = task.await;
            }
        }
    }

    /// Whether the server is still running (not shut down).
    pub fn is_running(&self) -> bool {
        lock(&self.server)
            .as_ref()
            .is_some_and(|s| !s.task.is_finished())
    }

    /// Makes every endpoint answer `503 {"error":"temporarily_unavailable"}`
    /// (`true`) or work normally again (`false`). Requests are still counted.
    pub fn set_unavailable(&self, unavailable: bool) {
        let mut set = lock(&self.inner.unavailable);
        if unavailable {
            set.extend(Endpoint::ALL);
        } else {
            set.clear();
        }
    }

    /// Makes one endpoint answer 503 (`true`) or work again (`false`).
    pub fn set_endpoint_unavailable(&self, endpoint: Endpoint, unavailable: bool) {
        let mut set = lock(&self.inner.unavailable);
        if unavailable {
            set.insert(endpoint);
        } else {
            set.remove(&endpoint);
        }
    }

    /// Delays every response by `delay` (for timeout tests); zero disables.
    pub fn set_response_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.inner.delay_ms.store(ms, Ordering::Relaxed);
    }

    /// Sets what the headless user consents to on subsequent `/authorize`
    /// requests (until [`Self::clear_consent`]).
    pub fn set_consent(&self, consent: Consent) {
        *lock(&self.inner.consent) = Some(consent);
    }

    /// Back to the default consent behaviour.
    pub fn clear_consent(&self) {
        *lock(&self.inner.consent) = None;
    }

    /// Changes the lifetime of access tokens issued from now on.
    pub fn set_access_token_lifetime(&self, lifetime: Duration) {
        self.inner
            .access_token_lifetime
            .store(lifetime.as_secs(), Ordering::Relaxed);
    }

    /// Registers (or replaces) a client at run time.
    pub fn register_client(&self, client: ClientRegistration) {
        lock(&self.inner.store).register(client);
    }

    /// A registered client by id.
    pub fn client(&self, client_id: &str) -> Option<ClientRegistration> {
        lock(&self.inner.store).clients.get(client_id).cloned()
    }

    // ----- keys -------------------------------------------------------------

    /// The JWKS document currently served at `/jwks`.
    pub fn jwks(&self) -> Value {
        self.inner.keys().jwks()
    }

    /// `kid` of the active signing key.
    pub fn active_kid(&self) -> String {
        self.inner.keys().active().kid().to_owned()
    }

    /// `kid`s of every published key, oldest first.
    pub fn kids(&self) -> Vec<String> {
        self.inner
            .keys()
            .keys
            .iter()
            .map(|k| k.kid().to_owned())
            .collect()
    }

    /// The active signing key (public parts, signing helpers).
    pub fn active_key(&self) -> SigningKey {
        (*self.inner.keys().active()).clone()
    }

    /// Generates a new signing key with the configured algorithm, makes it
    /// the active key and returns its `kid`. Older keys stay published
    /// until [`Self::retire_old_keys`].
    ///
    /// # Panics
    /// If key generation fails (it does not, short of a broken crypto
    /// library).
    pub fn rotate_keys(&self) -> String {
        self.rotate_keys_to(self.inner.config.signing_algorithm)
    }

    /// Like [`Self::rotate_keys`] with another algorithm for the new key.
    ///
    /// # Panics
    /// If key generation fails.
    pub fn rotate_keys_to(&self, alg: SigningAlgorithm) -> String {
        let key = Arc::new(generate_or_panic(alg));
        let kid = key.kid().to_owned();
        let mut ring = self.inner.keys_mut();
        ring.keys.push(key);
        ring.active = kid.clone();
        kid
    }

    /// Publishes an extra key with `alg` without making it active (usable
    /// by [`MintBuilder::signing_alg`] / [`MintBuilder::signing_kid`]).
    /// Returns its `kid`.
    ///
    /// # Panics
    /// If key generation fails.
    pub fn add_key(&self, alg: SigningAlgorithm) -> String {
        let key = Arc::new(generate_or_panic(alg));
        let kid = key.kid().to_owned();
        self.inner.keys_mut().keys.push(key);
        kid
    }

    /// Removes every key but the active one from the JWKS.
    pub fn retire_old_keys(&self) {
        let mut ring = self.inner.keys_mut();
        let active = ring.active.clone();
        ring.keys.retain(|k| k.kid() == active);
    }

    /// The active key's RSA public key in `format` (`None` if the active key
    /// is not RSA).
    pub fn rsa_public_key(&self, format: PublicKeyFormat) -> Option<Vec<u8>> {
        self.inner.keys().active().rsa_public_key_bytes(format)
    }

    // ----- counters ---------------------------------------------------------

    /// Requests received by `endpoint` (including those answered 503).
    pub fn requests(&self, endpoint: Endpoint) -> u64 {
        self.inner.counters[endpoint.index()].load(Ordering::Relaxed)
    }

    /// Number of `/jwks` fetches.
    pub fn jwks_fetches(&self) -> u64 {
        self.requests(Endpoint::Jwks)
    }

    /// Number of `/introspect` calls.
    pub fn introspection_calls(&self) -> u64 {
        self.requests(Endpoint::Introspect)
    }

    /// Number of `/token` requests.
    pub fn token_requests(&self) -> u64 {
        self.requests(Endpoint::Token)
    }

    /// Number of `/authorize` requests.
    pub fn authorize_requests(&self) -> u64 {
        self.requests(Endpoint::Authorize)
    }

    /// Number of metadata fetches (both documents).
    pub fn metadata_fetches(&self) -> u64 {
        self.requests(Endpoint::Metadata)
    }

    /// Number of `/register` requests.
    pub fn registration_requests(&self) -> u64 {
        self.requests(Endpoint::Register)
    }

    /// Number of `/revoke` requests.
    pub fn revocation_requests(&self) -> u64 {
        self.requests(Endpoint::Revoke)
    }

    /// Number of fetches of the attacker's JWKS (should stay 0).
    pub fn attacker_jwks_fetches(&self) -> u64 {
        self.requests(Endpoint::AttackerJwks)
    }

    /// Resets every counter to zero.
    pub fn reset_counters(&self) {
        for c in &self.inner.counters {
            c.store(0, Ordering::Relaxed);
        }
    }

    // ----- tokens -----------------------------------------------------------

    /// Revokes an access or refresh token (revoking a refresh token revokes
    /// its whole grant, access tokens included). Works for minted JWTs too
    /// (by `jti`). Returns whether anything was revoked.
    pub fn revoke(&self, token: &str) -> bool {
        tokens::revoke(&self.inner, token, None)
    }

    /// What `/introspect` would answer for `token` (without counting).
    pub fn introspect(&self, token: &str) -> Value {
        tokens::introspect(&self.inner, token)
    }

    /// Starts minting a token signed by the issuer's active key, with the
    /// default claims of an issued access token (see [`MintBuilder`]).
    pub fn mint(&self) -> MintBuilder {
        MintBuilder::new(self.inner.clone())
    }

    /// The attacker's JWKS (public keys the hostile mint helpers sign with).
    pub fn attacker_jwks(&self) -> Value {
        self.inner.attacker_jwks()
    }

    /// URL where this server serves [`Self::attacker_jwks`] (same origin as
    /// the issuer, counted by [`Self::attacker_jwks_fetches`]): the default
    /// `jku` of [`EmbeddedKey::Jku`]-style hostile tokens.
    pub fn attacker_jwks_url(&self) -> String {
        self.url("/attacker/jwks")
    }
}

impl Drop for DevIssuer {
    fn drop(&mut self) {
        if let Some(server) = lock(&self.server).take() {
            let _ = server.stop.send(());
        }
    }
}

// The handle and the builder are shared across tasks by tests.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<DevIssuer>();
    assert_send_sync::<MintBuilder>();
    assert_send_sync::<DevIssuerConfig>();
    assert_send_sync::<DevIssuerError>();
};

fn generate_or_panic(alg: SigningAlgorithm) -> Key {
    match Key::generate(alg) {
        Ok(k) => k,
        Err(e) => panic!("dev issuer: could not generate a {alg} key: {e}"),
    }
}
