//! The traits through which the Guard reaches the outside world (checks 1, 4 and 5).
//!
//! The core does no I/O: the JWKS fetch, the introspection call and the policy store all live
//! behind these traits, implemented in authsec-jwks, authsec-policy or by the user.

use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;

use crate::denial::Denial;
use crate::manifest::ToolRule;
use crate::mcp::JsonText;
use crate::principal::{Claims, Principal};
use crate::scope::ScopeSet;

/// Check 1: turns a bearer token into verified claims (signature and expiry checked).
///
/// Errors are denials: `invalid_token` for a bad token, `authorization_unavailable` when the
/// keys or the introspection endpoint cannot be reached. Implementations must return an `aud`
/// whenever the token has one: the Guard checks it (check 2).
#[async_trait]
pub trait TokenVerifier: Send + Sync + 'static {
    /// Verifies `token`.
    async fn verify(&self, token: &str) -> Result<Claims, Denial>;

    /// Whether any two different tokens this verifier accepts differ in their last 16 bytes.
    /// Signed JWTs do: their signature ends them, and only the signer could make two
    /// different tokens whose signatures end alike. The verified-token cache then hashes only
    /// those bytes, which makes a cache hit cheaper; tokens are still compared whole, so the
    /// answer never changes which token matches, only how well the cache spreads them.
    ///
    /// The default, `false`, hashes whole tokens, which suits any verifier. Say `true` only
    /// when it holds: tokens accepted with a shared ending would all share one bucket.
    fn distinct_token_tails(&self) -> bool {
        false
    }
}

/// Check 4: asks whether a verified token is still active (RFC 7662 introspection).
#[async_trait]
pub trait RevocationCheck: Send + Sync + 'static {
    /// `Ok(())` if active; `token_revoked` if not; `authorization_unavailable` if unknown.
    async fn check(&self, token: &str, principal: &Principal) -> Result<(), Denial>;
}

/// Check 5: a tool policy (step-up, IP, time, arguments, quotas...).
///
/// Runs after the token, audience, scope and revocation checks passed. Return
/// `step_up_required`, `policy_denied` or `quota_exceeded`; never `scope_insufficient`
/// (scopes are check 3's business).
#[async_trait]
pub trait Policy: Send + Sync + 'static {
    /// Decides one request (for a JSON-RPC batch, once per `tools/call` element).
    async fn evaluate(&self, request: &PolicyRequest<'_>) -> Result<(), Denial>;

    /// [`evaluate`](Self::evaluate), naming the rule that decided, for the audit log
    /// ([`DecidingRule`](crate::audit::DecidingRule)). The default names none; a policy made of
    /// named rules overrides it (authsec-policy's `PolicySet` does).
    async fn evaluate_with_rule(&self, request: &PolicyRequest<'_>) -> PolicyOutcome {
        PolicyOutcome::new(self.evaluate(request).await)
    }

    /// Check 3's input: the scopes this request may use, when the policy narrows what the token
    /// grants (role bindings). `None`, the default, means exactly the token's scopes.
    ///
    /// The Guard only ever narrows with it: a tool needs its scopes both in the token (else
    /// `scope_insufficient`, which more consent can fix) and in the returned set (else
    /// `policy_denied`, which it cannot), so scopes returned beyond the token's grant nothing.
    /// It is asked once per `tools/call` with the call's tool, manifest rule and arguments (and
    /// once without a tool for the scopes every request needs); and, to filter `tools/list`,
    /// once per listed tool with `method = Some("tools/list")` and no arguments nor client
    /// address, where a condition on those should be taken as met (the call is checked with
    /// everything known). Runs on the request path without awaiting: keep it cheap.
    fn effective_scopes(&self, request: &PolicyRequest<'_>) -> Option<ScopeSet> {
        let _ = request;
        None
    }

    /// Whether [`evaluate_now`](Self::evaluate_now) can answer. `false`, the default, means
    /// every request with this policy is checked by awaiting; `true` lets a request with a warm
    /// token be checked without a boxed future ([`Guard::check_now`](crate::Guard::check_now)).
    fn decides_now(&self) -> bool {
        false
    }

    /// [`evaluate_with_rule`](Self::evaluate_with_rule) without awaiting, for a policy that can
    /// decide without I/O. It must give the same outcome, with the same effects (a ruling
    /// recorded once); `None` means "await me", and must come before any effect. Only asked
    /// when [`decides_now`](Self::decides_now) is `true`, and never for a JSON-RPC batch.
    fn evaluate_now(&self, request: &PolicyRequest<'_>) -> Option<PolicyOutcome> {
        let _ = request;
        None
    }
}

/// A check-5 outcome and the name of the rule that decided it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PolicyOutcome {
    /// Whether the request may proceed.
    pub result: Result<(), Denial>,
    /// The deciding rule, when the policy names its rules.
    pub rule: Option<Arc<str>>,
}

impl PolicyOutcome {
    /// An outcome without a rule name.
    pub fn new(result: Result<(), Denial>) -> Self {
        PolicyOutcome { result, rule: None }
    }

    /// Names the deciding rule.
    pub fn with_rule(mut self, rule: Arc<str>) -> Self {
        self.rule = Some(rule);
        self
    }
}

/// What a [`Policy`] sees.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct PolicyRequest<'a> {
    /// The caller.
    pub principal: &'a Principal,
    /// The tool of a `tools/call`, `None` for other requests.
    pub tool: Option<&'a str>,
    /// The tool's manifest entry, when there is one.
    pub rule: Option<&'a ToolRule>,
    /// The tool's JSON arguments, unparsed (parse only what you need).
    pub arguments: Option<JsonText<'a>>,
    /// The JSON-RPC method, `None` for requests without an MCP body.
    pub method: Option<&'a str>,
    /// The client address, as the adapter determined it.
    pub client_ip: Option<IpAddr>,
    /// Now, in seconds since the epoch.
    pub now: u64,
}

impl<'a> PolicyRequest<'a> {
    /// A request for `principal` at `now`; the other fields start empty.
    pub fn new(principal: &'a Principal, now: u64) -> Self {
        PolicyRequest {
            principal,
            tool: None,
            rule: None,
            arguments: None,
            method: None,
            client_ip: None,
            now,
        }
    }
}

/// A verifier that rejects everything; useful as a placeholder in examples and tests of
/// denial rendering.
#[derive(Clone, Copy, Debug, Default)]
pub struct RejectAll;

#[async_trait]
impl TokenVerifier for RejectAll {
    async fn verify(&self, _token: &str) -> Result<Claims, Denial> {
        Err(Denial::invalid_token("no token verifier is configured"))
    }
}
