//! Discovery: the protected resource's metadata (RFC 9728) and its authorization server's
//! metadata (RFC 8414, then OpenID Connect Discovery), with the MCP spec's URL orders
//! (CL-MCP-2, CL-MCP-4) and validations (CL-MCP-3, CL-MCP-5, CL-PRM-1).

use serde::Deserialize;
use url::Url;

use crate::error::ClientError;

/// Largest metadata document accepted.
const MAX_DOCUMENT: usize = 256 * 1024;

/// RFC 9728 protected resource metadata, as the client uses it.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResourceMetadata {
    /// The resource identifier: sent byte-for-byte as RFC 8707 `resource`.
    pub resource: String,
    /// Issuers of the authorization servers that protect the resource.
    #[serde(default)]
    pub authorization_servers: Vec<String>,
    /// Scopes the resource advertises.
    #[serde(default)]
    pub scopes_supported: Vec<String>,
}

/// RFC 8414 / OpenID authorization server metadata, the members the client uses.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthServerMetadata {
    /// The issuer identifier (checked to be identical to the one asked for).
    pub issuer: String,
    /// Where the user agent is sent to log in.
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    /// Where grants are exchanged for tokens.
    pub token_endpoint: String,
    /// RFC 7591 dynamic client registration.
    #[serde(default)]
    pub registration_endpoint: Option<String>,
    /// RFC 7009 revocation.
    #[serde(default)]
    pub revocation_endpoint: Option<String>,
    /// Advertised scopes.
    #[serde(default)]
    pub scopes_supported: Vec<String>,
    /// PKCE methods; absent means no PKCE.
    #[serde(default)]
    pub code_challenge_methods_supported: Vec<String>,
    /// Token endpoint client authentication methods (default `client_secret_basic`).
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// Grant types.
    #[serde(default)]
    pub grant_types_supported: Vec<String>,
    /// Client ID metadata documents (CIMD) are accepted as `client_id`.
    #[serde(default)]
    pub client_id_metadata_document_supported: bool,
    /// RFC 9207: the authorization response carries `iss`.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
}

impl AuthServerMetadata {
    /// Whether `method` is among the token endpoint auth methods (RFC 8414 default:
    /// `client_secret_basic` only).
    pub fn supports_auth_method(&self, method: &str) -> bool {
        if self.token_endpoint_auth_methods_supported.is_empty() {
            method == "client_secret_basic"
        } else {
            self.token_endpoint_auth_methods_supported
                .iter()
                .any(|m| m == method)
        }
    }
}

/// How the `issuer` member of authorization server metadata is checked against the issuer the
/// client asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum IssuerCheck {
    /// Identical strings (RFC 8414 §3.3, CL-MCP-5): the default, and the only safe choice.
    #[default]
    Strict,
    /// Same scheme, host and port only. For authorization servers that publish their origin as
    /// `issuer` although their issuer identifier has a path (seen in the MCP conformance suite);
    /// weakens the mix-up defence, so opt in only for such a server.
    SameOrigin,
}

impl IssuerCheck {
    fn accepts(self, expected: &str, found: &str) -> bool {
        match self {
            IssuerCheck::Strict => expected == found,
            IssuerCheck::SameOrigin => {
                expected == found
                    || matches!((Url::parse(expected), Url::parse(found)),
                        (Ok(a), Ok(b)) if a.origin() == b.origin())
            }
        }
    }
}

