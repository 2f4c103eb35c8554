//! The tower [`Layer`] and its [`Service`]: translates between http types and
//! [`authsec_core::Protection`], which does the work.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker, ready};

use authsec_core::adapter::{BodyBuffer, MAX_TOOLS_LIST_BYTES, headers, unfilterable_tools_list};
use authsec_core::{
    Guard, IncomingRequest, KnownHeader, Principal, Protection, RenderedDenial, RequestHeaders,
    ResponseFilter, Verdict,
};
use axum::body::Body;
use axum::extract::{ConnectInfo, OriginalUri};
use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body::Body as HttpBody;
use http_body_util::{BodyExt, Limited};
use pin_project_lite::pin_project;
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

    /// Wraps a whole service, typically the app's `Router`, so that every request meets the
    /// protection before routing. Unlike `Router::layer`, which covers only the routes added
    /// before it, this covers every route, nested service and fallback under the protected
    /// prefix whenever it was added. It is also the cheaper form: `Router::layer` boxes and
    /// clones each layered route again on every request (wrapping saves about 1,300
    /// instructions per request in this repository's bench).
    ///
    /// Serve the result as a `Router` (with the peer address, for IP conditions):
    ///
    /// ```no_run
    /// use std::net::SocketAddr;
    ///
    /// use authsec_axum::{AuthsecLayer, Guard, metadata_router};
    /// use axum::{Router, routing::post};
    ///
    /// async fn serve(guard: Guard, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    ///     let router = Router::new()
    ///         .route("/mcp", post(|| async { "an MCP endpoint" }))
    ///         .merge(metadata_router(&guard));
    ///     let app = AuthsecLayer::new(guard).wrap(router);
    ///     axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await
    /// }
    /// ```
    pub fn wrap<S>(&self, service: S) -> Authsec<S> {
        self.layer(service)
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

impl<S> Authsec<S>
where
    Self: Service<Request<Body>>,
{
    /// For `axum::serve`, as `Router::into_make_service` (the request type spelled out, which
    /// `axum::ServiceExt` would need: this service takes any body type).
    pub fn into_make_service(self) -> axum::routing::IntoMakeService<Self> {
        axum::ServiceExt::<Request<Body>>::into_make_service(self)
    }

    /// For `axum::serve` with the peer's address in the request (for IP conditions and
    /// `ConnectInfo`), as `Router::into_make_service_with_connect_info`.
    pub fn into_make_service_with_connect_info<C>(
        self,
    ) -> axum::extract::connect_info::IntoMakeServiceWithConnectInfo<Self, C> {
        axum::ServiceExt::<Request<Body>>::into_make_service_with_connect_info(self)
    }
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
    type Future = ResponseFuture<S>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        ResponseFuture {
            state: begin(&self.protection, request.map(Body::new), &mut self.inner),
        }
    }
}

/// The service for a future that calls it later: the one that was polled ready (a clone is
/// left in its place).
fn polled_ready<S: Clone>(inner: &mut S) -> S {
    let clone = inner.clone();
    std::mem::replace(inner, clone)
}

