//! Who is calling: verified claims, and the [`Principal`] handed to handlers.

use std::fmt;
use std::sync::{Arc, OnceLock};

use serde_json::{Map, Value};
#[cfg(not(feature = "aws-lc-rs"))]
use sha2::{Digest, Sha256};

use crate::payload::{self, Audience, Date, Found, Registered};
use crate::scope::ScopeSet;

/// Where verified claims came from.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenSource {
    /// A JWT access token whose signature and claims were checked locally.
    Jwt,
    /// An RFC 7662 introspection response (`active: true`).
    Introspection,
}

/// The claims of a token that passed check 1 (signature and expiry), in the shape the rest of
/// the pipeline reads. Produced by a [`TokenVerifier`](crate::TokenVerifier).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Claims {
    /// `iss`.
    pub issuer: Option<String>,
    /// `sub`.
    pub subject: Option<String>,
    /// `aud`, a string or an array, as a list.
    pub audience: Vec<String>,
    /// `exp` (seconds since the epoch).
    pub expires_at: Option<u64>,
    /// `nbf`.
    pub not_before: Option<u64>,
    /// `iat`.
    pub issued_at: Option<u64>,
    /// `client_id` (RFC 9068), or `azp` when `client_id` is absent.
    pub client_id: Option<String>,
    /// `scope`, or `scp`.
    pub scopes: ScopeSet,
    /// `acr`.
    pub acr: Option<String>,
    /// `amr`.
    pub amr: Vec<String>,
    /// `auth_time`.
    pub auth_time: Option<u64>,
    /// `jti`.
    pub jwt_id: Option<String>,
    /// Where the claims came from.
    pub source: TokenSource,
    /// Every claim, as received: see [`Claims::raw`].
    raw: RawClaims,
}

/// Every claim of a token: a map from the start (introspection), or the verified JWT payload,
/// parsed into a map the first time someone asks (most requests only need the registered
/// claims above, which are read without building it).
#[derive(Clone, Debug)]
struct RawClaims {
    payload: Option<Box<[u8]>>,
    map: OnceLock<Map<String, Value>>,
}

impl Claims {
    /// Reads the registered claims out of a JSON object (a JWT payload or an introspection
    /// response). Wrongly typed registered claims are an error naming the claim.
    pub fn from_map(raw: Map<String, Value>, source: TokenSource) -> Result<Self, String> {
        let string = |name: &str| match raw.get(name) {
            None | Some(Value::Null) => Found::Absent,
            Some(Value::String(s)) => Found::Value(s.clone()),
            Some(_) => Found::WrongType,
        };
        let date = |name: &str| match raw.get(name) {
            None | Some(Value::Null) => Found::Absent,
            Some(Value::Number(n)) => Found::Value(match (n.as_u64(), n.as_f64()) {
                (Some(v), _) => Date::Valid(v),
                // Truncation and saturation are intended for fractional and huge dates.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                (None, Some(f)) if f.is_finite() && f >= 0.0 => Date::Valid(f as u64),
                _ => Date::Invalid,
            }),
            Some(_) => Found::WrongType,
        };
        let registered = Registered {
            iss: string("iss"),
            sub: string("sub"),
            aud: match raw.get("aud") {
                None | Some(Value::Null) => Audience::Absent,
                Some(Value::String(s)) => Audience::List(vec![s.clone()]),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|v| v.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
                    .map_or(Audience::NonStringItem, Audience::List),
                Some(_) => Audience::WrongType,
            },
            exp: date("exp"),
            nbf: date("nbf"),
            iat: date("iat"),
            client_id: string("client_id"),
            azp: string("azp"),
            scope: raw.get("scope").map(ScopeSet::from_claim),
            scp: raw.get("scp").map(ScopeSet::from_claim),
            acr: string("acr"),
            amr: raw
                .get("amr")
                .cloned()
                .map(payload::amr)
                .unwrap_or_default(),
            auth_time: date("auth_time"),
            jti: string("jti"),
        };
        let raw = RawClaims {
            payload: None,
            map: OnceLock::from(raw),
        };
        Claims::from_registered(registered, source, raw)
    }

    /// Reads the registered claims out of a JSON object's text (a verified JWT payload, an
    /// introspection response) in one pass; the other claims stay unparsed until
    /// [`raw`](Self::raw) is called. Cheaper to build and to keep in the verified-token cache than
    /// [`from_map`](Self::from_map), so the one for a custom [`TokenVerifier`](crate::TokenVerifier)
    /// that has the payload's bytes. Accepts and refuses exactly what `from_map` of the parsed
    /// object would.
    pub fn from_json(json: Vec<u8>, source: TokenSource) -> Result<Self, String> {
        Claims::from_object_text(json, source)
            .map_err(|error| error.unwrap_or_else(|| "the claims are not a JSON object".to_owned()))
    }

