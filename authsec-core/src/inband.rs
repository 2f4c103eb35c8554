//! In-band denials: a denial of a JSON-RPC request delivered inside an HTTP 200 answer, as a
//! `tools/call` result with `isError: true` or as a JSON-RPC error, instead of an HTTP 401 /
//! 403 / 429. Off by default ([`DenialDelivery::http`]).
//!
//! Two opt-in forms:
//!
//! - **Per class** ([`DenialDelivery::policy_denied`], [`DenialDelivery::quota_exceeded`]):
//!   the denials no new token can fix reach the model, which can explain them or pick another
//!   tool, instead of failing the transport. [`Delivery::ToolResult`] answers a `tools/call`
//!   with a tool error whose text and `_meta.authsec` carry the reason;
//!   [`Delivery::JsonRpcError`] answers with the denial's JSON-RPC error (codes -31008 /
//!   -31009, outside the reserved range) echoing the request id. Remediable denials (401s,
//!   403 `scope_insufficient`) always stay HTTP-level: official MCP clients re-authorize or
//!   step up scopes only on those.
//! - **The AuthSec profile** ([`DenialDelivery::authsec_inband`], `AUTHSEC_DENIAL_MODE=inband`):
//!   byte-compatible with the AuthSec Go SDK (v0.5.0 and later). Every token denial of a
//!   JSON-RPC request that carries a token is in-band: `tools/call` →
//!   `result.isError` + `_meta.authsec`; other methods → JSON-RPC error −32003 (403) or −32001
//!   (otherwise) with `data.authsec`. A request without a token, a malformed request and an
//!   unreachable authorization server (503) stay HTTP-level; in a batch, one denial fails the
//!   whole batch (one answer per envelope). This profile stops official MCP clients from
//!   stepping up scopes: use it only for clients written against the AuthSec SDKs.
//!
//!   The profile is one switch for the family's wording too ([`DenialDelivery::wire_denial`]):
//!   its HTTP-level denials are rendered in [`DenialForm::AuthsecFamily`] (no-token
//!   `error="invalid_token"`, `scope` = the required scopes only), and a `tools/call` of a
//!   tool the manifest does not map is the family's `insufficient_scope` with the placeholder
//!   scope `<no scope mapping for tool "X">` ([`Denial::unmapped_tool`]) instead of our
//!   `policy_denied`.

use std::fmt::Write as _;

use serde_json::{Value, json};

use std::borrow::Cow;

use crate::denial::{Denial, DenialCode, DenialForm, RenderedDenial};
use crate::mcp::{JsonText, McpMessage, McpRequest};
use crate::principal::Principal;

/// How one class of denial reaches the client.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Delivery {
    /// The HTTP status of the denial table (the default).
    #[default]
    Http,
    /// A `tools/call` result with `isError: true` (other methods get the JSON-RPC error).
    ToolResult,
    /// A JSON-RPC error echoing the request id.
    JsonRpcError,
}

/// Which denials are delivered in-band, and how. See the [module](self) documentation.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct DenialDelivery {
    policy_denied: Delivery,
    quota_exceeded: Delivery,
    authsec_profile: bool,
}

/// `Content-Type` of an in-band answer.
pub const INBAND_CONTENT_TYPE: &str = "application/json; charset=utf-8";

impl DenialDelivery {
    /// Every denial at HTTP level (the default).
    pub fn http() -> Self {
        Self::default()
    }

    /// The AuthSec family's in-band profile.
    pub fn authsec_inband() -> Self {
        DenialDelivery {
            authsec_profile: true,
            ..Self::default()
        }
    }

    /// How `policy_denied` reaches the client (outside the AuthSec profile).
    pub fn policy_denied(mut self, delivery: Delivery) -> Self {
        self.policy_denied = delivery;
        self
    }

    /// How `quota_exceeded` reaches the client (outside the AuthSec profile).
    pub fn quota_exceeded(mut self, delivery: Delivery) -> Self {
        self.quota_exceeded = delivery;
        self
    }

    /// Whether the AuthSec profile is on.
    pub fn is_authsec_inband(&self) -> bool {
        self.authsec_profile
    }

    /// The form denials are worded in: [`DenialForm::AuthsecFamily`] in the AuthSec profile,
    /// else [`DenialForm::Spec`].
    pub fn form(&self) -> DenialForm {
        if self.authsec_profile {
            DenialForm::AuthsecFamily
        } else {
            DenialForm::Spec
        }
    }

