//! `authsec-conformance-client`: the client the MCP conformance suite
//! (`npx @modelcontextprotocol/conformance client --command <this> --suite auth`, pinned in
//! tests/conformance) runs for every client scenario. Run it through `cargo xtask conformance`.
//!
//! The suite's contract: the server URL is the last argument, `MCP_CONFORMANCE_SCENARIO` names
//! the scenario, and `MCP_CONFORMANCE_CONTEXT` (JSON) carries what some scenarios hand over, such
//! as pre-registered credentials or a client key.
//!
//! Everything OAuth is authsec-client's; this binary only configures it and plays an MCP agent
//! through rmcp: initialize, list the tools, call the first one. Denials (401 then login, 403
//! `insufficient_scope` then a wider login, bounded) are handled inside the transport, so the
//! rmcp session never sees them. The suite's authorization server approves at once and redirects
//! to the loopback listener; authsec-client's [`HeadlessUserAgent`] follows that redirect in place
//! of the user's browser.
//!
//! One relaxation, disclosed: the suite's authorization servers with a path in their issuer
//! identifier publish their origin as `issuer` (RFC 8414 §3.3 says to refuse such metadata), so
//! this client uses [`IssuerCheck::SameOrigin`]; authsec-client's default is `Strict`.
//!
//! Exit status: 0 when the tool call succeeded; 1 with the client's typed error on stderr
//! otherwise (e.g. `auth/resource-mismatch`, where refusing to log in is the expected behaviour).
#![forbid(unsafe_code)]

use std::process::ExitCode;

use authsec_client::ClientError;
use authsec_client::rmcp::AuthsecHttpClient;
use authsec_client::{
    AuthClient, ClientEvent, HeadlessUserAgent, IssuerCheck, PrivateKeyJwt, Registration,
};
use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation};
use rmcp::service::ClientInitializeError;
use rmcp::transport::DynamicTransportError;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::streamable_http_client::StreamableHttpError;
use rmcp::{ServiceError, ServiceExt};
use serde::Deserialize;
use url::Url;

/// The `client_id` the suite's `auth/basic-cimd` authorization server expects: the URL of this
/// client's ID metadata document (that server does not fetch it).
const CLIENT_METADATA_DOCUMENT: &str = "https://conformance-test.local/client-metadata.json";

/// What the suite passes in `MCP_CONFORMANCE_CONTEXT`; every member is optional.
#[derive(Debug, Default, Deserialize)]
struct Context {
    client_id: Option<String>,
    client_secret: Option<String>,
    private_key_pem: Option<String>,
    signing_algorithm: Option<String>,
}

/// One run, as the suite invokes it.
#[derive(Debug)]
struct Invocation {
    server_url: String,
    scenario: String,
    context: Context,
}

impl Invocation {
    fn from_env() -> Result<Self, String> {
        let server_url = std::env::args()
            .skip(1)
            .last()
            .ok_or("usage: authsec-conformance-client <server-url>")?;
        Url::parse(&server_url).map_err(|e| format!("{server_url:?} is not a URL: {e}"))?;
        let scenario = std::env::var("MCP_CONFORMANCE_SCENARIO").unwrap_or_default();
        let context = match std::env::var("MCP_CONFORMANCE_CONTEXT") {
            Ok(json) => serde_json::from_str(&json)
                .map_err(|e| format!("MCP_CONFORMANCE_CONTEXT is not the expected JSON: {e}"))?,
            Err(_) => Context::default(),
        };
        Ok(Invocation {
            server_url,
            scenario,
            context,
        })
    }

    /// Machine-agent scenarios: tokens from the client credentials grant, no user.
    fn is_client_credentials(&self) -> bool {
        self.scenario.starts_with("auth/client-credentials")
    }
}

/// Prints each step the client takes on stderr (the suite saves it per scenario).
fn report(event: &ClientEvent) {
    eprintln!("authsec-client: {event}");
}

/// The error authsec-client gave up with, when that is why an rmcp call failed.
fn gave_up<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a ClientError> {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(http) = error.downcast_ref::<StreamableHttpError<reqwest::Error>>() {
            return authsec_client::rmcp::client_error(http);
        }
        next = match error.downcast_ref::<DynamicTransportError>() {
            Some(transport) => Some(transport.error.as_ref()),
            None => error.source(),
        };
    }
    None
}

