//! The actix adapter in-process, with a stub verifier: what the middleware, the extractor and
//! the metadata service put on the wire. The full behaviour matrix (real tokens, a real MCP
//! server, both adapters) is `tests/tests/notes_wire.rs`.

use actix_web::body::to_bytes;
use actix_web::dev::{Payload, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header::HeaderMap;
use actix_web::http::{Method, StatusCode};
use actix_web::test::{self, TestRequest};
use actix_web::{App, HttpResponse, web};
use async_trait::async_trait;
use authsec_actix::{Authenticated, Authsec, metadata_service, metadata_service_path_only};
use authsec_core::{Claims, Denial, Guard, TokenSource, TokenVerifier, ToolManifest};
use bytes::Bytes;
use serde_json::{Value, json};

const RESOURCE: &str = "https://mcp.example/mcp";
const PRM: &str = "https://mcp.example/.well-known/oauth-protected-resource/mcp";
const TOOLS_LIST: &str =
    r#"{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"list_notes"},{"name":"add_note"}]}}"#;

/// Tokens are `subject-scope1+scope2` with `_` for `:` (`alice-notes_read`), so they stay
/// within the RFC 6750 b64token syntax.
struct StubVerifier;

#[async_trait]
impl TokenVerifier for StubVerifier {
    async fn verify(&self, token: &str) -> Result<Claims, Denial> {
        let (subject, scopes) = token
            .split_once('-')
            .ok_or_else(|| Denial::invalid_token("not a stub token"))?;
        let raw = json!({"sub": subject, "aud": RESOURCE, "scope": scopes.replace('+', " ").replace('_', ":"),
                         "exp": 4_000_000_000u64});
        let Value::Object(raw) = raw else {
            unreachable!()
        };
        Claims::from_map(raw, TokenSource::Jwt).map_err(Denial::invalid_token)
    }
}

fn guard() -> Guard {
    Guard::builder(RESOURCE)
        .authorization_server("https://as.example")
        .verifier(StubVerifier)
        .manifest(
            ToolManifest::new()
                .tool("list_notes", ["notes:read"])
                .tool("add_note", ["notes:write"]),
        )
        .initial_scopes(["notes:read"])
        .build()
        .unwrap()
}

/// Echoes the caller and the body it received.
async fn echo(Authenticated(caller): Authenticated, body: Bytes) -> String {
    format!(
        "{} sent {}",
        caller.subject(),
        String::from_utf8_lossy(&body)
    )
}

async fn json_list() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(TOOLS_LIST)
}

/// A tools/list event split across chunks, then an unrelated event.
async fn sse_list() -> HttpResponse {
    let event = format!("id: 7\nevent: message\ndata: {TOOLS_LIST}\n\n");
    let (first, second) = event.split_at(40);
    let chunks: Vec<Result<Bytes, std::convert::Infallible>> = vec![
        Ok(Bytes::from(first.to_owned())),
        Ok(Bytes::from(second.to_owned())),
        Ok(Bytes::from_static(
            b"data: {\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{}}\n\n",
        )),
    ];
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .streaming(futures_util::stream::iter(chunks))
}

async fn body_of(response: ServiceResponse<impl actix_web::body::MessageBody>) -> String {
    let body = to_bytes(response.into_body()).await.ok().unwrap();
    String::from_utf8(body.to_vec()).unwrap()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("<absent>")
}

fn post(uri: &str, token: Option<&str>, body: &str) -> TestRequest {
    let mut request = TestRequest::post()
        .uri(uri)
        .insert_header(("content-type", "application/json"))
        .set_payload(body.to_owned());
    if let Some(token) = token {
        request = request.insert_header(("authorization", format!("Bearer {token}")));
    }
    request
}

#[actix_web::test]
async fn missing_token_is_401_with_challenge_and_json_body() {
    let app = test::init_service(
        App::new()
            .wrap(Authsec::new(guard()))
            .route("/mcp", web::post().to(echo)),
    )
    .await;
    let response = test::call_service(&app, post("/mcp", None, "{}").to_request()).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let headers = response.headers();
    assert_eq!(
        header(headers, "www-authenticate"),
        format!("Bearer scope=\"notes:read\", resource_metadata=\"{PRM}\"").as_str()
    );
    assert_eq!(header(headers, "content-type"), "application/json");
    assert_eq!(header(headers, "cache-control"), "no-store");
    let body: Value = serde_json::from_str(&body_of(response).await).unwrap();
    assert_eq!(
        body,
        json!({"error":"missing_token","error_description":"an access token is required",
               "denial":"missing_token","reason":"no_token","scope":"notes:read","resource_metadata":PRM})
    );
}

