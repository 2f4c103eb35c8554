//! End-to-end tests against a real oidc-provider (Node.js) on loopback.
//! Needs `node` and `npm` (the harness runs `npm ci` when node_modules is
//! missing).

use std::time::{SystemTime, UNIX_EPOCH};

use authsec_tests::oidc_provider::{
    DEFAULT_RESOURCE, Error, LoginRequest, OidcProvider, OidcProviderOptions, RegisteredClient,
};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};

const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Verify a JWT access token with the provider's JWKS; return its claims.
async fn verify_access_token(provider: &OidcProvider, token: &str, resource: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(header.alg, Algorithm::RS256);
    let kid = header.kid.expect("kid in the JWT header");

    let jwks: JwkSet = serde_json::from_value(provider.jwks().await.unwrap()).unwrap();
    let jwk = jwks.find(&kid).expect("kid present in the JWKS");
    let key = DecodingKey::from_jwk(jwk).unwrap();

    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[provider.issuer()]);
    validation.set_audience(&[resource]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let data = jsonwebtoken::decode::<Value>(token, &key, &validation).unwrap();
    data.claims
}

async fn client(provider: &OidcProvider) -> RegisteredClient {
    let client = provider.register_client(REDIRECT_URI).await.unwrap();
    assert_eq!(client.token_endpoint_auth_method, "none");
    assert_eq!(client.client_secret, None);
    assert_eq!(client.redirect_uris, vec![REDIRECT_URI.to_owned()]);
    client
}

#[tokio::test]
async fn jwt_access_tokens_end_to_end() {
    let provider = OidcProvider::start(OidcProviderOptions::default())
        .await
        .unwrap();
    let issuer = provider.issuer().to_owned();
    assert_eq!(issuer, format!("http://127.0.0.1:{}", provider.port()));

    // Discovery (both well-known names).
    let discovery = provider.discovery().await.unwrap();
    assert_eq!(discovery["issuer"], json!(issuer));
    assert_eq!(
        discovery["code_challenge_methods_supported"],
        json!(["S256"])
    );
    assert_eq!(discovery["response_types_supported"], json!(["code"]));
    assert_eq!(
        discovery["token_endpoint"],
        json!(provider.token_endpoint())
    );
    assert_eq!(discovery["jwks_uri"], json!(provider.jwks_uri()));
    assert_eq!(
        discovery["registration_endpoint"],
        json!(provider.registration_endpoint())
    );
    assert_eq!(
        discovery["introspection_endpoint"],
        json!(provider.introspection_endpoint())
    );
    assert_eq!(
        discovery["revocation_endpoint"],
        json!(provider.revocation_endpoint())
    );
    let rfc8414: Value = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(provider.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rfc8414, discovery);

    let client = client(&provider).await;

    // Login as the default account.
    let tokens = provider
        .login(
            &client,
            LoginRequest::new(DEFAULT_RESOURCE, &["notes:read", "notes:write"]),
        )
        .await
        .unwrap();
    assert_eq!(tokens.token_type, "Bearer");
    assert_eq!(tokens.expires_in, Some(600));
    assert_eq!(tokens.scope.as_deref(), Some("notes:read notes:write"));
    assert_eq!(tokens.id_token, None);
    let refresh_token = tokens.refresh_token.clone().expect("refresh token");

    let claims = verify_access_token(&provider, &tokens.access_token, DEFAULT_RESOURCE).await;
    assert_eq!(claims["iss"], json!(issuer));
    assert_eq!(claims["aud"], json!(DEFAULT_RESOURCE));
    assert_eq!(claims["scope"], json!("notes:read notes:write"));
    assert_eq!(claims["sub"], json!("alice"));
    assert_eq!(claims["client_id"], json!(client.client_id));
    assert_eq!(claims["acr"], json!("pwd"));
    assert_eq!(claims["amr"], json!(["pwd"]));
    let (exp, iat) = (
        claims["exp"].as_u64().unwrap(),
        claims["iat"].as_u64().unwrap(),
    );
    assert!(exp > now());
    assert_eq!(exp - iat, 600);
    let auth_time = claims["auth_time"].as_u64().unwrap();
    assert!(auth_time <= iat && auth_time + 60 > iat);

    // Refresh with the resource: a new access token, a rotated refresh token.
    let refreshed = provider
        .refresh(&client, &refresh_token, Some(DEFAULT_RESOURCE))
        .await
        .unwrap();
    assert_ne!(refreshed.access_token, tokens.access_token);
    assert_eq!(refreshed.scope.as_deref(), Some("notes:read notes:write"));
    let rotated = refreshed
        .refresh_token
        .clone()
        .expect("rotated refresh token");
    assert_ne!(rotated, refresh_token);
    let claims2 = verify_access_token(&provider, &refreshed.access_token, DEFAULT_RESOURCE).await;
    assert_eq!(claims2["sub"], json!("alice"));
    assert_eq!(claims2["scope"], json!("notes:read notes:write"));
    assert_eq!(claims2["acr"], json!("pwd"));
    assert_eq!(claims2["auth_time"], json!(auth_time));
    assert_ne!(claims2["jti"], claims["jti"]);

    // Refresh without the resource: the granted one is used.
    let refreshed2 = provider.refresh(&client, &rotated, None).await.unwrap();
    let claims3 = verify_access_token(&provider, &refreshed2.access_token, DEFAULT_RESOURCE).await;
    assert_eq!(claims3["aud"], json!(DEFAULT_RESOURCE));

    // The consumed refresh token is refused (and revokes the grant).
    match provider.refresh(&client, &refresh_token, None).await {
        Err(Error::OAuth { status, error, .. }) => {
            assert_eq!((status, error.as_str()), (400, "invalid_grant"));
        }
        other => panic!("expected invalid_grant, got {other:?}"),
    }

    // Login as another account with MFA.
    let mfa = provider
        .login(
            &client,
            LoginRequest::new(DEFAULT_RESOURCE, &["notes:admin"])
                .login_hint("bob")
                .acr_values("mfa"),
        )
        .await
        .unwrap();
    assert_eq!(mfa.scope.as_deref(), Some("notes:admin"));
    assert!(mfa.id_token.is_some(), "openid was added for acr_values");
    let mfa_claims = verify_access_token(&provider, &mfa.access_token, DEFAULT_RESOURCE).await;
    assert_eq!(mfa_claims["sub"], json!("bob"));
    assert_eq!(mfa_claims["scope"], json!("notes:admin"));
    assert_eq!(mfa_claims["acr"], json!("mfa"));
    assert_eq!(mfa_claims["amr"], json!(["pwd", "mfa"]));

    // Stock oidc-provider refuses to introspect or revoke structured tokens.
    match provider.introspect(&mfa.access_token).await {
        Err(Error::OAuth {
            status,
            error,
            description,
        }) => {
            assert_eq!(status, 400);
            assert_eq!(error, "unsupported_token_type");
            assert_eq!(
                description.as_deref(),
                Some("Structured JWT Tokens cannot be introspected via the introspection_endpoint")
            );
        }
        other => panic!("expected unsupported_token_type, got {other:?}"),
    }
    match provider.revoke(&mfa.access_token).await {
        Err(Error::OAuth { status, error, .. }) => {
            assert_eq!((status, error.as_str()), (400, "unsupported_token_type"));
        }
        other => panic!("expected unsupported_token_type, got {other:?}"),
    }

    // An unknown resource is refused at the authorization endpoint.
    match provider
        .login(
            &client,
            LoginRequest::new("http://127.0.0.1:1/other", &["notes:read"]),
        )
        .await
    {
        Err(Error::OAuth { error, .. }) => assert_eq!(error, "invalid_target"),
        other => panic!("expected invalid_target, got {other:?}"),
    }
}

