//! A denial as the client receives it: read from the HTTP status, the `Bearer` challenge and the
//! JSON body, or from an in-band JSON-RPC error, into authsec-core's [`DenialCode`] vocabulary.
//!
//! The server side renders every denial from one table (`authsec_core::denial`); this module reads
//! them back with the same table, so a code never means two things.

use std::time::Duration;

use authsec_core::DenialCode;
use reqwest::header::{HeaderMap, RETRY_AFTER, WWW_AUTHENTICATE};
use serde_json::Value;

use crate::challenge::{Challenge, bearer_challenge};

/// A refusal received from a protected server, with what the client needs to act on it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerDenial {
    /// The denial code.
    pub code: DenialCode,
    /// The HTTP status (for in-band denials, the status the code has in the table).
    pub status: u16,
    /// The OAuth `error` value (challenge or body), if any.
    pub error: Option<String>,
    /// The human description (challenge `error_description`, body, or JSON-RPC `message`).
    pub description: Option<String>,
    /// The challenged `scope` (space-delimited).
    pub scope: Option<String>,
    /// Acceptable `acr` values for a step-up.
    pub acr_values: Vec<String>,
    /// Maximum authentication age for a step-up, seconds.
    pub max_age: Option<u64>,
    /// How long to wait before retrying.
    pub retry_after: Option<Duration>,
    /// The RFC 9728 metadata URL from the challenge or the body.
    pub resource_metadata: Option<String>,
    /// The `Bearer` challenge itself, when there was one.
    pub challenge: Option<Challenge>,
}

impl ServerDenial {
    fn bare(code: DenialCode, status: u16) -> Self {
        ServerDenial {
            code,
            status,
            error: None,
            description: None,
            scope: None,
            acr_values: Vec::new(),
            max_age: None,
            retry_after: None,
            resource_metadata: None,
            challenge: None,
        }
    }

