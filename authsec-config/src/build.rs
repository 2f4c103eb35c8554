//! The build step: from a validated [`Config`] to the running pieces (the discovered
//! [`RemoteIssuer`], the [`Guard`], the adapter-independent [`Protection`]).

use std::fmt;

use authsec_core::{ConfigError, Guard, GuardBuilder, Protection, ToolManifest, ToolRule};
use authsec_jwks::control_plane::{ControlPlane, ControlPlaneError, ToolPolicy};
use authsec_jwks::{AuthorizationServerMetadata, ClientCredentials, FetchError, RemoteIssuer};
use authsec_policy::PolicyConfig;

use crate::config::Config;
use crate::modes::PolicyMode;

/// Why the running pieces could not be built.
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// The configuration is wrong; the message names the field.
    Config(ConfigError),
    /// The authorization server's metadata could not be fetched or is wrong.
    Fetch(FetchError),
    /// The AuthSec control plane (remote tool policy) could not be set up, e.g. the first
    /// policy fetch failed in `remote_required`.
    ControlPlane(ControlPlaneError),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Config(error) => error.fmt(f),
            BuildError::Fetch(error) => write!(f, "authorization server: {error}"),
            BuildError::ControlPlane(error) => write!(f, "AuthSec control plane: {error}"),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Config(error) => Some(error),
            BuildError::Fetch(error) => Some(error),
            BuildError::ControlPlane(error) => Some(error),
        }
    }
}

impl From<ConfigError> for BuildError {
    fn from(error: ConfigError) -> Self {
        BuildError::Config(error)
    }
}

impl From<ControlPlaneError> for BuildError {
    fn from(error: ControlPlaneError) -> Self {
        BuildError::ControlPlane(error)
    }
}

impl From<FetchError> for BuildError {
    fn from(error: FetchError) -> Self {
        BuildError::Fetch(error)
    }
}

impl Config {
    /// Validates, discovers the authorization server (or uses the configured endpoints) and
    /// builds the [`Protection`] an adapter wraps:
    /// `AuthsecLayer::from_protection(config.build().await?)`.
    pub async fn build(&self) -> Result<Protection, BuildError> {
        let guard = self.guard_builder().await?.build()?;
        Ok(self.protection(guard))
    }

    /// The [`Protection`] over `guard` with this configuration's denial delivery.
    pub fn protection(&self, guard: Guard) -> Protection {
        Protection::new(guard).denial_delivery(self.denials.to_core())
    }

    /// The authorization server, discovered from the issuer or assembled from the configured
    /// endpoints, with the introspection credentials and cache TTL.
    pub async fn remote_issuer(&self) -> Result<RemoteIssuer, BuildError> {
        self.validate()?;
        let mut builder = RemoteIssuer::builder(self.issuer.as_str());
        if let (Some(id), Some(secret)) = (
            &self.introspection_client_id,
            &self.introspection_client_secret,
        ) && self.has_introspection_credentials()
        {
            builder = builder
                .introspection_credentials(ClientCredentials::new(id.as_str(), secret.as_str()))
                .introspection_ttl(self.introspection_ttl());
        }
        Ok(if self.discovers_endpoints() {
            builder.discover().await?
        } else {
            let mut metadata = AuthorizationServerMetadata::new(self.issuer.as_str());
            metadata.jwks_uri = self.jwks_url.clone().filter(|u| !u.trim().is_empty());
            metadata.introspection_endpoint = self
                .introspection_url
                .clone()
                .filter(|u| !u.trim().is_empty());
            builder.from_metadata(metadata)?
        })
    }

