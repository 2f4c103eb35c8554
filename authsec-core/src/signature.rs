//! JWS signature checks with keys parsed once.
//!
//! `jsonwebtoken::crypto::verify` builds the key from the JWK's components on every call (for
//! RSA: the modulus and exponent into a fresh `EVP_PKEY`, about 2 µs), clones the
//! `DecodingKey` and allocates the decoded signature. With the `aws-lc-rs` feature (the
//! default) each [`VerificationKey`](crate::VerificationKey) instead holds an aws-lc-rs
//! `ParsedPublicKey` per algorithm it may verify, built when the JWKS is read, so a token costs
//! the signature arithmetic alone. The algorithms are the ones jsonwebtoken's aws-lc-rs backend
//! uses, so exactly the same signatures (and RSA key sizes, 2048 to 8192 bits) are accepted.
//!
//! A key aws-lc-rs will not parse up front, symmetric keys, and builds with only the
//! `rust-crypto` feature keep going through jsonwebtoken.

use jsonwebtoken::Algorithm;

/// The issuer's key parsed once per algorithm it may verify.
#[derive(Clone, Default)]
pub(crate) struct ParsedKeys {
    #[cfg(feature = "aws-lc-rs")]
    keys: Vec<(Algorithm, aws_lc_rs::signature::ParsedPublicKey)>,
}

#[cfg(feature = "aws-lc-rs")]
mod aws_lc {
    use aws_lc_rs::signature::{
        self as sig, ParsedPublicKey, RsaParameters, RsaPublicKeyComponents, VerificationAlgorithm,
    };
    use jsonwebtoken::Algorithm;
    use jsonwebtoken::jwk::{AlgorithmParameters, Jwk};

    use super::ParsedKeys;

    /// The largest signature: RSA 8192 bits (ECDSA and Ed25519 signatures are shorter).
    const MAX_SIGNATURE_BYTES: usize = 1024;

    fn rsa_parameters(algorithm: Algorithm) -> Option<&'static RsaParameters> {
        Some(match algorithm {
            Algorithm::RS256 => &sig::RSA_PKCS1_2048_8192_SHA256,
            Algorithm::RS384 => &sig::RSA_PKCS1_2048_8192_SHA384,
            Algorithm::RS512 => &sig::RSA_PKCS1_2048_8192_SHA512,
            Algorithm::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
            Algorithm::PS384 => &sig::RSA_PSS_2048_8192_SHA384,
            Algorithm::PS512 => &sig::RSA_PSS_2048_8192_SHA512,
            _ => return None,
        })
    }

    fn other_parameters(algorithm: Algorithm) -> Option<&'static dyn VerificationAlgorithm> {
        Some(match algorithm {
            Algorithm::ES256 => &sig::ECDSA_P256_SHA256_FIXED,
            Algorithm::ES384 => &sig::ECDSA_P384_SHA384_FIXED,
            Algorithm::EdDSA => &sig::ED25519,
            _ => return None,
        })
    }

    fn parse(jwk: &Jwk, algorithm: Algorithm) -> Option<ParsedPublicKey> {
        let b64 = crate::b64::decode;
        match &jwk.algorithm {
            AlgorithmParameters::RSA(params) => {
                let (n, e) = (b64(&params.n)?, b64(&params.e)?);
                RsaPublicKeyComponents { n: &n, e: &e }
                    .to_parsed_public_key(rsa_parameters(algorithm)?)
                    .ok()
            }
            AlgorithmParameters::EllipticCurve(params) => {
                // The uncompressed point, as jsonwebtoken builds it from x and y.
                let mut point = vec![0x04];
                point.extend(b64(&params.x)?);
                point.extend(b64(&params.y)?);
                ParsedPublicKey::new(other_parameters(algorithm)?, point).ok()
            }
            AlgorithmParameters::OctetKeyPair(params) => {
                ParsedPublicKey::new(other_parameters(algorithm)?, b64(&params.x)?).ok()
            }
            _ => None,
        }
    }

    impl ParsedKeys {
        pub(crate) fn from_jwk(jwk: &Jwk, algorithms: &[Algorithm]) -> Self {
            ParsedKeys {
                keys: algorithms
                    .iter()
                    .filter_map(|&alg| Some((alg, parse(jwk, alg)?)))
                    .collect(),
            }
        }

        pub(crate) fn verify(
            &self,
            algorithm: Algorithm,
            message: &[u8],
            signature_b64: &str,
        ) -> Option<bool> {
            let (_, key) = self.keys.iter().find(|(alg, _)| *alg == algorithm)?;
            // Decoded on the stack, as strictly as jsonwebtoken would (crate::b64).
            let mut signature = [0u8; MAX_SIGNATURE_BYTES];
            let Some(signature) = crate::b64::decode_into(signature_b64, &mut signature) else {
                return Some(false);
            };
            Some(key.verify_sig(message, signature).is_ok())
        }
    }
}

