//! In-memory grant and token store: authorization codes, grants, refresh
//! tokens (rotating, with reuse detection), access tokens (RFC 9068 JWT or
//! opaque), introspection and revocation.

use std::collections::{HashMap, HashSet};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::config::{AccessTokenFormat, ClientRegistration};
use super::{DevIssuerError, Inner, jwt, lock, now};

/// A random URL-safe string with `bytes` bytes of entropy.
pub(crate) fn random_string(bytes: usize) -> Result<String, DevIssuerError> {
    let mut buf = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut buf)
        .map_err(|_| DevIssuerError::Crypto("random generator failed".into()))?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

/// The outcome of a (headless) login, carried from the code to the grant.
#[derive(Clone, Debug)]
pub(crate) struct Login {
    pub subject: String,
    pub scopes: Vec<String>,
    pub acr: Option<String>,
    pub amr: Option<Vec<String>>,
    pub auth_time: Option<i64>,
}

pub(crate) struct CodeRecord {
    pub client_id: String,
    pub redirect_uri: String,
    /// Whether `redirect_uri` was in the authorization request (then the
    /// token request must repeat it).
    pub redirect_uri_in_request: bool,
    pub code_challenge: String,
    pub resources: Vec<String>,
    pub login: Login,
    pub expires_at: i64,
}

pub(crate) struct Grant {
    pub login: Login,
    pub resources: Vec<String>,
    pub revoked: bool,
}

pub(crate) struct RefreshRecord {
    pub grant_id: u64,
    pub client_id: String,
    /// False once rotated or revoked; presenting it again is reuse.
    pub active: bool,
    pub expires_at: i64,
}

/// RFC 9068 access-token claims, in the order they are serialised.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: Value,
    pub client_id: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
}

pub(crate) struct AccessRecord {
    pub claims: AccessClaims,
    pub grant_id: Option<u64>,
    pub revoked: bool,
}

/// Everything the issuer remembers.
pub(crate) struct Store {
    pub clients: HashMap<String, ClientRegistration>,
    pub codes: HashMap<String, CodeRecord>,
    /// Redeemed (or burnt) codes and the grant they produced, for reuse
    /// detection.
    pub used_codes: HashMap<String, Option<u64>>,
    pub grants: HashMap<u64, Grant>,
    pub refresh_tokens: HashMap<String, RefreshRecord>,
    pub access_tokens: HashMap<String, AccessRecord>,
    pub revoked_jtis: HashSet<String>,
    next_grant_id: u64,
}

impl Store {
    pub(crate) fn new(clients: impl IntoIterator<Item = ClientRegistration>) -> Self {
        let mut store = Self {
            clients: HashMap::new(),
            codes: HashMap::new(),
            used_codes: HashMap::new(),
            grants: HashMap::new(),
            refresh_tokens: HashMap::new(),
            access_tokens: HashMap::new(),
            revoked_jtis: HashSet::new(),
            next_grant_id: 1,
        };
        for c in clients {
            store.register(c);
        }
        store
    }

    pub(crate) fn register(&mut self, client: ClientRegistration) {
        self.clients.insert(client.client_id.clone(), client);
    }

    pub(crate) fn new_grant(&mut self, grant: Grant) -> u64 {
        let id = self.next_grant_id;
        self.next_grant_id += 1;
        self.grants.insert(id, grant);
        id
    }

    /// Revokes a grant: its refresh tokens and access tokens die with it.
    pub(crate) fn revoke_grant(&mut self, grant_id: u64) {
        if let Some(g) = self.grants.get_mut(&grant_id) {
            g.revoked = true;
        }
        for r in self.refresh_tokens.values_mut() {
            if r.grant_id == grant_id {
                r.active = false;
            }
        }
        for a in self.access_tokens.values_mut() {
            if a.grant_id == Some(grant_id) {
                a.revoked = true;
            }
        }
    }

