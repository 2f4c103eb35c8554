//! Configuration of the dev issuer: listen address, clients, token format,
//! lifetimes, keys, and the per-test [`Consent`] override.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::keys::SigningAlgorithm;

/// Client id of the default pre-registered introspection client.
pub const DEFAULT_INTROSPECTION_CLIENT_ID: &str = "notes-rs";
/// Client secret of the default pre-registered introspection client.
pub const DEFAULT_INTROSPECTION_CLIENT_SECRET: &str = "notes-rs-secret";
/// Client id of the default pre-registered public client.
pub const DEFAULT_PUBLIC_CLIENT_ID: &str = "dev-client";
/// Redirect URI of the default pre-registered public client. As for every
/// loopback redirect URI (RFC 8252 §7.3), any port is accepted at
/// authorization time.
pub const DEFAULT_PUBLIC_CLIENT_REDIRECT_URI: &str = "http://127.0.0.1/callback";

/// Grant type `authorization_code`.
pub const GRANT_AUTHORIZATION_CODE: &str = "authorization_code";
/// Grant type `refresh_token`.
pub const GRANT_REFRESH_TOKEN: &str = "refresh_token";
/// Grant type `client_credentials`.
pub const GRANT_CLIENT_CREDENTIALS: &str = "client_credentials";

/// Format of issued access tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AccessTokenFormat {
    /// RFC 9068 JWT access tokens (`typ: at+jwt`), verifiable with the JWKS.
    #[default]
    Jwt,
    /// Random opaque strings: only the introspection endpoint can validate them.
    Opaque,
}

/// How a client authenticates at the token, introspection and revocation
/// endpoints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClientAuthMethod {
    /// Public client: identified by `client_id` only (PKCE protects the code).
    None,
    /// HTTP Basic with the client id and secret (RFC 6749 §2.3.1).
    #[default]
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
}

impl ClientAuthMethod {
    /// The RFC 7591 name of the method.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
        }
    }

    /// Parses an RFC 7591 method name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "none" => Some(Self::None),
            "client_secret_basic" => Some(Self::ClientSecretBasic),
            "client_secret_post" => Some(Self::ClientSecretPost),
            _ => None,
        }
    }
}

/// A registered OAuth client (pre-registered through the config or created
/// by dynamic client registration).
///
/// Confidential clients (those with a secret) may authenticate with either
/// `client_secret_basic` or `client_secret_post`, whatever their registered
/// method, and may all use the introspection endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientRegistration {
    /// The client identifier.
    pub client_id: String,
    /// The client secret; `None` for public clients.
    pub client_secret: Option<String>,
    /// Registered token endpoint authentication method.
    pub token_endpoint_auth_method: ClientAuthMethod,
    /// Registered redirect URIs (exact match, except that the port of a
    /// loopback `http` URI is ignored, RFC 8252 §7.3).
    pub redirect_uris: Vec<String>,
    /// Grant types this client may use.
    pub grant_types: Vec<String>,
    /// Space-delimited scopes the client may request with
    /// `client_credentials` (and its default scope there); `None` = any.
    pub scope: Option<String>,
    /// Human-readable name.
    pub client_name: Option<String>,
}

impl ClientRegistration {
    /// A public client (auth method `none`) allowed to use
    /// `authorization_code` and `refresh_token`.
    pub fn public(client_id: impl Into<String>, redirect_uris: Vec<String>) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: None,
            token_endpoint_auth_method: ClientAuthMethod::None,
            redirect_uris,
            grant_types: vec![GRANT_AUTHORIZATION_CODE.into(), GRANT_REFRESH_TOKEN.into()],
            scope: None,
            client_name: None,
        }
    }

    /// A confidential client (`client_secret_basic`) allowed to use every
    /// grant type.
    pub fn confidential(
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        redirect_uris: Vec<String>,
    ) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: Some(client_secret.into()),
            token_endpoint_auth_method: ClientAuthMethod::ClientSecretBasic,
            redirect_uris,
            grant_types: vec![
                GRANT_AUTHORIZATION_CODE.into(),
                GRANT_REFRESH_TOKEN.into(),
                GRANT_CLIENT_CREDENTIALS.into(),
            ],
            scope: None,
            client_name: None,
        }
    }

    /// A confidential client meant for a resource server's token
    /// introspection (no redirect URIs, `client_credentials` only).
    pub fn introspection(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self {
            grant_types: vec![GRANT_CLIENT_CREDENTIALS.into()],
            ..Self::confidential(client_id, client_secret, Vec::new())
        }
    }

    /// Whether the client has a secret.
    pub fn is_confidential(&self) -> bool {
        self.client_secret.is_some()
    }

    /// Whether the client may use `grant_type`.
    pub fn allows_grant(&self, grant_type: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant_type)
    }
}

