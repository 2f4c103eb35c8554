//! `cargo xtask bench`: runs every benchmark of `benches/` (authsec-bench, and jwt-authorizer
//! in its own workspace), then prints one table from their results.
//!
//! - `cargo xtask bench`: the full run (a few minutes; installs `wrk` with apt when missing).
//! - `cargo xtask bench --smoke`: each benchmark once, untimed (what CI runs).
//! - `cargo xtask bench --table`: prints the table again from the last results.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use serde_json::Value;

/// The benchmarks of authsec-bench, in the order they run.
const BENCHES: [&str; 3] = ["in_process", "scale", "loopback"];

pub fn run(args: &[String]) -> ExitCode {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"));
    let out = target.join("authsec-bench");
    if args.iter().any(|a| a == "--smoke") {
        return smoke(&workspace);
    }
    if args.iter().any(|a| a == "--instructions") {
        // Only the callgrind block, against the current code (about four minutes, against
        // fourteen for the whole run); the other figures of the last full run stay as they are.
        println!("==> cargo bench -p authsec-bench --bench in_process --no-run");
        let built = Command::new("cargo")
            .args([
                "bench",
                "-p",
                "authsec-bench",
                "--bench",
                "in_process",
                "--no-run",
            ])
            .current_dir(&workspace)
            .status();
        if !built.is_ok_and(|s| s.success()) {
            eprintln!("xtask bench: the in_process benchmark could not be built");
            return ExitCode::FAILURE;
        }
        instructions(&workspace, &target, &out);
        println!("\n{}", Results::load(&target, &out).instructions_text());
        return ExitCode::SUCCESS;
    }
    if !args.iter().any(|a| a == "--table") {
        println!("machine: {}", machine());
        ensure_wrk();
        let envs = [
            ("AUTHSEC_BENCH_OUT", out.clone()),
            ("CRITERION_HOME", target.join("criterion")),
        ];
        for bench in BENCHES {
            println!("\n==> cargo bench -p authsec-bench --bench {bench}");
            let status = Command::new("cargo")
                .args(["bench", "-p", "authsec-bench", "--bench", bench])
                .current_dir(&workspace)
                .envs(envs.iter().map(|(k, v)| (k, v)))
                .status();
            if !status.is_ok_and(|s| s.success()) {
                eprintln!("xtask bench: the {bench} benchmark failed");
                return ExitCode::FAILURE;
            }
        }
        instructions(&workspace, &target, &out);
        // jwt-authorizer pins axum 0.7 and jsonwebtoken 9: its own workspace and target dir.
        println!("\n==> cargo bench --manifest-path benches/jwt-authorizer/Cargo.toml");
        let status = Command::new("cargo")
            .args([
                "bench",
                "--manifest-path",
                "benches/jwt-authorizer/Cargo.toml",
            ])
            .current_dir(&workspace)
            .env("CARGO_TARGET_DIR", target.join("jwt-authorizer"))
            .envs(envs.iter().map(|(k, v)| (k, v)))
            .status();
        if !status.is_ok_and(|s| s.success()) {
            eprintln!("xtask bench: jwt-authorizer could not be built or run; its row is left out");
            let _ = std::fs::remove_file(out.join("jwt_authorizer.json"));
        }
    }
    let results = Results::load(&target, &out);
    println!("\n{}", results.table());
    let _ = std::fs::write(out.join("table.md"), results.table());
    ExitCode::SUCCESS
}

/// Scenarios whose instructions per request are counted with callgrind: a figure the machine's
/// load cannot move, for the warm path where a few hundred nanoseconds matter.
const COUNTED: [&str; 16] = [
    "request/unprotected",
    "request/noop_layer",
    "request/floor",
    "request/authsec",
    "request/authsec_wrapped",
    "request/jsonwebtoken_mw",
    "request_get/unprotected",
    "request_get/floor",
    "request_get/authsec",
    "request_get/authsec_wrapped",
    "request_actix/actix_unprotected",
    "request_actix/actix_authsec",
    "request_get_actix/actix_unprotected",
    "request_get_actix/actix_authsec",
    "mcp/classify",
    "mcp/filter_tools_list_100",
];

/// Runs each [`COUNTED`] scenario of the in_process bench binary under
/// `valgrind --tool=callgrind` (its `AUTHSEC_BENCH_COUNT` mode) and writes
/// `instructions.json` (instructions per request) and `code_lines.json` (the distinct 64-byte
/// lines of code a request runs: the instruction cache it needs, which is what a request costs
/// when other work, such as the kernel's network stack, has evicted it; see
/// [`executed_code_lines`]). Skipped when valgrind is not installed.
fn instructions(workspace: &Path, target: &Path, out: &Path) {
    let Some(binary) = newest_bench_binary(&target.join("release").join("deps"), "in_process-")
    else {
        eprintln!("no in_process bench binary found: instruction counts skipped");
        return;
    };
    if Command::new("valgrind").arg("--version").output().is_err() {
        eprintln!("valgrind is not installed: instruction counts skipped");
        return;
    }
    const ITERATIONS: u64 = 300;
    let mut counts = serde_json::Map::new();
    let mut code_lines = serde_json::Map::new();
    for scenario in COUNTED {
        println!("\n==> callgrind: {scenario} ({ITERATIONS} iterations)");
        let profile = out.join("callgrind.out");
        let status = Command::new("valgrind")
            .args([
                "--tool=callgrind",
                "--collect-atstart=no",
                "--toggle-collect=*counted_loop*",
                "--dump-instr=yes",
                "--compress-pos=no",
            ])
            .arg(format!("--callgrind-out-file={}", profile.display()))
            .arg(&binary)
            .current_dir(workspace)
            .env("AUTHSEC_BENCH_COUNT", format!("{scenario}:{ITERATIONS}"))
            .env("AUTHSEC_BENCH_OUT", out)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        let text = std::fs::read_to_string(&profile).unwrap_or_default();
        let total = text
            .lines()
            .find_map(|l| {
                l.strip_prefix("summary:")
                    .or_else(|| l.strip_prefix("totals:"))
            })
            .and_then(|n| n.trim().parse::<f64>().ok());
        code_lines.insert(
            scenario.into(),
            executed_code_lines(&text, ITERATIONS / 2).into(),
        );
        let _ = std::fs::remove_file(&profile);
        match (status, total) {
            (Ok(status), Some(total)) if status.success() => {
                counts.insert(scenario.into(), (total / ITERATIONS as f64).round().into());
            }
            _ => eprintln!("callgrind failed for {scenario}"),
        }
    }
    let _ = std::fs::write(
        out.join("instructions.json"),
        serde_json::to_string_pretty(&Value::Object(counts)).unwrap_or_default(),
    );
    let _ = std::fs::write(
        out.join("code_lines.json"),
        serde_json::to_string_pretty(&Value::Object(code_lines)).unwrap_or_default(),
    );
}

