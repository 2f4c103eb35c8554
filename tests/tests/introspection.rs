//! authsec-jwks introspection (RFC 7662) against the dev issuer over loopback HTTP: revocation
//! through the Guard, the answer cache and its TTL, coalescing, failures, opaque tokens.

use std::sync::Arc;
use std::time::Duration;

use authsec_core::{
    AccessRequest, Authorization, Decision, Denial, DenialCode, Guard, Principal, TokenSource,
};
use authsec_jwks::{
    ClientAuthMethod, ClientCredentials, FetchError, HttpOptions, RemoteIssuer, TokenStatus,
    ValidationMode,
};
use authsec_tests::dev_issuer::{
    AccessTokenFormat, ClientRegistration, DEFAULT_INTROSPECTION_CLIENT_ID,
    DEFAULT_INTROSPECTION_CLIENT_SECRET, DevIssuer, DevIssuerConfig, Endpoint,
};

const RESOURCE: &str = "https://mcp.example.com/mcp";
const RESOURCE_METADATA: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";

async fn start(format: AccessTokenFormat) -> DevIssuer {
    DevIssuer::start_with(
        DevIssuerConfig::default()
            .with_default_resource(RESOURCE)
            .with_access_token_format(format),
    )
    .await
    .expect("dev issuer starts")
}

fn credentials() -> ClientCredentials {
    ClientCredentials::new(
        DEFAULT_INTROSPECTION_CLIENT_ID,
        DEFAULT_INTROSPECTION_CLIENT_SECRET,
    )
}

async fn discover(dev: &DevIssuer, credentials: ClientCredentials, ttl: Duration) -> RemoteIssuer {
    RemoteIssuer::builder(dev.issuer())
        .introspection_credentials(credentials)
        .introspection_ttl(ttl)
        .discover()
        .await
        .expect("discovery succeeds")
}

fn guard(issuer: &RemoteIssuer, mode: ValidationMode) -> Guard {
    issuer
        .guard(RESOURCE, mode)
        .expect("mode is available")
        .build()
        .expect("guard builds")
}

async fn check(guard: &Guard, token: &str) -> Result<Principal, Denial> {
    let header = format!("Bearer {token}");
    match guard
        .check(&AccessRequest::new(Authorization::One(header.as_bytes())))
        .await
    {
        Decision::Allow(principal) => Ok(principal),
        Decision::Deny(denial) => Err(denial),
    }
}

fn assert_revoked(denial: &Denial) {
    assert_eq!(denial.code(), DenialCode::TokenRevoked, "{denial:?}");
    let rendered = denial.render(RESOURCE_METADATA);
    assert_eq!(rendered.status, 401);
    assert_eq!(
        rendered.www_authenticate.as_deref(),
        Some(
            format!(
                "Bearer error=\"invalid_token\", error_description=\"{}\", resource_metadata=\"{RESOURCE_METADATA}\"",
                denial.description()
            )
            .as_str()
        )
    );
}

fn assert_unavailable(denial: &Denial) {
    assert_eq!(
        denial.code(),
        DenialCode::AuthorizationUnavailable,
        "{denial:?}"
    );
    assert_eq!(
        denial.description(),
        "the authorization server could not confirm that the token is active; retry later"
    );
    let rendered = denial.render(RESOURCE_METADATA);
    assert_eq!(rendered.status, 503);
    assert_eq!(rendered.www_authenticate, None);
    assert_eq!(rendered.retry_after.as_deref(), Some("5"));
}

/// An opaque access token from the `client_credentials` grant.
async fn opaque_token(dev: &DevIssuer, resource: &str) -> String {
    let response = reqwest::Client::new()
        .post(dev.token_endpoint())
        .basic_auth(
            DEFAULT_INTROSPECTION_CLIENT_ID,
            Some(DEFAULT_INTROSPECTION_CLIENT_SECRET),
        )
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "notes:read"),
            ("resource", resource),
        ])
        .send()
        .await
        .expect("token request");
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("token response");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

// ----- JWT + introspection -----------------------------------------------------------------

