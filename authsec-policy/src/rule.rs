//! Rules: the conditions of check 5 and the combinators that compose them.
//!
//! A [`Rule`] is one of the built-in conditions ([`StepUp`], [`IpCondition`], [`TimeWindow`],
//! [`ArgumentCondition`]), a user's own [`Policy`] ([`Rule::custom`]), a reference to another
//! named rule ([`Rule::reference`]), or a combination:
//!
//! - [`Rule::all_of`]: every member must allow; the first denial is the answer.
//! - [`Rule::any_of`]: one member allowing is enough. When all deny, the answer is the first
//!   `step_up_required` among them (the denial the client can do something about), else the
//!   first denial.
//! - [`Rule::not`]: allows what its member denies, and denies (`policy_denied`) what it allows.
//!
//! Rules are registered by name in a [`PolicySet`](crate::PolicySet), which resolves references,
//! refuses cycles, and names every node for the audit trail: a named rule is called by its name,
//! and its unnamed members by their path (`deploy.all_of[1]`, `deploy.not`), the way they are
//! written in the TOML file.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use authsec_core::{Denial, DenialCode, Policy, PolicyRequest};

use crate::argument::ArgumentCondition;
use crate::ip::IpCondition;
use crate::step_up::StepUp;
use crate::time_window::TimeWindow;

/// A condition of check 5, built in or your own, possibly composed; see the
/// [module documentation](self).
#[derive(Clone)]
pub struct Rule {
    kind: Kind,
    name: Option<String>,
    description: Option<String>,
}

#[derive(Clone)]
enum Kind {
    StepUp(StepUp),
    Ip(IpCondition),
    Time(TimeWindow),
    Argument(ArgumentCondition),
    AllOf(Vec<Rule>),
    AnyOf(Vec<Rule>),
    Not(Box<Rule>),
    Reference(String),
    Custom(Arc<dyn Policy>),
}

impl fmt::Debug for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("Rule");
        if let Some(name) = &self.name {
            out.field("name", name);
        }
        match &self.kind {
            Kind::StepUp(rule) => out.field("step_up", rule),
            Kind::Ip(rule) => out.field("ip", rule),
            Kind::Time(rule) => out.field("time", rule),
            Kind::Argument(rule) => out.field("argument", rule),
            Kind::AllOf(rules) => out.field("all_of", rules),
            Kind::AnyOf(rules) => out.field("any_of", rules),
            Kind::Not(rule) => out.field("not", rule),
            Kind::Reference(name) => out.field("reference", name),
            Kind::Custom(_) => out.field("custom", &"dyn Policy"),
        };
        out.finish()
    }
}

impl Rule {
    fn of(kind: Kind) -> Rule {
        Rule {
            kind,
            name: None,
            description: None,
        }
    }

    /// A step-up (RFC 9470) requirement.
    pub fn step_up(rule: StepUp) -> Rule {
        Self::of(Kind::StepUp(rule))
    }

    /// An IP allow/deny condition.
    pub fn ip(condition: IpCondition) -> Rule {
        Self::of(Kind::Ip(condition))
    }

    /// A time window.
    pub fn time(window: TimeWindow) -> Rule {
        Self::of(Kind::Time(window))
    }

    /// A condition on one argument.
    pub fn argument(condition: ArgumentCondition) -> Rule {
        Self::of(Kind::Argument(condition))
    }

    /// Every member must allow (at least one member).
    pub fn all_of(rules: impl IntoIterator<Item = Rule>) -> Rule {
        Self::of(Kind::AllOf(rules.into_iter().collect()))
    }

    /// One member allowing is enough (at least one member).
    pub fn any_of(rules: impl IntoIterator<Item = Rule>) -> Rule {
        Self::of(Kind::AnyOf(rules.into_iter().collect()))
    }

    /// The negation of `rule`: denies with `policy_denied` when `rule` allows.
    // Not `std::ops::Not`: a rule is no boolean, and `Rule::not(x)` reads like the TOML `not`.
    #[allow(clippy::should_implement_trait)]
    pub fn not(rule: Rule) -> Rule {
        Self::of(Kind::Not(Box::new(rule)))
    }

