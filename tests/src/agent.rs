//! A plain-reqwest OAuth agent for tests and the demo: RFC 9728 and RFC 8414 discovery, RFC 7591
//! registration, authorization code + PKCE S256 with `resource`, refresh and revocation.
//!
//! Deliberately explicit, step by step, so a transcript can show each exchange. The product's
//! agent side is `authsec-client`; this is test support.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// An error of the agent, with the step that failed.
#[derive(Debug, thiserror::Error)]
#[error("{step}: {message}")]
pub struct AgentError {
    /// What the agent was doing.
    pub step: &'static str,
    /// What went wrong.
    pub message: String,
}

fn fail(step: &'static str, message: impl Into<String>) -> AgentError {
    AgentError {
        step,
        message: message.into(),
    }
}

/// Tokens from the token endpoint.
#[derive(Clone, Debug)]
pub struct Tokens {
    /// The access token.
    pub access_token: String,
    /// The refresh token, if issued.
    pub refresh_token: Option<String>,
    /// The granted scopes.
    pub scope: String,
}

/// An HTTP client that does not follow redirects.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}

/// GETs a JSON document.
pub async fn get_json(http: &reqwest::Client, url: &str) -> Result<Value, AgentError> {
    let response = http
        .get(url)
        .send()
        .await
        .map_err(|e| fail("fetch", format!("GET {url}: {e}")))?;
    if !response.status().is_success() {
        return Err(fail("fetch", format!("GET {url}: {}", response.status())));
    }
    response
        .json()
        .await
        .map_err(|e| fail("fetch", format!("GET {url}: not JSON: {e}")))
}

/// RFC 8414 metadata of `issuer` (no path), checking its `issuer` member.
pub async fn authorization_server_metadata(
    http: &reqwest::Client,
    issuer: &str,
) -> Result<Value, AgentError> {
    let url = format!(
        "{}/.well-known/oauth-authorization-server",
        issuer.trim_end_matches('/')
    );
    let metadata = get_json(http, &url).await?;
    if metadata["issuer"] != issuer {
        return Err(fail(
            "discovery",
            format!("metadata issuer {} is not {issuer}", metadata["issuer"]),
        ));
    }
    Ok(metadata)
}

