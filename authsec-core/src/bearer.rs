//! Bearer token extraction (RFC 6750 §2.1).
//!
//! Exactly one `Authorization` header, scheme `Bearer` in any case, one or more spaces, then a
//! `b64token` (`[A-Za-z0-9-._~+/]+=*`). A token in the query string is refused: MCP and OAuth 2.1
//! forbid it, and RFC 6750 forbids presenting two credentials at once.

use crate::denial::Denial;

/// The `Authorization` header values of a request, as the adapter found them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Authorization<'a> {
    /// No `Authorization` header.
    Absent,
    /// Exactly one header, raw bytes.
    One(&'a [u8]),
    /// More than one `Authorization` header.
    Many,
}

impl<'a> Authorization<'a> {
    /// Counts the values an adapter iterates over.
    pub fn from_values<I: IntoIterator<Item = &'a [u8]>>(values: I) -> Self {
        let mut values = values.into_iter();
        match (values.next(), values.next()) {
            (None, _) => Authorization::Absent,
            (Some(one), None) => Authorization::One(one),
            (Some(_), Some(_)) => Authorization::Many,
        }
    }
}

/// Finds the bearer token of a request.
///
/// Returns `Ok(None)` when no bearer credentials are present (no header, or another scheme such
/// as `Basic`), which the Guard turns into `missing_token`; `Err` with `invalid_request` for two
/// credentials, a token in the query string, or a malformed header.
pub fn extract_bearer<'a>(
    authorization: Authorization<'a>,
    query: Option<&str>,
) -> Result<Option<&'a str>, Denial> {
    bearer_credentials(authorization, query)?
        .map(checked_token)
        .transpose()
}

/// The bearer credentials of a request, before their syntax is checked ([`checked_token`]):
/// the Guard looks a token up in its verified cache first, where every token once passed that
/// check.
pub(crate) fn bearer_credentials<'a>(
    authorization: Authorization<'a>,
    query: Option<&str>,
) -> Result<Option<&'a [u8]>, Denial> {
    if query.is_some_and(query_has_access_token) {
        return Err(Denial::invalid_request(
            "access tokens in the query string are not accepted; send an Authorization: Bearer header",
        ));
    }
    let value = match authorization {
        Authorization::Absent => return Ok(None),
        Authorization::Many => {
            return Err(Denial::invalid_request(
                "more than one Authorization header was sent",
            ));
        }
        Authorization::One(value) => value,
    };
    let value = trim_ows(value);
    // The usual form, `Bearer ` and the token, read without searching for the scheme's end.
    if let Some(rest) = value.strip_prefix(b"Bearer ") {
        return match trim_ows(rest) {
            [] => Err(no_token()),
            token => Ok(Some(token)),
        };
    }
    let (scheme, rest) = match value.iter().position(|&b| b == b' ') {
        Some(space) => (&value[..space], &value[space..]),
        None => (value, &[][..]),
    };
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        // Another scheme (Basic, DPoP, ...): no bearer credentials (RFC 6750 §3.1: no error code).
        return Ok(None);
    }
    let token = trim_ows(rest);
    if token.is_empty() {
        return Err(no_token());
    }
    Ok(Some(token))
}

fn no_token() -> Denial {
    Denial::invalid_request("the Authorization header has the Bearer scheme but no token")
}

/// A bearer token that is a valid RFC 6750 `b64token`, as text.
pub(crate) fn checked_token(token: &[u8]) -> Result<&str, Denial> {
    if !is_b64token(token) {
        return Err(Denial::invalid_request(
            "the bearer token is not a valid b64token (RFC 6750 section 2.1)",
        ));
    }
    // is_b64token admits only ASCII, so this cannot fail; stay panic-free anyway.
    std::str::from_utf8(token).map_err(|_| Denial::invalid_request("the bearer token is not ASCII"))
}

