//! Extractors: the caller's [`Principal`] in axum handlers.

use std::convert::Infallible;

use authsec_core::Principal;
use authsec_core::adapter::principal_missing;
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::request::Parts;

/// The authenticated caller, put in the request extensions by [`AuthsecLayer`](crate::AuthsecLayer).
///
/// ```
/// use authsec_axum::Authenticated;
///
/// async fn whoami(Authenticated(principal): Authenticated) -> String {
///     format!("hello {}", principal.subject())
/// }
/// # let _ = axum::Router::<()>::new().route("/whoami", axum::routing::get(whoami));
/// ```
///
/// If the layer did not run for this route, extraction fails with a 500 that says so: that is a
/// wiring mistake, never a reason to serve the request anonymously. Use
/// `Option<Authenticated>` for routes that also serve anonymous callers.
#[derive(Clone, Debug)]
pub struct Authenticated(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Authenticated {
    type Rejection = LayerMissing;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .map(Authenticated)
            .ok_or(LayerMissing)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Authenticated {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Principal>()
            .cloned()
            .map(Authenticated))
    }
}

/// Rejection of [`Authenticated`] when no [`AuthsecLayer`](crate::AuthsecLayer) ran for the
/// route.
#[derive(Clone, Copy, Debug)]
pub struct LayerMissing;

impl IntoResponse for LayerMissing {
    fn into_response(self) -> Response {
        tracing::error!(
            target: "authsec",
            "a handler asked for the authenticated principal but no AuthsecLayer covers this route"
        );
        crate::layer::rendered(principal_missing("AuthsecLayer"))
    }
}
