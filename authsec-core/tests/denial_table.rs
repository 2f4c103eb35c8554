//! The denial table (spec-checklist §13, README): for every [`DenialCode`], the exact HTTP
//! status, `WWW-Authenticate` challenge, `Retry-After`, JSON body, JSON-RPC error object, OAuth
//! error, client action and label; plus the rules around them (RFC 6750 §3, RFC 9470, MCP):
//! no `error` on the no-token challenge, scope challenges that keep granted scopes, no
//! `insufficient_scope` for policy refusals, challenges that parse whatever the description
//! holds, and no rendering that echoes a presented token.

use std::net::{IpAddr, Ipv4Addr};

use async_trait::async_trait;
use authsec_core::{
    AccessRequest, Authorization, Claims, ClientAction, Decision, Denial, DenialCode, Guard,
    McpHeaders, Policy, PolicyRequest, Principal, RejectAll, RevocationCheck, TokenSource,
    TokenVerifier, ToolManifest, classify,
};
use serde_json::{Map, Value, json};

const RESOURCE: &str = "https://mcp.example.com/mcp";
const PRM: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";
const ISSUER: &str = "https://as.example";

// ----- the table ----------------------------------------------------------------------------------

/// One row of the expected table, written out independently of the library's own table.
struct Row {
    label: &'static str,
    status: u16,
    oauth_error: Option<&'static str>,
    action: ClientAction,
    jsonrpc_code: i64,
    /// A representative denial of this code.
    denial: Denial,
    challenge: Option<String>,
    retry_after: Option<&'static str>,
    body: Value,
}

