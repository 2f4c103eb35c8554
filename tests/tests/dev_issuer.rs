//! Tests of the dev issuer over real HTTP on loopback.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use authsec_tests::dev_issuer::{
    AccessTokenFormat, ClientRegistration, Consent, DEFAULT_INTROSPECTION_CLIENT_ID,
    DEFAULT_INTROSPECTION_CLIENT_SECRET, DevIssuer, DevIssuerConfig, EmbeddedKey, Endpoint,
    GarbageToken, PublicKeyFormat, SigningAlgorithm, garbage_token, install_crypto_provider,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::StatusCode;
use serde_json::{Value, json};

const CLIENT: &str = "dev-client";
const REDIRECT: &str = "http://127.0.0.1:7777/callback";
const RESOURCE: &str = "http://127.0.0.1:3000/mcp";

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("reqwest client")
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

fn assert_recent(value: &Value, offset: i64) {
    let t = value.as_i64().expect("numeric time");
    let expected = now() + offset;
    assert!((t - expected).abs() <= 5, "time {t} not near {expected}");
}

fn keys_of(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .expect("JSON object")
        .keys()
        .cloned()
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

struct Pkce {
    verifier: String,
    challenge: String,
}

fn pkce() -> Pkce {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).expect("rng");
    let verifier = URL_SAFE_NO_PAD.encode(bytes);
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    Pkce {
        challenge: URL_SAFE_NO_PAD.encode(digest.as_ref()),
        verifier,
    }
}

/// Sends an authorization request and returns the redirect's query
/// parameters (asserting a 302 to `redirect_prefix`).
async fn authorize_raw(issuer: &DevIssuer, params: &[(&str, &str)]) -> reqwest::Response {
    let url = url::Url::parse_with_params(&issuer.authorization_endpoint(), params)
        .expect("authorization URL");
    http().get(url).send().await.expect("authorize request")
}

fn redirect_params(response: &reqwest::Response, redirect_prefix: &str) -> HashMap<String, String> {
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = response
        .headers()
        .get("location")
        .expect("Location header")
        .to_str()
        .expect("ascii location");
    assert!(
        location.starts_with(redirect_prefix),
        "{location} does not start with {redirect_prefix}"
    );
    let url = url::Url::parse(location).expect("absolute location");
    url.query_pairs().into_owned().collect()
}

/// Runs `/authorize` for `client` with PKCE; returns (code, verifier).
async fn get_code(
    issuer: &DevIssuer,
    client: &str,
    redirect: &str,
    scope: &str,
    extra: &[(&str, &str)],
) -> (String, String) {
    let p = pkce();
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", client),
        ("redirect_uri", redirect),
        ("scope", scope),
        ("state", "st-123"),
        ("code_challenge", p.challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("resource", RESOURCE),
    ];
    params.extend_from_slice(extra);
    let response = authorize_raw(issuer, &params).await;
    let q = redirect_params(&response, redirect);
    assert_eq!(q.get("state").map(String::as_str), Some("st-123"));
    assert_eq!(q.get("iss").map(String::as_str), Some(issuer.issuer()));
    assert!(!q.contains_key("error"), "unexpected error {q:?}");
    (q.get("code").expect("code").clone(), p.verifier)
}

async fn post_form(
    url: &str,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut request = http().post(url).form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.expect("POST");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("non-JSON body {text:?}"))
    };
    (status, headers, body)
}

async fn token(issuer: &DevIssuer, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let (status, _, body) = post_form(&issuer.token_endpoint(), form, None).await;
    (status, body)
}

/// Full PKCE login for the default public client; returns the token response.
async fn login(issuer: &DevIssuer, scope: &str, extra: &[(&str, &str)]) -> Value {
    let (code, verifier) = get_code(issuer, CLIENT, REDIRECT, scope, extra).await;
    let (status, body) = token(
        issuer,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", CLIENT),
            ("code_verifier", &verifier),
            ("resource", RESOURCE),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn introspect(issuer: &DevIssuer, token: &str) -> Value {
    let (status, _, body) = post_form(
        &issuer.introspection_endpoint(),
        &[("token", token)],
        Some((
            DEFAULT_INTROSPECTION_CLIENT_ID,
            DEFAULT_INTROSPECTION_CLIENT_SECRET,
        )),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn fetch_jwks(issuer: &DevIssuer) -> JwkSet {
    let response = http().get(issuer.jwks_uri()).send().await.expect("jwks");
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("JWKS JSON")
}

fn decode_part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).expect("token part");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
}

/// Verifies `token` with the JWKS fetched over HTTP; returns the claims.
async fn verify_with_jwks(issuer: &DevIssuer, token: &str, alg: Algorithm) -> Value {
    install_crypto_provider();
    let header = jsonwebtoken::decode_header(token).expect("header");
    let kid = header.kid.expect("kid");
    let jwks = fetch_jwks(issuer).await;
    let jwk = jwks.find(&kid).expect("kid in JWKS");
    let key = DecodingKey::from_jwk(jwk).expect("decoding key");
    let mut validation = Validation::new(alg);
    validation.set_audience(&[RESOURCE]);
    validation.set_issuer(&[issuer.issuer()]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .expect("valid token")
        .claims
}

fn verifies_with(token: &str, key: &DecodingKey, alg: Algorithm) -> bool {
    install_crypto_provider();
    let mut validation = Validation::new(alg);
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<Value>(token, key, &validation).is_ok()
}

fn jwk_key(jwk: &Value) -> DecodingKey {
    install_crypto_provider();
    let jwk: Jwk = serde_json::from_value(jwk.clone()).expect("JWK");
    DecodingKey::from_jwk(&jwk).expect("decoding key")
}

// ----- metadata ---------------------------------------------------------------------

#[tokio::test]
async fn metadata_documents_have_the_exact_fields() {
    let issuer = DevIssuer::start().await.expect("start");
    let base = issuer.issuer().to_owned();
    assert!(base.starts_with("http://127.0.0.1:"));
    assert!(!base.ends_with('/'));
    let expected = json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "jwks_uri": format!("{base}/jwks"),
        "registration_endpoint": format!("{base}/register"),
        "introspection_endpoint": format!("{base}/introspect"),
        "revocation_endpoint": format!("{base}/revoke"),
        "scopes_supported": ["notes:read", "notes:write"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "authorization_response_iss_parameter_supported": true,
        "acr_values_supported": ["pwd", "mfa"],
    });
    for url in [issuer.metadata_url(), issuer.openid_configuration_url()] {
        let response = http().get(&url).send().await.expect("metadata");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["content-type"].to_str().expect("ascii"),
            "application/json"
        );
        let doc: Value = response.json().await.expect("JSON");
        assert_eq!(doc, expected, "{url}");
        assert_eq!(doc["issuer"].as_str(), Some(issuer.issuer()));
    }
    assert_eq!(issuer.metadata_fetches(), 2);
}

#[tokio::test]
async fn metadata_omits_registration_when_disabled() {
    let config = DevIssuerConfig {
        dynamic_registration: false,
        ..DevIssuerConfig::default()
    };
    let issuer = DevIssuer::start_with(config).await.expect("start");
    let doc: Value = http()
        .get(issuer.metadata_url())
        .send()
        .await
        .expect("metadata")
        .json()
        .await
        .expect("JSON");
    assert!(doc.get("registration_endpoint").is_none());
    let response = http()
        .post(issuer.registration_endpoint())
        .json(&json!({"redirect_uris": [REDIRECT]}))
        .send()
        .await
        .expect("register");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn refuses_non_loopback_listen_address() {
    let config = DevIssuerConfig::default().with_listen("0.0.0.0:0".parse().expect("addr"));
    let err = DevIssuer::start_with(config)
        .await
        .expect_err("must refuse");
    assert!(err.to_string().contains("loopback"), "{err}");
}

// ----- authorization code + PKCE -----------------------------------------------------

#[tokio::test]
async fn pkce_flow_issues_an_rfc9068_jwt() {
    let issuer = DevIssuer::start().await.expect("start");
    let body = login(&issuer, "notes:read notes:write", &[]).await;
    assert_eq!(
        keys_of(&body),
        set(&[
            "access_token",
            "token_type",
            "expires_in",
            "scope",
            "refresh_token"
        ])
    );
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 300);
    assert_eq!(body["scope"], "notes:read notes:write");
    let at = body["access_token"].as_str().expect("access token");

    let header = decode_part(at, 0);
    assert_eq!(
        header,
        json!({"alg": "RS256", "typ": "at+jwt", "kid": issuer.active_kid()})
    );
    let claims = verify_with_jwks(&issuer, at, Algorithm::RS256).await;
    assert_eq!(
        keys_of(&claims),
        set(&[
            "iss",
            "sub",
            "aud",
            "client_id",
            "iat",
            "exp",
            "jti",
            "scope",
            "auth_time",
            "acr",
            "amr"
        ])
    );
    assert_eq!(claims["iss"].as_str(), Some(issuer.issuer()));
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["aud"], RESOURCE);
    assert_eq!(claims["client_id"], CLIENT);
    assert_eq!(claims["scope"], "notes:read notes:write");
    assert_eq!(claims["acr"], "pwd");
    assert_eq!(claims["amr"], json!(["pwd"]));
    assert_recent(&claims["iat"], 0);
    assert_recent(&claims["auth_time"], 0);
    assert_eq!(
        claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat"),
        300
    );
    assert!(claims["jti"].as_str().expect("jti").len() >= 16);
}

