//! A local stand-in of AuthSec's control plane, for tests only (not for production).
//!
//! It follows the endpoints and JSON shapes of the AuthSec SDK family as documented for Go
//! v0.6.0 / Python 4.7.1 (`shared/peers/authsec-platform.md` §4 and §5):
//!
//! | route | answer |
//! |---|---|
//! | `GET /authsec/resource-servers/{id}/sdk-policy` | the policy set with [`ControlPlaneStandIn::set_policy`] (or a failure status, after an optional delay); counted |
//! | `PUT /authsec/resource-servers/{id}/sdk-manifest` | `200 {"status":"success"}` (or the status set with [`ControlPlaneStandIn::set_manifest_status`]); each body and `Authorization` recorded |
//! | `GET /authsec/resource-servers/{id}/sdk-manifest-status` | `{"status":"success","tool_count":N}` after a successful PUT, else `404` |
//!
//! Every route requires HTTP Basic with the resource server's id and secret given at start
//! (`401` otherwise) and an `{id}` equal to the configured one (`404` otherwise). It binds
//! 127.0.0.1 on a free port and stops when dropped.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

/// What `sdk-policy` answers.
#[derive(Clone, Debug)]
pub enum PolicyAnswer {
    /// `200` with this JSON document.
    Document(Value),
    /// This status with a short JSON error body.
    Failure(u16),
}

/// One recorded `PUT …/sdk-manifest`.
#[derive(Clone, Debug)]
pub struct RecordedManifest {
    /// The body, byte for byte.
    pub body: String,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
}

#[derive(Debug)]
struct Inner {
    resource_server_id: String,
    expected_authorization: String,
    policy: Mutex<PolicyAnswer>,
    policy_delay: Mutex<Duration>,
    policy_fetches: AtomicUsize,
    policy_authorizations: Mutex<Vec<Option<String>>>,
    manifest_status: Mutex<u16>,
    manifests: Mutex<Vec<RecordedManifest>>,
}

