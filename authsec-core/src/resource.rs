//! The protected resource: its canonical URI, its RFC 9728 metadata URL and document, and the
//! audience comparison of check 2.

use serde::Serialize;
use url::Url;

use crate::error::ConfigError;

/// The canonical URI of the protected resource (e.g. `https://mcp.example.com/mcp`) and what is
/// derived from it once, at build time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    uri: String,
    normalized: String,
    metadata_url: String,
    metadata_path: String,
    path: String,
}

impl Resource {
    /// Parses and checks a resource URI: absolute `http(s)`, no fragment, no query, no
    /// credentials. Keep it byte-for-byte what clients use: it is the audience tokens must carry.
    pub fn parse(uri: impl Into<String>) -> Result<Self, ConfigError> {
        let uri = uri.into();
        let url = Url::parse(&uri).map_err(|e| {
            ConfigError::new(format!(
                "the resource {uri:?} is not an absolute URL ({e}); use e.g. https://mcp.example.com/mcp"
            ))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ConfigError::new(format!(
                "the resource {uri:?} must be an http or https URL"
            )));
        }
        if url.fragment().is_some() || uri.contains('#') {
            return Err(ConfigError::new(format!(
                "the resource {uri:?} must not have a fragment (RFC 8707)"
            )));
        }
        if url.query().is_some() {
            return Err(ConfigError::new(format!(
                "the resource {uri:?} should not have a query"
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ConfigError::new(format!(
                "the resource {uri:?} must not carry credentials"
            )));
        }
        let host = url.host_str().unwrap_or_default();
        // RFC 9728 §3.1: insert the well-known segment between host and path; drop a lone "/".
        let path = url.path();
        let suffix = if path == "/" { "" } else { path };
        let metadata_path = format!("/.well-known/oauth-protected-resource{suffix}");
        let origin = match url.port() {
            Some(port) => format!("{}://{host}:{port}", url.scheme()),
            None => format!("{}://{host}", url.scheme()),
        };
        Ok(Resource {
            metadata_url: format!("{origin}{metadata_path}"),
            metadata_path,
            normalized: url.as_str().to_owned(),
            path: path.to_owned(),
            uri,
        })
    }

    /// The URI exactly as configured.
    pub fn as_str(&self) -> &str {
        &self.uri
    }

    /// The URL of the RFC 9728 document, for `resource_metadata` in challenges.
    pub fn metadata_url(&self) -> &str {
        &self.metadata_url
    }

    /// The path at which the RFC 9728 document is served on this server
    /// (`/.well-known/oauth-protected-resource/mcp` for `https://h/mcp`).
    pub fn metadata_path(&self) -> &str {
        &self.metadata_path
    }

    /// The path part of the resource URI (`/mcp`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Whether an `aud` value names this resource: identical, or identical after lower-casing
    /// scheme and host and dropping a default port (RFC 3986 §6.2.2–6.2.3). Paths are compared
    /// exactly, so `https://h/mcp/` is not `https://h/mcp`.
    pub fn matches_audience(&self, audience: &str) -> bool {
        audience == self.uri
            || Url::parse(audience).is_ok_and(|url| url.as_str() == self.normalized)
    }
}

/// The RFC 9728 Protected Resource Metadata document.
///
/// Members with no value are omitted (RFC 9728 §3.2): never `"scopes_supported": []`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ProtectedResourceMetadata {
    /// The resource identifier, identical to the URI the metadata URL was built from.
    pub resource: String,
    /// The authorization servers' issuer identifiers.
    pub authorization_servers: Vec<String>,
    /// The scopes a client may request.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    /// Always `["header"]`: MCP forbids other methods.
    pub bearer_methods_supported: Vec<String>,
    /// A human-readable name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
    /// A documentation URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_documentation: Option<String>,
}

impl ProtectedResourceMetadata {
    /// A document for `resource`.
    pub fn new(resource: &Resource, authorization_servers: Vec<String>) -> Self {
        ProtectedResourceMetadata {
            resource: resource.as_str().to_owned(),
            authorization_servers,
            scopes_supported: Vec::new(),
            bearer_methods_supported: vec!["header".to_owned()],
            resource_name: None,
            resource_documentation: None,
        }
    }

    /// The JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_url_inserts_the_well_known_segment() {
        let cases = [
            (
                "https://h",
                "https://h/.well-known/oauth-protected-resource",
            ),
            (
                "https://h/",
                "https://h/.well-known/oauth-protected-resource",
            ),
            (
                "https://h:8443/mcp",
                "https://h:8443/.well-known/oauth-protected-resource/mcp",
            ),
            (
                "http://127.0.0.1:8811/t1/mcp",
                "http://127.0.0.1:8811/.well-known/oauth-protected-resource/t1/mcp",
            ),
        ];
        for (resource, expected) in cases {
            assert_eq!(Resource::parse(resource).unwrap().metadata_url(), expected);
        }
        assert_eq!(
            Resource::parse("https://h/mcp").unwrap().metadata_path(),
            "/.well-known/oauth-protected-resource/mcp"
        );
    }

    #[test]
    fn bad_resources_are_config_errors() {
        for bad in [
            "mcp",
            "ftp://h/x",
            "https://h/mcp#x",
            "https://h/mcp?a=1",
            "https://u:p@h/",
        ] {
            assert!(Resource::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn audience_comparison_normalizes_scheme_host_and_default_port_only() {
        let resource = Resource::parse("https://mcp.example.com/mcp").unwrap();
        assert!(resource.matches_audience("https://mcp.example.com/mcp"));
        assert!(resource.matches_audience("HTTPS://MCP.EXAMPLE.COM/mcp"));
        assert!(resource.matches_audience("https://mcp.example.com:443/mcp"));
        assert!(!resource.matches_audience("https://mcp.example.com/mcp/"));
        assert!(!resource.matches_audience("https://mcp.example.com/MCP"));
        assert!(!resource.matches_audience("https://other.example.com/mcp"));
        assert!(!resource.matches_audience("not a url"));
    }

    #[test]
    fn metadata_document_omits_empty_members() {
        let resource = Resource::parse("https://h/mcp").unwrap();
        let doc = ProtectedResourceMetadata::new(&resource, vec!["https://as".into()]);
        assert_eq!(
            doc.to_json(),
            r#"{"resource":"https://h/mcp","authorization_servers":["https://as"],"bearer_methods_supported":["header"]}"#
        );
    }
}
