//! The project's own automation: `cargo xtask demo`, `cargo xtask test`.
fn main() {}