fn row(code: DenialCode) -> Row {
    match code {
        DenialCode::MissingToken => Row {
            label: "missing_token",
            status: 401,
            oauth_error: None,
            action: ClientAction::Authenticate,
            jsonrpc_code: -31001,
            denial: Denial::missing_token().with_scope("notes:read"),
            // RFC 6750 §3.1: no `error` when no credentials were presented.
            challenge: Some(format!(
                "Bearer scope=\"notes:read\", resource_metadata=\"{PRM}\""
            )),
            retry_after: None,
            body: json!({
                "error": "missing_token",
                "error_description": "an access token is required",
                "denial": "missing_token", "reason": "no_token",
                "scope": "notes:read",
                "resource_metadata": PRM,
            }),
        },
        DenialCode::InvalidRequest => Row {
            label: "invalid_request",
            status: 400,
            oauth_error: Some("invalid_request"),
            action: ClientAction::FixRequest,
            jsonrpc_code: -31002,
            denial: Denial::invalid_request("more than one Authorization header was sent"),
            challenge: Some(format!(
                "Bearer error=\"invalid_request\", error_description=\"more than one \
                 Authorization header was sent\", resource_metadata=\"{PRM}\""
            )),
            retry_after: None,
            body: json!({
                "error": "invalid_request",
                "error_description": "more than one Authorization header was sent",
                "denial": "invalid_request",
                "resource_metadata": PRM,
            }),
        },
        DenialCode::InvalidToken => Row {
            label: "invalid_token",
            status: 401,
            oauth_error: Some("invalid_token"),
            action: ClientAction::Reauthenticate,
            jsonrpc_code: -31003,
            denial: Denial::invalid_token("the token has expired"),
            challenge: Some(format!(
                "Bearer error=\"invalid_token\", error_description=\"the token has expired\", \
                 resource_metadata=\"{PRM}\""
            )),
            retry_after: None,
            body: json!({
                "error": "invalid_token",
                "error_description": "the token has expired",
                "denial": "invalid_token", "reason": "token_expired",
                "resource_metadata": PRM,
            }),
        },
        DenialCode::InvalidAudience => Row {
            label: "invalid_audience",
            status: 401,
            // RFC 9068 §4: every JWT validation failure is `invalid_token`; no audience error.
            oauth_error: Some("invalid_token"),
            action: ClientAction::ReauthenticateForResource,
            jsonrpc_code: -31004,
            denial: Denial::invalid_audience("audience mismatch"),
            challenge: Some(format!(
                "Bearer error=\"invalid_token\", error_description=\"audience mismatch\", \
                 resource_metadata=\"{PRM}\""
            )),
            retry_after: None,
            body: json!({
                "error": "invalid_token",
                "error_description": "audience mismatch",
                "denial": "invalid_audience", "reason": "audience_mismatch",
                "resource_metadata": PRM,
            }),
        },
        DenialCode::TokenRevoked => Row {
            label: "token_revoked",
            status: 401,
            oauth_error: Some("invalid_token"),
            action: ClientAction::Reauthenticate,
            jsonrpc_code: -31005,
            denial: Denial::token_revoked(),
            challenge: Some(format!(
                "Bearer error=\"invalid_token\", error_description=\"the access token is not \
                 active\", resource_metadata=\"{PRM}\""
            )),
            retry_after: None,
            body: json!({
                "error": "invalid_token",
                "error_description": "the access token is not active",
                "denial": "token_revoked", "reason": "token_revoked",
                "resource_metadata": PRM,
            }),
        },
        DenialCode::ScopeInsufficient => Row {
            label: "scope_insufficient",
            status: 403,
            oauth_error: Some("insufficient_scope"),
            action: ClientAction::RequestScopes,
            jsonrpc_code: -31006,
            denial: Denial::scope_insufficient(["notes:read", "offline_access"], ["notes:write"]),
            // `scope` = granted ∪ required, without `offline_access`.
            challenge: Some(format!(
                "Bearer error=\"insufficient_scope\", error_description=\"this operation \
                 requires the scopes: notes:write\", scope=\"notes:read notes:write\", \
                 resource_metadata=\"{PRM}\""
            )),
            retry_after: None,
            body: json!({
                "error": "insufficient_scope",
                "error_description": "this operation requires the scopes: notes:write",
                "denial": "scope_insufficient",
                "granted_scopes": ["notes:read", "offline_access"],
                "scope": "notes:read notes:write",
                "required_scopes": ["notes:write"],
                "resource_metadata": PRM,
            }),
        },
        DenialCode::StepUpRequired => Row {
            label: "step_up_required",
            status: 401,
            oauth_error: Some("insufficient_user_authentication"),
            action: ClientAction::StepUp,
            jsonrpc_code: -31007,
            denial: Denial::step_up_required(["mfa"], Some(300)),
            challenge: Some(format!(
                "Bearer error=\"insufficient_user_authentication\", error_description=\"a \
                 stronger or more recent authentication is required\", acr_values=\"mfa\", \
                 max_age=\"300\", resource_metadata=\"{PRM}\""
            )),
            retry_after: None,
            body: json!({
                "error": "insufficient_user_authentication",
                "error_description": "a stronger or more recent authentication is required",
                "denial": "step_up_required",
                "acr_values": "mfa",
                "max_age": 300,
                "resource_metadata": PRM,
            }),
        },
        DenialCode::PolicyDenied => Row {
            label: "policy_denied",
            status: 403,
            oauth_error: None,
            action: ClientAction::Report,
            jsonrpc_code: -31008,
            denial: Denial::policy_denied("calls from this network are not allowed"),
            challenge: None,
            retry_after: None,
            body: json!({
                "error": "policy_denied",
                "error_description": "calls from this network are not allowed",
                "denial": "policy_denied",
                "resource_metadata": PRM,
            }),
        },
        DenialCode::QuotaExceeded => Row {
            label: "quota_exceeded",
            status: 429,
            oauth_error: None,
            action: ClientAction::RetryLater,
            jsonrpc_code: -31009,
            denial: Denial::quota_exceeded(30),
            challenge: None,
            retry_after: Some("30"),
            body: json!({
                "error": "quota_exceeded",
                "error_description": "the quota for this operation is exhausted",
                "denial": "quota_exceeded",
                "retry_after": 30,
                "resource_metadata": PRM,
            }),
        },
        DenialCode::AuthorizationUnavailable => Row {
            label: "authorization_unavailable",
            status: 503,
            // Never `invalid_token`: the client must keep its token and retry later.
            oauth_error: None,
            action: ClientAction::RetryLater,
            jsonrpc_code: -31010,
            denial: Denial::authorization_unavailable(
                "the issuer's signing keys could not be fetched: timed out",
            ),
            challenge: None,
            retry_after: Some("5"),
            body: json!({
                "error": "authorization_unavailable",
                "error_description": "the issuer's signing keys could not be fetched: timed out",
                "denial": "authorization_unavailable",
                "retry_after": 5,
                "resource_metadata": PRM,
            }),
        },
        DenialCode::SessionMismatch => Row {
            label: "session_mismatch",
            status: 404,
            oauth_error: None,
            action: ClientAction::NewSession,
            jsonrpc_code: -31011,
            denial: Denial::session_mismatch(),
            challenge: None,
            retry_after: None,
            body: json!({
                "error": "session_mismatch",
                "error_description": "the session does not belong to this principal",
                "denial": "session_mismatch",
                "resource_metadata": PRM,
            }),
        },
        other => panic!("{other:?} has no row in this test's denial table: add one"),
    }
}

