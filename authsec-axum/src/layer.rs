//! The tower [`Layer`] and its [`Service`]: translates between http types and
//! [`authsec_core::Protection`], which does the work.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use authsec_core::adapter::{MAX_TOOLS_LIST_BYTES, headers, unfilterable_tools_list};
use authsec_core::{
    Guard, IncomingRequest, Protection, RenderedDenial, RequestHeaders, ResponseFilter, Verdict,
};
use axum::body::Body;
use axum::extract::{ConnectInfo, OriginalUri};
use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body::Body as HttpBody;
use http_body_util::{BodyExt, Limited};
use tower_layer::Layer;
use tower_service::Service;

use crate::sse::SseFilterBody;

pub use authsec_core::adapter::DEFAULT_MAX_BODY_BYTES;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Protects a path prefix of any tower service (an axum `Router`, rmcp's
/// `StreamableHttpService`...) with a [`Guard`].
///
/// - Every request under the prefix needs a valid token, whatever its method.
/// - A POST body is buffered up to a bound, classified (JSON-RPC method, tool), and handed on
///   untouched; tool checks apply to `tools/call`.
/// - An allowed request carries the [`Principal`](authsec_core::Principal) in its extensions.
/// - A `tools/list` response (JSON or SSE) is filtered to the tools the caller may call.
/// - An `Mcp-Session-Id` is bound to the subject that created it.
#[derive(Clone)]
pub struct AuthsecLayer {
    protection: Arc<Protection>,
}

impl AuthsecLayer {
    /// Protects the path of the guard's resource URI (e.g. `/mcp` for
    /// `https://h/mcp`) and everything below it.
    pub fn new(guard: Guard) -> Self {
        Self::from_protection(Protection::new(guard))
    }

    /// A layer over a fully configured [`Protection`].
    pub fn from_protection(protection: Protection) -> Self {
        AuthsecLayer {
            protection: Arc::new(protection),
        }
    }

    fn map(self, f: impl FnOnce(Protection) -> Protection) -> Self {
        Self::from_protection(f(Arc::unwrap_or_clone(self.protection)))
    }

    /// Protects `prefix` instead (`"/"` protects everything).
    pub fn protect_prefix(self, prefix: impl Into<String>) -> Self {
        self.map(|p| p.protect_prefix(prefix))
    }

    /// Bound on the POST body buffered for classification (default 1 MiB); larger bodies get
    /// `413`.
    pub fn max_body_bytes(self, bytes: usize) -> Self {
        self.map(|p| p.max_body_bytes(bytes))
    }

    /// Whether `tools/list` responses are filtered (default true).
    pub fn filter_tools_list(self, on: bool) -> Self {
        self.map(|p| p.filter_tools_list(on))
    }

    /// Treats POST bodies as plain HTTP instead of MCP JSON-RPC (for protecting non-MCP APIs:
    /// no tool checks, no body buffering).
    pub fn plain_http(self) -> Self {
        self.map(Protection::plain_http)
    }

    /// The guard.
    pub fn guard(&self) -> &Guard {
        self.protection.guard()
    }
}

impl<S> Layer<S> for AuthsecLayer {
    type Service = Authsec<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authsec {
            inner,
            protection: self.protection.clone(),
        }
    }
}

/// The service made by [`AuthsecLayer`].
#[derive(Clone)]
pub struct Authsec<S> {
    inner: S,
    protection: Arc<Protection>,
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
        let protection = self.protection.clone();
        Box::pin(handle(protection, request, inner))
    }
}

/// Why a request body could not be buffered.
enum BodyError {
    TooLarge,
    Unreadable,
}

/// Buffers a request body of at most `limit` bytes. A body that arrives in one frame (the usual
/// JSON-RPC POST) is kept as that frame's `Bytes`, without copying; trailers are not kept.
async fn read_body<B>(body: B, limit: usize) -> Result<Bytes, BodyError>
where
    B: HttpBody<Data = Bytes>,
{
    let mut body = std::pin::pin!(body);
    let mut first: Option<Bytes> = None;
    let mut joined: Vec<u8> = Vec::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(|_| BodyError::Unreadable)?.into_data() else {
            continue; // Trailers.
        };
        total = total.saturating_add(data.len());
        if total > limit {
            return Err(BodyError::TooLarge);
        }
        match first.take() {
            None if joined.is_empty() => first = Some(data),
            None => joined.extend_from_slice(&data),
            Some(earlier) => {
                joined.reserve(total);
                joined.extend_from_slice(&earlier);
                joined.extend_from_slice(&data);
            }
        }
    }
    Ok(match first {
        Some(only) => only,
        None => Bytes::from(joined),
    })
}

