//! `authsec token inspect`: the binary decodes a dev-issuer token locally, says it did not verify
//! the signature, and runs the four-claim checklist naming the exact mismatch.

use std::time::{SystemTime, UNIX_EPOCH};

use authsec_tests::cli::{CliRun, run_authsec};
use authsec_tests::dev_issuer::DevIssuer;

const RESOURCE: &str = "https://notes.example/mcp";
const MANIFEST: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../authsec-axum/examples/notes-policy.toml"
);

/// Builds the binary first (slow only the first time), so that expiry times minted after it
/// are not eaten by the build; then starts the dev issuer.
async fn ready() -> DevIssuer {
    tokio::task::spawn_blocking(authsec_tests::cli::authsec_binary)
        .await
        .unwrap()
        .unwrap();
    DevIssuer::start().await.unwrap()
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// An hour and a half minute from now: "valid for 60 min more" however slow the run.
fn in_an_hour() -> i64 {
    now() + 3630
}

async fn inspect(token: &str, issuer: &str, tool: &str) -> CliRun {
    run_authsec(
        &[
            "token",
            "inspect",
            token,
            "--resource",
            RESOURCE,
            "--issuer",
            issuer,
            "--tool",
            tool,
            "--manifest",
            MANIFEST,
        ],
        &[],
    )
    .await
    .expect("authsec runs")
}

fn assert_reports(run: &CliRun, token: &str, items: &[String]) {
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines[0], "authsec token inspect", "{}", run.stdout);
    assert_eq!(
        lines[1],
        "  decoded locally: the signature is NOT verified, so this says what the token claims, not that it is genuine"
    );
    assert_eq!(run.items(), items, "stdout:\n{}", run.stdout);
    assert!(
        !run.stdout.contains(token) && !run.stderr.contains(token),
        "the token itself is never printed"
    );
}

#[tokio::test]
async fn a_trailing_slash_audience_is_named_as_the_mismatch() {
    let issuer = ready().await;
    let token = issuer
        .mint()
        .aud(format!("{RESOURCE}/"))
        .scope("notes:read")
        .exp(in_an_hour())
        .sign();
    let run = inspect(&token, issuer.issuer(), "list_notes").await;
    assert_reports(
        &run,
        &token,
        &[
            format!("  PASS  iss is {}, the expected issuer", issuer.issuer()),
            "  FAIL  aud has https://notes.example/mcp/ with a trailing slash; the resource is https://notes.example/mcp".into(),
            "        fix: request the token with resource=https://notes.example/mcp exactly as the server's metadata gives it (paths are compared exactly), or fix the server's resource URI".into(),
            "  PASS  exp: valid for 60 min more".into(),
            "  PASS  scope notes:read covers list_notes (needs notes:read)".into(),
            "3 passed, 1 failed, 0 skipped".into(),
        ],
    );
    assert_eq!(run.code, Some(1));
}

#[tokio::test]
async fn a_wrong_issuer_is_named_with_both_values() {
    let issuer = ready().await;
    let token = issuer
        .mint()
        .aud(RESOURCE)
        .iss("https://evil.example")
        .scope("notes:read")
        .exp(in_an_hour())
        .sign();
    let run = inspect(&token, issuer.issuer(), "list_notes").await;
    assert_reports(
        &run,
        &token,
        &[
            format!(
                "  FAIL  iss is https://evil.example; the issuer is {}",
                issuer.issuer()
            ),
            format!(
                "        fix: issuers are compared byte for byte: configure the server with the issuer exactly as the token carries it (https://evil.example), or get the token from {}",
                issuer.issuer()
            ),
            "  PASS  aud includes https://notes.example/mcp".into(),
            "  PASS  exp: valid for 60 min more".into(),
            "  PASS  scope notes:read covers list_notes (needs notes:read)".into(),
            "3 passed, 1 failed, 0 skipped".into(),
        ],
    );
    assert_eq!(run.code, Some(1));
}

#[tokio::test]
async fn an_expired_token_says_how_long_ago() {
    let issuer = ready().await;
    let token = issuer
        .mint()
        .aud(RESOURCE)
        .scope("notes:read")
        .iat(now() - 7200)
        .exp(now() - 3630)
        .sign();
    let run = inspect(&token, issuer.issuer(), "list_notes").await;
    assert_reports(
        &run,
        &token,
        &[
            format!("  PASS  iss is {}, the expected issuer", issuer.issuer()),
            "  PASS  aud includes https://notes.example/mcp".into(),
            "  FAIL  exp: expired 60 min ago".into(),
            "        fix: get a new token (refresh it, or log in again)".into(),
            "  PASS  scope notes:read covers list_notes (needs notes:read)".into(),
            "3 passed, 1 failed, 0 skipped".into(),
        ],
    );
    assert_eq!(run.code, Some(1));
}