fn body_of(denial: &Denial) -> Value {
    serde_json::from_str(&denial.render(PRM).body).expect("the body is JSON")
}

#[test]
fn every_code_renders_exactly_as_the_denial_table_says() {
    for code in DenialCode::ALL {
        let row = row(code);
        let denial = &row.denial;
        assert_eq!(denial.code(), code);

        // Code-level facts.
        assert_eq!(code.as_str(), row.label);
        assert_eq!(code.to_string(), row.label);
        assert_eq!(DenialCode::from_label(row.label), Some(code));
        assert_eq!(code.status(), row.status, "{code}");
        assert_eq!(code.oauth_error(), row.oauth_error, "{code}");
        assert_eq!(code.client_action(), row.action, "{code}");
        assert_eq!(code.has_challenge(), row.challenge.is_some(), "{code}");
        assert_eq!(code.jsonrpc_code(), row.jsonrpc_code, "{code}");
        assert!(
            !(-32768..=-32000).contains(&code.jsonrpc_code()),
            "{code}: JSON-RPC code in the reserved range"
        );

        // The HTTP rendering.
        let rendered = denial.render(PRM);
        assert_eq!(rendered.status, row.status, "{code}");
        assert_eq!(rendered.www_authenticate, row.challenge, "{code}");
        assert_eq!(denial.www_authenticate(PRM), row.challenge, "{code}");
        assert_eq!(rendered.retry_after.as_deref(), row.retry_after, "{code}");
        let body: Value = serde_json::from_str(&rendered.body).expect("the body is JSON");
        assert_eq!(body, row.body, "{code}");
        assert_eq!(denial.json_body(PRM), rendered.body, "{code}");

        // The in-band rendering: same details, code outside the reserved range.
        assert_eq!(
            denial.to_jsonrpc_error(PRM),
            json!({
                "code": row.jsonrpc_code,
                "message": row.body["error_description"],
                "data": row.body,
            }),
            "{code}"
        );
    }
}

#[test]
fn all_lists_every_code_once_with_distinct_labels_and_jsonrpc_codes() {
    assert_eq!(DenialCode::ALL.len(), 11);
    let labels: Vec<&str> = DenialCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(
        labels,
        [
            "missing_token",
            "invalid_request",
            "invalid_token",
            "invalid_audience",
            "token_revoked",
            "scope_insufficient",
            "step_up_required",
            "policy_denied",
            "quota_exceeded",
            "authorization_unavailable",
            "session_mismatch",
        ]
    );
    let mut codes: Vec<i64> = DenialCode::ALL.iter().map(|c| c.jsonrpc_code()).collect();
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(
        codes.len(),
        DenialCode::ALL.len(),
        "JSON-RPC codes are distinct"
    );
    assert_eq!(DenialCode::from_label("insufficient_scope"), None);
    assert_eq!(DenialCode::from_label(""), None);
}

#[test]
fn every_challenge_is_bearer_with_resource_metadata_on_one_line() {
    // RS-BEARER-5, RS-BEARER-11, RS-MCP-2: never a bare `Bearer`, always `resource_metadata`.
    for code in DenialCode::ALL {
        let Some(challenge) = row(code).denial.www_authenticate(PRM) else {
            continue;
        };
        let params = parse_challenge(&challenge);
        assert!(!params.is_empty(), "{code}: bare Bearer challenge");
        assert_eq!(
            params.last(),
            Some(&("resource_metadata".to_owned(), PRM.to_owned())),
            "{code}"
        );
        assert!(!challenge.contains('\r') && !challenge.contains('\n'));
    }
}

// ----- missing_token ------------------------------------------------------------------------------

#[test]
fn missing_token_has_no_error_param_and_carries_scope_when_set() {
    let with_scope = Denial::missing_token().with_scope("notes:read notes:list");
    assert_eq!(
        with_scope.www_authenticate(PRM).as_deref(),
        Some(
            format!("Bearer scope=\"notes:read notes:list\", resource_metadata=\"{PRM}\"").as_str()
        )
    );
    let without_scope = Denial::missing_token();
    assert_eq!(
        without_scope.www_authenticate(PRM).as_deref(),
        Some(format!("Bearer resource_metadata=\"{PRM}\"").as_str())
    );
    // An empty scope is no scope (never `scope=""`).
    let empty = Denial::missing_token().with_scope("");
    assert_eq!(
        empty.www_authenticate(PRM).as_deref(),
        Some(format!("Bearer resource_metadata=\"{PRM}\"").as_str())
    );
    for denial in [&with_scope, &without_scope, &empty] {
        let challenge = denial.www_authenticate(PRM).expect("a challenge");
        assert!(!challenge.contains("error"), "{challenge}");
        assert_eq!(denial.status(), 401);
    }
    assert_eq!(
        body_of(&without_scope),
        json!({
            "error": "missing_token",
            "error_description": "an access token is required",
            "denial": "missing_token", "reason": "no_token",
            "resource_metadata": PRM,
        })
    );
}

