//! authsec-policy's rules as a client meets them: every request goes through the Guard and the
//! adapter-independent `Protection` (the code both adapters run, including the client-IP
//! resolution from `Forwarded` / `X-Forwarded-For`), and every assertion is on the exact
//! status, challenge and JSON body the adapter would send, or on the exact tools listed.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use authsec_core::{
    Claims, ConfigError, Denial, Guard, IncomingRequest, ManualClock, Policy, PolicyRequest,
    Principal, Protection, RenderedDenial, TokenSource, TokenVerifier, ToolManifest, ToolRule,
    Verdict,
};
use authsec_policy::{
    ArgumentCondition, Binding, IpCondition, PolicyConfig, PolicySet, Rule, StepUp, TimeWindow,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

const RESOURCE: &str = "https://mcp.example.com/mcp";
const PRM: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";
/// 2025-01-06 09:00:00 UTC, a Monday.
const MONDAY_0900_UTC: u64 = 1_736_154_000;
/// An ordinary client address.
const CLIENT: &str = "192.0.2.1";

/// Test tokens are their claims, base64url-encoded JSON (the Guard's checks 1 and 2 are
/// authsec-core's business and tested there).
struct ClaimsToken;

#[async_trait]
impl TokenVerifier for ClaimsToken {
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

struct Server {
    protection: Protection,
    clock: Arc<ManualClock>,
}

impl Server {
    fn new(manifest: ToolManifest, policy: impl Policy) -> Server {
        Self::behind(manifest, policy, &[])
    }

    /// A server whose Guard believes forwarding headers from `proxies`.
    fn behind(manifest: ToolManifest, policy: impl Policy, proxies: &[&str]) -> Server {
        let clock = Arc::new(ManualClock::new(MONDAY_0900_UTC));
        let guard = Guard::builder(RESOURCE)
            .authorization_server("https://as.example")
            .verifier(ClaimsToken)
            .manifest(manifest)
            .policy(policy)
            .trusted_proxies(proxies.iter().copied())
            .clock(clock.clone())
            .build()
            .expect("guard");
        Server {
            protection: Protection::new(guard),
            clock,
        }
    }

    async fn post(
        &self,
        claims: &Value,
        body: &Value,
        peer: &str,
        extra: &[(&str, &str)],
    ) -> Result<Principal, RenderedDenial> {
        let token = URL_SAFE_NO_PAD.encode(claims.to_string());
        let mut headers = vec![("authorization".to_owned(), format!("Bearer {token}"))];
        headers.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
        let body = body.to_string();
        let peer: IpAddr = peer.parse().expect("peer address");
        let request = IncomingRequest::new(&headers[..])
            .peer(Some(peer))
            .body(Some(body.as_bytes()));
        match self.protection.check(&request).await {
            Verdict::Allow { principal, .. } => Ok(principal),
            Verdict::Deny { response, .. } => Err(response),
            other => {
                unreachable!("pass-through exists only in the AuthSec in-band profile: {other:?}")
            }
        }
    }

    /// A `tools/call` of `tool` with `arguments` from `peer`.
    async fn call_from(
        &self,
        claims: &Value,
        tool: &str,
        arguments: Value,
        peer: &str,
        extra: &[(&str, &str)],
    ) -> Result<Principal, RenderedDenial> {
        let body = json!({"jsonrpc":"2.0","id":1,"method":"tools/call",
                          "params":{"name":tool,"arguments":arguments}});
        self.post(claims, &body, peer, extra).await
    }

    async fn call(
        &self,
        claims: &Value,
        tool: &str,
        arguments: Value,
    ) -> Result<Principal, RenderedDenial> {
        self.call_from(claims, tool, arguments, CLIENT, &[]).await
    }

    /// The tools of `all` a `tools/list` answer would keep for this caller.
    async fn listed(&self, claims: &Value, all: &[&str]) -> Vec<String> {
        let body = json!({"jsonrpc":"2.0","id":2,"method":"tools/list"});
        let principal = self
            .post(claims, &body, CLIENT, &[])
            .await
            .expect("tools/list is allowed");
        let keep = self.protection.tool_filter(principal, None);
        all.iter()
            .filter(|t| keep(t))
            .map(|t| t.to_string())
            .collect()
    }
}

fn body(response: &RenderedDenial) -> Value {
    serde_json::from_str(&response.body).expect("JSON body")
}

/// The exact 403 `policy_denied` answer with this description.
fn assert_policy_denied(response: &RenderedDenial, description: &str) {
    assert_eq!(response.status, 403, "{}", response.body);
    assert_eq!(response.www_authenticate, None);
    assert_eq!(response.retry_after, None);
    assert_eq!(
        body(response),
        json!({"error":"policy_denied","error_description":description,
               "denial":"policy_denied","resource_metadata":PRM})
    );
}

fn manifest_with(tool: &str, scopes: &[&str], policy: &str) -> ToolManifest {
    ToolManifest::new().rule(
        tool,
        ToolRule::scopes(scopes.iter().copied()).with_policy(policy),
    )
}

// ----- step-up ---------------------------------------------------------------------------------

#[tokio::test]
async fn step_up_allows_a_fresh_mfa_login_and_challenges_a_weak_or_stale_one() {
    let policies = PolicySet::builder()
        .rule(
            "fresh_mfa",
            StepUp::new().acr(["mfa"]).amr(["mfa"]).max_age(300),
        )
        .build()
        .unwrap();
    let server = Server::new(manifest_with("purge", &["admin"], "fresh_mfa"), policies);
    let now = MONDAY_0900_UTC;
    for claims in [
        json!({"sub":"alice","scope":"admin","acr":"mfa","auth_time":now - 300}),
        json!({"sub":"alice","scope":"admin","acr":"pwd","amr":["pwd","mfa"],"auth_time":now}),
    ] {
        assert!(
            server.call(&claims, "purge", json!({})).await.is_ok(),
            "{claims}"
        );
    }
    for claims in [
        json!({"sub":"alice","scope":"admin","acr":"pwd","amr":["pwd"],"auth_time":now}),
        json!({"sub":"alice","scope":"admin","acr":"mfa","auth_time":now - 301}),
        json!({"sub":"alice","scope":"admin","acr":"mfa"}),
    ] {
        let response = server.call(&claims, "purge", json!({})).await.unwrap_err();
        assert_eq!(response.status, 401, "{claims}");
        assert_eq!(
            response.www_authenticate.as_deref(),
            Some(format!(
                "Bearer error=\"insufficient_user_authentication\", error_description=\"a stronger or more recent authentication is required\", acr_values=\"mfa\", max_age=\"300\", resource_metadata=\"{PRM}\""
            ).as_str())
        );
        assert_eq!(
            body(&response),
            json!({"error":"insufficient_user_authentication",
                   "error_description":"a stronger or more recent authentication is required",
                   "denial":"step_up_required","acr_values":"mfa","max_age":300,
                   "resource_metadata":PRM})
        );
    }
}

// ----- IP conditions ---------------------------------------------------------------------------

fn office_only() -> PolicySet {
    PolicySet::builder()
        .rule(
            "office",
            IpCondition::new()
                .allow(["10.0.0.0/8", "2001:db8::/32"])
                .unwrap()
                .deny(["10.66.0.0/16"])
                .unwrap(),
        )
        .build()
        .unwrap()
}

#[tokio::test]
async fn ip_rule_allows_listed_blocks_and_refuses_denied_or_unlisted_addresses() {
    let server = Server::new(manifest_with("deploy", &[], "office"), office_only());
    let alice = json!({"sub":"alice"});
    for peer in ["10.1.2.3", "2001:db8::7", "::ffff:10.1.2.3"] {
        assert!(
            server
                .call_from(&alice, "deploy", json!({}), peer, &[])
                .await
                .is_ok(),
            "{peer}"
        );
    }
    for (peer, shown) in [
        ("10.66.0.9", "10.66.0.9"),
        ("::ffff:10.66.0.9", "10.66.0.9"),
        ("192.0.2.1", "192.0.2.1"),
        ("2001:db9::1", "2001:db9::1"),
    ] {
        let response = server
            .call_from(&alice, "deploy", json!({}), peer, &[])
            .await
            .unwrap_err();
        assert_policy_denied(
            &response,
            &format!("this operation is not allowed from the address {shown}"),
        );
    }
}

#[tokio::test]
async fn spoofed_x_forwarded_for_from_an_untrusted_peer_is_ignored() {
    // 198.51.100.10 is the trusted proxy; the request comes straight from 203.0.113.9.
    let server = Server::behind(
        manifest_with("deploy", &[], "office"),
        office_only(),
        &["198.51.100.10"],
    );
    let alice = json!({"sub":"alice"});
    for header in [
        ("x-forwarded-for", "10.1.2.3"),
        ("forwarded", "for=10.1.2.3"),
    ] {
        let response = server
            .call_from(&alice, "deploy", json!({}), "203.0.113.9", &[header])
            .await
            .unwrap_err();
        assert_policy_denied(
            &response,
            "this operation is not allowed from the address 203.0.113.9",
        );
    }
}

#[tokio::test]
async fn forwarding_headers_from_a_trusted_proxy_name_the_client() {
    let server = Server::behind(
        manifest_with("deploy", &[], "office"),
        office_only(),
        &["198.51.100.0/24"],
    );
    let alice = json!({"sub":"alice"});
    let proxy = "198.51.100.10";
    // The client the proxy names is in the office network.
    for header in [
        ("x-forwarded-for", "10.1.2.3"),
        ("x-forwarded-for", "6.6.6.6, 10.1.2.3"), // the left-most entry is the client's to forge
        ("forwarded", "for=\"[2001:db8::5]:4711\""),
    ] {
        assert!(
            server
                .call_from(&alice, "deploy", json!({}), proxy, &[header])
                .await
                .is_ok(),
            "{header:?}"
        );
    }
    // The client the proxy names is outside it.
    let response = server
        .call_from(
            &alice,
            "deploy",
            json!({}),
            proxy,
            &[("x-forwarded-for", "203.0.113.50")],
        )
        .await
        .unwrap_err();
    assert_policy_denied(
        &response,
        "this operation is not allowed from the address 203.0.113.50",
    );
    // Without forwarding headers the proxy itself is the client, and it is not in the office.
    let response = server
        .call_from(&alice, "deploy", json!({}), proxy, &[])
        .await
        .unwrap_err();
    assert_policy_denied(
        &response,
        "this operation is not allowed from the address 198.51.100.10",
    );
}

// ----- time windows ----------------------------------------------------------------------------

#[tokio::test]
async fn time_window_follows_daylight_saving_time_in_europe_paris() {
    let policies = PolicySet::builder()
        .rule(
            "morning",
            TimeWindow::new("Europe/Paris", "mon-fri", "08:00-09:00").unwrap(),
        )
        .rule(
            "night_of_change",
            TimeWindow::new("Europe/Paris", "sun", "02:00-03:00").unwrap(),
        )
        .build()
        .unwrap();
    let manifest = manifest_with("report", &[], "morning").rule(
        "maintenance",
        ToolRule::scopes(Vec::<String>::new()).with_policy("night_of_change"),
    );
    let server = Server::new(manifest, policies);
    let alice = json!({"sub":"alice"});
    let denied_morning = "this operation is only allowed mon-fri, 08:00-09:00 (Europe/Paris time)";
    let denied_night = "this operation is only allowed sun, 02:00-03:00 (Europe/Paris time)";
    let cases: [(u64, &str, Option<&str>); 10] = [
        // Fri 2025-03-28 07:30 UTC = 08:30 CET (UTC+1): inside.
        (1_743_147_000, "report", None),
        // Mon 2025-03-31, after the spring change: 07:30 UTC = 09:30 CEST (UTC+2): outside...
        (1_743_406_200, "report", Some(denied_morning)),
        // ...and 06:30 UTC = 08:30 CEST: inside.
        (1_743_402_600, "report", None),
        // Sun 2025-03-30: 00:59:59 UTC = 01:59:59 CET, then 01:00 UTC = 03:00 CEST; 02:xx never
        // happens, so the 02:00-03:00 window never opens that night.
        (1_743_296_399, "maintenance", Some(denied_night)),
        (1_743_296_400, "maintenance", Some(denied_night)),
        // Sun 2025-10-26, the autumn change: 02:30 happens twice, both are inside...
        (1_761_438_600, "maintenance", None), // 00:30 UTC = 02:30 CEST
        (1_761_442_200, "maintenance", None), // 01:30 UTC = 02:30 CET
        // ...and 02:00 UTC = 03:00 CET is outside.
        (1_761_444_000, "maintenance", Some(denied_night)),
        // Mon 2025-10-27, back on UTC+1: 07:30 UTC = 08:30 CET inside, 06:30 UTC = 07:30 outside.
        (1_761_550_200, "report", None),
        (1_761_546_600, "report", Some(denied_morning)),
    ];
    for (now, tool, denied) in cases {
        server.clock.set(now);
        let answer = server.call(&alice, tool, json!({})).await;
        match denied {
            None => assert!(answer.is_ok(), "{tool} at {now}: {:?}", answer.err()),
            Some(description) => assert_policy_denied(&answer.unwrap_err(), description),
        }
    }
}

// ----- argument conditions ---------------------------------------------------------------------

#[tokio::test]
async fn argument_condition_allows_listed_and_matching_values_only() {
    let policies = PolicySet::builder()
        .rule(
            "acme_repos",
            ArgumentCondition::one_of("repo", ["acme/api"]).or_matching(["acme/tools-*"]),
        )
        .build()
        .unwrap();
    let server = Server::new(manifest_with("deploy", &[], "acme_repos"), policies);
    let alice = json!({"sub":"alice"});
    for repo in ["acme/api", "acme/tools-ci", "acme/tools-"] {
        assert!(
            server
                .call(&alice, "deploy", json!({"repo": repo, "force": true}))
                .await
                .is_ok(),
            "{repo}"
        );
    }
    for (arguments, description) in [
        (
            json!({"repo":"acme/web"}),
            "the argument \"repo\" = \"acme/web\" is not allowed for this operation",
        ),
        (
            json!({"repo":"evil/acme/api"}),
            "the argument \"repo\" = \"evil/acme/api\" is not allowed for this operation",
        ),
        (
            json!({"branch":"main"}),
            "the argument \"repo\" is required by this operation's policy",
        ),
        (
            json!({"repo":["acme/api"]}),
            "the argument \"repo\" must be a string",
        ),
    ] {
        let response = server.call(&alice, "deploy", arguments).await.unwrap_err();
        assert_policy_denied(&response, description);
    }
    // A member sent twice could be read differently by the tool: refused.
    let twice = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"deploy","arguments":{"repo":"acme/api","repo":"evil/x"}}}"#;
    let token = URL_SAFE_NO_PAD.encode(alice.to_string());
    let headers = [("authorization", format!("Bearer {token}"))];
    let request = IncomingRequest::new(&headers[..])
        .peer(Some(CLIENT.parse().unwrap()))
        .body(Some(twice.as_bytes()));
    let Verdict::Deny { response, .. } = server.protection.check(&request).await else {
        panic!("a duplicated argument must be refused")
    };
    assert_policy_denied(&response, "the argument \"repo\" is given more than once");
}

