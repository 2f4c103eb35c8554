//! The audit log and the decision metrics: one structured event and one count per decision,
//! emitted at the one place every adapter passes through ([`Protection`](crate::Protection)).
//!
//! # The audit event
//!
//! Every request to a protected path that [`Protection`](crate::Protection) decides produces one
//! `tracing` event at level `INFO`, target [`AUDIT_TARGET`] (`authsec::audit`), message
//! `"authsec decision"`, with these fields:
//!
//! | field | value |
//! |---|---|
//! | `decision` | `allow` or `deny` |
//! | `code` | the [`DenialCode`](crate::DenialCode) label, or `none` for an allowed request |
//! | `status` | the HTTP status of a denial (absent when allowed) |
//! | `rule` | the [`DecidingRule`]: the check or the named policy rule that decided |
//! | `subject` | the token's `sub` (else `client_id`), when the token was verified |
//! | `client` | the token's `client_id`, when present |
//! | `tool` | the `tools/call` tool name (several joined with `,` for a batch) |
//! | `method` | the JSON-RPC method (several joined with `,` for a batch) |
//! | `client_ip` | the client address the checks used |
//! | `latency_us` | time spent deciding, in microseconds (absent for a body refused unread) |
//! | `token` | the token's 12-hex fingerprint ([`crate::principal::fingerprint`]), never the token |
//! | `reason` | the denial's description (absent when allowed) |
//!
//! The event is built only when a subscriber is interested in `authsec::audit` at `INFO`
//! (tracing's `enabled!`), so a server without one pays nothing for it.
//!
//! # Metrics
//!
//! Recorded through the [`metrics`] facade: without a recorder installed, each is a no-op.
//! The latency histogram is measured only after [`crate::metric::init`].
//! The full list, with the metrics other crates record, is in [`crate::metric`].

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::bearer::extract_bearer;
use crate::denial::Denial;
use crate::guard::AccessRequest;
use crate::mcp::McpRequest;
use crate::metric;
use crate::principal::{Principal, fingerprint};

/// The `tracing` target of the audit events.
pub const AUDIT_TARGET: &str = "authsec::audit";