#[tokio::test]
async fn opaque_tokens_introspection_and_revocation() {
    let provider = OidcProvider::start(OidcProviderOptions::opaque())
        .await
        .unwrap();
    let client = client(&provider).await;

    let tokens = provider
        .login(
            &client,
            LoginRequest::new(DEFAULT_RESOURCE, &["notes:read", "notes:write"]).login_hint("carol"),
        )
        .await
        .unwrap();
    assert_eq!(tokens.scope.as_deref(), Some("notes:read notes:write"));
    assert!(
        jsonwebtoken::decode_header(&tokens.access_token).is_err(),
        "opaque token is not a JWT"
    );

    let info = provider.introspect(&tokens.access_token).await.unwrap();
    assert!(info.active);
    assert_eq!(info.scope.as_deref(), Some("notes:read notes:write"));
    assert_eq!(info.client_id.as_deref(), Some(client.client_id.as_str()));
    assert_eq!(info.sub.as_deref(), Some("carol"));
    assert_eq!(info.aud, Some(json!(DEFAULT_RESOURCE)));
    assert_eq!(info.iss.as_deref(), Some(provider.issuer()));
    assert_eq!(info.token_type.as_deref(), Some("Bearer"));
    assert!(info.exp.unwrap() > now());
    assert_eq!(info.extra["acr"], json!("pwd"));
    assert_eq!(info.extra["amr"], json!(["pwd"]));

    // Refresh gives a new, active opaque token.
    let refreshed = provider
        .refresh(
            &client,
            tokens.refresh_token.as_deref().unwrap(),
            Some(DEFAULT_RESOURCE),
        )
        .await
        .unwrap();
    assert_ne!(refreshed.access_token, tokens.access_token);
    let info2 = provider.introspect(&refreshed.access_token).await.unwrap();
    assert!(info2.active);
    assert_eq!(info2.scope.as_deref(), Some("notes:read notes:write"));

    // Revoke the first access token: inactive, with nothing else said.
    provider.revoke(&tokens.access_token).await.unwrap();
    let revoked = provider.introspect(&tokens.access_token).await.unwrap();
    assert!(!revoked.active);
    assert_eq!(revoked.scope, None);
    assert_eq!(revoked.client_id, None);
    assert!(revoked.extra.is_empty());
    // Revoking one token ends the whole grant: oidc-provider's in-memory
    // adapter drops every token of the grant (access and refresh tokens).
    assert!(
        !provider
            .introspect(&refreshed.access_token)
            .await
            .unwrap()
            .active
    );
    let rt = refreshed.refresh_token.as_deref().unwrap();
    assert!(!provider.introspect(rt).await.unwrap().active);

    // The issuing client revokes its own refresh token (stock policy).
    let second = provider
        .login(
            &client,
            LoginRequest::new(DEFAULT_RESOURCE, &["notes:read"]),
        )
        .await
        .unwrap();
    let rt = second.refresh_token.as_deref().unwrap();
    let rt_info = provider.introspect(rt).await.unwrap();
    assert!(rt_info.active);
    assert_eq!(rt_info.scope.as_deref(), Some("notes:read"));
    assert_eq!(rt_info.token_type, None);
    provider.revoke_as(&client, rt).await.unwrap();
    assert!(!provider.introspect(rt).await.unwrap().active);
    assert!(
        !provider
            .introspect(&second.access_token)
            .await
            .unwrap()
            .active
    );
    match provider.refresh(&client, rt, None).await {
        Err(Error::OAuth { status, error, .. }) => {
            assert_eq!((status, error.as_str()), (400, "invalid_grant"));
        }
        other => panic!("expected invalid_grant, got {other:?}"),
    }

    // Garbage is inactive, not an error.
    assert!(!provider.introspect("not-a-token").await.unwrap().active);
}

