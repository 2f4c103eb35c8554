//! `tools/list` filtering: a caller sees only the tools it may call.
//!
//! Responses come as `application/json` (one JSON-RPC response, or an array of them) or as
//! `text/event-stream`, where each `data:` event may hold a JSON-RPC response. Anything that is
//! not a `tools/list` result passes through byte for byte; a filtered result is marked
//! `"cacheScope": "private"` because it varies by authorization (MCP 2026-07-28).

//!
//! The filter never builds a DOM: it walks the response (in one hand-written pass for the common
//! shape, with serde seeds otherwise), keeps the byte ranges of the tools the caller may call,
//! and splices the original text, so every other byte (key order, number formatting,
//! whitespace) reaches the client exactly as the server wrote it.

use std::fmt;
use std::ops::Range;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::mcp::JsonStr as Key;
use crate::mcp::scan::Scan;

/// Filters one JSON-RPC response (or an array of them). Returns `None` when nothing was changed
/// (not JSON, or no non-empty `result.tools` array), so the caller can forward the original
/// bytes.
///
/// A tool is kept only if it is an object whose every `name` member is a string `allow`
/// accepts; duplicate `result` or `tools` members are all filtered, so no JSON parser downstream
/// can read a tool the caller may not call. The result is marked `"cacheScope": "private"`.
pub fn filter_json(body: &[u8], allow: &dyn Fn(&str) -> bool) -> Option<Vec<u8>> {
    match filter_fast(body, allow) {
        Some(filtered) => filtered,
        None => filter_by_serde(body, allow),
    }
}

/// The common response in one hand-written pass ([`Scan`]), or `None` when serde must decide:
/// one response object (not a batch) with at most one `result`, an object with at most one
/// `tools`, an array of objects; keys and tool names printable ASCII without escapes; nothing
/// invalid. It never changes a result (`tests::the_fast_path_agrees_with_serde`); on a list of
/// 100 tools it takes about 40 % of the serde path's instructions.
fn filter_fast(body: &[u8], allow: &dyn Fn(&str) -> bool) -> Option<Option<Vec<u8>>> {
    let mut scan = Scan::new(body, false)?;
    let mut edits = Edits {
        body,
        base: body.as_ptr() as usize,
        allow,
        list: Vec::new(),
    };
    let mut results = 0;
    scan.whitespace();
    scan.object(|scan, key| match key {
        b"result" => {
            results += 1;
            if results > 1 || scan.peek() != Some(b'{') {
                return None;
            }
            result_fast(scan, &mut edits)
        }
        _ => scan.skip_value(1),
    })?;
    scan.whitespace();
    if !scan.at_end() {
        return None;
    }
    Some((!edits.list.is_empty()).then(|| edits.apply(body)))
}

/// A response's `result` object ([`ResultObject`] on the fast path).
fn result_fast(scan: &mut Scan<'_>, edits: &mut Edits<'_>) -> Option<()> {
    let mut cache_scope = Vec::new();
    let mut tools = 0;
    let mut list_end = None;
    scan.object(|scan, key| match key {
        b"tools" => {
            tools += 1;
            if tools > 1 || scan.peek() != Some(b'[') {
                return None;
            }
            let (mut kept, mut elements) = (Vec::new(), None::<Range<usize>>);
            scan.array(|scan| {
                if scan.peek() != Some(b'{') {
                    return None;
                }
                let start = scan.position();
                let (mut named, mut allowed) = (false, true);
                scan.object(|scan, key| match key {
                    b"name" => {
                        named = true;
                        allowed &= (edits.allow)(scan.plain_string()?);
                        Some(())
                    }
                    _ => scan.skip_value(3),
                })?;
                let span = start..scan.position();
                elements = Some(match elements.take() {
                    None => span.clone(),
                    Some(all) => all.start..span.end,
                });
                if named && allowed {
                    kept.push(span);
                }
                Some(())
            })?;
            if let Some(elements) = elements {
                edits.list.push((elements, Splice::Keep(kept)));
                list_end = Some(scan.position());
            }
            Some(())
        }
        b"cacheScope" => {
            let start = scan.position();
            scan.skip_value(2)?;
            cache_scope.push(start..scan.position());
            Some(())
        }
        _ => scan.skip_value(2),
    })?;
    if let Some(list_end) = list_end {
        if cache_scope.is_empty() {
            edits.list.push((
                list_end..list_end,
                Splice::Text(",\"cacheScope\":\"private\""),
            ));
        }
        for span in cache_scope {
            edits.list.push((span, Splice::Text("\"private\"")));
        }
    }
    Some(())
}

