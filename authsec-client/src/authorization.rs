//! The authorization code grant with PKCE S256 (CL-MCP-6), RFC 8707 `resource` (CL-MCP-13),
//! `state` (CL-MCP-15) and RFC 9207 `iss` (CL-MCP-16) checks, and the pluggable "open this URL"
//! hook ([`UserAgent`]).

use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use url::Url;

use crate::discovery::AuthServerMetadata;
use crate::error::ClientError;
use crate::loopback::Loopback;
use crate::registration::Registration;
use crate::token::{GRANT_AUTHORIZATION_CODE, TokenSet, request_token};

/// Opens an authorization URL for the user: a browser for a desktop agent, a printed link for a
/// CLI, or (in tests) an HTTP client that drives a headless authorization server.
///
/// The authorization server redirects the user agent to the client's loopback listener, which
/// receives the response; `open` may return before or after that happens.
#[async_trait]
pub trait UserAgent: Send + Sync {
    /// Shows `url` to the user. Only `http`/`https` URLs are ever passed (CL-MCP-17).
    async fn open(&self, url: &Url) -> Result<(), String>;
}

/// A [`UserAgent`] for authorization servers that approve without a user (a local development
/// issuer with headless consent, a conformance suite): it GETs the authorization URL and follows
/// its redirects, with a plain HTTP client, until one reaches the client's loopback listener.
///
/// Never use it with a real authorization server: it would need a real user.
#[derive(Clone, Debug)]
pub struct HeadlessUserAgent {
    http: reqwest::Client,
}

impl HeadlessUserAgent {
    /// A headless user agent.
    pub fn new() -> Self {
        HeadlessUserAgent {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
        }
    }
}

impl Default for HeadlessUserAgent {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl UserAgent for HeadlessUserAgent {
    async fn open(&self, url: &Url) -> Result<(), String> {
        let mut next = url.clone();
        for _ in 0..8 {
            let response = self
                .http
                .get(next.clone())
                .send()
                .await
                .map_err(|e| format!("GET {next}: {e}"))?;
            let Some(location) = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
            else {
                return if response.status().is_success() {
                    Ok(())
                } else {
                    Err(format!("GET {next} answered {}", response.status()))
                };
            };
            next = next
                .join(location)
                .map_err(|e| format!("bad redirect {location:?}: {e}"))?;
        }
        Err("too many redirects".into())
    }
}

/// What an authorization request asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthorizationRequest {
    /// Scopes, space-delimited (`None` omits `scope`).
    pub scope: Option<String>,
    /// RFC 9470 / OIDC `acr_values`.
    pub acr_values: Vec<String>,
    /// OIDC `max_age`, seconds.
    pub max_age: Option<u64>,
}

fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::Rng::fill(&mut rand::rng(), buf.as_mut_slice());
    URL_SAFE_NO_PAD.encode(buf)
}

/// The PKCE S256 challenge of `verifier` (RFC 7636 §4.2).
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Everything one login needs.
pub(crate) struct Login<'a> {
    pub http: &'a reqwest::Client,
    pub metadata: &'a AuthServerMetadata,
    pub registration: &'a Registration,
    pub loopback: &'a Loopback,
    pub user_agent: &'a dyn UserAgent,
    pub resource: &'a str,
    pub request: &'a AuthorizationRequest,
    pub timeout: Duration,
}

/// Refuses an AS that does not advertise S256 (before any user interaction).
pub(crate) fn check_pkce(metadata: &AuthServerMetadata) -> Result<(), ClientError> {
    if metadata
        .code_challenge_methods_supported
        .iter()
        .any(|m| m == "S256")
    {
        Ok(())
    } else {
        Err(ClientError::PkceUnsupported {
            issuer: metadata.issuer.clone(),
        })
    }
}

