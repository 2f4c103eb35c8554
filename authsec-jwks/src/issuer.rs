//! One authorization server, discovered once: its metadata, its key cache, its introspection
//! client, and how they plug into a [`Guard`].

use std::sync::Arc;
use std::time::Duration;

use authsec_core::{ConfigError, Guard, GuardBuilder, JwtRules, JwtVerifier};

use crate::discovery::{self, AuthorizationServerMetadata};
use crate::error::FetchError;
use crate::fetch::{Http, HttpOptions};
use crate::introspection::{
    ClientCredentials, IntrospectionConfig, IntrospectionVerifier, Introspector,
};
use crate::jwks::{JwksCache, JwksConfig};
use crate::token_shape::{IntrospectVerifiedJwts, ShapeRoutedVerifier};

/// How tokens are validated against a [`RemoteIssuer`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValidationMode {
    /// [`JwtAndIntrospection`](Self::JwtAndIntrospection) when introspection credentials are
    /// configured and the server has an introspection endpoint, else [`Jwt`](Self::Jwt) (or
    /// [`Introspection`](Self::Introspection) for a server without `jwks_uri`).
    #[default]
    Auto,
    /// JWT access tokens verified locally with the JWKS; revocation is seen only at `exp`.
    Jwt,
    /// JWTs verified locally, then introspected (cached for the introspection TTL) to see
    /// revocation.
    JwtAndIntrospection,
    /// Opaque tokens: introspection alone decides (RFC 7662).
    Introspection,
    /// Both kinds of token, every one introspected (the AuthSec family's `jwt_and_introspect`):
    /// a JWT-shaped token (two dots) is verified locally, a failure there being final, then
    /// introspected; any other token is introspected only.
    IntrospectEveryToken,
    /// Both kinds of token, JWTs never introspected (the AuthSec family's
    /// `jwt_or_introspect`): a JWT-shaped token is verified locally only, a failure there being
    /// final (introspection never rescues a badly signed JWT, unlike the family's Go SDK);
    /// any other token is introspected.
    JwtOrIntrospection,
}

/// An authorization server this resource server trusts, discovered from its issuer identifier.
///
/// Holds the validated metadata, one shared [`JwksCache`] and, when credentials are given, one
/// shared [`Introspector`]; every verifier made from it shares them. Cheap to clone.
///
/// ```no_run
/// use authsec_core::ToolManifest;
/// use authsec_jwks::{RemoteIssuer, ValidationMode};
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let issuer = RemoteIssuer::discover("https://as.example").await?;
/// let guard = issuer
///     .guard("https://mcp.example.com/mcp", ValidationMode::Jwt)?
///     .manifest(ToolManifest::new().tool("list_notes", ["notes:read"]))
///     .build()?;
/// # let _ = guard;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct RemoteIssuer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    metadata: AuthorizationServerMetadata,
    rules: JwtRules,
    jwks: Option<JwksCache>,
    introspector: Option<Introspector>,
}

/// Configuration of a [`RemoteIssuer`]; finish with [`discover`](Self::discover) or
/// [`from_metadata`](Self::from_metadata).
#[derive(Debug)]
#[must_use]
pub struct RemoteIssuerBuilder {
    issuer: String,
    http: HttpOptions,
    jwks: JwksConfig,
    rules: JwtRules,
    credentials: Option<ClientCredentials>,
    introspection: IntrospectionConfig,
}

impl RemoteIssuerBuilder {
    /// HTTP settings for discovery, JWKS and introspection requests.
    pub fn http(mut self, http: HttpOptions) -> Self {
        self.http = http;
        self
    }

    /// JWKS caching and refetch settings.
    pub fn jwks_config(mut self, config: JwksConfig) -> Self {
        self.jwks = config;
        self
    }