/// CL-MCP-7: OAuth fetches go to https, or to http on a loopback host (development); never to
/// link-local or cloud metadata addresses.
pub(crate) fn check_fetch_url(url: &Url) -> Result<(), ClientError> {
    let host = url.host();
    let loopback = match &host {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    let link_local = match &host {
        Some(url::Host::Ipv4(ip)) => ip.is_link_local() || ip.is_unspecified(),
        Some(url::Host::Ipv6(ip)) => (ip.segments()[0] & 0xffc0) == 0xfe80 || ip.is_unspecified(),
        _ => false,
    };
    match url.scheme() {
        _ if link_local => Err(ClientError::Discovery(format!(
            "refusing to fetch {url}: link-local or unspecified address"
        ))),
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(ClientError::Discovery(format!(
            "refusing to fetch {url}: only https (or http on a loopback host) is allowed"
        ))),
    }
}

/// GETs a JSON document: `Ok(None)` for a 4xx (try the next URL), an error otherwise.
async fn get_document<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &Url,
) -> Result<Option<T>, ClientError> {
    check_fetch_url(url)?;
    let response = http
        .get(url.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| ClientError::http(url.as_str(), e))?;
    let status = response.status();
    if status.is_client_error() {
        return Ok(None);
    }
    if !status.is_success() {
        return Err(ClientError::Discovery(format!(
            "GET {url} answered {status}"
        )));
    }
    let bytes = response
        .bytes()
        .await
        .map_err(|e| ClientError::http(url.as_str(), e))?;
    if bytes.len() > MAX_DOCUMENT {
        return Err(ClientError::Discovery(format!(
            "{url} is larger than {MAX_DOCUMENT} bytes"
        )));
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| ClientError::Discovery(format!("{url} is not valid metadata: {e}")))
}

/// The request URL without query and fragment: what a resource is compared with.
pub(crate) fn resource_key(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.to_string()
}

/// The RFC 9728 well-known URLs for `url`, path-aware first, then the root (CL-MCP-2).
pub fn resource_metadata_urls(url: &Url) -> Vec<Url> {
    let origin = url.origin().ascii_serialization();
    let path = url.path().trim_end_matches('/');
    let mut urls = Vec::new();
    if !path.is_empty() {
        urls.push(format!(
            "{origin}/.well-known/oauth-protected-resource{path}"
        ));
    }
    urls.push(format!("{origin}/.well-known/oauth-protected-resource"));
    urls.into_iter()
        .filter_map(|u| Url::parse(&u).ok())
        .collect()
}

/// Whether metadata `resource` covers the request URL (RFC 9728 §3.3; ambiguity A1): identical,
/// or the same origin with the request path under the resource's path on a segment boundary (what
/// the MCP SDKs accept). A different origin never matches.
pub fn resource_covers(resource: &str, request: &Url) -> bool {
    let Ok(resource) = Url::parse(resource) else {
        return false;
    };
    if resource.origin() != request.origin() || resource.fragment().is_some() {
        return false;
    }
    let base = resource.path().trim_end_matches('/');
    let path = request.path();
    path == base
        || path.trim_end_matches('/') == base
        || (path.starts_with(base) && path.as_bytes().get(base.len()) == Some(&b'/'))
}

/// Fetches and validates the protected resource metadata for `request`: from the challenge's
/// `resource_metadata` when given, else the path-aware then the root well-known URL.
pub async fn fetch_resource_metadata(
    http: &reqwest::Client,
    request: &Url,
    from_challenge: Option<&str>,
) -> Result<ResourceMetadata, ClientError> {
    try_fetch_resource_metadata(http, request, from_challenge)
        .await?
        .ok_or_else(|| {
            ClientError::Discovery(format!(
                "no protected resource metadata for {request} (RFC 9728 well-known URLs answered 4xx)"
            ))
        })
}

/// Like [`fetch_resource_metadata`], `Ok(None)` when every URL answered 4xx (a server that
/// predates RFC 9728).
pub(crate) async fn try_fetch_resource_metadata(
    http: &reqwest::Client,
    request: &Url,
    from_challenge: Option<&str>,
) -> Result<Option<ResourceMetadata>, ClientError> {
    let mut candidates = Vec::new();
    if let Some(u) = from_challenge {
        candidates.push(Url::parse(u).map_err(|e| {
            ClientError::Discovery(format!("resource_metadata {u:?} is not a URL: {e}"))
        })?);
    }
    candidates.extend(resource_metadata_urls(request));
    let mut tried = Vec::new();
    for url in candidates {
        if tried.contains(&url) {
            continue;
        }
        let found: Option<ResourceMetadata> = get_document(http, &url).await?;
        tried.push(url);
        if let Some(metadata) = found {
            if !resource_covers(&metadata.resource, request) {
                return Err(ClientError::ResourceMismatch {
                    expected: resource_key(request),
                    found: metadata.resource,
                });
            }
            if metadata.authorization_servers.is_empty() {
                return Err(ClientError::Discovery(format!(
                    "the metadata of {} lists no authorization_servers",
                    metadata.resource
                )));
            }
            return Ok(Some(metadata));
        }
    }
    Ok(None)
}

