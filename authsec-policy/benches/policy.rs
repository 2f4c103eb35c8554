//! What check 5 costs per request.
//!
//! - `evaluate/*`: `PolicySet::evaluate` for a typical rule set with the in-process quota store:
//!   a global IP deny list, a tool rule `all_of [step_up, any_of [office network, office
//!   hours], argument pattern]`, three roles with bindings, and a per-user quota. Rules never
//!   await, so the future is polled once, without a runtime.
//! - `effective_scopes/*`: the role-binding intersection check 3 and `tools/list` ask for.
//! - `redis/quota_round_trip` (with `--features redis` and `redis-server` installed): one atomic
//!   check-and-count script against a local `redis-server` started by the benchmark.
//!
//! ```text
//! cargo bench -p authsec-policy --features redis --bench policy
//! ```

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use authsec_core::{Claims, JsonText, Policy, PolicyRequest, Principal, TokenSource, ToolRule};
use authsec_policy::PolicyConfig;
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::Value;

const POLICY: &str = r#"
[tools.deploy]
scopes = ["deploy"]
policy = "deploy_rules"

[tools.status]
scopes = ["status"]

[policies.blocked_networks]
ip = { deny = ["203.0.113.0/24", "2001:db8:bad::/48"] }

[policies.fresh_mfa]
# A long max_age: the benchmark moves the clock one second per call.
step_up = { acr = ["mfa"], amr = ["mfa", "hwk"], max_age = 315360000 }

[policies.deploy_rules]
all_of = [
    "fresh_mfa",
    { any_of = [
        { ip = { allow = ["10.0.0.0/8", "2001:db8::/32"] } },
        { time = { zone = "Europe/Paris", days = "mon-fri", hours = "08:00-19:00" } },
    ] },
    { argument = { name = "repo", matches = ["acme/*", "tools/*"] } },
]

[roles.observer]
scopes = ["status"]
[roles.deployer]
scopes = ["status", "deploy"]
[roles.admin]
scopes = ["status", "deploy", "admin"]

[[bindings]]
role = "observer"
subjects = ["*"]

[[bindings]]
role = "deployer"
groups = ["ops", "release"]

[[bindings]]
role = "admin"
subjects = ["root"]
when = { ip = { allow = ["10.0.0.0/8"] } }

[[quotas]]
name = "calls"
per = "user"
rate = "1000/second"
"#;

/// Monday 2025-01-06 09:00:00 UTC.
const NOW: u64 = 1_736_154_000;

fn principal() -> Principal {
    let claims = serde_json::json!({
        "sub": "alice", "scope": "status deploy", "groups": ["dev", "ops"],
        "acr": "mfa", "amr": ["pwd", "mfa"], "auth_time": NOW - 60, "client_id": "cli",
    });
    let Value::Object(map) = claims else {
        unreachable!()
    };
    Principal::new(
        Claims::from_map(map, TokenSource::Jwt).expect("claims"),
        "token",
    )
}

/// Polls a future that never waits (no runtime needed).
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
    }
}

fn evaluation(c: &mut Criterion) {
    let (_, policies) = PolicyConfig::from_toml_str(POLICY)
        .expect("policy")
        .into_parts();
    let who = principal();
    let rule = ToolRule::scopes(["deploy"]).with_policy("deploy_rules");
    let arguments = JsonText::new(
        r#"{"repo":"acme/api","ref":"main","dry_run":false,"notes":"weekly release"}"#,
    )
    .expect("json");
    let mut request = PolicyRequest::new(&who, NOW);
    request.tool = Some("deploy");
    request.rule = Some(&rule);
    request.method = Some("tools/call");
    request.arguments = Some(arguments);
    request.client_ip = Some("10.1.2.3".parse().expect("ip"));

    let mut now = NOW;
    c.bench_function("evaluate/allowed_call_typical_rules_and_quota", |b| {
        b.iter(|| {
            // One second per call keeps the user's bucket admitting.
            now += 1;
            let mut request = request;
            request.now = now;
            black_box(ready(policies.evaluate(black_box(&request)))).expect("allowed");
        })
    });

    let weak = {
        let claims = serde_json::json!({"sub": "bob", "scope": "status deploy",
            "groups": ["ops"], "acr": "pwd", "auth_time": NOW - 60});
        let Value::Object(map) = claims else {
            unreachable!()
        };
        Principal::new(
            Claims::from_map(map, TokenSource::Jwt).expect("claims"),
            "t",
        )
    };
    let mut denied = request;
    denied.principal = &weak;
    c.bench_function("evaluate/denied_step_up", |b| {
        b.iter(|| black_box(ready(policies.evaluate(black_box(&denied)))).expect_err("step-up"))
    });

    c.bench_function("effective_scopes/three_bindings", |b| {
        b.iter(|| black_box(policies.effective_scopes(black_box(&request))).expect("bound"))
    });

    let (_, notes) = PolicyConfig::from_toml_str(
        "[tools.purge]\npolicy = \"fresh_mfa\"\n[policies.fresh_mfa]\nstep_up = { acr = [\"mfa\"], amr = [\"mfa\"], max_age = 300 }\n",
    )
    .expect("notes policy")
    .into_parts();
    let purge = ToolRule::scopes(Vec::<String>::new()).with_policy("fresh_mfa");
    let mut step_up = PolicyRequest::new(&who, NOW);
    step_up.tool = Some("purge");
    step_up.rule = Some(&purge);
    c.bench_function("evaluate/notes_step_up_only", |b| {
        b.iter(|| black_box(ready(notes.evaluate(black_box(&step_up)))).expect("allowed"))
    });
}

#[cfg(feature = "redis")]
fn redis_round_trip(c: &mut Criterion) {
    use authsec_policy::{Bucket, QuotaStore, Rate, RedisStore};

    let port = match std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(address) => address.port(),
        Err(_) => return,
    };
    let Ok(mut server) = std::process::Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
    else {
        eprintln!("redis-server is not installed: skipping redis/quota_round_trip");
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let store = RedisStore::new(&format!("redis://127.0.0.1:{port}/0"))
        .expect("url")
        .timeout(Duration::from_secs(1));
    let rate = Rate::per_second(1000);
    let buckets = [Bucket {
        key: "bench:user:5:alice",
        rate,
    }];
    // Wait for the server to accept connections.
    let ready_by = std::time::Instant::now() + Duration::from_secs(10);
    while runtime.block_on(store.acquire(&buckets, 0)).is_err() {
        if std::time::Instant::now() > ready_by {
            let _ = server.kill();
            eprintln!("redis-server did not start: skipping redis/quota_round_trip");
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    c.bench_function("redis/quota_round_trip", |b| {
        b.iter(|| {
            black_box(runtime.block_on(store.acquire(black_box(&buckets), 0))).expect("answer")
        })
    });
    let _ = server.kill();
    let _ = server.wait();
}

#[cfg(not(feature = "redis"))]
fn redis_round_trip(_: &mut Criterion) {
    eprintln!("built without the redis feature: skipping redis/quota_round_trip");
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = evaluation, redis_round_trip
}
criterion_main!(benches);
