//! Quotas with the in-process store, through the Guard: exactly N calls pass, the N+1th is a 429
//! with a `Retry-After` that is exactly when the next call passes; buckets per user, client,
//! plan, tool or globally; refused calls never counted; and the declared behaviour when the
//! store cannot answer.

use std::sync::Arc;

use async_trait::async_trait;
use authsec_core::{
    AccessRequest, Authorization, Claims, Decision, Denial, Guard, ManualClock, McpHeaders,
    RenderedDenial, TokenSource, TokenVerifier, ToolManifest, ToolRule, classify,
};
use authsec_policy::{
    Admission, Bucket, OnUnavailable, PolicyConfig, PolicySet, Quota, QuotaKey, QuotaStore, Rate,
    StepUp, StoreError,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

const RESOURCE: &str = "https://mcp.example.com/mcp";
const PRM: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";
const START: u64 = 1_736_154_000;

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

struct Server {
    guard: Guard,
    clock: Arc<ManualClock>,
}

impl Server {
    fn new(manifest: ToolManifest, policies: PolicySet) -> Server {
        let clock = Arc::new(ManualClock::new(START));
        let guard = Guard::builder(RESOURCE)
            .authorization_server("https://as.example")
            .verifier(ClaimsToken)
            .manifest(manifest)
            .policy(policies)
            .clock(clock.clone())
            .build()
            .expect("guard");
        Server { guard, clock }
    }

    fn from_toml(text: &str) -> Server {
        let (manifest, policies) = PolicyConfig::from_toml_str(text)
            .expect("config")
            .into_parts();
        Self::new(manifest, policies)
    }

    async fn call(&self, claims: &Value, tool: &str) -> Result<(), RenderedDenial> {
        let token = URL_SAFE_NO_PAD.encode(claims.to_string());
        let header = format!("Bearer {token}");
        let body = json!({"jsonrpc":"2.0","id":1,"method":"tools/call",
                          "params":{"name":tool,"arguments":{}}})
        .to_string();
        let mcp = classify(body.as_bytes(), McpHeaders::default()).expect("valid body");
        let request =
            AccessRequest::new(Authorization::from_values([header.as_bytes()])).mcp(Some(&mcp));
        match self.guard.check(&request).await {
            Decision::Allow(_) => Ok(()),
            Decision::Deny(denial) => Err(self.guard.render(&denial)),
        }
    }

    /// Calls until refused (at most `bound`); the number admitted and the refusal.
    async fn exhaust(&self, claims: &Value, tool: &str, bound: usize) -> (usize, RenderedDenial) {
        for admitted in 0..bound {
            if let Err(response) = self.call(claims, tool).await {
                return (admitted, response);
            }
        }
        panic!("{bound} calls were all admitted")
    }
}

fn assert_quota_exceeded(response: &RenderedDenial, retry_after: u64, description: &str) {
    assert_eq!(response.status, 429, "{}", response.body);
    assert_eq!(response.www_authenticate, None);
    assert_eq!(
        response.retry_after.as_deref(),
        Some(retry_after.to_string().as_str())
    );
    assert_eq!(
        serde_json::from_str::<Value>(&response.body).unwrap(),
        json!({"error":"quota_exceeded","error_description":description,
               "denial":"quota_exceeded","retry_after":retry_after,"resource_metadata":PRM})
    );
}

fn notes() -> ToolManifest {
    ToolManifest::new()
        .tool("add_note", Vec::<String>::new())
        .tool("list_notes", Vec::<String>::new())
}

#[tokio::test]
async fn exactly_n_calls_pass_then_429_with_the_exact_retry_after() {
    let policies = PolicySet::builder()
        .quota(Quota::new("writes", QuotaKey::User, Rate::per_minute(3)).tools(["add_note"]))
        .build()
        .unwrap();
    let server = Server::new(notes(), policies);
    let alice = json!({"sub":"alice"});
    let used_up = "the \"writes\" quota of 3/minute per user is used up; retry in 20 s";
    let (admitted, response) = server.exhaust(&alice, "add_note", 10).await;
    assert_eq!(admitted, 3);
    assert_quota_exceeded(&response, 20, used_up);
    // A refused call is not counted: still exactly 20 s to wait.
    assert_quota_exceeded(
        &server.call(&alice, "add_note").await.unwrap_err(),
        20,
        used_up,
    );
    // Other tools and other users are not affected.
    assert!(server.call(&alice, "list_notes").await.is_ok());
    let (admitted, _) = server.exhaust(&json!({"sub":"bob"}), "add_note", 10).await;
    assert_eq!(admitted, 3);
    // One second early: refused, with one second to wait.
    server.clock.advance(19);
    assert_quota_exceeded(
        &server.call(&alice, "add_note").await.unwrap_err(),
        1,
        "the \"writes\" quota of 3/minute per user is used up; retry in 1 s",
    );
    // After exactly Retry-After: one call passes, the next waits a full interval again.
    server.clock.advance(1);
    let (admitted, response) = server.exhaust(&alice, "add_note", 10).await;
    assert_eq!(admitted, 1);
    assert_quota_exceeded(&response, 20, used_up);
    // A whole idle period refills the burst.
    server.clock.advance(60);
    assert_eq!(server.exhaust(&alice, "add_note", 10).await.0, 3);
}

#[tokio::test]
async fn per_plan_rates_and_buckets_come_from_the_plan_claim() {
    let server = Server::from_toml(
        r#"
        plan_claim = "tier"

        [tools.search]

        [[quotas]]
        name = "search"
        per = "user"
        rate = "2/minute"
        plans = { pro = "5/minute" }

        [[quotas]]
        name = "tier_pool"
        per = "plan"
        rate = "8/hour"
        "#,
    );
    let free = json!({"sub":"f1","tier":"free"});
    let (admitted, response) = server.exhaust(&free, "search", 20).await;
    assert_eq!(admitted, 2);
    assert_quota_exceeded(
        &response,
        30,
        "the \"search\" quota of 2/minute per user is used up; retry in 30 s",
    );
    let pro = json!({"sub":"p1","tier":"pro"});
    let (admitted, response) = server.exhaust(&pro, "search", 20).await;
    assert_eq!(admitted, 5);
    assert_quota_exceeded(
        &response,
        12,
        "the \"search\" quota of 5/minute per user is used up; retry in 12 s",
    );
    // The "pro" plan's shared pool (8 per hour) has 3 calls left for every pro user together.
    let (admitted, response) = server
        .exhaust(&json!({"sub":"p2","tier":"pro"}), "search", 20)
        .await;
    assert_eq!(admitted, 3);
    assert_quota_exceeded(
        &response,
        450,
        "the \"tier_pool\" quota of 8/hour per plan is used up; retry in 450 s",
    );
}

#[tokio::test]
async fn client_global_and_per_tool_buckets() {
    let server = Server::from_toml(
        r#"
        [tools.a]
        [tools.b]
        [tools.c]

        [[quotas]]
        name = "per_client"
        per = "client"
        rate = "4/minute"
        tools = ["a"]

        [[quotas]]
        name = "each_tool"
        per = "global"
        rate = "2/hour"
        tools = ["b", "c"]
        per_tool = true
        "#,
    );
    // Two users of one client share its bucket; another client has its own.
    let (u1, u2) = (
        json!({"sub":"u1","client_id":"app"}),
        json!({"sub":"u2","client_id":"app"}),
    );
    for _ in 0..2 {
        assert!(server.call(&u1, "a").await.is_ok());
        assert!(server.call(&u2, "a").await.is_ok());
    }
    assert_quota_exceeded(
        &server.call(&u1, "a").await.unwrap_err(),
        15,
        "the \"per_client\" quota of 4/minute per client is used up; retry in 15 s",
    );
    assert!(
        server
            .call(&json!({"sub":"u1","client_id":"other"}), "a")
            .await
            .is_ok()
    );
    // b and c each have one global bucket of 2 per hour, shared by everyone.
    assert!(server.call(&u1, "b").await.is_ok());
    assert!(server.call(&json!({"sub":"z"}), "b").await.is_ok());
    assert_quota_exceeded(
        &server.call(&u2, "b").await.unwrap_err(),
        1800,
        "the \"each_tool\" quota of 2/hour shared by all callers is used up; retry in 1800 s",
    );
    assert_eq!(server.exhaust(&u2, "c", 10).await.0, 2);
}

#[tokio::test]
async fn calls_refused_by_a_rule_are_never_counted() {
    let policies = PolicySet::builder()
        .rule("mfa", StepUp::new().acr(["mfa"]))
        .quota(Quota::new("calls", QuotaKey::User, Rate::per_hour(2)))
        .build()
        .unwrap();
    let manifest = ToolManifest::new().rule(
        "purge",
        ToolRule::scopes(Vec::<String>::new()).with_policy("mfa"),
    );
    let server = Server::new(manifest, policies);
    for _ in 0..5 {
        let response = server
            .call(&json!({"sub":"alice","acr":"pwd"}), "purge")
            .await
            .unwrap_err();
        assert_eq!(response.status, 401);
    }
    assert_eq!(
        server
            .exhaust(&json!({"sub":"alice","acr":"mfa"}), "purge", 10)
            .await
            .0,
        2
    );
}

/// A store that never answers.
struct Unreachable;

#[async_trait]
impl QuotaStore for Unreachable {
    async fn acquire(&self, _: &[Bucket<'_>], _: u64) -> Result<Admission, StoreError> {
        Err(StoreError("connection refused".into()))
    }
}

#[tokio::test]
async fn an_unavailable_store_fails_closed_by_default_and_open_when_configured() {
    let quota = || Quota::new("calls", QuotaKey::User, Rate::per_minute(10));
    let closed = Server::new(
        notes(),
        PolicySet::builder()
            .quota(quota())
            .store(Unreachable)
            .build()
            .unwrap(),
    );
    let response = closed
        .call(&json!({"sub":"alice"}), "add_note")
        .await
        .unwrap_err();
    assert_eq!(response.status, 503);
    assert_eq!(response.www_authenticate, None);
    assert_eq!(response.retry_after.as_deref(), Some("5"));
    assert_eq!(
        serde_json::from_str::<Value>(&response.body).unwrap(),
        json!({"error":"authorization_unavailable",
               "error_description":"the quota service is unavailable; retry later",
               "denial":"authorization_unavailable","retry_after":5,"resource_metadata":PRM})
    );
    let open = Server::new(
        notes(),
        PolicySet::builder()
            .quota(quota())
            .store(Unreachable)
            .on_store_unavailable(OnUnavailable::Allow)
            .build()
            .unwrap(),
    );
    for _ in 0..20 {
        assert!(open.call(&json!({"sub":"alice"}), "add_note").await.is_ok());
    }
}

#[tokio::test]
async fn a_full_memory_store_follows_the_unavailable_behaviour() {
    let server = Server::from_toml(
        r#"
        [tools.t]

        [[quotas]]
        name = "calls"
        per = "user"
        rate = "10/minute"

        [quota_store]
        kind = "memory"
        capacity = 16
        "#,
    );
    // 16 shards of one live bucket each: some of 200 distinct callers find their shard full.
    let mut unavailable = 0;
    for i in 0..200 {
        match server.call(&json!({"sub": format!("user{i}")}), "t").await {
            Ok(()) => {}
            Err(response) => {
                assert_eq!(response.status, 503);
                unavailable += 1;
            }
        }
    }
    assert!(unavailable >= 200 - 16, "{unavailable}");
    // Once the buckets drain (a minute later), callers fit again.
    server.clock.advance(60);
    assert!(server.call(&json!({"sub":"late"}), "t").await.is_ok());
}
