//! MCP message classification: which JSON-RPC method a POST carries, and for `tools/call`
//! which tool, read once from the body without building a DOM.
//!
//! - A JSON array (2025-03-26 batches) has every element classified, so that a batch is never
//!   authorized on its first element only.
//! - `Mcp-Method` / `Mcp-Name` headers (protocol 2026-07-28), when present, must agree with the
//!   body, or the request is `invalid_request`: authorizing on a header and executing on the body
//!   would be a bypass (RS-MCP-21).
//! - Duplicate members (`"name"` twice) are refused, so no parser downstream can read a
//!   different tool than the one authorized.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use base64::Engine;
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::denial::Denial;

pub(crate) mod scan;

/// One JSON-RPC message of a POST body.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct McpMessage<'a> {
    /// The method; `None` for JSON-RPC responses (a client answering a server request).
    pub method: Option<Cow<'a, str>>,
    /// The tool named by a `tools/call` (`params.name`).
    pub tool: Option<Cow<'a, str>>,
    /// The `params.arguments` of a `tools/call`, unparsed.
    pub arguments: Option<JsonText<'a>>,
    /// The JSON-RPC id, unparsed (absent for notifications).
    pub id: Option<JsonText<'a>>,
}

/// One JSON value of a request body, as its text: checked to be well-formed JSON when the body
/// was classified, parsed only by whoever needs it ([`JsonText::parse`]).
///
/// Like serde_json's `RawValue`, borrowed; classification reads it without serde, which is what
/// makes a `tools/call` cheap to classify.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct JsonText<'a>(&'a str);

impl<'a> JsonText<'a> {
    /// `text` if it is one well-formed JSON value (surrounding whitespace allowed).
    pub fn new(text: &'a str) -> Result<Self, serde_json::Error> {
        serde_json::from_str::<&RawValue>(text).map(JsonText::from)
    }

    /// The text, as it appears in the body.
    pub fn get(&self) -> &'a str {
        self.0
    }

    /// Parses the value (into a `serde_json::Value`, a struct of your own, or a borrowed
    /// `&RawValue`).
    pub fn parse<T: Deserialize<'a>>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.0)
    }
}

impl<'a> From<&'a RawValue> for JsonText<'a> {
    fn from(raw: &'a RawValue) -> Self {
        JsonText(raw.get())
    }
}

impl fmt::Debug for JsonText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JsonText({})", self.0)
    }
}

impl fmt::Display for JsonText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl McpMessage<'_> {
    /// Whether this is a `tools/call`.
    pub fn is_tool_call(&self) -> bool {
        self.method.as_deref() == Some("tools/call")
    }

    /// Whether this is a `tools/list` request (its response is filtered).
    pub fn is_tools_list(&self) -> bool {
        self.method.as_deref() == Some("tools/list")
    }
}

/// A classified POST body: one message, or a batch.
#[derive(Clone, Debug)]
pub struct McpRequest<'a> {
    messages: Messages<'a>,
}

/// One message is held inline: the common request classifies without allocating.
#[derive(Clone, Debug)]
enum Messages<'a> {
    One(McpMessage<'a>),
    Batch(Vec<McpMessage<'a>>),
}

impl<'a> McpRequest<'a> {
    /// The messages, in body order (one unless the body is a batch).
    pub fn messages(&self) -> &[McpMessage<'a>] {
        match &self.messages {
            Messages::One(message) => std::slice::from_ref(message),
            Messages::Batch(messages) => messages,
        }
    }

    /// Whether the body was a JSON array.
    pub fn is_batch(&self) -> bool {
        matches!(self.messages, Messages::Batch(_))
    }

    /// Whether any message is a `tools/list` request.
    #[inline]
    pub fn has_tools_list(&self) -> bool {
        self.messages().iter().any(McpMessage::is_tools_list)
    }

    /// Tools named by `tools/call` messages.
    pub fn tool_calls(&self) -> impl Iterator<Item = &McpMessage<'a>> {
        self.messages().iter().filter(|m| m.is_tool_call())
    }
}

/// The `Mcp-Method` and `Mcp-Name` request headers, if sent.
#[derive(Clone, Copy, Debug, Default)]
pub struct McpHeaders<'a> {
    /// `Mcp-Method`.
    pub method: Option<&'a str>,
    /// `Mcp-Name` (possibly in the `=?base64?…?=` form).
    pub name: Option<&'a str>,
}