// ----- combinators -----------------------------------------------------------------------------

#[tokio::test]
async fn all_of_any_of_and_not_compose_rules_and_name_the_deciding_one() {
    let rulings = Arc::new(Mutex::new(Vec::new()));
    let seen = rulings.clone();
    let policies = PolicySet::builder()
        .rule("fresh_mfa", StepUp::new().acr(["mfa"]).max_age(300))
        .rule("office", IpCondition::new().allow(["10.0.0.0/8"]).unwrap())
        .rule(
            "not_guest_wifi",
            Rule::not(Rule::ip(
                IpCondition::new().allow(["10.66.0.0/16"]).unwrap(),
            )),
        )
        .rule(
            "deploy_rules",
            Rule::all_of([
                Rule::reference("not_guest_wifi"),
                Rule::any_of([Rule::reference("office"), Rule::reference("fresh_mfa")]),
                Rule::argument(ArgumentCondition::matching("repo", ["acme/*"])),
            ]),
        )
        .on_decision(move |request: &PolicyRequest<'_>, ruling| {
            seen.lock().unwrap().push((
                request.tool.map(str::to_owned),
                ruling.rule().to_owned(),
                ruling.is_allowed(),
            ));
        })
        .build()
        .unwrap();
    let server = Server::new(manifest_with("deploy", &[], "deploy_rules"), policies);
    let now = MONDAY_0900_UTC;
    let weak = json!({"sub":"alice","acr":"pwd","auth_time":now});
    let strong = json!({"sub":"alice","acr":"mfa","auth_time":now});
    let repo = json!({"repo":"acme/api"});

    // From the office: any_of is satisfied by the network.
    assert!(
        server
            .call_from(&weak, "deploy", repo.clone(), "10.1.2.3", &[])
            .await
            .is_ok()
    );
    // From elsewhere without MFA: both members of any_of deny; the step-up is the actionable one.
    let response = server
        .call_from(&weak, "deploy", repo.clone(), "192.0.2.1", &[])
        .await
        .unwrap_err();
    assert_eq!(response.status, 401);
    assert_eq!(body(&response)["denial"], "step_up_required");
    assert_eq!(body(&response)["acr_values"], "mfa");
    // From elsewhere with MFA: allowed.
    assert!(
        server
            .call_from(&strong, "deploy", repo.clone(), "192.0.2.1", &[])
            .await
            .is_ok()
    );
    // From the guest network (inside the office block): `not` refuses, whatever the login.
    let response = server
        .call_from(&strong, "deploy", repo.clone(), "10.66.1.1", &[])
        .await
        .unwrap_err();
    assert_policy_denied(
        &response,
        "this operation is excluded by the policy \"not_guest_wifi\"",
    );
    // A repo outside acme: the third member of all_of refuses.
    let response = server
        .call_from(&strong, "deploy", json!({"repo":"evil/x"}), "10.1.2.3", &[])
        .await
        .unwrap_err();
    assert_policy_denied(
        &response,
        "the argument \"repo\" = \"evil/x\" is not allowed for this operation",
    );

    let deploy = Some("deploy".to_owned());
    assert_eq!(
        *rulings.lock().unwrap(),
        [
            (deploy.clone(), "deploy_rules".to_owned(), true),
            (deploy.clone(), "fresh_mfa".to_owned(), false),
            (deploy.clone(), "deploy_rules".to_owned(), true),
            (deploy.clone(), "not_guest_wifi".to_owned(), false),
            (deploy.clone(), "deploy_rules.all_of[2]".to_owned(), false),
        ]
    );
}

