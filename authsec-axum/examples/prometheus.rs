//! Prometheus metrics for an authsec-protected server.
//!
//! authsec records its metrics through the `metrics` facade (names in `authsec_core::metric`):
//! install any recorder and they appear. Here, metrics-exporter-prometheus (no default
//! features: no HTTP listener of its own) renders them on a `/metrics` route of the same axum
//! app, outside the protected path.
//!
//! ```text
//! AUTHSEC_ISSUER=http://127.0.0.1:9000 cargo run -p authsec-axum --example prometheus
//! curl -s http://127.0.0.1:8813/mcp -d '{}'            # 401, counted
//! curl -s http://127.0.0.1:8813/metrics | grep authsec_
//! authsec_decisions_total{decision="deny",code="missing_token"} 1
//! ```
//!
//! `AUTHSEC_LISTEN` (default `127.0.0.1:8813`) and `AUTHSEC_RESOURCE` (default
//! `http://<listen>/mcp`) are read too.

use authsec_axum::{AuthsecLayer, metadata_router};
use authsec_core::{ToolManifest, metric};
use authsec_jwks::{RemoteIssuer, ValidationMode};
use axum::Router;
use axum::routing::{get, post};
use metrics_exporter_prometheus::PrometheusBuilder;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let issuer = env("AUTHSEC_ISSUER").ok_or("set AUTHSEC_ISSUER to the authorization server")?;
    let listen = env("AUTHSEC_LISTEN").unwrap_or_else(|| "127.0.0.1:8813".into());
    let resource = env("AUTHSEC_RESOURCE").unwrap_or_else(|| format!("http://{listen}/mcp"));

    // 1. The recorder, before anything records.
    let prometheus = PrometheusBuilder::new().install_recorder()?;
    metric::init();

    // 2. A protected endpoint, as in any authsec server.
    let guard = RemoteIssuer::discover(&issuer)
        .await?
        .guard(&resource, ValidationMode::Auto)?
        .manifest(ToolManifest::new().tool("list_notes", ["notes:read"]))
        .initial_scopes(["notes:read"])
        .build()?;
    let protected = Router::new()
        .route("/mcp", post(|| async { "{}" }))
        .layer(AuthsecLayer::new(guard.clone()));

    // 3. `/metrics`, unprotected (restrict it at the network level in production).
    let app = protected
        .merge(metadata_router(&guard))
        .route("/metrics", get(move || async move { prometheus.render() }));

    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("listening on http://{listen} (resource {resource}); metrics at /metrics");
    axum::serve(listener, app).await?;
    Ok(())
}
