//! Hostile and malformed tokens against a real Guard (JWT mode) whose keys come from a running
//! dev issuer over loopback HTTP: for every attack, the exact denial code, HTTP status,
//! `WWW-Authenticate` challenge and JSON body a client sees (spec-checklist §3, §5, §6, §13).
//!
//! Expected descriptions are the library's (authsec-core `jwt.rs`, `guard.rs`, `bearer.rs`),
//! written out literally; in the challenge, `"` inside a description is rendered as `'`
//! (RFC 6750 §3 forbids `"` in `error_description`), so those cases spell out both forms.

use authsec_core::principal::fingerprint;
use authsec_core::{
    AccessRequest, Authorization, Decision, Denial, DenialCode, Guard, Principal, RenderedDenial,
};
use authsec_jwks::{RemoteIssuer, ValidationMode};
use authsec_tests::dev_issuer::{
    DevIssuer, EmbeddedKey, GarbageToken, MintBuilder, PublicKeyFormat, garbage_token,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

const RESOURCE: &str = "http://127.0.0.1:8811/mcp";
const RESOURCE_METADATA: &str = "http://127.0.0.1:8811/.well-known/oauth-protected-resource/mcp";

// ----- fixture ----------------------------------------------------------------------------------

/// A dev issuer and a Guard for [`RESOURCE`] that verifies its tokens with the JWKS it
/// discovered (no key is shared in memory: everything goes through discovery and `/jwks`).
struct Fixture {
    dev: DevIssuer,
    issuer: RemoteIssuer,
    guard: Guard,
}

async fn fixture() -> Fixture {
    let dev = DevIssuer::start().await.expect("dev issuer starts");
    let issuer = RemoteIssuer::builder(dev.issuer())
        .discover()
        .await
        .expect("discovery of the dev issuer succeeds");
    let guard = issuer
        .guard(RESOURCE, ValidationMode::Jwt)
        .expect("JWT mode is available")
        .initial_scopes(["notes:read"])
        .build()
        .expect("guard builds");
    Fixture { dev, issuer, guard }
}

impl Fixture {
    /// A well-formed token for this resource: only the aspect under test is then changed.
    fn mint(&self) -> MintBuilder {
        self.dev
            .mint()
            .aud(RESOURCE)
            .scope("notes:read notes:write")
    }

    /// `Authorization: Bearer <token>`, nothing else.
    async fn check(&self, token: &str) -> Decision {
        let header = format!("Bearer {token}");
        self.guard
            .check(&AccessRequest::new(Authorization::One(header.as_bytes())))
            .await
    }

    async fn denial(&self, token: &str) -> Denial {
        match self.check(token).await {
            Decision::Deny(denial) => denial,
            Decision::Allow(principal) => panic!("hostile token was allowed: {principal:?}"),
        }
    }

    async fn principal(&self, token: &str) -> Principal {
        match self.check(token).await {
            Decision::Allow(principal) => principal,
            Decision::Deny(denial) => panic!("well-formed token was denied: {denial:?}"),
        }
    }
}

// ----- expectations -----------------------------------------------------------------------------

fn body(rendered: &RenderedDenial) -> Value {
    serde_json::from_str(&rendered.body).expect("the denial body is JSON")
}

/// Nothing a client or a log sees echoes the token.
fn assert_token_not_echoed(rendered: &RenderedDenial, token: &str) {
    if token.is_empty() {
        return;
    }
    assert!(!rendered.body.contains(token), "body echoes the token");
    if let Some(challenge) = &rendered.www_authenticate {
        assert!(!challenge.contains(token), "challenge echoes the token");
    }
}

/// 401, `error="invalid_token"`, body `denial: invalid_token`.
fn assert_invalid_token(
    guard: &Guard,
    denial: &Denial,
    token: &str,
    description: &str,
    challenge_description: &str,
) {
    assert_eq!(denial.code(), DenialCode::InvalidToken, "{denial:?}");
    let rendered = guard.render(denial);
    assert_eq!(rendered.status, 401);
    assert_eq!(
        rendered.www_authenticate.as_deref(),
        Some(
            format!(
                "Bearer error=\"invalid_token\", error_description=\"{challenge_description}\", \
                 resource_metadata=\"{RESOURCE_METADATA}\""
            )
            .as_str()
        )
    );
    assert_eq!(rendered.retry_after, None);
    assert_eq!(
        body(&rendered),
        json!({
            "error": "invalid_token",
            "error_description": description,
            "denial": "invalid_token",
            // The family's `reason`: only expiry has its own.
            "reason": if description == "the token has expired" { "token_expired" } else { "invalid_token" },
            "resource_metadata": RESOURCE_METADATA,
        })
    );
    assert_token_not_echoed(&rendered, token);
}

/// [`assert_invalid_token`] for a description without `"` (identical in body and challenge).
fn assert_invalid_token_plain(guard: &Guard, denial: &Denial, token: &str, description: &str) {
    assert_invalid_token(guard, denial, token, description, description);
}

/// 401, `error="invalid_token"` (RFC 9068 has no audience error), body `denial: invalid_audience`.
fn assert_invalid_audience(
    guard: &Guard,
    denial: &Denial,
    token: &str,
    description: &str,
    challenge_description: &str,
) {
    assert_eq!(denial.code(), DenialCode::InvalidAudience, "{denial:?}");
    let rendered = guard.render(denial);
    assert_eq!(rendered.status, 401);
    assert_eq!(
        rendered.www_authenticate.as_deref(),
        Some(
            format!(
                "Bearer error=\"invalid_token\", error_description=\"{challenge_description}\", \
                 resource_metadata=\"{RESOURCE_METADATA}\""
            )
            .as_str()
        )
    );
    assert_eq!(rendered.retry_after, None);
    assert_eq!(
        body(&rendered),
        json!({
            "error": "invalid_token",
            "error_description": description,
            "denial": "invalid_audience", "reason": "audience_mismatch",
            "resource_metadata": RESOURCE_METADATA,
        })
    );
    assert_token_not_echoed(&rendered, token);
}

/// 400, `error="invalid_request"`, body `denial: invalid_request`.
fn assert_invalid_request(
    guard: &Guard,
    denial: &Denial,
    token: &str,
    description: &str,
    challenge_description: &str,
) {
    assert_eq!(denial.code(), DenialCode::InvalidRequest, "{denial:?}");
    let rendered = guard.render(denial);
    assert_eq!(rendered.status, 400);
    assert_eq!(
        rendered.www_authenticate.as_deref(),
        Some(
            format!(
                "Bearer error=\"invalid_request\", error_description=\"{challenge_description}\", \
                 resource_metadata=\"{RESOURCE_METADATA}\""
            )
            .as_str()
        )
    );
    assert_eq!(rendered.retry_after, None);
    assert_eq!(
        body(&rendered),
        json!({
            "error": "invalid_request",
            "error_description": description,
            "denial": "invalid_request",
            "resource_metadata": RESOURCE_METADATA,
        })
    );
    assert_token_not_echoed(&rendered, token);
}

/// The `kid` a token's header carries.
fn header_kid(token: &str) -> String {
    let header = token.split('.').next().expect("a header segment");
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).expect("base64url header"))
            .expect("JSON header");
    header["kid"].as_str().expect("a kid").to_owned()
}

