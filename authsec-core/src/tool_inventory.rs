//! The tools an MCP server offers, read from the server itself with a synthetic client
//! handshake: `initialize`, `notifications/initialized`, then `tools/list` page by page.
//!
//! The server is reached through [`McpTransport`], implemented by the adapters for the
//! *unwrapped* service (called in process, before any authsec middleware, so no token is
//! needed). Each POST sends `Accept: application/json, text/event-stream` and, after the
//! handshake, the negotiated `MCP-Protocol-Version` and the `Mcp-Session-Id` if one was given;
//! replies may be JSON or an SSE stream.
//!
//! ```
//! use authsec_core::tool_inventory::{McpPost, McpReply, McpTransport, list_tools};
//!
//! /// A stateless server that knows one tool.
//! struct OneTool;
//!
//! #[async_trait::async_trait]
//! impl McpTransport for OneTool {
//!     async fn post(&self, request: McpPost) -> Result<McpReply, String> {
//!         let message: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
//!         let result = match message["method"].as_str() {
//!             Some("tools/list") => serde_json::json!({"tools": [{"name": "echo", "inputSchema": {"type": "object"}}]}),
//!             Some("initialize") => serde_json::json!({"protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": {"name": "x", "version": "1"}}),
//!             _ => return Ok(McpReply::new(202, Vec::new())),
//!         };
//!         let reply = serde_json::json!({"jsonrpc": "2.0", "id": message["id"], "result": result});
//!         Ok(McpReply::new(200, reply.to_string().into_bytes()).content_type("application/json"))
//!     }
//! }
//!
//! # tokio_test_block_on(async {
//! let tools = list_tools(&OneTool).await.unwrap();
//! assert_eq!(tools[0].name, "echo");
//! assert_eq!(tools[0].input_schema.as_ref().unwrap().get(), r#"{"type":"object"}"#);
//! # });
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

/// The protocol version the handshake asks for: the newest that still has `initialize`.
pub const HANDSHAKE_PROTOCOL_VERSION: &str = "2025-11-25";

/// The `Accept` header of every handshake POST.
pub const HANDSHAKE_ACCEPT: &str = "application/json, text/event-stream";

/// `clientInfo` of the handshake (the family's name).
pub const HANDSHAKE_CLIENT_NAME: &str = "authsec-manifest-publisher";

/// At most this many `tools/list` pages are read.
pub const MAX_PAGES: usize = 100;

/// One POST of the handshake, to the MCP endpoint.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct McpPost {
    /// The JSON-RPC message (`Content-Type: application/json`).
    pub body: Vec<u8>,
    /// `Mcp-Session-Id`, once the server gave one.
    pub session_id: Option<String>,
    /// `MCP-Protocol-Version`, after `initialize`.
    pub protocol_version: Option<String>,
}

impl McpPost {
    /// The `Accept` header to send ([`HANDSHAKE_ACCEPT`]).
    pub fn accept(&self) -> &'static str {
        HANDSHAKE_ACCEPT
    }
}

/// The server's answer to one [`McpPost`].
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct McpReply {
    /// The HTTP status.
    pub status: u16,
    /// The `Content-Type`.
    pub content_type: Option<String>,
    /// The `Mcp-Session-Id` header.
    pub session_id: Option<String>,
    /// The whole body.
    pub body: Vec<u8>,
}

impl McpReply {
    /// A reply with this status and body.
    pub fn new(status: u16, body: Vec<u8>) -> Self {
        McpReply {
            status,
            body,
            ..Self::default()
        }
    }

    /// Sets the `Content-Type`.
    pub fn content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = Some(content_type.into());
        self
    }

    /// Sets the `Mcp-Session-Id`.
    pub fn session_id(mut self, session_id: impl Into<String>) -> Self {
        self.session_id = Some(session_id.into());
        self
    }
}

/// How the handshake reaches the MCP server.
#[async_trait]
pub trait McpTransport: Send + Sync {
    /// Sends one POST and reads the whole reply; `Err` for a transport failure.
    async fn post(&self, request: McpPost) -> Result<McpReply, String>;
}