#[tokio::test]
async fn revoked_token_is_refused_on_the_next_request_at_ttl_zero() {
    let dev = start(AccessTokenFormat::Jwt).await;
    let issuer = discover(&dev, credentials(), Duration::ZERO).await;
    assert_eq!(issuer.default_mode(), ValidationMode::JwtAndIntrospection);
    let guard = guard(&issuer, ValidationMode::Auto);
    let token = dev.mint().scope("notes:read").sign();

    let principal = check(&guard, &token).await.expect("active");
    assert_eq!(principal.subject(), "alice");
    assert_eq!(dev.introspection_calls(), 1);
    check(&guard, &token).await.expect("still active");
    assert_eq!(dev.introspection_calls(), 2, "TTL 0 asks on every request");

    assert!(dev.revoke(&token));
    assert_revoked(&check(&guard, &token).await.expect_err("revoked"));
    assert_eq!(dev.introspection_calls(), 3);
}

#[tokio::test]
async fn answers_are_reused_within_the_ttl_then_asked_again() {
    let dev = start(AccessTokenFormat::Jwt).await;
    let issuer = discover(&dev, credentials(), Duration::from_secs(1)).await;
    let guard = guard(&issuer, ValidationMode::JwtAndIntrospection);
    let token = dev.mint().sign();

    for _ in 0..5 {
        check(&guard, &token).await.expect("active");
    }
    assert_eq!(dev.introspection_calls(), 1, "served from the cache");

    // Revoked at the AS: within the TTL the cached answer still stands (the revocation delay
    // budget)...
    assert!(dev.revoke(&token));
    check(&guard, &token)
        .await
        .expect("cached answer within the TTL");
    assert_eq!(dev.introspection_calls(), 1);

    // ...and once it has passed, the next request asks and is refused.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_revoked(&check(&guard, &token).await.expect_err("revoked"));
    assert_eq!(dev.introspection_calls(), 2);
}

#[tokio::test]
async fn cached_answer_never_outlives_the_token_exp() {
    let dev = start(AccessTokenFormat::Jwt).await;
    let issuer = discover(&dev, credentials(), Duration::from_secs(60)).await;
    let introspector = issuer.introspector().expect("introspector").clone();
    let token = dev.mint().expires_in(2).sign();

    assert!(
        introspector
            .status(&token)
            .await
            .expect("answer")
            .is_active()
    );
    assert!(
        introspector
            .status(&token)
            .await
            .expect("answer")
            .is_active()
    );
    assert_eq!(dev.introspection_calls(), 1);

    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(
        !introspector
            .status(&token)
            .await
            .expect("answer")
            .is_active()
    );
    assert_eq!(
        dev.introspection_calls(),
        2,
        "re-asked at exp, not after 60 s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_requests_for_one_new_token_cause_one_introspection() {
    let dev = start(AccessTokenFormat::Jwt).await;
    // TTL 0: only coalescing, not caching, can explain a single call.
    let issuer = discover(&dev, credentials(), Duration::ZERO).await;
    let guard = guard(&issuer, ValidationMode::JwtAndIntrospection);
    // Warm the key cache so that only introspection is measured.
    check(&guard, &dev.mint().sign()).await.expect("warm-up");
    assert_eq!(dev.introspection_calls(), 1);

    let token = Arc::new(dev.mint().sign());
    dev.set_response_delay(Duration::from_millis(300));
    let barrier = Arc::new(tokio::sync::Barrier::new(50));
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let guard = guard.clone();
            let token = token.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                check(&guard, &token).await.map(|p| p.subject().to_owned())
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.expect("task").expect("active"), "alice");
    }
    assert_eq!(dev.introspection_calls(), 2, "one call for 50 requests");
}

#[tokio::test]
async fn tokens_failing_local_checks_are_never_introspected() {
    let dev = start(AccessTokenFormat::Jwt).await;
    let issuer = discover(&dev, credentials(), Duration::ZERO).await;
    let guard = guard(&issuer, ValidationMode::Auto);
    for token in [
        dev.mint().foreign_key_with_issuer_kid(),
        dev.mint().expires_in(-600).sign(),
        dev.mint().aud("https://other.example/mcp").sign(),
    ] {
        let denial = check(&guard, &token).await.expect_err("refused locally");
        assert!(
            matches!(
                denial.code(),
                DenialCode::InvalidToken | DenialCode::InvalidAudience
            ),
            "{denial:?}"
        );
    }
    assert_eq!(dev.introspection_calls(), 0);
}

