//! Minting helpers: tokens signed by the issuer's keys without HTTP, with
//! every claim and header settable, plus hostile variants for negative
//! tests of resource servers.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Map, Value};

use super::config::DEFAULT_PUBLIC_CLIENT_ID;
use super::keys::{PublicKeyFormat, SigningAlgorithm, SigningKey};
use super::tokens::random_string;
use super::{DevIssuerError, Inner, jwt, now};

/// Where a hostile token embeds the attacker's key (see
/// [`MintBuilder::embedded_key`]). In every case the token is signed by the
/// attacker's key, whose `kid` is not in the issuer's JWKS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EmbeddedKey {
    /// `jwk` header parameter: the attacker's public JWK inline.
    Jwk,
    /// `jku` header parameter pointing at a JWK Set URL (e.g.
    /// [`DevIssuer::attacker_jwks_url`](super::DevIssuer::attacker_jwks_url),
    /// which serves the attacker's keys and counts fetches).
    Jku(String),
    /// `x5u` header parameter pointing at an X.509 URL.
    X5u(String),
}

/// Malformed token shapes (see [`garbage_token`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GarbageToken {
    /// Three segments that are not base64url at all (`!!!.@@@.###`).
    NotBase64,
    /// Three base64url segments whose header and payload are not JSON.
    NotJson,
    /// Header and payload are JSON arrays/strings rather than objects.
    JsonNotObject,
    /// Valid-looking header and payload but only two segments.
    TwoSegments,
    /// Four segments.
    FourSegments,
    /// The empty string.
    Empty,
    /// Non-ASCII characters.
    NonAscii,
    /// Header and payload in standard (padded, `+/`) base64 instead of
    /// base64url.
    StandardBase64,
}

impl GarbageToken {
    /// Every garbage shape.
    pub const ALL: [GarbageToken; 8] = [
        Self::NotBase64,
        Self::NotJson,
        Self::JsonNotObject,
        Self::TwoSegments,
        Self::FourSegments,
        Self::Empty,
        Self::NonAscii,
        Self::StandardBase64,
    ];
}

