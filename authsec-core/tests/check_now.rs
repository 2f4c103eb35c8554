//! `Guard::check_now` and `Protection::check_now`, the synchronous warm path the adapters try
//! first: whenever they answer, the answer is exactly what the awaited check gives (decision,
//! deciding rule, principal, rendered response), and they answer only when nothing on the way
//! needs I/O.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use authsec_core::{
    AccessRequest, Authorization, Claims, Decision, Denial, Guard, GuardBuilder, IncomingRequest,
    ManualClock, McpHeaders, Policy, PolicyOutcome, PolicyRequest, Principal, Protection,
    RevocationCheck, RuledDecision, TokenSource, TokenVerifier, ToolManifest, Verdict, classify,
};
use serde_json::{Value, json};

const RESOURCE: &str = "https://mcp.example.com/mcp";
const ISSUER: &str = "https://as.example";
const NOW: u64 = 1_800_000_000;

/// Accepts every token but `bad…`; the subject is the token's text before `.`, the scopes
/// `notes:read` unless the token holds `write`. Counts its calls.
#[derive(Default)]
struct Verifier {
    calls: AtomicUsize,
}

#[async_trait]
impl TokenVerifier for Verifier {
    async fn verify(&self, token: &str) -> Result<Claims, Denial> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if token.starts_with("bad") {
            return Err(Denial::invalid_token("the token signature is invalid"));
        }
        let scope = if token.contains("write") {
            "notes:read notes:write"
        } else {
            "notes:read"
        };
        let Value::Object(map) = json!({
            "iss": ISSUER,
            "sub": token.split('.').next().unwrap_or(token),
            "aud": if token.contains("elsewhere") { "https://other.example/mcp" } else { RESOURCE },
            "exp": NOW + 60,
            "scope": scope,
        }) else {
            unreachable!()
        };
        Claims::from_map(map, TokenSource::Jwt).map_err(Denial::invalid_token)
    }
}

struct NeverRevoked;

#[async_trait]
impl RevocationCheck for NeverRevoked {
    async fn check(&self, _token: &str, _principal: &Principal) -> Result<(), Denial> {
        Ok(())
    }
}

struct AllowAll;

#[async_trait]
impl Policy for AllowAll {
    async fn evaluate(&self, _request: &PolicyRequest<'_>) -> Result<(), Denial> {
        Ok(())
    }
}

fn builder(clock: Arc<ManualClock>) -> GuardBuilder {
    Guard::builder(RESOURCE)
        .authorization_server(ISSUER)
        .verifier(Verifier::default())
        .manifest(
            ToolManifest::new()
                .tool("list_notes", ["notes:read"])
                .tool("add_note", ["notes:write"]),
        )
        .initial_scopes(["notes:read"])
        .clock(clock)
}

fn tool_call(tool: &str) -> Vec<u8> {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
           "params": {"name": tool, "arguments": {"text": "hi"}}})
    .to_string()
    .into_bytes()
}

/// Everything a decision says, as text to compare.
fn described(ruled: &RuledDecision, guard: &Guard) -> String {
    let decision = match &ruled.decision {
        Decision::Allow(principal) => format!("allow {}", principal.subject()),
        Decision::Deny(denial) => {
            let rendered = guard.render(denial);
            format!(
                "deny {} {:?} {} {:?} {}",
                denial.code().as_str(),
                denial.description(),
                rendered.status,
                rendered.www_authenticate,
                rendered.body
            )
        }
    };
    format!(
        "{decision} / rule {:?} / principal {:?}",
        ruled.rule,
        ruled.principal.as_ref().map(Principal::subject)
    )
}

struct Case {
    name: &'static str,
    authorization: Vec<&'static str>,
    query: Option<&'static str>,
    body: Option<Vec<u8>>,
    session: Option<&'static str>,
}

fn case(name: &'static str, authorization: &[&'static str], body: Option<Vec<u8>>) -> Case {
    Case {
        name,
        authorization: authorization.to_vec(),
        query: None,
        body,
        session: None,
    }
}

fn cases() -> Vec<Case> {
    vec![
        case("no token", &[], Some(tool_call("list_notes"))),
        case(
            "two Authorization headers",
            &["Bearer alice.1", "Bearer alice.1"],
            None,
        ),
        case("not a bearer token", &["Basic YWxpY2U6cHc="], None),
        Case {
            query: Some("access_token=alice.1"),
            ..case("a token in the query", &["Bearer alice.1"], None)
        },
        case("a GET", &["Bearer alice.1"], None),
        case(
            "an allowed tool",
            &["Bearer alice.1"],
            Some(tool_call("list_notes")),
        ),
        case(
            "a tool needing more scope",
            &["Bearer alice.1"],
            Some(tool_call("add_note")),
        ),
        case(
            "a tool with the scope",
            &["Bearer alice.write"],
            Some(tool_call("add_note")),
        ),
        case(
            "a tool not in the manifest",
            &["Bearer alice.1"],
            Some(tool_call("rm_rf")),
        ),
        case(
            "a bad token",
            &["Bearer bad.1"],
            Some(tool_call("list_notes")),
        ),
        case("another audience", &["Bearer alice.elsewhere"], None),
        Case {
            session: Some("session-of-bob"),
            ..case("someone else's session", &["Bearer alice.1"], None)
        },
        Case {
            session: Some("session-of-bob"),
            ..case("one's own session", &["Bearer bob.1"], None)
        },
    ]
}

