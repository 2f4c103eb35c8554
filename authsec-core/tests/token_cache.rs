//! The verified-token cache hashes a token's last bytes only when the verifier vouches that
//! distinct tokens end differently (`TokenVerifier::distinct_token_tails`). Keys are still
//! compared whole: tokens that share their ending, even under a verifier that wrongly vouches
//! for them, each get their own principal.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use authsec_core::{
    Claims, Denial, Guard, JwtRules, JwtVerifier, ManualClock, StaticKeys, TokenSource,
    TokenVerifier, VerificationKey,
};
use serde_json::{Value, json};

const ISSUER: &str = "https://as.example";
const RESOURCE: &str = "https://mcp.example.com/mcp";
const NOW: u64 = 1_800_000_000;
/// Longer than the 16 hashed bytes.
const SHARED_TAIL: &str = ".the-same-forty-byte-ending-for-every-token";

/// Accepts every token; the subject is the token's text before the first `.`. Counts its calls
/// and says what it is told about token endings.
struct SubjectFirst {
    calls: AtomicUsize,
    distinct_tails: bool,
}

#[async_trait]
impl TokenVerifier for SubjectFirst {
    async fn verify(&self, token: &str) -> Result<Claims, Denial> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let Value::Object(map) = json!({
            "iss": ISSUER,
            "sub": token.split('.').next().unwrap_or(token),
            "aud": RESOURCE,
            "exp": NOW + 60,
        }) else {
            unreachable!()
        };
        Claims::from_map(map, TokenSource::Jwt).map_err(Denial::invalid_token)
    }

    fn distinct_token_tails(&self) -> bool {
        self.distinct_tails
    }
}

fn guard(verifier: Arc<SubjectFirst>) -> Guard {
    struct Shared(Arc<SubjectFirst>);
    #[async_trait]
    impl TokenVerifier for Shared {
        async fn verify(&self, token: &str) -> Result<Claims, Denial> {
            self.0.verify(token).await
        }
        fn distinct_token_tails(&self) -> bool {
            self.0.distinct_token_tails()
        }
    }
    Guard::builder(RESOURCE)
        .authorization_server(ISSUER)
        .verifier(Shared(verifier))
        .clock(Arc::new(ManualClock::new(NOW)))
        .build()
        .unwrap()
}

/// 200 tokens that differ only before their shared 40-byte ending, authenticated twice each:
/// verified once each, then each served from the cache as its own subject.
async fn tokens_sharing_an_ending_keep_their_own_principal(distinct_tails: bool) {
    let verifier = Arc::new(SubjectFirst {
        calls: AtomicUsize::new(0),
        distinct_tails,
    });
    let guard = guard(verifier.clone());
    let tokens: Vec<String> = (0..200).map(|i| format!("user{i}{SHARED_TAIL}")).collect();
    for round in 0..2 {
        for (i, token) in tokens.iter().enumerate() {
            let principal = guard.authenticate(token).await.unwrap();
            assert_eq!(principal.subject(), format!("user{i}"), "round {round}");
        }
    }
    assert_eq!(verifier.calls.load(Ordering::SeqCst), 200);
    assert_eq!(guard.cached_tokens(), 200);
    // A token that is not in the cache but ends like those that are is verified, not matched.
    let stranger = format!("mallory{SHARED_TAIL}");
    assert_eq!(
        guard.authenticate(&stranger).await.unwrap().subject(),
        "mallory"
    );
    assert_eq!(verifier.calls.load(Ordering::SeqCst), 201);
}

#[tokio::test]
async fn tails_only_hashing_still_compares_whole_tokens() {
    tokens_sharing_an_ending_keep_their_own_principal(true).await;
}

#[tokio::test]
async fn whole_token_hashing_is_the_default_and_keeps_tokens_apart() {
    tokens_sharing_an_ending_keep_their_own_principal(false).await;
}

#[test]
fn only_a_verifier_that_vouches_for_its_endings_gets_tails_only_hashing() {
    struct Plain;
    #[async_trait]
    impl TokenVerifier for Plain {
        async fn verify(&self, _token: &str) -> Result<Claims, Denial> {
            Err(Denial::invalid_token("never"))
        }
    }
    assert!(!Plain.distinct_token_tails());
    let key = VerificationKey::dangerous_shared_secret(
        b"0123456789abcdef0123456789abcdef-a-full-entropy-secret",
        authsec_core::jsonwebtoken::Algorithm::HS256,
    )
    .unwrap();
    let jwt = JwtVerifier::new(JwtRules::new(ISSUER), StaticKeys::single(key)).unwrap();
    assert!(jwt.distinct_token_tails());
}
