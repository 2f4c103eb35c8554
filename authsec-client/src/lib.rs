//! # authsec-client
//!
//! The agent side of authsec: an agent author wraps HTTP (or rmcp) calls to a protected MCP
//! server in one [`AuthClient`], and never writes OAuth code. On the first `401` the client
//! discovers the server's authorization server (RFC 9728 → RFC 8414 / OpenID), registers
//! (pre-registered client, client ID metadata document, or RFC 7591), logs in (authorization code
//! with PKCE S256 and RFC 8707 `resource`, through a loopback redirect listener and an "open this URL"
//! [`UserAgent`] hook; or client credentials for machine agents), stores and refreshes tokens
//! (single flight), and acts on every denial code of authsec-core's table with bounded
//! attempts, giving up with a [`ClientError`] that says what the user should do.
//!
//! Where it sits (see ARCHITECTURE.md): the server side renders each denial from
//! `authsec_core::denial`'s table; this crate reads them back ([`ServerDenial`]) with the same
//! vocabulary ([`authsec_core::DenialCode`]).
//!
//! ```no_run
//! use authsec_client::{AuthClient, FileTokenStore, UserAgent};
//!
//! struct PrintLink;
//!
//! #[async_trait::async_trait]
//! impl UserAgent for PrintLink {
//!     async fn open(&self, url: &url::Url) -> Result<(), String> {
//!         println!("Open this link to log in: {url}");
//!         Ok(())
//!     }
//! }
//!
//! # async fn run() -> Result<(), authsec_client::ClientError> {
//! let client = AuthClient::builder()
//!     .client_name("notes agent")
//!     .user_agent(PrintLink)
//!     .token_store(FileTokenStore::new("/tmp/notes-agent-tokens.json"))
//!     .observer(|event| eprintln!("client: {event}"))
//!     .build()?;
//! let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
//! let response = client
//!     .send(
//!         client
//!             .http()
//!             .post("https://notes.example/mcp")
//!             .header("accept", "application/json, text/event-stream")
//!             .json(&body),
//!     )
//!     .await?;
//! println!("{}", response.status());
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod authorization;
pub mod challenge;
mod client;
pub mod client_assertion;
pub mod denial;
pub mod discovery;
pub mod error;
pub mod event;
mod exchange;
mod loopback;
pub mod registration;
#[cfg(feature = "rmcp")]
pub mod rmcp;
pub mod store;
pub mod token;

pub use authorization::{AuthorizationRequest, HeadlessUserAgent, UserAgent};
pub use challenge::{Challenge, parse_www_authenticate};
pub use client::{Attempts, AuthClient, AuthClientBuilder};
pub use client_assertion::PrivateKeyJwt;
pub use denial::ServerDenial;
pub use discovery::{AuthServerMetadata, IssuerCheck, ResourceMetadata};
pub use error::ClientError;
pub use event::ClientEvent;
pub use registration::{Registration, RegistrationSource, TokenEndpointAuth};
pub use store::{FileTokenStore, MemoryTokenStore, TokenStore};
pub use token::TokenSet;
