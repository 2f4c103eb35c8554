//! The `sdk-policy` document and how it becomes a [`ToolManifest`].

use std::collections::BTreeMap;

use authsec_core::{ToolManifest, ToolRule};
use serde::{Deserialize, Serialize};

use super::ControlPlaneError;
use crate::error::FetchError;

/// The answer of `GET …/sdk-policy`, every field the family documents. Missing fields are
/// `None`: the legacy shape (no `state`, no `tool_policy`, a `tools` map) and newer ones both
/// parse.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SdkPolicy {
    /// Lifecycle: `ready`, `needs_setup`, `scan_failed`, `pending_scan`.
    #[serde(default)]
    pub state: Option<String>,
    /// `false`: deny everything, never cached as a policy.
    #[serde(default)]
    pub policy_complete: Option<bool>,
    /// Why the policy is incomplete: `rs_needs_setup`, `rs_scan_failed`, `rs_pending_scan`.
    #[serde(default)]
    pub reason: Option<String>,
    /// The resource server id.
    #[serde(default)]
    pub rs_id: Option<String>,
    /// Monotonic policy version (observability).
    #[serde(default)]
    pub generation: Option<u64>,
    /// The scopes of this resource server; feeds the RFC 9728 `scopes_supported`. Absent keeps
    /// the previous value; an empty list is a real "no scopes yet".
    #[serde(default)]
    pub scopes_supported: Option<Vec<String>>,
    /// Legacy flat map tool → any-of scopes (empty: public); read only without `tool_policy`.
    #[serde(default)]
    pub tools: Option<BTreeMap<String, Vec<String>>>,
    /// The tool policy.
    #[serde(default)]
    pub tool_policy: Option<Vec<ToolPolicyEntry>>,
    /// When the control plane computed the answer.
    #[serde(default)]
    pub fetched_at: Option<String>,
    /// The server's suggested TTL; ignored, as by the family (the cache TTL is configured).
    #[serde(default)]
    pub ttl_seconds: Option<u64>,
}

/// One tool of `tool_policy`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ToolPolicyEntry {
    /// The tool name.
    pub name: String,
    /// Any valid token may call it.
    #[serde(default)]
    pub is_public: bool,
    /// Any one of these scopes is enough.
    #[serde(default)]
    pub required_scopes: Vec<String>,
}

/// A complete policy, ready to enforce.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RemotePolicy {
    /// Tool → any-of scopes; tools absent are denied.
    pub manifest: ToolManifest,
    /// `scopes_supported`, when the answer had it.
    pub scopes_supported: Option<Vec<String>>,
    /// `generation`, when the answer had it.
    pub generation: Option<u64>,
}

impl SdkPolicy {
    /// Whether this is the legacy backend shape: no `state`, no `tool_policy`, a non-empty
    /// `tools` map. The family treats it as `state=ready, policy_complete=true`.
    pub fn is_legacy(&self) -> bool {
        self.state.as_deref().unwrap_or("").is_empty()
            && self.tool_policy.as_ref().is_none_or(Vec::is_empty)
            && self.tools.as_ref().is_some_and(|t| !t.is_empty())
    }

    /// The policy to enforce, as the family reads it:
    /// - `policy_complete` must be true (or the shape legacy), else
    ///   [`ControlPlaneError::PolicyIncomplete`];
    /// - `tool_policy` when non-empty: `is_public` → public, non-empty `required_scopes` →
    ///   any-of, neither → left out (so denied);
    /// - else `tools`: an empty list is public, else any-of;
    /// - scopes must be valid scope tokens (else the document is refused: `url` names it).
    pub fn interpret(self, url: &str) -> Result<RemotePolicy, ControlPlaneError> {
        if !self.is_legacy() && self.policy_complete != Some(true) {
            return Err(ControlPlaneError::PolicyIncomplete {
                state: self.state.unwrap_or_default(),
                reason: self.reason.unwrap_or_default(),
            });
        }
        let mut manifest = ToolManifest::new();
        match self.tool_policy.filter(|entries| !entries.is_empty()) {
            Some(entries) => {
                for entry in entries {
                    if entry.is_public {
                        manifest = manifest.rule(entry.name, ToolRule::public());
                    } else if !entry.required_scopes.is_empty() {
                        manifest =
                            manifest.rule(entry.name, ToolRule::any_of(entry.required_scopes));
                    }
                }
            }
            None => {
                let tools = self.tools.unwrap_or_default();
                manifest = manifest_from_tool_scopes(&tools);
            }
        }
        manifest.validate().map_err(|e| {
            ControlPlaneError::Fetch(FetchError::InvalidDocument {
                url: url.to_owned(),
                reason: format!("the tool policy is not usable: {}", e.message()),
            })
        })?;
        Ok(RemotePolicy {
            manifest,
            scopes_supported: self.scopes_supported,
            generation: self.generation,
        })
    }
}