/// What failed: authsec-client's typed error when it gave up, else rmcp's.
fn explain_initialize(error: &ClientInitializeError) -> String {
    match error {
        ClientInitializeError::TransportError { error, .. } => match gave_up(error) {
            Some(gave_up) => format!("authsec-client gave up: {gave_up}"),
            None => error.to_string(),
        },
        other => other.to_string(),
    }
}

fn explain(error: &ServiceError) -> String {
    match gave_up(error) {
        Some(gave_up) => format!("authsec-client gave up: {gave_up}"),
        None => error.to_string(),
    }
}

fn auth_client(invocation: &Invocation) -> Result<AuthClient, String> {
    let context = &invocation.context;
    let mut builder = AuthClient::builder()
        .client_name("authsec-conformance-client")
        .client_metadata_document(CLIENT_METADATA_DOCUMENT)
        .user_agent(HeadlessUserAgent::new())
        // The suite's path-based authorization servers (auth/metadata-var2, -var3: issuer
        // identifier http://localhost:Q/tenant1) publish `"issuer": "http://localhost:Q"`, which
        // RFC 8414 §3.3 says to refuse. The default, IssuerCheck::Strict, does refuse it; this
        // client opts into same-origin matching for the suite, and nothing else is relaxed.
        .issuer_check(IssuerCheck::SameOrigin)
        .observer(report);
    if invocation.is_client_credentials() {
        let client_id = context
            .client_id
            .clone()
            .ok_or("the client credentials scenarios pass a client_id in the context")?;
        builder = match (&context.client_secret, &context.private_key_pem) {
            (Some(secret), _) => builder.client_credentials(client_id, secret.clone()),
            (None, Some(pem)) => {
                let algorithm = context.signing_algorithm.as_deref().unwrap_or("ES256");
                let key = PrivateKeyJwt::from_pem(client_id, pem, algorithm)
                    .map_err(|e| e.to_string())?;
                builder.client_credentials_registration(Registration::private_key_jwt(key))
            }
            (None, None) => {
                return Err("the context has neither client_secret nor private_key_pem".into());
            }
        };
    } else if let (Some(id), Some(secret)) = (&context.client_id, &context.client_secret) {
        builder = builder.preregistered_any(Registration::confidential(id.clone(), secret.clone()));
    }
    builder.build().map_err(|e| e.to_string())
}

async fn run(invocation: Invocation) -> Result<(), String> {
    let auth = auth_client(&invocation)?;
    let transport = StreamableHttpClientTransport::with_client(
        AuthsecHttpClient::new(auth),
        StreamableHttpClientTransportConfig::with_uri(invocation.server_url.as_str()),
    );
    let config = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("authsec-conformance-client", env!("CARGO_PKG_VERSION")),
    );
    let session = config
        .serve(transport)
        .await
        .map_err(|e| format!("initialize failed: {}", explain_initialize(&e)))?;
    let outcome = async {
        let tools = session
            .list_tools(None)
            .await
            .map_err(|e| format!("tools/list failed: {}", explain(&e)))?;
        let tool = tools
            .tools
            .first()
            .ok_or("the server lists no tools to call")?;
        let result = session
            .call_tool(
                CallToolRequestParams::new(tool.name.clone()).with_arguments(Default::default()),
            )
            .await
            .map_err(|e| format!("tools/call {} failed: {}", tool.name, explain(&e)))?;
        if result.is_error == Some(true) {
            return Err(format!("the tool {} answered an error", tool.name));
        }
        eprintln!("called {} ({} tools listed)", tool.name, tools.tools.len());
        Ok(())
    }
    .await;
    // The suite's servers are stateless: there is no session to delete, only the worker to stop.
    let _closed = session.cancel().await;
    outcome
}

fn main() -> ExitCode {
    let invocation = match Invocation::from_env() {
        Ok(invocation) => invocation,
        Err(message) => {
            eprintln!("authsec-conformance-client: {message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("authsec-conformance-client: cannot start tokio: {error}");
            return ExitCode::FAILURE;
        }
    };
    let scenario = invocation.scenario.clone();
    match runtime.block_on(run(invocation)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("authsec-conformance-client ({scenario}): {message}");
            ExitCode::FAILURE
        }
    }
}