    /// Adjusts the JWT rules (algorithms, `typ`, leeway...). The issuer stays the validated one.
    ///
    /// ```
    /// use authsec_core::TypPolicy;
    /// # let builder = authsec_jwks::RemoteIssuer::builder("https://as.example");
    /// let builder = builder.jwt_rules(|rules| rules.typ(TypPolicy::Relaxed).leeway(10));
    /// # let _ = builder;
    /// ```
    pub fn jwt_rules(mut self, adjust: impl FnOnce(JwtRules) -> JwtRules) -> Self {
        self.rules = adjust(self.rules);
        self
    }

    /// Credentials for the introspection endpoint. With them, [`ValidationMode::Auto`] adds
    /// introspection to JWT verification.
    pub fn introspection_credentials(mut self, credentials: ClientCredentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// The revocation delay budget: how long an introspection answer is reused (zero: ask on
    /// every request). Default 30 s.
    pub fn introspection_ttl(mut self, ttl: Duration) -> Self {
        self.introspection.ttl = ttl;
        self
    }

    /// Introspection cache settings (replaces the TTL set before).
    pub fn introspection_config(mut self, config: IntrospectionConfig) -> Self {
        self.introspection = config;
        self
    }

    /// Fetches the metadata (RFC 8414, then OpenID discovery) and checks its `issuer`.
    pub async fn discover(self) -> Result<RemoteIssuer, FetchError> {
        let http = self.http.build()?;
        let metadata = discovery::discover(&http, &self.issuer).await?;
        self.assemble(metadata, http)
    }

    /// Uses metadata configured statically instead of discovering it. Its `issuer` must equal
    /// the configured one.
    pub fn from_metadata(
        self,
        metadata: AuthorizationServerMetadata,
    ) -> Result<RemoteIssuer, FetchError> {
        if metadata.issuer != self.issuer {
            return Err(FetchError::IssuerMismatch {
                url: "(static metadata)".into(),
                expected: self.issuer,
                found: metadata.issuer,
            });
        }
        let http = self.http.build()?;
        self.assemble(metadata, http)
    }

    fn assemble(
        mut self,
        metadata: AuthorizationServerMetadata,
        http: Http,
    ) -> Result<RemoteIssuer, FetchError> {
        let jwks = match &metadata.jwks_uri {
            Some(uri) => Some(JwksCache::from_parts(uri, self.jwks, http.clone())?),
            None => None,
        };
        let introspector = match (&self.credentials, &metadata.introspection_endpoint) {
            (Some(credentials), Some(endpoint)) => Some(Introspector::from_parts(
                endpoint,
                credentials.clone(),
                metadata
                    .introspection_endpoint_auth_methods_supported
                    .as_deref(),
                self.introspection,
                http,
            )?),
            _ => None,
        };
        self.rules.issuer = metadata.issuer.clone();
        Ok(RemoteIssuer {
            inner: Arc::new(Inner {
                metadata,
                rules: self.rules,
                jwks,
                introspector,
            }),
        })
    }
}

impl RemoteIssuer {
    /// Discovers `issuer` with the default settings (see [`RemoteIssuer::builder`] for others).
    pub async fn discover(issuer: impl Into<String>) -> Result<Self, FetchError> {
        Self::builder(issuer).discover().await
    }

    /// Starts configuring the issuer with this exact identifier.
    pub fn builder(issuer: impl Into<String>) -> RemoteIssuerBuilder {
        let issuer = issuer.into();
        RemoteIssuerBuilder {
            rules: JwtRules::new(issuer.clone()),
            issuer,
            http: HttpOptions::default(),
            jwks: JwksConfig::default(),
            credentials: None,
            introspection: IntrospectionConfig::default(),
        }
    }

    /// The issuer identifier (equal to the configured one).
    pub fn issuer(&self) -> &str {
        &self.inner.metadata.issuer
    }

    /// The validated metadata.
    pub fn metadata(&self) -> &AuthorizationServerMetadata {
        &self.inner.metadata
    }

    /// The JWT rules verifiers are built with.
    pub fn jwt_rules(&self) -> &JwtRules {
        &self.inner.rules
    }

    /// The shared key cache, if the server publishes a `jwks_uri`.
    pub fn jwks(&self) -> Option<&JwksCache> {
        self.inner.jwks.as_ref()
    }

