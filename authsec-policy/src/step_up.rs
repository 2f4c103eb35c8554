//! Step-up authentication (RFC 9470): a tool that needs a stronger or more recent login.
//!
//! The token's `acr` and `amr` claims say how the user logged in, `auth_time` when. A
//! [`StepUp`] rule accepts the login when it is strong enough (its `acr` is one of the accepted
//! values, or its `amr` holds one of the accepted methods) and recent enough (`auth_time` at most
//! `max_age` seconds ago). Otherwise the denial is `step_up_required`: a 401 with
//! `error="insufficient_user_authentication"`, `acr_values` and `max_age`, which tells the client
//! to send the user through a new login asking for exactly that.
//!
//! ```toml
//! [policies.fresh_mfa]
//! step_up = { acr = ["mfa"], amr = ["mfa"], max_age = 300 }
//! ```

use async_trait::async_trait;
use authsec_core::{Denial, Policy, PolicyRequest};

/// Requires a strong and/or recent login; see the [module documentation](self).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StepUp {
    acr: Vec<String>,
    amr: Vec<String>,
    max_age: Option<u64>,
}

impl StepUp {
    /// A rule that accepts any login until `acr`, `amr` or `max_age` say otherwise.
    pub fn new() -> Self {
        Self::default()
    }

    /// Accepted `acr` values. They are also the `acr_values` of the challenge, so list the one
    /// the authorization server should use first.
    pub fn acr<S: Into<String>>(mut self, values: impl IntoIterator<Item = S>) -> Self {
        self.acr = values.into_iter().map(Into::into).collect();
        self
    }

    /// Accepted authentication methods: the login is strong enough when its `amr` holds one of
    /// them (for identity providers that report `amr` but not `acr`). When both `acr` and `amr`
    /// are set, either one is enough; use an all-of rule of two step-ups to require both.
    pub fn amr<S: Into<String>>(mut self, methods: impl IntoIterator<Item = S>) -> Self {
        self.amr = methods.into_iter().map(Into::into).collect();
        self
    }

    /// The login must be at most `seconds` old (`auth_time`); a token without `auth_time` is
    /// never recent enough.
    pub fn max_age(mut self, seconds: u64) -> Self {
        self.max_age = Some(seconds);
        self
    }

    /// The accepted `acr` values.
    pub fn acr_values(&self) -> &[String] {
        &self.acr
    }

    /// The accepted `amr` methods.
    pub fn amr_values(&self) -> &[String] {
        &self.amr
    }

    /// The maximum authentication age, in seconds.
    pub fn max_age_seconds(&self) -> Option<u64> {
        self.max_age
    }

    /// `Ok` when the caller's login satisfies the rule, else `step_up_required` with
    /// `acr_values` and `max_age`.
    pub fn check(&self, request: &PolicyRequest<'_>) -> Result<(), Denial> {
        let who = request.principal;
        let strong = (self.acr.is_empty() && self.amr.is_empty())
            || who
                .acr()
                .is_some_and(|acr| self.acr.iter().any(|a| a == acr))
            || who.amr().iter().any(|m| self.amr.contains(m));
        let recent = match self.max_age {
            None => true,
            Some(max_age) => who
                .auth_time()
                .is_some_and(|at| request.now.saturating_sub(at) <= max_age),
        };
        if strong && recent {
            Ok(())
        } else {
            Err(Denial::step_up_required(
                self.acr.iter().cloned(),
                self.max_age,
            ))
        }
    }

    /// Checks that every value can be sent in a challenge (non-empty, no spaces or quotes).
    pub(crate) fn validate(&self) -> Result<(), String> {
        for (claim, value) in self
            .acr
            .iter()
            .map(|v| ("acr", v))
            .chain(self.amr.iter().map(|v| ("amr", v)))
        {
            if value.is_empty()
                || !value
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
            {
                return Err(format!(
                    "step_up {claim} value {value:?} must be non-empty printable ASCII without spaces, quotes or backslashes"
                ));
            }
        }
        Ok(())
    }
}

/// Used on its own as the Guard's policy, a step-up rule applies to every request that
/// reaches check 5.
#[async_trait]
impl Policy for StepUp {
    async fn evaluate(&self, request: &PolicyRequest<'_>) -> Result<(), Denial> {
        self.check(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::principal;
    use authsec_core::DenialCode;
    use serde_json::json;

    #[test]
    fn acr_or_amr_with_a_fresh_login_passes() {
        let rule = StepUp::new().acr(["mfa"]).amr(["mfa", "hwk"]).max_age(300);
        let now = 10_000;
        for claims in [
            json!({"sub":"a","acr":"mfa","auth_time": now - 300}),
            json!({"sub":"a","acr":"pwd","amr":["pwd","hwk"],"auth_time": now}),
        ] {
            let who = principal(claims.clone());
            assert_eq!(
                rule.check(&PolicyRequest::new(&who, now)),
                Ok(()),
                "{claims}"
            );
        }
    }

    #[test]
    fn weak_stale_or_timeless_logins_are_step_up_required_with_parameters() {
        let rule = StepUp::new().acr(["mfa"]).max_age(300);
        let now = 10_000;
        for claims in [
            json!({"sub":"a","acr":"pwd","auth_time": now}),
            json!({"sub":"a","acr":"mfa","auth_time": now - 301}),
            json!({"sub":"a","acr":"mfa"}),
        ] {
            let who = principal(claims.clone());
            let denial = rule.check(&PolicyRequest::new(&who, now)).unwrap_err();
            assert_eq!(denial.code(), DenialCode::StepUpRequired, "{claims}");
            assert_eq!(denial.acr_values(), ["mfa"]);
            assert_eq!(denial.max_age(), Some(300));
        }
    }

    #[test]
    fn values_that_cannot_be_challenged_are_refused() {
        assert!(StepUp::new().acr(["a b"]).validate().is_err());
        assert!(StepUp::new().amr([""]).validate().is_err());
        assert!(
            StepUp::new()
                .acr(["urn:mace:incommon:iap:silver"])
                .validate()
                .is_ok()
        );
    }
}