/// Configuration for [`DevIssuer::start_with`](super::DevIssuer::start_with).
///
/// Every field is public; [`Default`] gives a working setup (see each
/// field), and a few `with_*` helpers cover the common tweaks.
#[derive(Clone, Debug)]
pub struct DevIssuerConfig {
    /// Listen address; must be a loopback address (default `127.0.0.1:0`,
    /// i.e. an ephemeral port).
    pub listen: SocketAddr,
    /// Pre-registered clients. Default: the public client
    /// [`DEFAULT_PUBLIC_CLIENT_ID`] (redirect URI
    /// [`DEFAULT_PUBLIC_CLIENT_REDIRECT_URI`], any loopback port) and the
    /// introspection client [`DEFAULT_INTROSPECTION_CLIENT_ID`] /
    /// [`DEFAULT_INTROSPECTION_CLIENT_SECRET`].
    pub clients: Vec<ClientRegistration>,
    /// Access-token format (default JWT).
    pub access_token_format: AccessTokenFormat,
    /// Access-token lifetime (default 300 s); changeable at run time with
    /// [`DevIssuer::set_access_token_lifetime`](super::DevIssuer::set_access_token_lifetime).
    pub access_token_lifetime: Duration,
    /// Refresh-token lifetime (default 1 day).
    pub refresh_token_lifetime: Duration,
    /// Authorization-code lifetime (default 60 s).
    pub authorization_code_lifetime: Duration,
    /// Whether the authorization-code grant also returns a refresh token
    /// (to clients allowed the `refresh_token` grant). Default true.
    pub issue_refresh_tokens: bool,
    /// Algorithm of the active signing key (default RS256).
    pub signing_algorithm: SigningAlgorithm,
    /// Extra keys generated at start and published in the JWKS (not used
    /// for issued tokens, but selectable by the mint helpers).
    pub additional_signing_algorithms: Vec<SigningAlgorithm>,
    /// Advertised `scopes_supported` (default `notes:read`, `notes:write`).
    pub scopes_supported: Vec<String>,
    /// Refuse scopes that are not in `scopes_supported` with `invalid_scope`
    /// (default false: any syntactically valid scope is accepted).
    pub reject_unknown_scopes: bool,
    /// Resource indicator used when an authorization, token or
    /// `client_credentials` request has no `resource`; `None` (default)
    /// makes `resource` required (`invalid_target`). Also the default `aud`
    /// of minted tokens.
    pub default_resource: Option<String>,
    /// Subject of the headless login when neither the [`Consent`] override
    /// nor `login_hint` names one (default `alice`).
    pub default_subject: String,
    /// `max-age` of the JWKS `Cache-Control` header (default 300 s).
    pub jwks_max_age: Duration,
    /// Whether `/register` (RFC 7591) is enabled and advertised (default true).
    pub dynamic_registration: bool,
}

