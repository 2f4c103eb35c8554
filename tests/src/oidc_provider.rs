//! A real third-party authorization server for end-to-end tests:
//! [`oidc-provider`](https://github.com/panva/node-oidc-provider) (the certified
//! Node.js OpenID provider), run on loopback from `tests/oidc-provider/server.mjs`.
//!
//! [`OidcProvider::start`] installs the Node.js dependencies when they are
//! missing (`npm ci`), spawns `node server.mjs` on `127.0.0.1` and waits until
//! it listens. The helpers then speak plain OAuth 2.1 over real HTTP:
//! dynamic client registration, authorization code + PKCE (S256) with RFC 8707
//! resource indicators, refresh, RFC 7662 introspection and RFC 7009
//! revocation. Login and consent are headless: the server's interaction
//! routes log in as `login_hint` (default `alice`) and grant every requested
//! scope, so no browser is involved.
//!
//! What the server does (oidc-provider 9.13.3, see `server.mjs`):
//! - JWT access tokens (the default) are RS256 with JOSE header
//!   `typ: at+jwt`, `kid` from `/jwks`; claims `iss`, `sub`, `aud` (= the
//!   resource), `client_id`, `scope`, `jti`, `iat`, `exp`, `acr`, `amr`,
//!   `auth_time`.
//! - Introspection and revocation of a JWT access token fail with HTTP 400
//!   `unsupported_token_type` ([`Error::OAuth`]); use
//!   [`AccessTokenFormat::Opaque`] to test them.
//! - Revoking any token of a grant ends every token of that grant
//!   (oidc-provider's in-memory adapter); so does reusing a rotated refresh
//!   token.
//! - `acr_values` needs the `openid` scope in stock oidc-provider, so
//!   [`OidcProvider::login`] adds `openid` when [`LoginRequest::acr_values`] is
//!   set (an ID token then comes back too; the access token's scope stays the
//!   resource scopes).
//!
//! Needs Node.js (22 LTS or later is what oidc-provider 9 supports; 20.19+
//! works with a warning on its stderr) and npm on `PATH`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use url::Url;

/// Resource indicator accepted when [`OidcProviderOptions::resources`] is left
/// at its default.
pub const DEFAULT_RESOURCE: &str = "http://127.0.0.1:8811/mcp";
/// Scopes every resource server offers.
pub const RESOURCE_SCOPES: [&str; 3] = ["notes:read", "notes:write", "notes:admin"];
/// Default `client_id` of the confidential resource-server client used for
/// introspection and revocation.
pub const DEFAULT_RS_CLIENT_ID: &str = "notes-rs";
/// Default secret of that client.
pub const DEFAULT_RS_CLIENT_SECRET: &str = "notes-rs-secret";
/// Account logged in when no `login_hint` is given.
pub const DEFAULT_LOGIN: &str = "alice";

/// Most bytes of the server's stderr kept for error messages.
const STDERR_KEEP: usize = 64 * 1024;
/// Longest `npm ci` allowed.
const NPM_CI_TIMEOUT: Duration = Duration::from_secs(600);
/// Most redirects followed during one login.
const MAX_REDIRECTS: usize = 12;

/// Errors of the harness.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `node` could not be run.
    #[error(
        "could not run `{program}` ({source}): install Node.js (22 LTS or later recommended, \
         20.19+ works) and npm, and make sure `node` is on PATH"
    )]
    NodeMissing {
        /// The program that was tried.
        program: String,
        /// Why it could not be run.
        source: std::io::Error,
    },
    /// `npm` could not be run.
    #[error(
        "could not run `{program}` ({source}) to install oidc-provider: install Node.js and npm, \
         or run `npm ci` in {dir}"
    )]
    NpmMissing {
        /// The program that was tried.
        program: String,
        /// The directory it was to run in.
        dir: String,
        /// Why it could not be run.
        source: std::io::Error,
    },
    /// `npm ci` ran but failed.
    #[error("`npm ci` in {dir} failed ({status}):\n{output}")]
    NpmCiFailed {
        /// The directory.
        dir: String,
        /// Its exit status.
        status: ExitStatus,
        /// Its stdout and stderr.
        output: String,
    },
    /// The server exited before printing `ready`.
    #[error("oidc-provider exited before it was ready ({status}); its stderr:\n{stderr}")]
    ExitedEarly {
        /// Exit status of `node`.
        status: String,
        /// What it printed on stderr.
        stderr: String,
    },
    /// The server did not print `ready` in time.
    #[error("oidc-provider was not ready after {timeout:?}; its stderr:\n{stderr}")]
    StartupTimeout {
        /// How long we waited.
        timeout: Duration,
        /// What it printed on stderr.
        stderr: String,
    },
    /// Local I/O failed (spawning, pipes).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// An HTTP request failed below the OAuth layer.
    #[error("HTTP error: {0}")]
    Http(#[from] reqwest::Error),
    /// The authorization server answered with an OAuth error (error response
    /// of an endpoint, or `error` in the redirect to the client).
    #[error("OAuth error from oidc-provider (HTTP {status}): {error}{}", .description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    OAuth {
        /// HTTP status (303 for an error redirected to the client).
        status: u16,
        /// The `error` code.
        error: String,
        /// The `error_description`, if any.
        description: Option<String>,
    },
    /// Anything else that does not follow the protocol.
    #[error("unexpected response from oidc-provider: {0}")]
    Protocol(String),
}

