//! jwt-authorizer 0.15 next to an unprotected axum 0.7 service, with the RS256 key and token
//! of authsec's bench (`target/authsec-bench/fixture-rs256.json`, written by its `in_process`
//! bench): one request in process (criterion), then `wrk` over loopback like
//! authsec-bench's `loopback` bench. Writes `target/authsec-bench/jwt_authorizer.json`.

use std::hint::black_box;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::Request;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::response::IntoResponse;
use axum::routing::post;
use criterion::Criterion;
use http_body_util::BodyExt;
use jwt_authorizer::{Authorizer, IntoLayer, JwtAuthorizer, RegisteredClaims, Validation};
use serde_json::{Value, json};
use tower_service::Service;

fn out_dir() -> PathBuf {
    std::env::var_os("AUTHSEC_BENCH_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/authsec-bench")
        })
}

struct Fixture {
    jwks: String,
    token: String,
    issuer: String,
    resource: String,
    body: &'static str,
    result: &'static str,
}

fn fixture() -> Fixture {
    let path = out_dir().join("fixture-rs256.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run authsec-bench's in_process bench first",
            path.display()
        )
    });
    let value: Value = serde_json::from_str(&text).expect("fixture json");
    let leak = |name: &str| -> &'static str {
        Box::leak(
            value[name]
                .as_str()
                .expect("fixture member")
                .to_owned()
                .into_boxed_str(),
        )
    };
    Fixture {
        jwks: value["jwks"].to_string(),
        token: value["token"].as_str().expect("token").to_owned(),
        issuer: value["issuer"].as_str().expect("issuer").to_owned(),
        resource: value["resource"].as_str().expect("resource").to_owned(),
        body: leak("tools_call_body"),
        result: leak("tools_call_result"),
    }
}

async fn router(fixture: &Fixture, protected: bool) -> Router {
    let result = fixture.result;
    let app = Router::new().route(
        "/mcp",
        post(move |_body: Bytes| async move {
            ([(CONTENT_TYPE, "application/json")], result).into_response()
        }),
    );
    if !protected {
        return app;
    }
    let authorizer: Authorizer<RegisteredClaims> = JwtAuthorizer::from_jwks_text(&fixture.jwks)
        .validation(
            Validation::new()
                .iss(&[fixture.issuer.as_str()])
                .aud(&[fixture.resource.as_str()]),
        )
        .build()
        .await
        .expect("jwt-authorizer");
    app.layer(authorizer.into_layer())
}

async fn one_request(router: &Router, header: &str, body: &'static str) -> u16 {
    let request = Request::builder()
        .method("POST")
        .uri("/mcp")
        .header(AUTHORIZATION, header)
        .header(CONTENT_TYPE, "application/json")
        .body(Body::from(Bytes::from_static(body.as_bytes())))
        .expect("request");
    let response = router.clone().call(request).await.expect("infallible");
    let status = response.status().as_u16();
    black_box(
        response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes(),
    );
    status
}

fn wrk(addr: SocketAddr, fixture: &Fixture, seconds: u64, connections: u64) -> Option<Value> {
    let script = out_dir().join(format!("wrk-{}.lua", addr.port()));
    let lua = format!(
        "wrk.method = \"POST\"\nwrk.body = [==[{}]==]\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.headers[\"Authorization\"] = \"Bearer {}\"\n",
        fixture.body, fixture.token
    );
    std::fs::write(&script, lua).ok()?;
    let output = Command::new("wrk")
        .args(["-t1", &format!("-c{connections}"), &format!("-d{seconds}s")])
        .args(["--timeout", "2s", "--latency", "-s"])
        .arg(&script)
        .arg(format!("http://{addr}/mcp"))
        .output()
        .ok()?;
    let _ = std::fs::remove_file(&script);
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        !text.contains("Non-2xx"),
        "jwt-authorizer refused requests:\n{text}"
    );
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .map(|v| v.trim().to_owned())
    };
    let ms = |v: String| -> Option<f64> {
        let split = v.find(|c: char| c.is_ascii_alphabetic())?;
        let (n, unit) = v.split_at(split);
        let n: f64 = n.parse().ok()?;
        Some(match unit {
            "us" => n / 1000.0,
            "ms" => n,
            "s" => n * 1000.0,
            _ => return None,
        })
    };
    Some(json!({
        "requests_per_sec": field("Requests/sec:")?.parse::<f64>().ok()?,
        "p50_ms": ms(field("50%")?)?,
        "p99_ms": ms(field("99%")?)?,
    }))
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let fixture = fixture();
    let header = format!("Bearer {}", fixture.token);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let mut group = criterion.benchmark_group("request_axum07");
    for (id, protected) in [("unprotected", false), ("jwt_authorizer", true)] {
        let router = rt.block_on(router(&fixture, protected));
        assert_eq!(
            rt.block_on(one_request(&router, &header, fixture.body)),
            200
        );
        group.bench_function(id, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        black_box(one_request(&router, &header, fixture.body).await);
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
    criterion.final_summary();
    if !full {
        return;
    }

    // Loopback: one-worker server runtime, wrk with one thread, interleaved rounds.
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (seconds, rounds, connections) = (
        env("AUTHSEC_BENCH_SECONDS", 3),
        env("AUTHSEC_BENCH_ROUNDS", 8),
        env("AUTHSEC_BENCH_CONNECTIONS", 32),
    );
    let mut results = serde_json::Map::new();
    let servers: Vec<(&str, SocketAddr)> = [("unprotected", false), ("jwt_authorizer", true)]
        .into_iter()
        .map(|(id, protected)| {
            let addr = server.block_on(async {
                let app = router(&fixture, protected).await;
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                let addr = listener.local_addr().expect("addr");
                tokio::spawn(async move {
                    let _ = axum::serve(listener, app).await;
                });
                addr
            });
            (id, addr)
        })
        .collect();
    for (_, addr) in &servers {
        let _ = wrk(*addr, &fixture, 1, connections);
    }
    let mut runs: Vec<(&str, Vec<Value>)> = servers.iter().map(|(id, _)| (*id, vec![])).collect();
    // Each round starts one server later, so that neither always runs first (as in
    // authsec-bench's loopback rounds); each server's runs stay in round order.
    for round in 0..rounds as usize {
        for i in (0..servers.len()).map(|k| (k + round) % servers.len()) {
            let (id, addr) = &servers[i];
            match wrk(*addr, &fixture, seconds, connections) {
                Some(run) => {
                    println!("{id:<16} {run}");
                    runs[i].1.push(run);
                }
                None => eprintln!("{id}: wrk did not run (is it installed?)"),
            }
        }
    }
    for (id, runs) in runs {
        let mut rps: Vec<f64> = runs
            .iter()
            .filter_map(|r| r["requests_per_sec"].as_f64())
            .collect();
        let mut p99: Vec<f64> = runs.iter().filter_map(|r| r["p99_ms"].as_f64()).collect();
        rps.sort_by(f64::total_cmp);
        p99.sort_by(f64::total_cmp);
        if rps.is_empty() {
            continue;
        }
        results.insert(
            id.to_owned(),
            json!({
                "requests_per_sec": rps[rps.len() / 2],
                "requests_per_sec_min": rps[0],
                "requests_per_sec_max": rps[rps.len() - 1],
                "p99_ms": p99[p99.len() / 2],
                "runs": runs,
            }),
        );
    }
    let path = out_dir().join("jwt_authorizer.json");
    let _ = std::fs::write(
        &path,
        serde_json::to_string_pretty(&Value::Object(results)).unwrap_or_default(),
    );
}