impl Default for DevIssuerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            clients: vec![
                ClientRegistration::public(
                    DEFAULT_PUBLIC_CLIENT_ID,
                    vec![DEFAULT_PUBLIC_CLIENT_REDIRECT_URI.into()],
                ),
                ClientRegistration::introspection(
                    DEFAULT_INTROSPECTION_CLIENT_ID,
                    DEFAULT_INTROSPECTION_CLIENT_SECRET,
                ),
            ],
            access_token_format: AccessTokenFormat::Jwt,
            access_token_lifetime: Duration::from_secs(300),
            refresh_token_lifetime: Duration::from_secs(86_400),
            authorization_code_lifetime: Duration::from_secs(60),
            issue_refresh_tokens: true,
            signing_algorithm: SigningAlgorithm::RS256,
            additional_signing_algorithms: Vec::new(),
            scopes_supported: vec!["notes:read".into(), "notes:write".into()],
            reject_unknown_scopes: false,
            default_resource: None,
            default_subject: "alice".into(),
            jwks_max_age: Duration::from_secs(300),
            dynamic_registration: true,
        }
    }
}

impl DevIssuerConfig {
    /// Sets the listen address (must be loopback).
    pub fn with_listen(mut self, listen: SocketAddr) -> Self {
        self.listen = listen;
        self
    }

    /// Adds (or replaces, by `client_id`) a pre-registered client.
    pub fn with_client(mut self, client: ClientRegistration) -> Self {
        self.clients.retain(|c| c.client_id != client.client_id);
        self.clients.push(client);
        self
    }

    /// Replaces the default introspection client by one with this id and
    /// secret.
    pub fn with_introspection_client(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        self.clients
            .retain(|c| c.client_id != DEFAULT_INTROSPECTION_CLIENT_ID);
        self.with_client(ClientRegistration::introspection(client_id, client_secret))
    }

    /// Sets the access-token format.
    pub fn with_access_token_format(mut self, format: AccessTokenFormat) -> Self {
        self.access_token_format = format;
        self
    }

    /// Sets the access-token lifetime.
    pub fn with_access_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.access_token_lifetime = lifetime;
        self
    }

    /// Sets the algorithm of the active signing key.
    pub fn with_signing_algorithm(mut self, alg: SigningAlgorithm) -> Self {
        self.signing_algorithm = alg;
        self
    }

    /// Sets the default resource indicator (see [`Self::default_resource`]).
    pub fn with_default_resource(mut self, resource: impl Into<String>) -> Self {
        self.default_resource = Some(resource.into());
        self
    }
}

/// What the headless "user" consents to at `/authorize`, set per test with
/// [`DevIssuer::set_consent`](super::DevIssuer::set_consent).
///
/// Every `None`/empty field keeps the default behaviour: subject
/// `login_hint` or [`DevIssuerConfig::default_subject`]; all requested
/// scopes granted; `acr="pwd"`, `amr=["pwd"]`, or `acr="mfa"`,
/// `amr=["pwd","mfa"]` when `acr_values` contains `mfa`; `auth_time` = now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Consent {
    /// Subject of the login (overrides `login_hint` and the default).
    pub subject: Option<String>,
    /// `None`: grant every requested scope. `Some(list)`: grant exactly
    /// `list` (even scopes that were not requested).
    pub granted_scopes: Option<Vec<String>>,
    /// Scopes removed from the grant after `granted_scopes` is applied.
    pub withheld_scopes: Vec<String>,
    /// Authentication context class reference (overrides `acr_values`).
    pub acr: Option<String>,
    /// Authentication methods (overrides `acr_values`).
    pub amr: Option<Vec<String>>,
    /// `auth_time` relative to now, in seconds (negative = in the past).
    /// A request `max_age` shorter than the resulting age still forces a
    /// fresh login (`auth_time` = now) unless `ignore_max_age` is set.
    pub auth_time_offset: Option<i64>,
    /// Behave like a broken AS that ignores the `max_age` parameter.
    pub ignore_max_age: bool,
    /// The user refuses: `/authorize` redirects with `error=access_denied`.
    pub deny: bool,
}

impl Consent {
    /// Consent with only the subject set.
    pub fn subject(subject: impl Into<String>) -> Self {
        Self {
            subject: Some(subject.into()),
            ..Self::default()
        }
    }
}
