//! Roles and bindings: which scopes a caller may actually use.
//!
//! A role is a named set of scopes. A binding gives a role to subjects (`sub`), to members of
//! groups (read from a claim, `groups` by default) or to OAuth clients (`client_id`), optionally
//! only while a condition holds (a network, a time window, an argument: any built-in rule).
//!
//! Once at least one binding is configured, the scopes a request may use are the token's scopes
//! **intersected** with the scopes of the roles bound to the caller: a binding narrows what the
//! authorization server granted, it never widens it. This feeds check 3 and `tools/list`
//! filtering through [`Policy::effective_scopes`](authsec_core::Policy::effective_scopes):
//!
//! - the token lacks a scope the tool needs → `scope_insufficient` (more consent helps);
//! - the token has it but no binding allows it → `policy_denied` (no new token would help).
//!
//! ```toml
//! [roles.reader]
//! scopes = ["notes:read"]
//! [roles.editor]
//! scopes = ["notes:read", "notes:write"]
//!
//! [[bindings]]
//! role = "reader"
//! subjects = ["*"]            # every authenticated caller
//!
//! [[bindings]]
//! role = "editor"
//! groups = ["staff"]
//! clients = ["ci-bot"]
//! when = "office_network"     # a named policy, or an inline rule table
//! ```
//!
//! While `tools/list` is filtered, a condition on the arguments (there are none yet) or on a
//! client address the listing does not have is assumed to hold: the tool is listed, and the call
//! itself is checked with everything known.

use std::sync::Arc;

use authsec_core::{PolicyRequest, Principal, ScopeSet};
use serde_json::Value;

use crate::rule::{Node, Outcome, Rule};

/// The claim holding a caller's groups, unless configured otherwise.
pub const DEFAULT_GROUPS_CLAIM: &str = "groups";

/// Gives a role to subjects, groups or clients; see the [module documentation](self).
#[derive(Clone, Debug)]
pub struct Binding {
    pub(crate) role: String,
    pub(crate) subjects: Vec<String>,
    pub(crate) groups: Vec<String>,
    pub(crate) clients: Vec<String>,
    pub(crate) when: Option<Rule>,
}

impl Binding {
    /// A binding of the role `role` (add members with the other methods).
    pub fn role(role: impl Into<String>) -> Self {
        Binding {
            role: role.into(),
            subjects: Vec::new(),
            groups: Vec::new(),
            clients: Vec::new(),
            when: None,
        }
    }

    /// Subjects (`sub` claim) who get the role; `"*"` means every authenticated caller.
    pub fn subjects<S: Into<String>>(mut self, subjects: impl IntoIterator<Item = S>) -> Self {
        self.subjects.extend(subjects.into_iter().map(Into::into));
        self
    }

    /// Groups (in the groups claim) whose members get the role.
    pub fn groups<S: Into<String>>(mut self, groups: impl IntoIterator<Item = S>) -> Self {
        self.groups.extend(groups.into_iter().map(Into::into));
        self
    }

    /// OAuth clients (`client_id`, else `azp`) whose tokens get the role.
    pub fn clients<S: Into<String>>(mut self, clients: impl IntoIterator<Item = S>) -> Self {
        self.clients.extend(clients.into_iter().map(Into::into));
        self
    }

    /// The binding applies only while `condition` allows (built-in rules only: no custom
    /// policy, since scopes are decided without waiting).
    pub fn when(mut self, condition: impl Into<Rule>) -> Self {
        self.when = Some(condition.into());
        self
    }
}

/// A binding ready to evaluate.
pub(crate) struct BoundRole {
    pub(crate) scopes: Arc<[String]>,
    pub(crate) everyone: bool,
    pub(crate) subjects: Vec<String>,
    pub(crate) groups: Vec<String>,
    pub(crate) clients: Vec<String>,
    pub(crate) when: Option<Arc<Node>>,
}

/// Every binding, and where groups are read from.
pub(crate) struct Bindings {
    pub(crate) groups_claim: String,
    pub(crate) bound: Vec<BoundRole>,
}

impl Bindings {
    /// The token's scopes that some binding applying to this request allows.
    pub(crate) fn effective_scopes(&self, request: &PolicyRequest<'_>) -> ScopeSet {
        let listing = request.method == Some("tools/list");
        let principal = request.principal;
        let granted = principal.scopes();
        let mut effective = ScopeSet::new();
        for bound in &self.bound {
            if !self.is_member(bound, principal) {
                continue;
            }
            let applies = match &bound.when {
                None => true,
                Some(condition) => match condition.eval_sync(request, listing) {
                    Outcome::Allow => true,
                    Outcome::Unknown => listing,
                    Outcome::Deny(_) => false,
                },
            };
            if applies {
                for scope in bound.scopes.iter().filter(|s| granted.contains(s)) {
                    effective.insert(scope);
                }
            }
        }
        effective
    }

    fn is_member(&self, bound: &BoundRole, principal: &Principal) -> bool {
        if bound.everyone || bound.subjects.iter().any(|s| s == principal.subject()) {
            return true;
        }
        if let Some(client) = principal.client_id()
            && bound.clients.iter().any(|c| c == client)
        {
            return true;
        }
        if bound.groups.is_empty() {
            return false;
        }
        match principal.claim(&self.groups_claim) {
            Some(Value::Array(groups)) => groups
                .iter()
                .filter_map(Value::as_str)
                .any(|g| bound.groups.iter().any(|b| b == g)),
            Some(Value::String(group)) => bound.groups.iter().any(|b| b == group),
            _ => false,
        }
    }
}
