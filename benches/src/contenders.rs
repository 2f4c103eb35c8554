//! The services compared: the same axum handler, unprotected or behind each protection.
//!
//! | contender | what protects the handler |
//! |---|---|
//! | `unprotected` | nothing: the baseline |
//! | `floor` | [`Floor`]: one token compared, a POST body read and searched for the tool's name; no validation, scopes or policy. The least any such layer does: a lower bound, not a protection |
//! | `authsec` | [`AuthsecLayer`] added with `Router::layer` (checks 1–5, MCP classification, `tools/list` filtering) with its verified-token cache (a warm token is not verified again) |
//! | `authsec (wrapping the Router)` | the same layer wrapped around the whole `Router` ([`AuthsecLayer::wrap`]): no `Router::layer` cost |
//! | `authsec (no cache)` | the same with `token_cache_capacity(0)`: a signature check per request, the cost of a token seen for the first time |
//! | `tower-oauth2-resource-server` | its tower layer with a static JWKS tenant (issuer, audience, exp, nbf) |
//! | `jsonwebtoken middleware` | a minimal hand-written axum middleware: `Bearer` prefix, `jsonwebtoken::decode` with a cached key and `Validation`, claims into the extensions |
//!
//! None of the peers checks scopes per tool or filters `tools/list`; authsec does both here.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker, ready};

use authsec_axum::{Authsec, AuthsecLayer, ResponseFuture};
use authsec_core::Guard;
use authsec_core::jsonwebtoken::{DecodingKey, Validation};
use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::future::RouteFuture;
use axum::routing::post;
use tower_service::Service;

use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{Method, StatusCode};
use pin_project_lite::pin_project;
use serde::Deserialize;
use tower_oauth2_resource_server::claims::DefaultClaims;
use tower_oauth2_resource_server::server::OAuth2ResourceServer;
use tower_oauth2_resource_server::tenant::TenantConfiguration;
use tower_oauth2_resource_server::validation::ClaimsValidationSpec;

use crate::fixture::{Fixture, ISSUER, RESOURCE, TOOLS_CALL_RESULT, manifest, tools_list_response};

/// Who protects the handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Contender {
    /// No protection.
    Unprotected,
    /// The floor: the least any layer that checks a token and reads an MCP body does
    /// ([`Floor`]); a lower bound to measure authsec against, not a protection.
    Floor,
    /// authsec, verified-token cache on (warm tokens are served from it).
    Authsec,
    /// authsec wrapped around the whole `Router` instead of added with `Router::layer`.
    AuthsecWrapped,
    /// authsec with the cache off: every request verifies the signature.
    AuthsecNoCache,
    /// tower-oauth2-resource-server.
    TowerOauth2,
    /// A hand-written jsonwebtoken middleware.
    JsonwebtokenMiddleware,
}

impl Contender {
    /// Every contender, baseline first.
    pub const ALL: [Contender; 7] = [
        Contender::Unprotected,
        Contender::Floor,
        Contender::Authsec,
        Contender::AuthsecWrapped,
        Contender::AuthsecNoCache,
        Contender::TowerOauth2,
        Contender::JsonwebtokenMiddleware,
    ];

    /// A short identifier (criterion ids, result files).
    pub fn id(self) -> &'static str {
        match self {
            Contender::Unprotected => "unprotected",
            Contender::Authsec => "authsec",
            Contender::AuthsecWrapped => "authsec_wrapped",
            Contender::AuthsecNoCache => "authsec_no_cache",
            Contender::TowerOauth2 => "tower_oauth2",
            Contender::JsonwebtokenMiddleware => "jsonwebtoken_mw",
            Contender::Floor => "floor",
        }
    }
}

