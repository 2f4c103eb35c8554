//! How this crate talks to the authorization server: one HTTP client, a timeout on every
//! request, bounded response bodies, and https everywhere except loopback.

use std::net::IpAddr;
use std::time::Duration;

use reqwest::header::{ACCEPT, HeaderValue};
use url::Url;

use crate::error::FetchError;

/// Default timeout of one request (connect, send, and read the whole body).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// HTTP settings shared by discovery, the JWKS cache and introspection.
///
/// ```
/// use std::time::Duration;
/// use authsec_jwks::HttpOptions;
///
/// let http = HttpOptions::default().timeout(Duration::from_secs(2));
/// # let _ = http;
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct HttpOptions {
    client: Option<reqwest::Client>,
    timeout: Duration,
    allow_insecure_http: bool,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            client: None,
            timeout: DEFAULT_TIMEOUT,
            allow_insecure_http: false,
        }
    }
}

impl HttpOptions {
    /// The defaults: a client of our own, a 5 s timeout, https required except for loopback.
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses this client (proxies, custom roots, connection pool shared with the application).
    /// The timeout below still applies to every request.
    pub fn client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// The timeout of one request, body included.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Accepts plain-http endpoints on any host. Tokens and client secrets then cross the
    /// network in clear: only for closed test networks.
    pub fn dangerous_allow_insecure_http(mut self) -> Self {
        self.allow_insecure_http = true;
        self
    }

    pub(crate) fn build(&self) -> Result<Http, FetchError> {
        let client = match &self.client {
            Some(client) => client.clone(),
            None => reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::limited(5))
                .connect_timeout(self.timeout)
                .user_agent(concat!("authsec-jwks/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| FetchError::Client {
                    reason: e.to_string(),
                })?,
        };
        Ok(Http {
            client,
            timeout: self.timeout,
            allow_insecure_http: self.allow_insecure_http,
        })
    }
}

/// The built form of [`HttpOptions`].
#[derive(Clone, Debug)]
pub(crate) struct Http {
    pub(crate) client: reqwest::Client,
    pub(crate) timeout: Duration,
    pub(crate) allow_insecure_http: bool,
}

impl Http {
    /// Parses `url` and checks it may be used: https, or http to a loopback host.
    pub(crate) fn endpoint(&self, url: &str) -> Result<Url, FetchError> {
        let parsed = Url::parse(url).map_err(|e| FetchError::InvalidUrl {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
        match parsed.scheme() {
            "https" => Ok(parsed),
            "http" if self.allow_insecure_http || is_loopback(&parsed) => Ok(parsed),
            "http" => Err(FetchError::InsecureUrl {
                url: url.to_owned(),
            }),
            other => Err(FetchError::InvalidUrl {
                url: url.to_owned(),
                reason: format!("the scheme {other:?} is not http(s)"),
            }),
        }
    }

    /// `GET url` accepting JSON.
    pub(crate) fn get(&self, url: &Url) -> reqwest::RequestBuilder {
        self.client
            .get(url.clone())
            .timeout(self.timeout)
            .header(ACCEPT, HeaderValue::from_static("application/json"))
    }

    /// `POST url` accepting JSON.
    pub(crate) fn post(&self, url: &Url) -> reqwest::RequestBuilder {
        self.client
            .post(url.clone())
            .timeout(self.timeout)
            .header(ACCEPT, HeaderValue::from_static("application/json"))
    }

    /// Sends a request, mapping transport failures to [`FetchError`].
    pub(crate) async fn send(
        &self,
        url: &Url,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, FetchError> {
        request
            .send()
            .await
            .map_err(|e| self.transport_error(url, e))
    }

    /// Reads the whole body, refusing more than `limit` bytes.
    pub(crate) async fn read_bounded(
        &self,
        url: &Url,
        mut response: reqwest::Response,
        limit: usize,
    ) -> Result<Vec<u8>, FetchError> {
        let too_large = || FetchError::TooLarge {
            url: url.to_string(),
            limit,
        };
        if response
            .content_length()
            .is_some_and(|len| len > limit as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport_error(url, e))?
        {
            if body.len().saturating_add(chunk.len()) > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    fn transport_error(&self, url: &Url, error: reqwest::Error) -> FetchError {
        if error.is_timeout() {
            FetchError::Timeout {
                url: url.to_string(),
                timeout: self.timeout,
            }
        } else {
            FetchError::Unreachable {
                url: url.to_string(),
                reason: describe(&error),
            }
        }
    }
}

/// The error and its causes on one line, without the URL reqwest adds (we print ours).
fn describe(error: &reqwest::Error) -> String {
    let mut out = if error.is_connect() {
        "connection failed".to_owned()
    } else if error.is_body() || error.is_decode() {
        "the response body could not be read".to_owned()
    } else {
        "the request failed".to_owned()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// The OAuth `error` member of a JSON error body, as `: error` (or empty), for messages.
pub(crate) fn oauth_error_detail(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("error")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
        })
        .map(|e| format!(": {}", e.chars().take(64).collect::<String>()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(allow: bool) -> Http {
        let mut options = HttpOptions::default();
        if allow {
            options = options.dangerous_allow_insecure_http();
        }
        options.build().unwrap()
    }

    #[test]
    fn https_is_required_except_for_loopback() {
        let http = http(false);
        assert!(http.endpoint("https://as.example/jwks").is_ok());
        assert!(http.endpoint("http://127.0.0.1:8080/jwks").is_ok());
        assert!(http.endpoint("http://localhost/jwks").is_ok());
        assert!(http.endpoint("http://[::1]:9/jwks").is_ok());
        assert_eq!(
            http.endpoint("http://as.example/jwks"),
            Err(FetchError::InsecureUrl {
                url: "http://as.example/jwks".into()
            })
        );
        assert!(matches!(
            http.endpoint("ftp://as.example/jwks"),
            Err(FetchError::InvalidUrl { .. })
        ));
        assert!(matches!(
            http.endpoint("not a url"),
            Err(FetchError::InvalidUrl { .. })
        ));
    }

    #[test]
    fn insecure_http_can_be_allowed_on_purpose() {
        assert!(http(true).endpoint("http://as.example/jwks").is_ok());
    }

    #[test]
    fn oauth_error_detail_reads_the_error_member() {
        assert_eq!(
            oauth_error_detail(br#"{"error":"invalid_client"}"#),
            ": invalid_client"
        );
        assert_eq!(oauth_error_detail(b"<html>"), "");
    }
}
