//! The metrics authsec records, read back from metrics-util's debugging recorder: decisions by
//! code and the check latency (core, at `Protection::check`), JWKS refreshes and failures and
//! introspection calls, cache hits and latency (authsec-jwks), quota rejections
//! (authsec-policy). Names from `authsec_core::metric`.
//!
//! The recorder is process-global, so this binary holds a single test.

use std::time::Duration;

use authsec_core::adapter::IncomingRequest;
use authsec_core::metric;
use authsec_core::{Protection, Verdict};
use authsec_jwks::{ClientCredentials, JwksCache, RemoteIssuer, TokenStatus, ValidationMode};
use authsec_policy::PolicyConfig;
use authsec_tests::dev_issuer::{
    DEFAULT_INTROSPECTION_CLIENT_ID, DEFAULT_INTROSPECTION_CLIENT_SECRET, DevIssuer,
};
use authsec_tests::notes_server::free_port;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

const RESOURCE: &str = "https://notes.example/mcp";

const POLICY: &str = r#"
[tools.list_notes]
scopes = ["notes:read"]

[tools.add_note]
scopes = ["notes:write"]

[[quotas]]
name = "writes"
per = "user"
rate = "1/minute"
tools = ["add_note"]
"#;

async fn call(protection: &Protection, token: Option<&str>, tool: &str) -> Verdict {
    let headers: Vec<_> = token
        .map(|t| ("authorization", format!("Bearer {t}")))
        .into_iter()
        .collect();
    let body =
        format!(r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"{tool}"}}}}"#);
    protection
        .check(&IncomingRequest::new(headers.as_slice()).body(Some(body.as_bytes())))
        .await
}

/// One metric: its name, its labels and what was recorded.
type Sample = (String, Vec<(String, String)>, DebugValue);

/// What was recorded since the last read (the debugging recorder hands out deltas).
struct Recorded(Vec<Sample>);

impl Recorded {
    fn read(snapshotter: &Snapshotter) -> Self {
        Recorded(
            snapshotter
                .snapshot()
                .into_vec()
                .into_iter()
                .map(|(key, _, _, value)| {
                    let key = key.key();
                    let labels = key
                        .labels()
                        .map(|l| (l.key().to_owned(), l.value().to_owned()))
                        .collect();
                    (key.name().to_owned(), labels, value)
                })
                .collect(),
        )
    }

    /// The counter `name` with exactly these labels (0 if never incremented).
    fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.0
            .iter()
            .filter(|(n, l, _)| {
                n == name
                    && l.len() == labels.len()
                    && labels
                        .iter()
                        .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|(_, _, value)| match value {
                DebugValue::Counter(count) => *count,
                other => panic!("{name} is not a counter: {other:?}"),
            })
            .sum()
    }

    /// The samples of the histogram `name`.
    fn histogram(&self, name: &str) -> Vec<f64> {
        self.0
            .iter()
            .filter(|(n, _, _)| n == name)
            .flat_map(|(_, _, value)| match value {
                DebugValue::Histogram(samples) => samples.iter().map(|s| s.0).collect::<Vec<_>>(),
                other => panic!("{name} is not a histogram: {other:?}"),
            })
            .collect()
    }

    /// Every counter name and label set with a non-zero count, for exact comparisons.
    fn counters(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .0
            .iter()
            .filter_map(|(name, labels, value)| match value {
                DebugValue::Counter(count) if *count > 0 => {
                    let labels: Vec<String> =
                        labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    Some(format!("{name}{{{}}} {count}", labels.join(",")))
                }
                _ => None,
            })
            .collect();
        out.sort();
        out
    }
}

