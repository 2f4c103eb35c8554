//! The policy set: named rules, the rule for every request, role bindings and quotas, behind
//! one [`Policy`].
//!
//! For each request reaching check 5, a [`PolicySet`]:
//!
//! 1. applies the rule every request must pass ([`PolicySetBuilder::global`]), if any;
//! 2. for a `tools/call`, applies the rule the tool's manifest entry names (`policy = "name"`);
//!    a name that is not registered denies the call (`policy_denied`), never skips the check;
//! 3. for a `tools/call` that passed, counts it against every quota that applies, atomically.
//!
//! Role bindings act earlier, on check 3 and `tools/list`, through
//! [`Policy::effective_scopes`] (see [`binding`](crate::binding)).
//!
//! Every decision is a [`Ruling`]: the outcome and the name of the rule that decided it. Denials
//! name the failing rule (`fresh_mfa`, `deploy.all_of[1]`, `quota.writes`, `quota_store`);
//! allowed calls name the tool's rule, else the global rule, else `none`. Rulings are emitted as
//! `tracing` events (target `authsec::policy`: `info` for denials, `debug` for allowed calls) and
//! handed to the hook set with [`PolicySetBuilder::on_decision`], for an audit log.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use authsec_core::scope::validate_scope_token;
use authsec_core::{
    ConfigError, Denial, Policy, PolicyOutcome, PolicyRequest, ScopeSet, ToolManifest,
};
use serde_json::Value;

use crate::binding::{Binding, Bindings, BoundRole, DEFAULT_GROUPS_CLAIM};
use crate::quota::{
    Admission, Bucket, DEFAULT_PLAN_CLAIM, MemoryStore, OnUnavailable, Quota, QuotaKey, QuotaStore,
};
use crate::rule::{Compiler, Issue, Node, Outcome, Rule};

/// The rule name of an allowed request no rule applied to.
pub const NO_RULE: &str = "none";

/// The rule name of a decision made because the quota store could not answer.
pub const QUOTA_STORE_RULE: &str = "quota_store";

/// A decision of check 5 and the rule that made it, for the audit log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ruling {
    rule: Arc<str>,
    outcome: Result<(), Denial>,
}

impl Ruling {
    fn allow(rule: Arc<str>) -> Self {
        Ruling {
            rule,
            outcome: Ok(()),
        }
    }

    fn deny(rule: Arc<str>, denial: Denial) -> Self {
        Ruling {
            rule,
            outcome: Err(denial),
        }
    }

    /// The rule that decided: for a denial the failing rule (`fresh_mfa`, `deploy.all_of[1]`,
    /// `quota.writes`, `quota_store`), for an allowed call the tool's rule, else the global
    /// rule, else [`NO_RULE`].
    pub fn rule(&self) -> &str {
        &self.rule
    }

    /// Whether the call may proceed.
    pub fn is_allowed(&self) -> bool {
        self.outcome.is_ok()
    }

    /// The denial, if the call was refused.
    pub fn denial(&self) -> Option<&Denial> {
        self.outcome.as_ref().err()
    }

    /// The outcome, as [`Policy::evaluate`] returns it.
    pub fn into_result(self) -> Result<(), Denial> {
        self.outcome
    }
}

impl fmt::Display for Ruling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.outcome {
            Ok(()) => write!(f, "allowed by {}", self.rule),
            Err(denial) => write!(f, "{} by {}", denial.code(), self.rule),
        }
    }
}