/// Format of the access tokens the server issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccessTokenFormat {
    /// RFC 9068 JWT access tokens (RS256, `typ: at+jwt`). Not introspectable.
    #[default]
    Jwt,
    /// Opaque reference tokens, checked through introspection.
    Opaque,
}

impl AccessTokenFormat {
    fn as_env(self) -> &'static str {
        match self {
            Self::Jwt => "jwt",
            Self::Opaque => "opaque",
        }
    }
}

/// Options of [`OidcProvider::start`].
#[derive(Debug, Clone)]
pub struct OidcProviderOptions {
    /// Resource indicators (RFC 8707) the server accepts; each gets the scopes
    /// in [`RESOURCE_SCOPES`] and becomes the `aud` of its tokens.
    pub resources: Vec<String>,
    /// Access token format.
    pub access_token_format: AccessTokenFormat,
    /// Access token lifetime in seconds.
    pub access_token_ttl_secs: u64,
    /// `client_id` of the static confidential resource-server client.
    pub rs_client_id: String,
    /// Its `client_secret` (`client_secret_basic`).
    pub rs_client_secret: String,
    /// Port on 127.0.0.1; `None` lets the server bind any free port and report
    /// it (no race between picking and binding).
    pub port: Option<u16>,
    /// How long to wait for the `ready` line (not counting `npm ci`).
    pub startup_timeout: Duration,
    /// The Node.js executable; `None` means `node` from `PATH`.
    pub node: Option<PathBuf>,
    /// Copy the server's stderr to this process's stderr as it comes, and
    /// log oidc-provider error events (`OIDC_DEBUG=1`).
    pub debug: bool,
}

impl Default for OidcProviderOptions {
    fn default() -> Self {
        Self {
            resources: vec![DEFAULT_RESOURCE.to_owned()],
            access_token_format: AccessTokenFormat::Jwt,
            access_token_ttl_secs: 600,
            rs_client_id: DEFAULT_RS_CLIENT_ID.to_owned(),
            rs_client_secret: DEFAULT_RS_CLIENT_SECRET.to_owned(),
            port: None,
            startup_timeout: Duration::from_secs(60),
            node: None,
            debug: false,
        }
    }
}

impl OidcProviderOptions {
    /// Default options with opaque access tokens (for introspection tests).
    pub fn opaque() -> Self {
        Self {
            access_token_format: AccessTokenFormat::Opaque,
            ..Self::default()
        }
    }
}

/// A client registered through dynamic client registration (RFC 7591).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RegisteredClient {
    /// `client_id` issued by the server.
    pub client_id: String,
    /// `client_secret`, absent for public clients.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Registered redirect URIs.
    pub redirect_uris: Vec<String>,
    /// `token_endpoint_auth_method` (`none` for public clients).
    pub token_endpoint_auth_method: String,
    /// RFC 7592 registration access token.
    #[serde(default)]
    pub registration_access_token: Option<String>,
}

impl RegisteredClient {
    /// The first registered redirect URI (the one [`OidcProvider::login`] uses).
    pub fn redirect_uri(&self) -> &str {
        self.redirect_uris.first().map_or("", String::as_str)
    }
}

