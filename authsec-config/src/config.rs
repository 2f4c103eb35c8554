//! The configuration model: what a protected application is, however it was described.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use authsec_core::ConfigError;
use serde::{Deserialize, Serialize};

use crate::modes::{Delivery, DenialMode, PolicyMode, ValidationMode};

/// The family's default `resource_name`.
pub const DEFAULT_RESOURCE_NAME: &str = "AuthSec Protected MCP Resource";

/// The family's default scope-matrix (remote policy) cache TTL, in seconds.
pub const DEFAULT_SCOPE_MATRIX_TTL_SECONDS: u64 = 30;

/// Where a configuration came from; errors name the field in that source's terms.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Origin {
    /// The Rust builder: errors name the field.
    #[default]
    Builder,
    /// A TOML file (its name): errors read `authsec.toml: resource: ...`.
    File(String),
    /// The environment with this prefix: errors read `AUTHSEC_RESOURCE_URI: ...`.
    Env(String),
}

/// Token cache settings (`[cache]` in authsec.toml).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct CacheConfig {
    /// How many verified JWTs are kept (0: verify every request). Default 10 000.
    pub token_capacity: usize,
    /// How long an introspection answer is reused, in seconds (0: ask every request; it is
    /// the revocation delay). Default 30. `AUTHSEC_INTROSPECTION_CACHE_SECONDS`.
    pub introspection_ttl_seconds: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            token_capacity: authsec_core::guard::DEFAULT_TOKEN_CACHE_CAPACITY,
            introspection_ttl_seconds: 30,
        }
    }
}

/// How denials reach clients (`[denials]` in authsec.toml).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct DenialsConfig {
    /// `http` (default) or `inband` (the AuthSec profile). `AUTHSEC_DENIAL_MODE`.
    pub mode: DenialMode,
    /// `policy_denied` delivery outside the AuthSec profile: `http`, `tool_result` or
    /// `jsonrpc_error`.
    pub policy_denied: Delivery,
    /// `quota_exceeded` delivery outside the AuthSec profile.
    pub quota_exceeded: Delivery,
}

impl DenialsConfig {
    /// The core's delivery settings.
    pub fn to_core(&self) -> authsec_core::inband::DenialDelivery {
        match self.mode {
            DenialMode::Inband => authsec_core::inband::DenialDelivery::authsec_inband(),
            _ => authsec_core::inband::DenialDelivery::http()
                .policy_denied(self.policy_denied.to_core())
                .quota_exceeded(self.quota_exceeded.to_core()),
        }
    }
}

