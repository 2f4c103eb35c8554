//! The declarative policy file: mistakes stop the server at start-up with the line and column
//! at fault (never a surprise at request time); the notes demo server's step-up rule lives in
//! its policy file; the documented example is a valid file; and the same policy written in TOML
//! or in Rust decides the same way.

use authsec_core::{
    Claims, ConfigError, PolicyRequest, Principal, TokenSource, ToolManifest, ToolRule,
};
use authsec_policy::{
    ArgumentCondition, Binding, IpCondition, PolicyConfig, PolicySet, Quota, QuotaKey, Rate, Rule,
    StepUp, TimeWindow,
};
use serde_json::{Value, json};

fn error(text: &str) -> String {
    PolicyConfig::parse_named("policy.toml", text)
        .and_then(|builder| builder.build())
        .expect_err("the file must be refused")
        .to_string()
}

#[test]
fn an_unknown_field_is_refused_naming_its_line() {
    let text = r#"
[tools.list_notes]
scopes = ["notes:read"]

[policies.fresh_mfa]
step_up = { acr = ["mfa"], max_age = 300 }

[[quotas]]
name = "calls"
per = "user"
rate = "100/minute"
burst = 20
"#;
    assert_eq!(
        error(text),
        "authsec configuration: policy.toml line 12, column 1: unknown field `burst`, expected one of `name`, `per`, `rate`, `tools`, `per_tool`, `plans`"
    );
    assert_eq!(
        error("[policies.x]\nstep_up = { acr = [\"mfa\"], maxage = 300 }\n"),
        "authsec configuration: policy.toml line 2, column 28: unknown field `maxage`, expected one of `acr`, `amr`, `max_age`"
    );
    assert_eq!(
        error("[tools.x]\nscopes = [\"a\"]\nscope = [\"b\"]\n"),
        "authsec configuration: policy.toml line 3, column 1: unknown field `scope`, expected `scopes` or `policy`"
    );
}

#[test]
fn an_invalid_cidr_block_is_refused_naming_its_line() {
    let text = r#"
[policies.office]
ip = { allow = [
    "10.0.0.0/8",
    "2001:db8::/129",
] }
"#;
    assert_eq!(
        error(text),
        "authsec configuration: policy.toml line 5, column 5: invalid CIDR block \"2001:db8::/129\": expected an address/prefix such as 10.0.0.0/8 or 2001:db8::/32"
    );
    assert_eq!(
        error("[policies.office]\nip = { deny = [\"10.0.0.1/8\"] }\n"),
        "authsec configuration: policy.toml line 2, column 16: invalid CIDR block \"10.0.0.1/8\": host bits are set after the /8 prefix (did you mean 10.0.0.0/8?)"
    );
}

#[test]
fn an_unknown_time_zone_or_bad_window_is_refused_naming_its_line() {
    let text = "[policies.hours]\n\ntime = { zone = \"Europe/Pariss\", days = \"mon-fri\", hours = \"08:00-18:00\" }\n";
    assert_eq!(
        error(text),
        "authsec configuration: policy.toml line 3, column 17: unknown time zone \"Europe/Pariss\": expected an IANA tz database name such as \"Europe/Paris\" or \"UTC\""
    );
    assert_eq!(
        error("[policies.hours]\ntime = { zone = \"UTC\", hours = \"8-18\" }\n"),
        "authsec configuration: policy.toml line 2, column 32: invalid hours \"8-18\": expected HH:MM-HH:MM such as \"08:00-18:00\""
    );
    assert_eq!(
        error("[policies.hours]\ntime = { zone = \"UTC\", days = \"mon-fry\" }\n"),
        "authsec configuration: policy.toml line 2, column 31: invalid days \"mon-fry\": \"fry\" is not a day (use mon, tue, wed, thu, fri, sat, sun)"
    );
}

