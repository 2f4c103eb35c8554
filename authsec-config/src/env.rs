//! The environment way in: the AuthSec SDK family's fifteen `AUTHSEC_*` variables with their
//! legacy aliases (family §1.1), plus a few Rust extensions.
//!
//! | variable (canonical) | legacy alias | field |
//! |---|---|---|
//! | `AUTHSEC_ISSUER` | | `issuer` |
//! | `AUTHSEC_AUTHORIZATION_SERVER` | | `authorization_server` |
//! | `AUTHSEC_JWKS_URL` | `AUTHSEC_JWKS_URI` | `jwks_url` |
//! | `AUTHSEC_INTROSPECTION_URL` | `AUTHSEC_INTROSPECTION_ENDPOINT` | `introspection_url` |
//! | `AUTHSEC_INTROSPECTION_CLIENT_ID` | `AUTHSEC_INTROSPECTION_ID` | `introspection_client_id` |
//! | `AUTHSEC_INTROSPECTION_CLIENT_SECRET` | `AUTHSEC_INTROSPECTION_SECRET` | `introspection_client_secret` |
//! | `AUTHSEC_RESOURCE_URI` | `AUTHSEC_RESOURCE` | `resource` |
//! | `AUTHSEC_RESOURCE_NAME` | | `resource_name` |
//! | `AUTHSEC_RESOURCE_SERVER_ID` | | `resource_server_id` |
//! | `AUTHSEC_SUPPORTED_SCOPES` | | `supported_scopes` (JSON array, or comma/space separated) |
//! | `AUTHSEC_TOOL_SCOPES_JSON` | | `tool_scopes` (`{"tool": ["a","b"] or "a b"}`; invalid or empty: unset) |
//! | `AUTHSEC_TOOL_SCOPE_SUGGESTIONS_JSON` | | `tool_scope_suggestions` (same format) |
//! | `AUTHSEC_POLICY_MODE` | | `policy_mode` (`enforce` = `remote_required`, `observe` = `open`; unknown: unset) |
//! | `AUTHSEC_VALIDATION_MODE` | | `validation_mode` (`auto`, empty, unknown: unset) |
//! | `AUTHSEC_PUBLISH_MANIFEST` | | `publish_manifest` (true iff `1`, `true`, `yes`) |
//!
//! Rust extensions (no sibling reads them): `AUTHSEC_DENIAL_MODE` (`http` | `inband`),
//! `AUTHSEC_INTROSPECTION_CACHE_SECONDS`, `AUTHSEC_TOKEN_CACHE_CAPACITY`,
//! `AUTHSEC_SCOPE_MATRIX_TTL_SECONDS`, `AUTHSEC_INITIAL_SCOPES`, `AUTHSEC_TRUSTED_PROXIES`,
//! `AUTHSEC_POLICY_FILE`, `AUTHSEC_DISCOVERY` (`false` for the family's strict endpoint rule).
//!
//! A custom prefix replaces `AUTHSEC_` in every name. For aliases the first non-empty value
//! wins, canonical name first. Like the family's `FromEnv`, reading only parses; call
//! [`Config::validate`] (or [`Config::build`]) to check.

use std::collections::BTreeMap;

use authsec_core::ConfigError;

use crate::config::{Config, Origin};
use crate::modes::{PolicyMode, ValidationMode};

/// The family's prefix.
pub const DEFAULT_PREFIX: &str = "AUTHSEC_";

