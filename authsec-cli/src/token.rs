//! `authsec token inspect`: decode a JWT access token locally and run the four-claim checklist
//! (`iss`, `aud`, `exp`, `scope`) against the resource, issuer and tool it is meant for.
//!
//! Nothing here verifies the signature: the decode shows what the token *claims*, which is what
//! goes wrong in practice (wrong audience, wrong issuer, expired, missing scope). The output
//! says so on its first line.

use std::time::{SystemTime, UNIX_EPOCH};

use authsec_core::{Resource, ScopeSet, ToolManifest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::checklist::{Checklist, Item};

/// What to check the token against; each part is optional.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Expectations {
    /// The resource URI the token must be for (`aud`).
    pub resource: Option<String>,
    /// The issuer identifier the token must come from (`iss`).
    pub issuer: Option<String>,
    /// The tool the token should be able to call (its scopes, from `manifest`).
    pub tool: Option<String>,
    /// The manifest that says which scopes `tool` needs.
    pub manifest: Option<ToolManifest>,
    /// Now, in seconds since the epoch (default: the system clock).
    pub now: Option<u64>,
}

/// A JWT's decoded header and claims.
#[derive(Clone, Debug, PartialEq)]
pub struct Decoded {
    /// The JOSE header.
    pub header: Map<String, Value>,
    /// The claims.
    pub claims: Map<String, Value>,
}

impl Decoded {
    /// The granted scopes (`scope` string, or `scp` list).
    pub fn scopes(&self) -> ScopeSet {
        self.claims
            .get("scope")
            .or_else(|| self.claims.get("scp"))
            .map(ScopeSet::from_claim)
            .unwrap_or_default()
    }
}

/// Decodes a compact JWS without verifying it.
pub fn decode(token: &str) -> Result<Decoded, String> {
    let token = token.trim();
    let token = token
        .strip_prefix("Bearer ")
        .or_else(|| token.strip_prefix("bearer "))
        .unwrap_or(token);
    let parts: Vec<&str> = token.split('.').collect();
    match parts.len() {
        3 => {}
        5 => {
            return Err("this is an encrypted JWT (JWE): it cannot be read without the key".into());
        }
        _ => {
            return Err("not a JWT (it does not have three dot-separated parts): an opaque token can only be checked by the authorization server's introspection endpoint".into());
        }
    }
    let part = |index: usize, name: &str| -> Result<Map<String, Value>, String> {
        let bytes = URL_SAFE_NO_PAD
            .decode(parts[index].trim_end_matches('='))
            .map_err(|e| format!("the JWT {name} is not base64url: {e}"))?;
        match serde_json::from_slice(&bytes) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(format!("the JWT {name} is not a JSON object")),
            Err(e) => Err(format!("the JWT {name} is not JSON: {e}")),
        }
    };
    Ok(Decoded {
        header: part(0, "header")?,
        claims: part(1, "payload")?,
    })
}

/// Runs `authsec token inspect`.
pub fn inspect(token: &str, expect: &Expectations) -> Result<Checklist, String> {
    let decoded = decode(token)?;
    let now = expect.now.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    });
    let mut list = Checklist::new("authsec token inspect");
    list.preamble.push(
        "decoded locally: the signature is NOT verified, so this says what the token claims, not that it is genuine"
            .into(),
    );
    list.preamble.push(format!(
        "fingerprint {} (safe to log)",
        authsec_core::principal::fingerprint(token.trim())
    ));
    list.preamble
        .push(format!("header {}", Value::Object(decoded.header.clone())));
    for name in [
        "iss",
        "sub",
        "client_id",
        "aud",
        "scope",
        "exp",
        "iat",
        "acr",
        "amr",
    ] {
        if let Some(value) = decoded.claims.get(name) {
            list.preamble.push(format!("{name} {value}"));
        }
    }
    list.push(check_issuer(&decoded, expect.issuer.as_deref()));
    list.push(check_audience(&decoded, expect.resource.as_deref()));
    list.push(check_expiry(&decoded, now));
    list.push(check_scope(&decoded, expect));
    Ok(list)
}

fn check_issuer(decoded: &Decoded, expected: Option<&str>) -> Item {
    let found = decoded.claims.get("iss").and_then(Value::as_str);
    match (found, expected) {
        (None, _) => Item::fail(
            "iss: the token has no issuer",
            "authsec requires iss: configure the authorization server to issue RFC 9068 access tokens",
        ),
        (Some(found), None) => Item::skip(
            format!("iss is {found}"),
            "pass --issuer URL to compare it with the issuer the server trusts",
        ),
        (Some(found), Some(expected)) if found == expected => {
            Item::pass(format!("iss is {found}, the expected issuer"))
        }
        (Some(found), Some(expected)) => {
            let why = if found.trim_end_matches('/') == expected.trim_end_matches('/') {
                if found.ends_with('/') {
                    format!("iss has {found} with a trailing slash; the issuer is {expected}")
                } else {
                    format!("iss has {found} without the trailing slash of the issuer {expected}")
                }
            } else {
                format!("iss is {found}; the issuer is {expected}")
            };
            Item::fail(
                why,
                format!(
                    "issuers are compared byte for byte: configure the server with the issuer exactly as the token carries it ({found}), or get the token from {expected}"
                ),
            )
        }
    }
}

