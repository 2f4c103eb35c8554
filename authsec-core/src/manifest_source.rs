//! A tool manifest that changes while the server runs.
//!
//! The [`Guard`](crate::Guard) enforces a fixed [`ToolManifest`] given with
//! [`GuardBuilder::manifest`](crate::GuardBuilder::manifest), or reads a [`ManifestSource`]
//! given with [`GuardBuilder::manifest_source`](crate::GuardBuilder::manifest_source) on each
//! request that names a tool or lists tools. A source hands out cheap snapshots (an `Arc`), so
//! the request path takes no lock and a request sees one manifest from start to end.
//!
//! Sources: [`SharedManifest`] (replace the manifest from anywhere, e.g. on a config reload),
//! and authsec-jwks' remote tool policy (AuthSec's control plane, refreshed in the background).
//!
//! ```
//! use std::sync::Arc;
//! use authsec_core::{ScopeSet, SharedManifest, ToolManifest, ManifestSource};
//!
//! let live = Arc::new(SharedManifest::new(ToolManifest::new().tool("list_notes", ["notes:read"])));
//! // Give `live.clone()` to GuardBuilder::manifest_source_arc; later, from anywhere:
//! live.replace(ToolManifest::new().tool("list_notes", ["notes:list"]))?;
//! let current = live.current().unwrap();
//! assert!(current.allows("list_notes", &ScopeSet::parse("notes:list")));
//! # Ok::<(), authsec_core::ConfigError>(())
//! ```

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::denial::Denial;
use crate::error::ConfigError;
use crate::manifest::ToolManifest;

/// Where a [`Guard`](crate::Guard) reads the tool manifest at run time.
///
/// `current` is called on the request path of every request that calls or lists tools: it must
/// not block or reach the network (start a background refresh instead).
pub trait ManifestSource: Send + Sync + 'static {
    /// The manifest to enforce now, or the denial to answer with when there is none (e.g.
    /// `authorization_unavailable` while a remote policy cannot be had).
    fn current(&self) -> Result<Arc<ToolManifest>, Denial>;

    /// The `scopes_supported` the RFC 9728 document should advertise now, when this source
    /// knows better than the configuration; `None` falls back to the Guard's own.
    fn scopes_supported(&self) -> Option<Vec<String>> {
        None
    }
}

/// A manifest replaced atomically: readers get the old or the new one, never a mix, and
/// never wait.
#[derive(Debug)]
pub struct SharedManifest {
    manifest: ArcSwap<ToolManifest>,
}

impl SharedManifest {
    /// Starts with `manifest` (validated when the Guard is built).
    pub fn new(manifest: ToolManifest) -> Self {
        SharedManifest {
            manifest: ArcSwap::from_pointee(manifest),
        }
    }

    /// Replaces the manifest once it is valid ([`ToolManifest::validate`]); requests already
    /// being checked keep the one they started with. An invalid manifest changes nothing.
    pub fn replace(&self, manifest: ToolManifest) -> Result<(), ConfigError> {
        manifest.validate()?;
        self.manifest.store(Arc::new(manifest));
        Ok(())
    }
}

