//! `authsec manifest status` against the control-plane stand-in, run as a user runs it: the
//! binary, configured like the server (the `AUTHSEC_*` environment, or an authsec.toml under
//! it), printing a checklist and exiting 0 only when the control plane holds the manifest.

use authsec_jwks::control_plane::{ControlPlane, ManifestPayload, ManifestTool};
use authsec_tests::cli::{CliRun, run_authsec};
use authsec_tests::control_plane::ControlPlaneStandIn;

const RS_ID: &str = "7d3f2a10-0000-4000-8000-00000000c0de";
const RS_SECRET: &str = "sec_notes-rs-secret";

async fn plane() -> ControlPlaneStandIn {
    ControlPlaneStandIn::start(RS_ID, RS_ID, RS_SECRET)
        .await
        .expect("control-plane stand-in")
}

/// Publishes a manifest of `tools` as the server would.
async fn publish(plane: &ControlPlaneStandIn, tools: &[&str]) {
    ControlPlane::builder(plane.base_url(), RS_ID)
        .credentials(RS_ID, RS_SECRET)
        .build()
        .unwrap()
        .put_manifest(&ManifestPayload::new(
            tools.iter().map(|t| ManifestTool::new(*t)).collect(),
        ))
        .await
        .expect("published");
}

async fn status(plane: &ControlPlaneStandIn, secret: &str) -> CliRun {
    let url = plane.base_url();
    run_authsec(
        &["manifest", "status"],
        &[
            ("AUTHSEC_AUTHORIZATION_SERVER", url.as_str()),
            ("AUTHSEC_RESOURCE_SERVER_ID", RS_ID),
            ("AUTHSEC_INTROSPECTION_CLIENT_ID", RS_ID),
            ("AUTHSEC_INTROSPECTION_CLIENT_SECRET", secret),
        ],
    )
    .await
    .expect("authsec runs")
}

fn title(plane: &ControlPlaneStandIn) -> String {
    format!(
        "authsec manifest status (resource server {RS_ID} at {})",
        plane.base_url()
    )
}

#[tokio::test]
async fn a_published_manifest_passes_with_its_tool_count() {
    let plane = plane().await;
    publish(&plane, &["list_notes", "add_note", "health"]).await;
    let run = status(&plane, RS_SECRET).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(
        run.stdout,
        format!(
            "{}\n  PASS  the control plane has this server's tool manifest (3 tools)\n1 passed, 0 failed, 0 skipped\n",
            title(&plane)
        )
    );
    assert_eq!(run.stderr, "");
}

#[tokio::test]
async fn nothing_published_fails_with_the_fix() {
    let plane = plane().await;
    let run = status(&plane, RS_SECRET).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(
        run.stdout,
        format!(
            "{}\n  FAIL  no tool manifest has been published for this resource server (HTTP 404)\n        fix: start the server with AUTHSEC_PUBLISH_MANIFEST=true (it publishes once at start-up; look for \"manifest publish\" in its log); check AUTHSEC_RESOURCE_SERVER_ID too\n0 passed, 1 failed, 0 skipped\n",
            title(&plane)
        )
    );
}

#[tokio::test]
async fn a_wrong_secret_fails_naming_the_credentials_and_never_prints_the_secret() {
    let plane = plane().await;
    publish(&plane, &["health"]).await;
    let run = status(&plane, "sec_wrong-secret").await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(
        run.stdout,
        format!(
            "{}\n  FAIL  the control plane refused this server's credentials (HTTP 401)\n        fix: AUTHSEC_INTROSPECTION_CLIENT_ID must be the resource server's id and AUTHSEC_INTROSPECTION_CLIENT_SECRET its secret (sec_..., shown once in the dashboard)\n0 passed, 1 failed, 0 skipped\n",
            title(&plane)
        )
    );
    assert!(!run.stdout.contains("sec_wrong") && !run.stderr.contains("sec_wrong"));
}

#[tokio::test]
async fn an_unreachable_control_plane_fails_with_where_to_look() {
    let port = authsec_tests::notes_server::free_port().unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let run = run_authsec(
        &["manifest", "status"],
        &[
            ("AUTHSEC_ISSUER", url.as_str()),
            ("AUTHSEC_RESOURCE_SERVER_ID", RS_ID),
            ("AUTHSEC_INTROSPECTION_CLIENT_ID", RS_ID),
            ("AUTHSEC_INTROSPECTION_CLIENT_SECRET", RS_SECRET),
        ],
    )
    .await
    .unwrap();
    assert_eq!(run.code, Some(1), "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines[0],
        format!("authsec manifest status (resource server {RS_ID} at {url})")
    );
    assert!(
        lines[1].starts_with(&format!(
            "  FAIL  the manifest status could not be read: could not reach {url}/authsec/resource-servers/{RS_ID}/sdk-manifest-status"
        )),
        "{}",
        run.stdout
    );
    assert_eq!(
        lines[2],
        "        fix: check AUTHSEC_AUTHORIZATION_SERVER (else AUTHSEC_ISSUER) and that the control plane is reachable from here"
    );
    assert_eq!(lines[3], "0 passed, 1 failed, 0 skipped");
}

#[tokio::test]
async fn the_servers_authsec_toml_is_read_with_the_environment_over_it() {
    let plane = plane().await;
    publish(&plane, &["list_notes"]).await;
    let dir = std::env::temp_dir().join(format!(
        "authsec-cli-status-{}-{}",
        std::process::id(),
        authsec_tests::notes_server::free_port().unwrap()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("authsec.toml");
    std::fs::write(
        &file,
        format!(
            "issuer = \"{}\"\nresource = \"http://127.0.0.1:1/mcp\"\nresource_server_id = \"{RS_ID}\"\nintrospection_client_id = \"{RS_ID}\"\n",
            plane.base_url()
        ),
    )
    .unwrap();
    let path = file.display().to_string();
    // The secret comes from the environment, as the README recommends.
    let run = run_authsec(
        &["manifest", "status", "--config", &path],
        &[("AUTHSEC_INTROSPECTION_CLIENT_SECRET", RS_SECRET)],
    )
    .await
    .unwrap();
    let via_env = run_authsec(
        &["manifest", "status"],
        &[
            ("AUTHSEC_CONFIG", path.as_str()),
            ("AUTHSEC_INTROSPECTION_CLIENT_SECRET", RS_SECRET),
        ],
    )
    .await
    .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    for run in [run, via_env] {
        assert_eq!(run.code, Some(0), "{run:?}");
        assert_eq!(
            run.stdout,
            format!(
                "{}\n  PASS  the control plane has this server's tool manifest (1 tool)\n1 passed, 0 failed, 0 skipped\n",
                title(&plane)
            )
        );
    }
}

#[tokio::test]
async fn without_a_resource_server_id_it_is_a_usage_error() {
    let run = run_authsec(
        &["manifest", "status"],
        &[("AUTHSEC_ISSUER", "https://as.example")],
    )
    .await
    .unwrap();
    assert_eq!(run.code, Some(2), "{run:?}");
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "authsec: manifest status needs the resource server id: set AUTHSEC_RESOURCE_SERVER_ID (or resource_server_id in authsec.toml)\n"
    );
}