/// Field → variable suffixes (canonical first, then legacy aliases).
pub const VARIABLES: [(&str, &[&str]); 15] = [
    ("issuer", &["ISSUER"]),
    ("authorization_server", &["AUTHORIZATION_SERVER"]),
    ("jwks_url", &["JWKS_URL", "JWKS_URI"]),
    (
        "introspection_url",
        &["INTROSPECTION_URL", "INTROSPECTION_ENDPOINT"],
    ),
    (
        "introspection_client_id",
        &["INTROSPECTION_CLIENT_ID", "INTROSPECTION_ID"],
    ),
    (
        "introspection_client_secret",
        &["INTROSPECTION_CLIENT_SECRET", "INTROSPECTION_SECRET"],
    ),
    ("resource", &["RESOURCE_URI", "RESOURCE"]),
    ("resource_name", &["RESOURCE_NAME"]),
    ("resource_server_id", &["RESOURCE_SERVER_ID"]),
    ("supported_scopes", &["SUPPORTED_SCOPES"]),
    ("tool_scopes", &["TOOL_SCOPES_JSON"]),
    ("tool_scope_suggestions", &["TOOL_SCOPE_SUGGESTIONS_JSON"]),
    ("policy_mode", &["POLICY_MODE"]),
    ("validation_mode", &["VALIDATION_MODE"]),
    ("publish_manifest", &["PUBLISH_MANIFEST"]),
];

/// The Rust extensions: field → variable suffix.
pub const EXTENSIONS: [(&str, &str); 8] = [
    ("denials.mode", "DENIAL_MODE"),
    (
        "cache.introspection_ttl_seconds",
        "INTROSPECTION_CACHE_SECONDS",
    ),
    ("cache.token_capacity", "TOKEN_CACHE_CAPACITY"),
    ("scope_matrix_ttl_seconds", "SCOPE_MATRIX_TTL_SECONDS"),
    ("initial_scopes", "INITIAL_SCOPES"),
    ("trusted_proxies", "TRUSTED_PROXIES"),
    ("policy_file", "POLICY_FILE"),
    ("discovery", "DISCOVERY"),
];

/// The variable an error about `field` names (the canonical one).
pub(crate) fn variable_for(prefix: &str, field: &str) -> String {
    VARIABLES
        .iter()
        .find(|(f, _)| *f == field)
        .map(|(_, names)| names[0])
        .or_else(|| {
            EXTENSIONS
                .iter()
                .find(|(f, _)| *f == field)
                .map(|(_, n)| *n)
        })
        .map_or_else(|| field.to_owned(), |name| format!("{prefix}{name}"))
}

