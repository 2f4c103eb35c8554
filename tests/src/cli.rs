//! The `authsec` command-line binary (crate authsec-cli), run as a user runs it.
//!
//! Its path comes from `AUTHSEC_CLI_BIN` when set; otherwise it is built on demand with
//! `cargo build -p authsec-cli --bin authsec` (cheap when up to date) into this profile's target
//! directory, so `cargo test -p authsec-tests --test cli_check` works on its own.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

/// What one run of `authsec` printed and returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CliRun {
    /// The exit code (`None` if killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl CliRun {
    /// The checklist lines (`PASS`/`FAIL`/`SKIP` items and their `fix:`/`why:` lines) and the
    /// summary line: everything but the title and the preamble.
    pub fn items(&self) -> Vec<String> {
        let lines: Vec<&str> = self.stdout.lines().collect();
        let first = lines
            .iter()
            .position(|line| {
                line.starts_with("  PASS  ")
                    || line.starts_with("  FAIL  ")
                    || line.starts_with("  SKIP  ")
            })
            .unwrap_or(lines.len());
        lines[first..].iter().map(|l| (*l).to_owned()).collect()
    }
}

/// Why the binary could not be run.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Building it failed.
    #[error("building the authsec binary failed: {0}")]
    Build(String),
    /// Running it failed.
    #[error("running the authsec binary failed: {0}")]
    Run(String),
}

/// The `authsec` binary, built if needed.
pub fn authsec_binary() -> Result<PathBuf, CliError> {
    static BUILT: Mutex<Option<PathBuf>> = Mutex::new(None);
    let mut built = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(path) = built.as_ref() {
        return Ok(path.clone());
    }
    let path = match std::env::var_os("AUTHSEC_CLI_BIN") {
        Some(path) => PathBuf::from(path),
        None => {
            let (profile_dir, release) = target_profile_dir();
            let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .unwrap_or_else(|| Path::new("."))
                .to_path_buf();
            let mut command = std::process::Command::new(
                std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()),
            );
            command.current_dir(&workspace).args([
                "build",
                "--quiet",
                "-p",
                "authsec-cli",
                "--bin",
                "authsec",
            ]);
            if release {
                command.arg("--release");
            }
            let status = command
                .status()
                .map_err(|e| CliError::Build(e.to_string()))?;
            if !status.success() {
                return Err(CliError::Build(format!("cargo exited with {status}")));
            }
            profile_dir.join(format!("authsec{}", std::env::consts::EXE_SUFFIX))
        }
    };
    *built = Some(path.clone());
    Ok(path)
}

/// Runs `authsec args...` with an empty environment (but `PATH`) and `env`, killed after 60 s.
pub async fn run_authsec(args: &[&str], env: &[(&str, &str)]) -> Result<CliRun, CliError> {
    let binary = authsec_binary()?;
    let child = tokio::process::Command::new(binary)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| CliError::Run(e.to_string()))?;
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .map_err(|_| CliError::Run("authsec did not finish within 60 s".into()))?
        .map_err(|e| CliError::Run(e.to_string()))?;
    Ok(CliRun {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

/// `target/<profile>` from the running test executable (`target/<profile>/deps/<test>`).
fn target_profile_dir() -> (PathBuf, bool) {
    let exe = std::env::current_exe().unwrap_or_default();
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let release = dir.file_name().is_some_and(|name| name == "release");
    (dir, release)
}