/// Runs `case` through `check_now` and `check_with_rule`.
async fn both(guard: &Guard, case: &Case) -> (Option<String>, String) {
    let mcp = case
        .body
        .as_deref()
        .map(|body| classify(body, McpHeaders::default()).expect("JSON-RPC"));
    let headers: Vec<&[u8]> = case.authorization.iter().map(|h| h.as_bytes()).collect();
    let authorization = match headers[..] {
        [] => Authorization::Absent,
        [one] => Authorization::One(one),
        _ => Authorization::Many,
    };
    let access = AccessRequest::new(authorization)
        .query(case.query)
        .mcp(mcp.as_ref())
        .session_id(case.session);
    let now = guard.check_now(&access).map(|r| described(&r, guard));
    let awaited = described(&guard.check_with_rule(&access).await, guard);
    (now, awaited)
}

#[tokio::test]
async fn check_now_answers_exactly_as_the_awaited_check_once_the_token_is_warm() {
    let clock = Arc::new(ManualClock::new(NOW));
    let guard = builder(clock.clone()).build().unwrap();
    assert!(guard.checks_synchronously());
    guard.bind_session("session-of-bob", &{
        let access = AccessRequest::new(Authorization::One(b"Bearer bob.1"));
        match guard.check(&access).await {
            Decision::Allow(bob) => bob,
            Decision::Deny(denial) => panic!("{denial}"),
        }
    });
    let mut warm_tokens = std::collections::HashSet::from(["Bearer bob.1"]);
    let mut answered = 0;
    for case in cases() {
        // Cold: only what is refused before verification, or a token seen before, is answered.
        let (first, awaited) = both(&guard, &case).await;
        let refused_early = case.authorization.len() != 1
            || case.query.is_some()
            || !case.authorization[0].starts_with("Bearer ");
        if refused_early || warm_tokens.contains(case.authorization[0]) {
            assert_eq!(first.as_ref(), Some(&awaited), "{}", case.name);
        } else {
            assert_eq!(first, None, "{}: a new token must be verified", case.name);
        }
        // Warm (the awaited check cached it): every answer agrees.
        let (warm, awaited) = both(&guard, &case).await;
        if case.name.contains("bad") || case.name.contains("audience") {
            // Refused tokens are not cached: always verified anew.
            assert_eq!(warm, None, "{}", case.name);
            continue;
        }
        assert_eq!(warm.as_ref(), Some(&awaited), "{}", case.name);
        if !awaited.ends_with("principal None") {
            warm_tokens.extend(case.authorization.first());
        }
        answered += 1;
    }
    assert_eq!(answered, 11);

    // The expected answers, spelled out for three of them.
    let (allowed, _) = both(&guard, &cases()[5]).await;
    assert_eq!(
        allowed.unwrap(),
        "allow alice / rule Check(\"none\") / principal Some(\"alice\")"
    );
    let (lacking, _) = both(&guard, &cases()[6]).await;
    let lacking = lacking.unwrap();
    assert!(
        lacking.starts_with(
            "deny scope_insufficient \"Tool \\\"add_note\\\" requires scope: notes:write. Your token has: notes:read."
        ),
        "{lacking}"
    );
    assert!(lacking.ends_with("/ rule Check(\"scope\") / principal Some(\"alice\")"));
    let (unmapped, _) = both(&guard, &cases()[8]).await;
    let unmapped = unmapped.unwrap();
    assert!(
        unmapped.starts_with("deny policy_denied \"the tool \\\"rm_rf\\\" is not in this server's tool manifest\" 403"),
        "{unmapped}"
    );
    assert!(unmapped.ends_with("/ rule Check(\"manifest\") / principal Some(\"alice\")"));

    // An expired cached token: both say invalid_token, without verifying again.
    clock.advance(60 + 61);
    let case = &cases()[4];
    let (now, awaited) = both(&guard, case).await;
    assert!(
        now.unwrap()
            .starts_with("deny invalid_token \"the token has expired\" 401")
    );
    assert!(awaited.starts_with("deny invalid_token"), "{awaited}");
}

#[tokio::test]
async fn a_guard_with_revocation_or_an_awaiting_policy_always_awaits() {
    let clock = Arc::new(ManualClock::new(NOW));
    for guard in [
        builder(clock.clone())
            .revocation(NeverRevoked)
            .build()
            .unwrap(),
        builder(clock.clone()).policy(AllowAll).build().unwrap(),
    ] {
        assert!(!guard.checks_synchronously());
        for case in cases() {
            let (warm_or_not, _) = both(&guard, &case).await;
            let (again, awaited) = both(&guard, &case).await;
            assert_eq!((warm_or_not, again), (None, None), "{}", case.name);
            assert!(!awaited.is_empty());
        }
    }
}

