//! The tool manifest: which scopes each tool needs (check 3), and which policy applies (check 5).
//!
//! ```toml
//! [tools.list_notes]
//! scopes = ["notes:read"]
//!
//! [tools.purge_notes]
//! scopes = ["notes:admin"]
//! policy = "fresh_mfa"
//!
//! # Any one of the scopes is enough (the AuthSec family's tool policy works this way):
//! [tools.search_notes]
//! scopes = ["notes:read", "notes:search"]
//! scope_match = "any"
//!
//! # Tools not listed are denied with `policy_denied`, unless a default rule says otherwise:
//! # [default]
//! # scopes = ["notes:read"]
//! ```
//!
//! A rule with no scopes makes its tool public: any valid token may call it.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::{Deserialize, Serialize, Serializer};

use crate::error::ConfigError;
use crate::scope::{ScopeSet, validate_scope_token};

/// How a rule's scopes combine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ScopeMatch {
    /// Every scope is required (the default).
    #[default]
    All,
    /// Any one of the scopes is enough (the AuthSec family's remote tool policy).
    Any,
}

impl ScopeMatch {
    fn is_all(&self) -> bool {
        *self == ScopeMatch::All
    }
}

/// What one tool needs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ToolRule {
    /// The scopes the tool needs, combined as [`scope_match`](Self::scope_match) says. Empty
    /// means any valid token may call the tool.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Whether every scope is required (the default) or any one of them is enough.
    #[serde(default, skip_serializing_if = "ScopeMatch::is_all")]
    pub scope_match: ScopeMatch,
    /// The name of a policy to apply in check 5 (interpreted by the configured `Policy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
}

impl ToolRule {
    /// A rule requiring every one of `scopes`.
    pub fn scopes<S: Into<String>>(scopes: impl IntoIterator<Item = S>) -> Self {
        ToolRule {
            scopes: scopes.into_iter().map(Into::into).collect(),
            scope_match: ScopeMatch::All,
            policy: None,
        }
    }

    /// A rule satisfied by any one of `scopes` (empty: public).
    pub fn any_of<S: Into<String>>(scopes: impl IntoIterator<Item = S>) -> Self {
        ToolRule {
            scope_match: ScopeMatch::Any,
            ..Self::scopes(scopes)
        }
    }

    /// A rule any valid token satisfies.
    pub fn public() -> Self {
        Self::default()
    }

    /// Whether `granted` satisfies this rule's scopes: all of them, or any one of them, and
    /// always when the rule names none.
    pub fn is_satisfied_by(&self, granted: &ScopeSet) -> bool {
        match self.scope_match {
            ScopeMatch::All => granted.contains_all(&self.scopes),
            ScopeMatch::Any => {
                self.scopes.is_empty() || self.scopes.iter().any(|s| granted.contains(s))
            }
        }
    }

    /// What `granted` lacks for this rule, for messages: the missing scopes of an all-of rule,
    /// or every scope of an unsatisfied any-of rule.
    pub fn missing_from<'a>(&'a self, granted: &ScopeSet) -> Vec<&'a str> {
        match self.scope_match {
            ScopeMatch::All => granted.missing(&self.scopes),
            ScopeMatch::Any if self.is_satisfied_by(granted) => Vec::new(),
            ScopeMatch::Any => self.scopes.iter().map(String::as_str).collect(),
        }
    }

    /// Names the policy for this tool.
    pub fn with_policy(mut self, policy: impl Into<String>) -> Self {
        self.policy = Some(policy.into());
        self
    }
}

/// Tool name → [`ToolRule`], plus what happens to tools not listed.
///
/// Every tool call looks its tool up here, so the rules sit in a hash map (foldhash: a few
/// dozen instructions for a short name, against ~150 for a search of a 100-tool `BTreeMap`).
/// Everything that lists them (serialization, [`tools`](Self::tools), [`scopes`](Self::scopes),
/// `Debug`, validation errors) goes by name order, as before.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolManifest {
    #[serde(default, serialize_with = "by_name")]
    tools: HashMap<String, ToolRule, foldhash::fast::RandomState>,
    /// The rule for tools not listed; `None` denies them (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    default: Option<ToolRule>,
}

/// The rules in name order, for serialization.
fn by_name<S: Serializer>(
    tools: &HashMap<String, ToolRule, foldhash::fast::RandomState>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(tools.iter().collect::<BTreeMap<_, _>>())
}

impl fmt::Debug for ToolManifest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToolManifest")
            .field("tools", &self.tools.iter().collect::<BTreeMap<_, _>>())
            .field("default", &self.default)
            .finish()
    }
}