#[actix_web::test]
async fn an_allowed_post_reaches_the_handler_with_its_body_and_caller() {
    let app = test::init_service(
        App::new()
            .wrap(Authsec::new(guard()))
            .route("/mcp", web::post().to(echo)),
    )
    .await;
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_notes"}}"#;
    let response = test::call_service(
        &app,
        post("/mcp", Some("alice-notes_read"), body).to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_of(response).await, format!("alice sent {body}"));
}

#[actix_web::test]
async fn a_tool_outside_the_scopes_is_403_before_the_handler() {
    let app = test::init_service(
        App::new()
            .wrap(Authsec::new(guard()))
            .route("/mcp", web::post().to(echo)),
    )
    .await;
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add_note"}}"#;
    let response = test::call_service(
        &app,
        post("/mcp", Some("alice-notes_read"), body).to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        header(response.headers(), "www-authenticate"),
        format!("Bearer error=\"insufficient_scope\", error_description=\"Tool 'add_note' requires scope: notes:write. Your token has: notes:read. Ask an AuthSec admin to grant the missing scope, or use a tool that fits your current scopes.\", scope=\"notes:read notes:write\", resource_metadata=\"{PRM}\"").as_str()
    );
}

#[actix_web::test]
async fn bodies_over_the_bound_are_413_declared_or_not() {
    let app = test::init_service(
        App::new()
            .wrap(Authsec::new(guard()).max_body_bytes(16))
            .route("/mcp", web::post().to(echo)),
    )
    .await;
    let big = "x".repeat(17);
    let declared = post("/mcp", Some("alice-notes_read"), &big).to_request();
    let response = test::call_service(&app, declared).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = serde_json::from_str(&body_of(response).await).unwrap();
    assert_eq!(
        body["error_description"],
        "the request body exceeds 16 bytes"
    );

    // The same body without a Content-Length is cut off while it is read.
    let mut undeclared = post("/mcp", Some("alice-notes_read"), &big).to_request();
    undeclared.headers_mut().remove("content-length");
    let response = test::call_service(&app, undeclared).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[actix_web::test]
async fn a_body_in_chunks_is_joined_in_order_and_a_broken_one_is_400() {
    // A request whose body arrives as these chunks, without a Content-Length.
    let chunked = |token: &str, chunks: Vec<Result<Bytes, PayloadError>>| {
        let mut request = post("/mcp", Some(token), "").to_request();
        request.headers_mut().remove("content-length");
        *request.payload() = Payload::Stream {
            payload: Box::pin(futures_util::stream::iter(chunks)),
        };
        request
    };
    let app = test::init_service(
        App::new()
            .wrap(Authsec::new(guard()).max_body_bytes(100))
            .route("/mcp", web::post().to(echo)),
    )
    .await;
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_notes"}}"#;
    let (head, rest) = body.split_at(20);
    let (middle, tail) = rest.split_at(25);
    let pieces = [head, "", middle, tail];
    let chunks = pieces
        .iter()
        .map(|piece| Ok(Bytes::from(piece.to_string())))
        .collect();
    let response = test::call_service(&app, chunked("alice-notes_read", chunks)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_of(response).await, format!("alice sent {body}"));

    // In pieces, a tool outside the caller's scopes is refused as it is in one.
    let other = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"add_note"}}"#;
    let (head, tail) = other.split_at(30);
    let chunks = vec![
        Ok(Bytes::from(head.to_owned())),
        Ok(Bytes::from(tail.to_owned())),
    ];
    let response = test::call_service(&app, chunked("alice-notes_read", chunks)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // Over the bound only once the pieces add up (100 bytes).
    let chunks = vec![
        Ok(Bytes::from(body.to_owned())),
        Ok(Bytes::from("x".repeat(30))),
    ];
    let response = test::call_service(&app, chunked("alice-notes_read", chunks)).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // A connection that fails while the body arrives.
    let chunks = vec![
        Ok(Bytes::from(head.to_owned())),
        Err(PayloadError::Incomplete(None)),
    ];
    let response = test::call_service(&app, chunked("alice-notes_read", chunks)).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = serde_json::from_str(&body_of(response).await).unwrap();
    assert_eq!(body["error"], "invalid_request");
    assert_eq!(
        body["error_description"],
        "the request body could not be read"
    );
}

