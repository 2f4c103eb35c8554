//! # authsec-cli
//!
//! The `authsec` command, one command away from each thing that commonly goes wrong when an MCP
//! server is put behind OAuth:
//!
//! | command | what it answers |
//! |---|---|
//! | `authsec check <server-url> [--token T] [--manifest FILE]` | does the live server challenge, publish its metadata, name the right resource, point at a sound authorization server, refuse garbage, filter `tools/list` and enforce scopes? |
//! | `authsec token inspect <token> [--resource URI --issuer URL --tool NAME --manifest FILE]` | why is this token refused? (`iss`, `aud`, `exp`, `scope`, decoded locally) |
//! | `authsec manifest export (--manifest FILE \| --server URL --token T)` | which scopes does each tool need? |
//! | `authsec manifest diff --manifest FILE (--server URL --token T \| --tools FILE)` | does the manifest match the tools the server offers? |
//! | `authsec manifest status [--config FILE]` | does the AuthSec control plane hold this server's tool manifest? (configured from `AUTHSEC_*` as the server is) |
//!
//! Every command prints a checklist (`PASS` / `FAIL` / `SKIP`, and the fix under each failure)
//! and exits `0` only when nothing failed, `1` when something did and `2` on a usage error, so
//! `authsec check` can gate a deploy.
//!
//! Install with `cargo install --path authsec-cli`. The library exposes the same commands for
//! tests and tools:
//!
//! ```
//! use authsec_cli::token::{Expectations, inspect};
//!
//! // {"alg":"none"} . {"iss":"https://as.example","aud":"https://x/mcp/","exp":1,"scope":"a"}
//! let token = "eyJhbGciOiJub25lIn0.eyJpc3MiOiJodHRwczovL2FzLmV4YW1wbGUiLCJhdWQiOiJodHRwczovL3gvbWNwLyIsImV4cCI6MSwic2NvcGUiOiJhIn0.";
//! let mut expect = Expectations::default();
//! expect.resource = Some("https://x/mcp".into());
//! let report = inspect(token, &expect).unwrap();
//! assert!(!report.passed());
//! assert!(report.to_string().contains(
//!     "FAIL  aud has https://x/mcp/ with a trailing slash; the resource is https://x/mcp"
//! ));
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod check;
pub mod checklist;
pub mod command;
pub mod manifest;
pub mod probe;
pub mod token;

pub use checklist::{Checklist, Item, Status};
pub use command::{Outcome, run};
