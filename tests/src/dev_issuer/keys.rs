//! Signing keys of the dev issuer.
//!
//! Keys are generated at start-up (and on rotation) with `aws-lc-rs`
//! directly: RSA 2048 for `RS256`/`PS256`, P-256 for `ES256` and Ed25519 for
//! `EdDSA`. Private keys are handed to `jsonwebtoken` as DER (PKCS#1 for RSA,
//! which is what `jsonwebtoken`'s aws-lc backend parses, PKCS#8 for EC and
//! Ed25519); public keys are published as JWKs whose `kid` is the RFC 7638
//! thumbprint of the key.

use std::fmt;
use std::str::FromStr;
use std::sync::Once;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use serde_json::{Value, json};

use super::DevIssuerError;

/// Installs `jsonwebtoken`'s aws-lc-rs crypto provider for the process.
///
/// Called by everything in this module that signs or verifies; safe to call
/// any number of times ("already installed" is ignored, whichever provider
/// won).
pub fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Another component may have installed a provider first; that is fine.
        let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    });
}

/// JWS algorithms the dev issuer can sign access tokens with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SigningAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256, RSA 2048 key (the default).
    #[default]
    RS256,
    /// RSASSA-PSS with SHA-256, RSA 2048 key.
    PS256,
    /// ECDSA P-256 with SHA-256.
    ES256,
    /// Ed25519.
    EdDSA,
}

impl SigningAlgorithm {
    /// Every supported algorithm.
    pub const ALL: [SigningAlgorithm; 4] = [Self::RS256, Self::PS256, Self::ES256, Self::EdDSA];

    /// The JOSE `alg` value (`"RS256"`, `"PS256"`, `"ES256"`, `"EdDSA"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::PS256 => "PS256",
            Self::ES256 => "ES256",
            Self::EdDSA => "EdDSA",
        }
    }

    /// The matching `jsonwebtoken` algorithm.
    pub fn jwt_algorithm(self) -> Algorithm {
        match self {
            Self::RS256 => Algorithm::RS256,
            Self::PS256 => Algorithm::PS256,
            Self::ES256 => Algorithm::ES256,
            Self::EdDSA => Algorithm::EdDSA,
        }
    }

    /// Whether the key behind this algorithm is an RSA key.
    pub fn is_rsa(self) -> bool {
        matches!(self, Self::RS256 | Self::PS256)
    }
}

impl fmt::Display for SigningAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SigningAlgorithm {
    type Err = DevIssuerError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| DevIssuerError::Config(format!("unsupported signing algorithm {s:?}")))
    }
}

/// Encodings of an RSA public key, used as the HMAC secret of the classic
/// "alg confusion" attack (HS256 keyed with the RSA public key).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PublicKeyFormat {
    /// `-----BEGIN PUBLIC KEY-----` PEM (X.509 SubjectPublicKeyInfo), with a
    /// trailing newline, as typically found in a resource server's config.
    #[default]
    SpkiPem,
    /// SubjectPublicKeyInfo DER bytes.
    SpkiDer,
    /// `-----BEGIN RSA PUBLIC KEY-----` PEM (PKCS#1 RSAPublicKey).
    Pkcs1Pem,
    /// PKCS#1 RSAPublicKey DER bytes.
    Pkcs1Der,
}

#[derive(Clone)]
enum PublicParts {
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
        pkcs1_der: Vec<u8>,
        spki_der: Vec<u8>,
    },
    Ec {
        x: Vec<u8>,
        y: Vec<u8>,
    },
    Ed {
        x: Vec<u8>,
    },
}

/// One signing key pair (private part kept for `jsonwebtoken`, public part
/// published as a JWK).
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    alg: SigningAlgorithm,
    encoding: EncodingKey,
    public: PublicParts,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

