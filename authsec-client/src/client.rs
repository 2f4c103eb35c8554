//! [`AuthClient`]: one wrapper around reqwest that discovers, registers, logs in, keeps tokens
//! fresh and acts on every denial code of the table, with bounded attempts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use authsec_core::DenialCode;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use url::Url;

use crate::authorization::{self, AuthorizationRequest, Login, UserAgent};
use crate::denial::ServerDenial;
use crate::discovery::{
    AuthServerMetadata, IssuerCheck, ResourceMetadata, legacy_authorization_server_metadata,
    legacy_resource_metadata, resource_key, try_fetch_authorization_server_metadata,
    try_fetch_resource_metadata,
};
use crate::error::ClientError;
use crate::event::ClientEvent;
use crate::loopback::Loopback;
use crate::registration::{Registration, RegistrationSource, register_dynamically};
use crate::store::{MemoryTokenStore, TokenStore};
use crate::token::{
    GRANT_CLIENT_CREDENTIALS, GRANT_REFRESH_TOKEN, TokenSet, is_rejected_grant, request_token,
};

type Observer = Arc<dyn Fn(&ClientEvent) + Send + Sync>;

/// Settings of an [`AuthClient`]; see [`AuthClientBuilder`] for each.
#[derive(Clone)]
struct Config {
    client_name: String,
    scopes: Option<Vec<String>>,
    preregistered: HashMap<String, Registration>,
    client_metadata_document: Option<String>,
    client_credentials: Option<Registration>,
    max_scope_attempts: u32,
    max_step_up_attempts: u32,
    quota_budget: Duration,
    unavailable_attempts: u32,
    max_backoff: Duration,
    refresh_skew: Duration,
    login_timeout: Duration,
    redirect_port: u16,
    preregistered_any: Option<Registration>,
    issuer_check: IssuerCheck,
    inband: bool,
}

/// Builds an [`AuthClient`].
pub struct AuthClientBuilder {
    config: Config,
    store: Arc<dyn TokenStore>,
    user_agent: Option<Arc<dyn UserAgent>>,
    observer: Option<Observer>,
    http: Option<reqwest::Client>,
}

impl AuthClientBuilder {
    /// The name sent in dynamic registrations (default `authsec-client`).
    pub fn client_name(mut self, name: impl Into<String>) -> Self {
        self.config.client_name = name.into();
        self
    }

    /// Scopes to ask for on the first login when the server's challenge names none (default:
    /// the challenge's `scope`, else the metadata's `scopes_supported`, else no `scope`).
    pub fn scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.config.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// A client already registered at the authorization server `issuer` (preferred over every
    /// other registration method).
    pub fn preregistered(mut self, issuer: impl Into<String>, registration: Registration) -> Self {
        self.config
            .preregistered
            .insert(issuer.into(), registration);
        self
    }

    /// A client pre-registered at whatever authorization server discovery finds (after the
    /// per-issuer ones of [`preregistered`](Self::preregistered)).
    pub fn preregistered_any(mut self, registration: Registration) -> Self {
        self.config.preregistered_any = Some(registration);
        self
    }

    /// How strictly authorization server metadata's `issuer` is checked (default
    /// [`IssuerCheck::Strict`]).
    pub fn issuer_check(mut self, check: IssuerCheck) -> Self {
        self.config.issuer_check = check;
        self
    }

    /// Also act on denials delivered in-band in a 200 `application/json` answer (a JSON-RPC
    /// error with an authsec code, a `tools/call` result with `isError` and `_meta.authsec`, or
    /// the AuthSec SDK family's profile). Off by default: it buffers every JSON answer.
    pub fn inband_denials(mut self, on: bool) -> Self {
        self.config.inband = on;
        self
    }

    /// The https URL of this client's ID metadata document, used as `client_id` at
    /// authorization servers that accept such documents (CL-MCP-10).
    pub fn client_metadata_document(mut self, url: impl Into<String>) -> Self {
        self.config.client_metadata_document = Some(url.into());
        self
    }

