//! The AuthSec family's mode vocabularies: validation modes, policy modes and denial delivery,
//! with the family's spellings and aliases.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How access tokens are validated (the family's `AUTHSEC_VALIDATION_MODE`).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValidationMode {
    /// JWTs verified locally with the JWKS; opaque tokens refused.
    JwtOnly,
    /// Every token introspected (RFC 7662); nothing verified locally.
    IntrospectionOnly,
    /// JWT-shaped tokens verified locally (a failure is final) and then introspected; opaque
    /// tokens introspected. The family's recommended mode.
    JwtAndIntrospect,
    /// JWT-shaped tokens verified locally only (a failure is final: unlike the family's Go
    /// SDK, introspection never rescues a JWT whose signature fails); opaque tokens
    /// introspected.
    JwtOrIntrospect,
}

impl ValidationMode {
    /// Every mode, in the family's order.
    pub const ALL: [ValidationMode; 4] = [
        ValidationMode::JwtOnly,
        ValidationMode::IntrospectionOnly,
        ValidationMode::JwtAndIntrospect,
        ValidationMode::JwtOrIntrospect,
    ];

    /// The family's spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            ValidationMode::JwtOnly => "jwt_only",
            ValidationMode::IntrospectionOnly => "introspection_only",
            ValidationMode::JwtAndIntrospect => "jwt_and_introspect",
            ValidationMode::JwtOrIntrospect => "jwt_or_introspect",
        }
    }

    /// The family's parsing: case-insensitive, trimmed; `auto`, empty and unknown values are
    /// "unset" (`None`), so the mode is inferred.
    pub fn parse_family(value: &str) -> Option<Self> {
        let value = value.trim().to_ascii_lowercase();
        Self::ALL.into_iter().find(|mode| mode.as_str() == value)
    }

    /// Whether the mode verifies JWTs locally (needs the JWKS).
    pub const fn uses_jwks(self) -> bool {
        !matches!(self, ValidationMode::IntrospectionOnly)
    }

    /// Whether the mode calls the introspection endpoint (needs its URL and credentials).
    pub const fn uses_introspection(self) -> bool {
        !matches!(self, ValidationMode::JwtOnly)
    }

    /// The authsec-jwks mode implementing it.
    pub fn to_jwks(self) -> authsec_jwks::ValidationMode {
        match self {
            ValidationMode::JwtOnly => authsec_jwks::ValidationMode::Jwt,
            ValidationMode::IntrospectionOnly => authsec_jwks::ValidationMode::Introspection,
            ValidationMode::JwtAndIntrospect => authsec_jwks::ValidationMode::IntrospectEveryToken,
            ValidationMode::JwtOrIntrospect => authsec_jwks::ValidationMode::JwtOrIntrospection,
        }
    }
}

impl fmt::Display for ValidationMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ValidationMode {
    type Err = String;

    /// Strict parsing (authsec.toml, the builder): an unknown value is an error.
    fn from_str(value: &str) -> Result<Self, String> {
        Self::parse_family(value).ok_or_else(|| {
            format!(
                "unknown validation mode {value:?}: expected jwt_only, introspection_only, jwt_and_introspect or jwt_or_introspect"
            )
        })
    }
}

/// Where the tool → scope policy comes from (the family's `AUTHSEC_POLICY_MODE`): authsec-jwks'
/// runtime type, with the family's parsing and aliases (`enforce`, `observe`).
pub use authsec_jwks::control_plane::PolicyMode;

/// How denials reach the client (`AUTHSEC_DENIAL_MODE`, a Rust extension of the family's
/// variables).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DenialMode {
    /// Spec-correct HTTP 401/403 with `WWW-Authenticate` and a JSON body (the default).
    #[default]
    Http,
    /// The AuthSec family's in-band profile (Go SDK v0.5.0 and later): denials of JSON-RPC
    /// requests carrying a token answer HTTP 200 with a tool error or a JSON-RPC error.
    Inband,
}

impl FromStr for DenialMode {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "http" => Ok(DenialMode::Http),
            "inband" | "in_band" | "in-band" => Ok(DenialMode::Inband),
            _ => Err(format!(
                "unknown denial mode {value:?}: expected http or inband"
            )),
        }
    }
}

/// How one class of denial (`policy_denied`, `quota_exceeded`) reaches the client, outside
/// the AuthSec profile.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// HTTP 403 / 429 with a JSON body (the default).
    #[default]
    Http,
    /// A `tools/call` result with `isError: true` the model reads.
    ToolResult,
    /// A JSON-RPC error echoing the request id.
    JsonrpcError,
}

impl Delivery {
    /// The core's delivery.
    pub fn to_core(self) -> authsec_core::inband::Delivery {
        match self {
            Delivery::Http => authsec_core::inband::Delivery::Http,
            Delivery::ToolResult => authsec_core::inband::Delivery::ToolResult,
            Delivery::JsonrpcError => authsec_core::inband::Delivery::JsonRpcError,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_spellings_round_trip_and_aliases_resolve() {
        for mode in ValidationMode::ALL {
            assert_eq!(ValidationMode::parse_family(mode.as_str()), Some(mode));
        }
        assert_eq!(
            ValidationMode::parse_family(" JWT_ONLY "),
            Some(ValidationMode::JwtOnly)
        );
        assert_eq!(ValidationMode::parse_family("auto"), None);
        assert_eq!(ValidationMode::parse_family(""), None);
        for mode in PolicyMode::ALL {
            assert_eq!(PolicyMode::parse_family(mode.as_str()), Some(mode));
        }
        assert_eq!(
            PolicyMode::parse_family("Enforce"),
            Some(PolicyMode::RemoteRequired)
        );
        assert_eq!(PolicyMode::parse_family("observe"), Some(PolicyMode::Open));
        assert_eq!(PolicyMode::parse_family("strict"), None);
        assert_eq!(
            "bogus".parse::<ValidationMode>().unwrap_err(),
            "unknown validation mode \"bogus\": expected jwt_only, introspection_only, jwt_and_introspect or jwt_or_introspect"
        );
    }
}
