//! `private_key_jwt` client authentication (RFC 7523 §2.2, OpenID Connect Core §9): instead of
//! a shared secret, the client signs a short-lived JWT with its private key and sends it as
//! `client_assertion` at the token endpoint. The authorization server verifies it with the
//! client's registered public key.
//!
//! The assertion's `iss` and `sub` are the `client_id`; its `aud` is the authorization server's
//! issuer identifier (RFC 7523 §3: "a value that identifies the authorization server as an
//! intended audience"; the issuer is what every server accepts); `exp` is a minute ahead and
//! `jti` is random, so a captured assertion is useless soon and cannot be replayed at a server
//! that tracks `jti`.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use authsec_core::jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

/// The `client_assertion_type` of a JWT assertion (RFC 7523 §2.2).
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A client key that cannot be used: unknown or symmetric algorithm, unreadable PEM, or a
/// signing failure.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("client assertion key: {0}; configure a PEM private key and its asymmetric algorithm")]
pub struct ClientKeyError(String);

/// How long an assertion is valid.
const LIFETIME: Duration = Duration::from_secs(60);

/// A client's signing key for `private_key_jwt`. Cheap to clone; its `Debug` never shows the key.
#[derive(Clone)]
pub struct PrivateKeyJwt {
    client_id: String,
    algorithm: Algorithm,
    key: EncodingKey,
}

impl fmt::Debug for PrivateKeyJwt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKeyJwt")
            .field("client_id", &self.client_id)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// The label and DER bytes of a single-block PEM document (RFC 7468).
fn pem_body(pem: &str) -> Result<(String, Vec<u8>), ClientKeyError> {
    let not_pem = || ClientKeyError("the private key is not a PEM document".to_owned());
    let pem = pem.trim();
    let first = pem.lines().next().ok_or_else(not_pem)?.trim();
    let label = first
        .strip_prefix("-----BEGIN ")
        .and_then(|rest| rest.strip_suffix("-----"))
        .ok_or_else(not_pem)?;
    let footer = format!("-----END {label}-----");
    let mut body = String::new();
    let mut ended = false;
    for line in pem.lines().skip(1).map(str::trim) {
        if line == footer {
            ended = true;
            break;
        }
        body.push_str(line);
    }
    if !ended {
        return Err(not_pem());
    }
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|_| ClientKeyError(format!("the PEM {label} is not valid base64")))?;
    Ok((label.to_owned(), der))
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
    jti: String,
}

impl PrivateKeyJwt {
    /// A key from a PEM private key and the name of its algorithm: a PKCS#8 `PRIVATE KEY` for
    /// `ES256`, `ES384` or `EdDSA`, a PKCS#1 `RSA PRIVATE KEY` for `RS256`…`RS512` and
    /// `PS256`…`PS512`. Symmetric algorithms (`HS*`) are refused: that would be
    /// `client_secret_jwt`, not a private key. The key is tried once here, so a wrong key fails
    /// at configuration rather than at the first token request.
    pub fn from_pem(
        client_id: impl Into<String>,
        pem: impl AsRef<str>,
        algorithm: impl AsRef<str>,
    ) -> Result<Self, ClientKeyError> {
        let name = algorithm.as_ref();
        let algorithm = Algorithm::from_str(name)
            .map_err(|_| ClientKeyError(format!("unknown signing algorithm {name:?}")))?;
        let (label, der) = pem_body(pem.as_ref())?;
        let expected = match algorithm {
            Algorithm::ES256 | Algorithm::ES384 | Algorithm::EdDSA => "PRIVATE KEY",
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => "RSA PRIVATE KEY",
            _ => {
                return Err(ClientKeyError(format!(
                    "{name} is not an asymmetric signing algorithm"
                )));
            }
        };
        if label != expected {
            return Err(ClientKeyError(format!(
                "a {name} key must be a PEM {expected}, not {label}"
            )));
        }
        let key = match algorithm {
            Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_der(&der),
            Algorithm::EdDSA => EncodingKey::from_ed_der(&der),
            _ => EncodingKey::from_rsa_der(&der),
        };
        authsec_core::jwt::install_crypto_provider();
        let key = PrivateKeyJwt {
            client_id: client_id.into(),
            algorithm,
            key,
        };
        key.assertion("urn:authsec:key-check").map_err(|_| {
            ClientKeyError(format!(
                "the PEM {label} is not a usable {name} private key"
            ))
        })?;
        Ok(key)
    }

