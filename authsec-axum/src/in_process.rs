//! The unwrapped MCP service, called in process: how the tool inventory is read for manifest
//! publishing without a token and without the network.

use std::fmt::Display;

use async_trait::async_trait;
use authsec_core::adapter::headers::MCP_SESSION_ID;
use authsec_core::tool_inventory::{McpPost, McpReply, McpTransport};
use axum::body::Body;
use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE, HOST};
use http::{HeaderValue, Method, Request, Response};
use http_body_util::BodyExt;
use tower_service::Service;

/// Bound on one reply read from the service: 16 MiB.
const MAX_REPLY_BYTES: usize = 16 * 1024 * 1024;

/// An MCP service (e.g. rmcp's `StreamableHttpService`, or the router that mounts it) called in
/// process, *before* any [`AuthsecLayer`](crate::AuthsecLayer), as an
/// [`McpTransport`] for the synthetic `tools/list` handshake.
///
/// ```
/// # async fn demo(mcp: axum::Router) {
/// use authsec_axum::InProcessMcp;
/// use authsec_core::tool_inventory::list_tools;
///
/// // `mcp` is the unwrapped service; `Host` is set to the resource's authority, since rmcp
/// // checks it against its allowed hosts.
/// let transport = InProcessMcp::new(mcp, "/mcp").host("mcp.example.com");
/// let tools = list_tools(&transport).await;
/// # let _ = tools;
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct InProcessMcp<S> {
    service: S,
    path: String,
    host: Option<String>,
}

impl<S> InProcessMcp<S> {
    /// `service` answering MCP POSTs at `path`.
    pub fn new(service: S, path: impl Into<String>) -> Self {
        InProcessMcp {
            service,
            path: path.into(),
            host: None,
        }
    }

    /// The `Host` header to send (the resource's authority, e.g. `127.0.0.1:8811`).
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }
}

#[async_trait]
impl<S, B> McpTransport for InProcessMcp<S>
where
    S: Service<Request<Body>, Response = Response<B>> + Clone + Send + Sync + 'static,
    S::Error: Display,
    S::Future: Send,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    async fn post(&self, request: McpPost) -> Result<McpReply, String> {
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri(self.path.as_str())
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, request.accept());
        if let Some(host) = &self.host {
            builder = builder.header(HOST, host.as_str());
        }
        if let Some(session) = &request.session_id {
            builder = builder.header(MCP_SESSION_ID, session.as_str());
        }
        if let Some(version) = &request.protocol_version {
            builder = builder.header("mcp-protocol-version", version.as_str());
        }
        let http_request = builder
            .body(Body::from(request.body))
            .map_err(|e| format!("the request could not be built: {e}"))?;
        let mut service = self.service.clone();
        std::future::poll_fn(|cx| service.poll_ready(cx))
            .await
            .map_err(|e| format!("the service is not ready: {e}"))?;
        let response = service
            .call(http_request)
            .await
            .map_err(|e| format!("the service failed: {e}"))?;
        let (parts, body) = response.into_parts();
        let body = http_body_util::Limited::new(body, MAX_REPLY_BYTES)
            .collect()
            .await
            .map_err(|e| format!("the reply body could not be read: {e}"))?
            .to_bytes();
        let text =
            |value: Option<&HeaderValue>| value.and_then(|v| v.to_str().ok()).map(str::to_owned);
        let mut reply = McpReply::new(parts.status.as_u16(), body.to_vec());
        if let Some(content_type) = text(parts.headers.get(CONTENT_TYPE)) {
            reply = reply.content_type(content_type);
        }
        if let Some(session) = text(parts.headers.get(MCP_SESSION_ID)) {
            reply = reply.session_id(session);
        }
        Ok(reply)
    }
}
