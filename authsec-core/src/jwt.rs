//! JWT access-token verification (check 1): RFC 9068 profile with RFC 8725 hardening.
//!
//! - The algorithm comes from the key, never from the token header alone: the header's `alg`
//!   must be one the resolved key is for *and* on the allow-list.
//! - `none` and HMAC algorithms are refused unless a shared secret is configured on purpose.
//! - `typ` must be `at+jwt` / `application/at+jwt` unless relaxed for an issuer that sends `JWT`.
//! - `iss` is compared exactly; `exp` is required; `nbf` and `iat` are honoured; one explicit
//!   leeway applies to all three.
//! - `jku`, `x5u`, `jwk` and `x5c` are never used to find a key: only the issuer's JWKS is.
//! - Tokens over a size bound are refused before any decoding.
//!
//! The audience is checked by the [`Guard`](crate::Guard) (check 2), so that a wrong audience
//! is reported as `invalid_audience`.

use std::sync::{Arc, Once};

use async_trait::async_trait;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use serde_json::Value;

use crate::b64;
use crate::clock::Clock;
use crate::denial::Denial;
use crate::error::ConfigError;
use crate::principal::Claims;
use crate::signature::ParsedKeys;
use crate::verifier::TokenVerifier;

/// The asymmetric algorithms accepted by default.
pub const DEFAULT_ALGORITHMS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Default bound on the size of a token, in bytes.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Default clock leeway, in seconds.
pub const DEFAULT_LEEWAY_SECONDS: u64 = 30;

/// Installs jsonwebtoken's process-level crypto provider, so that a build in which both the
/// `aws-lc-rs` and `rust-crypto` features are on (feature unification makes that easy) does not
/// panic at the first verification. aws-lc-rs wins when both are present. Idempotent.
pub fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        #[cfg(feature = "aws-lc-rs")]
        let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
        #[cfg(all(feature = "rust-crypto", not(feature = "aws-lc-rs")))]
        let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
    });
}

/// A public key from the issuer, with the algorithms it may verify.
#[derive(Clone)]
pub struct VerificationKey {
    kid: Option<String>,
    algorithms: Vec<Algorithm>,
    key: DecodingKey,
    /// The key parsed once per algorithm, so that a token costs the signature check alone.
    parsed: ParsedKeys,
}

impl std::fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerificationKey")
            .field("kid", &self.kid)
            .field("algorithms", &self.algorithms)
            .finish()
    }
}

impl VerificationKey {
    /// Builds a key from a JWK.
    ///
    /// The key is bound to one algorithm when the JWK names one in `alg`; otherwise to the
    /// algorithms its type allows (RSA: RS*/PS*, P-256: ES256, P-384: ES384, Ed25519: EdDSA).
    /// Symmetric (`oct`) keys, private keys used as public keys, encryption-only keys and unknown
    /// types are refused.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, String> {
        use jsonwebtoken::jwk::PublicKeyUse;
        if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
            return Err("the key is for encryption (use=enc)".into());
        }
        let family: Vec<Algorithm> = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => vec![
                Algorithm::RS256,
                Algorithm::RS384,
                Algorithm::RS512,
                Algorithm::PS256,
                Algorithm::PS384,
                Algorithm::PS512,
            ],
            AlgorithmParameters::EllipticCurve(params) => match params.curve {
                EllipticCurve::P256 => vec![Algorithm::ES256],
                EllipticCurve::P384 => vec![Algorithm::ES384],
                _ => return Err("unsupported elliptic curve".into()),
            },
            AlgorithmParameters::OctetKeyPair(params) => match params.curve {
                EllipticCurve::Ed25519 => vec![Algorithm::EdDSA],
                _ => return Err("unsupported OKP curve".into()),
            },
            AlgorithmParameters::OctetKey(_) => {
                return Err("symmetric keys are not accepted from a JWKS".into());
            }
            _ => return Err("unsupported key type".into()),
        };
        let algorithms = match jwk.common.key_algorithm {
            None => family,
            Some(KeyAlgorithm::UNKNOWN_ALGORITHM) => {
                return Err("the key's alg is not a supported signature algorithm".into());
            }
            Some(alg) => {
                let alg = alg
                    .to_string()
                    .parse::<Algorithm>()
                    .map_err(|_| "the key's alg is not a signature algorithm".to_string())?;
                if !family.contains(&alg) {
                    return Err(format!("the key's alg {alg:?} does not match its type"));
                }
                vec![alg]
            }
        };
        let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("unusable key: {e}"))?;
        let parsed = ParsedKeys::from_jwk(jwk, &algorithms);
        Ok(VerificationKey {
            kid: jwk.common.key_id.clone(),
            algorithms,
            key,
            parsed,
        })
    }

    /// A shared-secret (HMAC) key. Only for deployments that chose symmetric tokens on purpose;
    /// the secret must have full entropy (RFC 8725 §3.5).
    pub fn dangerous_shared_secret(secret: &[u8], algorithm: Algorithm) -> Result<Self, String> {
        if !matches!(
            algorithm,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
        ) {
            return Err("a shared secret needs an HS* algorithm".into());
        }
        if secret.len() < 32 {
            return Err("a shared secret must be at least 32 bytes".into());
        }
        Ok(VerificationKey {
            kid: None,
            algorithms: vec![algorithm],
            key: DecodingKey::from_secret(secret),
            parsed: ParsedKeys::default(),
        })
    }

    /// The key id.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The algorithms this key verifies.
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.algorithms
    }
}

