//! authsec-jwks against the dev issuer over loopback HTTP: discovery, the JWKS cache, key
//! rotation, refetch rate limiting and behaviour when the authorization server is down.

use std::sync::Arc;
use std::time::{Duration, Instant};

use authsec_core::{
    AccessRequest, Authorization, Decision, Denial, DenialCode, Guard, Principal, TokenVerifier,
};
use authsec_jwks::{FetchError, HttpOptions, JwksConfig, RemoteIssuer, ValidationMode};
use authsec_tests::dev_issuer::{DevIssuer, DevIssuerConfig, EmbeddedKey, SigningAlgorithm};

const RESOURCE: &str = "https://mcp.example.com/mcp";
const RESOURCE_METADATA: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";

async fn start() -> DevIssuer {
    DevIssuer::start_with(DevIssuerConfig::default().with_default_resource(RESOURCE))
        .await
        .expect("dev issuer starts")
}

async fn start_with(config: DevIssuerConfig) -> DevIssuer {
    DevIssuer::start_with(config.with_default_resource(RESOURCE))
        .await
        .expect("dev issuer starts")
}

async fn discover(dev: &DevIssuer, jwks: JwksConfig) -> RemoteIssuer {
    RemoteIssuer::builder(dev.issuer())
        .jwks_config(jwks)
        .discover()
        .await
        .expect("discovery succeeds")
}

