//! `cargo xtask conformance`: the MCP conformance suite (pinned in tests/conformance) runs its
//! client scenarios against `authsec-conformance-client`, the tests crate's binary built on
//! authsec-client.
//!
//! - `cargo xtask conformance`: the `auth` suite, then the `extensions` suite (client
//!   credentials); fails on any failed check, any warning or a timed-out client.
//! - `cargo xtask conformance --suite auth` or `--scenario auth/scope-step-up`: one of them.
//!
//! Works offline once `npm ci` has filled tests/conformance/node_modules (it runs `npm ci` itself
//! when the suite is missing). Results (checks.json, client stdout/stderr per scenario) are saved
//! under target/conformance/.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

/// The suite version pinned in tests/conformance/package-lock.json.
pub const SUITE_VERSION: &str = "0.1.11";

/// The suites `cargo xtask conformance` runs when given neither `--suite` nor `--scenario`.
const DEFAULT_SUITES: &[&str] = &["auth", "extensions"];

/// What to run: whole suites or one scenario.
enum Selection {
    Suites(Vec<String>),
    Scenario(String),
}

/// One scenario's line of the suite summary, e.g. `✓ auth/basic-cimd: 12 passed, 0 failed`.
#[derive(Debug, PartialEq)]
struct ScenarioResult {
    name: String,
    passed: u32,
    failed: u32,
    warnings: u32,
}

impl ScenarioResult {
    fn clean(&self) -> bool {
        self.failed == 0 && self.warnings == 0
    }
}

