//! `authsec manifest export | diff | status`: the tool manifest a server enforces, how it
//! compares with the tools the server offers, and what the AuthSec control plane holds of it.

use std::collections::BTreeSet;
use std::path::Path;

use authsec_core::ToolManifest;
use authsec_jwks::FetchError;
use authsec_jwks::control_plane::{ControlPlane, ControlPlaneError, ManifestStatus};
use authsec_policy::PolicyConfig;

use crate::checklist::{Checklist, Item};

/// Reads a manifest from a file: a bare manifest (`[tools.*]`, TOML or JSON) or an
/// authsec-policy file (`[tools.*]` with `[policies.*]`, roles, quotas).
pub fn load(path: &Path) -> Result<ToolManifest, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let name = path.display().to_string();
    if path.extension().is_some_and(|ext| ext == "json") {
        return ToolManifest::from_json_str(&text).map_err(|e| format!("{name}: {e}"));
    }
    match ToolManifest::from_toml_str(&text) {
        Ok(manifest) => Ok(manifest),
        Err(manifest_error) => match PolicyConfig::from_toml_str(&text) {
            Ok(config) => Ok(config.into_parts().0),
            Err(policy_error) => Err(format!(
                "{name} is neither a tool manifest ({manifest_error}) nor a policy file ({policy_error})"
            )),
        },
    }
}

/// The output format of `manifest export`.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// TOML, as `authsec.toml` / the policy file write it.
    Toml,
    /// JSON.
    Json,
}

/// Renders a manifest.
pub fn export(manifest: &ToolManifest, format: Format) -> String {
    match format {
        Format::Toml => manifest.to_toml_string(),
        Format::Json => manifest.to_json_string(),
    }
}

/// A manifest skeleton for the tools a server offers, with the mapped ones filled in from
/// `known` and the others left for the owner to map (commented out, so the file stays a valid
/// manifest that denies them).
pub fn skeleton(offered: &[String], known: Option<&ToolManifest>) -> String {
    let mut out = String::from(
        "# Tool manifest: the scopes each tool needs (authsec check 3).\n# Tools without an entry are denied (policy_denied).\n",
    );
    for tool in offered {
        out.push('\n');
        match known.and_then(|m| m.rule_for(tool)) {
            Some(rule) => {
                let mapped = ToolManifest::new().rule(tool.clone(), rule.clone());
                out.push_str(mapped.to_toml_string().trim_end());
                out.push('\n');
            }
            None => {
                out.push_str(&format!(
                    "# {tool}: no scope mapping yet; every call is denied until it has one\n# [tools.{tool}]\n# scopes = [\"...\"]\n"
                ));
            }
        }
    }
    out
}

/// Compares `manifest` with the tools a server offers: every offered tool needs a mapping
/// (else it is denied), every mapping should name an offered tool (else it is stale).
pub fn diff(manifest: &ToolManifest, offered: &[String], source: &str) -> Checklist {
    let mut list = Checklist::new(format!("authsec manifest diff ({source})"));
    let mapped: BTreeSet<&str> = manifest.tools().map(|(name, _)| name).collect();
    let offered_set: BTreeSet<&str> = offered.iter().map(String::as_str).collect();
    for tool in &offered_set {
        match manifest.rule_for(tool) {
            Some(rule) if mapped.contains(tool) => {
                let scopes = if rule.scopes.is_empty() {
                    "no scopes: any valid token may call it".to_owned()
                } else {
                    rule.scopes.join(" ")
                };
                list.push(Item::pass(format!("{tool}: offered and mapped ({scopes})")));
            }
            Some(_) => list.push(Item::pass(format!(
                "{tool}: offered, covered by the manifest's [default] rule"
            ))),
            None => list.push(Item::fail(
                format!(
                    "{tool}: offered by the server but has no scope mapping, so every call is denied (policy_denied)"
                ),
                format!(
                    "add [tools.{tool}] scopes = [\"...\"] to the manifest, or stop offering the tool"
                ),
            )),
        }
    }
    for tool in mapped.difference(&offered_set) {
        list.push(Item::fail(
            format!("{tool}: mapped in the manifest but the server offers no such tool"),
            format!(
                "remove [tools.{tool}] from the manifest (or the server lost a tool it should offer; with a token that cannot see it, tools/list hides it)"
            ),
        ));
    }
    list
}

/// Reads a tool inventory file: a `tools/list` result (`{"tools":[{"name":..}]}`, or the whole
/// JSON-RPC response), or a JSON array of names.
pub fn load_inventory(path: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
    let tools = value
        .get("result")
        .unwrap_or(&value)
        .get("tools")
        .unwrap_or(&value);
    let Some(items) = tools.as_array() else {
        return Err(format!(
            "{}: expected a tools/list result or a JSON array of tool names",
            path.display()
        ));
    };
    items
        .iter()
        .map(|item| {
            item.as_str()
                .or_else(|| item.get("name").and_then(serde_json::Value::as_str))
                .map(str::to_owned)
                .ok_or_else(|| format!("{}: a tool without a name: {item}", path.display()))
        })
        .collect()
}

/// `authsec manifest status`: what the AuthSec control plane holds of this resource server's
/// tool manifest (`GET …/resource-servers/{id}/sdk-manifest-status`, HTTP Basic with the
/// introspection credentials). Passes only when the control plane reports `success`.
pub async fn status(plane: &ControlPlane, authorization_server: &str) -> Checklist {
    let mut list = Checklist::new(format!(
        "authsec manifest status (resource server {} at {authorization_server})",
        plane.resource_server_id()
    ));
    list.push(match plane.manifest_status().await {
        Ok(ManifestStatus {
            status: Some(status),
            tool_count,
            ..
        }) if status == "success" => Item::pass(match tool_count {
            Some(1) => "the control plane has this server's tool manifest (1 tool)".to_owned(),
            Some(count) => {
                format!("the control plane has this server's tool manifest ({count} tools)")
            }
            None => "the control plane has this server's tool manifest".to_owned(),
        }),
        Ok(other) => Item::fail(
            format!(
                "the control plane reports manifest status {}",
                other.status.as_deref().map_or_else(
                    || "(none)".to_owned(),
                    |s| format!("{:?}", s.chars().take(64).collect::<String>())
                )
            ),
            PUBLISH_FIX,
        ),
        Err(ControlPlaneError::Fetch(FetchError::CredentialsRejected { status, .. })) => {
            Item::fail(
                format!("the control plane refused this server's credentials (HTTP {status})"),
                "AUTHSEC_INTROSPECTION_CLIENT_ID must be the resource server's id and AUTHSEC_INTROSPECTION_CLIENT_SECRET its secret (sec_..., shown once in the dashboard)",
            )
        }
        Err(ControlPlaneError::Fetch(
            FetchError::Status { status: 404, .. } | FetchError::NotFound { .. },
        )) => Item::fail(
            "no tool manifest has been published for this resource server (HTTP 404)",
            format!("{PUBLISH_FIX}; check AUTHSEC_RESOURCE_SERVER_ID too"),
        ),
        Err(error) => Item::fail(
            format!("the manifest status could not be read: {error}"),
            "check AUTHSEC_AUTHORIZATION_SERVER (else AUTHSEC_ISSUER) and that the control plane is reachable from here",
        ),
    });
    list
}

const PUBLISH_FIX: &str = "start the server with AUTHSEC_PUBLISH_MANIFEST=true (it publishes once at start-up; look for \"manifest publish\" in its log)";