    /// A machine agent: tokens come from the client credentials grant (no user, no browser).
    pub fn client_credentials(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        self.config.client_credentials = Some(Registration::confidential(client_id, client_secret));
        self
    }

    /// Like [`client_credentials`](Self::client_credentials), with a chosen authentication.
    pub fn client_credentials_registration(mut self, registration: Registration) -> Self {
        self.config.client_credentials = Some(registration);
        self
    }

    /// Opens authorization URLs for the user (required for user logins).
    pub fn user_agent(mut self, user_agent: impl UserAgent + 'static) -> Self {
        self.user_agent = Some(Arc::new(user_agent));
        self
    }

    /// Where tokens are kept (default: [`MemoryTokenStore`]).
    pub fn token_store(mut self, store: impl TokenStore + 'static) -> Self {
        self.store = Arc::new(store);
        self
    }

    /// Where tokens are kept, shared.
    pub fn shared_token_store(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.store = store;
        self
    }

    /// Called for every step the client takes ([`ClientEvent`]).
    pub fn observer(mut self, observer: impl Fn(&ClientEvent) + Send + Sync + 'static) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// The reqwest client used for the agent's own requests (default: a new one). OAuth fetches
    /// use a separate client that never follows redirects.
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Consents tried per request on `scope_insufficient` (default 2).
    pub fn max_scope_attempts(mut self, attempts: u32) -> Self {
        self.config.max_scope_attempts = attempts;
        self
    }

    /// Step-up logins tried per request on `step_up_required` (default 1).
    pub fn max_step_up_attempts(mut self, attempts: u32) -> Self {
        self.config.max_step_up_attempts = attempts;
        self
    }

    /// Total time a request may wait on `quota_exceeded` `Retry-After` (default 0: never wait).
    pub fn quota_budget(mut self, budget: Duration) -> Self {
        self.config.quota_budget = budget;
        self
    }

    /// Times a request is sent while the server answers `authorization_unavailable` (default 3).
    pub fn unavailable_attempts(mut self, attempts: u32) -> Self {
        self.config.unavailable_attempts = attempts.max(1);
        self
    }

    /// Longest back-off between `authorization_unavailable` retries (default 10 s).
    pub fn max_backoff(mut self, max: Duration) -> Self {
        self.config.max_backoff = max;
        self
    }

    /// Refresh a token this long before it expires (default 30 s).
    pub fn refresh_skew(mut self, skew: Duration) -> Self {
        self.config.refresh_skew = skew;
        self
    }

    /// How long a user login may take (default 5 minutes).
    pub fn login_timeout(mut self, timeout: Duration) -> Self {
        self.config.login_timeout = timeout;
        self
    }

    /// The loopback redirect port (default 0: an ephemeral port, bound once per client).
    pub fn redirect_port(mut self, port: u16) -> Self {
        self.config.redirect_port = port;
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<AuthClient, ClientError> {
        let oauth = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| ClientError::http("(client construction)", e))?;
        Ok(AuthClient {
            inner: Arc::new(Inner {
                api: self.http.unwrap_or_default(),
                oauth,
                config: self.config,
                store: self.store,
                user_agent: self.user_agent,
                observer: self.observer,
                loopback: tokio::sync::OnceCell::new(),
                registrations: tokio::sync::Mutex::new(HashMap::new()),
                sessions: Mutex::new(HashMap::new()),
            }),
        })
    }
}

/// One protected resource the client talks to: its metadata, authorization server and
/// registration, and the lock that makes refreshes and logins single-flight.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) resource: ResourceMetadata,
    pub(crate) prm_url: Option<String>,
    pub(crate) metadata: AuthServerMetadata,
    pub(crate) registration: Registration,
    pub(crate) key: String,
    grant: tokio::sync::Mutex<()>,
    /// The scopes of the last authorization request (the AS may omit `scope` in its answer).
    requested: Mutex<Option<String>>,
}

