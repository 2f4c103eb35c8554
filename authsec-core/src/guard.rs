//! The Guard: built once from configuration, shared, and asked once per request.
//!
//! [`Guard::check`] runs the five checks in order and stops at the first failure:
//!
//! 1. signature and expiry — [`TokenVerifier`] (served from a bounded cache once verified);
//! 2. audience is this resource — core;
//! 3. scopes cover what the tool needs — core, from the [`ToolManifest`];
//! 4. not revoked — [`RevocationCheck`] (live introspection, with its own cache);
//! 5. tool policy — [`Policy`] (and tools absent from the manifest are `policy_denied`).
//!
//! The manifest is fixed ([`GuardBuilder::manifest`]) or live ([`GuardBuilder::manifest_source`]):
//! a live source is asked for a snapshot once per request that calls or lists tools, and a
//! source without a manifest to give (a remote policy that cannot be had) denies those requests
//! with its own denial, typically `503 authorization_unavailable`.

use std::hash::{BuildHasher, Hash, Hasher};
use std::net::IpAddr;
use std::sync::Arc;

use quick_cache::UnitWeighter;
use quick_cache::sync::{Cache, DefaultLifecycle};

use crate::audit::{DecidingRule, checks};
use crate::bearer::{Authorization, bearer_credentials, checked_token};
use crate::client_ip::TrustedProxies;
use crate::clock::{Clock, SystemClock};
use crate::denial::{Denial, DenialCode, RenderedDenial};
use crate::error::ConfigError;
use crate::jwt::DEFAULT_LEEWAY_SECONDS;
use crate::manifest::{ToolManifest, ToolRule};
use crate::manifest_source::ManifestSource;
use crate::mcp::{McpMessage, McpRequest};
use crate::principal::{Principal, TokenSource};
use crate::resource::{ProtectedResourceMetadata, Resource};
use crate::scope::validate_scope_token;
use crate::verifier::{Policy, PolicyOutcome, PolicyRequest, RevocationCheck, TokenVerifier};

/// Default number of verified tokens kept in memory.
pub const DEFAULT_TOKEN_CACHE_CAPACITY: usize = 10_000;

/// Default number of MCP sessions whose owner is remembered.
pub const DEFAULT_SESSION_CAPACITY: usize = 100_000;

/// What the adapter knows about a request, borrowed for the duration of the check.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct AccessRequest<'a> {
    /// The `Authorization` header(s).
    pub authorization: Authorization<'a>,
    /// The raw query string (a token there is refused).
    pub query: Option<&'a str>,
    /// The classified MCP body of a POST, if any.
    pub mcp: Option<&'a McpRequest<'a>>,
    /// The `Mcp-Session-Id` header.
    pub session_id: Option<&'a str>,
    /// The client address.
    pub client_ip: Option<IpAddr>,
}

impl<'a> AccessRequest<'a> {
    /// A request with these `Authorization` headers and nothing else known.
    pub fn new(authorization: Authorization<'a>) -> Self {
        AccessRequest {
            authorization,
            query: None,
            mcp: None,
            session_id: None,
            client_ip: None,
        }
    }

    /// Sets the query string.
    pub fn query(mut self, query: Option<&'a str>) -> Self {
        self.query = query;
        self
    }

    /// Sets the classified MCP body.
    pub fn mcp(mut self, mcp: Option<&'a McpRequest<'a>>) -> Self {
        self.mcp = mcp;
        self
    }

    /// Sets the `Mcp-Session-Id`.
    pub fn session_id(mut self, session_id: Option<&'a str>) -> Self {
        self.session_id = session_id;
        self
    }

    /// Sets the client address.
    pub fn client_ip(mut self, client_ip: Option<IpAddr>) -> Self {
        self.client_ip = client_ip;
        self
    }
}

/// The outcome of [`Guard::check`].
#[derive(Clone, Debug)]
pub enum Decision {
    /// Run the handler, with this principal in the request extensions.
    Allow(Principal),
    /// Render this denial; the handler never runs.
    Deny(Denial),
}

/// A [`Decision`] with what the audit log records about it ([`Guard::check_with_rule`]).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RuledDecision {
    /// The decision.
    pub decision: Decision,
    /// The check or policy rule that decided (for an allowed request: the policy rule that
    /// allowed it, else [`checks::NONE`]).
    pub rule: DecidingRule,
    /// The caller, once the token was verified (also for a denial by checks 3 to 5).
    pub principal: Option<Principal>,
}

/// What [`Guard::check_with_rule`] learns on the way.
struct Trail {
    rule: DecidingRule,
    /// The caller of a request denied after its token was verified (the session binding,
    /// checks 3 to 5).
    principal: Option<Principal>,
}

impl Trail {
    fn new() -> Self {
        Trail {
            rule: DecidingRule::Check(checks::REQUEST),
            principal: None,
        }
    }

    /// The decision with its rule and caller, as [`RuledDecision`] documents it: an allowed
    /// request's caller in both `decision` and `principal`.
    fn decided(self, result: Result<Principal, Denial>) -> RuledDecision {
        let allowed = result.as_ref().ok().cloned();
        let mut ruled = self.decided_lean(result);
        if allowed.is_some() {
            ruled.principal = allowed;
        }
        ruled
    }

    /// [`decided`](Self::decided) with `principal` set for denials only, for the adapters,
    /// which read an allowed request's caller from its decision: one reference-count round
    /// trip less per request.
    fn decided_lean(self, result: Result<Principal, Denial>) -> RuledDecision {
        RuledDecision {
            decision: match result {
                Ok(principal) => Decision::Allow(principal),
                Err(denial) => Decision::Deny(denial),
            },
            rule: self.rule,
            principal: self.principal,
        }
    }

