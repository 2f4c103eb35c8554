//! authsec end-to-end test support.
#![forbid(unsafe_code)]
pub mod agent;
pub mod cli;
pub mod control_plane;
pub mod dev_issuer;
pub mod mcp_http;
pub mod notes_server;
pub mod oidc_provider;
pub mod redis_server;
