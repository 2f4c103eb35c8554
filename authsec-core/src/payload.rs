//! A verified JWT payload read in one pass into the registered claims, without building a map
//! of every claim: [`Claims::raw`](crate::principal::Claims::raw) parses the rest on first use.
//!
//! The result is the one [`Claims::from_map`](crate::principal::Claims::from_map) gives for the
//! same JSON, errors and their order included (`payload::tests` compares the two), with one
//! difference RFC 7519 section 4 allows either way: both take the last of duplicate members.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::mcp::scan::Scan;
use crate::scope::ScopeSet;

/// The registered claims of a payload, as found.
#[derive(Default)]
#[cfg_attr(test, derive(Debug, PartialEq))]
pub(crate) struct Registered {
    pub(crate) iss: Found<String>,
    pub(crate) sub: Found<String>,
    pub(crate) aud: Audience,
    pub(crate) exp: Found<Date>,
    pub(crate) nbf: Found<Date>,
    pub(crate) iat: Found<Date>,
    pub(crate) client_id: Found<String>,
    pub(crate) azp: Found<String>,
    /// `scope` when present (whatever its value), else `scp`.
    pub(crate) scope: Option<ScopeSet>,
    pub(crate) scp: Option<ScopeSet>,
    pub(crate) acr: Found<String>,
    /// The strings of an `amr` array, or the one string.
    pub(crate) amr: Vec<String>,
    pub(crate) auth_time: Found<Date>,
    pub(crate) jti: Found<String>,
}

/// A claim: absent or `null`, a value of the expected type, or a value of another type.
#[derive(Default)]
#[cfg_attr(test, derive(Debug, PartialEq))]
pub(crate) enum Found<T> {
    #[default]
    Absent,
    Value(T),
    WrongType,
}

/// A NumericDate as `Claims::from_map` reads it: a non-negative integer, or a finite
/// non-negative number (truncated); `Invalid` for a negative or non-finite number.
#[cfg_attr(test, derive(Debug, PartialEq))]
pub(crate) enum Date {
    Valid(u64),
    Invalid,
}

/// `aud`: absent or `null`, one string, an array of strings, an array holding something else,
/// or another type.
#[derive(Default)]
#[cfg_attr(test, derive(Debug, PartialEq))]
pub(crate) enum Audience {
    #[default]
    Absent,
    List(Vec<String>),
    NonStringItem,
    WrongType,
}

/// Reads a payload that must be a JSON object.
pub(crate) fn registered(payload: &[u8]) -> Result<Registered, serde_json::Error> {
    match registered_fast(payload) {
        Some(registered) => Ok(registered),
        None => registered_by_serde(payload),
    }
}

fn registered_by_serde(payload: &[u8]) -> Result<Registered, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(payload);
    let registered = deserializer.deserialize_map(PayloadVisitor)?;
    deserializer.end()?;
    Ok(registered)
}

/// The typical payload in one hand-written pass ([`Scan`]), or `None` when serde must decide:
/// registered claims of an unexpected type, strings with escapes or outside printable ASCII,
/// keys with escapes, numbers other than small non-negative integers, deep nesting, anything
/// invalid. So it never changes a result (`tests::the_fast_path_agrees_with_serde`); on a
/// typical access token it reads the claims in about half of serde's instructions.
fn registered_fast(payload: &[u8]) -> Option<Registered> {
    let mut scan = Scan::new(payload, true)?;
    let mut claims = Registered::default();
    scan.whitespace();
    // The last of duplicate members wins, as on the serde path.
    scan.object(|scan, name| {
        match name {
            b"iss" => claims.iss = string_claim(scan)?,
            b"sub" => claims.sub = string_claim(scan)?,
            b"aud" => claims.aud = strings(scan)?.map_or(Audience::Absent, Audience::List),
            b"exp" => claims.exp = date_claim(scan)?,
            b"nbf" => claims.nbf = date_claim(scan)?,
            b"iat" => claims.iat = date_claim(scan)?,
            b"client_id" => claims.client_id = string_claim(scan)?,
            b"azp" => claims.azp = string_claim(scan)?,
            b"scope" => claims.scope = Some(scopes(scan)?),
            b"scp" => claims.scp = Some(scopes(scan)?),
            b"acr" => claims.acr = string_claim(scan)?,
            b"amr" => claims.amr = strings(scan)?.unwrap_or_default(),
            b"auth_time" => claims.auth_time = date_claim(scan)?,
            b"jti" => claims.jti = string_claim(scan)?,
            _ => scan.skip_value(1)?,
        }
        Some(())
    })?;
    scan.whitespace();
    scan.at_end().then_some(claims)
}

