//! Loopback HTTP: each contender served on 127.0.0.1 by a one-worker Tokio runtime (axum) or a
//! one-worker `HttpServer` (actix-web), driven by `wrk` (one thread, keep-alive connections)
//! with a warm token, in interleaved rounds so that drifting machine load hits every contender
//! alike. Each run also records the server's CPU time per request, in user mode and in the
//! kernel (the server is in this process, `wrk` is not): where a request's time goes. Writes
//! `target/authsec-bench/loopback.json`.
//!
//! Run as a smoke check (no `--bench` argument) it serves every contender and sends each one
//! request instead, so CI needs no `wrk`.
//!
//! Eight short rounds rather than a few long ones: `cargo xtask bench` quotes the median of
//! each contender's per-round ratio to its baseline, which needs rounds more than seconds.
//!
//! Tuning: `AUTHSEC_BENCH_SECONDS` (per run, default 3), `AUTHSEC_BENCH_ROUNDS` (default 8),
//! `AUTHSEC_BENCH_CONNECTIONS` (default 32), `AUTHSEC_BENCH_CONTENDERS` (comma-separated ids; default
//! all).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use authsec_bench::actix::{self, ActixContender};
use authsec_bench::contenders::{self, Contender};
use authsec_bench::fixture::{Fixture, TOOLS_CALL_BODY};
use authsec_bench::load::{self, LoadResult};
use authsec_bench::report;
use authsec_bench::rmcp::{self, RmcpContender};
use authsec_tests::dev_issuer::SigningAlgorithm;
use serde_json::json;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn main() {
    let full = report::is_full_run();
    let server_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let fixture = Fixture::new(SigningAlgorithm::RS256);
    // `AUTHSEC_BENCH_CONTENDERS=authsec,unprotected`: only these (e.g. to profile one server).
    let only = std::env::var("AUTHSEC_BENCH_CONTENDERS").ok();
    let wanted = |id: &str| {
        only.as_deref()
            .is_none_or(|only| only.split(',').any(|one| one == id))
    };
    let mut servers: Vec<(&str, SocketAddr)> = Contender::ALL
        .into_iter()
        .filter(|contender| wanted(contender.id()))
        .map(|contender| {
            let addr = server_runtime.block_on(async {
                load::serve(contenders::service(contender, &fixture).await).await
            });
            (contender.id(), addr)
        })
        .collect();
    // The actix-web contenders: an `HttpServer` with one worker each.
    servers.extend(
        ActixContender::ALL
            .into_iter()
            .filter(|contender| wanted(contender.id()))
            .map(|contender| (contender.id(), actix::serve(contender, &fixture))),
    );

    // A real MCP server (rmcp), unprotected and behind authsec, on axum and on actix-web.
    servers.extend(
        RmcpContender::ALL
            .into_iter()
            .filter(|contender| wanted(contender.id()))
            .map(|contender| {
                (
                    contender.id(),
                    rmcp::serve(contender, &fixture, &server_runtime),
                )
            }),
    );

    // Every contender accepts the token (and authsec's cache is warm from here on).
    for (contender, addr) in &servers {
        let (status, response) =
            load::one_exchange(*addr, &fixture.token, TOOLS_CALL_BODY).expect("loopback request");
        assert_eq!(status, 200, "{contender:?} must accept the token");
        // rmcp answers a JSON-RPC error with 200 too: the tool itself must have answered.
        if contender.starts_with("rmcp_") {
            assert!(
                response.contains(rmcp::TOOLS_CALL_ANSWER),
                "{contender:?} must run the tool, and answered {response:?}"
            );
        }
    }
    if !full {
        println!(
            "loopback smoke: {} contenders served and answered 200",
            servers.len()
        );
        return;
    }
    if !load::wrk_available() {
        eprintln!("loopback: wrk is not installed (apt-get install wrk); no load figures");
        report::write("loopback.json", &json!({"error": "wrk is not installed"}));
        return;
    }

    let seconds = env_number("AUTHSEC_BENCH_SECONDS", 3);
    let rounds = env_number("AUTHSEC_BENCH_ROUNDS", 8);
    let connections = env_number("AUTHSEC_BENCH_CONNECTIONS", 32) as u32;
    let scratch = report::out_dir();
    let run = |addr: SocketAddr, secs: u64| {
        load::wrk(
            addr,
            &fixture.token,
            TOOLS_CALL_BODY,
            secs,
            connections,
            &scratch,
        )
    };
    // Warm-up: connections, allocator pools, the CPU's caches.
    for (contender, addr) in &servers {
        if let Err(error) = run(*addr, 1) {
            panic!("{contender}: {error}");
        }
    }
    let mut results: BTreeMap<&str, Vec<LoadResult>> = BTreeMap::new();
    for round in 1..=rounds {
        // Each round starts one contender later, so that none always runs first: on a noisy
        // host whatever the start of a round costs is spread over all of them (with a fixed
        // order the floor, run second, measured above the unprotected baseline it builds on).
        let start = (round - 1) as usize % servers.len().max(1);
        for (contender, addr) in servers[start..].iter().chain(&servers[..start]) {
            let result = run(*addr, seconds).unwrap_or_else(|e| panic!("{contender}: {e}"));
            println!(
                "round {round}/{rounds} {:<22} {:>8.0} req/s  p50 {:>6.3} ms  p99 {:>6.3} ms  server CPU {:>5.2} + {:>5.2} µs/request",
                contender,
                result.requests_per_sec,
                result.p50_ms,
                result.p99_ms,
                result.server_user_us.unwrap_or(f64::NAN),
                result.server_kernel_us.unwrap_or(f64::NAN),
            );
            results.entry(contender).or_default().push(result);
        }
    }
    let summary: BTreeMap<&str, serde_json::Value> = results
        .iter()
        .map(|(id, runs)| {
            let rps: Vec<f64> = runs.iter().map(|r| r.requests_per_sec).collect();
            let p99: Vec<f64> = runs.iter().map(|r| r.p99_ms).collect();
            // `None` (no figure) when any run lacks one.
            let cpu = |f: fn(&LoadResult) -> Option<f64>| {
                runs.iter().map(f).collect::<Option<Vec<f64>>>().map(median)
            };
            (
                *id,
                json!({
                    "requests_per_sec": median(rps.clone()),
                    "requests_per_sec_min": rps.iter().copied().fold(f64::INFINITY, f64::min),
                    "requests_per_sec_max": rps.iter().copied().fold(0.0, f64::max),
                    "p99_ms": median(p99),
                    "server_user_us": cpu(|r| r.server_user_us),
                    "server_kernel_us": cpu(|r| r.server_kernel_us),
                    "runs": runs,
                }),
            )
        })
        .collect();
    report::write(
        "loopback.json",
        &json!({
            "seconds": seconds,
            "rounds": rounds,
            "connections": connections,
            "server_worker_threads": 1,
            "wrk_threads": 1,
            "contenders": summary,
        }),
    );
}
