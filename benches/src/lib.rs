//! # authsec-bench
//!
//! The benchmarks behind the README's performance table, run by `cargo xtask bench` (full) and
//! `cargo xtask bench --smoke` (each benchmark once, in CI through `cargo xtask test`).
//!
//! - `benches/in_process.rs` (criterion): one request through each contender's tower stack, in
//!   process; the cold path per algorithm next to `jsonwebtoken::decode` and the pre-parsed
//!   signature check; MCP classification and `tools/list` filtering, with allocation counts;
//!   one request with this core's caches evicted first ([`evict`]), the in-process stand-in
//!   for what the kernel's network stack does to them between two requests over loopback.
//! - `benches/scale.rs`: single flight (N concurrent requests with one new token against the
//!   dev issuer over loopback) and the memory of the verified-token cache with 1M tokens.
//! - `benches/loopback.rs`: `wrk` against each contender served on 127.0.0.1.
//!
//! The contenders are described in [`contenders`] (axum), [`actix`] (actix-web) and [`rmcp`]
//! (a real MCP server, over loopback only). In-process figures are the CPU time of the
//! benchmark thread ([`cpu`]), so that other work on the shared machine inflates them less.
#![deny(unsafe_code)]

pub mod actix;
pub mod alloc;
pub mod contenders;
pub mod cpu;
pub mod evict;
pub mod fixture;
pub mod load;
pub mod report;
pub mod rmcp;