    /// Takes a policy's outcome, remembering its rule.
    fn policy(&mut self, outcome: PolicyOutcome) -> Result<(), Denial> {
        self.rule = match outcome.rule {
            Some(rule) => DecidingRule::Policy(rule),
            None => DecidingRule::Check(checks::POLICY),
        };
        outcome.result
    }
}

/// The request pipeline. Cheap to clone; build it once with [`Guard::builder`].
#[derive(Clone)]
pub struct Guard {
    inner: Arc<Inner>,
}

struct Inner {
    resource: Resource,
    authorization_servers: Vec<String>,
    verifier: Arc<dyn TokenVerifier>,
    revocation: Option<Arc<dyn RevocationCheck>>,
    policy: Option<Arc<dyn Policy>>,
    manifest: Arc<ToolManifest>,
    manifest_source: Option<Arc<dyn ManifestSource>>,
    clock: Arc<dyn Clock>,
    extra_audiences: Vec<String>,
    initial_scopes: String,
    required_scopes: Vec<String>,
    leeway: u64,
    tokens: Option<TokenCache>,
    sessions: Cache<String, String>,
    resource_name: Option<String>,
    scopes_supported: Option<Vec<String>>,
    trusted_proxies: TrustedProxies,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("resource", &self.inner.resource.as_str())
            .field("authorization_servers", &self.inner.authorization_servers)
            .finish_non_exhaustive()
    }
}

impl Guard {
    /// Starts a Guard for the resource at `resource` (its canonical URI, e.g.
    /// `https://mcp.example.com/mcp`: tokens must carry it as audience).
    pub fn builder(resource: impl Into<String>) -> GuardBuilder {
        GuardBuilder {
            resource: resource.into(),
            authorization_servers: Vec::new(),
            verifier: None,
            revocation: None,
            policy: None,
            manifest: ToolManifest::new(),
            manifest_source: None,
            clock: Arc::new(SystemClock),
            extra_audiences: Vec::new(),
            initial_scopes: Vec::new(),
            required_scopes: Vec::new(),
            leeway: DEFAULT_LEEWAY_SECONDS,
            cache_capacity: DEFAULT_TOKEN_CACHE_CAPACITY,
            resource_name: None,
            scopes_supported: None,
            trusted_proxies: Vec::new(),
        }
    }

    /// Runs checks 1 to 5 on one request.
    pub async fn check(&self, request: &AccessRequest<'_>) -> Decision {
        self.check_with_rule(request).await.decision
    }

    /// [`check`](Self::check), also saying which check or policy rule decided and who the
    /// caller was: what the audit log records ([`crate::audit`]).
    pub async fn check_with_rule(&self, request: &AccessRequest<'_>) -> RuledDecision {
        let mut trail = Trail::new();
        let result = self.check_inner(request, &mut trail).await;
        trail.decided(result)
    }

    /// [`check_with_rule`](Self::check_with_rule) with `principal` set for denials only (an
    /// allowed request's caller is in its decision), for the adapters.
    pub(crate) async fn check_with_rule_lean(&self, request: &AccessRequest<'_>) -> RuledDecision {
        let mut trail = Trail::new();
        let result = self.check_inner(request, &mut trail).await;
        trail.decided_lean(result)
    }

    /// [`check_with_rule`](Self::check_with_rule) without awaiting anything, when nothing on
    /// the way needs I/O: the Guard [checks synchronously](Self::checks_synchronously), the
    /// token is in the verified cache (or is refused before verification) and the policy, if
    /// any, decides at once ([`Policy::evaluate_now`]). `None` means ask
    /// [`check_with_rule`](Self::check_with_rule); an answer is always the one it would give.
    ///
    /// Adapters try this first, so a request with a warm token costs no boxed future.
    pub fn check_now(&self, request: &AccessRequest<'_>) -> Option<RuledDecision> {
        let (trail, result) = self.check_now_trail(request)?;
        Some(trail.decided(result))
    }

    /// [`check_now`](Self::check_now) with `principal` set for denials only (an allowed
    /// request's caller is in its decision), for the adapters.
    #[inline]
    pub(crate) fn check_now_lean(&self, request: &AccessRequest<'_>) -> Option<RuledDecision> {
        let (trail, result) = self.check_now_trail(request)?;
        Some(trail.decided_lean(result))
    }

    fn check_now_trail(
        &self,
        request: &AccessRequest<'_>,
    ) -> Option<(Trail, Result<Principal, Denial>)> {
        if !self.checks_synchronously() {
            return None;
        }
        let mut trail = Trail::new();
        let credentials = match self.credentials(request) {
            Ok(credentials) => credentials,
            Err(denial) => return Some((trail, Err(denial))),
        };
        trail.rule = DecidingRule::Check(checks::TOKEN);
        let authenticated = self.cached(credentials)?;
        let result = self.check_cached(authenticated, request, &mut trail)?;
        Some((trail, result))
    }

    /// The first half of [`Protection`](crate::Protection)'s warm lane: the caller of a token
    /// in the verified-token cache and not expired, on a Guard whose checks 3 to 5 for a
    /// `tools/call` come down to its tool's scopes (no policy, no revocation check, no live
    /// manifest, no scopes required of every request). `None` leaves the request to the
    /// checks, which decide everything else.
    #[inline]
    pub(crate) fn warm_caller(&self, token: &[u8]) -> Option<Principal> {
        let inner = &*self.inner;
        if inner.policy.is_some()
            || inner.revocation.is_some()
            || inner.manifest_source.is_some()
            || !inner.required_scopes.is_empty()
        {
            return None;
        }
        let principal = inner.tokens.as_ref()?.get(&TokenBytes(token))?;
        let now = inner.clock.now();
        principal
            .expires_at()
            .is_some_and(|exp| now < exp.saturating_add(inner.leeway))
            .then_some(principal)
    }