#[tokio::test]
async fn a_scope_missing_for_the_tool_is_named_with_the_scope_to_request() {
    let issuer = ready().await;
    let token = issuer
        .mint()
        .aud(RESOURCE)
        .scope("notes:read")
        .exp(in_an_hour())
        .sign();
    let run = inspect(&token, issuer.issuer(), "add_note").await;
    assert_reports(
        &run,
        &token,
        &[
            format!("  PASS  iss is {}, the expected issuer", issuer.issuer()),
            "  PASS  aud includes https://notes.example/mcp".into(),
            "  PASS  exp: valid for 60 min more".into(),
            "  FAIL  scope notes:read lacks notes:write, which add_note needs".into(),
            "        fix: request the token with scope=\"notes:read notes:write\" (the server's 403 challenge asks for the same)".into(),
            "3 passed, 1 failed, 0 skipped".into(),
        ],
    );
    assert_eq!(run.code, Some(1));
}

#[tokio::test]
async fn a_right_token_passes_all_four_claims_with_exit_0() {
    let issuer = ready().await;
    let token = issuer
        .mint()
        .aud(RESOURCE)
        .scope("notes:read notes:write")
        .exp(in_an_hour())
        .sign();
    let run = inspect(&token, issuer.issuer(), "add_note").await;
    assert_reports(
        &run,
        &token,
        &[
            format!("  PASS  iss is {}, the expected issuer", issuer.issuer()),
            "  PASS  aud includes https://notes.example/mcp".into(),
            "  PASS  exp: valid for 60 min more".into(),
            "  PASS  scope notes:read notes:write covers add_note (needs notes:write)".into(),
            "4 passed, 0 failed, 0 skipped".into(),
        ],
    );
    assert_eq!(run.code, Some(0));
}

#[tokio::test]
async fn a_token_from_the_environment_without_expectations_skips_what_it_cannot_compare() {
    let issuer = ready().await;
    let token = issuer
        .mint()
        .aud(RESOURCE)
        .scope("notes:read")
        .exp(in_an_hour())
        .sign();
    let run = run_authsec(&["token", "inspect"], &[("AUTHSEC_TOKEN", &token)])
        .await
        .unwrap();
    assert_reports(
        &run,
        &token,
        &[
            format!("  SKIP  iss is {}", issuer.issuer()),
            "        why: pass --issuer URL to compare it with the issuer the server trusts".into(),
            "  SKIP  aud is https://notes.example/mcp".into(),
            "        why: pass --resource URI to compare it with the server's resource".into(),
            "  PASS  exp: valid for 60 min more".into(),
            "  SKIP  scope is notes:read".into(),
            "        why: pass --tool NAME and --manifest FILE to check the tool's scopes".into(),
            "1 passed, 0 failed, 3 skipped".into(),
        ],
    );
    assert_eq!(run.code, Some(0));
}

#[tokio::test]
async fn an_opaque_token_is_a_usage_error_pointing_at_introspection() {
    let run = run_authsec(&["token", "inspect", "opaque-token-value"], &[])
        .await
        .unwrap();
    assert_eq!(run.code, Some(2));
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "authsec: not a JWT (it does not have three dot-separated parts): an opaque token can only be checked by the authorization server's introspection endpoint\n"
    );
}

#[tokio::test]
async fn the_servers_authsec_toml_supplies_resource_issuer_and_manifest() {
    let issuer = ready().await;
    let config = std::env::temp_dir().join(format!("authsec-cli-{}.toml", std::process::id()));
    std::fs::write(
        &config,
        format!(
            "issuer = \"{}\"\nresource = \"{RESOURCE}\"\npolicy_file = \"{MANIFEST}\"\n",
            issuer.issuer()
        ),
    )
    .unwrap();
    let config_path = config.to_str().unwrap();
    let token = issuer
        .mint()
        .aud(format!("{RESOURCE}/"))
        .scope("notes:read")
        .exp(in_an_hour())
        .sign();
    let run = run_authsec(
        &[
            "token",
            "inspect",
            &token,
            "--config",
            config_path,
            "--tool",
            "add_note",
        ],
        &[],
    )
    .await
    .unwrap();
    let export = run_authsec(&["manifest", "export", "--config", config_path], &[])
        .await
        .unwrap();
    let _ = std::fs::remove_file(&config);
    assert_reports(
        &run,
        &token,
        &[
            format!("  PASS  iss is {}, the expected issuer", issuer.issuer()),
            "  FAIL  aud has https://notes.example/mcp/ with a trailing slash; the resource is https://notes.example/mcp".into(),
            "        fix: request the token with resource=https://notes.example/mcp exactly as the server's metadata gives it (paths are compared exactly), or fix the server's resource URI".into(),
            "  PASS  exp: valid for 60 min more".into(),
            "  FAIL  scope notes:read lacks notes:write, which add_note needs".into(),
            "        fix: request the token with scope=\"notes:read notes:write\" (the server's 403 challenge asks for the same)".into(),
            "2 passed, 2 failed, 0 skipped".into(),
        ],
    );
    assert_eq!(run.code, Some(1));

    assert_eq!(export.code, Some(0), "{}", export.stderr);
    let exported = authsec_core::ToolManifest::from_toml_str(&export.stdout).unwrap();
    let (expected, _) =
        authsec_policy::PolicyConfig::from_toml_str(&std::fs::read_to_string(MANIFEST).unwrap())
            .unwrap()
            .into_parts();
    assert_eq!(exported, expected);
    assert_eq!(
        exported.tools().map(|(name, _)| name).collect::<Vec<_>>(),
        ["add_note", "list_notes", "purge_notes"]
    );
}