    /// Everything but the final `build()`: add your own policy or clock, then build the
    /// Guard and wrap it with [`protection`](Self::protection).
    pub async fn guard_builder(&self) -> Result<GuardBuilder, BuildError> {
        let issuer = self.remote_issuer().await?;
        let mode = self
            .effective_validation_mode()
            .map_or(authsec_jwks::ValidationMode::Auto, |m| m.to_jwks());
        let builder =
            Guard::builder(self.resource.as_str()).token_cache_capacity(self.cache.token_capacity);
        // The RFC 9728 document lists the authorization server (the issuer unless
        // `authorization_server` is set), as the family publishes it (§6.2).
        let mut builder = issuer
            .apply(builder, mode)?
            .authorization_servers([self.authorization_server()]);
        let (manifest, policies) = self.local_policy()?;
        let mode = self.effective_policy_mode();
        if mode.is_remote() {
            let plane = self.control_plane()?.ok_or_else(|| {
                self.error(
                    "resource_server_id",
                    &format!("is required for policy mode {mode}"),
                )
            })?;
            let mut tool_policy = ToolPolicy::builder(mode)
                .control_plane(plane)
                .publish_manifest(self.publish_manifest)
                .ttl(self.scope_matrix_ttl());
            if mode == PolicyMode::RemoteWithLocalFallback {
                tool_policy = tool_policy.local_manifest(manifest);
            }
            builder = tool_policy.start().await?.apply(builder);
        } else {
            builder = builder.manifest(manifest);
        }
        if let Some(policies) = policies {
            builder = builder.policy(policies);
        }
        if !self.initial_scopes.is_empty() {
            builder = builder.initial_scopes(self.initial_scopes.iter().cloned());
        }
        if let Some(scopes) = &self.supported_scopes {
            builder = builder.scopes_supported(scopes.iter().cloned());
        }
        if !self.trusted_proxies.is_empty() {
            builder = builder.trusted_proxies(self.trusted_proxies.iter().cloned());
        }
        Ok(builder.resource_name(self.resource_name()))
    }

    /// The AuthSec control plane of this resource server (remote tool policy, manifest
    /// publishing): `Some` with a resource-server id, authenticated with the introspection
    /// credentials.
    pub fn control_plane(&self) -> Result<Option<ControlPlane>, BuildError> {
        let Some(id) = self
            .resource_server_id
            .as_deref()
            .filter(|id| !id.trim().is_empty())
        else {
            return Ok(None);
        };
        let (Some(client_id), Some(secret)) = (
            &self.introspection_client_id,
            &self.introspection_client_secret,
        ) else {
            return Err(self
                .error(
                    "introspection_client_id",
                    "introspection_client_id and introspection_client_secret are required with resource_server_id (the control plane authenticates with them)",
                )
                .into());
        };
        Ok(Some(
            ControlPlane::builder(self.authorization_server(), id)
                .credentials(client_id.as_str(), secret.as_str())
                .build()?,
        ))
    }

    /// The local tool manifest and policies: the authsec-policy file or `[policy]` table,
    /// plus `tool_scopes` entries (any one scope suffices; none: public) for tools the file
    /// does not list. Under policy mode `open`, tools not listed are allowed to any valid
    /// token. In the remote modes the manifest is the remote policy's local fallback.
    pub fn local_policy(
        &self,
    ) -> Result<(ToolManifest, Option<authsec_policy::PolicySet>), ConfigError> {
        let mode = self.effective_policy_mode();
        let parsed = match (&self.policy_file, &self.policy) {
            (Some(path), _) => {
                let path = match &self.base_dir {
                    Some(base) if path.is_relative() => base.join(path),
                    _ => path.clone(),
                };
                Some(PolicyConfig::load(&path)?.build()?)
            }
            (None, Some(table)) => {
                let text = toml::to_string(table).map_err(|e| {
                    self.error("policy", &format!("cannot be re-read as TOML: {e}"))
                })?;
                let name = format!("{} [policy]", self.field("policy"));
                Some(PolicyConfig::parse_named(&name, &text)?.build()?)
            }
            (None, None) => None,
        };
        let (mut manifest, policies) = match parsed {
            Some(config) => {
                let (manifest, policies) = config.into_parts();
                (manifest, Some(policies))
            }
            None => (ToolManifest::new(), None),
        };
        for (tool, scopes) in self.tool_scopes.iter().flatten() {
            if manifest.rule_for(tool).is_none() {
                manifest = manifest.rule(tool.as_str(), ToolRule::any_of(scopes.iter().cloned()));
            }
        }
        if mode == PolicyMode::Open {
            manifest = manifest.default_rule(ToolRule::public());
        }
        manifest.validate()?;
        Ok((manifest, policies))
    }
}
