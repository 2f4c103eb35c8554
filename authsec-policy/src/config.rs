//! The declarative form: one TOML file for the tool manifest and the policies.
//!
//! ```toml
//! # Top-level settings come first (in TOML, a key after a [table] header belongs to that table).
//! policy = "not_from_guest_wifi"     # a rule every request must pass: a name or an inline table
//! groups_claim = "groups"           # where bindings read groups (default "groups")
//! plan_claim = "plan"               # where quotas read the plan (default "plan")
//!
//! # Who may call what. The [tools] and [default] tables are authsec-core's tool manifest.
//! [tools.list_notes]
//! scopes = ["notes:read"]
//!
//! [tools.purge_notes]
//! scopes = ["notes:admin"]
//! policy = "fresh_mfa"              # a rule from [policies]
//!
//! [tools.deploy]
//! scopes = ["deploy"]
//! policy = "deploy_rules"
//!
//! # Named rules: each has exactly one of step_up, ip, time, argument, all_of, any_of, not,
//! # and optionally a description (the error_description of its denials).
//! [policies.fresh_mfa]
//! step_up = { acr = ["mfa"], amr = ["mfa"], max_age = 300 }
//!
//! [policies.office]
//! ip = { allow = ["10.0.0.0/8", "2001:db8::/32"], deny = ["10.66.0.0/16"] }
//!
//! [policies.office_hours]
//! time = { zone = "Europe/Paris", days = "mon-fri", hours = "08:00-19:00" }
//!
//! [policies.not_from_guest_wifi]
//! not = { ip = { allow = ["10.66.0.0/16"] } }
//! description = "not from the guest network"
//!
//! [policies.deploy_rules]
//! all_of = [
//!     "fresh_mfa",
//!     { any_of = ["office", "office_hours"] },
//!     { argument = { name = "repo", in = ["acme/api"], matches = ["acme/tools-*"] } },
//! ]
//!
//! # Roles and bindings: the scopes a caller may use are the token's, narrowed to the roles
//! # bound to them (once any binding exists).
//! [roles.reader]
//! scopes = ["notes:read"]
//! [roles.admin]
//! scopes = ["notes:read", "notes:admin", "deploy"]
//!
//! [[bindings]]
//! role = "reader"
//! subjects = ["*"]
//!
//! [[bindings]]
//! role = "admin"
//! groups = ["ops"]
//! when = "office"
//!
//! # Quotas on tool calls, counted per user, client, plan (a claim) or globally.
//! [[quotas]]
//! name = "calls"
//! per = "user"
//! rate = "100/minute"
//! plans = { pro = "1000/minute" }
//!
//! [[quotas]]
//! name = "deploys"
//! per = "global"
//! rate = "10/hour"
//! tools = ["deploy"]
//!
//! # Where buckets live: "memory" (default) or "redis" (needs the `redis` feature).
//! [quota_store]
//! kind = "memory"
//! on_unavailable = "deny"           # or "allow" (fail-open)
//! ```
//!
//! For the in-process store, `capacity` bounds the live buckets (default 1 000 000). For Redis:
//! `kind = "redis"`, `url = "redis://127.0.0.1:6379/0"` (or `url_env = "REDIS_URL"` to keep a
//! password out of the file), `timeout_ms` (default 250), `key_prefix` (default
//! `authsec:quota:`).
//!
//! Everything is checked when the file is loaded, so a server with a bad file never starts:
//! unknown fields, malformed CIDR blocks, unknown time zones, bad hours or rates, references to
//! rules or roles that do not exist, cycles, and tools naming undefined policies are all
//! [`ConfigError`]s naming the line and column, e.g.
//! `policy.toml line 12, column 19: unknown time zone "Europe/Pariss": ...`.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
#[cfg(feature = "redis")]
use std::time::Duration;

use authsec_core::scope::validate_scope_token;
use authsec_core::{ConfigError, Policy, PolicyRequest, ToolManifest, ToolRule};
use ipnet::IpNet;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use toml::Spanned;

