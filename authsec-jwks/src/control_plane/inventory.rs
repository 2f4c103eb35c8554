//! Manifest publishing: the tool inventory (a provided list, or the MCP server's own
//! `tools/list` through a synthetic handshake) sent as `PUT …/sdk-manifest`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use authsec_core::tool_inventory::{ListedTool, list_tools};
use serde::Serialize;
use serde_json::value::RawValue;

pub use authsec_core::tool_inventory::{McpPost, McpReply, McpTransport};

use super::ControlPlaneError;
use super::client::ControlPlane;

/// The family's bound on one publication.
pub const PUBLISH_TIMEOUT: Duration = Duration::from_secs(30);

/// One tool of the manifest, in the backend's `ManifestToolPayload` shape (snake_case, optional
/// members omitted when empty).
#[derive(Clone, Debug, Default, Serialize)]
#[non_exhaustive]
pub struct ManifestTool {
    /// The tool name.
    pub name: String,
    /// Its title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Its description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its input JSON Schema, as the server sent it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_schema: Option<Box<RawValue>>,
    /// Its MCP annotations (`readOnlyHint`, `destructiveHint`...), as the server sent them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Box<RawValue>>,
    /// Scopes suggested to the admin (advisory; admin mappings survive republishing).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suggested_scopes: Vec<String>,
}

impl ManifestTool {
    /// A tool with only a name.
    pub fn new(name: impl Into<String>) -> Self {
        ManifestTool {
            name: name.into(),
            ..Self::default()
        }
    }

    /// Sets the description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into()).filter(|d| !d.is_empty());
        self
    }

    /// Sets the input schema from JSON text (ignored when it is not JSON or an empty object).
    pub fn input_schema(mut self, schema: &str) -> Self {
        self.input_schema = non_empty(RawValue::from_string(schema.to_owned()).ok());
        self
    }

    /// Sets the suggested scopes.
    pub fn suggested_scopes<S: Into<String>>(
        mut self,
        scopes: impl IntoIterator<Item = S>,
    ) -> Self {
        self.suggested_scopes = scopes.into_iter().map(Into::into).collect();
        self
    }
}

/// An empty object or `null` counts as absent (Go's `omitempty` on a map).
fn non_empty(raw: Option<Box<RawValue>>) -> Option<Box<RawValue>> {
    raw.filter(|r| {
        let compact: String = r.get().chars().filter(|c| !c.is_whitespace()).collect();
        compact != "{}" && compact != "null"
    })
}

impl From<ListedTool> for ManifestTool {
    fn from(tool: ListedTool) -> Self {
        ManifestTool {
            name: tool.name,
            title: tool.title.filter(|t| !t.is_empty()),
            description: tool.description.filter(|d| !d.is_empty()),
            input_schema: non_empty(tool.input_schema),
            annotations: non_empty(tool.annotations),
            suggested_scopes: Vec::new(),
        }
    }
}

/// The body of `PUT …/sdk-manifest`: `{"tools": [...]}`.
#[derive(Clone, Debug, Default, Serialize)]
#[non_exhaustive]
pub struct ManifestPayload {
    /// The tools, in the server's order.
    pub tools: Vec<ManifestTool>,
}

impl ManifestPayload {
    /// A payload of these tools.
    pub fn new(tools: Vec<ManifestTool>) -> Self {
        ManifestPayload { tools }
    }

    /// Fills each tool's empty `suggested_scopes` from `suggestions`
    /// (`AUTHSEC_TOOL_SCOPE_SUGGESTIONS_JSON`): a provider's own suggestions win.
    pub fn with_suggestions(mut self, suggestions: &BTreeMap<String, Vec<String>>) -> Self {
        for tool in &mut self.tools {
            if tool.suggested_scopes.is_empty()
                && let Some(scopes) = suggestions.get(&tool.name)
            {
                tool.suggested_scopes = scopes.clone();
            }
        }
        self
    }

