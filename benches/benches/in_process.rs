//! In-process figures (criterion): one request through each contender's tower stack; the cold
//! path per algorithm next to `jsonwebtoken` and the pre-parsed signature check; the warm path;
//! MCP classification and `tools/list` filtering; and one request with this core's caches
//! evicted first ([`Evictor`]), as the kernel evicts them between two requests over loopback.
//! Allocation counts and the evicted figures go to `target/authsec-bench/in_process.json`.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::rt::SystemRunner;
use authsec_bench::actix::{self, ActixContender};
use authsec_bench::alloc::{CountingAlloc, per_run};
use authsec_bench::contenders::{self, Contender, MinimalClaims, Served, mcp_request};
use authsec_bench::cpu::{cpu_time_of, thread_cpu_time};
use authsec_bench::evict::Evictor;
use authsec_bench::fixture::{
    Fixture, ISSUER, RESOURCE, TOOLS_CALL_BODY, TOOLS_CALL_RESULT, TOOLS_LIST_BODY,
    tools_list_response,
};
use authsec_bench::report;
use authsec_bench::with_actix_app;
use authsec_core::adapter::RequestHeaders;
use authsec_core::{
    AccessRequest, Authorization, Guard, IncomingRequest, McpHeaders, Protection, TokenVerifier,
    classify, tools_list,
};
use authsec_tests::dev_issuer::SigningAlgorithm;
use aws_lc_rs::signature::{self as sig, ParsedPublicKey, RsaPublicKeyComponents};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::Criterion;
use http::{HeaderMap, HeaderValue};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tokio::runtime::Runtime;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Allocation runs per figure.
const ALLOC_RUNS: u64 = 200;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Sends one request through `served` and reads the whole response.
async fn one_request(served: &Served, header: &HeaderValue, body: &'static str) -> (u16, usize) {
    let response = served.send(mcp_request(header, body)).await;
    let status = response.status().as_u16();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, bytes.len())
}

/// Sends one GET through `served` and reads the whole response.
async fn get_request(served: &Served, header: &HeaderValue) -> (u16, usize) {
    let response = served.send(contenders::get_request(header)).await;
    let status = response.status().as_u16();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, bytes.len())
}

fn bearer(token: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("Bearer {token}")).expect("header")
}

struct Headers<'a>(&'a HeaderMap);

impl RequestHeaders for Headers<'_> {
    fn values(&self, name: &str) -> Vec<&[u8]> {
        self.0
            .get_all(name)
            .iter()
            .map(HeaderValue::as_bytes)
            .collect()
    }
}

/// Runs `op` `iterations` times. Never inlined, so that callgrind can count exactly this:
/// `valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*counted_loop*'`.
#[inline(never)]
fn counted_loop(iterations: u64, op: &mut dyn FnMut()) {
    for _ in 0..iterations {
        op();
    }
}

/// `AUTHSEC_BENCH_COUNT=<scenario>:<iterations>`: runs one scenario in [`counted_loop`] and
/// exits. Instruction counts do not depend on what else the machine runs, so they compare
/// two builds reliably where wall-clock time on a busy 2-core machine cannot.
fn count_mode(spec: &str) {
    let (scenario, iterations) = spec.split_once(':').unwrap_or((spec, "1000"));
    let iterations: u64 = iterations.parse().expect("iterations");
    match std::env::var("AUTHSEC_BENCH_EVICT").as_deref() {
        Ok(what @ ("code" | "data" | "all")) => with_scenario(scenario, &mut |op| {
            let (p10, p50) = evicted_times(what, iterations, op);
            println!("{scenario} evicted={what} n={iterations} p10={p10:.0} p50={p50:.0} ns");
        }),
        _ => with_scenario(scenario, &mut |op| counted_loop(iterations, op)),
    }
}

