//! The RFC 9728 Protected Resource Metadata route.

use authsec_core::Guard;
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    CACHE_CONTROL, CONTENT_TYPE,
};
use http::{HeaderValue, Response, StatusCode};

/// How long clients may cache the metadata document.
const MAX_AGE: &str = "public, max-age=3600";

/// A router serving the guard's RFC 9728 document at its path-based well-known URL
/// (`/.well-known/oauth-protected-resource/mcp` for `https://h/mcp`) and, since one guard is
/// one resource, at the root form `/.well-known/oauth-protected-resource` too. Merge it into your
/// app outside the protected prefix; it needs no token.
///
/// ```
/// # fn doc(guard: authsec_core::Guard) {
/// let app: axum::Router = axum::Router::new().merge(authsec_axum::metadata_router(&guard));
/// # }
/// ```
pub fn metadata_router<S: Clone + Send + Sync + 'static>(guard: &Guard) -> Router<S> {
    let router = metadata_router_path_only(guard);
    let root = "/.well-known/oauth-protected-resource";
    if guard.resource().metadata_path() == root {
        return router;
    }
    let json = guard.metadata().to_json();
    router.route(root, get(move || serve(json.clone())).options(preflight))
}

/// Like [`metadata_router`] without the root form: for servers that protect several resources
/// and merge one router per guard.
pub fn metadata_router_path_only<S: Clone + Send + Sync + 'static>(guard: &Guard) -> Router<S> {
    let json = guard.metadata().to_json();
    Router::new().route(
        guard.resource().metadata_path(),
        get(move || serve(json.clone())).options(preflight),
    )
}

async fn serve(json: String) -> Response<Body> {
    let mut response = Response::new(Body::from(json));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(MAX_AGE));
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    response
}

async fn preflight() -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert(
        ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, OPTIONS"),
    );
    headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("*"));
    response
}
