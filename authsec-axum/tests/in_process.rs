//! `InProcessMcp`: the synthetic `tools/list` handshake against an rmcp Streamable HTTP service
//! called in process (no socket, no token), in both of rmcp's modes (stateful SSE replies and
//! stateless JSON replies), with rmcp's Host check on.

use std::sync::Arc;

use authsec_axum::InProcessMcp;
use authsec_core::tool_inventory::list_tools;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, ServerHandler, schemars, tool, tool_handler, tool_router};

#[derive(Clone)]
struct Echo {
    #[allow(dead_code)] // read by the tool_handler macro
    tool_router: ToolRouter<Self>,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct Say {
    /// What to say.
    words: String,
}

#[tool_router]
impl Echo {
    fn new() -> Self {
        Echo {
            tool_router: Self::tool_router(),
        }
    }

    #[tool(description = "Say it back")]
    async fn echo(
        &self,
        Parameters(Say { words }): Parameters<Say>,
    ) -> Result<CallToolResult, ErrorData> {
        Ok(CallToolResult::success(vec![ContentBlock::text(words)]))
    }

    #[tool(description = "Is it up", annotations(read_only_hint = true))]
    async fn health(&self) -> Result<CallToolResult, ErrorData> {
        Ok(CallToolResult::success(vec![ContentBlock::text("ok")]))
    }
}

#[tool_handler]
impl ServerHandler for Echo {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

fn router(json: bool) -> axum::Router {
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(["mcp.example.com"])
        .with_legacy_session_mode(!json)
        .with_json_response(json);
    let service = StreamableHttpService::new(
        || Ok(Echo::new()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    axum::Router::new().nest_service("/mcp", service)
}

#[tokio::test]
async fn the_unwrapped_service_lists_its_tools_in_process_in_both_modes() {
    for json in [false, true] {
        let transport = InProcessMcp::new(router(json), "/mcp").host("mcp.example.com");
        let tools = list_tools(&transport).await.expect("tools/list");
        let summary: Vec<(String, Option<String>, String, Option<String>)> = tools
            .into_iter()
            .map(|t| {
                (
                    t.name,
                    t.description,
                    t.input_schema
                        .map(|s| s.get().to_owned())
                        .unwrap_or_default(),
                    t.annotations.map(|a| a.get().to_owned()),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "echo".to_owned(),
                    Some("Say it back".to_owned()),
                    r#"{"$schema":"https://json-schema.org/draft/2020-12/schema","properties":{"words":{"description":"What to say.","type":"string"}},"required":["words"],"type":"object"}"#.to_owned(),
                    None
                ),
                (
                    "health".to_owned(),
                    Some("Is it up".to_owned()),
                    r#"{"properties":{},"type":"object"}"#.to_owned(),
                    Some(r#"{"readOnlyHint":true}"#.to_owned())
                ),
            ],
            "json={json}"
        );
    }
}

#[tokio::test]
async fn a_host_the_service_refuses_is_an_error_not_a_hang() {
    let transport = InProcessMcp::new(router(true), "/mcp").host("evil.example");
    let err = list_tools(&transport).await.unwrap_err();
    assert!(
        err.starts_with("tools/list page 1: the server answered HTTP 403"),
        "{err}"
    );
}
