//! HTTP endpoints (axum router and handlers).
//!
//! Every handler answers malformed input with an OAuth error body (400/401)
//! rather than panicking; `/authorize` redirects its errors to the client
//! once the client and redirect URI are known (RFC 6749 §4.1.2.1).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use serde_json::{Map, Value, json};
use url::Url;

use super::config::{
    ClientAuthMethod, ClientRegistration, GRANT_AUTHORIZATION_CODE, GRANT_CLIENT_CREDENTIALS,
    GRANT_REFRESH_TOKEN,
};
use super::oauth::{
    Authenticated, OAuthError, Params, authenticate, is_pkce_string, parse_scope,
    pkce_s256_matches, presented_client, redirect_uri_matches, validate_redirect_uri,
    validate_resource,
};
use super::tokens::{
    self, AccessTokenRequest, CodeRecord, Grant, Login, issue_access_token, issue_refresh_token,
    random_string,
};
use super::{Endpoint, Inner, lock, now};

type AppState = State<Arc<Inner>>;

pub(crate) fn router(inner: Arc<Inner>) -> Router {
    let with_405 = |m: MethodRouter<Arc<Inner>>| m.fallback(method_not_allowed);
    Router::new()
        .route(
            "/.well-known/oauth-authorization-server",
            with_405(get(metadata)),
        )
        .route("/.well-known/openid-configuration", with_405(get(metadata)))
        .route("/jwks", with_405(get(jwks)))
        .route("/authorize", with_405(get(authorize)))
        .route("/token", with_405(post(token)))
        .route("/register", with_405(post(register)))
        .route("/introspect", with_405(post(introspect)))
        .route("/revoke", with_405(post(revoke)))
        .route("/attacker/jwks", with_405(get(attacker_jwks)))
        .fallback(not_found)
        .with_state(inner)
}

async fn not_found() -> Response {
    OAuthError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint").into_response()
}

async fn method_not_allowed() -> Response {
    OAuthError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request",
        "method not allowed",
    )
    .into_response()
}

/// Counts the request, applies the configured delay and the 503 switch.
async fn gate(inner: &Inner, endpoint: Endpoint) -> Result<(), Response> {
    inner.count(endpoint);
    let delay = inner.response_delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if inner.is_unavailable(endpoint) {
        return Err(OAuthError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "the dev issuer was told to be unavailable",
        )
        .into_response());
    }
    Ok(())
}

fn json_response(status: StatusCode, body: Value, cache_control: &'static str) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    if cache_control == "no-store" {
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    }
    response
}

fn body_or_error(body: Result<Bytes, BytesRejection>) -> Result<Bytes, OAuthError> {
    body.map_err(|e| OAuthError::invalid_request(format!("unreadable request body: {e}")))
}

// ----- metadata and keys -----------------------------------------------------

/// The RFC 8414 metadata document (also served as the OpenID configuration).
pub(crate) fn metadata_document(inner: &Inner) -> Value {
    let mut doc = json!({
        "issuer": inner.issuer,
        "authorization_endpoint": inner.url("/authorize"),
        "token_endpoint": inner.url("/token"),
        "jwks_uri": inner.url("/jwks"),
        "introspection_endpoint": inner.url("/introspect"),
        "revocation_endpoint": inner.url("/revoke"),
        "scopes_supported": inner.config.scopes_supported,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": [
            GRANT_AUTHORIZATION_CODE,
            GRANT_REFRESH_TOKEN,
            GRANT_CLIENT_CREDENTIALS
        ],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": [
            "none",
            "client_secret_basic",
            "client_secret_post"
        ],
        "introspection_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post"
        ],
        "revocation_endpoint_auth_methods_supported": [
            "none",
            "client_secret_basic",
            "client_secret_post"
        ],
        "authorization_response_iss_parameter_supported": true,
        "acr_values_supported": ["pwd", "mfa"],
    });
    if inner.config.dynamic_registration
        && let Some(obj) = doc.as_object_mut()
    {
        obj.insert(
            "registration_endpoint".into(),
            inner.url("/register").into(),
        );
    }
    doc
}