/// What [`OidcProvider::login`] asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginRequest {
    /// RFC 8707 resource indicator, sent to both the authorization and the
    /// token endpoint.
    pub resource: String,
    /// Requested scopes (all are granted).
    pub scopes: Vec<String>,
    /// Account to log in as (`login_hint`); `None` = [`DEFAULT_LOGIN`].
    pub login_hint: Option<String>,
    /// `acr_values`; containing `mfa` makes the login's `acr` `mfa` and `amr`
    /// `["pwd","mfa"]`, else `acr` is `pwd` and `amr` `["pwd"]`.
    pub acr_values: Option<String>,
}

impl LoginRequest {
    /// A request for `scopes` on `resource`, as the default account.
    pub fn new(resource: impl Into<String>, scopes: &[&str]) -> Self {
        Self {
            resource: resource.into(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            login_hint: None,
            acr_values: None,
        }
    }

    /// Log in as `account`.
    pub fn login_hint(mut self, account: impl Into<String>) -> Self {
        self.login_hint = Some(account.into());
        self
    }

    /// Ask for `acr_values`.
    pub fn acr_values(mut self, acr_values: impl Into<String>) -> Self {
        self.acr_values = Some(acr_values.into());
        self
    }
}

/// A successful token endpoint response.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TokenResponse {
    /// The access token (a JWT or an opaque string).
    pub access_token: String,
    /// `Bearer`.
    pub token_type: String,
    /// Lifetime of the access token in seconds.
    #[serde(default)]
    pub expires_in: Option<u64>,
    /// Refresh token, when one was issued.
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// Granted scopes, space separated.
    #[serde(default)]
    pub scope: Option<String>,
    /// ID token, when `openid` was requested.
    #[serde(default)]
    pub id_token: Option<String>,
}

impl TokenResponse {
    /// The granted scopes, split.
    pub fn scopes(&self) -> Vec<&str> {
        self.scope
            .as_deref()
            .map(|s| s.split_whitespace().collect())
            .unwrap_or_default()
    }
}

/// An RFC 7662 introspection response.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Introspection {
    /// Whether the token is active.
    pub active: bool,
    /// Scopes, space separated.
    #[serde(default)]
    pub scope: Option<String>,
    /// Client the token was issued to.
    #[serde(default)]
    pub client_id: Option<String>,
    /// Subject (account id).
    #[serde(default)]
    pub sub: Option<String>,
    /// Audience (the resource), a string or an array.
    #[serde(default)]
    pub aud: Option<serde_json::Value>,
    /// Issuer.
    #[serde(default)]
    pub iss: Option<String>,
    /// Expiry, seconds since the epoch.
    #[serde(default)]
    pub exp: Option<u64>,
    /// Issued at, seconds since the epoch.
    #[serde(default)]
    pub iat: Option<u64>,
    /// `Bearer` for access tokens.
    #[serde(default)]
    pub token_type: Option<String>,
    /// Every other member (`acr`, `amr`, `auth_time`, `jti`, …).
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct OAuthErrorBody {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// A running oidc-provider. Killed when dropped (and it exits by itself when
/// this process dies, since its stdin closes).
pub struct OidcProvider {
    child: Child,
    // Held open: the server exits when it reaches EOF.
    _stdin: Option<ChildStdin>,
    issuer: String,
    port: u16,
    http: reqwest::Client,
    rs_client_id: String,
    rs_client_secret: String,
    stderr: Arc<Mutex<String>>,
}

impl fmt::Debug for OidcProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcProvider")
            .field("issuer", &self.issuer)
            .field("pid", &self.child.id())
            .finish_non_exhaustive()
    }
}

/// Serializes `npm ci` between tests of one process.
static NPM_INSTALL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Directory of `package.json` and `server.mjs`.
pub fn server_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("oidc-provider")
}

async fn ensure_node_modules(dir: &Path) -> Result<(), Error> {
    let marker = dir
        .join("node_modules")
        .join("oidc-provider")
        .join("package.json");
    if marker.exists() {
        return Ok(());
    }
    let _guard = NPM_INSTALL.lock().await;
    if marker.exists() {
        return Ok(());
    }
    let program = if cfg!(windows) { "npm.cmd" } else { "npm" };
    let install = Command::new(program)
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(NPM_CI_TIMEOUT, install)
        .await
        .map_err(|_| {
            Error::Protocol(format!(
                "`npm ci` in {} did not finish within {NPM_CI_TIMEOUT:?}",
                dir.display()
            ))
        })?
        .map_err(|source| Error::NpmMissing {
            program: program.to_owned(),
            dir: dir.display().to_string(),
            source,
        })?;
    if !output.status.success() {
        return Err(Error::NpmCiFailed {
            dir: dir.display().to_string(),
            status: output.status,
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        });
    }
    Ok(())
}

