//! The `authsec` binary: see the crate documentation of `authsec_cli`.
#![forbid(unsafe_code)]

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("authsec: cannot start: {error}");
            return ExitCode::from(2);
        }
    };
    let outcome = runtime.block_on(authsec_cli::run(std::env::args_os().skip(1)));
    // A closed pipe (`authsec check … | head`) is not an error worth a panic.
    let _ = std::io::stdout().write_all(outcome.stdout.as_bytes());
    let _ = std::io::stderr().write_all(outcome.stderr.as_bytes());
    ExitCode::from(outcome.code)
}