impl ToolManifest {
    /// An empty manifest: every tool is denied.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a tool requiring `scopes`.
    pub fn tool<S: Into<String>>(
        self,
        name: impl Into<String>,
        scopes: impl IntoIterator<Item = S>,
    ) -> Self {
        self.rule(name, ToolRule::scopes(scopes))
    }

    /// Adds a tool with a full rule.
    pub fn rule(mut self, name: impl Into<String>, rule: ToolRule) -> Self {
        self.tools.insert(name.into(), rule);
        self
    }

    /// Sets the rule for tools that are not listed (instead of denying them).
    pub fn default_rule(mut self, rule: ToolRule) -> Self {
        self.default = Some(rule);
        self
    }

    /// Parses TOML (see the module doc) and validates it.
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        let manifest: ToolManifest = toml::from_str(text)
            .map_err(|e| ConfigError::new(format!("the tool manifest is not valid TOML: {e}")))?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// Parses JSON (`{"tools": {"name": {"scopes": [...], "policy": "..."}}, "default": ...}`).
    pub fn from_json_str(text: &str) -> Result<Self, ConfigError> {
        let manifest: ToolManifest = serde_json::from_str(text)
            .map_err(|e| ConfigError::new(format!("the tool manifest is not valid JSON: {e}")))?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// Serializes to TOML.
    pub fn to_toml_string(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// Serializes to JSON.
    pub fn to_json_string(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks every scope is a valid scope token and tool names are non-empty.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let rules = self
            .tools()
            .chain(self.default.iter().map(|rule| ("(default)", rule)));
        for (name, rule) in rules {
            if name.is_empty() {
                return Err(ConfigError::new(
                    "the tool manifest has a tool with an empty name",
                ));
            }
            for scope in &rule.scopes {
                validate_scope_token(scope)
                    .map_err(|e| ConfigError::new(format!("tool {name:?}: {e}")))?;
                if scope == "offline_access" {
                    return Err(ConfigError::new(format!(
                        "tool {name:?} requires offline_access, which is about refresh tokens and never \
                         appears in a challenge (MCP 2026-07-28): a client could never satisfy it"
                    )));
                }
            }
        }
        Ok(())
    }

    /// The rule for `tool`: its own, else the default, else `None` (denied).
    pub fn rule_for(&self, tool: &str) -> Option<&ToolRule> {
        self.tools.get(tool).or(self.default.as_ref())
    }

    /// Whether `scopes` are enough to call `tool`.
    pub fn allows(&self, tool: &str, scopes: &ScopeSet) -> bool {
        self.rule_for(tool)
            .is_some_and(|rule| rule.is_satisfied_by(scopes))
    }

    /// The listed tools and their rules, in name order.
    pub fn tools(&self) -> impl Iterator<Item = (&str, &ToolRule)> {
        let mut tools: Vec<(&str, &ToolRule)> = self
            .tools
            .iter()
            .map(|(name, rule)| (name.as_str(), rule))
            .collect();
        tools.sort_unstable_by_key(|&(name, _)| name);
        tools.into_iter()
    }

    /// Every scope mentioned, in order of first mention (for `scopes_supported`).
    pub fn scopes(&self) -> Vec<String> {
        let mut all: Vec<String> = Vec::new();
        let rules = self.tools().map(|(_, rule)| rule);
        for rule in rules.chain(self.default.iter()) {
            for scope in &rule.scopes {
                if !all.contains(scope) {
                    all.push(scope.clone());
                }
            }
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOTES: &str = r#"
[tools.list_notes]
scopes = ["notes:read"]

[tools.purge_notes]
scopes = ["notes:admin"]
policy = "fresh_mfa"
"#;

    #[test]
    fn toml_and_json_describe_the_same_manifest() {
        let manifest = ToolManifest::from_toml_str(NOTES).unwrap();
        assert_eq!(
            manifest.rule_for("purge_notes"),
            Some(&ToolRule::scopes(["notes:admin"]).with_policy("fresh_mfa"))
        );
        let again = ToolManifest::from_json_str(&manifest.to_json_string()).unwrap();
        assert_eq!(again, manifest);
        assert_eq!(
            ToolManifest::from_toml_str(&manifest.to_toml_string()).unwrap(),
            manifest
        );
    }

    /// The rules sit in a hash map; whatever lists them goes by name, whatever the order the
    /// tools were added in.
    #[test]
    fn everything_that_lists_tools_goes_by_name() {
        let names = [
            "zeta", "alpha", "mid", "beta", "omega", "gamma", "kappa", "delta",
        ];
        let manifest = names.iter().fold(ToolManifest::new(), |manifest, name| {
            manifest.tool(*name, [format!("{name}:use")])
        });
        let sorted = [
            "alpha", "beta", "delta", "gamma", "kappa", "mid", "omega", "zeta",
        ];
        let listed: Vec<&str> = manifest.tools().map(|(name, _)| name).collect();
        assert_eq!(listed, sorted);
        let scopes: Vec<String> = sorted.iter().map(|name| format!("{name}:use")).collect();
        assert_eq!(manifest.scopes(), scopes);
        let tables: Vec<String> = sorted
            .iter()
            .map(|name| format!("[tools.{name}]"))
            .collect();
        assert_eq!(
            manifest
                .to_toml_string()
                .lines()
                .filter(|line| line.starts_with('['))
                .collect::<Vec<_>>(),
            tables
        );
        let json = manifest.to_json_string();
        let positions: Vec<usize> = sorted
            .iter()
            .map(|name| json.find(&format!("\"{name}\"")).unwrap())
            .collect();
        assert!(positions.is_sorted(), "{json}");
        let debug = format!("{manifest:?}");
        assert!(
            debug.starts_with("ToolManifest { tools: {\"alpha\": ToolRule {"),
            "{debug}"
        );
        assert!(debug.find("\"beta\"") < debug.find("\"zeta\""), "{debug}");
        let err = names
            .iter()
            .fold(ToolManifest::new(), |manifest, name| {
                manifest.tool(*name, ["bad scope"])
            })
            .validate()
            .unwrap_err();
        assert!(err.message().starts_with("tool \"alpha\""), "{err}");
    }

    #[test]
    fn unknown_tools_are_denied_unless_a_default_rule_exists() {
        let manifest = ToolManifest::from_toml_str(NOTES).unwrap();
        assert_eq!(manifest.rule_for("other"), None);
        let open = manifest.default_rule(ToolRule::scopes(["notes:read"]));
        assert_eq!(
            open.rule_for("other"),
            Some(&ToolRule::scopes(["notes:read"]))
        );
    }

    #[test]
    fn invalid_scopes_and_unknown_fields_are_rejected() {
        let err = ToolManifest::from_toml_str("[tools.x]\nscopes = [\"a b\"]").unwrap_err();
        assert!(err.message().contains("tool \"x\""), "{err}");
        assert!(ToolManifest::from_toml_str("[tools.x]\nscope = [\"a\"]").is_err());
    }

    #[test]
    fn allows_checks_every_required_scope() {
        let manifest = ToolManifest::new().tool("add", ["w", "r"]);
        assert!(manifest.allows("add", &ScopeSet::parse("r w")));
        assert!(!manifest.allows("add", &ScopeSet::parse("r")));
        assert!(!manifest.allows("missing", &ScopeSet::parse("r w")));
        assert_eq!(manifest.scopes(), ["w", "r"]);
    }

    #[test]
    fn any_of_rules_need_one_scope_and_empty_rules_are_public() {
        let manifest = ToolManifest::new()
            .rule("search", ToolRule::any_of(["r", "s"]))
            .rule("health", ToolRule::public())
            .rule("health_any", ToolRule::any_of(Vec::<String>::new()));
        assert!(manifest.allows("search", &ScopeSet::parse("s")));
        assert!(manifest.allows("search", &ScopeSet::parse("r x")));
        assert!(!manifest.allows("search", &ScopeSet::parse("x")));
        assert!(manifest.allows("health", &ScopeSet::new()));
        assert!(manifest.allows("health_any", &ScopeSet::new()));
        let search = manifest.rule_for("search").unwrap();
        assert_eq!(search.missing_from(&ScopeSet::parse("x")), ["r", "s"]);
        assert!(search.missing_from(&ScopeSet::parse("s")).is_empty());
    }

    #[test]
    fn scope_match_round_trips_and_all_is_omitted() {
        let manifest = ToolManifest::from_toml_str(
            "[tools.search]\nscopes = [\"r\", \"s\"]\nscope_match = \"any\"\n[tools.add]\nscopes = [\"w\"]\n",
        )
        .unwrap();
        assert_eq!(
            manifest.rule_for("search"),
            Some(&ToolRule::any_of(["r", "s"]))
        );
        assert_eq!(
            manifest.to_json_string(),
            "{\n  \"tools\": {\n    \"add\": {\n      \"scopes\": [\n        \"w\"\n      ]\n    },\n    \"search\": {\n      \"scopes\": [\n        \"r\",\n        \"s\"\n      ],\n      \"scope_match\": \"any\"\n    }\n  }\n}"
        );
        assert!(
            ToolManifest::from_toml_str("[tools.x]\nscopes = [\"a\"]\nscope_match = \"some\"")
                .is_err()
        );
    }
}
