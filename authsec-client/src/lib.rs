//! The agent side of authsec: discovery, registration, login, token refresh and retry on every
//! denial code.
//!
//! Not built yet: this crate is a placeholder so the workspace layout matches
//! `ARCHITECTURE.md`.
#![forbid(unsafe_code)]