    /// A verified JWT payload ([`from_json`](Self::from_json)). `Err(None)`: the payload is not
    /// a JSON object.
    pub(crate) fn from_jwt_payload(payload: Vec<u8>) -> Result<Self, Option<String>> {
        Claims::from_object_text(payload, TokenSource::Jwt)
    }

    fn from_object_text(json: Vec<u8>, source: TokenSource) -> Result<Self, Option<String>> {
        let registered = payload::registered(&json).map_err(|_| None)?;
        let raw = RawClaims {
            payload: Some(json.into_boxed_slice()),
            map: OnceLock::new(),
        };
        Claims::from_registered(registered, source, raw).map_err(Some)
    }

    /// The checks and error messages of both ways in, in one order.
    fn from_registered(
        claims: Registered,
        source: TokenSource,
        raw: RawClaims,
    ) -> Result<Self, String> {
        let string = |name: &str, found: Found<String>| match found {
            Found::Absent => Ok(None),
            Found::Value(text) => Ok(Some(text)),
            Found::WrongType => Err(format!("the {name} claim is not a string")),
        };
        let date = |name: &str, found: Found<Date>| match found {
            Found::Absent => Ok(None),
            Found::Value(Date::Valid(seconds)) => Ok(Some(seconds)),
            Found::Value(Date::Invalid) => {
                Err(format!("the {name} claim is not a valid NumericDate"))
            }
            Found::WrongType => Err(format!("the {name} claim is not a NumericDate")),
        };
        let audience = match claims.aud {
            Audience::Absent => Vec::new(),
            Audience::List(list) => list,
            Audience::NonStringItem => {
                return Err("the aud claim holds a value that is not a string".into());
            }
            Audience::WrongType => {
                return Err("the aud claim is neither a string nor an array".into());
            }
        };
        let scopes = claims.scope.or(claims.scp).unwrap_or_default();
        let amr = claims.amr;
        Ok(Claims {
            issuer: string("iss", claims.iss)?,
            subject: string("sub", claims.sub)?,
            audience,
            expires_at: date("exp", claims.exp)?,
            not_before: date("nbf", claims.nbf)?,
            issued_at: date("iat", claims.iat)?,
            client_id: match string("client_id", claims.client_id)? {
                Some(id) => Some(id),
                None => string("azp", claims.azp)?,
            },
            scopes,
            acr: string("acr", claims.acr)?,
            amr,
            auth_time: date("auth_time", claims.auth_time)?,
            jwt_id: string("jti", claims.jti)?,
            source,
            raw,
        })
    }

    /// Every claim, as received (registered ones included). For a JWT, the verified payload is
    /// parsed into this map on the first call (it was checked to parse when it was verified).
    pub fn raw(&self) -> &Map<String, Value> {
        self.raw.map.get_or_init(|| {
            self.raw
                .payload
                .as_deref()
                .and_then(|payload| serde_json::from_slice(payload).ok())
                .unwrap_or_default()
        })
    }
}

/// The caller of an allowed request: read it from the request extensions in handlers and tools.
///
/// Cheap to clone (one reference count).
#[derive(Clone)]
pub struct Principal {
    inner: Arc<PrincipalInner>,
}

struct PrincipalInner {
    claims: Claims,
    /// Kept privately, only to compute the fingerprint the first time someone asks for it (a
    /// log line, an audit event): hashing a kilobyte-long token costs microseconds that a
    /// request nobody logs should not pay. There is no accessor, and `Debug` shows the
    /// fingerprint only. The verified-token cache shares this allocation as its key.
    token: Arc<str>,
    fingerprint: OnceLock<String>,
}

impl Principal {
    /// Wraps verified claims for `token` (used only for [`token_fingerprint`](Self::token_fingerprint)).
    pub fn new(claims: Claims, token: &str) -> Self {
        Principal::with_token(claims, Arc::from(token))
    }

    /// [`Principal::new`] sharing the token's allocation with the caller (the token cache).
    pub(crate) fn with_token(claims: Claims, token: Arc<str>) -> Self {
        Principal {
            inner: Arc::new(PrincipalInner {
                claims,
                token,
                fingerprint: OnceLock::new(),
            }),
        }
    }

    /// `sub`, else `client_id` (client-credentials tokens), else empty.
    pub fn subject(&self) -> &str {
        let claims = &self.inner.claims;
        claims
            .subject
            .as_deref()
            .or(claims.client_id.as_deref())
            .unwrap_or("")
    }

    /// The OAuth client the token was issued to.
    pub fn client_id(&self) -> Option<&str> {
        self.inner.claims.client_id.as_deref()
    }

    /// The granted scopes.
    pub fn scopes(&self) -> &ScopeSet {
        &self.inner.claims.scopes
    }

    /// `acr`.
    pub fn acr(&self) -> Option<&str> {
        self.inner.claims.acr.as_deref()
    }

    /// `amr`.
    pub fn amr(&self) -> &[String] {
        &self.inner.claims.amr
    }

