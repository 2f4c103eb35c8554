//! Routing by token shape, for the validation modes that accept both JWT and opaque access
//! tokens (the AuthSec SDK family's `jwt_and_introspect` and `jwt_or_introspect`).
//!
//! A token is *JWT-shaped* when it holds exactly two `.` characters (the family's test). A
//! JWT-shaped token is verified locally, and a failure there is final: introspection never
//! rescues a token whose signature, issuer or expiry is wrong. Any other token is opaque and
//! goes to introspection.

use async_trait::async_trait;
use authsec_core::{
    Claims, Denial, JwtVerifier, Principal, RevocationCheck, TokenSource, TokenVerifier,
};

use crate::introspection::{IntrospectionVerifier, Introspector};
use crate::jwks::JwksCache;

/// Whether `token` has the shape of a JWS compact serialization (exactly two dots).
pub fn is_jwt_shaped(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2
}

/// Check 1 for deployments that see both kinds of token: JWT-shaped tokens through the JWT
/// verifier (a failure is final), other tokens through introspection.
pub struct ShapeRoutedVerifier {
    jwt: JwtVerifier<JwksCache>,
    opaque: IntrospectionVerifier,
}

impl std::fmt::Debug for ShapeRoutedVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShapeRoutedVerifier")
            .field("opaque", &self.opaque)
            .finish_non_exhaustive()
    }
}

impl ShapeRoutedVerifier {
    /// Routes JWT-shaped tokens to `jwt` and the others to `opaque`.
    pub fn new(jwt: JwtVerifier<JwksCache>, opaque: IntrospectionVerifier) -> Self {
        ShapeRoutedVerifier { jwt, opaque }
    }
}

#[async_trait]
impl TokenVerifier for ShapeRoutedVerifier {
    /// The JWT verifier's answer: tokens that go to introspection are never in the
    /// verified-token cache (the introspection cache keeps them, with its own TTL).
    fn distinct_token_tails(&self) -> bool {
        self.jwt.distinct_token_tails()
    }

    async fn verify(&self, token: &str) -> Result<Claims, Denial> {
        if is_jwt_shaped(token) {
            self.jwt.verify(token).await
        } else {
            self.opaque.verify(token).await
        }
    }
}

/// Check 4 for [`ShapeRoutedVerifier`]: introspects tokens that were verified as JWTs, and
/// lets through those check 1 already introspected (asking twice would only double the
/// traffic to the authorization server).
#[derive(Clone, Debug)]
pub struct IntrospectVerifiedJwts(pub Introspector);

#[async_trait]
impl RevocationCheck for IntrospectVerifiedJwts {
    async fn check(&self, token: &str, principal: &Principal) -> Result<(), Denial> {
        if principal.claims().source == TokenSource::Introspection {
            return Ok(());
        }
        self.0.check(token, principal).await
    }
}

#[cfg(test)]
mod tests {
    use super::is_jwt_shaped;

    #[test]
    fn exactly_two_dots_make_a_jwt() {
        assert!(is_jwt_shaped("a.b.c"));
        assert!(is_jwt_shaped(".."));
        assert!(!is_jwt_shaped("opaque-token"));
        assert!(!is_jwt_shaped("a.b"));
        assert!(!is_jwt_shaped("a.b.c.d.e"));
    }
}
