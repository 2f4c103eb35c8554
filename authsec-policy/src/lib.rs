//! # authsec-policy
//!
//! What a server owner configures rather than codes: which tools need more than a scope, and
//! which callers get which scopes under what conditions. This crate is **check 5** of the
//! authsec pipeline, the tool policy, behind authsec-core's [`Policy`] trait; its role bindings
//! also narrow **check 3** (scopes) and `tools/list` filtering through
//! [`Policy::effective_scopes`]:
//!
//! ```text
//! Guard::check  1 token  2 audience  3 scopes ∩ bindings  4 revocation  5 tool policy ◄── here
//! ```
//!
//! Built in:
//!
//! | rule | denial |
//! |---|---|
//! | [`StepUp`]: `acr` / `amr` and a maximum authentication age (RFC 9470) | `step_up_required` (401, `acr_values`, `max_age`) |
//! | [`IpCondition`]: allow / deny CIDR lists, IPv4 and IPv6 | `policy_denied` (403) |
//! | [`TimeWindow`]: days and hours in a named time zone | `policy_denied` |
//! | [`ArgumentCondition`]: an argument in a list or matching a pattern | `policy_denied` |
//! | [`Rule::all_of`], [`Rule::any_of`], [`Rule::not`] | the deciding member's |
//! | roles and [`Binding`]s: token scopes ∩ bound roles' scopes | `policy_denied` at check 3 |
//! | [`Quota`]: a [`Rate`] per user, client, plan or globally, in a [`MemoryStore`] or a shared `RedisStore` | `quota_exceeded` (429 + `Retry-After`) |
//!
//! Three ways in, one model:
//!
//! 1. a TOML file with the tool manifest and the policies: [`PolicyConfig`] (format in
//!    [`config`]); every mistake fails at start-up with its line number;
//! 2. the same in Rust: [`PolicySet::builder`], [`Rule`], [`Binding`], [`Quota`];
//! 3. your own [`Policy`]: on its own as the Guard's policy, or registered by name
//!    ([`PolicySetBuilder::custom`], [`PolicyConfigBuilder::custom`]) for tools and rules to
//!    name, composed with the built-in ones.
//!
//! Denials say why in `error_description` (never another caller's data), and every decision is
//! a [`Ruling`] naming the rule that made it, logged as a `tracing` event and handed to an
//! optional audit hook ([`PolicySetBuilder::on_decision`]).
//!
//! ```
//! use authsec_core::{Denial, DenialCode, Guard, JwtRules, JwtVerifier, StaticKeys};
//! use authsec_policy::PolicyConfig;
//!
//! let config = PolicyConfig::from_toml_str(r#"
//!     [tools.list_notes]
//!     scopes = ["notes:read"]
//!
//!     [tools.purge_notes]
//!     scopes = ["notes:admin"]
//!     policy = "fresh_mfa"
//!
//!     [policies.fresh_mfa]
//!     step_up = { acr = ["mfa"], amr = ["mfa"], max_age = 300 }
//!
//!     [[quotas]]
//!     name = "calls"
//!     per = "user"
//!     rate = "100/minute"
//! "#)?;
//! let (manifest, policies) = config.into_parts();
//! let guard = Guard::builder("https://mcp.example.com/mcp")
//!     .authorization_server("https://as.example")
//!     .verifier(JwtVerifier::new(JwtRules::new("https://as.example"), StaticKeys::default())?)
//!     .manifest(manifest)
//!     .policy(policies)
//!     .build()?;
//! # let _ = guard;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The same policy in Rust:
//!
//! ```
//! use authsec_policy::{PolicySet, Quota, QuotaKey, Rate, StepUp};
//!
//! let policies = PolicySet::builder()
//!     .rule("fresh_mfa", StepUp::new().acr(["mfa"]).amr(["mfa"]).max_age(300))
//!     .quota(Quota::new("calls", QuotaKey::User, Rate::per_minute(100)))
//!     .build()?;
//! # let _ = policies;
//! # Ok::<(), authsec_core::ConfigError>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod argument;
pub mod binding;
pub mod config;
pub mod ip;
pub mod policy_set;
pub mod quota;
#[cfg(feature = "redis")]
pub mod redis_store;
pub mod rule;
pub mod step_up;
pub mod time_window;

pub use argument::ArgumentCondition;
pub use authsec_core::{Policy, PolicyRequest};
pub use binding::Binding;
pub use config::{PolicyConfig, PolicyConfigBuilder};
pub use ip::IpCondition;
pub use policy_set::{PolicySet, PolicySetBuilder, Ruling};
pub use quota::{
    Admission, Bucket, MemoryStore, OnUnavailable, Quota, QuotaKey, QuotaStore, Rate, StoreError,
};
#[cfg(feature = "redis")]
pub use redis_store::RedisStore;
pub use rule::Rule;
pub use step_up::StepUp;
pub use time_window::TimeWindow;

/// Re-exported so CIDR blocks can be built without a direct dependency.
pub use ipnet;

#[cfg(test)]
pub(crate) mod testing {
    use authsec_core::{Claims, Principal, TokenSource};
    use serde_json::Value;

    /// A principal with these claims.
    pub(crate) fn principal(claims: Value) -> Principal {
        let Value::Object(map) = claims else {
            unreachable!("claims are an object")
        };
        Principal::new(
            Claims::from_map(map, TokenSource::Jwt).expect("valid claims"),
            "token",
        )
    }
}
