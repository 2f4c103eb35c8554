//! `authsec check <server-url>`: probe a live MCP server as an outsider would, and say for each
//! thing that commonly goes wrong whether it went wrong and how to fix it.
//!
//! Without a token:
//!
//! 1. a request with no token gets `401` with a `Bearer` challenge carrying `resource_metadata`;
//! 2. the RFC 9728 document is reachable (from `resource_metadata`, else the well-known URL);
//! 3. its `resource` is the URL probed, byte for byte;
//! 4. each authorization server publishes valid RFC 8414 / OpenID metadata (issuer exact,
//!    endpoints present) and advertises PKCE `S256`;
//! 5. `Authorization: Bearer garbage` gets `401 invalid_token` (a `200` means the middleware is
//!    not running).
//!
//! With `--token`:
//!
//! 6. the token is accepted (`initialize` succeeds);
//! 7. every tool `tools/list` shows can be called with it: probed with a `tools/call` sent as a
//!    notification, which the authorization layer checks like a call and the MCP server never
//!    runs (a `403` here means `tools/list` is not filtered, or the tool has no scope mapping);
//! 8. with `--manifest`: every listed tool is mapped, and a tool outside the token's scopes gets
//!    `403` with a `scope` challenge naming what it needs.

use authsec_core::ToolManifest;
use authsec_jwks::AuthorizationServerMetadata;
use authsec_jwks::discovery::discovery_urls;
use serde_json::Value;

use crate::checklist::{Checklist, Item};
use crate::probe::{self, Prober};
use crate::token;

/// What `authsec check` was given.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct CheckOptions {
    /// The MCP endpoint, e.g. `https://mcp.example.com/mcp`.
    pub server_url: String,
    /// An access token for the server.
    pub token: Option<String>,
    /// The manifest the server should enforce.
    pub manifest: Option<ToolManifest>,
}

impl CheckOptions {
    /// Options for `server_url`.
    pub fn new(server_url: impl Into<String>) -> Self {
        CheckOptions {
            server_url: server_url.into(),
            ..Default::default()
        }
    }

    /// Sets the token.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Sets the manifest.
    pub fn manifest(mut self, manifest: ToolManifest) -> Self {
        self.manifest = Some(manifest);
        self
    }
}

const MIDDLEWARE_FIX: &str = "your middleware is not running: put authsec in front of the MCP route (axum: .layer(AuthsecLayer::new(guard)); actix-web: .wrap(Authsec::new(guard))) and make sure no other route serves the same path";

/// Runs `authsec check`.
pub async fn run(prober: &Prober, options: &CheckOptions) -> Checklist {
    let url = options.server_url.as_str();
    let mut list = Checklist::new(format!("authsec check {url}"));
    let metadata_url = no_token(prober, url, &mut list).await;
    let metadata_url = metadata_url.or_else(|| well_known_url(url));
    match metadata_url {
        Some(metadata_url) => metadata(prober, url, &metadata_url, &mut list).await,
        None => list.push(Item::fail(
            format!("protected resource metadata: {url} is not an http(s) URL"),
            "probe the URL MCP clients use, e.g. https://mcp.example.com/mcp",
        )),
    }
    garbage_token(prober, url, &mut list).await;
    match &options.token {
        Some(token) => with_token(prober, options, token, &mut list).await,
        None => list.push(Item::skip(
            "tools/list filtering and scope enforcement",
            "pass --token T (a token for this server) to check them",
        )),
    }
    list
}

/// Step 1; returns the `resource_metadata` URL of the challenge.
async fn no_token(prober: &Prober, url: &str, list: &mut Checklist) -> Option<String> {
    let reply = match prober.post(url, &probe::initialize(1), None, None).await {
        Ok(reply) => reply,
        Err(error) => {
            list.push(Item::fail(
                format!("no token: {error}"),
                "check the URL and that the server is running and reachable from here",
            ));
            return None;
        }
    };
    let params = reply.bearer();
    let resource_metadata = reply.challenge_param("resource_metadata");
    match (reply.status, &params, &resource_metadata) {
        (401, Some(_), Some(resource_metadata)) => {
            list.push(Item::pass(format!(
                "no token: 401 with a Bearer challenge and resource_metadata={resource_metadata}"
            )));
        }
        (401, Some(_), None) => list.push(Item::fail(
            "no token: 401, but the Bearer challenge has no resource_metadata",
            "add resource_metadata=\"<the RFC 9728 document URL>\" to the challenge: MCP clients find the authorization server through it (authsec's Guard adds it)",
        )),
        (401, None, _) => list.push(Item::fail(
            format!(
                "no token: 401 without a Bearer challenge (WWW-Authenticate: {})",
                reply.www_authenticate.as_deref().unwrap_or("absent")
            ),
            "answer 401 with WWW-Authenticate: Bearer resource_metadata=\"...\" (RFC 6750 §3, RFC 9728 §5.1)",
        )),
        (status, _, _) if (200..300).contains(&status) => list.push(Item::fail(
            format!("no token: got {status}, expected 401: the server answers without a token"),
            MIDDLEWARE_FIX,
        )),
        _ => list.push(Item::fail(
            format!("no token: got {}, expected 401", reply.summary()),
            "a request without a token must get 401 with a Bearer challenge; check what answers this URL",
        )),
    }
    resource_metadata
}