/// Builds one scenario (`request/authsec`, `mcp/classify`, ...: the names of [`COUNTED`]'s
/// list in xtask), runs it once, then hands it to `run`.
fn with_scenario(scenario: &str, run: &mut dyn FnMut(&mut dyn FnMut())) {
    let rt = runtime();
    let alg = match scenario.rsplit_once('/').map(|(_, alg)| alg) {
        Some("PS256") => SigningAlgorithm::PS256,
        Some("ES256") => SigningAlgorithm::ES256,
        Some("EdDSA") => SigningAlgorithm::EdDSA,
        _ => SigningAlgorithm::RS256,
    };
    let fixture = Fixture::new(alg);
    let token = fixture.token.as_str();
    let header = bearer(token);
    let contender = |id: &str| {
        Contender::ALL
            .into_iter()
            .find(|c| c.id() == id)
            .expect("a contender id")
    };
    let mut op: Box<dyn FnMut() + '_> = match scenario.split('/').collect::<Vec<_>>()[..] {
        // What any `Router::layer` costs: the unprotected service behind a middleware that
        // does nothing (axum's `map_request` returning the request as it came).
        ["request", "noop_layer"] => {
            let router = rt
                .block_on(contenders::service(Contender::Unprotected, &fixture))
                .into_router()
                .expect("a Router")
                .layer(axum::middleware::map_request(
                    |request: axum::extract::Request| async move { request },
                ));
            let served = Served::Router(router);
            Box::new(move || {
                black_box(rt.block_on(one_request(&served, &header, TOOLS_CALL_BODY)));
            })
        }
        ["request", id] => {
            let served = rt.block_on(contenders::service(contender(id), &fixture));
            Box::new(move || {
                black_box(rt.block_on(one_request(&served, &header, TOOLS_CALL_BODY)));
            })
        }
        ["request_get", id] => {
            let served = rt.block_on(contenders::service(contender(id), &fixture));
            Box::new(move || {
                black_box(rt.block_on(get_request(&served, &header)));
            })
        }
        ["request_actix", id] | ["request_get_actix", id] => {
            let get = scenario.starts_with("request_get_actix/");
            let contender = ActixContender::ALL
                .into_iter()
                .find(|c| c.id() == id)
                .expect("an actix contender id");
            let system = actix_web::rt::System::new();
            let header = format!("Bearer {token}");
            with_actix_app!(contender.guard(&fixture), |app| {
                let service = system.block_on(actix_web::test::init_service(app));
                Box::new(move || {
                    let request = if get {
                        actix::get_request(&header)
                    } else {
                        actix::mcp_request(&header, TOOLS_CALL_BODY)
                    };
                    black_box(system.block_on(actix::send(&service, request)));
                })
            })
        }
        ["warm", "guard_check"] => {
            let guard = contenders::guard(&fixture, true);
            let authorization = format!("Bearer {token}");
            Box::new(move || {
                let mcp = classify(TOOLS_CALL_BODY.as_bytes(), McpHeaders::default()).ok();
                let access = AccessRequest::new(Authorization::One(authorization.as_bytes()))
                    .mcp(mcp.as_ref());
                black_box(rt.block_on(guard.check(&access)));
            })
        }
        ["mcp", "classify"] => Box::new(|| {
            black_box(classify(TOOLS_CALL_BODY.as_bytes(), McpHeaders::default()).is_ok());
        }),
        ["mcp", "filter_tools_list_100"] => {
            let guard = contenders::guard(&fixture, true);
            let principal = rt.block_on(guard.authenticate(token)).expect("principal");
            let list = tools_list_response(100);
            Box::new(move || {
                let allow = |name: &str| guard.may_call(&principal, name);
                black_box(tools_list::filter_json(list.as_bytes(), &allow));
            })
        }
        ["mcp", "allow_100"] => {
            let guard = contenders::guard(&fixture, true);
            let principal = rt.block_on(guard.authenticate(token)).expect("principal");
            let names: Vec<String> = (0..100).map(|i| format!("tool_{i:03}")).collect();
            Box::new(move || {
                for name in &names {
                    black_box(guard.may_call(&principal, name));
                }
            })
        }
        ["cold", "authsec_verify", _] => {
            let verifier = fixture.verifier();
            Box::new(move || {
                black_box(rt.block_on(verifier.verify(token)).is_ok());
            })
        }
        ["cold", "authsec_authenticate", _] => {
            let guard = contenders::guard(&fixture, false);
            Box::new(move || {
                black_box(rt.block_on(guard.authenticate(token)).is_ok());
            })
        }
        ["cold", "jsonwebtoken_decode", _] => {
            let (key, validation) = (fixture.decoding_key(), fixture.validation());
            Box::new(move || {
                black_box(
                    authsec_core::jsonwebtoken::decode::<MinimalClaims>(token, &key, &validation)
                        .is_ok(),
                );
            })
        }
        ["cold", "preparsed_verify", _] => {
            let parsed = preparsed_key(&fixture);
            let (message, signature) = token.rsplit_once('.').expect("three parts");
            let signature = URL_SAFE_NO_PAD.decode(signature).expect("signature");
            Box::new(move || {
                black_box(parsed.verify_sig(message.as_bytes(), &signature).is_ok());
            })
        }
        _ => panic!("unknown scenario {scenario:?}"),
    };
    op();
    run(&mut *op);
}