pub fn run(args: &[String]) -> ExitCode {
    let selection = match parse_args(args) {
        Ok(selection) => selection,
        Err(message) => {
            eprintln!(
                "xtask conformance: {message}\nusage: cargo xtask conformance [--suite <auth|extensions|...> | --scenario <name>] [--locked]"
            );
            return ExitCode::from(2);
        }
    };
    let locked = args.iter().any(|a| a == "--locked");
    let workspace = workspace_root();
    let suite_dir = workspace.join("tests/conformance");

    let client = match build_client(&workspace, locked) {
        Ok(path) => path,
        Err(message) => {
            eprintln!("xtask conformance: {message}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(message) = ensure_suite_installed(&suite_dir) {
        eprintln!("xtask conformance: {message}");
        return ExitCode::FAILURE;
    }
    let results_dir = workspace.join("target/conformance");

    let mut all_clean = true;
    match selection {
        Selection::Suites(suites) => {
            for suite in suites {
                match run_suite(&suite_dir, &client, &results_dir, &suite) {
                    Ok(clean) => all_clean &= clean,
                    Err(message) => {
                        eprintln!("xtask conformance: {message}");
                        return ExitCode::FAILURE;
                    }
                }
            }
        }
        Selection::Scenario(scenario) => {
            match run_scenario(&suite_dir, &client, &results_dir, &scenario) {
                Ok(clean) => all_clean &= clean,
                Err(message) => {
                    eprintln!("xtask conformance: {message}");
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    if all_clean {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "xtask conformance: some scenarios failed or warned; details under {}",
            results_dir.display()
        );
        ExitCode::FAILURE
    }
}

fn parse_args(args: &[String]) -> Result<Selection, String> {
    let mut suites = Vec::new();
    let mut scenario = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--suite" => suites.push(args.next().ok_or("--suite needs a name")?.clone()),
            "--scenario" => scenario = Some(args.next().ok_or("--scenario needs a name")?.clone()),
            "--locked" => {}
            other => return Err(format!("unknown argument {other}")),
        }
    }
    match (scenario, suites.is_empty()) {
        (Some(_), false) => Err("give --suite or --scenario, not both".to_owned()),
        (Some(scenario), true) => Ok(Selection::Scenario(scenario)),
        (None, true) => Ok(Selection::Suites(
            DEFAULT_SUITES.iter().map(|s| (*s).to_owned()).collect(),
        )),
        (None, false) => Ok(Selection::Suites(suites)),
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Builds the client binary and returns its path, read from cargo's JSON messages.
fn build_client(workspace: &Path, locked: bool) -> Result<PathBuf, String> {
    let mut command = Command::new("cargo");
    command.current_dir(workspace).args([
        "build",
        "-p",
        "authsec-tests",
        "--bin",
        "authsec-conformance-client",
        "--message-format=json-render-diagnostics",
    ]);
    if locked {
        command.arg("--locked");
    }
    let output = command
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "building authsec-conformance-client failed ({})",
            output.status
        ));
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter(|m| m["target"]["name"] == "authsec-conformance-client")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| "cargo reported no executable for authsec-conformance-client".to_owned())
}

/// Runs `npm ci` when the pinned suite is not installed yet.
fn ensure_suite_installed(suite_dir: &Path) -> Result<(), String> {
    if suite_dir
        .join("node_modules/@modelcontextprotocol/conformance/package.json")
        .exists()
    {
        return Ok(());
    }
    println!("==> conformance suite (npm ci in {})", suite_dir.display());
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(suite_dir)
        .status()
        .map_err(|e| format!("cannot run npm: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "npm ci in {} failed ({status})",
            suite_dir.display()
        ))
    }
}

fn suite_command(suite_dir: &Path, client: &Path, results_dir: &Path) -> Command {
    let mut command = Command::new("npx");
    command
        .current_dir(suite_dir)
        .args(["--no-install", "conformance", "client", "--command"]);
    command.arg(client);
    // The suite's default is 30 s per client; a loaded 2-core CI machine gets twice that.
    command.args(["--timeout", "60000"]);
    command.arg("--output-dir").arg(results_dir);
    command
}

/// Runs one suite; prints its summary and returns whether every scenario was clean.
fn run_suite(
    suite_dir: &Path,
    client: &Path,
    results_dir: &Path,
    suite: &str,
) -> Result<bool, String> {
    println!(
        "==> MCP conformance {SUITE_VERSION}, suite {suite}, client {}",
        client.display()
    );
    let output = suite_command(suite_dir, client, results_dir)
        .args(["--suite", suite])
        .output()
        .map_err(|e| format!("cannot run npx: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let results = parse_summary(&stdout);
    for result in &results {
        println!(
            "  {} {}: {} checks passed, {} failed, {} warnings",
            if result.clean() { "ok  " } else { "FAIL" },
            result.name,
            result.passed,
            result.failed,
            result.warnings
        );
    }
    let clean = results.iter().filter(|r| r.clean()).count();
    let warnings: u32 = results.iter().map(|r| r.warnings).sum();
    println!(
        "{suite} suite: {clean}/{} scenarios passed, {warnings} warnings, conformance {SUITE_VERSION}",
        results.len()
    );
    let ok = output.status.success() && !results.is_empty() && clean == results.len();
    if !ok {
        println!("{stdout}");
        eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(ok)
}

/// Runs one scenario and judges it as suite mode does: by its checks (any failure or warning
/// fails), not by the client's exit status, which is 1 where refusing is the expected behaviour
/// (`auth/resource-mismatch`, `auth/scope-retry-limit`).
fn run_scenario(
    suite_dir: &Path,
    client: &Path,
    results_dir: &Path,
    scenario: &str,
) -> Result<bool, String> {
    println!("==> MCP conformance {SUITE_VERSION}, scenario {scenario}");
    let started = std::time::SystemTime::now();
    let status = suite_command(suite_dir, client, results_dir)
        .args(["--scenario", scenario])
        .status()
        .map_err(|e| format!("cannot run npx: {e}"))?;
    let checks = latest_checks(results_dir, scenario, started)?;
    let count = |status: &str| checks.iter().filter(|c| c["status"] == status).count();
    let (passed, failed, warnings) = (count("SUCCESS"), count("FAILURE"), count("WARNING"));
    println!(
        "{scenario}: {passed} checks passed, {failed} failed, {warnings} warnings (client exit: {status})"
    );
    Ok(passed > 0 && failed == 0 && warnings == 0)
}

/// The checks.json the suite saved for `scenario` since `since`.
fn latest_checks(
    results_dir: &Path,
    scenario: &str,
    since: std::time::SystemTime,
) -> Result<Vec<serde_json::Value>, String> {
    // The suite saves into <results>/<scenario>-<timestamp>/ ("auth/x" makes a subdirectory).
    let (parent, prefix) = match scenario.rsplit_once('/') {
        Some((dir, name)) => (results_dir.join(dir), format!("{name}-")),
        None => (results_dir.to_path_buf(), format!("{scenario}-")),
    };
    let newest = std::fs::read_dir(&parent)
        .map_err(|e| format!("no results in {}: {e}", parent.display()))?
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().starts_with(&prefix))
        .filter_map(|entry| {
            let modified = entry.metadata().and_then(|m| m.modified()).ok()?;
            (modified >= since).then_some((modified, entry.path()))
        })
        .max_by_key(|(modified, _)| *modified)
        .map(|(_, path)| path.join("checks.json"))
        .ok_or_else(|| format!("the suite saved no results for {scenario}"))?;
    let text = std::fs::read_to_string(&newest)
        .map_err(|e| format!("cannot read {}: {e}", newest.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", newest.display()))
}

/// The lines of the suite's `=== SUITE SUMMARY ===`.
fn parse_summary(stdout: &str) -> Vec<ScenarioResult> {
    stdout
        .lines()
        .skip_while(|line| !line.contains("=== SUITE SUMMARY ==="))
        .filter_map(parse_summary_line)
        .collect()
}

fn parse_summary_line(line: &str) -> Option<ScenarioResult> {
    let rest = line
        .strip_prefix("✓ ")
        .or_else(|| line.strip_prefix("✗ "))?;
    let (name, counts) = rest.split_once(": ")?;
    let mut result = ScenarioResult {
        name: name.to_owned(),
        passed: 0,
        failed: 0,
        warnings: 0,
    };
    for part in counts.split(", ") {
        let (number, label) = part.split_once(' ')?;
        let number = number.parse().ok()?;
        match label {
            "passed" => result.passed = number,
            "failed" => result.failed = number,
            "warnings" => result.warnings = number,
            _ => return None,
        }
    }
    Some(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_lines_are_read_with_their_warnings() {
        let stdout = "Running auth suite (2 scenarios) in parallel...\n\n=== SUITE SUMMARY ===\n\n✓ auth/basic-cimd: 12 passed, 0 failed\n✗ auth/scope-step-up: 9 passed, 0 failed, 1 warnings\n\nTotal: 21 passed, 0 failed, 1 warnings\n";
        assert_eq!(
            parse_summary(stdout),
            vec![
                ScenarioResult {
                    name: "auth/basic-cimd".to_owned(),
                    passed: 12,
                    failed: 0,
                    warnings: 0
                },
                ScenarioResult {
                    name: "auth/scope-step-up".to_owned(),
                    passed: 9,
                    failed: 0,
                    warnings: 1
                },
            ]
        );
    }

    #[test]
    fn lines_before_the_summary_are_ignored() {
        assert!(parse_summary("✓ auth/basic-cimd: 1 passed, 0 failed\n").is_empty());
    }
}