/// Reads the process environment.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl Config {
    /// The `AUTHSEC_*` environment (parse only: call [`validate`](Self::validate)).
    pub fn from_env() -> Result<Config, ConfigError> {
        Self::from_env_with_prefix(DEFAULT_PREFIX)
    }

    /// The environment with another prefix (e.g. `MYAPP_` reads `MYAPP_ISSUER`...).
    pub fn from_env_with_prefix(prefix: &str) -> Result<Config, ConfigError> {
        Self::from_lookup(prefix, process_env)
    }

    /// The environment as seen through `lookup` (tests, or a map of variables).
    pub fn from_lookup(
        prefix: &str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut config = Config::builder("", "").into_config();
        config.apply_env(prefix, lookup)?;
        config.origin = Origin::Env(prefix.to_owned());
        Ok(config)
    }

    /// Applies the variables that are set (non-empty) over this configuration: how
    /// authsec.toml gets its environment overrides.
    pub fn apply_env(
        &mut self,
        prefix: &str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        let get = |field: &str| -> Option<String> {
            let names = VARIABLES.iter().find(|(f, _)| *f == field)?.1;
            names
                .iter()
                .filter_map(|name| lookup(&format!("{prefix}{name}")))
                .find(|value| !value.trim().is_empty())
                .map(|value| value.trim().to_owned())
        };
        let extension = |field: &str| -> Option<String> {
            let name = EXTENSIONS.iter().find(|(f, _)| *f == field)?.1;
            lookup(&format!("{prefix}{name}"))
                .filter(|v| !v.trim().is_empty())
                .map(|v| v.trim().to_owned())
        };
        let number = |field: &str| -> Result<Option<u64>, ConfigError> {
            extension(field)
                .map(|v| {
                    v.parse::<u64>().map_err(|_| {
                        ConfigError::new(format!(
                            "{}: {v:?} is not a whole number",
                            variable_for(prefix, field)
                        ))
                    })
                })
                .transpose()
        };
        if let Some(v) = get("issuer") {
            self.issuer = v;
        }
        for (field, slot) in [
            ("authorization_server", &mut self.authorization_server),
            ("jwks_url", &mut self.jwks_url),
            ("introspection_url", &mut self.introspection_url),
            ("introspection_client_id", &mut self.introspection_client_id),
            (
                "introspection_client_secret",
                &mut self.introspection_client_secret,
            ),
            ("resource_name", &mut self.resource_name),
            ("resource_server_id", &mut self.resource_server_id),
        ] {
            if let Some(v) = get(field) {
                *slot = Some(v);
            }
        }
        if let Some(v) = get("resource") {
            self.resource = v;
        }
        if let Some(v) = get("supported_scopes") {
            self.supported_scopes = parse_scope_list(&v);
        }
        if let Some(v) = get("tool_scopes") {
            self.tool_scopes = parse_tool_scopes(&v);
        }
        if let Some(v) = get("tool_scope_suggestions") {
            self.tool_scope_suggestions = parse_tool_scopes(&v);
        }
        if let Some(v) = get("policy_mode") {
            self.policy_mode = PolicyMode::parse_family(&v);
        }
        if let Some(v) = get("validation_mode") {
            self.validation_mode = ValidationMode::parse_family(&v);
        }
        if let Some(v) = get("publish_manifest") {
            self.publish_manifest = parse_truthy(&v);
        }
        if let Some(v) = extension("denials.mode") {
            self.denials.mode = v
                .parse()
                .map_err(|e: String| ConfigError::new(format!("{prefix}DENIAL_MODE: {e}")))?;
        }
        if let Some(v) = number("cache.introspection_ttl_seconds")? {
            self.cache.introspection_ttl_seconds = v;
        }
        if let Some(v) = number("cache.token_capacity")? {
            self.cache.token_capacity = usize::try_from(v).unwrap_or(usize::MAX);
        }
        if let Some(v) = number("scope_matrix_ttl_seconds")? {
            self.scope_matrix_ttl_seconds = v;
        }
        if let Some(v) = extension("initial_scopes") {
            self.initial_scopes = parse_scope_list(&v).unwrap_or_default();
        }
        if let Some(v) = extension("trusted_proxies") {
            self.trusted_proxies = parse_scope_list(&v).unwrap_or_default();
        }
        if let Some(v) = extension("policy_file") {
            self.policy_file = Some(v.into());
        }
        if let Some(v) = extension("discovery") {
            self.discovery = Some(parse_truthy(&v));
        }
        Ok(())
    }
}

/// The family's truthy set: `1`, `true`, `yes` (trimmed, case-insensitive).
pub fn parse_truthy(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes"
    )
}

/// The family's list parsing: a JSON array of strings if the value starts with `[`, else
/// commas become spaces and the value is split on whitespace; empty → `None`.
pub fn parse_scope_list(value: &str) -> Option<Vec<String>> {
    let value = value.trim();
    let list: Vec<String> = if value.starts_with('[') {
        serde_json::from_str::<Vec<String>>(value).ok()?
    } else {
        value
            .replace(',', " ")
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    (!list.is_empty()).then_some(list)
}

/// The family's tool map parsing: a JSON object of tool → array of scopes or space-separated
/// string. Invalid or empty → `None` (so mode inference still sees "unset").
pub fn parse_tool_scopes(value: &str) -> Option<BTreeMap<String, Vec<String>>> {
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(value).ok()?;
    if map.is_empty() {
        return None;
    }
    let mut tools = BTreeMap::new();
    for (tool, scopes) in map {
        let scopes = match scopes {
            serde_json::Value::String(s) => s.split_whitespace().map(str::to_owned).collect(),
            serde_json::Value::Array(items) => items
                .into_iter()
                .map(|item| match item {
                    serde_json::Value::String(s) => Some(s),
                    _ => None,
                })
                .collect::<Option<Vec<String>>>()?,
            _ => return None,
        };
        tools.insert(tool, scopes);
    }
    Some(tools)
}