#[tokio::test]
async fn decisions_jwks_introspection_and_quotas_are_counted() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("the only recorder of this binary");

    let issuer = DevIssuer::start().await.unwrap();
    let remote = RemoteIssuer::builder(issuer.issuer())
        .introspection_credentials(ClientCredentials::new(
            DEFAULT_INTROSPECTION_CLIENT_ID,
            DEFAULT_INTROSPECTION_CLIENT_SECRET,
        ))
        .introspection_ttl(Duration::from_secs(60))
        .discover()
        .await
        .unwrap();
    let (manifest, policies) = PolicyConfig::from_toml_str(POLICY).unwrap().into_parts();
    let guard = remote
        .guard(RESOURCE, ValidationMode::Jwt)
        .unwrap()
        .manifest(manifest)
        .policy(policies)
        .build()
        .unwrap();
    let protection = Protection::new(guard);

    // Before `metric::init`, decisions are counted but the clock is not read for them.
    assert!(matches!(
        call(&protection, None, "list_notes").await,
        Verdict::Deny { .. }
    ));
    let before_init = Recorded::read(&snapshotter);
    assert_eq!(
        before_init.counter(
            metric::DECISIONS_TOTAL,
            &[("decision", "deny"), ("code", "missing_token")]
        ),
        1
    );
    assert!(
        before_init
            .histogram(metric::CHECK_DURATION_SECONDS)
            .is_empty()
    );
    metric::init();
    let setup = Recorded::read(&snapshotter);

    // Decisions: 2 allowed, one of each denial below; the first token fetches the JWKS.
    let reader = issuer.mint().aud(RESOURCE).scope("notes:read").sign();
    let writer = issuer.mint().aud(RESOURCE).scope("notes:write").sign();
    assert!(matches!(
        call(&protection, Some(&reader), "list_notes").await,
        Verdict::Allow { .. }
    ));
    assert!(matches!(
        call(&protection, Some(&reader), "add_note").await,
        Verdict::Deny { .. }
    ));
    assert!(matches!(
        call(&protection, None, "list_notes").await,
        Verdict::Deny { .. }
    ));
    assert!(matches!(
        call(&protection, Some(&writer), "add_note").await,
        Verdict::Allow { .. }
    ));
    assert!(matches!(
        call(&protection, Some(&writer), "add_note").await,
        Verdict::Deny { .. }
    ));
    let decisions = Recorded::read(&snapshotter);
    let jwks_fetches = setup.counter(metric::JWKS_REFRESHES_TOTAL, &[])
        + decisions.counter(metric::JWKS_REFRESHES_TOTAL, &[]);
    assert_eq!(
        jwks_fetches, 1,
        "one JWKS download, at start-up or first use"
    );
    assert_eq!(
        decisions
            .counters()
            .into_iter()
            .filter(|line| !line.starts_with(metric::JWKS_REFRESHES_TOTAL))
            .collect::<Vec<_>>(),
        [
            "authsec_decisions_total{decision=allow,code=none} 2",
            "authsec_decisions_total{decision=deny,code=missing_token} 1",
            "authsec_decisions_total{decision=deny,code=quota_exceeded} 1",
            "authsec_decisions_total{decision=deny,code=scope_insufficient} 1",
            "authsec_quota_rejections_total{quota=writes} 1",
        ]
    );
    let latencies = decisions.histogram(metric::CHECK_DURATION_SECONDS);
    assert_eq!(latencies.len(), 5, "one latency sample per decision");
    assert!(
        latencies.iter().all(|s| (0.0..10.0).contains(s)),
        "{latencies:?}"
    );

    // JWKS: a download that fails is counted as a failure, not a refresh.
    let dead = JwksCache::new(format!("http://127.0.0.1:{}/jwks", free_port().unwrap())).unwrap();
    assert!(dead.refresh().await.is_err());
    let jwks = Recorded::read(&snapshotter);
    assert_eq!(jwks.counter(metric::JWKS_REFRESH_FAILURES_TOTAL, &[]), 1);
    assert_eq!(jwks.counter(metric::JWKS_REFRESHES_TOTAL, &[]), 0);

    // Introspection: one call per token within the TTL, the rest from the cache.
    let introspector = remote.introspector().expect("credentials were given");
    let active = issuer.mint().aud(RESOURCE).scope("notes:read").sign();
    assert!(matches!(
        introspector.status(&active).await.unwrap(),
        TokenStatus::Active(_)
    ));
    assert!(matches!(
        introspector.status(&active).await.unwrap(),
        TokenStatus::Active(_)
    ));
    assert!(matches!(
        introspector.status(&active).await.unwrap(),
        TokenStatus::Active(_)
    ));
    assert!(matches!(
        introspector.status("never-issued").await.unwrap(),
        TokenStatus::Inactive
    ));
    let introspection = Recorded::read(&snapshotter);
    assert_eq!(
        introspection.counters(),
        [
            "authsec_introspection_cache_hits_total{} 2",
            "authsec_introspection_requests_total{outcome=active} 1",
            "authsec_introspection_requests_total{outcome=inactive} 1",
        ]
    );
    assert_eq!(
        issuer.introspection_calls(),
        2,
        "the AS saw the same two calls"
    );
    assert_eq!(
        introspection
            .histogram(metric::INTROSPECTION_DURATION_SECONDS)
            .len(),
        2
    );
}