/// Description and challenge description of an unknown `kid` (`{:?}` quoting, `"` → `'`).
fn unknown_kid_descriptions(kid: &str) -> (String, String) {
    assert!(
        kid.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "kid {kid:?} needs no escaping"
    );
    (
        format!("the issuer publishes no key with kid \"{kid}\""),
        format!("the issuer publishes no key with kid '{kid}'"),
    )
}

// ----- positive controls ------------------------------------------------------------------------

#[tokio::test]
async fn well_formed_token_is_allowed_with_its_subject_and_scopes() {
    let f = fixture().await;
    let token = f.mint().sign();
    let principal = f.principal(&token).await;
    assert_eq!(principal.subject(), "alice");
    assert_eq!(principal.client_id(), Some("dev-client"));
    assert_eq!(principal.issuer(), Some(f.dev.issuer()));
    assert_eq!(principal.scopes().to_string(), "notes:read notes:write");
    assert!(principal.scopes().contains("notes:read"));
    assert!(principal.scopes().contains("notes:write"));
    assert!(!principal.scopes().contains("notes:admin"));
}

#[tokio::test]
async fn token_fingerprint_is_twelve_hex_digits_and_never_the_token() {
    let f = fixture().await;
    let token = f.mint().sign();
    let other = f.mint().sign();
    let principal = f.principal(&token).await;
    let fp = principal.token_fingerprint();
    assert_eq!(fp, fingerprint(&token));
    assert_eq!(fp.len(), 12);
    assert!(
        fp.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{fp}"
    );
    assert_ne!(fp, token);
    assert!(!fp.contains(&token));
    assert!(
        !token.contains(fp),
        "a fingerprint must not be a piece of the token"
    );
    assert_ne!(
        fp,
        fingerprint(&other),
        "distinct tokens, distinct fingerprints"
    );
    let debug = format!("{principal:?}");
    assert!(
        !debug.contains(&token),
        "Debug of a Principal shows the token"
    );
    assert!(debug.contains(fp));
    // Served from the verified-token cache the second time: same fingerprint, still no token.
    let again = f.principal(&token).await;
    assert_eq!(again.token_fingerprint(), fp);
}