impl ManifestSource for SharedManifest {
    fn current(&self) -> Result<Arc<ToolManifest>, Denial> {
        Ok(self.manifest.load_full())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;
    use serde_json::json;

    use super::*;
    use crate::bearer::Authorization;
    use crate::guard::{AccessRequest, Decision, Guard};
    use crate::manifest::ToolRule;
    use crate::mcp::{McpHeaders, classify};
    use crate::principal::{Claims, Principal, TokenSource};
    use crate::verifier::TokenVerifier;

    /// Accepts any token as `alice` with the scopes written in the token itself (`+` for a
    /// space, `~` for a colon: the bearer token alphabet has neither).
    struct ScopesInToken;

    #[async_trait]
    impl TokenVerifier for ScopesInToken {
        async fn verify(&self, token: &str) -> Result<Claims, Denial> {
            let raw = json!({"sub": "alice", "scope": token.replace('+', " ").replace('~', ":")});
            let serde_json::Value::Object(raw) = raw else {
                unreachable!()
            };
            Claims::from_map(raw, TokenSource::Introspection).map_err(Denial::invalid_token)
        }
    }

    /// A source with no policy to give, counting how often it is asked.
    #[derive(Default)]
    struct Unavailable {
        asked: AtomicUsize,
    }

    impl ManifestSource for Unavailable {
        fn current(&self) -> Result<Arc<ToolManifest>, Denial> {
            self.asked.fetch_add(1, Ordering::SeqCst);
            Err(Denial::authorization_unavailable(
                "the tool policy is unavailable",
            ))
        }
    }

    fn guard(source: Arc<dyn ManifestSource>) -> Guard {
        Guard::builder("https://h/mcp")
            .authorization_server("https://as")
            .verifier(ScopesInToken)
            .manifest_source_arc(source)
            .build()
            .unwrap()
    }

    async fn call(guard: &Guard, scopes: &str, body: &str) -> Result<Principal, u16> {
        let header = format!("Bearer {}", scopes.replace(' ', "+").replace(':', "~"));
        let mcp = classify(body.as_bytes(), McpHeaders::default()).unwrap();
        let request =
            AccessRequest::new(Authorization::from_values([header.as_bytes()])).mcp(Some(&mcp));
        match guard.check(&request).await {
            Decision::Allow(principal) => Ok(principal),
            Decision::Deny(denial) => Err(denial.status()),
        }
    }

    const CALL_ADD: &str =
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add_note"}}"#;
    const LIST: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    const PING: &str = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;

    #[tokio::test]
    async fn a_replaced_manifest_applies_to_the_next_request() {
        let live = Arc::new(SharedManifest::new(
            ToolManifest::new().tool("add_note", ["notes:write"]),
        ));
        let guard = guard(live.clone());
        assert_eq!(call(&guard, "notes:read", CALL_ADD).await.err(), Some(403));
        assert!(call(&guard, "notes:write", CALL_ADD).await.is_ok());
        live.replace(ToolManifest::new().rule("add_note", ToolRule::any_of(["notes:read", "x"])))
            .unwrap();
        let principal = call(&guard, "notes:read", CALL_ADD).await.unwrap();
        assert!(guard.may_call(&principal, "add_note"));
        assert!(!guard.may_call(&principal, "list_notes"));
        live.replace(ToolManifest::new()).unwrap();
        assert_eq!(call(&guard, "notes:read", CALL_ADD).await.err(), Some(403));
        assert!(!guard.may_call(&principal, "add_note"));
        assert!(guard.manifest().tools().next().is_none());
    }

    #[test]
    fn an_invalid_replacement_changes_nothing() {
        let live = SharedManifest::new(ToolManifest::new().tool("add_note", ["notes:write"]));
        let err = live
            .replace(ToolManifest::new().tool("add_note", ["two words"]))
            .unwrap_err();
        assert!(err.message().contains("add_note"), "{err}");
        assert!(
            live.current()
                .unwrap()
                .allows("add_note", &crate::ScopeSet::parse("notes:write"))
        );
    }

    #[tokio::test]
    async fn without_a_policy_tool_requests_are_503_and_others_never_ask() {
        let source = Arc::new(Unavailable::default());
        let guard = guard(source.clone());
        let at_build = source.asked.load(Ordering::SeqCst);
        assert_eq!(call(&guard, "a", CALL_ADD).await.err(), Some(503));
        assert_eq!(call(&guard, "a", LIST).await.err(), Some(503));
        assert_eq!(source.asked.load(Ordering::SeqCst), at_build + 2);
        let principal = call(&guard, "a", PING).await.unwrap();
        assert_eq!(source.asked.load(Ordering::SeqCst), at_build + 2);
        assert!(!guard.may_call(&principal, "add_note"));
        assert!(guard.current_manifest().is_err());
    }

    #[test]
    fn scopes_supported_come_from_the_live_source_then_the_configuration() {
        struct Scoped;
        impl ManifestSource for Scoped {
            fn current(&self) -> Result<Arc<ToolManifest>, Denial> {
                Ok(Arc::new(ToolManifest::new().tool("a", ["m:a"])))
            }
            fn scopes_supported(&self) -> Option<Vec<String>> {
                Some(vec!["live:read".into()])
            }
        }
        assert_eq!(
            guard(Arc::new(Scoped)).metadata().scopes_supported,
            ["live:read"]
        );
        let live = Arc::new(SharedManifest::new(ToolManifest::new().tool("a", ["m:a"])));
        assert_eq!(guard(live.clone()).metadata().scopes_supported, ["m:a"]);
        let configured = Guard::builder("https://h/mcp")
            .authorization_server("https://as")
            .verifier(ScopesInToken)
            .scopes_supported(["configured"])
            .manifest_source_arc(live.clone())
            .build()
            .unwrap();
        assert_eq!(configured.metadata().scopes_supported, ["configured"]);
        let endpoint = crate::adapter::MetadataEndpoint::new(&guard(live.clone()));
        live.replace(ToolManifest::new().tool("a", ["m:b"]))
            .unwrap();
        assert!(endpoint.body().contains("m:a"));
        assert!(
            endpoint
                .document()
                .contains("\"scopes_supported\":[\"m:b\"]")
        );
    }
}