/// One protected application: its authorization server, resource, validation, tool policy
/// and denial delivery. Made by [`Config::builder`], [`Config::from_toml_str`] /
/// [`Config::load`] (authsec.toml) or [`Config::from_env`]; checked by
/// [`Config::validate`]; turned into running pieces by [`Config::build`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Config {
    /// The authorization server's issuer identifier (`iss` of tokens). Required.
    #[serde(default)]
    pub issuer: String,
    /// The authorization server clients are sent to and the control plane (remote policy,
    /// manifest) lives at; defaults to the issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_server: Option<String>,
    /// This server's canonical URI: the audience tokens must carry. Required.
    #[serde(default)]
    pub resource: String,
    /// `resource_name` in the RFC 9728 document (default "AuthSec Protected MCP Resource").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
    /// The JWKS URL; with `introspection_url` unset too, both are discovered from the
    /// issuer's metadata (RFC 8414 / OIDC) unless `discovery = false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_url: Option<String>,
    /// The RFC 7662 introspection endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection_url: Option<String>,
    /// Client id for introspection and the control plane (the AuthSec resource-server id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection_client_id: Option<String>,
    /// Its secret. In authsec.toml prefer the environment
    /// (`AUTHSEC_INTROSPECTION_CLIENT_SECRET`) over writing it in the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection_client_secret: Option<String>,
    /// How tokens are validated; unset: inferred (family §1.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_mode: Option<ValidationMode>,
    /// Whether missing JWKS / introspection URLs are discovered from the issuer (default
    /// true; the family has no discovery: `false` gives its strict rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<bool>,
    /// Caches.
    #[serde(default)]
    pub cache: CacheConfig,
    /// The `scope` of the no-token challenge: what a client asks for first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub initial_scopes: Vec<String>,
    /// `scopes_supported` of the RFC 9728 document (default: the manifest's scopes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supported_scopes: Option<Vec<String>>,
    /// The family's local tool → scopes map (any one of the scopes suffices; an empty list
    /// makes the tool public). `None` (unset) differs from empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_scopes: Option<BTreeMap<String, Vec<String>>>,
    /// Advisory scopes per tool for manifest publishing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_scope_suggestions: Option<BTreeMap<String, Vec<String>>>,
    /// An authsec-policy file (tools, policies, roles, quotas), relative to authsec.toml.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_file: Option<PathBuf>,
    /// The same, inline: a `[policy]` table in authsec-policy's format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<toml::Table>,
    /// The AuthSec resource-server id: enables the remote tool policy and manifest publishing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_server_id: Option<String>,
    /// Where the tool policy comes from; unset: inferred (family §1.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_mode: Option<PolicyMode>,
    /// Remote policy cache TTL in seconds (default 30).
    #[serde(default = "default_scope_matrix_ttl")]
    pub scope_matrix_ttl_seconds: u64,
    /// Publish the tool manifest to the control plane at start-up.
    #[serde(default)]
    pub publish_manifest: bool,
    /// Denial delivery.
    #[serde(default)]
    pub denials: DenialsConfig,
    /// Proxies (IPs or CIDR blocks) whose forwarding headers are believed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_proxies: Vec<String>,
    /// Where this configuration came from (not serialized).
    #[serde(skip)]
    pub origin: Origin,
    /// The directory relative paths are resolved from (not serialized).
    #[serde(skip)]
    pub base_dir: Option<PathBuf>,
}

fn default_scope_matrix_ttl() -> u64 {
    DEFAULT_SCOPE_MATRIX_TTL_SECONDS
}

impl Config {
    /// A configuration for `resource` protected by tokens of `issuer`, otherwise default.
    pub fn builder(issuer: impl Into<String>, resource: impl Into<String>) -> ConfigBuilder {
        ConfigBuilder {
            config: Config {
                issuer: issuer.into(),
                resource: resource.into(),
                scope_matrix_ttl_seconds: DEFAULT_SCOPE_MATRIX_TTL_SECONDS,
                ..Config::default()
            },
        }
    }

