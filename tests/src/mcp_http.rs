//! A minimal MCP Streamable HTTP client for tests and the demo: raw enough to see every status,
//! header and body byte, convenient enough to run a session.

use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Value, json};

/// The protocol version the client speaks.
pub const PROTOCOL_VERSION: &str = "2025-06-18";

/// One HTTP exchange with an MCP endpoint.
#[derive(Clone, Debug)]
pub struct McpResponse {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// The raw body.
    pub body: String,
    /// The JSON-RPC messages in the body (one for JSON, each `data:` event for SSE).
    pub messages: Vec<Value>,
}

impl McpResponse {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `WWW-Authenticate`.
    pub fn www_authenticate(&self) -> Option<&str> {
        self.header("www-authenticate")
    }

    /// The body as JSON (`Value::Null` if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// The first JSON-RPC message with a `result` or `error`.
    pub fn response(&self) -> Option<&Value> {
        self.messages
            .iter()
            .find(|m| m.get("result").is_some() || m.get("error").is_some())
    }

    /// Tool names of a tools/list result.
    pub fn tool_names(&self) -> Vec<String> {
        self.response()
            .and_then(|r| r.pointer("/result/tools"))
            .and_then(Value::as_array)
            .map(|tools| {
                tools
                    .iter()
                    .filter_map(|t| t.get("name").and_then(Value::as_str).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The text of the first content block of a tools/call result.
    pub fn tool_text(&self) -> Option<String> {
        self.response()
            .and_then(|r| r.pointer("/result/content/0/text"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    }
}

/// A session-aware MCP client over HTTP.
#[derive(Clone, Debug)]
pub struct McpHttp {
    http: reqwest::Client,
    endpoint: String,
    token: Option<String>,
    session: Option<String>,
    next_id: u64,
}

impl McpHttp {
    /// A client for `endpoint` (the MCP URL).
    pub fn new(endpoint: impl Into<String>) -> Self {
        McpHttp {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
            endpoint: endpoint.into(),
            token: None,
            session: None,
            next_id: 1,
        }
    }

    /// Sets the bearer token sent from now on.
    pub fn set_token(&mut self, token: Option<String>) {
        self.token = token;
    }

    /// The session id, once initialized.
    pub fn session(&self) -> Option<&str> {
        self.session.as_deref()
    }

    /// Uses this session id.
    pub fn set_session(&mut self, session: Option<String>) {
        self.session = session;
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// A request builder with the MCP headers, the token and the session.
    pub fn request(&self, method: reqwest::Method) -> reqwest::RequestBuilder {
        let mut request = self
            .http
            .request(method, &self.endpoint)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", PROTOCOL_VERSION);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(session) = &self.session {
            request = request.header("mcp-session-id", session);
        }
        request
    }

    /// Sends any request and reads the whole response.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> reqwest::Result<McpResponse> {
        let response = request.send().await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().await?;
        let is_sse = headers
            .get("content-type")
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("text/event-stream"));
        let messages = if is_sse {
            sse_messages(&body)
        } else {
            serde_json::from_str::<Value>(&body).into_iter().collect()
        };
        Ok(McpResponse {
            status,
            headers,
            body,
            messages,
        })
    }

    /// POSTs a JSON-RPC body.
    pub async fn post(&self, body: &Value) -> reqwest::Result<McpResponse> {
        self.send(
            self.request(reqwest::Method::POST)
                .header("content-type", "application/json")
                .body(body.to_string()),
        )
        .await
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// `initialize` then `notifications/initialized`; keeps the session id.
    pub async fn initialize(&mut self) -> reqwest::Result<McpResponse> {
        let id = self.id();
        let response = self
            .post(
                &json!({"jsonrpc":"2.0","id":id,"method":"initialize","params":{
                    "protocolVersion": PROTOCOL_VERSION,
                    "capabilities": {},
                    "clientInfo": {"name": "authsec-tests", "version": "0.1.0"}
                }}),
            )
            .await?;
        if response.status == 200 {
            self.session = response.header("mcp-session-id").map(str::to_owned);
            self.post(&json!({"jsonrpc":"2.0","method":"notifications/initialized"}))
                .await?;
        }
        Ok(response)
    }

    /// `tools/list`.
    pub async fn tools_list(&mut self) -> reqwest::Result<McpResponse> {
        let id = self.id();
        self.post(&json!({"jsonrpc":"2.0","id":id,"method":"tools/list","params":{}}))
            .await
    }

    /// `tools/call`.
    pub async fn call_tool(
        &mut self,
        name: &str,
        arguments: Value,
    ) -> reqwest::Result<McpResponse> {
        let id = self.id();
        self.post(&json!({"jsonrpc":"2.0","id":id,"method":"tools/call",
            "params":{"name": name, "arguments": arguments}}))
            .await
    }
}

/// The JSON messages of an SSE body (one per event with data).
pub fn sse_messages(body: &str) -> Vec<Value> {
    body.split("\n\n")
        .filter_map(|event| {
            let data: Vec<&str> = event
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(|d| d.strip_prefix(' ').unwrap_or(d))
                .collect();
            if data.is_empty() {
                None
            } else {
                serde_json::from_str(&data.join("\n")).ok()
            }
        })
        .collect()
}

/// The auth-params of a `WWW-Authenticate: Bearer` challenge, in order (a small parser for
/// tests; quoted strings with escapes supported).
pub fn challenge_params(header: &str) -> Vec<(String, String)> {
    let rest = header
        .trim()
        .strip_prefix("Bearer")
        .unwrap_or(header)
        .trim_start();
    let mut params = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ' ' || *c == ',') {
            chars.next();
        }
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if name.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = chars.by_ref().take_while(|c| *c != ',').collect();
        }
        params.push((name.trim().to_owned(), value));
    }
    params
}