/// A plain string or `null`.
fn string_claim(scan: &mut Scan<'_>) -> Option<Found<String>> {
    Some(match scan.peek()? {
        b'"' => Found::Value(scan.plain_string()?.to_owned()),
        _ => {
            scan.literal(b"null")?;
            Found::Absent
        }
    })
}

/// A plain string or an array of them, as their strings; `Some(None)` for `null`.
fn strings(scan: &mut Scan<'_>) -> Option<Option<Vec<String>>> {
    Some(match scan.peek()? {
        b'"' => Some(vec![scan.plain_string()?.to_owned()]),
        b'[' => Some(scan.plain_strings(str::to_owned)?),
        _ => {
            scan.literal(b"null")?;
            None
        }
    })
}

/// A small non-negative integer or `null`.
fn date_claim(scan: &mut Scan<'_>) -> Option<Found<Date>> {
    Some(match scan.peek()? {
        b'0'..=b'9' => Found::Value(Date::Valid(scan.integer()?)),
        _ => {
            scan.literal(b"null")?;
            Found::Absent
        }
    })
}

/// A plain string, an array of them, or `null`, read as [`ScopeSet::from_claim`] reads the
/// `Value` serde would give.
fn scopes(scan: &mut Scan<'_>) -> Option<ScopeSet> {
    Some(match scan.peek()? {
        b'"' => ScopeSet::parse(scan.plain_string()?),
        b'[' => {
            let mut set = ScopeSet::new();
            scan.plain_strings(|item| item.split_ascii_whitespace().for_each(|s| set.insert(s)))?;
            set
        }
        _ => {
            scan.literal(b"null")?;
            ScopeSet::new()
        }
    })
}

/// `amr` as the pipeline keeps it: the strings of an array, or the one string.
pub(crate) fn amr(value: Value) -> Vec<String> {
    match value {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|item| match item {
                Value::String(text) => Some(text),
                _ => None,
            })
            .collect(),
        Value::String(text) => vec![text],
        _ => Vec::new(),
    }
}

struct PayloadVisitor;

impl<'de> Visitor<'de> for PayloadVisitor {
    type Value = Registered;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object of claims")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Registered, A::Error> {
        let mut claims = Registered::default();
        while let Some(name) = map.next_key::<Name>()? {
            match name {
                Name::Iss => claims.iss = map.next_value::<StringClaim>()?.0,
                Name::Sub => claims.sub = map.next_value::<StringClaim>()?.0,
                Name::Aud => claims.aud = map.next_value::<Audience>()?,
                Name::Exp => claims.exp = map.next_value::<DateClaim>()?.0,
                Name::Nbf => claims.nbf = map.next_value::<DateClaim>()?.0,
                Name::Iat => claims.iat = map.next_value::<DateClaim>()?.0,
                Name::ClientId => claims.client_id = map.next_value::<StringClaim>()?.0,
                Name::Azp => claims.azp = map.next_value::<StringClaim>()?.0,
                Name::Scope => claims.scope = Some(ScopeSet::from_claim(&map.next_value()?)),
                Name::Scp => claims.scp = Some(ScopeSet::from_claim(&map.next_value()?)),
                Name::Acr => claims.acr = map.next_value::<StringClaim>()?.0,
                Name::Amr => claims.amr = amr(map.next_value()?),
                Name::AuthTime => claims.auth_time = map.next_value::<DateClaim>()?.0,
                Name::Jti => claims.jti = map.next_value::<StringClaim>()?.0,
                Name::Other => {
                    map.next_value::<Checked>()?;
                }
            }
        }
        Ok(claims)
    }
}

/// A member name, matched without copying it.
enum Name {
    Iss,
    Sub,
    Aud,
    Exp,
    Nbf,
    Iat,
    ClientId,
    Azp,
    Scope,
    Scp,
    Acr,
    Amr,
    AuthTime,
    Jti,
    Other,
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl Visitor<'_> for NameVisitor {
            type Value = Name;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a claim name")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<Name, E> {
                Ok(match name {
                    "iss" => Name::Iss,
                    "sub" => Name::Sub,
                    "aud" => Name::Aud,
                    "exp" => Name::Exp,
                    "nbf" => Name::Nbf,
                    "iat" => Name::Iat,
                    "client_id" => Name::ClientId,
                    "azp" => Name::Azp,
                    "scope" => Name::Scope,
                    "scp" => Name::Scp,
                    "acr" => Name::Acr,
                    "amr" => Name::Amr,
                    "auth_time" => Name::AuthTime,
                    "jti" => Name::Jti,
                    _ => Name::Other,
                })
            }
        }
        deserializer.deserialize_str(NameVisitor)
    }
}