/// The family's tool → scopes map (`AUTHSEC_TOOL_SCOPES_JSON`, legacy `tools`) as a manifest:
/// an empty list makes the tool public, otherwise any one of the scopes is enough; tools not
/// in the map are denied.
pub fn manifest_from_tool_scopes(tool_scopes: &BTreeMap<String, Vec<String>>) -> ToolManifest {
    tool_scopes
        .iter()
        .fold(ToolManifest::new(), |manifest, (name, scopes)| {
            manifest.rule(name.clone(), ToolRule::any_of(scopes.iter().cloned()))
        })
}

#[cfg(test)]
mod tests {
    use authsec_core::ScopeSet;
    use serde_json::json;

    use super::*;

    fn parse(value: serde_json::Value) -> Result<RemotePolicy, ControlPlaneError> {
        serde_json::from_value::<SdkPolicy>(value)
            .unwrap()
            .interpret("http://cp/sdk-policy")
    }

    #[test]
    fn tool_policy_wins_over_legacy_tools() {
        let policy = parse(json!({
            "state": "ready", "policy_complete": true, "rs_id": "rs", "generation": 42,
            "scopes_supported": ["m:read", "m:tools:read"],
            "tools": {"add_no": [], "legacy_only": ["m:read"]},
            "tool_policy": [
                {"name": "add_no", "is_public": false, "required_scopes": ["m:tools:read", "m:admin"]},
                {"name": "health", "is_public": true, "required_scopes": []},
                {"name": "unmapped", "is_public": false, "required_scopes": []}
            ],
            "fetched_at": "2026-11-26T14:00:00Z", "ttl_seconds": 30
        }))
        .unwrap();
        let m = &policy.manifest;
        assert!(m.allows("add_no", &ScopeSet::parse("m:admin")));
        assert!(!m.allows("add_no", &ScopeSet::parse("m:read")));
        assert!(m.allows("health", &ScopeSet::new()));
        assert_eq!(m.rule_for("unmapped"), None);
        assert_eq!(m.rule_for("legacy_only"), None);
        assert_eq!(policy.generation, Some(42));
        assert_eq!(
            policy.scopes_supported.as_deref(),
            Some(&["m:read".to_owned(), "m:tools:read".to_owned()][..])
        );
    }

    #[test]
    fn the_legacy_shape_is_ready_and_complete_and_empty_lists_are_public() {
        let policy = parse(json!({"tools": {"echo": [], "add": ["a", "b"]}})).unwrap();
        assert!(policy.manifest.allows("echo", &ScopeSet::new()));
        assert!(policy.manifest.allows("add", &ScopeSet::parse("b")));
        assert!(!policy.manifest.allows("add", &ScopeSet::parse("c")));
        assert_eq!(policy.scopes_supported, None);
    }

    #[test]
    fn an_incomplete_policy_is_an_error_with_its_state_and_reason() {
        let err = parse(json!({
            "state": "needs_setup", "policy_complete": false, "reason": "rs_needs_setup",
            "tool_policy": [{"name": "a", "is_public": true}]
        }))
        .unwrap_err();
        assert_eq!(
            err,
            ControlPlaneError::PolicyIncomplete {
                state: "needs_setup".into(),
                reason: "rs_needs_setup".into()
            }
        );
        // A non-legacy answer without policy_complete is not complete either.
        assert!(matches!(
            parse(json!({"state": "ready", "tool_policy": [{"name": "a", "is_public": true}]})),
            Err(ControlPlaneError::PolicyIncomplete { .. })
        ));
    }

    #[test]
    fn unusable_scopes_refuse_the_document() {
        let err = parse(json!({
            "state": "ready", "policy_complete": true,
            "tool_policy": [{"name": "a", "required_scopes": ["two words"]}]
        }))
        .unwrap_err();
        assert!(err.to_string().contains("tool \"a\""), "{err}");
    }
}