    /// The second half: whether the checks would allow [`warm_caller`](Self::warm_caller)'s
    /// caller one `tools/call` of `tool`. Its session, if it names one, is already bound to
    /// the caller, and the tool is in the manifest with a rule the caller's scopes satisfy.
    /// `false` leaves the request to the checks (which also bind a new session).
    #[inline]
    pub(crate) fn warm_allows(
        &self,
        caller: &Principal,
        tool: &str,
        session_id: Option<&str>,
    ) -> bool {
        let inner = &*self.inner;
        if let Some(session_id) = session_id
            && inner.sessions.get(session_id).as_deref() != Some(caller.subject())
        {
            return false;
        }
        inner
            .manifest
            .rule_for(tool)
            .is_some_and(|rule| rule.is_satisfied_by(caller.scopes()))
    }

    /// Whether [`check_now`](Self::check_now) can answer: check 4 is live introspection, so a
    /// Guard with a [`RevocationCheck`] always awaits, and so does one whose [`Policy`] does not
    /// [decide at once](Policy::decides_now).
    #[inline]
    pub fn checks_synchronously(&self) -> bool {
        self.inner.revocation.is_none()
            && self
                .inner
                .policy
                .as_ref()
                .is_none_or(|policy| policy.decides_now())
    }

    /// [`check_now`](Self::check_now) after check 1 was answered from the cache.
    fn check_cached(
        &self,
        authenticated: Result<Principal, Denial>,
        request: &AccessRequest<'_>,
        trail: &mut Trail,
    ) -> Option<Result<Principal, Denial>> {
        let principal = match self.authenticated(authenticated, trail) {
            Ok(principal) => principal,
            Err(denial) => return Some(Err(denial)),
        };
        let checked = self
            .checks_without_io(&principal, request, trail)
            .and_then(|manifest| {
                let rules = Rules::new(&manifest, request);
                self.check_scopes_traced(&principal, request, &rules, trail)?;
                trail.rule = DecidingRule::Check(checks::NONE);
                Ok(self.check_policy_now(&principal, request, &rules, trail))
            });
        match checked {
            Ok(None) => None,
            Ok(Some(Ok(()))) => Some(Ok(principal)),
            Ok(Some(Err(denial))) | Err(denial) => {
                trail.principal = Some(principal);
                Some(Err(denial))
            }
        }
    }

    async fn check_inner(
        &self,
        request: &AccessRequest<'_>,
        trail: &mut Trail,
    ) -> Result<Principal, Denial> {
        let credentials = self.credentials(request)?;
        // Checks 1 and 2. A token found in the verified cache passed them, and the syntax check,
        // when it was first seen; only a new token has its syntax checked before verification.
        trail.rule = DecidingRule::Check(checks::TOKEN);
        let authenticated = match self.cached(credentials) {
            Some(hit) => hit,
            None => {
                let token = checked_token(credentials)?;
                self.verify_new(token).await
            }
        };
        let principal = self.authenticated(authenticated, trail)?;
        match self
            .checks_after_authentication(&principal, request, credentials, trail)
            .await
        {
            Ok(()) => Ok(principal),
            Err(denial) => {
                trail.principal = Some(principal);
                Err(denial)
            }
        }
    }

    /// Checks 3 to 5, and the session binding, for a verified caller.
    async fn checks_after_authentication(
        &self,
        principal: &Principal,
        request: &AccessRequest<'_>,
        credentials: &[u8],
        trail: &mut Trail,
    ) -> Result<(), Denial> {
        let inner = &*self.inner;
        let manifest = self.checks_without_io(principal, request, trail)?;
        let rules = Rules::new(&manifest, request);
        self.check_scopes_traced(principal, request, &rules, trail)?;
        // Check 4.
        if let Some(revocation) = &inner.revocation {
            trail.rule = DecidingRule::Check(checks::REVOCATION);
            // The token passed the syntax check (now or when it was cached): it is ASCII.
            let token = checked_token(credentials)?;
            revocation.check(token, principal).await?;
        }
        // Check 5.
        trail.rule = DecidingRule::Check(checks::NONE);
        self.check_policy(principal, request, &rules, trail).await
    }

