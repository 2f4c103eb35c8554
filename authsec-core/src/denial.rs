//! The denial taxonomy: one table from which every rendering of a denial is made.
//!
//! A [`Denial`] is what the [`Guard`](crate::Guard) returns when a request may not proceed. Its
//! [`DenialCode`] decides, through a single table, the HTTP status, the RFC 6750 / RFC 9470
//! `error` value of the `WWW-Authenticate` challenge (or that there is no challenge), the JSON-RPC
//! error code used by the in-band mode, the stable label used in logs and metrics, and what a
//! compliant client should do next ([`ClientAction`]).
//!
//! | code | status | challenge `error` | client does |
//! |---|---|---|---|
//! | `missing_token` | 401 | *(none)*, `scope` = initial scopes | authenticate |
//! | `invalid_request` | 400 | `invalid_request` | fix the request |
//! | `invalid_token` | 401 | `invalid_token` | refresh or re-authenticate |
//! | `invalid_audience` | 401 | `invalid_token` | re-authenticate for this resource |
//! | `token_revoked` | 401 | `invalid_token` | re-authenticate |
//! | `scope_insufficient` | 403 | `insufficient_scope`, `scope` = granted ∪ required | re-consent |
//! | `step_up_required` | 401 | `insufficient_user_authentication`, `acr_values`, `max_age` | step-up login |
//! | `policy_denied` | 403 | *(no challenge)* | report, no retry |
//! | `quota_exceeded` | 429 | *(no challenge)*, `Retry-After` | back off |
//! | `authorization_unavailable` | 503 | *(no challenge)*, `Retry-After` | retry later, keep the token |
//! | `session_mismatch` | 404 | *(no challenge)* | start a new session |
//!
//! A denial in [`DenialForm::AuthsecFamily`] (the AuthSec in-band profile) is rendered as the
//! family's Go SDK renders it where that differs from the table: the no-token challenge
//! carries `error="invalid_token"` (C4 of the family's conflicts table), a scope challenge's
//! `scope` lists only the required scopes (C5), and a tool the manifest does not map is an
//! `insufficient_scope` denial whose required scope is the placeholder
//! `<no scope mapping for tool "X">` ([`Denial::unmapped_tool`], C6).
//!
//! Every challenge value is printable ASCII without `"` or `\`, and those that come from the
//! request or the token are bounded: `error_description` to [`MAX_HEADER_VALUE_CHARS`]
//! characters, `scope` and `acr_values` to as many whole space-separated tokens as fit in
//! that bound (none fitting: the parameter is left out). The JSON body keeps the whole text
//! and lists. `resource_metadata` is configuration, not input, and is never cut: a cut URL
//! would send clients to the wrong place.

use std::borrow::Cow;
use std::fmt;

use serde_json::{Map, Value, json};

/// Why a request was refused. Each code maps to exactly one row of the denial table.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DenialCode {
    /// No credentials, or credentials of a scheme other than `Bearer`.
    MissingToken,
    /// The request itself is malformed: two credentials, a token in the query string, bad
    /// `Authorization` syntax, an MCP body or header that cannot be trusted.
    InvalidRequest,
    /// Signature, expiry, issuer, type, algorithm or format of the token is wrong.
    InvalidToken,
    /// The token is valid but was issued for another resource.
    InvalidAudience,
    /// The authorization server says the token is no longer active.
    TokenRevoked,
    /// The token lacks scopes the operation needs; more consent would fix it.
    ScopeInsufficient,
    /// The login behind the token is not strong or recent enough (RFC 9470).
    StepUpRequired,
    /// A policy refuses the call; no new token would change that.
    PolicyDenied,
    /// A rate or quota limit was hit.
    QuotaExceeded,
    /// The authorization server (JWKS, introspection, policy source) could not be reached.
    AuthorizationUnavailable,
    /// The MCP session belongs to another principal.
    SessionMismatch,
}

/// Which clients a denial is worded for.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum DenialForm {
    /// The MCP specification's form: the denial table as it is (the default).
    #[default]
    Spec,
    /// The AuthSec family's form (its Go SDK v0.5.0+), used by the AuthSec in-band profile:
    /// no-token challenges carry `error="invalid_token"`, scope challenges list only the
    /// required scopes. See the [module](self) documentation.
    AuthsecFamily,
}

/// What a compliant client does next after a denial.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClientAction {
    /// Discover the authorization server and obtain a first token.
    Authenticate,
    /// The request is broken; re-authorizing will not help.
    FixRequest,
    /// Refresh the token if possible, otherwise authorize again; retry once.
    Reauthenticate,
    /// Authorize again with the right `resource`; never reuse the token.
    ReauthenticateForResource,
    /// Authorize again asking for the challenged scopes (with those already granted).
    RequestScopes,
    /// A new authorization request with `acr_values` / `max_age`; a refresh cannot satisfy it.
    StepUp,
    /// Show the refusal to the user or model; do not retry.
    Report,
    /// Wait for `Retry-After`, then retry with the same token.
    RetryLater,
    /// Start a new MCP session.
    NewSession,
}