    /// The rule registered under `name` in the same [`PolicySet`](crate::PolicySet).
    pub fn reference(name: impl Into<String>) -> Rule {
        Self::of(Kind::Reference(name.into()))
    }

    /// Your own [`Policy`], as a member of a composed rule. It cannot be a condition of a role
    /// binding (those must be decided without waiting), only a rule of check 5.
    pub fn custom(policy: impl Policy) -> Rule {
        Self::custom_arc(Arc::new(policy))
    }

    /// [`Rule::custom`] from a shared policy.
    pub fn custom_arc(policy: Arc<dyn Policy>) -> Rule {
        Self::of(Kind::Custom(policy))
    }

    /// Names this rule in the audit trail (instead of its path).
    pub fn named(mut self, name: impl Into<String>) -> Rule {
        self.name = Some(name.into());
        self
    }

    /// The `error_description` of the denials this rule, or any of its members, produces
    /// (instead of the built-in one; a step-up keeps its `acr_values` and `max_age`). It is
    /// shown to the caller: say what to do, not how the policy is built.
    pub fn with_description(mut self, description: impl Into<String>) -> Rule {
        self.description = Some(description.into());
        self
    }
}

impl From<StepUp> for Rule {
    fn from(rule: StepUp) -> Rule {
        Rule::step_up(rule)
    }
}

impl From<IpCondition> for Rule {
    fn from(condition: IpCondition) -> Rule {
        Rule::ip(condition)
    }
}

impl From<TimeWindow> for Rule {
    fn from(window: TimeWindow) -> Rule {
        Rule::time(window)
    }
}

impl From<ArgumentCondition> for Rule {
    fn from(condition: ArgumentCondition) -> Rule {
        Rule::argument(condition)
    }
}

/// A configuration problem found while building, located by the path of what is wrong
/// (`deploy.all_of[1]`, `bindings[2].role`, `quotas[0]`), so the TOML loader can name the line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Issue {
    pub(crate) path: String,
    pub(crate) message: String,
}