    /// The shared introspector, if credentials were given and the server has an introspection
    /// endpoint.
    pub fn introspector(&self) -> Option<&Introspector> {
        self.inner.introspector.as_ref()
    }

    /// A JWT verifier over the shared key cache.
    pub fn jwt_verifier(&self) -> Result<JwtVerifier<JwksCache>, ConfigError> {
        let jwks = self.inner.jwks.clone().ok_or_else(|| {
            ConfigError::new(format!(
                "the authorization server {} publishes no jwks_uri, so JWTs cannot be verified \
                 locally; use ValidationMode::Introspection",
                self.issuer()
            ))
        })?;
        JwtVerifier::new(self.inner.rules.clone(), jwks)
    }

    /// A verifier for opaque tokens over the shared introspector.
    pub fn introspection_verifier(&self) -> Result<IntrospectionVerifier, ConfigError> {
        Ok(self
            .require_introspector()?
            .verifier()
            .issuer(self.issuer())
            .leeway(self.inner.rules.leeway))
    }

    fn require_introspector(&self) -> Result<&Introspector, ConfigError> {
        match (
            &self.inner.introspector,
            &self.inner.metadata.introspection_endpoint,
        ) {
            (Some(introspector), _) => Ok(introspector),
            (None, None) => Err(ConfigError::new(format!(
                "the authorization server {} advertises no introspection_endpoint",
                self.issuer()
            ))),
            (None, Some(_)) => Err(ConfigError::new(
                "introspection needs client credentials: call \
                 RemoteIssuer::builder(..).introspection_credentials(..)",
            )),
        }
    }

    /// What [`ValidationMode::Auto`] means for this issuer.
    pub fn default_mode(&self) -> ValidationMode {
        match (&self.inner.jwks, &self.inner.introspector) {
            (Some(_), Some(_)) => ValidationMode::JwtAndIntrospection,
            (None, Some(_)) => ValidationMode::Introspection,
            _ => ValidationMode::Jwt,
        }
    }

    /// Configures `builder` to validate tokens from this issuer in `mode`: lists the issuer as
    /// authorization server, installs the verifier (check 1) and, with introspection, the
    /// revocation check (check 4), and aligns the Guard's leeway with the JWT rules. In
    /// [`ValidationMode::Introspection`] the Guard's verified-token cache is turned off so that
    /// revocation is seen within the introspection TTL (in the two mixed modes the Guard never
    /// caches introspected tokens anyway, and JWTs are re-introspected through check 4).
    pub fn apply(
        &self,
        builder: GuardBuilder,
        mode: ValidationMode,
    ) -> Result<GuardBuilder, ConfigError> {
        let mode = match mode {
            ValidationMode::Auto => self.default_mode(),
            other => other,
        };
        let builder = builder
            .authorization_server(self.issuer())
            .leeway(self.inner.rules.leeway);
        Ok(match mode {
            ValidationMode::Auto | ValidationMode::Jwt => builder.verifier(self.jwt_verifier()?),
            ValidationMode::JwtAndIntrospection => builder
                .verifier(self.jwt_verifier()?)
                .revocation(self.require_introspector()?.clone()),
            ValidationMode::Introspection => builder
                .verifier(self.introspection_verifier()?)
                .token_cache_capacity(0),
            ValidationMode::IntrospectEveryToken => builder
                .verifier(ShapeRoutedVerifier::new(
                    self.jwt_verifier()?,
                    self.introspection_verifier()?,
                ))
                .revocation(IntrospectVerifiedJwts(self.require_introspector()?.clone())),
            ValidationMode::JwtOrIntrospection => builder.verifier(ShapeRoutedVerifier::new(
                self.jwt_verifier()?,
                self.introspection_verifier()?,
            )),
        })
    }

    /// A [`GuardBuilder`] for the resource at `resource`, configured by [`apply`](Self::apply).
    pub fn guard(
        &self,
        resource: impl Into<String>,
        mode: ValidationMode,
    ) -> Result<GuardBuilder, ConfigError> {
        self.apply(Guard::builder(resource), mode)
    }
}