/// A token that shares a cached token's length and signature but not its payload is verified,
/// not served from the verified-token cache.
#[tokio::test]
async fn tampered_payload_of_a_cached_token_is_invalid_token() {
    let f = fixture().await;
    let token = f.mint().sign();
    assert_eq!(f.principal(&token).await.subject(), "alice");
    let mut parts: Vec<&str> = token.split('.').collect();
    let claims = String::from_utf8(URL_SAFE_NO_PAD.decode(parts[1]).expect("base64url claims"))
        .expect("UTF-8 claims");
    let forged = claims.replace(r#""sub":"alice""#, r#""sub":"admin""#);
    assert_ne!(forged, claims, "the dev issuer's claims name alice");
    let payload = URL_SAFE_NO_PAD.encode(forged);
    parts[1] = &payload;
    let tampered = parts.join(".");
    assert_eq!(
        tampered.len(),
        token.len(),
        "alice and admin have the same length"
    );
    assert_eq!(tampered[tampered.len() - 32..], token[token.len() - 32..]);
    let denial = f.denial(&tampered).await;
    assert_invalid_token_plain(
        &f.guard,
        &denial,
        &tampered,
        "the token signature is invalid",
    );
    // The genuine token is still served.
    assert_eq!(f.principal(&token).await.subject(), "alice");
}

// ----- alg none -----------------------------------------------------------------------------------

const ALG_NONE: &str = "unsigned tokens (alg none) are refused";

#[tokio::test]
async fn alg_none_is_invalid_token() {
    let f = fixture().await;
    let token = f.mint().alg_none();
    let denial = f.denial(&token).await;
    assert_invalid_token_plain(&f.guard, &denial, &token, ALG_NONE);
}

#[tokio::test]
async fn alg_upper_case_none_is_invalid_token() {
    let f = fixture().await;
    let token = f.mint().unsigned("NONE");
    let denial = f.denial(&token).await;
    assert_invalid_token_plain(&f.guard, &denial, &token, ALG_NONE);
}

#[tokio::test]
async fn alg_capitalised_none_is_invalid_token() {
    let f = fixture().await;
    let token = f.mint().unsigned("None");
    let denial = f.denial(&token).await;
    assert_invalid_token_plain(&f.guard, &denial, &token, ALG_NONE);
}

// ----- algorithm confusion: HS256 keyed with the RSA public key -------------------------------------

async fn hs256_with_public_key_is_invalid_token(format: PublicKeyFormat) {
    // Exhaustive on purpose: a new format fails to compile until it has a test below.
    match format {
        PublicKeyFormat::SpkiPem
        | PublicKeyFormat::SpkiDer
        | PublicKeyFormat::Pkcs1Pem
        | PublicKeyFormat::Pkcs1Der => {}
    }
    let f = fixture().await;
    let token = f.mint().hs256_with_public_key(format);
    assert_eq!(header_kid(&token), f.dev.active_kid(), "the RSA key's kid");
    let denial = f.denial(&token).await;
    assert_invalid_token_plain(
        &f.guard,
        &denial,
        &token,
        "the algorithm HS256 is not allowed",
    );
}

#[tokio::test]
async fn hs256_keyed_with_spki_pem_public_key_is_invalid_token() {
    hs256_with_public_key_is_invalid_token(PublicKeyFormat::SpkiPem).await;
}

#[tokio::test]
async fn hs256_keyed_with_spki_der_public_key_is_invalid_token() {
    hs256_with_public_key_is_invalid_token(PublicKeyFormat::SpkiDer).await;
}

#[tokio::test]
async fn hs256_keyed_with_pkcs1_pem_public_key_is_invalid_token() {
    hs256_with_public_key_is_invalid_token(PublicKeyFormat::Pkcs1Pem).await;
}

#[tokio::test]
async fn hs256_keyed_with_pkcs1_der_public_key_is_invalid_token() {
    hs256_with_public_key_is_invalid_token(PublicKeyFormat::Pkcs1Der).await;
}

// ----- keys ---------------------------------------------------------------------------------------

#[tokio::test]
async fn kid_not_in_the_jwks_is_invalid_token() {
    let f = fixture().await;
    // Genuinely signed by the issuer's key: a verifier that tried every key would accept it.
    let token = f.mint().unknown_kid();
    let kid = header_kid(&token);
    assert!(kid.starts_with("unknown-"), "{kid}");
    let denial = f.denial(&token).await;
    let (description, challenge) = unknown_kid_descriptions(&kid);
    assert_invalid_token(&f.guard, &denial, &token, &description, &challenge);
}

#[tokio::test]
async fn foreign_key_reusing_the_issuers_kid_is_invalid_token() {
    let f = fixture().await;
    let token = f.mint().foreign_key_with_issuer_kid();
    assert_eq!(header_kid(&token), f.dev.active_kid());
    let denial = f.denial(&token).await;
    assert_invalid_token_plain(&f.guard, &denial, &token, "the token signature is invalid");
}

#[tokio::test]
async fn json_array_header_signed_by_the_issuer_is_invalid_token() {
    // RFC 7515 §5.2: the JOSE header must be a JSON *object*. A header that is a JSON array in
    // field order (alg, typ, kid) is not one, whoever signed it.
    let f = fixture().await;
    let genuine = f.mint().sign();
    let payload = genuine.split('.').nth(1).expect("payload segment");
    let header = URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&json!(["RS256", "at+jwt", f.dev.active_kid()])).expect("json"));
    let input = format!("{header}.{payload}");
    let signature = f
        .dev
        .active_key()
        .sign(input.as_bytes())
        .expect("the issuer key signs");
    let token = format!("{input}.{signature}");
    let denial = f.denial(&token).await;
    assert_invalid_token_plain(
        &f.guard,
        &denial,
        &token,
        "the JWT header is not a JSON object with alg",
    );
}