/// The authorization server metadata URLs for `issuer`, in the MCP order (CL-MCP-4): RFC 8414
/// with path insertion, OIDC with path insertion, OIDC with path appending.
pub fn authorization_server_metadata_urls(issuer: &Url) -> Vec<Url> {
    let origin = issuer.origin().ascii_serialization();
    let path = issuer.path().trim_end_matches('/');
    let urls = if path.is_empty() {
        vec![
            format!("{origin}/.well-known/oauth-authorization-server"),
            format!("{origin}/.well-known/openid-configuration"),
        ]
    } else {
        vec![
            format!("{origin}/.well-known/oauth-authorization-server{path}"),
            format!("{origin}/.well-known/openid-configuration{path}"),
            format!("{origin}{path}/.well-known/openid-configuration"),
        ]
    };
    urls.into_iter()
        .filter_map(|u| Url::parse(&u).ok())
        .collect()
}

/// Fetches the metadata of `issuer`, checking that its `issuer` is identical (CL-MCP-5) and that
/// its endpoints are http(s) URLs (CL-MCP-17).
pub async fn fetch_authorization_server_metadata(
    http: &reqwest::Client,
    issuer: &str,
    check: IssuerCheck,
) -> Result<AuthServerMetadata, ClientError> {
    try_fetch_authorization_server_metadata(http, issuer, check)
        .await?
        .ok_or_else(|| {
            ClientError::Discovery(format!(
                "no authorization server metadata for {issuer} (RFC 8414 and OpenID discovery both answered 4xx)"
            ))
        })
}

/// Like [`fetch_authorization_server_metadata`], `Ok(None)` when every URL answered 4xx.
pub(crate) async fn try_fetch_authorization_server_metadata(
    http: &reqwest::Client,
    issuer: &str,
    check: IssuerCheck,
) -> Result<Option<AuthServerMetadata>, ClientError> {
    let issuer_url = Url::parse(issuer)
        .map_err(|e| ClientError::Discovery(format!("issuer {issuer:?} is not a URL: {e}")))?;
    for url in authorization_server_metadata_urls(&issuer_url) {
        let Some(metadata): Option<AuthServerMetadata> = get_document(http, &url).await? else {
            continue;
        };
        if !check.accepts(issuer, &metadata.issuer) {
            return Err(ClientError::IssuerMismatch {
                expected: issuer.to_owned(),
                found: metadata.issuer,
            });
        }
        for endpoint in [
            metadata.authorization_endpoint.as_deref(),
            Some(metadata.token_endpoint.as_str()),
            metadata.registration_endpoint.as_deref(),
        ]
        .into_iter()
        .flatten()
        {
            let ok = Url::parse(endpoint).is_ok_and(|u| matches!(u.scheme(), "https" | "http"));
            if !ok {
                return Err(ClientError::Discovery(format!(
                    "the authorization server {issuer} advertises a non-http(s) endpoint {endpoint:?}"
                )));
            }
        }
        return Ok(Some(metadata));
    }
    Ok(None)
}

/// MCP 2025-03-26 fallback (CL-MCP-23) for a server with no RFC 9728 metadata: its origin is the
/// authorization server.
pub(crate) fn legacy_resource_metadata(request: &Url) -> ResourceMetadata {
    ResourceMetadata {
        resource: resource_key(request),
        authorization_servers: vec![request.origin().ascii_serialization()],
        scopes_supported: Vec::new(),
    }
}