    /// The bearer token's bytes, or the denial for a missing, duplicated or misplaced one.
    #[inline]
    fn credentials<'r>(&self, request: &AccessRequest<'r>) -> Result<&'r [u8], Denial> {
        bearer_credentials(request.authorization, request.query)?
            .ok_or_else(|| Denial::missing_token().with_scope(self.inner.initial_scopes.clone()))
    }

    /// The outcome of checks 1 and 2, its deciding check remembered in the trail (the caller
    /// joins the trail only if a later check denies).
    fn authenticated(
        &self,
        authenticated: Result<Principal, Denial>,
        trail: &mut Trail,
    ) -> Result<Principal, Denial> {
        authenticated.inspect_err(|denial| {
            if denial.code() == DenialCode::InvalidAudience {
                trail.rule = DecidingRule::Check(checks::AUDIENCE);
            }
        })
    }

    /// What follows authentication and needs no I/O: the session binding and the manifest this
    /// request is checked against (check 3 follows: [`check_scopes_traced`](Self::check_scopes_traced)).
    #[inline]
    fn checks_without_io(
        &self,
        principal: &Principal,
        request: &AccessRequest<'_>,
        trail: &mut Trail,
    ) -> Result<ManifestView<'_>, Denial> {
        let inner = &*self.inner;
        if let Some(session_id) = request.session_id {
            trail.rule = DecidingRule::Check(checks::SESSION);
            self.check_session(session_id, principal)?;
        }
        // One manifest for the whole request; a live source is only asked when tools are named
        // or listed, so a handshake or a ping never depends on it.
        let manifest = match &inner.manifest_source {
            Some(source) if request.mcp.is_some_and(involves_tools) => {
                ManifestView::Live(source.current()?)
            }
            _ => ManifestView::Fixed(&inner.manifest),
        };
        Ok(manifest)
    }

    /// Check 3, remembered in the trail.
    #[inline]
    fn check_scopes_traced(
        &self,
        principal: &Principal,
        request: &AccessRequest<'_>,
        rules: &Rules<'_, '_>,
        trail: &mut Trail,
    ) -> Result<(), Denial> {
        trail.rule = DecidingRule::Check(checks::SCOPE);
        self.check_scopes(principal, request, rules)
            .inspect_err(|denial| {
                if denial.code() == DenialCode::PolicyDenied {
                    trail.rule = DecidingRule::Check(checks::ROLE_BINDING);
                }
            })
    }

    /// Checks 1 and 2 only: the token is genuine, unexpired and issued for this resource.
    /// Served from the verified-token cache when the token was seen before.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, Denial> {
        match self.cached(token.as_bytes()) {
            Some(result) => result,
            None => self.verify_new(token).await,
        }
    }

    /// Checks 1 and 2 from the verified-token cache: `None` when the token is not in it.
    #[inline]
    fn cached(&self, token: &[u8]) -> Option<Result<Principal, Denial>> {
        let inner = &*self.inner;
        let key = TokenBytes(token);
        let principal = inner.tokens.as_ref()?.get(&key)?;
        let now = inner.clock.now();
        if principal
            .expires_at()
            .is_some_and(|exp| now < exp.saturating_add(inner.leeway))
        {
            return Some(Ok(principal));
        }
        if let Some(cache) = &inner.tokens {
            cache.remove(&key);
        }
        Some(Err(Denial::invalid_token("the token has expired")))
    }

    /// Checks 1 and 2 for a token not in the cache (which it joins when it passes).
    async fn verify_new(&self, token: &str) -> Result<Principal, Denial> {
        let inner = &*self.inner;
        let now = inner.clock.now();
        let claims = inner.verifier.verify(token).await?;
        if let Some(exp) = claims.expires_at
            && now >= exp.saturating_add(inner.leeway)
        {
            return Err(Denial::invalid_token("the token has expired"));
        }
        if !claims.audience.is_empty() && !self.audience_matches(&claims.audience) {
            return Err(Denial::invalid_audience(format!(
                "the token's aud {} does not include this resource {:?}; request the token with resource={}",
                describe_audience(&claims.audience),
                inner.resource.as_str(),
                inner.resource.as_str()
            )));
        }
        // Introspection answers have their own cache with the configured TTL; caching them here
        // until `exp` would hide a revocation.
        let cacheable = claims.expires_at.is_some() && claims.source == TokenSource::Jwt;
        let token: Arc<str> = Arc::from(token);
        let principal = Principal::with_token(claims, token.clone());
        if cacheable && let Some(cache) = &inner.tokens {
            cache.insert(CachedToken(token), principal.clone());
        }
        Ok(principal)
    }

    /// How many verified tokens the cache holds now (at most the configured
    /// [`token_cache_capacity`](GuardBuilder::token_cache_capacity)); for metrics and tests.
    pub fn cached_tokens(&self) -> usize {
        self.inner.tokens.as_ref().map_or(0, |cache| cache.len())
    }

    fn audience_matches(&self, audience: &[String]) -> bool {
        let inner = &*self.inner;
        audience.iter().any(|aud| {
            inner.resource.matches_audience(aud) || inner.extra_audiences.iter().any(|a| a == aud)
        })
    }

    fn check_session(&self, session_id: &str, principal: &Principal) -> Result<(), Denial> {
        match self.inner.sessions.get(session_id) {
            Some(owner) if owner != principal.subject() => Err(Denial::session_mismatch()),
            Some(_) => Ok(()),
            None => {
                self.bind_session(session_id, principal);
                Ok(())
            }
        }
    }

    /// Binds an MCP session to the principal that created it (call it when a response assigns
    /// an `Mcp-Session-Id`). A later request with that session and another subject's token is
    /// refused with `session_mismatch`.
    pub fn bind_session(&self, session_id: &str, principal: &Principal) {
        self.inner
            .sessions
            .insert(session_id.to_owned(), principal.subject().to_owned());
    }

    fn check_scopes(
        &self,
        principal: &Principal,
        request: &AccessRequest<'_>,
        rules: &Rules<'_, '_>,
    ) -> Result<(), Denial> {
        let inner = &*self.inner;
        let granted = principal.scopes();
        // Unknown tools are check 5's business.
        let call_rules = || {
            request
                .mcp
                .into_iter()
                .flat_map(McpRequest::tool_calls)
                .filter_map(|call| rules.rule_for(call.tool.as_deref()?))
        };
        let lacking = !granted.contains_all(&inner.required_scopes)
            || call_rules().any(|rule| !rule.is_satisfied_by(granted));
        if lacking {
            // Only a denial lists what was required, so only a denial collects it.
            let mut required: Vec<&str> =
                inner.required_scopes.iter().map(String::as_str).collect();
            for scope in call_rules().flat_map(|rule| &rule.scopes) {
                if !required.contains(&scope.as_str()) {
                    required.push(scope);
                }
            }
            let denial = Denial::scope_insufficient(granted.iter(), required);
            let lacking_tool = request.mcp.and_then(|mcp| {
                mcp.tool_calls().find_map(|call| {
                    let tool = call.tool.as_deref()?;
                    let rule = rules.rule_for(tool)?;
                    (!rule.is_satisfied_by(granted)).then_some(tool)
                })
            });
            return Err(match lacking_tool {
                Some(tool) => denial.with_tool(truncate(tool)),
                None => denial,
            });
        }
        // The token has every scope; a policy may still narrow what it may be used for (role
        // bindings, `Policy::effective_scopes`). More consent cannot fix that: `policy_denied`.
        let Some(policy) = &inner.policy else {
            return Ok(());
        };
        let base = self.policy_base(principal, request);
        if !inner.required_scopes.is_empty()
            && let Some(effective) = policy.effective_scopes(&base)
            && !effective.contains_all(&inner.required_scopes)
        {
            return Err(Denial::policy_denied(format!(
                "no role binding allows the scopes every request needs: {}",
                effective.missing(&inner.required_scopes).join(" ")
            )));
        }
        for call in request.mcp.iter().flat_map(|mcp| mcp.tool_calls()) {
            let tool = call.tool.as_deref();
            let Some(rule) = tool.and_then(|t| rules.rule_for(t)) else {
                continue;
            };
            let call_request = for_message(base, call, Some(rule));
            if let Some(effective) = policy.effective_scopes(&call_request)
                && !rule.is_satisfied_by(&effective)
            {
                return Err(Denial::policy_denied(format!(
                    "no role binding allows the scopes this tool needs: {}",
                    rule.missing_from(&effective).join(" ")
                )));
            }
        }
        Ok(())
    }

    async fn check_policy(
        &self,
        principal: &Principal,
        request: &AccessRequest<'_>,
        rules: &Rules<'_, '_>,
        trail: &mut Trail,
    ) -> Result<(), Denial> {
        let inner = &*self.inner;
        let Some(policy) = &inner.policy else {
            return tools_in_manifest(request, rules, trail);
        };
        let base = self.policy_base(principal, request);
        let Some(mcp) = request.mcp else {
            return trail.policy(policy.evaluate_with_rule(&base).await);
        };
        for message in mcp.messages() {
            let rule = rule_in_manifest(message.tool.as_deref(), rules, trail)?;
            let request = for_message(base, message, rule);
            trail.policy(policy.evaluate_with_rule(&request).await)?;
        }
        Ok(())
    }

    /// What the policy is asked about a request as a whole (the base of what it is asked about
    /// each of its messages: [`for_message`]).
    fn policy_base<'a>(
        &self,
        principal: &'a Principal,
        request: &AccessRequest<'_>,
    ) -> PolicyRequest<'a> {
        PolicyRequest {
            client_ip: request.client_ip,
            ..PolicyRequest::new(principal, self.inner.clock.now())
        }
    }

    /// [`check_policy`](Self::check_policy) without awaiting; `None` when the policy cannot
    /// answer at once, or for a batch (a policy's effects happen once per element, so a batch
    /// is never half decided here).
    fn check_policy_now(
        &self,
        principal: &Principal,
        request: &AccessRequest<'_>,
        rules: &Rules<'_, '_>,
        trail: &mut Trail,
    ) -> Option<Result<(), Denial>> {
        let inner = &*self.inner;
        let Some(policy) = &inner.policy else {
            return Some(tools_in_manifest(request, rules, trail));
        };
        let base = self.policy_base(principal, request);
        let Some(mcp) = request.mcp else {
            return Some(trail.policy(policy.evaluate_now(&base)?));
        };
        let [message] = mcp.messages() else {
            return None;
        };
        let rule = match rule_in_manifest(message.tool.as_deref(), rules, trail) {
            Ok(rule) => rule,
            Err(denial) => return Some(Err(denial)),
        };
        let request = for_message(base, message, rule);
        Some(trail.policy(policy.evaluate_now(&request)?))
    }

    /// Whether `principal` may call `tool` as far as scopes go: the rule `tools/list` filtering
    /// uses, so a listed tool is one whose call passes check 3. The token must hold the tool's
    /// scopes and, when the policy narrows scopes ([`Policy::effective_scopes`], asked with
    /// `method = Some("tools/list")` and no arguments), so must the
    /// narrowed set.
    pub fn may_call(&self, principal: &Principal, tool: &str) -> bool {
        self.may_call_from(principal, tool, None)
    }

    /// [`may_call`](Self::may_call) for a caller at `client_ip`, so that role bindings with an
    /// IP condition list what that address may call.
    pub fn may_call_from(
        &self,
        principal: &Principal,
        tool: &str,
        client_ip: Option<IpAddr>,
    ) -> bool {
        let inner = &*self.inner;
        let live;
        let manifest = match &inner.manifest_source {
            None => &*inner.manifest,
            Some(source) => match source.current() {
                Ok(current) => {
                    live = current;
                    &*live
                }
                // No policy, no tool: tools/list lists nothing (the request itself was refused).
                Err(_) => return false,
            },
        };
        let Some(rule) = manifest.rule_for(tool) else {
            return false;
        };
        if !rule.is_satisfied_by(principal.scopes()) {
            return false;
        }
        let Some(policy) = &inner.policy else {
            return true;
        };
        let request = PolicyRequest {
            principal,
            tool: Some(tool),
            rule: Some(rule),
            arguments: None,
            method: Some("tools/list"),
            client_ip,
            now: inner.clock.now(),
        };
        policy
            .effective_scopes(&request)
            .is_none_or(|effective| rule.is_satisfied_by(&effective))
    }

    /// The proxies whose `Forwarded` / `X-Forwarded-For` headers are believed.
    pub fn trusted_proxies(&self) -> &TrustedProxies {
        &self.inner.trusted_proxies
    }

    /// The protected resource.
    pub fn resource(&self) -> &Resource {
        &self.inner.resource
    }

    /// The fixed tool manifest given to [`GuardBuilder::manifest`] (empty when the Guard reads
    /// a [`ManifestSource`]: see [`current_manifest`](Self::current_manifest)).
    pub fn manifest(&self) -> &ToolManifest {
        &self.inner.manifest
    }

    /// The manifest enforced now: the live source's snapshot, or the fixed manifest.
    pub fn current_manifest(&self) -> Result<Arc<ToolManifest>, Denial> {
        match &self.inner.manifest_source {
            Some(source) => source.current(),
            None => Ok(self.inner.manifest.clone()),
        }
    }

    /// Whether the manifest can change at run time (a [`ManifestSource`] was given), so the
    /// RFC 9728 document must be rendered per request rather than once.
    pub fn has_live_manifest(&self) -> bool {
        self.inner.manifest_source.is_some()
    }

    /// The RFC 9728 document for this resource. `scopes_supported` comes from the live
    /// manifest source when it has them, else from
    /// [`GuardBuilder::scopes_supported`], else from the manifest's scopes.
    pub fn metadata(&self) -> ProtectedResourceMetadata {
        let inner = &*self.inner;
        let mut doc =
            ProtectedResourceMetadata::new(&inner.resource, inner.authorization_servers.clone());
        let live = inner.manifest_source.as_ref();
        doc.scopes_supported = match (
            live.and_then(|source| source.scopes_supported()),
            &inner.scopes_supported,
        ) {
            (Some(scopes), _) => scopes,
            (None, Some(scopes)) => scopes.clone(),
            (None, None) => match live {
                Some(source) => source.current().map(|m| m.scopes()).unwrap_or_default(),
                None => inner.manifest.scopes(),
            },
        };
        doc.scopes_supported.retain(|s| s != "offline_access");
        doc.resource_name = inner.resource_name.clone();
        doc
    }

    /// Renders a denial for this resource (its `resource_metadata` URL in the challenge).
    pub fn render(&self, denial: &Denial) -> RenderedDenial {
        denial.render(self.inner.resource.metadata_url())
    }
}