    /// `auth_time` (seconds since the epoch).
    pub fn auth_time(&self) -> Option<u64> {
        self.inner.claims.auth_time
    }

    /// `exp` (seconds since the epoch).
    pub fn expires_at(&self) -> Option<u64> {
        self.inner.claims.expires_at
    }

    /// `iss`.
    pub fn issuer(&self) -> Option<&str> {
        self.inner.claims.issuer.as_deref()
    }

    /// A short, non-reversible fingerprint of the token (first 12 hex digits of its SHA-256),
    /// safe for logs. Computed on first use, then kept.
    pub fn token_fingerprint(&self) -> &str {
        self.inner
            .fingerprint
            .get_or_init(|| fingerprint(&self.inner.token))
    }

    /// A claim by name, as received.
    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.inner.claims.raw().get(name)
    }

    /// All verified claims.
    pub fn claims(&self) -> &Claims {
        &self.inner.claims
    }
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Principal")
            .field("subject", &self.subject())
            .field("client_id", &self.client_id())
            .field("scopes", &self.scopes().to_string())
            .field("token", &self.token_fingerprint())
            .finish()
    }
}

/// A short fingerprint of a token for logs: never the token itself.
pub fn fingerprint(token: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    // Computed once per new token, over the whole token (about a kilobyte): aws-lc's assembly
    // SHA-256 takes half the time of the portable one on CPUs without SHA extensions.
    #[cfg(feature = "aws-lc-rs")]
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    #[cfg(not(feature = "aws-lc-rs"))]
    let digest = Sha256::digest(token.as_bytes());
    let mut out = String::with_capacity(12);
    let digest: &[u8] = digest.as_ref();
    for &byte in &digest[..6] {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    #[test]
    fn from_json_reads_what_from_map_reads_and_keeps_the_rest_for_raw() {
        let object = json!({"iss": "https://as", "sub": "alice", "aud": ["https://h/mcp"],
            "exp": 1_900_000_000u64, "scope": "notes:read", "tenant": {"id": 7}});
        let text = object.to_string().into_bytes();
        let lazy = Claims::from_json(text, TokenSource::Introspection).unwrap();
        let eager = Claims::from_map(map(object.clone()), TokenSource::Introspection).unwrap();
        assert_eq!(lazy.subject, eager.subject);
        assert_eq!(lazy.audience, ["https://h/mcp"]);
        assert_eq!(lazy.expires_at, Some(1_900_000_000));
        assert_eq!(lazy.source, TokenSource::Introspection);
        assert_eq!(lazy.raw(), eager.raw());
        assert_eq!(lazy.raw().get("tenant"), Some(&json!({"id": 7})));
        assert_eq!(
            Claims::from_json(b"[1]".to_vec(), TokenSource::Jwt)
                .err()
                .as_deref(),
            Some("the claims are not a JSON object")
        );
        assert_eq!(
            Claims::from_json(br#"{"sub": 7}"#.to_vec(), TokenSource::Jwt).err(),
            Claims::from_map(map(json!({"sub": 7})), TokenSource::Jwt).err()
        );
    }

    #[test]
    fn reads_registered_claims() {
        let claims = Claims::from_map(
            map(
                json!({"iss":"i","sub":"alice","aud":["a","b"],"exp":10,"iat":1.5,
                       "scope":"x y","amr":["pwd","mfa"],"azp":"c"}),
            ),
            TokenSource::Jwt,
        )
        .unwrap();
        assert_eq!(claims.audience, ["a", "b"]);
        assert_eq!(claims.issued_at, Some(1));
        assert_eq!(claims.client_id.as_deref(), Some("c"));
        assert_eq!(claims.amr, ["pwd", "mfa"]);
        assert_eq!(claims.scopes.to_string(), "x y");
    }

    #[test]
    fn wrong_types_name_the_claim() {
        let err = Claims::from_map(map(json!({"exp":"soon"})), TokenSource::Jwt).unwrap_err();
        assert_eq!(err, "the exp claim is not a NumericDate");
        let err = Claims::from_map(map(json!({"aud":[1]})), TokenSource::Jwt).unwrap_err();
        assert_eq!(err, "the aud claim holds a value that is not a string");
    }

    #[test]
    fn fingerprint_is_the_first_12_hex_digits_of_sha256() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        assert_eq!(fingerprint("abc"), "ba7816bf8f01");
    }

    #[test]
    fn debug_shows_fingerprint_not_token() {
        let claims = Claims::from_map(map(json!({"sub":"alice"})), TokenSource::Jwt).unwrap();
        let principal = Principal::new(claims, "secret-token-value");
        let debug = format!("{principal:?}");
        assert!(!debug.contains("secret-token-value"));
        assert!(debug.contains(principal.token_fingerprint()));
        assert_eq!(principal.token_fingerprint().len(), 12);
    }
}
