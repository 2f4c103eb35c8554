//! AuthSec's control plane: the remote tool policy a resource server fetches, and the tool
//! manifest it publishes, with the same endpoints, credentials, JSON shapes, timings and policy
//! modes as the AuthSec SDK family (Go v0.6.0, Python 4.7.1; see the README's "AuthSec control
//! plane" section).
//!
//! ```text
//! GET {authorization_server}/authsec/resource-servers/{id}/sdk-policy           → SdkPolicy
//! PUT {authorization_server}/authsec/resource-servers/{id}/sdk-manifest         ← ManifestPayload
//! GET {authorization_server}/authsec/resource-servers/{id}/sdk-manifest-status  → ManifestStatus
//! ```
//!
//! All three use HTTP Basic with the resource server's introspection credentials (its id and
//! secret from the dashboard). In the request path, the policy is a
//! [`ManifestSource`](authsec_core::ManifestSource): [`RemoteToolPolicy`] serves the cached
//! policy and refreshes it in the background, one fetch at a time.
//!
//! ```no_run
//! use authsec_core::ToolManifest;
//! use authsec_jwks::RemoteIssuer;
//! use authsec_jwks::control_plane::{ControlPlane, PolicyMode, ToolPolicy};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let control_plane = ControlPlane::builder("https://as.example", "7d3f…-rs-uuid")
//!     .credentials("7d3f…-rs-uuid", "sec_…")
//!     .build()?;
//! let policy = ToolPolicy::builder(PolicyMode::RemoteRequired)
//!     .control_plane(control_plane)
//!     .start()
//!     .await?;
//! let issuer = RemoteIssuer::discover("https://as.example").await?;
//! let guard = policy
//!     .apply(issuer.guard("https://mcp.example.com/mcp", authsec_jwks::ValidationMode::Auto)?)
//!     .build()?;
//! # let _ = guard;
//! # Ok(())
//! # }
//! ```

mod client;
mod inventory;
mod policy;
mod remote;

pub use client::{ControlPlane, ControlPlaneBuilder, DEFAULT_TIMEOUT, ManifestStatus};
pub use inventory::{
    ManifestPayload, ManifestTool, McpPost, McpReply, McpTransport, PUBLISH_TIMEOUT,
    ServerInventory, ToolInventory, enumerate_tools, publish_in_background, publish_manifest,
};
pub use policy::{RemotePolicy, SdkPolicy, ToolPolicyEntry, manifest_from_tool_scopes};
pub use remote::{PolicyMode, PolicyTimings, RemoteToolPolicy, ToolPolicy, ToolPolicyBuilder};

use crate::error::FetchError;

/// A control-plane operation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ControlPlaneError {
    /// The request failed, or the answer was not the expected document.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The control plane answered `policy_complete: false`: the resource server is not set up
    /// yet (onboarding), and every tool is denied until it is.
    #[error(
        "the AuthSec tool policy is incomplete (state {state:?}, reason {reason:?}): finish the \
         resource server's setup in the dashboard (default role, tool mapping, launch)"
    )]
    PolicyIncomplete {
        /// `state` of the answer (`needs_setup`, `scan_failed`, `pending_scan`...).
        state: String,
        /// `reason` of the answer (`rs_needs_setup`, ...).
        reason: String,
    },
    /// No usable policy after waiting for a refresh another request started (its error).
    #[error("the AuthSec tool policy is unavailable: {0}")]
    PolicyUnavailable(String),
    /// The configuration cannot work (a policy mode without what it needs).
    #[error("{0}")]
    Config(String),
    /// The MCP server's tool inventory could not be enumerated.
    #[error("the tool inventory could not be read from the MCP server: {0}")]
    Inventory(String),
}