struct Inner {
    api: reqwest::Client,
    oauth: reqwest::Client,
    config: Config,
    store: Arc<dyn TokenStore>,
    user_agent: Option<Arc<dyn UserAgent>>,
    observer: Option<Observer>,
    loopback: tokio::sync::OnceCell<Loopback>,
    registrations: tokio::sync::Mutex<HashMap<String, Registration>>,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
}

/// The attempts made for one request, bounding every remedy.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Attempts {
    reauth: u32,
    scope: u32,
    step_up: u32,
    unavailable: u32,
    waited: Duration,
    total: u32,
}

/// Hard cap on sends per request, whatever the mix of denials.
const MAX_SENDS: u32 = 12;

/// An OAuth-aware HTTP client for agents. Cheap to clone.
///
/// [`send`](AuthClient::send) attaches the right token, and on a denial does what the denial
/// table says, then retries, a bounded number of times:
///
/// | denial | what the client does |
/// |---|---|
/// | `missing_token`, `invalid_token`, `token_revoked` | refresh (single flight), else one new login; retry once |
/// | `invalid_audience` | rediscover, new login for the metadata's `resource`; retry once |
/// | `scope_insufficient` | new login with granted ∪ challenged scopes; at most `max_scope_attempts` |
/// | `step_up_required` | new login with `acr_values`/`max_age` (never a refresh); at most `max_step_up_attempts` |
/// | `policy_denied` | [`ClientError::PolicyDenied`], no retry |
/// | `quota_exceeded` | wait `Retry-After` within `quota_budget`, else [`ClientError::QuotaExceeded`] |
/// | `authorization_unavailable` | back off, retry with the same token, at most `unavailable_attempts` sends |
/// | `invalid_request`, `session_mismatch` | a typed error, no retry |
#[derive(Clone)]
pub struct AuthClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for AuthClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthClient")
            .field("client_name", &self.inner.config.client_name)
            .finish_non_exhaustive()
    }
}

impl AuthClient {
    /// A builder with the defaults.
    pub fn builder() -> AuthClientBuilder {
        AuthClientBuilder {
            config: Config {
                client_name: "authsec-client".into(),
                scopes: None,
                preregistered: HashMap::new(),
                client_metadata_document: None,
                client_credentials: None,
                max_scope_attempts: 2,
                max_step_up_attempts: 1,
                quota_budget: Duration::ZERO,
                unavailable_attempts: 3,
                max_backoff: Duration::from_secs(10),
                refresh_skew: Duration::from_secs(30),
                login_timeout: Duration::from_secs(300),
                redirect_port: 0,
                preregistered_any: None,
                issuer_check: IssuerCheck::Strict,
                inband: false,
            },
            store: Arc::new(MemoryTokenStore::new()),
            user_agent: None,
            observer: None,
            http: None,
        }
    }

    /// The reqwest client for building requests to pass to [`send`](Self::send).
    pub fn http(&self) -> &reqwest::Client {
        &self.inner.api
    }

    /// The token store.
    pub fn token_store(&self) -> &Arc<dyn TokenStore> {
        &self.inner.store
    }

    pub(crate) fn oauth_http(&self) -> &reqwest::Client {
        &self.inner.oauth
    }

    pub(crate) fn issuer_check(&self) -> IssuerCheck {
        self.inner.config.issuer_check
    }

    /// A registration with a secret for `issuer`: pre-registered, else the client credentials.
    pub(crate) fn confidential_registration(&self, issuer: &str) -> Option<Registration> {
        let config = &self.inner.config;
        config
            .preregistered
            .get(issuer)
            .filter(|r| r.client_secret.is_some())
            .or(config.client_credentials.as_ref())
            .cloned()
    }

    pub(crate) fn emit(&self, event: ClientEvent) {
        tracing::debug!(event = %event, "authsec-client");
        if let Some(observer) = &self.inner.observer {
            observer(&event);
        }
    }