#[actix_web::test]
async fn paths_outside_the_prefix_pass_through() {
    let app = test::init_service(
        App::new()
            .wrap(Authsec::new(guard()))
            .route("/mcpx", web::get().to(|| async { "open" }))
            .route("/health", web::get().to(|| async { "ok" })),
    )
    .await;
    for (uri, expected) in [("/mcpx", "open"), ("/health", "ok")] {
        let response = test::call_service(&app, TestRequest::get().uri(uri).to_request()).await;
        assert_eq!(response.status(), StatusCode::OK, "{uri}");
        assert_eq!(body_of(response).await, expected);
    }
    // Every method under the prefix needs a token.
    let app = test::init_service(
        App::new()
            .wrap(Authsec::new(guard()))
            .route("/mcp/stream", web::get().to(|| async { "stream" })),
    )
    .await;
    let response =
        test::call_service(&app, TestRequest::get().uri("/mcp/stream").to_request()).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn json_tools_list_shows_only_callable_tools() {
    let app = test::init_service(
        App::new()
            .wrap(Authsec::new(guard()))
            .route("/mcp", web::post().to(json_list)),
    )
    .await;
    let request = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;
    let response = test::call_service(
        &app,
        post("/mcp", Some("alice-notes_read"), request).to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = serde_json::from_str(&body_of(response).await).unwrap();
    assert_eq!(
        body,
        json!({"jsonrpc":"2.0","id":2,"result":{"cacheScope":"private","tools":[{"name":"list_notes"}]}})
    );
}

#[actix_web::test]
async fn sse_tools_list_is_filtered_as_it_streams() {
    let app = test::init_service(
        App::new()
            .wrap(Authsec::new(guard()))
            .route("/mcp", web::post().to(sse_list)),
    )
    .await;
    let request = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;
    let response = test::call_service(
        &app,
        post("/mcp", Some("alice-notes_read+notes_write"), request).to_request(),
    )
    .await;
    assert_eq!(
        header(response.headers(), "content-type"),
        "text/event-stream"
    );
    let body = body_of(response).await;
    let events: Vec<&str> = body.split_inclusive("\n\n").collect();
    assert_eq!(events.len(), 2, "{body}");
    let (fields, data) = events[0].split_once("data: ").unwrap();
    assert_eq!(fields, "id: 7\nevent: message\n");
    let data: Value = serde_json::from_str(data.trim_end()).unwrap();
    assert_eq!(
        data,
        json!({"jsonrpc":"2.0","id":2,"result":{"cacheScope":"private",
               "tools":[{"name":"list_notes"},{"name":"add_note"}]}})
    );
    assert_eq!(
        events[1],
        "data: {\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{}}\n\n"
    );

    // With notes:read only, add_note disappears.
    let response = test::call_service(
        &app,
        post("/mcp", Some("bob-notes_read"), request).to_request(),
    )
    .await;
    let body = body_of(response).await;
    assert!(
        body.contains(r#""tools":[{"name":"list_notes"}]"#),
        "{body}"
    );
}

#[actix_web::test]
async fn a_session_is_bound_to_the_subject_that_created_it() {
    let app = test::init_service(App::new().wrap(Authsec::new(guard())).route(
        "/mcp",
        web::post().to(|| async {
            HttpResponse::Ok()
                .insert_header(("mcp-session-id", "s-1"))
                .finish()
        }),
    ))
    .await;
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#;
    let response = test::call_service(
        &app,
        post("/mcp", Some("alice-notes_read"), init).to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let ping = r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#;
    let mallory = post("/mcp", Some("mallory-notes_read"), ping)
        .insert_header(("mcp-session-id", "s-1"))
        .to_request();
    let response = test::call_service(&app, mallory).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: Value = serde_json::from_str(&body_of(response).await).unwrap();
    assert_eq!(body["denial"], "session_mismatch");
    let alice = post("/mcp", Some("alice-notes_read"), ping)
        .insert_header(("mcp-session-id", "s-1"))
        .to_request();
    assert_eq!(
        test::call_service(&app, alice).await.status(),
        StatusCode::OK
    );
}

#[actix_web::test]
async fn the_extractor_without_the_middleware_is_a_500_that_says_so() {
    let app = test::init_service(App::new().route("/mcp", web::post().to(echo))).await;
    let response = test::call_service(&app, post("/mcp", None, "{}").to_request()).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        header(response.headers(), "content-type"),
        "application/json"
    );
    assert_eq!(
        body_of(response).await,
        r#"{"error":"server_error","error_description":"authsec: no Authsec middleware covers this route, so there is no authenticated principal"}"#
    );
    // Option<Authenticated> serves anonymous callers instead.
    let app = test::init_service(App::new().route(
        "/open",
        web::get().to(|caller: Option<Authenticated>| async move {
            caller.map_or("anonymous".to_owned(), |Authenticated(p)| {
                p.subject().to_owned()
            })
        }),
    ))
    .await;
    let response = test::call_service(&app, TestRequest::get().uri("/open").to_request()).await;
    assert_eq!(body_of(response).await, "anonymous");
}

#[actix_web::test]
async fn metadata_is_served_at_path_and_root_with_cache_and_cors() {
    let guard = guard();
    let app = test::init_service(
        App::new()
            .wrap(Authsec::new(guard.clone()))
            .service(metadata_service(&guard)),
    )
    .await;
    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ] {
        let response = test::call_service(&app, TestRequest::get().uri(path).to_request()).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let headers = response.headers();
        assert_eq!(header(headers, "content-type"), "application/json");
        assert_eq!(header(headers, "cache-control"), "public, max-age=300");
        assert_eq!(header(headers, "access-control-allow-origin"), "*");
        assert_eq!(body_of(response).await, guard.metadata().to_json());

        let head = TestRequest::default()
            .method(Method::HEAD)
            .uri(path)
            .to_request();
        let response = test::call_service(&app, head).await;
        assert_eq!(response.status(), StatusCode::OK, "HEAD {path}");
        assert_eq!(
            header(response.headers(), "cache-control"),
            "public, max-age=300"
        );

        let preflight = TestRequest::default()
            .method(Method::OPTIONS)
            .uri(path)
            .to_request();
        let response = test::call_service(&app, preflight).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT, "{path}");
        let headers = response.headers();
        assert_eq!(header(headers, "access-control-allow-origin"), "*");
        assert_eq!(
            header(headers, "access-control-allow-methods"),
            "GET, OPTIONS"
        );
        assert_eq!(header(headers, "access-control-allow-headers"), "*");
    }
    let app = test::init_service(App::new().service(metadata_service_path_only(&guard))).await;
    let root = TestRequest::get()
        .uri("/.well-known/oauth-protected-resource")
        .to_request();
    assert_eq!(
        test::call_service(&app, root).await.status(),
        StatusCode::NOT_FOUND
    );
}

/// Sends `head` (without its blank line) and then `pieces` of the body, each after a pause,
/// over one HTTP/1.1 connection that the server closes after answering; returns the status line
/// and the body. A server that does not answer within 10 s fails the test instead of hanging it.
async fn over_http(addr: std::net::SocketAddr, head: &str, pieces: &[&str]) -> (String, String) {
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        exchange(addr, head, pieces),
    )
    .await
    .expect("the server answered within 10 s")
}