#[tokio::test]
async fn a_rule_description_replaces_the_built_in_one_of_it_and_its_members() {
    let policies = PolicySet::builder()
        .rule(
            "office",
            Rule::ip(IpCondition::new().allow(["10.0.0.0/8"]).unwrap())
                .with_description("connect through the office VPN first"),
        )
        .build()
        .unwrap();
    let server = Server::new(manifest_with("deploy", &[], "office"), policies);
    let response = server
        .call(&json!({"sub":"alice"}), "deploy", json!({}))
        .await
        .unwrap_err();
    assert_policy_denied(&response, "connect through the office VPN first");

    let (manifest, policies) = PolicyConfig::from_toml_str(
        r#"
        [tools.deploy]
        policy = "deploy_rules"

        [policies.deploy_rules]
        all_of = [{ ip = { allow = ["10.0.0.0/8"] } }, { step_up = { acr = ["mfa"] } }]
        description = "deploys need an MFA login from the office network"
        "#,
    )
    .unwrap()
    .into_parts();
    let server = Server::new(manifest, policies);
    let weak = json!({"sub":"alice","acr":"pwd"});
    let response = server
        .call_from(&weak, "deploy", json!({}), "192.0.2.1", &[])
        .await
        .unwrap_err();
    assert_policy_denied(
        &response,
        "deploys need an MFA login from the office network",
    );
    // A step-up keeps what the client needs to act on.
    let response = server
        .call_from(&weak, "deploy", json!({}), "10.0.0.1", &[])
        .await
        .unwrap_err();
    assert_eq!(response.status, 401);
    assert_eq!(
        body(&response),
        json!({"error":"insufficient_user_authentication",
               "error_description":"deploys need an MFA login from the office network",
               "denial":"step_up_required","acr_values":"mfa","resource_metadata":PRM})
    );
}