/// [`filter_json`] by serde, for every response the fast path leaves to it.
fn filter_by_serde(body: &[u8], allow: &dyn Fn(&str) -> bool) -> Option<Vec<u8>> {
    let mut edits = Edits {
        body,
        base: body.as_ptr() as usize,
        allow,
        list: Vec::new(),
    };
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    Body(&mut edits).deserialize(&mut deserializer).ok()?;
    deserializer.end().ok()?;
    if edits.list.is_empty() {
        return None;
    }
    Some(edits.apply(body))
}

/// The changes to make to a body, as byte ranges of it.
struct Edits<'f> {
    body: &'f [u8],
    base: usize,
    allow: &'f dyn Fn(&str) -> bool,
    list: Vec<(Range<usize>, Splice)>,
}

enum Splice {
    /// Replace the range with this text.
    Text(&'static str),
    /// Replace the range (a tools array's elements) with these elements, comma-separated.
    Keep(Vec<Range<usize>>),
}

impl Edits<'_> {
    fn span(&self, raw: &RawValue) -> Range<usize> {
        let start = (raw.get().as_ptr() as usize).wrapping_sub(self.base);
        start..start + raw.get().len()
    }

    /// How many bytes past `at` the closing bracket of an array ends (its last element ends at
    /// `at`).
    fn closing_bracket_after(&self, at: usize) -> usize {
        self.body
            .get(at..)
            .and_then(|rest| rest.iter().position(|b| *b == b']'))
            .map_or(0, |i| i + 1)
    }

    fn apply(mut self, body: &[u8]) -> Vec<u8> {
        self.list.sort_by_key(|(range, _)| range.start);
        let mut out = Vec::with_capacity(body.len() + 32);
        let mut at = 0;
        for (range, splice) in &self.list {
            out.extend_from_slice(&body[at..range.start]);
            match splice {
                Splice::Text(text) => out.extend_from_slice(text.as_bytes()),
                Splice::Keep(kept) => {
                    for (i, tool) in kept.iter().enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        out.extend_from_slice(&body[tool.clone()]);
                    }
                }
            }
            at = range.end;
        }
        out.extend_from_slice(&body[at..]);
        out
    }
}

/// The whole body: one response, or a batch of them.
struct Body<'e, 'f>(&'e mut Edits<'f>);

impl<'de> DeserializeSeed<'de> for Body<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Body<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON-RPC response or a batch of them")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Response(&mut *self.0))?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        Response(self.0).visit_map(map)
    }
}

/// One JSON-RPC response: only `result` matters.
struct Response<'e, 'f>(&'e mut Edits<'f>);

impl<'de> DeserializeSeed<'de> for Response<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(Anything(Some(self)))
    }
}

impl<'de> Response<'_, '_> {
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Key<'de>>()? {
            if key.0 == "result" {
                map.next_value_seed(ResultObject(&mut *self.0))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// A value whose object form is a [`Response`]; any other JSON value is skipped.
struct Anything<'e, 'f>(Option<Response<'e, 'f>>);

impl<'de> Visitor<'de> for Anything<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        match self.0 {
            Some(response) => response.visit_map(map),
            None => IgnoredAny.visit_map(map).map(drop),
        }
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        IgnoredAny.visit_seq(seq).map(drop)
    }
    non_string_scalars_as!(());
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
}