#[tokio::test]
async fn client_credentials_and_custom_resources() {
    let resource = "http://127.0.0.1:8900/api";
    let provider = OidcProvider::start(OidcProviderOptions {
        resources: vec![DEFAULT_RESOURCE.to_owned(), resource.to_owned()],
        rs_client_secret: "another-secret".to_owned(),
        access_token_format: authsec_tests::oidc_provider::AccessTokenFormat::Opaque,
        ..OidcProviderOptions::default()
    })
    .await
    .unwrap();
    assert_eq!(
        provider.rs_client_credentials(),
        ("notes-rs", "another-secret")
    );

    let machine = provider
        .register_client_metadata(json!({
            "grant_types": ["client_credentials"],
            "response_types": [],
            "redirect_uris": [],
            "token_endpoint_auth_method": "client_secret_basic",
        }))
        .await
        .unwrap();
    assert!(machine.client_secret.is_some());
    let tokens = provider
        .client_credentials(&machine, resource, &["notes:read"])
        .await
        .unwrap();
    assert_eq!(tokens.scope.as_deref(), Some("notes:read"));
    assert_eq!(tokens.refresh_token, None);
    let info = provider.introspect(&tokens.access_token).await.unwrap();
    assert!(info.active);
    assert_eq!(info.aud, Some(json!(resource)));
    assert_eq!(info.client_id.as_deref(), Some(machine.client_id.as_str()));

    // Authorization code on the second resource.
    let client = client(&provider).await;
    let tokens = provider
        .login(&client, LoginRequest::new(resource, &["notes:write"]))
        .await
        .unwrap();
    let info = provider.introspect(&tokens.access_token).await.unwrap();
    assert_eq!(info.aud, Some(json!(resource)));
    assert_eq!(info.scope.as_deref(), Some("notes:write"));
}

#[tokio::test]
async fn missing_node_is_a_clear_error() {
    let err = OidcProvider::start(OidcProviderOptions {
        node: Some("/nonexistent/bin/node".into()),
        ..OidcProviderOptions::default()
    })
    .await
    .unwrap_err();
    assert!(matches!(err, Error::NodeMissing { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("install Node.js"), "{message}");
    assert!(message.contains("/nonexistent/bin/node"), "{message}");
}

#[tokio::test]
async fn dropping_the_provider_stops_the_server() {
    let provider = OidcProvider::start(OidcProviderOptions::default())
        .await
        .unwrap();
    let addr = ("127.0.0.1", provider.port());
    tokio::net::TcpStream::connect(addr).await.unwrap();
    drop(provider);
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!(
        "oidc-provider still listening on port {} after drop",
        addr.1
    );
}