    /// Sends `request` with the right token; on a denial, remedies and retries as the table in
    /// [`AuthClient`]'s documentation says. Non-denial responses (including other errors such as
    /// 404 or 500) are returned as they are.
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ClientError> {
        let request = request
            .build()
            .map_err(|e| ClientError::http("(request construction)", e))?;
        let url = request.url().clone();
        let mut attempts = Attempts::default();
        loop {
            let token = self.bearer_for(&url).await?;
            let mut attempt = request
                .try_clone()
                .ok_or(ClientError::RequestNotCloneable)?;
            if let Some(token) = &token {
                let value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                    ClientError::Store("the stored access token is not a valid header value".into())
                })?;
                attempt.headers_mut().insert(AUTHORIZATION, value);
            }
            let response = self
                .inner
                .api
                .execute(attempt)
                .await
                .map_err(|e| ClientError::http(url.as_str(), e))?;
            let status = response.status().as_u16();
            let json_answer = status == 200
                && self.inner.config.inband
                && response
                    .headers()
                    .get(reqwest::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|ct| ct.starts_with("application/json"));
            if !json_answer && !matches!(status, 400 | 401 | 403 | 404 | 429 | 503) {
                return Ok(response);
            }
            let (response, denial) = read_denial(response).await;
            let Some(denial) = denial else {
                return Ok(response);
            };
            self.remedy(&url, &denial, token.as_deref(), &mut attempts)
                .await?;
        }
    }

    /// The access token to send to `url` now, refreshed first if it expires within the skew;
    /// `None` before the first login to this resource.
    pub async fn bearer_for(&self, url: &Url) -> Result<Option<String>, ClientError> {
        let Some(session) = self.known_session(url) else {
            return Ok(None);
        };
        let Some(tokens) = self.inner.store.load(&session.key).await? else {
            return Ok(None);
        };
        if tokens.expires_within(self.inner.config.refresh_skew) && tokens.refresh_token.is_some() {
            // A failed proactive refresh is not fatal: the server's answer decides.
            let _ = self.refresh(&session, &tokens.access_token).await;
            return Ok(self
                .inner
                .store
                .load(&session.key)
                .await?
                .map(|t| t.access_token));
        }
        Ok(Some(tokens.access_token))
    }

    /// Acts on `denial`, received for a request to `url` that carried `sent` (the token, if
    /// any): `Ok(())` means "send it again", an error means give up. Used by [`send`](Self::send)
    /// and by integrations (rmcp) that send requests themselves.
    pub async fn remedy(
        &self,
        url: &Url,
        denial: &ServerDenial,
        sent: Option<&str>,
        attempts: &mut Attempts,
    ) -> Result<(), ClientError> {
        self.emit(ClientEvent::Denied {
            status: denial.status,
            code: denial.code,
            description: denial.describe().to_owned(),
        });
        attempts.total += 1;
        if attempts.total >= MAX_SENDS {
            return Err(self.give_up(denial, attempts));
        }
        let config = &self.inner.config;
        match denial.code {
            DenialCode::MissingToken
            | DenialCode::InvalidToken
            | DenialCode::TokenRevoked
            | DenialCode::InvalidAudience => {
                attempts.reauth += 1;
                if attempts.reauth > 1 {
                    return Err(self.give_up(denial, attempts));
                }
                let rediscover = denial.code == DenialCode::InvalidAudience;
                // What the agent had, read before a rediscovery replaces the session.
                let previous_scope = match self.known_session(url) {
                    Some(old) => self.granted_scope(&old).await?,
                    None => None,
                };
                let session = self
                    .session(url, denial.resource_metadata.as_deref(), rediscover)
                    .await?;
                if let Some(sent) = sent {
                    if denial.code == DenialCode::InvalidAudience {
                        self.inner.store.remove(&session.key).await?;
                    } else if self.refresh(&session, sent).await? {
                        return Ok(());
                    }
                }
                let scope = match sent {
                    Some(_) => match previous_scope {
                        Some(scope) => Some(scope),
                        None => self.granted_scope(&session).await?,
                    },
                    None => denial
                        .scope
                        .clone()
                        .or_else(|| config.scopes.as_ref().map(|s| s.join(" ")))
                        .or_else(|| {
                            (!session.resource.scopes_supported.is_empty())
                                .then(|| session.resource.scopes_supported.join(" "))
                        }),
                };
                let request = AuthorizationRequest {
                    scope,
                    ..AuthorizationRequest::default()
                };
                self.authorize(&session, sent, Some(denial.code), request)
                    .await
            }
            DenialCode::ScopeInsufficient => {
                attempts.scope += 1;
                if attempts.scope > config.max_scope_attempts {
                    return Err(self.give_up(denial, attempts));
                }
                let session = self
                    .session(url, denial.resource_metadata.as_deref(), false)
                    .await?;
                let scope = union(self.granted_scope(&session).await?, denial.scope.as_deref());
                let request = AuthorizationRequest {
                    scope,
                    ..AuthorizationRequest::default()
                };
                self.authorize(&session, sent, Some(denial.code), request)
                    .await
            }
            DenialCode::StepUpRequired => {
                if config.client_credentials.is_some() {
                    return Err(ClientError::StepUpImpossible);
                }
                attempts.step_up += 1;
                if attempts.step_up > config.max_step_up_attempts {
                    return Err(self.give_up(denial, attempts));
                }
                let session = self
                    .session(url, denial.resource_metadata.as_deref(), false)
                    .await?;
                let scope = union(self.granted_scope(&session).await?, denial.scope.as_deref());
                let request = AuthorizationRequest {
                    scope,
                    acr_values: denial.acr_values.clone(),
                    max_age: denial.max_age,
                };
                // A refresh keeps the original authentication (RFC 9068 §2.2.1): always a login.
                self.authorize(&session, sent, Some(denial.code), request)
                    .await
            }
            DenialCode::QuotaExceeded => {
                let wait = denial.retry_after.unwrap_or(Duration::from_secs(1));
                if attempts.waited + wait > config.quota_budget {
                    return Err(self.give_up(denial, attempts));
                }
                attempts.waited += wait;
                self.emit(ClientEvent::Waiting {
                    code: denial.code,
                    delay: wait,
                });
                tokio::time::sleep(wait).await;
                Ok(())
            }
            DenialCode::AuthorizationUnavailable => {
                attempts.unavailable += 1;
                if attempts.unavailable >= config.unavailable_attempts {
                    return Err(self.give_up(denial, attempts));
                }
                let backoff =
                    Duration::from_millis(250).saturating_mul(1 << attempts.unavailable.min(10));
                let wait = denial
                    .retry_after
                    .unwrap_or(backoff)
                    .min(config.max_backoff);
                self.emit(ClientEvent::Waiting {
                    code: denial.code,
                    delay: wait,
                });
                tokio::time::sleep(wait).await;
                Ok(())
            }
            _ => Err(self.give_up(denial, attempts)),
        }
    }

    /// The typed error for giving up on `denial`.
    fn give_up(&self, denial: &ServerDenial, attempts: &Attempts) -> ClientError {
        self.emit(ClientEvent::GaveUp { code: denial.code });
        let description = denial.describe().to_owned();
        match denial.code {
            DenialCode::ScopeInsufficient => ClientError::ScopeNotGranted {
                scope: denial.scope.clone().unwrap_or_default(),
                attempts: attempts.scope.saturating_sub(1),
            },
            DenialCode::StepUpRequired => ClientError::StepUpFailed {
                acr_values: denial.acr_values.join(" "),
                max_age: denial.max_age,
                attempts: attempts.step_up.saturating_sub(1),
            },
            DenialCode::PolicyDenied => ClientError::PolicyDenied { description },
            DenialCode::QuotaExceeded => ClientError::QuotaExceeded {
                retry_after: denial.retry_after,
                budget: self.inner.config.quota_budget,
            },
            DenialCode::AuthorizationUnavailable => ClientError::AuthorizationUnavailable {
                attempts: attempts.unavailable,
            },
            DenialCode::InvalidRequest => ClientError::InvalidRequest(description),
            DenialCode::SessionMismatch => ClientError::SessionMismatch,
            code => ClientError::StillUnauthorized { code, description },
        }
    }

    /// Discovers, registers and logs in for `url` ahead of any request (the request flow does
    /// this by itself on the first 401). Returns the granted token set.
    pub async fn login(&self, url: &str) -> Result<TokenSet, ClientError> {
        let url = Url::parse(url)
            .map_err(|e| ClientError::Discovery(format!("{url:?} is not a URL: {e}")))?;
        let session = self.session(&url, None, false).await?;
        let scope = self
            .inner
            .config
            .scopes
            .as_ref()
            .map(|s| s.join(" "))
            .or_else(|| {
                (!session.resource.scopes_supported.is_empty())
                    .then(|| session.resource.scopes_supported.join(" "))
            });
        let request = AuthorizationRequest {
            scope,
            ..AuthorizationRequest::default()
        };
        let stale = self
            .inner
            .store
            .load(&session.key)
            .await?
            .map(|t| t.access_token);
        self.authorize(&session, stale.as_deref(), None, request)
            .await?;
        self.inner
            .store
            .load(&session.key)
            .await?
            .ok_or_else(|| ClientError::Store("the token just obtained was not stored".into()))
    }

    fn known_session(&self, url: &Url) -> Option<Arc<Session>> {
        self.inner
            .sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&resource_key(url))
            .cloned()
    }

    /// The session for `url`: cached, unless `rediscover` or the challenge names other metadata
    /// (CL-MCP-8).
    pub(crate) async fn session(
        &self,
        url: &Url,
        from_challenge: Option<&str>,
        rediscover: bool,
    ) -> Result<Arc<Session>, ClientError> {
        if let Some(session) = self.known_session(url) {
            let same_metadata =
                from_challenge.is_none() || from_challenge == session.prm_url.as_deref();
            if !rediscover && same_metadata {
                return Ok(session);
            }
        }
        let http = &self.inner.oauth;
        let check = self.inner.config.issuer_check;
        let (resource, legacy) =
            match try_fetch_resource_metadata(http, url, from_challenge).await? {
                Some(resource) => (resource, false),
                None => (legacy_resource_metadata(url), true),
            };
        // Several servers: the first one listed (a pre-registered one would be preferred).
        let issuer = resource
            .authorization_servers
            .iter()
            .find(|i| self.inner.config.preregistered.contains_key(*i))
            .or_else(|| resource.authorization_servers.first())
            .cloned()
            .ok_or_else(|| ClientError::Discovery("no authorization server".into()))?;
        let metadata = match try_fetch_authorization_server_metadata(http, &issuer, check).await? {
            Some(metadata) => metadata,
            None if legacy => legacy_authorization_server_metadata(&issuer),
            None => {
                return Err(ClientError::Discovery(format!(
                    "no authorization server metadata for {issuer} (RFC 8414 and OpenID discovery both answered 4xx)"
                )));
            }
        };
        if self.inner.config.client_credentials.is_none() {
            // Refuse before any user interaction (CL-MCP-6).
            authorization::check_pkce(&metadata)?;
        }
        self.emit(ClientEvent::Discovered {
            resource: resource.resource.clone(),
            issuer: issuer.clone(),
        });
        let registration = self.registration(&metadata).await?;
        let session = Arc::new(Session {
            key: format!("{issuer} {}", resource.resource),
            resource,
            prm_url: from_challenge.map(str::to_owned),
            metadata,
            registration,
            grant: tokio::sync::Mutex::new(()),
            requested: Mutex::new(None),
        });
        let mut sessions = self
            .inner
            .sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Two tasks may discover at once: keep the first, so the grant lock stays shared.
        let session = match sessions.get(&resource_key(url)) {
            Some(existing) if existing.key == session.key && !rediscover => existing.clone(),
            _ => {
                sessions.insert(resource_key(url), session.clone());
                session
            }
        };
        Ok(session)
    }

    async fn loopback(&self) -> Result<&Loopback, ClientError> {
        self.inner
            .loopback
            .get_or_try_init(|| Loopback::bind(self.inner.config.redirect_port))
            .await
    }

    /// The registration at `metadata`'s issuer: cached per issuer (CL-MCP-12); pre-registered,
    /// then client ID metadata document, then dynamic registration (CL-MCP-9).
    async fn registration(
        &self,
        metadata: &AuthServerMetadata,
    ) -> Result<Registration, ClientError> {
        let issuer = &metadata.issuer;
        let mut cache = self.inner.registrations.lock().await;
        if let Some(found) = cache.get(issuer) {
            return Ok(found.clone());
        }
        let config = &self.inner.config;
        let registration = if let Some(found) = config
            .preregistered
            .get(issuer)
            .or(config.client_credentials.as_ref())
            .or(config.preregistered_any.as_ref())
        {
            found.clone().fitted_to(metadata)
        } else if let Some(url) = config
            .client_metadata_document
            .as_ref()
            .filter(|_| metadata.client_id_metadata_document_supported)
        {
            let mut registration = Registration::public(url.clone());
            registration.source = RegistrationSource::MetadataDocument;
            registration
        } else if metadata.registration_endpoint.is_some() {
            let redirect_uri = self.loopback().await?.redirect_uri().to_owned();
            register_dynamically(
                &self.inner.oauth,
                metadata,
                &config.client_name,
                &redirect_uri,
                false,
            )
            .await?
        } else {
            return Err(ClientError::NoRegistration {
                issuer: issuer.clone(),
            });
        };
        self.emit(ClientEvent::Registered {
            issuer: issuer.clone(),
            client_id: registration.client_id.clone(),
            how: match registration.source {
                RegistrationSource::Preregistered => "pre-registered",
                RegistrationSource::MetadataDocument => "client ID metadata document",
                RegistrationSource::Dynamic => "dynamic registration",
            },
        });
        cache.insert(issuer.clone(), registration.clone());
        Ok(registration)
    }

    /// The scopes the current token holds (or were last asked for).
    async fn granted_scope(&self, session: &Session) -> Result<Option<String>, ClientError> {
        let stored = self.inner.store.load(&session.key).await?;
        Ok(stored.and_then(|t| t.scope).or_else(|| {
            session
                .requested
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
        }))
    }

    /// Refreshes the token `stale` (single flight: if another task already replaced it, that
    /// result is used). `Ok(false)`: no refresh token, or the AS refused it.
    async fn refresh(&self, session: &Session, stale: &str) -> Result<bool, ClientError> {
        let _flight = session.grant.lock().await;
        let Some(current) = self.inner.store.load(&session.key).await? else {
            return Ok(false);
        };
        if current.access_token != stale {
            return Ok(true);
        }
        let Some(refresh_token) = current.refresh_token.clone() else {
            return Ok(false);
        };
        let result = request_token(
            &self.inner.oauth,
            &session.metadata,
            &session.registration,
            GRANT_REFRESH_TOKEN,
            vec![
                ("refresh_token".into(), refresh_token),
                ("resource".into(), session.resource.resource.clone()),
            ],
        )
        .await;
        match result {
            Ok(mut fresh) => {
                if fresh.refresh_token.is_none() {
                    fresh.refresh_token = current.refresh_token.clone();
                }
                if fresh.scope.is_none() {
                    fresh.scope = current.scope.clone();
                }
                self.inner.store.save(&session.key, &fresh).await?;
                self.emit(ClientEvent::Refreshed);
                Ok(true)
            }
            Err(error) if is_rejected_grant(&error) => {
                self.emit(ClientEvent::RefreshRejected {
                    error: match &error {
                        ClientError::TokenEndpoint { error, .. } => error.clone(),
                        other => other.to_string(),
                    },
                });
                // Never present a dead refresh token again.
                let mut dead = current;
                dead.refresh_token = None;
                self.inner.store.save(&session.key, &dead).await?;
                Ok(false)
            }
            Err(error) => Err(error),
        }
    }

    /// A new authorization for `session` (single flight: if another task already replaced the
    /// token `stale`, that token is used instead).
    async fn authorize(
        &self,
        session: &Session,
        stale: Option<&str>,
        cause: Option<DenialCode>,
        request: AuthorizationRequest,
    ) -> Result<(), ClientError> {
        let _flight = session.grant.lock().await;
        let current = self.inner.store.load(&session.key).await?;
        if let Some(current) = &current
            && Some(current.access_token.as_str()) != stale
        {
            return Ok(());
        }
        self.emit(ClientEvent::Authorizing {
            cause,
            scope: request.scope.clone(),
            acr_values: request.acr_values.clone(),
            max_age: request.max_age,
        });
        *session
            .requested
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = request.scope.clone();
        let config = &self.inner.config;
        let tokens = if config.client_credentials.is_some() {
            let mut params = vec![("resource".to_owned(), session.resource.resource.clone())];
            if let Some(scope) = &request.scope {
                params.push(("scope".into(), scope.clone()));
            }
            request_token(
                &self.inner.oauth,
                &session.metadata,
                &session.registration,
                GRANT_CLIENT_CREDENTIALS,
                params,
            )
            .await?
        } else {
            let user_agent = self
                .inner
                .user_agent
                .as_deref()
                .ok_or(ClientError::NoUserAgent)?;
            authorization::authorize(Login {
                http: &self.inner.oauth,
                metadata: &session.metadata,
                registration: &session.registration,
                loopback: self.loopback().await?,
                user_agent,
                resource: &session.resource.resource,
                request: &request,
                timeout: config.login_timeout,
            })
            .await?
        };
        self.emit(ClientEvent::TokenGranted {
            scope: tokens.scope.clone(),
        });
        self.inner.store.save(&session.key, &tokens).await
    }
}