type DecisionHook = Arc<dyn Fn(&PolicyRequest<'_>, &Ruling) + Send + Sync>;

/// Named rules, bindings and quotas behind one [`Policy`]; see the [module documentation](self).
///
/// Cheap to clone. Build one with [`PolicySet::builder`] or from a TOML file with
/// [`PolicyConfig`](crate::PolicyConfig).
#[derive(Clone)]
pub struct PolicySet {
    inner: Arc<Inner>,
}

struct Inner {
    global: Option<Arc<Node>>,
    named: BTreeMap<String, Arc<Node>>,
    bindings: Option<Bindings>,
    quotas: Vec<MeteredQuota>,
    store: Arc<dyn QuotaStore>,
    on_unavailable: OnUnavailable,
    plan_claim: String,
    hook: Option<DecisionHook>,
    none: Arc<str>,
    store_rule: Arc<str>,
    /// No quotas and no rule that awaits (a custom policy): every request is decided at once
    /// ([`Policy::evaluate_now`]).
    decides_now: bool,
}

struct MeteredQuota {
    quota: Quota,
    rule: Arc<str>,
}

impl fmt::Debug for PolicySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("PolicySet")
            .field("rules", &inner.named.keys().collect::<Vec<_>>())
            .field("global", &inner.global.as_ref().map(|g| &*g.name))
            .field(
                "bindings",
                &inner.bindings.as_ref().map_or(0, |b| b.bound.len()),
            )
            .field(
                "quotas",
                &inner
                    .quotas
                    .iter()
                    .map(|q| q.quota.name())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl PolicySet {
    /// An empty set (allows everything) to add rules, bindings and quotas to.
    pub fn builder() -> PolicySetBuilder {
        PolicySetBuilder {
            rules: BTreeMap::new(),
            global: None,
            roles: BTreeMap::new(),
            bindings: Vec::new(),
            groups_claim: DEFAULT_GROUPS_CLAIM.to_owned(),
            plan_claim: DEFAULT_PLAN_CLAIM.to_owned(),
            quotas: Vec::new(),
            store: None,
            on_unavailable: OnUnavailable::default(),
            hook: None,
        }
    }

    /// The names of the registered rules.
    pub fn rule_names(&self) -> impl Iterator<Item = &str> {
        self.inner.named.keys().map(String::as_str)
    }

    /// Checks that every `policy` named in `manifest` is a registered rule, so a typo fails at
    /// start-up instead of denying every call of the tool.
    pub fn check_manifest(&self, manifest: &ToolManifest) -> Result<(), ConfigError> {
        for (tool, rule) in manifest.tools() {
            if let Some(name) = rule.policy.as_deref()
                && !self.inner.named.contains_key(name)
            {
                return Err(ConfigError::new(format!(
                    "tool {tool:?} names the policy {name:?}, which is not registered (known: {})",
                    self.rule_names().collect::<Vec<_>>().join(", ")
                )));
            }
        }
        Ok(())
    }

    /// Decides one request (what [`Policy::evaluate`] does, before recording the ruling).
    pub async fn decide(&self, request: &PolicyRequest<'_>) -> Ruling {
        let mut decided_by = self.inner.none.clone();
        for node in self.rules_for(request) {
            let node = match node {
                Ok(node) => node,
                Err(ruling) => return ruling,
            };
            let outcome = if node.sync {
                node.eval_sync(request, false)
            } else {
                node.eval(request).await
            };
            match ruling(node, outcome) {
                Ok(()) => decided_by = node.name.clone(),
                Err(ruling) => return ruling,
            }
        }
        if let Some(tool) = request.tool
            && !self.inner.quotas.is_empty()
            && let Some(ruling) = self.meter(tool, request).await
        {
            return ruling;
        }
        Ruling::allow(decided_by)
    }

    /// [`decide`](Self::decide) for a set that decides at once (no quotas, no custom rule).
    fn decide_now(&self, request: &PolicyRequest<'_>) -> Ruling {
        let mut decided_by = self.inner.none.clone();
        for node in self.rules_for(request) {
            let node = match node {
                Ok(node) => node,
                Err(ruling) => return ruling,
            };
            match ruling(node, node.eval_sync(request, false)) {
                Ok(()) => decided_by = node.name.clone(),
                Err(ruling) => return ruling,
            }
        }
        Ruling::allow(decided_by)
    }

    /// The rules a request must pass, in order: the global rule, then the tool's (or the
    /// refusal of a tool whose rule is not configured).
    fn rules_for<'s>(
        &'s self,
        request: &PolicyRequest<'_>,
    ) -> impl Iterator<Item = Result<&'s Node, Ruling>> {
        let inner = &*self.inner;
        let named = request
            .rule
            .and_then(|rule| rule.policy.as_deref())
            .map(|name| match inner.named.get(name) {
                Some(node) => Ok(&**node),
                None => Err(Ruling::deny(
                    Arc::from(name),
                    Denial::policy_denied(format!(
                        "the policy {name:?} this tool requires is not configured on this server"
                    )),
                )),
            });
        inner.global.as_deref().map(Ok).into_iter().chain(named)
    }

    /// Counts a call against its quotas; `Some` when it must be refused.
    async fn meter(&self, tool: &str, request: &PolicyRequest<'_>) -> Option<Ruling> {
        let inner = &*self.inner;
        let principal = request.principal;
        let plan = match principal.claim(&inner.plan_claim) {
            Some(Value::String(plan)) => Some(plan.as_str()),
            _ => None,
        };
        let counted: Vec<(&MeteredQuota, String)> = inner
            .quotas
            .iter()
            .filter(|m| m.quota.counts(tool))
            .map(|m| {
                let who = match m.quota.key {
                    QuotaKey::User => principal.subject(),
                    QuotaKey::Client => principal.client_id().unwrap_or(""),
                    QuotaKey::Plan => plan.unwrap_or(""),
                    QuotaKey::Global => "",
                };
                (m, m.quota.bucket_key(who, tool))
            })
            .collect();
        if counted.is_empty() {
            return None;
        }
        let buckets: Vec<Bucket<'_>> = counted
            .iter()
            .map(|(m, key)| Bucket {
                key,
                rate: m.quota.rate_for(plan),
            })
            .collect();
        match inner
            .store
            .acquire(&buckets, request.now.saturating_mul(1000))
            .await
        {
            Ok(Admission::Exceeded {
                bucket,
                retry_after_ms,
            }) => {
                let (metered, _) = counted.get(bucket).or(counted.first())?;
                let quota = &metered.quota;
                let seconds = retry_after_ms.div_ceil(1000).max(1);
                metrics::counter!(
                    authsec_core::metric::QUOTA_REJECTIONS_TOTAL,
                    "quota" => quota.name().to_owned()
                )
                .increment(1);
                let description = format!(
                    "the {:?} quota of {} {} is used up; retry in {seconds} s",
                    quota.name(),
                    quota.rate_for(plan),
                    quota.key.describe()
                );
                Some(Ruling::deny(
                    metered.rule.clone(),
                    Denial::quota_exceeded(seconds).with_description(description),
                ))
            }
            Ok(_) => None,
            Err(error) => match inner.on_unavailable {
                OnUnavailable::Allow => {
                    tracing::warn!(target: "authsec::policy", %error, "quota store unavailable: call let through unmetered (fail-open)");
                    None
                }
                _ => {
                    tracing::warn!(target: "authsec::policy", %error, "quota store unavailable: call refused (fail-closed)");
                    Some(Ruling::deny(
                        inner.store_rule.clone(),
                        Denial::authorization_unavailable(
                            "the quota service is unavailable; retry later",
                        ),
                    ))
                }
            },
        }
    }

    fn record(&self, request: &PolicyRequest<'_>, ruling: &Ruling) {
        let subject = request.principal.subject();
        let tool = request.tool.unwrap_or("");
        match ruling.denial() {
            None => {
                tracing::debug!(target: "authsec::policy", rule = ruling.rule(), subject, tool, "allowed")
            }
            Some(denial) => tracing::info!(
                target: "authsec::policy",
                rule = ruling.rule(),
                subject,
                tool,
                denial = denial.code().as_str(),
                reason = denial.description(),
                "denied"
            ),
        }
        if let Some(hook) = &self.inner.hook {
            hook(request, ruling);
        }
    }
}