/// The distinct 64-byte lines of code holding an instruction that ran at least `min_runs`
/// times, in a callgrind profile written with `--dump-instr=yes --compress-pos=no`. With
/// `min_runs` half the requests counted, that is the code a typical request runs: a path taken
/// by a few requests of the loop (glibc's `malloc` slow path, `_int_malloc`, ~35 lines, which
/// some runs of the same binary take and others do not) is left out, and so is code that ran
/// once for the whole loop.
///
/// Each cost line starts with its positions, as the `positions:` header names them (`instr
/// line` by default: the instruction's full address, then its source line, 0 where the code
/// has no line table), and its cost follows them. The line after a `calls=` line is the
/// call's inclusive cost, not the call instruction's own, and is skipped.
fn executed_code_lines(profile: &str, min_runs: u64) -> usize {
    let positions = profile
        .lines()
        .find_map(|l| l.strip_prefix("positions:"))
        .map_or(1, |names| names.split_whitespace().count());
    let mut lines = std::collections::HashSet::new();
    let mut inclusive = false;
    for line in profile.lines() {
        if line.starts_with("calls=") {
            inclusive = true;
            continue;
        }
        let mut fields = line.split_whitespace();
        let Some(address) = fields.next().and_then(|a| a.strip_prefix("0x")) else {
            continue;
        };
        if std::mem::take(&mut inclusive) {
            continue;
        }
        let ran = fields
            .nth(positions - 1)
            .and_then(|cost| cost.parse::<u64>().ok())
            .is_some_and(|cost| cost > 0 && cost >= min_runs);
        if let (true, Ok(address)) = (ran, u64::from_str_radix(address, 16)) {
            lines.insert(address >> 6);
        }
    }
    lines.len()
}

/// The most recently built `deps/<prefix>*` executable.
fn newest_bench_binary(deps: &Path, prefix: &str) -> Option<PathBuf> {
    std::fs::read_dir(deps)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with(prefix) && !name.contains('.')
        })
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())
        .map(|e| e.path())
}

/// Each benchmark once, untimed: criterion's test mode (no `--bench` argument), and the small
/// sizes of the custom harnesses. Reuses the test profile's build.
fn smoke(workspace: &Path) -> ExitCode {
    println!("==> cargo test -p authsec-bench --benches (each benchmark once)");
    let status = Command::new("cargo")
        .args(["test", "-p", "authsec-bench", "--benches"])
        .current_dir(workspace)
        .status();
    if status.is_ok_and(|s| s.success()) {
        ExitCode::SUCCESS
    } else {
        eprintln!("xtask bench --smoke: a benchmark no longer runs");
        ExitCode::FAILURE
    }
}

fn ensure_wrk() {
    let has_wrk = || {
        Command::new("wrk")
            .arg("--version")
            .output()
            .is_ok_and(|o| !o.stdout.is_empty() || !o.stderr.is_empty())
    };
    if has_wrk() {
        return;
    }
    println!("wrk is missing: installing it with apt-get (Debian package wrk)");
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "-qq", "wrk"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success())
    };
    if !install() {
        let _ = Command::new("apt-get").args(["update", "-qq"]).status();
        install();
    }
    if !has_wrk() {
        eprintln!("wrk could not be installed: the loopback columns stay empty");
    }
}

/// CPU model, cores and load average, for the record.
fn machine() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    format!("{model}, {cores} cores, load average {load}")
}

struct Results {
    criterion: PathBuf,
    in_process: Value,
    scale: Value,
    loopback: Value,
    jwt_authorizer: Value,
    instructions: Value,
    code_lines: Value,
}

fn read_json(path: &Path) -> Value {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or(Value::Null)
}

impl Results {
    fn load(target: &Path, out: &Path) -> Self {
        Results {
            criterion: target.join("criterion"),
            in_process: read_json(&out.join("in_process.json")),
            scale: read_json(&out.join("scale.json")),
            loopback: read_json(&out.join("loopback.json")),
            jwt_authorizer: read_json(&out.join("jwt_authorizer.json")),
            instructions: read_json(&out.join("instructions.json")),
            code_lines: read_json(&out.join("code_lines.json")),
        }
    }

    /// The 10th percentile of criterion's samples of `group/bench` (time per iteration, in
    /// nanoseconds of the bench thread's CPU time). The machine is shared, so the slow samples
    /// are mostly other work (cache and memory contention); the fast decile
    /// is what the code costs. Criterion's own median is in its report.
    fn ns(&self, group: &str, bench: &str) -> Option<f64> {
        // Criterion turns `/` in a group name into `_` in its directory name.
        let dir = self
            .criterion
            .join(group.replace('/', "_"))
            .join(bench)
            .join("new");
        let samples = read_json(&dir.join("sample.json"));
        let (Some(iters), Some(times)) = (samples["iters"].as_array(), samples["times"].as_array())
        else {
            return read_json(&dir.join("estimates.json"))["median"]["point_estimate"].as_f64();
        };
        let mut per_iteration: Vec<f64> = iters
            .iter()
            .zip(times)
            .filter_map(|(n, t)| Some(t.as_f64()? / n.as_f64()?))
            .collect();
        per_iteration.sort_by(f64::total_cmp);
        per_iteration.get(per_iteration.len() / 10).copied()
    }

    fn allocations(&self, key: &str) -> Option<f64> {
        self.in_process["allocations"][key]["allocations"].as_f64()
    }