#[derive(Deserialize)]
struct RawMessage<'a> {
    #[serde(default, borrow)]
    method: Option<JsonStr<'a>>,
    #[serde(default, borrow)]
    params: Option<Params<'a>>,
    #[serde(default, borrow)]
    id: Option<&'a RawValue>,
}

/// `params`, read in the same pass as the rest of the message: only what a `tools/call` needs
/// is kept, so a body is scanned once whatever its method.
enum Params<'a> {
    /// An object: its `name` (`Err` if not a string) and `arguments`, each at most once.
    Object {
        name: Option<Result<Cow<'a, str>, ()>>,
        arguments: Option<&'a RawValue>,
        duplicate: bool,
    },
    /// An array or a scalar.
    NotObject,
}

impl<'de: 'a, 'a> Deserialize<'de> for Params<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ParamsVisitor(PhantomData))
    }
}

struct ParamsVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for ParamsVisitor<'a> {
    type Value = Params<'a>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("JSON-RPC params")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Params<'a>, A::Error> {
        let mut name = None;
        let mut arguments = None;
        let mut duplicate = false;
        while let Some(key) = map.next_key::<Text<'a>>()? {
            match key {
                Text::Str(key) if key == "name" => {
                    duplicate |= name.is_some();
                    name = Some(map.next_value::<Text<'a>>()?.into_str());
                }
                Text::Str(key) if key == "arguments" => {
                    duplicate |= arguments.is_some();
                    arguments = Some(map.next_value::<&'de RawValue>()?);
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Params::Object {
            name,
            arguments,
            duplicate,
        })
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Params<'a>, A::Error> {
        IgnoredAny.visit_seq(seq).map(|_| Params::NotObject)
    }
    non_string_scalars_as!(Params::NotObject);
    fn visit_str<E>(self, _: &str) -> Result<Params<'a>, E> {
        Ok(Params::NotObject)
    }
}

/// A JSON string, borrowed from the body when it has no escapes (serde's `Option<Cow<str>>`
/// always copies); any other value is an error. Also the key reader of `tools_list`.
pub(crate) struct JsonStr<'a>(pub(crate) Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for JsonStr<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrVisitor;
        impl<'de> Visitor<'de> for StrVisitor {
            type Value = JsonStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<JsonStr<'de>, E> {
                Ok(JsonStr(Cow::Borrowed(text)))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<JsonStr<'de>, E> {
                Ok(JsonStr(Cow::Owned(text.to_owned())))
            }
        }
        deserializer.deserialize_str(StrVisitor)
    }
}

/// A JSON string borrowed from the body when it has no escapes, or any other value (skipped).
enum Text<'a> {
    Str(Cow<'a, str>),
    Other,
}

impl<'a> Text<'a> {
    fn into_str(self) -> Result<Cow<'a, str>, ()> {
        match self {
            Text::Str(text) => Ok(text),
            Text::Other => Err(()),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Text<'de>, E> {
                Ok(Text::Str(Cow::Borrowed(text)))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Text<'de>, E> {
                Ok(Text::Str(Cow::Owned(text.to_owned())))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Text<'de>, A::Error> {
                IgnoredAny.visit_map(map).map(|_| Text::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Text<'de>, A::Error> {
                IgnoredAny.visit_seq(seq).map(|_| Text::Other)
            }
            non_string_scalars_as!(Text::Other);
        }
        deserializer.deserialize_any(TextVisitor)
    }
}

/// Largest number of messages accepted in one batch.
const MAX_BATCH: usize = 64;

/// Classifies a POST body.
///
/// `invalid_request` for a body that is not JSON-RPC (not an object or array of objects,
/// duplicate members, a `tools/call` without a string `params.name`, an empty or huge batch), or
/// whose `Mcp-Method`/`Mcp-Name` headers disagree with it.
pub fn classify<'a>(body: &'a [u8], headers: McpHeaders<'_>) -> Result<McpRequest<'a>, Denial> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    let request = match first {
        Some(b'[') => {
            let items: Vec<&'a RawValue> = serde_json::from_slice(body)
                .map_err(|_| Denial::invalid_request("the body is not a valid JSON-RPC batch"))?;
            if items.is_empty() || items.len() > MAX_BATCH {
                return Err(Denial::invalid_request(format!(
                    "a JSON-RPC batch must hold 1 to {MAX_BATCH} messages"
                )));
            }
            let messages = items
                .into_iter()
                .map(|item| message(item.get().as_bytes()))
                .collect::<Result<Vec<_>, _>>()?;
            McpRequest {
                messages: Messages::Batch(messages),
            }
        }
        Some(b'{') => McpRequest {
            messages: Messages::One(message(body)?),
        },
        _ => {
            return Err(Denial::invalid_request(
                "the body is not a JSON-RPC message",
            ));
        }
    };
    check_headers(&request, headers)?;
    Ok(request)
}