/// One run after an eviction; never inlined, so that callgrind's cache simulation can count
/// the misses of exactly this (`--toggle-collect='*evicted_run*'`).
#[inline(never)]
fn evicted_run(op: &mut dyn FnMut()) {
    op();
}

/// Runs `op` `iterations` times with this core's caches evicted before each run ([`Evictor`]:
/// `what` is `code`, `data` or `all`), timing each run alone (wall clock: a run is a few
/// microseconds, too short for the thread's CPU clock): the samples, in nanoseconds.
fn evicted_samples(what: &str, iterations: u64, op: &mut dyn FnMut()) -> Vec<u64> {
    let mut evictor = Evictor::new();
    let mut samples: Vec<u64> = Vec::with_capacity(iterations as usize);
    for _ in 0..iterations.max(1) {
        match what {
            "code" => evictor.code(),
            "data" => evictor.data(),
            _ => evictor.all(),
        }
        let start = Instant::now();
        evicted_run(op);
        samples.push(start.elapsed().as_nanos() as u64);
    }
    samples
}

/// The 10th percentile and the median of `samples`.
fn p10_p50(mut samples: Vec<u64>) -> (f64, f64) {
    samples.sort_unstable();
    let at = |q: usize| samples[(samples.len() * q / 100).min(samples.len() - 1)] as f64;
    (at(10), at(50))
}

/// The same as [`evicted_samples`], summed up by [`p10_p50`]. `AUTHSEC_BENCH_EVICT=code|data|all`
/// with `AUTHSEC_BENCH_COUNT` prints them.
fn evicted_times(what: &str, iterations: u64, op: &mut dyn FnMut()) -> (f64, f64) {
    p10_p50(evicted_samples(what, iterations, op))
}

/// The request scenarios timed with evicted caches (named as in count mode).
const EVICTED: [&str; 7] = [
    "request/unprotected",
    "request/noop_layer",
    "request/floor",
    "request/authsec",
    "request/authsec_wrapped",
    "request_actix/actix_unprotected",
    "request_actix/actix_authsec",
];

/// Each of [`EVICTED`] `iterations` times after evicting the instruction cache, then after
/// evicting it and L2, in 10 interleaved rounds (L3 is shared with the rest of the host, so
/// its speed drifts; every scenario sees the same drift): `{scenario: {code: {p10_ns,
/// p50_ns}, all: {...}}}`.
fn evicted(iterations: u64) -> Value {
    const ROUNDS: u64 = 10;
    let mut samples: BTreeMap<(&str, &str), Vec<u64>> = BTreeMap::new();
    for _ in 0..ROUNDS {
        for scenario in EVICTED {
            with_scenario(scenario, &mut |op| {
                for what in ["code", "all"] {
                    let run = evicted_samples(what, iterations.div_ceil(ROUNDS), op);
                    samples.entry((scenario, what)).or_default().extend(run);
                }
            });
        }
    }
    let mut results = serde_json::Map::new();
    for ((scenario, what), runs) in samples {
        let (p10, p50) = p10_p50(runs);
        println!("{scenario}, caches evicted ({what}): p10 {p10:.0} ns, median {p50:.0} ns");
        let entry = results
            .entry(scenario)
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
        entry[what] = json!({"p10_ns": p10, "p50_ns": p50});
    }
    Value::Object(results)
}