/// The handler every contender protects: answers a `tools/call` with a small result, and a
/// `tools/list` with a 100-tool list (which authsec filters for the caller).
async fn mcp_handler(State(list): State<Arc<Bytes>>, body: Bytes) -> Response {
    let payload = if body.starts_with(br#"{"jsonrpc":"2.0","id":7,"method":"tools/list""#) {
        (*list).clone()
    } else {
        Bytes::from_static(TOOLS_CALL_RESULT.as_bytes())
    };
    ([(CONTENT_TYPE, "application/json")], payload).into_response()
}

fn app() -> Router {
    let list = Arc::new(Bytes::from(tools_list_response(100)));
    Router::new()
        .route("/mcp", post(mcp_handler).get(mcp_handler))
        .with_state(list)
}

/// authsec's Guard for `fixture`'s key: the bench manifest, cache on or off.
pub fn guard(fixture: &Fixture, cache: bool) -> Guard {
    let mut builder = Guard::builder(RESOURCE)
        .authorization_server(ISSUER)
        .verifier(fixture.verifier())
        .manifest(manifest())
        .initial_scopes(["notes:read"]);
    if !cache {
        builder = builder.token_cache_capacity(0);
    }
    builder.build().expect("guard")
}

/// A contender's service: an axum `Router` (unprotected or with a `Router::layer`), or authsec
/// wrapped around the whole `Router`.
#[derive(Clone)]
pub enum Served {
    /// A `Router`, served as axum serves one.
    Router(Router),
    /// [`AuthsecLayer::wrap`] around a `Router`, served through `Authsec::into_make_service`.
    Wrapped(Authsec<Router>),
    /// [`Floor`] around a `Router`.
    Floor(Floor),
}

impl Served {
    /// One request through (a clone of) the service, as a server sends each request.
    pub fn send(&self, request: Request) -> Sending {
        match self {
            Served::Router(router) => Sending::Router {
                future: router.clone().call(request),
            },
            Served::Wrapped(service) => Sending::Wrapped {
                future: service.clone().call(request),
            },
            Served::Floor(floor) => Sending::Floor {
                future: floor.clone().call(request),
            },
        }
    }

    /// The `Router`, for adding a layer to (`None` for the wrapped contender).
    pub fn into_router(self) -> Option<Router> {
        match self {
            Served::Router(router) => Some(router),
            Served::Wrapped(_) | Served::Floor(_) => None,
        }
    }
}