/// Whether a JSON text is an object. Derived `Deserialize` impls also accept arrays (filling
/// fields by position), which another parser would read differently: refuse them up front.
pub(crate) fn starts_as_object(json: &[u8]) -> bool {
    json.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

#[inline]
fn message(json: &[u8]) -> Result<McpMessage<'_>, Denial> {
    match scan::message(json) {
        Some(message) => Ok(message),
        None => message_by_serde(json),
    }
}

/// The reference classification, for every body the fast path ([`scan`]) leaves to it.
fn message_by_serde(json: &[u8]) -> Result<McpMessage<'_>, Denial> {
    if !starts_as_object(json) {
        return Err(Denial::invalid_request(
            "a JSON-RPC message must be a JSON object",
        ));
    }
    let raw: RawMessage<'_> = serde_json::from_slice(json)
        .map_err(|_| Denial::invalid_request("the body is not a valid JSON-RPC message"))?;
    let mut message = McpMessage {
        method: raw.method.map(|JsonStr(method)| method),
        tool: None,
        arguments: None,
        id: raw.id.map(JsonText::from),
    };
    if message.is_tool_call() {
        let not_an_object =
            || Denial::invalid_request("tools/call params must be an object with a string name");
        match raw.params {
            None => return Err(Denial::invalid_request("tools/call without params")),
            Some(Params::NotObject) => return Err(not_an_object()),
            Some(Params::Object {
                duplicate: true, ..
            }) => {
                return Err(Denial::invalid_request(
                    "tools/call params name or arguments more than once",
                ));
            }
            Some(Params::Object {
                name, arguments, ..
            }) => {
                let Some(Ok(name)) = name else {
                    return Err(not_an_object());
                };
                message.tool = Some(name);
                message.arguments = arguments.map(JsonText::from);
            }
        }
    }
    Ok(message)
}

fn check_headers(request: &McpRequest<'_>, headers: McpHeaders<'_>) -> Result<(), Denial> {
    if headers.method.is_none() && headers.name.is_none() {
        return Ok(());
    }
    let [message] = request.messages() else {
        return Err(Denial::invalid_request(
            "Mcp-Method / Mcp-Name headers cannot describe a JSON-RPC batch",
        ));
    };
    if let Some(method) = headers.method
        && message.method.as_deref() != Some(method)
    {
        return Err(Denial::invalid_request(format!(
            "the Mcp-Method header {:?} does not match the body's method {:?}",
            method,
            message.method.as_deref().unwrap_or("")
        )));
    }
    if let Some(name) = headers.name {
        let name = decode_header_value(name)?;
        // Only tools/call names are authorized on; other named methods are compared too when the
        // body names something, so that a mismatch is never silently ignored.
        let body_name = message.tool.as_deref();
        if message.is_tool_call() && body_name != Some(name.as_ref()) {
            return Err(Denial::invalid_request(format!(
                "the Mcp-Name header {:?} does not match the tool called in the body {:?}",
                name,
                body_name.unwrap_or("")
            )));
        }
    }
    Ok(())
}