/// One row of the denial table.
struct Row {
    label: &'static str,
    status: u16,
    /// `Some(error)` for a challenge with that error, `Some("")` for a challenge without `error`,
    /// `None` for no `WWW-Authenticate` header at all.
    challenge: Option<&'static str>,
    jsonrpc_code: i64,
    action: ClientAction,
    default_description: &'static str,
}

/// The table. Everything about a code is read from here.
const fn row(code: DenialCode) -> &'static Row {
    use DenialCode::*;
    match code {
        MissingToken => &Row {
            label: "missing_token",
            status: 401,
            challenge: Some(""),
            jsonrpc_code: -31001,
            action: ClientAction::Authenticate,
            default_description: "an access token is required",
        },
        InvalidRequest => &Row {
            label: "invalid_request",
            status: 400,
            challenge: Some("invalid_request"),
            jsonrpc_code: -31002,
            action: ClientAction::FixRequest,
            default_description: "the request is malformed",
        },
        InvalidToken => &Row {
            label: "invalid_token",
            status: 401,
            challenge: Some("invalid_token"),
            jsonrpc_code: -31003,
            action: ClientAction::Reauthenticate,
            default_description: "the access token is invalid",
        },
        InvalidAudience => &Row {
            label: "invalid_audience",
            status: 401,
            challenge: Some("invalid_token"),
            jsonrpc_code: -31004,
            action: ClientAction::ReauthenticateForResource,
            default_description: "the access token was issued for another resource",
        },
        TokenRevoked => &Row {
            label: "token_revoked",
            status: 401,
            challenge: Some("invalid_token"),
            jsonrpc_code: -31005,
            action: ClientAction::Reauthenticate,
            default_description: "the access token is not active",
        },
        ScopeInsufficient => &Row {
            label: "scope_insufficient",
            status: 403,
            challenge: Some("insufficient_scope"),
            jsonrpc_code: -31006,
            action: ClientAction::RequestScopes,
            default_description: "the access token lacks required scopes",
        },
        StepUpRequired => &Row {
            label: "step_up_required",
            status: 401,
            challenge: Some("insufficient_user_authentication"),
            jsonrpc_code: -31007,
            action: ClientAction::StepUp,
            default_description: "a stronger or more recent authentication is required",
        },
        PolicyDenied => &Row {
            label: "policy_denied",
            status: 403,
            challenge: None,
            jsonrpc_code: -31008,
            action: ClientAction::Report,
            default_description: "the request is not allowed by policy",
        },
        QuotaExceeded => &Row {
            label: "quota_exceeded",
            status: 429,
            challenge: None,
            jsonrpc_code: -31009,
            action: ClientAction::RetryLater,
            default_description: "the quota for this operation is exhausted",
        },
        AuthorizationUnavailable => &Row {
            label: "authorization_unavailable",
            status: 503,
            challenge: None,
            jsonrpc_code: -31010,
            action: ClientAction::RetryLater,
            default_description: "the authorization server is unavailable",
        },
        SessionMismatch => &Row {
            label: "session_mismatch",
            status: 404,
            challenge: None,
            jsonrpc_code: -31011,
            action: ClientAction::NewSession,
            default_description: "the session does not belong to this principal",
        },
    }
}

impl DenialCode {
    /// Every code, in table order.
    pub const ALL: [DenialCode; 11] = [
        DenialCode::MissingToken,
        DenialCode::InvalidRequest,
        DenialCode::InvalidToken,
        DenialCode::InvalidAudience,
        DenialCode::TokenRevoked,
        DenialCode::ScopeInsufficient,
        DenialCode::StepUpRequired,
        DenialCode::PolicyDenied,
        DenialCode::QuotaExceeded,
        DenialCode::AuthorizationUnavailable,
        DenialCode::SessionMismatch,
    ];

    /// The stable label used in JSON bodies, logs and metrics (e.g. `scope_insufficient`).
    pub const fn as_str(self) -> &'static str {
        row(self).label
    }

    /// The HTTP status code.
    pub const fn status(self) -> u16 {
        row(self).status
    }

    /// The `error` auth-param of the challenge, if the challenge carries one.
    pub fn oauth_error(self) -> Option<&'static str> {
        row(self).challenge.filter(|error| !error.is_empty())
    }

    /// Whether responses with this code carry a `WWW-Authenticate: Bearer` challenge.
    pub const fn has_challenge(self) -> bool {
        row(self).challenge.is_some()
    }

    /// The JSON-RPC error code used when the denial is delivered in-band (outside the range
    /// `-32768..=-32000` reserved by JSON-RPC and MCP).
    pub const fn jsonrpc_code(self) -> i64 {
        row(self).jsonrpc_code
    }

    /// What a compliant client does next.
    pub const fn client_action(self) -> ClientAction {
        row(self).action
    }

    /// The description used when none is given.
    pub const fn default_description(self) -> &'static str {
        row(self).default_description
    }

    /// Parses a label produced by [`DenialCode::as_str`].
    pub fn from_label(label: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|code| code.as_str() == label)
    }
}

impl fmt::Display for DenialCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refusal, with the data a client needs to act on it.
///
/// Build one with the constructor named after its code, then render it with
/// [`Denial::render`] (HTTP) or [`Denial::to_jsonrpc_error`] (in-band).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denial(Box<Details>);

