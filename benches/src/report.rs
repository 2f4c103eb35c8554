//! Where the bench binaries leave their figures for `cargo xtask bench` to tabulate.

use std::path::PathBuf;

use serde::Serialize;

/// `$AUTHSEC_BENCH_OUT`, else `target/authsec-bench` of the workspace.
pub fn out_dir() -> PathBuf {
    let dir = std::env::var_os("AUTHSEC_BENCH_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("target")
                .join("authsec-bench")
        });
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// Writes `value` as pretty JSON to `out_dir()/name`.
pub fn write(name: &str, value: &impl Serialize) {
    let path = out_dir().join(name);
    match serde_json::to_string_pretty(value) {
        Ok(text) => {
            if let Err(error) = std::fs::write(&path, text) {
                eprintln!("cannot write {}: {error}", path.display());
            }
        }
        Err(error) => eprintln!("cannot serialise {name}: {error}"),
    }
}

/// Whether the binary runs as a benchmark (`cargo bench` passes `--bench`) rather than as a
/// smoke check (`cargo test --benches` runs it without).
pub fn is_full_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}