impl Issue {
    pub(crate) fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Issue {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// A rule ready to evaluate: references resolved, every node named.
pub(crate) struct Node {
    pub(crate) name: Arc<str>,
    description: Option<Arc<str>>,
    kind: NodeKind,
    /// No custom policy below: the node can be decided without awaiting.
    pub(crate) sync: bool,
}

enum NodeKind {
    StepUp(StepUp),
    Ip(IpCondition),
    Time(TimeWindow),
    Argument(ArgumentCondition),
    AllOf(Vec<Arc<Node>>),
    AnyOf(Vec<Arc<Node>>),
    Not(Arc<Node>),
    Custom(Arc<dyn Policy>),
}

/// Why a node denied, and which node it was.
#[derive(Clone, Debug)]
pub(crate) struct Failure {
    pub(crate) rule: Arc<str>,
    pub(crate) denial: Denial,
}

/// The answer of a node. `Unknown` only arises while listing tools, for conditions on what a
/// listing does not have (arguments, and the client address where the Guard does not pass it).
#[derive(Clone, Debug)]
pub(crate) enum Outcome {
    Allow,
    Deny(Failure),
    Unknown,
}

type BoxedOutcome<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

impl Node {
    fn leaf(&self, verdict: Option<Result<(), Denial>>) -> Outcome {
        match verdict {
            None => Outcome::Unknown,
            Some(Ok(())) => Outcome::Allow,
            Some(Err(denial)) => self.deny(denial),
        }
    }

    fn deny(&self, denial: Denial) -> Outcome {
        let denial = match &self.description {
            Some(description) => denial.with_description(description.to_string()),
            None => denial,
        };
        Outcome::Deny(Failure {
            rule: self.name.clone(),
            denial,
        })
    }

    /// A member's denial, with this node's description when it has one (the audit keeps the
    /// member's name).
    fn described(&self, outcome: Outcome) -> Outcome {
        match (outcome, &self.description) {
            (Outcome::Deny(failure), Some(description)) => Outcome::Deny(Failure {
                rule: failure.rule,
                denial: failure.denial.with_description(description.to_string()),
            }),
            (outcome, _) => outcome,
        }
    }

    fn negated(&self) -> Outcome {
        self.deny(Denial::policy_denied(format!(
            "this operation is excluded by the policy {:?}",
            &*self.name
        )))
    }

    /// Decides without awaiting. Only called on `sync` nodes; a custom policy reached here
    /// (impossible by construction) is denied rather than skipped.
    pub(crate) fn eval_sync(&self, request: &PolicyRequest<'_>, listing: bool) -> Outcome {
        match &self.kind {
            NodeKind::StepUp(rule) => self.leaf(Some(rule.check(request))),
            NodeKind::Ip(rule) => self.leaf(rule.check(request, listing)),
            NodeKind::Time(rule) => self.leaf(Some(rule.check(request))),
            NodeKind::Argument(rule) => self.leaf(rule.check(request, listing)),
            NodeKind::AllOf(members) => self.described(all_of(
                members.iter().map(|m| m.eval_sync(request, listing)),
            )),
            NodeKind::AnyOf(members) => self.described(any_of(
                members.iter().map(|m| m.eval_sync(request, listing)),
            )),
            NodeKind::Not(member) => match member.eval_sync(request, listing) {
                Outcome::Allow => self.negated(),
                Outcome::Deny(_) => Outcome::Allow,
                Outcome::Unknown => Outcome::Unknown,
            },
            NodeKind::Custom(_) => self.deny(Denial::policy_denied(
                "this operation's policy cannot be decided here",
            )),
        }
    }

    /// Decides a tools/call or another request in check 5, awaiting custom policies.
    pub(crate) fn eval<'a>(&'a self, request: &'a PolicyRequest<'_>) -> BoxedOutcome<'a> {
        Box::pin(async move {
            if self.sync {
                return self.eval_sync(request, false);
            }
            match &self.kind {
                NodeKind::Custom(policy) => match policy.evaluate(request).await {
                    Ok(()) => Outcome::Allow,
                    Err(denial) => self.deny(denial),
                },
                NodeKind::AllOf(members) => {
                    for member in members {
                        if let Outcome::Deny(failure) = member.eval(request).await {
                            return self.described(Outcome::Deny(failure));
                        }
                    }
                    Outcome::Allow
                }
                NodeKind::AnyOf(members) => {
                    let mut outcomes = Vec::with_capacity(members.len());
                    for member in members {
                        let outcome = member.eval(request).await;
                        if matches!(outcome, Outcome::Allow) {
                            return Outcome::Allow;
                        }
                        outcomes.push(outcome);
                    }
                    self.described(any_of(outcomes))
                }
                NodeKind::Not(member) => match member.eval(request).await {
                    Outcome::Allow => self.negated(),
                    Outcome::Deny(_) => Outcome::Allow,
                    Outcome::Unknown => Outcome::Unknown,
                },
                // Leaves are always sync.
                _ => self.eval_sync(request, false),
            }
        })
    }
}

fn all_of(outcomes: impl IntoIterator<Item = Outcome>) -> Outcome {
    let mut unknown = false;
    for outcome in outcomes {
        match outcome {
            Outcome::Deny(failure) => return Outcome::Deny(failure),
            Outcome::Unknown => unknown = true,
            Outcome::Allow => {}
        }
    }
    if unknown {
        Outcome::Unknown
    } else {
        Outcome::Allow
    }
}

fn any_of(outcomes: impl IntoIterator<Item = Outcome>) -> Outcome {
    let mut unknown = false;
    let mut chosen: Option<Failure> = None;
    for outcome in outcomes {
        match outcome {
            Outcome::Allow => return Outcome::Allow,
            Outcome::Unknown => unknown = true,
            Outcome::Deny(failure) => {
                let better = match &chosen {
                    None => true,
                    Some(current) => {
                        failure.denial.code() == DenialCode::StepUpRequired
                            && current.denial.code() != DenialCode::StepUpRequired
                    }
                };
                if better {
                    chosen = Some(failure);
                }
            }
        }
    }
    match (unknown, chosen) {
        (true, _) => Outcome::Unknown,
        (false, Some(failure)) => Outcome::Deny(failure),
        // Unreachable: any_of is never empty.
        (false, None) => Outcome::Unknown,
    }
}