/// The data of a denial, boxed so `Result<_, Denial>` stays one pointer wide on the hot path.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Details {
    code: DenialCode,
    description: Cow<'static, str>,
    scope: Option<String>,
    required_scopes: Vec<String>,
    granted_scopes: Vec<String>,
    tool: Option<String>,
    acr_values: Vec<String>,
    max_age: Option<u64>,
    retry_after: Option<u64>,
    form: DenialForm,
    /// The JSON body's `error` when it is not the table's (`policy_unavailable`).
    body_error: Option<&'static str>,
    /// The challenge's `realm` (the AuthSec profile sends the resource name).
    realm: Option<String>,
}

/// The family's description of a request without a token.
const FAMILY_NO_TOKEN_DESCRIPTION: &str = "missing bearer token";

impl Denial {
    /// A denial with the code's default description.
    pub fn new(code: DenialCode) -> Self {
        Denial(Box::new(Details {
            code,
            description: Cow::Borrowed(code.default_description()),
            scope: None,
            required_scopes: Vec::new(),
            granted_scopes: Vec::new(),
            tool: None,
            acr_values: Vec::new(),
            max_age: None,
            retry_after: None,
            form: DenialForm::Spec,
            body_error: None,
            realm: None,
        }))
    }

    /// `missing_token`: no credentials were presented.
    pub fn missing_token() -> Self {
        Self::new(DenialCode::MissingToken)
    }

