//! `WWW-Authenticate` parsing (RFC 9110 §11.6.1, RFC 6750 §3): several challenges in one value,
//! quoted strings with commas and backslash escapes, case-insensitive scheme and parameter names,
//! `token68` credentials.
//!
//! ```
//! use authsec_client::challenge::parse_www_authenticate;
//!
//! let challenges = parse_www_authenticate(
//!     r#"Basic realm="x", Bearer realm="x, y", resource_metadata="https://h/p", scope="a b""#,
//! )
//! .unwrap();
//! let bearer = challenges.iter().find(|c| c.is_bearer()).unwrap();
//! assert_eq!(bearer.param("realm"), Some("x, y"));
//! assert_eq!(bearer.param("SCOPE"), Some("a b"));
//! ```

use std::fmt;

/// The longest header value parsed; servers' challenges are a few hundred bytes.
pub const MAX_HEADER_LEN: usize = 16 * 1024;

/// One challenge: an auth scheme and its parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    scheme: String,
    token68: Option<String>,
    /// Names lower-cased; values unquoted and unescaped; in header order.
    params: Vec<(String, String)>,
}

impl Challenge {
    /// The auth scheme as sent (compare with [`Challenge::is_scheme`]).
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// Whether the scheme is `scheme`, case-insensitively.
    pub fn is_scheme(&self, scheme: &str) -> bool {
        self.scheme.eq_ignore_ascii_case(scheme)
    }

    /// Whether this is a `Bearer` challenge.
    pub fn is_bearer(&self) -> bool {
        self.is_scheme("Bearer")
    }

    /// The `token68` form of the challenge, if it used one instead of parameters.
    pub fn token68(&self) -> Option<&str> {
        self.token68.as_deref()
    }

    /// The first parameter named `name` (case-insensitive), unquoted.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every parameter, names lower-cased, in header order.
    pub fn params(&self) -> &[(String, String)] {
        &self.params
    }
}

/// Why a `WWW-Authenticate` value could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChallengeError {
    /// The value is longer than [`MAX_HEADER_LEN`].
    #[error("the WWW-Authenticate value is longer than {MAX_HEADER_LEN} bytes")]
    TooLong,
    /// A quoted string has no closing quote.
    #[error("unterminated quoted string at byte {0}")]
    UnterminatedQuote(usize),
    /// A character that cannot appear where it was found.
    #[error("unexpected character {found:?} at byte {at}")]
    Unexpected {
        /// The character.
        found: char,
        /// Its byte offset.
        at: usize,
    },
    /// The value holds no challenge.
    #[error("the WWW-Authenticate value holds no challenge")]
    Empty,
}

fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

fn is_token68_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-._~+/".contains(&c)
}

struct Cursor<'a> {
    s: &'a [u8],
    text: &'a str,
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    fn skip_ws_and_commas(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.pos += 1;
        }
    }

    fn token(&mut self) -> &str {
        let start = self.pos;
        while self.peek().is_some_and(is_tchar) {
            self.pos += 1;
        }
        &self.text[start..self.pos]
    }

    fn unexpected(&self) -> ChallengeError {
        let found = self.text[self.pos..].chars().next().unwrap_or('\0');
        ChallengeError::Unexpected {
            found,
            at: self.pos,
        }
    }

    /// A quoted-string starting at the opening quote; backslash escapes any next character.
    fn quoted(&mut self) -> Result<String, ChallengeError> {
        let open = self.pos;
        self.pos += 1;
        let mut out = String::new();
        let mut chars = self.text[self.pos..].char_indices();
        while let Some((offset, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos += offset + 1;
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, escaped)) => out.push(escaped),
                    None => break,
                },
                _ => out.push(c),
            }
        }
        Err(ChallengeError::UnterminatedQuote(open))
    }

    /// Whether what follows (after optional whitespace) is `token *WS "="` but not a `token68`
    /// ending in `=` padding: i.e. an auth-param starts here.
    fn param_follows(&self) -> bool {
        let mut i = self.pos;
        let start = i;
        while self.s.get(i).copied().is_some_and(is_tchar) {
            i += 1;
        }
        if i == start {
            return false;
        }
        while matches!(self.s.get(i), Some(b' ' | b'\t')) {
            i += 1;
        }
        self.s.get(i) == Some(&b'=')
    }
}