use crate::argument::ArgumentCondition;
use crate::binding::Binding;
use crate::ip::{IpCondition, parse_block};
use crate::policy_set::{PolicySet, PolicySetBuilder, Ruling};
use crate::quota::{MemoryStore, OnUnavailable, Quota, QuotaKey, QuotaStore, Rate};
use crate::rule::Rule;
use crate::step_up::StepUp;
use crate::time_window::{TimeWindow, parse_days, parse_hours, parse_zone};

/// A loaded policy file: the tool manifest for the Guard's check 3 and the [`PolicySet`] for
/// check 5.
///
/// ```
/// use authsec_policy::PolicyConfig;
///
/// let config = PolicyConfig::from_toml_str(r#"
///     [tools.purge_notes]
///     scopes = ["notes:admin"]
///     policy = "fresh_mfa"
///
///     [policies.fresh_mfa]
///     step_up = { acr = ["mfa"], max_age = 300 }
/// "#)?;
/// assert_eq!(config.manifest().rule_for("purge_notes").unwrap().scopes, ["notes:admin"]);
/// let (manifest, policies) = config.into_parts();
/// // Guard::builder(..).manifest(manifest).policy(policies)
/// # let _ = (manifest, policies);
/// # Ok::<(), authsec_core::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct PolicyConfig {
    manifest: ToolManifest,
    policies: PolicySet,
}

impl PolicyConfig {
    /// Parses and builds a policy file held in memory.
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        Self::parse(text)?.build()
    }

    /// Reads, parses and builds the policy file at `path`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        Self::load(path)?.build()
    }

    /// Parses a policy file, leaving room to add your own policies before building.
    pub fn parse(text: &str) -> Result<PolicyConfigBuilder, ConfigError> {
        PolicyConfigBuilder::parse("policy config", text)
    }

    /// [`parse`](Self::parse), with errors naming `name` (e.g. the file the text came from,
    /// when it was embedded with `include_str!`).
    pub fn parse_named(name: &str, text: &str) -> Result<PolicyConfigBuilder, ConfigError> {
        PolicyConfigBuilder::parse(name, text)
    }

    /// Reads and parses the policy file at `path`, leaving room to add your own policies.
    pub fn load(path: impl AsRef<Path>) -> Result<PolicyConfigBuilder, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::new(format!(
                "cannot read the policy file {}: {e}",
                path.display()
            ))
        })?;
        PolicyConfigBuilder::parse(&path.display().to_string(), &text)
    }

    /// The tool manifest (`[tools]` and `[default]`), for `GuardBuilder::manifest`.
    pub fn manifest(&self) -> &ToolManifest {
        &self.manifest
    }

    /// The policies, for `GuardBuilder::policy`.
    pub fn policies(&self) -> &PolicySet {
        &self.policies
    }

    /// Both, by value.
    pub fn into_parts(self) -> (ToolManifest, PolicySet) {
        (self.manifest, self.policies)
    }
}

/// A parsed policy file, before it is built: add your own policies (the file can name them),
/// replace the quota store, or hook the audit trail.
#[must_use]
pub struct PolicyConfigBuilder {
    origin: String,
    text: String,
    manifest: ToolManifest,
    builder: PolicySetBuilder,
    spans: Vec<(String, Range<usize>)>,
    tool_policies: ToolPolicies,
}