/// Why no key could be found for a token.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyLookupError {
    /// The issuer publishes no key with this id (after any permitted refetch).
    #[error("the issuer publishes no key with kid {0:?}")]
    UnknownKid(String),
    /// The token has no `kid` and the issuer publishes several keys that fit.
    #[error("the token has no kid and the issuer has no single key for {0}")]
    NoKid(String),
    /// The key set could not be fetched.
    #[error("the issuer's keys are unavailable: {0}")]
    Unavailable(String),
}

/// Where verification keys come from (authsec-jwks implements it over a cached JWKS).
#[async_trait]
pub trait KeyResolver: Send + Sync + 'static {
    /// The key for `kid` (or the only key fitting `algorithm` when the token has no `kid`).
    async fn resolve(
        &self,
        kid: Option<&str>,
        algorithm: Algorithm,
    ) -> Result<Arc<VerificationKey>, KeyLookupError>;
}

/// A fixed set of keys: for tests, and for deployments that pin keys.
#[derive(Clone, Debug, Default)]
pub struct StaticKeys {
    keys: Vec<Arc<VerificationKey>>,
}

impl StaticKeys {
    /// The keys of a JWKS document; keys that cannot be used are skipped.
    pub fn from_jwks(jwks: &jsonwebtoken::jwk::JwkSet) -> Self {
        StaticKeys {
            keys: jwks
                .keys
                .iter()
                .filter_map(|jwk| VerificationKey::from_jwk(jwk).ok().map(Arc::new))
                .collect(),
        }
    }

    /// One key.
    pub fn single(key: VerificationKey) -> Self {
        StaticKeys {
            keys: vec![Arc::new(key)],
        }
    }

    /// Picks a key the way every [`KeyResolver`] should.
    pub fn find(
        &self,
        kid: Option<&str>,
        algorithm: Algorithm,
    ) -> Result<Arc<VerificationKey>, KeyLookupError> {
        select_key(&self.keys, kid, algorithm)
    }
}

/// Key selection shared by resolvers: by `kid` when the token has one; otherwise the single key
/// that can verify `algorithm`.
pub fn select_key(
    keys: &[Arc<VerificationKey>],
    kid: Option<&str>,
    algorithm: Algorithm,
) -> Result<Arc<VerificationKey>, KeyLookupError> {
    match kid {
        Some(kid) => keys
            .iter()
            .find(|k| k.kid() == Some(kid))
            .cloned()
            .ok_or_else(|| KeyLookupError::UnknownKid(kid.to_owned())),
        None => {
            let mut fitting = keys.iter().filter(|k| k.algorithms.contains(&algorithm));
            match (fitting.next(), fitting.next()) {
                (Some(key), None) => Ok(key.clone()),
                _ => Err(KeyLookupError::NoKid(format!("{algorithm:?}"))),
            }
        }
    }
}

#[async_trait]
impl KeyResolver for StaticKeys {
    async fn resolve(
        &self,
        kid: Option<&str>,
        algorithm: Algorithm,
    ) -> Result<Arc<VerificationKey>, KeyLookupError> {
        self.find(kid, algorithm)
    }
}

/// Whether the `typ` header is checked.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TypPolicy {
    /// `typ` must be `at+jwt` or `application/at+jwt` (RFC 9068; the default).
    #[default]
    AccessTokenJwt,
    /// Any `typ` except those of other JWT kinds is accepted, for identity providers that send
    /// `JWT` or nothing. Tokens typed as something else (`id_token+jwt`, `logout+jwt`...) stay
    /// refused.
    Relaxed,
}