// ----- claims ---------------------------------------------------------------------------------------

#[tokio::test]
async fn wrong_iss_signed_with_the_real_key_is_invalid_token() {
    let f = fixture().await;
    let token = f.mint().iss("https://evil.example").sign();
    let denial = f.denial(&token).await;
    let issuer = f.dev.issuer();
    assert_invalid_token(
        &f.guard,
        &denial,
        &token,
        &format!(
            "the token's iss \"https://evil.example\" is not the expected issuer \"{issuer}\""
        ),
        &format!("the token's iss 'https://evil.example' is not the expected issuer '{issuer}'"),
    );
}

#[tokio::test]
async fn issuer_with_a_trailing_slash_is_invalid_token() {
    // RS-JWT-3: `iss` is compared exactly.
    let f = fixture().await;
    let iss = format!("{}/", f.dev.issuer());
    let token = f.mint().iss(iss.clone()).sign();
    let denial = f.denial(&token).await;
    let issuer = f.dev.issuer();
    assert_invalid_token(
        &f.guard,
        &denial,
        &token,
        &format!("the token's iss \"{iss}\" is not the expected issuer \"{issuer}\""),
        &format!("the token's iss '{iss}' is not the expected issuer '{issuer}'"),
    );
}

#[tokio::test]
async fn wrong_aud_is_invalid_audience() {
    let f = fixture().await;
    let token = f.mint().aud("https://other.example/mcp").sign();
    let denial = f.denial(&token).await;
    assert_invalid_audience(
        &f.guard,
        &denial,
        &token,
        "the token's aud [\"https://other.example/mcp\"] does not include this resource \
         \"http://127.0.0.1:8811/mcp\"; request the token with resource=http://127.0.0.1:8811/mcp",
        "the token's aud ['https://other.example/mcp'] does not include this resource \
         'http://127.0.0.1:8811/mcp'; request the token with resource=http://127.0.0.1:8811/mcp",
    );
}

