//! # authsec-config
//!
//! One configuration model for an authsec-protected application, three ways in:
//!
//! - the Rust builder, [`Config::builder`];
//! - an `authsec.toml` file, [`Config::from_toml_str`] / [`Config::from_toml_file`], or
//!   [`Config::load`] which applies the environment over the file;
//! - the AuthSec SDK family's `AUTHSEC_*` environment, [`Config::from_env`] /
//!   [`Config::from_env_with_prefix`]: the fifteen variables and their legacy aliases, the
//!   mode aliases and the family's inference of modes ([`mod@env`]).
//!
//! [`Config::validate`] applies the family's rules in the family's order with errors naming
//! the field in the terms of its source (`authsec.toml: resource: ...`,
//! `AUTHSEC_RESOURCE_URI: ...`), and [`Config::build`] discovers the authorization server and
//! returns the [`Protection`](authsec_core::Protection) an adapter wraps.
//!
//! ```
//! use authsec_config::{Config, ValidationMode};
//!
//! // The family's environment (here from a map instead of the process environment).
//! let env = [
//!     ("AUTHSEC_ISSUER", "https://as.example"),
//!     ("AUTHSEC_RESOURCE", "https://mcp.example.com/mcp"), // legacy alias of _RESOURCE_URI
//!     ("AUTHSEC_JWKS_URI", "https://as.example/oauth/jwks"), // legacy alias of _JWKS_URL
//!     ("AUTHSEC_POLICY_MODE", "observe"),                  // alias of open
//! ];
//! let config = Config::from_lookup("AUTHSEC_", |name| {
//!     env.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string())
//! })?;
//! config.validate()?;
//! assert_eq!(config.effective_validation_mode(), Some(ValidationMode::JwtOnly));
//!
//! // The same application from authsec.toml.
//! let file = Config::from_toml_str(r#"
//!     issuer = "https://as.example"
//!     resource = "https://mcp.example.com/mcp"
//!     jwks_url = "https://as.example/oauth/jwks"
//!     policy_mode = "open"
//! "#)?;
//! assert_eq!(file.jwks_url, config.jwks_url);
//!
//! // A mistake names the field.
//! let error = Config::from_toml_str(r#"
//!     issuer = "https://as.example"
//!     resource = "mcp.example.com/mcp"
//! "#)?.validate().unwrap_err();
//! assert_eq!(
//!     error.message(),
//!     "authsec.toml: resource: must be an absolute URL with a scheme and a host"
//! );
//! # Ok::<(), authsec_core::ConfigError>(())
//! ```
//!
//! In a server: `let protection = Config::from_env()?.build().await?;` then
//! `AuthsecLayer::from_protection(protection)` (axum) or `Authsec::from_protection(protection)`
//! (actix).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod build;
mod config;
pub mod env;
pub mod modes;

pub use build::BuildError;
pub use config::{
    CacheConfig, Config, ConfigBuilder, DEFAULT_RESOURCE_NAME, DEFAULT_SCOPE_MATRIX_TTL_SECONDS,
    DenialsConfig, Origin,
};
pub use modes::{Delivery, DenialMode, PolicyMode, ValidationMode};