fn guard_with_initial_scopes<S: Into<String>>(scopes: impl IntoIterator<Item = S>) -> Guard {
    Guard::builder(RESOURCE)
        .authorization_server(ISSUER)
        .verifier(RejectAll)
        .initial_scopes(scopes)
        .build()
        .expect("guard builds")
}

async fn deny(guard: &Guard, request: &AccessRequest<'_>) -> Denial {
    match guard.check(request).await {
        Decision::Deny(denial) => denial,
        Decision::Allow(principal) => panic!("allowed: {principal:?}"),
    }
}

#[tokio::test]
async fn guard_without_a_token_answers_missing_token_with_the_initial_scopes() {
    let guard = guard_with_initial_scopes(["notes:read", "offline_access", "notes:list"]);
    let denial = deny(&guard, &AccessRequest::new(Authorization::Absent)).await;
    assert_eq!(denial.code(), DenialCode::MissingToken);
    // `offline_access` never appears in a challenge (spec-checklist §15.10).
    assert_eq!(denial.scope(), Some("notes:read notes:list"));
    let rendered = guard.render(&denial);
    assert_eq!(rendered.status, 401);
    assert_eq!(
        rendered.www_authenticate.as_deref(),
        Some(
            format!("Bearer scope=\"notes:read notes:list\", resource_metadata=\"{PRM}\"").as_str()
        )
    );
    assert_eq!(rendered.retry_after, None);
    assert_eq!(
        serde_json::from_str::<Value>(&rendered.body).expect("JSON"),
        json!({
            "error": "missing_token",
            "error_description": "an access token is required",
            "denial": "missing_token", "reason": "no_token",
            "scope": "notes:read notes:list",
            "resource_metadata": PRM,
        })
    );

    // Another scheme is no bearer credential either (RS-BEARER-9): same answer, no `error`.
    let basic = deny(
        &guard,
        &AccessRequest::new(Authorization::One(b"Basic dXNlcjpwYXNz")),
    )
    .await;
    assert_eq!(basic, denial);
}

#[tokio::test]
async fn guard_without_initial_scopes_challenges_with_resource_metadata_only() {
    let guard = guard_with_initial_scopes(Vec::<String>::new());
    let denial = deny(&guard, &AccessRequest::new(Authorization::Absent)).await;
    assert_eq!(denial.code(), DenialCode::MissingToken);
    assert_eq!(denial.scope(), None);
    assert_eq!(
        guard.render(&denial).www_authenticate.as_deref(),
        Some(format!("Bearer resource_metadata=\"{PRM}\"").as_str())
    );
}

// ----- scope_insufficient ---------------------------------------------------------------------------

#[test]
fn scope_insufficient_challenges_granted_union_required_without_offline_access() {
    let denial = Denial::scope_insufficient(
        ["notes:read", "offline_access", "notes:list"],
        ["notes:write", "notes:read", "notes:admin"],
    );
    assert_eq!(denial.code(), DenialCode::ScopeInsufficient);
    assert_eq!(
        denial.scope(),
        Some("notes:read notes:list notes:write notes:admin")
    );
    assert_eq!(
        denial.required_scopes(),
        ["notes:write", "notes:read", "notes:admin"]
    );
    let rendered = denial.render(PRM);
    assert_eq!(rendered.status, 403);
    assert_eq!(
        rendered.www_authenticate.as_deref(),
        Some(
            format!(
                "Bearer error=\"insufficient_scope\", error_description=\"this operation \
                 requires the scopes: notes:write notes:read notes:admin\", scope=\"notes:read \
                 notes:list notes:write notes:admin\", resource_metadata=\"{PRM}\""
            )
            .as_str()
        )
    );
    assert_eq!(
        body_of(&denial),
        json!({
            "error": "insufficient_scope",
            "error_description": "this operation requires the scopes: notes:write notes:read notes:admin",
            "denial": "scope_insufficient",
            "granted_scopes": ["notes:read", "offline_access", "notes:list"],
            "scope": "notes:read notes:list notes:write notes:admin",
            "required_scopes": ["notes:write", "notes:read", "notes:admin"],
            "resource_metadata": PRM,
        })
    );
    let challenge = rendered.www_authenticate.expect("challenge");
    let scope = param(&challenge, "scope").expect("a scope param");
    assert!(!scope.split(' ').any(|s| s == "offline_access"));
}