fn trim_ows(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

/// `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`
fn is_b64token(token: &[u8]) -> bool {
    let body_len = token.len() - token.iter().rev().take_while(|&&b| b == b'=').count();
    // Branch-free per byte and folded without an early exit, so that the compiler checks many
    // bytes per instruction: this runs over every token of every request (a JWT is about a
    // kilobyte), where a chain of comparisons per byte cost about a microsecond.
    body_len > 0
        && token[..body_len]
            .iter()
            .fold(0u8, |bad, &b| bad | u8::from(!is_b64token_char(b)))
            == 0
}

/// `ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/"`, without branches.
#[inline(always)]
fn is_b64token_char(b: u8) -> bool {
    // `b | 0x20` folds `A-Z` onto `a-z` (and nothing else onto them); `-./0-9` is the one range
    // 0x2D..=0x39. Five tests per byte, which the compiler runs 16 bytes at a time.
    ((b | 0x20).wrapping_sub(b'a') < 26)
        | (b.wrapping_sub(b'-') <= b'9' - b'-')
        | (b == b'_')
        | (b == b'~')
        | (b == b'+')
}

fn query_has_access_token(query: &str) -> bool {
    url::form_urlencoded::parse(query.as_bytes()).any(|(key, _)| key == "access_token")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DenialCode;

    #[test]
    fn b64token_chars_are_exactly_the_rfc_6750_set() {
        for b in 0..=u8::MAX {
            let spec = b.is_ascii_alphanumeric() || b"-._~+/".contains(&b);
            assert_eq!(is_b64token_char(b), spec, "byte {b:#04x}");
        }
    }

    fn one(value: &str) -> Authorization<'_> {
        Authorization::One(value.as_bytes())
    }

    #[test]
    fn scheme_is_case_insensitive_and_spaces_are_allowed() {
        assert_eq!(
            extract_bearer(one("bearer abc.def"), None),
            Ok(Some("abc.def"))
        );
        assert_eq!(
            extract_bearer(one("BEARER   a-b_c~+/=="), None),
            Ok(Some("a-b_c~+/=="))
        );
    }

    #[test]
    fn the_usual_bearer_form_reads_as_any_other_spelling_of_the_scheme() {
        let read = |value: &str| {
            bearer_credentials(one(value), None)
                .map(|token| token.map(<[u8]>::to_vec))
                .map_err(|denial| denial.description().to_owned())
        };
        for value in [
            "Bearer abc.def",
            "Bearer   abc ",
            " Bearer abc\t",
            "Bearer a b",
            "Bearer ",
            "Bearer \t ",
            "Bearer  \tx",
        ] {
            // `bEaReR` takes the general path; `Bearer ` the one for the usual form.
            let other = value.replacen("Bearer", "bEaReR", 1);
            assert_eq!(read(value), read(&other), "{value:?}");
        }
        assert_eq!(read("Bearer   abc "), Ok(Some(b"abc".to_vec())));
        assert_eq!(
            read("Bearer \t "),
            Err("the Authorization header has the Bearer scheme but no token".to_owned())
        );
    }

    #[test]
    fn other_schemes_and_absent_header_are_missing_credentials() {
        assert_eq!(extract_bearer(one("Basic dXNlcjpwYXNz"), None), Ok(None));
        assert_eq!(extract_bearer(Authorization::Absent, None), Ok(None));
    }

    #[test]
    fn malformed_headers_are_invalid_request() {
        for bad in [
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Bearer a\"b",
            "Bearer =abc",
            "Bearer é",
        ] {
            let denial = extract_bearer(one(bad), None).unwrap_err();
            assert_eq!(denial.code(), DenialCode::InvalidRequest, "{bad}");
        }
    }

    #[test]
    fn two_credentials_or_query_tokens_are_invalid_request() {
        let denial = extract_bearer(Authorization::Many, None).unwrap_err();
        assert_eq!(
            denial.description(),
            "more than one Authorization header was sent"
        );
        let denial = extract_bearer(one("Bearer abc"), Some("x=1&access_token=abc")).unwrap_err();
        assert_eq!(denial.code(), DenialCode::InvalidRequest);
        let denial = extract_bearer(Authorization::Absent, Some("access%5Ftoken=abc")).unwrap_err();
        assert_eq!(denial.code(), DenialCode::InvalidRequest);
        assert_eq!(
            extract_bearer(one("Bearer abc"), Some("x=access_token")),
            Ok(Some("abc"))
        );
    }

    #[test]
    fn b64token_characters_are_exactly_those_of_rfc_6750() {
        for b in 0..=255u8 {
            let expected =
                b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
            assert_eq!(is_b64token_char(b), expected, "byte {b:#04x}");
            assert_eq!(is_b64token(&[b'a', b, b'z']), expected, "byte {b:#04x}");
        }
        assert!(is_b64token(b"abc=="));
        assert!(!is_b64token(b"=="));
        assert!(!is_b64token(b"a=b"));
    }

    #[test]
    fn from_values_counts_headers() {
        let values: [&[u8]; 2] = [b"a", b"b"];
        assert_eq!(Authorization::from_values(values), Authorization::Many);
        assert_eq!(
            Authorization::from_values([&b"a"[..]]),
            Authorization::One(b"a")
        );
        assert_eq!(
            Authorization::from_values(std::iter::empty()),
            Authorization::Absent
        );
    }
}