fn main() {
    if let Ok(spec) = std::env::var("AUTHSEC_BENCH_COUNT") {
        count_mode(&spec);
        return;
    }
    // `AUTHSEC_BENCH_EVICTED=<iterations>`: only the evicted-cache figures, printed.
    if let Some(iterations) = std::env::var("AUTHSEC_BENCH_EVICTED")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        evicted(iterations);
        return;
    }
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let rt = runtime();
    let mut allocations: BTreeMap<String, Value> = BTreeMap::new();
    let fixtures: Vec<Fixture> = SigningAlgorithm::ALL
        .into_iter()
        .map(Fixture::new)
        .collect();
    let rs256 = &fixtures[0];
    let header = bearer(&rs256.token);

    // 1. One request through each contender (RS256 token, tools/call), in process.
    let mut group = criterion.benchmark_group("request");
    for contender in Contender::ALL {
        let served = rt.block_on(contenders::service(contender, rs256));
        let (status, len) = rt.block_on(one_request(&served, &header, TOOLS_CALL_BODY));
        assert_eq!(status, 200, "{contender:?} must accept the token");
        assert_eq!(len, TOOLS_CALL_RESULT.len(), "{contender:?}");
        let (allocs, bytes) = per_run(ALLOC_RUNS, || {
            black_box(rt.block_on(one_request(&served, &header, TOOLS_CALL_BODY)));
        });
        allocations.insert(
            format!("request/{}", contender.id()),
            json!({"allocations": allocs, "bytes": bytes}),
        );
        group.bench_function(contender.id(), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = thread_cpu_time();
                    for _ in 0..iters {
                        black_box(one_request(&served, &header, TOOLS_CALL_BODY).await);
                    }
                    thread_cpu_time().saturating_sub(start)
                })
            })
        });
    }
    group.finish();

    // A GET with the same token: no body to classify, the token check alone.
    let mut group = criterion.benchmark_group("request_get");
    for contender in Contender::ALL {
        let served = rt.block_on(contenders::service(contender, rs256));
        let (status, _) = rt.block_on(get_request(&served, &header));
        assert_eq!(status, 200, "{contender:?} must accept the token");
        let (allocs, bytes) = per_run(ALLOC_RUNS, || {
            black_box(rt.block_on(get_request(&served, &header)));
        });
        allocations.insert(
            format!("request_get/{}", contender.id()),
            json!({"allocations": allocs, "bytes": bytes}),
        );
        group.bench_function(contender.id(), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = thread_cpu_time();
                    for _ in 0..iters {
                        black_box(get_request(&served, &header).await);
                    }
                    thread_cpu_time().saturating_sub(start)
                })
            })
        });
    }
    group.finish();

    // The same for a tools/list: authsec filters the 100-tool response for the caller.
    let mut group = criterion.benchmark_group("request_tools_list");
    for contender in [Contender::Unprotected, Contender::Authsec] {
        let served = rt.block_on(contenders::service(contender, rs256));
        let (status, _) = rt.block_on(one_request(&served, &header, TOOLS_LIST_BODY));
        assert_eq!(status, 200);
        let (allocs, bytes) = per_run(ALLOC_RUNS, || {
            black_box(rt.block_on(one_request(&served, &header, TOOLS_LIST_BODY)));
        });
        allocations.insert(
            format!("request_tools_list/{}", contender.id()),
            json!({"allocations": allocs, "bytes": bytes}),
        );
        group.bench_function(contender.id(), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = thread_cpu_time();
                    for _ in 0..iters {
                        black_box(one_request(&served, &header, TOOLS_LIST_BODY).await);
                    }
                    thread_cpu_time().saturating_sub(start)
                })
            })
        });
    }
    group.finish();

    // The same POST and GET on actix-web, unprotected and behind authsec-actix.
    let system = actix_web::rt::System::new();
    let header_text = format!("Bearer {}", rs256.token);
    for get in [false, true] {
        let mut group = criterion.benchmark_group(if get {
            "request_get_actix"
        } else {
            "request_actix"
        });
        for contender in ActixContender::ALL {
            with_actix_app!(contender.guard(rs256), |app| {
                let service = system.block_on(actix_web::test::init_service(app));
                let bench = ActixBench {
                    system: &system,
                    header: &header_text,
                    get,
                };
                bench.run(&mut group, contender, &service, &mut allocations);
            });
        }
        group.finish();
    }

    // 2. A token seen for the first time, per algorithm.
    for fixture in &fixtures {
        cold(&mut criterion, &rt, fixture, &mut allocations);
    }

    // 3. The warm path without HTTP: the Guard and the adapter-independent Protection.
    warm(&mut criterion, &rt, rs256, &mut allocations);

    // 4. MCP classification and tools/list filtering.
    mcp(&mut criterion, &rt, rs256, &mut allocations);

    criterion.final_summary();

    // 5. One request with the core's caches evicted first, as the kernel's network stack
    // evicts them between two requests over loopback.
    let evicted = evicted(if report::is_full_run() { 5000 } else { 5 });

    if !report::is_full_run() {
        return; // A smoke run (criterion's test mode): leave the last results alone.
    }
    report::write(
        "in_process.json",
        &json!({
            "allocations": allocations,
            "evicted": evicted,
            "evicted_l2_bytes": authsec_bench::evict::l2_bytes(),
        }),
    );
    // The RS256 key and token, for the jwt-authorizer bench (its own workspace).
    report::write(
        "fixture-rs256.json",
        &json!({
            "issuer": ISSUER,
            "resource": RESOURCE,
            "jwks": serde_json::from_str::<Value>(&rs256.jwks_json()).expect("json"),
            "token": rs256.token,
            "tools_call_body": TOOLS_CALL_BODY,
            "tools_call_result": TOOLS_CALL_RESULT,
        }),
    );
}