/// The state of a request whose check must wait (for I/O, or for a Guard that does not check
/// synchronously).
fn waits<S, ResBody>(
    protection: &Arc<Protection>,
    request: Request<Body>,
    payload: Payload,
    inner: S,
) -> State<S>
where
    S: Service<Request<Body>, Response = Response<ResBody>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: HttpBody<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    State::Boxed {
        future: Box::pin(waiting(protection.clone(), request, payload, inner)),
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

pin_project! {
    /// The future of [`Authsec`]. A request that can be decided at once (a warm token, no
    /// revocation check, a policy that decides at once: [`Protection::check_now`]) is checked
    /// in `call`, or as soon as its body has arrived, and this future then only awaits the
    /// protected service. Whatever must wait (a token to verify, a revocation check, a policy
    /// that awaits, a JSON `tools/list` response to filter) goes on in a boxed future.
    pub struct ResponseFuture<S>
    where
        S: Service<Request<Body>>,
    {
        #[pin]
        state: State<S>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S>
    where
        S: Service<Request<Body>>,
    {
        Answered { response: Option<Response<Body>> },
        Reading { reading: Option<Box<Reading<S>>> },
        Handler { #[pin] future: S::Future, after: Option<After> },
        Boxed { future: BoxFuture<Result<Response<Body>, S::Error>> },
    }
}

impl<S: Service<Request<Body>>> State<S> {
    fn answered(response: Response<Body>) -> Self {
        State::Answered {
            response: Some(response),
        }
    }
}

/// A POST body still arriving, for a Guard that checks synchronously (boxed: it would make
/// every request's future larger).
struct Reading<S> {
    protection: Arc<Protection>,
    request: Request<Body>,
    reader: BodyReader,
    inner: S,
}

impl<S, ResBody> Future for ResponseFuture<S>
where
    S: Service<Request<Body>, Response = Response<ResBody>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: HttpBody<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Output = Result<Response<Body>, S::Error>;

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
                    let Reading {
                        request, reader, ..
                    } = &mut *read;
                    let bytes = match reader.poll_read(request.body_mut(), cx) {
                        Poll::Ready(Ok(bytes)) => bytes,
                        Poll::Ready(Err(error)) => {
                            return Poll::Ready(Ok(deny(error.verdict(&read.protection))));
                        }
                        Poll::Pending => {
                            *reading = Some(read);
                            return Poll::Pending;
                        }
                    };
                    let Reading {
                        protection,
                        mut request,
                        mut inner,
                        ..
                    } = *read;
                    match decide(&protection, &mut request, Payload::Buffered(bytes)) {
                        Decided::Admitted(after) => state.set(State::Handler {
                            future: inner.call(request),
                            after,
                        }),
                        Decided::Denied(denied) => return Poll::Ready(Ok(*denied)),
                        Decided::Waits(payload) => {
                            state.set(waits(&protection, request, payload, inner));
                        }
                    }
                }
                StateProj::Handler { future, after } => {
                    let response = ready!(future.poll(cx))?;
                    let Some(after) = after.take() else {
                        return Poll::Ready(Ok(response.map(Body::new)));
                    };
                    match after.respond(response) {
                        Ok(response) => return Poll::Ready(Ok(response)),
                        Err(json) => state.set(State::Boxed {
                            future: Box::pin(async move { Ok(json.filter().await) }),
                        }),
                    }
                }
                StateProj::Boxed { future } => return future.as_mut().poll(cx),
            }
        }
    }
}

/// Everything that needs no waiting, done in `call`. A POST body is read as far as it has
/// arrived (polled with a no-op waker: if it is not all there, the future polls it again with
/// the task's own). The request stays whole from here to the protected service: its body is
/// read in place and, once buffered, put back as the buffered bytes (taking it apart into
/// `Parts` and body would copy the parts at each step).
#[inline(always)]
fn begin<S, ResBody>(
    protection: &Arc<Protection>,
    mut request: Request<Body>,
    inner: &mut S,
) -> State<S>
where
    S: Service<Request<Body>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: HttpBody<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    // Behind `Router::nest_service` the URI is stripped; the original one is what we guard.
    let protected = match request.extensions().get::<OriginalUri>() {
        Some(OriginalUri(uri)) => protection.protects(uri.path()),
        None => protection.protects(request.uri().path()),
    };
    if !protected {
        return State::Handler {
            future: inner.call(request),
            after: None,
        };
    }
    let payload = match Payload::new(protection, &request) {
        Ok(payload) => payload,
        Err(response) => return State::answered(*response),
    };
    if !protection.guard().checks_synchronously() {
        return waits(protection, request, payload, polled_ready(inner));
    }
    let payload = match payload {
        Payload::Reading(mut reader) => {
            let mut cx = Context::from_waker(Waker::noop());
            match reader.poll_read(request.body_mut(), &mut cx) {
                Poll::Ready(Ok(bytes)) => Payload::Buffered(bytes),
                Poll::Ready(Err(error)) => {
                    return State::answered(deny(error.verdict(protection)));
                }
                Poll::Pending => {
                    return State::Reading {
                        reading: Some(Box::new(Reading {
                            protection: protection.clone(),
                            request,
                            reader,
                            inner: polled_ready(inner),
                        })),
                    };
                }
            }
        }
        payload => payload,
    };
    match decide(protection, &mut request, payload) {
        Decided::Admitted(after) => State::Handler {
            future: inner.call(request),
            after,
        },
        Decided::Denied(denied) => State::answered(*denied),
        Decided::Waits(payload) => waits(protection, request, payload, polled_ready(inner)),
    }
}

