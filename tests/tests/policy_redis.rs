//! Quotas shared through a real `redis-server` (started by the test on loopback, killed at the
//! end): two Guards, standing for two replicas of a server, enforce one limit under concurrent
//! load without admitting one call too many; a Redis that dies or hangs mid-test gets the
//! declared behaviour (503 `authorization_unavailable` by default, or fail-open) within the
//! configured timeout, and a resumed Redis is used again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use authsec_core::{
    AccessRequest, Authorization, Claims, Decision, Denial, Guard, McpHeaders, RenderedDenial,
    TokenSource, TokenVerifier, ToolManifest, classify,
};
use authsec_policy::{OnUnavailable, PolicyConfig, PolicySet, Quota, QuotaKey, Rate, RedisStore};
use authsec_tests::notes_server::free_port;
use authsec_tests::redis_server::RedisServer;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

const RESOURCE: &str = "https://mcp.example.com/mcp";
const PRM: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";
const TIMEOUT: Duration = Duration::from_millis(300);

struct ClaimsToken;

#[async_trait]
impl TokenVerifier for ClaimsToken {
    async fn verify(&self, token: &str) -> Result<Claims, Denial> {
        let json = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| Denial::invalid_token("not a test token"))?;
        let Ok(Value::Object(map)) = serde_json::from_slice(&json) else {
            return Err(Denial::invalid_token("not a test token"));
        };
        Claims::from_map(map, TokenSource::Jwt).map_err(Denial::invalid_token)
    }
}

fn guard(manifest: ToolManifest, policies: PolicySet) -> Guard {
    Guard::builder(RESOURCE)
        .authorization_server("https://as.example")
        .verifier(ClaimsToken)
        .manifest(manifest)
        .policy(policies)
        .build()
        .expect("guard")
}

/// One replica: its own Guard and its own connection to the shared Redis.
fn replica(
    redis: &RedisServer,
    prefix: &str,
    quota: Quota,
    on_unavailable: OnUnavailable,
) -> Guard {
    let store = RedisStore::new(&redis.url())
        .expect("redis url")
        .timeout(TIMEOUT)
        .key_prefix(prefix);
    let policies = PolicySet::builder()
        .quota(quota)
        .store(store)
        .on_store_unavailable(on_unavailable)
        .build()
        .expect("policies");
    guard(
        ToolManifest::new().tool("search", Vec::<String>::new()),
        policies,
    )
}

async fn call(guard: &Guard, claims: &Value, tool: &str) -> Result<(), RenderedDenial> {
    let token = URL_SAFE_NO_PAD.encode(claims.to_string());
    let header = format!("Bearer {token}");
    let body = json!({"jsonrpc":"2.0","id":1,"method":"tools/call",
                      "params":{"name":tool,"arguments":{}}})
    .to_string();
    let mcp = classify(body.as_bytes(), McpHeaders::default()).expect("valid body");
    let request =
        AccessRequest::new(Authorization::from_values([header.as_bytes()])).mcp(Some(&mcp));
    match guard.check(&request).await {
        Decision::Allow(_) => Ok(()),
        Decision::Deny(denial) => Err(guard.render(&denial)),
    }
}

fn body(response: &RenderedDenial) -> Value {
    serde_json::from_str(&response.body).expect("JSON body")
}