    fn table(&self) -> String {
        let mut rows: Vec<[String; 8]> = Vec::new();
        let dash = || "—".to_owned();
        let ns = |v: Option<f64>| v.map_or_else(dash, format_ns);
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
            _ => dash(),
        };
        let allocs = |key: &str| {
            self.allocations(key)
                .map_or_else(dash, |a| format!("{a:.0}"))
        };
        let raw_rs256 = self.ns("cold/RS256", "jsonwebtoken_decode");
        let loopback = |data: &Value, base: &Value| -> (String, String, String) {
            let rps = data["requests_per_sec"].as_f64();
            let (min, max) = (
                data["requests_per_sec_min"].as_f64(),
                data["requests_per_sec_max"].as_f64(),
            );
            let rps_text = match (rps, min, max) {
                (Some(r), Some(lo), Some(hi)) => format!("{r:.0} ({lo:.0}–{hi:.0})"),
                (Some(r), _, _) => format!("{r:.0}"),
                _ => dash(),
            };
            let p99 = data["p99_ms"]
                .as_f64()
                .map_or_else(dash, |p| format!("{p:.2}"));
            let rps_ratio = match paired_ratio(data, base) {
                Some(paired) if paired.rounds >= 4 => format!(
                    "{:.2}× ({:.2}–{:.2})",
                    paired.median, paired.lower_quartile, paired.upper_quartile
                ),
                Some(paired) => format!("{:.2}×", paired.median),
                None => ratio(rps, base["requests_per_sec"].as_f64()),
            };
            (rps_text, rps_ratio, p99)
        };

        // One request through each contender of a criterion group, against the group's first
        // contender (its unprotected baseline), with its loopback figures when there are any.
        let request_rows = |kind: &str, group: &str, contenders: &[(&str, &str)], loopback_too| {
            let baseline = contenders[0].0;
            let base = self.ns(group, baseline);
            let loop_base = &self.loopback["contenders"][baseline];
            contenders
                .iter()
                .map(|&(id, label)| {
                    let value = self.ns(group, id);
                    let added = value
                        .zip(base)
                        .filter(|_| id != baseline)
                        .map(|(v, b)| v - b);
                    let (rps, rps_ratio, p99) = if loopback_too {
                        loopback(&self.loopback["contenders"][id], loop_base)
                    } else {
                        (dash(), dash(), dash())
                    };
                    [
                        format!("{kind}: {label}"),
                        ns(value),
                        added.map_or_else(dash, format_ns),
                        if id == baseline {
                            dash()
                        } else {
                            ratio(added, raw_rs256)
                        },
                        allocs(&format!("{group}/{id}")),
                        rps,
                        rps_ratio,
                        p99,
                    ]
                })
                .collect::<Vec<_>>()
        };
        let post = "POST tools/call";
        let get = "GET (token only)";

        // 1. One request through each contender (POST tools/call, RS256 token): axum, the
        // jwt-authorizer bench (axum 0.7), actix-web.
        rows.extend(request_rows(post, "request", &AXUM_CONTENDERS, true));
        if !self.jwt_authorizer.is_null() || self.ns("request_axum07", "jwt_authorizer").is_some() {
            let base07 = self.ns("request_axum07", "unprotected");
            let value = self.ns("request_axum07", "jwt_authorizer");
            let added = value.zip(base07).map(|(v, b)| v - b);
            let jwta = &self.jwt_authorizer;
            let (rps, rps_ratio, p99) = loopback(&jwta["jwt_authorizer"], &jwta["unprotected"]);
            rows.push([
                "POST tools/call: jwt-authorizer 0.15 (axum 0.7, vs its own axum 0.7 baseline)"
                    .into(),
                ns(value),
                added.map_or_else(dash, format_ns),
                ratio(added, raw_rs256),
                dash(),
                rps,
                rps_ratio,
                p99,
            ]);
        }

        rows.extend(request_rows(post, "request_actix", &ACTIX_CONTENDERS, true));
        // A real MCP server (rmcp), on axum and on actix-web, over loopback only.
        for (kind, contenders) in [
            ("POST tools/call to an rmcp server", &RMCP_CONTENDERS),
            (
                "POST tools/call to an rmcp server on actix-web",
                &RMCP_ACTIX_CONTENDERS,
            ),
        ] {
            if !self.loopback["contenders"][contenders[0].0].is_null() {
                rows.extend(request_rows(kind, "request_rmcp", contenders, true));
            }
        }

        // 2. The same with a GET: no body to classify, the token check alone.
        let axum_get: Vec<(&str, &str)> = AXUM_CONTENDERS
            .into_iter()
            .filter(|(id, _)| *id != "authsec_no_cache")
            .collect();
        rows.extend(request_rows(get, "request_get", &axum_get, false));
        rows.extend(request_rows(
            get,
            "request_get_actix",
            &ACTIX_CONTENDERS,
            false,
        ));

        // 3. A token seen for the first time, per algorithm.
        for alg in ["RS256", "PS256", "ES256", "EdDSA"] {
            let group = format!("cold/{alg}");
            let raw = self.ns(&group, "jsonwebtoken_decode");
            let limit = self.ns(&group, "preparsed_verify");
            for (id, label) in [
                (
                    "preparsed_verify",
                    "signature check, key parsed once (the limit)",
                ),
                ("jsonwebtoken_verify", "jsonwebtoken::crypto::verify"),
                (
                    "jsonwebtoken_decode",
                    "jsonwebtoken::decode, cached key (raw decode)",
                ),
                ("authsec_verify", "**authsec** check 1 (JwtVerifier)"),
                (
                    "authsec_authenticate",
                    "**authsec** checks 1+2 + Principal (Guard, cold)",
                ),
            ] {
                let value = self.ns(&group, id);
                let over_limit = match (value, limit) {
                    (Some(v), Some(l)) if id != "preparsed_verify" => signed_ns(v - l),
                    _ => dash(),
                };
                rows.push([
                    format!("cold {alg}: {label}"),
                    ns(value),
                    over_limit,
                    ratio(value, raw),
                    allocs(&format!("{group}/{id}")),
                    dash(),
                    dash(),
                    dash(),
                ]);
            }
        }