/// MCP 2025-03-26 fallback for an origin with no metadata at all: the default endpoints
/// `/authorize`, `/token`, `/register`, PKCE S256 assumed.
pub(crate) fn legacy_authorization_server_metadata(origin: &str) -> AuthServerMetadata {
    AuthServerMetadata {
        issuer: origin.to_owned(),
        authorization_endpoint: Some(format!("{origin}/authorize")),
        token_endpoint: format!("{origin}/token"),
        registration_endpoint: Some(format!("{origin}/register")),
        revocation_endpoint: None,
        scopes_supported: Vec::new(),
        code_challenge_methods_supported: vec!["S256".into()],
        token_endpoint_auth_methods_supported: vec![
            "none".into(),
            "client_secret_basic".into(),
            "client_secret_post".into(),
        ],
        grant_types_supported: Vec::new(),
        client_id_metadata_document_supported: false,
        authorization_response_iss_parameter_supported: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn path_aware_resource_metadata_url_comes_before_the_root_one() {
        let urls: Vec<String> = resource_metadata_urls(&u("https://h.example/mcp/v1?x=1"))
            .iter()
            .map(Url::to_string)
            .collect();
        assert_eq!(
            urls,
            [
                "https://h.example/.well-known/oauth-protected-resource/mcp/v1",
                "https://h.example/.well-known/oauth-protected-resource",
            ]
        );
        assert_eq!(resource_metadata_urls(&u("https://h.example/")).len(), 1);
    }

    #[test]
    fn authorization_server_urls_follow_the_mcp_order() {
        let with_path: Vec<String> =
            authorization_server_metadata_urls(&u("https://a.example/tenant1"))
                .iter()
                .map(Url::to_string)
                .collect();
        assert_eq!(
            with_path,
            [
                "https://a.example/.well-known/oauth-authorization-server/tenant1",
                "https://a.example/.well-known/openid-configuration/tenant1",
                "https://a.example/tenant1/.well-known/openid-configuration",
            ]
        );
        let root: Vec<String> = authorization_server_metadata_urls(&u("https://a.example/"))
            .iter()
            .map(Url::to_string)
            .collect();
        assert_eq!(
            root,
            [
                "https://a.example/.well-known/oauth-authorization-server",
                "https://a.example/.well-known/openid-configuration",
            ]
        );
    }

    #[test]
    fn resource_must_be_same_origin_and_cover_the_path() {
        let request = u("https://h.example/mcp");
        assert!(resource_covers("https://h.example/mcp", &request));
        assert!(resource_covers("https://h.example", &request));
        assert!(resource_covers("https://h.example/", &request));
        assert!(!resource_covers("https://evil.example.com/mcp", &request));
        assert!(!resource_covers(
            "https://h.example/mcp2",
            &u("https://h.example/mcp")
        ));
        assert!(!resource_covers("https://h.example/m", &request));
        assert!(!resource_covers("http://h.example/mcp", &request));
        assert!(!resource_covers("https://h.example:8443/mcp", &request));
        assert!(resource_covers(
            "https://h.example/mcp",
            &u("https://h.example/mcp/sub")
        ));
        assert!(!resource_covers("not a url", &request));
    }

    #[test]
    fn issuer_check_is_exact_unless_same_origin_is_chosen() {
        let strict = IssuerCheck::default();
        assert!(strict.accepts("https://a.example/t1", "https://a.example/t1"));
        assert!(!strict.accepts("https://a.example/t1", "https://a.example"));
        assert!(!strict.accepts("https://a.example", "https://A.example"));
        assert!(!strict.accepts("https://a.example", "https://a.example/"));
        let relaxed = IssuerCheck::SameOrigin;
        assert!(relaxed.accepts("https://a.example/t1", "https://a.example"));
        assert!(!relaxed.accepts("https://a.example/t1", "https://evil.example/t1"));
        assert!(!relaxed.accepts("https://a.example/t1", "http://a.example/t1"));
    }

    #[test]
    fn fetches_are_https_or_loopback_http_and_never_link_local() {
        assert!(check_fetch_url(&u("https://as.example/x")).is_ok());
        assert!(check_fetch_url(&u("http://127.0.0.1:9/x")).is_ok());
        assert!(check_fetch_url(&u("http://localhost:9/x")).is_ok());
        assert!(check_fetch_url(&u("http://[::1]:9/x")).is_ok());
        assert!(check_fetch_url(&u("http://as.example/x")).is_err());
        assert!(check_fetch_url(&u("http://169.254.169.254/")).is_err());
        assert!(check_fetch_url(&u("https://169.254.169.254/")).is_err());
        assert!(check_fetch_url(&u("file:///etc/passwd")).is_err());
    }
}