/// The manifest one request is checked against: the fixed one, borrowed, or a live snapshot.
enum ManifestView<'a> {
    Fixed(&'a ToolManifest),
    Live(Arc<ToolManifest>),
}

impl std::ops::Deref for ManifestView<'_> {
    type Target = ToolManifest;

    fn deref(&self) -> &ToolManifest {
        match self {
            ManifestView::Fixed(manifest) => manifest,
            ManifestView::Live(manifest) => manifest,
        }
    }
}

/// The manifest one request is checked against, with the rule of its tool looked up once when
/// it is a single tool call (the usual request): checks 3 and 5 both need it.
struct Rules<'m, 'r> {
    manifest: &'m ToolManifest,
    single: Option<(&'r str, Option<&'m ToolRule>)>,
}

impl<'m, 'r> Rules<'m, 'r> {
    fn new(manifest: &'m ToolManifest, request: &AccessRequest<'r>) -> Self {
        let single = match request.mcp.map(McpRequest::messages) {
            Some([message]) => message
                .tool
                .as_deref()
                .map(|tool| (tool, manifest.rule_for(tool))),
            _ => None,
        };
        Rules { manifest, single }
    }

    /// [`ToolManifest::rule_for`].
    fn rule_for(&self, tool: &str) -> Option<&'m ToolRule> {
        match self.single {
            // Usually the very same text (the message's tool), so the pointers answer.
            Some((single, rule)) if std::ptr::eq(single, tool) || single == tool => rule,
            _ => self.manifest.rule_for(tool),
        }
    }
}

