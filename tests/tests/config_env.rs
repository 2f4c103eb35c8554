//! authsec-config's environment way in: the AuthSec family's fifteen `AUTHSEC_*` variables
//! and their legacy aliases, the prefix, list and map parsing, mode aliases and inference,
//! and `validate()`'s rules in the family's order with exact messages.

use std::collections::BTreeMap;

use authsec_config::{Config, DenialMode, PolicyMode, ValidationMode};

fn from(vars: &[(&str, &str)]) -> Config {
    from_prefix("AUTHSEC_", vars)
}

fn from_prefix(prefix: &str, vars: &[(&str, &str)]) -> Config {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    Config::from_lookup(prefix, move |name| {
        vars.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
    })
    .expect("the environment parses")
}

fn error(vars: &[(&str, &str)]) -> String {
    from(vars).validate().unwrap_err().message().to_owned()
}

const BASE: [(&str, &str); 3] = [
    ("AUTHSEC_ISSUER", "https://as.example"),
    ("AUTHSEC_RESOURCE_URI", "https://mcp.example.com/mcp"),
    ("AUTHSEC_JWKS_URL", "https://as.example/oauth/jwks"),
];

fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut vars = BASE.to_vec();
    vars.extend_from_slice(extra);
    vars
}

#[test]
fn every_canonical_variable_sets_its_field() {
    let config = from(&[
        ("AUTHSEC_ISSUER", "https://as.example"),
        ("AUTHSEC_AUTHORIZATION_SERVER", "https://login.example"),
        ("AUTHSEC_JWKS_URL", "https://as.example/oauth/jwks"),
        (
            "AUTHSEC_INTROSPECTION_URL",
            "https://as.example/oauth/introspect",
        ),
        ("AUTHSEC_INTROSPECTION_CLIENT_ID", "rs-uuid"),
        ("AUTHSEC_INTROSPECTION_CLIENT_SECRET", "sec_123"),
        ("AUTHSEC_RESOURCE_URI", "https://mcp.example.com/mcp"),
        ("AUTHSEC_RESOURCE_NAME", "Notes"),
        ("AUTHSEC_RESOURCE_SERVER_ID", "rs-uuid"),
        ("AUTHSEC_SUPPORTED_SCOPES", "notes:read, notes:write"),
        (
            "AUTHSEC_TOOL_SCOPES_JSON",
            r#"{"list_notes":["notes:read"],"add_note":"notes:write notes:admin"}"#,
        ),
        (
            "AUTHSEC_TOOL_SCOPE_SUGGESTIONS_JSON",
            r#"{"purge_notes":["notes:admin"]}"#,
        ),
        ("AUTHSEC_POLICY_MODE", "remote_with_local_fallback"),
        ("AUTHSEC_VALIDATION_MODE", "jwt_or_introspect"),
        ("AUTHSEC_PUBLISH_MANIFEST", "yes"),
    ]);
    assert_eq!(config.issuer, "https://as.example");
    assert_eq!(config.authorization_server(), "https://login.example");
    assert_eq!(
        config.jwks_url.as_deref(),
        Some("https://as.example/oauth/jwks")
    );
    assert_eq!(
        config.introspection_url.as_deref(),
        Some("https://as.example/oauth/introspect")
    );
    assert_eq!(config.introspection_client_id.as_deref(), Some("rs-uuid"));
    assert_eq!(
        config.introspection_client_secret.as_deref(),
        Some("sec_123")
    );
    assert_eq!(config.resource, "https://mcp.example.com/mcp");
    assert_eq!(config.resource_name(), "Notes");
    assert_eq!(config.resource_server_id.as_deref(), Some("rs-uuid"));
    assert_eq!(
        config.supported_scopes,
        Some(vec!["notes:read".to_owned(), "notes:write".to_owned()])
    );
    let mut tools = BTreeMap::new();
    tools.insert(
        "add_note".to_owned(),
        vec!["notes:write".to_owned(), "notes:admin".to_owned()],
    );
    tools.insert("list_notes".to_owned(), vec!["notes:read".to_owned()]);
    assert_eq!(config.tool_scopes, Some(tools));
    assert_eq!(
        config
            .tool_scope_suggestions
            .as_ref()
            .map(|m| m["purge_notes"].clone()),
        Some(vec!["notes:admin".to_owned()])
    );
    assert_eq!(
        config.policy_mode,
        Some(PolicyMode::RemoteWithLocalFallback)
    );
    assert_eq!(
        config.validation_mode,
        Some(ValidationMode::JwtOrIntrospect)
    );
    assert!(config.publish_manifest);
    assert_eq!(config.validate(), Ok(()));
}