/// The path-aware RFC 9728 URL of `url`.
fn well_known_url(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return None;
    }
    let origin = parsed.origin().ascii_serialization();
    let path = parsed.path().trim_end_matches('/');
    Some(format!(
        "{origin}/.well-known/oauth-protected-resource{path}"
    ))
}

/// Steps 2 to 4.
async fn metadata(prober: &Prober, url: &str, metadata_url: &str, list: &mut Checklist) {
    let document = match prober.get_json(metadata_url).await {
        Ok((200, Some(Value::Object(document)))) => document,
        Ok((200, _)) => {
            list.push(Item::fail(
                format!("protected resource metadata: {metadata_url} is not a JSON object"),
                "serve the RFC 9728 document as application/json (authsec's metadata route does)",
            ));
            return;
        }
        Ok((status, _)) => {
            list.push(Item::fail(
                format!("protected resource metadata: {metadata_url} answered {status}"),
                "serve the RFC 9728 document there, without a token (authsec-axum: metadata_router(&guard); authsec-actix: MetadataService)",
            ));
            return;
        }
        Err(error) => {
            list.push(Item::fail(
                format!("protected resource metadata: {error}"),
                "make the metadata URL reachable from clients",
            ));
            return;
        }
    };
    list.push(Item::pass(format!(
        "protected resource metadata: {metadata_url}"
    )));
    match document.get("resource").and_then(Value::as_str) {
        Some(resource) if resource == url => list.push(Item::pass(format!(
            "metadata resource equals the URL probed: {resource}"
        ))),
        Some(resource) => {
            let why = if resource.trim_end_matches('/') == url.trim_end_matches('/') {
                if resource.ends_with('/') {
                    format!(
                        "metadata resource is {resource} with a trailing slash; the URL probed is {url}"
                    )
                } else {
                    format!(
                        "metadata resource is {resource} without the trailing slash of the URL probed {url}"
                    )
                }
            } else {
                format!("metadata resource is {resource}; the URL probed is {url}")
            };
            list.push(Item::fail(
                why,
                format!(
                    "set the server's resource URI to exactly {url} (AUTHSEC_RESOURCE, or Guard::builder(\"{url}\")): clients request tokens for it and the server checks aud against it"
                ),
            ));
        }
        None => list.push(Item::fail(
            "metadata has no resource",
            "the RFC 9728 document must carry resource (§3.2)",
        )),
    }
    let servers: Vec<&str> = document
        .get("authorization_servers")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if servers.is_empty() {
        list.push(Item::fail(
            "metadata lists no authorization_servers",
            "list the issuer clients should use (GuardBuilder::authorization_server / AUTHSEC_ISSUER)",
        ));
    }
    for issuer in servers {
        list.push(authorization_server(prober, issuer).await);
    }
}

/// Step 4 for one issuer.
async fn authorization_server(prober: &Prober, issuer: &str) -> Item {
    let urls = match discovery_urls(issuer) {
        Ok(urls) => urls,
        Err(error) => {
            return Item::fail(
                format!("authorization server {issuer}: {error}"),
                "authorization_servers must hold issuer identifiers (https URLs)",
            );
        }
    };
    let mut tried = Vec::new();
    for candidate in &urls {
        let (status, body) = match prober.get_bytes(candidate).await {
            Ok(answer) => answer,
            Err(error) => {
                return Item::fail(
                    format!("authorization server {issuer}: {error}"),
                    "make the authorization server reachable, or fix authorization_servers in the metadata",
                );
            }
        };
        if status != 200 {
            tried.push(format!("{candidate} ({status})"));
            continue;
        }
        let metadata = match AuthorizationServerMetadata::from_json(candidate, &body, issuer) {
            Ok(metadata) => metadata,
            Err(error) => {
                return Item::fail(
                    format!("authorization server {issuer}: {error}"),
                    "the document's issuer must equal the identifier in authorization_servers exactly (RFC 8414 §3.3)",
                );
            }
        };
        let mut missing = Vec::new();
        if metadata.authorization_endpoint.is_none() {
            missing.push("authorization_endpoint");
        }
        if metadata.token_endpoint.is_none() {
            missing.push("token_endpoint");
        }
        if !missing.is_empty() {
            return Item::fail(
                format!(
                    "authorization server {issuer}: {candidate} lacks {}",
                    missing.join(" and ")
                ),
                "MCP clients need both endpoints for the authorization code flow",
            );
        }
        let s256 = metadata
            .code_challenge_methods_supported
            .as_ref()
            .is_some_and(|methods| methods.iter().any(|m| m == "S256"));
        if !s256 {
            return Item::fail(
                format!("authorization server {issuer}: {candidate} does not advertise PKCE S256"),
                "enable PKCE with S256 and list it in code_challenge_methods_supported: MCP clients refuse an authorization server that does not",
            );
        }
        return Item::pass(format!(
            "authorization server {issuer}: metadata at {candidate}, S256 advertised"
        ));
    }
    Item::fail(
        format!(
            "authorization server {issuer}: no metadata document (tried {})",
            tried.join(", ")
        ),
        "publish RFC 8414 metadata (or OpenID discovery) for this issuer",
    )
}

