//! Behaviour at scale, measured rather than timed:
//!
//! - **single flight**: N concurrent requests carrying one token never seen before, against the
//!   dev issuer over loopback (JWT + introspection mode, JWKS not yet fetched), must cause one
//!   JWKS fetch and one introspection call, for N up to 1000;
//! - **memory**: 1M distinct tokens through `Guard::authenticate` must leave at most the
//!   configured number of verified tokens cached; reports the heap bytes per cached token.
//!
//! Writes `target/authsec-bench/scale.json`. Without `--bench` (a smoke check) the sizes are
//! small.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use authsec_bench::alloc::{AllocStats, CountingAlloc};
use authsec_bench::cpu::thread_cpu_time;
use authsec_bench::fixture::{ISSUER, RESOURCE, SCOPES, TOOLS_CALL_BODY, token_parts};
use authsec_bench::report;
use authsec_core::{
    AccessRequest, Authorization, Claims, Decision, Denial, Guard, McpHeaders, TokenSource,
    TokenVerifier, classify,
};
use authsec_jwks::{ClientCredentials, RemoteIssuer, ValidationMode};
use authsec_tests::dev_issuer::{
    DEFAULT_INTROSPECTION_CLIENT_ID, DEFAULT_INTROSPECTION_CLIENT_SECRET, DevIssuer,
    DevIssuerConfig,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fn main() {
    let full = report::is_full_run();
    let concurrency: &[usize] = if full {
        &[1, 10, 100, 1000]
    } else {
        &[10, 1000]
    };
    let mut single_flight = Vec::new();
    for &n in concurrency {
        let result = single_flight_run(n);
        println!(
            "single flight: {n:>4} concurrent requests, one new token -> {} JWKS fetch(es), {} introspection call(s), all allowed in {:.1} ms",
            result["jwks_fetches"],
            result["introspection_calls"],
            result["elapsed_ms"].as_f64().unwrap_or(0.0)
        );
        assert_eq!(result["jwks_fetches"], 1, "{result}");
        assert_eq!(result["introspection_calls"], 1, "{result}");
        single_flight.push(result);
    }

    let (tokens, capacities): (usize, &[usize]) = if full {
        (1_000_000, &[10_000, 100_000])
    } else {
        (20_000, &[1_000])
    };
    let mut memory = Vec::new();
    for &capacity in capacities {
        let result = memory_run(tokens, capacity);
        println!(
            "memory: {tokens} distinct tokens, capacity {capacity} -> {} cached, {:.1} MiB heap, {:.0} bytes per cached token ({:.0} of it the token), {:.2} µs CPU per new token",
            result["cached"],
            result["heap_bytes"].as_f64().unwrap_or(0.0) / (1024.0 * 1024.0),
            result["bytes_per_entry"].as_f64().unwrap_or(0.0),
            result["token_bytes"].as_f64().unwrap_or(0.0),
            result["ns_per_token"].as_f64().unwrap_or(0.0) / 1000.0,
        );
        memory.push(result);
    }
    if !full {
        return; // A smoke run: leave the last results alone.
    }
    report::write(
        "scale.json",
        &json!({"single_flight": single_flight, "memory": memory}),
    );
}

/// N concurrent `Guard::check`s of one fresh token, with a cold JWKS cache.
fn single_flight_run(n: usize) -> Value {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let dev = DevIssuer::start_with(DevIssuerConfig::default().with_default_resource(RESOURCE))
            .await
            .expect("dev issuer");
        let issuer = RemoteIssuer::builder(dev.issuer())
            .introspection_credentials(ClientCredentials::new(
                DEFAULT_INTROSPECTION_CLIENT_ID,
                DEFAULT_INTROSPECTION_CLIENT_SECRET,
            ))
            .discover()
            .await
            .expect("discovery");
        let guard = issuer
            .guard(RESOURCE, ValidationMode::JwtAndIntrospection)
            .expect("mode")
            .manifest(authsec_bench::fixture::manifest())
            .build()
            .expect("guard");
        let token = dev.mint().aud(RESOURCE).scope(SCOPES).sign();
        dev.reset_counters();
        let header: Arc<str> = format!("Bearer {token}").into();
        let barrier = Arc::new(tokio::sync::Barrier::new(n));
        let start = Instant::now();
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let (guard, header, barrier) = (guard.clone(), header.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    let mcp = classify(TOOLS_CALL_BODY.as_bytes(), McpHeaders::default())
                        .expect("tools/call");
                    let request =
                        AccessRequest::new(Authorization::One(header.as_bytes())).mcp(Some(&mcp));
                    matches!(guard.check(&request).await, Decision::Allow(_))
                })
            })
            .collect();
        let mut allowed = 0;
        for task in tasks {
            allowed += usize::from(task.await.expect("task"));
        }
        let elapsed = start.elapsed();
        assert_eq!(allowed, n, "every request is allowed");
        let result = json!({
            "concurrent": n,
            "jwks_fetches": dev.jwks_fetches(),
            "introspection_calls": dev.introspection_calls(),
            "elapsed_ms": elapsed.as_secs_f64() * 1000.0,
        });
        dev.shutdown().await;
        result
    })
}