/// Which check or policy rule made a decision.
///
/// The checks are named by the constants of [`checks`]; a policy ([`Policy`](crate::Policy))
/// names its own rules through [`Policy::evaluate_with_rule`](crate::Policy::evaluate_with_rule)
/// (authsec-policy's `PolicySet` reports `fresh_mfa`, `deploy.all_of[1]`, `quota.writes`...).
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DecidingRule {
    /// One of authsec's own checks ([`checks`]).
    Check(&'static str),
    /// A rule named by the policy.
    Policy(Arc<str>),
}

impl DecidingRule {
    /// The name, as logged.
    pub fn as_str(&self) -> &str {
        match self {
            DecidingRule::Check(name) => name,
            DecidingRule::Policy(name) => name,
        }
    }
}

impl fmt::Display for DecidingRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The names of authsec's own checks, as [`DecidingRule::Check`] carries them.
pub mod checks {
    /// The request itself: its `Authorization` header, query string or MCP body.
    pub const REQUEST: &str = "request";
    /// The body is over the configured bound.
    pub const BODY_LIMIT: &str = "body_limit";
    /// Check 1: signature, expiry, issuer, type, algorithm.
    pub const TOKEN: &str = "token";
    /// Check 2: the token's audience is this resource.
    pub const AUDIENCE: &str = "audience";
    /// The MCP session belongs to the caller.
    pub const SESSION: &str = "session";
    /// Check 3: the token's scopes cover the tool's.
    pub const SCOPE: &str = "scope";
    /// Check 3 narrowed by the policy's role bindings.
    pub const ROLE_BINDING: &str = "role_binding";
    /// Check 4: introspection says the token is active.
    pub const REVOCATION: &str = "revocation";
    /// Check 5: the tool is in the manifest.
    pub const MANIFEST: &str = "manifest";
    /// Check 5 by a policy that names no rule.
    pub const POLICY: &str = "policy";
    /// An allowed request no policy rule applied to.
    pub const NONE: &str = "none";
}

/// The start of a decision, when someone will read its duration: the audit event is enabled,
/// or [`metric::init`] turned the latency histogram on. Reading the clock twice per request is
/// not free (60 ns a read on some virtual machines), so nobody pays for it unasked.
#[inline]
pub(crate) fn clock_start() -> Option<Instant> {
    observed().then(Instant::now)
}

/// Whether a decision has more readers than the decisions counter: the audit event is enabled
/// or the latency histogram is on.
#[inline]
pub(crate) fn observed() -> bool {
    metric::latency_enabled() || tracing::enabled!(target: AUDIT_TARGET, tracing::Level::INFO)
}

/// Records one decision: the audit event (when a subscriber wants it) and the metrics.
pub(crate) fn record(
    outcome: Result<&Principal, &Denial>,
    principal: Option<&Principal>,
    rule: &DecidingRule,
    request: Option<&AccessRequest<'_>>,
    status: Option<u16>,
    latency: Option<Duration>,
) {
    let code = outcome.err().map(Denial::code);
    metric::record_decision(code, latency);
    if !tracing::enabled!(target: AUDIT_TARGET, tracing::Level::INFO) {
        return;
    }
    let principal = principal.or(outcome.ok());
    let token: Option<Cow<'_, str>> = match principal {
        Some(principal) => Some(Cow::Borrowed(principal.token_fingerprint())),
        None => request
            .and_then(|r| extract_bearer(r.authorization, r.query).ok().flatten())
            .map(|token| Cow::Owned(fingerprint(token))),
    };
    let mcp = request.and_then(|r| r.mcp);
    let tool = mcp.and_then(tools_of);
    let method = mcp.and_then(methods_of);
    let client_ip: Option<IpAddr> = request.and_then(|r| r.client_ip);
    let latency_us = latency.map(|l| u64::try_from(l.as_micros()).unwrap_or(u64::MAX));
    let subject = principal.map(Principal::subject);
    let client = principal.and_then(Principal::client_id);
    match outcome {
        Ok(_) => tracing::info!(
            target: AUDIT_TARGET,
            decision = "allow",
            code = "none",
            rule = rule.as_str(),
            subject,
            client,
            tool = tool.as_deref(),
            method = method.as_deref(),
            client_ip = client_ip.map(tracing::field::display),
            latency_us,
            token = token.as_deref(),
            "authsec decision"
        ),
        Err(denial) => tracing::info!(
            target: AUDIT_TARGET,
            decision = "deny",
            code = denial.code().as_str(),
            status = status.unwrap_or(denial.code().status()),
            rule = rule.as_str(),
            subject,
            client,
            tool = tool.as_deref(),
            method = method.as_deref(),
            client_ip = client_ip.map(tracing::field::display),
            latency_us,
            token = token.as_deref(),
            reason = denial.description(),
            "authsec decision"
        ),
    }
}

/// The `tools/call` tool names of a request, joined with `,`.
fn tools_of(mcp: &McpRequest<'_>) -> Option<String> {
    join(mcp.tool_calls().filter_map(|call| call.tool.as_deref()))
}

/// The JSON-RPC methods of a request, joined with `,`.
fn methods_of(mcp: &McpRequest<'_>) -> Option<String> {
    join(mcp.messages().iter().filter_map(|m| m.method.as_deref()))
}

fn join<'a>(names: impl Iterator<Item = &'a str>) -> Option<String> {
    let mut out: Option<String> = None;
    for name in names {
        let name = truncate(name);
        match &mut out {
            Some(out) => {
                out.push(',');
                out.push_str(name);
            }
            None => out = Some(name.to_owned()),
        }
    }
    out
}

/// Names come from the request: bounded so one request cannot flood the log.
fn truncate(s: &str) -> &str {
    match s.char_indices().nth(128) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