async fn exchange(addr: std::net::SocketAddr, head: &str, pieces: &[&str]) -> (String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(format!("{head}\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    for piece in pieces {
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        stream.write_all(piece.as_bytes()).await.unwrap();
    }
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_owned(), body.to_owned())
}

#[actix_web::test]
async fn over_http1_a_body_that_arrives_in_pieces_is_read_then_handed_on_whole() {
    let server = actix_web::HttpServer::new(|| {
        App::new()
            .wrap(Authsec::new(guard()))
            .route("/mcp", web::post().to(echo))
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .unwrap();
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);

    let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_notes"}}"#;
    let head = |token: &str, length: usize| {
        format!(
            "POST /mcp HTTP/1.1\r\nHost: mcp.example\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {length}"
        )
    };
    let (first, rest) = body.split_at(17);
    let (second, third) = rest.split_at(30);
    // The same token twice: first verified (the check waits), then from the cache (checked as
    // soon as the body is in).
    for _ in 0..2 {
        let (status, answer) = over_http(
            addr,
            &head("alice-notes_read", body.len()),
            &[first, second, third],
        )
        .await;
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert_eq!(answer, format!("alice sent {body}"));
    }
    // A tool outside the scopes, in pieces, is refused before the handler.
    let other = body.replace("list_notes", "add_note");
    let (first, rest) = other.split_at(40);
    let (status, answer) =
        over_http(addr, &head("alice-notes_read", other.len()), &[first, rest]).await;
    assert_eq!(status, "HTTP/1.1 403 Forbidden");
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["error"], "insufficient_scope");
    // A declared length over the bound is refused before any of the body is sent.
    let (status, _) = over_http(addr, &head("alice-notes_read", 2 << 20), &[]).await;
    assert_eq!(status, "HTTP/1.1 413 Payload Too Large");
    handle.stop(false).await;
}