impl fmt::Debug for PolicyConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyConfigBuilder")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl PolicyConfigBuilder {
    /// Registers your own [`Policy`] as `name`, for tools and rules of the file to name.
    pub fn custom(mut self, name: impl Into<String>, policy: impl Policy) -> Self {
        self.builder = self.builder.custom(name, policy);
        self
    }

    /// Replaces the quota store the file configures.
    pub fn store(mut self, store: impl QuotaStore) -> Self {
        self.builder = self.builder.store(store);
        self
    }

    /// Replaces the quota store the file configures, with a shared one.
    pub fn store_arc(mut self, store: Arc<dyn QuotaStore>) -> Self {
        self.builder = self.builder.store_arc(store);
        self
    }

    /// Called with every ruling (see [`PolicySetBuilder::on_decision`]).
    pub fn on_decision(
        mut self,
        hook: impl Fn(&PolicyRequest<'_>, &Ruling) + Send + Sync + 'static,
    ) -> Self {
        self.builder = self.builder.on_decision(hook);
        self
    }

    /// Builds the manifest and the policies; errors name the line.
    pub fn build(self) -> Result<PolicyConfig, ConfigError> {
        let located = |span: Range<usize>, message: String| {
            ConfigError::new(at(&self.origin, &self.text, span, &message))
        };
        let policies = self.builder.build_located().map_err(|issue| {
            match find_span(&self.spans, &issue.path) {
                Some(span) => located(span, issue.message),
                None => ConfigError::new(format!(
                    "{}: {}: {}",
                    self.origin, issue.path, issue.message
                )),
            }
        })?;
        let known: Vec<&str> = policies.rule_names().collect();
        for (tool, name) in &self.tool_policies {
            if !known.contains(&name.get_ref().as_str()) {
                return Err(located(
                    name.span(),
                    format!(
                        "tool {tool:?} names the policy {:?}, which is not defined in [policies] (known: {})",
                        name.get_ref(),
                        if known.is_empty() {
                            "none".to_owned()
                        } else {
                            known.join(", ")
                        }
                    ),
                ));
            }
        }
        self.manifest
            .validate()
            .map_err(|e| ConfigError::new(format!("{}: {}", self.origin, e.message())))?;
        Ok(PolicyConfig {
            manifest: self.manifest,
            policies,
        })
    }

    fn parse(origin: &str, text: &str) -> Result<Self, ConfigError> {
        let doc: Document = toml::from_str(text).map_err(|e| {
            let message = e.message().trim_end().to_owned();
            match e.span() {
                Some(span) => ConfigError::new(at(origin, text, span, &message)),
                None => ConfigError::new(format!("{origin}: {message}")),
            }
        })?;
        let mut loader = Loader { spans: Vec::new() };
        let result = loader.load(doc);
        let (manifest, builder, tool_policies) =
            result.map_err(|(span, message)| ConfigError::new(at(origin, text, span, &message)))?;
        Ok(PolicyConfigBuilder {
            origin: origin.to_owned(),
            text: text.to_owned(),
            manifest,
            builder,
            spans: loader.spans,
            tool_policies,
        })
    }
}

/// `"{origin} line L, column C: message"`.
fn at(origin: &str, text: &str, span: Range<usize>, message: &str) -> String {
    let offset = span.start.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("{origin} line {line}, column {column}: {message}")
}

/// The span recorded for `path`, else for its closest recorded parent.
fn find_span(spans: &[(String, Range<usize>)], path: &str) -> Option<Range<usize>> {
    let mut path = path;
    loop {
        if let Some((_, span)) = spans.iter().find(|(p, _)| p == path) {
            return Some(span.clone());
        }
        path = &path[..path.rfind(['.', '['])?];
    }
}

type Located<T> = Result<T, (Range<usize>, String)>;

/// The tools naming a policy, with where the name is written.
type ToolPolicies = Vec<(String, Spanned<String>)>;

struct Loader {
    spans: Vec<(String, Range<usize>)>,
}