/// Checks a request whose body is buffered (or not needed) without waiting, if the Guard can
/// ([`Protection::check_now`]), and readies it for the protected service when it is allowed
/// ([`admit`]); the caller then moves it into the service.
#[inline(always)]
fn decide(protection: &Arc<Protection>, request: &mut Request<Body>, payload: Payload) -> Decided {
    let verdict = {
        let headers = Headers::new(request.headers());
        protection.check_now(&payload.incoming(request, &headers))
    };
    let Some(verdict) = verdict else {
        return Decided::Waits(payload);
    };
    match admit(protection, verdict, request, payload) {
        Ok(after) => Decided::Admitted(after),
        Err(denied) => Decided::Denied(denied),
    }
}

/// What [`decide`] did with a request it was lent (the request is moved once, at the end).
enum Decided {
    /// Readied for the protected service.
    Admitted(Option<After>),
    /// The response for a denial.
    Denied(Box<Response<Body>>),
    /// The check must wait.
    Waits(Payload),
}

/// A protected request that must wait for its body, its check or its response filter.
async fn waiting<S, ResBody>(
    protection: Arc<Protection>,
    mut request: Request<Body>,
    payload: Payload,
    mut inner: S,
) -> Result<Response<Body>, S::Error>
where
    S: Service<Request<Body>, Response = Response<ResBody>>,
    ResBody: HttpBody<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    let payload = match payload {
        Payload::Reading(mut reader) => {
            let body = request.body_mut();
            match std::future::poll_fn(|cx| reader.poll_read(body, cx)).await {
                Ok(bytes) => Payload::Buffered(bytes),
                Err(error) => return Ok(deny(error.verdict(&protection))),
            }
        }
        payload => payload,
    };
    let verdict = {
        let headers = Headers::new(request.headers());
        protection
            .check(&payload.incoming(&request, &headers))
            .await
    };
    let after = match admit(&protection, verdict, &mut request, payload) {
        Ok(after) => after,
        Err(denied) => return Ok(*denied),
    };
    let response = inner.call(request).await?;
    Ok(match after {
        None => response.map(Body::new),
        Some(after) => match after.respond(response) {
            Ok(response) => response,
            Err(json) => json.filter().await,
        },
    })
}

/// What became of a protected request's body, which stays in the request until it is
/// buffered.
enum Payload {
    /// Handed on unread (not a POST, or plain HTTP).
    Unread,
    /// A POST body being buffered for classification.
    Reading(BodyReader),
    /// A POST body, buffered (the request's own has been read to its end).
    Buffered(Bytes),
}

impl Payload {
    /// A POST is buffered (`Err`: its length is already known to be too large); other bodies
    /// are handed on unread.
    ///
    /// The body's size hint says what is known of its length: hyper's carries a declared
    /// `Content-Length` (exactly), so such a body is refused before any of it is read, and the
    /// header need not be found and parsed again. A body of unknown length is refused once more
    /// than the bound has arrived.
    fn new(protection: &Protection, request: &Request<Body>) -> Result<Self, Box<Response<Body>>> {
        if !protection.buffers_body(request.method().as_str()) {
            return Ok(Payload::Unread);
        }
        let limit = protection.body_limit();
        if request.body().size_hint().lower() > limit as u64 {
            return Err(Box::new(deny(protection.body_too_large())));
        }
        Ok(Payload::Reading(BodyReader::new(limit)))
    }

    /// What core is told about the request (called once the body is buffered).
    fn incoming<'a>(
        &'a self,
        request: &'a Request<Body>,
        headers: &'a Headers<'a>,
    ) -> IncomingRequest<'a, Headers<'a>> {
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        let body = match self {
            Payload::Buffered(bytes) => Some(&bytes[..]),
            _ => None,
        };
        IncomingRequest::new(headers)
            .query(request.uri().query())
            .peer(peer)
            .body(body)
    }

    /// Puts a buffered body back into `request`, for the protected service to read.
    fn hand_on(self, request: &mut Request<Body>) {
        if let Payload::Buffered(bytes) = self {
            *request.body_mut() = Body::from(bytes);
        }
    }
}