    /// The denial as sent: `denial` itself outside the AuthSec profile; in it, `denial` in
    /// [`DenialForm::AuthsecFamily`] with `realm` (the resource name) in its challenge, and,
    /// when `unmapped_tool` (the manifest check refused a tool it does not map), the family's
    /// [`Denial::unmapped_tool`] with the scopes of `principal`.
    pub fn wire_denial<'a>(
        &self,
        denial: &'a Denial,
        unmapped_tool: bool,
        principal: Option<&Principal>,
        realm: Option<&str>,
    ) -> Cow<'a, Denial> {
        if !self.authsec_profile {
            return Cow::Borrowed(denial);
        }
        let family = match denial.tool() {
            Some(tool) if unmapped_tool => {
                Denial::unmapped_tool(principal.into_iter().flat_map(|p| p.scopes().iter()), tool)
            }
            _ => denial.clone().in_form(DenialForm::AuthsecFamily),
        };
        Cow::Owned(family.with_realm(realm))
    }

    /// The in-band answer for `denial` of the JSON-RPC body `mcp` (sent with a token when
    /// `token_present`), or `None` when it stays HTTP-level.
    pub fn render(
        &self,
        denial: &Denial,
        mcp: Option<&McpRequest<'_>>,
        token_present: bool,
        resource_metadata: &str,
    ) -> Option<RenderedDenial> {
        let mcp = mcp.filter(|m| m.messages().iter().any(|m| m.method.is_some()))?;
        let body = if self.authsec_profile {
            if !token_present || !authsec_inband_code(denial.code()) {
                return None;
            }
            authsec_body(denial, mcp)
        } else {
            let delivery = match denial.code() {
                DenialCode::PolicyDenied => self.policy_denied,
                DenialCode::QuotaExceeded => self.quota_exceeded,
                _ => Delivery::Http,
            };
            if delivery == Delivery::Http {
                return None;
            }
            generic_body(denial, mcp, delivery, resource_metadata)
        };
        Some(RenderedDenial {
            status: 200,
            www_authenticate: None,
            retry_after: None,
            content_type: INBAND_CONTENT_TYPE,
            body,
        })
    }
}

impl DenialDelivery {
    /// The AuthSec profile's handshake pass-through: a JSON-RPC body whose every message is
    /// `initialize`, `notifications/initialized` or `ping`, sent with a token that failed
    /// validation, reaches the handler without a principal (so a session survives a token's
    /// expiry, as with the family's SDKs). Never without a token, never outside the profile.
    pub fn passes_handshake(
        &self,
        denial: &Denial,
        mcp: Option<&McpRequest<'_>>,
        token_present: bool,
    ) -> bool {
        self.authsec_profile
            && token_present
            && matches!(
                denial.code(),
                DenialCode::InvalidToken | DenialCode::InvalidAudience | DenialCode::TokenRevoked
            )
            && mcp.is_some_and(|mcp| {
                mcp.messages().iter().all(|message| {
                    matches!(
                        message.method.as_deref(),
                        Some("initialize" | "notifications/initialized" | "ping")
                    )
                })
            })
    }
}

/// The denials the AuthSec profile delivers in-band (those of a request with a token).
fn authsec_inband_code(code: DenialCode) -> bool {
    matches!(
        code,
        DenialCode::InvalidToken
            | DenialCode::InvalidAudience
            | DenialCode::TokenRevoked
            | DenialCode::ScopeInsufficient
            | DenialCode::StepUpRequired
            | DenialCode::PolicyDenied
            | DenialCode::QuotaExceeded
    )
}

/// The request id to echo: a string, number or `null` as sent; anything else (or none) `null`.
fn echo_id(id: Option<JsonText<'_>>) -> &str {
    match id.map(|raw| raw.get().trim()) {
        Some(raw)
            if raw == "null"
                || raw.starts_with('"')
                || raw.starts_with('-')
                || raw.starts_with(|c: char| c.is_ascii_digit()) =>
        {
            raw
        }
        _ => "null",
    }
}