/// A Guard without its verified-token cache, so every request reaches the key resolver.
fn guard(issuer: &RemoteIssuer) -> Guard {
    issuer
        .guard(RESOURCE, ValidationMode::Jwt)
        .expect("JWT mode")
        .token_cache_capacity(0)
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

fn assert_unavailable(denial: &Denial) {
    assert_eq!(
        denial.code(),
        DenialCode::AuthorizationUnavailable,
        "{denial:?}"
    );
    let rendered = denial.render(RESOURCE_METADATA);
    assert_eq!(rendered.status, 503);
    assert_eq!(rendered.www_authenticate, None);
    assert_eq!(rendered.retry_after.as_deref(), Some("5"));
}

fn assert_invalid_token(denial: &Denial) {
    assert_eq!(denial.code(), DenialCode::InvalidToken, "{denial:?}");
    let rendered = denial.render(RESOURCE_METADATA);
    assert_eq!(rendered.status, 401);
    let challenge = rendered.www_authenticate.expect("a challenge");
    assert!(
        challenge.starts_with("Bearer error=\"invalid_token\""),
        "{challenge}"
    );
}

// ----- discovery ------------------------------------------------------------------------------

#[tokio::test]
async fn discovery_reads_every_metadata_field() {
    let dev = start().await;
    let issuer = RemoteIssuer::discover(dev.issuer())
        .await
        .expect("discovers");
    let metadata = issuer.metadata();
    let url = |path: &str| Some(dev.url(path));
    assert_eq!(metadata.issuer, dev.issuer());
    assert_eq!(metadata.jwks_uri, url("/jwks"));
    assert_eq!(metadata.introspection_endpoint, url("/introspect"));
    assert_eq!(metadata.token_endpoint, url("/token"));
    assert_eq!(metadata.authorization_endpoint, url("/authorize"));
    assert_eq!(metadata.registration_endpoint, url("/register"));
    assert_eq!(metadata.revocation_endpoint, url("/revoke"));
    assert_eq!(
        metadata.scopes_supported,
        Some(vec!["notes:read".to_owned(), "notes:write".to_owned()])
    );
    assert_eq!(
        metadata.code_challenge_methods_supported,
        Some(vec!["S256".to_owned()])
    );
    assert_eq!(
        metadata.introspection_endpoint_auth_methods_supported,
        Some(vec![
            "client_secret_basic".to_owned(),
            "client_secret_post".to_owned()
        ])
    );
    assert_eq!(
        metadata.extra.get("acr_values_supported"),
        Some(&serde_json::json!(["pwd", "mfa"]))
    );
    assert_eq!(
        metadata.extra.get("response_types_supported"),
        Some(&serde_json::json!(["code"]))
    );
    // RFC 8414's location answered first; nothing else was fetched.
    assert_eq!(dev.metadata_fetches(), 1);
    assert_eq!(dev.jwks_fetches(), 0);
    assert_eq!(issuer.default_mode(), ValidationMode::Jwt);
    assert_eq!(
        issuer.jwks().map(|j| j.uri()),
        Some(dev.jwks_uri().as_str())
    );
}

#[tokio::test]
async fn issuer_mismatch_is_an_error_naming_both_issuers() {
    let dev = start().await;
    // A trailing slash is a different issuer identifier (RFC 8414 §3.3: exact comparison).
    let configured = format!("{}/", dev.issuer());
    let err = RemoteIssuer::discover(configured.clone())
        .await
        .expect_err("mismatch");
    assert_eq!(
        err,
        FetchError::IssuerMismatch {
            url: dev.metadata_url(),
            expected: configured.clone(),
            found: dev.issuer().to_owned(),
        }
    );
    let message = err.to_string();
    assert!(message.contains(&format!("{configured:?}")), "{message}");
    assert!(
        message.contains(&format!("{:?}", dev.issuer())),
        "{message}"
    );

    // Same server, other spelling of the host.
    let localhost = format!("http://localhost:{}", dev.local_addr().port());
    let err = RemoteIssuer::discover(localhost.clone())
        .await
        .expect_err("mismatch");
    assert_eq!(
        err,
        FetchError::IssuerMismatch {
            url: format!("{localhost}/.well-known/oauth-authorization-server"),
            expected: localhost,
            found: dev.issuer().to_owned(),
        }
    );
}

#[tokio::test]
async fn issuer_path_is_inserted_after_the_well_known_prefix_then_appended() {
    let dev = start().await;
    let tenant = format!("{}/tenant1", dev.issuer());
    let err = RemoteIssuer::discover(tenant.clone())
        .await
        .expect_err("the dev issuer has no tenant1");
    assert_eq!(
        err,
        FetchError::NotFound {
            issuer: tenant,
            tried: vec![
                format!(
                    "{} (HTTP 404)",
                    dev.url("/.well-known/oauth-authorization-server/tenant1")
                ),
                format!(
                    "{} (HTTP 404)",
                    dev.url("/.well-known/openid-configuration/tenant1")
                ),
                format!(
                    "{} (HTTP 404)",
                    dev.url("/tenant1/.well-known/openid-configuration")
                ),
            ],
        }
    );
    assert_eq!(dev.metadata_fetches(), 0);
}

#[tokio::test]
async fn discovery_failures_say_which_url_and_what_happened() {
    let dev = start().await;
    dev.set_endpoint_unavailable(authsec_tests::dev_issuer::Endpoint::Metadata, true);
    let err = RemoteIssuer::discover(dev.issuer()).await.expect_err("503");
    assert_eq!(
        err,
        FetchError::Status {
            url: dev.metadata_url(),
            status: 503,
            detail: ": temporarily_unavailable".into(),
        }
    );
    assert_eq!(
        err.to_string(),
        format!(
            "{} answered HTTP 503: temporarily_unavailable",
            dev.metadata_url()
        )
    );

    let issuer = dev.issuer().to_owned();
    dev.shutdown().await;
    let err = RemoteIssuer::discover(issuer).await.expect_err("down");
    assert!(
        matches!(&err, FetchError::Unreachable { url, .. } if *url == dev.metadata_url()),
        "{err:?}"
    );
}

#[tokio::test]
async fn plain_http_issuer_off_loopback_is_refused_before_any_request() {
    let err = RemoteIssuer::discover("http://as.example")
        .await
        .expect_err("insecure");
    assert_eq!(
        err,
        FetchError::InsecureUrl {
            url: "http://as.example/.well-known/oauth-authorization-server".into()
        }
    );
}

// ----- JWKS cache and rotation ----------------------------------------------------------------

#[tokio::test]
async fn rotated_key_is_accepted_after_exactly_one_refetch() {
    let dev = start().await;
    let issuer = discover(
        &dev,
        JwksConfig::default().min_refetch_interval(Duration::from_millis(200)),
    )
    .await;
    let guard = guard(&issuer);
    let old_kid = dev.active_kid();

    let principal = check(&guard, &dev.mint().sign()).await.expect("allowed");
    assert_eq!(principal.subject(), "alice");
    assert_eq!(dev.jwks_fetches(), 1);
    check(&guard, &dev.mint().sign()).await.expect("allowed");
    assert_eq!(dev.jwks_fetches(), 1, "served from the cache");

    tokio::time::sleep(Duration::from_millis(250)).await;
    let new_kid = dev.rotate_keys();
    assert_ne!(new_kid, old_kid);
    check(&guard, &dev.mint().sign())
        .await
        .expect("new kid allowed");
    assert_eq!(dev.jwks_fetches(), 2, "exactly one refetch");
    check(&guard, &dev.mint().sign())
        .await
        .expect("new kid allowed");
    check(&guard, &dev.mint().signing_kid(&old_kid).sign())
        .await
        .expect("old key still published");
    assert_eq!(dev.jwks_fetches(), 2);
    let kids: Vec<String> = issuer
        .jwks()
        .expect("jwks")
        .keys()
        .iter()
        .filter_map(|k| k.kid().map(str::to_owned))
        .collect();
    assert_eq!(kids, [old_kid, new_kid]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundred_concurrent_requests_with_one_unknown_kid_cause_one_fetch() {
    let dev = start().await;
    let issuer = discover(
        &dev,
        JwksConfig::default().min_refetch_interval(Duration::from_millis(100)),
    )
    .await;
    let guard = guard(&issuer);
    check(&guard, &dev.mint().sign()).await.expect("warm-up");
    assert_eq!(dev.jwks_fetches(), 1);

    tokio::time::sleep(Duration::from_millis(150)).await;
    dev.rotate_keys();
    let tokens: Vec<String> = (0..100).map(|_| dev.mint().sign()).collect();
    // A slow JWKS response keeps the fetch in flight while all 100 requests arrive.
    dev.set_response_delay(Duration::from_millis(300));
    let barrier = Arc::new(tokio::sync::Barrier::new(tokens.len()));
    let tasks: Vec<_> = tokens
        .into_iter()
        .map(|token| {
            let guard = guard.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                check(&guard, &token).await.map(|p| p.subject().to_owned())
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.expect("task").expect("allowed"), "alice");
    }
    assert_eq!(
        dev.jwks_fetches(),
        2,
        "one single-flight refetch for 100 requests"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn flood_of_random_kids_fetches_no_more_than_the_configured_rate() {
    let dev = start().await;
    let interval = Duration::from_secs(2);
    let issuer = discover(&dev, JwksConfig::default().min_refetch_interval(interval)).await;
    let guard = guard(&issuer);
    // Signing is the slow part: mint everything before the clock matters.
    let first_flood: Vec<String> = (0..1000).map(|_| dev.mint().unknown_kid()).collect();
    let second_flood: Vec<String> = (0..1000).map(|_| dev.mint().unknown_kid()).collect();
    let late_kid = dev.mint().unknown_kid();

    let flood = |tokens: Vec<String>| {
        let guard = guard.clone();
        async move {
            let tasks: Vec<_> = tokens
                .into_iter()
                .map(|token| {
                    let guard = guard.clone();
                    tokio::spawn(async move { check(&guard, &token).await })
                })
                .collect();
            for task in tasks {
                let denial = task.await.expect("task").expect_err("bogus kid");
                assert_invalid_token(&denial);
            }
        }
    };

    let warmed = Instant::now();
    check(&guard, &dev.mint().sign()).await.expect("warm-up");
    assert_eq!(dev.jwks_fetches(), 1);
    // Within the interval after a fetch: no fetch at all.
    flood(first_flood).await;
    assert!(
        warmed.elapsed() < interval,
        "the first flood must finish inside the interval for this test to mean anything"
    );
    assert_eq!(dev.jwks_fetches(), 1);

    // Once the interval has passed: one fetch for the whole flood.
    tokio::time::sleep(interval + Duration::from_millis(100)).await;
    flood(second_flood.clone()).await;
    assert_eq!(dev.jwks_fetches(), 2);

    // After another interval, a kid already found missing is remembered (negative cache)...
    tokio::time::sleep(interval + Duration::from_millis(100)).await;
    assert_invalid_token(&check(&guard, &second_flood[0]).await.expect_err("bogus"));
    assert_eq!(dev.jwks_fetches(), 2);
    // ...while a never-seen kid may fetch again.
    assert_invalid_token(&check(&guard, &late_kid).await.expect_err("bogus"));
    assert_eq!(dev.jwks_fetches(), 3);
}

#[tokio::test]
async fn cached_keys_keep_working_when_the_issuer_is_down() {
    let dev = start_with(DevIssuerConfig {
        jwks_max_age: Duration::from_secs(1),
        ..DevIssuerConfig::default()
    })
    .await;
    let issuer = discover(
        &dev,
        JwksConfig::default()
            .min_ttl(Duration::ZERO)
            .min_refetch_interval(Duration::ZERO),
    )
    .await;
    let guard = guard(&issuer);
    check(&guard, &dev.mint().sign()).await.expect("warm-up");
    assert_eq!(dev.jwks_fetches(), 1);

    dev.shutdown().await;
    check(&guard, &dev.mint().sign())
        .await
        .expect("fresh cached key, issuer down");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    check(&guard, &dev.mint().sign())
        .await
        .expect("stale cached key still verifies while the issuer is down");

    // A key the cache has never seen cannot be fetched: 503, not invalid_token.
    dev.rotate_keys();
    let denial = check(&guard, &dev.mint().sign())
        .await
        .expect_err("unknown kid, issuer down");
    assert_unavailable(&denial);
    assert!(
        denial
            .description()
            .starts_with("the issuer's signing keys could not be fetched: could not reach"),
        "{}",
        denial.description()
    );
    // Not remembered as unknown: the next attempt is unavailable again, not invalid.
    assert_unavailable(&check(&guard, &dev.mint().sign()).await.expect_err("down"));
}

#[tokio::test]
async fn stale_set_is_refetched_in_the_background_after_max_age() {
    let dev = start_with(DevIssuerConfig {
        jwks_max_age: Duration::from_secs(1),
        ..DevIssuerConfig::default()
    })
    .await;
    let issuer = discover(&dev, JwksConfig::default().min_ttl(Duration::ZERO)).await;
    let guard = guard(&issuer);
    check(&guard, &dev.mint().sign()).await.expect("warm-up");
    check(&guard, &dev.mint().sign()).await.expect("cached");
    assert_eq!(dev.jwks_fetches(), 1, "fresh for max-age=1");

    tokio::time::sleep(Duration::from_millis(1200)).await;
    check(&guard, &dev.mint().sign())
        .await
        .expect("served from the stale set without waiting");
    let deadline = Instant::now() + Duration::from_secs(5);
    while dev.jwks_fetches() < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(dev.jwks_fetches(), 2, "one background refetch");
    check(&guard, &dev.mint().sign())
        .await
        .expect("fresh again");
    assert_eq!(dev.jwks_fetches(), 2);
}

#[tokio::test]
async fn max_age_below_the_minimum_ttl_is_raised_to_it() {
    let dev = start_with(DevIssuerConfig {
        jwks_max_age: Duration::from_secs(1),
        ..DevIssuerConfig::default()
    })
    .await;
    // Default bounds: at least 60 s, whatever the header says.
    let issuer = discover(&dev, JwksConfig::default()).await;
    let guard = guard(&issuer);
    check(&guard, &dev.mint().sign()).await.expect("warm-up");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    check(&guard, &dev.mint().sign()).await.expect("cached");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(dev.jwks_fetches(), 1);
}

#[tokio::test]
async fn slow_jwks_fetch_times_out_as_unavailable() {
    let dev = start().await;
    let issuer = RemoteIssuer::builder(dev.issuer())
        .http(HttpOptions::default().timeout(Duration::from_millis(300)))
        .jwks_config(JwksConfig::default().min_refetch_interval(Duration::ZERO))
        .discover()
        .await
        .expect("discovers");
    let guard = guard(&issuer);
    dev.set_response_delay(Duration::from_secs(2));
    let started = Instant::now();
    let denial = check(&guard, &dev.mint().sign())
        .await
        .expect_err("timed out");
    assert!(started.elapsed() < Duration::from_millis(1500));
    assert_unavailable(&denial);
    assert_eq!(
        denial.description(),
        format!(
            "the issuer's signing keys could not be fetched: {} did not answer within 300ms",
            dev.jwks_uri()
        )
    );
    dev.set_response_delay(Duration::ZERO);
    check(&guard, &dev.mint().sign())
        .await
        .expect("recovers once the issuer answers");
}

#[tokio::test]
async fn oversized_jwks_is_refused() {
    let dev = start().await;
    for _ in 0..3 {
        dev.add_key(SigningAlgorithm::RS256);
    }
    let issuer = discover(&dev, JwksConfig::default().max_document_bytes(1000)).await;
    let jwks = issuer.jwks().expect("jwks");
    assert_eq!(
        jwks.refresh().await,
        Err(FetchError::TooLarge {
            url: dev.jwks_uri(),
            limit: 1000
        })
    );
    let denial = check(&guard(&issuer), &dev.mint().sign())
        .await
        .expect_err("no keys");
    assert_unavailable(&denial);
}

#[tokio::test]
async fn every_published_algorithm_verifies_and_kidless_tokens_use_the_single_fitting_key() {
    let dev = start_with(DevIssuerConfig {
        additional_signing_algorithms: vec![SigningAlgorithm::ES256],
        ..DevIssuerConfig::default()
    })
    .await;
    let issuer = discover(&dev, JwksConfig::default()).await;
    let verifier = issuer.jwt_verifier().expect("verifier");
    let claims = verifier
        .verify(&dev.mint().signing_alg(SigningAlgorithm::ES256).sign())
        .await
        .expect("ES256 token");
    assert_eq!(claims.subject.as_deref(), Some("alice"));
    let claims = verifier
        .verify(&dev.mint().without_kid().sign())
        .await
        .expect("the only RS256 key");
    assert_eq!(claims.audience, [RESOURCE]);
    assert_eq!(
        issuer.jwks().expect("jwks").refresh().await,
        Ok(2),
        "two usable keys"
    );
}

#[tokio::test]
async fn key_urls_in_token_headers_are_never_fetched() {
    let dev = start().await;
    let issuer = discover(&dev, JwksConfig::default()).await;
    let guard = guard(&issuer);
    check(&guard, &dev.mint().sign()).await.expect("warm-up");
    for embedded in [
        EmbeddedKey::Jku(dev.attacker_jwks_url()),
        EmbeddedKey::X5u(dev.attacker_jwks_url()),
        EmbeddedKey::Jwk,
    ] {
        let token = dev.mint().embedded_key(embedded);
        assert_invalid_token(&check(&guard, &token).await.expect_err("hostile"));
    }
    assert_invalid_token(
        &check(&guard, &dev.mint().foreign_key_with_issuer_kid())
            .await
            .expect_err("foreign key"),
    );
    assert_eq!(dev.attacker_jwks_fetches(), 0);
}
