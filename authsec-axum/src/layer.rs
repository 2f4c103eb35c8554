//! The tower [`Layer`] and its [`Service`]: runs the Guard on every request to the protected
//! path, renders denials, and filters `tools/list` responses.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use authsec_core::{
    AccessRequest, Authorization, Decision, Denial, Guard, McpHeaders, Principal, classify,
    tools_list,
};
use axum::body::Body;
use axum::extract::{ConnectInfo, OriginalUri};
use bytes::Bytes;
use http::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE,
};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body::Body as HttpBody;
use http_body_util::{BodyExt, Limited};
use tower_layer::Layer;
use tower_service::Service;

use crate::sse::SseFilterBody;

/// Default bound on a POST body buffered for classification: 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// Bound on a JSON `tools/list` response buffered for filtering: 16 MiB.
const MAX_TOOLS_LIST_BYTES: usize = 16 * 1024 * 1024;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Protects a path prefix of any tower service (an axum `Router`, rmcp's
/// `StreamableHttpService`...) with a [`Guard`].
///
/// - Every request under the prefix needs a valid token, whatever its method.
/// - A POST body is buffered up to a bound, classified (JSON-RPC method, tool), and handed on
///   untouched; tool checks apply to `tools/call`.
/// - An allowed request carries the [`Principal`] in its extensions.
/// - A `tools/list` response (JSON or SSE) is filtered to the tools the caller may call.
/// - An `Mcp-Session-Id` is bound to the subject that created it.
#[derive(Clone)]
pub struct AuthsecLayer {
    shared: Arc<Shared>,
}

struct Shared {
    guard: Guard,
    prefix: String,
    max_body_bytes: usize,
    filter_tools_list: bool,
    classify_mcp: bool,
}

impl AuthsecLayer {
    /// Protects the path of the guard's resource URI (e.g. `/mcp` for
    /// `https://h/mcp`) and everything below it.
    pub fn new(guard: Guard) -> Self {
        let prefix = guard.resource().path().trim_end_matches('/').to_owned();
        AuthsecLayer {
            shared: Arc::new(Shared {
                guard,
                prefix,
                max_body_bytes: DEFAULT_MAX_BODY_BYTES,
                filter_tools_list: true,
                classify_mcp: true,
            }),
        }
    }

    fn with(self, f: impl FnOnce(&mut Shared)) -> Self {
        let mut shared = Arc::try_unwrap(self.shared).unwrap_or_else(|shared| Shared {
            guard: shared.guard.clone(),
            prefix: shared.prefix.clone(),
            max_body_bytes: shared.max_body_bytes,
            filter_tools_list: shared.filter_tools_list,
            classify_mcp: shared.classify_mcp,
        });
        f(&mut shared);
        AuthsecLayer {
            shared: Arc::new(shared),
        }
    }

    /// Protects `prefix` instead (`"/"` protects everything).
    pub fn protect_prefix(self, prefix: impl Into<String>) -> Self {
        let prefix = prefix.into().trim_end_matches('/').to_owned();
        self.with(|s| s.prefix = prefix)
    }

    /// Bound on the POST body buffered for classification (default 1 MiB); larger bodies get
    /// `413`.
    pub fn max_body_bytes(self, bytes: usize) -> Self {
        self.with(|s| s.max_body_bytes = bytes)
    }

    /// Whether `tools/list` responses are filtered (default true).
    pub fn filter_tools_list(self, on: bool) -> Self {
        self.with(|s| s.filter_tools_list = on)
    }

    /// Treats POST bodies as plain HTTP instead of MCP JSON-RPC (for protecting non-MCP APIs:
    /// no tool checks, no body buffering).
    pub fn plain_http(self) -> Self {
        self.with(|s| {
            s.classify_mcp = false;
            s.filter_tools_list = false;
        })
    }

    /// The guard.
    pub fn guard(&self) -> &Guard {
        &self.shared.guard
    }
}

impl<S> Layer<S> for AuthsecLayer {
    type Service = Authsec<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authsec {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service made by [`AuthsecLayer`].
#[derive(Clone)]
pub struct Authsec<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Authsec<S>
where
    S: Service<Request<Body>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: HttpBody<Data = Bytes> + Send + 'static,
    ReqBody::Error: Into<BoxError>,
    ResBody: HttpBody<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // The clone that was polled ready is the one that is called.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        Box::pin(async move { shared.handle(request, inner).await })
    }
}

impl Shared {
    fn protects(&self, path: &str) -> bool {
        self.prefix.is_empty()
            || path
                .strip_prefix(self.prefix.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }

    async fn handle<S, ReqBody, ResBody>(
        self: Arc<Self>,
        request: Request<ReqBody>,
        mut inner: S,
    ) -> Result<Response<Body>, S::Error>
    where
        S: Service<Request<Body>, Response = Response<ResBody>>,
        ReqBody: HttpBody<Data = Bytes> + Send + 'static,
        ReqBody::Error: Into<BoxError>,
        ResBody: HttpBody<Data = Bytes> + Send + 'static,
        ResBody::Error: Into<BoxError>,
    {
        // Behind `Router::nest_service` the URI is stripped; the original one is what we guard.
        let path = match request.extensions().get::<OriginalUri>() {
            Some(OriginalUri(uri)) => uri.path().to_owned(),
            None => request.uri().path().to_owned(),
        };
        if !self.protects(&path) {
            let response = inner.call(request.map(Body::new)).await?;
            return Ok(response.map(Body::new));
        }

        let (mut parts, body) = request.into_parts();
        // A POST is buffered for classification; other bodies are handed on unread.
        let (buffered, unread) = if parts.method == Method::POST && self.classify_mcp {
            match self.read_body(&parts.headers, body).await {
                Ok(bytes) => (Some(bytes), None),
                Err(response) => return Ok(*response),
            }
        } else {
            (None, Some(body))
        };

        let (decision, lists_tools) = {
            let mcp = match &buffered {
                Some(bytes) => match classify(bytes, mcp_headers(&parts.headers)) {
                    Ok(mcp) => Some(mcp),
                    Err(denial) => return Ok(self.deny(&denial)),
                },
                None => None,
            };
            let query = parts.uri.query();
            let authorization = Authorization::from_values(
                parts
                    .headers
                    .get_all(AUTHORIZATION)
                    .iter()
                    .map(HeaderValue::as_bytes),
            );
            let session_id = parts
                .headers
                .get("mcp-session-id")
                .and_then(|v| v.to_str().ok());
            let client_ip = parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip());
            let access = AccessRequest::new(authorization)
                .query(query)
                .mcp(mcp.as_ref())
                .session_id(session_id)
                .client_ip(client_ip);
            let decision = self.guard.check(&access).await;
            (decision, mcp.as_ref().is_some_and(|m| m.has_tools_list()))
        };

        let principal = match decision {
            Decision::Allow(principal) => principal,
            Decision::Deny(denial) => return Ok(self.deny(&denial)),
        };
        tracing::debug!(
            target: "authsec",
            subject = principal.subject(),
            token = principal.token_fingerprint(),
            path = %path,
            "request allowed"
        );
        parts.extensions.insert(principal.clone());
        let body = match (buffered, unread) {
            (Some(bytes), _) => Body::from(bytes),
            (None, Some(body)) => Body::new(body),
            (None, None) => Body::empty(),
        };
        let response = inner.call(Request::from_parts(parts, body)).await?;

        if let Some(session_id) = response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
        {
            self.guard.bind_session(session_id, &principal);
        }
        if lists_tools && self.filter_tools_list {
            return Ok(self.filter_tools_list_response(response, principal).await);
        }
        Ok(response.map(Body::new))
    }

    /// Buffers a POST body up to the bound; a larger one is refused with 413.
    async fn read_body<B>(&self, headers: &HeaderMap, body: B) -> Result<Bytes, Box<Response<Body>>>
    where
        B: HttpBody<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let too_large = || {
            let denial = Denial::invalid_request(format!(
                "the request body exceeds {} bytes",
                self.max_body_bytes
            ));
            let mut response = self.deny(&denial);
            *response.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
            Box::new(response)
        };
        let declared = headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > self.max_body_bytes as u64) {
            return Err(too_large());
        }
        match Limited::new(body, self.max_body_bytes).collect().await {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(error) if error.is::<http_body_util::LengthLimitError>() => Err(too_large()),
            Err(_) => Err(Box::new(self.deny(&Denial::invalid_request(
                "the request body could not be read",
            )))),
        }
    }

    fn deny(&self, denial: &Denial) -> Response<Body> {
        let rendered = self.guard.render(denial);
        tracing::info!(
            target: "authsec",
            denial = denial.code().as_str(),
            status = rendered.status,
            reason = denial.description(),
            "request denied"
        );
        let mut response = Response::new(Body::from(rendered.body));
        *response.status_mut() =
            StatusCode::from_u16(rendered.status).unwrap_or(StatusCode::FORBIDDEN);
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(challenge) = rendered
            .www_authenticate
            .and_then(|c| HeaderValue::from_str(&c).ok())
        {
            headers.insert(WWW_AUTHENTICATE, challenge);
        }
        if let Some(retry) = rendered
            .retry_after
            .and_then(|r| HeaderValue::from_str(&r).ok())
        {
            headers.insert(RETRY_AFTER, retry);
        }
        response
    }

    async fn filter_tools_list_response<B>(
        &self,
        response: Response<B>,
        principal: Principal,
    ) -> Response<Body>
    where
        B: HttpBody<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let guard = self.guard.clone();
        let allow = move |tool: &str| guard.may_call(&principal, tool);
        if content_type.starts_with("text/event-stream") {
            let (mut parts, body) = response.into_parts();
            parts.headers.remove(CONTENT_LENGTH);
            return Response::from_parts(parts, Body::new(SseFilterBody::new(body, allow)));
        }
        if !content_type.starts_with("application/json") {
            return response.map(Body::new);
        }
        let (mut parts, body) = response.into_parts();
        let bytes = match Limited::new(body, MAX_TOOLS_LIST_BYTES).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => {
                tracing::warn!(target: "authsec", "tools/list response could not be read for filtering");
                let mut failed = Response::new(Body::from(
                    r#"{"error":"server_error","error_description":"the tools/list response could not be filtered"}"#,
                ));
                *failed.status_mut() = StatusCode::BAD_GATEWAY;
                failed
                    .headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                return failed;
            }
        };
        match tools_list::filter_json(&bytes, &allow) {
            Some(filtered) => {
                parts.headers.remove(CONTENT_LENGTH);
                Response::from_parts(parts, Body::from(filtered))
            }
            None => Response::from_parts(parts, Body::from(bytes)),
        }
    }
}

fn mcp_headers(headers: &HeaderMap) -> McpHeaders<'_> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    McpHeaders {
        method: text("mcp-method"),
        name: text("mcp-name"),
    }
}

// Compile-time check: the layer fits an infallible inner service such as rmcp's.
#[allow(dead_code)]
fn assert_layer_fits_infallible_services<S>(
    layer: &AuthsecLayer,
    service: S,
) -> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    layer.layer(service)
}
