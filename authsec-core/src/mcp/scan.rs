//! The fast path of MCP classification: one hand-written pass over a typical JSON-RPC message.
//! A `tools/call` laid out as the MCP SDKs write it is read by comparing its fixed parts in
//! place ([`sdk_tool_call`]); any other message is read member by member ([`members`]).
//!
//! It answers only when it is sure: keys, the `method` and a tool's `name` in ASCII
//! without escapes, no `\u` escape anywhere, a nesting depth of at most [`MAX_DEPTH`], no member
//! that [`super::message`]'s serde path would refuse (a duplicate `method`, `params` or `id`, a
//! duplicate tool `name` or `arguments`, a `tools/call` without a string name...). Everything
//! else returns `None`, and the serde path decides, errors included. So the fast path never
//! changes a result; `tests::fast_path_agrees_with_serde` checks that on thousands of mutated
//! bodies. `params.arguments` and `id` are skipped over like any other value (validated as serde_json
//! would) and kept as [`JsonText`].
//!
//! Its cursor, [`Scan`], also serves the same kind of fast path, with the same rule (answer only
//! when sure, else serde decides) and the same kind of test, for the JWT header and payload and
//! for `tools/list` filtering.

use std::borrow::Cow;

use super::{JsonText, McpMessage};

/// Deeper values go to the serde path (serde_json's own limit is 128).
const MAX_DEPTH: usize = 32;

/// The bytes that end a run of ordinary string content: `"`, a backslash, control characters
/// and every non-ASCII byte.
static SPECIAL: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] =
            byte < 0x20 || byte >= 0x80 || byte == b'"' as usize || byte == b'\\' as usize;
        byte += 1;
    }
    table
};

/// Where the first [`SPECIAL`] byte of `bytes` is: eight bytes a step, then one by one.
#[inline]
fn find_special(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    /// Each byte's top bit set where the byte is zero. A borrow can flag a byte above a zero
    /// one too, never below it, so the lowest flag is exact.
    fn zero_bytes(word: u64) -> u64 {
        word.wrapping_sub(ONES) & !word & HIGH
    }
    let mut chunks = bytes.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().ok()?);
        // A byte below 0x20 or from 0x80 up has its top bit set here (a borrow can set it above
        // such a byte too, never below).
        let control_or_high = (word.wrapping_sub(ONES * 0x20) | word) & HIGH;
        let special = control_or_high
            | zero_bytes(word ^ (ONES * u64::from(b'"')))
            | zero_bytes(word ^ (ONES * u64::from(b'\\')));
        if special != 0 {
            return Some(offset + special.trailing_zeros() as usize / 8);
        }
        offset += 8;
    }
    let rest = chunks.remainder();
    rest.iter()
        .position(|&b| SPECIAL[usize::from(b)])
        .map(|at| offset + at)
}