/// Step 5.
async fn garbage_token(prober: &Prober, url: &str, list: &mut Checklist) {
    let reply = match prober
        .post(url, &probe::initialize(2), Some("garbage"), None)
        .await
    {
        Ok(reply) => reply,
        Err(error) => {
            list.push(Item::fail(
                format!("Bearer garbage: {error}"),
                "check that the server is reachable",
            ));
            return;
        }
    };
    let error = reply.challenge_param("error");
    match (reply.status, error.as_deref()) {
        (401, Some("invalid_token")) => {
            list.push(Item::pass("Bearer garbage: 401 invalid_token"));
        }
        (status, _) if (200..300).contains(&status) => list.push(Item::fail(
            format!("Bearer garbage: got {status}, expected 401 invalid_token"),
            MIDDLEWARE_FIX,
        )),
        (401, _) => list.push(Item::fail(
            format!(
                "Bearer garbage: 401 without error=\"invalid_token\" (WWW-Authenticate: {})",
                reply.www_authenticate.as_deref().unwrap_or("absent")
            ),
            "answer an invalid token with WWW-Authenticate: Bearer error=\"invalid_token\" (RFC 6750 §3.1) so clients refresh or log in again",
        )),
        _ => list.push(Item::fail(
            format!(
                "Bearer garbage: got {}, expected 401 invalid_token",
                reply.summary()
            ),
            "an unverifiable token must get 401 invalid_token",
        )),
    }
}

/// Steps 6 to 8.
async fn with_token(prober: &Prober, options: &CheckOptions, token: &str, list: &mut Checklist) {
    let url = options.server_url.as_str();
    let reply = match prober
        .post(url, &probe::initialize(3), Some(token), None)
        .await
    {
        Ok(reply) => reply,
        Err(error) => {
            list.push(Item::fail(
                format!("token: {error}"),
                "check that the server is reachable",
            ));
            return;
        }
    };
    if reply.status != 200 {
        list.push(Item::fail(
            format!("token: initialize got {}", reply.summary()),
            format!(
                "run `authsec token inspect <token> --resource {url} --issuer <issuer>` to see which claim is wrong"
            ),
        ));
        return;
    }
    list.push(Item::pass("token: accepted (initialize 200)"));
    let session = reply.session_id.clone();
    let session = session.as_deref();
    // The handshake's second half; its answer does not matter.
    let _ = prober
        .post(url, &probe::initialized(), Some(token), session)
        .await;
    let listed = match prober
        .post(url, &probe::tools_list(4), Some(token), session)
        .await
    {
        Ok(reply) if reply.status == 200 => match probe::listed_tools(&reply) {
            Some(tools) => tools,
            None => {
                list.push(Item::fail(
                    "tools/list: the answer has no result.tools",
                    "the MCP endpoint should answer tools/list with a JSON-RPC result",
                ));
                return;
            }
        },
        Ok(reply) => {
            list.push(Item::fail(
                format!("tools/list: got {}", reply.summary()),
                "a token that may initialize should be able to list tools",
            ));
            return;
        }
        Err(error) => {
            list.push(Item::fail(
                format!("tools/list: {error}"),
                "check that the server is reachable",
            ));
            return;
        }
    };
    let names: Vec<&str> = listed.iter().map(|(name, _)| name.as_str()).collect();
    list.push(Item::pass(format!(
        "tools/list: {} tool(s) listed for this token: {}",
        names.len(),
        names.join(", ")
    )));
    for name in &names {
        list.push(listed_tool_is_callable(prober, options, token, session, name).await);
    }
    let Some(manifest) = &options.manifest else {
        list.push(Item::skip(
            "a tool outside the token's scopes gets 403 with scope",
            "pass --manifest FILE to name the tools and their scopes",
        ));
        return;
    };
    let granted = token::decode(token).map(|d| d.scopes()).ok();
    let Some(granted) = granted else {
        list.push(Item::skip(
            "a tool outside the token's scopes gets 403 with scope",
            "the token is not a JWT, so its scopes are unknown here",
        ));
        return;
    };
    let outside: Vec<(&str, &authsec_core::ToolRule)> = manifest
        .tools()
        .filter(|(_, rule)| !rule.is_satisfied_by(&granted))
        .collect();
    if outside.is_empty() {
        list.push(Item::skip(
            "a tool outside the token's scopes gets 403 with scope",
            "the token's scopes cover every tool of the manifest; use a token with fewer scopes",
        ));
    }
    for (tool, rule) in outside {
        list.push(outside_tool_is_refused(prober, url, token, session, tool, rule, &names).await);
    }
}

