//! Reading the `Bearer` challenge of a `WWW-Authenticate` header (RFC 6750 §3, RFC 9110 §11.6.1):
//! the auth-params a probe needs (`error`, `scope`, `resource_metadata`...).

/// The auth-params of the first `Bearer` challenge in `header`, or `None` if there is none.
/// Quoted strings are unescaped; parameter names are lower-cased.
pub fn bearer_params(header: &str) -> Option<Vec<(String, String)>> {
    let mut rest = header;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            return None;
        }
        let scheme_end = rest.find([' ', '\t', ',']).unwrap_or(rest.len());
        let scheme = &rest[..scheme_end];
        let (params, after) = parse_params(&rest[scheme_end..]);
        if scheme.eq_ignore_ascii_case("bearer") {
            return Some(params);
        }
        rest = after;
    }
}

/// The value of `name` among `params`.
pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Parses `name=value` pairs until the next challenge's scheme; returns them and the rest.
fn parse_params(mut input: &str) -> (Vec<(String, String)>, &str) {
    let mut params = Vec::new();
    loop {
        let trimmed = input.trim_start_matches([' ', '\t', ',']);
        let name_end = trimmed.find(['=', ' ', '\t', ',']).unwrap_or(trimmed.len());
        let name = &trimmed[..name_end];
        let after_name = trimmed[name_end..].trim_start_matches([' ', '\t']);
        if name.is_empty() || !after_name.starts_with('=') {
            // Not a parameter: the end, or the next challenge's scheme.
            return (params, trimmed);
        }
        let value_part = after_name[1..].trim_start_matches([' ', '\t']);
        let (value, rest) = if let Some(quoted) = value_part.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &quoted[end.min(quoted.len())..])
        } else {
            let end = value_part
                .find([',', ' ', '\t'])
                .unwrap_or(value_part.len());
            (value_part[..end].to_owned(), &value_part[end..])
        };
        params.push((name.to_ascii_lowercase(), value));
        input = rest;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_quoted_and_token_params_of_the_bearer_challenge() {
        let params = bearer_params(
            r#"Basic realm="x", Bearer error="insufficient_scope", scope="a b", resource_metadata="https://h/.well-known/oauth-protected-resource/mcp", max_age=300"#,
        )
        .unwrap();
        assert_eq!(param(&params, "error"), Some("insufficient_scope"));
        assert_eq!(param(&params, "scope"), Some("a b"));
        assert_eq!(
            param(&params, "resource_metadata"),
            Some("https://h/.well-known/oauth-protected-resource/mcp")
        );
        assert_eq!(param(&params, "max_age"), Some("300"));
    }

    #[test]
    fn unescapes_quoted_pairs_and_finds_no_bearer_in_other_schemes() {
        let params = bearer_params(r#"Bearer error_description="say \"hi\"""#).unwrap();
        assert_eq!(param(&params, "error_description"), Some(r#"say "hi""#));
        assert_eq!(bearer_params(r#"Basic realm="x""#), None);
        assert_eq!(bearer_params("Bearer").unwrap(), Vec::new());
    }
}
