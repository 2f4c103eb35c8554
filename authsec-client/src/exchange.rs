//! RFC 8693 token exchange: an MCP server that must call another protected server swaps its
//! inbound token for a down-scoped one for the downstream resource, and never passes the inbound
//! token through (RS-MCP-14).

use url::Url;

use crate::client::AuthClient;
use crate::discovery::{fetch_authorization_server_metadata, fetch_resource_metadata};
use crate::error::ClientError;
use crate::token::{GRANT_TOKEN_EXCHANGE, TOKEN_TYPE_ACCESS_TOKEN, TokenSet, request_token};

impl AuthClient {
    /// Exchanges `subject_token` (the token this server received) for a token for the
    /// downstream protected resource at `downstream_url`, limited to `scopes`.
    ///
    /// The downstream resource and its authorization server are discovered (RFC 9728, RFC 8414);
    /// the exchange authenticates with this client's client credentials or its pre-registered
    /// confidential client at that issuer.
    pub async fn exchange_token(
        &self,
        subject_token: &str,
        downstream_url: &str,
        scopes: &[&str],
    ) -> Result<TokenSet, ClientError> {
        let url = Url::parse(downstream_url)
            .map_err(|e| ClientError::Exchange(format!("{downstream_url:?} is not a URL: {e}")))?;
        let resource = fetch_resource_metadata(self.oauth_http(), &url, None).await?;
        let issuer = resource
            .authorization_servers
            .first()
            .ok_or_else(|| ClientError::Exchange("no authorization server".into()))?;
        let metadata =
            fetch_authorization_server_metadata(self.oauth_http(), issuer, self.issuer_check())
                .await?;
        let registration = self.confidential_registration(issuer).ok_or_else(|| {
            ClientError::Exchange(format!(
                "token exchange needs a confidential client at {issuer}: configure client_credentials or a pre-registered confidential client"
            ))
        })?;
        let mut params = vec![
            ("subject_token".to_owned(), subject_token.to_owned()),
            (
                "subject_token_type".to_owned(),
                TOKEN_TYPE_ACCESS_TOKEN.to_owned(),
            ),
            (
                "requested_token_type".to_owned(),
                TOKEN_TYPE_ACCESS_TOKEN.to_owned(),
            ),
            ("resource".to_owned(), resource.resource.clone()),
        ];
        if !scopes.is_empty() {
            params.push(("scope".to_owned(), scopes.join(" ")));
        }
        request_token(
            self.oauth_http(),
            &metadata,
            &registration,
            GRANT_TOKEN_EXCHANGE,
            params,
        )
        .await
    }
}