#[tokio::test]
async fn scope_challenge_is_never_an_empty_scope() {
    // RFC 6749 §3.3: `scope = scope-token *( SP scope-token )`, so `scope=""` is not a scope.
    // When the only scope lacking is `offline_access` (dropped from challenges) and nothing is
    // granted, the union is empty: the challenge must then omit `scope`, not send it empty.
    let expected_challenge = format!(
        "Bearer error=\"insufficient_scope\", error_description=\"this operation requires the \
         scopes: offline_access\", resource_metadata=\"{PRM}\""
    );
    let expected_body = json!({
        "error": "insufficient_scope",
        "error_description": "this operation requires the scopes: offline_access",
        "denial": "scope_insufficient",
        "granted_scopes": [],
        "required_scopes": ["offline_access"],
        "resource_metadata": PRM,
    });
    let direct = Denial::scope_insufficient([], ["offline_access"]);

    // Not reachable from configuration: requiring `offline_access` is refused at build time.
    let error = Guard::builder(RESOURCE)
        .authorization_server(ISSUER)
        .verifier(StubVerifier)
        .require_scopes(["offline_access"])
        .build()
        .expect_err("offline_access cannot be required");
    assert_eq!(
        error.message(),
        "require_scopes(offline_access): offline_access is about refresh tokens and never appears in a challenge, so a client could never satisfy it"
    );

    let rendered = direct.render(PRM);
    assert_eq!(
        (rendered.www_authenticate.as_deref(), body_of(&direct)),
        (Some(expected_challenge.as_str()), expected_body)
    );
}

// ----- policy_denied ---------------------------------------------------------------------------------

#[test]
fn policy_denied_never_says_insufficient_scope() {
    // spec-checklist §13: a policy refusal that says `insufficient_scope` sends clients into
    // consent loops; no new token would change a policy decision.
    for denial in [
        Denial::new(DenialCode::PolicyDenied),
        Denial::policy_denied("the tool \"purge_notes\" is not in this server's tool manifest"),
        Denial::policy_denied("calls from this network are not allowed"),
    ] {
        let rendered = denial.render(PRM);
        assert_eq!(rendered.status, 403);
        assert_eq!(rendered.www_authenticate, None);
        assert_eq!(rendered.retry_after, None);
        assert!(
            !rendered.body.contains("insufficient_scope"),
            "{}",
            rendered.body
        );
        assert!(!rendered.body.contains("scope"), "{}", rendered.body);
        let jsonrpc = denial.to_jsonrpc_error(PRM).to_string();
        assert!(!jsonrpc.contains("insufficient_scope"), "{jsonrpc}");
        assert_eq!(body_of(&denial)["error"], "policy_denied");
        assert_eq!(denial.code().oauth_error(), None);
        assert_eq!(denial.code().client_action(), ClientAction::Report);
    }
    assert_eq!(
        body_of(&Denial::new(DenialCode::PolicyDenied)),
        json!({
            "error": "policy_denied",
            "error_description": "the request is not allowed by policy",
            "denial": "policy_denied",
            "resource_metadata": PRM,
        })
    );
}

// ----- quoting and escaping ---------------------------------------------------------------------------

/// Parses `Bearer name="value", name="value"...` strictly: RFC 7235 auth-params with
/// quoted-string values whose characters are all in the RFC 6750 §3 set
/// (`%x20-21 / %x23-5B / %x5D-7E`, so no `"`, no `\`, nothing to unescape), no duplicate names.
fn parse_challenge(challenge: &str) -> Vec<(String, String)> {
    let rest = challenge
        .strip_prefix("Bearer ")
        .unwrap_or_else(|| panic!("not a Bearer challenge: {challenge:?}"));
    let bytes = rest.as_bytes();
    let mut params: Vec<(String, String)> = Vec::new();
    let mut i = 0;
    loop {
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
            i += 1;
        }
        assert!(
            i > start,
            "auth-param name expected at {i} in {challenge:?}"
        );
        let name = &rest[start..i];
        assert_eq!(bytes.get(i..i + 2), Some(&b"=\""[..]), "in {challenge:?}");
        i += 2;
        let value_start = i;
        while i < bytes.len() && bytes[i] != b'"' {
            let b = bytes[i];
            assert!(
                matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E),
                "byte {b:#04x} not allowed in a quoted value of {challenge:?}"
            );
            i += 1;
        }
        assert!(
            i < bytes.len(),
            "unterminated quoted-string in {challenge:?}"
        );
        let value = &rest[value_start..i];
        i += 1;
        assert!(
            !params.iter().any(|(n, _)| n == name),
            "{name} repeated in {challenge:?}"
        );
        params.push((name.to_owned(), value.to_owned()));
        if i == bytes.len() {
            return params;
        }
        assert_eq!(bytes.get(i..i + 2), Some(&b", "[..]), "in {challenge:?}");
        i += 2;
    }
}

