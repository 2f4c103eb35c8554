//! The RFC 9728 Protected Resource Metadata route.

use authsec_core::Guard;
use authsec_core::adapter::MetadataEndpoint;
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{HeaderName, HeaderValue, Response, StatusCode};

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
    router(MetadataEndpoint::new(guard))
}

/// Like [`metadata_router`] without the root form: for servers that protect several resources
/// and merge one router per guard.
pub fn metadata_router_path_only<S: Clone + Send + Sync + 'static>(guard: &Guard) -> Router<S> {
    router(MetadataEndpoint::path_only(guard))
}

fn router<S: Clone + Send + Sync + 'static>(endpoint: MetadataEndpoint) -> Router<S> {
    let mut router = Router::new();
    for path in endpoint.paths() {
        let endpoint = endpoint.clone();
        router = router.route(
            path,
            get(move || serve(endpoint.document())).options(preflight),
        );
    }
    router
}

async fn serve(json: String) -> Response<Body> {
    with_headers(Response::new(Body::from(json)), &MetadataEndpoint::HEADERS)
}

async fn preflight() -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() =
        StatusCode::from_u16(MetadataEndpoint::PREFLIGHT_STATUS).unwrap_or(StatusCode::NO_CONTENT);
    with_headers(response, &MetadataEndpoint::PREFLIGHT_HEADERS)
}

fn with_headers(
    mut response: Response<Body>,
    headers: &[(&'static str, &'static str)],
) -> Response<Body> {
    for (name, value) in headers {
        response.headers_mut().insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    response
}