// ----- your own policy -------------------------------------------------------------------------

/// A user's own policy: only on weekdays that are not in a freeze list (here: refuses when the
/// argument `ticket` is empty).
struct NeedsTicket;

#[async_trait]
impl Policy for NeedsTicket {
    async fn evaluate(&self, request: &PolicyRequest<'_>) -> Result<(), Denial> {
        let has_ticket = request
            .arguments
            .and_then(|a| serde_json::from_str::<Value>(a.get()).ok())
            .is_some_and(|a| a["ticket"].as_str().is_some_and(|t| !t.is_empty()));
        if has_ticket {
            Ok(())
        } else {
            Err(Denial::policy_denied("a change ticket is required"))
        }
    }
}

#[tokio::test]
async fn a_custom_policy_is_named_by_tools_and_composed_with_built_in_rules() {
    let config = PolicyConfig::parse(
        r#"
        [tools.deploy]
        policy = "change_control"

        [policies.change_control]
        all_of = ["ticket", { ip = { allow = ["10.0.0.0/8"] } }]
        "#,
    )
    .unwrap()
    .custom("ticket", NeedsTicket)
    .build()
    .unwrap();
    let (manifest, policies) = config.into_parts();
    let server = Server::new(manifest, policies);
    let alice = json!({"sub":"alice"});
    assert!(
        server
            .call_from(&alice, "deploy", json!({"ticket":"CHG-1"}), "10.0.0.5", &[])
            .await
            .is_ok()
    );
    let response = server
        .call_from(&alice, "deploy", json!({}), "10.0.0.5", &[])
        .await
        .unwrap_err();
    assert_policy_denied(&response, "a change ticket is required");
    let response = server
        .call_from(
            &alice,
            "deploy",
            json!({"ticket":"CHG-1"}),
            "192.0.2.9",
            &[],
        )
        .await
        .unwrap_err();
    assert_policy_denied(
        &response,
        "this operation is not allowed from the address 192.0.2.9",
    );
}

