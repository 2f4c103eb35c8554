//! authsec-config's file way in: authsec.toml parsing with errors naming the field, the
//! environment over the file, the policy sections, and the example file of the notes server.

use authsec_config::{Config, Delivery, DenialMode, PolicyMode, ValidationMode};
use authsec_core::ScopeSet;

const NOTES_TOML: &str = include_str!("../../authsec-axum/examples/notes/authsec.toml");
const NOTES_TOML_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../authsec-axum/examples/notes/authsec.toml"
);

fn lookup(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |name| {
        vars.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| (*v).to_owned())
    }
}

#[test]
fn the_notes_example_file_parses_and_validates() {
    let config = Config::from_toml_file(NOTES_TOML_PATH).unwrap();
    assert_eq!(config.issuer, "http://127.0.0.1:9000");
    assert_eq!(config.resource, "http://127.0.0.1:8811/mcp");
    assert_eq!(config.resource_name(), "authsec notes demo");
    assert_eq!(config.validation_mode, None);
    assert_eq!(config.initial_scopes, ["notes:read"]);
    assert_eq!(config.cache.introspection_ttl_seconds, 0);
    assert_eq!(config.denials.mode, DenialMode::Http);
    assert_eq!(config.effective_policy_mode(), PolicyMode::LocalOnly);
    assert_eq!(config.validate(), Ok(()));
    let (manifest, _) = config.local_policy().unwrap();
    assert_eq!(
        manifest.rule_for("add_note").unwrap().scopes,
        ["notes:write"]
    );
    assert_eq!(
        manifest.rule_for("purge_notes").unwrap().policy.as_deref(),
        Some("fresh_mfa")
    );
}

#[test]
fn an_unknown_key_is_refused_with_its_line() {
    let error = Config::from_toml_str("issuer = \"https://as\"\nresourse = \"https://h/mcp\"\n")
        .unwrap_err();
    assert!(
        error
            .message()
            .starts_with("authsec.toml (line 2): unknown field `resourse`, expected one of"),
        "{}",
        error.message()
    );
}

#[test]
fn a_bad_mode_value_names_the_value_and_the_choices() {
    let error = Config::from_toml_str(
        "issuer = \"https://as\"\nresource = \"https://h/mcp\"\nvalidation_mode = \"jwt\"\n",
    )
    .unwrap_err();
    assert_eq!(
        error.message(),
        "authsec.toml (line 3): unknown variant `jwt`, expected one of `jwt_only`, `introspection_only`, `jwt_and_introspect`, `jwt_or_introspect`"
    );
}

#[test]
fn semantic_errors_name_the_file_and_field() {
    let config = Config::from_toml_str(
        "issuer = \"https://as.example\"\nresource = \"http://mcp.example.com/mcp\"\n",
    )
    .unwrap();
    assert_eq!(
        config.validate().unwrap_err().message(),
        "authsec.toml: resource: must be an absolute https URL (http only on loopback)"
    );
    for loopback in [
        "http://127.0.0.1:8811/mcp",
        "http://localhost/mcp",
        "http://[::1]:1/mcp",
    ] {
        let mut config = config.clone();
        config.resource = loopback.to_owned();
        assert_eq!(config.validate(), Ok(()), "{loopback}");
    }
    let config = Config::from_toml_str(
        "issuer = \"https://as.example\"\nresource = \"https://mcp.example.com/mcp\"\nintrospection_url = \"https://as.example/introspect\"\n",
    )
    .unwrap();
    assert_eq!(
        config.validate().unwrap_err().message(),
        "authsec.toml: introspection_client_id: introspection_client_id and introspection_client_secret are required when introspection_url is set"
    );
    let config = Config::from_toml_str(
        "issuer = \"https://as.example\"\nresource = \"https://mcp.example.com/mcp\"\ninitial_scopes = [\"has space\"]\n",
    )
    .unwrap();
    let message = config.validate().unwrap_err().message().to_owned();
    assert!(
        message.starts_with("authsec.toml: initial_scopes: "),
        "{message}"
    );
}

#[test]
fn the_environment_wins_over_the_file() {
    let mut config = Config::from_toml_str(NOTES_TOML).unwrap();
    config
        .apply_env(
            "AUTHSEC_",
            lookup(&[
                ("AUTHSEC_RESOURCE_URI", "http://127.0.0.1:9999/mcp"),
                ("AUTHSEC_VALIDATION_MODE", "jwt_only"),
                ("AUTHSEC_INTROSPECTION_CLIENT_SECRET", "from-env"),
                ("AUTHSEC_INTROSPECTION_CLIENT_ID", ""),
                ("AUTHSEC_DENIAL_MODE", "inband"),
                ("AUTHSEC_INTROSPECTION_CACHE_SECONDS", "12"),
            ]),
        )
        .unwrap();
    assert_eq!(config.resource, "http://127.0.0.1:9999/mcp");
    assert_eq!(config.validation_mode, Some(ValidationMode::JwtOnly));
    assert_eq!(
        config.introspection_client_secret.as_deref(),
        Some("from-env")
    );
    // An empty variable does not erase the file's value.
    assert_eq!(config.introspection_client_id.as_deref(), Some("notes-rs"));
    assert_eq!(config.denials.mode, DenialMode::Inband);
    assert_eq!(config.cache.introspection_ttl_seconds, 12);
    // Untouched fields keep the file's values.
    assert_eq!(config.issuer, "http://127.0.0.1:9000");
    assert_eq!(config.initial_scopes, ["notes:read"]);
}

