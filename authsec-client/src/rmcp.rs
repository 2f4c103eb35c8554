//! rmcp integration: [`AuthsecHttpClient`] is an rmcp [`StreamableHttpClient`], so an rmcp agent
//! gets authsec-client's discovery, login, refresh and per-denial retries by construction.
//!
//! ```no_run
//! # async fn run(client: authsec_client::AuthClient) -> Result<(), Box<dyn std::error::Error>> {
//! use authsec_client::rmcp::AuthsecHttpClient;
//! use rmcp::ServiceExt;
//! use rmcp::transport::StreamableHttpClientTransport;
//! use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
//!
//! let transport = StreamableHttpClientTransport::with_client(
//!     AuthsecHttpClient::new(client),
//!     StreamableHttpClientTransportConfig::with_uri("https://notes.example/mcp"),
//! );
//! let service = ().serve(transport).await?;
//! let tools = service.list_all_tools().await?;
//! # let _ = tools;
//! # Ok(())
//! # }
//! ```
//!
//! It wraps rmcp's own reqwest client: that client turns a 401 or 403 with a challenge into
//! `AuthRequired` / `InsufficientScope` and a 429 or 5xx into `HttpStatus`; this wrapper reads the
//! denial from them, lets [`AuthClient::remedy`] act on it, and sends again with the new token.
//! When the client gives up, the error is `StreamableHttpError::Io` wrapping the
//! [`ClientError`]; get it back with [`client_error`].

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use futures_util::stream::BoxStream;
use http::{HeaderName, HeaderValue};
use reqwest::header::{HeaderMap, RETRY_AFTER, WWW_AUTHENTICATE};
use rmcp::model::ClientJsonRpcMessage;
use rmcp::transport::streamable_http_client::{
    SseError, StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
    StreamableHttpResponseLimits,
};
use sse_stream::Sse;
use url::Url;

use crate::client::{Attempts, AuthClient};
use crate::denial::ServerDenial;
use crate::error::ClientError;

type Error = StreamableHttpError<reqwest::Error>;

/// rmcp's reqwest streamable-HTTP client with authsec-client's auth handling.
#[derive(Clone, Debug)]
pub struct AuthsecHttpClient {
    client: AuthClient,
    http: reqwest::Client,
}

impl AuthsecHttpClient {
    /// Wraps `client`; requests go through its [`AuthClient::http`] reqwest client.
    pub fn new(client: AuthClient) -> Self {
        AuthsecHttpClient {
            http: client.http().clone(),
            client,
        }
    }

    /// The wrapped client.
    pub fn auth_client(&self) -> &AuthClient {
        &self.client
    }

    /// Runs `call` with the current token; on a denial, remedies and runs it again.
    async fn with_auth<T, F, Fut>(
        &self,
        uri: &str,
        caller_token: Option<String>,
        call: F,
    ) -> Result<T, Error>
    where
        F: Fn(Option<String>) -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let url = Url::parse(uri).map_err(|e| {
            StreamableHttpError::UnexpectedServerResponse(
                format!("{uri:?} is not a URL: {e}").into(),
            )
        })?;
        let mut attempts = Attempts::default();
        loop {
            let token = self
                .client
                .bearer_for(&url)
                .await
                .map_err(give_up)?
                .or_else(|| caller_token.clone());
            let denial = match call(token.clone()).await {
                Err(StreamableHttpError::AuthRequired(e)) => {
                    denial_from(401, Some(&e.www_authenticate_header), None)
                }
                Err(StreamableHttpError::InsufficientScope(e)) => {
                    denial_from(403, Some(&e.www_authenticate_header), None)
                }
                Err(StreamableHttpError::HttpStatus(e)) if matches!(e.status, 429 | 503) => {
                    denial_from(e.status, None, e.retry_after.as_deref())
                }
                other => return other,
            };
            let Some(denial) = denial else {
                return Err(StreamableHttpError::UnexpectedServerResponse(
                    "an authorization failure that carries no denial".into(),
                ));
            };
            self.client
                .remedy(&url, &denial, token.as_deref(), &mut attempts)
                .await
                .map_err(give_up)?;
        }
    }
}

fn denial_from(
    status: u16,
    challenge: Option<&str>,
    retry_after: Option<&str>,
) -> Option<ServerDenial> {
    let mut headers = HeaderMap::new();
    if let Some(value) = challenge.and_then(|c| HeaderValue::from_str(c).ok()) {
        headers.insert(WWW_AUTHENTICATE, value);
    }
    if let Some(value) = retry_after.and_then(|c| HeaderValue::from_str(c).ok()) {
        headers.insert(RETRY_AFTER, value);
    }
    ServerDenial::from_http(status, &headers, b"")
}

fn give_up(error: ClientError) -> Error {
    StreamableHttpError::Io(std::io::Error::other(error))
}

/// The [`ClientError`] an [`AuthsecHttpClient`] gave up with, if that is what `error` is.
pub fn client_error<E: std::error::Error + Send + Sync + 'static>(
    error: &StreamableHttpError<E>,
) -> Option<&ClientError> {
    match error {
        StreamableHttpError::Io(io) => io.get_ref()?.downcast_ref::<ClientError>(),
        _ => None,
    }
}

impl StreamableHttpClient for AuthsecHttpClient {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, Error> {
        self.post_message_with_response_limits(
            uri,
            message,
            session_id,
            auth_header,
            custom_headers,
            StreamableHttpResponseLimits::default(),
        )
        .await
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Result<StreamableHttpPostResponse, Error> {
        self.with_auth(&uri, auth_header, |token| {
            self.http.post_message_with_response_limits(
                uri.clone(),
                message.clone(),
                session_id.clone(),
                token,
                custom_headers.clone(),
                limits,
            )
        })
        .await
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), Error> {
        self.with_auth(&uri, auth_header, |token| {
            self.http.delete_session(
                uri.clone(),
                session_id.clone(),
                token,
                custom_headers.clone(),
            )
        })
        .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, Error> {
        self.with_auth(&uri, auth_header, |token| {
            self.http.get_stream(
                uri.clone(),
                session_id.clone(),
                last_event_id.clone(),
                token,
                custom_headers.clone(),
            )
        })
        .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, Error> {
        self.with_auth(&uri, auth_header, |token| {
            self.http.get_stream_with_max_sse_event_size(
                uri.clone(),
                session_id.clone(),
                last_event_id.clone(),
                token,
                custom_headers.clone(),
                max_sse_event_size,
            )
        })
        .await
    }
}
