//! `tools/list` filtering: a caller sees only the tools it may call.
//!
//! Responses come as `application/json` (one JSON-RPC response, or an array of them) or as
//! `text/event-stream`, where each `data:` event may hold a JSON-RPC response. Anything that is
//! not a `tools/list` result passes through byte for byte; a filtered result is marked
//! `"cacheScope": "private"` because it varies by authorization (MCP 2026-07-28).

use serde_json::Value;

/// Filters one JSON-RPC response (or an array of them). Returns `None` when nothing was changed
/// (not JSON, or no `result.tools` array), so the caller can forward the original bytes.
pub fn filter_json(body: &[u8], allow: &dyn Fn(&str) -> bool) -> Option<Vec<u8>> {
    let mut value: Value = serde_json::from_slice(body).ok()?;
    let changed = match &mut value {
        Value::Array(items) => items.iter_mut().fold(false, |changed, item| {
            filter_response(item, allow) | changed
        }),
        item => filter_response(item, allow),
    };
    changed.then(|| serde_json::to_vec(&value).unwrap_or_else(|_| body.to_vec()))
}

/// Filters `result.tools` of one JSON-RPC response; `true` if it was a tools list.
fn filter_response(response: &mut Value, allow: &dyn Fn(&str) -> bool) -> bool {
    let Some(result) = response.get_mut("result").and_then(Value::as_object_mut) else {
        return false;
    };
    let Some(Value::Array(tools)) = result.get_mut("tools") else {
        return false;
    };
    tools.retain(|tool| tool.get("name").and_then(Value::as_str).is_some_and(allow));
    result.insert("cacheScope".into(), Value::from("private"));
    true
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
    // Keep every non-data field (id, event, retry, comments) in place; one data line replaces
    // the data lines. serde_json never emits raw newlines, so one line is enough.
    let mut out = String::with_capacity(event.len());
    let mut wrote_data = false;
    for line in text.lines() {
        if line.starts_with("data:") {
            if !wrote_data {
                out.push_str("data: ");
                out.push_str(&filtered);
                out.push('\n');
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

    const LIST: &str = r#"{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"list_notes","inputSchema":{}},{"name":"purge_notes","inputSchema":{}}]}}"#;

    fn only_list(name: &str) -> bool {
        name == "list_notes"
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
