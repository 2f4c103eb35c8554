//! Scopes: parsing from tokens, matching against what an operation needs.

use std::fmt;

use serde_json::Value;

use crate::short_eq::short_eq;

/// A set of OAuth scopes, as granted by a token.
///
/// Built from the RFC 9068 `scope` claim (a space-delimited string) or the `scp` claim some
/// identity providers use (an array or a string). Order is kept, duplicates are dropped. Sets are
/// small (a handful of scopes), so membership is a linear scan with no hashing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScopeSet {
    scopes: Vec<Box<str>>,
}

impl ScopeSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a space-delimited scope string.
    pub fn parse(scope: &str) -> Self {
        scope.split_ascii_whitespace().collect()
    }

    /// Reads `scope` (string or array), else `scp` (array or string), from a claim value.
    pub fn from_claim(value: &Value) -> Self {
        match value {
            Value::String(s) => Self::parse(s),
            Value::Array(items) => items
                .iter()
                .filter_map(Value::as_str)
                .flat_map(str::split_ascii_whitespace)
                .collect(),
            _ => Self::new(),
        }
    }

    /// Adds a scope (ignored if already present).
    pub fn insert(&mut self, scope: &str) {
        if !self.contains(scope) {
            self.scopes.push(scope.into());
        }
    }

    /// Whether the set holds `scope` exactly (scopes are case-sensitive).
    pub fn contains(&self, scope: &str) -> bool {
        self.scopes
            .iter()
            .any(|s| short_eq(s.as_bytes(), scope.as_bytes()))
    }

    /// Whether every scope of `required` is present.
    pub fn contains_all<S: AsRef<str>>(&self, required: &[S]) -> bool {
        required.iter().all(|r| self.contains(r.as_ref()))
    }

    /// The scopes of `required` that are missing.
    pub fn missing<'a, S: AsRef<str>>(&self, required: &'a [S]) -> Vec<&'a str> {
        required
            .iter()
            .map(AsRef::as_ref)
            .filter(|r| !self.contains(r))
            .collect()
    }

    /// Keeps only the scopes for which `keep` returns true.
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.scopes.retain(|s| keep(s));
    }

    /// Iterates in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.scopes.iter().map(|s| &**s)
    }

    /// Number of scopes.
    pub fn len(&self) -> usize {
        self.scopes.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.scopes.is_empty()
    }
}

impl<'a> FromIterator<&'a str> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = &'a str>>(iter: I) -> Self {
        let mut set = ScopeSet::new();
        for scope in iter {
            set.insert(scope);
        }
        set
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, scope) in self.scopes.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(scope)?;
        }
        Ok(())
    }
}

/// Checks that `scope` is a valid scope token (RFC 6749 §3.3: `%x21 / %x23-5B / %x5D-7E`), so it
/// can be put in a challenge without quoting problems.
pub fn validate_scope_token(scope: &str) -> Result<(), String> {
    if scope.is_empty() {
        return Err("a scope must not be empty".into());
    }
    match scope
        .bytes()
        .find(|&b| !matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
    {
        None => Ok(()),
        Some(bad) => Err(format!(
            "scope {scope:?} contains the character {:?}, which RFC 6749 does not allow in a scope",
            bad as char
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_strings_and_arrays_and_drops_duplicates() {
        assert_eq!(ScopeSet::parse(" a  b a ").to_string(), "a b");
        assert_eq!(
            ScopeSet::from_claim(&json!(["x", "y z"])).to_string(),
            "x y z"
        );
        assert!(ScopeSet::from_claim(&json!(5)).is_empty());
    }

    #[test]
    fn matching_is_exact_and_case_sensitive() {
        let set = ScopeSet::parse("notes:read");
        assert!(set.contains_all(&["notes:read"]));
        assert!(!set.contains_all(&["Notes:read"]));
        assert_eq!(set.missing(&["notes:read", "notes:write"]), ["notes:write"]);
    }

    #[test]
    fn scope_tokens_exclude_quotes_backslashes_and_spaces() {
        assert!(validate_scope_token("notes:read").is_ok());
        for bad in ["", "a b", "a\"b", "a\\b", "é"] {
            assert!(validate_scope_token(bad).is_err(), "{bad}");
        }
    }
}