/// A response's `result`: its `tools` arrays are filtered and its `cacheScope` made private.
struct ResultObject<'e, 'f>(&'e mut Edits<'f>);

impl<'de> DeserializeSeed<'de> for ResultObject<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ResultObject<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON-RPC result")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let edits = self.0;
        let mut cache_scope = Vec::new();
        let mut list_end = None;
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match key.0.as_ref() {
                "tools" => {
                    if let Some(end) = map.next_value_seed(Tools(&mut *edits))? {
                        list_end = Some(end);
                    }
                }
                "cacheScope" => cache_scope.push(map.next_value::<&'de RawValue>()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let Some(list_end) = list_end else {
            return Ok(());
        };
        if cache_scope.is_empty() {
            edits.list.push((
                list_end..list_end,
                Splice::Text(",\"cacheScope\":\"private\""),
            ));
        }
        for value in cache_scope {
            let span = edits.span(value);
            edits.list.push((span, Splice::Text("\"private\"")));
        }
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        Anything(None).visit_seq(seq)
    }
    non_string_scalars_as!(());
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
}

/// A `tools` array, read element by element. Yields the offset just past its closing bracket
/// when it had elements (and so an edit was recorded); a value that is not an array, or an empty
/// one, is left alone.
struct Tools<'e, 'f>(&'e mut Edits<'f>);

impl<'de> DeserializeSeed<'de> for Tools<'_, '_> {
    type Value = Option<usize>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<usize>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Tools<'_, '_> {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a tools array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<usize>, A::Error> {
        let edits = self.0;
        let mut kept = Vec::new();
        let mut elements: Option<Range<usize>> = None;
        while let Some(tool) = seq.next_element::<&'de RawValue>()? {
            let span = edits.span(tool);
            elements = Some(match elements {
                None => span.clone(),
                Some(all) => all.start..span.end,
            });
            if callable(tool, edits.allow) {
                kept.push(span);
            }
        }
        let Some(elements) = elements else {
            return Ok(None);
        };
        let end = elements.end;
        edits.list.push((elements, Splice::Keep(kept)));
        // Only whitespace separates the last element from the closing bracket.
        Ok(Some(end + edits.closing_bracket_after(end)))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Option<usize>, A::Error> {
        IgnoredAny.visit_map(map).map(|_| None)
    }
    non_string_scalars_as!(None);
    fn visit_str<E>(self, _: &str) -> Result<Option<usize>, E> {
        Ok(None)
    }
}

/// Whether a tool object names, in every `name` member, a tool the caller may call.
fn callable(tool: &RawValue, allow: &dyn Fn(&str) -> bool) -> bool {
    struct Named<'f>(&'f dyn Fn(&str) -> bool);
    impl<'de> Visitor<'de> for Named<'_> {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a tool object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
            let mut named = false;
            let mut allowed = true;
            while let Some(key) = map.next_key::<Key<'de>>()? {
                if key.0 == "name" {
                    let name = map.next_value::<Key<'de>>()?;
                    named = true;
                    allowed &= (self.0)(&name.0);
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(named && allowed)
        }
    }
    let mut deserializer = serde_json::Deserializer::from_str(tool.get());
    (&mut deserializer)
        .deserialize_map(Named(allow))
        .unwrap_or(false)
}

/// An incremental filter for `text/event-stream` bodies: feed it chunks as they arrive, forward
/// what it returns. Complete events are emitted as soon as their terminating blank line arrives;
/// events that are not a tools/list result are forwarded unchanged.
pub struct SseFilter<F> {
    allow: F,
    pending: Vec<u8>,
    max_event_bytes: usize,
}

impl<F: Fn(&str) -> bool> SseFilter<F> {
    /// A filter keeping the tools for which `allow(name)` is true. Events larger than
    /// `max_event_bytes` are forwarded unfiltered only if they are not a tools list; a larger
    /// partial event is flushed as is (nothing is ever held without bound).
    pub fn new(allow: F, max_event_bytes: usize) -> Self {
        SseFilter {
            allow,
            pending: Vec::new(),
            max_event_bytes,
        }
    }