    /// Parses authsec.toml text (no environment); errors name `authsec.toml` and the field.
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        Self::from_toml_named("authsec.toml", text)
    }

    /// Parses TOML text, naming it `name` in errors.
    pub fn from_toml_named(name: &str, text: &str) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| {
            let message = e.message().trim_end().to_owned();
            let place = e
                .span()
                .map(|span| {
                    let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                    format!(" (line {line})")
                })
                .unwrap_or_default();
            ConfigError::new(format!("{name}{place}: {message}"))
        })?;
        config.origin = Origin::File(name.to_owned());
        Ok(config)
    }

    /// Reads an authsec.toml file (no environment).
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(format!("cannot read {}: {e}", path.display())))?;
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let mut config = Self::from_toml_named(&name, &text)?;
        config.base_dir = path.parent().map(Path::to_path_buf);
        Ok(config)
    }

    /// Reads an authsec.toml file, then applies the `AUTHSEC_*` environment over it (a
    /// variable that is set and non-empty wins over the file).
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let mut config = Self::from_toml_file(path)?;
        config.apply_env(crate::env::DEFAULT_PREFIX, crate::env::process_env)?;
        Ok(config)
    }

    /// Sets the inline `[policy]` table from authsec-policy TOML text (e.g. a file embedded
    /// with `include_str!`).
    pub fn set_policy_toml(&mut self, text: &str) -> Result<(), ConfigError> {
        let table: toml::Table = toml::from_str(text)
            .map_err(|e| self.error("policy", &format!("is not valid TOML: {}", e.message())))?;
        self.policy = Some(table);
        Ok(())
    }

    /// The authorization server (defaults to the issuer).
    pub fn authorization_server(&self) -> &str {
        self.authorization_server
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .unwrap_or(&self.issuer)
    }

    /// `resource_name`, or the family's default.
    pub fn resource_name(&self) -> &str {
        self.resource_name
            .as_deref()
            .unwrap_or(DEFAULT_RESOURCE_NAME)
    }

    /// The remote policy cache TTL.
    pub fn scope_matrix_ttl(&self) -> Duration {
        Duration::from_secs(match self.scope_matrix_ttl_seconds {
            0 => DEFAULT_SCOPE_MATRIX_TTL_SECONDS,
            ttl => ttl,
        })
    }

    /// The introspection answer TTL.
    pub fn introspection_ttl(&self) -> Duration {
        Duration::from_secs(self.cache.introspection_ttl_seconds)
    }

    /// Whether the JWKS and introspection URLs are discovered from the issuer: neither is
    /// configured and discovery is not off.
    pub fn discovers_endpoints(&self) -> bool {
        self.discovery != Some(false) && self.jwks_url.is_none() && self.introspection_url.is_none()
    }

    /// Whether introspection client credentials are both set.
    pub fn has_introspection_credentials(&self) -> bool {
        nonblank(&self.introspection_client_id) && nonblank(&self.introspection_client_secret)
    }

    /// The policy mode in effect (family §1.3): the configured one, else `remote_required`
    /// with a resource-server id, `local_only` with a tool map (`tool_scopes`, `policy_file`
    /// or `[policy]`), else `open`.
    pub fn effective_policy_mode(&self) -> PolicyMode {
        if let Some(mode) = self.policy_mode {
            return mode;
        }
        if nonblank(&self.resource_server_id) {
            PolicyMode::RemoteRequired
        } else if self.tool_scopes.is_some() || self.policy_file.is_some() || self.policy.is_some()
        {
            PolicyMode::LocalOnly
        } else {
            PolicyMode::Open
        }
    }

    /// The validation mode in effect (family §1.3): the configured one, else
    /// `jwt_and_introspect` with both URLs, `jwt_only` with the JWKS URL only,
    /// `introspection_only` otherwise. `None` when the endpoints are discovered: the mode then
    /// follows what the issuer publishes (JWT, plus introspection when credentials are set).
    pub fn effective_validation_mode(&self) -> Option<ValidationMode> {
        if let Some(mode) = self.validation_mode {
            return Some(mode);
        }
        if self.discovers_endpoints() {
            return None;
        }
        Some(
            match (nonblank(&self.jwks_url), nonblank(&self.introspection_url)) {
                (true, true) => ValidationMode::JwtAndIntrospect,
                (true, false) => ValidationMode::JwtOnly,
                _ => ValidationMode::IntrospectionOnly,
            },
        )
    }

    /// How an error names `field` in this configuration's source.
    pub(crate) fn field(&self, field: &str) -> String {
        match &self.origin {
            Origin::Builder => field.to_owned(),
            Origin::File(name) => format!("{name}: {field}"),
            Origin::Env(prefix) => crate::env::variable_for(prefix, field),
        }
    }

    pub(crate) fn error(&self, field: &str, message: &str) -> ConfigError {
        ConfigError::new(format!("{}: {message}", self.field(field)))
    }

    /// Checks the configuration, in the family's order (§1.4), so the first error is the
    /// family's: issuer; resource; a JWKS or introspection URL (unless discovered);
    /// introspection credentials with an introspection URL; what a remote policy mode needs;
    /// `tool_scopes` for `remote_with_local_fallback`; what the validation mode needs. Then
    /// the Rust-only checks (scope tokens, TTLs).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.issuer.trim().is_empty() {
            return Err(self.error("issuer", "is required"));
        }
        if self.resource.trim().is_empty() {
            return Err(self.error("resource", "is required"));
        }
        match url::Url::parse(&self.resource) {
            Ok(url) if url.has_host() && !url.scheme().is_empty() => {
                let loopback = match url.host() {
                    Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
                    Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                    Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                    None => false,
                };
                if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
                    return Err(self.error(
                        "resource",
                        "must be an absolute https URL (http only on loopback)",
                    ));
                }
            }
            _ => {
                return Err(self.error(
                    "resource",
                    "must be an absolute URL with a scheme and a host",
                ));
            }
        }
        if let Err(error) = authsec_core::Resource::parse(self.resource.clone()) {
            return Err(self.error("resource", error.message()));
        }
        if !nonblank(&self.jwks_url)
            && !nonblank(&self.introspection_url)
            && !self.discovers_endpoints()
        {
            return Err(self.error(
                "jwks_url",
                "jwks_url or introspection_url is required (or leave both unset, with discovery on, to read them from the issuer's metadata)",
            ));
        }
        for (field, value) in [
            ("jwks_url", &self.jwks_url),
            ("introspection_url", &self.introspection_url),
            ("authorization_server", &self.authorization_server),
        ] {
            if let Some(value) = value
                && !value.trim().is_empty()
                && url::Url::parse(value).map_or(true, |u| !u.has_host())
            {
                return Err(self.error(field, "must be an absolute URL"));
            }
        }
        if nonblank(&self.introspection_url) && !self.has_introspection_credentials() {
            return Err(self.error(
                "introspection_client_id",
                "introspection_client_id and introspection_client_secret are required when introspection_url is set",
            ));
        }
        let policy_mode = self.effective_policy_mode();
        if policy_mode.is_remote() {
            if !nonblank(&self.resource_server_id) {
                return Err(self.error(
                    "resource_server_id",
                    &format!("is required for policy mode {policy_mode}"),
                ));
            }
            if self.authorization_server().trim().is_empty() {
                return Err(self.error(
                    "authorization_server",
                    &format!(
                        "authorization_server or issuer is required for policy mode {policy_mode}"
                    ),
                ));
            }
            if !self.has_introspection_credentials() {
                return Err(self.error(
                    "introspection_client_id",
                    &format!("introspection_client_id and introspection_client_secret are required for policy mode {policy_mode} (the control plane authenticates with them)"),
                ));
            }
        }
        if policy_mode == PolicyMode::RemoteWithLocalFallback && self.tool_scopes.is_none() {
            return Err(self.error(
                "tool_scopes",
                "is required for policy mode remote_with_local_fallback (the local fallback)",
            ));
        }
        if let Some(mode) = self.effective_validation_mode() {
            if mode.uses_jwks() && !nonblank(&self.jwks_url) && !self.discovers_endpoints() {
                return Err(self.error(
                    "jwks_url",
                    &format!("is required for validation mode {mode}"),
                ));
            }
            if mode.uses_introspection() {
                if !nonblank(&self.introspection_url) && !self.discovers_endpoints() {
                    return Err(self.error(
                        "introspection_url",
                        &format!("is required for validation mode {mode}"),
                    ));
                }
                if !self.has_introspection_credentials() {
                    return Err(self.error(
                        "introspection_client_id",
                        &format!("introspection_client_id and introspection_client_secret are required for validation mode {mode}"),
                    ));
                }
            }
        }
        for (field, scopes) in [
            ("initial_scopes", Some(&self.initial_scopes)),
            ("supported_scopes", self.supported_scopes.as_ref()),
        ] {
            for scope in scopes.into_iter().flatten() {
                authsec_core::scope::validate_scope_token(scope)
                    .map_err(|e| self.error(field, &e))?;
            }
        }
        for (tool, scopes) in self.tool_scopes.iter().flatten() {
            for scope in scopes {
                authsec_core::scope::validate_scope_token(scope)
                    .map_err(|e| self.error("tool_scopes", &format!("tool {tool:?}: {e}")))?;
            }
        }
        if self.policy_file.is_some() && self.policy.is_some() {
            return Err(self.error(
                "policy",
                "give the policy either inline ([policy]) or as policy_file, not both",
            ));
        }
        Ok(())
    }
}