#[tokio::test]
async fn issuer_down_gives_503_for_new_tokens_while_cached_tokens_keep_working() {
    let dev = start(AccessTokenFormat::Jwt).await;
    let issuer = discover(&dev, credentials(), Duration::from_secs(60)).await;
    let guard = guard(&issuer, ValidationMode::JwtAndIntrospection);
    let known = dev.mint().sign();
    let unknown = dev.mint().sign();
    check(&guard, &known).await.expect("active");
    assert_eq!(dev.introspection_calls(), 1);

    dev.shutdown().await;
    check(&guard, &known)
        .await
        .expect("cached answer, issuer down");
    // Signature checked with the cached key; introspection cannot answer.
    assert_unavailable(&check(&guard, &unknown).await.expect_err("unknown token"));
    let err = issuer
        .introspector()
        .expect("introspector")
        .status(&unknown)
        .await
        .expect_err("down");
    assert!(
        matches!(&err, FetchError::Unreachable { url, .. } if *url == dev.introspection_endpoint()),
        "{err:?}"
    );
}

#[tokio::test]
async fn server_errors_and_timeouts_are_unavailable_never_invalid_token() {
    let dev = start(AccessTokenFormat::Jwt).await;
    let issuer = RemoteIssuer::builder(dev.issuer())
        .http(HttpOptions::default().timeout(Duration::from_millis(300)))
        .introspection_credentials(credentials())
        .introspection_ttl(Duration::ZERO)
        .discover()
        .await
        .expect("discovers");
    let guard = guard(&issuer, ValidationMode::JwtAndIntrospection);
    check(&guard, &dev.mint().sign()).await.expect("warm-up");
    let introspector = issuer.introspector().expect("introspector");

    dev.set_endpoint_unavailable(Endpoint::Introspect, true);
    let token = dev.mint().sign();
    assert_unavailable(&check(&guard, &token).await.expect_err("503"));
    assert_eq!(
        introspector.status(&token).await.expect_err("503"),
        FetchError::Status {
            url: dev.introspection_endpoint(),
            status: 503,
            detail: ": temporarily_unavailable".into(),
        }
    );
    dev.set_endpoint_unavailable(Endpoint::Introspect, false);

    dev.set_response_delay(Duration::from_secs(1));
    assert_unavailable(&check(&guard, &token).await.expect_err("timeout"));
    assert_eq!(
        introspector.status(&token).await.expect_err("timeout"),
        FetchError::Timeout {
            url: dev.introspection_endpoint(),
            timeout: Duration::from_millis(300),
        }
    );
    dev.set_response_delay(Duration::ZERO);
    check(&guard, &token).await.expect("recovers");
}

