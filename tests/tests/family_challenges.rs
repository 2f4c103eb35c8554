//! Challenges at HTTP level that no notes server configuration reaches: a resource that
//! requires scopes on every request (`GuardBuilder::require_scopes`), behind the real
//! `AuthsecLayer` in process, tokens from the dev issuer.
//!
//! - C5 of the AuthSec family's conflicts table: in the AuthSec profile a 403's `scope` lists
//!   only the required scopes; by default it is required ∪ granted (MCP 2025-11-25).
//! - Header bounds: a long scope list is cut at a whole scope within 200 characters in the
//!   challenge; the JSON body keeps the whole list.

use std::net::SocketAddr;

use authsec_axum::AuthsecLayer;
use authsec_core::Protection;
use authsec_core::inband::DenialDelivery;
use authsec_jwks::{RemoteIssuer, ValidationMode};
use authsec_tests::dev_issuer::DevIssuer;
use serde_json::{Value, json};

struct Server {
    issuer: DevIssuer,
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    /// A protected `GET /mcp` requiring `required` on every request.
    async fn start(delivery: DenialDelivery, required: &[String]) -> Server {
        let issuer = DevIssuer::start().await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/mcp", listener.local_addr().unwrap());
        let guard = RemoteIssuer::discover(issuer.issuer())
            .await
            .unwrap()
            .guard(url.as_str(), ValidationMode::Jwt)
            .unwrap()
            .require_scopes(required.iter().cloned())
            .build()
            .unwrap();
        let app = axum::Router::new()
            .route("/mcp", axum::routing::get(|| async { "ok" }))
            .layer(AuthsecLayer::from_protection(
                Protection::new(guard).denial_delivery(delivery),
            ));
        let task = tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap();
        });
        Server { issuer, url, task }
    }

    fn prm(&self) -> String {
        self.url
            .replace("/mcp", "/.well-known/oauth-protected-resource/mcp")
    }

    /// `GET /mcp` with a token holding `scope`: status, challenge, JSON body.
    async fn get(&self, scope: &str) -> (u16, Option<String>, Value) {
        let token = self
            .issuer
            .mint()
            .aud(self.url.as_str())
            .scope(scope)
            .sign();
        let response = reqwest::Client::new()
            .get(&self.url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(response.headers()["content-type"], "application/json");
        (status, challenge, response.json().await.unwrap())
    }
}

fn scopes(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn authsec_profile_scope_challenge_lists_only_the_required_scopes() {
    let s = Server::start(DenialDelivery::authsec_inband(), &scopes(&["notes:admin"])).await;
    let (status, challenge, body) = s.get("notes:read").await;
    assert_eq!(status, 403);
    assert_eq!(
        challenge.as_deref(),
        Some(
            format!(
                "Bearer error=\"insufficient_scope\", error_description=\"this operation requires the scopes: notes:admin\", scope=\"notes:admin\", resource_metadata=\"{}\"",
                s.prm()
            )
            .as_str()
        )
    );
    assert_eq!(
        body,
        json!({"error":"insufficient_scope","denial":"scope_insufficient",
            "error_description":"this operation requires the scopes: notes:admin",
            "granted_scopes":["notes:read"],"scope":"notes:admin",
            "required_scopes":["notes:admin"],"resource_metadata":s.prm()})
    );
}

#[tokio::test]
async fn by_default_the_scope_challenge_is_granted_union_required() {
    let s = Server::start(DenialDelivery::http(), &scopes(&["notes:admin"])).await;
    let (status, challenge, body) = s.get("notes:read").await;
    assert_eq!(status, 403);
    assert_eq!(
        challenge.as_deref(),
        Some(
            format!(
                "Bearer error=\"insufficient_scope\", error_description=\"this operation requires the scopes: notes:admin\", scope=\"notes:read notes:admin\", resource_metadata=\"{}\"",
                s.prm()
            )
            .as_str()
        )
    );
    assert_eq!(body["scope"], "notes:read notes:admin");
    assert_eq!(body["required_scopes"], json!(["notes:admin"]));
}

#[tokio::test]
async fn a_long_scope_list_is_cut_at_a_whole_scope_in_the_header_and_whole_in_the_body() {
    // 40 scopes of 13 characters after the granted one: 569 characters joined; the granted
    // scope and 13 required ones fit in 200 (192).
    let required: Vec<String> = (0..40).map(|i| format!("notes:area{i:03}")).collect();
    let s = Server::start(DenialDelivery::http(), &required).await;
    let (status, challenge, body) = s.get("notes:read").await;
    assert_eq!(status, 403);
    let challenge = challenge.unwrap();
    let description = format!("this operation requires the scopes: {}", required.join(" "));
    let mut kept = vec!["notes:read".to_owned()];
    kept.extend(required[..13].iter().cloned());
    assert_eq!(kept.join(" ").len(), 192);
    assert_eq!(
        challenge,
        format!(
            "Bearer error=\"insufficient_scope\", error_description=\"{}\", scope=\"{}\", resource_metadata=\"{}\"",
            &description[..200],
            kept.join(" "),
            s.prm()
        )
    );
    assert_eq!(body["error_description"], Value::from(description));
    let mut whole = vec!["notes:read".to_owned()];
    whole.extend(required.iter().cloned());
    assert_eq!(body["scope"], Value::from(whole.join(" ")));
    assert_eq!(body["required_scopes"], json!(required));
}