/// The running stand-in.
#[derive(Debug)]
pub struct ControlPlaneStandIn {
    addr: SocketAddr,
    inner: Arc<Inner>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for ControlPlaneStandIn {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A `ready` policy in the family's current shape: `tool_policy` entries `(name, scopes)`,
/// where no scopes means public; `tools` mirrors them (the legacy map) and `scopes_supported`
/// lists every scope once.
pub fn ready_policy(generation: u64, tools: &[(&str, &[&str])]) -> Value {
    let mut scopes: Vec<&str> = Vec::new();
    for (_, required) in tools {
        for scope in *required {
            if !scopes.contains(scope) {
                scopes.push(scope);
            }
        }
    }
    let tool_policy: Vec<Value> = tools
        .iter()
        .map(|(name, required)| {
            json!({"name": name, "is_public": required.is_empty(), "required_scopes": required})
        })
        .collect();
    let legacy: serde_json::Map<String, Value> = tools
        .iter()
        .map(|(name, required)| ((*name).to_owned(), json!(required)))
        .collect();
    json!({
        "state": "ready",
        "policy_complete": true,
        "reason": "",
        "rs_id": "",
        "generation": generation,
        "scopes_supported": scopes,
        "tools": legacy,
        "tool_policy": tool_policy,
        "fetched_at": "2026-11-26T12:00:00Z",
        "ttl_seconds": 30
    })
}

/// The answer for a resource server still being set up (`policy_complete: false`).
pub fn needs_setup_policy() -> Value {
    json!({
        "state": "needs_setup",
        "policy_complete": false,
        "reason": "rs_needs_setup",
        "rs_id": "",
        "generation": 0,
        "scopes_supported": [],
        "tools": {},
        "tool_policy": [],
        "ttl_seconds": 30
    })
}

impl ControlPlaneStandIn {
    /// Starts the stand-in for `resource_server_id`, accepting `client_id:client_secret` in
    /// Basic auth, serving `needs_setup` until [`set_policy`](Self::set_policy).
    pub async fn start(
        resource_server_id: &str,
        client_id: &str,
        client_secret: &str,
    ) -> std::io::Result<Self> {
        let inner = Arc::new(Inner {
            resource_server_id: resource_server_id.to_owned(),
            expected_authorization: format!(
                "Basic {}",
                STANDARD.encode(format!("{client_id}:{client_secret}"))
            ),
            policy: Mutex::new(PolicyAnswer::Document(needs_setup_policy())),
            policy_delay: Mutex::new(Duration::ZERO),
            policy_fetches: AtomicUsize::new(0),
            policy_authorizations: Mutex::new(Vec::new()),
            manifest_status: Mutex::new(200),
            manifests: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/authsec/resource-servers/{id}/sdk-policy", get(policy))
            .route(
                "/authsec/resource-servers/{id}/sdk-manifest",
                axum::routing::put(put_manifest),
            )
            .route(
                "/authsec/resource-servers/{id}/sdk-manifest-status",
                get(manifest_status),
            )
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(ControlPlaneStandIn {
            addr,
            inner,
            server,
        })
    }

    /// `http://127.0.0.1:{port}`: the authorization server base URL to configure.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answers `sdk-policy` with `document` from now on.
    pub fn set_policy(&self, document: Value) {
        *lock(&self.inner.policy) = PolicyAnswer::Document(document);
    }

    /// Answers `sdk-policy` with `status` from now on.
    pub fn fail_policy(&self, status: u16) {
        *lock(&self.inner.policy) = PolicyAnswer::Failure(status);
    }

    /// Delays each `sdk-policy` answer.
    pub fn set_policy_delay(&self, delay: Duration) {
        *lock(&self.inner.policy_delay) = delay;
    }

    /// How many `sdk-policy` requests arrived (answered or not, authorized or not).
    pub fn policy_fetches(&self) -> usize {
        self.inner.policy_fetches.load(Ordering::SeqCst)
    }

    /// The `Authorization` header of each `sdk-policy` request, in order.
    pub fn policy_authorizations(&self) -> Vec<Option<String>> {
        lock(&self.inner.policy_authorizations).clone()
    }

    /// Answers `PUT sdk-manifest` with `status` from now on.
    pub fn set_manifest_status(&self, status: u16) {
        *lock(&self.inner.manifest_status) = status;
    }

    /// The recorded `PUT sdk-manifest` requests, in order.
    pub fn manifests(&self) -> Vec<RecordedManifest> {
        lock(&self.inner.manifests).clone()
    }
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn error(status: u16, error: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(json!({"error": error}))).into_response()
}

/// `None` when the request may proceed, else the error response.
fn refuse(inner: &Inner, id: &str, headers: &HeaderMap) -> Option<Response> {
    if header_text(headers, header::AUTHORIZATION).as_deref()
        != Some(inner.expected_authorization.as_str())
    {
        return Some(error(401, "unauthorized"));
    }
    (id != inner.resource_server_id).then(|| error(404, "resource server not found"))
}

async fn policy(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    inner.policy_fetches.fetch_add(1, Ordering::SeqCst);
    lock(&inner.policy_authorizations).push(header_text(&headers, header::AUTHORIZATION));
    let delay = *lock(&inner.policy_delay);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Some(refused) = refuse(&inner, &id, &headers) {
        return refused;
    }
    let answer = lock(&inner.policy).clone();
    match answer {
        PolicyAnswer::Document(mut document) => {
            if document.get("rs_id").is_some_and(|v| v == "") {
                document["rs_id"] = json!(inner.resource_server_id);
            }
            axum::Json(document).into_response()
        }
        PolicyAnswer::Failure(status) => error(status, "policy backend failure"),
    }
}

async fn put_manifest(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    lock(&inner.manifests).push(RecordedManifest {
        body: String::from_utf8_lossy(&body).into_owned(),
        authorization: header_text(&headers, header::AUTHORIZATION),
        content_type: header_text(&headers, header::CONTENT_TYPE),
    });
    if let Some(refused) = refuse(&inner, &id, &headers) {
        return refused;
    }
    let status = *lock(&inner.manifest_status);
    if status != 200 {
        return error(status, "manifest rejected");
    }
    axum::Json(json!({"status": "success"})).into_response()
}

async fn manifest_status(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = refuse(&inner, &id, &headers) {
        return refused;
    }
    let ok = *lock(&inner.manifest_status) == 200;
    let last = lock(&inner.manifests).last().cloned();
    match last.filter(|_| ok) {
        Some(recorded) => {
            let count = serde_json::from_str::<Value>(&recorded.body)
                .ok()
                .and_then(|v| v["tools"].as_array().map(Vec::len))
                .unwrap_or(0);
            axum::Json(json!({"status": "success", "tool_count": count})).into_response()
        }
        None => error(404, "no manifest yet"),
    }
}
