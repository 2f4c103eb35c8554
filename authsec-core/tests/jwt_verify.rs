//! JwtVerifier end to end with a real signature (HS256 with a deliberately configured shared
//! secret, so no key generation is needed here). Run with both crypto backends by
//! `cargo xtask test` (`--features aws-lc-rs,rust-crypto`): the process-level provider is
//! installed at construction, so the first verification does not panic.

use std::sync::Arc;

use authsec_core::jsonwebtoken::{self, Algorithm, EncodingKey, Header};
use authsec_core::{
    AccessRequest, Authorization, Decision, DenialCode, Guard, JwtRules, JwtVerifier, ManualClock,
    StaticKeys, TokenVerifier, TypPolicy, VerificationKey,
};
use serde_json::{Value, json};

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-a-full-entropy-secret";
const ISSUER: &str = "https://as.example";
const RESOURCE: &str = "https://mcp.example.com/mcp";
const NOW: u64 = 1_800_000_000;

fn token(claims: Value, typ: Option<&str>) -> String {
    // Signing goes through jsonwebtoken's process-level provider too.
    authsec_core::install_crypto_provider();
    let mut header = Header::new(Algorithm::HS256);
    header.typ = typ.map(str::to_owned);
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(SECRET)).unwrap()
}

fn claims() -> Value {
    json!({"iss": ISSUER, "sub": "alice", "aud": RESOURCE, "exp": NOW + 300, "iat": NOW,
           "scope": "notes:read", "client_id": "agent"})
}

fn verifier(typ: TypPolicy) -> JwtVerifier<StaticKeys> {
    let key = VerificationKey::dangerous_shared_secret(SECRET, Algorithm::HS256).unwrap();
    JwtVerifier::new(
        JwtRules::new(ISSUER)
            .algorithms([Algorithm::HS256])
            .typ(typ),
        StaticKeys::single(key),
    )
    .unwrap()
    .with_clock(Arc::new(ManualClock::new(NOW)))
}

#[tokio::test]
async fn a_valid_signature_verifies_and_claims_are_read() {
    let claims = verifier(TypPolicy::AccessTokenJwt)
        .verify(&token(claims(), Some("at+jwt")))
        .await
        .unwrap();
    assert_eq!(claims.subject.as_deref(), Some("alice"));
    assert_eq!(claims.audience, [RESOURCE]);
    assert_eq!(claims.scopes.to_string(), "notes:read");
}

#[tokio::test]
async fn a_tampered_payload_is_invalid_token() {
    let good = token(claims(), Some("at+jwt"));
    let forged_payload = token(
        json!({"iss": ISSUER, "sub": "root", "aud": RESOURCE, "exp": NOW + 300}),
        Some("at+jwt"),
    );
    let parts: Vec<&str> = good.split('.').collect();
    let forged: Vec<&str> = forged_payload.split('.').collect();
    let tampered = format!("{}.{}.{}", parts[0], forged[1], parts[2]);
    let denial = verifier(TypPolicy::AccessTokenJwt)
        .verify(&tampered)
        .await
        .unwrap_err();
    assert_eq!(denial.code(), DenialCode::InvalidToken);
    assert_eq!(denial.description(), "the token signature is invalid");
}

#[tokio::test]
async fn leeway_applies_to_exp_and_nbf() {
    let v = verifier(TypPolicy::AccessTokenJwt);
    let mut c = claims();
    c["exp"] = json!(NOW - 29);
    assert!(v.verify(&token(c.clone(), Some("at+jwt"))).await.is_ok());
    c["exp"] = json!(NOW - 30);
    let denial = v.verify(&token(c, Some("at+jwt"))).await.unwrap_err();
    assert_eq!(denial.description(), "the token has expired");
    let mut c = claims();
    c["nbf"] = json!(NOW + 31);
    let denial = v.verify(&token(c, Some("at+jwt"))).await.unwrap_err();
    assert_eq!(denial.description(), "the token is not valid yet (nbf)");
}

#[tokio::test]
async fn typ_is_required_unless_relaxed_and_id_tokens_stay_refused() {
    let strict = verifier(TypPolicy::AccessTokenJwt);
    let denial = strict
        .verify(&token(claims(), Some("JWT")))
        .await
        .unwrap_err();
    assert_eq!(
        denial.description(),
        "the token's typ is \"JWT\", expected \"at+jwt\" (RFC 9068)"
    );
    assert!(
        strict
            .verify(&token(claims(), Some("application/at+jwt")))
            .await
            .is_ok()
    );
    let relaxed = verifier(TypPolicy::Relaxed);
    assert!(relaxed.verify(&token(claims(), Some("JWT"))).await.is_ok());
    assert!(relaxed.verify(&token(claims(), None)).await.is_ok());
    let denial = relaxed
        .verify(&token(claims(), Some("id_token+jwt")))
        .await
        .unwrap_err();
    assert_eq!(
        denial.description(),
        "the token's typ \"id_token+jwt\" is not an access token type"
    );
}

#[tokio::test]
async fn hmac_is_refused_unless_on_the_allow_list() {
    let key = VerificationKey::dangerous_shared_secret(SECRET, Algorithm::HS256).unwrap();
    let default_rules = JwtVerifier::new(JwtRules::new(ISSUER), StaticKeys::single(key)).unwrap();
    let denial = default_rules
        .verify(&token(claims(), Some("at+jwt")))
        .await
        .unwrap_err();
    assert_eq!(denial.description(), "the algorithm HS256 is not allowed");
    assert!(VerificationKey::dangerous_shared_secret(b"short", Algorithm::HS256).is_err());
}

#[tokio::test]
async fn the_guard_caches_a_verified_token_until_it_expires() {
    let clock = Arc::new(ManualClock::new(NOW));
    let key = VerificationKey::dangerous_shared_secret(SECRET, Algorithm::HS256).unwrap();
    let verifier = JwtVerifier::new(
        JwtRules::new(ISSUER).algorithms([Algorithm::HS256]),
        StaticKeys::single(key),
    )
    .unwrap()
    .with_clock(clock.clone());
    let guard = Guard::builder(RESOURCE)
        .authorization_server(ISSUER)
        .verifier(verifier)
        .clock(clock.clone())
        .build()
        .unwrap();
    let token = token(claims(), Some("at+jwt"));
    let header = format!("Bearer {token}");
    let request = AccessRequest::new(Authorization::One(header.as_bytes()));
    let Decision::Allow(first) = guard.check(&request).await else {
        panic!("a valid token is allowed")
    };
    let Decision::Allow(second) = guard.check(&request).await else {
        panic!("a cached token is allowed")
    };
    // The same Principal allocation: served from the cache, not verified again.
    assert_eq!(first.token_fingerprint(), second.token_fingerprint());
    assert!(std::ptr::eq(first.claims(), second.claims()));
    clock.advance(300 + 30);
    let Decision::Deny(denial) = guard.check(&request).await else {
        panic!("an expired cached token is refused")
    };
    assert_eq!(denial.code(), DenialCode::InvalidToken);
    assert_eq!(denial.description(), "the token has expired");
}