#[tokio::test]
async fn aud_array_without_this_resource_is_invalid_audience() {
    let f = fixture().await;
    let token = f
        .mint()
        .audiences(["https://a.example/mcp", "http://127.0.0.1:8812/mcp"])
        .sign();
    let denial = f.denial(&token).await;
    assert_invalid_audience(
        &f.guard,
        &denial,
        &token,
        "the token's aud [\"https://a.example/mcp\", \"http://127.0.0.1:8812/mcp\"] does not \
         include this resource \"http://127.0.0.1:8811/mcp\"; request the token with \
         resource=http://127.0.0.1:8811/mcp",
        "the token's aud ['https://a.example/mcp', 'http://127.0.0.1:8812/mcp'] does not \
         include this resource 'http://127.0.0.1:8811/mcp'; request the token with \
         resource=http://127.0.0.1:8811/mcp",
    );
}

#[tokio::test]
async fn aud_array_containing_this_resource_is_allowed() {
    let f = fixture().await;
    let token = f
        .mint()
        .audiences(["https://a.example/mcp", RESOURCE, "https://b.example"])
        .sign();
    let principal = f.principal(&token).await;
    assert_eq!(principal.subject(), "alice");
    assert_eq!(principal.claims().audience.len(), 3);
}

#[tokio::test]
async fn upper_case_scheme_audience_is_allowed() {
    // Spec ambiguity A3 / MCP: scheme and host are case-insensitive (RFC 3986 §6.2.2.1).
    let f = fixture().await;
    let token = f.mint().aud("HTTP://127.0.0.1:8811/mcp").sign();
    let principal = f.principal(&token).await;
    assert_eq!(principal.subject(), "alice");
}

#[tokio::test]
async fn upper_case_scheme_and_host_audience_is_allowed() {
    // 127.0.0.1 has no letters to upper-case: a second Guard for a named host shows the host
    // comparison too.
    let f = fixture().await;
    let guard = f
        .issuer
        .guard("http://localhost:8811/mcp", ValidationMode::Jwt)
        .expect("JWT mode")
        .build()
        .expect("guard builds");
    let token = f.dev.mint().aud("HTTP://LocalHost:8811/mcp").sign();
    let header = format!("Bearer {token}");
    let decision = guard
        .check(&AccessRequest::new(Authorization::One(header.as_bytes())))
        .await;
    match decision {
        Decision::Allow(principal) => assert_eq!(principal.subject(), "alice"),
        Decision::Deny(denial) => panic!("upper-case scheme/host audience denied: {denial:?}"),
    }
}