fn stderr_text(buf: &Arc<Mutex<String>>) -> String {
    buf.lock().map(|s| s.clone()).unwrap_or_default()
}

fn http_client(cookies: bool) -> Result<reqwest::Client, Error> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(cookies)
        .timeout(Duration::from_secs(30))
        .build()?)
}

fn random_b64(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::Rng::fill(&mut rand::rng(), buf.as_mut_slice());
    URL_SAFE_NO_PAD.encode(buf)
}

/// `application/x-www-form-urlencoded` encoding, as RFC 6749 §2.3.1 wants for
/// HTTP Basic client credentials.
fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn oauth_error(resp: reqwest::Response) -> Error {
    let status = resp.status().as_u16();
    let body = match resp.text().await {
        Ok(body) => body,
        Err(e) => return Error::Http(e),
    };
    match serde_json::from_str::<OAuthErrorBody>(&body) {
        Ok(e) => Error::OAuth {
            status,
            error: e.error,
            description: e.error_description,
        },
        Err(_) => Error::Protocol(format!("HTTP {status}: {body}")),
    }
}

async fn json_or_error<T: serde::de::DeserializeOwned>(
    resp: reqwest::Response,
) -> Result<T, Error> {
    if !resp.status().is_success() {
        return Err(oauth_error(resp).await);
    }
    let body = resp.text().await?;
    serde_json::from_str(&body).map_err(|e| Error::Protocol(format!("{e}: {body}")))
}

