//! The HTTP client of the control plane: its three endpoints, Basic auth, bounded bodies.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde::Deserialize;
use url::Url;

use super::ControlPlaneError;
use super::inventory::ManifestPayload;
use super::policy::SdkPolicy;
use crate::error::FetchError;
use crate::fetch::{Http, HttpOptions};

/// The family's HTTP client timeout for control-plane requests.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Bound on a policy or status document.
const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// Bound on an error body quoted in a message (the family logs 4 KiB).
const MAX_ERROR_BODY_BYTES: usize = 4096;

/// One resource server's view of AuthSec's control plane.
#[derive(Clone)]
pub struct ControlPlane {
    base: String,
    resource_server_id: String,
    authorization: HeaderValue,
    http: Http,
}

impl std::fmt::Debug for ControlPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlPlane")
            .field("base", &self.base)
            .field("resource_server_id", &self.resource_server_id)
            .field("authorization", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// Configuration of a [`ControlPlane`].
#[must_use]
pub struct ControlPlaneBuilder {
    authorization_server: String,
    resource_server_id: String,
    credentials: Option<(String, String)>,
    http: HttpOptions,
}

impl std::fmt::Debug for ControlPlaneBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlPlaneBuilder")
            .field("authorization_server", &self.authorization_server)
            .field("resource_server_id", &self.resource_server_id)
            .finish_non_exhaustive()
    }
}

impl ControlPlaneBuilder {
    /// The resource server's credentials: the family uses the introspection client id (the
    /// resource server's id) and secret.
    pub fn credentials(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        self.credentials = Some((client_id.into(), client_secret.into()));
        self
    }

    /// HTTP settings (default: a 10 s timeout, https except for loopback).
    pub fn http(mut self, http: HttpOptions) -> Self {
        self.http = http;
        self
    }

    /// Checks the URL and builds the client.
    pub fn build(self) -> Result<ControlPlane, ControlPlaneError> {
        let base = self.authorization_server.trim_end_matches('/').to_owned();
        let id = self.resource_server_id.trim().to_owned();
        if id.is_empty() {
            return Err(ControlPlaneError::Config(
                "the AuthSec control plane needs the resource server id (AUTHSEC_RESOURCE_SERVER_ID)"
                    .into(),
            ));
        }
        let Some((client_id, client_secret)) = self.credentials else {
            return Err(ControlPlaneError::Config(
                "the AuthSec control plane needs the resource server's introspection client id \
                 and secret (AUTHSEC_INTROSPECTION_CLIENT_ID / _SECRET)"
                    .into(),
            ));
        };
        if client_id.trim().is_empty() || client_secret.trim().is_empty() {
            return Err(ControlPlaneError::Config(
                "the AuthSec control plane credentials are blank: set the introspection client id \
                 and secret"
                    .into(),
            ));
        }
        // Go's SetBasicAuth: id:secret, base64, no form-encoding of either part.
        let token = STANDARD.encode(format!("{client_id}:{client_secret}"));
        let mut authorization = HeaderValue::from_str(&format!("Basic {token}")).map_err(|_| {
            ControlPlaneError::Config("the control plane credentials are not valid".into())
        })?;
        authorization.set_sensitive(true);
        let http = self.http.build()?;
        let plane = ControlPlane {
            base,
            resource_server_id: id,
            authorization,
            http,
        };
        // Fails now, not on the first request, for a bad or insecure URL.
        plane.http.endpoint(&plane.policy_url())?;
        Ok(plane)
    }
}

/// The answer of `GET …/sdk-manifest-status`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct ManifestStatus {
    /// `success` once a manifest was received.
    #[serde(default)]
    pub status: Option<String>,
    /// How many tools the last manifest had.
    #[serde(default)]
    pub tool_count: Option<u64>,
}

impl ControlPlane {
    /// The control plane of `authorization_server` (the AS base URL, e.g.
    /// `AUTHSEC_AUTHORIZATION_SERVER`, else the issuer) for the resource server
    /// `resource_server_id`.
    pub fn builder(
        authorization_server: impl Into<String>,
        resource_server_id: impl Into<String>,
    ) -> ControlPlaneBuilder {
        ControlPlaneBuilder {
            authorization_server: authorization_server.into(),
            resource_server_id: resource_server_id.into(),
            credentials: None,
            http: HttpOptions::new().timeout(DEFAULT_TIMEOUT),
        }
    }

    /// The resource server id.
    pub fn resource_server_id(&self) -> &str {
        &self.resource_server_id
    }

    fn url(&self, leaf: &str) -> String {
        format!(
            "{}/authsec/resource-servers/{}/{leaf}",
            self.base, self.resource_server_id
        )
    }

    /// `…/sdk-policy`.
    pub fn policy_url(&self) -> String {
        self.url("sdk-policy")
    }

    /// `…/sdk-manifest`.
    pub fn manifest_url(&self) -> String {
        self.url("sdk-manifest")
    }