#[cfg(not(feature = "aws-lc-rs"))]
impl ParsedKeys {
    pub(crate) fn from_jwk(_jwk: &jsonwebtoken::jwk::Jwk, _algorithms: &[Algorithm]) -> Self {
        ParsedKeys {}
    }

    pub(crate) fn verify(
        &self,
        _algorithm: Algorithm,
        _message: &[u8],
        _signature_b64: &str,
    ) -> Option<bool> {
        None
    }
}

impl ParsedKeys {
    /// How many algorithms have a parsed key (for the tests, which need aws-lc-rs).
    #[cfg(all(test, feature = "aws-lc-rs"))]
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }
}

#[cfg(all(test, feature = "aws-lc-rs"))]
mod tests {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
    use aws_lc_rs::signature::{
        ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256,
        RSA_PSS_SHA256,
    };
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::jwk::Jwk;
    use jsonwebtoken::{Algorithm, DecodingKey};
    use serde_json::json;

    use super::ParsedKeys;

    const MESSAGE: &[u8] = b"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9";

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The pre-parsed check and jsonwebtoken's agree, on a genuine and a tampered signature.
    fn agree(jwk: serde_json::Value, algorithm: Algorithm, signature: &[u8]) {
        let jwk: Jwk = serde_json::from_value(jwk).unwrap();
        let parsed = ParsedKeys::from_jwk(&jwk, &[algorithm]);
        assert_eq!(parsed.len(), 1, "{algorithm:?} is parsed up front");
        let key = DecodingKey::from_jwk(&jwk).unwrap();
        let mut tampered = signature.to_vec();
        tampered[0] ^= 1;
        for (signature, valid) in [(signature, true), (&tampered[..], false)] {
            let encoded = b64(signature);
            assert_eq!(
                parsed.verify(algorithm, MESSAGE, &encoded),
                Some(valid),
                "{algorithm:?}"
            );
            crate::jwt::install_crypto_provider();
            assert_eq!(
                jsonwebtoken::crypto::verify(&encoded, MESSAGE, &key, algorithm).unwrap_or(false),
                valid
            );
        }
        assert_eq!(
            parsed.verify(algorithm, MESSAGE, "not base64!"),
            Some(false)
        );
        assert_eq!(parsed.verify(Algorithm::RS512, MESSAGE, "AA"), None);
    }

    #[test]
    fn rsa_keys_are_parsed_once_and_verify_like_jsonwebtoken() {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        let public = pair.public_key();
        let jwk = json!({"kty": "RSA",
            "n": b64(public.modulus().big_endian_without_leading_zero()),
            "e": b64(public.exponent().big_endian_without_leading_zero())});
        let rng = SystemRandom::new();
        for (algorithm, encoding) in [
            (Algorithm::RS256, &RSA_PKCS1_SHA256),
            (Algorithm::PS256, &RSA_PSS_SHA256),
        ] {
            let mut signature = vec![0; pair.public_modulus_len()];
            pair.sign(encoding, &rng, MESSAGE, &mut signature).unwrap();
            agree(jwk.clone(), algorithm, &signature);
        }
    }

    #[test]
    fn ec_and_ed_keys_are_parsed_once_and_verify_like_jsonwebtoken() {
        let rng = SystemRandom::new();
        let ec = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let point = ec.public_key().as_ref();
        let jwk = json!({"kty": "EC", "crv": "P-256",
            "x": b64(&point[1..33]), "y": b64(&point[33..])});
        let signature = ec.sign(&rng, MESSAGE).unwrap();
        agree(jwk, Algorithm::ES256, signature.as_ref());

        let ed = Ed25519KeyPair::generate().unwrap();
        let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(ed.public_key().as_ref())});
        agree(jwk, Algorithm::EdDSA, ed.sign(MESSAGE).as_ref());
    }
}