#[tokio::test]
async fn token_response_is_not_cacheable() {
    let issuer = DevIssuer::start().await.expect("start");
    let (code, verifier) = get_code(&issuer, CLIENT, REDIRECT, "notes:read", &[]).await;
    let (status, headers, _) = post_form(
        &issuer.token_endpoint(),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", CLIENT),
            ("code_verifier", &verifier),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["pragma"], "no-cache");
}

#[tokio::test]
async fn login_hint_names_the_subject() {
    let issuer = DevIssuer::start().await.expect("start");
    let body = login(&issuer, "notes:read", &[("login_hint", "bob")]).await;
    let claims = decode_part(body["access_token"].as_str().expect("at"), 1);
    assert_eq!(claims["sub"], "bob");
}

#[tokio::test]
async fn authorize_refuses_bad_requests() {
    let issuer = DevIssuer::start().await.expect("start");
    let p = pkce();
    let base = [
        ("response_type", "code"),
        ("client_id", CLIENT),
        ("redirect_uri", REDIRECT),
        ("state", "s1"),
        ("resource", RESOURCE),
    ];
    let with = |extra: &[(&'static str, &'static str)]| -> Vec<(&str, &str)> {
        let mut v: Vec<(&str, &str)> = base.to_vec();
        v.extend_from_slice(extra);
        v
    };
    let challenge = p.challenge.as_str();
    let with_pkce = || {
        let mut v = with(&[]);
        v.push(("code_challenge", challenge));
        v.push(("code_challenge_method", "S256"));
        v
    };

    // PKCE: plain method, missing method, missing challenge.
    for extra in [
        vec![
            ("code_challenge", challenge),
            ("code_challenge_method", "plain"),
        ],
        vec![("code_challenge", challenge)],
        vec![("code_challenge_method", "S256")],
    ] {
        let mut params = with(&[]);
        params.extend_from_slice(&extra);
        let response = authorize_raw(&issuer, &params).await;
        let q = redirect_params(&response, REDIRECT);
        assert_eq!(q["error"], "invalid_request", "{extra:?}");
        assert_eq!(q["state"], "s1");
        assert_eq!(q["iss"], issuer.issuer());
        assert!(!q.contains_key("code"));
    }

    // Wrong response_type.
    let mut params = with_pkce();
    params[0] = ("response_type", "token");
    let q = redirect_params(&authorize_raw(&issuer, &params).await, REDIRECT);
    assert_eq!(q["error"], "unsupported_response_type");

    // Missing resource (no default configured).
    let params: Vec<_> = with_pkce()
        .into_iter()
        .filter(|(k, _)| *k != "resource")
        .collect();
    let q = redirect_params(&authorize_raw(&issuer, &params).await, REDIRECT);
    assert_eq!(q["error"], "invalid_target");

    // Resource with a fragment.
    let mut params = with_pkce();
    params[4] = ("resource", "http://127.0.0.1:3000/mcp#frag");
    let q = redirect_params(&authorize_raw(&issuer, &params).await, REDIRECT);
    assert_eq!(q["error"], "invalid_target");

    // Unregistered redirect URI: no redirect, a 400 JSON error.
    let mut params = with_pkce();
    params[2] = ("redirect_uri", "http://127.0.0.1:7777/elsewhere");
    let response = authorize_raw(&issuer, &params).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get("location").is_none());
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error"], "invalid_request");

    // Unknown client: 400 JSON.
    let mut params = with_pkce();
    params[1] = ("client_id", "nobody");
    let response = authorize_raw(&issuer, &params).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error"], "invalid_request");

    // No query at all.
    let response = http()
        .get(issuer.authorization_endpoint())
        .send()
        .await
        .expect("authorize");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn default_resource_applies_when_configured() {
    let issuer = DevIssuer::start_with(DevIssuerConfig::default().with_default_resource(RESOURCE))
        .await
        .expect("start");
    let p = pkce();
    let response = authorize_raw(
        &issuer,
        &[
            ("response_type", "code"),
            ("client_id", CLIENT),
            ("redirect_uri", REDIRECT),
            ("code_challenge", &p.challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    let q = redirect_params(&response, REDIRECT);
    let (status, body) = token(
        &issuer,
        &[
            ("grant_type", "authorization_code"),
            ("code", &q["code"]),
            ("redirect_uri", REDIRECT),
            ("client_id", CLIENT),
            ("code_verifier", &p.verifier),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let claims = decode_part(body["access_token"].as_str().expect("at"), 1);
    assert_eq!(claims["aud"], RESOURCE);
    assert!(claims.get("scope").is_none());
}

#[tokio::test]
async fn wrong_verifier_is_invalid_grant() {
    let issuer = DevIssuer::start().await.expect("start");
    let (code, _) = get_code(&issuer, CLIENT, REDIRECT, "notes:read", &[]).await;
    let other = pkce();
    let (status, body) = token(
        &issuer,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", CLIENT),
            ("code_verifier", &other.verifier),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(
        body["error_description"],
        "code_verifier does not match the code_challenge"
    );
}

#[tokio::test]
async fn token_request_checks_redirect_uri_resource_and_verifier_presence() {
    let issuer = DevIssuer::start().await.expect("start");
    let cases: [(&[(&str, &str)], &str); 3] = [
        (
            &[("redirect_uri", "http://127.0.0.1:7777/other")],
            "invalid_grant",
        ),
        (
            &[("resource", "http://127.0.0.1:9999/other")],
            "invalid_target",
        ),
        (&[("code_verifier", "")], "invalid_request"),
    ];
    for (override_params, expected) in cases {
        let (code, verifier) = get_code(&issuer, CLIENT, REDIRECT, "notes:read", &[]).await;
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", CLIENT),
        ];
        for key in ["redirect_uri", "code_verifier", "resource"] {
            match override_params.iter().find(|(k, _)| *k == key) {
                Some(pair) => form.push(*pair),
                None if key == "redirect_uri" => form.push(("redirect_uri", REDIRECT)),
                None if key == "code_verifier" => form.push(("code_verifier", &verifier)),
                None => {}
            }
        }
        let (status, body) = token(&issuer, &form).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{override_params:?}");
        assert_eq!(body["error"], expected, "{override_params:?}: {body}");
    }
}

#[tokio::test]
async fn code_is_single_use_and_reuse_revokes_its_tokens() {
    let issuer = DevIssuer::start().await.expect("start");
    let (code, verifier) = get_code(&issuer, CLIENT, REDIRECT, "notes:read", &[]).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("client_id", CLIENT),
        ("code_verifier", verifier.as_str()),
    ];
    let (status, first) = token(&issuer, &form).await;
    assert_eq!(status, StatusCode::OK);
    let at = first["access_token"].as_str().expect("at");
    assert_eq!(introspect(&issuer, at).await["active"], true);

    let (status, body) = token(&issuer, &form).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"error": "invalid_grant", "error_description": "authorization code was already used"})
    );
    assert_eq!(introspect(&issuer, at).await, json!({"active": false}));
    let rt = first["refresh_token"].as_str().expect("rt");
    let (status, body) = token(
        &issuer,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", CLIENT),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn unknown_code_and_unknown_grant_type() {
    let issuer = DevIssuer::start().await.expect("start");
    let (status, body) = token(
        &issuer,
        &[
            ("grant_type", "authorization_code"),
            ("code", "nope"),
            ("client_id", CLIENT),
            ("code_verifier", &pkce().verifier),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");

    let (status, body) = token(
        &issuer,
        &[("grant_type", "password"), ("client_id", CLIENT)],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "unsupported_grant_type");

    let (status, body) = token(&issuer, &[("client_id", CLIENT)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_request");
}

// ----- refresh ------------------------------------------------------------------------

#[tokio::test]
async fn refresh_rotates_narrows_scope_and_keeps_the_login() {
    let issuer = DevIssuer::start().await.expect("start");
    issuer.set_consent(Consent {
        auth_time_offset: Some(-600),
        ..Consent::default()
    });
    let first = login(&issuer, "notes:read notes:write", &[("acr_values", "mfa")]).await;
    let original = decode_part(first["access_token"].as_str().expect("at"), 1);
    assert_eq!(original["acr"], "mfa");
    assert_recent(&original["auth_time"], -600);
    let rt1 = first["refresh_token"].as_str().expect("rt").to_owned();

    let (status, second) = token(
        &issuer,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt1),
            ("client_id", CLIENT),
            ("scope", "notes:read"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(second["scope"], "notes:read");
    let rt2 = second["refresh_token"]
        .as_str()
        .expect("rotated rt")
        .to_owned();
    assert_ne!(rt1, rt2);
    let claims = verify_with_jwks(
        &issuer,
        second["access_token"].as_str().expect("at"),
        Algorithm::RS256,
    )
    .await;
    assert_eq!(claims["scope"], "notes:read");
    assert_eq!(claims["acr"], "mfa");
    assert_eq!(claims["amr"], json!(["pwd", "mfa"]));
    assert_eq!(claims["auth_time"], original["auth_time"]);
    assert_ne!(claims["jti"], original["jti"]);

    // Wider scope than granted.
    let (status, body) = token(
        &issuer,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt2),
            ("client_id", CLIENT),
            ("scope", "notes:read admin"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_scope");

    // Without scope: the full original grant.
    let (status, third) = token(
        &issuer,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt2),
            ("client_id", CLIENT),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{third}");
    assert_eq!(third["scope"], "notes:read notes:write");
    let rt3 = third["refresh_token"].as_str().expect("rt3").to_owned();

    // Reusing a rotated refresh token fails and kills the grant.
    let (status, body) = token(
        &issuer,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt1),
            ("client_id", CLIENT),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    let (status, body) = token(
        &issuer,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt3),
            ("client_id", CLIENT),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    let at3 = third["access_token"].as_str().expect("at3");
    assert_eq!(introspect(&issuer, at3).await, json!({"active": false}));
}

// ----- client authentication, client credentials ----------------------------------------

#[tokio::test]
async fn client_credentials_for_confidential_clients_only() {
    let issuer = DevIssuer::start().await.expect("start");
    let (status, _, body) = post_form(
        &issuer.token_endpoint(),
        &[
            ("grant_type", "client_credentials"),
            ("scope", "notes:read"),
            ("resource", RESOURCE),
        ],
        Some((
            DEFAULT_INTROSPECTION_CLIENT_ID,
            DEFAULT_INTROSPECTION_CLIENT_SECRET,
        )),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("refresh_token").is_none());
    let claims = verify_with_jwks(
        &issuer,
        body["access_token"].as_str().expect("at"),
        Algorithm::RS256,
    )
    .await;
    assert_eq!(claims["sub"], DEFAULT_INTROSPECTION_CLIENT_ID);
    assert_eq!(claims["client_id"], DEFAULT_INTROSPECTION_CLIENT_ID);
    assert!(claims.get("acr").is_none());
    assert!(claims.get("auth_time").is_none());

    // client_secret_post works too.
    let (status, body) = token(
        &issuer,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEFAULT_INTROSPECTION_CLIENT_ID),
            ("client_secret", DEFAULT_INTROSPECTION_CLIENT_SECRET),
            ("resource", RESOURCE),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Wrong secret: 401 invalid_client with a Basic challenge.
    let (status, headers, body) = post_form(
        &issuer.token_endpoint(),
        &[("grant_type", "client_credentials"), ("resource", RESOURCE)],
        Some((DEFAULT_INTROSPECTION_CLIENT_ID, "wrong")),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_client");
    assert!(
        headers["www-authenticate"]
            .to_str()
            .expect("ascii")
            .starts_with("Basic")
    );

    // Confidential client without its secret.
    let (status, body) = token(
        &issuer,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEFAULT_INTROSPECTION_CLIENT_ID),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_client");

    // Public client.
    let (status, body) = token(
        &issuer,
        &[("grant_type", "client_credentials"), ("client_id", CLIENT)],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "unauthorized_client");

    // Unknown client.
    let (status, body) = token(
        &issuer,
        &[("grant_type", "client_credentials"), ("client_id", "ghost")],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_client");

    // Malformed Basic header.
    let response = http()
        .post(issuer.token_endpoint())
        .header("authorization", "Basic !!!notbase64")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error"], "invalid_client");
}

#[tokio::test]
async fn malformed_requests_get_oauth_errors() {
    let issuer = DevIssuer::start().await.expect("start");
    let response = http()
        .post(issuer.token_endpoint())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![0xff, 0xfe, b'&', b'=', b'%', b'z'])
        .send()
        .await
        .expect("token");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error"], "invalid_client");

    let response = http()
        .get(issuer.token_endpoint())
        .send()
        .await
        .expect("GET /token");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error"], "invalid_request");

    let response = http().get(issuer.url("/nope")).send().await.expect("404");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    // Repeated parameter.
    let (status, body) = token(
        &issuer,
        &[
            ("grant_type", "refresh_token"),
            ("grant_type", "refresh_token"),
            ("client_id", CLIENT),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_request");

    // Registration with a non-JSON body.
    let response = http()
        .post(issuer.registration_endpoint())
        .body("not json")
        .send()
        .await
        .expect("register");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error"], "invalid_client_metadata");
}

// ----- dynamic client registration ---------------------------------------------------------

#[tokio::test]
async fn dynamic_registration_then_login() {
    let issuer = DevIssuer::start().await.expect("start");
    let redirect = "http://localhost:5173/oauth/callback";
    let response = http()
        .post(issuer.registration_endpoint())
        .json(&json!({
            "redirect_uris": [redirect],
            "token_endpoint_auth_method": "none",
            "client_name": "Demo MCP client",
            "software_id": "demo",
        }))
        .send()
        .await
        .expect("register");
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let reg: Value = response.json().await.expect("JSON");
    assert_eq!(
        keys_of(&reg),
        set(&[
            "client_id",
            "client_id_issued_at",
            "redirect_uris",
            "token_endpoint_auth_method",
            "grant_types",
            "response_types",
            "client_name",
            "software_id",
        ])
    );
    assert_eq!(reg["redirect_uris"], json!([redirect]));
    assert_eq!(reg["token_endpoint_auth_method"], "none");
    assert_eq!(
        reg["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(reg["response_types"], json!(["code"]));
    assert_eq!(reg["client_name"], "Demo MCP client");
    assert_eq!(reg["software_id"], "demo");
    assert_recent(&reg["client_id_issued_at"], 0);
    let client_id = reg["client_id"].as_str().expect("client_id").to_owned();
    assert_eq!(issuer.registration_requests(), 1);

    let (code, verifier) = get_code(&issuer, &client_id, redirect, "notes:read", &[]).await;
    let (status, body) = token(
        &issuer,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect),
            ("client_id", &client_id),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let claims = decode_part(body["access_token"].as_str().expect("at"), 1);
    assert_eq!(claims["client_id"], client_id.as_str());
}

#[tokio::test]
async fn dynamic_registration_of_a_confidential_client() {
    let issuer = DevIssuer::start().await.expect("start");
    let response = http()
        .post(issuer.registration_endpoint())
        .json(&json!({
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "client_secret_post",
        }))
        .send()
        .await
        .expect("register");
    assert_eq!(response.status(), StatusCode::CREATED);
    let reg: Value = response.json().await.expect("JSON");
    assert_eq!(reg["client_secret_expires_at"], 0);
    let client_id = reg["client_id"].as_str().expect("id").to_owned();
    let secret = reg["client_secret"].as_str().expect("secret").to_owned();

    let (code, verifier) = get_code(&issuer, &client_id, REDIRECT, "notes:read", &[]).await;
    let base = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("client_id", client_id.as_str()),
        ("code_verifier", verifier.as_str()),
    ];
    // Without its secret: refused (and the code survives: it was never
    // presented by an authenticated client).
    let (status, body) = token(&issuer, &base).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_client");
    let mut with_secret = base.to_vec();
    with_secret.push(("client_secret", &secret));
    let (status, body) = token(&issuer, &with_secret).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn dynamic_registration_validates_metadata() {
    let issuer = DevIssuer::start().await.expect("start");
    let cases = [
        (json!({}), "invalid_redirect_uri"),
        (
            json!({"redirect_uris": ["http://evil.example/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["https://app.example/cb#frag"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": "https://app.example/cb"}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "private_key_jwt"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [REDIRECT], "grant_types": ["implicit"]}),
            "invalid_client_metadata",
        ),
        (json!([1, 2]), "invalid_client_metadata"),
    ];
    for (metadata, expected) in cases {
        let response = http()
            .post(issuer.registration_endpoint())
            .json(&metadata)
            .send()
            .await
            .expect("register");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{metadata}");
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(body["error"], expected, "{metadata}");
    }
}

// ----- introspection and revocation ----------------------------------------------------------

#[tokio::test]
async fn introspection_and_revocation() {
    let issuer = DevIssuer::start().await.expect("start");
    let body = login(&issuer, "notes:read", &[]).await;
    let at = body["access_token"].as_str().expect("at");
    let rt = body["refresh_token"].as_str().expect("rt");

    let active = introspect(&issuer, at).await;
    let claims = decode_part(at, 1);
    assert_eq!(
        keys_of(&active),
        set(&[
            "active",
            "scope",
            "client_id",
            "sub",
            "aud",
            "iss",
            "exp",
            "iat",
            "jti",
            "token_type",
            "acr",
            "amr",
            "auth_time"
        ])
    );
    assert_eq!(active["active"], true);
    assert_eq!(active["token_type"], "Bearer");
    for name in [
        "scope",
        "client_id",
        "sub",
        "aud",
        "iss",
        "exp",
        "iat",
        "jti",
        "acr",
        "amr",
        "auth_time",
    ] {
        assert_eq!(active[name], claims[name], "{name}");
    }

    // client_secret_post is accepted too.
    let (status, _, body) = post_form(
        &issuer.introspection_endpoint(),
        &[
            ("token", at),
            ("client_id", DEFAULT_INTROSPECTION_CLIENT_ID),
            ("client_secret", DEFAULT_INTROSPECTION_CLIENT_SECRET),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["active"], true);

    // No client authentication, a public client, a wrong secret: 401.
    for (form, basic) in [
        (vec![("token", at)], None),
        (vec![("token", at), ("client_id", CLIENT)], None),
        (
            vec![("token", at)],
            Some((DEFAULT_INTROSPECTION_CLIENT_ID, "nope")),
        ),
    ] {
        let (status, headers, body) =
            post_form(&issuer.introspection_endpoint(), &form, basic).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{form:?}");
        assert_eq!(body["error"], "invalid_client");
        assert!(headers.contains_key("www-authenticate"));
    }

    // Missing token parameter.
    let (status, _, body) = post_form(
        &issuer.introspection_endpoint(),
        &[],
        Some((
            DEFAULT_INTROSPECTION_CLIENT_ID,
            DEFAULT_INTROSPECTION_CLIENT_SECRET,
        )),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_request");

    // Refresh tokens and unknown tokens are never active.
    assert_eq!(introspect(&issuer, rt).await, json!({"active": false}));
    assert_eq!(
        introspect(&issuer, "unknown").await,
        json!({"active": false})
    );

    // Revocation by the owning client over HTTP.
    let (status, headers, body) = post_form(
        &issuer.revocation_endpoint(),
        &[("token", at), ("client_id", CLIENT)],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, Value::Null);
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(introspect(&issuer, at).await, json!({"active": false}));

    // Unknown tokens: still 200.
    let (status, _, _) = post_form(
        &issuer.revocation_endpoint(),
        &[("token", "never-issued"), ("client_id", CLIENT)],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // Without client identification: 401.
    let (status, _, body) = post_form(&issuer.revocation_endpoint(), &[("token", rt)], None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(issuer.revocation_requests(), 3);
}

#[tokio::test]
async fn revoking_a_refresh_token_revokes_the_grant() {
    let issuer = DevIssuer::start().await.expect("start");
    let body = login(&issuer, "notes:read", &[]).await;
    let at = body["access_token"].as_str().expect("at");
    let rt = body["refresh_token"].as_str().expect("rt");
    assert!(issuer.revoke(rt));
    assert_eq!(introspect(&issuer, at).await, json!({"active": false}));
    let (status, body) = token(
        &issuer,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", CLIENT),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    assert!(!issuer.revoke("never-issued"));
}

#[tokio::test]
async fn expired_tokens_introspect_inactive() {
    let issuer = DevIssuer::start().await.expect("start");
    issuer.set_access_token_lifetime(Duration::from_secs(0));
    let body = login(&issuer, "notes:read", &[]).await;
    assert_eq!(body["expires_in"], 0);
    let at = body["access_token"].as_str().expect("at");
    assert_eq!(introspect(&issuer, at).await, json!({"active": false}));
}

#[tokio::test]
async fn opaque_access_tokens_are_validated_by_introspection() {
    let config = DevIssuerConfig::default().with_access_token_format(AccessTokenFormat::Opaque);
    let issuer = DevIssuer::start_with(config).await.expect("start");
    let body = login(&issuer, "notes:write", &[]).await;
    let at = body["access_token"].as_str().expect("at");
    assert_eq!(at.split('.').count(), 1, "opaque token is not a JWT");
    assert!(jsonwebtoken::decode_header(at).is_err());
    let active = introspect(&issuer, at).await;
    assert_eq!(active["active"], true);
    assert_eq!(active["scope"], "notes:write");
    assert_eq!(active["aud"], RESOURCE);
    assert_eq!(active["sub"], "alice");
    assert_eq!(issuer.introspection_calls(), 1);
}

// ----- keys ---------------------------------------------------------------------------------

#[tokio::test]
async fn jwks_rotation_and_retirement() {
    let issuer = DevIssuer::start().await.expect("start");
    let response = http().get(issuer.jwks_uri()).send().await.expect("jwks");
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    let jwks: Value = response.json().await.expect("JSON");
    let keys = jwks["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 1);
    let old_kid = issuer.active_kid();
    assert_eq!(
        keys_of(&keys[0]),
        set(&["kty", "use", "alg", "kid", "n", "e"])
    );
    assert_eq!(keys[0]["kty"], "RSA");
    assert_eq!(keys[0]["use"], "sig");
    assert_eq!(keys[0]["alg"], "RS256");
    assert_eq!(keys[0]["kid"], old_kid.as_str());
    assert_eq!(keys[0]["e"], "AQAB");

    let old_token = login(&issuer, "notes:read", &[]).await;
    let new_kid = issuer.rotate_keys();
    assert_ne!(new_kid, old_kid);
    let kids: Vec<String> = fetch_jwks(&issuer)
        .await
        .keys
        .iter()
        .filter_map(|k| k.common.key_id.clone())
        .collect();
    assert_eq!(kids, vec![old_kid.clone(), new_kid.clone()]);

    let new_token = login(&issuer, "notes:read", &[]).await;
    let at = new_token["access_token"].as_str().expect("at");
    assert_eq!(decode_part(at, 0)["kid"], new_kid.as_str());
    verify_with_jwks(&issuer, at, Algorithm::RS256).await;
    verify_with_jwks(
        &issuer,
        old_token["access_token"].as_str().expect("at"),
        Algorithm::RS256,
    )
    .await;

    issuer.retire_old_keys();
    let kids: Vec<String> = fetch_jwks(&issuer)
        .await
        .keys
        .iter()
        .filter_map(|k| k.common.key_id.clone())
        .collect();
    assert_eq!(kids, vec![new_kid]);
    assert_eq!(issuer.jwks_fetches(), 5);
}

#[tokio::test]
async fn every_signing_algorithm_round_trips() {
    for (alg, jwt_alg, kty) in [
        (SigningAlgorithm::PS256, Algorithm::PS256, "RSA"),
        (SigningAlgorithm::ES256, Algorithm::ES256, "EC"),
        (SigningAlgorithm::EdDSA, Algorithm::EdDSA, "OKP"),
    ] {
        let issuer = DevIssuer::start_with(DevIssuerConfig::default().with_signing_algorithm(alg))
            .await
            .expect("start");
        assert_eq!(issuer.jwks()["keys"][0]["kty"], kty);
        let body = login(&issuer, "notes:read", &[]).await;
        let at = body["access_token"].as_str().expect("at");
        assert_eq!(decode_part(at, 0)["alg"], alg.as_str());
        let claims = verify_with_jwks(&issuer, at, jwt_alg).await;
        assert_eq!(claims["sub"], "alice");
    }
}

// ----- counters, availability, shutdown --------------------------------------------------

#[tokio::test]
async fn counters_count_each_endpoint() {
    let issuer = DevIssuer::start().await.expect("start");
    for endpoint in Endpoint::ALL {
        assert_eq!(issuer.requests(endpoint), 0);
    }
    let body = login(&issuer, "notes:read", &[]).await;
    introspect(&issuer, body["access_token"].as_str().expect("at")).await;
    fetch_jwks(&issuer).await;
    fetch_jwks(&issuer).await;
    assert_eq!(issuer.authorize_requests(), 1);
    assert_eq!(issuer.token_requests(), 1);
    assert_eq!(issuer.introspection_calls(), 1);
    assert_eq!(issuer.jwks_fetches(), 2);
    assert_eq!(issuer.metadata_fetches(), 0);
    assert_eq!(issuer.attacker_jwks_fetches(), 0);
    issuer.reset_counters();
    assert_eq!(issuer.jwks_fetches(), 0);
    assert_eq!(issuer.token_requests(), 0);
}

#[tokio::test]
async fn unavailable_switch_answers_503() {
    let issuer = DevIssuer::start().await.expect("start");
    issuer.set_endpoint_unavailable(Endpoint::Jwks, true);
    let response = http().get(issuer.jwks_uri()).send().await.expect("jwks");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error"], "temporarily_unavailable");
    let response = http().get(issuer.metadata_url()).send().await.expect("md");
    assert_eq!(response.status(), StatusCode::OK);

    issuer.set_unavailable(true);
    let response = http().get(issuer.metadata_url()).send().await.expect("md");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let (status, _, _) = post_form(
        &issuer.introspection_endpoint(),
        &[("token", "x")],
        Some((
            DEFAULT_INTROSPECTION_CLIENT_ID,
            DEFAULT_INTROSPECTION_CLIENT_SECRET,
        )),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(issuer.introspection_calls(), 1);

    issuer.set_unavailable(false);
    let response = http().get(issuer.jwks_uri()).send().await.expect("jwks");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(issuer.jwks_fetches(), 2);
}

#[tokio::test]
async fn response_delay_slows_responses() {
    let issuer = DevIssuer::start().await.expect("start");
    issuer.set_response_delay(Duration::from_millis(300));
    let started = std::time::Instant::now();
    let response = http().get(issuer.jwks_uri()).send().await.expect("jwks");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let quick = reqwest::Client::builder()
        .timeout(Duration::from_millis(50))
        .build()
        .expect("client");
    assert!(quick.get(issuer.jwks_uri()).send().await.is_err());
}

#[tokio::test]
async fn shutdown_makes_the_port_refuse_connections() {
    let issuer = DevIssuer::start().await.expect("start");
    let client = http();
    // Open a keep-alive connection first.
    let response = client.get(issuer.jwks_uri()).send().await.expect("jwks");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(issuer.is_running());
    issuer.shutdown().await;
    assert!(!issuer.is_running());
    let err = client
        .get(issuer.jwks_uri())
        .send()
        .await
        .expect_err("AS is down");
    assert!(err.is_connect() || err.is_request(), "{err}");
    let refused = tokio::net::TcpStream::connect(issuer.local_addr()).await;
    assert!(refused.is_err());
    issuer.shutdown().await; // idempotent
}

// ----- consent ---------------------------------------------------------------------------------

#[tokio::test]
async fn consent_controls_the_login() {
    let issuer = DevIssuer::start().await.expect("start");
    issuer.set_consent(Consent {
        subject: Some("carol".into()),
        granted_scopes: Some(vec!["notes:read".into(), "notes:admin".into()]),
        withheld_scopes: vec!["notes:admin".into()],
        acr: Some("urn:example:gold".into()),
        amr: Some(vec!["hwk".into(), "pin".into()]),
        auth_time_offset: Some(-120),
        ..Consent::default()
    });
    let body = login(&issuer, "notes:read notes:write", &[]).await;
    assert_eq!(body["scope"], "notes:read");
    let claims = verify_with_jwks(
        &issuer,
        body["access_token"].as_str().expect("at"),
        Algorithm::RS256,
    )
    .await;
    assert_eq!(claims["sub"], "carol");
    assert_eq!(claims["scope"], "notes:read");
    assert_eq!(claims["acr"], "urn:example:gold");
    assert_eq!(claims["amr"], json!(["hwk", "pin"]));
    assert_recent(&claims["auth_time"], -120);

    // Withholding only.
    issuer.set_consent(Consent {
        withheld_scopes: vec!["notes:write".into()],
        ..Consent::default()
    });
    let body = login(&issuer, "notes:read notes:write", &[]).await;
    assert_eq!(body["scope"], "notes:read");

    // Denial.
    issuer.set_consent(Consent {
        deny: true,
        ..Consent::default()
    });
    let p = pkce();
    let response = authorize_raw(
        &issuer,
        &[
            ("response_type", "code"),
            ("client_id", CLIENT),
            ("redirect_uri", REDIRECT),
            ("code_challenge", &p.challenge),
            ("code_challenge_method", "S256"),
            ("resource", RESOURCE),
            ("state", "d"),
        ],
    )
    .await;
    let q = redirect_params(&response, REDIRECT);
    assert_eq!(q["error"], "access_denied");
    assert_eq!(q["state"], "d");

    // Back to defaults.
    issuer.clear_consent();
    let body = login(&issuer, "notes:write", &[]).await;
    let claims = decode_part(body["access_token"].as_str().expect("at"), 1);
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["acr"], "pwd");
    assert_eq!(claims["amr"], json!(["pwd"]));
}

#[tokio::test]
async fn acr_values_mfa_and_max_age() {
    let issuer = DevIssuer::start().await.expect("start");
    let body = login(&issuer, "notes:read", &[("acr_values", "pwd mfa")]).await;
    let claims = decode_part(body["access_token"].as_str().expect("at"), 1);
    assert_eq!(claims["acr"], "mfa");
    assert_eq!(claims["amr"], json!(["pwd", "mfa"]));
    assert_recent(&claims["auth_time"], 0);

    // An old session is refreshed by max_age...
    issuer.set_consent(Consent {
        auth_time_offset: Some(-3600),
        ..Consent::default()
    });
    let body = login(&issuer, "notes:read", &[("max_age", "60")]).await;
    let claims = decode_part(body["access_token"].as_str().expect("at"), 1);
    assert_recent(&claims["auth_time"], 0);
    // ...unless the AS is told to ignore it.
    issuer.set_consent(Consent {
        auth_time_offset: Some(-3600),
        ignore_max_age: true,
        ..Consent::default()
    });
    let body = login(&issuer, "notes:read", &[("max_age", "60")]).await;
    let claims = decode_part(body["access_token"].as_str().expect("at"), 1);
    assert_recent(&claims["auth_time"], -3600);
}

#[tokio::test]
async fn runtime_registered_client_with_loopback_port_flexibility() {
    let issuer = DevIssuer::start().await.expect("start");
    issuer.register_client(ClientRegistration::public(
        "cli",
        vec!["http://127.0.0.1/cb".into()],
    ));
    assert!(issuer.client("cli").is_some());
    let (code, _) = get_code(
        &issuer,
        "cli",
        "http://127.0.0.1:61000/cb",
        "notes:read",
        &[],
    )
    .await;
    assert!(!code.is_empty());
}

// ----- minting -----------------------------------------------------------------------------------

#[tokio::test]
async fn minted_tokens_verify_and_carry_the_requested_claims() {
    let issuer = DevIssuer::start().await.expect("start");
    let token = issuer
        .mint()
        .sub("dave")
        .aud(RESOURCE)
        .scope("notes:read notes:write")
        .client_id("some-client")
        .acr("mfa")
        .amr(["pwd", "otp"])
        .auth_time_offset(-30)
        .expires_in(120)
        .not_before_in(-5)
        .claim("tenant", "acme")
        .sign();
    assert_eq!(
        decode_part(&token, 0),
        json!({"alg": "RS256", "typ": "at+jwt", "kid": issuer.active_kid()})
    );
    let claims = verify_with_jwks(&issuer, &token, Algorithm::RS256).await;
    assert_eq!(claims["sub"], "dave");
    assert_eq!(claims["scope"], "notes:read notes:write");
    assert_eq!(claims["client_id"], "some-client");
    assert_eq!(claims["acr"], "mfa");
    assert_eq!(claims["amr"], json!(["pwd", "otp"]));
    assert_eq!(claims["tenant"], "acme");
    assert_recent(&claims["auth_time"], -30);
    assert_recent(&claims["exp"], 120);
    assert_recent(&claims["nbf"], -5);
    assert_eq!(claims["iss"].as_str(), Some(issuer.issuer()));

    // Introspection knows minted tokens, and revocation by jti works.
    assert_eq!(introspect(&issuer, &token).await["sub"], "dave");
    assert!(issuer.revoke(&token));
    assert_eq!(introspect(&issuer, &token).await, json!({"active": false}));

    // Array audience, expiry in the past, no typ, custom kid, overrides.
    let token = issuer
        .mint()
        .audiences([RESOURCE, "https://other.example"])
        .expires_in(-600)
        .without("jti")
        .without_typ()
        .kid("custom")
        .header("cty", "x")
        .iss("https://impostor.example")
        .sign();
    let header = decode_part(&token, 0);
    assert_eq!(header, json!({"alg": "RS256", "kid": "custom", "cty": "x"}));
    let claims = decode_part(&token, 1);
    assert_eq!(claims["aud"], json!([RESOURCE, "https://other.example"]));
    assert_eq!(claims["iss"], "https://impostor.example");
    assert!(claims.get("jti").is_none());
    assert!(claims["exp"].as_i64().expect("exp") < now());
    assert!(
        !verifies_with(
            &token,
            &issuer.active_key().decoding_key().expect("key"),
            Algorithm::RS256
        ),
        "expired token must not validate"
    );
}

#[tokio::test]
async fn minting_with_other_keys() {
    let config = DevIssuerConfig {
        additional_signing_algorithms: vec![SigningAlgorithm::ES256],
        ..DevIssuerConfig::default()
    };
    let issuer = DevIssuer::start_with(config).await.expect("start");
    assert_eq!(issuer.kids().len(), 2);
    let token = issuer
        .mint()
        .aud(RESOURCE)
        .signing_alg(SigningAlgorithm::ES256)
        .sign();
    assert_eq!(decode_part(&token, 0)["alg"], "ES256");
    verify_with_jwks(&issuer, &token, Algorithm::ES256).await;

    let old = issuer.active_kid();
    issuer.rotate_keys();
    let token = issuer.mint().aud(RESOURCE).signing_kid(&old).sign();
    assert_eq!(decode_part(&token, 0)["kid"], old.as_str());
    verify_with_jwks(&issuer, &token, Algorithm::RS256).await;

    let err = issuer
        .mint()
        .signing_alg(SigningAlgorithm::EdDSA)
        .try_sign()
        .expect_err("no EdDSA key");
    assert!(err.to_string().contains("EdDSA"), "{err}");
    let eddsa = issuer.add_key(SigningAlgorithm::EdDSA);
    let token = issuer
        .mint()
        .aud(RESOURCE)
        .signing_alg(SigningAlgorithm::EdDSA)
        .sign();
    assert_eq!(decode_part(&token, 0)["kid"], eddsa.as_str());
    verify_with_jwks(&issuer, &token, Algorithm::EdDSA).await;
}

#[tokio::test]
async fn hostile_alg_none_variants() {
    let issuer = DevIssuer::start().await.expect("start");
    for spelling in ["none", "NONE", "None", "nOnE"] {
        let token = issuer.mint().aud(RESOURCE).unsigned(spelling);
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[2], "", "unsigned");
        let header = decode_part(&token, 0);
        assert_eq!(header["alg"], spelling);
        assert_eq!(header["typ"], "at+jwt");
        assert_eq!(decode_part(&token, 1)["aud"], RESOURCE);
        assert_eq!(introspect(&issuer, &token).await, json!({"active": false}));
    }
    assert_eq!(decode_part(&issuer.mint().alg_none(), 0)["alg"], "none");
}

#[tokio::test]
async fn hostile_hs256_keyed_with_the_rsa_public_key() {
    let issuer = DevIssuer::start().await.expect("start");
    let pem = issuer
        .rsa_public_key(PublicKeyFormat::SpkiPem)
        .expect("RSA key");
    assert!(pem.starts_with(b"-----BEGIN PUBLIC KEY-----\n"));
    for format in [
        PublicKeyFormat::SpkiPem,
        PublicKeyFormat::SpkiDer,
        PublicKeyFormat::Pkcs1Pem,
        PublicKeyFormat::Pkcs1Der,
    ] {
        let token = issuer.mint().aud(RESOURCE).hs256_with_public_key(format);
        let header = decode_part(&token, 0);
        assert_eq!(header["alg"], "HS256");
        assert_eq!(header["kid"], issuer.active_kid().as_str());
        let secret = issuer.rsa_public_key(format).expect("bytes");
        assert!(
            verifies_with(&token, &DecodingKey::from_secret(&secret), Algorithm::HS256),
            "{format:?}: HMAC over the public key bytes"
        );
        assert!(!verifies_with(
            &token,
            &DecodingKey::from_secret(b"something else"),
            Algorithm::HS256
        ));
        assert_eq!(introspect(&issuer, &token).await, json!({"active": false}));
    }
}

#[tokio::test]
async fn hostile_foreign_keys_and_kids() {
    let issuer = DevIssuer::start().await.expect("start");
    let issuer_key = issuer.active_key().decoding_key().expect("key");
    let attacker_jwks = issuer.attacker_jwks();
    let attacker = &attacker_jwks["keys"][0];
    let attacker_kid = attacker["kid"].as_str().expect("kid").to_owned();
    assert!(!issuer.kids().contains(&attacker_kid));
    let attacker_key = jwk_key(attacker);

    // Foreign key reusing the issuer's kid.
    let token = issuer.mint().aud(RESOURCE).foreign_key_with_issuer_kid();
    assert_eq!(decode_part(&token, 0)["kid"], issuer.active_kid().as_str());
    assert!(!verifies_with(&token, &issuer_key, Algorithm::RS256));
    assert!(verifies_with(&token, &attacker_key, Algorithm::RS256));
    assert_eq!(introspect(&issuer, &token).await, json!({"active": false}));

    // Foreign key with its own kid.
    let token = issuer.mint().aud(RESOURCE).foreign_key();
    assert_eq!(decode_part(&token, 0)["kid"], attacker_kid.as_str());
    assert!(verifies_with(&token, &attacker_key, Algorithm::RS256));

    // Genuine signature, kid not in the JWKS.
    let token = issuer.mint().aud(RESOURCE).unknown_kid();
    let kid = decode_part(&token, 0)["kid"]
        .as_str()
        .expect("kid")
        .to_owned();
    assert!(!issuer.kids().contains(&kid));
    assert!(fetch_jwks(&issuer).await.find(&kid).is_none());
    assert!(verifies_with(&token, &issuer_key, Algorithm::RS256));
}

#[tokio::test]
async fn hostile_embedded_key_headers() {
    let issuer = DevIssuer::start().await.expect("start");
    let issuer_key = issuer.active_key().decoding_key().expect("key");

    let token = issuer.mint().aud(RESOURCE).embedded_key(EmbeddedKey::Jwk);
    let header = decode_part(&token, 0);
    let embedded = &header["jwk"];
    assert_eq!(embedded["kty"], "RSA");
    assert_eq!(header["kid"], embedded["kid"]);
    assert!(
        !issuer
            .kids()
            .contains(&embedded["kid"].as_str().expect("kid").to_owned())
    );
    assert!(verifies_with(&token, &jwk_key(embedded), Algorithm::RS256));
    assert!(!verifies_with(&token, &issuer_key, Algorithm::RS256));

    let jku = issuer.attacker_jwks_url();
    let token = issuer
        .mint()
        .aud(RESOURCE)
        .embedded_key(EmbeddedKey::Jku(jku.clone()));
    let header = decode_part(&token, 0);
    assert_eq!(header["jku"], jku.as_str());
    // The jku URL really serves the attacker key that signed the token.
    let served: Value = http()
        .get(&jku)
        .send()
        .await
        .expect("attacker jwks")
        .json()
        .await
        .expect("JSON");
    assert_eq!(issuer.attacker_jwks_fetches(), 1);
    let kid = header["kid"].as_str().expect("kid");
    let jwk = served["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == kid)
        .expect("attacker key served");
    assert!(verifies_with(&token, &jwk_key(jwk), Algorithm::RS256));
    assert!(!verifies_with(&token, &issuer_key, Algorithm::RS256));

    let token = issuer
        .mint()
        .aud(RESOURCE)
        .embedded_key(EmbeddedKey::X5u("https://attacker.example/cert.pem".into()));
    let header = decode_part(&token, 0);
    assert_eq!(header["x5u"], "https://attacker.example/cert.pem");
    assert!(!verifies_with(&token, &issuer_key, Algorithm::RS256));
}

#[tokio::test]
async fn hostile_oversized_token() {
    let issuer = DevIssuer::start().await.expect("start");
    let token = issuer.mint().aud(RESOURCE).oversized();
    let payload = URL_SAFE_NO_PAD
        .decode(token.split('.').nth(1).expect("payload"))
        .expect("base64url");
    assert!(payload.len() > 16 * 1024, "{}", payload.len());
    assert!(token.len() > 8 * 1024);
    verify_with_jwks(&issuer, &token, Algorithm::RS256).await;

    let token = issuer.mint().aud(RESOURCE).pad_claims_to(9000).sign();
    let payload = URL_SAFE_NO_PAD
        .decode(token.split('.').nth(1).expect("payload"))
        .expect("base64url");
    assert!(
        payload.len() >= 9000 && payload.len() < 9100,
        "{}",
        payload.len()
    );
}

#[test]
fn hostile_garbage_tokens_do_not_parse() {
    for kind in GarbageToken::ALL {
        let token = garbage_token(kind);
        assert!(
            jsonwebtoken::decode_header(&token).is_err(),
            "{kind:?} parsed: {token}"
        );
    }
    assert_eq!(garbage_token(GarbageToken::Empty), "");
    assert_eq!(
        garbage_token(GarbageToken::TwoSegments).split('.').count(),
        2
    );
    assert_eq!(
        garbage_token(GarbageToken::FourSegments).split('.').count(),
        4
    );
    assert!(garbage_token(GarbageToken::StandardBase64).contains('='));
}

// ----- the binary ----------------------------------------------------------------------------------

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn binary_prints_the_issuer_and_serves() {
    use std::io::BufRead;
    let exe = env!("CARGO_BIN_EXE_authsec-dev-issuer");

    let help = std::process::Command::new(exe)
        .arg("--help")
        .output()
        .expect("run --help");
    assert!(help.status.success());
    let help = String::from_utf8(help.stdout).expect("utf8");
    assert!(help.contains("NOT FOR PRODUCTION"));
    assert!(help.contains("--listen"));

    let bad = std::process::Command::new(exe)
        .args(["--listen", "0.0.0.0:0"])
        .output()
        .expect("run");
    assert_eq!(bad.status.code(), Some(2));

    let child = std::process::Command::new(exe)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--introspection-client-secret",
            "bin-secret",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut child = KillOnDrop(child);
    let stdout = child.0.stdout.take().expect("stdout");
    let stderr = child.0.stderr.take().expect("stderr");
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read stdout");
        line
    })
    .await
    .expect("join");
    let issuer = line
        .trim_end()
        .strip_prefix("issuer ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    assert!(issuer.starts_with("http://127.0.0.1:"));

    let doc: Value = http()
        .get(format!("{issuer}/.well-known/oauth-authorization-server"))
        .send()
        .await
        .expect("metadata")
        .json()
        .await
        .expect("JSON");
    assert_eq!(doc["issuer"], issuer.as_str());

    let (status, _, body) = post_form(
        &format!("{issuer}/introspect"),
        &[("token", "x")],
        Some((DEFAULT_INTROSPECTION_CLIENT_ID, "bin-secret")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"active": false}));

    let _ = child.0.kill();
    let _ = child.0.wait();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut std::io::BufReader::new(stderr), &mut err).expect("stderr");
    assert!(err.contains("NOT FOR PRODUCTION"), "{err}");
    assert!(!err.contains("bin-secret"), "secret leaked: {err}");
}