async fn metadata(State(inner): AppState) -> Response {
    if let Err(r) = gate(&inner, Endpoint::Metadata).await {
        return r;
    }
    json_response(
        StatusCode::OK,
        metadata_document(&inner),
        "public, max-age=60",
    )
}

async fn jwks(State(inner): AppState) -> Response {
    if let Err(r) = gate(&inner, Endpoint::Jwks).await {
        return r;
    }
    let mut response = axum::Json(inner.keys().jwks()).into_response();
    let max_age = inner.config.jwks_max_age.as_secs();
    if let Ok(value) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        response.headers_mut().insert(header::CACHE_CONTROL, value);
    }
    response
}

async fn attacker_jwks(State(inner): AppState) -> Response {
    if let Err(r) = gate(&inner, Endpoint::AttackerJwks).await {
        return r;
    }
    axum::Json(inner.attacker_jwks()).into_response()
}

// ----- /authorize -------------------------------------------------------------

async fn authorize(State(inner): AppState, RawQuery(query): RawQuery) -> Response {
    if let Err(r) = gate(&inner, Endpoint::Authorize).await {
        return r;
    }
    let params = Params::parse(query.unwrap_or_default().as_bytes());

    // Until the client and redirect URI are validated, errors are shown to
    // the "user" (400 JSON), never redirected.
    let (client, redirect_uri, in_request) = match authorize_client(&inner, &params) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let Ok(mut location) = Url::parse(&redirect_uri) else {
        return OAuthError::invalid_request("redirect_uri is not an absolute URI").into_response();
    };
    let state = params.get("state").ok().flatten().map(str::to_owned);
    let outcome = authorize_grant(&inner, &params, &client, &redirect_uri, in_request);
    {
        let mut pairs = location.query_pairs_mut();
        match &outcome {
            Ok(code) => {
                pairs.append_pair("code", code);
            }
            Err(e) => {
                pairs.append_pair("error", e.error);
                pairs.append_pair("error_description", &e.description);
            }
        }
        if let Some(state) = &state {
            pairs.append_pair("state", state);
        }
        pairs.append_pair("iss", &inner.issuer);
    }
    let mut response = StatusCode::FOUND.into_response();
    let headers = response.headers_mut();
    match HeaderValue::from_str(location.as_str()) {
        Ok(v) => {
            headers.insert(header::LOCATION, v);
        }
        Err(_) => return OAuthError::server_error("unencodable redirect").into_response(),
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Validates `client_id` and `redirect_uri`: the registered client, the
/// redirect URI to use, and whether the request carried it.
fn authorize_client(
    inner: &Inner,
    params: &Params,
) -> Result<(ClientRegistration, String, bool), OAuthError> {
    let client_id = params.require("client_id")?;
    let client = lock(&inner.store)
        .clients
        .get(client_id)
        .cloned()
        .ok_or_else(|| OAuthError::invalid_request("unknown client_id"))?;
    match params.get("redirect_uri")? {
        Some(presented) => {
            if client
                .redirect_uris
                .iter()
                .any(|r| redirect_uri_matches(r, presented))
            {
                Ok((client, presented.to_owned(), true))
            } else {
                Err(OAuthError::invalid_request(
                    "redirect_uri is not registered for this client",
                ))
            }
        }
        None => match client.redirect_uris.as_slice() {
            [only] => {
                let only = only.clone();
                Ok((client, only, false))
            }
            _ => Err(OAuthError::invalid_request(
                "redirect_uri is required (the client has several or none registered)",
            )),
        },
    }
}

/// Resource indicators of a request, validated, or the configured default.
fn requested_resources(inner: &Inner, params: &Params) -> Result<Vec<String>, OAuthError> {
    let mut resources: Vec<String> = Vec::new();
    for r in params.all("resource") {
        validate_resource(&r)?;
        if !resources.contains(&r) {
            resources.push(r);
        }
    }
    if resources.is_empty() {
        match &inner.config.default_resource {
            Some(default) => resources.push(default.clone()),
            None => {
                return Err(OAuthError::bad_request(
                    "invalid_target",
                    "the resource parameter (RFC 8707) is required",
                ));
            }
        }
    }
    Ok(resources)
}

fn check_known_scopes(inner: &Inner, scopes: &[String]) -> Result<(), OAuthError> {
    if !inner.config.reject_unknown_scopes {
        return Ok(());
    }
    match scopes
        .iter()
        .find(|s| !inner.config.scopes_supported.contains(s))
    {
        Some(unknown) => Err(OAuthError::bad_request(
            "invalid_scope",
            format!("unknown scope {unknown:?}"),
        )),
        None => Ok(()),
    }
}

/// The rest of the authorization request: PKCE, scope, resource, headless
/// login and consent. Returns the authorization code.
fn authorize_grant(
    inner: &Inner,
    params: &Params,
    client: &ClientRegistration,
    redirect_uri: &str,
    redirect_uri_in_request: bool,
) -> Result<String, OAuthError> {
    match params.require("response_type")? {
        "code" => {}
        other => {
            return Err(OAuthError::bad_request(
                "unsupported_response_type",
                format!("response_type {other:?} is not supported (only \"code\")"),
            ));
        }
    }
    if !client.allows_grant(GRANT_AUTHORIZATION_CODE) {
        return Err(OAuthError::bad_request(
            "unauthorized_client",
            "client may not use the authorization code grant",
        ));
    }
    let challenge = params
        .get("code_challenge")?
        .ok_or_else(|| OAuthError::invalid_request("code_challenge is required (PKCE S256)"))?;
    match params.get("code_challenge_method")? {
        Some("S256") => {}
        Some(other) => {
            return Err(OAuthError::invalid_request(format!(
                "code_challenge_method {other:?} is not supported (only S256)"
            )));
        }
        None => {
            return Err(OAuthError::invalid_request(
                "code_challenge_method is required and must be S256 (plain is not supported)",
            ));
        }
    }
    if challenge.len() != 43 || !is_pkce_string(challenge) {
        return Err(OAuthError::invalid_request(
            "code_challenge is not a base64url SHA-256 digest",
        ));
    }
    let requested_scopes = parse_scope(params.get("scope")?)?;
    check_known_scopes(inner, &requested_scopes)?;
    let resources = requested_resources(inner, params)?;
    let max_age = match params.get("max_age")? {
        None => None,
        Some(v) => Some(v.parse::<i64>().ok().filter(|m| *m >= 0).ok_or_else(|| {
            OAuthError::invalid_request("max_age must be a non-negative integer")
        })?),
    };
    let acr_values = params.get("acr_values")?.unwrap_or("");
    let login_hint = params.get("login_hint")?;
    let consent = lock(&inner.consent).clone().unwrap_or_default();

    if consent.deny {
        return Err(OAuthError::bad_request(
            "access_denied",
            "the user denied the request",
        ));
    }
    let mfa = acr_values.split(' ').any(|v| v == "mfa");
    let acr = consent
        .acr
        .clone()
        .unwrap_or_else(|| if mfa { "mfa" } else { "pwd" }.to_owned());
    let amr = consent.amr.clone().unwrap_or_else(|| {
        if mfa {
            vec!["pwd".into(), "mfa".into()]
        } else {
            vec!["pwd".into()]
        }
    });
    let t = now();
    let mut auth_time = t.saturating_add(consent.auth_time_offset.unwrap_or(0));
    if let Some(max_age) = max_age
        && !consent.ignore_max_age
        && t.saturating_sub(auth_time) > max_age
    {
        // Forced re-authentication.
        auth_time = t;
    }
    let mut scopes = consent.granted_scopes.clone().unwrap_or(requested_scopes);
    scopes.retain(|s| !consent.withheld_scopes.contains(s));
    let subject = consent
        .subject
        .clone()
        .or_else(|| login_hint.map(str::to_owned))
        .unwrap_or_else(|| inner.config.default_subject.clone());

    let code = random_string(32).map_err(|e| OAuthError::server_error(e.to_string()))?;
    let lifetime =
        i64::try_from(inner.config.authorization_code_lifetime.as_secs()).unwrap_or(i64::MAX);
    let mut store = lock(&inner.store);
    store.purge_expired_codes(t);
    store.codes.insert(
        code.clone(),
        CodeRecord {
            client_id: client.client_id.clone(),
            redirect_uri: redirect_uri.to_owned(),
            redirect_uri_in_request,
            code_challenge: challenge.to_owned(),
            resources,
            login: Login {
                subject,
                scopes,
                acr: Some(acr),
                amr: Some(amr),
                auth_time: Some(auth_time),
            },
            expires_at: t.saturating_add(lifetime),
        },
    );
    Ok(code)
}

// ----- /token -------------------------------------------------------------------

async fn token(
    State(inner): AppState,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Err(r) = gate(&inner, Endpoint::Token).await {
        return r;
    }
    match token_inner(&inner, &headers, body) {
        Ok(v) => json_response(StatusCode::OK, v, "no-store"),
        Err(e) => e.into_response(),
    }
}

fn token_inner(
    inner: &Inner,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Value, OAuthError> {
    let body = body_or_error(body)?;
    let params = Params::parse(&body);
    let presented = presented_client(headers, &params)?;
    let (client, how) = {
        let store = lock(&inner.store);
        authenticate(&store.clients, presented)?
    };
    let grant_type = params.require("grant_type")?;
    let allowed = |g: &str| {
        if client.allows_grant(g) {
            Ok(())
        } else {
            Err(OAuthError::bad_request(
                "unauthorized_client",
                format!("client may not use the {g} grant"),
            ))
        }
    };
    match grant_type {
        GRANT_AUTHORIZATION_CODE => {
            allowed(GRANT_AUTHORIZATION_CODE)?;
            authorization_code_grant(inner, &params, &client)
        }
        GRANT_REFRESH_TOKEN => {
            allowed(GRANT_REFRESH_TOKEN)?;
            refresh_token_grant(inner, &params, &client)
        }
        GRANT_CLIENT_CREDENTIALS => {
            if how != Authenticated::Secret {
                return Err(OAuthError::bad_request(
                    "unauthorized_client",
                    "client_credentials requires a confidential client",
                ));
            }
            allowed(GRANT_CLIENT_CREDENTIALS)?;
            client_credentials_grant(inner, &params, &client)
        }
        GRANT_TOKEN_EXCHANGE => {
            if how != Authenticated::Secret {
                return Err(OAuthError::bad_request(
                    "unauthorized_client",
                    "token exchange requires a confidential client",
                ));
            }
            token_exchange_grant(inner, &params, &client)
        }
        other => Err(OAuthError::bad_request(
            "unsupported_grant_type",
            format!("grant_type {other:?} is not supported"),
        )),
    }
}

fn internal(e: super::DevIssuerError) -> OAuthError {
    OAuthError::server_error(e.to_string())
}

/// Narrows `authorized` resources to the ones a token request names (each
/// must have been authorized), or keeps them all.
fn narrow_resources(params: &Params, authorized: &[String]) -> Result<Vec<String>, OAuthError> {
    let requested = params.all("resource");
    if requested.is_empty() {
        return Ok(authorized.to_vec());
    }
    let mut out: Vec<String> = Vec::new();
    for r in requested {
        if !authorized.contains(&r) {
            return Err(OAuthError::bad_request(
                "invalid_target",
                format!("resource {r:?} was not authorized for this grant"),
            ));
        }
        if !out.contains(&r) {
            out.push(r);
        }
    }
    Ok(out)
}

fn token_body(
    access_token: String,
    expires_in: i64,
    scopes: &[String],
    refresh_token: Option<String>,
) -> Value {
    let mut body = Map::new();
    body.insert("access_token".into(), access_token.into());
    body.insert("token_type".into(), "Bearer".into());
    body.insert("expires_in".into(), expires_in.into());
    if !scopes.is_empty() {
        body.insert("scope".into(), scopes.join(" ").into());
    }
    if let Some(rt) = refresh_token {
        body.insert("refresh_token".into(), rt.into());
    }
    Value::Object(body)
}

fn authorization_code_grant(
    inner: &Inner,
    params: &Params,
    client: &ClientRegistration,
) -> Result<Value, OAuthError> {
    let code = params.require("code")?;
    let verifier = params.get("code_verifier")?;
    let redirect_uri = params.get("redirect_uri")?;

    // Single use: the code is consumed by the first presentation by its
    // client, successful or not; presenting it again revokes what it
    // produced (RFC 6749 §4.1.2).
    let record = {
        let mut store = lock(&inner.store);
        match store.codes.get(code) {
            None => {
                if let Some(grant) = store.used_codes.get(code).copied() {
                    if let Some(grant_id) = grant {
                        store.revoke_grant(grant_id);
                    }
                    return Err(OAuthError::invalid_grant(
                        "authorization code was already used",
                    ));
                }
                return Err(OAuthError::invalid_grant("unknown authorization code"));
            }
            Some(r) if r.client_id != client.client_id => {
                return Err(OAuthError::invalid_grant(
                    "authorization code was issued to another client",
                ));
            }
            Some(_) => {}
        }
        store.used_codes.insert(code.to_owned(), None);
        match store.codes.remove(code) {
            Some(r) => r,
            None => return Err(OAuthError::invalid_grant("unknown authorization code")),
        }
    };
    if record.expires_at <= now() {
        return Err(OAuthError::invalid_grant("authorization code expired"));
    }
    match (record.redirect_uri_in_request, redirect_uri) {
        (_, Some(given)) if given != record.redirect_uri => {
            return Err(OAuthError::invalid_grant(
                "redirect_uri does not match the authorization request",
            ));
        }
        (true, None) => {
            return Err(OAuthError::invalid_request(
                "redirect_uri is required (it was in the authorization request)",
            ));
        }
        _ => {}
    }
    let verifier =
        verifier.ok_or_else(|| OAuthError::invalid_request("code_verifier is required"))?;
    if !is_pkce_string(verifier) {
        return Err(OAuthError::invalid_request(
            "code_verifier must be 43-128 unreserved characters",
        ));
    }
    if !pkce_s256_matches(verifier, &record.code_challenge) {
        return Err(OAuthError::invalid_grant(
            "code_verifier does not match the code_challenge",
        ));
    }
    let resources = narrow_resources(params, &record.resources)?;

    let login = record.login;
    let grant_id = {
        let mut store = lock(&inner.store);
        let id = store.new_grant(Grant {
            login: login.clone(),
            resources: record.resources.clone(),
            revoked: false,
        });
        store.used_codes.insert(code.to_owned(), Some(id));
        id
    };
    let (access_token, expires_in) = issue_access_token(
        inner,
        &AccessTokenRequest {
            client_id: &client.client_id,
            subject: &login.subject,
            resources: &resources,
            scopes: &login.scopes,
            acr: login.acr.as_deref(),
            amr: login.amr.as_deref(),
            auth_time: login.auth_time,
            grant_id: Some(grant_id),
        },
    )
    .map_err(internal)?;
    let refresh_token =
        if inner.config.issue_refresh_tokens && client.allows_grant(GRANT_REFRESH_TOKEN) {
            Some(issue_refresh_token(inner, grant_id, &client.client_id).map_err(internal)?)
        } else {
            None
        };
    Ok(token_body(
        access_token,
        expires_in,
        &login.scopes,
        refresh_token,
    ))
}

fn refresh_token_grant(
    inner: &Inner,
    params: &Params,
    client: &ClientRegistration,
) -> Result<Value, OAuthError> {
    let presented = params.require("refresh_token")?;
    let requested_scopes = parse_scope(params.get("scope")?)?;
    let (grant_id, login, scopes, resources) = {
        let mut store = lock(&inner.store);
        let Some(record) = store.refresh_tokens.get(presented) else {
            return Err(OAuthError::invalid_grant("unknown refresh token"));
        };
        if record.client_id != client.client_id {
            return Err(OAuthError::invalid_grant(
                "refresh token was issued to another client",
            ));
        }
        let grant_id = record.grant_id;
        if !record.active {
            // Reuse of a rotated (or revoked) refresh token: kill the grant.
            store.revoke_grant(grant_id);
            return Err(OAuthError::invalid_grant(
                "refresh token was already used or revoked",
            ));
        }
        if record.expires_at <= now() {
            return Err(OAuthError::invalid_grant("refresh token expired"));
        }
        let Some(grant) = store.grants.get(&grant_id) else {
            return Err(OAuthError::invalid_grant("grant not found"));
        };
        if grant.revoked {
            return Err(OAuthError::invalid_grant("grant was revoked"));
        }
        let scopes = if requested_scopes.is_empty() {
            grant.login.scopes.clone()
        } else {
            if let Some(extra) = requested_scopes
                .iter()
                .find(|s| !grant.login.scopes.contains(s))
            {
                return Err(OAuthError::bad_request(
                    "invalid_scope",
                    format!("scope {extra:?} was not granted"),
                ));
            }
            requested_scopes
        };
        let resources = narrow_resources(params, &grant.resources)?;
        let login = grant.login.clone();
        if let Some(record) = store.refresh_tokens.get_mut(presented) {
            record.active = false;
        }
        (grant_id, login, scopes, resources)
    };
    // RFC 9068 §2.2.1: acr, amr and auth_time are those of the original
    // authentication; they do not change on refresh.
    let (access_token, expires_in) = issue_access_token(
        inner,
        &AccessTokenRequest {
            client_id: &client.client_id,
            subject: &login.subject,
            resources: &resources,
            scopes: &scopes,
            acr: login.acr.as_deref(),
            amr: login.amr.as_deref(),
            auth_time: login.auth_time,
            grant_id: Some(grant_id),
        },
    )
    .map_err(internal)?;
    let refresh_token =
        issue_refresh_token(inner, grant_id, &client.client_id).map_err(internal)?;
    Ok(token_body(
        access_token,
        expires_in,
        &scopes,
        Some(refresh_token),
    ))
}

fn client_credentials_grant(
    inner: &Inner,
    params: &Params,
    client: &ClientRegistration,
) -> Result<Value, OAuthError> {
    let requested = parse_scope(params.get("scope")?)?;
    let registered = match &client.scope {
        Some(s) => Some(parse_scope(Some(s))?),
        None => None,
    };
    let scopes = match (&registered, requested.is_empty()) {
        (Some(registered), true) => registered.clone(),
        (Some(registered), false) => {
            if let Some(extra) = requested.iter().find(|s| !registered.contains(s)) {
                return Err(OAuthError::bad_request(
                    "invalid_scope",
                    format!("scope {extra:?} is not registered for this client"),
                ));
            }
            requested
        }
        (None, _) => requested,
    };
    check_known_scopes(inner, &scopes)?;
    let resources = requested_resources(inner, params)?;
    let (access_token, expires_in) = issue_access_token(
        inner,
        &AccessTokenRequest {
            client_id: &client.client_id,
            subject: &client.client_id,
            resources: &resources,
            scopes: &scopes,
            acr: None,
            amr: None,
            auth_time: None,
            grant_id: None,
        },
    )
    .map_err(internal)?;
    Ok(token_body(access_token, expires_in, &scopes, None))
}

/// RFC 8693 token exchange grant type.
const GRANT_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// RFC 8693 token type of an access token.
const TOKEN_TYPE_ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";

/// RFC 8693: a confidential client (an MCP server) swaps an active access token this issuer
/// issued for a new one for another `resource`, with at most the subject token's scopes. The
/// new token keeps the subject and the original authentication (`acr`, `amr`, `auth_time`);
/// its `client_id` is the exchanging client. Not advertised in the metadata.
fn token_exchange_grant(
    inner: &Inner,
    params: &Params,
    client: &ClientRegistration,
) -> Result<Value, OAuthError> {
    let subject_token = params.require("subject_token")?;
    if params.require("subject_token_type")? != TOKEN_TYPE_ACCESS_TOKEN {
        return Err(OAuthError::invalid_request(format!(
            "subject_token_type must be {TOKEN_TYPE_ACCESS_TOKEN}"
        )));
    }
    if let Some(requested) = params.get("requested_token_type")?
        && requested != TOKEN_TYPE_ACCESS_TOKEN
    {
        return Err(OAuthError::invalid_request(format!(
            "requested_token_type must be {TOKEN_TYPE_ACCESS_TOKEN}"
        )));
    }
    let claims = {
        let store = lock(&inner.store);
        match store.access_tokens.get(subject_token) {
            Some(record) if !record.revoked && record.claims.exp > now() => record.claims.clone(),
            Some(_) => return Err(OAuthError::invalid_grant("subject_token is not active")),
            None => return Err(OAuthError::invalid_grant("unknown subject_token")),
        }
    };
    let held = parse_scope(claims.scope.as_deref())?;
    let requested = parse_scope(params.get("scope")?)?;
    let scopes = if requested.is_empty() {
        held
    } else {
        if let Some(extra) = requested.iter().find(|s| !held.contains(s)) {
            return Err(OAuthError::bad_request(
                "invalid_scope",
                format!("scope {extra:?} is not in the subject token"),
            ));
        }
        requested
    };
    let resources = requested_resources(inner, params)?;
    let (access_token, expires_in) = issue_access_token(
        inner,
        &AccessTokenRequest {
            client_id: &client.client_id,
            subject: &claims.sub,
            resources: &resources,
            scopes: &scopes,
            acr: claims.acr.as_deref(),
            amr: claims.amr.as_deref(),
            auth_time: claims.auth_time,
            grant_id: None,
        },
    )
    .map_err(internal)?;
    let mut body = token_body(access_token, expires_in, &scopes, None);
    if let Some(obj) = body.as_object_mut() {
        obj.insert("issued_token_type".into(), TOKEN_TYPE_ACCESS_TOKEN.into());
    }
    Ok(body)
}

// ----- /register ------------------------------------------------------------------

async fn register(State(inner): AppState, body: Result<Bytes, BytesRejection>) -> Response {
    if let Err(r) = gate(&inner, Endpoint::Register).await {
        return r;
    }
    match register_inner(&inner, body) {
        Ok(v) => json_response(StatusCode::CREATED, v, "no-store"),
        Err(e) => e.into_response(),
    }
}

fn metadata_error(description: impl Into<String>) -> OAuthError {
    OAuthError::bad_request("invalid_client_metadata", description)
}

fn string_array(
    meta: &Map<String, Value>,
    name: &str,
    error: fn(String) -> OAuthError,
) -> Result<Option<Vec<String>>, OAuthError> {
    match meta.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| error(format!("{name} must be an array of strings")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(error(format!("{name} must be an array of strings"))),
    }
}

fn optional_string(meta: &Map<String, Value>, name: &str) -> Result<Option<String>, OAuthError> {
    match meta.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(metadata_error(format!("{name} must be a string"))),
    }
}

fn register_inner(inner: &Inner, body: Result<Bytes, BytesRejection>) -> Result<Value, OAuthError> {
    if !inner.config.dynamic_registration {
        return Err(OAuthError::new(
            StatusCode::FORBIDDEN,
            "access_denied",
            "dynamic client registration is disabled",
        ));
    }
    let body = body_or_error(body)?;
    let Ok(Value::Object(meta)) = serde_json::from_slice::<Value>(&body) else {
        return Err(metadata_error("the request body must be a JSON object"));
    };

    let auth_method = match optional_string(&meta, "token_endpoint_auth_method")? {
        None => ClientAuthMethod::ClientSecretBasic,
        Some(m) => ClientAuthMethod::parse(&m).ok_or_else(|| {
            metadata_error(format!("token_endpoint_auth_method {m:?} is not supported"))
        })?,
    };
    let grant_types = string_array(&meta, "grant_types", metadata_error)?
        .unwrap_or_else(|| vec![GRANT_AUTHORIZATION_CODE.into(), GRANT_REFRESH_TOKEN.into()]);
    if let Some(g) = grant_types.iter().find(|g| {
        ![
            GRANT_AUTHORIZATION_CODE,
            GRANT_REFRESH_TOKEN,
            GRANT_CLIENT_CREDENTIALS,
        ]
        .contains(&g.as_str())
    }) {
        return Err(metadata_error(format!("grant type {g:?} is not supported")));
    }
    if auth_method == ClientAuthMethod::None
        && grant_types.iter().any(|g| g == GRANT_CLIENT_CREDENTIALS)
    {
        return Err(metadata_error(
            "client_credentials requires a confidential client",
        ));
    }
    let uses_code = grant_types.iter().any(|g| g == GRANT_AUTHORIZATION_CODE);
    let response_types =
        string_array(&meta, "response_types", metadata_error)?.unwrap_or_else(|| {
            if uses_code {
                vec!["code".into()]
            } else {
                Vec::new()
            }
        });
    if let Some(r) = response_types.iter().find(|r| r.as_str() != "code") {
        return Err(metadata_error(format!(
            "response type {r:?} is not supported"
        )));
    }
    let redirect_error = |d: String| OAuthError::bad_request("invalid_redirect_uri", d);
    let redirect_uris = string_array(&meta, "redirect_uris", redirect_error)?.unwrap_or_default();
    if uses_code && redirect_uris.is_empty() {
        return Err(redirect_error(
            "redirect_uris is required for the authorization_code grant".into(),
        ));
    }
    for uri in &redirect_uris {
        validate_redirect_uri(uri).map_err(redirect_error)?;
    }
    let scope = optional_string(&meta, "scope")?;
    if let Some(s) = &scope {
        parse_scope(Some(s)).map_err(|e| metadata_error(e.description))?;
    }
    let client_name = optional_string(&meta, "client_name")?;

    let client_id = format!("dcr-{}", random_string(12).map_err(internal)?);
    let client_secret = match auth_method {
        ClientAuthMethod::None => None,
        _ => Some(random_string(32).map_err(internal)?),
    };
    let registration = ClientRegistration {
        client_id: client_id.clone(),
        client_secret: client_secret.clone(),
        token_endpoint_auth_method: auth_method,
        redirect_uris: redirect_uris.clone(),
        grant_types: grant_types.clone(),
        scope,
        client_name,
    };
    lock(&inner.store).register(registration);

    // Echo the metadata, with the values as registered.
    let mut out = meta;
    out.insert("client_id".into(), client_id.into());
    out.insert("client_id_issued_at".into(), now().into());
    match client_secret {
        Some(secret) => {
            out.insert("client_secret".into(), secret.into());
            out.insert("client_secret_expires_at".into(), 0.into());
        }
        None => {
            out.remove("client_secret");
            out.remove("client_secret_expires_at");
        }
    }
    out.insert(
        "token_endpoint_auth_method".into(),
        auth_method.as_str().into(),
    );
    out.insert("grant_types".into(), json!(grant_types));
    out.insert("response_types".into(), json!(response_types));
    out.insert("redirect_uris".into(), json!(redirect_uris));
    Ok(Value::Object(out))
}

// ----- /introspect and /revoke ----------------------------------------------------------

async fn introspect(
    State(inner): AppState,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Err(r) = gate(&inner, Endpoint::Introspect).await {
        return r;
    }
    match introspect_inner(&inner, &headers, body) {
        Ok(v) => json_response(StatusCode::OK, v, "no-store"),
        Err(e) => e.into_response(),
    }
}

fn introspect_inner(
    inner: &Inner,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Value, OAuthError> {
    let body = body_or_error(body)?;
    let params = Params::parse(&body);
    let presented = presented_client(headers, &params)?;
    let (_, how) = {
        let store = lock(&inner.store);
        authenticate(&store.clients, presented)?
    };
    if how != Authenticated::Secret {
        return Err(OAuthError::invalid_client(
            "introspection requires a confidential client (client_secret_basic or client_secret_post)",
        ));
    }
    let token = params.require("token")?;
    Ok(tokens::introspect(inner, token))
}

async fn revoke(
    State(inner): AppState,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Err(r) = gate(&inner, Endpoint::Revoke).await {
        return r;
    }
    match revoke_inner(&inner, &headers, body) {
        Ok(()) => {
            let mut response = StatusCode::OK.into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => e.into_response(),
    }
}

fn revoke_inner(
    inner: &Inner,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(), OAuthError> {
    let body = body_or_error(body)?;
    let params = Params::parse(&body);
    let presented = presented_client(headers, &params)?;
    let (client, _) = {
        let store = lock(&inner.store);
        authenticate(&store.clients, presented)?
    };
    let token = params.require("token")?;
    // RFC 7009 §2.2: unknown (or foreign) tokens still get a 200.
    tokens::revoke(inner, token, Some(&client.client_id));
    Ok(())
}
