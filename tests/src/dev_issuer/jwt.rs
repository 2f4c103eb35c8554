//! Compact JWS assembly and parsing.
//!
//! Tokens are assembled by hand (`base64url(header) "." base64url(payload)
//! "." signature`) so that any header shape can be produced, including the
//! hostile ones `jsonwebtoken::encode` refuses to make; the signature itself
//! always comes from `jsonwebtoken::crypto::sign` (see
//! [`SigningKey::sign`](super::keys::SigningKey::sign)).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use super::DevIssuerError;

/// base64url (no padding) of the JSON serialisation of `value`.
pub(crate) fn b64_json(value: &Map<String, Value>) -> Result<String, DevIssuerError> {
    let bytes = serde_json::to_vec(value)
        .map_err(|e| DevIssuerError::Crypto(format!("could not serialise JWT part: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// `base64url(header) "." base64url(claims)`.
pub(crate) fn signing_input(
    header: &Map<String, Value>,
    claims: &Map<String, Value>,
) -> Result<String, DevIssuerError> {
    Ok(format!("{}.{}", b64_json(header)?, b64_json(claims)?))
}

/// Assembles a compact JWS, the signature computed by `sign` over the
/// signing input.
pub(crate) fn assemble(
    header: &Map<String, Value>,
    claims: &Map<String, Value>,
    sign: impl FnOnce(&[u8]) -> Result<String, DevIssuerError>,
) -> Result<String, DevIssuerError> {
    let input = signing_input(header, claims)?;
    let signature = sign(input.as_bytes())?;
    Ok(format!("{input}.{signature}"))
}

/// A syntactically valid compact JWS, not yet verified.
pub(crate) struct ParsedJwt<'a> {
    pub header: Map<String, Value>,
    pub claims: Map<String, Value>,
    pub signing_input: &'a str,
    pub signature: &'a str,
}

/// Splits and decodes a compact JWS; `None` for anything malformed.
pub(crate) fn parse(token: &str) -> Option<ParsedJwt<'_>> {
    let (signing_input, signature) = token.rsplit_once('.')?;
    let (header_b64, claims_b64) = signing_input.split_once('.')?;
    if claims_b64.contains('.') {
        return None;
    }
    let decode = |part: &str| -> Option<Map<String, Value>> {
        let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
        match serde_json::from_slice(&bytes).ok()? {
            Value::Object(map) => Some(map),
            _ => None,
        }
    };
    Some(ParsedJwt {
        header: decode(header_b64)?,
        claims: decode(claims_b64)?,
        signing_input,
        signature,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn assemble_then_parse_round_trips() {
        let Value::Object(header) = json!({"alg": "none"}) else {
            unreachable!()
        };
        let Value::Object(claims) = json!({"sub": "alice"}) else {
            unreachable!()
        };
        let token = assemble(&header, &claims, |_| Ok(String::new())).expect("assemble");
        assert!(token.ends_with('.'));
        let parsed = parse(&token).expect("parse");
        assert_eq!(parsed.header, header);
        assert_eq!(parsed.claims, claims);
        assert_eq!(parsed.signature, "");
        assert!(parse("a.b").is_none());
        assert!(parse("a.b.c.d").is_none());
        assert!(parse("!!.??.x").is_none());
    }
}