    /// Feeds a chunk; returns the bytes to forward now.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        self.pending.extend_from_slice(chunk);
        let mut out = Vec::with_capacity(self.pending.len());
        let mut start = 0;
        while let Some(end) = find_event_end(&self.pending[start..]) {
            let event = &self.pending[start..start + end];
            match filter_event(event, &self.allow) {
                Some(filtered) => out.extend_from_slice(&filtered),
                None => out.extend_from_slice(event),
            }
            start += end;
        }
        self.pending.drain(..start);
        if self.pending.len() > self.max_event_bytes {
            // An event this large is not something we can hold; a tools list never is.
            out.append(&mut self.pending);
        }
        out
    }

    /// Flushes whatever is left at the end of the stream.
    pub fn finish(&mut self) -> Vec<u8> {
        let rest = std::mem::take(&mut self.pending);
        filter_event(&rest, &self.allow).unwrap_or(rest)
    }
}

/// The length of the first complete event (including its terminating blank line), if any.
fn find_event_end(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < buf.len() {
        if buf[i] == b'\n' {
            match buf.get(i + 1) {
                Some(b'\n') => return Some(i + 2),
                Some(b'\r') if buf.get(i + 2) == Some(&b'\n') => return Some(i + 3),
                _ => {}
            }
        }
        i += 1;
    }
    None
}

