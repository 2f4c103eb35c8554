//! actix-web adapter for authsec.
//!
//! Not built yet: this crate is a placeholder so the workspace layout matches
//! `ARCHITECTURE.md`. Use `authsec-axum` in the meantime.
#![forbid(unsafe_code)]