#[test]
fn wrong_references_and_shapes_are_refused_naming_their_line() {
    let cases = [
        (
            "[tools.purge]\npolicy = \"fresh_mfaa\"\n[policies.fresh_mfa]\nstep_up = { acr = [\"mfa\"] }\n",
            "line 2, column 10: tool \"purge\" names the policy \"fresh_mfaa\", which is not defined in [policies] (known: fresh_mfa)",
        ),
        (
            "[policies.deploy]\nall_of = [\"fresh_mfa\", \"office\"]\n[policies.office]\nip = { allow = [\"10.0.0.0/8\"] }\n",
            "line 2, column 11: no policy is named \"fresh_mfa\" (known: deploy, office)",
        ),
        (
            "[policies.a]\nnot = \"b\"\n\n[policies.b]\nany_of = [\"a\"]\n",
            "line 5, column 11: the policies refer to each other in a cycle: a -> b -> a",
        ),
        (
            "[policies.both]\nip = { allow = [\"10.0.0.0/8\"] }\ntime = { zone = \"UTC\" }\n",
            "line 1, column 1: a rule needs exactly one of step_up, ip, time, argument, all_of, any_of, not (found ip, time); combine several with all_of",
        ),
        (
            "[policies.empty]\nany_of = []\n",
            "line 2, column 10: any_of needs at least one rule",
        ),
        (
            "[policies.repo]\nargument = { name = \"repo\" }\n",
            "line 2, column 12: the argument condition on \"repo\" accepts nothing: give `in` values and/or `matches` patterns",
        ),
        (
            "[roles.reader]\nscopes = [\"notes:read\"]\n\n[[bindings]]\nrole = \"raeder\"\nsubjects = [\"*\"]\n",
            "line 5, column 8: no role is named \"raeder\" (known: reader)",
        ),
        (
            "[roles.reader]\nscopes = [\"notes:read\"]\n\n[[bindings]]\nrole = \"reader\"\n",
            "line 4, column 1: a binding gives its role to nobody: list subjects, groups or clients (subjects = [\"*\"] for everyone)",
        ),
        (
            "[roles.reader]\nscopes = [\"notes read\"]\n",
            "line 2, column 11: scope \"notes read\" contains the character ' ', which RFC 6749 does not allow in a scope",
        ),
        (
            "[[quotas]]\nname = \"calls\"\nper = \"users\"\nrate = \"100/minute\"\n",
            "line 3, column 7: unknown variant `users`, expected one of `user`, `client`, `plan`, `global`",
        ),
        (
            "[[quotas]]\nname = \"calls\"\nper = \"user\"\nrate = \"100/fortnight\"\n",
            "line 4, column 8: invalid rate \"100/fortnight\": expected CALLS/PERIOD such as \"100/minute\" or \"30/10s\"",
        ),
        (
            "[quota_store]\nkind = \"redis\"\nurl_env = \"AUTHSEC_TEST_SURELY_UNSET_VARIABLE\"\n",
            "line 1, column 1: url_env names the environment variable \"AUTHSEC_TEST_SURELY_UNSET_VARIABLE\", which is not set",
        ),
        (
            "[tools.x]\nscopes = [\"offline_access\"]\n",
            "line 2, column 11: tool \"x\": offline_access is about refresh tokens and never appears in a challenge: a client could never satisfy it",
        ),
        (
            "[tools.x]\nscopes = [\"a\"\n",
            "line 2, column 14: unclosed array, expected `]`",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(
            error(text),
            format!("authsec configuration: policy.toml {expected}"),
            "{text}"
        );
    }
}

#[test]
fn a_policy_file_on_disk_is_named_in_its_errors() {
    let path = std::env::temp_dir().join(format!("authsec-policy-{}.toml", std::process::id()));
    std::fs::write(&path, "[policies.x]\nip = { allow = [\"nope\"] }\n").unwrap();
    let error = PolicyConfig::from_file(&path).unwrap_err();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(
        error.to_string(),
        format!(
            "authsec configuration: {} line 2, column 17: invalid CIDR block \"nope\": expected an address/prefix such as 10.0.0.0/8 or 2001:db8::/32",
            path.display()
        )
    );
    let missing = PolicyConfig::from_file("/nonexistent/policy.toml").unwrap_err();
    assert_eq!(
        missing.message(),
        "cannot read the policy file /nonexistent/policy.toml: No such file or directory (os error 2)"
    );
}

fn principal(claims: Value) -> Principal {
    let Value::Object(map) = claims else {
        unreachable!()
    };
    Principal::new(Claims::from_map(map, TokenSource::Jwt).unwrap(), "token")
}

const NOTES_POLICY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../authsec-axum/examples/notes-policy.toml"
);