impl Loader {
    fn load(&mut self, doc: Document) -> Located<(ToolManifest, PolicySetBuilder, ToolPolicies)> {
        let mut manifest = ToolManifest::new();
        let mut tool_policies = Vec::new();
        for (name, entry) in doc.tools {
            let span = entry.span();
            if name.is_empty() {
                return Err((span, "a tool needs a non-empty name".into()));
            }
            let entry = entry.into_inner();
            manifest = manifest.rule(name.clone(), tool_rule(&name, &entry)?);
            if let Some(policy) = entry.policy {
                tool_policies.push((name, policy));
            }
        }
        if let Some(entry) = doc.default {
            let entry = entry.into_inner();
            manifest = manifest.default_rule(tool_rule("(default)", &entry)?);
            if let Some(policy) = entry.policy {
                tool_policies.push(("(default)".to_owned(), policy));
            }
        }

        let mut builder = PolicySet::builder();
        for (name, table) in doc.policies {
            let span = table.span();
            let rule = self.rule(table.get_ref(), &name, span)?;
            builder = builder.rule(name, rule);
        }
        if let Some(global) = doc.policy {
            builder = builder.global(self.expr(&global, "policy")?);
        }
        for (name, role) in doc.roles {
            let role = role.into_inner();
            for scope in &role.scopes {
                check_scope(scope)?;
            }
            builder = builder.role(name, role.scopes.into_iter().map(Spanned::into_inner));
        }
        for (i, binding) in doc.bindings.into_iter().enumerate() {
            let path = format!("bindings[{i}]");
            self.spans.push((path.clone(), binding.span()));
            let entry = binding.into_inner();
            self.spans.push((format!("{path}.role"), entry.role.span()));
            let mut bound = Binding::role(entry.role.into_inner())
                .subjects(entry.subjects)
                .groups(entry.groups)
                .clients(entry.clients);
            if let Some(when) = &entry.when {
                bound = bound.when(self.expr(when, &format!("{path}.when"))?);
            }
            builder = builder.bind(bound);
        }
        if let Some(claim) = doc.groups_claim {
            builder = builder.groups_claim(claim);
        }
        if let Some(claim) = doc.plan_claim {
            builder = builder.plan_claim(claim);
        }
        for (i, quota) in doc.quotas.into_iter().enumerate() {
            let path = format!("quotas[{i}]");
            self.spans.push((path.clone(), quota.span()));
            let entry = quota.into_inner();
            let mut built =
                Quota::new(entry.name, entry.per.into(), entry.rate.0).per_tool(entry.per_tool);
            if let Some(tools) = entry.tools {
                built = built.tools(tools);
            }
            for (plan, rate) in entry.plans {
                built = built.plan(plan, rate.0);
            }
            builder = builder.quota(built);
        }
        if let Some(store) = doc.quota_store {
            let span = store.span();
            let store = store.into_inner();
            builder = builder.on_store_unavailable(store.on_unavailable.into());
            builder = match store.kind {
                StoreKind::Memory => builder.store(
                    store
                        .capacity
                        .map_or_else(MemoryStore::new, MemoryStore::with_capacity),
                ),
                StoreKind::Redis => redis_store(builder, &store, span)?,
            };
        }
        Ok((manifest, builder, tool_policies))
    }

