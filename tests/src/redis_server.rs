//! A real `redis-server` for tests: started on a free loopback port with no persistence, ready
//! once it answers `PING`, killed on drop. It can also be paused (`SIGSTOP`, so clients hang
//! until their timeout), resumed, and stopped mid-test.
//!
//! Needs the `redis-server` binary (Debian package `redis-server`; `.ci/run` installs it).

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use crate::notes_server::free_port;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum RedisServerError {
    /// The binary is missing or could not be spawned.
    #[error("redis-server could not be started (install the redis-server package): {0}")]
    Spawn(String),
    /// It did not answer PING in time.
    #[error("redis-server did not answer PING within 10 s on port {0}")]
    NotReady(u16),
}

/// A running `redis-server`; killed on drop.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
}

impl RedisServer {
    /// Starts `redis-server` on a free port of 127.0.0.1 and waits until it answers PING.
    pub async fn start() -> Result<RedisServer, RedisServerError> {
        let port = free_port().map_err(|e| RedisServerError::Spawn(e.to_string()))?;
        Self::start_on(port).await
    }

    /// Starts `redis-server` on 127.0.0.1:`port` and waits until it answers PING.
    pub async fn start_on(port: u16) -> Result<RedisServer, RedisServerError> {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
                "--loglevel",
                "warning",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| RedisServerError::Spawn(e.to_string()))?;
        let server = RedisServer {
            child: Some(child),
            port,
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while tokio::time::Instant::now() < deadline {
            if server.ping().await {
                return Ok(server);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(RedisServerError::NotReady(port))
    }

    /// `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the server answers `PING` with `+PONG` within a second.
    pub async fn ping(&self) -> bool {
        let exchange = async {
            let mut stream = TcpStream::connect(("127.0.0.1", self.port)).await.ok()?;
            stream.write_all(b"PING\r\n").await.ok()?;
            let mut answer = [0u8; 7];
            stream.read_exact(&mut answer).await.ok()?;
            Some(&answer == b"+PONG\r\n")
        };
        tokio::time::timeout(Duration::from_secs(1), exchange)
            .await
            .ok()
            .flatten()
            .unwrap_or(false)
    }

    fn signal(&self, signal: &str) {
        if let Some(pid) = self.child.as_ref().and_then(Child::id) {
            let _ = std::process::Command::new("kill")
                .args([signal, &pid.to_string()])
                .status();
        }
    }

    /// Freezes the process (`SIGSTOP`): connections stay open but nothing answers.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Thaws a paused process (`SIGCONT`).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    /// Kills the process and waits for it to exit: the port refuses connections from now on.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            // SIGKILL also ends a paused (SIGSTOPped) process.
            let _ = child.start_kill();
        }
    }
}
