//! The HTTP side of the probes: JSON-RPC POSTs to an MCP endpoint as a client would send them,
//! with the reply read as JSON or as an SSE stream, and plain GETs of JSON documents.

use std::time::Duration;

use authsec_client::challenge::{Challenge, parse_www_authenticate};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use serde_json::{Value, json};

/// The MCP protocol version the probes speak.
pub const PROTOCOL_VERSION: &str = "2025-06-18";

/// Bound on a reply body read by a probe.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// One answer to a probe.
#[derive(Clone, Debug)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The `WWW-Authenticate` header, if any.
    pub www_authenticate: Option<String>,
    /// The `Mcp-Session-Id` header, if any.
    pub session_id: Option<String>,
    /// The JSON body, or the JSON-RPC message of the first SSE event that has one.
    pub json: Option<Value>,
}

impl Reply {
    /// The params of the `Bearer` challenge, if there is one.
    pub fn bearer(&self) -> Option<Challenge> {
        let header = self.www_authenticate.as_deref()?;
        parse_www_authenticate(header)
            .ok()?
            .into_iter()
            .find(Challenge::is_bearer)
    }

    /// One param of the `Bearer` challenge.
    pub fn challenge_param(&self, name: &str) -> Option<String> {
        self.bearer()?.param(name).map(str::to_owned)
    }

    /// The `denial` (else `error`) member of a JSON denial body.
    pub fn denial_label(&self) -> Option<&str> {
        let json = self.json.as_ref()?;
        json.get("denial")
            .or_else(|| json.get("error"))
            .and_then(Value::as_str)
    }

    /// The `error_description` of a JSON denial body.
    pub fn description(&self) -> Option<&str> {
        self.json.as_ref()?.get("error_description")?.as_str()
    }

    /// `401 invalid_token: the token is expired`-style summary.
    pub fn summary(&self) -> String {
        let mut out = self.status.to_string();
        if let Some(label) = self.denial_label() {
            out.push(' ');
            out.push_str(label);
        }
        if let Some(description) = self.description() {
            out.push_str(": ");
            out.push_str(description);
        }
        out
    }
}

/// A probing client: no redirects followed, bounded time per request.
#[derive(Clone, Debug)]
pub struct Prober {
    http: reqwest::Client,
}

impl Prober {
    /// A client with a `timeout` per request.
    pub fn new(timeout: Duration) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Prober { http })
    }

    /// POSTs one JSON-RPC message to `url` as an MCP client does.
    pub async fn post(
        &self,
        url: &str,
        message: &Value,
        token: Option<&str>,
        session_id: Option<&str>,
    ) -> Result<Reply, String> {
        let mut request = self
            .http
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json, text/event-stream")
            .header("mcp-protocol-version", PROTOCOL_VERSION)
            .body(message.to_string());
        if let Some(token) = token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(session_id) = session_id {
            request = request.header("mcp-session-id", session_id);
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("POST {url} failed: {}", error_chain(&e)))?;
        let status = response.status().as_u16();
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let www_authenticate = header(WWW_AUTHENTICATE.as_str());
        let session_id = header("mcp-session-id");
        let is_sse = header(CONTENT_TYPE.as_str()).is_some_and(|ct| {
            ct.trim()
                .to_ascii_lowercase()
                .starts_with("text/event-stream")
        });
        let json = if is_sse {
            first_sse_message(response).await
        } else {
            read_bounded(response)
                .await
                .and_then(|body| serde_json::from_slice(&body).ok())
        };
        Ok(Reply {
            status,
            www_authenticate,
            session_id,
            json,
        })
    }

    /// GETs a JSON document: its status and body (`None` when not JSON).
    pub async fn get_json(&self, url: &str) -> Result<(u16, Option<Value>), String> {
        let response = self
            .http
            .get(url)
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("GET {url} failed: {}", error_chain(&e)))?;
        let status = response.status().as_u16();
        let json = read_bounded(response)
            .await
            .and_then(|body| serde_json::from_slice(&body).ok());
        Ok((status, json))
    }

    /// GETs a document's raw bytes (for parsers that want them).
    pub async fn get_bytes(&self, url: &str) -> Result<(u16, Vec<u8>), String> {
        let response = self
            .http
            .get(url)
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("GET {url} failed: {}", error_chain(&e)))?;
        let status = response.status().as_u16();
        Ok((status, read_bounded(response).await.unwrap_or_default()))
    }
}

/// An `initialize` request.
pub fn initialize(id: u64) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": "initialize",
        "params": {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "authsec-cli", "version": env!("CARGO_PKG_VERSION")}
        }
    })
}

/// The `notifications/initialized` notification.
pub fn initialized() -> Value {
    json!({"jsonrpc": "2.0", "method": "notifications/initialized"})
}

/// A `tools/list` request.
pub fn tools_list(id: u64) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/list"})
}

/// A `tools/call` of `tool` sent as a notification (no `id`): the authorization layer checks
/// it exactly like a call, but an MCP server that receives it runs nothing (a notification
/// it does not know is ignored), so probing a tool has no side effect.
pub fn probe_call(tool: &str) -> Value {
    json!({"jsonrpc": "2.0", "method": "tools/call", "params": {"name": tool, "arguments": {}}})
}

/// The tool names of a `tools/list` result, and each tool's entry.
pub fn listed_tools(reply: &Reply) -> Option<Vec<(String, Value)>> {
    let tools = reply
        .json
        .as_ref()?
        .get("result")?
        .get("tools")?
        .as_array()?;
    Some(
        tools
            .iter()
            .filter_map(|tool| Some((tool.get("name")?.as_str()?.to_owned(), tool.clone())))
            .collect(),
    )
}

async fn read_bounded(mut response: reqwest::Response) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_BODY_BYTES {
            return None;
        }
    }
    Some(body)
}

/// Reads an SSE stream until an event whose data is a JSON-RPC response (has `result` or
/// `error`); streams may stay open after it, so reading stops there.
async fn first_sse_message(mut response: reqwest::Response) -> Option<Value> {
    let mut buffer = String::new();
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            let data: Vec<&str> = event
                .lines()
                .filter_map(|line| line.strip_prefix("data:"))
                .map(|d| d.strip_prefix(' ').unwrap_or(d))
                .collect();
            if let Ok(value) = serde_json::from_str::<Value>(&data.join("\n"))
                && (value.get("result").is_some() || value.get("error").is_some())
            {
                return Some(value);
            }
        }
        match response.chunk().await {
            Ok(Some(chunk)) => {
                buffer.push_str(&String::from_utf8_lossy(&chunk).replace("\r\n", "\n"));
                if buffer.len() > MAX_BODY_BYTES {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

/// An error with its sources, which is where reqwest says what went wrong.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}
