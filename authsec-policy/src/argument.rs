//! Argument conditions: a rule on one of the tool's arguments, e.g. `repo` must be one of a list
//! or match a pattern.
//!
//! Only the named top-level argument is read from the raw JSON arguments: the other members are
//! skipped without being built. The argument must be a string; a missing argument, a value of
//! another type, or the argument sent twice (which another parser might read differently) is
//! refused.
//!
//! Patterns are globs matched against the whole value: `*` matches any run of characters
//! (including `/`), `?` any single character, `\` makes the next character literal, everything
//! else matches itself.
//!
//! ```toml
//! [policies.acme_repos]
//! argument = { name = "repo", in = ["acme/api"], matches = ["acme/tools-*"] }
//! ```
//!
//! When `tools/list` is filtered there are no arguments yet: a binding whose condition depends on
//! them is assumed to apply, and the call is checked with its real arguments.

use std::borrow::Cow;
use std::fmt;

use async_trait::async_trait;
use authsec_core::{Denial, JsonText, Policy, PolicyRequest};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

/// The longest argument value quoted back in a denial.
const QUOTED_VALUE_CHARS: usize = 64;

/// A condition on one string argument; see the [module documentation](self).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgumentCondition {
    name: String,
    one_of: Vec<String>,
    patterns: Vec<String>,
}

impl ArgumentCondition {
    /// The argument `name` must be one of `values`.
    pub fn one_of<S: Into<String>>(
        name: impl Into<String>,
        values: impl IntoIterator<Item = S>,
    ) -> Self {
        ArgumentCondition {
            name: name.into(),
            one_of: values.into_iter().map(Into::into).collect(),
            patterns: Vec::new(),
        }
    }

    /// The argument `name` must match one of the glob `patterns`.
    pub fn matching<S: Into<String>>(
        name: impl Into<String>,
        patterns: impl IntoIterator<Item = S>,
    ) -> Self {
        Self::one_of(name, Vec::<String>::new()).or_matching(patterns)
    }

    /// Also accepts values matching one of these glob patterns.
    pub fn or_matching<S: Into<String>>(mut self, patterns: impl IntoIterator<Item = S>) -> Self {
        self.patterns.extend(patterns.into_iter().map(Into::into));
        self
    }

    /// Also accepts these values.
    pub fn or_one_of<S: Into<String>>(mut self, values: impl IntoIterator<Item = S>) -> Self {
        self.one_of.extend(values.into_iter().map(Into::into));
        self
    }

    /// The argument's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether `value` is accepted.
    pub fn accepts(&self, value: &str) -> bool {
        self.one_of.iter().any(|v| v == value) || self.patterns.iter().any(|p| glob_match(p, value))
    }

    /// `None` while listing tools (no arguments yet), else the verdict on the arguments.
    pub(crate) fn check(
        &self,
        request: &PolicyRequest<'_>,
        listing: bool,
    ) -> Option<Result<(), Denial>> {
        if listing {
            return None;
        }
        let name = &self.name;
        let found = match request.arguments {
            Some(arguments) => find_string_argument(arguments, name),
            None => Lookup::Missing,
        };
        Some(match found {
            Lookup::Value(value) if self.accepts(&value) => Ok(()),
            Lookup::Value(value) => Err(Denial::policy_denied(format!(
                "the argument {name:?} = {:?} is not allowed for this operation",
                shorten(&value)
            ))),
            Lookup::Missing => Err(Denial::policy_denied(format!(
                "the argument {name:?} is required by this operation's policy"
            ))),
            Lookup::NotString => Err(Denial::policy_denied(format!(
                "the argument {name:?} must be a string"
            ))),
            Lookup::Duplicate => Err(Denial::policy_denied(format!(
                "the argument {name:?} is given more than once"
            ))),
        })
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.name.is_empty() {
            return Err("an argument condition needs the argument's name".into());
        }
        if self.one_of.is_empty() && self.patterns.is_empty() {
            return Err(format!(
                "the argument condition on {:?} accepts nothing: give `in` values and/or `matches` patterns",
                self.name
            ));
        }
        if self.patterns.iter().any(String::is_empty) {
            return Err(format!(
                "the argument condition on {:?} has an empty pattern",
                self.name
            ));
        }
        Ok(())
    }
}

/// Used on its own as the Guard's policy, an argument condition applies to every tool call.
#[async_trait]
impl Policy for ArgumentCondition {
    async fn evaluate(&self, request: &PolicyRequest<'_>) -> Result<(), Denial> {
        if request.tool.is_none() {
            return Ok(());
        }
        self.check(request, false).unwrap_or(Ok(()))
    }
}

fn shorten(value: &str) -> Cow<'_, str> {
    match value.char_indices().nth(QUOTED_VALUE_CHARS) {
        Some((cut, _)) => Cow::Owned(format!("{}…", &value[..cut])),
        None => Cow::Borrowed(value),
    }
}