#[tokio::test]
async fn trailing_slash_audience_is_invalid_audience() {
    // Paths compare exactly: `/mcp/` is another resource than `/mcp`.
    let f = fixture().await;
    let token = f.mint().aud("http://127.0.0.1:8811/mcp/").sign();
    let denial = f.denial(&token).await;
    assert_invalid_audience(
        &f.guard,
        &denial,
        &token,
        "the token's aud [\"http://127.0.0.1:8811/mcp/\"] does not include this resource \
         \"http://127.0.0.1:8811/mcp\"; request the token with resource=http://127.0.0.1:8811/mcp",
        "the token's aud ['http://127.0.0.1:8811/mcp/'] does not include this resource \
         'http://127.0.0.1:8811/mcp'; request the token with resource=http://127.0.0.1:8811/mcp",
    );
}

#[tokio::test]
async fn expired_token_is_invalid_token() {
    let f = fixture().await;
    let token = f.mint().expires_in(-600).sign();
    let denial = f.denial(&token).await;
    assert_invalid_token_plain(&f.guard, &denial, &token, "the token has expired");
}

#[tokio::test]
async fn token_not_valid_before_a_future_nbf_is_invalid_token() {
    let f = fixture().await;
    let token = f.mint().not_before_in(600).sign();
    let denial = f.denial(&token).await;
    assert_invalid_token_plain(
        &f.guard,
        &denial,
        &token,
        "the token is not valid yet (nbf)",
    );
}

#[tokio::test]
async fn typ_jwt_when_at_jwt_is_required_is_invalid_token() {
    // RS-JWT-1: an ID token (`typ: JWT`) must not pass as an access token.
    let f = fixture().await;
    let token = f.mint().typ("JWT").sign();
    let denial = f.denial(&token).await;
    assert_invalid_token(
        &f.guard,
        &denial,
        &token,
        "the token's typ is \"JWT\", expected \"at+jwt\" (RFC 9068)",
        "the token's typ is 'JWT', expected 'at+jwt' (RFC 9068)",
    );
}

#[tokio::test]
async fn missing_exp_is_invalid_token() {
    let f = fixture().await;
    let token = f.mint().without("exp").sign();
    let denial = f.denial(&token).await;
    assert_invalid_token_plain(&f.guard, &denial, &token, "the token has no exp claim");
}

#[tokio::test]
async fn missing_aud_is_invalid_token() {
    let f = fixture().await;
    let token = f.mint().without("aud").sign();
    let denial = f.denial(&token).await;
    assert_invalid_token_plain(&f.guard, &denial, &token, "the token has no aud claim");
}

#[tokio::test]
async fn missing_iss_is_invalid_token() {
    let f = fixture().await;
    let token = f.mint().without("iss").sign();
    let denial = f.denial(&token).await;
    assert_invalid_token_plain(&f.guard, &denial, &token, "the token has no iss claim");
}

// ----- keys named by the token header are never fetched or used ------------------------------------

async fn embedded_key_is_invalid_token_without_outbound_request(
    f: &Fixture,
    embedded: EmbeddedKey,
) {
    let token = f.mint().embedded_key(embedded);
    // The attacker's own kid, which the issuer does not publish.
    let kid = header_kid(&token);
    assert!(!f.dev.kids().contains(&kid));
    let denial = f.denial(&token).await;
    let (description, challenge) = unknown_kid_descriptions(&kid);
    assert_invalid_token(&f.guard, &denial, &token, &description, &challenge);
    assert_eq!(
        f.dev.attacker_jwks_fetches(),
        0,
        "the attacker's key URL was fetched"
    );
}

#[tokio::test]
async fn jku_header_pointing_at_an_attacker_key_is_invalid_token_and_not_fetched() {
    let f = fixture().await;
    embedded_key_is_invalid_token_without_outbound_request(
        &f,
        EmbeddedKey::Jku(f.dev.attacker_jwks_url()),
    )
    .await;
}

#[tokio::test]
async fn x5u_header_pointing_at_an_attacker_key_is_invalid_token_and_not_fetched() {
    let f = fixture().await;
    embedded_key_is_invalid_token_without_outbound_request(
        &f,
        EmbeddedKey::X5u(f.dev.attacker_jwks_url()),
    )
    .await;
}