/// Step 7 for one listed tool.
async fn listed_tool_is_callable(
    prober: &Prober,
    options: &CheckOptions,
    token: &str,
    session: Option<&str>,
    tool: &str,
) -> Item {
    if let Some(manifest) = &options.manifest
        && manifest.rule_for(tool).is_none()
    {
        return Item::fail(
            format!("{tool}: listed, but the manifest has no scope mapping for it"),
            format!(
                "add [tools.{tool}] scopes = [\"...\"] to the manifest (until then every call is denied), or stop offering the tool"
            ),
        );
    }
    let reply = match prober
        .post(
            &options.server_url,
            &probe::probe_call(tool),
            Some(token),
            session,
        )
        .await
    {
        Ok(reply) => reply,
        Err(error) => {
            return Item::fail(format!("{tool}: {error}"), "check the server is reachable");
        }
    };
    match reply.status {
        200..=299 => Item::pass(format!("{tool}: listed and callable with this token")),
        403 if reply.challenge_param("error").as_deref() == Some("insufficient_scope") => {
            Item::fail(
                format!(
                    "{tool}: listed, but this token cannot call it (403 insufficient_scope, needs scope=\"{}\"): tools/list is not filtered",
                    reply.challenge_param("scope").unwrap_or_default()
                ),
                "filter tools/list by the caller's scopes: authsec does when the layer sees the JSON-RPC body (keep Protection::filter_tools_list on; no route may bypass the layer)",
            )
        }
        403 => Item::fail(
            format!(
                "{tool}: listed, but every call is refused ({})",
                reply.summary()
            ),
            format!(
                "a tool with no scope mapping is denied: add [tools.{tool}] scopes = [\"...\"] to the server's manifest, or stop offering it"
            ),
        ),
        _ => Item::fail(
            format!("{tool}: listed, but a call got {}", reply.summary()),
            "a listed tool should be callable with the token that listed it",
        ),
    }
}

/// Step 8 for one tool the token's scopes do not cover.
async fn outside_tool_is_refused(
    prober: &Prober,
    url: &str,
    token: &str,
    session: Option<&str>,
    tool: &str,
    rule: &authsec_core::ToolRule,
    listed: &[&str],
) -> Item {
    let needs = rule.scopes.join(" ");
    let reply = match prober
        .post(url, &probe::probe_call(tool), Some(token), session)
        .await
    {
        Ok(reply) => reply,
        Err(error) => {
            return Item::fail(format!("{tool}: {error}"), "check the server is reachable");
        }
    };
    let error = reply.challenge_param("error");
    let scope = reply.challenge_param("scope").unwrap_or_default();
    let challenged: Vec<&str> = scope.split(' ').collect();
    let names_needs = rule.scopes.iter().all(|s| challenged.contains(&s.as_str()));
    let hidden = if listed.contains(&tool) {
        " (and tools/list shows it: it is not filtered)"
    } else {
        ""
    };
    match (reply.status, error.as_deref()) {
        (403, Some("insufficient_scope")) if names_needs => Item::pass(format!(
            "{tool}: outside the token's scopes, refused with 403 insufficient_scope scope=\"{scope}\"{hidden}"
        )),
        (403, Some("insufficient_scope")) => Item::fail(
            format!(
                "{tool}: 403 insufficient_scope, but scope=\"{scope}\" does not name what it needs ({needs})"
            ),
            "the challenge's scope must include the tool's required scopes so clients can ask for them",
        ),
        (status, _) if (200..300).contains(&status) => Item::fail(
            format!(
                "{tool}: needs {needs}, which the token lacks, yet a call was let through ({status})"
            ),
            format!(
                "the server does not enforce scopes for {tool}: map it with scopes = [\"{}\"] in the server's manifest",
                rule.scopes.join("\", \"")
            ),
        ),
        _ => Item::fail(
            format!(
                "{tool}: needs {needs}; got {}, expected 403 insufficient_scope",
                reply.summary()
            ),
            "a call without the tool's scopes should get 403 with WWW-Authenticate: Bearer error=\"insufficient_scope\", scope=\"...\"",
        ),
    }
}
