//! The actix-web [`Transform`] and its [`Service`]: translates between actix types and
//! [`authsec_core::Protection`], which does the work.

use std::future::{Future, Ready, ready};
use std::net::IpAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};

use actix_web::body::{BoxBody, EitherBody, MessageBody, to_bytes_limited};
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::error::PayloadError;
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use actix_web::web::Bytes;
use actix_web::{Error, HttpMessage, HttpResponse};
use authsec_core::adapter::{BodyBuffer, MAX_TOOLS_LIST_BYTES, headers, unfilterable_tools_list};
use authsec_core::{
    Denial, Guard, IncomingRequest, KnownHeader, Principal, Protection, RenderedDenial,
    RequestHeaders, ResponseFilter, Verdict,
};
use futures_core::Stream;

use crate::sse::SseFilterBody;

pub use authsec_core::adapter::DEFAULT_MAX_BODY_BYTES;

/// Protects a path prefix of an actix-web app (or scope) with a [`Guard`]: register it with
/// `App::wrap`.
///
/// - Every request under the prefix needs a valid token, whatever its method.
/// - A POST body is buffered up to a bound, classified (JSON-RPC method, tool), and handed on
///   untouched; tool checks apply to `tools/call`.
/// - An allowed request carries the [`Principal`](authsec_core::Principal) in its extensions
///   (read it with the [`Authenticated`](crate::Authenticated) extractor).
/// - A `tools/list` response (JSON or SSE) is filtered to the tools the caller may call.
/// - An `Mcp-Session-Id` is bound to the subject that created it.
///
/// Requests outside the prefix pass through untouched, so the metadata service can live in the
/// same app.
#[derive(Clone, Debug)]
pub struct Authsec {
    protection: Arc<Protection>,
}

impl Authsec {
    /// Protects the path of the guard's resource URI (e.g. `/mcp` for `https://h/mcp`) and
    /// everything below it.
    pub fn new(guard: Guard) -> Self {
        Self::from_protection(Protection::new(guard))
    }

    /// A middleware over a fully configured [`Protection`].
    pub fn from_protection(protection: Protection) -> Self {
        Authsec {
            protection: Arc::new(protection),
        }
    }

    fn map(self, f: impl FnOnce(Protection) -> Protection) -> Self {
        Self::from_protection(f(Arc::unwrap_or_clone(self.protection)))
    }

    /// Protects `prefix` instead (`"/"` protects everything). The prefix is matched against
    /// the full request path, also when the middleware wraps a `web::scope`.
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

impl<S, B> Transform<S, ServiceRequest> for Authsec
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = AuthsecMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(AuthsecMiddleware {
            service: Rc::new(service),
            protection: self.protection.clone(),
        }))
    }
}

/// The service made by [`Authsec`] around the wrapped one.
///
/// Responses are the inner service's body untouched ([`EitherBody::Left`]), or a denial or a
/// filtered `tools/list` ([`EitherBody::Right`]).
pub struct AuthsecMiddleware<S> {
    service: Rc<S>,
    protection: Arc<Protection>,
}

impl<S, B> Service<ServiceRequest> for AuthsecMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Error>>>>;

    forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        Box::pin(handle(
            self.protection.clone(),
            self.service.clone(),
            request,
        ))
    }
}

struct Headers<'a>(&'a HeaderMap);

impl RequestHeaders for Headers<'_> {
    fn values(&self, name: &str) -> Vec<&[u8]> {
        self.0.get_all(name).map(HeaderValue::as_bytes).collect()
    }

    fn first_value(&self, name: &str) -> (Option<&[u8]>, bool) {
        match KnownHeader::from_name(name) {
            Some(header) => self.known(header),
            None => first_and_more(self.0.get_all(name)),
        }
    }

    fn known(&self, header: KnownHeader) -> (Option<&[u8]>, bool) {
        first_and_more(self.0.get_all(known_name(header)))
    }
}

/// The first of `values`, and whether another follows.
fn first_and_more<'a>(
    mut values: impl Iterator<Item = &'a HeaderValue>,
) -> (Option<&'a [u8]>, bool) {
    (
        values.next().map(HeaderValue::as_bytes),
        values.next().is_some(),
    )
}

/// `Mcp-Session-Id`, read from requests and from the handler's responses.
static SESSION_ID: HeaderName = HeaderName::from_static(headers::MCP_SESSION_ID);

/// The headers core reads on every request, as ready-made names: looking a `&str` up parses it
/// into a `HeaderName` first.
fn known_name(header: KnownHeader) -> &'static HeaderName {
    static AUTHORIZATION: HeaderName = actix_web::http::header::AUTHORIZATION;
    static MCP_METHOD: HeaderName = HeaderName::from_static(headers::MCP_METHOD);
    static MCP_NAME: HeaderName = HeaderName::from_static(headers::MCP_NAME);
    match header {
        KnownHeader::Authorization => &AUTHORIZATION,
        KnownHeader::McpSessionId => &SESSION_ID,
        KnownHeader::McpMethod => &MCP_METHOD,
        KnownHeader::McpName => &MCP_NAME,
    }
}

