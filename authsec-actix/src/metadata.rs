//! The RFC 9728 Protected Resource Metadata service.

use actix_web::dev::{AppService, HttpServiceFactory};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpResponse, web};
use authsec_core::Guard;
use authsec_core::adapter::MetadataEndpoint;
use bytes::Bytes;

/// The guard's RFC 9728 document at its path-based well-known URL
/// (`/.well-known/oauth-protected-resource/mcp` for `https://h/mcp`) and, since one guard is
/// one resource, at the root form `/.well-known/oauth-protected-resource` too. Register it
/// with `App::service`, outside the protected prefix; it needs no token.
///
/// ```
/// # fn doc(guard: authsec_core::Guard) {
/// let app = actix_web::App::new().service(authsec_actix::metadata_service(&guard));
/// # }
/// ```
pub fn metadata_service(guard: &Guard) -> MetadataService {
    MetadataService {
        endpoint: MetadataEndpoint::new(guard),
    }
}

/// Like [`metadata_service`] without the root form: for servers that protect several
/// resources and register one service per guard.
pub fn metadata_service_path_only(guard: &Guard) -> MetadataService {
    MetadataService {
        endpoint: MetadataEndpoint::path_only(guard),
    }
}

/// The routes made by [`metadata_service`]: `GET` (and `HEAD`) answer the document with
/// `Cache-Control: public, max-age=300` and `Access-Control-Allow-Origin: *`; `OPTIONS`
/// answers a CORS preflight with `204`.
#[derive(Clone, Debug)]
pub struct MetadataService {
    endpoint: MetadataEndpoint,
}

impl HttpServiceFactory for MetadataService {
    fn register(self, config: &mut AppService) {
        for path in self.endpoint.paths() {
            let get = self.endpoint.clone();
            let head = self.endpoint.clone();
            web::resource(path.as_str())
                .route(web::get().to(move || ready(document(Bytes::from(get.document())))))
                .route(web::head().to(move || ready(document(Bytes::from(head.document())))))
                .route(web::method(Method::OPTIONS).to(|| ready(preflight())))
                .register(config);
        }
    }
}

fn ready(response: HttpResponse) -> std::future::Ready<HttpResponse> {
    std::future::ready(response)
}

fn document(body: Bytes) -> HttpResponse {
    with_headers(HttpResponse::Ok(), &MetadataEndpoint::HEADERS).body(body)
}

fn preflight() -> HttpResponse {
    let status =
        StatusCode::from_u16(MetadataEndpoint::PREFLIGHT_STATUS).unwrap_or(StatusCode::NO_CONTENT);
    with_headers(
        HttpResponse::build(status),
        &MetadataEndpoint::PREFLIGHT_HEADERS,
    )
    .finish()
}

fn with_headers(
    mut builder: actix_web::HttpResponseBuilder,
    headers: &[(&'static str, &'static str)],
) -> actix_web::HttpResponseBuilder {
    for (name, value) in headers {
        builder.insert_header((
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        ));
    }
    builder
}