#[tokio::test]
async fn the_notes_servers_manifest_and_step_up_rule_come_from_its_policy_file() {
    let config = PolicyConfig::from_file(NOTES_POLICY).expect("the notes policy file is valid");
    assert_eq!(
        *config.manifest(),
        ToolManifest::new()
            .tool("list_notes", ["notes:read"])
            .tool("add_note", ["notes:write"])
            .rule(
                "purge_notes",
                ToolRule::scopes(["notes:admin"]).with_policy("fresh_mfa")
            )
    );
    let purge = config.manifest().rule_for("purge_notes");
    let now = 1_000_000;
    let decide = |claims: Value| {
        let who = principal(claims);
        let policies = config.policies().clone();
        async move {
            let mut request = PolicyRequest::new(&who, now);
            request.tool = Some("purge_notes");
            request.rule = purge;
            policies.decide(&request).await
        }
    };
    for fresh_mfa in [
        json!({"sub":"alice","acr":"mfa","auth_time":now - 300}),
        json!({"sub":"alice","acr":"pwd","amr":["pwd","mfa"],"auth_time":now}),
    ] {
        let ruling = decide(fresh_mfa).await;
        assert!(ruling.is_allowed());
        assert_eq!(ruling.rule(), "fresh_mfa");
    }
    for weak_or_stale in [
        json!({"sub":"alice","acr":"pwd","amr":["pwd"],"auth_time":now}),
        json!({"sub":"alice","acr":"mfa","auth_time":now - 301}),
    ] {
        let ruling = decide(weak_or_stale).await;
        assert_eq!(ruling.rule(), "fresh_mfa");
        let denial = ruling.denial().expect("step-up");
        assert_eq!(denial.code().as_str(), "step_up_required");
        assert_eq!(denial.acr_values(), ["mfa"]);
        assert_eq!(denial.max_age(), Some(300));
        assert_eq!(
            denial.description(),
            "a stronger or more recent authentication is required"
        );
    }
}

#[test]
fn the_documented_example_file_is_valid() {
    let source = include_str!("../../authsec-policy/src/config.rs");
    let example: String = source
        .lines()
        .skip_while(|line| *line != "//! ```toml")
        .skip(1)
        .take_while(|line| *line != "//! ```")
        .map(|line| {
            line.strip_prefix("//!")
                .unwrap_or(line)
                .strip_prefix(' ')
                .unwrap_or("")
        })
        .map(|line| format!("{line}\n"))
        .collect();
    assert!(example.contains("[policies.deploy_rules]"), "{example}");
    let config = PolicyConfig::from_toml_str(&example).expect("the documented example is valid");
    let mut names: Vec<&str> = config.policies().rule_names().collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "deploy_rules",
            "fresh_mfa",
            "not_from_guest_wifi",
            "office",
            "office_hours"
        ]
    );
    assert_eq!(config.manifest().tools().count(), 3);
}