        // 4. The warm path without HTTP, and MCP.
        for (group, id, key, label) in [
            (
                "warm",
                "authenticate",
                "warm/authenticate",
                "Guard::authenticate, warm token",
            ),
            (
                "warm",
                "guard_check",
                "warm/guard_check",
                "Guard::check (checks 1–5), tools/call",
            ),
            (
                "warm",
                "protection_check",
                "warm/protection_check",
                "Protection::check (headers + classify + Guard)",
            ),
            (
                "mcp",
                "classify_tools_call",
                "mcp/classify_tools_call",
                "MCP classification of a tools/call body",
            ),
            (
                "mcp",
                "filter_tools_list_100",
                "mcp/filter_tools_list_100",
                "tools/list filtering, 100 tools (keeps 50)",
            ),
        ] {
            rows.push([
                label.to_owned(),
                ns(self.ns(group, id)),
                dash(),
                ratio(self.ns(group, id), raw_rs256),
                allocs(key),
                dash(),
                dash(),
                dash(),
            ]);
        }
        if let (Some(unprotected), Some(authsec)) = (
            self.ns("request_tools_list", "unprotected"),
            self.ns("request_tools_list", "authsec"),
        ) {
            rows.push([
                "POST tools/list through the layer (response filtered), added".into(),
                format_ns(authsec),
                signed_ns(authsec - unprotected),
                ratio(Some(authsec - unprotected), raw_rs256),
                allocs("request_tools_list/authsec"),
                dash(),
                dash(),
                dash(),
            ]);
        }

