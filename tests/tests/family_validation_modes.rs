//! The AuthSec family's four validation modes, configured through authsec-config with the
//! endpoints given explicitly (as the family's SDKs require), over JWT and opaque access
//! tokens from the dev issuer.
//!
//! | mode | JWT | badly signed JWT | revoked JWT | opaque |
//! |---|---|---|---|---|
//! | `jwt_only` | allowed, not introspected | `invalid_token` | allowed (seen at `exp`) | `invalid_token` |
//! | `introspection_only` | allowed, introspected | `token_revoked` | `token_revoked` | allowed |
//! | `jwt_and_introspect` | allowed, introspected | `invalid_token`, never introspected | `token_revoked` | allowed |
//! | `jwt_or_introspect` | allowed, not introspected | `invalid_token`, never introspected | allowed | allowed |

use authsec_config::{Config, ValidationMode};
use authsec_core::{AccessRequest, Authorization, Decision, DenialCode, Guard};
use authsec_tests::dev_issuer::{
    AccessTokenFormat, DEFAULT_INTROSPECTION_CLIENT_ID, DEFAULT_INTROSPECTION_CLIENT_SECRET,
    DevIssuer, DevIssuerConfig, Endpoint,
};

const RESOURCE: &str = "https://mcp.example.com/mcp";

async fn start() -> DevIssuer {
    DevIssuer::start_with(
        DevIssuerConfig::default()
            .with_default_resource(RESOURCE)
            .with_access_token_format(AccessTokenFormat::Opaque),
    )
    .await
    .expect("dev issuer starts")
}

async fn guard(dev: &DevIssuer, mode: ValidationMode) -> Guard {
    let config = Config::builder(dev.issuer(), RESOURCE)
        .jwks_url(dev.jwks_uri())
        .introspection_url(dev.introspection_endpoint())
        .introspection_credentials(
            DEFAULT_INTROSPECTION_CLIENT_ID,
            DEFAULT_INTROSPECTION_CLIENT_SECRET,
        )
        .introspection_ttl(std::time::Duration::ZERO)
        .validation_mode(mode)
        .build()
        .expect("config validates");
    config
        .build()
        .await
        .expect("protection builds")
        .guard()
        .clone()
}

/// An opaque access token from the `client_credentials` grant.
async fn opaque_token(dev: &DevIssuer) -> String {
    let response = reqwest::Client::new()
        .post(dev.token_endpoint())
        .basic_auth(
            DEFAULT_INTROSPECTION_CLIENT_ID,
            Some(DEFAULT_INTROSPECTION_CLIENT_SECRET),
        )
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "notes:read"),
            ("resource", RESOURCE),
        ])
        .send()
        .await
        .expect("token request");
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("token response");
    let token = body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();
    assert_eq!(token.matches('.').count(), 0, "the token is opaque");
    token
}

/// The outcome of one request and how many introspections it caused.
async fn check(dev: &DevIssuer, guard: &Guard, token: &str) -> (Result<(), DenialCode>, u64) {
    let before = dev.introspection_calls();
    let header = format!("Bearer {token}");
    let outcome = match guard
        .check(&AccessRequest::new(Authorization::One(header.as_bytes())))
        .await
    {
        Decision::Allow(_) => Ok(()),
        Decision::Deny(denial) => Err(denial.code()),
    };
    (outcome, dev.introspection_calls() - before)
}

struct Tokens {
    jwt: String,
    badly_signed: String,
    revoked: String,
    opaque: String,
}

async fn tokens(dev: &DevIssuer) -> Tokens {
    let revoked = dev.mint().scope("notes:read").sign();
    assert!(dev.revoke(&revoked));
    Tokens {
        jwt: dev.mint().scope("notes:read").sign(),
        badly_signed: dev.mint().scope("notes:read").foreign_key(),
        revoked,
        opaque: opaque_token(dev).await,
    }
}

#[tokio::test]
async fn jwt_only_verifies_jwts_locally_and_refuses_opaque_tokens() {
    let dev = start().await;
    let t = tokens(&dev).await;
    let guard = guard(&dev, ValidationMode::JwtOnly).await;
    assert_eq!(check(&dev, &guard, &t.jwt).await, (Ok(()), 0));
    assert_eq!(
        check(&dev, &guard, &t.badly_signed).await,
        (Err(DenialCode::InvalidToken), 0)
    );
    assert_eq!(check(&dev, &guard, &t.revoked).await, (Ok(()), 0));
    assert_eq!(
        check(&dev, &guard, &t.opaque).await,
        (Err(DenialCode::InvalidToken), 0)
    );
}

