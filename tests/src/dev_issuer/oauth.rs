//! OAuth protocol plumbing: error responses, parameter parsing, client
//! authentication, PKCE, redirect-URI matching, scope and resource
//! validation. Nothing here panics on request input.

use std::collections::HashMap;
use std::net::IpAddr;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::json;
use url::Url;

use super::config::ClientRegistration;

/// An OAuth error response (`{"error": ..., "error_description": ...}`).
#[derive(Debug, Clone)]
pub(crate) struct OAuthError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    pub(crate) fn new(
        status: StatusCode,
        error: &'static str,
        description: impl Into<String>,
    ) -> Self {
        Self {
            status,
            error,
            description: description.into(),
        }
    }

    pub(crate) fn bad_request(error: &'static str, description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error, description)
    }

    pub(crate) fn invalid_request(description: impl Into<String>) -> Self {
        Self::bad_request("invalid_request", description)
    }

    pub(crate) fn invalid_grant(description: impl Into<String>) -> Self {
        Self::bad_request("invalid_grant", description)
    }

    pub(crate) fn invalid_client(description: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_client", description)
    }

    pub(crate) fn server_error(description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            description,
        )
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.error, "error_description": self.description});
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Basic realm="authsec-dev-issuer""#),
            );
        }
        response
    }
}

/// Form or query parameters. Parameters without a value are treated as
/// omitted (RFC 6749 §3.1); repeated parameters are refused except where
/// repetition is allowed (`resource`).
pub(crate) struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    pub(crate) fn parse(raw: &[u8]) -> Self {
        let pairs = url::form_urlencoded::parse(raw)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .filter(|(_, v)| !v.is_empty())
            .collect();
        Self { pairs }
    }

    /// The single value of `name`; `invalid_request` if repeated.
    pub(crate) fn get(&self, name: &str) -> Result<Option<&str>, OAuthError> {
        let mut values = self.pairs.iter().filter(|(k, _)| k == name);
        let first = values.next().map(|(_, v)| v.as_str());
        if values.next().is_some() {
            return Err(OAuthError::invalid_request(format!(
                "parameter {name} is repeated"
            )));
        }
        Ok(first)
    }

    /// Like [`Self::get`] but missing is `invalid_request`.
    pub(crate) fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)?
            .ok_or_else(|| OAuthError::invalid_request(format!("missing parameter {name}")))
    }

    /// Every value of `name`.
    pub(crate) fn all(&self, name: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// Credentials a request presented.
pub(crate) struct PresentedClient {
    pub client_id: String,
    pub secret: Option<String>,
}

/// Extracts client credentials (HTTP Basic, or `client_id` /
/// `client_secret` in the form). `Ok(None)` when the request carries none.
pub(crate) fn presented_client(
    headers: &HeaderMap,
    params: &Params,
) -> Result<Option<PresentedClient>, OAuthError> {
    let body_id = params.get("client_id")?;
    let body_secret = params.get("client_secret")?;
    let basic = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(value) => {
            let value = value
                .to_str()
                .map_err(|_| OAuthError::invalid_client("malformed Authorization header"))?;
            let (scheme, creds) = value.split_once(' ').unwrap_or((value, ""));
            if !scheme.eq_ignore_ascii_case("basic") {
                return Err(OAuthError::invalid_client(
                    "unsupported client authentication scheme (use Basic)",
                ));
            }
            let decoded = STANDARD
                .decode(creds.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials"))?;
            let (id, secret) = decoded
                .split_once(':')
                .ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials"))?;
            // RFC 6749 §2.3.1: both parts are form-urlencoded.
            Some((form_decode(id), form_decode(secret)))
        }
    };
    match basic {
        Some((id, secret)) => {
            if body_secret.is_some() {
                return Err(OAuthError::invalid_request(
                    "more than one client authentication method",
                ));
            }
            if body_id.is_some_and(|b| b != id) {
                return Err(OAuthError::invalid_request(
                    "client_id does not match the Basic credentials",
                ));
            }
            Ok(Some(PresentedClient {
                client_id: id,
                secret: Some(secret),
            }))
        }
        None => match (body_id, body_secret) {
            (Some(id), secret) => Ok(Some(PresentedClient {
                client_id: id.to_owned(),
                secret: secret.map(str::to_owned),
            })),
            (None, Some(_)) => Err(OAuthError::invalid_request(
                "client_secret without client_id",
            )),
            (None, None) => Ok(None),
        },
    }
}

fn form_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// How a client authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Authenticated {
    /// Public client, identified by `client_id` only.
    Public,
    /// Confidential client with a verified secret.
    Secret,
}