#[tokio::test]
async fn a_built_in_rule_alone_is_the_guards_policy_for_every_request() {
    // No policy set: an IP condition on its own guards every request, initialize included.
    let server = Server::new(
        ToolManifest::new().tool("list", Vec::<String>::new()),
        IpCondition::new().allow(["10.0.0.0/8"]).unwrap(),
    );
    let initialize = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{}});
    let alice = json!({"sub":"alice"});
    assert!(
        server
            .post(&alice, &initialize, "10.9.9.9", &[])
            .await
            .is_ok()
    );
    let response = server
        .post(&alice, &initialize, "192.0.2.1", &[])
        .await
        .unwrap_err();
    assert_policy_denied(
        &response,
        "this operation is not allowed from the address 192.0.2.1",
    );
}

#[tokio::test]
async fn the_global_rule_applies_to_every_request_before_the_tools_own() {
    let policies = PolicySet::builder()
        .global(IpCondition::new().deny(["203.0.113.0/24"]).unwrap())
        .rule("fresh_mfa", StepUp::new().acr(["mfa"]))
        .build()
        .unwrap();
    let server = Server::new(manifest_with("purge", &[], "fresh_mfa"), policies);
    let initialize = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{}});
    let weak = json!({"sub":"alice","acr":"pwd"});
    assert!(server.post(&weak, &initialize, CLIENT, &[]).await.is_ok());
    let response = server
        .post(&weak, &initialize, "203.0.113.4", &[])
        .await
        .unwrap_err();
    assert_policy_denied(
        &response,
        "this operation is not allowed from the address 203.0.113.4",
    );
    // The global rule is checked first: a blocked network is told so, not asked to step up.
    let response = server
        .call_from(&weak, "purge", json!({}), "203.0.113.4", &[])
        .await
        .unwrap_err();
    assert_policy_denied(
        &response,
        "this operation is not allowed from the address 203.0.113.4",
    );
    assert_eq!(
        server
            .call(&weak, "purge", json!({}))
            .await
            .unwrap_err()
            .status,
        401
    );
}