/// A rule's outcome as the set's ruling: `Err` for a refusal.
fn ruling(node: &Node, outcome: Outcome) -> Result<(), Ruling> {
    match outcome {
        Outcome::Allow => Ok(()),
        Outcome::Deny(failure) => Err(Ruling::deny(failure.rule, failure.denial)),
        // Only a listing can be undecided; a call never is. Fail closed regardless.
        Outcome::Unknown => Err(Ruling::deny(
            node.name.clone(),
            Denial::policy_denied("this operation's policy could not be decided"),
        )),
    }
}

#[async_trait]
impl Policy for PolicySet {
    async fn evaluate(&self, request: &PolicyRequest<'_>) -> Result<(), Denial> {
        let ruling = self.decide(request).await;
        self.record(request, &ruling);
        ruling.into_result()
    }

    /// Names the [`Ruling`]'s rule, for authsec-core's audit event.
    async fn evaluate_with_rule(&self, request: &PolicyRequest<'_>) -> PolicyOutcome {
        let ruling = self.decide(request).await;
        self.record(request, &ruling);
        let rule = ruling.rule.clone();
        PolicyOutcome::new(ruling.into_result()).with_rule(rule)
    }

    /// Without quotas or custom rules, a set decides without awaiting.
    fn decides_now(&self) -> bool {
        self.inner.decides_now
    }