/// The manifest rule of a message's tool: a named tool absent from the manifest is refused
/// (check 5's first part, with or without a policy).
fn rule_in_manifest<'m>(
    tool: Option<&str>,
    rules: &Rules<'m, '_>,
    trail: &mut Trail,
) -> Result<Option<&'m ToolRule>, Denial> {
    let Some(tool) = tool else {
        return Ok(None);
    };
    match rules.rule_for(tool) {
        Some(rule) => Ok(Some(rule)),
        None => {
            trail.rule = DecidingRule::Check(checks::MANIFEST);
            Err(Denial::policy_denied(format!(
                "the tool {:?} is not in this server's tool manifest",
                truncate(tool)
            ))
            .with_tool(truncate(tool)))
        }
    }
}

/// What a policy is asked about one message of the request.
fn for_message<'a>(
    base: PolicyRequest<'a>,
    message: &'a McpMessage<'_>,
    rule: Option<&'a ToolRule>,
) -> PolicyRequest<'a> {
    PolicyRequest {
        tool: message.tool.as_deref(),
        rule,
        arguments: message.arguments,
        method: message.method.as_deref(),
        ..base
    }
}

/// Check 5 without a policy: every tool the request names is in the manifest.
fn tools_in_manifest(
    request: &AccessRequest<'_>,
    rules: &Rules<'_, '_>,
    trail: &mut Trail,
) -> Result<(), Denial> {
    for message in request.mcp.iter().flat_map(|mcp| mcp.messages()) {
        rule_in_manifest(message.tool.as_deref(), rules, trail)?;
    }
    Ok(())
}