#[test]
fn load_reads_the_file_then_the_process_environment() {
    let dir = std::env::temp_dir().join(format!("authsec-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let policy = dir.join("tools.toml");
    std::fs::write(&policy, "[tools.ping]\nscopes = [\"ping:use\"]\n").unwrap();
    let file = dir.join("authsec.toml");
    std::fs::write(
        &file,
        "issuer = \"https://as.example\"\nresource = \"https://mcp.example.com/mcp\"\npolicy_file = \"tools.toml\"\n",
    )
    .unwrap();
    let config = Config::from_toml_file(&file).unwrap();
    let (manifest, _) = config.local_policy().unwrap();
    assert_eq!(manifest.rule_for("ping").unwrap().scopes, ["ping:use"]);
    std::fs::write(&file, "issuer = 3\n").unwrap();
    let error = Config::from_toml_file(&file).unwrap_err();
    assert!(
        error
            .message()
            .starts_with("authsec.toml (line 1): invalid type: integer `3`, expected a string"),
        "{}",
        error.message()
    );
    std::fs::remove_dir_all(&dir).unwrap();
    let missing = Config::from_toml_file(dir.join("authsec.toml")).unwrap_err();
    assert!(
        missing.message().starts_with("cannot read "),
        "{}",
        missing.message()
    );
}

#[test]
fn tool_scopes_are_any_of_and_an_empty_list_is_public() {
    let config = Config::from_toml_str(
        r#"
        issuer = "https://as.example"
        resource = "https://mcp.example.com/mcp"
        [tool_scopes]
        read = ["a:read", "a:admin"]
        health = []
        "#,
    )
    .unwrap();
    assert_eq!(config.effective_policy_mode(), PolicyMode::LocalOnly);
    let (manifest, policies) = config.local_policy().unwrap();
    assert!(policies.is_none());
    let admin = ScopeSet::parse("a:admin");
    let nothing = ScopeSet::parse("");
    assert!(manifest.allows("read", &admin));
    assert!(!manifest.allows("read", &nothing));
    assert!(manifest.allows("health", &nothing));
    assert!(!manifest.allows("unlisted", &admin));
}

#[test]
fn open_mode_allows_every_tool_to_any_valid_token() {
    let config = Config::from_toml_str(
        "issuer = \"https://as.example\"\nresource = \"https://mcp.example.com/mcp\"\n",
    )
    .unwrap();
    assert_eq!(config.effective_policy_mode(), PolicyMode::Open);
    let (manifest, _) = config.local_policy().unwrap();
    assert!(manifest.allows("anything", &ScopeSet::parse("")));
}

#[test]
fn an_inline_policy_table_uses_the_authsec_policy_form() {
    let config = Config::from_toml_str(
        r#"
        issuer = "https://as.example"
        resource = "https://mcp.example.com/mcp"
        [policy.tools.deploy]
        scopes = ["deploy"]
        policy = "fresh_mfa"
        [policy.policies.fresh_mfa]
        step_up = { acr = ["mfa"], max_age = 300 }
        "#,
    )
    .unwrap();
    let (manifest, policies) = config.local_policy().unwrap();
    assert_eq!(manifest.rule_for("deploy").unwrap().scopes, ["deploy"]);
    assert!(policies.is_some());
    let broken = Config::from_toml_str(
        r#"
        issuer = "https://as.example"
        resource = "https://mcp.example.com/mcp"
        [policy.tools.deploy]
        scopes = ["deploy"]
        policy = "missing"
        "#,
    )
    .unwrap();
    let message = broken.local_policy().unwrap_err().message().to_owned();
    assert!(
        message.starts_with("authsec.toml: policy [policy]"),
        "{message}"
    );
    assert!(message.contains("\"missing\""), "{message}");
}

#[test]
fn denial_delivery_per_class() {
    let config = Config::from_toml_str(
        r#"
        issuer = "https://as.example"
        resource = "https://mcp.example.com/mcp"
        [denials]
        policy_denied = "tool_result"
        quota_exceeded = "jsonrpc_error"
        "#,
    )
    .unwrap();
    assert_eq!(config.denials.policy_denied, Delivery::ToolResult);
    assert_eq!(config.denials.quota_exceeded, Delivery::JsonrpcError);
    assert_eq!(config.denials.mode, DenialMode::Http);
}

#[test]
fn policy_mode_is_one_type_with_strict_parsing_and_the_family_aliases() {
    // authsec-config's PolicyMode is authsec-jwks' runtime type, not a copy mapped onto it.
    let runtime: authsec_jwks::control_plane::PolicyMode = PolicyMode::RemoteRequired;
    assert_eq!(runtime.as_str(), "remote_required");
    assert_eq!("enforce".parse(), Ok(PolicyMode::RemoteRequired));
    assert_eq!("OBSERVE".parse(), Ok(PolicyMode::Open));
    assert_eq!(
        "sometimes".parse::<PolicyMode>(),
        Err("unknown policy mode \"sometimes\": expected remote_required (enforce), remote_with_local_fallback, local_only or open (observe)".to_owned())
    );
    assert_eq!(PolicyMode::parse_family("sometimes"), None);
    for mode in PolicyMode::ALL {
        assert_eq!(mode.to_string().parse(), Ok(mode));
    }
}