/// Any value, read as serde_json reads it into a `Value` (numbers in range, nesting within its
/// recursion limit) but kept nowhere: a payload is accepted exactly when `serde_json::Map`
/// would accept it, which is what [`Claims::raw`](crate::principal::Claims::raw) parses later.
/// (`IgnoredAny` skips without those checks.)
#[derive(Clone, Copy)]
struct Checked;

impl<'de> Deserialize<'de> for Checked {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(Checked)
    }
}

impl<'de> Visitor<'de> for Checked {
    type Value = Checked;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
        while seq.next_element::<Checked>()?.is_some() {}
        Ok(Checked)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
        while map.next_entry::<Checked, Checked>()?.is_some() {}
        Ok(Checked)
    }
}

struct StringClaim(Found<String>);

impl<'de> Deserialize<'de> for StringClaim {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StringVisitor;
        impl<'de> Visitor<'de> for StringVisitor {
            type Value = Found<String>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string claim")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Found<String>, E> {
                Ok(Found::Absent)
            }
            fn visit_string<E: de::Error>(self, text: String) -> Result<Found<String>, E> {
                Ok(Found::Value(text))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Found<String>, E> {
                Ok(Found::WrongType)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Found<String>, E> {
                Ok(Found::WrongType)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Found<String>, E> {
                Ok(Found::WrongType)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Found<String>, E> {
                Ok(Found::WrongType)
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Found<String>, E> {
                Ok(Found::Value(text.to_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Found<String>, A::Error> {
                Checked.visit_seq(seq).map(|_| Found::WrongType)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Found<String>, A::Error> {
                Checked.visit_map(map).map(|_| Found::WrongType)
            }
        }
        deserializer.deserialize_any(StringVisitor).map(StringClaim)
    }
}

struct DateClaim(Found<Date>);

impl<'de> Deserialize<'de> for DateClaim {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DateVisitor;
        impl<'de> Visitor<'de> for DateVisitor {
            type Value = Found<Date>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a NumericDate")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Found<Date>, E> {
                Ok(Found::Absent)
            }
            fn visit_u64<E: de::Error>(self, seconds: u64) -> Result<Found<Date>, E> {
                Ok(Found::Value(Date::Valid(seconds)))
            }
            fn visit_i64<E: de::Error>(self, seconds: i64) -> Result<Found<Date>, E> {
                Ok(Found::Value(match u64::try_from(seconds) {
                    Ok(seconds) => Date::Valid(seconds),
                    Err(_) => Date::Invalid,
                }))
            }
            fn visit_f64<E: de::Error>(self, seconds: f64) -> Result<Found<Date>, E> {
                Ok(Found::Value(if seconds.is_finite() && seconds >= 0.0 {
                    // Truncation and saturation are intended: `Claims::from_map` reads it so.
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    Date::Valid(seconds as u64)
                } else {
                    Date::Invalid
                }))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Found<Date>, E> {
                Ok(Found::WrongType)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Found<Date>, E> {
                Ok(Found::WrongType)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Found<Date>, A::Error> {
                Checked.visit_seq(seq).map(|_| Found::WrongType)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Found<Date>, A::Error> {
                Checked.visit_map(map).map(|_| Found::WrongType)
            }
        }
        deserializer.deserialize_any(DateVisitor).map(DateClaim)
    }
}

impl<'de> Deserialize<'de> for Audience {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AudienceVisitor;
        impl<'de> Visitor<'de> for AudienceVisitor {
            type Value = Audience;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an audience")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Audience, E> {
                Ok(Audience::Absent)
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Audience, E> {
                Ok(Audience::List(vec![text.to_owned()]))
            }
            fn visit_string<E: de::Error>(self, text: String) -> Result<Audience, E> {
                Ok(Audience::List(vec![text]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Audience, A::Error> {
                let mut list = Vec::new();
                let mut all_strings = true;
                while let Some(StringClaim(item)) = seq.next_element()? {
                    match item {
                        Found::Value(text) if all_strings => list.push(text),
                        _ => all_strings = false,
                    }
                }
                Ok(if all_strings {
                    Audience::List(list)
                } else {
                    Audience::NonStringItem
                })
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Audience, E> {
                Ok(Audience::WrongType)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Audience, E> {
                Ok(Audience::WrongType)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Audience, E> {
                Ok(Audience::WrongType)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Audience, E> {
                Ok(Audience::WrongType)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Audience, A::Error> {
                Checked.visit_map(map).map(|_| Audience::WrongType)
            }
        }
        deserializer.deserialize_any(AudienceVisitor)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Map;

    use crate::principal::{Claims, TokenSource};

    /// What the pipeline reads of claims, for comparing the two ways in.
    fn registered(claims: &Claims) -> String {
        format!(
            "{:?} {:?} {:?} {:?} {:?} {:?} {:?} {} {:?} {:?} {:?} {:?}",
            claims.issuer,
            claims.subject,
            claims.audience,
            claims.expires_at,
            claims.not_before,
            claims.issued_at,
            claims.client_id,
            claims.scopes,
            claims.acr,
            claims.amr,
            claims.auth_time,
            claims.jwt_id,
        )
    }

    /// `from_map` after serde_json's map, as before this module existed.
    fn by_map(payload: &[u8]) -> Result<(String, Map<String, serde_json::Value>), Option<String>> {
        let map: Map<String, serde_json::Value> =
            serde_json::from_slice(payload).map_err(|_| None)?;
        let claims = Claims::from_map(map.clone(), TokenSource::Jwt).map_err(Some)?;
        Ok((registered(&claims), map))
    }

    fn by_payload(
        payload: &[u8],
    ) -> Result<(String, Map<String, serde_json::Value>), Option<String>> {
        let claims = Claims::from_jwt_payload(payload.to_vec())?;
        Ok((registered(&claims), claims.raw().clone()))
    }

    const SEEDS: [&str; 6] = [
        r#"{"iss":"https://as.example","sub":"alice","aud":"https://mcp.example/mcp","exp":1900000000,"nbf":1700000000,"iat":1700000000,"client_id":"dev-client","scope":"notes:read notes:write","acr":"urn:mfa","amr":["pwd","otp"],"auth_time":1700000000,"jti":"j-1","plan":"pro","roles":["a",{"b":[1,2.5,null,true]}]}"#,
        r#"{"iss":null,"sub":5,"aud":["a","b"],"exp":1.9e9,"nbf":-1,"iat":1e400,"azp":"c","scp":["x y","z",7],"amr":"pwd","auth_time":null}"#,
        r#"{"aud":["a",null],"exp":"soon","client_id":null,"azp":"fallback","scope":null,"scp":"ignored"}"#,
        r#"{"aud":{"a":1},"iss":"x","iss":"y","exp":18446744073709551616,"jti":["j"]}"#,
        r#"{"\u0069ss":"escaped","sub":"\u00e9l\u00e8ve","aud":"a","client_id":true}"#,
        r#"{}"#,
    ];

    /// Both ways in give the same registered claims, the same errors in the same order, and the
    /// same raw map, on the seeds and on every one-byte mutation of them.
    #[test]
    fn the_payload_reader_agrees_with_from_map() {
        const BYTES: &[u8] = b"{}[]\",:\\ 0-1.eEnulltrfa";
        let mut checked = 0;
        let mut accepted = 0;
        for seed in SEEDS {
            assert_eq!(
                by_payload(seed.as_bytes()),
                by_map(seed.as_bytes()),
                "{seed}"
            );
            for body in crate::mutations::one_byte_mutations(seed.as_bytes(), BYTES, false) {
                checked += 1;
                let expected = by_map(&body);
                accepted += usize::from(expected.is_ok());
                assert_eq!(
                    by_payload(&body),
                    expected,
                    "{}",
                    String::from_utf8_lossy(&body)
                );
            }
        }
        // serde_json's limits (recursion, number range) apply to unknown claims as to `Map`.
        for extreme in [
            format!(
                r#"{{"sub":"a","x":{}1{}}}"#,
                "[".repeat(130),
                "]".repeat(130)
            ),
            format!(
                r#"{{"sub":"a","x":{}1{}}}"#,
                "[".repeat(100),
                "]".repeat(100)
            ),
            r#"{"sub":"a","x":1e400}"#.to_owned(),
        ] {
            assert_eq!(
                by_payload(extreme.as_bytes()),
                by_map(extreme.as_bytes()),
                "{extreme}"
            );
        }
        assert_eq!(
            by_payload(format!(r#"{{"x":{}{}}}"#, "[".repeat(130), "]".repeat(130)).as_bytes()),
            Err(None)
        );
        assert!(checked > 10_000, "{checked}");
        assert!(accepted > checked / 10, "{accepted} of {checked}");
    }

    /// Payloads as identity providers issue them, which the fast path reads itself.
    const TYPICAL: [&str; 4] = [
        r#"{"iss":"https://as.example/","sub":"248289761001","aud":"https://mcp.example/mcp","exp":1900003600,"iat":1900000000,"nbf":1900000000,"jti":"6f1c0b2e","client_id":"s6BhdRkqt3","scope":"notes:read notes:write","auth_time":1899999940,"acr":"pwd","amr":["pwd"]}"#,
        r#"{"exp":1900000300,"iat":1900000000,"auth_time":1899999990,"jti":"0c3e-4b7a","iss":"https://kc.example/realms/acme","aud":["https://mcp.example/mcp","account"],"sub":"f81d4fae-7dec","typ":"Bearer","azp":"claude","sid":"a7b8","acr":"1","allowed-origins":["https://app.example"],"realm_access":{"roles":["offline_access","uma_authorization"]},"resource_access":{"account":{"roles":["manage-account"]}},"scope":"openid email profile","email_verified":true,"preferred_username":"alice"}"#,
        r#"{ "iss" : "https://tenant.auth0.example/", "sub" : "auth0|5f7c8ec7c33c6c004bbafe82", "aud" : [ "https://mcp.example/mcp" ], "iat" : 1900000000, "exp" : 1900086400, "gty" : "client-credentials", "azp" : "8z3xQ", "permissions" : [ ], "org" : null, "scp" : [ "notes:read", "notes:write" ] }"#,
        "{}",
    ];

    /// The fast path answers for the typical payloads; whenever it answers for one of their
    /// mutations, serde reads exactly the same registered claims.
    #[test]
    fn the_fast_path_agrees_with_serde() {
        const BYTES: &[u8] = b"{}[]\",:\\ \t0-19.eEnulltrfa\xc3\xa9\xff";
        for seed in TYPICAL {
            let fast = super::registered_fast(seed.as_bytes())
                .unwrap_or_else(|| panic!("the fast path answers {seed}"));
            assert_eq!(Some(fast), super::registered_by_serde(seed.as_bytes()).ok());
        }
        let (checked, answered) = crate::mutations::fed_and_answered(&TYPICAL, BYTES, |body| {
            let Some(fast) = super::registered_fast(body) else {
                return false;
            };
            let text = String::from_utf8_lossy(body);
            let serde = super::registered_by_serde(body)
                .unwrap_or_else(|e| panic!("fast accepted, serde refused {text}: {e}"));
            assert_eq!(fast, serde, "{text}");
            true
        });
        assert!(checked > 30_000, "{checked}");
        assert!(answered > checked / 4, "{answered} of {checked}");
    }

    #[test]
    fn the_fast_path_leaves_unusual_payloads_to_serde() {
        for payload in [
            r#"{"sub":"\u00e9"}"#,
            r#"{"iss":"https:\/\/as"}"#,
            r#"{"sub":"élève"}"#,
            r#"{"\u0069ss":"a"}"#,
            r#"{"exp":1.5}"#,
            r#"{"exp":1e9}"#,
            r#"{"exp":-1}"#,
            r#"{"exp":1234567890123456789}"#,
            r#"{"exp":"1"}"#,
            r#"{"x":1e400}"#,
            r#"{"x":0.5}"#,
            r#"{"sub":5}"#,
            r#"{"aud":["a",1]}"#,
            r#"{"aud":{}}"#,
            r#"{"scope":7}"#,
            r#"{"amr":[["pwd"]]}"#,
            r#"["iss"]"#,
            r#"{"iss":"a"} x"#,
        ] {
            assert!(
                super::registered_fast(payload.as_bytes()).is_none(),
                "{payload}"
            );
        }
        let deep = format!(r#"{{"x":{}1{}}}"#, "[".repeat(40), "]".repeat(40));
        assert!(super::registered_fast(deep.as_bytes()).is_none());
    }

    #[test]
    fn errors_name_the_claim() {
        for (payload, error) in [
            (r#"{"sub":5}"#, Some("the sub claim is not a string")),
            (
                r#"{"exp":-1}"#,
                Some("the exp claim is not a valid NumericDate"),
            ),
            (r#"{"exp":"1"}"#, Some("the exp claim is not a NumericDate")),
            (
                r#"{"aud":[1]}"#,
                Some("the aud claim holds a value that is not a string"),
            ),
            (
                r#"{"aud":1,"sub":5}"#,
                Some("the aud claim is neither a string nor an array"),
            ),
            (r#"["iss"]"#, None),
            (r#"{"iss":"a"} x"#, None),
        ] {
            let found = Claims::from_jwt_payload(payload.as_bytes().to_vec()).err();
            assert_eq!(found, Some(error.map(str::to_owned)), "{payload}");
        }
    }
}