/// One request (a POST tools/call, or a GET) through an actix-web contender's service.
struct ActixBench<'a> {
    system: &'a SystemRunner,
    header: &'a str,
    get: bool,
}

impl ActixBench<'_> {
    fn request(&self) -> actix_http::Request {
        if self.get {
            actix::get_request(self.header)
        } else {
            actix::mcp_request(self.header, TOOLS_CALL_BODY)
        }
    }

    /// Checks that `service` answers as the handler does, counts its allocations and times it.
    fn run<S, B>(
        &self,
        group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
        contender: ActixContender,
        service: &S,
        allocations: &mut BTreeMap<String, Value>,
    ) where
        S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
        B: MessageBody,
    {
        let (status, len) = self.system.block_on(actix::send(service, self.request()));
        assert_eq!(status, 200, "{contender:?} must accept the token");
        assert_eq!(len, TOOLS_CALL_RESULT.len(), "{contender:?}");
        let (allocs, bytes) = per_run(ALLOC_RUNS, || {
            black_box(self.system.block_on(actix::send(service, self.request())));
        });
        let group_name = if self.get {
            "request_get_actix"
        } else {
            "request_actix"
        };
        allocations.insert(
            format!("{group_name}/{}", contender.id()),
            json!({"allocations": allocs, "bytes": bytes}),
        );
        group.bench_function(contender.id(), |b| {
            b.iter_custom(|iters| {
                self.system.block_on(async {
                    let start = thread_cpu_time();
                    for _ in 0..iters {
                        black_box(actix::send(service, self.request()).await);
                    }
                    thread_cpu_time().saturating_sub(start)
                })
            })
        });
    }
}

/// The signature check with a key parsed once: the physical limit.
fn preparsed_key(fixture: &Fixture) -> ParsedPublicKey {
    let jwk = &fixture.jwk;
    let b64 = |name: &str| {
        URL_SAFE_NO_PAD
            .decode(jwk[name].as_str().expect("jwk member"))
            .expect("base64url")
    };
    match fixture.alg {
        SigningAlgorithm::RS256 | SigningAlgorithm::PS256 => {
            let (n, e) = (b64("n"), b64("e"));
            let params = if fixture.alg == SigningAlgorithm::RS256 {
                &sig::RSA_PKCS1_2048_8192_SHA256
            } else {
                &sig::RSA_PSS_2048_8192_SHA256
            };
            RsaPublicKeyComponents { n: &n, e: &e }
                .to_parsed_public_key(params)
                .expect("rsa key")
        }
        SigningAlgorithm::ES256 => {
            let mut point = vec![4u8];
            point.extend(b64("x"));
            point.extend(b64("y"));
            ParsedPublicKey::new(&sig::ECDSA_P256_SHA256_FIXED, point).expect("ec key")
        }
        SigningAlgorithm::EdDSA => ParsedPublicKey::new(&sig::ED25519, b64("x")).expect("ed key"),
    }
}

