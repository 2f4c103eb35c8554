//! Client registration: a pre-registered client, a client ID metadata document (CIMD), or RFC
//! 7591 dynamic registration, in that order (CL-MCP-9..11).

use std::sync::Arc;

use serde_json::{Value, json};

use crate::client_assertion::PrivateKeyJwt;

use crate::discovery::AuthServerMetadata;
use crate::error::ClientError;

/// How the client authenticates at the token endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenEndpointAuth {
    /// A public client: `client_id` in the form, PKCE protects the code.
    None,
    /// HTTP Basic with the form-urlencoded id and secret (RFC 6749 §2.3.1).
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form.
    ClientSecretPost,
    /// A JWT signed with the client's private key (RFC 7523 §2.2).
    PrivateKeyJwt,
}

impl TokenEndpointAuth {
    /// The RFC 7591 name.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenEndpointAuth::None => "none",
            TokenEndpointAuth::ClientSecretBasic => "client_secret_basic",
            TokenEndpointAuth::ClientSecretPost => "client_secret_post",
            TokenEndpointAuth::PrivateKeyJwt => "private_key_jwt",
        }
    }

    /// Parses an RFC 7591 name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "none" => Some(TokenEndpointAuth::None),
            "client_secret_basic" => Some(TokenEndpointAuth::ClientSecretBasic),
            "client_secret_post" => Some(TokenEndpointAuth::ClientSecretPost),
            "private_key_jwt" => Some(TokenEndpointAuth::PrivateKeyJwt),
            _ => None,
        }
    }
}

/// How the registration was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistrationSource {
    /// Configured by the agent's author.
    Preregistered,
    /// The `client_id` is the URL of a client ID metadata document.
    MetadataDocument,
    /// RFC 7591 dynamic registration.
    Dynamic,
}

/// A client registration at one authorization server.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Registration {
    /// The client identifier.
    pub client_id: String,
    /// The secret of a confidential client.
    pub client_secret: Option<String>,
    /// Token endpoint authentication.
    pub auth: TokenEndpointAuth,
    /// Where it came from.
    pub source: RegistrationSource,
    /// The signing key for `private_key_jwt`.
    pub private_key: Option<Arc<PrivateKeyJwt>>,
    /// Whether `auth` was chosen by the agent's author (else it follows the AS's metadata).
    pub(crate) auth_explicit: bool,
}

impl Registration {
    /// A pre-registered public client.
    pub fn public(client_id: impl Into<String>) -> Self {
        Registration {
            client_id: client_id.into(),
            client_secret: None,
            auth: TokenEndpointAuth::None,
            source: RegistrationSource::Preregistered,
            private_key: None,
            auth_explicit: false,
        }
    }

    /// A pre-registered confidential client using `client_secret_basic`.
    pub fn confidential(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Registration {
            client_id: client_id.into(),
            client_secret: Some(client_secret.into()),
            auth: TokenEndpointAuth::ClientSecretBasic,
            source: RegistrationSource::Preregistered,
            private_key: None,
            auth_explicit: false,
        }
    }

    /// A pre-registered client authenticating with `private_key_jwt`.
    pub fn private_key_jwt(key: PrivateKeyJwt) -> Self {
        Registration {
            client_id: key.client_id().to_owned(),
            client_secret: None,
            auth: TokenEndpointAuth::PrivateKeyJwt,
            source: RegistrationSource::Preregistered,
            private_key: Some(Arc::new(key)),
            auth_explicit: true,
        }
    }

    /// Uses `auth` at the token endpoint (otherwise a client with a secret uses what the
    /// authorization server lists: `client_secret_basic`, else `client_secret_post`).
    pub fn with_auth(mut self, auth: TokenEndpointAuth) -> Self {
        self.auth = auth;
        self.auth_explicit = true;
        self
    }

    /// This registration with its method fitted to what `metadata` supports, unless chosen
    /// explicitly.
    pub(crate) fn fitted_to(mut self, metadata: &AuthServerMetadata) -> Self {
        if self.auth_explicit || self.client_secret.is_none() {
            return self;
        }
        if !metadata.supports_auth_method(self.auth.as_str()) {
            if metadata.supports_auth_method("client_secret_basic") {
                self.auth = TokenEndpointAuth::ClientSecretBasic;
            } else if metadata.supports_auth_method("client_secret_post") {
                self.auth = TokenEndpointAuth::ClientSecretPost;
            }
        }
        self
    }