/// Builds the authorization URL; returns it with the PKCE verifier and `state`.
pub(crate) fn authorization_url(login: &Login<'_>) -> Result<(Url, String, String), ClientError> {
    check_pkce(login.metadata)?;
    let endpoint = login
        .metadata
        .authorization_endpoint
        .as_deref()
        .ok_or_else(|| {
            ClientError::Discovery(format!(
                "the authorization server {} has no authorization_endpoint",
                login.metadata.issuer
            ))
        })?;
    let mut url = Url::parse(endpoint)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| {
            ClientError::Discovery(format!(
                "authorization_endpoint {endpoint:?} is not an http(s) URL"
            ))
        })?;
    let verifier = random_token(32);
    let state = random_token(16);
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", &login.registration.client_id)
            .append_pair("redirect_uri", login.loopback.redirect_uri())
            .append_pair("state", &state)
            .append_pair("code_challenge", &pkce_challenge(&verifier))
            .append_pair("code_challenge_method", "S256")
            .append_pair("resource", login.resource);
        if let Some(scope) = login.request.scope.as_deref().filter(|s| !s.is_empty()) {
            query.append_pair("scope", scope);
        }
        if !login.request.acr_values.is_empty() {
            query.append_pair("acr_values", &login.request.acr_values.join(" "));
        }
        if let Some(max_age) = login.request.max_age {
            query.append_pair("max_age", &max_age.to_string());
        }
    }
    Ok((url, verifier, state))
}

/// Runs one authorization: opens the URL, waits for the callback, checks it, redeems the code.
pub(crate) async fn authorize(login: Login<'_>) -> Result<TokenSet, ClientError> {
    let (url, verifier, state) = authorization_url(&login)?;
    let (opened, callback) = tokio::join!(
        login.user_agent.open(&url),
        login.loopback.receive(&state, login.timeout)
    );
    opened.map_err(ClientError::UserAgent)?;
    let callback = callback?;
    let code = check_callback(&callback, login.metadata)?;
    request_token(
        login.http,
        login.metadata,
        login.registration,
        GRANT_AUTHORIZATION_CODE,
        vec![
            ("code".into(), code),
            (
                "redirect_uri".into(),
                login.loopback.redirect_uri().to_owned(),
            ),
            ("code_verifier".into(), verifier),
            ("resource".into(), login.resource.to_owned()),
        ],
    )
    .await
}