fn verdict(verdict: &Verdict) -> String {
    match verdict {
        Verdict::Allow {
            principal,
            lists_tools,
            client_ip,
        } => format!("allow {} {lists_tools} {client_ip:?}", principal.subject()),
        Verdict::Deny { denial, response } => format!(
            "deny {} {} {:?} {}",
            denial.code().as_str(),
            response.status,
            response.www_authenticate,
            response.body
        ),
        other => format!("{other:?}"),
    }
}

#[tokio::test]
async fn protection_check_now_gives_the_verdict_of_check() {
    let clock = Arc::new(ManualClock::new(NOW));
    let protection = Protection::new(builder(clock).build().unwrap());
    let list = br#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;
    /// Headers as `(name, value)` pairs, and the body.
    type Request<'a> = (Vec<(&'a str, &'a str)>, Option<&'a [u8]>);
    let requests: Vec<Request<'_>> =
        vec![
        (vec![], None),
        (vec![("authorization", "Bearer carol.1")], None),
        (vec![("authorization", "Bearer carol.1")], Some(list)),
        (vec![("authorization", "Bearer carol.1")], Some(b"not json")),
        (
            vec![("authorization", "Bearer carol.1"), ("mcp-session-id", "s1")],
            Some(br#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"add_note"}}"#),
        ),
    ];
    for (headers, body) in &requests {
        let request = IncomingRequest::new(headers.as_slice()).body(*body);
        let first = protection.check_now(&request).map(|v| verdict(&v));
        let awaited = verdict(&protection.check(&request).await);
        let warm = protection.check_now(&request).map(|v| verdict(&v));
        assert_eq!(warm.as_ref(), Some(&awaited), "{:?}", headers);
        if let Some(first) = first {
            assert_eq!(first, awaited);
        }
    }
    let headers = vec![("authorization", "Bearer carol.1")];
    let request = IncomingRequest::new(headers.as_slice()).body(Some(list));
    assert_eq!(
        verdict(&protection.check_now(&request).unwrap()),
        "allow carol true None"
    );
    let request = IncomingRequest::new(headers.as_slice()).body(Some(b"not json"));
    assert!(
        verdict(&protection.check_now(&request).unwrap()).starts_with("deny invalid_request 400")
    );
}

/// Denies `add_note` to bob; decides at once when asked to, and counts how it was asked.
#[derive(Default)]
struct SyncPolicy {
    awaited: AtomicUsize,
    at_once: AtomicUsize,
}

impl SyncPolicy {
    fn rule(request: &PolicyRequest<'_>) -> Result<(), Denial> {
        match (request.principal.subject(), request.tool) {
            ("bob", Some("add_note")) => Err(Denial::policy_denied("bob may not add notes")),
            _ => Ok(()),
        }
    }
}

#[async_trait]
impl Policy for SyncPolicy {
    async fn evaluate(&self, request: &PolicyRequest<'_>) -> Result<(), Denial> {
        self.awaited.fetch_add(1, Ordering::SeqCst);
        SyncPolicy::rule(request)
    }

    fn decides_now(&self) -> bool {
        true
    }

    fn evaluate_now(&self, request: &PolicyRequest<'_>) -> Option<PolicyOutcome> {
        self.at_once.fetch_add(1, Ordering::SeqCst);
        Some(PolicyOutcome::new(SyncPolicy::rule(request)))
    }
}

#[tokio::test]
async fn a_policy_that_decides_at_once_is_asked_without_awaiting_except_for_a_batch() {
    let clock = Arc::new(ManualClock::new(NOW));
    let policy = Arc::new(SyncPolicy::default());
    let guard = builder(clock).policy_arc(policy.clone()).build().unwrap();
    assert!(guard.checks_synchronously());
    let add = tool_call("add_note");
    let mcp = classify(&add, McpHeaders::default()).unwrap();
    for (token, expected) in [
        (
            "Bearer bob.write",
            "deny policy_denied \"bob may not add notes\" 403",
        ),
        ("Bearer carol.write", "allow carol"),
    ] {
        let access = AccessRequest::new(Authorization::One(token.as_bytes())).mcp(Some(&mcp));
        let awaited = described(&guard.check_with_rule(&access).await, &guard);
        let now = described(&guard.check_now(&access).unwrap(), &guard);
        assert_eq!(now, awaited);
        assert!(now.starts_with(expected), "{now}");
    }
    assert_eq!(policy.awaited.load(Ordering::SeqCst), 2);
    assert_eq!(policy.at_once.load(Ordering::SeqCst), 2);
    // A batch is never decided at once: its elements are awaited, each once.
    let batch = format!(
        "[{},{}]",
        String::from_utf8(tool_call("list_notes")).unwrap(),
        String::from_utf8(add).unwrap()
    );
    let mcp = classify(batch.as_bytes(), McpHeaders::default()).unwrap();
    let access = AccessRequest::new(Authorization::One(b"Bearer bob.write")).mcp(Some(&mcp));
    assert!(guard.check_now(&access).is_none());
    assert_eq!(policy.at_once.load(Ordering::SeqCst), 2);
}
