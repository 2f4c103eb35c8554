//! The project's own automation.
//!
//! - `cargo xtask demo`: the whole story of an agent meeting a protected MCP server, over real
//!   HTTP on loopback, printed as a transcript.
//! - `cargo xtask test`: everything CI runs.
//! - `cargo xtask bench`: every benchmark, then one table (`--smoke`: each benchmark once;
//!   `--instructions`: only the callgrind counts; `--table`: the last run's table again).

use std::process::{Command, ExitCode, Stdio};

mod bench;
mod conformance;
mod demo;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("demo") => run_demo(),
        Some("test") => run_tests(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("conformance") => conformance::run(&args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\n  demo   run the dev issuer and the notes server, then play an agent through the whole flow\n  test   run every check CI runs (format, build, tests)\n  bench  run the benchmarks and print the performance table (--smoke: each benchmark once; --instructions: only the callgrind counts; --table: reprint)\n  conformance  run the MCP conformance suite's client scenarios against authsec-conformance-client (--suite <name> | --scenario <name>)"
            );
            ExitCode::from(2)
        }
    }
}

fn run_demo() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("xtask: cannot start tokio: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(demo::run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("\ndemo failed: {error}");
            ExitCode::FAILURE
        }
    }
}

/// One step of `cargo xtask test`.
struct Step {
    what: &'static str,
    program: &'static str,
    args: &'static [&'static str],
    dir: &'static str,
    env: &'static [(&'static str, &'static str)],
}

const STEPS: &[Step] = &[
    Step {
        what: "formatting",
        program: "cargo",
        args: &["fmt", "--all", "--", "--check"],
        dir: ".",
        env: &[],
    },
    Step {
        what: "oidc-provider (npm ci)",
        program: "npm",
        args: &["ci", "--no-audit", "--no-fund", "--loglevel=error"],
        dir: "tests/oidc-provider",
        env: &[],
    },
    Step {
        what: "MCP conformance suite (npm ci)",
        program: "npm",
        args: &["ci", "--no-audit", "--no-fund", "--loglevel=error"],
        dir: "tests/conformance",
        env: &[],
    },
    Step {
        what: "build every target (examples included, so the tests can start them)",
        program: "cargo",
        args: &[
            "build",
            "--workspace",
            "--all-targets",
            "--locked",
            "--message-format=json-render-diagnostics",
        ],
        dir: ".",
        env: &[],
    },
    Step {
        what: "MCP conformance suite: every auth and extensions scenario against authsec-conformance-client, warnings fail",
        program: "cargo",
        args: &["xtask", "conformance", "--locked"],
        dir: ".",
        env: &[],
    },
    Step {
        what: "clippy, warnings denied",
        program: "cargo",
        args: &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
        dir: ".",
        env: &[],
    },
    Step {
        what: "tests",
        program: "cargo",
        args: &["test", "--workspace", "--locked"],
        dir: ".",
        env: &[],
    },
    Step {
        what: "benchmarks still run (each once, untimed; cargo xtask bench --smoke)",
        program: "cargo",
        args: &["test", "-p", "authsec-bench", "--benches", "--locked"],
        dir: ".",
        env: &[],
    },
    Step {
        what: "authsec-core with both crypto backends (the provider is installed, no panic)",
        program: "cargo",
        args: &[
            "test",
            "-p",
            "authsec-core",
            "--features",
            "aws-lc-rs,rust-crypto",
            "--locked",
        ],
        dir: ".",
        env: &[],
    },
    Step {
        what: "authsec-core with the rust-crypto backend alone",
        program: "cargo",
        args: &[
            "test",
            "-p",
            "authsec-core",
            "--no-default-features",
            "--features",
            "rust-crypto",
            "--locked",
        ],
        dir: ".",
        env: &[],
    },
    Step {
        what: "documentation of every public item",
        program: "cargo",
        args: &[
            "doc",
            "--no-deps",
            "--locked",
            "-p",
            "authsec-core",
            "-p",
            "authsec-jwks",
            "-p",
            "authsec-axum",
            "-p",
            "authsec-policy",
            "-p",
            "authsec-actix",
            "-p",
            "authsec-client",
            "-p",
            "authsec-config",
            "-p",
            "authsec-cli",
        ],
        dir: ".",
        env: &[("RUSTDOCFLAGS", "-D warnings")],
    },
];

fn run_tests(args: &[String]) -> ExitCode {
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let skip_fmt = args.iter().any(|a| a == "--no-fmt");
    // Paths of the example binaries, read from the build step and handed to the tests, so they
    // start exactly what was built instead of invoking cargo again with other features.
    let mut binaries: Vec<(String, String)> = Vec::new();
    for step in STEPS {
        if skip_fmt && step.what == "formatting" {
            continue;
        }
        println!(
            "\n==> {}: {} {}",
            step.what,
            step.program,
            step.args.join(" ")
        );
        let json_messages = step
            .args
            .contains(&"--message-format=json-render-diagnostics");
        let mut command = Command::new(step.program);
        command
            .args(step.args)
            .current_dir(workspace.join(step.dir))
            .envs(step.env.iter().copied())
            .envs(binaries.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let status = if json_messages {
            command.stdout(Stdio::piped());
            command.output().map(|output| {
                binaries.extend(example_binaries(&String::from_utf8_lossy(&output.stdout)));
                output.status
            })
        } else {
            command.status()
        };
        match status {
            Ok(status) if status.success() => {}
            Ok(status) => {
                eprintln!("xtask test: {} failed ({status})", step.what);
                return ExitCode::FAILURE;
            }
            Err(error) => {
                eprintln!("xtask test: cannot run {}: {error}", step.program);
                return ExitCode::FAILURE;
            }
        }
    }
    println!("\nxtask test: every step passed");
    ExitCode::SUCCESS
}

/// `AUTHSEC_EXAMPLE_BIN_<PACKAGE>_<EXAMPLE>` → executable, for every example in cargo's JSON
/// build messages (e.g. `AUTHSEC_EXAMPLE_BIN_AUTHSEC_AXUM_NOTES_SERVER`).
fn example_binaries(messages: &str) -> Vec<(String, String)> {
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter(|m| {
            m["target"]["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "example"))
        })
        .filter_map(|m| {
            let executable = m["executable"].as_str()?;
            let example = m["target"]["name"].as_str()?;
            // package_id: "path+file:///…/authsec-axum#0.1.0" (or "…#authsec-axum@0.1.0").
            let id = m["package_id"].as_str()?;
            let tail = id.rsplit('/').next()?;
            let package = tail.split(['#', '@']).find(|p| p.starts_with("authsec"))?;
            let name = format!("AUTHSEC_EXAMPLE_BIN_{package}_{example}")
                .to_ascii_uppercase()
                .replace('-', "_");
            Some((name, executable.to_owned()))
        })
        .collect()
}