fn b64u(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn keygen_err(what: &str) -> DevIssuerError {
    DevIssuerError::Crypto(format!("could not generate {what} key"))
}

impl SigningKey {
    /// Generates a fresh key pair for `alg`.
    pub fn generate(alg: SigningAlgorithm) -> Result<Self, DevIssuerError> {
        install_crypto_provider();
        let (encoding, public) = match alg {
            SigningAlgorithm::RS256 | SigningAlgorithm::PS256 => {
                let pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| keygen_err("RSA"))?;
                let pkcs8 = pair.as_der().map_err(|_| keygen_err("RSA"))?;
                let pkcs1 = pkcs8_inner_private_key(pkcs8.as_ref())
                    .ok_or_else(|| keygen_err("RSA (PKCS#8 unwrap)"))?;
                let public = pair.public_key();
                let spki = public.as_der().map_err(|_| keygen_err("RSA"))?;
                (
                    EncodingKey::from_rsa_der(pkcs1),
                    PublicParts::Rsa {
                        n: public.modulus().big_endian_without_leading_zero().to_vec(),
                        e: public.exponent().big_endian_without_leading_zero().to_vec(),
                        pkcs1_der: public.as_ref().to_vec(),
                        spki_der: spki.as_ref().to_vec(),
                    },
                )
            }
            SigningAlgorithm::ES256 => {
                let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                    .map_err(|_| keygen_err("P-256"))?;
                let pkcs8 = pair.to_pkcs8v1().map_err(|_| keygen_err("P-256"))?;
                let point = pair.public_key().as_ref();
                if point.len() != 65 || point[0] != 4 {
                    return Err(keygen_err("P-256 (unexpected point encoding)"));
                }
                (
                    EncodingKey::from_ec_der(pkcs8.as_ref()),
                    PublicParts::Ec {
                        x: point[1..33].to_vec(),
                        y: point[33..].to_vec(),
                    },
                )
            }
            SigningAlgorithm::EdDSA => {
                let pair = Ed25519KeyPair::generate().map_err(|_| keygen_err("Ed25519"))?;
                let pkcs8 = pair.to_pkcs8v1().map_err(|_| keygen_err("Ed25519"))?;
                (
                    EncodingKey::from_ed_der(pkcs8.as_ref()),
                    PublicParts::Ed {
                        x: pair.public_key().as_ref().to_vec(),
                    },
                )
            }
        };
        let kid = thumbprint(&public);
        Ok(Self {
            kid,
            alg,
            encoding,
            public,
        })
    }

    /// The key id (RFC 7638 SHA-256 thumbprint, base64url).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm this key signs with.
    pub fn alg(&self) -> SigningAlgorithm {
        self.alg
    }

    /// The public JWK (`kty`, `use`, `alg`, `kid` and the key parameters).
    pub fn public_jwk(&self) -> Value {
        let mut jwk = match &self.public {
            PublicParts::Rsa { n, e, .. } => json!({"kty": "RSA", "n": b64u(n), "e": b64u(e)}),
            PublicParts::Ec { x, y } => {
                json!({"kty": "EC", "crv": "P-256", "x": b64u(x), "y": b64u(y)})
            }
            PublicParts::Ed { x } => json!({"kty": "OKP", "crv": "Ed25519", "x": b64u(x)}),
        };
        if let Some(obj) = jwk.as_object_mut() {
            obj.insert("use".into(), "sig".into());
            obj.insert("alg".into(), self.alg.as_str().into());
            obj.insert("kid".into(), self.kid.clone().into());
        }
        jwk
    }

    /// A `jsonwebtoken` decoding key for the public half.
    pub fn decoding_key(&self) -> Result<DecodingKey, DevIssuerError> {
        let key = match &self.public {
            PublicParts::Rsa { n, e, .. } => DecodingKey::from_rsa_raw_components(n, e),
            PublicParts::Ec { x, y } => DecodingKey::from_ec_components(&b64u(x), &b64u(y))
                .map_err(|e| DevIssuerError::Crypto(e.to_string()))?,
            PublicParts::Ed { x } => DecodingKey::from_ed_components(&b64u(x))
                .map_err(|e| DevIssuerError::Crypto(e.to_string()))?,
        };
        Ok(key)
    }

    /// The RSA public key in the requested encoding (`None` for non-RSA keys).
    pub fn rsa_public_key_bytes(&self, format: PublicKeyFormat) -> Option<Vec<u8>> {
        let PublicParts::Rsa {
            pkcs1_der,
            spki_der,
            ..
        } = &self.public
        else {
            return None;
        };
        Some(match format {
            PublicKeyFormat::SpkiDer => spki_der.clone(),
            PublicKeyFormat::Pkcs1Der => pkcs1_der.clone(),
            PublicKeyFormat::SpkiPem => pem("PUBLIC KEY", spki_der).into_bytes(),
            PublicKeyFormat::Pkcs1Pem => pem("RSA PUBLIC KEY", pkcs1_der).into_bytes(),
        })
    }

    /// Signs `signing_input` (`base64url(header) "." base64url(payload)`)
    /// with `jsonwebtoken` and returns the base64url signature.
    pub fn sign(&self, signing_input: &[u8]) -> Result<String, DevIssuerError> {
        install_crypto_provider();
        jsonwebtoken::crypto::sign(signing_input, &self.encoding, self.alg.jwt_algorithm())
            .map_err(|e| DevIssuerError::Crypto(format!("signing failed: {e}")))
    }

    /// Verifies a base64url `signature` over `signing_input`.
    pub fn verify(&self, signing_input: &[u8], signature: &str) -> bool {
        install_crypto_provider();
        let Ok(key) = self.decoding_key() else {
            return false;
        };
        jsonwebtoken::crypto::verify(signature, signing_input, &key, self.alg.jwt_algorithm())
            .unwrap_or(false)
    }
}