fn assert_unavailable(response: &RenderedDenial) {
    assert_eq!(response.status, 503, "{}", response.body);
    assert_eq!(response.www_authenticate, None);
    assert_eq!(response.retry_after.as_deref(), Some("5"));
    assert_eq!(
        body(response),
        json!({"error":"authorization_unavailable",
               "error_description":"the quota service is unavailable; retry later",
               "denial":"authorization_unavailable","retry_after":5,"resource_metadata":PRM})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_guards_sharing_one_redis_enforce_one_limit_under_concurrent_load() {
    let redis = RedisServer::start().await.expect("redis-server");
    // 50 per hour for everyone together: one call every 72 s after a burst of 50.
    let quota = || Quota::new("pool", QuotaKey::Global, Rate::per_hour(50));
    let replicas = [
        Arc::new(replica(&redis, "load:", quota(), OnUnavailable::Deny)),
        Arc::new(replica(&redis, "load:", quota(), OnUnavailable::Deny)),
    ];
    // Each replica connects and admits one call before the load.
    let mut admitted = [0usize; 2];
    for (i, guard) in replicas.iter().enumerate() {
        call(guard, &json!({"sub":"warm-up"}), "search")
            .await
            .expect("warm-up call");
        admitted[i] += 1;
    }
    let mut calls = Vec::new();
    for i in 0..200 {
        let guard = replicas[i % 2].clone();
        calls.push(tokio::spawn(async move {
            let claims = json!({"sub": format!("user{}", i % 7)});
            (i % 2, call(&guard, &claims, "search").await)
        }));
    }
    let mut refused = [0usize; 2];
    for handle in calls {
        match handle.await.expect("task") {
            (replica, Ok(())) => admitted[replica] += 1,
            (replica, Err(response)) => {
                // A 429, not a 503: this replica read the shared bucket.
                assert_eq!(response.status, 429, "{}", response.body);
                // The next call is admitted 72 s after the burst began; this one came less than
                // a second later.
                let retry: u64 = response.retry_after.as_deref().unwrap().parse().unwrap();
                assert!((71..=72).contains(&retry), "Retry-After {retry}");
                assert_eq!(body(&response)["denial"], "quota_exceeded");
                refused[replica] += 1;
            }
        }
    }
    // Alone, each replica would have admitted 50: together they admitted 50, no more.
    assert_eq!(
        admitted[0] + admitted[1],
        50,
        "admitted per replica: {admitted:?}"
    );
    assert_eq!(
        refused[0] + refused[1],
        152,
        "refused per replica: {refused:?}"
    );
}

#[tokio::test]
async fn exactly_n_calls_pass_across_replicas_then_429_with_the_exact_retry_after() {
    let redis = RedisServer::start().await.expect("redis-server");
    // 5 per minute per user: one call every 12 s.
    let quota = || Quota::new("calls", QuotaKey::User, Rate::per_minute(5));
    let a = replica(&redis, "exact:", quota(), OnUnavailable::Deny);
    let b = replica(&redis, "exact:", quota(), OnUnavailable::Deny);
    let alice = json!({"sub":"alice"});
    for guard in [&a, &b, &a, &b, &a] {
        call(guard, &alice, "search")
            .await
            .expect("within the quota");
    }
    for guard in [&a, &b] {
        let response = call(guard, &alice, "search").await.unwrap_err();
        assert_eq!(response.status, 429);
        assert_eq!(response.www_authenticate, None);
        assert_eq!(response.retry_after.as_deref(), Some("12"));
        assert_eq!(
            body(&response),
            json!({"error":"quota_exceeded",
                   "error_description":"the \"calls\" quota of 5/minute per user is used up; retry in 12 s",
                   "denial":"quota_exceeded","retry_after":12,"resource_metadata":PRM})
        );
    }
    // Bob has his own bucket.
    call(&b, &json!({"sub":"bob"}), "search")
        .await
        .expect("bob's first call");
}

#[tokio::test]
async fn redis_stopped_mid_test_fails_closed_within_the_timeout_or_open_when_configured() {
    let mut redis = RedisServer::start().await.expect("redis-server");
    let quota = || Quota::new("calls", QuotaKey::User, Rate::per_minute(100));
    let closed = replica(&redis, "stop:", quota(), OnUnavailable::Deny);
    let open = replica(&redis, "stop:", quota(), OnUnavailable::Allow);
    let alice = json!({"sub":"alice"});
    call(&closed, &alice, "search").await.expect("Redis is up");
    call(&open, &alice, "search").await.expect("Redis is up");

    redis.stop().await;
    for _ in 0..3 {
        let started = Instant::now();
        let response = call(&closed, &alice, "search").await.unwrap_err();
        let elapsed = started.elapsed();
        assert_unavailable(&response);
        assert!(
            elapsed < TIMEOUT + Duration::from_millis(500),
            "took {elapsed:?}"
        );

        let started = Instant::now();
        call(&open, &alice, "search")
            .await
            .expect("fail-open lets the call through");
        let elapsed = started.elapsed();
        assert!(
            elapsed < TIMEOUT + Duration::from_millis(500),
            "took {elapsed:?}"
        );
    }
}

#[tokio::test]
async fn a_hung_redis_is_given_up_on_at_the_timeout_and_used_again_once_back() {
    let redis = RedisServer::start().await.expect("redis-server");
    let guard = replica(
        &redis,
        "hang:",
        Quota::new("calls", QuotaKey::User, Rate::per_minute(100)),
        OnUnavailable::Deny,
    );
    let alice = json!({"sub":"alice"});
    call(&guard, &alice, "search").await.expect("Redis is up");

    redis.pause();
    let started = Instant::now();
    let response = call(&guard, &alice, "search").await.unwrap_err();
    let elapsed = started.elapsed();
    assert_unavailable(&response);
    assert!(
        elapsed >= TIMEOUT,
        "gave up before the timeout: {elapsed:?}"
    );
    assert!(
        elapsed < TIMEOUT + Duration::from_millis(500),
        "took {elapsed:?}"
    );

    redis.resume();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match call(&guard, &alice, "search").await {
            Ok(()) => break,
            Err(response) => {
                assert_unavailable(&response);
                assert!(
                    Instant::now() < deadline,
                    "Redis was not used again after resuming"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[tokio::test]
async fn the_redis_store_is_configured_from_toml() {
    let redis = RedisServer::start().await.expect("redis-server");
    let text = format!(
        r#"
        [tools.search]

        [[quotas]]
        name = "calls"
        per = "user"
        rate = "2/minute"

        [quota_store]
        kind = "redis"
        url = "{}"
        timeout_ms = 300
        key_prefix = "toml:"
        "#,
        redis.url()
    );
    let (manifest, policies) = PolicyConfig::from_toml_str(&text)
        .expect("config")
        .into_parts();
    let guard = guard(manifest, policies);
    let alice = json!({"sub":"alice"});
    call(&guard, &alice, "search").await.expect("first");
    call(&guard, &alice, "search").await.expect("second");
    let response = call(&guard, &alice, "search").await.unwrap_err();
    assert_eq!(response.status, 429);
    assert_eq!(response.retry_after.as_deref(), Some("30"));
}

#[tokio::test]
async fn a_server_started_while_redis_is_down_refuses_then_meters_once_it_is_up() {
    let port = free_port().expect("free port");
    let store = RedisStore::new(&format!("redis://127.0.0.1:{port}/0"))
        .expect("redis url")
        .timeout(TIMEOUT);
    let policies = PolicySet::builder()
        .quota(Quota::new("calls", QuotaKey::User, Rate::per_minute(2)))
        .store(store)
        .build()
        .expect("building needs no Redis");
    let guard = guard(
        ToolManifest::new().tool("search", Vec::<String>::new()),
        policies,
    );
    let alice = json!({"sub":"alice"});
    let started = Instant::now();
    assert_unavailable(&call(&guard, &alice, "search").await.unwrap_err());
    assert!(started.elapsed() < TIMEOUT + Duration::from_millis(500));

    let _redis = RedisServer::start_on(port).await.expect("redis-server");
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Err(response) = call(&guard, &alice, "search").await {
        assert_unavailable(&response);
        assert!(Instant::now() < deadline, "Redis was never used once up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Metered from now on: one more call fits in the burst of 2, then 429.
    call(&guard, &alice, "search").await.expect("second call");
    let response = call(&guard, &alice, "search").await.unwrap_err();
    assert_eq!(response.status, 429);
    assert_eq!(response.retry_after.as_deref(), Some("30"));
}