fn audiences(decoded: &Decoded) -> Vec<String> {
    match decoded.claims.get("aud") {
        Some(Value::String(aud)) => vec![aud.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

fn check_audience(decoded: &Decoded, resource: Option<&str>) -> Item {
    let audiences = audiences(decoded);
    let shown = audiences.join(", ");
    let Some(resource) = resource else {
        return if audiences.is_empty() {
            Item::fail(
                "aud: the token has no audience",
                "request the token with resource=<the server's resource URI> (RFC 8707)",
            )
        } else {
            Item::skip(
                format!("aud is {shown}"),
                "pass --resource URI to compare it with the server's resource",
            )
        };
    };
    if audiences.is_empty() {
        return Item::fail(
            format!("aud: the token has no audience; the resource is {resource}"),
            format!("request the token with resource={resource} (RFC 8707)"),
        );
    }
    let matches = |aud: &str| match Resource::parse(resource) {
        Ok(parsed) => parsed.matches_audience(aud),
        Err(_) => aud == resource,
    };
    if audiences.iter().any(|aud| matches(aud)) {
        return Item::pass(format!("aud includes {resource}"));
    }
    let resource_bare = resource.trim_end_matches('/');
    let why = audiences
        .iter()
        .find(|aud| aud.trim_end_matches('/') == resource_bare)
        .map(|aud| {
            if aud.ends_with('/') {
                format!("aud has {aud} with a trailing slash; the resource is {resource}")
            } else {
                format!("aud has {aud} without the trailing slash of the resource {resource}")
            }
        })
        .unwrap_or_else(|| format!("aud is {shown}; the resource is {resource}"));
    Item::fail(
        why,
        format!(
            "request the token with resource={resource} exactly as the server's metadata gives it (paths are compared exactly), or fix the server's resource URI"
        ),
    )
}

fn check_expiry(decoded: &Decoded, now: u64) -> Item {
    let Some(exp) = decoded.claims.get("exp").and_then(Value::as_u64) else {
        return Item::fail(
            "exp: the token has no expiry",
            "authsec requires exp: configure the authorization server to set it",
        );
    };
    if exp > now {
        Item::pass(format!("exp: valid for {} more", duration(exp - now)))
    } else {
        Item::fail(
            format!("exp: expired {} ago", duration(now - exp)),
            "get a new token (refresh it, or log in again)",
        )
    }
}

fn check_scope(decoded: &Decoded, expect: &Expectations) -> Item {
    let granted = decoded.scopes();
    let shown = if granted.is_empty() {
        "(none)".to_owned()
    } else {
        granted.to_string()
    };
    let Some(tool) = expect.tool.as_deref() else {
        return Item::skip(
            format!("scope is {shown}"),
            "pass --tool NAME and --manifest FILE to check the tool's scopes",
        );
    };
    let Some(manifest) = &expect.manifest else {
        return Item::skip(
            format!("scope is {shown}"),
            format!("pass --manifest FILE to know which scopes {tool} needs"),
        );
    };
    let Some(rule) = manifest.rule_for(tool) else {
        return Item::fail(
            format!(
                "scope: {tool} is not in the manifest, so every call to it is denied (policy_denied)"
            ),
            format!("add [tools.{tool}] with its scopes to the manifest"),
        );
    };
    if rule.is_satisfied_by(&granted) {
        return Item::pass(format!(
            "scope {shown} covers {tool} (needs {})",
            rule.scopes.join(" ")
        ));
    }
    let missing = rule.missing_from(&granted).join(" ");
    let wanted = if granted.is_empty() {
        missing.clone()
    } else {
        format!("{granted} {missing}")
    };
    Item::fail(
        format!("scope {shown} lacks {missing}, which {tool} needs"),
        format!(
            "request the token with scope=\"{wanted}\" (the server's 403 challenge asks for the same)"
        ),
    )
}

fn duration(seconds: u64) -> String {
    match seconds {
        s if s < 120 => format!("{s} s"),
        s if s < 2 * 3600 => format!("{} min", s / 60),
        s if s < 2 * 86400 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86400),
    }
}