/// One answer per envelope: an array for a batch, the single answer otherwise.
fn envelope(mcp: &McpRequest<'_>, mut answer: impl FnMut(&McpMessage<'_>) -> String) -> String {
    let answers: Vec<String> = mcp.messages().iter().map(&mut answer).collect();
    if mcp.is_batch() {
        format!("[{}]", answers.join(","))
    } else {
        answers.into_iter().next().unwrap_or_default()
    }
}

fn quoted(text: &str) -> String {
    Value::from(text).to_string()
}

fn quoted_list(items: &[String]) -> String {
    Value::from(items.to_vec()).to_string()
}

/// The family's `error` value for a denial.
fn authsec_error(code: DenialCode) -> &'static str {
    match code {
        DenialCode::InvalidAudience => "invalid_audience",
        DenialCode::TokenRevoked => "invalid_token",
        other => other.oauth_error().unwrap_or(other.as_str()),
    }
}

/// The family's status of a denial: 403 for scope and policy, 429 for quota, else 401.
fn authsec_status(code: DenialCode) -> u16 {
    code.status()
}

/// The friendly message shown to the model and the user.
fn friendly_message(denial: &Denial) -> String {
    let subject = match denial.tool() {
        Some(tool) => format!("Tool '{tool}' cannot be called with this token."),
        None => "This action cannot be performed with this token.".to_owned(),
    };
    match denial.code() {
        DenialCode::ScopeInsufficient => {
            let required = if denial.required_scopes().is_empty() {
                "(unknown)".to_owned()
            } else {
                denial.required_scopes().join(", ")
            };
            let granted = if denial.granted_scopes().is_empty() {
                "Your token does not include the required scope.".to_owned()
            } else {
                format!("Your token has: {}.", denial.granted_scopes().join(", "))
            };
            format!(
                "{subject} Required scope: {required}. {granted} Ask an admin to grant the required scope to your role, or use a different tool."
            )
        }
        DenialCode::PolicyDenied => format!("{subject} {}", denial.description()),
        DenialCode::QuotaExceeded => format!(
            "The quota for this operation is exhausted. Retry after {} seconds.",
            denial.retry_after().unwrap_or(1)
        ),
        DenialCode::StepUpRequired => {
            "A stronger or more recent sign-in is required. The user needs to sign in again."
                .to_owned()
        }
        _ => match denial.reason() {
            Some("token_revoked") => {
                "Access has been revoked. The user needs to re-authenticate to get a new token."
                    .to_owned()
            }
            Some("client_registration_revoked") => "This client's registration has been revoked by an admin. Re-authentication will not help \u{2014} contact the workspace admin.".to_owned(),
            _ => "Token is invalid or expired. The user needs to sign in again.".to_owned(),
        },
    }
}

