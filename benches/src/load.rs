//! Loopback HTTP load: serve a contender on 127.0.0.1 and drive it with `wrk` for a bounded
//! time.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::contenders::Served;
use crate::cpu::process_cpu_times;

/// Serves `served` on an ephemeral loopback port of the current Tokio runtime.
pub async fn serve(served: Served) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        let _ = match served {
            Served::Router(router) => axum::serve(listener, router).await,
            Served::Wrapped(service) => axum::serve(listener, service.into_make_service()).await,
            Served::Floor(floor) => axum::serve(listener, floor.into_make_service()).await,
        };
    });
    addr
}

/// Whether `wrk` is on the `PATH`.
pub fn wrk_available() -> bool {
    Command::new("wrk")
        .arg("--version")
        .output()
        .is_ok_and(|out| !out.stdout.is_empty() || !out.stderr.is_empty())
}

/// One load run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LoadResult {
    /// Requests per second over the run.
    pub requests_per_sec: f64,
    /// Median latency, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile latency, milliseconds.
    pub p99_ms: f64,
    /// Requests completed.
    pub requests: u64,
    /// The serving process's CPU time per request in user mode, microseconds (the server is in
    /// this process and `wrk` is not): with the kernel's share below, where the time of a
    /// request goes.
    #[serde(default)]
    pub server_user_us: Option<f64>,
    /// The same in the kernel (the loopback TCP stack, `epoll`, reads and writes).
    #[serde(default)]
    pub server_kernel_us: Option<f64>,
}

/// Runs `wrk` against `POST http://{addr}/mcp` with `token` and `body`, one wrk thread,
/// `connections` keep-alive connections, for `seconds`. Every response must be 2xx.
pub fn wrk(
    addr: SocketAddr,
    token: &str,
    body: &str,
    seconds: u64,
    connections: u32,
    scratch: &Path,
) -> Result<LoadResult, String> {
    let script = scratch.join(format!("wrk-{}.lua", addr.port()));
    let lua = format!(
        "wrk.method = \"POST\"\nwrk.body = [==[{body}]==]\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.headers[\"Accept\"] = \"application/json, text/event-stream\"\nwrk.headers[\"Authorization\"] = \"Bearer {token}\"\n"
    );
    std::fs::write(&script, lua).map_err(|e| format!("cannot write the wrk script: {e}"))?;
    let cpu_before = process_cpu_times();
    let output = Command::new("wrk")
        .args([
            "-t1",
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            "--timeout",
            "2s",
            "--latency",
            "-s",
        ])
        .arg(&script)
        .arg(format!("http://{addr}/mcp"))
        .output()
        .map_err(|e| format!("cannot run wrk: {e}"))?;
    let cpu_after = process_cpu_times();
    let _ = std::fs::remove_file(&script);
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        return Err(format!(
            "wrk failed: {}\n{text}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let mut result = parse_wrk(&text)?;
    if let (Some((user0, kernel0)), Some((user1, kernel1))) = (cpu_before, cpu_after)
        && result.requests > 0
    {
        let per_request = |d: Duration| d.as_secs_f64() * 1e6 / result.requests as f64;
        result.server_user_us = Some(per_request(user1.saturating_sub(user0)));
        result.server_kernel_us = Some(per_request(kernel1.saturating_sub(kernel0)));
    }
    Ok(result)
}

fn parse_wrk(text: &str) -> Result<LoadResult, String> {
    if let Some(line) = text.lines().find(|l| l.contains("Non-2xx")) {
        return Err(format!("some responses were not 2xx ({})", line.trim()));
    }
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .map(str::trim)
    };
    let requests_per_sec = field("Requests/sec:")
        .and_then(|v| v.parse::<f64>().ok())
        .ok_or_else(|| format!("no Requests/sec in wrk's output:\n{text}"))?;
    let p50_ms = field("50%").and_then(latency_ms).ok_or("no 50% latency")?;
    let p99_ms = field("99%").and_then(latency_ms).ok_or("no 99% latency")?;
    let requests = text
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    Ok(LoadResult {
        requests_per_sec,
        p50_ms,
        p99_ms,
        requests,
        server_user_us: None,
        server_kernel_us: None,
    })
}

/// `254.00us`, `1.02ms`, `1.10s` → milliseconds.
fn latency_ms(value: &str) -> Option<f64> {
    let split = value.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = value.split_at(split);
    let number: f64 = number.parse().ok()?;
    match unit {
        "us" => Some(number / 1000.0),
        "ms" => Some(number),
        "s" => Some(number * 1000.0),
        "m" => Some(number * 60_000.0),
        _ => None,
    }
}

/// One `POST /mcp` over a fresh connection (the smoke check, which needs no `wrk`): the
/// response's status and its whole text (head and body), to check what the server answered.
pub fn one_exchange(addr: SocketAddr, token: &str, body: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status line"))?;
    Ok((status, response))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrk_output() {
        let text = "Running 5s test @ http://127.0.0.1:1/mcp\n  1 threads and 32 connections\n  Latency Distribution\n     50%  254.00us\n     75%  300.00us\n     90%  400.00us\n     99%    1.02ms\n  123456 requests in 5.00s, 12.34MB read\nRequests/sec:  24690.12\nTransfer/sec:      2.47MB\n";
        let result = parse_wrk(text).unwrap();
        assert_eq!(result.requests, 123_456);
        assert!((result.requests_per_sec - 24_690.12).abs() < 1e-6);
        assert!((result.p50_ms - 0.254).abs() < 1e-9);
        assert!((result.p99_ms - 1.02).abs() < 1e-9);
        assert!(parse_wrk(&format!("{text}  Non-2xx or 3xx responses: 3\n")).is_err());
    }
}