        let header = [
            "contender",
            "ns/request",
            "added (over unprotected / over the limit)",
            "× raw decode",
            "allocs",
            "loopback req/s (min–max)",
            "× unprotected req/s (median of the rounds' ratios; middle half)",
            "p99 ms",
        ];
        let mut text = String::new();
        text.push_str(&format!("| {} |\n", header.join(" | ")));
        text.push_str(&format!("|{}\n", "---|".repeat(header.len())));
        for row in rows {
            text.push_str(&format!("| {} |\n", row.join(" | ")));
        }
        text.push_str(&self.loopback_warning());
        text.push_str(&self.loopback_cpu_text());
        text.push_str(&self.evicted_text());
        text.push_str(&self.instructions_text());
        text.push_str(&self.scale_text());
        text
    }

    fn instructions_text(&self) -> String {
        let count = |s: &str| self.instructions[s].as_f64();
        let Some(_) = count("request/unprotected") else {
            return String::new();
        };
        let mut text = String::from(
            "\ninstructions per request, and distinct 64-byte lines of code a typical request runs\n(callgrind; independent of the machine's load):\n",
        );
        for (base, scenario, label) in [
            (
                "request/unprotected",
                "request/unprotected",
                "POST tools/call, unprotected",
            ),
            (
                "request/unprotected",
                "request/noop_layer",
                "POST tools/call, a no-op Router::layer (axum map_request)",
            ),
            (
                "request/unprotected",
                "request/floor",
                "POST tools/call, the floor (no checks: a lower bound)",
            ),
            (
                "request/unprotected",
                "request/authsec",
                "POST tools/call, authsec warm",
            ),
            (
                "request/unprotected",
                "request/authsec_wrapped",
                "POST tools/call, authsec warm, wrapping the Router",
            ),
            (
                "request/unprotected",
                "request/jsonwebtoken_mw",
                "POST tools/call, jsonwebtoken middleware (RSA verify in C)",
            ),
            (
                "request_get/unprotected",
                "request_get/unprotected",
                "GET, unprotected",
            ),
            (
                "request_get/unprotected",
                "request_get/floor",
                "GET, the floor (the token compared)",
            ),
            (
                "request_get/unprotected",
                "request_get/authsec",
                "GET, authsec warm",
            ),
            (
                "request_get/unprotected",
                "request_get/authsec_wrapped",
                "GET, authsec warm, wrapping the Router",
            ),
            (
                "request_actix/actix_unprotected",
                "request_actix/actix_unprotected",
                "POST tools/call, unprotected actix-web",
            ),
            (
                "request_actix/actix_unprotected",
                "request_actix/actix_authsec",
                "POST tools/call, authsec-actix warm",
            ),
            (
                "request_get_actix/actix_unprotected",
                "request_get_actix/actix_unprotected",
                "GET, unprotected actix-web",
            ),
            (
                "request_get_actix/actix_unprotected",
                "request_get_actix/actix_authsec",
                "GET, authsec-actix warm",
            ),
            (
                "mcp/classify",
                "mcp/classify",
                "MCP classification of the tools/call body",
            ),
        ] {
            let (Some(value), Some(base_value)) = (count(scenario), count(base)) else {
                continue;
            };
            let lines = |s: &str| self.code_lines[s].as_f64();
            let (added, added_lines) = if base == scenario {
                (String::new(), String::new())
            } else {
                (
                    format!(" ({:+.0})", value - base_value),
                    lines(scenario)
                        .zip(lines(base))
                        .map(|(l, b)| format!(" ({:+.0})", l - b))
                        .unwrap_or_default(),
                )
            };
            let code = lines(scenario)
                .map(|l| format!("  {l:>6.0} code lines{added_lines}"))
                .unwrap_or_default();
            text.push_str(&format!("  {label:<60} {value:>9.0}{added:<10}{code}\n"));
        }
        text
    }

    /// A warning when a loopback baseline's rounds spread by more than 10 % (max over min):
    /// other work on the host, which makes every loopback ratio of the run unreliable (one
    /// such run showed 0.98× for a contender that is ~0.8× in quiet ones).
    fn loopback_warning(&self) -> String {
        let mut text = String::new();
        for baseline in [
            "unprotected",
            "actix_unprotected",
            RMCP_CONTENDERS[0].0,
            RMCP_ACTIX_CONTENDERS[0].0,
        ] {
            let data = &self.loopback["contenders"][baseline];
            let (Some(min), Some(max)) = (
                data["requests_per_sec_min"].as_f64(),
                data["requests_per_sec_max"].as_f64(),
            ) else {
                continue;
            };
            if min > 0.0 && max / min > 1.10 {
                text.push_str(&format!(
                    "\nwarning: the {baseline} loopback rounds ranged {min:.0}–{max:.0} req/s (+{:.0} %): the\nhost was busy during this run, and its loopback ratios are not to be trusted; run again\n",
                    (max / min - 1.0) * 100.0
                ));
            }
        }
        text
    }

    /// The loopback server's CPU time per request (user + kernel) against its baseline: where
    /// the req/s column's time goes. (A busy host inflates it too: a vCPU that waits for the
    /// host still counts as running.)
    fn loopback_cpu_text(&self) -> String {
        let cpu = |id: &str| {
            let data = &self.loopback["contenders"][id];
            data["server_user_us"]
                .as_f64()
                .zip(data["server_kernel_us"].as_f64())
        };
        let mut lines = String::new();
        for contenders in [
            &AXUM_CONTENDERS[..],
            &ACTIX_CONTENDERS[..],
            &RMCP_CONTENDERS[..],
            &RMCP_ACTIX_CONTENDERS[..],
        ] {
            let base = cpu(contenders[0].0).map(|(user, kernel)| user + kernel);
            for (id, label) in contenders {
                let Some((user, kernel)) = cpu(id) else {
                    continue;
                };
                let total = user + kernel;
                let versus = match base {
                    Some(base) if *id != contenders[0].0 && total > 0.0 => format!(
                        "  {:+.2} µs, {:.2}× the baseline's requests per CPU second",
                        total - base,
                        base / total
                    ),
                    _ => String::new(),
                };
                lines.push_str(&format!(
                    "  {:<58} {total:>6.2} µs ({user:.2} user + {kernel:.2} kernel){versus}\n",
                    label.replace("**", "")
                ));
            }
        }
        if lines.is_empty() {
            return lines;
        }
        format!(
            "\nloopback, the server's CPU time per request (getrusage over each wrk run, median of\nthe rounds; where the time goes: user code or the kernel):\n{lines}"
        )
    }

    /// One request in process with the core's caches evicted first (the bench's `Evictor`):
    /// the median, and what the protection adds over its baseline, instruction cache evicted
    /// and instruction cache plus L2 evicted.
    fn evicted_text(&self) -> String {
        let evicted = &self.in_process["evicted"];
        let median = |scenario: &str, what: &str| evicted[scenario][what]["p50_ns"].as_f64();
        let mut lines = String::new();
        for (baseline, scenario, label) in [
            (
                "request/unprotected",
                "request/unprotected",
                "unprotected axum",
            ),
            (
                "request/unprotected",
                "request/noop_layer",
                "a no-op Router::layer (axum map_request)",
            ),
            (
                "request/unprotected",
                "request/floor",
                "the floor (no checks: a lower bound)",
            ),
            (
                "request/unprotected",
                "request/authsec",
                "authsec, Router::layer",
            ),
            (
                "request/unprotected",
                "request/authsec_wrapped",
                "authsec wrapping the Router",
            ),
            (
                "request_actix/actix_unprotected",
                "request_actix/actix_unprotected",
                "unprotected actix-web",
            ),
            (
                "request_actix/actix_unprotected",
                "request_actix/actix_authsec",
                "authsec-actix",
            ),
        ] {
            let (Some(code), Some(all)) = (median(scenario, "code"), median(scenario, "all"))
            else {
                continue;
            };
            let added = |what: &str, value: f64| match median(baseline, what) {
                Some(base) if baseline != scenario => format!(" ({})", signed_ns(value - base)),
                _ => String::new(),
            };
            lines.push_str(&format!(
                "  {:<44} {:>9}{:<12} {:>9}{}\n",
                label,
                format_ns(code),
                added("code", code),
                format_ns(all),
                added("all", all),
            ));
        }
        if lines.is_empty() {
            return lines;
        }
        // The L2 the bench evicted (twice its size written), as it found it.
        let l2 = match self.in_process["evicted_l2_bytes"].as_u64() {
            Some(bytes) if bytes >= 1024 * 1024 && bytes % (1024 * 1024) == 0 => {
                format!("the {} MiB L2", bytes / (1024 * 1024))
            }
            Some(bytes) => format!("the {} KiB L2", bytes / 1024),
            None => "the L2".to_owned(),
        };
        format!(
            "\nPOST tools/call in process, this core's caches evicted before each request (median\nof 5,000; first the 32 KiB instruction cache, then it and {l2}):\n  {:<44} {:<21} {}\n{lines}",
            "", "L1i evicted", "L1i + L2"
        )
    }

    fn scale_text(&self) -> String {
        let mut text = String::new();
        if let Some(runs) = self.scale["single_flight"].as_array() {
            text.push_str("\nsingle flight (JWT + introspection, cold JWKS, one new token):\n");
            for run in runs {
                text.push_str(&format!(
                    "  {:>4} concurrent requests → {} JWKS fetch, {} introspection call, {:.1} ms\n",
                    run["concurrent"], run["jwks_fetches"], run["introspection_calls"],
                    run["elapsed_ms"].as_f64().unwrap_or(0.0)
                ));
            }
        }
        if let Some(runs) = self.scale["memory"].as_array() {
            text.push_str("\nverified-token cache memory:\n");
            for run in runs {
                text.push_str(&format!(
                    "  {} distinct tokens, capacity {} → {} cached, {:.1} MiB heap, {:.0} bytes per entry (token {} bytes)\n",
                    run["tokens"],
                    run["capacity"],
                    run["cached"],
                    run["heap_bytes"].as_f64().unwrap_or(0.0) / (1024.0 * 1024.0),
                    run["bytes_per_entry"].as_f64().unwrap_or(0.0),
                    run["token_bytes"],
                ));
            }
        }
        text
    }
}

/// The axum rows (authsec-bench's `contenders` module), baseline first.
const AXUM_CONTENDERS: [(&str, &str); 7] = [
    ("unprotected", "unprotected axum (baseline)"),
    ("floor", "the floor (no checks: a lower bound)"),
    ("authsec", "**authsec**, warm token (cached)"),
    (
        "authsec_wrapped",
        "**authsec** wrapping the Router, warm token (cached)",
    ),
    (
        "authsec_no_cache",
        "authsec, cache off (every request verified)",
    ),
    ("tower_oauth2", "tower-oauth2-resource-server 0.12"),
    ("jsonwebtoken_mw", "hand-written jsonwebtoken middleware"),
];