    /// `…/sdk-manifest-status`.
    pub fn manifest_status_url(&self) -> String {
        self.url("sdk-manifest-status")
    }

    /// `GET …/sdk-policy`: the raw document (see [`SdkPolicy::interpret`]). Any status but
    /// 200 is an error.
    pub async fn fetch_policy(&self) -> Result<SdkPolicy, ControlPlaneError> {
        let url = self.http.endpoint(&self.policy_url())?;
        let body = self.get_document(&url).await?;
        serde_json::from_slice(&body).map_err(|e| {
            ControlPlaneError::Fetch(FetchError::InvalidDocument {
                url: url.to_string(),
                reason: format!("not an sdk-policy document: {e}"),
            })
        })
    }

    /// `GET …/sdk-manifest-status`.
    pub async fn manifest_status(&self) -> Result<ManifestStatus, ControlPlaneError> {
        let url = self.http.endpoint(&self.manifest_status_url())?;
        let body = self.get_document(&url).await?;
        serde_json::from_slice(&body).map_err(|e| {
            ControlPlaneError::Fetch(FetchError::InvalidDocument {
                url: url.to_string(),
                reason: format!("not a manifest status document: {e}"),
            })
        })
    }

    /// `PUT …/sdk-manifest` with `payload` as JSON. Any status outside 2xx is an error quoting
    /// at most 4 KiB of the answer.
    pub async fn put_manifest(&self, payload: &ManifestPayload) -> Result<(), ControlPlaneError> {
        let url = self.http.endpoint(&self.manifest_url())?;
        let body = serde_json::to_vec(payload).map_err(|e| {
            ControlPlaneError::Inventory(format!("the manifest could not be serialized: {e}"))
        })?;
        let request = self
            .http
            .client
            .put(url.clone())
            .timeout(self.http.timeout)
            .header(AUTHORIZATION, self.authorization.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(body);
        let response = self.http.send(&url, request).await?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(());
        }
        Err(self.status_error(&url, status, response).await)
    }

    async fn get_document(&self, url: &Url) -> Result<Vec<u8>, ControlPlaneError> {
        let request = self
            .http
            .get(url)
            .header(AUTHORIZATION, self.authorization.clone());
        let response = self.http.send(url, request).await?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(self.status_error(url, status, response).await);
        }
        Ok(self
            .http
            .read_bounded(url, response, MAX_DOCUMENT_BYTES)
            .await?)
    }

    async fn status_error(
        &self,
        url: &Url,
        status: u16,
        response: reqwest::Response,
    ) -> ControlPlaneError {
        if status == 401 || status == 403 {
            return FetchError::CredentialsRejected {
                url: url.to_string(),
                status,
            }
            .into();
        }
        let body = self
            .http
            .read_bounded(url, response, MAX_DOCUMENT_BYTES)
            .await
            .unwrap_or_default();
        let quoted: String = String::from_utf8_lossy(&body[..body.len().min(MAX_ERROR_BODY_BYTES)])
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        FetchError::Status {
            url: url.to_string(),
            status,
            detail: if quoted.trim().is_empty() {
                String::new()
            } else {
                format!(": {}", quoted.trim())
            },
        }
        .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_follow_the_family_and_trim_the_trailing_slash() {
        let plane = ControlPlane::builder("http://127.0.0.1:9/", "rs-1")
            .credentials("rs-1", "sec_x")
            .build()
            .unwrap();
        assert_eq!(
            plane.policy_url(),
            "http://127.0.0.1:9/authsec/resource-servers/rs-1/sdk-policy"
        );
        assert_eq!(
            plane.manifest_url(),
            "http://127.0.0.1:9/authsec/resource-servers/rs-1/sdk-manifest"
        );
        assert_eq!(
            plane.manifest_status_url(),
            "http://127.0.0.1:9/authsec/resource-servers/rs-1/sdk-manifest-status"
        );
        assert!(!format!("{plane:?}").contains("sec_x"));
    }

    #[test]
    fn missing_id_credentials_or_https_are_config_errors() {
        let no_id = ControlPlane::builder("https://as.example", " ")
            .credentials("a", "b")
            .build()
            .unwrap_err();
        assert!(
            no_id.to_string().contains("AUTHSEC_RESOURCE_SERVER_ID"),
            "{no_id}"
        );
        let no_creds = ControlPlane::builder("https://as.example", "rs")
            .build()
            .unwrap_err();
        assert!(
            no_creds
                .to_string()
                .contains("AUTHSEC_INTROSPECTION_CLIENT_ID"),
            "{no_creds}"
        );
        let insecure = ControlPlane::builder("http://as.example", "rs")
            .credentials("a", "b")
            .build()
            .unwrap_err();
        assert!(matches!(
            insecure,
            ControlPlaneError::Fetch(FetchError::InsecureUrl { .. })
        ));
    }
}
