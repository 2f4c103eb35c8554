//! The rmcp contenders: a real MCP server, rmcp's Streamable HTTP service with one tool
//! (`add_note`, the tool of [`TOOLS_CALL_BODY`](crate::fixture::TOOLS_CALL_BODY)), served over
//! loopback by axum or by actix-web (through `authsec_actix::rmcp::serve`), unprotected or
//! behind authsec. The other contenders protect a handler that answers with a fixed body, the
//! worst case for a ratio to the unprotected server; these measure what authsec costs the
//! server an MCP author deploys.
//!
//! | contender | what protects the rmcp server |
//! |---|---|
//! | `rmcp_unprotected` | nothing: the axum rmcp baseline |
//! | `rmcp_authsec` | [`AuthsecLayer::wrap`] around the `Router`, warm token (cached) |
//! | `rmcp_actix_unprotected` | nothing: the actix-web rmcp baseline |
//! | `rmcp_actix_authsec` | [`authsec_actix::Authsec`] with `App::wrap`, warm token (cached) |
//!
//! rmcp runs statelessly with JSON responses (the 2026-07-28 protocol's shape, no session):
//! each `POST` is parsed, routed to the tool and answered by rmcp itself. Loopback only.

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::web::{self, Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};
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
use crate::{actix, load};

/// An rmcp contender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RmcpContender {
    /// No protection.
    Unprotected,
    /// authsec wrapped around the whole `Router`, verified-token cache on.
    AuthsecWrapped,
    /// No protection, on actix-web.
    ActixUnprotected,
    /// authsec-actix, verified-token cache on.
    ActixAuthsec,
}

impl RmcpContender {
    /// Every rmcp contender, baseline first.
    pub const ALL: [RmcpContender; 4] = [
        RmcpContender::Unprotected,
        RmcpContender::AuthsecWrapped,
        RmcpContender::ActixUnprotected,
        RmcpContender::ActixAuthsec,
    ];

    /// A short identifier (result files), distinct from the other contenders'.
    pub fn id(self) -> &'static str {
        match self {
            RmcpContender::Unprotected => "rmcp_unprotected",
            RmcpContender::AuthsecWrapped => "rmcp_authsec",
            RmcpContender::ActixUnprotected => "rmcp_actix_unprotected",
            RmcpContender::ActixAuthsec => "rmcp_actix_authsec",
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

/// rmcp's service for the bench tools: stateless, JSON answers.
type BenchMcp = StreamableHttpService<BenchTools, LocalSessionManager>;

fn mcp_service() -> BenchMcp {
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true);
    StreamableHttpService::new(
        || Ok(BenchTools::new()),
        Arc::new(LocalSessionManager::default()),
        config,
    )
}

/// The actix-web handler: rmcp's answer through `authsec_actix::rmcp::serve`.
async fn actix_mcp(request: HttpRequest, body: Bytes, mcp: Data<BenchMcp>) -> HttpResponse {
    authsec_actix::rmcp::serve(&mcp, &request, body).await
}

/// The rmcp server at `/mcp` of an actix-web app (one service per worker).
fn actix_routes(config: &mut web::ServiceConfig) {
    config
        .app_data(Data::new(mcp_service()))
        .route("/mcp", web::to(actix_mcp));
}

/// Serves `contender` on an ephemeral loopback port: an axum contender on `runtime` (as
/// [`load::serve`]), an actix-web one on an `HttpServer` of its own (as [`actix::serve`]).
pub fn serve(
    contender: RmcpContender,
    fixture: &Fixture,
    runtime: &tokio::runtime::Runtime,
) -> SocketAddr {
    let axum = |served| runtime.block_on(load::serve(served));
    match contender {
        RmcpContender::Unprotected => axum(Served::Router(app())),
        RmcpContender::AuthsecWrapped => axum(Served::Wrapped(
            AuthsecLayer::new(guard(fixture, true)).wrap(app()),
        )),
        RmcpContender::ActixUnprotected => actix::serve_routes(None, actix_routes),
        RmcpContender::ActixAuthsec => {
            actix::serve_routes(Some(guard(fixture, true)), actix_routes)
        }
    }
}

/// The rmcp server at `/mcp` of an axum `Router`.
fn app() -> Router {
    Router::new().nest_service("/mcp", mcp_service())
}
