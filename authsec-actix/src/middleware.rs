//! The actix-web [`Transform`] and its [`Service`]: translates between actix types and
//! [`authsec_core::Protection`], which does the work.

use std::future::{Future, Ready, ready};
use std::net::IpAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use actix_web::body::{BoxBody, EitherBody, MessageBody, to_bytes_limited};
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::error::PayloadError;
use actix_web::http::StatusCode;
use actix_web::http::header::{
    AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue,
};
use actix_web::web::Bytes;
use actix_web::{Error, HttpMessage, HttpResponse};
use authsec_core::adapter::{BodyBuffer, MAX_TOOLS_LIST_BYTES, headers, unfilterable_tools_list};
use authsec_core::{
    Denial, Guard, IncomingRequest, KnownHeader, Principal, Protection, RenderedDenial,
    RequestHeaders, ResponseFilter, Verdict,
};
use futures_core::Stream;
use pin_project_lite::pin_project;

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
            shared: Rc::new(Shared {
                service,
                protection: self.protection.clone(),
            }),
        }))
    }
}

/// The service made by [`Authsec`] around the wrapped one.
///
/// Responses are the inner service's body untouched ([`EitherBody::Left`]), or a denial or a
/// filtered `tools/list` ([`EitherBody::Right`]).
pub struct AuthsecMiddleware<S> {
    shared: Rc<Shared<S>>,
}

/// What a request's future shares with the middleware: the wrapped service and the
/// protection, behind one `Rc`. A future takes them with one count that is not atomic
/// (actix-web runs a worker's futures on its thread): an `Arc` count each time would be a
/// locked instruction to take and another to drop, twice a request.
struct Shared<S> {
    service: S,
    protection: Arc<Protection>,
}

impl<S, B> Service<ServiceRequest> for AuthsecMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = ResponseFuture<S, B>;

    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.shared.service.poll_ready(cx)
    }

    fn call(&self, request: ServiceRequest) -> Self::Future {
        ResponseFuture {
            state: begin(&self.shared, request),
        }
    }
}

type LocalBoxFuture<T> = Pin<Box<dyn Future<Output = T>>>;

pin_project! {
    /// The future of [`AuthsecMiddleware`]. A request that can be decided at once (a warm
    /// token, no revocation check, a policy that decides at once:
    /// [`Protection::check_now`]) is checked in `call`, or as soon as its POST body has been
    /// read, and this future then only awaits the protected service. Whatever must wait (a
    /// token to verify, a revocation check, a policy that awaits, a JSON `tools/list` response
    /// to filter) goes on in a boxed future.
    pub struct ResponseFuture<S, B>
    where
        S: Service<ServiceRequest>,
    {
        #[pin]
        state: State<S, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, B>
    where
        S: Service<ServiceRequest>,
    {
        Answered { response: Option<ServiceResponse<EitherBody<B>>> },
        Reading { reading: Option<Reading<S>> },
        Handler { #[pin] future: S::Future, after: Option<After<S>> },
        Boxed { future: LocalBoxFuture<Result<ServiceResponse<EitherBody<B>>, Error>> },
    }
}

/// A POST body being read, in place in its request. actix-web calls a service as soon as the
/// request's head has arrived, before any of its body, so every POST passes through here: it
/// is held in the future itself, not boxed as authsec-axum's is.
struct Reading<S> {
    shared: Rc<Shared<S>>,
    request: ServiceRequest,
    buffer: BodyBuffer<Bytes>,
}

impl<S> Reading<S> {
    /// Reads the body to its end: [`BodyBuffer`] keeps a body that arrives in one chunk, the
    /// usual JSON-RPC POST, as that chunk's `Bytes`, without copying.
    fn poll_body(&mut self, cx: &mut Context<'_>) -> Poll<Result<Bytes, BodyError>> {
        let payload = self.request.parts_mut().1;
        loop {
            match Pin::new(&mut *payload).poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    if self.buffer.push(chunk).is_err() {
                        return Poll::Ready(Err(BodyError::TooLarge));
                    }
                }
                Poll::Ready(Some(Err(_))) => return Poll::Ready(Err(BodyError::Unreadable)),
                Poll::Ready(None) => return Poll::Ready(Ok(self.buffer.take())),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<S, B> Future for ResponseFuture<S, B>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Output = Result<ServiceResponse<EitherBody<B>>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Answered { response } => {
                    let response = response
                        .take()
                        .expect("ResponseFuture polled after completion");
                    return Poll::Ready(Ok(response));
                }
                StateProj::Reading { reading } => {
                    let mut read = reading
                        .take()
                        .expect("ResponseFuture polled after completion");
                    let Poll::Ready(result) = read.poll_body(cx) else {
                        *reading = Some(read);
                        return Poll::Pending;
                    };
                    let Reading {
                        shared, request, ..
                    } = read;
                    let protection = &shared.protection;
                    let next = match result {
                        Ok(bytes) => decide(&shared, request, Some(bytes)),
                        Err(BodyError::TooLarge) => {
                            State::answered(deny(request, protection.body_too_large()))
                        }
                        Err(BodyError::Unreadable) => {
                            State::answered(deny(request, protection.unreadable_body()))
                        }
                    };
                    state.set(next);
                }
                StateProj::Handler { future, after } => {
                    let response = ready!(future.poll(cx))?;
                    let Some(after) = after.take() else {
                        return Poll::Ready(Ok(response.map_into_left_body()));
                    };
                    match after.bind_then_filter(&response) {
                        ResponseFilter::None => {
                            return Poll::Ready(Ok(response.map_into_left_body()));
                        }
                        ResponseFilter::Sse => return Poll::Ready(Ok(after.filter_sse(response))),
                        // Rare, and boxed so that it adds nothing to every other request's
                        // future.
                        ResponseFilter::Json => state.set(State::Boxed {
                            future: Box::pin(filter_json_response(after, response)),
                        }),
                    }
                }
                StateProj::Boxed { future } => return future.as_mut().poll(cx),
            }
        }
    }
}

