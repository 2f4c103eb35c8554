//! The services compared: the same axum handler, unprotected or behind each protection.
//!
//! | contender | what protects the handler |
//! |---|---|
//! | `unprotected` | nothing: the baseline |
//! | `authsec` | [`AuthsecLayer`] (checks 1–5, MCP classification, `tools/list` filtering) with its verified-token cache (a warm token is not verified again) |
//! | `authsec (no cache)` | the same with `token_cache_capacity(0)`: a signature check per request, the cost of a token seen for the first time |
//! | `tower-oauth2-resource-server` | its tower layer with a static JWKS tenant (issuer, audience, exp, nbf) |
//! | `jsonwebtoken middleware` | a minimal hand-written axum middleware: `Bearer` prefix, `jsonwebtoken::decode` with a cached key and `Validation`, claims into the extensions |
//!
//! None of the peers checks scopes per tool or filters `tools/list`; authsec does both here.

use std::sync::Arc;

use authsec_axum::AuthsecLayer;
use authsec_core::Guard;
use authsec_core::jsonwebtoken::{DecodingKey, Validation};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use http::StatusCode;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
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
    /// authsec with the cache off: every request verifies the signature.
    AuthsecNoCache,
    /// tower-oauth2-resource-server.
    TowerOauth2,
    /// A hand-written jsonwebtoken middleware.
    JsonwebtokenMiddleware,
}

impl Contender {
    /// Every contender, baseline first.
    pub const ALL: [Contender; 5] = [
        Contender::Unprotected,
        Contender::Authsec,
        Contender::AuthsecNoCache,
        Contender::TowerOauth2,
        Contender::JsonwebtokenMiddleware,
    ];

    /// A short identifier (criterion ids, result files).
    pub fn id(self) -> &'static str {
        match self {
            Contender::Unprotected => "unprotected",
            Contender::Authsec => "authsec",
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

/// The service of `contender`, protecting the bench handler with `fixture`'s key.
pub async fn router(contender: Contender, fixture: &Fixture) -> Router {
    match contender {
        Contender::Unprotected => app(),
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