    /// The JSON body, exactly as sent.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Where the published tools come from.
#[async_trait]
pub trait ToolInventory: Send + Sync {
    /// The tools to publish.
    async fn tools(&self) -> Result<Vec<ManifestTool>, ControlPlaneError>;
}

/// A provided list (the family's `ToolInventoryProvider`): no enumeration.
#[async_trait]
impl ToolInventory for Vec<ManifestTool> {
    async fn tools(&self) -> Result<Vec<ManifestTool>, ControlPlaneError> {
        Ok(self.clone())
    }
}

/// The MCP server's own `tools/list`, through the synthetic handshake on `transport` (see
/// [`authsec_core::tool_inventory`]).
pub async fn enumerate_tools(
    transport: &dyn McpTransport,
) -> Result<Vec<ManifestTool>, ControlPlaneError> {
    let tools = list_tools(transport)
        .await
        .map_err(ControlPlaneError::Inventory)?;
    Ok(tools.into_iter().map(ManifestTool::from).collect())
}

/// The inventory of the MCP server behind a transport: its own `tools/list`.
#[derive(Clone, Debug)]
pub struct ServerInventory<T>(pub T);

#[async_trait]
impl<T: McpTransport> ToolInventory for ServerInventory<T> {
    async fn tools(&self) -> Result<Vec<ManifestTool>, ControlPlaneError> {
        enumerate_tools(&self.0).await
    }
}

/// Reads the inventory and publishes it once: `PUT …/sdk-manifest`, Basic auth, bounded by
/// 30 s, no retry.
pub async fn publish_manifest(
    control_plane: &ControlPlane,
    inventory: &dyn ToolInventory,
    suggestions: &BTreeMap<String, Vec<String>>,
) -> Result<usize, ControlPlaneError> {
    let work = async {
        let payload = ManifestPayload::new(inventory.tools().await?).with_suggestions(suggestions);
        control_plane.put_manifest(&payload).await?;
        Ok(payload.tools.len())
    };
    match tokio::time::timeout(PUBLISH_TIMEOUT, work).await {
        Ok(result) => result,
        Err(_) => Err(ControlPlaneError::Fetch(crate::FetchError::Timeout {
            url: control_plane.manifest_url(),
            timeout: PUBLISH_TIMEOUT,
        })),
    }
}

/// [`publish_manifest`] in the background, as the family does at start-up: the outcome is
/// logged ("manifest publish succeeded" / "manifest publish failed", never a secret) and never
/// stops the server. Await the handle to learn it (tests).
pub fn publish_in_background(
    control_plane: ControlPlane,
    inventory: Arc<dyn ToolInventory>,
    suggestions: BTreeMap<String, Vec<String>>,
) -> tokio::task::JoinHandle<Result<usize, ControlPlaneError>> {
    tokio::spawn(async move {
        let outcome = publish_manifest(&control_plane, inventory.as_ref(), &suggestions).await;
        match &outcome {
            Ok(tools) => tracing::info!(
                resource_server_id = control_plane.resource_server_id(),
                tools,
                "manifest publish succeeded"
            ),
            Err(error) => tracing::warn!(
                resource_server_id = control_plane.resource_server_id(),
                %error,
                "manifest publish failed"
            ),
        }
        outcome
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payload_omits_empty_members_and_keeps_schemas_byte_for_byte() {
        let listed: ListedTool = serde_json::from_str(
            r#"{"name":"add","title":"","description":"Add it","inputSchema":{"type":"object","properties":{"z":{},"a":{}}},"annotations":{},"outputSchema":{}}"#,
        )
        .unwrap();
        let payload = ManifestPayload::new(vec![
            ManifestTool::from(listed).suggested_scopes(["own:scope"]),
            ManifestTool::new("bare"),
        ])
        .with_suggestions(&BTreeMap::from([
            ("add".to_owned(), vec!["suggested".to_owned()]),
            ("bare".to_owned(), vec!["b:read".to_owned()]),
        ]));
        assert_eq!(
            payload.to_json(),
            r#"{"tools":[{"name":"add","description":"Add it","input_schema":{"type":"object","properties":{"z":{},"a":{}}},"suggested_scopes":["own:scope"]},{"name":"bare","suggested_scopes":["b:read"]}]}"#
        );
    }
}