/// Authenticates the client of a request against the registry. Public
/// clients authenticate with their `client_id` alone; confidential ones
/// must present their secret.
pub(crate) fn authenticate(
    clients: &HashMap<String, ClientRegistration>,
    presented: Option<PresentedClient>,
) -> Result<(ClientRegistration, Authenticated), OAuthError> {
    let presented =
        presented.ok_or_else(|| OAuthError::invalid_client("client authentication required"))?;
    let client = clients
        .get(&presented.client_id)
        .ok_or_else(|| OAuthError::invalid_client("unknown client"))?;
    match (&client.client_secret, &presented.secret) {
        (Some(expected), Some(given)) => {
            aws_lc_rs::constant_time::verify_slices_are_equal(
                expected.as_bytes(),
                given.as_bytes(),
            )
            .map_err(|_| OAuthError::invalid_client("client authentication failed"))?;
            Ok((client.clone(), Authenticated::Secret))
        }
        (Some(_), None) => Err(OAuthError::invalid_client(
            "confidential client must authenticate with its secret",
        )),
        (None, Some(_)) => Err(OAuthError::invalid_client("public client has no secret")),
        (None, None) => Ok((client.clone(), Authenticated::Public)),
    }
}

/// Whether `s` is a valid PKCE code verifier / S256 challenge alphabet and
/// length (RFC 7636 §4.1: 43–128 unreserved characters).
pub(crate) fn is_pkce_string(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// BASE64URL(SHA256(verifier)) == challenge.
pub(crate) fn pkce_s256_matches(verifier: &str, challenge: &str) -> bool {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    let computed = URL_SAFE_NO_PAD.encode(digest.as_ref());
    aws_lc_rs::constant_time::verify_slices_are_equal(computed.as_bytes(), challenge.as_bytes())
        .is_ok()
}

fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Whether a presented redirect URI matches a registered one: exact string
/// match, or (RFC 8252 §7.3) equal apart from the port for `http` loopback
/// URIs.
pub(crate) fn redirect_uri_matches(registered: &str, presented: &str) -> bool {
    if registered == presented {
        return true;
    }
    let (Ok(mut r), Ok(mut p)) = (Url::parse(registered), Url::parse(presented)) else {
        return false;
    };
    if r.scheme() != "http" || p.scheme() != "http" || !is_loopback_host(&r) {
        return false;
    }
    if r.set_port(None).is_err() || p.set_port(None).is_err() {
        return false;
    }
    r == p
}

/// Validates a redirect URI offered at registration: absolute, no
/// fragment; `https`, `http` on a loopback host, or a private-use scheme.
pub(crate) fn validate_redirect_uri(uri: &str) -> Result<(), String> {
    let url = Url::parse(uri).map_err(|e| format!("{uri:?} is not an absolute URI: {e}"))?;
    if url.fragment().is_some() {
        return Err(format!("{uri:?} has a fragment"));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback_host(&url) => Ok(()),
        "http" => Err(format!(
            "{uri:?} uses http on a non-loopback host (use https)"
        )),
        "javascript" | "data" | "file" | "vbscript" => {
            Err(format!("{uri:?} uses a forbidden scheme"))
        }
        _ => Ok(()),
    }
}

/// Validates an RFC 8707 resource indicator: absolute URI without fragment.
pub(crate) fn validate_resource(resource: &str) -> Result<(), OAuthError> {
    let invalid = |why: &str| {
        OAuthError::bad_request("invalid_target", format!("resource {resource:?} {why}"))
    };
    let url = Url::parse(resource).map_err(|_| invalid("is not an absolute URI"))?;
    if url.fragment().is_some() {
        return Err(invalid("must not contain a fragment"));
    }
    Ok(())
}

/// Splits a space-delimited `scope` parameter, validating each token
/// (RFC 6749 §3.3) and removing duplicates (order kept).
pub(crate) fn parse_scope(scope: Option<&str>) -> Result<Vec<String>, OAuthError> {
    let mut out: Vec<String> = Vec::new();
    for token in scope.unwrap_or("").split(' ').filter(|s| !s.is_empty()) {
        let valid = token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
        if !valid {
            return Err(OAuthError::bad_request(
                "invalid_scope",
                format!("malformed scope {token:?}"),
            ));
        }
        if !out.iter().any(|s| s == token) {
            out.push(token.to_owned());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_rfc7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(is_pkce_string(verifier));
        assert!(pkce_s256_matches(verifier, challenge));
        assert!(!pkce_s256_matches("x", challenge));
    }

    #[test]
    fn loopback_redirects_ignore_port_only() {
        assert!(redirect_uri_matches(
            "http://127.0.0.1/callback",
            "http://127.0.0.1:5555/callback"
        ));
        assert!(!redirect_uri_matches(
            "http://127.0.0.1/callback",
            "http://127.0.0.1:5555/other"
        ));
        assert!(!redirect_uri_matches(
            "https://app.example/cb",
            "https://app.example:444/cb"
        ));
        assert!(!redirect_uri_matches("http://127.0.0.1/cb", "not a url"));
    }

    #[test]
    fn scope_parsing() {
        assert_eq!(
            parse_scope(Some("a  b a")).expect("valid"),
            vec!["a".to_owned(), "b".to_owned()]
        );
        assert!(parse_scope(Some("a\"b")).is_err());
        assert!(parse_scope(None).expect("valid").is_empty());
    }

    #[test]
    fn params_reject_repeats() {
        let p = Params::parse(b"a=1&a=2&b=&c=3");
        assert!(p.get("a").is_err());
        assert_eq!(p.get("b").expect("ok"), None);
        assert_eq!(p.get("c").expect("ok"), Some("3"));
        assert_eq!(p.all("a"), vec!["1".to_owned(), "2".to_owned()]);
    }
}