#[tokio::test]
async fn wrong_client_secret_is_unavailable_not_invalid_token() {
    let dev = start(AccessTokenFormat::Jwt).await;
    for credentials in [
        ClientCredentials::basic(DEFAULT_INTROSPECTION_CLIENT_ID, "wrong"),
        ClientCredentials::post(DEFAULT_INTROSPECTION_CLIENT_ID, "wrong"),
    ] {
        let issuer = discover(&dev, credentials, Duration::from_secs(30)).await;
        let guard = guard(&issuer, ValidationMode::JwtAndIntrospection);
        let token = dev.mint().sign();
        assert_unavailable(&check(&guard, &token).await.expect_err("bad credentials"));
        let err = issuer
            .introspector()
            .expect("introspector")
            .status(&token)
            .await
            .expect_err("bad credentials");
        assert_eq!(
            err,
            FetchError::CredentialsRejected {
                url: dev.introspection_endpoint(),
                status: 401,
            }
        );
        assert!(
            err.to_string().contains("check the client id, secret"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn client_secret_post_and_form_encoded_basic_credentials_are_accepted() {
    let dev = start(AccessTokenFormat::Jwt).await;
    // Characters that RFC 6749 §2.3.1 form-encoding changes.
    let (id, secret) = ("rs:notes", "s3cr et+/%&=");
    dev.register_client(ClientRegistration::introspection(id, secret));
    let token = dev.mint().sign();
    for (credentials, method) in [
        (
            ClientCredentials::basic(id, secret),
            ClientAuthMethod::ClientSecretBasic,
        ),
        (
            ClientCredentials::post(id, secret),
            ClientAuthMethod::ClientSecretPost,
        ),
        (
            ClientCredentials::new(id, secret),
            ClientAuthMethod::ClientSecretBasic,
        ),
    ] {
        let issuer = discover(&dev, credentials, Duration::ZERO).await;
        let introspector = issuer.introspector().expect("introspector");
        assert_eq!(introspector.method(), method);
        let TokenStatus::Active(response) = introspector.status(&token).await.expect("answer")
        else {
            panic!("the token is active");
        };
        assert_eq!(response["sub"], "alice");
        assert_eq!(response["aud"], RESOURCE);
    }
    assert_eq!(dev.introspection_calls(), 3);
}

// ----- opaque tokens (introspection only) ----------------------------------------------------

#[tokio::test]
async fn opaque_tokens_are_accepted_while_active_and_refused_once_revoked() {
    let dev = start(AccessTokenFormat::Opaque).await;
    let issuer = discover(&dev, credentials(), Duration::ZERO).await;
    let guard = guard(&issuer, ValidationMode::Introspection);
    let token = opaque_token(&dev, RESOURCE).await;
    assert_eq!(token.split('.').count(), 1, "not a JWT");

    let principal = check(&guard, &token).await.expect("active");
    assert_eq!(principal.subject(), DEFAULT_INTROSPECTION_CLIENT_ID);
    assert_eq!(principal.client_id(), Some(DEFAULT_INTROSPECTION_CLIENT_ID));
    assert_eq!(principal.scopes().to_string(), "notes:read");
    assert_eq!(principal.issuer(), Some(dev.issuer()));
    assert_eq!(principal.claims().source, TokenSource::Introspection);
    check(&guard, &token).await.expect("still active");
    assert_eq!(dev.introspection_calls(), 2);
    assert_eq!(dev.jwks_fetches(), 0);

    assert!(dev.revoke(&token));
    assert_revoked(&check(&guard, &token).await.expect_err("revoked"));
    assert_revoked(&check(&guard, "made-up-token").await.expect_err("unknown"));
    assert_eq!(dev.introspection_calls(), 4);
}

#[tokio::test]
async fn opaque_token_for_another_resource_is_invalid_audience() {
    let dev = start(AccessTokenFormat::Opaque).await;
    let issuer = discover(&dev, credentials(), Duration::from_secs(30)).await;
    let guard = guard(&issuer, ValidationMode::Introspection);
    let token = opaque_token(&dev, "https://other.example/mcp").await;
    let denial = check(&guard, &token).await.expect_err("wrong audience");
    assert_eq!(denial.code(), DenialCode::InvalidAudience);
    assert_eq!(denial.render(RESOURCE_METADATA).status, 401);
}

#[tokio::test]
async fn opaque_mode_with_issuer_down_is_unavailable_for_new_tokens_only() {
    let dev = start(AccessTokenFormat::Opaque).await;
    let issuer = discover(&dev, credentials(), Duration::from_secs(60)).await;
    let guard = guard(&issuer, ValidationMode::Introspection);
    let known = opaque_token(&dev, RESOURCE).await;
    let unknown = opaque_token(&dev, RESOURCE).await;
    check(&guard, &known).await.expect("active");

    dev.shutdown().await;
    check(&guard, &known).await.expect("cached answer");
    assert_unavailable(&check(&guard, &unknown).await.expect_err("down"));
    assert_eq!(dev.introspection_calls(), 1);
}

#[tokio::test]
async fn introspection_modes_need_credentials() {
    let dev = start(AccessTokenFormat::Jwt).await;
    let issuer = RemoteIssuer::discover(dev.issuer())
        .await
        .expect("discovers");
    assert_eq!(issuer.default_mode(), ValidationMode::Jwt);
    let err = issuer
        .guard(RESOURCE, ValidationMode::Introspection)
        .err()
        .expect("no credentials");
    assert_eq!(
        err.message(),
        "introspection needs client credentials: call RemoteIssuer::builder(..).introspection_credentials(..)"
    );
}