/// The keys of a JSON-RPC request, with their quotes, in the order clients usually write them.
const MESSAGE_KEYS: &[&[u8]] = &[br#""jsonrpc""#, br#""id""#, br#""method""#, br#""params""#];

/// The methods worth comparing in place, with their quotes.
const USUAL_METHODS: &[&[u8]] = &[br#""tools/call""#, br#""tools/list""#];

/// The keys of a `tools/call`'s `params`, with their quotes.
const PARAMS_KEYS: &[&[u8]] = &[br#""name""#, br#""arguments""#, br#""_meta""#];

/// Classifies one JSON-RPC message, or `None` when the serde path must decide.
pub(super) fn message(json: &[u8]) -> Option<McpMessage<'_>> {
    let scan = Scan::new(json, false)?;
    if let Some(message) = sdk_tool_call(scan.clone()) {
        return Some(message);
    }
    members(scan)
}

/// A `tools/call` as the MCP SDKs write it: compact, and with its keys in one of two orders:
/// - `{"jsonrpc":"2.0","id":…,"method":"tools/call","params":…}` (rmcp, the Rust SDK);
/// - `{"method":"tools/call","params":…,"jsonrpc":"2.0","id":…}` (the TypeScript SDK);
///
/// with `params` as `{"name":"…"}`, then `,"arguments":…` and `,"_meta":…` when present, in
/// that order. Each fixed part is compared in place and each key has its place, so no key is
/// looked up. The values are read as [`members`] reads them. Any other text (whitespace, other
/// keys, another order) is left to [`members`], so this changes what classification costs,
/// never what it answers.
fn sdk_tool_call(mut scan: Scan<'_>) -> Option<McpMessage<'_>> {
    const JSONRPC_ID: &[u8] = br#""jsonrpc":"2.0","id":"#;
    const METHOD_PARAMS: &[u8] = br#""method":"tools/call","params":"#;
    scan.expect(b'{')?;
    let (id, (name, arguments));
    if scan.literal(JSONRPC_ID).is_some() {
        id = scan.id()?;
        scan.expect(b',')?;
        scan.literal(METHOD_PARAMS)?;
        (name, arguments) = scan.sdk_params()?;
    } else {
        scan.literal(METHOD_PARAMS)?;
        (name, arguments) = scan.sdk_params()?;
        scan.expect(b',')?;
        scan.literal(JSONRPC_ID)?;
        id = scan.id()?;
    }
    scan.expect(b'}')?;
    scan.whitespace();
    if !scan.at_end() {
        return None;
    }
    Some(McpMessage {
        method: Some(Cow::Borrowed("tools/call")),
        tool: Some(Cow::Borrowed(name)),
        arguments,
        id: Some(id),
    })
}

/// Any JSON-RPC message, read member by member.
fn members(mut scan: Scan<'_>) -> Option<McpMessage<'_>> {
    let mut method: Option<&str> = None;
    let mut id: Option<JsonText<'_>> = None;
    let mut params: Option<Params<'_>> = None;
    scan.whitespace();
    scan.object_with_keys(MESSAGE_KEYS, |scan, key| {
        match key {
            b"method" if method.is_none() => {
                method = Some(scan.plain_string_among(USUAL_METHODS)?);
            }
            b"id" if id.is_none() => id = Some(scan.id()?),
            b"params" if params.is_none() => params = Some(scan.params()?),
            b"method" | b"id" | b"params" => return None,
            // Nearly always `"2.0"`, compared in place; any other value is skipped like any
            // member's (serde reads no `jsonrpc`).
            b"jsonrpc" if scan.literal(br#""2.0""#).is_some() => {}
            _ => scan.skip_value(0)?,
        }
        Some(())
    })?;
    scan.whitespace();
    if !scan.at_end() {
        return None;
    }
    let mut message = McpMessage {
        method: method.map(Cow::Borrowed),
        tool: None,
        arguments: None,
        id,
    };
    if message.is_tool_call() {
        let Params {
            name: Some(Some(name)),
            arguments,
        } = params?
        else {
            return None;
        };
        message.tool = Some(Cow::Borrowed(name));
        message.arguments = arguments;
    }
    Some(message)
}

/// What a `tools/call` needs from `params`.
struct Params<'a> {
    /// `Some(None)`: a `name` that is not a plain string (fine unless this is a `tools/call`).
    name: Option<Option<&'a str>>,
    arguments: Option<JsonText<'a>>,
}

/// A cursor over one JSON text. Also the fast paths of the JWT header and payload readers
/// (`crate::jwt`, `crate::payload`: [`integers_only`](Self::new)) and of `tools/list` filtering
/// (`crate::tools_list`).
#[derive(Clone)]
pub(crate) struct Scan<'a> {
    text: &'a str,
    json: &'a [u8],
    at: usize,
    /// Numbers that are negative, or have a fraction, an exponent or more than 18 digits, are
    /// left to serde (which refuses a float that overflows when it reads values, as
    /// `serde_json::Value` does).
    integers_only: bool,
}

impl<'a> Scan<'a> {
    /// A cursor at the start of `json`, or `None` when it is not UTF-8 (serde_json accepts only
    /// UTF-8, and outside strings JSON is ASCII, so one check up front lets every slice below be
    /// text).
    pub(crate) fn new(json: &'a [u8], integers_only: bool) -> Option<Self> {
        let text = simdutf8::basic::from_utf8(json).ok()?;
        Some(Scan {
            text,
            json,
            at: 0,
            integers_only,
        })
    }

    /// Whether the whole text has been read.
    pub(crate) fn at_end(&self) -> bool {
        self.at == self.json.len()
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.json.get(self.at).copied()
    }

    pub(crate) fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    pub(crate) fn expect(&mut self, byte: u8) -> Option<()> {
        (self.next()? == byte).then_some(())
    }

    /// JSON's four whitespace bytes (not form feed, which `is_ascii_whitespace` admits).
    pub(crate) fn whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.at += 1;
        }
    }

    /// The next byte that is not whitespace, which the cursor is moved to (not past); `None`
    /// at the end. Compact JSON has no whitespace, and every byte of it is above `b' '`, so
    /// one comparison usually answers.
    #[inline(always)]
    fn significant(&mut self) -> Option<u8> {
        match self.peek()? {
            byte @ 0x21.. => Some(byte),
            _ => {
                self.whitespace();
                self.peek()
            }
        }
    }

    /// A string of printable ASCII without escapes, as text; `None` for anything else.
    pub(crate) fn plain_string(&mut self) -> Option<&'a str> {
        let len = self.plain_bytes()?.len();
        // It ends just before the closing quote at `self.at - 1`.
        self.text.get(self.at - 1 - len..self.at - 1)
    }

    /// The bytes of a string of printable ASCII without escapes (keys are compared as bytes);
    /// `None` for anything else.
    pub(crate) fn plain_bytes(&mut self) -> Option<&'a [u8]> {
        self.expect(b'"')?;
        let start = self.at;
        let rest = &self.json[start..];
        let len = find_special(rest)?;
        if rest[len] != b'"' {
            return None;
        }
        self.at = start + len + 1;
        Some(&rest[..len])
    }

    /// Skips a string, validating it as serde_json would (its UTF-8 was checked with the whole
    /// body); `None` for a `\u` escape (surrogate rules are serde's to apply) and for anything
    /// invalid.
    #[inline(always)]
    fn skip_string(&mut self) -> Option<()> {
        self.expect(b'"')?;
        loop {
            // A run of ordinary bytes in one step.
            let rest = &self.json[self.at..];
            self.at += find_special(rest)?;
            let byte = self.next()?;
            match byte {
                b'"' => break,
                b'\\' => match self.next()? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                    _ => return None,
                },
                0..=0x1f => return None,
                _ => {}
            }
        }
        Some(())
    }

    /// Skips any value, validating its syntax; `None` where serde must decide. `depth`: how
    /// many containers enclose the value (at most [`MAX_DEPTH`] may, counting its own).
    ///
    /// One loop over the value's tokens, without recursion: the open containers are a stack of
    /// bits (set for an object), so a member costs a string scan and a few comparisons, not a
    /// call per key and per value. It reads exactly what the recursive reading would
    /// (`tests::skipping_agrees_with_a_recursive_reading`).
    pub(crate) fn skip_value(&mut self, depth: usize) -> Option<()> {
        // Bit 0 is the innermost open container: set for an object, clear for an array.
        let mut objects = 0u64;
        let mut open = 0usize;
        // Whether the string at the cursor is a member's key.
        let mut key = false;
        loop {
            // The cursor is on a value, or on a key when `key`.
            let byte = self.peek()?;
            if key && byte != b'"' {
                return None;
            }
            match byte {
                // A key is skipped like any string: keys here may hold escapes.
                b'"' => self.skip_string()?,
                b'{' | b'[' => {
                    if depth + open >= MAX_DEPTH {
                        return None;
                    }
                    self.at += 1;
                    let object = byte == b'{';
                    let close = if object { b'}' } else { b']' };
                    if self.significant()? != close {
                        open += 1;
                        objects = objects << 1 | u64::from(object);
                        key = object;
                        continue;
                    }
                    // Empty: a whole value already.
                    self.at += 1;
                }
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                b'-' | b'0'..=b'9' => self.number()?,
                _ => return None,
            }
            if key {
                self.colon()?;
                key = false;
                continue;
            }
            // After a value: a comma before the next item, or the ends of containers.
            loop {
                if open == 0 {
                    return Some(());
                }
                let byte = self.significant()?;
                self.at += 1;
                let in_object = objects & 1 == 1;
                match byte {
                    b',' => {
                        self.significant()?;
                        key = in_object;
                        break;
                    }
                    b'}' if in_object => {}
                    b']' if !in_object => {}
                    _ => return None,
                }
                open -= 1;
                objects >>= 1;
            }
        }
    }

    pub(crate) fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.at + word.len();
        (self.json.get(self.at..end)? == word).then(|| self.at = end)
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> Option<()> {
        if self.integers_only {
            return self.integer().map(drop);
        }
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.next()? {
            b'0' => {}
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            self.some_digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            self.some_digits()?;
        }
        Some(())
    }

    /// A non-negative integer of at most 18 digits (so any fits in a `u64`), not followed by a
    /// fraction or an exponent; `None` for anything else.
    pub(crate) fn integer(&mut self) -> Option<u64> {
        let start = self.at;
        let mut value = 0u64;
        while let Some(digit @ b'0'..=b'9') = self.peek() {
            value = value * 10 + u64::from(digit - b'0');
            self.at += 1;
            if self.at - start > 18 {
                return None;
            }
        }
        let len = self.at - start;
        // No leading zero (`0` alone is fine), at least one digit, no fraction or exponent.
        if len == 0
            || (len > 1 && self.json[start] == b'0')
            || matches!(self.peek(), Some(b'.' | b'e' | b'E'))
        {
            return None;
        }
        Some(value)
    }

    /// Where the cursor is, in bytes from the start.
    pub(crate) fn position(&self) -> usize {
        self.at
    }

    /// Walks an object: `member` reads the value of each member (the cursor is on it), given
    /// its key, which must be printable ASCII without escapes; `None` for anything else, or
    /// when `member` says so.
    #[inline(always)]
    pub(crate) fn object(
        &mut self,
        member: impl FnMut(&mut Self, &'a [u8]) -> Option<()>,
    ) -> Option<()> {
        self.object_with_keys(&[], member)
    }

    /// [`object`](Self::object) for an object whose usual keys are known: each of `known` (a
    /// key with its quotes, `br#""method""#`) is compared in place before the generic read of
    /// a key, which costs a search for its end. A key read either way is the same bytes.
    #[inline(always)]
    pub(crate) fn object_with_keys(
        &mut self,
        known: &[&'static [u8]],
        mut member: impl FnMut(&mut Self, &'a [u8]) -> Option<()>,
    ) -> Option<()> {
        self.items(b'{', b'}', |scan| {
            let key = scan.known_string(known).or_else(|| scan.plain_bytes())?;
            scan.colon()?;
            member(scan, key)
        })
    }

    /// [`plain_string`](Self::plain_string), comparing each of `known` (a string with its
    /// quotes) in place first.
    #[inline(always)]
    fn plain_string_among(&mut self, known: &[&'static [u8]]) -> Option<&'a str> {
        let start = self.at;
        match self.known_string(known) {
            Some(_) => self.text.get(start + 1..self.at - 1),
            None => self.plain_string(),
        }
    }

    /// The string at the cursor when it is one of `known` (given with its quotes), without its
    /// quotes; the cursor moves past it. `None`, the cursor unmoved, for any other string.
    #[inline(always)]
    fn known_string(&mut self, known: &[&'static [u8]]) -> Option<&'a [u8]> {
        let json = self.json;
        let rest = json.get(self.at..)?;
        let quoted = known.iter().find(|quoted| rest.starts_with(quoted))?;
        let key = rest.get(1..quoted.len() - 1)?;
        self.at += quoted.len();
        Some(key)
    }

    /// Walks an array: `element` reads each element (the cursor is on it); `None` for anything
    /// invalid, or when `element` says so.
    #[inline(always)]
    pub(crate) fn array(&mut self, element: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.items(b'[', b']', element)
    }

    /// `open`, then the comma-separated items `item` reads (the cursor on each, whitespace
    /// around them skipped), then `close`.
    #[inline(always)]
    fn items(
        &mut self,
        open: u8,
        close: u8,
        mut item: impl FnMut(&mut Self) -> Option<()>,
    ) -> Option<()> {
        self.expect(open)?;
        if self.significant()? == close {
            self.at += 1;
            return Some(());
        }
        loop {
            item(self)?;
            let byte = self.significant()?;
            self.at += 1;
            match byte {
                b',' => {
                    self.significant()?;
                }
                byte if byte == close => return Some(()),
                _ => return None,
            }
        }
    }

    /// The `:` after a key, with the whitespace around it.
    #[inline(always)]
    fn colon(&mut self) -> Option<()> {
        if self.significant()? != b':' {
            return None;
        }
        self.at += 1;
        self.significant().map(drop)
    }

    /// An array of strings of printable ASCII without escapes, each mapped by `item`; `None`
    /// for anything else.
    pub(crate) fn plain_strings<T>(
        &mut self,
        mut item: impl FnMut(&'a str) -> T,
    ) -> Option<Vec<T>> {
        let mut items = Vec::new();
        self.array(|scan| {
            items.push(item(scan.plain_string()?));
            Some(())
        })?;
        Some(items)
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
    }

    fn some_digits(&mut self) -> Option<()> {
        let start = self.at;
        self.digits();
        (self.at > start).then_some(())
    }

    /// The value here, skipped and validated ([`skip_value`](Self::skip_value)), as text.
    fn json_text(&mut self, depth: usize) -> Option<JsonText<'a>> {
        let start = self.at;
        self.skip_value(depth)?;
        self.text.get(start..self.at).map(JsonText)
    }

    /// An `id`'s value as text; `None` for `null`, which reads as no id (serde says so). A
    /// positive integer, the usual id, is read as its run of digits, which is what
    /// [`skip_value`](Self::skip_value) reads when no fraction or exponent follows; any other
    /// value is skipped as usual.
    fn id(&mut self) -> Option<JsonText<'a>> {
        match self.peek()? {
            b'n' => return None,
            b'1'..=b'9' if !self.integers_only => {
                let start = self.at;
                self.digits();
                if !matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
                    return self.text.get(start..self.at).map(JsonText);
                }
                self.at = start;
            }
            _ => {}
        }
        self.json_text(0)
    }

    /// A `tools/call`'s `params` as the SDKs write it ([`sdk_tool_call`]): its name and its
    /// `arguments`, if any.
    fn sdk_params(&mut self) -> Option<(&'a str, Option<JsonText<'a>>)> {
        self.literal(br#"{"name":"#)?;
        let name = self.plain_string()?;
        let arguments = match self.literal(br#","arguments":"#) {
            Some(()) => Some(self.json_text(1)?),
            None => None,
        };
        if self.literal(br#","_meta":"#).is_some() {
            self.skip_value(1)?;
        }
        self.expect(b'}')?;
        Some((name, arguments))
    }

    /// `params`: an object with `name` and `arguments` at most once, a string `name` without
    /// escapes; anything else (an array, `null`, a duplicate) goes to serde.
    fn params(&mut self) -> Option<Params<'a>> {
        let mut params = Params {
            name: None,
            arguments: None,
        };
        self.object_with_keys(PARAMS_KEYS, |scan, key| {
            match key {
                b"name" if params.name.is_none() => {
                    params.name = Some(match scan.peek()? {
                        b'"' => Some(scan.plain_string()?),
                        _ => {
                            scan.skip_value(1)?;
                            None
                        }
                    });
                }
                b"arguments" if params.arguments.is_none() => {
                    params.arguments = Some(scan.json_text(1)?);
                }
                b"name" | b"arguments" => return None,
                _ => scan.skip_value(1)?,
            }
            Some(())
        })?;
        Some(params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(bytes: &[u8]) -> Option<usize> {
        bytes.iter().position(|&b| SPECIAL[usize::from(b)])
    }

    /// What the in-place reading of the SDKs' `tools/call` and the member-by-member one make
    /// of `text`.
    fn both_readings(text: &str) -> (Option<McpMessage<'_>>, Option<McpMessage<'_>>) {
        let scan = Scan::new(text.as_bytes(), false).unwrap();
        (sdk_tool_call(scan.clone()), members(scan))
    }

    #[test]
    fn the_sdks_tool_calls_are_read_in_place_as_member_by_member() {
        let read = [
            // rmcp's order, then the TypeScript SDK's.
            r#"{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"add_note","arguments":{"text":"a \"b\""},"_meta":{"progressToken":42}}}"#,
            r#"{"method":"tools/call","params":{"name":"add_note","arguments":{"text":"hi"},"_meta":{"progressToken":3}},"jsonrpc":"2.0","id":3}"#,
            r#"{"jsonrpc":"2.0","id":"r-1","method":"tools/call","params":{"name":"list_notes"}}"#,
            r#"{"method":"tools/call","params":{"name":"list_notes","_meta":{}},"jsonrpc":"2.0","id":[1]}"#,
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"x\",\"arguments\":null}}\n",
        ];
        for text in read {
            let (in_place, by_members) = both_readings(text);
            let (in_place, by_members) = (in_place.expect(text), by_members.expect(text));
            assert_eq!(format!("{in_place:?}"), format!("{by_members:?}"), "{text}");
        }
        let (message, _) = both_readings(read[1]);
        let message = message.unwrap();
        assert_eq!(message.tool.as_deref(), Some("add_note"));
        assert_eq!(message.arguments.map(|a| a.get()), Some(r#"{"text":"hi"}"#));
        assert_eq!(message.id.map(|id| id.get()), Some("3"));
        let (message, _) = both_readings(read[2]);
        assert_eq!(message.unwrap().arguments, None);

        // Anything else is read member by member (or by serde), with the same answers.
        for text in [
            r#"{ "jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}"#,
            r#"{"id":1,"jsonrpc":"2.0","method":"tools/call","params":{"name":"x"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{},"name":"x"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"},"x":1}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#,
            r#"{"method":"tools/call","params":{"name":"x","_meta":{},"arguments":{}},"jsonrpc":"2.0","id":1}"#,
        ] {
            let (in_place, by_members) = both_readings(text);
            assert!(in_place.is_none(), "{text}");
            assert!(by_members.is_some(), "{text}");
        }
        // Left to serde, by both: a null id, a duplicate name, an escaped name.
        for text in [
            r#"{"jsonrpc":"2.0","id":null,"method":"tools/call","params":{"name":"x"}}"#,
            r#"{"method":"tools/call","params":{"name":"x","name":"y"},"jsonrpc":"2.0","id":1}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"\u0078"}}"#,
        ] {
            assert!(matches!(both_readings(text), (None, None)), "{text}");
        }
    }

    #[test]
    fn an_id_reads_as_the_value_skipped_would() {
        for id in [
            "1",
            "42",
            "9,",
            "9}",
            "12 ",
            "123456789012345678901234",
            "7.5",
            "7e3",
            "7E-2",
            "10.0e1",
            "1.",
            "1e",
            "12a",
            "0",
            "01",
            "-3",
            "\"1\"",
            "[1]",
            "{}",
            "true",
            "",
        ] {
            let scan = Scan::new(id.as_bytes(), false).unwrap();
            let (mut by_id, mut skipped) = (scan.clone(), scan);
            let read = by_id.id().map(|text| (text.get(), by_id.position()));
            let reference = skipped
                .json_text(0)
                .map(|text| (text.get(), skipped.position()));
            assert_eq!(read, reference, "{id:?}");
        }
        // `null` is no id at all.
        assert_eq!(Scan::new(b"null", false).unwrap().id(), None);
    }

    /// The recursive reading [`Scan::skip_value`] replaced (a call per container, key and
    /// value), kept as its reference.
    fn skip_recursively(scan: &mut Scan<'_>, depth: usize) -> Option<()> {
        match scan.peek()? {
            b'{' if depth < MAX_DEPTH => scan.items(b'{', b'}', |scan| {
                scan.skip_string()?;
                scan.colon()?;
                skip_recursively(scan, depth + 1)
            }),
            b'[' if depth < MAX_DEPTH => scan.array(|scan| skip_recursively(scan, depth + 1)),
            b'{' | b'[' => None,
            _ => scan.skip_value(depth),
        }
    }

    /// Where a reading ends the value, `None` when it refuses it (where a refusal leaves the
    /// cursor does not matter: serde decides then); `None` outside for text that is not UTF-8.
    fn skipped(
        text: &[u8],
        depth: usize,
        integers_only: bool,
        loop_form: bool,
    ) -> Option<Option<usize>> {
        let mut scan = Scan::new(text, integers_only)?;
        let answer = if loop_form {
            scan.skip_value(depth)
        } else {
            skip_recursively(&mut scan, depth)
        };
        Some(answer.map(|()| scan.position()))
    }

    #[test]
    fn skipping_agrees_with_a_recursive_reading() {
        const SEEDS: [&str; 6] = [
            r#"{"text":"Buy milk, eggs and bread","tags":["shopping","home"],"n":{"a":[1,{}],"b":[]}}"#,
            r#"[ {"k" : [ true , false , null ] } , "x\"y\u0041" , -1.5e3 , 0 , 12 ]"#,
            r#"{"a":{"b":{"c":[[[{}]]]}}} tail"#,
            r#""just a string""#,
            "[1,\n2,\t{\"ü\":\"é\"}]",
            r#"{"":"","a":[],"b":{}}"#,
        ];
        const BYTES: &[u8] = b"{}[]\",:\\ \t\x0c0-1.eEnulltrfa/u\x01\xc3\xa9\xff";
        let mut answered = 0;
        let (fed, _) = crate::mutations::fed_and_answered(&SEEDS, BYTES, |text| {
            for depth in [0, 1, 30, 31, 32] {
                for integers_only in [false, true] {
                    let recursive = skipped(text, depth, integers_only, false);
                    assert_eq!(
                        skipped(text, depth, integers_only, true),
                        recursive,
                        "{:?} at depth {depth}",
                        String::from_utf8_lossy(text)
                    );
                    answered += usize::from(recursive.is_some_and(|end| end.is_some()));
                }
            }
            false
        });
        assert!(fed > 10_000, "{fed}");
        // Both readings accept many of the mutations (inside strings, between tokens).
        assert!(answered > fed, "{answered} of {fed}");
        // Depth: a value nested 32 deep is read, 33 deep is refused, by both.
        let nested = |levels: usize| format!("{}{}", "[".repeat(levels), "]".repeat(levels));
        for (text, expected) in [(nested(32), Some(Some(64))), (nested(33), Some(None))] {
            assert_eq!(skipped(text.as_bytes(), 0, false, true), expected, "{text}");
            assert_eq!(
                skipped(text.as_bytes(), 0, false, false),
                expected,
                "{text}"
            );
        }
    }

    #[test]
    fn find_special_agrees_with_the_table_for_every_byte_at_every_place() {
        for len in 0..=19 {
            for at in 0..len {
                for byte in 0..=255u8 {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = byte;
                    assert_eq!(
                        find_special(&bytes),
                        naive(&bytes),
                        "{byte:#x} at {at} of {len}"
                    );
                    // A second byte after it, which a borrow could flag.
                    for later in [0x00, 0x1f, 0x20, b'"', b'\\', 0x7f, 0x80, 0xff] {
                        if at + 1 < len {
                            bytes[at + 1] = later;
                            assert_eq!(find_special(&bytes), naive(&bytes), "{bytes:?}");
                            bytes[at + 1] = b'a';
                        }
                    }
                }
            }
        }
    }
}