/// Readies an allowed request for the protected service (its body handed on, the principal in
/// its extensions) and says what its response goes through; `Err` is the response for a
/// denial.
fn admit(
    protection: &Arc<Protection>,
    verdict: Verdict,
    request: &mut Request<Body>,
    payload: Payload,
) -> Result<Option<After>, Box<Response<Body>>> {
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
            payload.hand_on(request);
            Ok(Some(After {
                protection: protection.clone(),
                principal,
                lists_tools,
                client_ip,
            }))
        }
        Verdict::PassThrough => {
            payload.hand_on(request);
            Ok(None)
        }
        denied => Err(Box::new(deny(denied))),
    }
}

/// What an allowed request's response goes through: the session binding and the `tools/list`
/// filter.
struct After {
    protection: Arc<Protection>,
    principal: Principal,
    lists_tools: bool,
    client_ip: Option<IpAddr>,
}

impl After {
    /// The response to send; `Err` when it is a JSON `tools/list` response, which must be read
    /// whole to be filtered.
    fn respond<B>(self, response: Response<B>) -> Result<Response<Body>, Box<JsonFilter<B>>>
    where
        B: HttpBody<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let After {
            protection,
            principal,
            lists_tools,
            client_ip,
        } = self;
        protection.on_response(
            &principal,
            first(response.headers(), &SESSION_ID).and_then(|v| v.to_str().ok()),
        );
        let content_type = || {
            response
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
        };
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
            ResponseFilter::Json => Err(Box::new(JsonFilter {
                protection,
                principal,
                client_ip,
                response,
            })),
        }
    }
}

/// A JSON `tools/list` response to read and filter.
struct JsonFilter<B> {
    protection: Arc<Protection>,
    principal: Principal,
    client_ip: Option<IpAddr>,
    response: Response<B>,
}

impl<B> JsonFilter<B>
where
    B: HttpBody<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    async fn filter(self: Box<Self>) -> Response<Body> {
        let (mut parts, body) = self.response.into_parts();
        let Ok(collected) = Limited::new(body, MAX_TOOLS_LIST_BYTES).collect().await else {
            tracing::warn!(target: "authsec", "a tools/list response could not be read for filtering");
            return rendered(unfilterable_tools_list());
        };
        let bytes = collected.to_bytes();
        match self
            .protection
            .filter_json(self.principal, self.client_ip, &bytes)
        {
            Some(filtered) => {
                parts.headers.remove(CONTENT_LENGTH);
                Response::from_parts(parts, Body::from(filtered))
            }
            None => Response::from_parts(parts, Body::from(bytes)),
        }
    }
}

/// Why a request body could not be buffered.
#[derive(Debug)]
enum BodyError {
    TooLarge,
    Unreadable,
}

impl BodyError {
    fn verdict(self, protection: &Protection) -> Verdict {
        match self {
            BodyError::TooLarge => protection.body_too_large(),
            BodyError::Unreadable => protection.unreadable_body(),
        }
    }
}

/// Buffers a request body of at most `limit` bytes ([`BodyBuffer`]: a body that arrives in one
/// frame, the usual JSON-RPC POST, is kept as that frame's `Bytes`, without copying); trailers
/// are not kept.
struct BodyReader(BodyBuffer<Bytes>);

impl BodyReader {
    fn new(limit: usize) -> Self {
        BodyReader(BodyBuffer::new(limit))
    }