/// The rules a JWT access token must follow.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct JwtRules {
    /// The exact issuer identifier.
    pub issuer: String,
    /// The algorithm allow-list.
    pub algorithms: Vec<Algorithm>,
    /// The `typ` rule.
    pub typ: TypPolicy,
    /// Clock leeway applied to `exp`, `nbf` and `iat`, in seconds.
    pub leeway: u64,
    /// The largest token accepted, in bytes.
    pub max_token_bytes: usize,
}

impl JwtRules {
    /// The defaults for `issuer`: asymmetric algorithms, `at+jwt` required, 30 s leeway, 8 KiB.
    pub fn new(issuer: impl Into<String>) -> Self {
        JwtRules {
            issuer: issuer.into(),
            algorithms: DEFAULT_ALGORITHMS.to_vec(),
            typ: TypPolicy::default(),
            leeway: DEFAULT_LEEWAY_SECONDS,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
        }
    }

    /// Replaces the `typ` rule.
    pub fn typ(mut self, typ: TypPolicy) -> Self {
        self.typ = typ;
        self
    }

    /// Replaces the leeway.
    pub fn leeway(mut self, seconds: u64) -> Self {
        self.leeway = seconds;
        self
    }

    /// Replaces the algorithm allow-list. `none` cannot be expressed; HMAC algorithms also need a
    /// shared-secret key to be of any use.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// Replaces the size bound.
    pub fn max_token_bytes(mut self, bytes: usize) -> Self {
        self.max_token_bytes = bytes;
        self
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.issuer.is_empty() {
            return Err(ConfigError::new("the issuer must not be empty"));
        }
        if self.algorithms.is_empty() {
            return Err(ConfigError::new("the algorithm allow-list is empty"));
        }
        if self.leeway > 300 {
            return Err(ConfigError::new(
                "a leeway above 300 seconds defeats expiry checks",
            ));
        }
        Ok(())
    }
}

/// Verifies JWT access tokens against an issuer's keys.
pub struct JwtVerifier<K> {
    rules: JwtRules,
    keys: K,
    clock: Arc<dyn Clock>,
}

impl<K: KeyResolver> JwtVerifier<K> {
    /// A verifier for `rules`, finding keys through `keys`.
    pub fn new(rules: JwtRules, keys: K) -> Result<Self, ConfigError> {
        rules.validate()?;
        install_crypto_provider();
        Ok(JwtVerifier {
            rules,
            keys,
            clock: Arc::new(crate::clock::SystemClock),
        })
    }

    /// Replaces the clock (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The rules in force.
    pub fn rules(&self) -> &JwtRules {
        &self.rules
    }

    /// The key resolver.
    pub fn keys(&self) -> &K {
        &self.keys
    }
}

/// The header parameters we read. Unknown members are ignored; key-locating members (`jku`,
/// `x5u`, `jwk`, `x5c`) are deliberately never read.
#[derive(Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
struct Header<'a> {
    #[serde(borrow)]
    alg: std::borrow::Cow<'a, str>,
    #[serde(default, borrow)]
    typ: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    kid: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    crit: Option<Value>,
    #[serde(default)]
    enc: Option<Value>,
}

#[async_trait]
impl<K: KeyResolver> TokenVerifier for JwtVerifier<K> {
    /// Every token it accepts ends with a signature over the rest, made with the issuer's key.
    fn distinct_token_tails(&self) -> bool {
        true
    }

