//! The decision counter for the warm lane of `Protection::check_now`: a warm `tools/call` on a
//! Guard without a policy is allowed there, and is counted once, as the full checks count it.
//! The recorder is local to each block (`metrics::with_local_recorder`); the latency histogram
//! stays off, as it is unless `metric::init` runs.

use async_trait::async_trait;
use authsec_core::adapter::IncomingRequest;
use authsec_core::metric::DECISIONS_TOTAL;
use authsec_core::{Claims, Denial, Guard, Protection, TokenSource, TokenVerifier, ToolManifest};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use serde_json::{Value, json};

/// Accepts every token as the subject before its `.`, with `notes:read`, for an hour.
struct Stub;

#[async_trait]
impl TokenVerifier for Stub {
    async fn verify(&self, token: &str) -> Result<Claims, Denial> {
        let exp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 3600;
        let Value::Object(map) = json!({"sub": token.split('.').next(), "aud": "https://h/mcp",
                                        "exp": exp, "scope": "notes:read"})
        else {
            unreachable!()
        };
        Claims::from_map(map, TokenSource::Jwt).map_err(Denial::invalid_token)
    }
}

/// The decisions counted while `f` ran, as `(decision, code, count)`.
fn decisions(f: impl FnOnce()) -> Vec<(String, String, u64)> {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, f);
    let mut counted: Vec<_> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| key.key().name() == DECISIONS_TOTAL)
        .map(|(key, _, _, value)| {
            let label = |name: &str| {
                key.key()
                    .labels()
                    .find(|l| l.key() == name)
                    .map(|l| l.value().to_owned())
                    .unwrap_or_default()
            };
            let DebugValue::Counter(count) = value else {
                panic!("{DECISIONS_TOTAL} is not a counter: {value:?}")
            };
            (label("decision"), label("code"), count)
        })
        .collect();
    counted.sort();
    counted
}

#[tokio::test]
async fn a_warm_tool_call_is_counted_once_as_an_allow() {
    let guard = Guard::builder("https://h/mcp")
        .authorization_server("https://as")
        .verifier(Stub)
        .manifest(
            ToolManifest::new()
                .tool("list_notes", ["notes:read"])
                .tool("add_note", ["notes:write"]),
        )
        .build()
        .unwrap();
    let protection = Protection::new(guard);
    let headers = [("authorization", "Bearer alice.1")];
    let call = |tool: &str| {
        format!(r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"{tool}"}}}}"#)
    };
    let (allowed, lacking) = (call("list_notes"), call("add_note"));
    // The first call verifies the token (awaited); the cache then holds it.
    protection
        .check(&IncomingRequest::new(&headers[..]).body(Some(allowed.as_bytes())))
        .await;

    let counted = decisions(|| {
        let request = IncomingRequest::new(&headers[..]).body(Some(allowed.as_bytes()));
        let verdict = protection
            .check_now(&request)
            .expect("a warm token is decided at once");
        assert!(
            matches!(verdict, authsec_core::Verdict::Allow { ref principal, .. } if principal.subject() == "alice"),
            "{verdict:?}"
        );
    });
    assert_eq!(counted, [("allow".into(), "none".into(), 1)]);

    // A denial goes through the full checks, and is counted with its code.
    let counted = decisions(|| {
        let request = IncomingRequest::new(&headers[..]).body(Some(lacking.as_bytes()));
        assert!(matches!(
            protection.check_now(&request),
            Some(authsec_core::Verdict::Deny { .. })
        ));
    });
    assert_eq!(counted, [("deny".into(), "scope_insufficient".into(), 1)]);
}