/// Rewrites one event if its data is a tools/list result.
fn filter_event(event: &[u8], allow: &dyn Fn(&str) -> bool) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(event).ok()?;
    let mut data = String::new();
    let mut has_data = false;
    for line in text.lines() {
        if let Some(value) = line.strip_prefix("data:") {
            if has_data {
                data.push('\n');
            }
            data.push_str(value.strip_prefix(' ').unwrap_or(value));
            has_data = true;
        }
    }
    if !has_data || !data.contains("\"tools\"") {
        return None;
    }
    let filtered = filter_json(data.as_bytes(), allow)?;
    let filtered = String::from_utf8(filtered).ok()?;
    // Keep every non-data field (id, event, retry, comments) in place; the filtered data takes
    // the place of the first data line, one `data:` line per line of it (the server's own line
    // breaks are kept, so a pretty-printed list stays valid SSE).
    let mut out = String::with_capacity(event.len());
    let mut wrote_data = false;
    for line in text.lines() {
        if line.starts_with("data:") {
            if !wrote_data {
                for data_line in filtered.split('\n') {
                    out.push_str("data: ");
                    out.push_str(data_line);
                    out.push('\n');
                }
                wrote_data = true;
            }
        } else if !line.is_empty() {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push('\n');
    Some(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const LIST: &str = r#"{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"list_notes","inputSchema":{}},{"name":"purge_notes","inputSchema":{}}]}}"#;

    fn only_list(name: &str) -> bool {
        name == "list_notes"
    }

    /// `tools/list` responses as servers send them, which the fast path filters itself.
    const TYPICAL: [&str; 4] = [
        LIST,
        r#"{"jsonrpc":"2.0","id":"a-1","result":{"tools":[{"name":"purge_notes","title":"Purge","description":"Deletes \"all\" notes\n","inputSchema":{"type":"object","properties":{"n":{"type":"integer","minimum":1,"maximum":1e3}},"required":["n"]},"annotations":{"destructiveHint":true,"readOnlyHint":false}},{"name":"list_notes","inputSchema":{"type":"object"}}],"nextCursor":"c2","cacheScope":"shared"}}"#,
        "{ \"jsonrpc\" : \"2.0\" ,\n \"id\" : 3 ,\n \"result\" : { \"tools\" : [ { \"name\" : \"list_notes\" } , { \"description\" : \"no name\" } , { \"name\" : \"list_notes\" , \"name\" : \"purge_notes\" } ] , \"_meta\" : null } }\n",
        r#"{"jsonrpc":"2.0","id":4,"result":{"tools":[],"cacheScope":"shared"}}"#,
    ];

    /// The fast path answers for the typical responses; whenever it answers for one of their
    /// mutations, the serde path gives the same bytes.
    #[test]
    fn the_fast_path_agrees_with_serde() {
        const BYTES: &[u8] = b"{}[]\",:\\ \t0-1.enulltrfa/u\xc3\xa9\xffnametoolsresult";
        for seed in TYPICAL {
            let fast = filter_fast(seed.as_bytes(), &only_list)
                .unwrap_or_else(|| panic!("the fast path answers {seed}"));
            assert_eq!(fast, filter_by_serde(seed.as_bytes(), &only_list), "{seed}");
        }
        let (checked, answered) = crate::mutations::fed_and_answered(&TYPICAL, BYTES, |body| {
            let Some(fast) = filter_fast(body, &only_list) else {
                return false;
            };
            let text = String::from_utf8_lossy(body);
            assert_eq!(fast, filter_by_serde(body, &only_list), "{text}");
            true
        });
        assert!(checked > 50_000, "{checked}");
        assert!(answered > checked / 4, "{answered} of {checked}");
    }

    #[test]
    fn the_fast_path_leaves_unusual_responses_to_serde() {
        for body in [
            r#"[{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"list_notes"}]}}]"#,
            r#"{"result":{"tools":[{"name":"list_notes"}]},"result":{"tools":[]}}"#,
            r#"{"result":{"tools":[{"name":"list_notes"}],"tools":[]}}"#,
            r#"{"result":{"tools":[{"name":"list_\u006eotes"}]}}"#,
            r#"{"result":{"tools":[{"n\u0061me":"purge_notes"}]}}"#,
            r#"{"result":{"tools":[{"name":"notes-é"}]}}"#,
            r#"{"result":{"tools":[{"name":7}]}}"#,
            r#"{"result":{"tools":["list_notes"]}}"#,
            r#"{"result":{"tools":{"name":"list_notes"}}}"#,
            r#"{"result":[]}"#,
            r#"{"result":{"tools":[{"name":"list_notes"}]}} x"#,
        ] {
            assert_eq!(filter_fast(body.as_bytes(), &only_list), None, "{body}");
        }
    }

    #[test]
    fn json_result_keeps_allowed_tools_and_marks_private() {
        let out = filter_json(LIST.as_bytes(), &only_list).unwrap();
        let out: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            out,
            serde_json::json!({"jsonrpc":"2.0","id":2,"result":{"cacheScope":"private",
                "tools":[{"name":"list_notes","inputSchema":{}}]}})
        );
    }

    fn filtered(body: &str) -> Option<String> {
        filter_json(body.as_bytes(), &only_list).map(|out| String::from_utf8(out).unwrap())
    }

    #[test]
    fn every_other_byte_is_kept_as_the_server_wrote_it() {
        let body = "{ \"result\" : {\"tools\": [ {\"name\":\"purge_notes\"} ,\n {\"z\":1.50,\"name\":\"list_notes\",\"a\":[]} ], \"nextCursor\":\"c\"}, \"id\":2,\"jsonrpc\":\"2.0\" }";
        assert_eq!(
            filtered(body).as_deref(),
            Some(
                "{ \"result\" : {\"tools\": [ {\"z\":1.50,\"name\":\"list_notes\",\"a\":[]} ],\"cacheScope\":\"private\", \"nextCursor\":\"c\"}, \"id\":2,\"jsonrpc\":\"2.0\" }"
            )
        );
    }

    #[test]
    fn a_tool_is_kept_only_if_every_name_it_carries_is_allowed() {
        let body = r#"{"result":{"tools":[{"name":"list_notes","name":"purge_notes"},{"name":7},"list_notes",{"title":"no name"},{"name":"list\u005fnotes"}]}}"#;
        assert_eq!(
            filtered(body).as_deref(),
            Some(r#"{"result":{"tools":[{"name":"list\u005fnotes"}],"cacheScope":"private"}}"#)
        );
    }

    #[test]
    fn duplicate_tools_and_results_are_all_filtered_and_cache_scope_forced_private() {
        let body = r#"{"result":{"cacheScope":"public","tools":[{"name":"purge_notes"}],"tools":[{"name":"list_notes"},{"name":"purge_notes"}]},"result":{"tools":[{"name":"purge_notes"}]}}"#;
        assert_eq!(
            filtered(body).as_deref(),
            Some(
                r#"{"result":{"cacheScope":"private","tools":[],"tools":[{"name":"list_notes"}]},"result":{"tools":[],"cacheScope":"private"}}"#
            )
        );
    }

    #[test]
    fn batches_are_filtered_response_by_response() {
        let body = r#"[{"id":1,"result":{}},{"id":2,"result":{"tools":[{"name":"purge_notes"},{"name":"list_notes"}]}},{"id":3,"error":{"code":-1}}]"#;
        assert_eq!(
            filtered(body).as_deref(),
            Some(
                r#"[{"id":1,"result":{}},{"id":2,"result":{"tools":[{"name":"list_notes"}],"cacheScope":"private"}},{"id":3,"error":{"code":-1}}]"#
            )
        );
    }

    #[test]
    fn empty_or_malformed_lists_are_forwarded_unchanged() {
        for body in [
            r#"{"result":{"tools":[]}}"#,
            r#"{"result":{"tools":"all"}}"#,
            r#"{"result":[{"tools":[{"name":"purge_notes"}]}]}"#,
            r#"{"result":{"tools":[{"name":"purge_notes"}]}"#,
            r#"{"result":{"tools":[{"name":"purge_notes"}]}} trailing"#,
            "7",
        ] {
            assert_eq!(filtered(body), None, "{body}");
        }
    }

    #[test]
    fn pretty_printed_sse_data_stays_one_data_line_per_line() {
        let stream = "event: message\ndata: {\"result\":{\"tools\":[\ndata: {\"name\":\"purge_notes\"},\ndata: {\"name\":\"list_notes\"}\ndata: ]}}\n\n";
        let mut filter = SseFilter::new(only_list, 1 << 20);
        let mut out = filter.push(stream.as_bytes());
        out.extend(filter.finish());
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "event: message\ndata: {\"result\":{\"tools\":[\ndata: {\"name\":\"list_notes\"}\ndata: ],\"cacheScope\":\"private\"}}\n\n"
        );
    }

    #[test]
    fn other_responses_are_left_alone() {
        assert_eq!(
            filter_json(br#"{"jsonrpc":"2.0","id":1,"result":{}}"#, &only_list),
            None
        );
        assert_eq!(filter_json(b"not json", &only_list), None);
    }

    #[test]
    fn sse_events_are_filtered_across_chunk_boundaries() {
        let stream = format!(
            "id: 1\nevent: message\ndata: {LIST}\n\ndata: {{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{{}}}}\n\n"
        );
        let mut filter = SseFilter::new(only_list, 1 << 20);
        let mut out = Vec::new();
        for chunk in stream.as_bytes().chunks(7) {
            out.extend(filter.push(chunk));
        }
        out.extend(filter.finish());
        let out = String::from_utf8(out).unwrap();
        let events: Vec<&str> = out.split_inclusive("\n\n").collect();
        assert_eq!(events.len(), 2);
        let (fields, data) = events[0].split_once("data: ").unwrap();
        assert_eq!(fields, "id: 1\nevent: message\n");
        let data: Value = serde_json::from_str(data.trim_end()).unwrap();
        assert_eq!(
            data,
            serde_json::json!({"jsonrpc":"2.0","id":2,"result":{"cacheScope":"private",
                "tools":[{"name":"list_notes","inputSchema":{}}]}})
        );
        assert_eq!(
            events[1],
            "data: {\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{}}\n\n"
        );
    }
}
