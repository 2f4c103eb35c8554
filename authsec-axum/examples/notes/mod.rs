//! The notes demo server's MCP service and configuration, shared by the axum example
//! (`authsec-axum/examples/notes-server.rs`) and the actix one
//! (`authsec-actix/examples/notes-server-actix.rs`), which include this file with `#[path]`: the
//! two servers differ only in the web framework around them.

use authsec_axum::InProcessMcp;
use authsec_config::Config;
use authsec_core::{Guard, Principal, Protection};
use authsec_jwks::control_plane::{ServerInventory, publish_in_background};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::Extension;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, ServerHandler, schemars, tool, tool_handler, tool_router};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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
    /// The protection (Guard, denial delivery) an adapter wraps.
    pub protection: Protection,
    /// The Guard, discovered from the issuer, with the notes manifest and policy.
    pub guard: Guard,
    /// The MCP service to mount at the resource path.
    pub mcp: NotesMcp,
}

pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Reads the configuration through authsec-config (`AUTHSEC_CONFIG` names an authsec.toml,
/// with the environment over it; else the `AUTHSEC_*` environment alone), fills the notes
/// defaults, discovers the authorization server and builds the protection and the MCP
/// service (Host and Origin limited to the resource's own).
pub async fn from_env() -> Result<NotesApp, Box<dyn std::error::Error>> {
    let listen = env("AUTHSEC_LISTEN").unwrap_or_else(|| "127.0.0.1:8811".to_owned());
    let mut config = match env("AUTHSEC_CONFIG") {
        Some(path) => Config::load(path)?,
        None => {
            let mut config = Config::from_env()?;
            // The notes default: ask the introspection endpoint on every request.
            if env("AUTHSEC_INTROSPECTION_CACHE_SECONDS").is_none() {
                config.cache.introspection_ttl_seconds = 0;
            }
            config
        }
    };
    if config.issuer.trim().is_empty() {
        return Err("AUTHSEC_ISSUER is not set: give the authorization server's issuer URL".into());
    }
    if config.resource.trim().is_empty() {
        config.resource = format!("http://{listen}/mcp");
    }
    if config.policy.is_none() && config.policy_file.is_none() && config.tool_scopes.is_none() {
        config.set_policy_toml(POLICY)?;
    }
    if config.initial_scopes.is_empty() {
        config.initial_scopes = vec!["notes:read".to_owned()];
    }
    if config.resource_name.is_none() {
        config.resource_name = Some("authsec notes demo".to_owned());
    }
    let protection = config.build().await?;
    let guard = protection.guard().clone();
    let resource = config.resource.clone();

    let resource_url = url::Url::parse(&resource)?;
    let host = resource_url.host_str().unwrap_or("127.0.0.1").to_owned();
    let authority = match resource_url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.clone(),
    };
    let origin = resource_url.origin().ascii_serialization();
    let json = env("AUTHSEC_NOTES_JSON_RESPONSE").is_some_and(|v| v == "1");
    let publish_host = authority.clone();
    let config_http = StreamableHttpServerConfig::default()
        .with_allowed_hosts([host, authority])
        .with_allowed_origins([origin])
        .with_legacy_session_mode(!json)
        .with_json_response(json);
    let store = Arc::new(Mutex::new(HashMap::new()));
    let mcp = StreamableHttpService::new(
        move || Ok(Notes::new(store.clone())),
        Arc::new(LocalSessionManager::default()),
        config_http,
    );

    // AUTHSEC_PUBLISH_MANIFEST: the tools this server offers, read in process from the
    // unwrapped MCP service (no token, no socket), published once in the background; the
    // outcome is logged and never stops the server (the AuthSec family's behaviour).
    if config.publish_manifest
        && let Some(control_plane) = config.control_plane()?
    {
        let transport =
            InProcessMcp::new(mcp.clone(), resource_url.path()).host(publish_host.as_str());
        drop(publish_in_background(
            control_plane,
            Arc::new(ServerInventory(transport)),
            config.tool_scope_suggestions.clone().unwrap_or_default(),
        ));
    }

    Ok(NotesApp {
        listen,
        issuer_url: config.issuer.clone(),
        protection,
        guard,
        mcp,
    })
}
