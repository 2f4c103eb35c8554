//! Build-time errors: the configuration cannot work, so the server must not start.

/// A configuration problem, with a message saying what to fix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("authsec configuration: {message}")]
pub struct ConfigError {
    message: String,
}

impl ConfigError {
    /// A configuration error with an actionable message.
    pub fn new(message: impl Into<String>) -> Self {
        ConfigError {
            message: message.into(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}
