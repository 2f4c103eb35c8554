//! The rmcp contenders: a real MCP server, rmcp's Streamable HTTP service with one tool
//! (`add_note`, the tool of [`TOOLS_CALL_BODY`](crate::fixture::TOOLS_CALL_BODY)), served by
//! axum over loopback, unprotected or with authsec wrapped around it. The other contenders
//! protect a handler that answers with a fixed body, the worst case for a ratio to the
//! unprotected server; these measure what authsec costs the server an MCP author deploys.
//!
//! | contender | what protects the rmcp server |
//! |---|---|
//! | `rmcp_unprotected` | nothing: the rmcp baseline |
//! | `rmcp_authsec` | [`AuthsecLayer::wrap`] around the `Router`, warm token (cached) |
//!
//! rmcp runs statelessly with JSON responses (the 2026-07-28 protocol's shape, no session):
//! each `POST` is parsed, routed to the tool and answered by rmcp itself. Loopback only.

use std::sync::Arc;

use authsec_axum::AuthsecLayer;
use axum::Router;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ServerHandler, schemars, tool, tool_handler, tool_router};

use crate::contenders::{Served, guard};
use crate::fixture::Fixture;

/// An rmcp contender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RmcpContender {
    /// No protection.
    Unprotected,
    /// authsec wrapped around the whole `Router`, verified-token cache on.
    AuthsecWrapped,
}

impl RmcpContender {
    /// Every rmcp contender, baseline first.
    pub const ALL: [RmcpContender; 2] = [RmcpContender::Unprotected, RmcpContender::AuthsecWrapped];

    /// A short identifier (result files), distinct from the other contenders'.
    pub fn id(self) -> &'static str {
        match self {
            RmcpContender::Unprotected => "rmcp_unprotected",
            RmcpContender::AuthsecWrapped => "rmcp_authsec",
        }
    }
}

/// The text of the tool's answer to [`TOOLS_CALL_BODY`](crate::fixture::TOOLS_CALL_BODY): the
/// smoke check looks for it, since rmcp answers a JSON-RPC error with `200` too.
pub const TOOLS_CALL_ANSWER: &str = "added a note of 40 characters with 2 tags";

/// The bench's MCP server: one tool, which answers from its arguments alone (no state grows
/// under load).
#[derive(Clone)]
struct BenchTools {
    #[allow(dead_code)] // read by the tool_handler macro
    tool_router: ToolRouter<Self>,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct AddNote {
    /// The text of the note.
    text: String,
    /// Its tags.
    #[serde(default)]
    tags: Vec<String>,
}

#[tool_router]
impl BenchTools {
    fn new() -> Self {
        BenchTools {
            tool_router: Self::tool_router(),
        }
    }

    #[tool(description = "Add a note (needs notes:write)")]
    async fn add_note(
        &self,
        Parameters(AddNote { text, tags }): Parameters<AddNote>,
    ) -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::text(format!(
            "added a note of {} characters with {} tags",
            text.chars().count(),
            tags.len()
        ))])
    }
}

#[tool_handler]
impl ServerHandler for BenchTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

/// The rmcp server at `/mcp`.
fn app() -> Router {
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true);
    let mcp = StreamableHttpService::new(
        || Ok(BenchTools::new()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    Router::new().nest_service("/mcp", mcp)
}

/// The service of `contender`, protected (or not) with `fixture`'s key.
pub fn service(contender: RmcpContender, fixture: &Fixture) -> Served {
    match contender {
        RmcpContender::Unprotected => Served::Router(app()),
        RmcpContender::AuthsecWrapped => {
            Served::Wrapped(AuthsecLayer::new(guard(fixture, true)).wrap(app()))
        }
    }
}