#[test]
fn legacy_aliases_are_read_when_the_canonical_name_is_unset_or_empty() {
    let config = from(&[
        ("AUTHSEC_ISSUER", "https://as.example"),
        ("AUTHSEC_RESOURCE", "https://mcp.example.com/mcp"),
        ("AUTHSEC_JWKS_URI", "https://as.example/jwks-alias"),
        (
            "AUTHSEC_INTROSPECTION_ENDPOINT",
            "https://as.example/introspect-alias",
        ),
        ("AUTHSEC_INTROSPECTION_CLIENT_ID", "  "),
        ("AUTHSEC_INTROSPECTION_ID", "id-alias"),
        ("AUTHSEC_INTROSPECTION_SECRET", "secret-alias"),
    ]);
    assert_eq!(config.resource, "https://mcp.example.com/mcp");
    assert_eq!(
        config.jwks_url.as_deref(),
        Some("https://as.example/jwks-alias")
    );
    assert_eq!(
        config.introspection_url.as_deref(),
        Some("https://as.example/introspect-alias")
    );
    assert_eq!(config.introspection_client_id.as_deref(), Some("id-alias"));
    assert_eq!(
        config.introspection_client_secret.as_deref(),
        Some("secret-alias")
    );
}

#[test]
fn the_canonical_name_wins_over_its_alias() {
    let config = from(&[
        ("AUTHSEC_RESOURCE_URI", "https://canonical.example/mcp"),
        ("AUTHSEC_RESOURCE", "https://alias.example/mcp"),
        ("AUTHSEC_JWKS_URL", "https://as.example/canonical"),
        ("AUTHSEC_JWKS_URI", "https://as.example/alias"),
        ("AUTHSEC_INTROSPECTION_CLIENT_SECRET", "canonical"),
        ("AUTHSEC_INTROSPECTION_SECRET", "alias"),
    ]);
    assert_eq!(config.resource, "https://canonical.example/mcp");
    assert_eq!(
        config.jwks_url.as_deref(),
        Some("https://as.example/canonical")
    );
    assert_eq!(
        config.introspection_client_secret.as_deref(),
        Some("canonical")
    );
}

#[test]
fn a_custom_prefix_replaces_authsec_in_every_name() {
    let config = from_prefix(
        "NOTES_",
        &[
            ("NOTES_ISSUER", "https://as.example"),
            ("NOTES_RESOURCE", "https://mcp.example.com/mcp"),
            ("NOTES_JWKS_URI", "https://as.example/jwks"),
            ("AUTHSEC_RESOURCE_NAME", "ignored"),
        ],
    );
    assert_eq!(config.issuer, "https://as.example");
    assert_eq!(config.resource, "https://mcp.example.com/mcp");
    assert_eq!(config.jwks_url.as_deref(), Some("https://as.example/jwks"));
    assert_eq!(config.resource_name(), "AuthSec Protected MCP Resource");
    let error = from_prefix("NOTES_", &[("NOTES_ISSUER", "https://as.example")])
        .validate()
        .unwrap_err();
    assert_eq!(error.message(), "NOTES_RESOURCE_URI: is required");
}