struct Headers<'a>(&'a HeaderMap);

impl RequestHeaders for Headers<'_> {
    fn values(&self, name: &str) -> Vec<&[u8]> {
        self.0
            .get_all(name)
            .iter()
            .map(HeaderValue::as_bytes)
            .collect()
    }

    fn first_value(&self, name: &str) -> (Option<&[u8]>, bool) {
        let values = match known_header(name) {
            Some(known) => self.0.get_all(known),
            None => self.0.get_all(name),
        };
        let mut values = values.iter();
        (
            values.next().map(HeaderValue::as_bytes),
            values.next().is_some(),
        )
    }
}

/// `Mcp-Session-Id`, read from requests and from the handler's responses.
static SESSION_ID: HeaderName = HeaderName::from_static(headers::MCP_SESSION_ID);

/// The headers core reads on every request, as ready-made names: looking a `&str` up parses it
/// into a `HeaderName` first.
fn known_header(name: &str) -> Option<&'static HeaderName> {
    static AUTHORIZATION: HeaderName = http::header::AUTHORIZATION;
    static MCP_METHOD: HeaderName = HeaderName::from_static(headers::MCP_METHOD);
    static MCP_NAME: HeaderName = HeaderName::from_static(headers::MCP_NAME);
    match name {
        headers::AUTHORIZATION => Some(&AUTHORIZATION),
        headers::MCP_SESSION_ID => Some(&SESSION_ID),
        headers::MCP_METHOD => Some(&MCP_METHOD),
        headers::MCP_NAME => Some(&MCP_NAME),
        _ => None,
    }
}

async fn handle<S, ReqBody, ResBody>(
    protection: Arc<Protection>,
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
    let protected = match request.extensions().get::<OriginalUri>() {
        Some(OriginalUri(uri)) => protection.protects(uri.path()),
        None => protection.protects(request.uri().path()),
    };
    if !protected {
        let response = inner.call(request.map(Body::new)).await?;
        return Ok(response.map(Body::new));
    }

    let (mut parts, body) = request.into_parts();
    // A POST is buffered for classification; other bodies are handed on unread.
    let (buffered, unread) = if protection.buffers_body(parts.method.as_str()) {
        let declared = parts
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok());
        if protection.declared_too_large(declared) {
            return Ok(deny(protection.body_too_large()));
        }
        match read_body(body, protection.body_limit()).await {
            Ok(bytes) => (Some(bytes), None),
            Err(BodyError::TooLarge) => return Ok(deny(protection.body_too_large())),
            Err(BodyError::Unreadable) => return Ok(deny(protection.unreadable_body())),
        }
    } else {
        (None, Some(body))
    };

    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let verdict = protection
        .check(
            &IncomingRequest::new(&Headers(&parts.headers))
                .query(parts.uri.query())
                .peer(peer)
                .body(buffered.as_deref()),
        )
        .await;
    let (principal, lists_tools, client_ip) = match verdict {
        Verdict::Allow {
            principal,
            lists_tools,
            client_ip,
        } => (principal, lists_tools, client_ip),
        Verdict::PassThrough => {
            let body = match (buffered, unread) {
                (Some(bytes), _) => Body::from(bytes),
                (None, Some(body)) => Body::new(body),
                (None, None) => Body::empty(),
            };
            let response = inner.call(Request::from_parts(parts, body)).await?;
            return Ok(response.map(Body::new));
        }
        deny_verdict => return Ok(deny(deny_verdict)),
    };
    tracing::debug!(
        target: "authsec",
        subject = principal.subject(),
        token = principal.token_fingerprint(),
        "request allowed"
    );
    parts.extensions.insert(principal.clone());
    let body = match (buffered, unread) {
        (Some(bytes), _) => Body::from(bytes),
        (None, Some(body)) => Body::new(body),
        (None, None) => Body::empty(),
    };
    let response = inner.call(Request::from_parts(parts, body)).await?;

    protection.on_response(
        &principal,
        response
            .headers()
            .get(&SESSION_ID)
            .and_then(|v| v.to_str().ok()),
    );
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    match protection.response_filter(lists_tools, content_type) {
        ResponseFilter::None => Ok(response.map(Body::new)),
        ResponseFilter::Sse => {
            let (mut parts, body) = response.into_parts();
            parts.headers.remove(CONTENT_LENGTH);
            let filter = protection.sse_filter(principal, client_ip);
            Ok(Response::from_parts(
                parts,
                Body::new(SseFilterBody::new(body, filter)),
            ))
        }
        ResponseFilter::Json => {
            let (mut parts, body) = response.into_parts();
            let Ok(collected) = Limited::new(body, MAX_TOOLS_LIST_BYTES).collect().await else {
                tracing::warn!(target: "authsec", "a tools/list response could not be read for filtering");
                return Ok(rendered(unfilterable_tools_list()));
            };
            let bytes = collected.to_bytes();
            match protection.filter_json(principal, client_ip, &bytes) {
                Some(filtered) => {
                    parts.headers.remove(CONTENT_LENGTH);
                    Ok(Response::from_parts(parts, Body::from(filtered)))
                }
                None => Ok(Response::from_parts(parts, Body::from(bytes))),
            }
        }
    }
}