/// Parses a `WWW-Authenticate` value into its challenges.
///
/// Unknown schemes and parameters are kept (clients must ignore what they do not understand);
/// a value that is not syntactically a challenge list is an error, never a panic.
pub fn parse_www_authenticate(value: &str) -> Result<Vec<Challenge>, ChallengeError> {
    if value.len() > MAX_HEADER_LEN {
        return Err(ChallengeError::TooLong);
    }
    let mut cur = Cursor {
        s: value.as_bytes(),
        text: value,
        pos: 0,
    };
    let mut challenges = Vec::new();
    loop {
        cur.skip_ws_and_commas();
        if cur.peek().is_none() {
            break;
        }
        let scheme = cur.token().to_owned();
        if scheme.is_empty() {
            return Err(cur.unexpected());
        }
        let mut challenge = Challenge {
            scheme,
            token68: None,
            params: Vec::new(),
        };
        match cur.peek() {
            None | Some(b',') => {
                challenges.push(challenge);
                continue;
            }
            Some(b' ' | b'\t') => cur.skip_ws(),
            Some(_) => return Err(cur.unexpected()),
        }
        // token68: `Scheme abc+/==` (no `name=` form, optional `=` padding, then end or comma).
        if !cur.param_follows() && cur.peek().is_some_and(is_token68_char) {
            let start = cur.pos;
            let mut end = cur.pos;
            while cur.s.get(end).copied().is_some_and(is_token68_char) {
                end += 1;
            }
            let mut padded = end;
            while cur.s.get(padded) == Some(&b'=') {
                padded += 1;
            }
            let mut after = padded;
            while matches!(cur.s.get(after), Some(b' ' | b'\t')) {
                after += 1;
            }
            if matches!(cur.s.get(after), None | Some(b',')) && padded > end {
                challenge.token68 = Some(value[start..padded].to_owned());
                cur.pos = after;
                challenges.push(challenge);
                continue;
            }
            // Otherwise it is the next challenge's scheme (`Basic, Bearer x=1` has no params).
        }
        while cur.param_follows() {
            let name = cur.token().to_ascii_lowercase();
            cur.skip_ws();
            cur.pos += 1; // '='
            cur.skip_ws();
            let param_value = match cur.peek() {
                Some(b'"') => cur.quoted()?,
                Some(c) if is_tchar(c) => cur.token().to_owned(),
                _ => return Err(cur.unexpected()),
            };
            challenge.params.push((name, param_value));
            cur.skip_ws();
            match cur.peek() {
                None => break,
                Some(b',') => cur.skip_ws_and_commas(),
                Some(_) => return Err(cur.unexpected()),
            }
        }
        challenges.push(challenge);
    }
    if challenges.is_empty() {
        return Err(ChallengeError::Empty);
    }
    Ok(challenges)
}

/// The first `Bearer` challenge among several `WWW-Authenticate` values; values that do not
/// parse are skipped (a broken `Basic` header must not hide a good `Bearer` one).
pub fn bearer_challenge<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<Challenge> {
    values
        .into_iter()
        .filter_map(|v| parse_www_authenticate(v).ok())
        .flatten()
        .find(Challenge::is_bearer)
}