    /// A rule table at `path`; `span` is the table's.
    fn rule(&mut self, table: &RuleTable, path: &str, span: Range<usize>) -> Located<Rule> {
        let kinds: Vec<(&str, Range<usize>)> = [
            ("step_up", table.step_up.as_ref().map(Spanned::span)),
            ("ip", table.ip.as_ref().map(Spanned::span)),
            ("time", table.time.as_ref().map(Spanned::span)),
            ("argument", table.argument.as_ref().map(Spanned::span)),
            ("all_of", table.all_of.as_ref().map(Spanned::span)),
            ("any_of", table.any_of.as_ref().map(Spanned::span)),
            ("not", table.not.as_ref().map(|n| n.span())),
        ]
        .into_iter()
        .filter_map(|(kind, span)| Some((kind, span?)))
        .collect();
        let [(_, kind_span)] = kinds.as_slice() else {
            let found: Vec<&str> = kinds.iter().map(|(kind, _)| *kind).collect();
            return Err((
                span,
                format!(
                    "a rule needs exactly one of step_up, ip, time, argument, all_of, any_of, not (found {}); combine several with all_of",
                    if found.is_empty() {
                        "none".to_owned()
                    } else {
                        found.join(", ")
                    }
                ),
            ));
        };
        // Problems with the rule itself are reported where its kind is written.
        let span = kind_span.clone();
        self.spans.push((path.to_owned(), span.clone()));
        let members =
            |this: &mut Self, kind: &str, exprs: &[Spanned<RuleExpr>]| -> Located<Vec<Rule>> {
                exprs
                    .iter()
                    .enumerate()
                    .map(|(i, e)| this.expr(e, &format!("{path}.{kind}[{i}]")))
                    .collect()
            };
        let rule = if let Some(s) = &table.step_up {
            let s = s.get_ref();
            let mut step_up = StepUp::new()
                .acr(s.acr.iter().cloned())
                .amr(s.amr.iter().cloned());
            if let Some(max_age) = s.max_age {
                step_up = step_up.max_age(max_age);
            }
            Rule::step_up(step_up)
        } else if let Some(ip) = &table.ip {
            let ip = ip.get_ref();
            // Parsed here rather than while reading, so an error points at the block itself
            // even inside a multi-line array.
            let blocks = |list: &[Spanned<String>]| -> Located<Vec<IpNet>> {
                list.iter()
                    .map(|b| parse_block(b.get_ref()).map_err(|m| (b.span(), m)))
                    .collect()
            };
            Rule::ip(
                IpCondition::new()
                    .allow_nets(blocks(&ip.allow)?)
                    .deny_nets(blocks(&ip.deny)?),
            )
        } else if let Some(t) = &table.time {
            let t = t.get_ref();
            let window = TimeWindow::new(&t.zone.0, &t.days.0, &t.hours.0)
                .map_err(|e| (span.clone(), e.message().to_owned()))?;
            Rule::time(window)
        } else if let Some(a) = &table.argument {
            let a = a.get_ref();
            Rule::argument(
                ArgumentCondition::one_of(a.name.clone(), a.one_of.iter().cloned())
                    .or_matching(a.matches.0.iter().cloned()),
            )
        } else if let Some(exprs) = &table.all_of {
            Rule::all_of(members(self, "all_of", exprs.get_ref())?)
        } else if let Some(exprs) = &table.any_of {
            Rule::any_of(members(self, "any_of", exprs.get_ref())?)
        } else if let Some(expr) = &table.not {
            Rule::not(self.expr(expr, &format!("{path}.not"))?)
        } else {
            return Err((span, "a rule needs exactly one kind".into()));
        };
        Ok(match &table.description {
            Some(description) => rule.with_description(description.clone()),
            None => rule,
        })
    }

    /// A rule written as a name or an inline table, at `path`.
    fn expr(&mut self, expr: &Spanned<RuleExpr>, path: &str) -> Located<Rule> {
        match expr.get_ref() {
            RuleExpr::Reference(name) => {
                self.spans.push((path.to_owned(), expr.span()));
                Ok(Rule::reference(name.clone()))
            }
            RuleExpr::Table(table) => self.rule(table, path, expr.span()),
        }
    }
}

fn tool_rule(name: &str, entry: &ToolEntry) -> Located<ToolRule> {
    for scope in &entry.scopes {
        check_scope(scope).map_err(|(span, m)| (span, format!("tool {name:?}: {m}")))?;
    }
    let rule = ToolRule::scopes(entry.scopes.iter().map(|s| s.get_ref().clone()));
    Ok(match &entry.policy {
        Some(policy) => rule.with_policy(policy.get_ref().clone()),
        None => rule,
    })
}

fn check_scope(scope: &Spanned<String>) -> Located<()> {
    validate_scope_token(scope.get_ref()).map_err(|m| (scope.span(), m))?;
    if scope.get_ref() == "offline_access" {
        return Err((
            scope.span(),
            "offline_access is about refresh tokens and never appears in a challenge: a client could never satisfy it".into(),
        ));
    }
    Ok(())
}

