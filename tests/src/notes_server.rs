//! Runs a notes demo server (the `notes-server` example of `authsec-axum` or the
//! `notes-server-actix` example of `authsec-actix`) as a real process on loopback, configured only through its documented
//! environment, as a user would run it. Both examples follow one contract, so the same tests run
//! against either adapter.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Which adapter's notes server to run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Adapter {
    /// `authsec-axum`'s `notes-server` example (rmcp's tower service behind `AuthsecLayer`).
    #[default]
    Axum,
    /// `authsec-actix`'s `notes-server-actix` example (rmcp bridged into actix-web behind
    /// `Authsec`).
    Actix,
}

impl Adapter {
    /// Every adapter, for tests that run against each.
    pub const ALL: [Adapter; 2] = [Adapter::Axum, Adapter::Actix];

    /// The package whose notes server example this is.
    pub fn package(self) -> &'static str {
        match self {
            Adapter::Axum => "authsec-axum",
            Adapter::Actix => "authsec-actix",
        }
    }

    /// The name of that example (distinct, so that cargo's uplifted binaries do not collide).
    pub fn example(self) -> &'static str {
        match self {
            Adapter::Axum => "notes-server",
            Adapter::Actix => "notes-server-actix",
        }
    }
}

#[doc(hidden)]
pub use pastey as __pastey;

/// Turns each `async fn behaviour(adapter: Adapter)` into two tests, `behaviour_axum` and
/// `behaviour_actix`: one behaviour matrix, written once, run against both adapters.
///
/// ```ignore
/// async fn missing_token_is_401(adapter: Adapter) { /* ... */ }
/// on_both_adapters!(missing_token_is_401);
/// ```
#[macro_export]
macro_rules! on_both_adapters {
    ($($behaviour:ident),+ $(,)?) => {
        $crate::notes_server::__pastey::paste! { $(
            #[tokio::test]
            async fn [<$behaviour _axum>]() {
                $behaviour($crate::notes_server::Adapter::Axum).await;
            }

            #[tokio::test]
            async fn [<$behaviour _actix>]() {
                $behaviour($crate::notes_server::Adapter::Actix).await;
            }
        )+ }
    };
}

/// Environment for one notes server.
#[derive(Clone, Debug, Default)]
pub struct NotesEnv {
    /// Which adapter's example runs (not an environment variable: it picks the binary).
    pub adapter: Adapter,
    /// `AUTHSEC_ISSUER`.
    pub issuer: String,
    /// `AUTHSEC_INTROSPECTION_CLIENT_ID` / `_SECRET`.
    pub introspection: Option<(String, String)>,
    /// `AUTHSEC_INTROSPECTION_CACHE_SECONDS`.
    pub introspection_cache_seconds: Option<u64>,
    /// `AUTHSEC_NOTES_JSON_RESPONSE=1` (stateless, `application/json` responses).
    pub json_response: bool,
    /// `AUTHSEC_RESOURCE` override (default: `http://127.0.0.1:PORT/mcp`).
    pub resource: Option<String>,
    /// Port on 127.0.0.1 (default: a free one).
    pub port: Option<u16>,
    /// `AUTHSEC_VALIDATION_MODE`.
    pub validation_mode: Option<String>,
    /// Extra variables.
    pub extra: Vec<(String, String)>,
}

impl NotesEnv {
    /// JWT-only validation against `issuer`.
    pub fn new(issuer: impl Into<String>) -> Self {
        NotesEnv {
            issuer: issuer.into(),
            ..Default::default()
        }
    }

    /// Adds introspection with these credentials and cache seconds.
    pub fn introspection(mut self, id: &str, secret: &str, cache_seconds: u64) -> Self {
        self.introspection = Some((id.to_owned(), secret.to_owned()));
        self.introspection_cache_seconds = Some(cache_seconds);
        self
    }

    /// Stateless JSON responses instead of SSE.
    pub fn json_response(mut self) -> Self {
        self.json_response = true;
        self
    }

    /// Runs this adapter's example (default: axum).
    pub fn adapter(mut self, adapter: Adapter) -> Self {
        self.adapter = adapter;
        self
    }
}

/// A running notes server; killed on drop.
pub struct NotesServer {
    child: Child,
    base: String,
    resource: String,
}

/// Why the notes server could not start.
#[derive(Debug, thiserror::Error)]
pub enum NotesServerError {
    /// Building the example failed.
    #[error("building the notes server example failed: {0}")]
    Build(String),
    /// The process could not be spawned or exited early.
    #[error("the notes server did not start: {0}")]
    Start(String),
}