fn cold(
    criterion: &mut Criterion,
    rt: &Runtime,
    fixture: &Fixture,
    allocations: &mut BTreeMap<String, Value>,
) {
    let alg = fixture.alg.as_str();
    let token = fixture.token.as_str();
    let (message, signature_b64) = token.rsplit_once('.').expect("three parts");
    let signature = URL_SAFE_NO_PAD.decode(signature_b64).expect("signature");
    let parsed = preparsed_key(fixture);
    assert!(parsed.verify_sig(message.as_bytes(), &signature).is_ok());
    let key = fixture.decoding_key();
    let validation = fixture.validation();
    let algorithm = fixture.alg.jwt_algorithm();
    let verifier = fixture.verifier();
    let guard = contenders::guard(fixture, false);
    assert!(rt.block_on(guard.authenticate(token)).is_ok());
    assert!(authsec_core::jsonwebtoken::decode::<MinimalClaims>(token, &key, &validation).is_ok());

    let mut record = |name: &str, op: &mut dyn FnMut()| {
        let (allocs, bytes) = per_run(ALLOC_RUNS, op);
        allocations.insert(
            format!("cold/{alg}/{name}"),
            json!({"allocations": allocs, "bytes": bytes}),
        );
    };
    record("jsonwebtoken_decode", &mut || {
        black_box(
            authsec_core::jsonwebtoken::decode::<MinimalClaims>(token, &key, &validation).is_ok(),
        );
    });
    record("authsec_verify", &mut || {
        black_box(rt.block_on(verifier.verify(token)).is_ok());
    });
    record("authsec_authenticate", &mut || {
        black_box(rt.block_on(guard.authenticate(token)).is_ok());
    });

    let mut group = criterion.benchmark_group(format!("cold/{alg}"));
    group.bench_function("preparsed_verify", |b| {
        b.iter_custom(|iters| {
            cpu_time_of(iters, || {
                black_box(
                    parsed
                        .verify_sig(black_box(message.as_bytes()), black_box(&signature))
                        .is_ok(),
                );
            })
        })
    });
    group.bench_function("jsonwebtoken_verify", |b| {
        b.iter_custom(|iters| {
            cpu_time_of(iters, || {
                black_box(
                    authsec_core::jsonwebtoken::crypto::verify(
                        black_box(signature_b64),
                        black_box(message.as_bytes()),
                        &key,
                        algorithm,
                    )
                    .unwrap_or(false),
                );
            })
        })
    });
    group.bench_function("jsonwebtoken_decode", |b| {
        b.iter_custom(|iters| {
            cpu_time_of(iters, || {
                black_box(
                    authsec_core::jsonwebtoken::decode::<MinimalClaims>(
                        black_box(token),
                        &key,
                        &validation,
                    )
                    .is_ok(),
                );
            })
        })
    });
    group.bench_function("authsec_verify", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = thread_cpu_time();
                for _ in 0..iters {
                    black_box(verifier.verify(black_box(token)).await.is_ok());
                }
                thread_cpu_time().saturating_sub(start)
            })
        })
    });
    group.bench_function("authsec_authenticate", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = thread_cpu_time();
                for _ in 0..iters {
                    black_box(guard.authenticate(black_box(token)).await.is_ok());
                }
                thread_cpu_time().saturating_sub(start)
            })
        })
    });
    group.finish();
}

