//! The loopback redirect listener (RFC 8252 §7.3) for CLI agents: `http://127.0.0.1:PORT/callback`
//! on an ephemeral port, bound once per client so the registered redirect URI stays valid.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use url::Url;

use crate::error::ClientError;

/// Longest request head read from a browser.
const MAX_HEAD: usize = 16 * 1024;

/// A bound loopback listener.
#[derive(Debug)]
pub(crate) struct Loopback {
    listener: tokio::sync::Mutex<TcpListener>,
    redirect_uri: String,
}

impl Loopback {
    /// Binds 127.0.0.1 on `port` (0 = ephemeral).
    pub(crate) async fn bind(port: u16) -> Result<Self, ClientError> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.map_err(|e| {
            ClientError::Authorization(format!(
                "cannot listen on 127.0.0.1:{port} for the redirect: {e}"
            ))
        })?;
        let port = listener
            .local_addr()
            .map_err(|e| ClientError::Authorization(e.to_string()))?
            .port();
        Ok(Loopback {
            listener: tokio::sync::Mutex::new(listener),
            redirect_uri: format!("http://127.0.0.1:{port}/callback"),
        })
    }

    /// The redirect URI to register and send.
    pub(crate) fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// Waits for the authorization response whose `state` is `state`; other requests (a
    /// favicon, a stale or forged callback) are answered and discarded (CL-MCP-15).
    pub(crate) async fn receive(&self, state: &str, timeout: Duration) -> Result<Url, ClientError> {
        let listener = self.listener.lock().await;
        let wait = async {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                if let Some(url) = self.serve(stream, state).await {
                    return url;
                }
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .map_err(|_| ClientError::AuthorizationTimeout(timeout))
    }

    /// Reads one request; returns its URL when it is the expected callback.
    async fn serve(&self, mut stream: TcpStream, state: &str) -> Option<Url> {
        let mut head = Vec::with_capacity(1024);
        let mut buf = [0u8; 1024];
        let read = tokio::time::timeout(Duration::from_secs(10), async {
            while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await;
        let target = read.ok().and_then(|()| {
            let line = head.split(|b| *b == b'\n').next()?;
            let line = std::str::from_utf8(line).ok()?;
            let mut parts = line.split_ascii_whitespace();
            (parts.next()? == "GET").then_some(())?;
            Some(parts.next()?.to_owned())
        });
        let url = target.and_then(|t| Url::parse(&format!("http://127.0.0.1{t}")).ok());
        let (status, body, found) = match url {
            Some(url) if url.path() == "/callback" => {
                let matches = url.query_pairs().any(|(k, v)| k == "state" && v == state);
                if matches {
                    (
                        "200 OK",
                        "Login complete. You can close this window and return to the agent.",
                        Some(url),
                    )
                } else {
                    ("400 Bad Request", "Unknown or stale login response.", None)
                }
            }
            _ => ("404 Not Found", "Not found.", None),
        };
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\ncache-control: no-store\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
        found
    }
}
