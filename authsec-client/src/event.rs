//! What the client does, as events an agent can print or count (the demo prints them). Events
//! never carry a token.

use std::fmt;
use std::time::Duration;

use authsec_core::DenialCode;

/// One step the client took on its own.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// The server refused a request.
    Denied {
        /// HTTP status.
        status: u16,
        /// The denial code.
        code: DenialCode,
        /// The server's description.
        description: String,
    },
    /// Metadata was discovered for a resource.
    Discovered {
        /// The resource (as the metadata gives it).
        resource: String,
        /// The authorization server chosen.
        issuer: String,
    },
    /// A client registration is in use at an authorization server.
    Registered {
        /// The issuer.
        issuer: String,
        /// The client id.
        client_id: String,
        /// `pre-registered`, `client ID metadata document` or `dynamic registration`.
        how: &'static str,
    },
    /// A new authorization (user login, or client credentials grant) is starting.
    Authorizing {
        /// Why: the denial that caused it, if any.
        cause: Option<DenialCode>,
        /// Requested scopes.
        scope: Option<String>,
        /// Requested `acr_values`.
        acr_values: Vec<String>,
        /// Requested `max_age`.
        max_age: Option<u64>,
    },
    /// A token was obtained.
    TokenGranted {
        /// Granted scopes, if the AS said.
        scope: Option<String>,
    },
    /// A refresh grant succeeded.
    Refreshed,
    /// A refresh grant was refused; a new authorization follows.
    RefreshRejected {
        /// The AS's error.
        error: String,
    },
    /// Waiting before retrying the same request with the same token.
    Waiting {
        /// Why.
        code: DenialCode,
        /// How long.
        delay: Duration,
    },
    /// The client gives up; the request returns an error.
    GaveUp {
        /// The last denial code.
        code: DenialCode,
    },
}

impl fmt::Display for ClientEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientEvent::Denied {
                status,
                code,
                description,
            } => write!(f, "{status} {code}: {description}"),
            ClientEvent::Discovered { resource, issuer } => {
                write!(f, "discovered {resource} → authorization server {issuer}")
            }
            ClientEvent::Registered {
                issuer,
                client_id,
                how,
            } => write!(f, "client {client_id} at {issuer} ({how})"),
            ClientEvent::Authorizing {
                cause,
                scope,
                acr_values,
                max_age,
            } => {
                match cause {
                    Some(DenialCode::ScopeInsufficient) => f.write_str("re-authorizing")?,
                    Some(DenialCode::StepUpRequired) => f.write_str("step-up login")?,
                    None | Some(DenialCode::MissingToken) => f.write_str("logging in")?,
                    Some(_) => f.write_str("logging in again")?,
                }
                if let Some(scope) = scope {
                    write!(f, " with {scope}")?;
                }
                if !acr_values.is_empty() {
                    write!(f, ", acr_values={}", acr_values.join(" "))?;
                }
                if let Some(max_age) = max_age {
                    write!(f, ", max_age={max_age}")?;
                }
                Ok(())
            }
            ClientEvent::TokenGranted { scope } => match scope {
                Some(scope) => write!(f, "token granted, scope \"{scope}\""),
                None => f.write_str("token granted"),
            },
            ClientEvent::Refreshed => f.write_str("token refreshed"),
            ClientEvent::RefreshRejected { error } => {
                write!(f, "refresh refused ({error}): a new login follows")
            }
            ClientEvent::Waiting { code, delay } => {
                write!(
                    f,
                    "{code}: retrying in {} ms with the same token",
                    delay.as_millis()
                )
            }
            ClientEvent::GaveUp { code } => write!(f, "giving up after {code}"),
        }
    }
}