fn warm(
    criterion: &mut Criterion,
    rt: &Runtime,
    fixture: &Fixture,
    allocations: &mut BTreeMap<String, Value>,
) {
    let token = fixture.token.as_str();
    let guard: Guard = contenders::guard(fixture, true);
    assert!(rt.block_on(guard.authenticate(token)).is_ok());
    let protection = Protection::new(guard.clone());
    let authorization = format!("Bearer {token}");
    let mut headers = HeaderMap::new();
    headers.insert("authorization", bearer(token));
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    let body = TOOLS_CALL_BODY.as_bytes();
    let mcp = classify(body, McpHeaders::default()).expect("a tools/call");

    let check = || async {
        let access =
            AccessRequest::new(Authorization::One(authorization.as_bytes())).mcp(Some(&mcp));
        guard.check(&access).await
    };
    let view = Headers(&headers);
    let protect = || async {
        let request = IncomingRequest::new(&view).body(Some(body));
        protection.check(&request).await
    };
    assert!(matches!(
        rt.block_on(protect()),
        authsec_core::Verdict::Allow { .. }
    ));

    let mut record = |name: &str, op: &mut dyn FnMut()| {
        let (allocs, bytes) = per_run(ALLOC_RUNS, op);
        allocations.insert(
            format!("warm/{name}"),
            json!({"allocations": allocs, "bytes": bytes}),
        );
    };
    record("authenticate", &mut || {
        black_box(rt.block_on(guard.authenticate(token)).is_ok());
    });
    record("guard_check", &mut || {
        black_box(rt.block_on(check()));
    });
    record("protection_check", &mut || {
        black_box(rt.block_on(protect()));
    });

    let mut group = criterion.benchmark_group("warm");
    group.bench_function("authenticate", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = thread_cpu_time();
                for _ in 0..iters {
                    black_box(guard.authenticate(black_box(token)).await.is_ok());
                }
                thread_cpu_time().saturating_sub(start)
            })
        })
    });
    group.bench_function("guard_check", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = thread_cpu_time();
                for _ in 0..iters {
                    black_box(check().await);
                }
                thread_cpu_time().saturating_sub(start)
            })
        })
    });
    group.bench_function("protection_check", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = thread_cpu_time();
                for _ in 0..iters {
                    black_box(protect().await);
                }
                thread_cpu_time().saturating_sub(start)
            })
        })
    });
    group.finish();
}

fn mcp(
    criterion: &mut Criterion,
    rt: &Runtime,
    fixture: &Fixture,
    allocations: &mut BTreeMap<String, Value>,
) {
    let guard = contenders::guard(fixture, true);
    let principal = rt
        .block_on(guard.authenticate(&fixture.token))
        .expect("principal");
    let list = tools_list_response(100);
    let allow = |name: &str| guard.may_call(&principal, name);
    let filtered = tools_list::filter_json(list.as_bytes(), &allow).expect("a tools list");
    let kept: Value = serde_json::from_slice(&filtered).expect("json");
    assert_eq!(kept["result"]["tools"].as_array().map(Vec::len), Some(50));

    let (allocs, bytes) = per_run(ALLOC_RUNS, || {
        black_box(classify(TOOLS_CALL_BODY.as_bytes(), McpHeaders::default()).is_ok());
    });
    allocations.insert(
        "mcp/classify_tools_call".into(),
        json!({"allocations": allocs, "bytes": bytes}),
    );
    let (allocs, bytes) = per_run(ALLOC_RUNS, || {
        black_box(tools_list::filter_json(list.as_bytes(), &allow));
    });
    allocations.insert(
        "mcp/filter_tools_list_100".into(),
        json!({"allocations": allocs, "bytes": bytes}),
    );

    let mut group = criterion.benchmark_group("mcp");
    group.bench_function("classify_tools_call", |b| {
        b.iter_custom(|iters| {
            cpu_time_of(iters, || {
                black_box(
                    classify(black_box(TOOLS_CALL_BODY.as_bytes()), McpHeaders::default()).is_ok(),
                );
            })
        })
    });
    group.bench_function("filter_tools_list_100", |b| {
        b.iter_custom(|iters| {
            cpu_time_of(iters, || {
                black_box(tools_list::filter_json(black_box(list.as_bytes()), &allow));
            })
        })
    });
    group.finish();
}