#[tokio::test]
async fn the_same_policy_in_toml_and_in_rust_decides_the_same() {
    let toml = PolicyConfig::from_toml_str(
        r#"
        [tools.deploy]
        scopes = ["deploy"]
        policy = "deploy_rules"

        [policies.fresh_mfa]
        step_up = { acr = ["mfa"], max_age = 600 }

        [policies.deploy_rules]
        all_of = [
            { ip = { allow = ["10.0.0.0/8"] } },
            { any_of = ["fresh_mfa", { time = { zone = "UTC", days = "sat-sun" } }] },
            { argument = { name = "repo", matches = "acme/*" } },
        ]

        [roles.deployer]
        scopes = ["deploy"]

        [[bindings]]
        role = "deployer"
        groups = ["ops"]

        [[quotas]]
        name = "deploys"
        per = "user"
        rate = "2/hour"
        "#,
    )
    .unwrap();
    let rust = PolicySet::builder()
        .rule("fresh_mfa", StepUp::new().acr(["mfa"]).max_age(600))
        .rule(
            "deploy_rules",
            Rule::all_of([
                Rule::ip(IpCondition::new().allow(["10.0.0.0/8"]).unwrap()),
                Rule::any_of([
                    Rule::reference("fresh_mfa"),
                    Rule::time(TimeWindow::new("UTC", "sat-sun", "*").unwrap()),
                ]),
                Rule::argument(ArgumentCondition::matching("repo", ["acme/*"])),
            ]),
        )
        .role("deployer", ["deploy"])
        .bind(Binding::role("deployer").groups(["ops"]))
        .quota(Quota::new("deploys", QuotaKey::User, Rate::per_hour(2)))
        .build()
        .unwrap();
    let rule = ToolRule::scopes(["deploy"]).with_policy("deploy_rules");
    // Monday 2025-01-06 09:00 UTC, and Saturday 2025-01-11 09:00 UTC.
    let (monday, saturday) = (1_736_154_000, 1_736_586_000);
    let cases = [
        (
            json!({"sub":"a","scope":"deploy","groups":["ops"],"acr":"mfa","auth_time":monday}),
            monday,
            "10.0.0.1",
            json!({"repo":"acme/x"}),
        ),
        (
            json!({"sub":"b","scope":"deploy","groups":["ops"],"acr":"pwd","auth_time":monday}),
            monday,
            "10.0.0.1",
            json!({"repo":"acme/x"}),
        ),
        (
            json!({"sub":"c","scope":"deploy","groups":["ops"],"acr":"pwd","auth_time":monday}),
            saturday,
            "10.0.0.1",
            json!({"repo":"acme/x"}),
        ),
        (
            json!({"sub":"d","scope":"deploy","groups":["ops"],"acr":"mfa","auth_time":monday}),
            monday,
            "192.0.2.1",
            json!({"repo":"acme/x"}),
        ),
        (
            json!({"sub":"e","scope":"deploy","groups":["ops"],"acr":"mfa","auth_time":monday}),
            monday,
            "10.0.0.1",
            json!({"repo":"evil/x"}),
        ),
    ];
    let mut outcomes = Vec::new();
    for (claims, now, ip, arguments) in cases {
        let who = principal(claims);
        let arguments = serde_json::value::to_raw_value(&arguments).unwrap();
        let mut request = PolicyRequest::new(&who, now);
        request.tool = Some("deploy");
        request.rule = Some(&rule);
        request.method = Some("tools/call");
        request.arguments = Some((&*arguments).into());
        request.client_ip = Some(ip.parse().unwrap());
        // Three calls each: the third exceeds the quota of 2 per hour.
        for _ in 0..3 {
            let from_toml = toml.policies().decide(&request).await;
            let from_rust = rust.decide(&request).await;
            assert_eq!(from_toml, from_rust);
            outcomes.push((
                from_toml.rule().to_owned(),
                from_toml.denial().map(|d| d.code().as_str()),
            ));
        }
        use authsec_core::Policy;
        assert_eq!(
            toml.policies()
                .effective_scopes(&request)
                .map(|s| s.to_string()),
            Some("deploy".to_owned())
        );
        assert_eq!(
            rust.effective_scopes(&request).map(|s| s.to_string()),
            Some("deploy".to_owned())
        );
    }
    let allowed = |n: &str| (n.to_owned(), None);
    let denied = |n: &str, code: &'static str| (n.to_owned(), Some(code));
    assert_eq!(
        outcomes,
        [
            allowed("deploy_rules"),
            allowed("deploy_rules"),
            denied("quota.deploys", "quota_exceeded"),
            denied("fresh_mfa", "step_up_required"),
            denied("fresh_mfa", "step_up_required"),
            denied("fresh_mfa", "step_up_required"),
            allowed("deploy_rules"),
            allowed("deploy_rules"),
            denied("quota.deploys", "quota_exceeded"),
            denied("deploy_rules.all_of[0]", "policy_denied"),
            denied("deploy_rules.all_of[0]", "policy_denied"),
            denied("deploy_rules.all_of[0]", "policy_denied"),
            denied("deploy_rules.all_of[2]", "policy_denied"),
            denied("deploy_rules.all_of[2]", "policy_denied"),
            denied("deploy_rules.all_of[2]", "policy_denied"),
        ]
    );
}

#[test]
fn rust_builder_errors_name_the_rule_path() {
    let error: ConfigError = PolicySet::builder()
        .rule("deploy", Rule::all_of([Rule::reference("missing")]))
        .build()
        .unwrap_err();
    assert_eq!(
        error.message(),
        "deploy.all_of[0]: no policy is named \"missing\" (known: deploy)"
    );
}