#[tokio::test]
async fn introspection_only_asks_the_authorization_server_about_every_token() {
    let dev = start().await;
    let t = tokens(&dev).await;
    let guard = guard(&dev, ValidationMode::IntrospectionOnly).await;
    assert_eq!(check(&dev, &guard, &t.jwt).await, (Ok(()), 1));
    assert_eq!(
        check(&dev, &guard, &t.badly_signed).await,
        (Err(DenialCode::TokenRevoked), 1)
    );
    assert_eq!(
        check(&dev, &guard, &t.revoked).await,
        (Err(DenialCode::TokenRevoked), 1)
    );
    assert_eq!(check(&dev, &guard, &t.opaque).await, (Ok(()), 1));
}

#[tokio::test]
async fn jwt_and_introspect_verifies_then_introspects_jwts_and_introspects_opaque_tokens() {
    let dev = start().await;
    let t = tokens(&dev).await;
    let guard = guard(&dev, ValidationMode::JwtAndIntrospect).await;
    assert_eq!(check(&dev, &guard, &t.jwt).await, (Ok(()), 1));
    // Seen again: the verified JWT is cached, its revocation is asked again (TTL 0).
    assert_eq!(check(&dev, &guard, &t.jwt).await, (Ok(()), 1));
    assert_eq!(
        check(&dev, &guard, &t.badly_signed).await,
        (Err(DenialCode::InvalidToken), 0),
        "a JWT failing its signature is final: introspection is never consulted"
    );
    assert_eq!(
        check(&dev, &guard, &t.revoked).await,
        (Err(DenialCode::TokenRevoked), 1)
    );
    assert_eq!(
        check(&dev, &guard, &t.opaque).await,
        (Ok(()), 1),
        "an opaque token is introspected once, not twice"
    );
    assert!(dev.revoke(&t.opaque));
    assert_eq!(
        check(&dev, &guard, &t.opaque).await,
        (Err(DenialCode::TokenRevoked), 1)
    );
}

#[tokio::test]
async fn jwt_or_introspect_never_rescues_a_badly_signed_jwt() {
    let dev = start().await;
    let t = tokens(&dev).await;
    let guard = guard(&dev, ValidationMode::JwtOrIntrospect).await;
    assert_eq!(check(&dev, &guard, &t.jwt).await, (Ok(()), 0));
    assert_eq!(
        check(&dev, &guard, &t.badly_signed).await,
        (Err(DenialCode::InvalidToken), 0)
    );
    assert_eq!(check(&dev, &guard, &t.revoked).await, (Ok(()), 0));
    assert_eq!(check(&dev, &guard, &t.opaque).await, (Ok(()), 1));
}

#[tokio::test]
async fn an_unreachable_introspection_endpoint_is_503_not_the_familys_401() {
    let dev = start().await;
    let t = tokens(&dev).await;
    let guard = guard(&dev, ValidationMode::JwtAndIntrospect).await;
    dev.set_endpoint_unavailable(Endpoint::Introspect, true);
    for token in [&t.jwt, &t.opaque] {
        let header = format!("Bearer {token}");
        let Decision::Deny(denial) = guard
            .check(&AccessRequest::new(Authorization::One(header.as_bytes())))
            .await
        else {
            panic!("allowed without introspection")
        };
        assert_eq!(denial.code(), DenialCode::AuthorizationUnavailable);
        let rendered = guard.render(&denial);
        assert_eq!(rendered.status, 503);
        assert_eq!(rendered.www_authenticate, None);
        assert_eq!(rendered.retry_after.as_deref(), Some("5"));
    }
}

#[tokio::test]
async fn the_mode_inferred_from_both_urls_is_jwt_and_introspect() {
    let dev = start().await;
    let t = tokens(&dev).await;
    let config = Config::builder(dev.issuer(), RESOURCE)
        .jwks_url(dev.jwks_uri())
        .introspection_url(dev.introspection_endpoint())
        .introspection_credentials(
            DEFAULT_INTROSPECTION_CLIENT_ID,
            DEFAULT_INTROSPECTION_CLIENT_SECRET,
        )
        .introspection_ttl(std::time::Duration::ZERO)
        .build()
        .unwrap();
    assert_eq!(
        config.effective_validation_mode(),
        Some(ValidationMode::JwtAndIntrospect)
    );
    let guard = config.build().await.unwrap().guard().clone();
    assert_eq!(check(&dev, &guard, &t.opaque).await, (Ok(()), 1));
    assert_eq!(
        check(&dev, &guard, &t.revoked).await,
        (Err(DenialCode::TokenRevoked), 1)
    );
}