    /// Reads a denial from an HTTP response's status, headers and (possibly empty) body.
    ///
    /// Returns `None` when the response is not a denial (2xx, or an error status that carries
    /// none of the denial signals, e.g. a plain 404 or 500).
    pub fn from_http(status: u16, headers: &HeaderMap, body: &[u8]) -> Option<Self> {
        let challenge = bearer_challenge(
            headers
                .get_all(WWW_AUTHENTICATE)
                .iter()
                .filter_map(|v| v.to_str().ok()),
        );
        let json: Option<Value> = serde_json::from_slice(body).ok();
        let json = json.as_ref().filter(|v| v.is_object());
        let labelled = json
            .and_then(|b| b.get("denial"))
            .and_then(Value::as_str)
            .and_then(DenialCode::from_label)
            // A label whose status disagrees with the response is not trusted over the status.
            .filter(|code| code.status() == status);
        let challenge_error = challenge.as_ref().and_then(|c| c.param("error"));
        let code = labelled.or(match (status, challenge_error) {
            (400, _) => Some(DenialCode::InvalidRequest),
            (401, None) => Some(DenialCode::MissingToken),
            (401 | 403, Some("insufficient_user_authentication")) => {
                Some(DenialCode::StepUpRequired)
            }
            (401 | 403, Some("insufficient_scope")) => Some(DenialCode::ScopeInsufficient),
            (401, Some(_)) => Some(DenialCode::InvalidToken),
            (403, _) => Some(DenialCode::PolicyDenied),
            (429, _) => Some(DenialCode::QuotaExceeded),
            (503, _) => Some(DenialCode::AuthorizationUnavailable),
            _ => None,
        })?;
        let mut denial = ServerDenial::bare(code, status);
        let body_str = |name: &str| {
            json.and_then(|b| b.get(name))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let from_challenge = |name: &str| {
            challenge
                .as_ref()
                .and_then(|c| c.param(name))
                .map(str::to_owned)
        };
        denial.error = from_challenge("error").or_else(|| body_str("error"));
        denial.description =
            from_challenge("error_description").or_else(|| body_str("error_description"));
        denial.scope = from_challenge("scope").or_else(|| body_str("scope"));
        denial.acr_values = from_challenge("acr_values")
            .or_else(|| body_str("acr_values"))
            .map(|v| v.split_ascii_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        denial.max_age = from_challenge("max_age")
            .and_then(|v| v.parse().ok())
            .or_else(|| json.and_then(|b| b.get("max_age")).and_then(Value::as_u64));
        denial.resource_metadata =
            from_challenge("resource_metadata").or_else(|| body_str("resource_metadata"));
        denial.retry_after = headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .or_else(|| {
                json.and_then(|b| b.get("retry_after"))
                    .and_then(Value::as_u64)
            })
            .map(Duration::from_secs);
        denial.challenge = challenge;
        Some(denial)
    }

    /// Reads an in-band denial from a JSON-RPC response (or a bare error object):
    ///
    /// - a JSON-RPC error whose code is one of authsec's -31001..-31011 (`data` = the JSON body);
    /// - a `tools/call` result with `isError: true` and `_meta.authsec` (authsec's tool-result
    ///   delivery, or the AuthSec SDK family's in-band profile);
    /// - a JSON-RPC error with `data.authsec` (the family's −32003 / −32001 profile).
    pub fn from_jsonrpc(message: &Value) -> Option<Self> {
        if let Some(meta) = message
            .pointer("/result/_meta/authsec")
            .filter(|_| message.pointer("/result/isError") == Some(&Value::Bool(true)))
        {
            return Self::from_authsec_object(meta);
        }
        if let Some(data) = message
            .pointer("/error/data/authsec")
            .or_else(|| message.pointer("/data/authsec"))
        {
            return Self::from_authsec_object(data);
        }
        Self::from_jsonrpc_error(message)
    }

    /// The `authsec` object of an in-band denial: `denial` (authsec's label) or `error` +
    /// `status` (the family's form).
    fn from_authsec_object(object: &Value) -> Option<Self> {
        let text = |name: &str| object.get(name).and_then(Value::as_str).map(str::to_owned);
        let error = text("error");
        let labelled = text("denial").and_then(|l| DenialCode::from_label(&l));
        let status = object
            .get("status")
            .and_then(Value::as_u64)
            .and_then(|s| u16::try_from(s).ok());
        let code = labelled.or_else(|| match (status, error.as_deref()) {
            (_, Some("insufficient_scope")) => Some(DenialCode::ScopeInsufficient),
            (_, Some("insufficient_user_authentication")) => Some(DenialCode::StepUpRequired),
            (_, Some("invalid_token")) => Some(DenialCode::InvalidToken),
            (_, Some(label)) if DenialCode::from_label(label).is_some() => {
                DenialCode::from_label(label)
            }
            (Some(401), _) => Some(DenialCode::InvalidToken),
            (Some(403), _) => Some(DenialCode::PolicyDenied),
            (Some(429), _) => Some(DenialCode::QuotaExceeded),
            (Some(503), _) => Some(DenialCode::AuthorizationUnavailable),
            _ => None,
        })?;
        let mut denial = ServerDenial::bare(code, status.unwrap_or(code.status()));
        denial.error = error;
        denial.description = text("error_description");
        denial.scope = text("scope").or_else(|| {
            object
                .get("required_scopes")
                .and_then(Value::as_array)
                .map(|scopes| {
                    scopes
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(" ")
                })
        });
        denial.acr_values = text("acr_values")
            .map(|v| v.split_ascii_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        denial.max_age = object.get("max_age").and_then(Value::as_u64);
        denial.retry_after = object
            .get("retry_after")
            .and_then(Value::as_u64)
            .map(Duration::from_secs);
        denial.resource_metadata = text("resource_metadata");
        Some(denial)
    }

    /// A JSON-RPC error object with one of authsec's codes.
    fn from_jsonrpc_error(message: &Value) -> Option<Self> {
        let error = message.get("error").unwrap_or(message);
        let number = error.get("code")?.as_i64()?;
        let code = DenialCode::ALL
            .into_iter()
            .find(|c| c.jsonrpc_code() == number)?;
        let mut denial = ServerDenial::bare(code, code.status());
        let data = error.get("data").filter(|d| d.is_object());
        let field = |name: &str| {
            data.and_then(|d| d.get(name))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        denial.error = field("error");
        denial.description = field("error_description").or_else(|| {
            error
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        denial.scope = field("scope");
        denial.acr_values = field("acr_values")
            .map(|v| v.split_ascii_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        denial.max_age = data.and_then(|d| d.get("max_age")).and_then(Value::as_u64);
        denial.retry_after = data
            .and_then(|d| d.get("retry_after"))
            .and_then(Value::as_u64)
            .map(Duration::from_secs);
        denial.resource_metadata = field("resource_metadata");
        Some(denial)
    }

    /// The challenged scopes, split.
    pub fn scopes(&self) -> Vec<&str> {
        self.scope
            .as_deref()
            .map(|s| s.split_ascii_whitespace().collect())
            .unwrap_or_default()
    }

    /// The description, or the code's default one.
    pub fn describe(&self) -> &str {
        self.description
            .as_deref()
            .unwrap_or(self.code.default_description())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use authsec_core::Denial;
    use reqwest::header::HeaderValue;

    const PRM: &str = "http://127.0.0.1:1/.well-known/oauth-protected-resource/mcp";

    /// Renders `denial` exactly as an authsec server does, then reads it back.
    fn round_trip(denial: &Denial) -> ServerDenial {
        let rendered = denial.render(PRM);
        let mut headers = HeaderMap::new();
        if let Some(c) = &rendered.www_authenticate {
            headers.insert(WWW_AUTHENTICATE, HeaderValue::from_str(c).unwrap());
        }
        if let Some(r) = &rendered.retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from_str(r).unwrap());
        }
        ServerDenial::from_http(rendered.status, &headers, rendered.body.as_bytes()).unwrap()
    }

    #[test]
    fn every_code_rendered_by_the_server_reads_back_as_itself() {
        let denials = [
            Denial::missing_token().with_scope("notes:read"),
            Denial::invalid_request("two credentials"),
            Denial::invalid_token("token expired"),
            Denial::invalid_audience("aud is https://other"),
            Denial::token_revoked(),
            Denial::scope_insufficient(["notes:read"], ["notes:write"]),
            Denial::step_up_required(["mfa"], Some(300)),
            Denial::policy_denied("outside office hours"),
            Denial::quota_exceeded(7),
            Denial::authorization_unavailable("introspection down"),
            Denial::session_mismatch(),
        ];
        for denial in &denials {
            let read = round_trip(denial);
            assert_eq!(read.code, denial.code(), "{denial}");
            assert_eq!(read.status, denial.status());
            assert_eq!(read.resource_metadata.as_deref(), Some(PRM));
            // Via JSON-RPC too.
            let inband = ServerDenial::from_jsonrpc(&denial.to_jsonrpc_error(PRM)).unwrap();
            assert_eq!(inband.code, denial.code());
        }
        let scope = round_trip(&denials[5]);
        assert_eq!(scope.scope.as_deref(), Some("notes:read notes:write"));
        assert_eq!(scope.error.as_deref(), Some("insufficient_scope"));
        let step_up = round_trip(&denials[6]);
        assert_eq!(step_up.acr_values, ["mfa"]);
        assert_eq!(step_up.max_age, Some(300));
        let quota = round_trip(&denials[8]);
        assert_eq!(quota.retry_after, Some(Duration::from_secs(7)));
        assert_eq!(round_trip(&denials[0]).scope.as_deref(), Some("notes:read"));
    }

    #[test]
    fn foreign_servers_are_read_from_status_and_challenge_alone() {
        let read = |status: u16, challenge: Option<&str>| {
            let mut headers = HeaderMap::new();
            if let Some(c) = challenge {
                headers.insert(WWW_AUTHENTICATE, HeaderValue::from_str(c).unwrap());
            }
            ServerDenial::from_http(status, &headers, b"").map(|d| d.code)
        };
        assert_eq!(
            read(401, Some(r#"Bearer resource_metadata="x""#)),
            Some(DenialCode::MissingToken)
        );
        assert_eq!(read(401, None), Some(DenialCode::MissingToken));
        assert_eq!(
            read(401, Some(r#"Bearer error="invalid_token""#)),
            Some(DenialCode::InvalidToken)
        );
        assert_eq!(
            read(403, Some(r#"Bearer error="insufficient_scope", scope="a""#)),
            Some(DenialCode::ScopeInsufficient)
        );
        assert_eq!(
            read(
                401,
                Some(r#"Bearer error="insufficient_user_authentication""#)
            ),
            Some(DenialCode::StepUpRequired)
        );
        assert_eq!(read(403, None), Some(DenialCode::PolicyDenied));
        assert_eq!(read(429, None), Some(DenialCode::QuotaExceeded));
        assert_eq!(read(503, None), Some(DenialCode::AuthorizationUnavailable));
        assert_eq!(read(200, None), None);
        assert_eq!(read(404, None), None);
        assert_eq!(read(500, None), None);
    }

    #[test]
    fn a_body_label_that_contradicts_the_status_is_ignored() {
        let body = br#"{"error":"x","denial":"policy_denied"}"#;
        let d = ServerDenial::from_http(401, &HeaderMap::new(), body).unwrap();
        assert_eq!(d.code, DenialCode::MissingToken);
    }

    #[test]
    fn in_band_tool_results_and_the_family_profile_are_read() {
        // authsec's tool-result delivery.
        let v: Value = serde_json::from_str(r#"{"id":7,"jsonrpc":"2.0","result":{"_meta":{"authsec":{"denial":"policy_denied","error":"policy_denied","error_description":"not on weekends","resource_metadata":"https://h/.well-known/oauth-protected-resource/mcp"}},"content":[{"text":"Denied (policy_denied): not on weekends","type":"text"}],"isError":true}}"#).unwrap();
        let d = ServerDenial::from_jsonrpc(&v).unwrap();
        assert_eq!(d.code, DenialCode::PolicyDenied);
        assert_eq!(d.describe(), "not on weekends");
        // The AuthSec family's profile: a tool result, and a JSON-RPC error.
        let v: Value = serde_json::from_str(r#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"x"}],"isError":true,"_meta":{"authsec":{"error":"insufficient_scope","status":403,"error_description":"y","required_scopes":["my:write"],"granted_scopes":["my:read"],"tool":"write"}}}}"#).unwrap();
        let d = ServerDenial::from_jsonrpc(&v).unwrap();
        assert_eq!(d.code, DenialCode::ScopeInsufficient);
        assert_eq!(d.scope.as_deref(), Some("my:write"));
        let v: Value = serde_json::from_str(r#"{"jsonrpc":"2.0","id":"a","error":{"code":-32001,"message":"m","data":{"authsec":{"error":"invalid_token","status":401,"error_description":"the token has expired"}}}}"#).unwrap();
        let d = ServerDenial::from_jsonrpc(&v).unwrap();
        assert_eq!(d.code, DenialCode::InvalidToken);
        assert_eq!(d.status, 401);
        // A tool result that is not an error is never a denial.
        let v: Value = serde_json::from_str(r#"{"jsonrpc":"2.0","id":1,"result":{"content":[],"_meta":{"authsec":{"denial":"policy_denied"}}}}"#).unwrap();
        assert_eq!(ServerDenial::from_jsonrpc(&v), None);
    }

    #[test]
    fn non_denial_jsonrpc_errors_are_not_denials() {
        let v = serde_json::json!({"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"x"}});
        assert_eq!(ServerDenial::from_jsonrpc(&v), None);
        assert_eq!(ServerDenial::from_jsonrpc(&serde_json::json!("x")), None);
        let v =
            serde_json::json!({"jsonrpc":"2.0","id":1,"error":{"code":-31008,"message":"nope"}});
        let d = ServerDenial::from_jsonrpc(&v).unwrap();
        assert_eq!(d.code, DenialCode::PolicyDenied);
        assert_eq!(d.describe(), "nope");
    }
}
