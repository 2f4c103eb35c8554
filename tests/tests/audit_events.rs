//! The audit log: one `authsec::audit` event per decision, made at `Protection::check` (the
//! one decision point both adapters call), asserted field by field with a capturing `tracing`
//! subscriber. The Guard is real: discovered from the dev issuer, with the notes manifest, its
//! `fresh_mfa` step-up rule and a quota from authsec-policy.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};

use authsec_core::adapter::IncomingRequest;
use authsec_core::principal::fingerprint;
use authsec_core::{Protection, Verdict};
use authsec_jwks::{RemoteIssuer, ValidationMode};
use authsec_policy::PolicyConfig;
use authsec_tests::dev_issuer::DevIssuer;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::{Layer, Registry};

const RESOURCE: &str = "https://notes.example/mcp";

const POLICY: &str = r#"
[tools.list_notes]
scopes = ["notes:read"]

[tools.add_note]
scopes = ["notes:write"]

[tools.purge_notes]
scopes = ["notes:admin"]
policy = "fresh_mfa"

[policies.fresh_mfa]
step_up = { acr = ["mfa"], amr = ["mfa"], max_age = 300 }

[[quotas]]
name = "writes"
per = "user"
rate = "1/minute"
tools = ["add_note"]
"#;

type Event = BTreeMap<String, String>;

/// Records every `authsec::audit` event's fields as text.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Event>>>);

struct Fields<'a>(&'a mut Event);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() != "authsec::audit" {
            return;
        }
        assert_eq!(*event.metadata().level(), tracing::Level::INFO);
        let mut fields = Event::new();
        event.record(&mut Fields(&mut fields));
        self.0.lock().unwrap().push(fields);
    }
}

impl Capture {
    fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

async fn protection(issuer: &DevIssuer) -> Protection {
    let remote = RemoteIssuer::discover(issuer.issuer()).await.unwrap();
    let (manifest, policies) = PolicyConfig::from_toml_str(POLICY).unwrap().into_parts();
    let guard = remote
        .guard(RESOURCE, ValidationMode::Jwt)
        .unwrap()
        .manifest(manifest)
        .policy(policies)
        .initial_scopes(["notes:read"])
        .build()
        .unwrap();
    Protection::new(guard)
}

const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));

async fn call(protection: &Protection, token: Option<&str>, tool: &str) -> Verdict {
    let mut headers = vec![];
    if let Some(token) = token {
        headers.push(("authorization", format!("Bearer {token}")));
    }
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"{tool}","arguments":{{}}}}}}"#
    );
    let request = IncomingRequest::new(&headers[..])
        .peer(Some(PEER))
        .body(Some(body.as_bytes()));
    protection.check(&request).await
}

/// The event's fields with `latency_us` checked to be a number and removed.
fn without_latency(mut event: Event) -> Event {
    let latency = event.remove("latency_us").expect("latency_us is recorded");
    latency
        .parse::<u64>()
        .expect("latency_us is a whole number of microseconds");
    event
}

fn event(fields: &[(&str, &str)]) -> Event {
    fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test]