impl OidcProvider {
    /// Install the Node.js dependencies if `node_modules` is missing, spawn
    /// `node server.mjs` on 127.0.0.1 and wait for it to listen.
    pub async fn start(options: OidcProviderOptions) -> Result<Self, Error> {
        let dir = server_dir();
        ensure_node_modules(&dir).await?;

        let program = options
            .node
            .clone()
            .unwrap_or_else(|| PathBuf::from("node"));
        let mut command = Command::new(&program);
        command
            .arg("server.mjs")
            .current_dir(&dir)
            .env("PORT", options.port.unwrap_or(0).to_string())
            .env("OIDC_RESOURCES", options.resources.join(","))
            .env(
                "OIDC_ACCESS_TOKEN_FORMAT",
                options.access_token_format.as_env(),
            )
            .env(
                "OIDC_ACCESS_TOKEN_TTL",
                options.access_token_ttl_secs.to_string(),
            )
            .env("OIDC_RS_CLIENT_ID", &options.rs_client_id)
            .env("OIDC_RS_CLIENT_SECRET", &options.rs_client_secret)
            .env("OIDC_DEBUG", if options.debug { "1" } else { "0" })
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|source| Error::NodeMissing {
            program: program.display().to_string(),
            source,
        })?;

        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| Error::Protocol("no stdout pipe".into()))?;
        let stderr_pipe = child
            .stderr
            .take()
            .ok_or_else(|| Error::Protocol("no stderr pipe".into()))?;

        let stderr = Arc::new(Mutex::new(String::new()));
        let stderr_done = {
            let stderr = Arc::clone(&stderr);
            let echo = options.debug;
            tokio::spawn(async move {
                let mut reader = BufReader::new(stderr_pipe);
                let mut chunk = vec![0u8; 4096];
                loop {
                    match reader.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            let text = String::from_utf8_lossy(&chunk[..n]);
                            if echo {
                                eprint!("{text}");
                            }
                            if let Ok(mut buf) = stderr.lock() {
                                buf.push_str(&text);
                                if buf.len() > STDERR_KEEP {
                                    let mut cut = buf.len() - STDERR_KEEP;
                                    while !buf.is_char_boundary(cut) {
                                        cut += 1;
                                    }
                                    buf.drain(..cut);
                                }
                            }
                        }
                    }
                }
            })
        };

        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(options.startup_timeout, async {
            loop {
                match lines.next_line().await {
                    Ok(Some(line)) => {
                        if let Some(issuer) = line.trim().strip_prefix("ready ") {
                            return Ok(Some(issuer.to_owned()));
                        }
                    }
                    Ok(None) => return Ok(None),
                    Err(e) => return Err(e),
                }
            }
        })
        .await;

        let issuer = match ready {
            Ok(Ok(Some(issuer))) => issuer,
            Ok(Ok(None)) => {
                let status = match tokio::time::timeout(Duration::from_secs(5), child.wait()).await
                {
                    Ok(Ok(status)) => status.to_string(),
                    Ok(Err(e)) => format!("wait failed: {e}"),
                    Err(_) => "stdout closed, still running".to_owned(),
                };
                // Let the stderr reader catch the last words.
                let _ = tokio::time::timeout(Duration::from_secs(2), stderr_done).await;
                return Err(Error::ExitedEarly {
                    status,
                    stderr: stderr_text(&stderr),
                });
            }
            Ok(Err(e)) => return Err(Error::Io(e)),
            Err(_) => {
                let _ = child.start_kill();
                return Err(Error::StartupTimeout {
                    timeout: options.startup_timeout,
                    stderr: stderr_text(&stderr),
                });
            }
        };

        // Drain stdout for the rest of the process's life.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

        let port = Url::parse(&issuer)
            .ok()
            .and_then(|u| u.port())
            .ok_or_else(|| Error::Protocol(format!("bad issuer in ready line: {issuer}")))?;

        Ok(Self {
            child,
            _stdin: stdin,
            issuer,
            port,
            http: http_client(false)?,
            rs_client_id: options.rs_client_id,
            rs_client_secret: options.rs_client_secret,
            stderr,
        })
    }

    /// Issuer identifier, `http://127.0.0.1:<port>` (no trailing slash).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Port the server listens on (127.0.0.1 only).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `issuer` + `path` (oidc-provider's default routes: `/auth`, `/token`,
    /// `/reg`, `/jwks`, `/token/introspection`, `/token/revocation`, `/me`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.issuer, path)
    }

    /// Authorization endpoint.
    pub fn authorization_endpoint(&self) -> String {
        self.url("/auth")
    }

    /// Token endpoint.
    pub fn token_endpoint(&self) -> String {
        self.url("/token")
    }

    /// JWKS URI.
    pub fn jwks_uri(&self) -> String {
        self.url("/jwks")
    }

    /// Introspection endpoint (RFC 7662).
    pub fn introspection_endpoint(&self) -> String {
        self.url("/token/introspection")
    }

    /// Revocation endpoint (RFC 7009).
    pub fn revocation_endpoint(&self) -> String {
        self.url("/token/revocation")
    }

    /// Registration endpoint (RFC 7591).
    pub fn registration_endpoint(&self) -> String {
        self.url("/reg")
    }

    /// Credentials of the confidential resource-server client
    /// (`client_id`, `client_secret`).
    pub fn rs_client_credentials(&self) -> (&str, &str) {
        (&self.rs_client_id, &self.rs_client_secret)
    }

    /// What the server printed on stderr so far (last 64 KiB).
    pub fn stderr(&self) -> String {
        stderr_text(&self.stderr)
    }

    /// The discovery document (`/.well-known/openid-configuration`; the same
    /// document is served at `/.well-known/oauth-authorization-server`).
    pub async fn discovery(&self) -> Result<serde_json::Value, Error> {
        let resp = self
            .http
            .get(self.url("/.well-known/openid-configuration"))
            .send()
            .await?;
        json_or_error(resp).await
    }

    /// The JWKS (public signing keys).
    pub async fn jwks(&self) -> Result<serde_json::Value, Error> {
        let resp = self.http.get(self.jwks_uri()).send().await?;
        json_or_error(resp).await
    }

    /// Register a public client (`token_endpoint_auth_method: none`, grants
    /// `authorization_code` and `refresh_token`) with one redirect URI. The
    /// redirect URI may be a loopback URL nobody listens on.
    pub async fn register_client(&self, redirect_uri: &str) -> Result<RegisteredClient, Error> {
        self.register_client_metadata(serde_json::json!({
            "client_name": "authsec e2e",
            "redirect_uris": [redirect_uri],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
        }))
        .await
    }

    /// Register a client with arbitrary RFC 7591 metadata (e.g. a
    /// confidential client with `client_credentials`).
    pub async fn register_client_metadata(
        &self,
        metadata: serde_json::Value,
    ) -> Result<RegisteredClient, Error> {
        let resp = self
            .http
            .post(self.registration_endpoint())
            .json(&metadata)
            .send()
            .await?;
        json_or_error(resp).await
    }

    fn with_client_auth(
        &self,
        req: reqwest::RequestBuilder,
        client: &RegisteredClient,
        form: &mut Vec<(&'static str, String)>,
    ) -> reqwest::RequestBuilder {
        match client.client_secret.as_deref() {
            Some(secret) if client.token_endpoint_auth_method == "client_secret_post" => {
                form.push(("client_id", client.client_id.clone()));
                form.push(("client_secret", secret.to_owned()));
                req
            }
            Some(secret) if client.token_endpoint_auth_method != "none" => {
                req.basic_auth(form_encode(&client.client_id), Some(form_encode(secret)))
            }
            _ => {
                form.push(("client_id", client.client_id.clone()));
                req
            }
        }
    }

    async fn token_request(
        &self,
        client: &RegisteredClient,
        mut form: Vec<(&'static str, String)>,
    ) -> Result<TokenResponse, Error> {
        let req = self.http.post(self.token_endpoint());
        let req = self.with_client_auth(req, client, &mut form);
        let resp = req.form(&form).send().await?;
        json_or_error(resp).await
    }

    /// Authorization code flow with PKCE (S256) and `resource` in both the
    /// authorization and the token request, logging in headlessly. Follows the
    /// redirects by hand with a fresh cookie jar (so every call is a new
    /// login), checks `state` and `iss` of the final redirect, and exchanges
    /// the code.
    pub async fn login(
        &self,
        client: &RegisteredClient,
        request: LoginRequest,
    ) -> Result<TokenResponse, Error> {
        let redirect_uri = client.redirect_uri().to_owned();
        let redirect = Url::parse(&redirect_uri)
            .map_err(|e| Error::Protocol(format!("client redirect_uri {redirect_uri}: {e}")))?;
        let state = random_b64(32);
        let verifier = random_b64(32);
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));

        let mut scopes = request.scopes.clone();
        // Stock oidc-provider refuses acr_values without the openid scope.
        if request.acr_values.is_some() && !scopes.iter().any(|s| s == "openid") {
            scopes.insert(0, "openid".to_owned());
        }

        let mut url = Url::parse(&self.authorization_endpoint())
            .map_err(|e| Error::Protocol(format!("authorization endpoint: {e}")))?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &client.client_id)
                .append_pair("redirect_uri", &redirect_uri)
                .append_pair("scope", &scopes.join(" "))
                .append_pair("resource", &request.resource)
                .append_pair("state", &state)
                .append_pair("code_challenge", &challenge)
                .append_pair("code_challenge_method", "S256");
            if let Some(hint) = &request.login_hint {
                q.append_pair("login_hint", hint);
            }
            if let Some(acr) = &request.acr_values {
                q.append_pair("acr_values", acr);
            }
        }

        let browser = http_client(true)?;
        let mut code = None;
        for _ in 0..MAX_REDIRECTS {
            let resp = browser.get(url.clone()).send().await?;
            let status = resp.status();
            if !status.is_redirection() {
                let body = resp.text().await.unwrap_or_default();
                return Err(match serde_json::from_str::<OAuthErrorBody>(&body) {
                    Ok(e) => Error::OAuth {
                        status: status.as_u16(),
                        error: e.error,
                        description: e.error_description,
                    },
                    Err(_) => Error::Protocol(format!(
                        "expected a redirect from {url}, got HTTP {status}: {body}"
                    )),
                });
            }
            let location = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| Error::Protocol(format!("redirect without Location from {url}")))?;
            let next = url
                .join(location)
                .map_err(|e| Error::Protocol(format!("bad Location {location}: {e}")))?;

            if next.origin() == redirect.origin() && next.path() == redirect.path() {
                let params: std::collections::HashMap<String, String> =
                    next.query_pairs().into_owned().collect();
                if params.get("state") != Some(&state) {
                    return Err(Error::Protocol(format!(
                        "state mismatch in redirect {next} (sent {state})"
                    )));
                }
                if let Some(iss) = params.get("iss")
                    && iss != &self.issuer
                {
                    return Err(Error::Protocol(format!(
                        "iss {iss} in redirect is not the issuer {}",
                        self.issuer
                    )));
                }
                if let Some(error) = params.get("error") {
                    return Err(Error::OAuth {
                        status: status.as_u16(),
                        error: error.clone(),
                        description: params.get("error_description").cloned(),
                    });
                }
                code = Some(params.get("code").cloned().ok_or_else(|| {
                    Error::Protocol(format!("no code in the final redirect {next}"))
                })?);
                break;
            }
            if next.origin() != url.origin() {
                return Err(Error::Protocol(format!(
                    "unexpected redirect to {next} (neither the server nor the client)"
                )));
            }
            url = next;
        }
        let code = code.ok_or_else(|| {
            Error::Protocol(format!(
                "no redirect to the client after {MAX_REDIRECTS} hops"
            ))
        })?;

        self.token_request(
            client,
            vec![
                ("grant_type", "authorization_code".to_owned()),
                ("code", code),
                ("redirect_uri", redirect_uri),
                ("code_verifier", verifier),
                ("resource", request.resource),
            ],
        )
        .await
    }

    /// `refresh_token` grant; `resource` `None` gets the resource of the
    /// original grant (`useGrantedResource`). Public clients get a new
    /// (rotated) refresh token each time; the old one is then consumed.
    pub async fn refresh(
        &self,
        client: &RegisteredClient,
        refresh_token: &str,
        resource: Option<&str>,
    ) -> Result<TokenResponse, Error> {
        let mut form = vec![
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", refresh_token.to_owned()),
        ];
        if let Some(resource) = resource {
            form.push(("resource", resource.to_owned()));
        }
        self.token_request(client, form).await
    }

    /// `client_credentials` grant for a confidential client registered with
    /// that grant type (see [`OidcProvider::register_client_metadata`]).
    pub async fn client_credentials(
        &self,
        client: &RegisteredClient,
        resource: &str,
        scopes: &[&str],
    ) -> Result<TokenResponse, Error> {
        self.token_request(
            client,
            vec![
                ("grant_type", "client_credentials".to_owned()),
                ("resource", resource.to_owned()),
                ("scope", scopes.join(" ")),
            ],
        )
        .await
    }

    /// RFC 7009 revocation, authenticated as the resource-server client
    /// (`notes-rs`), which `server.mjs` allows to revoke any token. Every
    /// token of the same grant is revoked with it. Fails with
    /// [`Error::OAuth`] `unsupported_token_type` for JWT access tokens.
    pub async fn revoke(&self, token: &str) -> Result<(), Error> {
        let resp = self
            .http
            .post(self.revocation_endpoint())
            .basic_auth(
                form_encode(&self.rs_client_id),
                Some(form_encode(&self.rs_client_secret)),
            )
            .form(&[("token", token)])
            .send()
            .await?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(oauth_error(resp).await)
        }
    }

    /// RFC 7009 revocation by the client the token was issued to (stock
    /// oidc-provider policy).
    pub async fn revoke_as(&self, client: &RegisteredClient, token: &str) -> Result<(), Error> {
        let mut form = vec![("token", token.to_owned())];
        let req = self.http.post(self.revocation_endpoint());
        let req = self.with_client_auth(req, client, &mut form);
        let resp = req.form(&form).send().await?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(oauth_error(resp).await)
        }
    }

    /// RFC 7662 introspection as the resource-server client (`notes-rs`,
    /// `client_secret_basic`). Opaque tokens only: for a JWT access token
    /// oidc-provider answers HTTP 400 `unsupported_token_type` ("Structured
    /// JWT Tokens cannot be introspected via the introspection_endpoint"),
    /// returned as [`Error::OAuth`].
    pub async fn introspect(&self, token: &str) -> Result<Introspection, Error> {
        let resp = self
            .http
            .post(self.introspection_endpoint())
            .basic_auth(
                form_encode(&self.rs_client_id),
                Some(form_encode(&self.rs_client_secret)),
            )
            .form(&[("token", token)])
            .send()
            .await?;
        json_or_error(resp).await
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        // kill_on_drop would do it too; be explicit. Closing stdin (field
        // drop) also makes the server exit.
        let _ = self.child.start_kill();
    }
}