    /// Reads what has arrived; `Ready` with the whole body once it ended.
    fn poll_read<B>(&mut self, body: &mut B, cx: &mut Context<'_>) -> Poll<Result<Bytes, BodyError>>
    where
        B: HttpBody<Data = Bytes> + Unpin,
    {
        loop {
            let Some(frame) = ready!(Pin::new(&mut *body).poll_frame(cx)) else {
                return Poll::Ready(Ok(self.0.take()));
            };
            let Ok(data) = frame.map_err(|_| BodyError::Unreadable)?.into_data() else {
                continue; // Trailers.
            };
            if self.0.push(data).is_err() {
                return Poll::Ready(Err(BodyError::TooLarge));
            }
            // Not polled again once it says it has ended (hyper's does once a `Content-Length`
            // has come): asking would only go through its data and trailer channels to hear it.
            if body.is_end_stream() {
                return Poll::Ready(Ok(self.0.take()));
            }
        }
    }
}

/// A request's headers as core reads them. The four core reads on every request are found in
/// one pass over the map, which for the handful of headers an MCP request carries is cheaper
/// than four hashed look-ups (three of them custom names).
struct Headers<'a> {
    map: &'a HeaderMap,
    /// First value, and whether another follows, of each [`KnownHeader`], in its slot.
    known: [(Option<&'a [u8]>, bool); 4],
}

impl<'a> Headers<'a> {
    fn new(map: &'a HeaderMap) -> Self {
        let mut known = [(None, false); 4];
        for (name, value) in map {
            let header = if *name == http::header::AUTHORIZATION {
                KnownHeader::Authorization
            } else {
                match KnownHeader::from_name(name.as_str()) {
                    Some(header) => header,
                    None => continue,
                }
            };
            let (first, more) = &mut known[header as usize];
            match first {
                None => *first = Some(value.as_bytes()),
                Some(_) => *more = true,
            }
        }
        Headers { map, known }
    }
}

impl RequestHeaders for Headers<'_> {
    fn values(&self, name: &str) -> Vec<&[u8]> {
        self.map
            .get_all(name)
            .iter()
            .map(HeaderValue::as_bytes)
            .collect()
    }

    fn first_value(&self, name: &str) -> (Option<&[u8]>, bool) {
        if let Some(header) = KnownHeader::from_name(name) {
            return self.known(header);
        }
        let mut values = self.map.get_all(name).iter();
        (
            values.next().map(HeaderValue::as_bytes),
            values.next().is_some(),
        )
    }

    fn known(&self, header: KnownHeader) -> (Option<&[u8]>, bool) {
        self.known[header as usize]
    }
}

/// The first value of `name` in `map`. A request or response has a few headers: comparing
/// names in one pass costs less than hashing `name` for `HeaderMap::get` (about 140
/// instructions, on every request), and stays bounded by the header count hyper allows.
fn first<'a>(map: &'a HeaderMap, name: &HeaderName) -> Option<&'a HeaderValue> {
    map.iter()
        .find_map(|(key, value)| (key == name).then_some(value))
}