/// One tool of a `tools/list` result, its JSON members kept byte for byte.
#[derive(Clone, Debug, Deserialize)]
#[non_exhaustive]
pub struct ListedTool {
    /// `name`.
    pub name: String,
    /// `title`.
    #[serde(default)]
    pub title: Option<String>,
    /// `description`.
    #[serde(default)]
    pub description: Option<String>,
    /// `inputSchema`, as sent.
    #[serde(default, rename = "inputSchema")]
    pub input_schema: Option<Box<RawValue>>,
    /// `annotations`, as sent.
    #[serde(default)]
    pub annotations: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
struct ListResult {
    #[serde(default)]
    tools: Vec<ListedTool>,
    #[serde(default, rename = "nextCursor")]
    next_cursor: Option<String>,
}

/// Runs the handshake and returns every tool, in the server's order. `initialize` may fail
/// (some servers need none); a `tools/list` that fails, answers a JSON-RPC error or a status
/// outside 2xx stops with an error saying which page.
pub async fn list_tools(transport: &dyn McpTransport) -> Result<Vec<ListedTool>, String> {
    let mut session_id = None;
    let mut protocol_version = None;
    let initialize = json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {
            "protocolVersion": HANDSHAKE_PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": HANDSHAKE_CLIENT_NAME, "version": "1.0"}
        }
    });
    if let Ok(reply) = transport.post(post(&initialize, None, None)).await {
        session_id = reply.session_id.clone();
        if let Ok(result) = response_result(&reply, 0) {
            protocol_version = result
                .get("protocolVersion")
                .and_then(Value::as_str)
                .map(str::to_owned);
        }
    }
    let protocol_version = protocol_version.or(Some(HANDSHAKE_PROTOCOL_VERSION.to_owned()));
    let initialized =
        json!({"jsonrpc": "2.0", "method": "notifications/initialized", "params": {}});
    let _ = transport
        .post(post(
            &initialized,
            session_id.clone(),
            protocol_version.clone(),
        ))
        .await;

    let mut tools = Vec::new();
    let mut cursor: Option<String> = None;
    for page in 1..=MAX_PAGES {
        let params = match &cursor {
            Some(cursor) => json!({"cursor": cursor}),
            None => json!({}),
        };
        let list = json!({"jsonrpc": "2.0", "id": page, "method": "tools/list", "params": params});
        let reply = transport
            .post(post(&list, session_id.clone(), protocol_version.clone()))
            .await
            .map_err(|e| format!("tools/list page {page}: {e}"))?;
        let result = response_result(&reply, page as u64)
            .map_err(|e| format!("tools/list page {page}: {e}"))?;
        let result: ListResult = serde_json::from_value(result)
            .map_err(|e| format!("tools/list page {page}: not a tools/list result: {e}"))?;
        tools.extend(result.tools);
        match result.next_cursor.filter(|c| !c.is_empty()) {
            Some(next) => cursor = Some(next),
            None => return Ok(tools),
        }
    }
    Err(format!(
        "tools/list still had a nextCursor after {MAX_PAGES} pages"
    ))
}

fn post(message: &Value, session_id: Option<String>, protocol_version: Option<String>) -> McpPost {
    McpPost {
        body: message.to_string().into_bytes(),
        session_id,
        protocol_version,
    }
}

/// The `result` of the JSON-RPC response with `id` in a JSON or SSE reply.
fn response_result(reply: &McpReply, id: u64) -> Result<Value, String> {
    if !(200..300).contains(&reply.status) {
        return Err(format!("the server answered HTTP {}", reply.status));
    }
    let text = std::str::from_utf8(&reply.body).map_err(|_| "the reply is not UTF-8".to_owned())?;
    let is_sse = reply.content_type.as_deref().is_some_and(|c| {
        c.trim()
            .to_ascii_lowercase()
            .starts_with("text/event-stream")
    });
    let messages: Vec<Value> = if is_sse {
        sse_data(text)
            .iter()
            .filter_map(|data| serde_json::from_str(data).ok())
            .collect()
    } else {
        vec![serde_json::from_str(text).map_err(|e| format!("the reply is not JSON: {e}"))?]
    };
    let response = messages
        .into_iter()
        .flat_map(|m| match m {
            Value::Array(batch) => batch,
            single => vec![single],
        })
        .find(|m| m.get("id").and_then(Value::as_u64) == Some(id))
        .ok_or_else(|| format!("the reply holds no response with id {id}"))?;
    if let Some(error) = response.get("error") {
        let message = error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("")
            .chars()
            .take(200)
            .collect::<String>();
        return Err(format!("the server answered a JSON-RPC error: {message}"));
    }
    response
        .get("result")
        .cloned()
        .ok_or_else(|| "the response has no result".to_owned())
}