#[test]
fn mode_aliases_and_unknown_values() {
    let policy = |v: &'static str| from(&with(&[("AUTHSEC_POLICY_MODE", v)])).policy_mode;
    assert_eq!(policy("enforce"), Some(PolicyMode::RemoteRequired));
    assert_eq!(policy("REMOTE_REQUIRED"), Some(PolicyMode::RemoteRequired));
    assert_eq!(policy("observe"), Some(PolicyMode::Open));
    assert_eq!(policy("open"), Some(PolicyMode::Open));
    assert_eq!(policy("local_only"), Some(PolicyMode::LocalOnly));
    assert_eq!(policy("strict"), None);
    let validation =
        |v: &'static str| from(&with(&[("AUTHSEC_VALIDATION_MODE", v)])).validation_mode;
    assert_eq!(validation("auto"), None);
    assert_eq!(validation("bogus"), None);
    assert_eq!(validation("Jwt_Only"), Some(ValidationMode::JwtOnly));
    assert_eq!(
        validation("introspection_only"),
        Some(ValidationMode::IntrospectionOnly)
    );
    assert_eq!(
        validation("jwt_and_introspect"),
        Some(ValidationMode::JwtAndIntrospect)
    );
}

#[test]
fn publish_manifest_is_true_only_for_1_true_yes() {
    for (value, expected) in [
        ("1", true),
        ("true", true),
        (" YES ", true),
        ("True", true),
        ("0", false),
        ("on", false),
        ("y", false),
        ("false", false),
    ] {
        let config = from(&with(&[("AUTHSEC_PUBLISH_MANIFEST", value)]));
        assert_eq!(config.publish_manifest, expected, "{value:?}");
    }
}