impl<S: Service<ServiceRequest>, B> State<S, B> {
    fn answered(response: ServiceResponse<EitherBody<B>>) -> Self {
        State::Answered {
            response: Some(response),
        }
    }
}

/// Everything that needs no waiting, done in `call`: a request outside the prefix goes
/// straight to the service; a POST is first read (in the future); any other request is checked
/// at once.
#[inline(always)]
fn begin<S, B>(shared: &Rc<Shared<S>>, request: ServiceRequest) -> State<S, B>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    let protection = &shared.protection;
    if !protection.protects(request.path()) {
        return State::Handler {
            future: shared.service.call(request),
            after: None,
        };
    }
    if !protection.buffers_body(request.method().as_str()) {
        return decide(shared, request, None);
    }
    let declared = request
        .headers()
        .get_all(&CONTENT_LENGTH)
        .next()
        .and_then(|v| v.to_str().ok());
    if protection.declared_too_large(declared) {
        return State::answered(deny(request, protection.body_too_large()));
    }
    State::Reading {
        reading: Some(Reading {
            shared: shared.clone(),
            buffer: BodyBuffer::new(protection.body_limit()),
            request,
        }),
    }
}

/// Checks a request whose body is buffered (or not needed) without waiting, if the Guard can
/// ([`Protection::check_now`]), and hands it to the protected service when it is allowed.
#[inline(always)]
fn decide<S, B>(shared: &Rc<Shared<S>>, request: ServiceRequest, body: Option<Bytes>) -> State<S, B>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    let verdict = {
        let headers = Headers::new(request.headers());
        shared
            .protection
            .check_now(&incoming(&request, &headers, body.as_deref()))
    };
    let Some(verdict) = verdict else {
        return State::Boxed {
            future: Box::pin(waiting(shared.clone(), request, body)),
        };
    };
    match admit(shared, verdict, request, body) {
        Ok((request, after)) => State::Handler {
            future: shared.service.call(request),
            after,
        },
        Err(denied) => State::answered(denied),
    }
}

/// A protected request whose check must wait (for I/O, or for a Guard that does not check
/// synchronously).
async fn waiting<S, B>(
    shared: Rc<Shared<S>>,
    request: ServiceRequest,
    body: Option<Bytes>,
) -> Result<ServiceResponse<EitherBody<B>>, Error>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
    B: MessageBody + 'static,
{
    let verdict = {
        let headers = Headers::new(request.headers());
        shared
            .protection
            .check(&incoming(&request, &headers, body.as_deref()))
            .await
    };
    let (request, after) = match admit(&shared, verdict, request, body) {
        Ok(admitted) => admitted,
        Err(denied) => return Ok(denied),
    };
    let response = shared.service.call(request).await?;
    let Some(after) = after else {
        return Ok(response.map_into_left_body());
    };
    match after.bind_then_filter(&response) {
        ResponseFilter::None => Ok(response.map_into_left_body()),
        ResponseFilter::Sse => Ok(after.filter_sse(response)),
        ResponseFilter::Json => filter_json_response(after, response).await,
    }
}

/// What core is told about a request.
fn incoming<'a>(
    request: &'a ServiceRequest,
    headers: &'a Headers<'a>,
    body: Option<&'a [u8]>,
) -> IncomingRequest<'a, Headers<'a>> {
    IncomingRequest::new(headers)
        .query(request.uri().query())
        .peer(request.peer_addr().map(|addr| addr.ip()))
        .body(body)
}

/// A request ready for the protected service, and what its response goes through.
type Admitted<S> = (ServiceRequest, Option<After<S>>);

/// Readies an allowed request for the protected service (its body handed on, the principal in
/// its extensions) and says what its response goes through; `Err` is the response for a
/// denial.
#[allow(clippy::result_large_err)]
fn admit<S, B>(
    shared: &Rc<Shared<S>>,
    verdict: Verdict,
    mut request: ServiceRequest,
    body: Option<Bytes>,
) -> Result<Admitted<S>, ServiceResponse<EitherBody<B>>> {
    match verdict {
        Verdict::Allow {
            principal,
            lists_tools,
            client_ip,
        } => {
            tracing::debug!(
                target: "authsec",
                subject = principal.subject(),
                token = principal.token_fingerprint(),
                "request allowed"
            );
            request.extensions_mut().insert(principal.clone());
            hand_on(&mut request, body);
            Ok((
                request,
                Some(After {
                    shared: shared.clone(),
                    principal,
                    lists_tools,
                    client_ip,
                }),
            ))
        }
        Verdict::PassThrough => {
            hand_on(&mut request, body);
            Ok((request, None))
        }
        denied => Err(deny(request, denied)),
    }
}