    /// Adds this client's authentication to a token request at the AS `issuer`.
    pub(crate) fn authenticate(
        &self,
        request: reqwest::RequestBuilder,
        form: &mut Vec<(String, String)>,
        issuer: &str,
    ) -> Result<reqwest::RequestBuilder, ClientError> {
        if let (TokenEndpointAuth::PrivateKeyJwt, Some(key)) = (self.auth, &self.private_key) {
            let fields = key
                .form_fields(issuer)
                .map_err(|e| ClientError::Registration {
                    issuer: issuer.to_owned(),
                    reason: e.to_string(),
                })?;
            form.extend(fields);
            return Ok(request);
        }
        Ok(match (self.auth, &self.client_secret) {
            (TokenEndpointAuth::ClientSecretBasic, Some(secret)) => {
                // RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
                let enc = |s: &str| {
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                };
                request.basic_auth(enc(&self.client_id), Some(enc(secret)))
            }
            (TokenEndpointAuth::ClientSecretPost, Some(secret)) => {
                form.push(("client_id".into(), self.client_id.clone()));
                form.push(("client_secret".into(), secret.clone()));
                request
            }
            _ => {
                form.push(("client_id".into(), self.client_id.clone()));
                request
            }
        })
    }
}

/// RFC 7591 registration of a native client with a loopback redirect URI (CL-MCP-11).
pub(crate) async fn register_dynamically(
    http: &reqwest::Client,
    metadata: &AuthServerMetadata,
    client_name: &str,
    redirect_uri: &str,
    client_credentials: bool,
) -> Result<Registration, ClientError> {
    let issuer = metadata.issuer.clone();
    let endpoint =
        metadata
            .registration_endpoint
            .as_deref()
            .ok_or_else(|| ClientError::NoRegistration {
                issuer: issuer.clone(),
            })?;
    // A public client when the AS allows it; else the first secret-based method it lists.
    let method = if metadata.supports_auth_method("none") && !client_credentials {
        TokenEndpointAuth::None
    } else if metadata.supports_auth_method("client_secret_basic") {
        TokenEndpointAuth::ClientSecretBasic
    } else {
        TokenEndpointAuth::ClientSecretPost
    };
    let grant_types: Vec<&str> = if client_credentials {
        vec!["client_credentials"]
    } else {
        vec!["authorization_code", "refresh_token"]
    };
    let mut body = json!({
        "client_name": client_name,
        "token_endpoint_auth_method": method.as_str(),
        "grant_types": grant_types,
        "application_type": "native",
    });
    if !client_credentials && let Some(obj) = body.as_object_mut() {
        obj.insert("redirect_uris".into(), json!([redirect_uri]));
        obj.insert("response_types".into(), json!(["code"]));
    }
    let response = http
        .post(endpoint)
        .json(&body)
        .send()
        .await
        .map_err(|e| ClientError::http(endpoint, e))?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let error = body["error"].as_str().unwrap_or("no error code");
        let description = body["error_description"].as_str().unwrap_or_default();
        return Err(ClientError::Registration {
            issuer,
            reason: format!("{status}: {error} {description}")
                .trim_end()
                .to_owned(),
        });
    }
    let client_id = body["client_id"]
        .as_str()
        .ok_or_else(|| ClientError::Registration {
            issuer: issuer.clone(),
            reason: "the response has no client_id".into(),
        })?
        .to_owned();
    let client_secret = body["client_secret"].as_str().map(str::to_owned);
    // The AS may change what was asked for; use what it registered (CL-DCR-3).
    let auth = body["token_endpoint_auth_method"]
        .as_str()
        .and_then(TokenEndpointAuth::parse)
        .unwrap_or(if client_secret.is_some() {
            method
        } else {
            TokenEndpointAuth::None
        });
    Ok(Registration {
        client_id,
        client_secret,
        auth,
        source: RegistrationSource::Dynamic,
        private_key: None,
        auth_explicit: true,
    })
}