/// Why a request body could not be buffered.
#[derive(Debug)]
enum BodyError {
    TooLarge,
    Unreadable,
}

/// Buffers a request body of at most `limit` bytes ([`BodyBuffer`]: a body that arrives in one
/// chunk, the usual JSON-RPC POST, is kept as that chunk's `Bytes`, without copying).
async fn read_body(payload: &mut Payload, limit: usize) -> Result<Bytes, BodyError> {
    let mut buffer = BodyBuffer::new(limit);
    while let Some(chunk) = std::future::poll_fn(|cx| Pin::new(&mut *payload).poll_next(cx)).await {
        let chunk = chunk.map_err(|_| BodyError::Unreadable)?;
        buffer.push(chunk).map_err(|_| BodyError::TooLarge)?;
    }
    Ok(buffer.take())
}

/// A buffered body handed on to the protected service: one chunk, then the end. (Cheaper than
/// `Payload::from(Bytes)`, which builds an HTTP/1 payload channel for it.)
struct Buffered(Option<Bytes>);

impl Stream for Buffered {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Poll::Ready(self.0.take().map(Ok))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::from(self.0.is_some());
        (left, Some(left))
    }
}

fn buffered_payload(bytes: Bytes) -> Payload {
    Payload::Stream {
        payload: Box::pin(Buffered(Some(bytes))),
    }
}

async fn handle<S, B>(
    protection: Arc<Protection>,
    service: Rc<S>,
    mut request: ServiceRequest,
) -> Result<ServiceResponse<EitherBody<B>>, Error>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
    B: MessageBody + 'static,
{
    if !protection.protects(request.path()) {
        return Ok(service.call(request).await?.map_into_left_body());
    }

    // A POST is buffered for classification; other bodies are handed on unread.
    let buffered = if protection.buffers_body(request.method().as_str()) {
        let declared = request
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok());
        if protection.declared_too_large(declared) {
            return Ok(deny(request, protection.body_too_large()));
        }
        let mut payload = request.take_payload();
        match read_body(&mut payload, protection.body_limit()).await {
            Ok(bytes) => Some(bytes),
            Err(BodyError::Unreadable) => return Ok(deny(request, protection.unreadable_body())),
            Err(BodyError::TooLarge) => return Ok(deny(request, protection.body_too_large())),
        }
    } else {
        None
    };

    let peer = request.peer_addr().map(|addr| addr.ip());
    let verdict = {
        let headers = Headers(request.headers());
        let incoming = IncomingRequest::new(&headers)
            .query(request.uri().query())
            .peer(peer)
            .body(buffered.as_deref());
        // A warm token is checked at once; only a check that needs I/O is awaited, in a boxed
        // future so that this one stays small.
        match protection.check_now(&incoming) {
            Some(verdict) => verdict,
            None => Box::pin(protection.check(&incoming)).await,
        }
    };
    let (principal, lists_tools, client_ip) = match verdict {
        Verdict::Allow {
            principal,
            lists_tools,
            client_ip,
        } => (principal, lists_tools, client_ip),
        Verdict::PassThrough => {
            if let Some(bytes) = buffered {
                request.set_payload(buffered_payload(bytes));
            }
            return Ok(service.call(request).await?.map_into_left_body());
        }
        deny_verdict => return Ok(deny(request, deny_verdict)),
    };
    tracing::debug!(
        target: "authsec",
        subject = principal.subject(),
        token = principal.token_fingerprint(),
        "request allowed"
    );
    request.extensions_mut().insert(principal.clone());
    if let Some(bytes) = buffered {
        request.set_payload(buffered_payload(bytes));
    }
    let response = service.call(request).await?;
    match respond(&protection, principal, lists_tools, client_ip, response) {
        Responded::Done(response) => Ok(response),
        // Rare, and boxed so that it adds nothing to the future of every other request.
        Responded::FilterJson(response, principal) => {
            Box::pin(filter_json_response(
                protection, principal, client_ip, response,
            ))
            .await
        }
    }
}

/// What [`respond`] did with a protected service's response.
enum Responded<B> {
    Done(ServiceResponse<EitherBody<B>>),
    /// A JSON `tools/list`, to be read and filtered for this caller.
    FilterJson(ServiceResponse<B>, Principal),
}