    /// Drops expired codes (called on every new code).
    pub(crate) fn purge_expired_codes(&mut self, now: i64) {
        self.codes.retain(|_, c| c.expires_at > now);
    }
}

/// What an access token is issued for.
pub(crate) struct AccessTokenRequest<'a> {
    pub client_id: &'a str,
    pub subject: &'a str,
    pub resources: &'a [String],
    pub scopes: &'a [String],
    pub acr: Option<&'a str>,
    pub amr: Option<&'a [String]>,
    pub auth_time: Option<i64>,
    pub grant_id: Option<u64>,
}

/// `aud` claim: a string for one audience, an array for several.
pub(crate) fn audience_value(resources: &[String]) -> Value {
    match resources {
        [one] => Value::String(one.clone()),
        many => Value::Array(many.iter().cloned().map(Value::String).collect()),
    }
}

/// Issues (and records) an access token. Returns the token and its
/// lifetime in seconds.
pub(crate) fn issue_access_token(
    inner: &Inner,
    req: &AccessTokenRequest<'_>,
) -> Result<(String, i64), DevIssuerError> {
    let iat = now();
    let lifetime = inner.access_token_lifetime();
    let claims = AccessClaims {
        iss: inner.issuer.clone(),
        sub: req.subject.to_owned(),
        aud: audience_value(req.resources),
        client_id: req.client_id.to_owned(),
        iat,
        exp: iat.saturating_add(lifetime),
        jti: random_string(16)?,
        scope: (!req.scopes.is_empty()).then(|| req.scopes.join(" ")),
        auth_time: req.auth_time,
        acr: req.acr.map(str::to_owned),
        amr: req.amr.map(<[String]>::to_vec),
    };
    let token = match inner.config.access_token_format {
        AccessTokenFormat::Opaque => random_string(32)?,
        AccessTokenFormat::Jwt => {
            let key = inner.keys().active();
            let mut header = Map::new();
            header.insert("alg".into(), key.alg().as_str().into());
            header.insert("typ".into(), "at+jwt".into());
            header.insert("kid".into(), key.kid().into());
            let Value::Object(claims_map) = serde_json::to_value(&claims)
                .map_err(|e| DevIssuerError::Crypto(format!("claims: {e}")))?
            else {
                return Err(DevIssuerError::Crypto("claims are not an object".into()));
            };
            jwt::assemble(&header, &claims_map, |input| key.sign(input))?
        }
    };
    lock(&inner.store).access_tokens.insert(
        token.clone(),
        AccessRecord {
            claims,
            grant_id: req.grant_id,
            revoked: false,
        },
    );
    Ok((token, lifetime))
}

/// Creates a refresh token for a grant.
pub(crate) fn issue_refresh_token(
    inner: &Inner,
    grant_id: u64,
    client_id: &str,
) -> Result<String, DevIssuerError> {
    let token = random_string(32)?;
    let lifetime = i64::try_from(inner.config.refresh_token_lifetime.as_secs()).unwrap_or(i64::MAX);
    lock(&inner.store).refresh_tokens.insert(
        token.clone(),
        RefreshRecord {
            grant_id,
            client_id: client_id.to_owned(),
            active: true,
            expires_at: now().saturating_add(lifetime),
        },
    );
    Ok(token)
}

const INTROSPECTED_CLAIMS: [&str; 12] = [
    "scope",
    "client_id",
    "sub",
    "aud",
    "iss",
    "exp",
    "iat",
    "nbf",
    "jti",
    "acr",
    "amr",
    "auth_time",
];

fn inactive() -> Value {
    json!({"active": false})
}