    async fn verify(&self, token: &str) -> Result<Claims, Denial> {
        let rules = &self.rules;
        if token.len() > rules.max_token_bytes {
            return Err(Denial::invalid_token(format!(
                "the token is larger than {} bytes",
                rules.max_token_bytes
            )));
        }
        // The first and the last dot, and none between (a JWE has four).
        let bytes = token.as_bytes();
        let (Some(first), Some(last)) = (memchr::memchr(b'.', bytes), memchr::memrchr(b'.', bytes))
        else {
            return Err(not_a_jws());
        };
        if first == last || memchr::memchr(b'.', &bytes[first + 1..last]).is_some() {
            return Err(not_a_jws());
        }
        let (header_b64, payload_b64, signature_b64) =
            (&token[..first], &token[first + 1..last], &token[last + 1..]);
        // A header is a few dozen bytes: decoded on the stack unless it is unusually long.
        let mut stack = [0u8; 384];
        let heap;
        let header_json = match b64::decode_into(header_b64, &mut stack) {
            Some(json) => json,
            None => {
                heap = b64::decode(header_b64)
                    .ok_or_else(|| Denial::invalid_token("the JWT header is not base64url"))?;
                &heap[..]
            }
        };
        // serde would also fill a struct from a JSON array, by position; RFC 7515 says object.
        if !crate::mcp::starts_as_object(header_json) {
            return Err(Denial::invalid_token(
                "the JWT header is not a JSON object with alg",
            ));
        }
        let header = match header_fast(header_json) {
            Some(header) => header,
            None => serde_json::from_slice::<Header<'_>>(header_json).map_err(|_| {
                Denial::invalid_token("the JWT header is not a JSON object with alg")
            })?,
        };
        if header.enc.is_some() {
            return Err(Denial::invalid_token(
                "encrypted tokens (JWE) are not accepted",
            ));
        }
        if header.crit.is_some() {
            return Err(Denial::invalid_token(
                "the JWT header has crit extensions this server does not understand",
            ));
        }
        let algorithm: Algorithm = match header.alg.parse() {
            Ok(alg) => alg,
            Err(_) if header.alg.eq_ignore_ascii_case("none") => {
                return Err(Denial::invalid_token(
                    "unsigned tokens (alg none) are refused",
                ));
            }
            Err(_) => {
                return Err(Denial::invalid_token(format!(
                    "the algorithm {:?} is not supported",
                    truncate(&header.alg)
                )));
            }
        };
        if !rules.algorithms.contains(&algorithm) {
            return Err(Denial::invalid_token(format!(
                "the algorithm {algorithm:?} is not allowed"
            )));
        }
        check_typ(rules.typ, header.typ.as_deref())?;

        let key = self
            .keys
            .resolve(header.kid.as_deref(), algorithm)
            .await
            .map_err(|e| match e {
                KeyLookupError::Unavailable(why) => Denial::authorization_unavailable(format!(
                    "the issuer's signing keys could not be fetched: {why}"
                )),
                KeyLookupError::UnknownKid(kid) => Denial::invalid_token(format!(
                    "the issuer publishes no key with kid {:?}",
                    truncate(&kid)
                )),
                other => Denial::invalid_token(other.to_string()),
            })?;
        if !key.algorithms.contains(&algorithm) {
            return Err(Denial::invalid_token(format!(
                "the token says {algorithm:?} but its key is for {:?}",
                key.algorithms
            )));
        }
        let message_len = header_b64.len() + 1 + payload_b64.len();
        let message = &token.as_bytes()[..message_len];
        let valid = match key.parsed.verify(algorithm, message, signature_b64) {
            Some(valid) => valid,
            // HMAC, the rust-crypto backend, or a key aws-lc-rs would not parse up front.
            None => matches!(
                jsonwebtoken::crypto::verify(signature_b64, message, &key.key, algorithm),
                Ok(true)
            ),
        };
        if !valid {
            return Err(Denial::invalid_token("the token signature is invalid"));
        }

        let payload = b64::decode(payload_b64)
            .ok_or_else(|| Denial::invalid_token("the JWT payload is not base64url"))?;
        let claims = Claims::from_jwt_payload(payload).map_err(|error| match error {
            Some(claim) => Denial::invalid_token(claim),
            None => Denial::invalid_token("the JWT payload is not a JSON object"),
        })?;
        check_time_and_issuer(rules, &claims, self.clock.now())?;
        if claims.audience.is_empty() {
            return Err(Denial::invalid_token("the token has no aud claim"));
        }
        Ok(claims)
    }
}

/// The typical header (`alg`, `typ` and `kid` as plain strings, other members skipped) in one
/// pass, or `None` when serde must decide: `crit`, `enc`, a duplicate, a `null`, escapes,
/// anything invalid. It never changes a result (`tests::the_header_fast_path_agrees_with_serde`).
fn header_fast(json: &[u8]) -> Option<Header<'_>> {
    use std::borrow::Cow::Borrowed;
    let mut scan = crate::mcp::scan::Scan::new(json, true)?;
    let (mut alg, mut typ, mut kid) = (None, None, None);
    scan.whitespace();
    scan.object(|scan, name| {
        let slot = match name {
            b"alg" => &mut alg,
            b"typ" => &mut typ,
            b"kid" => &mut kid,
            b"crit" | b"enc" => return None,
            _ => return scan.skip_value(1),
        };
        // serde refuses a duplicate; a `null` or another type is serde's to read.
        if slot.is_some() {
            return None;
        }
        *slot = Some(scan.plain_string()?);
        Some(())
    })?;
    scan.whitespace();
    scan.at_end().then_some(())?;
    Some(Header {
        alg: Borrowed(alg?),
        typ: typ.map(Borrowed),
        kid: kid.map(Borrowed),
        crit: None,
        enc: None,
    })
}

fn not_a_jws() -> Denial {
    Denial::invalid_token("the token is not a signed JWT (expected three dot-separated parts)")
}