    fn evaluate_now(&self, request: &PolicyRequest<'_>) -> Option<PolicyOutcome> {
        if !self.inner.decides_now {
            return None;
        }
        let ruling = self.decide_now(request);
        self.record(request, &ruling);
        let rule = ruling.rule.clone();
        Some(PolicyOutcome::new(ruling.into_result()).with_rule(rule))
    }

    /// With bindings configured: the token's scopes that the caller's bindings allow.
    fn effective_scopes(&self, request: &PolicyRequest<'_>) -> Option<ScopeSet> {
        self.inner
            .bindings
            .as_ref()
            .map(|bindings| bindings.effective_scopes(request))
    }
}

/// Configuration of a [`PolicySet`].
#[must_use]
pub struct PolicySetBuilder {
    rules: BTreeMap<String, Rule>,
    global: Option<Rule>,
    roles: BTreeMap<String, Vec<String>>,
    bindings: Vec<Binding>,
    groups_claim: String,
    plan_claim: String,
    quotas: Vec<Quota>,
    store: Option<Arc<dyn QuotaStore>>,
    on_unavailable: OnUnavailable,
    hook: Option<DecisionHook>,
}

impl fmt::Debug for PolicySetBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicySetBuilder")
            .field("rules", &self.rules.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl PolicySetBuilder {
    /// Registers `rule` as `name`: tools name it in the manifest (`policy = "name"`), other rules
    /// refer to it with [`Rule::reference`].
    pub fn rule(mut self, name: impl Into<String>, rule: impl Into<Rule>) -> Self {
        self.rules.insert(name.into(), rule.into());
        self
    }

    /// Registers your own [`Policy`] as `name` (a shorthand for `rule(name, Rule::custom(policy))`).
    pub fn custom(self, name: impl Into<String>, policy: impl Policy) -> Self {
        self.rule(name, Rule::custom(policy))
    }

    /// A rule every request reaching check 5 must pass, tool call or not, before the tool's own.
    pub fn global(mut self, rule: impl Into<Rule>) -> Self {
        self.global = Some(rule.into());
        self
    }

    /// Defines the role `name` as these scopes.
    pub fn role<S: Into<String>>(
        mut self,
        name: impl Into<String>,
        scopes: impl IntoIterator<Item = S>,
    ) -> Self {
        self.roles
            .insert(name.into(), scopes.into_iter().map(Into::into).collect());
        self
    }

    /// Adds a binding. With at least one, the scopes a request may use are narrowed to those of
    /// the roles bound to the caller.
    pub fn bind(mut self, binding: Binding) -> Self {
        self.bindings.push(binding);
        self
    }

    /// The claim listing a caller's groups (default `groups`): an array of strings or a string.
    pub fn groups_claim(mut self, claim: impl Into<String>) -> Self {
        self.groups_claim = claim.into();
        self
    }

    /// The claim naming a caller's plan (default `plan`), for per-plan quotas and rates.
    pub fn plan_claim(mut self, claim: impl Into<String>) -> Self {
        self.plan_claim = claim.into();
        self
    }

    /// Adds a quota.
    pub fn quota(mut self, quota: Quota) -> Self {
        self.quotas.push(quota);
        self
    }

    /// Where quota buckets live (default: a [`MemoryStore`]).
    pub fn store(self, store: impl QuotaStore) -> Self {
        self.store_arc(Arc::new(store))
    }

    /// [`store`](Self::store) from a shared store.
    pub fn store_arc(mut self, store: Arc<dyn QuotaStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// What a call meets when the quota store cannot answer (default: [`OnUnavailable::Deny`]).
    pub fn on_store_unavailable(mut self, behaviour: OnUnavailable) -> Self {
        self.on_unavailable = behaviour;
        self
    }

    /// Called with every ruling of [`Policy::evaluate`] (for an audit log). Keep it fast: it
    /// runs on the request path.
    pub fn on_decision(
        mut self,
        hook: impl Fn(&PolicyRequest<'_>, &Ruling) + Send + Sync + 'static,
    ) -> Self {
        self.hook = Some(Arc::new(hook));
        self
    }

    /// Builds the set, or says what is wrong: an unknown reference or role, a cycle, an empty
    /// combinator, a custom policy as a binding condition, a bad scope, a duplicate quota.
    pub fn build(self) -> Result<PolicySet, ConfigError> {
        self.build_located()
            .map_err(|issue| ConfigError::new(format!("{}: {}", issue.path, issue.message)))
    }

    pub(crate) fn build_located(self) -> Result<PolicySet, Issue> {
        let mut compiler = Compiler::new(&self.rules);
        let mut named = BTreeMap::new();
        for name in self.rules.keys() {
            if name.is_empty() {
                return Err(Issue::new(name, "a policy needs a non-empty name"));
            }
            named.insert(name.clone(), compiler.named(name, name)?);
        }
        let global = match &self.global {
            Some(rule) => Some(compiler.compile(rule, "policy".to_owned())?),
            None => None,
        };
        for (role, scopes) in &self.roles {
            for scope in scopes {
                validate_scope_token(scope).map_err(|m| Issue::new(format!("roles.{role}"), m))?;
            }
        }
        let mut bound = Vec::with_capacity(self.bindings.len());
        for (i, binding) in self.bindings.iter().enumerate() {
            let at = format!("bindings[{i}]");
            let Some(scopes) = self.roles.get(&binding.role) else {
                let known: Vec<&str> = self.roles.keys().map(String::as_str).collect();
                return Err(Issue::new(
                    format!("{at}.role"),
                    format!(
                        "no role is named {:?} (known: {})",
                        binding.role,
                        if known.is_empty() {
                            "none".to_owned()
                        } else {
                            known.join(", ")
                        }
                    ),
                ));
            };
            if binding.subjects.is_empty()
                && binding.groups.is_empty()
                && binding.clients.is_empty()
            {
                return Err(Issue::new(
                    at,
                    "a binding gives its role to nobody: list subjects, groups or clients (subjects = [\"*\"] for everyone)",
                ));
            }
            let when = match &binding.when {
                None => None,
                Some(rule) => {
                    let node = compiler.compile(rule, format!("{at}.when"))?;
                    if !node.sync {
                        return Err(Issue::new(
                            format!("{at}.when"),
                            "a binding condition must be made of built-in rules: a custom policy cannot decide scopes",
                        ));
                    }
                    Some(node)
                }
            };
            bound.push(BoundRole {
                scopes: scopes.clone().into(),
                everyone: binding.subjects.iter().any(|s| s == "*"),
                subjects: binding.subjects.clone(),
                groups: binding.groups.clone(),
                clients: binding.clients.clone(),
                when,
            });
        }
        let mut quotas: Vec<MeteredQuota> = Vec::with_capacity(self.quotas.len());
        for (i, quota) in self.quotas.into_iter().enumerate() {
            let at = format!("quotas[{i}]");
            if quota.name.is_empty() || quota.name.contains(':') {
                return Err(Issue::new(at, "a quota needs a name without ':'"));
            }
            if quotas.iter().any(|q| q.quota.name == quota.name) {
                return Err(Issue::new(
                    at,
                    format!("two quotas are named {:?}", quota.name),
                ));
            }
            if quota
                .tools
                .as_ref()
                .is_some_and(|t| t.is_empty() || t.iter().any(String::is_empty))
            {
                return Err(Issue::new(
                    format!("{at}.tools"),
                    "`tools` lists no tool (leave it out to count every tool)",
                ));
            }
            quotas.push(MeteredQuota {
                rule: format!("quota.{}", quota.name).into(),
                quota,
            });
        }
        let decides_now =
            quotas.is_empty() && global.iter().chain(named.values()).all(|node| node.sync);
        Ok(PolicySet {
            inner: Arc::new(Inner {
                global,
                named,
                bindings: (!bound.is_empty()).then(|| Bindings {
                    groups_claim: self.groups_claim,
                    bound,
                }),
                quotas,
                store: self.store.unwrap_or_else(|| Arc::new(MemoryStore::new())),
                on_unavailable: self.on_unavailable,
                plan_claim: self.plan_claim,
                hook: self.hook,
                none: Arc::from(NO_RULE),
                store_rule: Arc::from(QUOTA_STORE_RULE),
                decides_now,
            }),
        })
    }
}