/// The `data` of each SSE event (multi-line data joined with `\n`).
fn sse_data(text: &str) -> Vec<String> {
    let mut events = Vec::new();
    let mut data: Option<String> = None;
    for line in text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)) {
        if line.is_empty() {
            events.extend(data.take());
        } else if let Some(value) = line.strip_prefix("data:") {
            let value = value.strip_prefix(' ').unwrap_or(value);
            match &mut data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => data = Some(value.to_owned()),
            }
        }
    }
    events.extend(data);
    events
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A stateful server answering in SSE, paging its tools two by two, recording requests.
    #[derive(Default)]
    struct Paged {
        seen: Mutex<Vec<McpPost>>,
    }

    #[async_trait]
    impl McpTransport for Paged {
        async fn post(&self, request: McpPost) -> Result<McpReply, String> {
            self.seen.lock().unwrap().push(request.clone());
            let message: Value = serde_json::from_slice(&request.body).unwrap();
            let id = message["id"].clone();
            let result = match message["method"].as_str().unwrap() {
                "initialize" => json!({"protocolVersion": "2025-06-18"}),
                "tools/list" => match message["params"]["cursor"].as_str() {
                    None => json!({"tools": [{"name": "a"}, {"name": "b"}], "nextCursor": "p2"}),
                    Some("p2") => json!({"tools": [{"name": "c", "title": "C"}], "nextCursor": ""}),
                    Some(_) => return Ok(McpReply::new(400, Vec::new())),
                },
                _ => return Ok(McpReply::new(202, Vec::new())),
            };
            let event = json!({"jsonrpc": "2.0", "id": id, "result": result});
            let body = format!("id: 1\ndata:\n\nevent: message\ndata: {event}\n\n");
            Ok(McpReply::new(200, body.into_bytes())
                .content_type("text/event-stream")
                .session_id("s-1"))
        }
    }

    #[tokio::test]
    async fn the_handshake_pages_through_sse_replies_with_the_session() {
        let server = Paged::default();
        let tools = list_tools(&server).await.unwrap();
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(tools[2].title.as_deref(), Some("C"));
        let seen = server.seen.lock().unwrap();
        let methods: Vec<String> = seen
            .iter()
            .map(|p| {
                let m: Value = serde_json::from_slice(&p.body).unwrap();
                format!("{} {}", m["method"].as_str().unwrap(), m["id"])
            })
            .collect();
        assert_eq!(
            methods,
            [
                "initialize 0",
                "notifications/initialized null",
                "tools/list 1",
                "tools/list 2"
            ]
        );
        assert_eq!(seen[0].session_id, None);
        assert_eq!(seen[0].protocol_version, None);
        assert!(
            seen[1..]
                .iter()
                .all(|p| p.session_id.as_deref() == Some("s-1")
                    && p.protocol_version.as_deref() == Some("2025-06-18"))
        );
        let first: Value = serde_json::from_slice(&seen[0].body).unwrap();
        assert_eq!(first["params"]["protocolVersion"], "2025-11-25");
        assert_eq!(
            first["params"]["clientInfo"]["name"],
            "authsec-manifest-publisher"
        );
    }

    struct Failing(u16, &'static str);

    #[async_trait]
    impl McpTransport for Failing {
        async fn post(&self, request: McpPost) -> Result<McpReply, String> {
            let message: Value = serde_json::from_slice(&request.body).unwrap();
            let body = self.1.replace("ID", &message["id"].to_string());
            Ok(McpReply::new(self.0, body.into_bytes()).content_type("application/json"))
        }
    }

    #[tokio::test]
    async fn errors_and_bad_statuses_stop_the_enumeration() {
        let err = list_tools(&Failing(500, "{}")).await.unwrap_err();
        assert_eq!(err, "tools/list page 1: the server answered HTTP 500");
        let err = list_tools(&Failing(
            200,
            r#"{"jsonrpc":"2.0","id":ID,"error":{"code":-32601,"message":"no tools"}}"#,
        ))
        .await
        .unwrap_err();
        assert_eq!(
            err,
            "tools/list page 1: the server answered a JSON-RPC error: no tools"
        );
        let err = list_tools(&Failing(200, "not json")).await.unwrap_err();
        assert!(
            err.starts_with("tools/list page 1: the reply is not JSON"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn an_endless_cursor_stops_after_a_hundred_pages() {
        let endless = Failing(
            200,
            r#"{"jsonrpc":"2.0","id":ID,"result":{"tools":[],"nextCursor":"again"}}"#,
        );
        assert_eq!(
            list_tools(&endless).await.unwrap_err(),
            "tools/list still had a nextCursor after 100 pages"
        );
    }
}