#[tokio::test]
async fn jwk_header_with_an_attacker_key_is_invalid_token_and_not_used() {
    let f = fixture().await;
    embedded_key_is_invalid_token_without_outbound_request(&f, EmbeddedKey::Jwk).await;
}

#[tokio::test]
async fn jku_header_with_the_issuers_kid_is_still_verified_against_the_issuers_jwks() {
    // The header names the attacker's key set but carries the issuer's kid: the key comes from
    // the issuer's JWKS, the attacker's signature fails, and the attacker's URL is not touched.
    let f = fixture().await;
    let token = f
        .mint()
        .header("jku", f.dev.attacker_jwks_url())
        .foreign_key_with_issuer_kid();
    let denial = f.denial(&token).await;
    assert_invalid_token_plain(&f.guard, &denial, &token, "the token signature is invalid");
    assert_eq!(f.dev.attacker_jwks_fetches(), 0);
    assert!(f.dev.jwks_fetches() >= 1, "the issuer's own JWKS was used");
}

// ----- size -----------------------------------------------------------------------------------------

#[tokio::test]
async fn oversized_token_is_invalid_token() {
    let f = fixture().await;
    let fetches = f.dev.jwks_fetches();
    let token = f.mint().oversized();
    assert!(token.len() > 16 * 1024);
    let denial = f.denial(&token).await;
    assert_invalid_token_plain(
        &f.guard,
        &denial,
        &token,
        "the token is larger than 8192 bytes",
    );
    assert_eq!(
        f.dev.jwks_fetches(),
        fetches,
        "refused before any key lookup"
    );
}

// ----- garbage ----------------------------------------------------------------------------------------