/// RFC 9207 first (never act on `error` from a response whose `iss` is wrong), then the code.
/// `state` was already matched by the listener.
pub(crate) fn check_callback(
    callback: &Url,
    metadata: &AuthServerMetadata,
) -> Result<String, ClientError> {
    let param = |name: &str| {
        callback
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    match param("iss") {
        Some(iss) if iss != metadata.issuer => {
            return Err(ClientError::Authorization(format!(
                "the response's iss {iss:?} is not the issuer {:?} (RFC 9207 mix-up defence)",
                metadata.issuer
            )));
        }
        None if metadata.authorization_response_iss_parameter_supported => {
            return Err(ClientError::Authorization(
                "the authorization server promises iss in its responses (RFC 9207) but sent none"
                    .into(),
            ));
        }
        _ => {}
    }
    if let Some(error) = param("error") {
        let description = param("error_description").unwrap_or_default();
        return Err(ClientError::Authorization(
            format!("the authorization server answered {error} {description}")
                .trim_end()
                .to_owned(),
        ));
    }
    param("code")
        .ok_or_else(|| ClientError::Authorization("the authorization response has no code".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(iss_supported: bool) -> AuthServerMetadata {
        serde_json::from_value(serde_json::json!({
            "issuer": "https://as.example",
            "token_endpoint": "https://as.example/token",
            "authorization_response_iss_parameter_supported": iss_supported,
        }))
        .unwrap()
    }

    fn cb(query: &str) -> Url {
        Url::parse(&format!("http://127.0.0.1:1/callback?{query}")).unwrap()
    }

    #[test]
    fn pkce_s256_is_unpadded_base64url_of_sha256() {
        // SHA-256("abc") = ba7816bf 8f01cfea 414140de 5dae2223 b00361a3 96177a9c b410ff61 f20015ad
        assert_eq!(
            pkce_challenge("abc"),
            "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
        );
    }

    #[test]
    fn iss_is_compared_exactly_and_required_when_promised() {
        let m = metadata(true);
        assert_eq!(
            check_callback(&cb("code=c&state=s&iss=https%3A%2F%2Fas.example"), &m).unwrap(),
            "c"
        );
        assert!(check_callback(&cb("code=c&iss=https%3A%2F%2FAS.example"), &m).is_err());
        assert!(check_callback(&cb("code=c&iss=https%3A%2F%2Fas.example%2F"), &m).is_err());
        assert!(check_callback(&cb("code=c"), &m).is_err());
        assert_eq!(
            check_callback(&cb("code=c"), &metadata(false)).unwrap(),
            "c"
        );
    }

    #[test]
    fn an_error_with_a_wrong_iss_is_not_acted_on() {
        let error = check_callback(
            &cb("error=access_denied&iss=https%3A%2F%2Fevil"),
            &metadata(true),
        )
        .unwrap_err();
        assert!(error.to_string().contains("mix-up"), "{error}");
        let error = check_callback(
            &cb("error=access_denied&error_description=no"),
            &metadata(false),
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "authorization failed: the authorization server answered access_denied no"
        );
    }

    #[tokio::test]
    async fn the_authorization_url_carries_resource_byte_for_byte_and_pkce_s256() {
        let mut m = metadata(false);
        m.authorization_endpoint = Some("https://as.example/authorize?tenant=a".into());
        m.code_challenge_methods_supported = vec!["S256".into()];
        let loopback = Loopback::bind(0).await.unwrap();
        let registration = Registration::public("c1");
        let request = AuthorizationRequest {
            scope: Some("a b".into()),
            acr_values: vec!["mfa".into()],
            max_age: Some(300),
        };
        // A root resource without a trailing slash stays without one (URL parsers add it).
        for resource in [
            "https://mcp.example",
            "https://mcp.example/mcp",
            "https://mcp.example/mcp/",
        ] {
            let login = Login {
                http: &reqwest::Client::new(),
                metadata: &m,
                registration: &registration,
                loopback: &loopback,
                user_agent: &HeadlessUserAgent::new(),
                resource,
                request: &request,
                timeout: Duration::from_secs(1),
            };
            let (url, verifier, state) = authorization_url(&login).unwrap();
            let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
            let get = |name: &str| {
                query
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.as_str())
            };
            assert_eq!(get("tenant"), Some("a"));
            assert_eq!(get("resource"), Some(resource));
            assert_eq!(get("response_type"), Some("code"));
            assert_eq!(get("client_id"), Some("c1"));
            assert_eq!(get("redirect_uri"), Some(loopback.redirect_uri()));
            assert_eq!(get("state"), Some(state.as_str()));
            assert_eq!(get("code_challenge_method"), Some("S256"));
            assert_eq!(
                get("code_challenge"),
                Some(pkce_challenge(&verifier).as_str())
            );
            assert_eq!(get("scope"), Some("a b"));
            assert_eq!(get("acr_values"), Some("mfa"));
            assert_eq!(get("max_age"), Some("300"));
            assert!(verifier.len() >= 43, "RFC 7636: at least 43 characters");
        }
    }

    #[test]
    fn an_as_without_s256_is_refused() {
        let mut m = metadata(false);
        assert!(matches!(
            check_pkce(&m),
            Err(ClientError::PkceUnsupported { .. })
        ));
        m.code_challenge_methods_supported = vec!["plain".into()];
        assert!(check_pkce(&m).is_err());
        m.code_challenge_methods_supported.push("S256".into());
        assert!(check_pkce(&m).is_ok());
    }
}
