//! Keys, tokens and request bodies shared by every contender, so each one sees the same bytes.

use std::time::{SystemTime, UNIX_EPOCH};

use authsec_core::jsonwebtoken::jwk::Jwk;
use authsec_core::{JwtRules, JwtVerifier, StaticKeys, ToolManifest, VerificationKey};
use authsec_tests::dev_issuer::{SigningAlgorithm, SigningKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// The issuer every token names.
pub const ISSUER: &str = "https://as.example.com";

/// The protected resource: the audience of every token.
pub const RESOURCE: &str = "https://mcp.example.com/mcp";

/// The scopes of a typical token.
pub const SCOPES: &str = "notes:read notes:write";

/// A typical MCP `tools/call` body (a tool with small arguments and a progress token).
pub const TOOLS_CALL_BODY: &str = r#"{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"add_note","arguments":{"text":"Buy milk, eggs and bread on the way home","tags":["shopping","home"]},"_meta":{"progressToken":"a1b2c3"}}}"#;

/// A `tools/list` request body.
pub const TOOLS_LIST_BODY: &str = r#"{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{}}"#;

/// What the handler answers to a `tools/call`.
pub const TOOLS_CALL_RESULT: &str = r#"{"jsonrpc":"2.0","id":42,"result":{"content":[{"type":"text","text":"note 17 added"}],"isError":false}}"#;

/// Seconds since the epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// One signing key of the given algorithm, its JWKS and a typical access token.
pub struct Fixture {
    /// The algorithm.
    pub alg: SigningAlgorithm,
    key: SigningKey,
    /// The public JWK.
    pub jwk: Value,
    /// A typical RFC 9068 access token, valid for an hour.
    pub token: String,
}

impl Fixture {
    /// A fresh key and token.
    pub fn new(alg: SigningAlgorithm) -> Self {
        let key = SigningKey::generate(alg).expect("key generation");
        let jwk = key.public_jwk();
        let mut fixture = Fixture {
            alg,
            key,
            jwk,
            token: String::new(),
        };
        fixture.token = fixture.mint("8f14e45fceea167a5a36dedd4bea2543");
        fixture
    }

    /// A token with the typical claims and this `jti`.
    pub fn mint(&self, jti: &str) -> String {
        let (header, payload) = token_parts(self.alg.as_str(), self.key.kid(), jti);
        let signing_input = format!("{header}.{payload}");
        let signature = self.key.sign(signing_input.as_bytes()).expect("signing");
        format!("{signing_input}.{signature}")
    }

    /// The JWKS document (`{"keys":[jwk]}`) as text.
    pub fn jwks_json(&self) -> String {
        json!({ "keys": [self.jwk] }).to_string()
    }

    /// The JWK, typed.
    pub fn typed_jwk(&self) -> Jwk {
        serde_json::from_value(self.jwk.clone()).expect("a JWK")
    }

    /// authsec's key.
    pub fn verification_key(&self) -> VerificationKey {
        VerificationKey::from_jwk(&self.typed_jwk()).expect("usable key")
    }

    /// authsec's JWT verifier over this key.
    pub fn verifier(&self) -> JwtVerifier<StaticKeys> {
        JwtVerifier::new(
            JwtRules::new(ISSUER),
            StaticKeys::single(self.verification_key()),
        )
        .expect("verifier")
    }

    /// jsonwebtoken's key, built once (what a hand-written middleware caches).
    pub fn decoding_key(&self) -> authsec_core::jsonwebtoken::DecodingKey {
        authsec_core::jsonwebtoken::DecodingKey::from_jwk(&self.typed_jwk()).expect("key")
    }

    /// jsonwebtoken's validation for this key: algorithm, issuer, audience, all required.
    pub fn validation(&self) -> authsec_core::jsonwebtoken::Validation {
        let mut validation = authsec_core::jsonwebtoken::Validation::new(self.alg.jwt_algorithm());
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[RESOURCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = 30;
        validation
    }
}

/// The base64url header and payload of a typical token (what an IdP such as Keycloak or Auth0
/// puts in an RFC 9068 access token, without the bulk of custom claims).
pub fn token_parts(alg: &str, kid: &str, jti: &str) -> (String, String) {
    let now = now();
    let header = json!({"alg": alg, "typ": "at+jwt", "kid": kid});
    let claims = json!({
        "iss": ISSUER,
        "sub": "248289761001",
        "aud": RESOURCE,
        "exp": now + 3600,
        "iat": now,
        "nbf": now,
        "jti": jti,
        "client_id": "s6BhdRkqt3",
        "scope": SCOPES,
        "auth_time": now - 60,
        "acr": "pwd",
        "amr": ["pwd"],
    });
    (
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
    )
}

/// The manifest of the bench server: the two tools the bodies name, plus `tool_000`..`tool_099`
/// of which the even ones need a scope the typical token lacks.
pub fn manifest() -> ToolManifest {
    let mut manifest = ToolManifest::new()
        .tool("add_note", ["notes:write"])
        .tool("list_notes", ["notes:read"]);
    for i in 0..100 {
        let scope = if i % 2 == 0 {
            "notes:admin"
        } else {
            "notes:read"
        };
        manifest = manifest.tool(format!("tool_{i:03}"), [scope]);
    }
    manifest
}

/// A `tools/list` response listing `tool_000`..`tool_099`, each with a description and a
/// small input schema, as MCP servers send them.
pub fn tools_list_response(tools: usize) -> String {
    let tools: Vec<Value> = (0..tools)
        .map(|i| {
            json!({
                "name": format!("tool_{i:03}"),
                "title": format!("Tool number {i}"),
                "description": "Does one thing to the notes of the caller and reports what changed.",
                "inputSchema": {
                    "type": "object",
                    "properties": {
                        "text": {"type": "string", "description": "The text to work on"},
                        "limit": {"type": "integer", "minimum": 1, "maximum": 100}
                    },
                    "required": ["text"]
                },
                "annotations": {"readOnlyHint": i % 3 == 0}
            })
        })
        .collect();
    json!({"jsonrpc": "2.0", "id": 7, "result": {"tools": tools}}).to_string()
}