/// Writes a denial verdict as a response (and logs it, without the token).
fn deny(verdict: Verdict) -> Response<Body> {
    let Verdict::Deny { denial, response } = verdict else {
        return rendered(unfilterable_tools_list());
    };
    tracing::info!(
        target: "authsec",
        denial = denial.code().as_str(),
        status = response.status,
        reason = denial.description(),
        "request denied"
    );
    rendered(response)
}

/// Copies a rendered response (a denial, or one of the adapter's own server errors).
pub(crate) fn rendered(denial: RenderedDenial) -> Response<Body> {
    let mut response = Response::new(Body::from(denial.body.clone()));
    *response.status_mut() = StatusCode::from_u16(denial.status).unwrap_or(StatusCode::FORBIDDEN);
    for (name, value) in denial.headers() {
        if let Ok(value) = HeaderValue::from_str(value) {
            response
                .headers_mut()
                .append(HeaderName::from_static(name), value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use http_body::Frame;

    use super::*;

    /// A body that yields these frames, then ends (or fails where a frame is `None`).
    struct Frames(VecDeque<Option<Frame<Bytes>>>);

    impl HttpBody for Frames {
        type Data = Bytes;
        type Error = std::io::Error;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            Poll::Ready(
                self.0
                    .pop_front()
                    .map(|frame| frame.ok_or_else(|| std::io::Error::other("connection reset"))),
            )
        }
    }

    fn data(chunks: &[&'static str]) -> Frames {
        Frames(
            chunks
                .iter()
                .map(|c| Some(Frame::data(Bytes::from_static(c.as_bytes()))))
                .collect(),
        )
    }

    fn read(body: Frames, limit: usize) -> Result<Bytes, BodyError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(read_body(body, limit))
    }

    #[test]
    fn one_frame_is_kept_as_it_is() {
        let frame = Bytes::from_static(b"{\"method\":\"ping\"}");
        let body = Frames(VecDeque::from([Some(Frame::data(frame.clone()))]));
        let read = read(body, 100).ok().unwrap();
        assert_eq!(read, frame);
        assert_eq!(read.as_ptr(), frame.as_ptr(), "not copied");
    }

    #[test]
    fn frames_are_joined_in_order() {
        for (chunks, joined) in [
            (&["{\"a\"", ":1", "}"][..], "{\"a\":1}"),
            (&["", "{}", ""][..], "{}"),
            (&["", "", "x", "", "y"][..], "xy"),
            (&[][..], ""),
        ] {
            assert_eq!(read(data(chunks), 100).ok().unwrap(), joined, "{chunks:?}");
        }
        let mut with_trailers = data(&["ab", "c"]);
        with_trailers
            .0
            .push_back(Some(Frame::trailers(HeaderMap::new())));
        assert_eq!(read(with_trailers, 100).ok().unwrap(), "abc");
    }

    #[test]
    fn more_than_the_limit_is_too_large_and_a_failing_body_unreadable() {
        assert!(matches!(
            read(data(&["12345", "6"]), 5),
            Err(BodyError::TooLarge)
        ));
        assert_eq!(read(data(&["12345"]), 5).ok().unwrap(), "12345");
        let mut failing = data(&["12"]);
        failing.0.push_back(None);
        assert!(matches!(read(failing, 5), Err(BodyError::Unreadable)));
    }
}
