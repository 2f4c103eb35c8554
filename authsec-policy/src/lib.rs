//! Built-in policies for check 5 of the authsec pipeline (step-up MFA, IP and time conditions,
//! argument conditions, roles and bindings, quotas).
//!
//! Not built yet: this crate is a placeholder so the workspace layout matches
//! `ARCHITECTURE.md`. Until it lands, implement `authsec_core::Policy` yourself.
#![forbid(unsafe_code)]