#[cfg(feature = "redis")]
fn redis_store(
    builder: PolicySetBuilder,
    store: &StoreEntry,
    span: Range<usize>,
) -> Located<PolicySetBuilder> {
    let url = match (&store.url, &store.url_env) {
        (Some(url), None) => url.clone(),
        (None, Some(var)) => std::env::var(var).map_err(|_| {
            (
                span.clone(),
                format!("url_env names the environment variable {var:?}, which is not set"),
            )
        })?,
        _ => {
            return Err((
                span,
                "a redis quota store needs exactly one of url and url_env".into(),
            ));
        }
    };
    let mut redis = crate::redis_store::RedisStore::new(&url)
        .map_err(|e| (span.clone(), e.message().to_owned()))?;
    if let Some(ms) = store.timeout_ms {
        if ms == 0 {
            return Err((span, "timeout_ms must be at least 1".into()));
        }
        redis = redis.timeout(Duration::from_millis(ms));
    }
    if let Some(prefix) = &store.key_prefix {
        redis = redis.key_prefix(prefix.clone());
    }
    Ok(builder.store(redis))
}

#[cfg(not(feature = "redis"))]
fn redis_store(
    _: PolicySetBuilder,
    _: &StoreEntry,
    span: Range<usize>,
) -> Located<PolicySetBuilder> {
    Err((
        span,
        "kind = \"redis\" needs authsec-policy built with its `redis` feature".into(),
    ))
}

