//! Authorization server metadata discovery: RFC 8414, then OpenID Connect Discovery.
//!
//! For an issuer `https://as.example/tenant1` the documents tried, in order, are
//!
//! 1. `https://as.example/.well-known/oauth-authorization-server/tenant1` (RFC 8414 §3.1);
//! 2. `https://as.example/.well-known/openid-configuration/tenant1` (the same insertion);
//! 3. `https://as.example/tenant1/.well-known/openid-configuration` (OIDC Discovery §4,
//!    appended).
//!
//! A location answering 4xx (or a 200 that is not JSON) passes on to the next; an unreachable
//! server, a 5xx or a document that fails validation stops discovery with that error. The
//! document's `issuer` must equal the configured issuer exactly (RFC 8414 §3.3), or the
//! document is discarded with [`FetchError::IssuerMismatch`].

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use url::Url;

use crate::error::FetchError;
use crate::fetch::{Http, oauth_error_detail};

/// Largest metadata document accepted, in bytes.
pub const MAX_METADATA_BYTES: usize = 256 * 1024;

/// The authorization server metadata this crate and its users read (RFC 8414 §2). Members not
/// named here are kept in [`extra`](Self::extra).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuthorizationServerMetadata {
    /// The issuer identifier; equal to the configured issuer once validated.
    pub issuer: String,
    /// Where the signing keys are published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// RFC 7662 token introspection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection_endpoint: Option<String>,
    /// The token endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<String>,
    /// The authorization endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    /// RFC 7591 dynamic client registration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_endpoint: Option<String>,
    /// RFC 7009 token revocation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<String>,
    /// Scopes the server supports (not necessarily all of them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes_supported: Option<Vec<String>>,
    /// PKCE methods; absent means the server does not support PKCE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_challenge_methods_supported: Option<Vec<String>>,
    /// How a client authenticates to the introspection endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection_endpoint_auth_methods_supported: Option<Vec<String>>,
    /// Every other member, as received.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl AuthorizationServerMetadata {
    /// Metadata with only `issuer` set (for static configuration without discovery).
    pub fn new(issuer: impl Into<String>) -> Self {
        AuthorizationServerMetadata {
            issuer: issuer.into(),
            jwks_uri: None,
            introspection_endpoint: None,
            token_endpoint: None,
            authorization_endpoint: None,
            registration_endpoint: None,
            revocation_endpoint: None,
            scopes_supported: None,
            code_challenge_methods_supported: None,
            introspection_endpoint_auth_methods_supported: None,
            extra: Map::new(),
        }
    }

    /// Sets `jwks_uri`.
    pub fn with_jwks_uri(mut self, uri: impl Into<String>) -> Self {
        self.jwks_uri = Some(uri.into());
        self
    }

    /// Sets `introspection_endpoint`.
    pub fn with_introspection_endpoint(mut self, uri: impl Into<String>) -> Self {
        self.introspection_endpoint = Some(uri.into());
        self
    }

    /// Parses a metadata document fetched from `url` and checks its `issuer` is `expected`.
    pub fn from_json(url: &str, body: &[u8], expected: &str) -> Result<Self, FetchError> {
        let metadata: AuthorizationServerMetadata =
            serde_json::from_slice(body).map_err(|e| FetchError::InvalidDocument {
                url: url.to_owned(),
                reason: format!("not an authorization server metadata document: {e}"),
            })?;
        if metadata.issuer != expected {
            return Err(FetchError::IssuerMismatch {
                url: url.to_owned(),
                expected: expected.to_owned(),
                found: metadata.issuer,
            });
        }
        Ok(metadata)
    }
}

/// The metadata locations for `issuer`, in the order they are tried (see the
/// [module docs](self)).
///
/// ```
/// assert_eq!(
///     authsec_jwks::discovery::discovery_urls("https://as.example/t1").unwrap(),
///     [
///         "https://as.example/.well-known/oauth-authorization-server/t1",
///         "https://as.example/.well-known/openid-configuration/t1",
///         "https://as.example/t1/.well-known/openid-configuration",
///     ]
/// );
/// ```
pub fn discovery_urls(issuer: &str) -> Result<Vec<String>, FetchError> {
    let invalid = |reason: &str| FetchError::InvalidUrl {
        url: issuer.to_owned(),
        reason: reason.to_owned(),
    };
    let url = Url::parse(issuer).map_err(|e| invalid(&format!("not an issuer URL: {e}")))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(
            "an issuer identifier has no query or fragment (RFC 8414 §2)",
        ));
    }
    if url.cannot_be_a_base() || url.host().is_none() {
        return Err(invalid(
            "an issuer identifier is an http(s) URL with a host",
        ));
    }
    let origin = url.origin().ascii_serialization();
    // RFC 8414 §3.1: a terminating "/" is removed before inserting the well-known segment.
    let path = url.path().trim_end_matches('/');
    let mut urls = vec![
        format!("{origin}/.well-known/oauth-authorization-server{path}"),
        format!("{origin}/.well-known/openid-configuration{path}"),
    ];
    if !path.is_empty() {
        urls.push(format!("{origin}{path}/.well-known/openid-configuration"));
    }
    Ok(urls)
}