pub(crate) fn nonblank(value: &Option<String>) -> bool {
    value.as_deref().is_some_and(|v| !v.trim().is_empty())
}

/// The Rust way in: every field of [`Config`], starting from the issuer and the resource.
#[derive(Clone, Debug)]
#[must_use]
pub struct ConfigBuilder {
    config: Config,
}

impl ConfigBuilder {
    /// The authorization server clients are sent to (default: the issuer).
    pub fn authorization_server(mut self, url: impl Into<String>) -> Self {
        self.config.authorization_server = Some(url.into());
        self
    }

    /// `resource_name` in the RFC 9728 document.
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.config.resource_name = Some(name.into());
        self
    }

    /// The JWKS URL (instead of discovering it).
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.config.jwks_url = Some(url.into());
        self
    }

    /// The introspection endpoint (instead of discovering it).
    pub fn introspection_url(mut self, url: impl Into<String>) -> Self {
        self.config.introspection_url = Some(url.into());
        self
    }

    /// Introspection (and control-plane) client credentials.
    pub fn introspection_credentials(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        self.config.introspection_client_id = Some(client_id.into());
        self.config.introspection_client_secret = Some(client_secret.into());
        self
    }

    /// The validation mode (default: inferred).
    pub fn validation_mode(mut self, mode: ValidationMode) -> Self {
        self.config.validation_mode = Some(mode);
        self
    }

    /// Turns endpoint discovery off (the family's strict rule) or on.
    pub fn discovery(mut self, on: bool) -> Self {
        self.config.discovery = Some(on);
        self
    }

    /// How long introspection answers are reused.
    pub fn introspection_ttl(mut self, ttl: Duration) -> Self {
        self.config.cache.introspection_ttl_seconds = ttl.as_secs();
        self
    }

    /// How many verified JWTs are cached.
    pub fn token_cache_capacity(mut self, capacity: usize) -> Self {
        self.config.cache.token_capacity = capacity;
        self
    }

    /// The no-token challenge's `scope`.
    pub fn initial_scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.config.initial_scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// `scopes_supported` of the RFC 9728 document.
    pub fn supported_scopes<S: Into<String>>(
        mut self,
        scopes: impl IntoIterator<Item = S>,
    ) -> Self {
        self.config.supported_scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// One entry of the family's tool → scopes map (any one scope suffices; none: public).
    pub fn tool_scopes<S: Into<String>>(
        mut self,
        tool: impl Into<String>,
        scopes: impl IntoIterator<Item = S>,
    ) -> Self {
        self.config
            .tool_scopes
            .get_or_insert_with(BTreeMap::new)
            .insert(tool.into(), scopes.into_iter().map(Into::into).collect());
        self
    }

    /// An authsec-policy file (tools, policies, roles, quotas).
    pub fn policy_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.policy_file = Some(path.into());
        self
    }

    /// The AuthSec resource-server id (remote policy and manifest publishing).
    pub fn resource_server_id(mut self, id: impl Into<String>) -> Self {
        self.config.resource_server_id = Some(id.into());
        self
    }

    /// The policy mode (default: inferred).
    pub fn policy_mode(mut self, mode: PolicyMode) -> Self {
        self.config.policy_mode = Some(mode);
        self
    }

    /// The remote policy cache TTL.
    pub fn scope_matrix_ttl(mut self, ttl: Duration) -> Self {
        self.config.scope_matrix_ttl_seconds = ttl.as_secs();
        self
    }

    /// Publish the tool manifest at start-up.
    pub fn publish_manifest(mut self, on: bool) -> Self {
        self.config.publish_manifest = on;
        self
    }

    /// Denial delivery.
    pub fn denials(mut self, denials: DenialsConfig) -> Self {
        self.config.denials = denials;
        self
    }

    /// The AuthSec in-band profile (`inband`) or HTTP denials (`http`, the default).
    pub fn denial_mode(mut self, mode: DenialMode) -> Self {
        self.config.denials.mode = mode;
        self
    }

    /// Per-class delivery of `policy_denied` and `quota_exceeded`.
    pub fn deliver(mut self, policy_denied: Delivery, quota_exceeded: Delivery) -> Self {
        self.config.denials.policy_denied = policy_denied;
        self.config.denials.quota_exceeded = quota_exceeded;
        self
    }

    /// Proxies whose forwarding headers are believed.
    pub fn trusted_proxies<S: Into<String>>(
        mut self,
        proxies: impl IntoIterator<Item = S>,
    ) -> Self {
        self.config.trusted_proxies = proxies.into_iter().map(Into::into).collect();
        self
    }

    /// The configuration, validated.
    pub fn build(self) -> Result<Config, ConfigError> {
        self.config.validate()?;
        Ok(self.config)
    }

    /// The configuration, unvalidated.
    pub fn into_config(self) -> Config {
        self.config
    }
}