fn param(challenge: &str, name: &str) -> Option<String> {
    parse_challenge(challenge)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
}

const HOSTILE_DESCRIPTIONS: [&str; 10] = [
    "bad \"kid\" \\ here\r\nnext é",
    "ends with a backslash \\",
    "ends with a quote \"",
    "\", error=\"insufficient_scope\", scope=\"admin",
    "line\r\nWWW-Authenticate: Basic realm=\"x\"",
    "tab\there, nul\0, del\u{7f}",
    "emoji 🔑 and ümlaut",
    "\\\"\\\"",
    "",
    "   ",
];

/// What RFC 6750 §3 lets through, written independently of the library: `"` → `'`,
/// `\` → `/`, anything outside printable ASCII → `?`.
fn sanitized(description: &str) -> String {
    description
        .chars()
        .map(|c| match c {
            '"' => '\'',
            '\\' => '/',
            ' '..='~' => c,
            _ => '?',
        })
        .collect()
}

#[test]
fn hostile_descriptions_yield_a_challenge_that_still_parses() {
    let codes_with_description = [
        DenialCode::InvalidRequest,
        DenialCode::InvalidToken,
        DenialCode::InvalidAudience,
        DenialCode::TokenRevoked,
        DenialCode::ScopeInsufficient,
        DenialCode::StepUpRequired,
    ];
    for description in HOSTILE_DESCRIPTIONS {
        for code in codes_with_description {
            let denial = row(code).denial.with_description(description);
            let challenge = denial.www_authenticate(PRM).expect("a challenge");
            let params = parse_challenge(&challenge);
            // Exactly the params of the table row, in order: nothing injected.
            let names: Vec<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
            let expected_names = parse_challenge(&row(code).challenge.expect("challenge"))
                .into_iter()
                .map(|(n, _)| n)
                .collect::<Vec<_>>();
            assert_eq!(names, expected_names, "{description:?}");
            assert_eq!(
                param(&challenge, "error").as_deref(),
                code.oauth_error(),
                "{description:?}"
            );
            assert_eq!(
                param(&challenge, "error_description"),
                Some(sanitized(description)),
                "{description:?}"
            );
            // The body and the JSON-RPC error carry the description verbatim (JSON escapes it).
            let body = body_of(&denial);
            assert_eq!(body["error_description"], description);
            assert_eq!(denial.to_jsonrpc_error(PRM)["message"], description);
        }
    }
}

#[test]
fn quotes_backslashes_line_breaks_and_non_ascii_are_rendered_exactly() {
    let denial = Denial::invalid_token("bad \"kid\" \\ here\r\nnext é");
    assert_eq!(
        denial.www_authenticate(PRM).as_deref(),
        Some(
            format!(
                "Bearer error=\"invalid_token\", error_description=\"bad 'kid' / here??next ?\", \
                 resource_metadata=\"{PRM}\""
            )
            .as_str()
        )
    );
    // A description trying to close the quote and add its own params stays one value.
    let injected = Denial::invalid_token("x\", scope=\"admin");
    assert_eq!(
        injected.www_authenticate(PRM).as_deref(),
        Some(
            format!(
                "Bearer error=\"invalid_token\", error_description=\"x', scope='admin\", \
                 resource_metadata=\"{PRM}\""
            )
            .as_str()
        )
    );
}