    /// `invalid_request` with a description of what is malformed.
    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(DenialCode::InvalidRequest).with_description(description)
    }

    /// `invalid_token` with a description of which check failed (never the token itself).
    pub fn invalid_token(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(DenialCode::InvalidToken).with_description(description)
    }

    /// `invalid_audience` with a description naming the audiences found and expected.
    pub fn invalid_audience(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(DenialCode::InvalidAudience).with_description(description)
    }

    /// `token_revoked`: introspection answered `active: false`.
    pub fn token_revoked() -> Self {
        Self::new(DenialCode::TokenRevoked)
    }

    /// `scope_insufficient`: `required` are the scopes the operation needs; the challenge's
    /// `scope` is `granted ∪ required` without `offline_access`, so clients that replace rather
    /// than merge their scopes keep what they had.
    pub fn scope_insufficient<'a>(
        granted: impl IntoIterator<Item = &'a str>,
        required: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        let required: Vec<String> = required.into_iter().map(str::to_owned).collect();
        let granted: Vec<String> = granted.into_iter().map(str::to_owned).collect();
        let mut challenge: Vec<String> = Vec::new();
        let mut add = |scope: &str| {
            if scope != "offline_access" && !challenge.iter().any(|c| c == scope) {
                challenge.push(scope.to_owned());
            }
        };
        granted.iter().map(String::as_str).for_each(&mut add);
        required.iter().map(String::as_str).for_each(&mut add);
        let mut denial = Self::new(DenialCode::ScopeInsufficient);
        denial.0.description = Cow::Owned(format!(
            "this operation requires the scopes: {}",
            required.join(" ")
        ));
        // RFC 6749 §3.3: a scope parameter holds at least one scope; omit it otherwise.
        denial.0.scope = (!challenge.is_empty()).then(|| challenge.join(" "));
        denial.0.required_scopes = required;
        denial.0.granted_scopes = granted;
        denial
    }

    /// The AuthSec family's denial of a `tools/call` of a tool its manifest does not map:
    /// `insufficient_scope` whose one required scope is the placeholder
    /// `<no scope mapping for tool "X">`, in [`DenialForm::AuthsecFamily`]. Outside the
    /// AuthSec profile such a call is a `policy_denied` (more consent cannot help).
    pub fn unmapped_tool<'a>(
        granted: impl IntoIterator<Item = &'a str>,
        tool: impl Into<String>,
    ) -> Self {
        let tool = tool.into();
        let placeholder = format!("<no scope mapping for tool \"{tool}\">");
        let granted: Vec<&str> = granted.into_iter().collect();
        Self::scope_insufficient(granted, [placeholder.as_str()])
            .with_tool(tool)
            .in_form(DenialForm::AuthsecFamily)
    }

    /// `step_up_required` (RFC 9470) asking for one of `acr_values` and/or an authentication at
    /// most `max_age` seconds old.
    pub fn step_up_required<S: Into<String>>(
        acr_values: impl IntoIterator<Item = S>,
        max_age: Option<u64>,
    ) -> Self {
        let mut denial = Self::new(DenialCode::StepUpRequired);
        denial.0.acr_values = acr_values.into_iter().map(Into::into).collect();
        denial.0.max_age = max_age;
        denial
    }

    /// `policy_denied` with a description that is safe to show (no policy internals).
    pub fn policy_denied(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(DenialCode::PolicyDenied).with_description(description)
    }

    /// `quota_exceeded`, retry after `retry_after` seconds.
    pub fn quota_exceeded(retry_after: u64) -> Self {
        let mut denial = Self::new(DenialCode::QuotaExceeded);
        denial.0.retry_after = Some(retry_after);
        denial
    }

    /// `authorization_unavailable`: the authorization server could not be reached.
    pub fn authorization_unavailable(description: impl Into<Cow<'static, str>>) -> Self {
        let mut denial =
            Self::new(DenialCode::AuthorizationUnavailable).with_description(description);
        denial.0.retry_after = Some(5);
        denial
    }

    /// `authorization_unavailable` because the tool policy (e.g. the AuthSec control plane's)
    /// is not available: 503 without a challenge, and the JSON body's `error` is the AuthSec
    /// family's `policy_unavailable` (its Go SDK's C7 form), `denial` stays
    /// `authorization_unavailable`.
    pub fn policy_unavailable(description: impl Into<Cow<'static, str>>) -> Self {
        let mut denial = Self::authorization_unavailable(description);
        denial.0.body_error = Some("policy_unavailable");
        denial
    }

    /// `session_mismatch`: the MCP session was created by another principal.
    pub fn session_mismatch() -> Self {
        Self::new(DenialCode::SessionMismatch)
    }

    /// Replaces the human description.
    pub fn with_description(mut self, description: impl Into<Cow<'static, str>>) -> Self {
        self.0.description = description.into();
        self
    }

    /// Sets the challenge's `scope` (space-delimited).
    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        let scope = scope.into();
        self.0.scope = (!scope.is_empty()).then_some(scope);
        self
    }

    /// Names the tool the denial is about (a `tools/call`'s `params.name`). A
    /// `scope_insufficient` description then takes the AuthSec family's wording, which agents
    /// parse: `Tool "X" requires scope: a, b. Your token has: c. Ask an AuthSec admin to
    /// grant the missing scope, or use a tool that fits your current scopes.`
    pub fn with_tool(mut self, tool: impl Into<String>) -> Self {
        let tool = tool.into();
        if self.0.code == DenialCode::ScopeInsufficient {
            let required = self.0.required_scopes.join(", ");
            self.0.description = Cow::Owned(if self.0.granted_scopes.is_empty() {
                format!(
                    "Tool \"{tool}\" requires scope: {required}. Your token does not include this scope. Ask an AuthSec admin to grant it, or use a tool that fits your current scopes."
                )
            } else {
                format!(
                    "Tool \"{tool}\" requires scope: {required}. Your token has: {}. Ask an AuthSec admin to grant the missing scope, or use a tool that fits your current scopes.",
                    self.0.granted_scopes.join(", ")
                )
            });
        }
        self.0.tool = Some(tool);
        self
    }

    /// Words the denial for `form`'s clients. In [`DenialForm::AuthsecFamily`] a no-token
    /// denial with the default description takes the family's (`missing bearer token`).
    pub fn in_form(mut self, form: DenialForm) -> Self {
        if form == DenialForm::AuthsecFamily
            && self.0.code == DenialCode::MissingToken
            && self.0.description == DenialCode::MissingToken.default_description()
        {
            self.0.description = Cow::Borrowed(FAMILY_NO_TOKEN_DESCRIPTION);
        }
        self.0.form = form;
        self
    }

    /// Sets the challenge's `realm` (RFC 7235 §2.2), first in the challenge; the AuthSec
    /// profile sends the resource name there, as the family does. `None` or empty: no `realm`.
    pub fn with_realm(mut self, realm: Option<&str>) -> Self {
        self.0.realm = realm.filter(|r| !r.is_empty()).map(str::to_owned);
        self
    }

    /// The form the denial is worded in.
    pub fn form(&self) -> DenialForm {
        self.0.form
    }

    /// Sets `Retry-After` in seconds.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.0.retry_after = Some(seconds);
        self
    }

    /// The code.
    pub fn code(&self) -> DenialCode {
        self.0.code
    }

    /// The human description (developer-facing).
    pub fn description(&self) -> &str {
        &self.0.description
    }

    /// The challenge's `scope`, if any.
    pub fn scope(&self) -> Option<&str> {
        self.0.scope.as_deref()
    }

    /// The scopes the operation needs (for `scope_insufficient`).
    pub fn required_scopes(&self) -> &[String] {
        &self.0.required_scopes
    }

    /// The scopes the token holds (for `scope_insufficient`).
    pub fn granted_scopes(&self) -> &[String] {
        &self.0.granted_scopes
    }

    /// The tool the denial is about, when known.
    pub fn tool(&self) -> Option<&str> {
        self.0.tool.as_deref()
    }

    /// The AuthSec family's stable `reason` subcode of a 401 token denial
    /// (`no_token`, `token_expired`, `audience_mismatch`, `token_revoked`,
    /// `client_registration_revoked`, `invalid_token`); `None` for other denials.
    pub fn reason(&self) -> Option<&'static str> {
        match self.0.code {
            DenialCode::MissingToken => Some("no_token"),
            DenialCode::InvalidAudience => Some("audience_mismatch"),
            DenialCode::TokenRevoked => Some("token_revoked"),
            DenialCode::InvalidToken => {
                let description = self.0.description.to_ascii_lowercase();
                Some(if description.contains("revoked") {
                    if description.contains("registration") || description.contains("client") {
                        "client_registration_revoked"
                    } else {
                        "token_revoked"
                    }
                } else if description.contains("expir") {
                    "token_expired"
                } else {
                    "invalid_token"
                })
            }
            _ => None,
        }
    }

    /// The acceptable `acr` values (for `step_up_required`).
    pub fn acr_values(&self) -> &[String] {
        &self.0.acr_values
    }

    /// The maximum authentication age in seconds (for `step_up_required`).
    pub fn max_age(&self) -> Option<u64> {
        self.0.max_age
    }

    /// `Retry-After` in seconds (for `quota_exceeded`, `authorization_unavailable`).
    pub fn retry_after(&self) -> Option<u64> {
        self.0.retry_after
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.0.code.status()
    }

    /// The challenge's `error`: `Some("")` for a challenge without one, `None` for no
    /// challenge.
    fn challenge_error(&self) -> Option<&'static str> {
        match (self.0.form, self.0.code) {
            (DenialForm::AuthsecFamily, DenialCode::MissingToken) => Some("invalid_token"),
            (_, code) => row(code).challenge,
        }
    }

    /// The challenge's `scope` in this denial's form, before bounding: the family sends only
    /// the required scopes (`(unknown)` when none are known).
    fn challenge_scope(&self) -> Option<Cow<'_, str>> {
        if self.0.form == DenialForm::AuthsecFamily && self.0.code == DenialCode::ScopeInsufficient
        {
            return Some(if self.0.required_scopes.is_empty() {
                Cow::Borrowed("(unknown)")
            } else {
                Cow::Owned(self.0.required_scopes.join(" "))
            });
        }
        self.0.scope.as_deref().map(Cow::Borrowed)
    }

    /// The `WWW-Authenticate` value, or `None` for codes that carry no challenge.
    ///
    /// Values are quoted and restricted to the characters RFC 6750 allows; those from the
    /// request or token are bounded (see the [module](self) documentation);
    /// `resource_metadata` is on every challenge.
    pub fn www_authenticate(&self, resource_metadata: &str) -> Option<String> {
        let error = self.challenge_error()?;
        let mut header = String::with_capacity(160);
        header.push_str("Bearer ");
        let mut first = true;
        let mut param = |name: &str, value: &str| {
            if !first {
                header.push_str(", ");
            }
            first = false;
            header.push_str(name);
            header.push_str("=\"");
            push_quoted_safe(&mut header, value);
            header.push('"');
        };
        if let Some(realm) = &self.0.realm {
            param("realm", bounded(realm, MAX_HEADER_VALUE_CHARS));
        }
        if !error.is_empty() {
            param("error", error);
            param(
                "error_description",
                bounded(&self.0.description, MAX_HEADER_VALUE_CHARS),
            );
        }
        if let Some(scope) = self
            .challenge_scope()
            .and_then(|scope| bounded_tokens(&scope, MAX_HEADER_VALUE_CHARS).map(str::to_owned))
        {
            param("scope", &scope);
        }
        if let Some(acr_values) =
            bounded_tokens(&self.0.acr_values.join(" "), MAX_HEADER_VALUE_CHARS)
        {
            param("acr_values", acr_values);
        }
        if let Some(max_age) = self.0.max_age {
            param("max_age", &max_age.to_string());
        }
        param("resource_metadata", resource_metadata);
        Some(header)
    }

    /// The fields shared by the JSON body and the JSON-RPC `data` member.
    fn details(&self, resource_metadata: &str) -> Map<String, Value> {
        let mut map = Map::new();
        let error = self.0.body_error.unwrap_or_else(|| {
            self.challenge_error()
                .filter(|error| !error.is_empty())
                .unwrap_or(self.0.code.as_str())
        });
        map.insert("error".into(), Value::from(error));
        map.insert(
            "error_description".into(),
            Value::from(self.0.description.as_ref()),
        );
        map.insert("denial".into(), Value::from(self.0.code.as_str()));
        // The AuthSec family's fields, which its agents parse: `reason` on token denials,
        // `tool` and `granted_scopes` on tool denials.
        if let Some(reason) = self.reason() {
            map.insert("reason".into(), Value::from(reason));
        }
        if let Some(tool) = &self.0.tool {
            map.insert("tool".into(), Value::from(tool.as_str()));
        }
        if self.0.code == DenialCode::ScopeInsufficient {
            map.insert("granted_scopes".into(), json!(self.0.granted_scopes));
        }
        if let Some(scope) = self.challenge_scope() {
            map.insert("scope".into(), Value::from(scope.as_ref()));
        }
        if !self.0.required_scopes.is_empty() {
            map.insert("required_scopes".into(), json!(self.0.required_scopes));
        }
        if !self.0.acr_values.is_empty() {
            map.insert(
                "acr_values".into(),
                Value::from(self.0.acr_values.join(" ")),
            );
        }
        if let Some(max_age) = self.0.max_age {
            map.insert("max_age".into(), Value::from(max_age));
        }
        if let Some(retry_after) = self.0.retry_after {
            map.insert("retry_after".into(), Value::from(retry_after));
        }
        map.insert("resource_metadata".into(), Value::from(resource_metadata));
        map
    }

    /// The JSON body: `{"error", "error_description", "denial", ...details}`, with the AuthSec
    /// family's `reason` (401 token denials: `no_token`, `token_expired`, `audience_mismatch`,
    /// `token_revoked`, `client_registration_revoked`, `invalid_token`), `tool` and
    /// `granted_scopes` (scope denials).
    ///
    /// `error` is the OAuth error where the code has one, else the denial label.
    pub fn json_body(&self, resource_metadata: &str) -> String {
        Value::Object(self.details(resource_metadata)).to_string()
    }

    /// A JSON-RPC error object `{"code", "message", "data"}` for in-band delivery.
    pub fn to_jsonrpc_error(&self, resource_metadata: &str) -> Value {
        json!({
            "code": self.0.code.jsonrpc_code(),
            "message": self.0.description.as_ref(),
            "data": Value::Object(self.details(resource_metadata)),
        })
    }

    /// Everything an adapter needs to write the HTTP response.
    pub fn render(&self, resource_metadata: &str) -> RenderedDenial {
        RenderedDenial {
            status: self.status(),
            www_authenticate: self.www_authenticate(resource_metadata),
            retry_after: self.0.retry_after.map(|s| s.to_string()),
            content_type: "application/json",
            body: self.json_body(resource_metadata),
        }
    }
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.0.code, self.0.description)
    }
}

