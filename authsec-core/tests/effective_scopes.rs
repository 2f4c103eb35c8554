//! `Policy::effective_scopes`: a policy may narrow what a token's scopes may be used for (role
//! bindings), never widen it. Check 3 and `tools/list` filtering (`Guard::may_call`) consult it:
//! a scope the token lacks is `scope_insufficient` (more consent helps), a scope the token has
//! but the policy withholds is `policy_denied` (it does not).

use std::sync::Mutex;

use async_trait::async_trait;
use authsec_core::{
    AccessRequest, Authorization, Claims, Decision, Denial, Guard, McpHeaders, Policy,
    PolicyRequest, Principal, ScopeSet, TokenSource, TokenVerifier, ToolManifest, classify,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

const RESOURCE: &str = "https://mcp.example.com/mcp";
const PRM: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";

/// Tokens are their claims as base64url JSON.
struct JsonClaims;

#[async_trait]
impl TokenVerifier for JsonClaims {
    async fn verify(&self, token: &str) -> Result<Claims, Denial> {
        let json = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| Denial::invalid_token("not a test token"))?;
        let Ok(Value::Object(map)) = serde_json::from_slice(&json) else {
            return Err(Denial::invalid_token("not a test token"));
        };
        Claims::from_map(map, TokenSource::Jwt).map_err(Denial::invalid_token)
    }
}

/// Allows every call; answers `allowed` as the effective scopes, whatever the token holds
/// (wider than the token, for the test that the Guard never widens), recording what it was
/// asked.
struct Narrowing {
    allowed: &'static str,
    asked: Mutex<Vec<(Option<String>, Option<String>)>>,
}

#[async_trait]
impl Policy for Narrowing {
    async fn evaluate(&self, _request: &PolicyRequest<'_>) -> Result<(), Denial> {
        Ok(())
    }

    fn effective_scopes(&self, request: &PolicyRequest<'_>) -> Option<ScopeSet> {
        self.asked.lock().unwrap().push((
            request.tool.map(str::to_owned),
            request.method.map(str::to_owned),
        ));
        Some(ScopeSet::parse(self.allowed))
    }
}

fn guard(policy: Narrowing, manifest: ToolManifest) -> Guard {
    Guard::builder(RESOURCE)
        .authorization_server("https://as.example")
        .verifier(JsonClaims)
        .manifest(manifest)
        .policy(policy)
        .build()
        .unwrap()
}

async fn call(guard: &Guard, scope: &str, tool: &str) -> Decision {
    let token = URL_SAFE_NO_PAD.encode(json!({"sub": "alice", "scope": scope}).to_string());
    let header = format!("Bearer {token}");
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"{tool}","arguments":{{}}}}}}"#
    );
    let mcp = classify(body.as_bytes(), McpHeaders::default()).unwrap();
    let request =
        AccessRequest::new(Authorization::from_values([header.as_bytes()])).mcp(Some(&mcp));
    guard.check(&request).await
}

fn narrowing(allowed: &'static str) -> Narrowing {
    Narrowing {
        allowed,
        asked: Mutex::new(Vec::new()),
    }
}

fn principal(scope: &str) -> Principal {
    let Value::Object(map) = json!({"sub": "alice", "scope": scope}) else {
        unreachable!()
    };
    Principal::new(Claims::from_map(map, TokenSource::Jwt).unwrap(), "t")
}

#[tokio::test]
async fn a_withheld_scope_is_policy_denied_and_a_missing_one_scope_insufficient() {
    let guard = guard(
        narrowing("r"),
        ToolManifest::new().tool("read", ["r"]).tool("write", ["w"]),
    );
    // The token has r and w; the policy allows only r.
    assert!(matches!(
        call(&guard, "r w", "read").await,
        Decision::Allow(_)
    ));
    let Decision::Deny(denial) = call(&guard, "r w", "write").await else {
        panic!("write must be refused")
    };
    let rendered = guard.render(&denial);
    assert_eq!(rendered.status, 403);
    assert_eq!(rendered.www_authenticate, None);
    assert_eq!(
        serde_json::from_str::<Value>(&rendered.body).unwrap(),
        json!({"error":"policy_denied",
               "error_description":"no role binding allows the scopes this tool needs: w",
               "denial":"policy_denied","resource_metadata":PRM})
    );
    // A token without w is asked to consent first, as without any policy.
    let Decision::Deny(denial) = call(&guard, "r", "write").await else {
        panic!("write must be refused")
    };
    assert_eq!(denial.required_scopes(), ["w"]);
    assert_eq!(guard.render(&denial).status, 403);
    assert_eq!(denial.scope(), Some("r w"));
}

#[tokio::test]
async fn a_policy_cannot_widen_the_token() {
    let guard = guard(narrowing("r w a"), ToolManifest::new().tool("write", ["w"]));
    let Decision::Deny(denial) = call(&guard, "r", "write").await else {
        panic!("write must be refused")
    };
    assert_eq!(denial.code().as_str(), "scope_insufficient");
}

#[test]
fn tools_list_filtering_asks_with_the_listing_method_and_narrows() {
    let guard = guard(
        narrowing("r a"),
        ToolManifest::new()
            .tool("read", ["r"])
            .tool("write", ["w"])
            .tool("admin", ["a"]),
    );
    let who = principal("r w");
    assert!(guard.may_call(&who, "read"));
    assert!(!guard.may_call(&who, "write")); // withheld by the policy
    assert!(!guard.may_call(&who, "admin")); // not in the token: never widened
    assert!(!guard.may_call(&who, "unknown"));
}

#[test]
fn effective_scopes_is_asked_per_listed_tool_with_tools_list() {
    let policy = std::sync::Arc::new(narrowing("r"));
    let guard = Guard::builder(RESOURCE)
        .authorization_server("https://as.example")
        .verifier(JsonClaims)
        .manifest(ToolManifest::new().tool("read", ["r"]))
        .policy_arc(policy.clone())
        .build()
        .unwrap();
    assert!(guard.may_call(&principal("r"), "read"));
    assert_eq!(
        *policy.asked.lock().unwrap(),
        [(Some("read".to_owned()), Some("tools/list".to_owned()))]
    );
}

#[test]
fn without_a_narrowing_policy_the_token_scopes_decide() {
    struct AllowAll;
    #[async_trait]
    impl Policy for AllowAll {
        async fn evaluate(&self, _request: &PolicyRequest<'_>) -> Result<(), Denial> {
            Ok(())
        }
    }
    let guard = Guard::builder(RESOURCE)
        .authorization_server("https://as.example")
        .verifier(JsonClaims)
        .manifest(ToolManifest::new().tool("write", ["w"]))
        .policy(AllowAll)
        .build()
        .unwrap();
    assert!(guard.may_call(&principal("w"), "write"));
    assert!(!guard.may_call(&principal("r"), "write"));
}