#[tokio::test]
async fn a_tool_naming_an_unregistered_policy_is_denied_and_caught_by_check_manifest() {
    let policies = PolicySet::builder()
        .rule("fresh_mfa", StepUp::new().acr(["mfa"]))
        .build()
        .unwrap();
    let manifest = manifest_with("purge", &[], "fresh_mfaa");
    assert_eq!(
        policies.check_manifest(&manifest),
        Err(ConfigError::new(
            "tool \"purge\" names the policy \"fresh_mfaa\", which is not registered (known: fresh_mfa)"
        ))
    );
    let server = Server::new(manifest, policies);
    let response = server
        .call(&json!({"sub":"alice","acr":"mfa"}), "purge", json!({}))
        .await
        .unwrap_err();
    assert_policy_denied(
        &response,
        "the policy \"fresh_mfaa\" this tool requires is not configured on this server",
    );
}

// ----- roles and bindings ----------------------------------------------------------------------

const NOTES_TOOLS: [&str; 3] = ["add_note", "list_notes", "purge_notes"];

fn notes_manifest() -> ToolManifest {
    ToolManifest::new()
        .tool("list_notes", ["notes:read"])
        .tool("add_note", ["notes:write"])
        .tool("purge_notes", ["notes:admin"])
}

fn bound_policies() -> PolicySet {
    PolicySet::builder()
        .role("reader", ["notes:read"])
        .role("writer", ["notes:read", "notes:write"])
        .role("admin", ["notes:read", "notes:write", "notes:admin"])
        .bind(Binding::role("reader").subjects(["*"]))
        .bind(
            Binding::role("writer")
                .groups(["staff"])
                .clients(["notes-cli"]),
        )
        .bind(
            Binding::role("admin")
                .subjects(["root"])
                .when(IpCondition::new().allow(["10.0.0.0/8"]).unwrap()),
        )
        .groups_claim("roles")
        .build()
        .unwrap()
}