/// Decodes the `=?base64?…?=` sentinel form of MCP header values.
fn decode_header_value(value: &str) -> Result<Cow<'_, str>, Denial> {
    match value
        .strip_prefix("=?base64?")
        .and_then(|v| v.strip_suffix("?="))
    {
        None => Ok(Cow::Borrowed(value)),
        Some(encoded) => base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .map(Cow::Owned)
            .ok_or_else(|| {
                Denial::invalid_request("the Mcp-Name header is not valid base64 UTF-8")
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DenialCode;

    /// Bodies the fast path must answer itself (typical MCP traffic).
    const TYPICAL: [&str; 9] = [
        r#"{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"add_note","arguments":{"text":"Buy milk, eggs and bread on the way home","tags":["shopping","home"]},"_meta":{"progressToken":"a1b2c3"}}}"#,
        // The TypeScript SDK's order.
        r#"{"method":"tools/call","params":{"name":"add_note","arguments":{"n":1},"_meta":{"progressToken":5}},"jsonrpc":"2.0","id":5}"#,
        r#"{"jsonrpc":"2.0","id":"abc-1","method":"tools/list","params":{}}"#,
        r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"roots":{"listChanged":true},"sampling":{}},"clientInfo":{"name":"claude-ai","version":"0.1.0"}}}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        r#"{"jsonrpc":"2.0","id":3,"result":{"content":[],"isError":false}}"#,
        r#"{ "jsonrpc" : "2.0" , "id" : -1.5e3 , "method" : "tools/call" , "params" : { "name" : "some_tool" , "arguments" : { "q" : "line\nbreak \"quoted\" ünïcode", "n" : [1, 2.25, -0, 1E+2, true, false, null] } } }"#,
        "{\n  \"method\": \"tools/call\",\n  \"params\": {\"arguments\": {}, \"name\": \"x\"},\n  \"id\": 9\n}\n",
        r#"{"method":"ping","id":1,"params":{"name":5,"nested":{"a":[{"b":{"c":[[]]}}]}}}"#,
    ];

    /// The same message from both paths, field by field.
    fn same(fast: &McpMessage<'_>, serde: &McpMessage<'_>) -> bool {
        fast.method == serde.method
            && fast.tool == serde.tool
            && fast.arguments == serde.arguments
            && fast.id == serde.id
    }

    /// Whenever the fast path answers, the serde path answers the same; it answers for every
    /// typical body. Mutations: every byte deleted, every byte replaced by each of a set of
    /// JSON-significant bytes, and each of those inserted everywhere.
    #[test]
    fn fast_path_agrees_with_serde() {
        const BYTES: &[u8] = b"{}[]\",:\\ \t\x0c0-1.eEnulltrfa/u\x01\xc3\xa9\xffmethodparamsnameid";
        for seed in TYPICAL {
            let fast = scan::message(seed.as_bytes())
                .unwrap_or_else(|| panic!("the fast path answers {seed}"));
            let serde = message_by_serde(seed.as_bytes()).expect("serde accepts the seed");
            assert!(same(&fast, &serde), "{seed}\n{fast:?}\n{serde:?}");
        }
        let (checked, answered) = crate::mutations::fed_and_answered(&TYPICAL, BYTES, |body| {
            let Some(fast) = scan::message(body) else {
                return false;
            };
            let text = String::from_utf8_lossy(body);
            let serde = message_by_serde(body)
                .unwrap_or_else(|d| panic!("fast accepted, serde refused {text}: {d:?}"));
            assert!(same(&fast, &serde), "{text}\n{fast:?}\n{serde:?}");
            true
        });
        assert!(checked > 30_000, "{checked}");
        // Most mutations still parse (inside strings): the fast path must answer many itself.
        assert!(answered > checked / 4, "{answered} of {checked}");
    }

    #[test]
    fn fast_path_leaves_unusual_bodies_to_serde() {
        for body in [
            r#"{"m\u0065thod":"tools/call","params":{"name":"a"}}"#,
            r#"{"method":"tools\/call","params":{"name":"a"}}"#,
            r#"{"method":"tools/call","params":{"name":"\u0061"}}"#,
            r#"{"method":"tools/call","params":{"name":"a","name":"b"}}"#,
            r#"{"method":"tools/list","method":"tools/call"}"#,
            r#"{"method":null}"#,
            r#"{"id":null,"method":"ping"}"#,
            r#"{"method":"tools/call","params":null}"#,
            r#"{"method":"tools/call","params":["a"]}"#,
            r#"{"method":"ping","x":"\ud800"}"#,
            "\u{feff}{\"method\":\"ping\"}",
            "\x0c{\"method\":\"ping\"}",
            r#"{"method":"ping"} x"#,
        ] {
            assert!(scan::message(body.as_bytes()).is_none(), "{body}");
        }
        let deep = format!(
            r#"{{"method":"ping","x":{}{}}}"#,
            "[".repeat(40),
            "]".repeat(40)
        );
        assert!(scan::message(deep.as_bytes()).is_none());
        assert!(message_by_serde(deep.as_bytes()).is_ok());
        // The limit itself: 32 levels in a member's value are read, 33 go to serde. Objects
        // and arrays alternate (an empty object is a level too).
        let nested = |pairs: usize, extra: &str| {
            format!(
                r#"{{"method":"ping","x":{extra}{}[1,{{}}]{}{}}}"#,
                "[{\"k\":".repeat(pairs),
                "}]".repeat(pairs),
                "]".repeat(extra.len())
            )
        };
        let (levels_32, levels_33) = (nested(15, ""), nested(15, "["));
        assert!(message_by_serde(levels_33.as_bytes()).is_ok());
        assert!(scan::message(levels_32.as_bytes()).is_some(), "{levels_32}");
        assert!(scan::message(levels_33.as_bytes()).is_none(), "{levels_33}");
        // Escaped names are still classified, by serde.
        let escaped = r#"{"method":"tools/call","params":{"name":"\u0061dd_note"}}"#;
        let message = message(escaped.as_bytes()).unwrap();
        assert_eq!(message.tool.as_deref(), Some("add_note"));
    }

    fn call(name: &str) -> String {
        format!(
            r#"{{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{{"name":"{name}","arguments":{{"text":"hi"}}}}}}"#
        )
    }

    #[test]
    fn classifies_a_tool_call_without_copying() {
        let body = call("add_note");
        let request = classify(body.as_bytes(), McpHeaders::default()).unwrap();
        let [message] = request.messages() else {
            panic!()
        };
        assert!(message.is_tool_call());
        assert!(matches!(message.tool, Some(Cow::Borrowed("add_note"))));
        assert_eq!(message.arguments.unwrap().get(), r#"{"text":"hi"}"#);
        assert_eq!(message.id.unwrap().get(), "7");
    }

    #[test]
    fn batches_classify_every_element() {
        let body = format!(
            r#"[{{"jsonrpc":"2.0","id":1,"method":"tools/list"}},{}]"#,
            call("purge_notes")
        );
        let request = classify(body.as_bytes(), McpHeaders::default()).unwrap();
        assert!(request.is_batch());
        assert!(request.has_tools_list());
        let tools: Vec<_> = request
            .tool_calls()
            .map(|m| m.tool.as_deref().unwrap())
            .collect();
        assert_eq!(tools, ["purge_notes"]);
    }

    #[test]
    fn malformed_bodies_are_invalid_request() {
        for bad in [
            "",
            "null",
            "[]",
            "{",
            r#"{"method":"tools/call"}"#,
            r#"{"method":"tools/call","params":{"name":5}}"#,
            r#"{"method":"tools/call","params":{"name":"a","name":"b"}}"#,
            r#"{"method":"tools/list","method":"tools/call"}"#,
            r#"["tools/call",null,7]"#,
            r#"[["tools/call"]]"#,
            r#"{"method":"tools/call","params":["delete_all",{}]}"#,
            r#"{"method":"tools/call","params":{"name":"a","arguments":{},"arguments":{"x":1}}}"#,
            r#"{"method":"tools/call","params":{"name":["a"]}}"#,
            r#"{"method":"tools/call","params":"a"}"#,
        ] {
            let denial = classify(bad.as_bytes(), McpHeaders::default()).unwrap_err();
            assert_eq!(denial.code(), DenialCode::InvalidRequest, "{bad}");
        }
    }

    #[test]
    fn params_are_read_in_one_pass_whatever_the_method() {
        let other = classify(
            br#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":["x",{"name":7}]}"#,
            McpHeaders::default(),
        )
        .unwrap();
        assert_eq!(other.messages()[0].tool, None);
        let escaped = classify(
            br#"{"method":"tools/call","params":{"_meta":{"name":"x"},"name":"add\u005fnote"}}"#,
            McpHeaders::default(),
        )
        .unwrap();
        let tool = escaped.messages()[0].tool.as_ref().unwrap();
        assert!(matches!(tool, Cow::Owned(name) if name == "add_note"));
        assert!(escaped.messages()[0].arguments.is_none());
    }

    #[test]
    fn headers_must_agree_with_the_body() {
        let body = call("delete_all");
        let mismatch = McpHeaders {
            method: Some("tools/call"),
            name: Some("harmless"),
        };
        let denial = classify(body.as_bytes(), mismatch).unwrap_err();
        assert_eq!(
            denial.description(),
            "the Mcp-Name header \"harmless\" does not match the tool called in the body \"delete_all\""
        );
        let wrong_method = McpHeaders {
            method: Some("tools/list"),
            name: None,
        };
        assert!(classify(body.as_bytes(), wrong_method).is_err());
        let agree = McpHeaders {
            method: Some("tools/call"),
            name: Some("=?base64?ZGVsZXRlX2FsbA==?="),
        };
        assert!(classify(body.as_bytes(), agree).is_ok());
    }
}