#[test]
fn hostile_scope_and_acr_values_still_parse() {
    // Scopes from configuration are validated at build time, and scopes granted by a token are
    // split on whitespace; whatever reaches a challenge must still not break it.
    let scope = Denial::scope_insufficient(["a\"b", "c\\d", "é"], ["notes:write"]);
    let challenge = scope.www_authenticate(PRM).expect("challenge");
    assert_eq!(
        param(&challenge, "scope").as_deref(),
        Some("a'b c/d ? notes:write")
    );
    let step_up = Denial::step_up_required(["mfa\"", "hw\\key\r\n"], Some(0));
    let challenge = step_up.www_authenticate(PRM).expect("challenge");
    assert_eq!(
        param(&challenge, "acr_values").as_deref(),
        Some("mfa' hw/key??")
    );
    assert_eq!(param(&challenge, "max_age").as_deref(), Some("0"));
}

// ----- no rendering echoes the token ------------------------------------------------------------------

/// Accepts tokens by what they contain, so every branch of the Guard can be reached with a
/// token that must never come back in a response.
struct StubVerifier;

fn claims(aud: &str, scope: &str) -> Claims {
    let Value::Object(map) = json!({
        "iss": ISSUER,
        "sub": "alice",
        "aud": aud,
        "exp": 4_000_000_000u64,
        "scope": scope,
    }) else {
        unreachable!()
    };
    Claims::from_map(map, TokenSource::Jwt).expect("valid claims")
}

#[async_trait]
impl TokenVerifier for StubVerifier {
    async fn verify(&self, token: &str) -> Result<Claims, Denial> {
        if token.contains("bad") {
            Err(Denial::invalid_token("the token signature is invalid"))
        } else if token.contains("down") {
            Err(Denial::authorization_unavailable(
                "the issuer's signing keys could not be fetched",
            ))
        } else if token.contains("noscope") {
            Ok(claims(RESOURCE, ""))
        } else if token.contains("other") {
            Ok(claims("https://other.example/mcp", "notes:read"))
        } else if token.contains("bob") {
            let Value::Object(map) = json!({
                "iss": ISSUER, "sub": "bob", "aud": RESOURCE, "exp": 4_000_000_000u64,
                "scope": "notes:read",
            }) else {
                unreachable!()
            };
            Ok(Claims::from_map(map, TokenSource::Jwt).expect("claims"))
        } else {
            Ok(claims(RESOURCE, "notes:read"))
        }
    }
}

struct StubRevocation;

#[async_trait]
impl RevocationCheck for StubRevocation {
    async fn check(&self, token: &str, _principal: &Principal) -> Result<(), Denial> {
        if token.contains("revoked") {
            Err(Denial::token_revoked())
        } else {
            Ok(())
        }
    }
}

struct StubPolicy;

#[async_trait]
impl Policy for StubPolicy {
    async fn evaluate(&self, request: &PolicyRequest<'_>) -> Result<(), Denial> {
        match request.tool {
            Some("purge_notes") => Err(Denial::step_up_required(["mfa"], Some(300))),
            Some("export_notes") => Err(Denial::quota_exceeded(60)),
            Some("share_notes") => Err(Denial::policy_denied(
                "calls from this network are not allowed",
            )),
            _ => Ok(()),
        }
    }
}

fn stub_guard() -> Guard {
    Guard::builder(RESOURCE)
        .authorization_server(ISSUER)
        .verifier(StubVerifier)
        .revocation(StubRevocation)
        .policy(StubPolicy)
        .manifest(
            ToolManifest::new()
                .tool("list_notes", ["notes:read"])
                .tool("add_note", ["notes:write"])
                .tool("purge_notes", ["notes:read"])
                .tool("export_notes", ["notes:read"])
                .tool("share_notes", ["notes:read"]),
        )
        .initial_scopes(["notes:read"])
        .build()
        .expect("guard builds")
}

fn tool_call(tool: &str) -> Vec<u8> {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool}})
        .to_string()
        .into_bytes()
}

fn assert_not_echoed(guard: &Guard, denial: &Denial, secret: &str) {
    let rendered = guard.render(denial);
    assert!(!rendered.body.contains(secret), "{}", rendered.body);
    if let Some(challenge) = &rendered.www_authenticate {
        assert!(!challenge.contains(secret), "{challenge}");
    }
    let jsonrpc = denial.to_jsonrpc_error(PRM).to_string();
    assert!(!jsonrpc.contains(secret), "{jsonrpc}");
    assert!(!denial.to_string().contains(secret));
    assert!(!format!("{denial:?}").contains(secret));
}

