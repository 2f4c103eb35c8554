//! The actix-web contenders: the bench handler of [`crate::contenders`] on actix-web,
//! unprotected or behind authsec-actix, compared with each other (none of the peers has an
//! actix-web middleware).
//!
//! | contender | what protects the handler |
//! |---|---|
//! | `actix_unprotected` | nothing: the actix-web baseline |
//! | `actix_authsec` | [`authsec_actix::Authsec`] with `App::wrap`, warm token (cached) |
//! | `actix_authsec_no_cache` | the same with `token_cache_capacity(0)`: a signature check per request |
//!
//! In process a contender is the service of `actix_web::test::init_service`, called with
//! `TestRequest`s; over loopback it is an `HttpServer` with one worker.

use std::net::SocketAddr;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use actix_web::web::{self, Bytes, Data};
use actix_web::{App, HttpResponse, HttpServer};
use authsec_core::Guard;

use crate::contenders::guard;
use crate::fixture::{Fixture, TOOLS_CALL_RESULT, tools_list_response};

/// An actix-web contender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActixContender {
    /// No protection.
    Unprotected,
    /// authsec-actix, verified-token cache on.
    Authsec,
    /// authsec-actix with the cache off: every request verifies the signature.
    AuthsecNoCache,
}

impl ActixContender {
    /// Every actix-web contender, baseline first.
    pub const ALL: [ActixContender; 3] = [
        ActixContender::Unprotected,
        ActixContender::Authsec,
        ActixContender::AuthsecNoCache,
    ];

    /// A short identifier (criterion ids, result files), distinct from the axum contenders'.
    pub fn id(self) -> &'static str {
        match self {
            ActixContender::Unprotected => "actix_unprotected",
            ActixContender::Authsec => "actix_authsec",
            ActixContender::AuthsecNoCache => "actix_authsec_no_cache",
        }
    }

    /// The Guard the contender protects the handler with (`None`: unprotected).
    pub fn guard(self, fixture: &Fixture) -> Option<Guard> {
        match self {
            ActixContender::Unprotected => None,
            ActixContender::Authsec => Some(guard(fixture, true)),
            ActixContender::AuthsecNoCache => Some(guard(fixture, false)),
        }
    }
}

/// The same handler as the axum contenders': a `tools/call` gets a small result, a `tools/list`
/// the 100-tool list (which authsec filters for the caller).
async fn mcp_handler(list: Data<Bytes>, body: Bytes) -> HttpResponse {
    let payload = if body.starts_with(br#"{"jsonrpc":"2.0","id":7,"method":"tools/list""#) {
        list.get_ref().clone()
    } else {
        Bytes::from_static(TOOLS_CALL_RESULT.as_bytes())
    };
    HttpResponse::Ok()
        .content_type("application/json")
        .body(payload)
}

/// The routes every actix-web contender serves.
pub fn routes(config: &mut web::ServiceConfig) {
    config
        .app_data(Data::new(Bytes::from(tools_list_response(100))))
        .route("/mcp", web::post().to(mcp_handler))
        .route("/mcp", web::get().to(mcp_handler));
}

/// Evaluates `$with` with `$app` bound to the `App` of the contender whose Guard is `$guard`
/// (an `Option<Guard>`: `None` is unprotected). The two apps have different types, so each is
/// used where it is built.
#[macro_export]
macro_rules! with_actix_app {
    ($guard:expr, |$app:ident| $with:expr) => {
        match $guard {
            None => {
                let $app = actix_web::App::new().configure($crate::actix::routes);
                $with
            }
            Some(guard) => {
                let $app = actix_web::App::new()
                    .wrap(authsec_actix::Authsec::new(guard))
                    .configure($crate::actix::routes);
                $with
            }
        }
    };
}

/// A `POST /mcp` with `token_header` and `body`, as [`crate::contenders::mcp_request`].
pub fn mcp_request(token_header: &str, body: &'static str) -> actix_http::Request {
    actix_web::test::TestRequest::post()
        .uri("/mcp")
        .insert_header((AUTHORIZATION, token_header))
        .insert_header((CONTENT_TYPE, "application/json"))
        .insert_header((ACCEPT, "application/json, text/event-stream"))
        .set_payload(Bytes::from_static(body.as_bytes()))
        .to_request()
}

/// A `GET /mcp` with `token_header`, as [`crate::contenders::get_request`].
pub fn get_request(token_header: &str) -> actix_http::Request {
    actix_web::test::TestRequest::get()
        .uri("/mcp")
        .insert_header((AUTHORIZATION, token_header))
        .insert_header((ACCEPT, "application/json"))
        .to_request()
}

/// Sends `request` through `service` and reads the whole response: its status and length.
pub async fn send<S, B>(service: &S, request: actix_http::Request) -> (u16, usize)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let response = match service.call(request).await {
        Ok(response) => response,
        Err(error) => return (error.as_response_error().status_code().as_u16(), 0),
    };
    let status = response.status().as_u16();
    let len = actix_web::body::to_bytes(response.into_body())
        .await
        .map_or(0, |bytes| bytes.len());
    (status, len)
}

/// Serves `contender` on an ephemeral loopback port: an `HttpServer` with one worker, in a
/// thread of its own (its own actix System) for the rest of the process.
pub fn serve(contender: ActixContender, fixture: &Fixture) -> SocketAddr {
    serve_routes(contender.guard(fixture), routes)
}

/// Serves `routes` on an ephemeral loopback port, behind authsec-actix with `guard` (`None`:
/// unprotected): an `HttpServer` with one worker, in a thread of its own (its own actix
/// System) for the rest of the process.
pub fn serve_routes(guard: Option<Guard>, routes: fn(&mut web::ServiceConfig)) -> SocketAddr {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let bound = match guard {
                None => HttpServer::new(move || App::new().configure(routes))
                    .workers(1)
                    .disable_signals()
                    .bind(("127.0.0.1", 0))
                    .map(|server| (server.addrs()[0], server.run())),
                Some(guard) => HttpServer::new(move || {
                    App::new()
                        .wrap(authsec_actix::Authsec::new(guard.clone()))
                        .configure(routes)
                })
                .workers(1)
                .disable_signals()
                .bind(("127.0.0.1", 0))
                .map(|server| (server.addrs()[0], server.run())),
            };
            let server = match bound {
                Ok((addr, server)) => {
                    let _ = sender.send(addr);
                    server
                }
                Err(error) => panic!("actix-web: bind 127.0.0.1: {error}"),
            };
            let _ = server.await;
        });
    });
    receiver.recv().expect("actix-web server address")
}