/// RFC 7638 JWK thumbprint (SHA-256, base64url).
fn thumbprint(public: &PublicParts) -> String {
    // Members in lexicographic order, no whitespace.
    let canonical = match public {
        PublicParts::Rsa { n, e, .. } => {
            format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, b64u(e), b64u(n))
        }
        PublicParts::Ec { x, y } => format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            b64u(x),
            b64u(y)
        ),
        PublicParts::Ed { x } => format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, b64u(x)),
    };
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes());
    b64u(digest.as_ref())
}

/// PEM-armours `der` with 64-character lines and a trailing newline.
fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Reads one DER TLV: returns (tag, contents, rest).
fn der_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (len_bytes, after) = rest.split_at(count);
        rest = after;
        len_bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    if rest.len() < len {
        return None;
    }
    let (contents, rest) = rest.split_at(len);
    Some((tag, contents, rest))
}

/// Extracts the `privateKey` OCTET STRING of a PKCS#8 `PrivateKeyInfo`
/// (for RSA: the PKCS#1 `RSAPrivateKey` DER that `jsonwebtoken` expects).
fn pkcs8_inner_private_key(pkcs8: &[u8]) -> Option<&[u8]> {
    let (tag, seq, _) = der_tlv(pkcs8)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, _version, rest) = der_tlv(seq)?;
    if tag != 0x02 {
        return None;
    }
    let (tag, _alg_id, rest) = der_tlv(rest)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, key, _) = der_tlv(rest)?;
    (tag == 0x04).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_signs_and_verifies() {
        for alg in SigningAlgorithm::ALL {
            let key = SigningKey::generate(alg).expect("keygen");
            let sig = key.sign(b"a.b").expect("sign");
            assert!(key.verify(b"a.b", &sig), "{alg}");
            assert!(!key.verify(b"a.c", &sig), "{alg}");
            let jwk = key.public_jwk();
            assert_eq!(jwk["kid"], key.kid());
            assert_eq!(jwk["alg"], alg.as_str());
        }
    }

    #[test]
    fn rsa_public_key_encodings() {
        let key = SigningKey::generate(SigningAlgorithm::RS256).expect("keygen");
        let pem = key
            .rsa_public_key_bytes(PublicKeyFormat::SpkiPem)
            .expect("rsa");
        let pem = String::from_utf8(pem).expect("utf8");
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        assert!(pem.ends_with("-----END PUBLIC KEY-----\n"));
        let ec = SigningKey::generate(SigningAlgorithm::ES256).expect("keygen");
        assert!(ec.rsa_public_key_bytes(PublicKeyFormat::SpkiDer).is_none());
    }
}