/// Fetches and validates the metadata of `issuer`.
pub(crate) async fn discover(
    http: &Http,
    issuer: &str,
) -> Result<AuthorizationServerMetadata, FetchError> {
    let mut tried = Vec::new();
    for candidate in discovery_urls(issuer)? {
        let url = http.endpoint(&candidate)?;
        let response = http.send(&url, http.get(&url)).await?;
        let status = response.status();
        if status.is_server_error() {
            let body = http
                .read_bounded(&url, response, MAX_METADATA_BYTES)
                .await
                .unwrap_or_default();
            return Err(FetchError::Status {
                url: candidate,
                status: status.as_u16(),
                detail: oauth_error_detail(&body),
            });
        }
        if !status.is_success() {
            tried.push(format!("{candidate} (HTTP {})", status.as_u16()));
            continue;
        }
        let body = http
            .read_bounded(&url, response, MAX_METADATA_BYTES)
            .await?;
        if serde_json::from_slice::<Map<String, Value>>(&body).is_err() {
            tried.push(format!("{candidate} (HTTP 200, not a JSON object)"));
            continue;
        }
        let metadata = AuthorizationServerMetadata::from_json(&candidate, &body, issuer)?;
        tracing::debug!(issuer, url = %candidate, "authorization server metadata discovered");
        return Ok(metadata);
    }
    Err(FetchError::NotFound {
        issuer: issuer.to_owned(),
        tried,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_without_path_has_two_locations() {
        assert_eq!(
            discovery_urls("https://as.example").unwrap(),
            [
                "https://as.example/.well-known/oauth-authorization-server",
                "https://as.example/.well-known/openid-configuration",
            ]
        );
        // A terminating slash is removed first (RFC 8414 §3.1).
        assert_eq!(
            discovery_urls("https://as.example/").unwrap(),
            discovery_urls("https://as.example").unwrap()
        );
    }

    #[test]
    fn issuer_with_path_inserts_then_appends() {
        assert_eq!(
            discovery_urls("https://as.example:8443/realms/t1/").unwrap(),
            [
                "https://as.example:8443/.well-known/oauth-authorization-server/realms/t1",
                "https://as.example:8443/.well-known/openid-configuration/realms/t1",
                "https://as.example:8443/realms/t1/.well-known/openid-configuration",
            ]
        );
    }

    #[test]
    fn issuer_with_query_or_fragment_is_refused() {
        for issuer in [
            "https://as.example/?tenant=1",
            "https://as.example/#x",
            "urn:x:y",
        ] {
            assert!(
                matches!(discovery_urls(issuer), Err(FetchError::InvalidUrl { .. })),
                "{issuer}"
            );
        }
    }

    #[test]
    fn metadata_keeps_unknown_members_and_checks_issuer() {
        let body = br#"{"issuer":"https://as.example","jwks_uri":"https://as.example/jwks",
            "scopes_supported":["a"],"acr_values_supported":["mfa"]}"#;
        let metadata =
            AuthorizationServerMetadata::from_json("https://u", body, "https://as.example")
                .unwrap();
        assert_eq!(
            metadata.jwks_uri.as_deref(),
            Some("https://as.example/jwks")
        );
        assert_eq!(metadata.scopes_supported, Some(vec!["a".to_owned()]));
        assert_eq!(
            metadata.extra.get("acr_values_supported"),
            Some(&serde_json::json!(["mfa"]))
        );
        let err = AuthorizationServerMetadata::from_json("https://u", body, "https://as.example/")
            .unwrap_err();
        assert_eq!(
            err,
            FetchError::IssuerMismatch {
                url: "https://u".into(),
                expected: "https://as.example/".into(),
                found: "https://as.example".into(),
            }
        );
    }

    #[test]
    fn metadata_without_issuer_is_invalid() {
        let err = AuthorizationServerMetadata::from_json("https://u", br#"{"jwks_uri":"x"}"#, "i")
            .unwrap_err();
        assert!(matches!(err, FetchError::InvalidDocument { .. }), "{err:?}");
    }
}
