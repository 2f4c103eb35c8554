//! The metrics authsec records, through the [`metrics`] facade: install any recorder (e.g.
//! `metrics-exporter-prometheus`) and they appear; without one, recording is a no-op.
//!
//! | name | type | labels | recorded by | what |
//! |---|---|---|---|---|
//! | `authsec_decisions_total` | counter | `decision` (`allow`/`deny`), `code` (denial label or `none`) | core | one per request decided on a protected path |
//! | `authsec_check_duration_seconds` | histogram | | core | time to decide one request (classification and checks 1–5); recorded once [`init`] was called |
//! | `authsec_jwks_refreshes_total` | counter | | authsec-jwks | JWKS downloads that installed a key set |
//! | `authsec_jwks_refresh_failures_total` | counter | | authsec-jwks | JWKS downloads that failed (cached keys stay in use) |
//! | `authsec_introspection_requests_total` | counter | `outcome` (`active`/`inactive`/`error`) | authsec-jwks | RFC 7662 calls made to the authorization server |
//! | `authsec_introspection_cache_hits_total` | counter | | authsec-jwks | introspection answers served from the cache |
//! | `authsec_introspection_duration_seconds` | histogram | | authsec-jwks | time of one introspection call |
//! | `authsec_quota_rejections_total` | counter | `quota` (the quota's name) | authsec-policy | calls refused with `quota_exceeded` |
//!
//! Label values are bounded: denial codes, fixed outcomes, and quota names from configuration.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use metrics::{Key, Label, Level, Metadata};

use crate::denial::DenialCode;

/// `authsec_decisions_total{decision, code}`: counter.
pub const DECISIONS_TOTAL: &str = "authsec_decisions_total";
/// `authsec_check_duration_seconds`: histogram, seconds.
pub const CHECK_DURATION_SECONDS: &str = "authsec_check_duration_seconds";
/// `authsec_jwks_refreshes_total`: counter.
pub const JWKS_REFRESHES_TOTAL: &str = "authsec_jwks_refreshes_total";
/// `authsec_jwks_refresh_failures_total`: counter.
pub const JWKS_REFRESH_FAILURES_TOTAL: &str = "authsec_jwks_refresh_failures_total";
/// `authsec_introspection_requests_total{outcome}`: counter.
pub const INTROSPECTION_REQUESTS_TOTAL: &str = "authsec_introspection_requests_total";
/// `authsec_introspection_cache_hits_total`: counter.
pub const INTROSPECTION_CACHE_HITS_TOTAL: &str = "authsec_introspection_cache_hits_total";
/// `authsec_introspection_duration_seconds`: histogram, seconds.
pub const INTROSPECTION_DURATION_SECONDS: &str = "authsec_introspection_duration_seconds";
/// `authsec_quota_rejections_total{quota}`: counter.
pub const QUOTA_REJECTIONS_TOTAL: &str = "authsec_quota_rejections_total";

/// Every metric name above, for exporters that want to describe them up front.
pub const ALL: [&str; 8] = [
    DECISIONS_TOTAL,
    CHECK_DURATION_SECONDS,
    JWKS_REFRESHES_TOTAL,
    JWKS_REFRESH_FAILURES_TOTAL,
    INTROSPECTION_REQUESTS_TOTAL,
    INTROSPECTION_CACHE_HITS_TOTAL,
    INTROSPECTION_DURATION_SECONDS,
    QUOTA_REJECTIONS_TOTAL,
];

/// Whether [`init`] was called: the check latency histogram is recorded.
static LATENCY: AtomicBool = AtomicBool::new(false);

/// Call once after installing a recorder: turns on [`CHECK_DURATION_SECONDS`] (two clock reads
/// per request, skipped until then) and describes every metric (unit and help text) for
/// exporters that print `# HELP` lines. The counters need no call.
pub fn init() {
    LATENCY.store(true, Ordering::Relaxed);
    describe_all();
}

/// Whether the check latency is measured.
pub(crate) fn latency_enabled() -> bool {
    LATENCY.load(Ordering::Relaxed)
}

fn describe_all() {
    use metrics::{Unit, describe_counter, describe_histogram};
    describe_counter!(
        DECISIONS_TOTAL,
        "Requests to protected paths decided, by decision and denial code"
    );
    describe_histogram!(
        CHECK_DURATION_SECONDS,
        Unit::Seconds,
        "Time to decide one request"
    );
    describe_counter!(
        JWKS_REFRESHES_TOTAL,
        "JWKS downloads that installed a key set"
    );
    describe_counter!(
        JWKS_REFRESH_FAILURES_TOTAL,
        "JWKS downloads that failed; cached keys stay in use"
    );
    describe_counter!(
        INTROSPECTION_REQUESTS_TOTAL,
        "RFC 7662 introspection calls made, by outcome"
    );
    describe_counter!(
        INTROSPECTION_CACHE_HITS_TOTAL,
        "Introspection answers served from the cache"
    );
    describe_histogram!(
        INTROSPECTION_DURATION_SECONDS,
        Unit::Seconds,
        "Time of one introspection call"
    );
    describe_counter!(
        QUOTA_REJECTIONS_TOTAL,
        "Calls refused with quota_exceeded, by quota"
    );
}

static METADATA: Metadata<'static> = Metadata::new("authsec", Level::INFO, Some(module_path!()));

macro_rules! decision_keys {
    ($($decision:literal $code:literal),* $(,)?) => {
        [$({
            static LABELS: [Label; 2] = [
                Label::from_static_parts("decision", $decision),
                Label::from_static_parts("code", $code),
            ];
            Key::from_static_parts(DECISIONS_TOTAL, &LABELS)
        }),*]
    };
}

/// One key per code (in [`DenialCode::ALL`] order), then the allow key: no allocation per
/// request.
static DECISION_KEYS: [Key; 12] = decision_keys![
    "deny" "missing_token",
    "deny" "invalid_request",
    "deny" "invalid_token",
    "deny" "invalid_audience",
    "deny" "token_revoked",
    "deny" "scope_insufficient",
    "deny" "step_up_required",
    "deny" "policy_denied",
    "deny" "quota_exceeded",
    "deny" "authorization_unavailable",
    "deny" "session_mismatch",
    "allow" "none",
];

fn decision_key(code: Option<DenialCode>) -> &'static Key {
    let index = code
        .and_then(|code| DenialCode::ALL.iter().position(|c| *c == code))
        .unwrap_or(DenialCode::ALL.len());
    &DECISION_KEYS[index]
}

/// Counts one decision and records its latency, when measured.
#[inline]
pub(crate) fn record_decision(code: Option<DenialCode>, latency: Option<Duration>) {
    metrics::with_recorder(|recorder| {
        recorder
            .register_counter(decision_key(code), &METADATA)
            .increment(1);
    });
    if let Some(latency) = latency
        && latency_enabled()
    {
        metrics::histogram!(CHECK_DURATION_SECONDS).record(latency.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_its_own_decision_key() {
        for code in DenialCode::ALL {
            let key = decision_key(Some(code));
            let labels: Vec<(&str, &str)> = key.labels().map(|l| (l.key(), l.value())).collect();
            assert_eq!(key.name(), DECISIONS_TOTAL);
            assert_eq!(labels, [("decision", "deny"), ("code", code.as_str())]);
        }
        let labels: Vec<(&str, &str)> = decision_key(None)
            .labels()
            .map(|l| (l.key(), l.value()))
            .collect();
        assert_eq!(labels, [("decision", "allow"), ("code", "none")]);
    }
}