/// Resolves references and names nodes.
pub(crate) struct Compiler<'a> {
    named: &'a BTreeMap<String, Rule>,
    done: HashMap<String, Arc<Node>>,
    visiting: Vec<String>,
}

impl<'a> Compiler<'a> {
    pub(crate) fn new(named: &'a BTreeMap<String, Rule>) -> Self {
        Compiler {
            named,
            done: HashMap::new(),
            visiting: Vec::new(),
        }
    }

    /// The compiled rule registered as `name`; `at` locates the reference for errors.
    pub(crate) fn named(&mut self, name: &str, at: &str) -> Result<Arc<Node>, Issue> {
        if let Some(node) = self.done.get(name) {
            return Ok(node.clone());
        }
        if let Some(start) = self.visiting.iter().position(|n| n == name) {
            let mut cycle = self.visiting[start..].to_vec();
            cycle.push(name.to_owned());
            return Err(Issue::new(
                at,
                format!(
                    "the policies refer to each other in a cycle: {}",
                    cycle.join(" -> ")
                ),
            ));
        }
        let Some(rule) = self.named.get(name) else {
            let known: Vec<&str> = self.named.keys().map(String::as_str).collect();
            return Err(Issue::new(
                at,
                format!(
                    "no policy is named {name:?} (known: {})",
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ),
            ));
        };
        self.visiting.push(name.to_owned());
        let node = self.compile(rule, name.to_owned());
        self.visiting.pop();
        let node = node?;
        self.done.insert(name.to_owned(), node.clone());
        Ok(node)
    }

    /// Compiles `rule` found at `path`.
    pub(crate) fn compile(&mut self, rule: &Rule, path: String) -> Result<Arc<Node>, Issue> {
        let name: Arc<str> = rule.name.clone().unwrap_or_else(|| path.clone()).into();
        let members =
            |kind: &str, rules: &[Rule], this: &mut Self| -> Result<Vec<Arc<Node>>, Issue> {
                if rules.is_empty() {
                    return Err(Issue::new(&path, format!("{kind} needs at least one rule")));
                }
                rules
                    .iter()
                    .enumerate()
                    .map(|(i, r)| this.compile(r, format!("{name}.{kind}[{i}]")))
                    .collect()
            };
        let kind = match &rule.kind {
            Kind::Reference(target) => {
                let node = self.named(target, &path)?;
                if rule.name.is_none() && rule.description.is_none() {
                    return Ok(node);
                }
                // A renamed or re-described reference: the same rule, its own name in the audit.
                NodeKind::AllOf(vec![node])
            }
            Kind::StepUp(r) => {
                r.validate().map_err(|m| Issue::new(&path, m))?;
                NodeKind::StepUp(r.clone())
            }
            Kind::Ip(r) => NodeKind::Ip(r.clone()),
            Kind::Time(r) => NodeKind::Time(r.clone()),
            Kind::Argument(r) => {
                r.validate().map_err(|m| Issue::new(&path, m))?;
                NodeKind::Argument(r.clone())
            }
            Kind::AllOf(rules) => NodeKind::AllOf(members("all_of", rules, self)?),
            Kind::AnyOf(rules) => NodeKind::AnyOf(members("any_of", rules, self)?),
            Kind::Not(inner) => NodeKind::Not(self.compile(inner, format!("{name}.not"))?),
            Kind::Custom(policy) => NodeKind::Custom(policy.clone()),
        };
        let sync = match &kind {
            NodeKind::Custom(_) => false,
            NodeKind::AllOf(members) | NodeKind::AnyOf(members) => members.iter().all(|m| m.sync),
            NodeKind::Not(member) => member.sync,
            _ => true,
        };
        Ok(Arc::new(Node {
            name,
            description: rule.description.as_deref().map(Arc::from),
            kind,
            sync,
        }))
    }
}