/// The actix-web rows (authsec-bench's `actix` module), baseline first.
const ACTIX_CONTENDERS: [(&str, &str); 3] = [
    ("actix_unprotected", "unprotected actix-web (baseline)"),
    ("actix_authsec", "**authsec-actix**, warm token (cached)"),
    (
        "actix_authsec_no_cache",
        "authsec-actix, cache off (every request verified)",
    ),
];

/// The rmcp rows (authsec-bench's `rmcp` module: a real MCP server, loopback only), baseline
/// first.
const RMCP_CONTENDERS: [(&str, &str); 2] = [
    ("rmcp_unprotected", "unprotected rmcp server (baseline)"),
    (
        "rmcp_authsec",
        "**authsec** wrapping the rmcp server, warm token (cached)",
    ),
];

/// The same rmcp server on actix-web (`authsec_actix::rmcp::serve`), baseline first.
const RMCP_ACTIX_CONTENDERS: [(&str, &str); 2] = [
    (
        "rmcp_actix_unprotected",
        "unprotected rmcp server on actix-web (baseline)",
    ),
    (
        "rmcp_actix_authsec",
        "**authsec-actix** before the rmcp server, warm token (cached)",
    ),
];

/// A loopback contender's requests/s against its baseline's, round by round.
#[derive(Debug, PartialEq)]
struct PairedRatio {
    median: f64,
    lower_quartile: f64,
    upper_quartile: f64,
    rounds: usize,
}

/// The ratio of `data`'s requests/s to `base`'s within each round (their `runs`, in round
/// order), and its median over the rounds. Each round runs every contender once, back to back,
/// so a ratio within a round is untouched by the host's slower drift, and the median leaves
/// out the rounds a burst of other work hit (the ratio of the two medians mixes rounds taken
/// minutes apart). `None` without the same number of runs for both.
fn paired_ratio(data: &Value, base: &Value) -> Option<PairedRatio> {
    let rps = |value: &Value| -> Option<Vec<f64>> {
        value["runs"]
            .as_array()?
            .iter()
            .map(|run| run["requests_per_sec"].as_f64())
            .collect()
    };
    let (runs, base_runs) = (rps(data)?, rps(base)?);
    if runs.is_empty() || runs.len() != base_runs.len() || base_runs.contains(&0.0) {
        return None;
    }
    let mut ratios: Vec<f64> = runs.iter().zip(&base_runs).map(|(r, b)| r / b).collect();
    ratios.sort_by(f64::total_cmp);
    // The value at fraction `q` of the sorted ratios, interpolated between neighbours.
    let at = |q: f64| {
        let place = q * (ratios.len() - 1) as f64;
        let (low, high) = (place.floor() as usize, place.ceil() as usize);
        ratios[low] + (ratios[high] - ratios[low]) * (place - low as f64)
    };
    Some(PairedRatio {
        median: at(0.5),
        lower_quartile: at(0.25),
        upper_quartile: at(0.75),
        rounds: ratios.len(),
    })
}

/// `+1.20 µs` / `−300 ns`: a difference, which noise can make negative.
fn signed_ns(ns: f64) -> String {
    let sign = if ns < 0.0 { '−' } else { '+' };
    format!("{sign}{}", format_ns(ns.abs()))
}

fn format_ns(ns: f64) -> String {
    if ns.abs() >= 10_000.0 {
        format!("{:.1} µs", ns / 1000.0)
    } else if ns.abs() >= 1000.0 {
        format!("{:.2} µs", ns / 1000.0)
    } else {
        format!("{ns:.0} ns")
    }
}

#[cfg(test)]
mod tests {
    use super::{PairedRatio, Results, Value, executed_code_lines, paired_ratio};
    use serde_json::json;

    /// Results with only these files' contents (what the text blocks read).
    fn results(in_process: Value, loopback: Value) -> Results {
        Results {
            criterion: std::path::PathBuf::new(),
            in_process,
            scale: Value::Null,
            loopback,
            jwt_authorizer: Value::Null,
            instructions: Value::Null,
            code_lines: Value::Null,
        }
    }

    #[test]
    fn loopback_cpu_lines_set_each_contender_against_its_baseline() {
        let report = results(
            Value::Null,
            json!({"contenders": {
                "unprotected": {"server_user_us": 5.5, "server_kernel_us": 6.5},
                "authsec_wrapped": {"server_user_us": 8.0, "server_kernel_us": 7.0},
                "tower_oauth2": {"requests_per_sec": 17000.0},
                "actix_unprotected": {"server_user_us": 5.0, "server_kernel_us": 5.0},
                "actix_authsec": {"server_user_us": 6.5, "server_kernel_us": 6.0},
            }}),
        );
        let text = report.loopback_cpu_text();
        let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
        assert_eq!(lines.len(), 7, "{text}");
        assert_eq!(lines[0], "");
        assert!(lines[1].starts_with("loopback, the server's CPU time per request"));
        assert_eq!(
            lines[3],
            format!(
                "  {:<58}  12.00 µs (5.50 user + 6.50 kernel)",
                "unprotected axum (baseline)"
            )
        );
        assert_eq!(
            lines[4],
            format!(
                "  {:<58}  15.00 µs (8.00 user + 7.00 kernel)  +3.00 µs, 0.80× the baseline's requests per CPU second",
                "authsec wrapping the Router, warm token (cached)"
            )
        );
        // A contender without CPU figures has no line.
        assert!(lines[5].contains("unprotected actix-web (baseline)"));
        assert!(lines[6].ends_with("+2.50 µs, 0.80× the baseline's requests per CPU second"));
        assert_eq!(results(Value::Null, Value::Null).loopback_cpu_text(), "");
    }