#[tokio::test]
async fn bindings_narrow_token_scopes_for_calls_and_listing() {
    let server = Server::new(notes_manifest(), bound_policies());
    let all = "notes:read notes:write notes:admin";
    // Everyone is a reader: a token with every scope may only read.
    let guest = json!({"sub":"guest","scope":all});
    assert_eq!(server.listed(&guest, &NOTES_TOOLS).await, ["list_notes"]);
    assert!(server.call(&guest, "list_notes", json!({})).await.is_ok());
    let response = server
        .call(&guest, "add_note", json!({"text":"x"}))
        .await
        .unwrap_err();
    assert_policy_denied(
        &response,
        "no role binding allows the scopes this tool needs: notes:write",
    );
    // Staff (groups from the configured claim) and the notes-cli client write.
    for writer in [
        json!({"sub":"bob","scope":all,"roles":["staff"]}),
        json!({"sub":"bob","scope":all,"roles":"staff"}),
        json!({"sub":"bob","scope":all,"client_id":"notes-cli"}),
    ] {
        assert_eq!(
            server.listed(&writer, &NOTES_TOOLS).await,
            ["add_note", "list_notes"],
            "{writer}"
        );
        assert!(
            server
                .call(&writer, "add_note", json!({"text":"x"}))
                .await
                .is_ok(),
            "{writer}"
        );
    }
    // A binding never widens: staff whose token lacks notes:write must consent first.
    let narrow_token = json!({"sub":"bob","scope":"notes:read","roles":["staff"]});
    assert_eq!(
        server.listed(&narrow_token, &NOTES_TOOLS).await,
        ["list_notes"]
    );
    let response = server
        .call(&narrow_token, "add_note", json!({"text":"x"}))
        .await
        .unwrap_err();
    assert_eq!(response.status, 403);
    assert_eq!(
        body(&response),
        json!({"error":"insufficient_scope",
               "error_description":"Tool \"add_note\" requires scope: notes:write. Your token has: notes:read. Ask an AuthSec admin to grant the missing scope, or use a tool that fits your current scopes.",
               "denial":"scope_insufficient","tool":"add_note","granted_scopes":["notes:read"],
               "scope":"notes:read notes:write",
               "required_scopes":["notes:write"],"resource_metadata":PRM})
    );
}

#[tokio::test]
async fn a_conditional_binding_applies_only_while_its_condition_holds() {
    let server = Server::new(notes_manifest(), bound_policies());
    let root = json!({"sub":"root","scope":"notes:read notes:write notes:admin"});
    assert!(
        server
            .call_from(&root, "purge_notes", json!({}), "10.1.1.1", &[])
            .await
            .is_ok()
    );
    let response = server
        .call_from(&root, "purge_notes", json!({}), "192.0.2.1", &[])
        .await
        .unwrap_err();
    assert_policy_denied(
        &response,
        "no role binding allows the scopes this tool needs: notes:admin",
    );
    // Listing has no client address: the conditional binding may apply, so the tool is listed
    // (and its call is still checked with the real address, above).
    assert_eq!(server.listed(&root, &NOTES_TOOLS).await, NOTES_TOOLS);
}

#[tokio::test]
async fn bindings_conditioned_on_arguments_list_the_tool_and_check_the_call() {
    let config = PolicyConfig::from_toml_str(
        r#"
        [tools.deploy]
        scopes = ["deploy"]
        [tools.status]
        scopes = ["status"]

        [roles.observer]
        scopes = ["status"]
        [roles.deployer]
        scopes = ["deploy"]

        [[bindings]]
        role = "observer"
        subjects = ["*"]

        [[bindings]]
        role = "deployer"
        groups = ["ci"]
        when = { argument = { name = "repo", matches = "acme/*" } }
        "#,
    )
    .unwrap();
    let (manifest, policies) = config.into_parts();
    let server = Server::new(manifest, policies);
    let ci = json!({"sub":"runner","scope":"deploy status","groups":["ci"]});
    assert_eq!(
        server.listed(&ci, &["deploy", "status"]).await,
        ["deploy", "status"]
    );
    assert!(
        server
            .call(&ci, "deploy", json!({"repo":"acme/api"}))
            .await
            .is_ok()
    );
    let response = server
        .call(&ci, "deploy", json!({"repo":"other/api"}))
        .await
        .unwrap_err();
    assert_policy_denied(
        &response,
        "no role binding allows the scopes this tool needs: deploy",
    );
    let outsider = json!({"sub":"eve","scope":"deploy status"});
    assert_eq!(
        server.listed(&outsider, &["deploy", "status"]).await,
        ["status"]
    );
}