fn check_typ(policy: TypPolicy, typ: Option<&str>) -> Result<(), Denial> {
    let is_access_token =
        |t: &str| t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt");
    match (policy, typ) {
        (_, Some(t)) if is_access_token(t) => Ok(()),
        (TypPolicy::AccessTokenJwt, found) => Err(Denial::invalid_token(format!(
            "the token's typ is {:?}, expected \"at+jwt\" (RFC 9068)",
            found.map(truncate).unwrap_or("absent")
        ))),
        (TypPolicy::Relaxed, None) => Ok(()),
        (TypPolicy::Relaxed, Some(t))
            if t.eq_ignore_ascii_case("JWT") || t.eq_ignore_ascii_case("application/jwt") =>
        {
            Ok(())
        }
        (TypPolicy::Relaxed, Some(t)) => Err(Denial::invalid_token(format!(
            "the token's typ {:?} is not an access token type",
            truncate(t)
        ))),
    }
}

/// `iss` exact, `exp` required and not past, `nbf` and `iat` not in the future, with leeway.
pub(crate) fn check_time_and_issuer(
    rules: &JwtRules,
    claims: &Claims,
    now: u64,
) -> Result<(), Denial> {
    match claims.issuer.as_deref() {
        Some(iss) if iss == rules.issuer => {}
        Some(iss) => {
            return Err(Denial::invalid_token(format!(
                "the token's iss {:?} is not the expected issuer {:?}",
                truncate(iss),
                rules.issuer
            )));
        }
        None => return Err(Denial::invalid_token("the token has no iss claim")),
    }
    let leeway = rules.leeway;
    match claims.expires_at {
        None => return Err(Denial::invalid_token("the token has no exp claim")),
        Some(exp) if now >= exp.saturating_add(leeway) => {
            return Err(Denial::invalid_token("the token has expired"));
        }
        Some(_) => {}
    }
    if let Some(nbf) = claims.not_before
        && nbf > now.saturating_add(leeway)
    {
        return Err(Denial::invalid_token("the token is not valid yet (nbf)"));
    }
    if let Some(iat) = claims.issued_at
        && iat > now.saturating_add(leeway)
    {
        return Err(Denial::invalid_token(
            "the token was issued in the future (iat)",
        ));
    }
    Ok(())
}

/// Keeps attacker-controlled strings short in messages.
fn truncate(s: &str) -> &str {
    match s.char_indices().nth(64) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_serde(json: &[u8]) -> Option<Header<'_>> {
        serde_json::from_slice(json).ok()
    }

    const TYPICAL: [&str; 3] = [
        r#"{"alg":"RS256","typ":"at+jwt","kid":"k-2026-11"}"#,
        r#"{ "typ" : "JWT", "alg" : "ES256", "kid" : "Zm9v", "x5t" : "abc", "n" : [1, {"a": true}] }"#,
        r#"{"alg":"EdDSA"}"#,
    ];

    /// Whenever the fast path answers for a header or one of its mutations, serde reads the
    /// same header.
    #[test]
    fn the_header_fast_path_agrees_with_serde() {
        const BYTES: &[u8] = b"{}[]\",:\\ \t0-1.enulltrfa\xc3\xa9\xff";
        for seed in TYPICAL {
            assert_eq!(header_fast(seed.as_bytes()), by_serde(seed.as_bytes()));
            assert!(header_fast(seed.as_bytes()).is_some(), "{seed}");
        }
        let (checked, answered) = crate::mutations::fed_and_answered(&TYPICAL, BYTES, |json| {
            let Some(fast) = header_fast(json) else {
                return false;
            };
            assert_eq!(
                Some(fast),
                by_serde(json),
                "{}",
                String::from_utf8_lossy(json)
            );
            true
        });
        assert!(checked > 5_000, "{checked}");
        assert!(answered > checked / 4, "{answered} of {checked}");
    }

    #[test]
    fn the_header_fast_path_leaves_unusual_headers_to_serde() {
        for json in [
            r#"{"alg":"RS256","alg":"none"}"#,
            r#"{"alg":"RS256","crit":["exp"]}"#,
            r#"{"alg":"RS256","enc":"A128GCM"}"#,
            r#"{"alg":"RS256","kid":null}"#,
            r#"{"alg":"RS\u003256"}"#,
            r#"{"alg":"RS256","x":1e400}"#,
            r#"{"typ":"at+jwt"}"#,
            r#"["RS256"]"#,
            r#"{}"#,
        ] {
            assert_eq!(header_fast(json.as_bytes()), None, "{json}");
        }
    }
}