    #[test]
    fn loopback_ratios_pair_each_round_with_the_baselines_own() {
        let runs = |rps: &[f64]| json!({"runs": rps.iter().map(|r| json!({"requests_per_sec": r})).collect::<Vec<_>>()});
        // The host slowed down over the rounds; within each round the contender ran at 0.9,
        // 0.8, 0.95, 1.0 and 0.5 (a burst of other work) of the baseline.
        let base = runs(&[120_000.0, 100_000.0, 80_000.0, 90_000.0, 110_000.0]);
        let contender = runs(&[108_000.0, 80_000.0, 76_000.0, 90_000.0, 55_000.0]);
        assert_eq!(
            paired_ratio(&contender, &base),
            Some(PairedRatio {
                median: 0.9,
                lower_quartile: 0.8,
                upper_quartile: 0.95,
                rounds: 5,
            })
        );
        // Even: the two middle ratios' mean; quartiles interpolated.
        let paired = paired_ratio(&runs(&[90.0, 80.0]), &runs(&[100.0, 100.0])).unwrap();
        assert!((paired.median - 0.85).abs() < 1e-12, "{paired:?}");
        assert!((paired.lower_quartile - 0.825).abs() < 1e-12, "{paired:?}");
        assert!((paired.upper_quartile - 0.875).abs() < 1e-12, "{paired:?}");
        // Not paired: different round counts, no runs, a run without a figure, a zero baseline.
        assert_eq!(paired_ratio(&runs(&[1.0, 2.0]), &runs(&[1.0])), None);
        assert_eq!(paired_ratio(&json!({}), &base), None);
        assert_eq!(paired_ratio(&runs(&[]), &runs(&[])), None);
        assert_eq!(
            paired_ratio(&json!({"runs": [{"p99_ms": 1.0}]}), &runs(&[1.0])),
            None
        );
        assert_eq!(paired_ratio(&runs(&[1.0]), &runs(&[0.0])), None);
    }