/// What [`find_string_argument`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Lookup<'a> {
    Value(Cow<'a, str>),
    Missing,
    NotString,
    Duplicate,
}

/// Reads the top-level member `name` of the JSON object `arguments`, skipping the others.
pub(crate) fn find_string_argument<'a>(arguments: JsonText<'a>, name: &str) -> Lookup<'a> {
    let mut deserializer = serde_json::Deserializer::from_str(arguments.get());
    deserializer
        .deserialize_map(FindMember { name })
        // Arguments that are not an object have no member of that name.
        .unwrap_or(Lookup::Missing)
}

struct FindMember<'n> {
    name: &'n str,
}

impl<'de> Visitor<'de> for FindMember<'_> {
    type Value = Lookup<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of arguments")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Lookup<'de>, A::Error> {
        let mut found: Option<Lookup<'de>> = None;
        while let Some(is_name) = map.next_key_seed(KeyIs(self.name))? {
            if !is_name {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let raw: &'de RawValue = map.next_value()?;
            if found.is_some() {
                found = Some(Lookup::Duplicate);
                continue;
            }
            found = Some(string_value(raw));
        }
        Ok(found.unwrap_or(Lookup::Missing))
    }
}

fn string_value(raw: &RawValue) -> Lookup<'_> {
    let text = raw.get();
    if !text.starts_with('"') {
        return Lookup::NotString;
    }
    if let Ok(borrowed) = serde_json::from_str::<&str>(text) {
        return Lookup::Value(Cow::Borrowed(borrowed));
    }
    match serde_json::from_str::<String>(text) {
        Ok(owned) => Lookup::Value(Cow::Owned(owned)),
        Err(_) => Lookup::NotString,
    }
}

/// Deserializes a map key into "is it `self.0`?" without allocating when it has no escapes.
struct KeyIs<'n>(&'n str);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E>(self, key: &str) -> Result<bool, E> {
        Ok(key == self.0)
    }
}

/// Whole-string glob match: `*` any run, `?` any one character, `\x` a literal `x`.
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0usize, 0usize);
    // Where to resume after the last `*`: (pattern index after it, text index it absorbed to).
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p + 1, t));
                p += 1;
                continue;
            }
            Some('?') => {
                p += 1;
                t += 1;
                continue;
            }
            Some('\\') if pattern.get(p + 1) == Some(&text[t]) => {
                p += 2;
                t += 1;
                continue;
            }
            Some(&c) if c != '\\' && c == text[t] => {
                p += 1;
                t += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((after, absorbed)) => {
                p = after;
                t = absorbed + 1;
                star = Some((after, absorbed + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(json: &str) -> JsonText<'_> {
        JsonText::new(json).unwrap()
    }

    #[test]
    fn only_the_named_member_is_read() {
        let args = raw(r#"{"big":{"nested":[1,2,{"repo":"no"}]},"repo":"acme/api","n":3}"#);
        assert_eq!(
            find_string_argument(args, "repo"),
            Lookup::Value(Cow::Borrowed("acme/api"))
        );
        assert_eq!(find_string_argument(args, "missing"), Lookup::Missing);
        assert_eq!(find_string_argument(args, "n"), Lookup::NotString);
        let escaped = raw(r#"{"re\u0070o":"acme\/api"}"#);
        assert_eq!(
            find_string_argument(escaped, "repo"),
            Lookup::Value(Cow::Owned("acme/api".into()))
        );
        let twice = raw(r#"{"repo":"acme/api","repo":"evil/x"}"#);
        assert_eq!(find_string_argument(twice, "repo"), Lookup::Duplicate);
        assert_eq!(find_string_argument(raw("[1]"), "repo"), Lookup::Missing);
    }

    #[test]
    fn globs_match_the_whole_value() {
        for (pattern, text, expected) in [
            ("acme/*", "acme/api", true),
            ("acme/*", "acme/", true),
            ("acme/*", "acme", false),
            ("acme/*", "evil/acme/x", false),
            ("*-prod", "api-prod", true),
            ("a*b*c", "aXbYbZc", true),
            ("a*b*c", "aXbYbZ", false),
            ("v?.?", "v1.2", true),
            ("v?.?", "v10.2", false),
            ("lit\\*", "lit*", true),
            ("lit\\*", "litX", false),
            ("*", "", true),
            ("é*", "été", true),
        ] {
            assert_eq!(glob_match(pattern, text), expected, "{pattern} ~ {text}");
        }
    }

    #[test]
    fn conditions_accept_listed_values_or_patterns() {
        let rule = ArgumentCondition::one_of("repo", ["acme/api"]).or_matching(["tools/*"]);
        assert!(rule.accepts("acme/api"));
        assert!(rule.accepts("tools/ci"));
        assert!(!rule.accepts("acme/web"));
        assert!(
            ArgumentCondition::one_of("repo", Vec::<String>::new())
                .validate()
                .is_err()
        );
    }
}
