//! Extractors: the caller's [`Principal`] in actix-web handlers.

use std::fmt;
use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use authsec_core::Principal;
use authsec_core::adapter::principal_missing;

/// The authenticated caller, put in the request extensions by the [`Authsec`](crate::Authsec)
/// middleware.
///
/// ```
/// use authsec_actix::Authenticated;
///
/// async fn whoami(Authenticated(principal): Authenticated) -> String {
///     format!("hello {}", principal.subject())
/// }
/// # let _ = actix_web::App::new().route("/whoami", actix_web::web::get().to(whoami));
/// ```
///
/// If the middleware did not run for this route, extraction fails with a 500 that says so
/// ([`MiddlewareMissing`]): that is a wiring mistake, never a reason to serve the request
/// anonymously. Use `Option<Authenticated>` for routes that also serve anonymous callers.
#[derive(Clone, Debug)]
pub struct Authenticated(pub Principal);

impl FromRequest for Authenticated {
    type Error = MiddlewareMissing;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(
            request
                .extensions()
                .get::<Principal>()
                .cloned()
                .map(Authenticated)
                .ok_or(MiddlewareMissing),
        )
    }
}

/// Rejection of [`Authenticated`] when no [`Authsec`](crate::Authsec) middleware covers the
/// route: a `500` with a JSON body naming the mistake.
#[derive(Clone, Copy, Debug)]
pub struct MiddlewareMissing;

impl fmt::Display for MiddlewareMissing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "no Authsec middleware covers this route, so there is no authenticated principal",
        )
    }
}

impl std::error::Error for MiddlewareMissing {}

impl ResponseError for MiddlewareMissing {
    fn status_code(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }

    fn error_response(&self) -> HttpResponse {
        tracing::error!(
            target: "authsec",
            "a handler asked for the authenticated principal but no Authsec middleware covers this route"
        );
        crate::middleware::rendered(principal_missing("Authsec middleware"))
    }
}