/// RFC 7591 registration of a public client; returns the `client_id`.
pub async fn register(
    http: &reqwest::Client,
    metadata: &Value,
    redirect_uri: &str,
) -> Result<String, AgentError> {
    let endpoint = metadata["registration_endpoint"]
        .as_str()
        .ok_or_else(|| fail("register", "no registration_endpoint"))?;
    let response = http
        .post(endpoint)
        .json(&json!({
            "client_name": "authsec demo agent",
            "redirect_uris": [redirect_uri],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "application_type": "native",
        }))
        .send()
        .await
        .map_err(|e| fail("register", e.to_string()))?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .map_err(|e| fail("register", e.to_string()))?;
    if status.as_u16() != 201 {
        return Err(fail("register", format!("{status}: {body}")));
    }
    body["client_id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| fail("register", "no client_id in the response"))
}

/// A login request.
#[derive(Clone, Debug)]
pub struct Login<'a> {
    /// The registered client.
    pub client_id: &'a str,
    /// Its redirect URI.
    pub redirect_uri: &'a str,
    /// RFC 8707 resource (the MCP server's canonical URI).
    pub resource: &'a str,
    /// Space-delimited scopes.
    pub scope: &'a str,
    /// Extra authorization parameters (`acr_values`, `max_age`, `login_hint`...).
    pub extra: Vec<(&'a str, String)>,
}

/// Authorization code + PKCE S256 with `resource` in both requests; checks `state` and `iss`.
pub async fn login(
    http: &reqwest::Client,
    metadata: &Value,
    login: &Login<'_>,
) -> Result<Tokens, AgentError> {
    let methods = metadata["code_challenge_methods_supported"]
        .as_array()
        .ok_or_else(|| fail("authorize", "the AS does not advertise PKCE"))?;
    if !methods.iter().any(|m| m == "S256") {
        return Err(fail("authorize", "the AS does not support S256"));
    }
    let verifier = random_string(32);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let state = random_string(16);
    let authorize = metadata["authorization_endpoint"]
        .as_str()
        .ok_or_else(|| fail("authorize", "no authorization_endpoint"))?;
    let mut query: Vec<(&str, String)> = vec![
        ("response_type", "code".into()),
        ("client_id", login.client_id.into()),
        ("redirect_uri", login.redirect_uri.into()),
        ("scope", login.scope.into()),
        ("state", state.clone()),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256".into()),
        ("resource", login.resource.into()),
    ];
    query.extend(login.extra.iter().cloned());
    let url = url::Url::parse_with_params(authorize, &query)
        .map_err(|e| fail("authorize", e.to_string()))?;
    let response = http
        .get(url)
        .send()
        .await
        .map_err(|e| fail("authorize", e.to_string()))?;
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| fail("authorize", format!("no redirect ({})", response.status())))?;
    let location = url::Url::parse(location).map_err(|e| fail("authorize", e.to_string()))?;
    let param = |name: &str| {
        location
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    if let Some(error) = param("error") {
        return Err(fail("authorize", format!("the AS answered {error}")));
    }
    if param("state").as_deref() != Some(state.as_str()) {
        return Err(fail("authorize", "state mismatch"));
    }
    if let Some(iss) = param("iss")
        && metadata["issuer"] != iss.as_str()
    {
        return Err(fail("authorize", "iss mismatch (RFC 9207)"));
    }
    let code = param("code").ok_or_else(|| fail("authorize", "no code"))?;
    token_request(
        http,
        metadata,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", login.redirect_uri),
            ("client_id", login.client_id),
            ("code_verifier", &verifier),
            ("resource", login.resource),
        ],
    )
    .await
}

/// A refresh-token grant.
pub async fn refresh(
    http: &reqwest::Client,
    metadata: &Value,
    client_id: &str,
    refresh_token: &str,
    resource: &str,
) -> Result<Tokens, AgentError> {
    token_request(
        http,
        metadata,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", client_id),
            ("resource", resource),
        ],
    )
    .await
}

async fn token_request(
    http: &reqwest::Client,
    metadata: &Value,
    form: &[(&str, &str)],
) -> Result<Tokens, AgentError> {
    let endpoint = metadata["token_endpoint"]
        .as_str()
        .ok_or_else(|| fail("token", "no token_endpoint"))?;
    let response = http
        .post(endpoint)
        .form(form)
        .send()
        .await
        .map_err(|e| fail("token", e.to_string()))?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .map_err(|e| fail("token", e.to_string()))?;
    if !status.is_success() {
        return Err(fail("token", format!("{status}: {body}")));
    }
    Ok(Tokens {
        access_token: body["access_token"]
            .as_str()
            .ok_or_else(|| fail("token", "no access_token"))?
            .to_owned(),
        refresh_token: body["refresh_token"].as_str().map(str::to_owned),
        scope: body["scope"].as_str().unwrap_or_default().to_owned(),
    })
}

/// RFC 7009 revocation by a public client.
pub async fn revoke(
    http: &reqwest::Client,
    metadata: &Value,
    client_id: &str,
    token: &str,
) -> Result<(), AgentError> {
    let endpoint = metadata["revocation_endpoint"]
        .as_str()
        .ok_or_else(|| fail("revoke", "no revocation_endpoint"))?;
    let response = http
        .post(endpoint)
        .form(&[("token", token), ("client_id", client_id)])
        .send()
        .await
        .map_err(|e| fail("revoke", e.to_string()))?;
    if !response.status().is_success() {
        return Err(fail("revoke", response.status().to_string()));
    }
    Ok(())
}

fn random_string(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}