/// `Mcp-Session-Id`, read from the handler's responses.
static SESSION_ID: HeaderName = HeaderName::from_static(headers::MCP_SESSION_ID);

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
        let (mut body, mut reader) = (body, BodyReader::new(limit));
        rt.block_on(std::future::poll_fn(|cx| reader.poll_read(&mut body, cx)))
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

    /// A body that says when it has ended, as hyper's does for a request with a
    /// `Content-Length` once that many bytes came; polled after that, this one panics.
    struct Ends(VecDeque<&'static str>);

    impl HttpBody for Ends {
        type Data = Bytes;
        type Error = std::io::Error;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            let chunk = self.0.pop_front().expect("polled after its end");
            Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(chunk.as_bytes())))))
        }

        fn is_end_stream(&self) -> bool {
            self.0.is_empty()
        }
    }

    #[test]
    fn a_body_that_has_ended_is_not_polled_again() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        for (chunks, joined) in [
            (&["{}"][..], "{}"),
            (&["{\"a\"", ":1", "}"][..], "{\"a\":1}"),
        ] {
            let (mut body, mut reader) =
                (Ends(chunks.iter().copied().collect()), BodyReader::new(100));
            let read = rt.block_on(std::future::poll_fn(|cx| reader.poll_read(&mut body, cx)));
            assert_eq!(read.ok().unwrap(), joined, "{chunks:?}");
        }
        // The limit still holds for a body that has ended.
        let (mut body, mut reader) = (Ends(VecDeque::from(["123456"])), BodyReader::new(5));
        let read = rt.block_on(std::future::poll_fn(|cx| reader.poll_read(&mut body, cx)));
        assert!(matches!(read, Err(BodyError::TooLarge)));
    }

    /// A body that is not there when first polled: each frame comes after one `Pending` (whose
    /// waker is woken at once), as a body arriving over a slow connection.
    struct Trickle {
        frames: VecDeque<&'static str>,
        ready: bool,
        pendings: Arc<std::sync::atomic::AtomicUsize>,
    }

    impl HttpBody for Trickle {
        type Data = Bytes;
        type Error = std::io::Error;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            if !std::mem::replace(&mut self.ready, false) {
                self.ready = true;
                self.pendings
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            let frame = self.frames.pop_front();
            Poll::Ready(frame.map(|f| Ok(Frame::data(Bytes::from_static(f.as_bytes())))))
        }
    }

    /// A body whose length is known (as hyper's is from a `Content-Length`) and which must not
    /// be read: polling it fails the test.
    struct Declared(u64);

    impl HttpBody for Declared {
        type Data = Bytes;
        type Error = std::io::Error;
        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            panic!("a body known to be too large was read");
        }
        fn size_hint(&self) -> http_body::SizeHint {
            http_body::SizeHint::with_exact(self.0)
        }
    }

    /// Accepts any token but `bad`: its text is the subject, with `notes:read`.
    struct Accept;

    #[async_trait::async_trait]
    impl authsec_core::TokenVerifier for Accept {
        async fn verify(&self, token: &str) -> Result<authsec_core::Claims, authsec_core::Denial> {
            if token == "bad" {
                return Err(authsec_core::Denial::invalid_token("the token is bad"));
            }
            let mut claims = serde_json::Map::new();
            claims.insert("sub".into(), token.into());
            claims.insert("aud".into(), "https://h/mcp".into());
            claims.insert("exp".into(), 4_000_000_000u64.into());
            claims.insert("scope".into(), "notes:read".into());
            authsec_core::Claims::from_map(claims, authsec_core::TokenSource::Jwt)
                .map_err(authsec_core::Denial::invalid_token)
        }
    }

    /// A guard for `https://h/mcp` over [`Accept`], whose manifest lists `list_notes`.
    fn notes_guard() -> Guard {
        Guard::builder("https://h/mcp")
            .authorization_server("https://as")
            .verifier(Accept)
            .manifest(authsec_core::ToolManifest::new().tool("list_notes", ["notes:read"]))
            .build()
            .unwrap()
    }

    async fn send<B>(app: &mut axum::Router, token: &str, body: B) -> (StatusCode, String)
    where
        B: HttpBody<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let request = Request::post("/mcp")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::new(body))
            .unwrap();
        std::future::poll_fn(|cx| Service::<Request<Body>>::poll_ready(app, cx))
            .await
            .unwrap();
        let response = app.call(request).await.unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn a_body_still_arriving_is_read_to_its_end_then_checked_like_any_other() {
        let guard = notes_guard();
        let echo = |axum::Extension(caller): axum::Extension<Principal>, body: Bytes| async move {
            format!(
                "{} sent {}",
                caller.subject(),
                String::from_utf8_lossy(&body)
            )
        };
        let mut app = axum::Router::new()
            .route("/mcp", axum::routing::post(echo))
            .layer(AuthsecLayer::new(guard).max_body_bytes(80));
        let pendings = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let trickle = |frames: &[&'static str]| Trickle {
            frames: frames.iter().copied().collect(),
            ready: false,
            pendings: pendings.clone(),
        };
        let call =
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_notes"}}"#;
        let (head, tail) = call.split_at(30);
        let expected = (StatusCode::OK, format!("alice sent {call}"));
        // At once, cold then warm; then arriving in pieces, warm (alice) and cold (bob).
        let whole = || http_body_util::Full::new(Bytes::from_static(call.as_bytes()));
        assert_eq!(send(&mut app, "alice", whole()).await, expected);
        assert_eq!(send(&mut app, "alice", whole()).await, expected);
        assert_eq!(pendings.load(std::sync::atomic::Ordering::SeqCst), 0);
        assert_eq!(
            send(&mut app, "alice", trickle(&[head, tail])).await,
            expected
        );
        assert_eq!(pendings.load(std::sync::atomic::Ordering::SeqCst), 3);
        assert_eq!(
            send(&mut app, "bob", trickle(&[call])).await,
            (StatusCode::OK, format!("bob sent {call}"))
        );
        // Too large once it has all arrived (the limit is 80 bytes; no Content-Length).
        let (status, body) = send(&mut app, "alice", trickle(&[call, "    "])).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(body.contains("the request body exceeds 80 bytes"), "{body}");
        // Known to be too large before any of it arrives: refused unread.
        let (status, body) = send(&mut app, "alice", Declared(81)).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(body.contains("the request body exceeds 80 bytes"), "{body}");
        // A body of exactly the limit is read.
        let exact = format!("{call:<80}");
        let body = http_body_util::Full::new(Bytes::from(exact.clone()));
        assert_eq!(
            send(&mut app, "alice", body).await,
            (StatusCode::OK, format!("alice sent {exact}"))
        );
        // A tool outside the manifest, arriving in pieces: denied as at once.
        let other = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"rm"}}"#;
        let (status, body) = send(&mut app, "alice", trickle(&[other])).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(body.contains(r#""error":"policy_denied""#), "{body}");
        let (status, _) = send(&mut app, "bad", trickle(&[call])).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }

    /// Sends `request` through `app`; the status, the `WWW-Authenticate` header and the body.
    async fn exchange<S>(app: &mut S, request: Request<Body>) -> (StatusCode, String, String)
    where
        S: Service<Request<Body>, Response = Response<Body>>,
        S::Error: std::fmt::Debug,
    {
        std::future::poll_fn(|cx| app.poll_ready(cx)).await.unwrap();
        let response = app.call(request).await.unwrap();
        let status = response.status();
        let challenge = response
            .headers()
            .get(http::header::WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, challenge, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn a_wrapped_router_is_protected_under_the_prefix_whatever_the_order_of_its_routes() {
        let guard = notes_guard();
        let who = |axum::Extension(caller): axum::Extension<Principal>| async move {
            format!("hello {}", caller.subject())
        };
        // With `Router::layer`, the routes after the layer would not be covered; wrapped, they
        // are, and so is the fallback.
        let router = axum::Router::new()
            .route("/mcp", axum::routing::post(who))
            .merge(crate::metadata_router(&guard))
            .route("/mcp/admin", axum::routing::get(who))
            .fallback(|| async { "fallback" });
        let mut app = AuthsecLayer::new(guard).wrap(router);
        let get = |path: &str, token: Option<&str>| {
            let mut request = Request::get(path);
            if let Some(token) = token {
                request = request.header("authorization", format!("Bearer {token}"));
            }
            request.body(Body::empty()).unwrap()
        };
        let post = |body: &'static str| {
            Request::post("/mcp")
                .header("authorization", "Bearer alice")
                .header("content-type", "application/json")
                .body(Body::from(body))
                .unwrap()
        };
        let challenge =
            r#"Bearer resource_metadata="https://h/.well-known/oauth-protected-resource/mcp""#;
        for path in ["/mcp", "/mcp/admin", "/mcp/not-routed"] {
            let (status, header, _) = exchange(&mut app, get(path, None)).await;
            assert_eq!(
                (status, header.as_str()),
                (StatusCode::UNAUTHORIZED, challenge),
                "{path}"
            );
        }
        assert_eq!(
            exchange(&mut app, get("/mcp/admin", Some("alice"))).await,
            (StatusCode::OK, String::new(), "hello alice".to_owned())
        );
        // The fallback under the prefix: authenticated first, then routed.
        assert_eq!(
            exchange(&mut app, get("/mcp/not-routed", Some("alice"))).await,
            (StatusCode::OK, String::new(), "fallback".to_owned())
        );
        // Outside the prefix: the metadata and the fallback need no token.
        let (status, _, metadata) = exchange(
            &mut app,
            get("/.well-known/oauth-protected-resource/mcp", None),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let metadata: serde_json::Value = serde_json::from_str(&metadata).unwrap();
        assert_eq!(metadata["resource"], "https://h/mcp");
        assert_eq!(
            exchange(&mut app, get("/elsewhere", None)).await,
            (StatusCode::OK, String::new(), "fallback".to_owned())
        );
        // Tool checks on the body, as with the layer.
        let call =
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_notes"}}"#;
        assert_eq!(
            exchange(&mut app, post(call)).await,
            (StatusCode::OK, String::new(), "hello alice".to_owned())
        );
        let other = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"rm"}}"#;
        let (status, _, body) = exchange(&mut app, post(other)).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(body.contains(r#""error":"policy_denied""#), "{body}");
    }

    #[tokio::test]
    async fn a_wrapped_router_serves_over_http_with_the_peer_address() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let guard = Guard::builder("https://h/mcp")
            .authorization_server("https://as")
            .verifier(Accept)
            .build()
            .unwrap();
        let peer = |axum::Extension(caller): axum::Extension<Principal>,
                    ConnectInfo(peer): ConnectInfo<SocketAddr>| async move {
            format!("{} from {}", caller.subject(), peer.ip())
        };
        let app = AuthsecLayer::new(guard)
            .wrap(axum::Router::new().route("/mcp", axum::routing::get(peer)));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
        });
        let send = |authorization: &'static str| async move {
            let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            let request =
                format!("GET /mcp HTTP/1.1\r\nHost: h\r\n{authorization}Connection: close\r\n\r\n");
            stream.write_all(request.as_bytes()).await.unwrap();
            let mut response = String::new();
            stream.read_to_string(&mut response).await.unwrap();
            response
        };
        let denied = send("").await;
        assert!(
            denied.starts_with("HTTP/1.1 401 Unauthorized\r\n"),
            "{denied}"
        );
        assert!(
            denied.contains(
                "www-authenticate: Bearer resource_metadata=\"https://h/.well-known/oauth-protected-resource/mcp\"\r\n"
            ),
            "{denied}"
        );
        let allowed = send("Authorization: Bearer alice\r\n").await;
        assert!(allowed.starts_with("HTTP/1.1 200 OK\r\n"), "{allowed}");
        assert!(
            allowed.ends_with("\r\n\r\nalice from 127.0.0.1"),
            "{allowed}"
        );
        server.abort();
    }

    #[test]
    fn headers_found_in_one_pass_read_as_the_map_does() {
        let mut map = HeaderMap::new();
        map.append("authorization", HeaderValue::from_static("Bearer a"));
        map.append("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
        map.append("mcp-method", HeaderValue::from_static("tools/call"));
        map.append("authorization", HeaderValue::from_static("Bearer b"));
        map.append("x-forwarded-for", HeaderValue::from_static("10.0.0.2"));
        map.append("mcp-session-idx", HeaderValue::from_static("not it"));
        let headers = Headers::new(&map);
        assert_eq!(
            headers.first_value("authorization"),
            (Some(&b"Bearer a"[..]), true)
        );
        assert_eq!(
            headers.first_value("mcp-method"),
            (Some(&b"tools/call"[..]), false)
        );
        assert_eq!(headers.first_value("mcp-name"), (None, false));
        assert_eq!(headers.first_value("mcp-session-id"), (None, false));
        assert_eq!(
            headers.first_value("x-forwarded-for"),
            (Some(&b"10.0.0.1"[..]), true)
        );
        assert_eq!(
            headers.values("x-forwarded-for"),
            [&b"10.0.0.1"[..], &b"10.0.0.2"[..]]
        );
        assert_eq!(headers.text("mcp-method"), Some("tools/call"));

        // Each of the four is read from its own slot.
        map.append("mcp-name", HeaderValue::from_static("add_note"));
        map.append("mcp-session-id", HeaderValue::from_static("s-1"));
        map.append("mcp-session-id", HeaderValue::from_static("s-2"));
        let headers = Headers::new(&map);
        for (name, first, more) in [
            ("authorization", "Bearer a", true),
            ("mcp-session-id", "s-1", true),
            ("mcp-method", "tools/call", false),
            ("mcp-name", "add_note", false),
        ] {
            assert_eq!(
                headers.first_value(name),
                (Some(first.as_bytes()), more),
                "{name}"
            );
        }
        // The slots core reads through `known` are the ones `first_value` answers from, and
        // agree with the map itself.
        for header in KnownHeader::ALL {
            let mut all = map.get_all(header.name()).iter();
            let expected = (all.next().map(HeaderValue::as_bytes), all.next().is_some());
            assert_eq!(headers.known(header), expected, "{header:?}");
            assert_eq!(headers.first_value(header.name()), expected, "{header:?}");
        }
        assert_eq!(headers.known_text(KnownHeader::McpSessionId), Some("s-1"));
    }
}
