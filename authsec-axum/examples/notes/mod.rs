//! The notes demo server's MCP service and configuration, shared by the axum example
//! (`authsec-axum/examples/notes-server.rs`) and the actix one
//! (`authsec-actix/examples/notes-server.rs`), which include this file with `#[path]`: the
//! two servers differ only in the web framework around them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use authsec_core::{Guard, Principal};
use authsec_jwks::{ClientCredentials, RemoteIssuer, ValidationMode};
use authsec_policy::PolicyConfig;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::Extension;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, ServerHandler, schemars, tool, tool_handler, tool_router};

/// The tool manifest and the `fresh_mfa` step-up rule of `purge_notes`.
const POLICY: &str = include_str!("../notes-policy.toml");

#[derive(Clone)]
pub struct Notes {
    /// Notes per subject.
    store: Arc<Mutex<HashMap<String, Vec<String>>>>,
    #[allow(dead_code)] // read by the tool_handler macro
    tool_router: ToolRouter<Self>,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct AddNote {
    /// The text of the note.
    text: String,
}

fn caller(parts: &http::request::Parts) -> Result<Principal, ErrorData> {
    parts
        .extensions
        .get::<Principal>()
        .cloned()
        .ok_or_else(|| ErrorData::internal_error("no authenticated principal", None))
}

#[tool_router]
impl Notes {
    fn new(store: Arc<Mutex<HashMap<String, Vec<String>>>>) -> Self {
        Notes {
            store,
            tool_router: Self::tool_router(),
        }
    }

    #[tool(description = "List your notes (needs notes:read)")]
    async fn list_notes(
        &self,
        Extension(parts): Extension<http::request::Parts>,
    ) -> Result<CallToolResult, ErrorData> {
        let who = caller(&parts)?;
        let store = self
            .store
            .lock()
            .map_err(|_| ErrorData::internal_error("store poisoned", None))?;
        let notes = store.get(who.subject()).cloned().unwrap_or_default();
        let text = if notes.is_empty() {
            format!("{} has no notes", who.subject())
        } else {
            notes.join("\n")
        };
        Ok(CallToolResult::success(vec![ContentBlock::text(text)]))
    }

    #[tool(description = "Add a note (needs notes:write)")]
    async fn add_note(
        &self,
        Parameters(AddNote { text }): Parameters<AddNote>,
        Extension(parts): Extension<http::request::Parts>,
    ) -> Result<CallToolResult, ErrorData> {
        let who = caller(&parts)?;
        let mut store = self
            .store
            .lock()
            .map_err(|_| ErrorData::internal_error("store poisoned", None))?;
        let notes = store.entry(who.subject().to_owned()).or_default();
        notes.push(text);
        Ok(CallToolResult::success(vec![ContentBlock::text(format!(
            "added note {} for {}",
            notes.len(),
            who.subject()
        ))]))
    }

    #[tool(description = "Delete every note (needs notes:admin and a fresh MFA login)")]
    async fn purge_notes(
        &self,
        Extension(parts): Extension<http::request::Parts>,
    ) -> Result<CallToolResult, ErrorData> {
        let who = caller(&parts)?;
        let mut store = self
            .store
            .lock()
            .map_err(|_| ErrorData::internal_error("store poisoned", None))?;
        let purged: usize = store.values().map(Vec::len).sum();
        store.clear();
        Ok(CallToolResult::success(vec![ContentBlock::text(format!(
            "{} purged {purged} notes",
            who.subject()
        ))]))
    }
}

#[tool_handler]
impl ServerHandler for Notes {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_instructions("A notes server protected by authsec")
    }
}

/// rmcp's Streamable HTTP service for the notes tools.
pub type NotesMcp = StreamableHttpService<Notes, LocalSessionManager>;

/// Everything a notes server needs, read from the environment (the contract in the README).
pub struct NotesApp {
    /// `AUTHSEC_LISTEN`.
    pub listen: String,
    /// `AUTHSEC_ISSUER`.
    pub issuer_url: String,
    /// The Guard, discovered from the issuer, with the notes manifest and policy.
    pub guard: Guard,
    /// The MCP service to mount at the resource path.
    pub mcp: NotesMcp,
}

pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Reads the environment, discovers the authorization server and builds the Guard and the MCP
/// service (Host and Origin limited to the resource's own).
pub async fn from_env() -> Result<NotesApp, Box<dyn std::error::Error>> {
    let listen = env("AUTHSEC_LISTEN").unwrap_or_else(|| "127.0.0.1:8811".to_owned());
    let issuer_url = env("AUTHSEC_ISSUER")
        .ok_or("AUTHSEC_ISSUER is not set: give the authorization server's issuer URL")?;
    let resource = env("AUTHSEC_RESOURCE").unwrap_or_else(|| format!("http://{listen}/mcp"));
    let cache_seconds: u64 = match env("AUTHSEC_INTROSPECTION_CACHE_SECONDS") {
        None => 0,
        Some(v) => v.parse().map_err(|_| {
            format!("AUTHSEC_INTROSPECTION_CACHE_SECONDS={v:?} is not a number of seconds")
        })?,
    };
    let mut issuer = RemoteIssuer::builder(issuer_url.as_str());
    let credentials = match (
        env("AUTHSEC_INTROSPECTION_CLIENT_ID"),
        env("AUTHSEC_INTROSPECTION_CLIENT_SECRET"),
    ) {
        (Some(id), Some(secret)) => Some(ClientCredentials::basic(id, secret)),
        (None, None) => None,
        _ => return Err("set both AUTHSEC_INTROSPECTION_CLIENT_ID and AUTHSEC_INTROSPECTION_CLIENT_SECRET, or neither".into()),
    };
    let mode = match env("AUTHSEC_VALIDATION_MODE").as_deref() {
        None | Some("auto") => ValidationMode::Auto,
        Some("jwt_only") => ValidationMode::Jwt,
        Some("jwt_and_introspect") => ValidationMode::JwtAndIntrospection,
        Some("introspection_only") => ValidationMode::Introspection,
        Some(other) => {
            return Err(format!(
                "AUTHSEC_VALIDATION_MODE={other:?}: expected jwt_only, jwt_and_introspect, introspection_only or auto"
            )
            .into());
        }
    };
    if let Some(credentials) = credentials {
        issuer = issuer
            .introspection_credentials(credentials)
            .introspection_ttl(Duration::from_secs(cache_seconds));
    }
    let (manifest, policies) = PolicyConfig::parse_named("notes-policy.toml", POLICY)?
        .build()?
        .into_parts();
    let issuer = issuer.discover().await?;
    let guard: Guard = issuer
        .guard(&resource, mode)?
        .manifest(manifest)
        .policy(policies)
        .initial_scopes(["notes:read"])
        .resource_name("authsec notes demo")
        .build()?;

    let resource_url = url::Url::parse(&resource)?;
    let host = resource_url.host_str().unwrap_or("127.0.0.1").to_owned();
    let authority = match resource_url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.clone(),
    };
    let origin = resource_url.origin().ascii_serialization();
    let json = env("AUTHSEC_NOTES_JSON_RESPONSE").is_some_and(|v| v == "1");
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts([host, authority])
        .with_allowed_origins([origin])
        .with_legacy_session_mode(!json)
        .with_json_response(json);
    let store = Arc::new(Mutex::new(HashMap::new()));
    let mcp = StreamableHttpService::new(
        move || Ok(Notes::new(store.clone())),
        Arc::new(LocalSessionManager::default()),
        config,
    );

    Ok(NotesApp {
        listen,
        issuer_url,
        guard,
        mcp,
    })
}