/// A malformed bearer token of the given shape (no key involved).
pub fn garbage_token(kind: GarbageToken) -> String {
    let b64 = |s: &str| URL_SAFE_NO_PAD.encode(s);
    let header = b64(r#"{"alg":"RS256","typ":"at+jwt"}"#);
    let payload = b64(r#"{"sub":"alice"}"#);
    match kind {
        GarbageToken::NotBase64 => "!!!.@@@.###".to_owned(),
        GarbageToken::NotJson => format!(
            "{}.{}.{}",
            b64("not json"),
            b64("also {not json"),
            b64("sig")
        ),
        GarbageToken::JsonNotObject => {
            format!("{}.{}.{}", b64("[1,2]"), b64("\"alice\""), b64("sig"))
        }
        GarbageToken::TwoSegments => format!("{header}.{payload}"),
        GarbageToken::FourSegments => format!("{header}.{payload}.{}.{}", b64("sig"), b64("extra")),
        GarbageToken::Empty => String::new(),
        GarbageToken::NonAscii => "héader.päyload.sïg".to_owned(),
        GarbageToken::StandardBase64 => {
            // "?>" and "??" force '+' / '/' in the standard alphabet.
            let header = STANDARD.encode(r#"{"alg":"RS256","typ":"at+jwt","x":"?>?"}"#);
            let payload = STANDARD.encode(r#"{"sub":"alice?","p":"??"}"#);
            format!("{header}.{payload}.{}", STANDARD.encode("sig"))
        }
    }
}

#[derive(Clone, Debug)]
enum KeyChoice {
    Active,
    Alg(SigningAlgorithm),
    Kid(String),
}

#[derive(Clone, Debug)]
enum KidChoice {
    FromKey,
    Custom(String),
    Omit,
}

enum Finish {
    Genuine,
    Unsigned(String),
    Hs256WithPublicKey(PublicKeyFormat),
    ForeignKeyIssuerKid,
    ForeignKey,
    UnknownKid,
    Embedded(EmbeddedKey),
}

/// Builder for tokens signed by the dev issuer's keys, without HTTP.
///
/// Starts with the claims of an issued access token: `iss` = issuer,
/// `sub` = the default subject (`alice`), `aud` = the configured
/// `default_resource` (absent if none: set [`Self::aud`]), `client_id` =
/// `dev-client`, `iat` = now, `exp` = now + access-token lifetime, a random
/// `jti`, `auth_time` = now, `acr` = `pwd`, `amr` = `["pwd"]`, no `scope`;
/// header `alg` of the key, `typ: at+jwt`, `kid` of the key (the issuer's
/// active key unless [`Self::signing_alg`] / [`Self::signing_kid`]).
///
/// Finish with [`Self::sign`] for a genuine token, or with one of the
/// hostile finishers. Header parameters set with [`Self::header`] are
/// applied last and override everything, `alg` included (the signature is
/// still made with the chosen key's real algorithm).
#[derive(Clone)]
#[must_use]
pub struct MintBuilder {
    inner: Arc<Inner>,
    claims: Map<String, Value>,
    header_overrides: Vec<(String, Option<Value>)>,
    typ: Option<String>,
    kid: KidChoice,
    key: KeyChoice,
    pad_to: Option<usize>,
}

impl std::fmt::Debug for MintBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MintBuilder")
            .field("claims", &self.claims)
            .field("header_overrides", &self.header_overrides)
            .field("typ", &self.typ)
            .field("kid", &self.kid)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

fn or_panic(result: Result<String, DevIssuerError>) -> String {
    match result {
        Ok(token) => token,
        Err(e) => panic!("dev issuer mint failed: {e}"),
    }
}

impl MintBuilder {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        let t = now();
        let mut claims = Map::new();
        claims.insert("iss".into(), inner.issuer.clone().into());
        claims.insert("sub".into(), inner.config.default_subject.clone().into());
        if let Some(aud) = &inner.config.default_resource {
            claims.insert("aud".into(), aud.clone().into());
        }
        claims.insert("client_id".into(), DEFAULT_PUBLIC_CLIENT_ID.into());
        claims.insert("iat".into(), t.into());
        claims.insert(
            "exp".into(),
            t.saturating_add(inner.access_token_lifetime()).into(),
        );
        // A collision-free jti even if the RNG failed (it does not).
        let jti = random_string(16).unwrap_or_else(|_| format!("jti-{t}"));
        claims.insert("jti".into(), jti.into());
        claims.insert("auth_time".into(), t.into());
        claims.insert("acr".into(), "pwd".into());
        claims.insert("amr".into(), Value::Array(vec!["pwd".into()]));
        Self {
            inner,
            claims,
            header_overrides: Vec::new(),
            typ: Some("at+jwt".into()),
            kid: KidChoice::FromKey,
            key: KeyChoice::Active,
            pad_to: None,
        }
    }

    // ----- claims -------------------------------------------------------------

    /// Sets any claim.
    pub fn claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.claims.insert(name.into(), value.into());
        self
    }

    /// Removes a claim (e.g. `without("exp")`).
    pub fn without(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self
    }

    /// The claims as they stand.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// `sub`.
    #[allow(clippy::should_implement_trait)] // named after the claim
    pub fn sub(self, sub: impl Into<String>) -> Self {
        self.claim("sub", sub.into())
    }

    /// `aud` as a single string.
    pub fn aud(self, aud: impl Into<String>) -> Self {
        self.claim("aud", aud.into())
    }

    /// `aud` as an array.
    pub fn audiences<I, S>(self, auds: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let auds: Vec<Value> = auds.into_iter().map(|a| Value::String(a.into())).collect();
        self.claim("aud", Value::Array(auds))
    }

    /// `scope` verbatim (space-delimited).
    pub fn scope(self, scope: impl Into<String>) -> Self {
        self.claim("scope", scope.into())
    }

    /// `scope` from a list (joined with spaces).
    pub fn scopes<I, S>(self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let joined = scopes
            .into_iter()
            .map(Into::into)
            .collect::<Vec<String>>()
            .join(" ");
        self.claim("scope", joined)
    }

    /// `client_id`.
    pub fn client_id(self, client_id: impl Into<String>) -> Self {
        self.claim("client_id", client_id.into())
    }

    /// Overrides `iss`.
    pub fn iss(self, iss: impl Into<String>) -> Self {
        self.claim("iss", iss.into())
    }

    /// `jti`.
    pub fn jti(self, jti: impl Into<String>) -> Self {
        self.claim("jti", jti.into())
    }

    /// `acr`.
    pub fn acr(self, acr: impl Into<String>) -> Self {
        self.claim("acr", acr.into())
    }

    /// `amr`.
    pub fn amr<I, S>(self, amr: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let amr: Vec<Value> = amr.into_iter().map(|a| Value::String(a.into())).collect();
        self.claim("amr", Value::Array(amr))
    }

    /// `auth_time` as an absolute Unix time.
    pub fn auth_time(self, unix: i64) -> Self {
        self.claim("auth_time", unix)
    }

    /// `auth_time` relative to now in seconds (negative = in the past).
    pub fn auth_time_offset(self, secs: i64) -> Self {
        self.claim("auth_time", now().saturating_add(secs))
    }

    /// `iat` as an absolute Unix time.
    pub fn iat(self, unix: i64) -> Self {
        self.claim("iat", unix)
    }

    /// `iat` relative to now in seconds (positive = issued in the future).
    pub fn iat_offset(self, secs: i64) -> Self {
        self.claim("iat", now().saturating_add(secs))
    }

    /// `exp` as an absolute Unix time.
    pub fn exp(self, unix: i64) -> Self {
        self.claim("exp", unix)
    }

    /// `exp` = now + `secs` (negative = already expired).
    pub fn expires_in(self, secs: i64) -> Self {
        self.claim("exp", now().saturating_add(secs))
    }

    /// `nbf` as an absolute Unix time.
    pub fn nbf(self, unix: i64) -> Self {
        self.claim("nbf", unix)
    }

    /// `nbf` = now + `secs` (positive = not yet valid).
    pub fn not_before_in(self, secs: i64) -> Self {
        self.claim("nbf", now().saturating_add(secs))
    }

    // ----- header and key -----------------------------------------------------

    /// `typ` header (default `at+jwt`).
    pub fn typ(mut self, typ: impl Into<String>) -> Self {
        self.typ = Some(typ.into());
        self
    }

    /// No `typ` header.
    pub fn without_typ(mut self) -> Self {
        self.typ = None;
        self
    }

    /// `kid` header override (the signing key does not change).
    pub fn kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = KidChoice::Custom(kid.into());
        self
    }

    /// No `kid` header.
    pub fn without_kid(mut self) -> Self {
        self.kid = KidChoice::Omit;
        self
    }

    /// Any header parameter, applied after everything else (may override
    /// `alg`, `typ`, `kid`, `jku`…).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.header_overrides
            .push((name.into(), Some(value.into())));
        self
    }

    /// Removes a header parameter after everything else.
    pub fn without_header(mut self, name: impl Into<String>) -> Self {
        self.header_overrides.push((name.into(), None));
        self
    }

    /// Sign with the issuer's newest published key of this algorithm (see
    /// `DevIssuerConfig::additional_signing_algorithms` and
    /// `DevIssuer::add_key`).
    pub fn signing_alg(mut self, alg: SigningAlgorithm) -> Self {
        self.key = KeyChoice::Alg(alg);
        self
    }

    /// Sign with the issuer's published key with this `kid` (e.g. an old
    /// key after rotation).
    pub fn signing_kid(mut self, kid: impl Into<String>) -> Self {
        self.key = KeyChoice::Kid(kid.into());
        self
    }

    /// Pads the claims (with a `pad` claim) so that the payload JSON is at
    /// least `bytes` long.
    pub fn pad_claims_to(mut self, bytes: usize) -> Self {
        self.pad_to = Some(bytes);
        self
    }

    // ----- finishers ------------------------------------------------------------

    /// Signs with the chosen issuer key.
    ///
    /// # Panics
    /// If the chosen key does not exist (see [`Self::try_sign`]).
    pub fn sign(self) -> String {
        or_panic(self.try_sign())
    }

    /// Signs with the chosen issuer key.
    pub fn try_sign(self) -> Result<String, DevIssuerError> {
        self.build(Finish::Genuine)
    }

    /// An unsigned token with header `alg: "none"` and an empty signature.
    pub fn alg_none(self) -> String {
        self.unsigned("none")
    }

    /// An unsigned token with the given `alg` header value (e.g. `"none"`,
    /// `"NONE"`, `"None"`, `"nOnE"`) and an empty signature.
    pub fn unsigned(self, alg: &str) -> String {
        or_panic(self.build(Finish::Unsigned(alg.to_owned())))
    }

    /// The classic algorithm confusion: header `alg: HS256` with the `kid`
    /// of an issuer RSA key, HMAC-signed with that RSA key's public key
    /// bytes in `format`.
    ///
    /// # Panics
    /// If the issuer has no RSA key.
    pub fn hs256_with_public_key(self, format: PublicKeyFormat) -> String {
        or_panic(self.build(Finish::Hs256WithPublicKey(format)))
    }

    /// Signed by a foreign (attacker) key of the same algorithm, but
    /// carrying the `kid` of the chosen issuer key.
    pub fn foreign_key_with_issuer_kid(self) -> String {
        or_panic(self.build(Finish::ForeignKeyIssuerKid))
    }

    /// Signed by a foreign (attacker) key, with that key's own `kid` (not in
    /// the issuer's JWKS).
    pub fn foreign_key(self) -> String {
        or_panic(self.build(Finish::ForeignKey))
    }

    /// Genuinely signed by the chosen issuer key, but with a random `kid`
    /// that is not in the JWKS (a verifier that ignores `kid` and tries all
    /// keys would accept it; one that refetches the JWKS on unknown `kid`
    /// will fetch).
    pub fn unknown_kid(self) -> String {
        or_panic(self.build(Finish::UnknownKid))
    }

    /// Signed by the attacker's key, with the attacker's key advertised in
    /// the header as a `jwk`, `jku` or `x5u` parameter.
    pub fn embedded_key(self, embedded: EmbeddedKey) -> String {
        or_panic(self.build(Finish::Embedded(embedded)))
    }

    /// Genuinely signed, with claims padded past 16 KiB.
    pub fn oversized(self) -> String {
        let pad = self.pad_to.unwrap_or(0).max(16 * 1024);
        self.pad_claims_to(pad).sign()
    }

    fn choose_key(&self) -> Result<Arc<SigningKey>, DevIssuerError> {
        let ring = self.inner.keys();
        match &self.key {
            KeyChoice::Active => Ok(ring.active()),
            KeyChoice::Alg(alg) => ring
                .by_alg(*alg)
                .ok_or_else(|| DevIssuerError::NoSuchKey(format!("no published {alg} key"))),
            KeyChoice::Kid(kid) => ring
                .by_kid(kid)
                .ok_or_else(|| DevIssuerError::NoSuchKey(format!("no published key {kid:?}"))),
        }
    }

    fn rsa_key(&self) -> Result<Arc<SigningKey>, DevIssuerError> {
        let chosen = self.choose_key()?;
        if chosen.alg().is_rsa() {
            return Ok(chosen);
        }
        if let KeyChoice::Active = self.key {
            let ring = self.inner.keys();
            for alg in [SigningAlgorithm::RS256, SigningAlgorithm::PS256] {
                if let Some(k) = ring.by_alg(alg) {
                    return Ok(k);
                }
            }
        }
        Err(DevIssuerError::NoSuchKey(
            "the alg-confusion token needs an issuer RSA key".into(),
        ))
    }

    fn build_header(
        &self,
        alg: &str,
        key_kid: Option<&str>,
        extra: &[(&str, Value)],
    ) -> Map<String, Value> {
        let mut h = Map::new();
        h.insert("alg".into(), alg.into());
        if let Some(typ) = &self.typ {
            h.insert("typ".into(), typ.clone().into());
        }
        match &self.kid {
            KidChoice::FromKey => {
                if let Some(kid) = key_kid {
                    h.insert("kid".into(), kid.into());
                }
            }
            KidChoice::Custom(kid) => {
                h.insert("kid".into(), kid.clone().into());
            }
            KidChoice::Omit => {}
        }
        for (name, value) in extra {
            h.insert((*name).into(), value.clone());
        }
        for (name, value) in &self.header_overrides {
            match value {
                Some(v) => h.insert(name.clone(), v.clone()),
                None => h.remove(name),
            };
        }
        h
    }

    fn padded_claims(&self) -> Map<String, Value> {
        let mut claims = self.claims.clone();
        if let Some(target) = self.pad_to {
            let current = serde_json::to_vec(&claims).map(|v| v.len()).unwrap_or(0);
            if current < target {
                // `,"pad":""` adds 9 bytes around the padding itself.
                let len = target.saturating_sub(current).saturating_add(9);
                claims.insert("pad".into(), "A".repeat(len).into());
            }
        }
        claims
    }

    fn build(self, finish: Finish) -> Result<String, DevIssuerError> {
        let claims = self.padded_claims();
        match finish {
            Finish::Genuine => {
                let key = self.choose_key()?;
                let header = self.build_header(key.alg().as_str(), Some(key.kid()), &[]);
                jwt::assemble(&header, &claims, |input| key.sign(input))
            }
            Finish::Unsigned(alg) => {
                let key_kid = self.choose_key().ok();
                let header = self.build_header(&alg, key_kid.as_deref().map(SigningKey::kid), &[]);
                jwt::assemble(&header, &claims, |_| Ok(String::new()))
            }
            Finish::Hs256WithPublicKey(format) => {
                let key = self.rsa_key()?;
                let secret = key.rsa_public_key_bytes(format).ok_or_else(|| {
                    DevIssuerError::NoSuchKey("RSA public key unavailable".into())
                })?;
                let header = self.build_header("HS256", Some(key.kid()), &[]);
                jwt::assemble(&header, &claims, |input| {
                    super::keys::install_crypto_provider();
                    jsonwebtoken::crypto::sign(
                        input,
                        &EncodingKey::from_secret(&secret),
                        Algorithm::HS256,
                    )
                    .map_err(|e| DevIssuerError::Crypto(e.to_string()))
                })
            }
            Finish::ForeignKeyIssuerKid => {
                let key = self.choose_key()?;
                let attacker = self.inner.attacker_key(key.alg())?;
                let header = self.build_header(key.alg().as_str(), Some(key.kid()), &[]);
                jwt::assemble(&header, &claims, |input| attacker.sign(input))
            }
            Finish::ForeignKey => {
                let alg = self.choose_key()?.alg();
                let attacker = self.inner.attacker_key(alg)?;
                let header = self.build_header(alg.as_str(), Some(attacker.kid()), &[]);
                jwt::assemble(&header, &claims, |input| attacker.sign(input))
            }
            Finish::UnknownKid => {
                let key = self.choose_key()?;
                let kid = format!("unknown-{}", random_string(9)?);
                let header = self.build_header(key.alg().as_str(), Some(&kid), &[]);
                jwt::assemble(&header, &claims, |input| key.sign(input))
            }
            Finish::Embedded(embedded) => {
                let alg = self.choose_key()?.alg();
                let attacker = self.inner.attacker_key(alg)?;
                let extra = match embedded {
                    EmbeddedKey::Jwk => ("jwk", attacker.public_jwk()),
                    EmbeddedKey::Jku(url) => ("jku", Value::String(url)),
                    EmbeddedKey::X5u(url) => ("x5u", Value::String(url)),
                };
                let header = self.build_header(alg.as_str(), Some(attacker.kid()), &[extra]);
                jwt::assemble(&header, &claims, |input| attacker.sign(input))
            }
        }
    }
}