#[tokio::test]
async fn a_custom_policy_cannot_be_a_binding_condition() {
    let error = PolicySet::builder()
        .role("r", ["s"])
        .bind(
            Binding::role("r")
                .subjects(["a"])
                .when(Rule::custom(NeedsTicket)),
        )
        .build()
        .unwrap_err();
    assert_eq!(
        error.message(),
        "bindings[0].when: a binding condition must be made of built-in rules: a custom policy cannot decide scopes"
    );
}

// ----- deciding without awaiting ----------------------------------------------------------------

/// The verdict, as everything the adapter would send.
fn sent(verdict: &Verdict) -> String {
    match verdict {
        Verdict::Allow { principal, .. } => format!("allow {}", principal.subject()),
        Verdict::Deny { response, .. } => format!(
            "{} {:?} {:?} {}",
            response.status, response.www_authenticate, response.retry_after, response.body
        ),
        other => format!("{other:?}"),
    }
}

#[tokio::test]
async fn a_policy_set_without_quotas_or_custom_rules_decides_a_warm_request_without_awaiting() {
    let rules = || {
        PolicySet::builder()
            .rule("fresh_mfa", StepUp::new().acr(["mfa"]).max_age(300))
            .rule("office", IpCondition::new().allow(["10.0.0.0/8"]).unwrap())
            .rule(
                "deploy_rules",
                Rule::all_of([
                    Rule::any_of([Rule::reference("office"), Rule::reference("fresh_mfa")]),
                    Rule::argument(ArgumentCondition::matching("repo", ["acme/*"])),
                ]),
            )
    };
    let manifest =
        || manifest_with("deploy", &[], "deploy_rules").tool("ping_tool", Vec::<String>::new());
    // Two servers alike: one answers from `check_now`, the other by awaiting.
    let sync = Server::new(manifest(), rules().build().unwrap());
    let awaited = Server::new(manifest(), rules().build().unwrap());
    assert!(sync.protection.guard().checks_synchronously());
    let now = MONDAY_0900_UTC;
    let exp = now + 3600;
    let weak = json!({"sub":"alice","acr":"pwd","auth_time":now,"exp":exp});
    let strong = json!({"sub":"bob","acr":"mfa","auth_time":now,"exp":exp});
    let cases = [
        (
            &weak,
            "deploy",
            json!({"repo":"acme/api"}),
            "10.1.2.3",
            "allow alice",
        ),
        (&weak, "deploy", json!({"repo":"acme/api"}), CLIENT, "401"),
        (
            &strong,
            "deploy",
            json!({"repo":"acme/api"}),
            CLIENT,
            "allow bob",
        ),
        (
            &strong,
            "deploy",
            json!({"repo":"evil/x"}),
            "10.1.2.3",
            "403",
        ),
        (&weak, "ping_tool", json!({}), CLIENT, "allow alice"),
        (&weak, "unlisted", json!({}), CLIENT, "403"),
    ];
    let mut answered = 0;
    for (claims, tool, arguments, peer, expected) in cases {
        let token = URL_SAFE_NO_PAD.encode(claims.to_string());
        let headers = [("authorization", format!("Bearer {token}"))];
        let body = json!({"jsonrpc":"2.0","id":1,"method":"tools/call",
                          "params":{"name":tool,"arguments":arguments}})
        .to_string();
        let request = IncomingRequest::new(&headers[..])
            .peer(Some(peer.parse().unwrap()))
            .body(Some(body.as_bytes()));
        // Warm both caches (the first sight of a token is always awaited).
        sync.protection.check(&request).await;
        awaited.protection.check(&request).await;
        let from_now = sync
            .protection
            .check_now(&request)
            .map(|verdict| sent(&verdict));
        let by_awaiting = sent(&awaited.protection.check(&request).await);
        assert_eq!(from_now.as_ref(), Some(&by_awaiting), "{tool} from {peer}");
        assert!(by_awaiting.starts_with(expected), "{by_awaiting}");
        answered += 1;
    }
    assert_eq!(answered, 6);

    // A quota, or a custom rule, makes every request awaited.
    let quota = Server::new(
        manifest(),
        rules()
            .quota(authsec_policy::Quota::new(
                "deploys",
                authsec_policy::QuotaKey::User,
                authsec_policy::Rate::new(5, std::time::Duration::from_secs(60)).unwrap(),
            ))
            .build()
            .unwrap(),
    );
    assert!(!quota.protection.guard().checks_synchronously());
}