    /// The client identifier the assertions are issued for.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// A fresh signed assertion for the authorization server `audience` (its issuer).
    pub fn assertion(&self, audience: &str) -> Result<String, ClientKeyError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let mut jti = [0u8; 16];
        rand::Rng::fill(&mut rand::rng(), &mut jti);
        let claims = Claims {
            iss: &self.client_id,
            sub: &self.client_id,
            aud: audience,
            iat: now,
            exp: now + LIFETIME.as_secs(),
            jti: URL_SAFE_NO_PAD.encode(jti),
        };
        encode(&Header::new(self.algorithm), &claims, &self.key)
            .map_err(|e| ClientKeyError(format!("signing the client assertion failed: {e}")))
    }

    /// The token request form fields that authenticate the client: `client_id`,
    /// `client_assertion_type` and a fresh `client_assertion` for `audience`.
    pub fn form_fields(&self, audience: &str) -> Result<Vec<(String, String)>, ClientKeyError> {
        Ok(vec![
            ("client_id".to_owned(), self.client_id.clone()),
            (
                "client_assertion_type".to_owned(),
                CLIENT_ASSERTION_TYPE.to_owned(),
            ),
            ("client_assertion".to_owned(), self.assertion(audience)?),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use authsec_core::jsonwebtoken::{DecodingKey, Validation, decode};

    // A P-256 key pair generated for these tests only.
    const EC_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgtnO/lsN089URyAoV
dnUAWcOksNitgNuMXov/B/tQEgmhRANCAATFHoZbgv3IrfAYCJ+MdtBZ/NFBb8Lm
9gd20N0d+MGzP/2R6j6HkRYbP5vyFZzgOWXixeeKkAuvFsj/iqRHi22l
-----END PRIVATE KEY-----";
    // Its public point (RFC 7518 §6.2.1 x and y).
    const EC_PUBLIC_X: &str = "xR6GW4L9yK3wGAifjHbQWfzRQW_C5vYHdtDdHfjBsz8";
    const EC_PUBLIC_Y: &str = "_ZHqPoeRFhs_m_IVnOA5ZeLF54qQC68WyP-KpEeLbaU";

    #[derive(serde::Deserialize)]
    struct Seen {
        iss: String,
        sub: String,
        aud: String,
        iat: u64,
        exp: u64,
        jti: String,
    }

    #[test]
    fn the_assertion_is_signed_for_the_issuer_by_the_client() {
        let key = PrivateKeyJwt::from_pem("agent-7", EC_PRIVATE, "ES256").unwrap();
        let token = key.assertion("https://as.example").unwrap();
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_audience(&["https://as.example"]);
        let seen = decode::<Seen>(
            &token,
            &DecodingKey::from_ec_components(EC_PUBLIC_X, EC_PUBLIC_Y).unwrap(),
            &validation,
        )
        .unwrap()
        .claims;
        assert_eq!(seen.iss, "agent-7");
        assert_eq!(seen.sub, "agent-7");
        assert_eq!(seen.aud, "https://as.example");
        assert_eq!(seen.exp - seen.iat, 60);
        assert_eq!(seen.jti.len(), 22);
    }

    #[test]
    fn every_assertion_has_its_own_jti() {
        let key = PrivateKeyJwt::from_pem("agent-7", EC_PRIVATE, "ES256").unwrap();
        let fields = key.form_fields("https://as.example").unwrap();
        let again = key.form_fields("https://as.example").unwrap();
        assert_eq!(fields[0], ("client_id".to_owned(), "agent-7".to_owned()));
        assert_eq!(
            fields[1],
            (
                "client_assertion_type".to_owned(),
                CLIENT_ASSERTION_TYPE.to_owned()
            )
        );
        assert_ne!(fields[2].1, again[2].1);
    }

    #[test]
    fn a_symmetric_algorithm_is_refused() {
        let error = PrivateKeyJwt::from_pem("agent-7", EC_PRIVATE, "HS256").unwrap_err();
        assert_eq!(
            error,
            ClientKeyError("HS256 is not an asymmetric signing algorithm".into())
        );
    }

    #[test]
    fn a_key_that_is_not_pem_is_a_clear_error() {
        let error = PrivateKeyJwt::from_pem("agent-7", "not a key", "ES256").unwrap_err();
        assert_eq!(
            error,
            ClientKeyError("the private key is not a PEM document".into())
        );
    }

    #[test]
    fn an_rsa_algorithm_with_an_ec_key_is_refused() {
        let error = PrivateKeyJwt::from_pem("agent-7", EC_PRIVATE, "RS256").unwrap_err();
        assert_eq!(
            error,
            ClientKeyError("a RS256 key must be a PEM RSA PRIVATE KEY, not PRIVATE KEY".into())
        );
    }

    #[test]
    fn a_pem_that_is_not_a_key_of_the_algorithm_is_refused() {
        let garbage = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----";
        let error = PrivateKeyJwt::from_pem("agent-7", garbage, "ES256").unwrap_err();
        assert_eq!(
            error,
            ClientKeyError("the PEM PRIVATE KEY is not a usable ES256 private key".into())
        );
    }

    #[test]
    fn debug_never_shows_the_key() {
        let key = PrivateKeyJwt::from_pem("agent-7", EC_PRIVATE, "ES256").unwrap();
        assert_eq!(
            format!("{key:?}"),
            "PrivateKeyJwt { client_id: \"agent-7\", algorithm: ES256, .. }"
        );
    }
}