#[test]
fn scope_lists_are_json_arrays_or_comma_and_space_separated() {
    let scopes = |v: &'static str| from(&with(&[("AUTHSEC_SUPPORTED_SCOPES", v)])).supported_scopes;
    let list = |v: &[&str]| Some(v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
    assert_eq!(
        scopes(r#"["a:read", "b:write"]"#),
        list(&["a:read", "b:write"])
    );
    assert_eq!(
        scopes("a:read,b:write  c"),
        list(&["a:read", "b:write", "c"])
    );
    assert_eq!(scopes(" , "), None);
}

#[test]
fn tool_scopes_stay_unset_when_invalid_or_empty_so_inference_still_works() {
    for value in ["{}", "not json", r#"["list"]"#, r#"{"t": 3}"#] {
        let config = from(&with(&[("AUTHSEC_TOOL_SCOPES_JSON", value)]));
        assert_eq!(config.tool_scopes, None, "{value:?}");
        assert_eq!(
            config.effective_policy_mode(),
            PolicyMode::Open,
            "{value:?}"
        );
    }
    let public = from(&with(&[("AUTHSEC_TOOL_SCOPES_JSON", r#"{"health": []}"#)]));
    assert_eq!(
        public.tool_scopes.as_ref().map(|m| m["health"].len()),
        Some(0)
    );
    assert_eq!(public.effective_policy_mode(), PolicyMode::LocalOnly);
}

#[test]
fn policy_mode_is_inferred_from_resource_server_id_then_tool_scopes() {
    assert_eq!(from(&BASE).effective_policy_mode(), PolicyMode::Open);
    assert_eq!(
        from(&with(&[("AUTHSEC_TOOL_SCOPES_JSON", r#"{"t":["s"]}"#)])).effective_policy_mode(),
        PolicyMode::LocalOnly
    );
    assert_eq!(
        from(&with(&[
            ("AUTHSEC_TOOL_SCOPES_JSON", r#"{"t":["s"]}"#),
            ("AUTHSEC_RESOURCE_SERVER_ID", "rs-1"),
        ]))
        .effective_policy_mode(),
        PolicyMode::RemoteRequired
    );
    assert_eq!(
        from(&with(&[
            ("AUTHSEC_RESOURCE_SERVER_ID", "rs-1"),
            ("AUTHSEC_POLICY_MODE", "observe"),
        ]))
        .effective_policy_mode(),
        PolicyMode::Open
    );
}

#[test]
fn validation_mode_is_inferred_from_the_urls() {
    let both = from(&[
        ("AUTHSEC_JWKS_URL", "https://as/jwks"),
        ("AUTHSEC_INTROSPECTION_URL", "https://as/introspect"),
    ]);
    assert_eq!(
        both.effective_validation_mode(),
        Some(ValidationMode::JwtAndIntrospect)
    );
    let jwks = from(&[("AUTHSEC_JWKS_URL", "https://as/jwks")]);
    assert_eq!(
        jwks.effective_validation_mode(),
        Some(ValidationMode::JwtOnly)
    );
    let introspection = from(&[("AUTHSEC_INTROSPECTION_URL", "https://as/introspect")]);
    assert_eq!(
        introspection.effective_validation_mode(),
        Some(ValidationMode::IntrospectionOnly)
    );
    let strict = from(&[("AUTHSEC_DISCOVERY", "false")]);
    assert_eq!(
        strict.effective_validation_mode(),
        Some(ValidationMode::IntrospectionOnly)
    );
    // A Rust extension: with neither URL, both are discovered and the mode follows the issuer.
    assert_eq!(from(&[]).effective_validation_mode(), None);
    let explicit = from(&[("AUTHSEC_VALIDATION_MODE", "jwt_only")]);
    assert_eq!(
        explicit.effective_validation_mode(),
        Some(ValidationMode::JwtOnly)
    );
}

#[test]
fn validate_reports_the_first_broken_rule_in_the_family_order() {
    assert_eq!(error(&[]), "AUTHSEC_ISSUER: is required");
    assert_eq!(
        error(&[("AUTHSEC_ISSUER", "https://as.example")]),
        "AUTHSEC_RESOURCE_URI: is required"
    );
    assert_eq!(
        error(&[
            ("AUTHSEC_ISSUER", "https://as.example"),
            ("AUTHSEC_RESOURCE_URI", "/mcp"),
        ]),
        "AUTHSEC_RESOURCE_URI: must be an absolute URL with a scheme and a host"
    );
    assert_eq!(
        error(&[
            ("AUTHSEC_ISSUER", "https://as.example"),
            ("AUTHSEC_RESOURCE_URI", "https://mcp.example.com/mcp"),
            ("AUTHSEC_DISCOVERY", "false"),
        ]),
        "AUTHSEC_JWKS_URL: jwks_url or introspection_url is required (or leave both unset, with discovery on, to read them from the issuer's metadata)"
    );
    assert_eq!(
        error(&with(&[(
            "AUTHSEC_INTROSPECTION_URL",
            "https://as.example/introspect"
        )])),
        "AUTHSEC_INTROSPECTION_CLIENT_ID: introspection_client_id and introspection_client_secret are required when introspection_url is set"
    );
    assert_eq!(
        error(&with(&[("AUTHSEC_POLICY_MODE", "enforce")])),
        "AUTHSEC_RESOURCE_SERVER_ID: is required for policy mode remote_required"
    );
    assert_eq!(
        error(&with(&[("AUTHSEC_RESOURCE_SERVER_ID", "rs-1")])),
        "AUTHSEC_INTROSPECTION_CLIENT_ID: introspection_client_id and introspection_client_secret are required for policy mode remote_required (the control plane authenticates with them)"
    );
    assert_eq!(
        error(&with(&[
            ("AUTHSEC_RESOURCE_SERVER_ID", "rs-1"),
            ("AUTHSEC_POLICY_MODE", "remote_with_local_fallback"),
            ("AUTHSEC_INTROSPECTION_CLIENT_ID", "rs-1"),
            ("AUTHSEC_INTROSPECTION_CLIENT_SECRET", "sec"),
        ])),
        "AUTHSEC_TOOL_SCOPES_JSON: is required for policy mode remote_with_local_fallback (the local fallback)"
    );
    assert_eq!(
        error(&[
            ("AUTHSEC_ISSUER", "https://as.example"),
            ("AUTHSEC_RESOURCE_URI", "https://mcp.example.com/mcp"),
            ("AUTHSEC_INTROSPECTION_URL", "https://as.example/introspect"),
            ("AUTHSEC_INTROSPECTION_CLIENT_ID", "rs-1"),
            ("AUTHSEC_INTROSPECTION_CLIENT_SECRET", "sec"),
            ("AUTHSEC_VALIDATION_MODE", "jwt_and_introspect"),
        ]),
        "AUTHSEC_JWKS_URL: is required for validation mode jwt_and_introspect"
    );
    assert_eq!(
        error(&with(&[("AUTHSEC_VALIDATION_MODE", "jwt_or_introspect")])),
        "AUTHSEC_INTROSPECTION_URL: is required for validation mode jwt_or_introspect"
    );
    assert_eq!(
        error(&[
            ("AUTHSEC_ISSUER", "https://as.example"),
            ("AUTHSEC_RESOURCE_URI", "https://mcp.example.com/mcp"),
            ("AUTHSEC_VALIDATION_MODE", "introspection_only"),
        ]),
        "AUTHSEC_INTROSPECTION_CLIENT_ID: introspection_client_id and introspection_client_secret are required for validation mode introspection_only"
    );
}

#[test]
fn remote_modes_validate_with_id_and_credentials() {
    let config = from(&with(&[
        ("AUTHSEC_RESOURCE_SERVER_ID", "rs-1"),
        ("AUTHSEC_INTROSPECTION_CLIENT_ID", "rs-1"),
        ("AUTHSEC_INTROSPECTION_CLIENT_SECRET", "sec"),
    ]));
    assert_eq!(config.validate(), Ok(()));
    assert_eq!(config.effective_policy_mode(), PolicyMode::RemoteRequired);
}

#[test]
fn rust_extensions_denial_mode_caches_and_scopes() {
    let config = from(&with(&[
        ("AUTHSEC_DENIAL_MODE", "inband"),
        ("AUTHSEC_INTROSPECTION_CACHE_SECONDS", "7"),
        ("AUTHSEC_TOKEN_CACHE_CAPACITY", "12"),
        ("AUTHSEC_SCOPE_MATRIX_TTL_SECONDS", "45"),
        ("AUTHSEC_INITIAL_SCOPES", "notes:read"),
        ("AUTHSEC_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1"),
    ]));
    assert_eq!(config.denials.mode, DenialMode::Inband);
    assert_eq!(config.cache.introspection_ttl_seconds, 7);
    assert_eq!(config.cache.token_capacity, 12);
    assert_eq!(config.scope_matrix_ttl().as_secs(), 45);
    assert_eq!(config.initial_scopes, ["notes:read"]);
    assert_eq!(config.trusted_proxies, ["10.0.0.0/8", "127.0.0.1"]);
    assert_eq!(from(&BASE).scope_matrix_ttl().as_secs(), 30);
    assert_eq!(from(&BASE).denials.mode, DenialMode::Http);
    let bad = Config::from_lookup("AUTHSEC_", |name| {
        (name == "AUTHSEC_DENIAL_MODE").then(|| "sideways".to_owned())
    })
    .unwrap_err();
    assert_eq!(
        bad.message(),
        "AUTHSEC_DENIAL_MODE: unknown denial mode \"sideways\": expected http or inband"
    );
    let bad = Config::from_lookup("AUTHSEC_", |name| {
        (name == "AUTHSEC_INTROSPECTION_CACHE_SECONDS").then(|| "soon".to_owned())
    })
    .unwrap_err();
    assert_eq!(
        bad.message(),
        "AUTHSEC_INTROSPECTION_CACHE_SECONDS: \"soon\" is not a whole number"
    );
}