impl std::error::Error for Denial {}

/// A denial as an HTTP response, ready for an adapter to copy into its framework's types.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RenderedDenial {
    /// The status code.
    pub status: u16,
    /// The `WWW-Authenticate` header, when the code carries a challenge.
    pub www_authenticate: Option<String>,
    /// The `Retry-After` header in seconds.
    pub retry_after: Option<String>,
    /// The `Content-Type` of the body (`application/json`; in-band denials add
    /// `; charset=utf-8`).
    pub content_type: &'static str,
    /// The `application/json` body.
    pub body: String,
}

/// Longest value of a request- or token-derived challenge parameter (`error_description`,
/// `scope`, `acr_values`), in characters (the AuthSec family's bound); the JSON body keeps
/// the whole text.
pub const MAX_HEADER_VALUE_CHARS: usize = 200;

/// The first `max` characters of `text`.
fn bounded(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// The longest prefix of the space-separated `tokens` that ends at a token boundary and has
/// at most `max` characters; `None` when it is empty (not even the first token fits, or there
/// are no tokens).
fn bounded_tokens(tokens: &str, max: usize) -> Option<&str> {
    let tokens = tokens.trim_matches(' ');
    if tokens.chars().count() <= max {
        return (!tokens.is_empty()).then_some(tokens);
    }
    // Past `max` characters: cut before character `max` if it is a space, else at the last
    // space before it.
    let limit = tokens
        .char_indices()
        .nth(max)
        .map_or(tokens.len(), |(i, _)| i);
    let cut = if tokens[limit..].starts_with(' ') {
        limit
    } else {
        tokens[..limit].rfind(' ')?
    };
    let kept = tokens[..cut].trim_end_matches(' ');
    (!kept.is_empty()).then_some(kept)
}

/// Appends `value` to a quoted-string, keeping only what RFC 6750 §3 allows inside
/// (`%x20-21 / %x23-5B / %x5D-7E`): `"` becomes `'`, `\` becomes `/`, anything else outside
/// printable ASCII (CR, LF, non-ASCII) becomes `?`, so the header always parses.
fn push_quoted_safe(out: &mut String, value: &str) {
    for c in value.chars() {
        out.push(match c {
            '"' => '\'',
            '\\' => '/',
            ' '..='~' => c,
            _ => '?',
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRM: &str = "http://127.0.0.1:8811/.well-known/oauth-protected-resource/mcp";

    #[test]
    fn labels_round_trip_and_codes_are_outside_reserved_jsonrpc_range() {
        for code in DenialCode::ALL {
            assert_eq!(DenialCode::from_label(code.as_str()), Some(code));
            assert!(!(-32768..=-32000).contains(&code.jsonrpc_code()));
        }
    }

    #[test]
    fn description_is_sanitized_inside_the_challenge() {
        let denial = Denial::invalid_token("bad \"kid\" \\ here\r\nnext é");
        assert_eq!(
            denial.www_authenticate(PRM).unwrap(),
            format!(
                "Bearer error=\"invalid_token\", error_description=\"bad 'kid' / here??next ?\", resource_metadata=\"{PRM}\""
            )
        );
    }

    #[test]
    fn the_challenge_description_is_bounded_and_the_body_keeps_it_whole() {
        let long = "x".repeat(250);
        let denial = Denial::invalid_token(long.clone());
        assert_eq!(
            denial.www_authenticate(PRM).unwrap(),
            format!(
                "Bearer error=\"invalid_token\", error_description=\"{}\", resource_metadata=\"{PRM}\"",
                "x".repeat(200)
            )
        );
        let body: Value = serde_json::from_str(&denial.json_body(PRM)).unwrap();
        assert_eq!(body["error_description"], Value::from(long));
    }

    #[test]
    fn family_reasons_of_token_denials() {
        assert_eq!(Denial::missing_token().reason(), Some("no_token"));
        assert_eq!(
            Denial::invalid_token("the token has expired").reason(),
            Some("token_expired")
        );
        assert_eq!(
            Denial::invalid_token("bad signature").reason(),
            Some("invalid_token")
        );
        assert_eq!(
            Denial::invalid_token("the client registration was revoked").reason(),
            Some("client_registration_revoked")
        );
        assert_eq!(Denial::token_revoked().reason(), Some("token_revoked"));
        assert_eq!(
            Denial::invalid_audience("other").reason(),
            Some("audience_mismatch")
        );
        assert_eq!(Denial::policy_denied("no").reason(), None);
    }

    #[test]
    fn a_scope_denial_naming_its_tool_takes_the_family_wording() {
        let denial = Denial::scope_insufficient(["a:read"], ["a:write", "a:admin"]).with_tool("w");
        assert_eq!(
            denial.description(),
            "Tool \"w\" requires scope: a:write, a:admin. Your token has: a:read. Ask an AuthSec admin to grant the missing scope, or use a tool that fits your current scopes."
        );
        assert_eq!(denial.tool(), Some("w"));
        assert_eq!(denial.granted_scopes(), ["a:read"]);
        let none = Denial::scope_insufficient([], ["a:write"]).with_tool("w");
        assert_eq!(
            none.description(),
            "Tool \"w\" requires scope: a:write. Your token does not include this scope. Ask an AuthSec admin to grant it, or use a tool that fits your current scopes."
        );
    }

    #[test]
    fn scope_and_acr_values_are_cut_at_a_whole_token_within_200_characters() {
        // 30 scopes of 9 characters: 299 characters joined, 20 whole ones fit (199).
        let required: Vec<String> = (0..30).map(|i| format!("scope:{i:03}")).collect();
        let denial = Denial::scope_insufficient([], required.iter().map(String::as_str));
        let challenge = denial.www_authenticate(PRM).unwrap();
        let kept = required[..20].join(" ");
        assert_eq!(kept.len(), 199);
        assert!(
            challenge.contains(&format!(", scope=\"{kept}\", resource_metadata=")),
            "{challenge}"
        );
        let body: Value = serde_json::from_str(&denial.json_body(PRM)).unwrap();
        assert_eq!(body["scope"], Value::from(required.join(" ")));
        assert_eq!(body["required_scopes"], json!(required));

        let acr: Vec<String> = (0..30).map(|i| format!("urn:acr:{i:02}")).collect();
        let step_up = Denial::step_up_required(acr.clone(), None);
        let challenge = step_up.www_authenticate(PRM).unwrap();
        let kept = acr[..18].join(" ");
        assert!(kept.len() <= 200 && kept.len() + 11 > 200);
        assert!(
            challenge.contains(&format!("acr_values=\"{kept}\", resource_metadata=")),
            "{challenge}"
        );
    }

    #[test]
    fn policy_unavailable_is_503_without_challenge_and_the_family_error_in_the_body() {
        let denial = Denial::policy_unavailable("the tool policy could not be fetched");
        let rendered = denial.render(PRM);
        assert_eq!(rendered.status, 503);
        assert_eq!(rendered.www_authenticate, None);
        assert_eq!(rendered.retry_after.as_deref(), Some("5"));
        assert_eq!(
            serde_json::from_str::<Value>(&rendered.body).unwrap(),
            json!({"error":"policy_unavailable","denial":"authorization_unavailable",
                "error_description":"the tool policy could not be fetched","retry_after":5,
                "resource_metadata":PRM})
        );
        let family = denial.in_form(DenialForm::AuthsecFamily).render(PRM);
        assert_eq!(family, rendered);
    }

    #[test]
    fn whole_token_bound_rules() {
        assert_eq!(bounded_tokens("a b c", 5), Some("a b c"));
        assert_eq!(bounded_tokens("a b c", 4), Some("a b"));
        assert_eq!(bounded_tokens("a b c", 3), Some("a b"));
        assert_eq!(bounded_tokens("ab cd", 2), Some("ab"));
        assert_eq!(
            bounded_tokens("abc", 2),
            None,
            "a first token over the bound: left out"
        );
        assert_eq!(bounded_tokens("", 2), None);
        assert_eq!(bounded_tokens("é é é", 3), Some("é é"));
        assert_eq!(bounded_tokens("éé éé", 3), Some("éé"));
    }

    #[test]
    fn a_single_scope_longer_than_the_bound_leaves_the_scope_parameter_out() {
        let long = "s".repeat(201);
        let denial = Denial::scope_insufficient([], [long.as_str()]);
        assert_eq!(
            denial.www_authenticate(PRM).unwrap(),
            format!(
                "Bearer error=\"insufficient_scope\", error_description=\"this operation requires the scopes: {}\", resource_metadata=\"{PRM}\"",
                &format!("this operation requires the scopes: {long}")[36..200]
            )
        );
        let body: Value = serde_json::from_str(&denial.json_body(PRM)).unwrap();
        assert_eq!(body["scope"], Value::from(long));
    }

    #[test]
    fn by_default_the_no_token_challenge_has_no_error_and_scope_is_granted_union_required() {
        let missing = Denial::missing_token().with_scope("notes:read");
        assert_eq!(missing.form(), DenialForm::Spec);
        assert_eq!(
            missing.www_authenticate(PRM).unwrap(),
            format!("Bearer scope=\"notes:read\", resource_metadata=\"{PRM}\"")
        );
        let body: Value = serde_json::from_str(&missing.json_body(PRM)).unwrap();
        assert_eq!(body["error"], "missing_token");
        assert_eq!(body["error_description"], "an access token is required");
        let scope = Denial::scope_insufficient(["a:read"], ["a:write"]).with_tool("w");
        assert!(
            scope
                .www_authenticate(PRM)
                .unwrap()
                .contains("scope=\"a:read a:write\"")
        );
    }

    #[test]
    fn family_form_no_token_challenge_carries_invalid_token() {
        let denial = Denial::missing_token()
            .with_scope("notes:read")
            .in_form(DenialForm::AuthsecFamily);
        assert_eq!(
            denial.www_authenticate(PRM).unwrap(),
            format!(
                "Bearer error=\"invalid_token\", error_description=\"missing bearer token\", scope=\"notes:read\", resource_metadata=\"{PRM}\""
            )
        );
        assert_eq!(
            serde_json::from_str::<Value>(&denial.json_body(PRM)).unwrap(),
            json!({"error":"invalid_token","error_description":"missing bearer token",
                "denial":"missing_token","reason":"no_token","scope":"notes:read",
                "resource_metadata":PRM})
        );
        assert_eq!(denial.status(), 401);
    }

    #[test]
    fn a_realm_comes_first_sanitized_and_bounded_and_stays_out_of_the_body() {
        let long = format!("Notes \"prod\" {}", "r".repeat(300));
        let denial = Denial::invalid_token("expired").with_realm(Some(&long));
        let challenge = denial.www_authenticate(PRM).unwrap();
        let realm = format!("Notes 'prod' {}", "r".repeat(200 - 13));
        assert_eq!(
            challenge,
            format!(
                "Bearer realm=\"{realm}\", error=\"invalid_token\", error_description=\"expired\", resource_metadata=\"{PRM}\""
            )
        );
        let body: Value = serde_json::from_str(&denial.json_body(PRM)).unwrap();
        assert_eq!(body.get("realm"), None);
        assert_eq!(
            Denial::invalid_token("x")
                .with_realm(Some(""))
                .www_authenticate(PRM),
            Denial::invalid_token("x").www_authenticate(PRM)
        );
    }

    #[test]
    fn family_form_scope_challenge_lists_only_the_required_scopes() {
        let denial = Denial::scope_insufficient(["a:read"], ["a:write", "a:admin"])
            .with_tool("w")
            .in_form(DenialForm::AuthsecFamily);
        let challenge = denial.www_authenticate(PRM).unwrap();
        assert!(
            challenge.starts_with("Bearer error=\"insufficient_scope\", error_description=\"Tool 'w' requires scope: a:write, a:admin. Your token has: a:read."),
            "{challenge}"
        );
        assert!(
            challenge.ends_with(&format!(
                ", scope=\"a:write a:admin\", resource_metadata=\"{PRM}\""
            )),
            "{challenge}"
        );
        let body: Value = serde_json::from_str(&denial.json_body(PRM)).unwrap();
        assert_eq!(body["scope"], "a:write a:admin");
        assert_eq!(body["granted_scopes"], json!(["a:read"]));
        let unknown = Denial::scope_insufficient(["a:read"], [])
            .in_form(DenialForm::AuthsecFamily)
            .www_authenticate(PRM)
            .unwrap();
        assert!(unknown.contains(", scope=\"(unknown)\", "), "{unknown}");
    }

    #[test]
    fn unmapped_tool_is_the_family_insufficient_scope_with_its_placeholder() {
        let denial = Denial::unmapped_tool(["a:read"], "drop_db");
        assert_eq!(denial.code(), DenialCode::ScopeInsufficient);
        assert_eq!(denial.form(), DenialForm::AuthsecFamily);
        assert_eq!(
            denial.required_scopes(),
            ["<no scope mapping for tool \"drop_db\">"]
        );
        assert_eq!(
            denial.www_authenticate(PRM).unwrap(),
            format!(
                "Bearer error=\"insufficient_scope\", error_description=\"Tool 'drop_db' requires scope: <no scope mapping for tool 'drop_db'>. Your token has: a:read. Ask an AuthSec admin to grant the missing scope, or use a tool that fits your current scopes.\", scope=\"<no scope mapping for tool 'drop_db'>\", resource_metadata=\"{PRM}\""
            )
        );
        assert_eq!(
            serde_json::from_str::<Value>(&denial.json_body(PRM)).unwrap(),
            json!({"error":"insufficient_scope",
                "error_description":"Tool \"drop_db\" requires scope: <no scope mapping for tool \"drop_db\">. Your token has: a:read. Ask an AuthSec admin to grant the missing scope, or use a tool that fits your current scopes.",
                "denial":"scope_insufficient","tool":"drop_db","granted_scopes":["a:read"],
                "scope":"<no scope mapping for tool \"drop_db\">",
                "required_scopes":["<no scope mapping for tool \"drop_db\">"],
                "resource_metadata":PRM})
        );
    }

    #[test]
    fn scope_challenge_is_granted_union_required_without_offline_access() {
        let denial = Denial::scope_insufficient(
            ["notes:read", "offline_access"],
            ["notes:write", "notes:read"],
        );
        assert_eq!(denial.scope(), Some("notes:read notes:write"));
        assert_eq!(denial.required_scopes(), ["notes:write", "notes:read"]);
    }
}