/// Whether a garbage shape is refused at extraction (not RFC 6750 `b64token` syntax: 400
/// `invalid_request`) or by the JWT verifier (401 `invalid_token`), and with which description.
enum Refusal {
    /// Body description, challenge description.
    Request(&'static str, &'static str),
    Token(&'static str),
}

const NOT_B64TOKEN: &str = "the bearer token is not a valid b64token (RFC 6750 section 2.1)";
/// The same in the challenge: `§` is not in the RFC 6750 `error_description` character set
/// (`%x20-21 / %x23-5B / %x5D-7E`) and is rendered as `?`.
const NOT_B64TOKEN_CHALLENGE: &str =
    "the bearer token is not a valid b64token (RFC 6750 section 2.1)";
const NOT_THREE_PARTS: &str = "the token is not a signed JWT (expected three dot-separated parts)";
const HEADER_NOT_OBJECT: &str = "the JWT header is not a JSON object with alg";

fn garbage_refusal(shape: GarbageToken) -> Refusal {
    match shape {
        // `!`, `@`, `#` are outside the b64token alphabet `[A-Za-z0-9-._~+/]+=*`.
        GarbageToken::NotBase64 => Refusal::Request(NOT_B64TOKEN, NOT_B64TOKEN_CHALLENGE),
        // Valid base64url segments, so valid b64token; the decoded header is not JSON.
        GarbageToken::NotJson => Refusal::Token(HEADER_NOT_OBJECT),
        // Valid base64url; the header decodes to `[1,2]`, not a JOSE header object.
        GarbageToken::JsonNotObject => Refusal::Token(HEADER_NOT_OBJECT),
        // Valid b64token, but a JWS in compact form has exactly three parts.
        GarbageToken::TwoSegments | GarbageToken::FourSegments => Refusal::Token(NOT_THREE_PARTS),
        // `Bearer ` with nothing after it is a malformed header, not a missing credential.
        GarbageToken::Empty => {
            const NO_TOKEN: &str = "the Authorization header has the Bearer scheme but no token";
            Refusal::Request(NO_TOKEN, NO_TOKEN)
        }
        // Non-ASCII bytes are outside the b64token alphabet.
        GarbageToken::NonAscii => Refusal::Request(NOT_B64TOKEN, NOT_B64TOKEN_CHALLENGE),
        // Padded standard base64: the header segment ends in `==` followed by `.`, and `=` is
        // only allowed at the very end of a b64token.
        GarbageToken::StandardBase64 => Refusal::Request(NOT_B64TOKEN, NOT_B64TOKEN_CHALLENGE),
    }
}

async fn garbage_is_refused(shape: GarbageToken) {
    let f = fixture().await;
    let token = garbage_token(shape);
    let denial = f.denial(&token).await;
    match garbage_refusal(shape) {
        Refusal::Request(description, challenge) => {
            assert_invalid_request(&f.guard, &denial, &token, description, challenge);
        }
        Refusal::Token(description) => {
            assert_invalid_token_plain(&f.guard, &denial, &token, description);
        }
    }
    assert_eq!(f.dev.jwks_fetches(), 0, "garbage never reaches the key set");
}

#[tokio::test]
async fn garbage_not_base64_is_invalid_request() {
    garbage_is_refused(GarbageToken::NotBase64).await;
}

#[tokio::test]
async fn garbage_not_json_is_invalid_token() {
    garbage_is_refused(GarbageToken::NotJson).await;
}

#[tokio::test]
async fn garbage_json_not_object_is_invalid_token() {
    garbage_is_refused(GarbageToken::JsonNotObject).await;
}

#[tokio::test]
async fn garbage_two_segments_is_invalid_token() {
    garbage_is_refused(GarbageToken::TwoSegments).await;
}

#[tokio::test]
async fn garbage_four_segments_is_invalid_token() {
    garbage_is_refused(GarbageToken::FourSegments).await;
}

#[tokio::test]
async fn garbage_empty_token_is_invalid_request() {
    garbage_is_refused(GarbageToken::Empty).await;
}

#[tokio::test]
async fn garbage_non_ascii_is_invalid_request() {
    garbage_is_refused(GarbageToken::NonAscii).await;
}

#[tokio::test]
async fn garbage_standard_base64_is_invalid_request() {
    garbage_is_refused(GarbageToken::StandardBase64).await;
}

#[tokio::test]
async fn every_garbage_shape_is_refused() {
    for shape in GarbageToken::ALL {
        garbage_is_refused(shape).await;
    }
}

// ----- request shape ------------------------------------------------------------------------------

#[tokio::test]
async fn two_authorization_headers_are_invalid_request() {
    let f = fixture().await;
    let token = f.mint().sign();
    let header = format!("Bearer {token}");
    let values: [&[u8]; 2] = [header.as_bytes(), header.as_bytes()];
    let request = AccessRequest::new(Authorization::from_values(values));
    let Decision::Deny(denial) = f.guard.check(&request).await else {
        panic!("two Authorization headers were allowed");
    };
    assert_invalid_request(
        &f.guard,
        &denial,
        &token,
        "more than one Authorization header was sent",
        "more than one Authorization header was sent",
    );
}

const QUERY_TOKEN: &str =
    "access tokens in the query string are not accepted; send an Authorization: Bearer header";

#[tokio::test]
async fn query_string_access_token_is_invalid_request() {
    let f = fixture().await;
    let token = f.mint().sign();
    let query = format!("x=1&access_token={token}");
    let request = AccessRequest::new(Authorization::Absent).query(Some(&query));
    let Decision::Deny(denial) = f.guard.check(&request).await else {
        panic!("a query-string token was allowed");
    };
    assert_invalid_request(&f.guard, &denial, &token, QUERY_TOKEN, QUERY_TOKEN);
}

#[tokio::test]
async fn query_string_access_token_next_to_a_header_token_is_invalid_request() {
    // RS-BEARER-2: two transmission methods at once.
    let f = fixture().await;
    let token = f.mint().sign();
    let header = format!("Bearer {token}");
    let query = format!("access_token={token}");
    let request = AccessRequest::new(Authorization::One(header.as_bytes())).query(Some(&query));
    let Decision::Deny(denial) = f.guard.check(&request).await else {
        panic!("header + query token was allowed");
    };
    assert_invalid_request(&f.guard, &denial, &token, QUERY_TOKEN, QUERY_TOKEN);
}