    #[test]
    fn the_table_quotes_the_paired_loopback_ratio_with_its_middle_half() {
        let run = |rps: &[f64]| {
            json!({
                "requests_per_sec": rps[rps.len() / 2],
                "requests_per_sec_min": rps.iter().copied().fold(f64::INFINITY, f64::min),
                "requests_per_sec_max": rps.iter().copied().fold(0.0, f64::max),
                "p99_ms": 0.5,
                "runs": rps.iter().map(|r| json!({"requests_per_sec": r})).collect::<Vec<_>>(),
            })
        };
        let report = results(
            Value::Null,
            json!({"contenders": {
                "unprotected": run(&[100.0, 100.0, 100.0, 100.0]),
                "authsec_wrapped": run(&[88.0, 80.0, 96.0, 100.0]),
                "authsec": run(&[90.0, 80.0]),
            }}),
        );
        let table = report.table();
        let row = |label: &str| {
            table
                .lines()
                .find(|line| line.starts_with(&format!("| POST tools/call: {label}")))
                .unwrap_or_else(|| panic!("no row {label:?} in\n{table}"))
                .split(" | ")
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        let wrapped = row("**authsec** wrapping the Router");
        assert_eq!(wrapped[5..], ["96 (80–100)", "0.92× (0.86–0.97)", "0.50 |"]);
        // Two rounds against four: not paired, the ratio of the medians.
        let layer = row("**authsec**, warm token");
        assert_eq!(layer[5..], ["80 (80–90)", "0.80×", "0.50 |"]);
        assert!(
            table.contains("| × unprotected req/s (median of the rounds' ratios; middle half) |")
        );
    }

    #[test]
    fn rmcp_rows_are_paired_with_the_rmcp_server_and_only_shown_when_measured() {
        let run = |median: f64, rps: &[f64], user: f64| {
            json!({
                "requests_per_sec": median,
                "requests_per_sec_min": rps.iter().copied().fold(f64::INFINITY, f64::min),
                "requests_per_sec_max": rps.iter().copied().fold(0.0, f64::max),
                "p99_ms": 2.0,
                "server_user_us": user,
                "server_kernel_us": 8.0,
                "runs": rps.iter().map(|r| json!({"requests_per_sec": r})).collect::<Vec<_>>(),
            })
        };
        let report = results(
            Value::Null,
            json!({"contenders": {
                "unprotected": run(100_000.0, &[100_000.0; 4], 4.0),
                "rmcp_unprotected": run(20_000.0, &[20_000.0, 18_000.0, 22_000.0, 20_000.0], 40.0),
                "rmcp_authsec": run(19_300.0, &[19_600.0, 17_100.0, 22_000.0, 19_000.0], 42.0),
                "rmcp_actix_unprotected": run(25_000.0, &[25_000.0; 4], 36.0),
                "rmcp_actix_authsec": run(24_000.0, &[24_000.0, 23_000.0, 25_000.0, 24_000.0], 37.0),
            }}),
        );
        let table = report.table();
        let rows = |prefix: &str| -> Vec<String> {
            table
                .lines()
                .filter(|line| line.starts_with(prefix))
                .map(str::to_owned)
                .collect()
        };
        assert_eq!(
            rows("| POST tools/call to an rmcp server: "),
            [
                "| POST tools/call to an rmcp server: unprotected rmcp server (baseline) | — | — | — | — | 20000 (18000–22000) | 1.00× (1.00–1.00) | 2.00 |",
                "| POST tools/call to an rmcp server: **authsec** wrapping the rmcp server, warm token (cached) | — | — | — | — | 19300 (17100–22000) | 0.96× (0.95–0.98) | 2.00 |",
            ],
            "{table}"
        );
        assert_eq!(
            rows("| POST tools/call to an rmcp server on actix-web: "),
            [
                "| POST tools/call to an rmcp server on actix-web: unprotected rmcp server on actix-web (baseline) | — | — | — | — | 25000 (25000–25000) | 1.00× (1.00–1.00) | 2.00 |",
                "| POST tools/call to an rmcp server on actix-web: **authsec-actix** before the rmcp server, warm token (cached) | — | — | — | — | 24000 (23000–25000) | 0.96× (0.95–0.97) | 2.00 |",
            ],
            "{table}"
        );
        let cpu = report.loopback_cpu_text();
        assert!(
            cpu.contains("  +2.00 µs, 0.96× the baseline's requests per CPU second"),
            "{cpu}"
        );
        // No rmcp figures (a loopback run of other contenders): no rmcp rows.
        let without = results(
            Value::Null,
            json!({"contenders": {"unprotected": run(100_000.0, &[100_000.0], 4.0)}}),
        );
        assert!(!without.table().contains("rmcp"));
    }

    #[test]
    fn a_busy_run_is_flagged_by_the_spread_of_its_baselines() {
        let run = |min: f64, max: f64| {
            results(
                Value::Null,
                json!({"contenders": {
                    "unprotected": {"requests_per_sec_min": min, "requests_per_sec_max": max},
                    "actix_unprotected": {"requests_per_sec_min": 85000.0, "requests_per_sec_max": 92000.0},
                }}),
            )
        };
        assert_eq!(run(81310.0, 82897.0).loopback_warning(), "");
        assert_eq!(
            run(62102.0, 76596.0).loopback_warning(),
            "\nwarning: the unprotected loopback rounds ranged 62102–76596 req/s (+23 %): the\nhost was busy during this run, and its loopback ratios are not to be trusted; run again\n"
        );
    }

    #[test]
    fn evicted_lines_add_over_each_framework_baseline() {
        let figures =
            |code: f64, all: f64| json!({"code": {"p50_ns": code}, "all": {"p50_ns": all}});
        let report = results(
            json!({"evicted": {
                "request/unprotected": figures(2400.0, 4300.0),
                "request/authsec_wrapped": figures(3850.0, 7650.0),
                "request_actix/actix_unprotected": figures(3800.0, 6800.0),
                "request_actix/actix_authsec": figures(5700.0, 10300.0),
            }}),
            Value::Null,
        );
        let text = report.evicted_text();
        let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
        assert_eq!(lines.len(), 8, "{text}");
        assert!(lines[1].starts_with("POST tools/call in process, this core's caches evicted"));
        assert_eq!(
            lines[2],
            "of 5,000; first the 32 KiB instruction cache, then it and the L2):"
        );
        assert!(
            lines[3].ends_with("L1i evicted           L1i + L2"),
            "{:?}",
            lines[3]
        );
        assert_eq!(
            lines[4],
            format!(
                "  {:<44} {:>9}{:<12} {:>9}",
                "unprotected axum", "2.40 µs", "", "4.30 µs"
            )
        );
        assert_eq!(
            lines[5],
            format!(
                "  {:<44} {:>9}{:<12} {:>9}{}",
                "authsec wrapping the Router", "3.85 µs", " (+1.45 µs)", "7.65 µs", " (+3.35 µs)"
            )
        );
        assert!(lines[7].starts_with("  authsec-actix"), "{:?}", lines[7]);
        assert!(lines[7].ends_with("10.3 µs (+3.50 µs)"), "{:?}", lines[7]);
        assert_eq!(results(Value::Null, Value::Null).evicted_text(), "");
        // The L2's size, when the bench recorded it.
        for (bytes, named) in [
            (2 * 1024 * 1024, "the 2 MiB L2"),
            (1536 * 1024, "the 1536 KiB L2"),
        ] {
            let report = results(
                json!({
                    "evicted": {"request/unprotected": figures(2400.0, 4300.0)},
                    "evicted_l2_bytes": bytes,
                }),
                Value::Null,
            );
            let text = report.evicted_text();
            assert_eq!(
                text.lines().nth(2),
                Some(
                    format!("of 5,000; first the 32 KiB instruction cache, then it and {named}):")
                        .as_str()
                ),
                "{text}"
            );
        }
    }

    #[test]
    fn instruction_lines_add_over_their_baseline_with_the_sign_of_the_difference() {
        let mut report = results(Value::Null, Value::Null);
        report.instructions = json!({
            "request/unprotected": 12709.0,
            "request/floor": 14313.0,
            "request_get/unprotected": 11282.0,
            "request_get/floor": 11712.0,
        });
        report.code_lines = json!({
            "request/unprotected": 731.0,
            "request/floor": 764.0,
            "request_get/unprotected": 715.0,
            "request_get/floor": 708.0,
        });
        let text = report.instructions_text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 7, "{text}");
        let line = |label: &str, value: &str, added: &str, code: &str| {
            format!("  {label:<60} {value:>9}{added:<10}  {code}")
        };
        assert_eq!(
            lines[3],
            line(
                "POST tools/call, unprotected",
                "12709",
                "",
                "   731 code lines"
            )
        );
        assert_eq!(
            lines[4],
            line(
                "POST tools/call, the floor (no checks: a lower bound)",
                "14313",
                " (+1604)",
                "   764 code lines (+33)"
            )
        );
        // Fewer lines than the baseline read as a negative difference.
        assert_eq!(
            lines[6],
            line(
                "GET, the floor (the token compared)",
                "11712",
                " (+430)",
                "   708 code lines (-7)"
            )
        );
        report.instructions = Value::Null;
        assert_eq!(report.instructions_text(), "");
    }

    #[test]
    fn code_lines_count_each_64_byte_line_a_typical_request_runs_once() {
        let profile = "\
positions: instr line
events: Ir
fn=(1) main
0x1000 12 300
0x1010 0 600
0x103f 13 300
0x1040 14 0
calls=300 0x2000
0x1080 15 9000
0x10c0 15 2
fn=(2) other
0x2000 0 300
0x2040 0 330
0x2080 16 1
summary: 11633
";
        // 0x1000, 0x1010 and 0x103f share a line; 0x1040 ran nothing; `calls=` is no address
        // and the line after it an inclusive cost (0x1080 is counted by nothing else); 0x10c0
        // and 0x2080 ran for a few of the 300 requests; code without a line table (line 0:
        // `other`) counts like any other.
        assert_eq!(executed_code_lines(profile, 150), 3);
        // Every line that ran at all: 0x10c0 and 0x2080 too.
        assert_eq!(executed_code_lines(profile, 1), 5);
        let without_lines: String = profile
            .replace("positions: instr line", "positions: instr")
            .lines()
            .map(|l| match l.split_whitespace().collect::<Vec<_>>()[..] {
                [address, _line, cost] if address.starts_with("0x") => {
                    format!("{address} {cost}\n")
                }
                _ => format!("{l}\n"),
            })
            .collect();
        assert_eq!(executed_code_lines(&without_lines, 150), 3);
        assert_eq!(executed_code_lines("", 150), 0);
    }
}