#[tokio::test]
async fn no_rendering_of_any_denial_contains_the_presented_token() {
    let guard = stub_guard();
    let mut seen: Vec<DenialCode> = Vec::new();

    // Each case: the token, where it goes, the MCP body, the session; and the code expected.
    let secret = "c2VjcmV0LXRva2VuLXZhbHVl";
    let cases: Vec<(String, DenialCode, Option<&str>, Option<&str>)> = vec![
        (
            format!("Basic {secret}"),
            DenialCode::MissingToken,
            None,
            None,
        ),
        (
            format!("Bearer {secret}-bad"),
            DenialCode::InvalidToken,
            None,
            None,
        ),
        (
            format!("Bearer {secret}-other"),
            DenialCode::InvalidAudience,
            None,
            None,
        ),
        (
            format!("Bearer {secret}-down"),
            DenialCode::AuthorizationUnavailable,
            None,
            None,
        ),
        (
            format!("Bearer {secret}-revoked"),
            DenialCode::TokenRevoked,
            None,
            None,
        ),
        (
            format!("Bearer {secret}"),
            DenialCode::ScopeInsufficient,
            Some("add_note"),
            None,
        ),
        (
            format!("Bearer {secret}"),
            DenialCode::StepUpRequired,
            Some("purge_notes"),
            None,
        ),
        (
            format!("Bearer {secret}"),
            DenialCode::QuotaExceeded,
            Some("export_notes"),
            None,
        ),
        (
            format!("Bearer {secret}"),
            DenialCode::PolicyDenied,
            Some("share_notes"),
            None,
        ),
        (
            format!("Bearer {secret}"),
            DenialCode::PolicyDenied,
            Some("unknown_tool"),
            None,
        ),
        (
            format!("Bearer {secret}-bob"),
            DenialCode::SessionMismatch,
            None,
            Some("session-1"),
        ),
        (
            format!("Bearer {secret}\"x"),
            DenialCode::InvalidRequest,
            None,
            None,
        ),
    ];
    // Bind session-1 to alice first.
    let alice = format!("Bearer {secret}");
    let bind =
        AccessRequest::new(Authorization::One(alice.as_bytes())).session_id(Some("session-1"));
    assert!(matches!(guard.check(&bind).await, Decision::Allow(_)));

    for (header, expected, tool, session) in &cases {
        let body = tool.map(tool_call);
        let mcp = body
            .as_deref()
            .map(|b| classify(b, McpHeaders::default()).expect("valid MCP body"));
        let request = AccessRequest::new(Authorization::One(header.as_bytes()))
            .mcp(mcp.as_ref())
            .session_id(*session)
            .client_ip(Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        let denial = deny(&guard, &request).await;
        assert_eq!(denial.code(), *expected, "{header} {tool:?}");
        assert_not_echoed(&guard, &denial, secret);
        seen.push(denial.code());
    }

    // The token in the query string, alone or next to a header.
    let query = format!("access_token={secret}");
    for authorization in [Authorization::Absent, Authorization::One(alice.as_bytes())] {
        let request = AccessRequest::new(authorization).query(Some(&query));
        let denial = deny(&guard, &request).await;
        assert_eq!(denial.code(), DenialCode::InvalidRequest);
        assert_not_echoed(&guard, &denial, secret);
    }
    // Two headers.
    let values: [&[u8]; 2] = [alice.as_bytes(), alice.as_bytes()];
    let denial = deny(
        &guard,
        &AccessRequest::new(Authorization::from_values(values)),
    )
    .await;
    assert_eq!(denial.code(), DenialCode::InvalidRequest);
    assert_not_echoed(&guard, &denial, secret);

    // Every code of the table was produced by the Guard from a request carrying the token.
    for code in DenialCode::ALL {
        assert!(seen.contains(&code), "{code} not exercised");
    }
}

#[test]
fn description_free_constructors_use_the_table_default_description() {
    let defaults: Map<String, Value> = DenialCode::ALL
        .iter()
        .map(|code| {
            (
                code.as_str().to_owned(),
                Value::from(Denial::new(*code).description()),
            )
        })
        .collect();
    assert_eq!(
        Value::Object(defaults),
        json!({
            "missing_token": "an access token is required",
            "invalid_request": "the request is malformed",
            "invalid_token": "the access token is invalid",
            "invalid_audience": "the access token was issued for another resource",
            "token_revoked": "the access token is not active",
            "scope_insufficient": "the access token lacks required scopes",
            "step_up_required": "a stronger or more recent authentication is required",
            "policy_denied": "the request is not allowed by policy",
            "quota_exceeded": "the quota for this operation is exhausted",
            "authorization_unavailable": "the authorization server is unavailable",
            "session_mismatch": "the session does not belong to this principal",
        })
    );
    for code in DenialCode::ALL {
        assert_eq!(Denial::new(code).description(), code.default_description());
    }
}