// ---- The file's shape. Values are validated as they are read, so errors carry their span. ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    #[serde(default)]
    tools: BTreeMap<String, Spanned<ToolEntry>>,
    #[serde(default)]
    default: Option<Spanned<ToolEntry>>,
    #[serde(default)]
    policy: Option<Spanned<RuleExpr>>,
    #[serde(default)]
    policies: BTreeMap<String, Spanned<RuleTable>>,
    #[serde(default)]
    groups_claim: Option<String>,
    #[serde(default)]
    roles: BTreeMap<String, Spanned<RoleEntry>>,
    #[serde(default)]
    bindings: Vec<Spanned<BindingEntry>>,
    #[serde(default)]
    plan_claim: Option<String>,
    #[serde(default)]
    quotas: Vec<Spanned<QuotaEntry>>,
    #[serde(default)]
    quota_store: Option<Spanned<StoreEntry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolEntry {
    #[serde(default)]
    scopes: Vec<Spanned<String>>,
    #[serde(default)]
    policy: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleTable {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    step_up: Option<Spanned<StepUpEntry>>,
    #[serde(default)]
    ip: Option<Spanned<IpEntry>>,
    #[serde(default)]
    time: Option<Spanned<TimeEntry>>,
    #[serde(default)]
    argument: Option<Spanned<ArgumentEntry>>,
    #[serde(default)]
    all_of: Option<Spanned<Vec<Spanned<RuleExpr>>>>,
    #[serde(default)]
    any_of: Option<Spanned<Vec<Spanned<RuleExpr>>>>,
    #[serde(default)]
    not: Option<Box<Spanned<RuleExpr>>>,
}

/// A rule written as the name of another (`"fresh_mfa"`) or as an inline table.
enum RuleExpr {
    Reference(String),
    Table(Box<RuleTable>),
}

impl<'de> Deserialize<'de> for RuleExpr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ExprVisitor;
        impl<'de> Visitor<'de> for ExprVisitor {
            type Value = RuleExpr;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("the name of a policy or an inline rule table")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<RuleExpr, E> {
                Ok(RuleExpr::Reference(name.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RuleExpr, A::Error> {
                RuleTable::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|table| RuleExpr::Table(Box::new(table)))
            }
        }
        deserializer.deserialize_any(ExprVisitor)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepUpEntry {
    #[serde(default)]
    acr: Vec<String>,
    #[serde(default)]
    amr: Vec<String>,
    #[serde(default)]
    max_age: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IpEntry {
    #[serde(default)]
    allow: Vec<Spanned<String>>,
    #[serde(default)]
    deny: Vec<Spanned<String>>,
}

/// Implements `Deserialize` for a newtype read from a string and checked by `$check`.
macro_rules! checked_string {
    ($(#[$doc:meta])* $name:ident($inner:ty) = $check:expr) => {
        $(#[$doc])*
        struct $name($inner);
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                let check: fn(&str) -> Result<$inner, String> = $check;
                check(&text).map($name).map_err(de::Error::custom)
            }
        }
    };
}

checked_string!(
    /// An IANA zone name, known to the tz database.
    Zone(String) = |name| parse_zone(name).map(|_| name.trim().to_owned())
);
checked_string!(
    /// A `days` spec.
    Days(String) = |spec| parse_days(spec).map(|_| spec.to_owned())
);
checked_string!(
    /// An `hours` spec.
    Hours(String) = |spec| parse_hours(spec).map(|_| spec.to_owned())
);
checked_string!(
    /// A rate such as `100/minute`.
    RateEntry(Rate) = |text| text.parse()
);

impl Default for Days {
    fn default() -> Self {
        Days("*".into())
    }
}

impl Default for Hours {
    fn default() -> Self {
        Hours("*".into())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TimeEntry {
    zone: Zone,
    #[serde(default)]
    days: Days,
    #[serde(default)]
    hours: Hours,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ArgumentEntry {
    name: String,
    #[serde(default, rename = "in")]
    one_of: Vec<String>,
    #[serde(default)]
    matches: OneOrMany,
}

/// A string or a list of strings.
#[derive(Default)]
struct OneOrMany(Vec<String>);

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ListVisitor;
        impl<'de> Visitor<'de> for ListVisitor {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a pattern or a list of patterns")
            }
            fn visit_str<E: de::Error>(self, pattern: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany(vec![pattern.to_owned()]))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany, A::Error> {
                let mut all = Vec::new();
                while let Some(pattern) = seq.next_element::<String>()? {
                    all.push(pattern);
                }
                Ok(OneOrMany(all))
            }
        }
        deserializer.deserialize_any(ListVisitor)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleEntry {
    scopes: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BindingEntry {
    role: Spanned<String>,
    #[serde(default)]
    subjects: Vec<String>,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    clients: Vec<String>,
    #[serde(default)]
    when: Option<Spanned<RuleExpr>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Per {
    User,
    Client,
    Plan,
    Global,
}

impl From<Per> for QuotaKey {
    fn from(per: Per) -> QuotaKey {
        match per {
            Per::User => QuotaKey::User,
            Per::Client => QuotaKey::Client,
            Per::Plan => QuotaKey::Plan,
            Per::Global => QuotaKey::Global,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuotaEntry {
    name: String,
    per: Per,
    rate: RateEntry,
    #[serde(default)]
    tools: Option<Vec<String>>,
    #[serde(default)]
    per_tool: bool,
    #[serde(default)]
    plans: BTreeMap<String, RateEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum StoreKind {
    Memory,
    Redis,
}

#[derive(Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Unavailable {
    #[default]
    Deny,
    Allow,
}

impl From<Unavailable> for OnUnavailable {
    fn from(value: Unavailable) -> OnUnavailable {
        match value {
            Unavailable::Deny => OnUnavailable::Deny,
            Unavailable::Allow => OnUnavailable::Allow,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
struct StoreEntry {
    kind: StoreKind,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    url_env: Option<String>,
    #[serde(default)]
    timeout_ms: Option<u64>,
    #[serde(default)]
    key_prefix: Option<String>,
    #[serde(default)]
    capacity: Option<usize>,
    #[serde(default)]
    on_unavailable: Unavailable,
}