/// The AuthSec profile's body (§6.5 of the family's specification).
fn authsec_body(denial: &Denial, mcp: &McpRequest<'_>) -> String {
    let code = denial.code();
    let status = authsec_status(code);
    let message = quoted(&friendly_message(denial));
    let mut head = String::new();
    let _ = write!(
        head,
        r#""error":{},"status":{status},"error_description":{}"#,
        quoted(authsec_error(code)),
        quoted(denial.description())
    );
    let required = (!denial.required_scopes().is_empty()).then(|| {
        format!(
            r#","required_scopes":{}"#,
            quoted_list(denial.required_scopes())
        )
    });
    let tool = denial.tool().map(|t| format!(r#","tool":{}"#, quoted(t)));
    let tool_form = mcp.tool_calls().next().is_some();
    envelope(mcp, |message_| {
        let id = echo_id(message_.id);
        if tool_form {
            let mut meta = head.clone();
            meta.push_str(required.as_deref().unwrap_or(""));
            if !denial.granted_scopes().is_empty() {
                let _ = write!(
                    meta,
                    r#","granted_scopes":{}"#,
                    quoted_list(denial.granted_scopes())
                );
            }
            meta.push_str(tool.as_deref().unwrap_or(""));
            if status == 401
                && let Some(reason) = denial.reason()
            {
                let _ = write!(meta, r#","reason":{}"#, quoted(reason));
            }
            format!(
                r#"{{"jsonrpc":"2.0","id":{id},"result":{{"content":[{{"type":"text","text":{message}}}],"isError":true,"_meta":{{"authsec":{{{meta}}}}}}}}}"#
            )
        } else {
            let rpc_code = if status == 403 { -32003 } else { -32001 };
            let mut data = head.clone();
            data.push_str(required.as_deref().unwrap_or(""));
            data.push_str(tool.as_deref().unwrap_or(""));
            format!(
                r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":{rpc_code},"message":{message},"data":{{"authsec":{{{data}}}}}}}}}"#
            )
        }
    })
}

/// The per-class body of issue #8's generic mode.
fn generic_body(
    denial: &Denial,
    mcp: &McpRequest<'_>,
    delivery: Delivery,
    resource_metadata: &str,
) -> String {
    let error = denial.to_jsonrpc_error(resource_metadata);
    envelope(mcp, |message| {
        let id: Value = serde_json::from_str(echo_id(message.id)).unwrap_or(Value::Null);
        let answer = if delivery == Delivery::ToolResult && message.is_tool_call() {
            json!({
                "jsonrpc": "2.0",
                "id": id,
                "result": {
                    "content": [{"type": "text", "text": format!(
                        "Denied ({}): {}", denial.code(), denial.description()
                    )}],
                    "isError": true,
                    "_meta": {"authsec": error["data"].clone()},
                },
            })
        } else {
            json!({"jsonrpc": "2.0", "id": id, "error": error.clone()})
        };
        answer.to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::{McpHeaders, classify};

    const PRM: &str = "https://h/.well-known/oauth-protected-resource/mcp";

    fn render(delivery: DenialDelivery, denial: &Denial, body: &str) -> Option<RenderedDenial> {
        let mcp = classify(body.as_bytes(), McpHeaders::default()).unwrap();
        delivery.render(denial, Some(&mcp), true, PRM)
    }

    const CALL: &str =
        r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"write"}}"#;

    #[test]
    fn authsec_scope_denial_of_a_tool_call_is_a_tool_error_with_meta() {
        let denial = Denial::scope_insufficient(["my:read"], ["my:write"]).with_tool("write");
        let rendered = render(DenialDelivery::authsec_inband(), &denial, CALL).unwrap();
        assert_eq!(rendered.status, 200);
        assert_eq!(rendered.content_type, INBAND_CONTENT_TYPE);
        assert_eq!(rendered.www_authenticate, None);
        assert_eq!(
            rendered.body,
            r#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"Tool 'write' cannot be called with this token. Required scope: my:write. Your token has: my:read. Ask an admin to grant the required scope to your role, or use a different tool."}],"isError":true,"_meta":{"authsec":{"error":"insufficient_scope","status":403,"error_description":"Tool \"write\" requires scope: my:write. Your token has: my:read. Ask an AuthSec admin to grant the missing scope, or use a tool that fits your current scopes.","required_scopes":["my:write"],"granted_scopes":["my:read"],"tool":"write"}}}}"#
        );
    }

    #[test]
    fn authsec_token_denial_of_another_method_is_a_32001_error_without_reason() {
        let denial = Denial::invalid_token("the token has expired");
        let body = r#"{"jsonrpc":"2.0","id":"a","method":"tools/list"}"#;
        let rendered = render(DenialDelivery::authsec_inband(), &denial, body).unwrap();
        assert_eq!(
            rendered.body,
            r#"{"jsonrpc":"2.0","id":"a","error":{"code":-32001,"message":"Token is invalid or expired. The user needs to sign in again.","data":{"authsec":{"error":"invalid_token","status":401,"error_description":"the token has expired"}}}}"#
        );
        let tool = render(DenialDelivery::authsec_inband(), &denial, CALL).unwrap();
        assert!(
            tool.body.ends_with(
                r#""error_description":"the token has expired","reason":"token_expired"}}}}"#
            ),
            "{}",
            tool.body
        );
    }

    #[test]
    fn authsec_unmapped_tool_is_an_insufficient_scope_tool_error_with_the_placeholder() {
        let profile = DenialDelivery::authsec_inband();
        let decided = Denial::policy_denied("not in the manifest").with_tool("write");
        let wire = profile.wire_denial(&decided, true, None, None);
        let rendered = render(profile, &wire, CALL).unwrap();
        assert_eq!(
            rendered.body,
            r#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"Tool 'write' cannot be called with this token. Required scope: <no scope mapping for tool \"write\">. Your token does not include the required scope. Ask an admin to grant the required scope to your role, or use a different tool."}],"isError":true,"_meta":{"authsec":{"error":"insufficient_scope","status":403,"error_description":"Tool \"write\" requires scope: <no scope mapping for tool \"write\">. Your token does not include this scope. Ask an AuthSec admin to grant it, or use a tool that fits your current scopes.","required_scopes":["<no scope mapping for tool \"write\">"],"tool":"write"}}}}"#
        );
        // Another policy denial keeps its code, in the family's form.
        let other = profile.wire_denial(&decided, false, None, Some("Notes"));
        assert_eq!(other.code(), DenialCode::PolicyDenied);
        assert_eq!(other.form(), DenialForm::AuthsecFamily);
        assert_eq!(
            profile
                .wire_denial(&Denial::missing_token(), false, None, Some("Notes"))
                .www_authenticate(PRM)
                .unwrap(),
            format!(
                "Bearer realm=\"Notes\", error=\"invalid_token\", error_description=\"missing bearer token\", resource_metadata=\"{PRM}\""
            )
        );
        // Outside the profile nothing changes.
        let http = DenialDelivery::http().wire_denial(&decided, true, None, Some("Notes"));
        assert_eq!(*http, decided);
        assert_eq!(http.form(), DenialForm::Spec);
    }

    #[test]
    fn authsec_batch_gets_one_answer_per_envelope_and_odd_ids_become_null() {
        let denial = Denial::token_revoked();
        let body = r#"[{"jsonrpc":"2.0","id":{"x":1},"method":"ping"},{"jsonrpc":"2.0","method":"notifications/initialized"}]"#;
        let rendered = render(DenialDelivery::authsec_inband(), &denial, body).unwrap();
        let error = r#"{"code":-32001,"message":"Access has been revoked. The user needs to re-authenticate to get a new token.","data":{"authsec":{"error":"invalid_token","status":401,"error_description":"the access token is not active"}}}"#;
        assert_eq!(
            rendered.body,
            format!(
                r#"[{{"jsonrpc":"2.0","id":null,"error":{error}}},{{"jsonrpc":"2.0","id":null,"error":{error}}}]"#
            )
        );
    }

    #[test]
    fn authsec_profile_keeps_http_for_no_token_bad_requests_and_outages() {
        let mcp = classify(CALL.as_bytes(), McpHeaders::default()).unwrap();
        let profile = DenialDelivery::authsec_inband();
        assert_eq!(
            profile.render(&Denial::invalid_token("x"), Some(&mcp), false, PRM),
            None
        );
        for denial in [
            Denial::missing_token(),
            Denial::invalid_request("x"),
            Denial::authorization_unavailable("x"),
            Denial::session_mismatch(),
        ] {
            assert_eq!(profile.render(&denial, Some(&mcp), true, PRM), None);
        }
        assert_eq!(
            profile.render(&Denial::invalid_token("x"), None, true, PRM),
            None
        );
    }

    #[test]
    fn generic_mode_delivers_only_the_configured_classes() {
        let delivery = DenialDelivery::http()
            .policy_denied(Delivery::ToolResult)
            .quota_exceeded(Delivery::JsonRpcError);
        let policy = Denial::policy_denied("not on weekends");
        assert_eq!(
            render(delivery, &policy, CALL).unwrap().body,
            r#"{"id":7,"jsonrpc":"2.0","result":{"_meta":{"authsec":{"denial":"policy_denied","error":"policy_denied","error_description":"not on weekends","resource_metadata":"https://h/.well-known/oauth-protected-resource/mcp"}},"content":[{"text":"Denied (policy_denied): not on weekends","type":"text"}],"isError":true}}"#
        );
        let quota = Denial::quota_exceeded(30);
        assert_eq!(
            render(delivery, &quota, CALL).unwrap().body,
            r#"{"error":{"code":-31009,"data":{"denial":"quota_exceeded","error":"quota_exceeded","error_description":"the quota for this operation is exhausted","resource_metadata":"https://h/.well-known/oauth-protected-resource/mcp","retry_after":30},"message":"the quota for this operation is exhausted"},"id":7,"jsonrpc":"2.0"}"#
        );
        let scope = Denial::scope_insufficient(["a"], ["b"]);
        assert_eq!(
            render(delivery, &scope, CALL),
            None,
            "remediable stays HTTP"
        );
        assert_eq!(render(DenialDelivery::http(), &policy, CALL), None);
    }
}