/// Whether a request calls or lists tools, i.e. needs the manifest.
fn involves_tools(mcp: &McpRequest<'_>) -> bool {
    mcp.messages()
        .iter()
        .any(|m| m.tool.is_some() || m.is_tool_call() || m.is_tools_list())
}

fn describe_audience(audience: &[String]) -> String {
    let shown: Vec<String> = audience
        .iter()
        .take(4)
        .map(|a| format!("{:?}", truncate(a)))
        .collect();
    format!("[{}]", shown.join(", "))
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(128) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Configuration of a [`Guard`].
#[must_use]
pub struct GuardBuilder {
    resource: String,
    authorization_servers: Vec<String>,
    verifier: Option<Arc<dyn TokenVerifier>>,
    revocation: Option<Arc<dyn RevocationCheck>>,
    policy: Option<Arc<dyn Policy>>,
    manifest: ToolManifest,
    manifest_source: Option<Arc<dyn ManifestSource>>,
    clock: Arc<dyn Clock>,
    extra_audiences: Vec<String>,
    initial_scopes: Vec<String>,
    required_scopes: Vec<String>,
    leeway: u64,
    cache_capacity: usize,
    resource_name: Option<String>,
    scopes_supported: Option<Vec<String>>,
    trusted_proxies: Vec<String>,
}

impl GuardBuilder {
    /// An authorization server (issuer identifier) clients should use; listed in the RFC 9728
    /// document. At least one is required.
    pub fn authorization_server(mut self, issuer: impl Into<String>) -> Self {
        self.authorization_servers.push(issuer.into());
        self
    }

    /// Replaces the authorization servers listed so far (e.g. the issuer a
    /// `RemoteIssuer::apply` added) with `servers`: what the RFC 9728 document publishes.
    pub fn authorization_servers<S: Into<String>>(
        mut self,
        servers: impl IntoIterator<Item = S>,
    ) -> Self {
        self.authorization_servers = servers.into_iter().map(Into::into).collect();
        self
    }

    /// Check 1: how tokens are verified (e.g. authsec-jwks' JWKS or introspection verifier).
    pub fn verifier(self, verifier: impl TokenVerifier) -> Self {
        self.verifier_arc(Arc::new(verifier))
    }

    /// Check 1, from a shared verifier.
    pub fn verifier_arc(mut self, verifier: Arc<dyn TokenVerifier>) -> Self {
        self.verifier = Some(verifier);
        self
    }

    /// Check 4: live revocation (e.g. authsec-jwks' introspection).
    pub fn revocation(self, revocation: impl RevocationCheck) -> Self {
        self.revocation_arc(Arc::new(revocation))
    }

    /// Check 4, from a shared implementation.
    pub fn revocation_arc(mut self, revocation: Arc<dyn RevocationCheck>) -> Self {
        self.revocation = Some(revocation);
        self
    }

    /// Check 5: the tool policy.
    pub fn policy(self, policy: impl Policy) -> Self {
        self.policy_arc(Arc::new(policy))
    }

    /// Check 5, from a shared implementation.
    pub fn policy_arc(mut self, policy: Arc<dyn Policy>) -> Self {
        self.policy = Some(policy);
        self
    }

    /// Check 3: tool → required scopes, fixed for the Guard's life.
    pub fn manifest(mut self, manifest: ToolManifest) -> Self {
        self.manifest = manifest;
        self
    }

    /// Check 3 from a manifest that changes at run time (e.g. AuthSec's remote tool policy):
    /// replaces [`manifest`](Self::manifest). See [`ManifestSource`].
    pub fn manifest_source(self, source: impl ManifestSource) -> Self {
        self.manifest_source_arc(Arc::new(source))
    }

    /// [`manifest_source`](Self::manifest_source), from a shared source.
    pub fn manifest_source_arc(mut self, source: Arc<dyn ManifestSource>) -> Self {
        self.manifest_source = Some(source);
        self
    }

    /// The `scope` of the `missing_token` challenge: what a client should ask for first.
    pub fn initial_scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.initial_scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Scopes every request needs, whatever it is.
    pub fn require_scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.required_scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Another audience value accepted besides the resource URI (e.g. `api://notes`).
    pub fn accept_audience(mut self, audience: impl Into<String>) -> Self {
        self.extra_audiences.push(audience.into());
        self
    }

    /// Overrides `scopes_supported` in the RFC 9728 document (default: the manifest's scopes).
    pub fn scopes_supported<S: Into<String>>(
        mut self,
        scopes: impl IntoIterator<Item = S>,
    ) -> Self {
        self.scopes_supported = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// `resource_name` in the RFC 9728 document.
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// Proxies (IP addresses or CIDR blocks) whose `Forwarded` / `X-Forwarded-For` headers
    /// are believed when computing the client IP. Without any, the TCP peer is the client and
    /// those headers are ignored, so spoofing them gains nothing.
    pub fn trusted_proxies<S: Into<String>>(
        mut self,
        proxies: impl IntoIterator<Item = S>,
    ) -> Self {
        self.trusted_proxies = proxies.into_iter().map(Into::into).collect();
        self
    }

    /// Replaces the clock (tests).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Clock leeway for expiry of cached tokens, in seconds (keep it equal to the verifier's).
    pub fn leeway(mut self, seconds: u64) -> Self {
        self.leeway = seconds;
        self
    }

    /// How many verified tokens to keep (0 disables the cache: every request verifies).
    pub fn token_cache_capacity(mut self, capacity: usize) -> Self {
        self.cache_capacity = capacity;
        self
    }

    /// Builds the Guard, or says what is wrong with the configuration.
    pub fn build(self) -> Result<Guard, ConfigError> {
        let resource = Resource::parse(self.resource)?;
        let verifier = self.verifier.ok_or_else(|| {
            ConfigError::new(
                "no token verifier: build the Guard with authsec_jwks::RemoteIssuer::guard(..), or call .verifier(..)",
            )
        })?;
        if self.authorization_servers.is_empty() {
            return Err(ConfigError::new(
                "no authorization server: MCP clients need at least one in the resource metadata; call .authorization_server(issuer)",
            ));
        }
        for scope in self
            .initial_scopes
            .iter()
            .chain(&self.required_scopes)
            .chain(self.scopes_supported.iter().flatten())
        {
            validate_scope_token(scope).map_err(ConfigError::new)?;
        }
        if self.required_scopes.iter().any(|s| s == "offline_access") {
            return Err(ConfigError::new(
                "require_scopes(offline_access): offline_access is about refresh tokens and never appears in a challenge, so a client could never satisfy it",
            ));
        }
        self.manifest.validate()?;
        if let Some(Ok(current)) = self.manifest_source.as_ref().map(|s| s.current()) {
            current.validate()?;
        }
        let trusted_proxies =
            TrustedProxies::parse(self.trusted_proxies.iter().map(String::as_str))?;
        let tails_only = verifier.distinct_token_tails();
        Ok(Guard {
            inner: Arc::new(Inner {
                resource,
                authorization_servers: self.authorization_servers,
                verifier,
                revocation: self.revocation,
                policy: self.policy,
                manifest: Arc::new(if self.manifest_source.is_some() {
                    ToolManifest::new()
                } else {
                    self.manifest
                }),
                manifest_source: self.manifest_source,
                clock: self.clock,
                extra_audiences: self.extra_audiences,
                initial_scopes: self
                    .initial_scopes
                    .into_iter()
                    .filter(|s| s != "offline_access")
                    .collect::<Vec<_>>()
                    .join(" "),
                required_scopes: self.required_scopes,
                leeway: self.leeway,
                tokens: (self.cache_capacity > 0).then(|| {
                    let hashing = TokenHashing {
                        state: Default::default(),
                        tails_only,
                    };
                    let capacity = self.cache_capacity;
                    Cache::with(
                        capacity,
                        capacity as u64,
                        UnitWeighter,
                        hashing,
                        DefaultLifecycle::default(),
                    )
                }),
                sessions: Cache::new(DEFAULT_SESSION_CAPACITY),
                resource_name: self.resource_name,
                scopes_supported: self.scopes_supported,
                trusted_proxies,
            }),
        })
    }
}

/// A verified token as the cache's key: hashed and compared whole.
struct CachedToken(Arc<str>);

/// A token looked up in the cache, as the bytes of its `Authorization` header: a hit needs no
/// UTF-8 check, since only tokens that passed the syntax check are ever stored.
struct TokenBytes<'a>(&'a [u8]);

/// The verified tokens, by token.
type TokenCache = Cache<
    CachedToken,
    Principal,
    UnitWeighter,
    TokenHashing,
    DefaultLifecycle<CachedToken, Principal>,
>;

/// Both key types hash the token's bytes with one `write`, which [`TokenHasher`] shortens.
fn hash_token<H: Hasher>(token: &[u8], state: &mut H) {
    state.write(token);
}

/// How many of a token's last bytes are hashed when the verifier says they tell tokens apart
/// ([`TokenVerifier::distinct_token_tails`]): 96 bits and more of a signature.
const HASHED_TAIL: usize = 16;

/// The verified-token cache's hashing: foldhash (randomly seeded) over the whole token, or, when
/// the verifier vouches that distinct tokens end differently (a JWT's signature), over its length
/// and last [`HASHED_TAIL`] bytes only: a hit then hashes 16 bytes, not the whole token (an RS256
/// signature alone is 342).
/// Keys are still compared whole. The tail is chosen by the verifier, never by a caller: only
/// verified tokens are stored, so no one without the signing key can fill one bucket.
#[derive(Clone)]
struct TokenHashing {
    state: foldhash::fast::RandomState,
    tails_only: bool,
}

impl BuildHasher for TokenHashing {
    type Hasher = TokenHasher;

    fn build_hasher(&self) -> TokenHasher {
        TokenHasher {
            inner: self.state.build_hasher(),
            tails_only: self.tails_only,
        }
    }
}

/// [`TokenHashing`]'s hasher.
struct TokenHasher {
    inner: foldhash::fast::FoldHasher<'static>,
    tails_only: bool,
}

impl Hasher for TokenHasher {
    fn write(&mut self, bytes: &[u8]) {
        if self.tails_only {
            self.inner.write_usize(bytes.len());
            self.inner
                .write(&bytes[bytes.len().saturating_sub(HASHED_TAIL)..]);
        } else {
            self.inner.write(bytes);
        }
    }

    fn finish(&self) -> u64 {
        self.inner.finish()
    }
}

impl Hash for CachedToken {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_token(self.0.as_bytes(), state);
    }
}

impl Hash for TokenBytes<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_token(self.0, state);
    }
}

impl PartialEq for CachedToken {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Eq for CachedToken {}

impl quick_cache::Equivalent<CachedToken> for TokenBytes<'_> {
    fn equivalent(&self, key: &CachedToken) -> bool {
        self.0 == key.0.as_bytes()
    }
}