pin_project! {
    /// The response of [`Served::send`] on its way.
    #[project = SendingProj]
    pub enum Sending {
        /// From a `Router`.
        Router { #[pin] future: RouteFuture<Infallible> },
        /// From authsec wrapping a `Router`.
        Wrapped { #[pin] future: ResponseFuture<Router> },
        /// From [`Floor`].
        Floor { #[pin] future: FloorFuture },
    }
}

impl Future for Sending {
    type Output = Response;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Response> {
        let result = match self.project() {
            SendingProj::Router { future } => ready!(future.poll(cx)),
            SendingProj::Wrapped { future } => ready!(future.poll(cx)),
            SendingProj::Floor { future } => ready!(future.poll(cx)),
        };
        Poll::Ready(match result {
            Ok(response) => response,
            Err(never) => match never {},
        })
    }
}

/// The service of `contender`, protecting the bench handler with `fixture`'s key.
pub async fn service(contender: Contender, fixture: &Fixture) -> Served {
    Served::Router(match contender {
        Contender::Unprotected => app(),
        Contender::AuthsecWrapped => {
            return Served::Wrapped(AuthsecLayer::new(guard(fixture, true)).wrap(app()));
        }
        Contender::Floor => return Served::Floor(Floor::new(app(), &fixture.token)),
        Contender::Authsec => app().layer(AuthsecLayer::new(guard(fixture, true))),
        Contender::AuthsecNoCache => app().layer(AuthsecLayer::new(guard(fixture, false))),
        Contender::TowerOauth2 => {
            let audiences = vec![RESOURCE.to_owned()];
            let tenant = TenantConfiguration::static_builder(fixture.jwks_json())
                .audiences(&audiences)
                .claims_validation(ClaimsValidationSpec::recommended(ISSUER, &audiences))
                .build()
                .expect("tower-oauth2-resource-server tenant");
            let server = OAuth2ResourceServer::<DefaultClaims>::builder()
                .add_tenant(tenant)
                .build()
                .await
                .expect("tower-oauth2-resource-server");
            app().layer(server.into_layer())
        }
        Contender::JsonwebtokenMiddleware => {
            let state = JwtState {
                key: Arc::new(fixture.decoding_key()),
                validation: Arc::new(fixture.validation()),
            };
            app().layer(middleware::from_fn_with_state(
                state,
                jsonwebtoken_middleware,
            ))
        }
    })
}

/// The floor, wrapped around the whole `Router` as [`AuthsecLayer::wrap`] is: it compares the
/// `Authorization` header with the one token it knows and, for a POST, reads the body (as far
/// as it has arrived: the bench's one-frame body is all there), searches it for the tool's
/// name and hands it on. No parsing or validation, no token cache, no scopes, no policy,
/// nothing recorded: the least that any layer that checks a token and reads an MCP body does.
/// authsec's distance from it is what its checks cost; its distance from the unprotected
/// service is what reading the body and wrapping the service cost anyway. Not a protection:
/// the tool's name anywhere in the body passes.
#[derive(Clone)]
pub struct Floor {
    inner: Router,
    /// `Bearer <token>`.
    authorization: Bytes,
}

/// The tool the floor lets through (the bench's `tools/call`).
const FLOOR_TOOL: &[u8] = br#""name":"add_note""#;

impl Floor {
    fn new(inner: Router, token: &str) -> Self {
        Floor {
            inner,
            authorization: Bytes::from(format!("Bearer {token}")),
        }
    }

    /// Whether the request carries the one token the floor knows.
    fn authorized(&self, request: &Request) -> bool {
        request
            .headers()
            .get(AUTHORIZATION)
            .is_some_and(|value| value.as_bytes() == self.authorization)
    }

    /// As [`Authsec::into_make_service`], for `axum::serve`.
    pub fn into_make_service(self) -> axum::routing::IntoMakeService<Self> {
        axum::ServiceExt::<Request>::into_make_service(self)
    }
}

impl Service<Request> for Floor {
    type Response = Response;
    type Error = Infallible;
    type Future = FloorFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Service::<Request>::poll_ready(&mut self.inner, cx)
    }

    /// As authsec does: the body is read in `call` when it is there (hyper's is, for a small
    /// POST), else in the future.
    fn call(&mut self, request: Request) -> FloorFuture {
        if !self.authorized(&request) {
            return FloorFuture::Refused {
                status: StatusCode::UNAUTHORIZED,
            };
        }
        if request.method() != Method::POST {
            return FloorFuture::Called {
                future: self.inner.call(request),
            };
        }
        let (parts, mut body) = request.into_parts();
        match floor_read(&mut body, &mut Context::from_waker(Waker::noop())) {
            Poll::Ready(Ok(data)) => FloorFuture::Called {
                future: self
                    .inner
                    .call(Request::from_parts(parts, Body::from(data))),
            },
            Poll::Ready(Err(status)) => FloorFuture::Refused { status },
            Poll::Pending => FloorFuture::Reading {
                reading: Some((parts, body, self.inner.clone())),
            },
        }
    }
}

/// The floor's read of a POST body: one data frame that ends it (what the bench sends), which
/// must name the tool. Anything else is beyond the floor: 503, on which the load run fails.
fn floor_read(body: &mut Body, cx: &mut Context<'_>) -> Poll<Result<Bytes, StatusCode>> {
    let frame = ready!(Pin::new(&mut *body).poll_frame(cx));
    let data = match frame.map(|frame| frame.map(|frame| frame.into_data())) {
        Some(Ok(Ok(data))) if body.is_end_stream() => data,
        _ => return Poll::Ready(Err(StatusCode::SERVICE_UNAVAILABLE)),
    };
    if memchr::memmem::find(&data, FLOOR_TOOL).is_none() {
        return Poll::Ready(Err(StatusCode::FORBIDDEN));
    }
    Poll::Ready(Ok(data))
}

pin_project! {
    /// The response of [`Floor`].
    #[project = FloorProj]
    pub enum FloorFuture {
        /// A POST body still arriving.
        Reading { reading: Option<(http::request::Parts, Body, Router)> },
        /// The `Router` answers.
        Called { #[pin] future: RouteFuture<Infallible> },
        /// Refused.
        Refused { status: StatusCode },
    }
}

impl Future for FloorFuture {
    type Output = Result<Response, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let (request, mut inner) = match self.as_mut().project() {
                FloorProj::Called { future } => return future.poll(cx),
                FloorProj::Refused { status } => return Poll::Ready(Ok(status.into_response())),
                FloorProj::Reading { reading } => {
                    let Some((_, body, _)) = reading.as_mut() else {
                        return Poll::Ready(Ok(StatusCode::INTERNAL_SERVER_ERROR.into_response()));
                    };
                    let read = ready!(floor_read(body, cx));
                    let Some((parts, _, inner)) = reading.take() else {
                        return Poll::Ready(Ok(StatusCode::INTERNAL_SERVER_ERROR.into_response()));
                    };
                    match read {
                        Ok(data) => (Request::from_parts(parts, Body::from(data)), inner),
                        Err(status) => return Poll::Ready(Ok(status.into_response())),
                    }
                }
            };
            self.set(FloorFuture::Called {
                future: inner.call(request),
            });
        }
    }
}

/// The claims the hand-written middleware reads.
#[derive(Clone, Debug, Deserialize)]
pub struct MinimalClaims {
    /// `sub`.
    pub sub: Option<String>,
    /// `scope`.
    pub scope: Option<String>,
}

#[derive(Clone)]
struct JwtState {
    key: Arc<DecodingKey>,
    validation: Arc<Validation>,
}

/// What most services write by hand: the `Bearer ` prefix, one `decode`, 401 otherwise.
async fn jsonwebtoken_middleware(
    State(state): State<JwtState>,
    mut request: Request<Body>,
    next: Next,
) -> Response {
    let token = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(token) = token else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    match authsec_core::jsonwebtoken::decode::<MinimalClaims>(token, &state.key, &state.validation)
    {
        Ok(data) => {
            request.extensions_mut().insert(data.claims);
            next.run(request).await
        }
        Err(_) => StatusCode::UNAUTHORIZED.into_response(),
    }
}

/// A `GET /mcp` request carrying `token` (no body: only the token is checked).
pub fn get_request(token_header: &http::HeaderValue) -> Request<Body> {
    Request::builder()
        .method("GET")
        .uri("/mcp")
        .header(AUTHORIZATION, token_header.clone())
        .header("accept", "application/json")
        .body(Body::empty())
        .expect("request")
}

/// A `POST /mcp` request carrying `token` and `body`, as a client sends it.
pub fn mcp_request(token_header: &http::HeaderValue, body: &'static str) -> Request<Body> {
    Request::builder()
        .method("POST")
        .uri("/mcp")
        .header(AUTHORIZATION, token_header.clone())
        .header(CONTENT_TYPE, "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(Body::from(Bytes::from_static(body.as_bytes())))
        .expect("request")
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use authsec_tests::dev_issuer::SigningAlgorithm;
    use http::HeaderValue;
    use http_body::Frame;
    use http_body_util::BodyExt;

    use super::*;
    use crate::fixture::TOOLS_CALL_BODY;

    async fn answer(floor: &Floor, request: Request) -> (StatusCode, Bytes) {
        let response = floor.clone().call(request).await.expect("infallible");
        let status = response.status();
        let body = response.into_body().collect().await.expect("body");
        (status, body.to_bytes())
    }

    fn post(authorization: Option<&str>, body: Body) -> Request {
        let mut request = Request::post("/mcp").body(body).expect("request");
        if let Some(value) = authorization {
            let value = HeaderValue::from_str(value).expect("header");
            request.headers_mut().insert(AUTHORIZATION, value);
        }
        request
    }

    #[tokio::test]
    async fn the_floor_passes_the_bench_request_and_refuses_what_it_checks() {
        let fixture = Fixture::new(SigningAlgorithm::RS256);
        let floor = Floor::new(app(), &fixture.token);
        let bearer = format!("Bearer {}", fixture.token);

        let ok = answer(&floor, post(Some(&bearer), Body::from(TOOLS_CALL_BODY))).await;
        assert_eq!(ok, (StatusCode::OK, Bytes::from(TOOLS_CALL_RESULT)));

        let get = Request::get("/mcp")
            .header(AUTHORIZATION, &bearer)
            .body(Body::empty())
            .expect("request");
        assert_eq!(
            answer(&floor, get).await,
            (StatusCode::OK, Bytes::from(TOOLS_CALL_RESULT))
        );

        let no_token = answer(&floor, post(None, Body::from(TOOLS_CALL_BODY))).await;
        assert_eq!(no_token, (StatusCode::UNAUTHORIZED, Bytes::new()));

        let other_token = format!("Bearer {}x", fixture.token);
        let other = answer(
            &floor,
            post(Some(&other_token), Body::from(TOOLS_CALL_BODY)),
        )
        .await;
        assert_eq!(other, (StatusCode::UNAUTHORIZED, Bytes::new()));

        let other_tool = TOOLS_CALL_BODY.replace("add_note", "delete_note");
        let refused = answer(&floor, post(Some(&bearer), Body::from(other_tool))).await;
        assert_eq!(refused, (StatusCode::FORBIDDEN, Bytes::new()));
    }

    /// A body of `chunks`, one frame each; a late one is not there at its first poll.
    struct Chunks {
        late: bool,
        chunks: VecDeque<Bytes>,
    }

    impl Chunks {
        fn body(late: bool, chunks: &[&'static str]) -> Body {
            let chunks = chunks.iter().map(|c| Bytes::from_static(c.as_bytes()));
            Body::new(Chunks {
                late,
                chunks: chunks.collect(),
            })
        }
    }

    impl HttpBody for Chunks {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            if std::mem::take(&mut self.late) {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            Poll::Ready(self.chunks.pop_front().map(|chunk| Ok(Frame::data(chunk))))
        }

        fn is_end_stream(&self) -> bool {
            !self.late && self.chunks.is_empty()
        }
    }

    #[tokio::test]
    async fn the_floor_waits_for_a_late_body_and_refuses_one_of_two_frames() {
        let fixture = Fixture::new(SigningAlgorithm::RS256);
        let floor = Floor::new(app(), &fixture.token);
        let bearer = format!("Bearer {}", fixture.token);

        // Not there when the service is called: read by the future, then answered.
        let late = Chunks::body(true, &[TOOLS_CALL_BODY]);
        assert!(matches!(
            floor.clone().call(post(Some(&bearer), late)),
            FloorFuture::Reading { .. }
        ));
        let late = Chunks::body(true, &[TOOLS_CALL_BODY]);
        assert_eq!(
            answer(&floor, post(Some(&bearer), late)).await,
            (StatusCode::OK, Bytes::from(TOOLS_CALL_RESULT))
        );

        // Two frames are beyond the floor: 503.
        let (head, tail) = TOOLS_CALL_BODY.split_at(40);
        let split = Chunks::body(false, &[head, tail]);
        let split = answer(&floor, post(Some(&bearer), split)).await;
        assert_eq!(split, (StatusCode::SERVICE_UNAVAILABLE, Bytes::new()));
    }
}