/// Check 1 without the signature: the payload's claims, as `JwtVerifier` builds them. The
/// memory figure is the cache's, so the 1M tokens need not be signed one by one (a bench
/// helper, never a verifier to deploy).
struct PayloadClaims;

#[async_trait]
impl TokenVerifier for PayloadClaims {
    async fn verify(&self, token: &str) -> Result<Claims, Denial> {
        let payload = token.split('.').nth(1).unwrap_or_default();
        let bytes = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| Denial::invalid_token("payload"))?;
        Claims::from_json(bytes, TokenSource::Jwt).map_err(Denial::invalid_token)
    }
}

/// Resident set size, bytes.
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// `tokens` distinct RS256-shaped tokens through a Guard whose cache holds `capacity`.
fn memory_run(tokens: usize, capacity: usize) -> Value {
    // One thread, so that the thread-local allocation counters see every byte.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let guard = Guard::builder(RESOURCE)
        .authorization_server(ISSUER)
        .verifier(PayloadClaims)
        .token_cache_capacity(capacity)
        .build()
        .expect("guard");
    // An RS256 signature is 256 bytes, 342 in base64url.
    let signature = "S".repeat(342);
    let mut token_bytes = 0;
    let before = AllocStats::now();
    let rss_before = rss_bytes();
    let mut checkpoints = Vec::new();
    let start = thread_cpu_time();
    runtime.block_on(async {
        for i in 0..tokens {
            let (header, payload) = token_parts("RS256", "k1", &format!("{i:032x}"));
            let token = format!("{header}.{payload}.{signature}");
            token_bytes = token.len();
            if guard.authenticate(&token).await.is_err() {
                panic!("token {i} refused");
            }
            if (i + 1) % (tokens / 4) == 0 {
                checkpoints.push(json!({
                    "tokens": i + 1,
                    "cached": guard.cached_tokens(),
                    "heap_bytes": AllocStats::now().since(before).live,
                }));
            }
        }
    });
    let elapsed = thread_cpu_time().saturating_sub(start);
    let heap = AllocStats::now().since(before).live;
    let cached = guard.cached_tokens();
    assert!(
        cached <= capacity,
        "the cache holds {cached} tokens, over its capacity {capacity}"
    );
    let result = json!({
        "tokens": tokens,
        "capacity": capacity,
        "cached": cached,
        "heap_bytes": heap,
        "bytes_per_entry": heap as f64 / cached.max(1) as f64,
        "token_bytes": token_bytes,
        "rss_growth_bytes": rss_bytes().saturating_sub(rss_before),
        "ns_per_token": elapsed.as_nanos() as f64 / tokens as f64,
        "checkpoints": checkpoints,
    });
    drop(guard);
    result
}