/// What follows the protected service, without reading the body: the session binding, the
/// SSE `tools/list` filter, or word that a JSON `tools/list` must be filtered.
fn respond<B>(
    protection: &Protection,
    principal: Principal,
    lists_tools: bool,
    client_ip: Option<IpAddr>,
    response: ServiceResponse<B>,
) -> Responded<B>
where
    B: MessageBody + 'static,
{
    protection.on_response(
        &principal,
        response
            .headers()
            .get(&SESSION_ID)
            .and_then(|v| v.to_str().ok()),
    );
    let content_type = || {
        response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
    };
    match protection.response_filter(lists_tools, content_type) {
        ResponseFilter::None => Responded::Done(response.map_into_left_body()),
        ResponseFilter::Sse => {
            let filter = protection.sse_filter(principal, client_ip);
            let mut response = response.map_body(|_, body| {
                EitherBody::right(BoxBody::new(SseFilterBody::new(body, filter)))
            });
            response.headers_mut().remove(CONTENT_LENGTH);
            Responded::Done(response)
        }
        ResponseFilter::Json => Responded::FilterJson(response, principal),
    }
}

/// A JSON `tools/list` response, read (up to [`MAX_TOOLS_LIST_BYTES`]) and filtered.
async fn filter_json_response<B>(
    protection: Arc<Protection>,
    principal: Principal,
    client_ip: Option<IpAddr>,
    response: ServiceResponse<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error>
where
    B: MessageBody + 'static,
{
    let (request, response) = response.into_parts();
    let (mut head, body) = response.into_parts();
    let Ok(Ok(bytes)) = to_bytes_limited(body, MAX_TOOLS_LIST_BYTES).await else {
        tracing::warn!(target: "authsec", "a tools/list response could not be read for filtering");
        return Ok(
            ServiceResponse::new(request, rendered(unfilterable_tools_list()))
                .map_into_right_body(),
        );
    };
    let body = match protection.filter_json(principal, client_ip, &bytes) {
        Some(filtered) => {
            head.headers_mut().remove(CONTENT_LENGTH);
            BoxBody::new(filtered)
        }
        None => BoxBody::new(bytes),
    };
    Ok(ServiceResponse::new(
        request,
        head.set_body(EitherBody::right(body)),
    ))
}

/// Answers with a denial verdict (and logs it, without the token). Only denials are passed in;
/// an `Allow` would be a bug here, answered as a server error rather than served.
fn deny<B>(request: ServiceRequest, verdict: Verdict) -> ServiceResponse<EitherBody<B>> {
    let rendered_denial = match verdict {
        Verdict::Deny { denial, response } => {
            log_denial(&denial, &response);
            response
        }
        _ => unfilterable_tools_list(),
    };
    request
        .into_response(rendered(rendered_denial))
        .map_into_right_body()
}

fn log_denial(denial: &Denial, response: &RenderedDenial) {
    tracing::info!(
        target: "authsec",
        denial = denial.code().as_str(),
        status = response.status,
        reason = denial.description(),
        "request denied"
    );
}

/// Copies a rendered response (a denial, or one of the adapter's own server errors).
pub(crate) fn rendered(rendered: RenderedDenial) -> HttpResponse {
    let status = StatusCode::from_u16(rendered.status).unwrap_or(StatusCode::FORBIDDEN);
    let mut response = HttpResponse::new(status);
    for (name, value) in rendered.headers() {
        if let Ok(value) = HeaderValue::from_str(value) {
            response
                .headers_mut()
                .append(HeaderName::from_static(name), value);
        }
    }
    response.set_body(BoxBody::new(rendered.body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_headers_read_as_the_map_does() {
        let mut map = HeaderMap::new();
        let mut append = |name: &'static str, value: &'static str| {
            map.append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        };
        append("authorization", "Bearer a");
        append("mcp-method", "tools/call");
        append("authorization", "Bearer b");
        append("mcp-session-id", "s-1");
        append("x-forwarded-for", "10.0.0.1");
        append("x-forwarded-for", "10.0.0.2");
        let headers = Headers(&map);
        let expected = [
            (KnownHeader::Authorization, Some(&b"Bearer a"[..]), true),
            (KnownHeader::McpSessionId, Some(&b"s-1"[..]), false),
            (KnownHeader::McpMethod, Some(&b"tools/call"[..]), false),
            (KnownHeader::McpName, None, false),
        ];
        for (header, first, more) in expected {
            assert_eq!(headers.known(header), (first, more), "{header:?}");
            assert_eq!(
                headers.first_value(header.name()),
                (first, more),
                "{header:?}"
            );
        }
        assert_eq!(
            headers.first_value("x-forwarded-for"),
            (Some(&b"10.0.0.1"[..]), true)
        );
        assert_eq!(
            headers.known_text(KnownHeader::McpMethod),
            Some("tools/call")
        );
    }
}