impl NotesServer {
    /// Builds the example if needed, starts it on a free loopback port and waits until it
    /// listens.
    pub async fn start(env: NotesEnv) -> Result<NotesServer, NotesServerError> {
        let binary = notes_server_binary_for(env.adapter)?;
        let port = match env.port {
            Some(port) => port,
            None => free_port().map_err(|e| NotesServerError::Start(e.to_string()))?,
        };
        let listen = format!("127.0.0.1:{port}");
        let resource = env
            .resource
            .clone()
            .unwrap_or_else(|| format!("http://{listen}/mcp"));
        let mut command = Command::new(&binary);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AUTHSEC_LISTEN", &listen)
            .env("AUTHSEC_ISSUER", &env.issuer)
            .env("AUTHSEC_RESOURCE", &resource)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        if let Some((id, secret)) = &env.introspection {
            command
                .env("AUTHSEC_INTROSPECTION_CLIENT_ID", id)
                .env("AUTHSEC_INTROSPECTION_CLIENT_SECRET", secret);
        }
        if let Some(seconds) = env.introspection_cache_seconds {
            command.env("AUTHSEC_INTROSPECTION_CACHE_SECONDS", seconds.to_string());
        }
        if let Some(mode) = &env.validation_mode {
            command.env("AUTHSEC_VALIDATION_MODE", mode);
        }
        if env.json_response {
            command.env("AUTHSEC_NOTES_JSON_RESPONSE", "1");
        }
        for (name, value) in &env.extra {
            command.env(name, value);
        }
        let mut child = command
            .spawn()
            .map_err(|e| NotesServerError::Start(format!("{}: {e}", binary.display())))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| NotesServerError::Start("no stdout".into()))?;
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.starts_with("notes-server listening on") {
                    return Ok(());
                }
            }
            Err(NotesServerError::Start(
                "the process exited before listening (see its stderr above)".into(),
            ))
        })
        .await
        .map_err(|_| NotesServerError::Start("no listening line within 30 s".into()))?;
        ready?;
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(NotesServer {
            child,
            base: format!("http://{listen}"),
            resource,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The MCP endpoint (the resource URI).
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops the server.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// The compiled axum `notes-server` example of the current profile, built on demand.
pub fn notes_server_binary() -> Result<PathBuf, NotesServerError> {
    notes_server_binary_for(Adapter::Axum)
}

/// The compiled notes server example of `adapter`'s package ([`Adapter::example`]), in the
/// current profile.
///
/// Built on demand with `cargo build -p <package> --example <example>`, unless
/// `AUTHSEC_EXAMPLE_BIN_<PACKAGE>_<EXAMPLE>` is set (by `cargo xtask test`, whose workspace
/// build already built it). The path returned is the example's own `examples/<example>-<hash>`,
/// checked through its dep-info file to be built from the package's source. Of several builds of
/// that example (other feature sets), the newest is taken: a build that just ran, or was fresh,
/// is not older than the last change to its sources, so nothing newer is stale.
pub fn notes_server_binary_for(adapter: Adapter) -> Result<PathBuf, NotesServerError> {
    // One build at a time per process; each adapter is resolved once.
    static RESOLVED: Mutex<Vec<(Adapter, PathBuf)>> = Mutex::new(Vec::new());
    let mut resolved = RESOLVED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((_, path)) = resolved.iter().find(|(a, _)| *a == adapter) {
        return Ok(path.clone());
    }
    let (target_profile_dir, release) = target_profile_dir();
    let prebuilt = format!(
        "AUTHSEC_EXAMPLE_BIN_{}_{}",
        adapter.package(),
        adapter.example()
    )
    .to_ascii_uppercase()
    .replace('-', "_");
    let examples = match std::env::var_os(&prebuilt) {
        Some(path) => PathBuf::from(path)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| target_profile_dir.join("examples")),
        None => {
            build_example(adapter, release)?;
            target_profile_dir.join("examples")
        }
    };
    let binary = newest_example_build(&examples, adapter).ok_or_else(|| {
        NotesServerError::Build(format!(
            "no build of {}'s {} example in {}",
            adapter.package(),
            adapter.example(),
            examples.display()
        ))
    })?;
    resolved.push((adapter, binary.clone()));
    Ok(binary)
}

/// `cargo build -p <package> --example <example>`: cheap when up to date; makes
/// `cargo test -p authsec-tests` work on its own.
fn build_example(adapter: Adapter, release: bool) -> Result<(), NotesServerError> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .to_path_buf();
    let mut command =
        std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.current_dir(&workspace).args([
        "build",
        "--quiet",
        "-p",
        adapter.package(),
        "--example",
        adapter.example(),
    ]);
    if release {
        command.arg("--release");
    }
    let status = command
        .status()
        .map_err(|e| NotesServerError::Build(e.to_string()))?;
    if status.success() {
        Ok(())
    } else {
        Err(NotesServerError::Build(format!(
            "cargo exited with {status}"
        )))
    }
}

/// The most recently linked `<example>-<hash>` (dashes as underscores) in `examples` whose
/// dep-info names `<package>/examples/<example>.rs`.
fn newest_example_build(examples: &Path, adapter: Adapter) -> Option<PathBuf> {
    let source = format!("{}/examples/{}.rs", adapter.package(), adapter.example());
    let prefix = format!("{}-", adapter.example().replace('-', "_"));
    std::fs::read_dir(examples)
        .ok()?
        .flatten()
        .filter_map(|entry| {
            let path = entry.path();
            let name = path.file_name()?.to_str()?;
            if !name.starts_with(&prefix) || path.extension().is_some() {
                return None;
            }
            let dep_info = std::fs::read_to_string(path.with_extension("d")).ok()?;
            let ours = dep_info
                .split_whitespace()
                .any(|dep| dep == source || dep.ends_with(&format!("/{source}")));
            let linked = entry.metadata().ok()?.modified().ok()?;
            ours.then_some((linked, path))
        })
        .max_by_key(|(linked, _)| *linked)
        .map(|(_, path)| path)
}

/// `target/debug` or `target/release`, from the running executable's location
/// (`target/<profile>/deps/<test>` or `target/<profile>/<bin>`).
fn target_profile_dir() -> (PathBuf, bool) {
    let exe = std::env::current_exe().unwrap_or_default();
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let release = dir.file_name().is_some_and(|name| name == "release");
    (dir, release)
}