/// Gives the protected service the body that was read. An HTTP/1 payload, read to its end,
/// takes it back as unread data; any other gets a one-chunk stream.
fn hand_on(request: &mut ServiceRequest, body: Option<Bytes>) {
    let Some(bytes) = body else {
        return;
    };
    match request.parts_mut().1 {
        Payload::H1 { payload } => payload.unread_data(bytes),
        _ => request.set_payload(buffered_payload(bytes)),
    }
}

/// A request's headers as core reads them. Of the four core reads on every request,
/// `Authorization` (a standard name, cheap to hash) is looked up; the three `Mcp-` names are
/// looked up only when one pass over the map's names (no values) found them, which for the
/// handful of names an MCP request carries is cheaper than hashing each.
struct Headers<'a> {
    map: &'a HeaderMap,
    /// The `Mcp-` [`KnownHeader`]s the request carries, a bit each (`1 << header as u8`).
    present: u8,
}

impl<'a> Headers<'a> {
    fn new(map: &'a HeaderMap) -> Self {
        let mut present = 0;
        for name in map.keys() {
            if let Some(header) = KnownHeader::from_name(name.as_str()) {
                present |= 1 << header as u8;
            }
        }
        Headers { map, present }
    }
}

impl RequestHeaders for Headers<'_> {
    fn values(&self, name: &str) -> Vec<&[u8]> {
        self.map.get_all(name).map(HeaderValue::as_bytes).collect()
    }

    fn first_value(&self, name: &str) -> (Option<&[u8]>, bool) {
        match KnownHeader::from_name(name) {
            Some(header) => self.known(header),
            None => first_and_more(self.map.get_all(name)),
        }
    }

    fn known(&self, header: KnownHeader) -> (Option<&[u8]>, bool) {
        if header != KnownHeader::Authorization && self.present & (1 << header as u8) == 0 {
            return (None, false);
        }
        first_and_more(self.map.get_all(known_name(header)))
    }
}

/// The headers core reads on every request, as ready-made names: looking a `&str` up parses it
/// into a `HeaderName` first.
fn known_name(header: KnownHeader) -> &'static HeaderName {
    static MCP_METHOD: HeaderName = HeaderName::from_static(headers::MCP_METHOD);
    static MCP_NAME: HeaderName = HeaderName::from_static(headers::MCP_NAME);
    match header {
        KnownHeader::Authorization => &AUTHORIZATION,
        KnownHeader::McpSessionId => &SESSION_ID,
        KnownHeader::McpMethod => &MCP_METHOD,
        KnownHeader::McpName => &MCP_NAME,
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

/// Why a request body could not be buffered.
#[derive(Debug)]
enum BodyError {
    TooLarge,
    Unreadable,
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

/// What an allowed request's response goes through: the session binding and the `tools/list`
/// filter.
struct After<S> {
    shared: Rc<Shared<S>>,
    principal: Principal,
    lists_tools: bool,
    client_ip: Option<IpAddr>,
}

impl<S> After<S> {
    /// What follows the protected service, read from the response's headers alone (its body
    /// is not touched, nor moved): binds a session the response assigns, then says which
    /// filter the body goes through.
    fn bind_then_filter<B>(&self, response: &ServiceResponse<B>) -> ResponseFilter {
        let headers = response.headers();
        // Every look-up here takes a `&HeaderName` and reads the first value through
        // `get_all`, as `Headers::known` does: one copy of actix-web's look-up code runs.
        let first = |name: &HeaderName| headers.get_all(name).next().and_then(|v| v.to_str().ok());
        let protection = &self.shared.protection;
        protection.on_response(&self.principal, first(&SESSION_ID));
        protection.response_filter(self.lists_tools, || first(&CONTENT_TYPE))
    }

    /// The response with its SSE body filtered for this caller.
    fn filter_sse<B>(self, response: ServiceResponse<B>) -> ServiceResponse<EitherBody<B>>
    where
        B: MessageBody + 'static,
    {
        let filter = self
            .shared
            .protection
            .sse_filter(self.principal, self.client_ip);
        let mut response = response
            .map_body(|_, body| EitherBody::right(BoxBody::new(SseFilterBody::new(body, filter))));
        response.headers_mut().remove(CONTENT_LENGTH);
        response
    }
}

/// A JSON `tools/list` response, read (up to [`MAX_TOOLS_LIST_BYTES`]) and filtered.
async fn filter_json_response<S, B>(
    after: After<S>,
    response: ServiceResponse<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error>
where
    B: MessageBody + 'static,
{
    let After {
        shared,
        principal,
        client_ip,
        ..
    } = after;
    let protection = &shared.protection;
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
        let headers = Headers::new(&map);
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
