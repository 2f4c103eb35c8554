//! Tokens and the token endpoint: authorization code, refresh, client credentials and token
//! exchange grants, each carrying RFC 8707 `resource` (CL-MCP-13).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::discovery::AuthServerMetadata;
use crate::error::ClientError;
use crate::registration::Registration;

/// Seconds since the Unix epoch.
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Tokens for one (authorization server, resource) pair.
///
/// `Debug` never prints the tokens.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TokenSet {
    /// The access token.
    pub access_token: String,
    /// The refresh token, if the AS issued one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Expiry, seconds since the Unix epoch (from `expires_in`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// The granted scopes (space-delimited), if the AS said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl TokenSet {
    /// A token set holding only an access token.
    pub fn new(access_token: impl Into<String>) -> Self {
        TokenSet {
            access_token: access_token.into(),
            refresh_token: None,
            expires_at: None,
            scope: None,
        }
    }

    /// Whether the access token expires within `skew`.
    pub fn expires_within(&self, skew: Duration) -> bool {
        self.expires_at
            .is_some_and(|at| at <= now().saturating_add(skew.as_secs()))
    }

    /// The granted scopes, split.
    pub fn scopes(&self) -> Vec<&str> {
        self.scope
            .as_deref()
            .map(|s| s.split_ascii_whitespace().collect())
            .unwrap_or_default()
    }
}

impl fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSet")
            .field("access_token", &"<redacted>")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("expires_at", &self.expires_at)
            .field("scope", &self.scope)
            .finish()
    }
}

/// `authorization_code`.
pub const GRANT_AUTHORIZATION_CODE: &str = "authorization_code";
/// `refresh_token`.
pub const GRANT_REFRESH_TOKEN: &str = "refresh_token";
/// `client_credentials`.
pub const GRANT_CLIENT_CREDENTIALS: &str = "client_credentials";
/// RFC 8693 token exchange.
pub const GRANT_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// RFC 8693 token type of an OAuth access token.
pub const TOKEN_TYPE_ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";

/// POSTs a grant to the token endpoint and reads the token response.
pub(crate) async fn request_token(
    http: &reqwest::Client,
    metadata: &AuthServerMetadata,
    registration: &Registration,
    grant: &'static str,
    params: Vec<(String, String)>,
) -> Result<TokenSet, ClientError> {
    let endpoint = metadata.token_endpoint.as_str();
    let mut form = vec![("grant_type".to_owned(), grant.to_owned())];
    form.extend(params);
    let request = registration.authenticate(http.post(endpoint), &mut form, &metadata.issuer)?;
    let response = request
        .header(reqwest::header::ACCEPT, "application/json")
        .form(&form)
        .send()
        .await
        .map_err(|e| ClientError::http(endpoint, e))?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        return Err(ClientError::TokenEndpoint {
            grant,
            error: body["error"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("HTTP {status}")),
            description: body["error_description"].as_str().map(str::to_owned),
        });
    }
    let access_token = body["access_token"]
        .as_str()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ClientError::TokenEndpoint {
            grant,
            error: "invalid_response".into(),
            description: Some("the token response has no access_token".into()),
        })?
        .to_owned();
    Ok(TokenSet {
        access_token,
        refresh_token: body["refresh_token"].as_str().map(str::to_owned),
        expires_at: body["expires_in"].as_u64().map(|s| now().saturating_add(s)),
        scope: body["scope"].as_str().map(str::to_owned),
    })
}

/// Whether a token endpoint error means the grant (refresh token, code) is dead, as opposed to a
/// transient failure.
pub(crate) fn is_rejected_grant(error: &ClientError) -> bool {
    matches!(error, ClientError::TokenEndpoint { error, .. }
        if matches!(error.as_str(), "invalid_grant" | "invalid_client" | "unauthorized_client" | "invalid_scope" | "invalid_target"))
}