impl fmt::Display for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.scheme)?;
        if let Some(t) = &self.token68 {
            return write!(f, " {t}");
        }
        for (i, (name, value)) in self.params.iter().enumerate() {
            let sep = if i == 0 { " " } else { ", " };
            write!(f, "{sep}{name}=\"")?;
            for c in value.chars() {
                if c == '"' || c == '\\' {
                    f.write_str("\\")?;
                }
                write!(f, "{c}")?;
            }
            f.write_str("\"")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(value: &str) -> Challenge {
        let mut all = parse_www_authenticate(value).unwrap();
        assert_eq!(all.len(), 1, "{all:?}");
        all.remove(0)
    }

    #[test]
    fn quoted_value_with_comma_is_one_param() {
        let c = one(r#"Bearer realm="x, y", resource_metadata="https://h/p", scope="a b""#);
        assert_eq!(c.scheme(), "Bearer");
        assert_eq!(
            c.params(),
            [
                ("realm".to_owned(), "x, y".to_owned()),
                ("resource_metadata".to_owned(), "https://h/p".to_owned()),
                ("scope".to_owned(), "a b".to_owned()),
            ]
        );
    }

    #[test]
    fn scheme_and_param_names_are_case_insensitive() {
        let c = one(r#"bEaReR ERROR="invalid_token", Scope="s""#);
        assert!(c.is_bearer());
        assert_eq!(c.param("error"), Some("invalid_token"));
        assert_eq!(c.param("scope"), Some("s"));
    }

    #[test]
    fn backslash_escapes_are_unescaped() {
        let c = one(r#"Bearer error_description="say \"hi\" \\ now", x=y"#);
        assert_eq!(c.param("error_description"), Some(r#"say "hi" \ now"#));
        assert_eq!(c.param("x"), Some("y"));
    }

    #[test]
    fn several_challenges_in_one_value() {
        let all = parse_www_authenticate(
            r#"Basic realm="a, b", Bearer error="insufficient_scope", scope="notes:write", DPoP algs="ES256""#,
        )
        .unwrap();
        let schemes: Vec<&str> = all.iter().map(Challenge::scheme).collect();
        assert_eq!(schemes, ["Basic", "Bearer", "DPoP"]);
        assert_eq!(all[0].param("realm"), Some("a, b"));
        assert_eq!(all[1].param("scope"), Some("notes:write"));
        assert_eq!(all[2].param("algs"), Some("ES256"));
    }

    #[test]
    fn bare_schemes_and_token68() {
        let all = parse_www_authenticate("Negotiate, Custom abc+/==, Bearer").unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[0].scheme(), "Negotiate");
        assert_eq!(all[1].token68(), Some("abc+/=="));
        assert!(all[2].is_bearer());
        assert!(all[2].params().is_empty());
    }

    #[test]
    fn bare_scheme_followed_by_scheme_with_params_without_comma() {
        // Lenient: a scheme with no parameters, then the next challenge.
        let all = parse_www_authenticate(r#"Negotiate Bearer scope="a""#).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].scheme(), "Negotiate");
        assert!(all[0].params().is_empty());
        assert_eq!(all[1].param("scope"), Some("a"));
    }

    #[test]
    fn whitespace_around_equals_and_unquoted_tokens() {
        let c = one("Bearer max_age = 300 ,acr_values=mfa");
        assert_eq!(c.param("max_age"), Some("300"));
        assert_eq!(c.param("acr_values"), Some("mfa"));
    }

    #[test]
    fn malformed_values_are_errors_not_panics() {
        assert_eq!(
            parse_www_authenticate(r#"Bearer scope="open"#),
            Err(ChallengeError::UnterminatedQuote(13))
        );
        assert_eq!(parse_www_authenticate(""), Err(ChallengeError::Empty));
        assert_eq!(parse_www_authenticate(" , ,"), Err(ChallengeError::Empty));
        assert!(matches!(
            parse_www_authenticate("Bearer scope=@"),
            Err(ChallengeError::Unexpected { found: '@', .. })
        ));
        assert!(matches!(
            parse_www_authenticate("=x"),
            Err(ChallengeError::Unexpected { found: '=', at: 0 })
        ));
        assert_eq!(
            parse_www_authenticate(&"a".repeat(MAX_HEADER_LEN + 1)),
            Err(ChallengeError::TooLong)
        );
        // A trailing backslash inside a quote, and non-ASCII, never panic.
        assert!(parse_www_authenticate("Bearer x=\"\\").is_err());
        assert_eq!(one("Bearer x=\"é, ü\"").param("x"), Some("é, ü"));
    }

    #[test]
    fn first_bearer_among_several_headers_skipping_broken_ones() {
        let found = bearer_challenge([
            "Basic realm=\"unterminated",
            r#"Basic realm="x", Bearer scope="s""#,
        ])
        .unwrap();
        assert_eq!(found.param("scope"), Some("s"));
        assert!(bearer_challenge(["Basic realm=\"x\""]).is_none());
    }

    #[test]
    fn display_round_trips_through_the_parser() {
        let c = one(r#"Bearer error_description="a \"b\" \\ c", scope="x y""#);
        assert_eq!(one(&c.to_string()), c);
    }
}
