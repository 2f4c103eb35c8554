//! The services compared: the same axum handler, unprotected or behind each protection.
//!
//! | contender | what protects the handler |
//! |---|---|
//! | `unprotected` | nothing: the baseline |
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
use std::task::{Context, Poll, ready};

use authsec_axum::{Authsec, AuthsecLayer, ResponseFuture};
use authsec_core::Guard;
use authsec_core::jsonwebtoken::{DecodingKey, Validation};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::future::RouteFuture;
use axum::routing::post;
use tower_service::Service;

use http::StatusCode;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
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
    pub const ALL: [Contender; 6] = [
        Contender::Unprotected,
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
        }
    }

    /// The `Router`, for adding a layer to (`None` for the wrapped contender).
    pub fn into_router(self) -> Option<Router> {
        match self {
            Served::Router(router) => Some(router),
            Served::Wrapped(_) => None,
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
    }
}

impl Future for Sending {
    type Output = Response;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Response> {
        let result = match self.project() {
            SendingProj::Router { future } => ready!(future.poll(cx)),
            SendingProj::Wrapped { future } => ready!(future.poll(cx)),
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