/// A JWT signed by one of the issuer's published keys (with the `alg` of
/// that key) and carrying `iss` = issuer: its claims, else `None`.
fn verified_issuer_jwt(inner: &Inner, token: &str) -> Option<Map<String, Value>> {
    let parsed = jwt::parse(token)?;
    let kid = parsed.header.get("kid")?.as_str()?;
    let alg = parsed.header.get("alg")?.as_str()?;
    let key = inner.keys().by_kid(kid)?;
    if key.alg().as_str() != alg || !key.verify(parsed.signing_input.as_bytes(), parsed.signature) {
        return None;
    }
    if parsed.claims.get("iss").and_then(Value::as_str) != Some(inner.issuer.as_str()) {
        return None;
    }
    Some(parsed.claims)
}

/// RFC 7662 introspection of `token`. Only access tokens are reported
/// active (refresh tokens are `{"active":false}`, so a resource server can
/// never accept one as a bearer token).
pub(crate) fn introspect(inner: &Inner, token: &str) -> Value {
    let t = now();
    let store = lock(&inner.store);
    if let Some(record) = store.access_tokens.get(token) {
        let grant_revoked = record
            .grant_id
            .and_then(|g| store.grants.get(&g))
            .is_some_and(|g| g.revoked);
        if record.revoked
            || grant_revoked
            || record.claims.exp <= t
            || store.revoked_jtis.contains(&record.claims.jti)
        {
            return inactive();
        }
        let Ok(Value::Object(mut out)) = serde_json::to_value(&record.claims) else {
            return inactive();
        };
        out.insert("active".into(), true.into());
        out.insert("token_type".into(), "Bearer".into());
        return Value::Object(out);
    }
    if store.refresh_tokens.contains_key(token) {
        return inactive();
    }
    let revoked_jtis = store.revoked_jtis.clone();
    drop(store);

    // Tokens minted with `DevIssuer::mint` are not recorded: accept them if
    // they verify against the published keys and are within their validity.
    let Some(claims) = verified_issuer_jwt(inner, token) else {
        return inactive();
    };
    let exp_ok = claims
        .get("exp")
        .and_then(Value::as_i64)
        .is_some_and(|exp| exp > t);
    let nbf_ok = claims
        .get("nbf")
        .is_none_or(|nbf| nbf.as_i64().is_some_and(|nbf| nbf <= t));
    let jti_ok = claims
        .get("jti")
        .and_then(Value::as_str)
        .is_none_or(|jti| !revoked_jtis.contains(jti));
    if !(exp_ok && nbf_ok && jti_ok) {
        return inactive();
    }
    let mut out = Map::new();
    out.insert("active".into(), true.into());
    for name in INTROSPECTED_CLAIMS {
        if let Some(v) = claims.get(name) {
            out.insert(name.into(), v.clone());
        }
    }
    out.insert("token_type".into(), "Bearer".into());
    Value::Object(out)
}

/// Revokes `token`. With `client_id`, only tokens issued to that client
/// are affected (RFC 7009 §2.1); `None` (library call) revokes anything.
/// Returns whether something was revoked.
pub(crate) fn revoke(inner: &Inner, token: &str, client_id: Option<&str>) -> bool {
    let owned_by = |owner: &str| client_id.is_none_or(|c| c == owner);
    let mut store = lock(&inner.store);
    if let Some(record) = store.access_tokens.get_mut(token) {
        if !owned_by(&record.claims.client_id) {
            return false;
        }
        record.revoked = true;
        let jti = record.claims.jti.clone();
        store.revoked_jtis.insert(jti);
        return true;
    }
    if let Some(record) = store.refresh_tokens.get(token) {
        if !owned_by(&record.client_id) {
            return false;
        }
        let grant_id = record.grant_id;
        store.revoke_grant(grant_id);
        return true;
    }
    drop(store);
    let Some(claims) = verified_issuer_jwt(inner, token) else {
        return false;
    };
    let owner = claims
        .get("client_id")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !owned_by(owner) {
        return false;
    }
    let Some(jti) = claims.get("jti").and_then(Value::as_str) else {
        return false;
    };
    lock(&inner.store).revoked_jtis.insert(jti.to_owned())
}