/// `granted ∪ challenged`, granted first, without duplicates.
fn union(granted: Option<String>, challenged: Option<&str>) -> Option<String> {
    let mut scopes: Vec<&str> = Vec::new();
    for scope in granted
        .as_deref()
        .into_iter()
        .chain(challenged)
        .flat_map(str::split_ascii_whitespace)
    {
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    (!scopes.is_empty()).then(|| scopes.join(" "))
}

/// Buffers a possibly-denied response's body to read the denial; hands back an equivalent
/// response when it is not one.
async fn read_denial(response: reqwest::Response) -> (reqwest::Response, Option<ServerDenial>) {
    let status = response.status();
    let version = response.version();
    let headers = response.headers().clone();
    let body = response.bytes().await.unwrap_or_default();
    let denial = if status.is_success() {
        serde_json::from_slice(&body)
            .ok()
            .and_then(|message| ServerDenial::from_jsonrpc(&message))
    } else {
        ServerDenial::from_http(status.as_u16(), &headers, &body)
    };
    let mut rebuilt = http::Response::new(body);
    *rebuilt.status_mut() = status;
    *rebuilt.version_mut() = version;
    *rebuilt.headers_mut() = headers;
    (reqwest::Response::from(rebuilt), denial)
}

#[cfg(test)]
mod tests {
    use super::union;

    #[test]
    fn scope_union_keeps_granted_first_without_duplicates() {
        assert_eq!(
            union(Some("a b".into()), Some("b c")).as_deref(),
            Some("a b c")
        );
        assert_eq!(union(None, Some("c")).as_deref(), Some("c"));
        assert_eq!(union(None, None), None);
    }
}