async fn every_decision_is_one_audit_event_naming_who_what_and_the_deciding_rule() {
    let capture = Capture::default();
    let _default = tracing::subscriber::set_default(Registry::default().with(capture.clone()));
    let issuer = DevIssuer::start().await.unwrap();
    let protection = protection(&issuer).await;
    let token = |scope: &str| {
        issuer
            .mint()
            .aud(RESOURCE)
            .sub("alice")
            .client_id("notes-agent")
            .scope(scope)
            .sign()
    };

    // Allowed: no policy rule applies to list_notes.
    let reader = token("notes:read");
    assert!(matches!(
        call(&protection, Some(&reader), "list_notes").await,
        Verdict::Allow { .. }
    ));
    let events = capture.take();
    assert_eq!(events.len(), 1, "one event per decision: {events:?}");
    assert_eq!(
        without_latency(events[0].clone()),
        event(&[
            ("message", "authsec decision"),
            ("decision", "allow"),
            ("code", "none"),
            ("rule", "none"),
            ("subject", "alice"),
            ("client", "notes-agent"),
            ("tool", "list_notes"),
            ("method", "tools/call"),
            ("client_ip", "192.0.2.7"),
            ("token", &fingerprint(&reader)),
        ])
    );

    // Check 3 refuses a tool the token's scopes do not cover.
    call(&protection, Some(&reader), "add_note").await;
    let events = capture.take();
    assert_eq!(events.len(), 1);
    assert_eq!(
        without_latency(events[0].clone()),
        event(&[
            ("message", "authsec decision"),
            ("decision", "deny"),
            ("code", "scope_insufficient"),
            ("status", "403"),
            ("rule", "scope"),
            ("subject", "alice"),
            ("client", "notes-agent"),
            ("tool", "add_note"),
            ("method", "tools/call"),
            ("client_ip", "192.0.2.7"),
            ("token", &fingerprint(&reader)),
            (
                "reason",
                "Tool \"add_note\" requires scope: notes:write. Your token has: notes:read. Ask an AuthSec admin to grant the missing scope, or use a tool that fits your current scopes."
            ),
        ])
    );

    // Check 5: the tool's named policy rule decides.
    let admin = token("notes:admin");
    call(&protection, Some(&admin), "purge_notes").await;
    let events = capture.take();
    assert_eq!(events.len(), 1);
    let purge = without_latency(events[0].clone());
    assert_eq!(purge["decision"], "deny");
    assert_eq!(purge["code"], "step_up_required");
    assert_eq!(purge["status"], "401");
    assert_eq!(purge["rule"], "fresh_mfa");
    assert_eq!(purge["subject"], "alice");
    assert_eq!(purge["token"], fingerprint(&admin));

    // The quota's rule: the second write within the minute.
    let writer = token("notes:write");
    assert!(matches!(
        call(&protection, Some(&writer), "add_note").await,
        Verdict::Allow { .. }
    ));
    call(&protection, Some(&writer), "add_note").await;
    let events: Vec<Event> = capture.take().into_iter().map(without_latency).collect();
    assert_eq!(events.len(), 2);
    assert_eq!(
        (events[0]["decision"].as_str(), events[0]["rule"].as_str()),
        ("allow", "none")
    );
    assert_eq!(events[1]["code"], "quota_exceeded");
    assert_eq!(events[1]["status"], "429");
    assert_eq!(events[1]["rule"], "quota.writes");

    // A tool missing from the manifest.
    call(&protection, Some(&writer), "export_notes").await;
    let events: Vec<Event> = capture.take().into_iter().map(without_latency).collect();
    assert_eq!(
        (
            events[0]["code"].as_str(),
            events[0]["rule"].as_str(),
            events[0]["tool"].as_str()
        ),
        ("policy_denied", "manifest", "export_notes")
    );

    // A token for another resource: no subject (it was never accepted), but its fingerprint.
    let elsewhere = issuer
        .mint()
        .aud("https://other.example/mcp")
        .scope("notes:read")
        .sign();
    call(&protection, Some(&elsewhere), "list_notes").await;
    let events: Vec<Event> = capture.take().into_iter().map(without_latency).collect();
    assert_eq!(
        events[0],
        event(&[
            ("message", "authsec decision"),
            ("decision", "deny"),
            ("code", "invalid_audience"),
            ("status", "401"),
            ("rule", "audience"),
            ("tool", "list_notes"),
            ("method", "tools/call"),
            ("client_ip", "192.0.2.7"),
            ("token", &fingerprint(&elsewhere)),
            (
                "reason",
                "the token's aud [\"https://other.example/mcp\"] does not include this resource \"https://notes.example/mcp\"; request the token with resource=https://notes.example/mcp"
            ),
        ])
    );

    // No token at all: no subject, no fingerprint.
    call(&protection, None, "list_notes").await;
    let events: Vec<Event> = capture.take().into_iter().map(without_latency).collect();
    assert_eq!(
        events[0],
        event(&[
            ("message", "authsec decision"),
            ("decision", "deny"),
            ("code", "missing_token"),
            ("status", "401"),
            ("rule", "request"),
            ("tool", "list_notes"),
            ("method", "tools/call"),
            ("client_ip", "192.0.2.7"),
            ("reason", "an access token is required"),
        ])
    );

    // A body that is not JSON-RPC is refused before the token is looked at.
    let headers = [("authorization", format!("Bearer {reader}"))];
    let request = IncomingRequest::new(&headers[..]).body(Some(b"not json"));
    protection.check(&request).await;
    let events: Vec<Event> = capture.take().into_iter().map(without_latency).collect();
    assert_eq!(
        (
            events[0]["code"].as_str(),
            events[0]["rule"].as_str(),
            events[0]["status"].as_str()
        ),
        ("invalid_request", "request", "400")
    );

    // An oversized body.
    let verdict = protection.body_too_large();
    assert!(matches!(verdict, Verdict::Deny { .. }));
    let events = capture.take();
    assert_eq!(events[0]["rule"], "body_limit");
    assert_eq!(events[0]["status"], "413");
}

#[tokio::test]
async fn the_token_never_appears_in_an_audit_event() {
    let capture = Capture::default();
    let _default = tracing::subscriber::set_default(Registry::default().with(capture.clone()));
    let issuer = DevIssuer::start().await.unwrap();
    let protection = protection(&issuer).await;
    let good = issuer.mint().aud(RESOURCE).scope("notes:read").sign();
    let wrong_audience = issuer.mint().aud("https://x.example").sign();
    let tokens = [good.as_str(), wrong_audience.as_str(), "not-a-jwt-at-all"];
    for token in tokens {
        call(&protection, Some(token), "list_notes").await;
        call(&protection, Some(token), "add_note").await;
    }
    let events = capture.take();
    assert_eq!(events.len(), 6);
    for event in &events {
        for token in tokens {
            let signature = token.rsplit('.').next().unwrap();
            for value in event.values() {
                assert!(
                    !value.contains(token) && !value.contains(signature),
                    "a token leaked into the audit event {event:?}"
                );
            }
        }
        assert_eq!(event["token"].len(), 12, "the fingerprint is 12 hex digits");
    }
}
