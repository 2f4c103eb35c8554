//! Everything a web-framework adapter does that is not about the framework's types: which paths
//! are protected, which bodies are read and how far, how the request is classified and checked,
//! what happens after the response (session binding), and how `tools/list` responses are
//! filtered. authsec-axum and authsec-actix only translate types around [`Protection`], so both
//! behave identically by construction.
//!
//! The responses an adapter sends on its own behalf come from here too: denials
//! ([`Verdict::Deny`]), the `502` for an unfilterable `tools/list` response
//! ([`unfilterable_tools_list`]), the `500` for a handler that asks for a principal no
//! middleware put there ([`principal_missing`]), and the RFC 9728 document with its routes and
//! headers ([`MetadataEndpoint`]).

use std::net::IpAddr;
use std::time::Duration;

use crate::audit::{self, DecidingRule, checks};
use crate::bearer::{Authorization, bearer_credentials};
use crate::client_ip;
use crate::denial::{Denial, RenderedDenial};
use crate::guard::{AccessRequest, Decision, Guard, RuledDecision};
use crate::inband::DenialDelivery;
use crate::mcp::{McpHeaders, McpRequest, classify};
use crate::metric;
use crate::principal::Principal;
use crate::short_eq::short_eq;
use crate::tools_list::{self, SseFilter};

/// Default bound on a POST body buffered for classification: 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// Bound on a JSON `tools/list` response buffered for filtering: 16 MiB.
pub const MAX_TOOLS_LIST_BYTES: usize = 16 * 1024 * 1024;

/// Bound on a partial SSE event held back while waiting for its end: 16 MiB.
pub const MAX_SSE_EVENT_BYTES: usize = 16 * 1024 * 1024;

/// A request body being buffered, chunk by chunk, up to a bound. A body that arrives in one
/// chunk (the usual JSON-RPC POST) is kept as that chunk, without copying; more chunks are
/// joined in order. `T` is the framework's chunk type (`bytes::Bytes` for both adapters).
#[derive(Debug)]
pub struct BodyBuffer<T> {
    first: Option<T>,
    joined: Vec<u8>,
    total: usize,
    limit: usize,
}

/// A body over the bound of its [`BodyBuffer`] (answer [`Protection::body_too_large`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyTooLarge;

impl<T: AsRef<[u8]> + From<Vec<u8>>> BodyBuffer<T> {
    /// An empty buffer for a body of at most `limit` bytes ([`Protection::body_limit`]).
    pub fn new(limit: usize) -> Self {
        BodyBuffer {
            first: None,
            joined: Vec::new(),
            total: 0,
            limit,
        }
    }

    /// Adds the next chunk; `Err` once the body is over the bound.
    pub fn push(&mut self, chunk: T) -> Result<(), BodyTooLarge> {
        self.total = self.total.saturating_add(chunk.as_ref().len());
        if self.total > self.limit {
            return Err(BodyTooLarge);
        }
        match self.first.take() {
            None if self.joined.is_empty() => self.first = Some(chunk),
            None => self.joined.extend_from_slice(chunk.as_ref()),
            Some(earlier) => {
                self.joined.reserve(self.total);
                self.joined.extend_from_slice(earlier.as_ref());
                self.joined.extend_from_slice(chunk.as_ref());
            }
        }
        Ok(())
    }

    /// The whole body (the buffer is left empty).
    pub fn take(&mut self) -> T {
        match self.first.take() {
            Some(only) => only,
            None => T::from(std::mem::take(&mut self.joined)),
        }
    }
}

/// Header names the adapters read and write.
pub mod headers {
    /// RFC 9110.
    pub const AUTHORIZATION: &str = "authorization";
    /// The MCP session header.
    pub const MCP_SESSION_ID: &str = "mcp-session-id";
    /// The 2026-07-28 method header.
    pub const MCP_METHOD: &str = "mcp-method";
    /// The 2026-07-28 name header.
    pub const MCP_NAME: &str = "mcp-name";
    /// RFC 7239.
    pub const FORWARDED: &str = "forwarded";
    /// The de-facto forwarding header.
    pub const X_FORWARDED_FOR: &str = "x-forwarded-for";
}

/// The headers core reads on every request, numbered `0..4` in this order (`as usize`). An
/// adapter that finds them in one pass over its map answers [`RequestHeaders::known`] from
/// slots, without comparing names again for each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KnownHeader {
    /// `Authorization`.
    Authorization,
    /// `Mcp-Session-Id`.
    McpSessionId,
    /// `Mcp-Method`.
    McpMethod,
    /// `Mcp-Name`.
    McpName,
}

impl KnownHeader {
    /// All of them, in slot order.
    pub const ALL: [KnownHeader; 4] = [
        KnownHeader::Authorization,
        KnownHeader::McpSessionId,
        KnownHeader::McpMethod,
        KnownHeader::McpName,
    ];

    /// The header's name, lower-case.
    pub const fn name(self) -> &'static str {
        match self {
            KnownHeader::Authorization => headers::AUTHORIZATION,
            KnownHeader::McpSessionId => headers::MCP_SESSION_ID,
            KnownHeader::McpMethod => headers::MCP_METHOD,
            KnownHeader::McpName => headers::MCP_NAME,
        }
    }

    /// The known header named `name` (lower-case), if it is one. Besides `authorization`
    /// they are `mcp-` names, so most other names are passed over on their first four bytes;
    /// the rest is a `match`, which compares lengths, then a few words in place.
    #[inline]
    pub fn from_name(name: &str) -> Option<Self> {
        if name == headers::AUTHORIZATION {
            return Some(KnownHeader::Authorization);
        }
        if name.as_bytes().first_chunk::<4>() != Some(b"mcp-") {
            return None;
        }
        match name {
            headers::MCP_SESSION_ID => Some(KnownHeader::McpSessionId),
            headers::MCP_METHOD => Some(KnownHeader::McpMethod),
            headers::MCP_NAME => Some(KnownHeader::McpName),
            _ => None,
        }
    }
}

/// Read access to a request's headers, implemented by each adapter over its framework's map.
pub trait RequestHeaders {
    /// Every value of the header `name` (lower-case), in order.
    fn values(&self, name: &str) -> Vec<&[u8]>;

    /// The first value of `name`, and whether another value follows. The default goes through
    /// [`values`](Self::values); adapters override it to look up without allocating (this runs
    /// for several headers on every request).
    fn first_value(&self, name: &str) -> (Option<&[u8]>, bool) {
        let values = self.values(name);
        (values.first().copied(), values.len() > 1)
    }

    /// [`first_value`](Self::first_value) of one of the headers core reads on every request
    /// (which it asks for through this). The default looks the name up; adapters that collect
    /// the four in one pass answer from their slots.
    fn known(&self, header: KnownHeader) -> (Option<&[u8]>, bool) {
        self.first_value(header.name())
    }

    /// The first value of `name` as text, if present and UTF-8.
    fn text(&self, name: &str) -> Option<&str> {
        self.first_value(name)
            .0
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// [`known`](Self::known)'s first value as text, if present and UTF-8.
    fn known_text(&self, header: KnownHeader) -> Option<&str> {
        self.known(header)
            .0
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Every value of `name` joined with `,` (for list-valued headers).
    fn joined(&self, name: &str) -> Option<String> {
        let values = self.values(name);
        if values.is_empty() {
            return None;
        }
        let parts: Vec<&str> = values
            .iter()
            .filter_map(|v| std::str::from_utf8(v).ok())
            .collect();
        Some(parts.join(","))
    }
}

/// Headers as `(name, value)` pairs, names matched case-insensitively: for an adapter over a
/// framework without a header map, and for tests.
impl<N: AsRef<str>, V: AsRef<[u8]>> RequestHeaders for [(N, V)] {
    fn values(&self, name: &str) -> Vec<&[u8]> {
        self.iter()
            .filter(|(n, _)| n.as_ref().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
            .collect()
    }
}

/// What an adapter hands over about one request to a protected path.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct IncomingRequest<'a, H: ?Sized> {
    /// The headers.
    pub headers: &'a H,
    /// The raw query string.
    pub query: Option<&'a str>,
    /// The TCP peer address.
    pub peer: Option<IpAddr>,
    /// The buffered body, for requests [`Protection::buffers_body`] said to buffer.
    pub body: Option<&'a [u8]>,
}

impl<'a, H: ?Sized> IncomingRequest<'a, H> {
    /// A request with these headers and nothing else known.
    pub fn new(headers: &'a H) -> Self {
        IncomingRequest {
            headers,
            query: None,
            peer: None,
            body: None,
        }
    }

    /// Sets the query string.
    pub fn query(mut self, query: Option<&'a str>) -> Self {
        self.query = query;
        self
    }

    /// Sets the peer address.
    pub fn peer(mut self, peer: Option<IpAddr>) -> Self {
        self.peer = peer;
        self
    }

    /// Sets the buffered body.
    pub fn body(mut self, body: Option<&'a [u8]>) -> Self {
        self.body = body;
        self
    }
}

/// The answer for one request.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Verdict {
    /// Call the handler with the principal in the request extensions.
    Allow {
        /// The caller.
        principal: Principal,
        /// Whether the request holds a `tools/list`, whose response must be filtered.
        lists_tools: bool,
        /// The client address the checks used (the peer, or what a trusted proxy forwarded).
        client_ip: Option<IpAddr>,
    },
    /// Call the handler without a principal: the AuthSec in-band profile's handshake
    /// pass-through ([`DenialDelivery::passes_handshake`]); nothing is filtered or bound.
    PassThrough,
    /// Answer with this response; the handler never runs.
    Deny {
        /// The denial (for logs: its code and description; never the token).
        denial: Denial,
        /// The response to send.
        response: RenderedDenial,
    },
}

/// How a response must be filtered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseFilter {
    /// Forward unchanged.
    None,
    /// Buffer (up to [`MAX_TOOLS_LIST_BYTES`]) and filter with
    /// [`tools_list::filter_json`].
    Json,
    /// Stream through [`tools_list::SseFilter`].
    Sse,
}

/// The adapter-independent part of protecting a path with a [`Guard`].
#[derive(Clone, Debug)]
pub struct Protection {
    guard: Guard,
    prefix: String,
    max_body_bytes: usize,
    filter_tools_list: bool,
    classify_mcp: bool,
    delivery: DenialDelivery,
    /// The `realm` of the AuthSec profile's challenges: the resource name.
    realm: Option<String>,
}

impl Protection {
    /// Protects the path of the guard's resource URI (e.g. `/mcp` for `https://h/mcp`) and
    /// everything below it, as an MCP endpoint.
    pub fn new(guard: Guard) -> Self {
        let prefix = guard.resource().path().trim_end_matches('/').to_owned();
        Protection {
            guard,
            prefix,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            filter_tools_list: true,
            classify_mcp: true,
            delivery: DenialDelivery::http(),
            realm: None,
        }
    }

    /// Which denials are delivered in-band (default: none; see [`crate::inband`]).
    pub fn denial_delivery(mut self, delivery: DenialDelivery) -> Self {
        self.delivery = delivery;
        self.realm = delivery
            .is_authsec_inband()
            .then(|| self.guard.metadata().resource_name)
            .flatten();
        self
    }

    /// The denial delivery.
    pub fn delivery(&self) -> &DenialDelivery {
        &self.delivery
    }

    /// Protects `prefix` instead (`"/"` protects everything).
    pub fn protect_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into().trim_end_matches('/').to_owned();
        self
    }

    /// Bound on the POST body buffered for classification (default 1 MiB).
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Whether `tools/list` responses are filtered (default true).
    pub fn filter_tools_list(mut self, on: bool) -> Self {
        self.filter_tools_list = on;
        self
    }

    /// Treats the path as a plain HTTP API: no body buffering, no tool checks.
    pub fn plain_http(mut self) -> Self {
        self.classify_mcp = false;
        self.filter_tools_list = false;
        self
    }

    /// The guard.
    pub fn guard(&self) -> &Guard {
        &self.guard
    }

    /// The body bound.
    #[inline]
    pub fn body_limit(&self) -> usize {
        self.max_body_bytes
    }

    /// Whether `path` is under the protected prefix (segment-wise: `/mcp` covers `/mcp` and
    /// `/mcp/x`, not `/mcpx`).
    #[inline]
    pub fn protects(&self, path: &str) -> bool {
        let (path, prefix) = (path.as_bytes(), self.prefix.as_bytes());
        prefix.is_empty()
            || path
                .split_at_checked(prefix.len())
                .is_some_and(|(head, rest)| {
                    short_eq(head, prefix) && matches!(rest.first(), None | Some(b'/'))
                })
    }

    /// Whether a request with this method has its body buffered and classified.
    #[inline]
    pub fn buffers_body(&self, method: &str) -> bool {
        self.classify_mcp && (method == "POST" || method.eq_ignore_ascii_case("POST"))
    }

    /// Whether a declared `Content-Length` (`1*DIGIT`, RFC 9110) is already over the bound. A
    /// value too long for a `u64` is over it; anything that is not digits declares nothing here
    /// (the HTTP server refuses it, or the bound applies as the body is read).
    pub fn declared_too_large(&self, content_length: Option<&str>) -> bool {
        // A header value is ASCII, so ASCII trimming is all it needs (and far less code than
        // `str::trim`'s Unicode whitespace).
        let Some(digits) = content_length.map(|v| v.as_bytes().trim_ascii()) else {
            return false;
        };
        let mut len: u64 = 0;
        for &digit in digits {
            if !digit.is_ascii_digit() {
                return false;
            }
            len = len
                .saturating_mul(10)
                .saturating_add(u64::from(digit - b'0'));
        }
        !digits.is_empty() && len > self.max_body_bytes as u64
    }

    /// The `413` for a body over the bound (recorded in the audit log and metrics).
    pub fn body_too_large(&self) -> Verdict {
        let denial = Denial::invalid_request(format!(
            "the request body exceeds {} bytes",
            self.max_body_bytes
        ));
        let mut response = self.guard.render(&denial);
        response.status = 413;
        audit::record(
            Err(&denial),
            None,
            &DecidingRule::Check(checks::BODY_LIMIT),
            None,
            Some(response.status),
            None,
        );
        Verdict::Deny { denial, response }
    }

    /// The `400` for a body that could not be read (recorded in the audit log and metrics).
    pub fn unreadable_body(&self) -> Verdict {
        let denial = Denial::invalid_request("the request body could not be read");
        self.deny_recorded(
            denial,
            None,
            &DecidingRule::Check(checks::REQUEST),
            None,
            None,
        )
    }

    /// Renders a denial and records it.
    fn deny_recorded(
        &self,
        denial: Denial,
        principal: Option<&Principal>,
        rule: &DecidingRule,
        request: Option<&AccessRequest<'_>>,
        latency: Option<Duration>,
    ) -> Verdict {
        // The AuthSec profile words the denial as the family does (one switch: the delivery).
        let unmapped_tool = *rule == DecidingRule::Check(checks::MANIFEST);
        let wire =
            self.delivery
                .wire_denial(&denial, unmapped_tool, principal, self.realm.as_deref());
        let inband = request.and_then(|request| {
            self.delivery.render(
                &wire,
                request.mcp,
                !matches!(request.authorization, Authorization::Absent),
                self.guard.resource().metadata_url(),
            )
        });
        let response = inband.unwrap_or_else(|| self.guard.render(&wire));
        audit::record(
            Err(&denial),
            principal,
            rule,
            request,
            Some(response.status),
            latency,
        );
        Verdict::Deny { denial, response }
    }

    /// Classifies and checks one request to a protected path, and records the decision: one
    /// audit event and the decision metrics ([`crate::audit`]).
    pub async fn check<H: RequestHeaders + ?Sized>(
        &self,
        request: &IncomingRequest<'_, H>,
    ) -> Verdict {
        let started = audit::clock_start();
        let classified = match self.classify(request, started) {
            Ok(classified) => classified,
            Err(verdict) => return verdict,
        };
        let access = classified.access(request);
        let ruled = self.guard.check_with_rule_lean(&access).await;
        self.conclude(ruled, &access, started)
    }

    /// [`check`](Self::check) without awaiting, when the [`Guard`] can decide without I/O
    /// ([`Guard::check_now`]: a warm token, no revocation check, a policy that decides at once).
    /// `None` means call [`check`](Self::check), which gives the same verdict; adapters try this
    /// first so a warm request needs no boxed future. The usual request of a working session,
    /// one `tools/call` with a cached token on a Guard without a policy, is allowed through a
    /// shorter lane that reads and runs less code (`warm_tool_call`), with the same verdict
    /// and the same decision counted.
    pub fn check_now<H: RequestHeaders + ?Sized>(
        &self,
        request: &IncomingRequest<'_, H>,
    ) -> Option<Verdict> {
        if !self.guard.checks_synchronously() {
            return None;
        }
        let started = audit::clock_start();
        let classified = match self.classify(request, started) {
            Ok(classified) => classified,
            Err(verdict) => return Some(verdict),
        };
        // Nobody reads this decision's duration or audit event: the warm lane may answer.
        if started.is_none()
            && let Some(verdict) = self.warm_tool_call(&classified, request)
        {
            return Some(verdict);
        }
        let access = classified.access(request);
        let ruled = self.guard.check_now_lean(&access)?;
        Some(self.conclude(ruled, &access, started))
    }

    /// The warm lane: the usual request of a working session, one `tools/call` with a token
    /// from the verified-token cache, allowed without the checks' bookkeeping (the deciding
    /// rule, the audit event's fields). It answers only an allow that the checks would give,
    /// on a Guard and for a request where nothing else could change that answer; `None`
    /// sends the request on through the checks, which decide everything else, denials
    /// included (the `warm_lane` tests below compare the two request by request). It reads
    /// the request as classified for the checks, so nothing is read twice, and looks at the
    /// cache only for a single `tools/call`. `check_now` asks it only when neither the audit
    /// event nor the latency histogram wants the decision; it steps aside behind a trusted
    /// proxy and for a query string.
    #[inline]
    fn warm_tool_call<H: RequestHeaders + ?Sized>(
        &self,
        classified: &Classified<'_>,
        request: &IncomingRequest<'_, H>,
    ) -> Option<Verdict> {
        if request.query.is_some() || !self.guard.trusted_proxies().is_empty() {
            return None;
        }
        let [message] = classified.mcp.as_ref()?.messages() else {
            return None;
        };
        let tool = message.tool.as_deref().filter(|_| message.is_tool_call())?;
        let Authorization::One(value) = classified.authorization else {
            return None;
        };
        let token = bearer_credentials(Authorization::One(value), None).ok()??;
        let caller = self.guard.warm_caller(token)?;
        let session_id = request.headers.known_text(KnownHeader::McpSessionId);
        if !self.guard.warm_allows(&caller, tool, session_id) {
            return None;
        }
        metric::record_decision(None, None);
        Some(Verdict::Allow {
            principal: caller,
            lists_tools: false,
            client_ip: classified.client_ip,
        })
    }

    /// Everything about a request that is read before the Guard is asked: its MCP body, its
    /// `Authorization` header(s) and its client address. `Err` is the verdict for a body that
    /// is not JSON-RPC.
    fn classify<'r, H: RequestHeaders + ?Sized>(
        &self,
        request: &IncomingRequest<'r, H>,
        started: Option<std::time::Instant>,
    ) -> Result<Classified<'r>, Verdict> {
        let headers = request.headers;
        let mcp = match request.body {
            Some(body) => {
                let mcp_headers = McpHeaders {
                    method: headers.known_text(KnownHeader::McpMethod),
                    name: headers.known_text(KnownHeader::McpName),
                };
                match classify(body, mcp_headers) {
                    Ok(mcp) => Some(mcp),
                    Err(denial) => {
                        return Err(self.deny_recorded(
                            denial,
                            None,
                            &DecidingRule::Check(checks::REQUEST),
                            None,
                            started.map(|s| s.elapsed()),
                        ));
                    }
                }
            }
            None => None,
        };
        let authorization = match headers.known(KnownHeader::Authorization) {
            (None, _) => Authorization::Absent,
            (Some(value), false) => Authorization::One(value),
            (Some(_), true) => Authorization::Many,
        };
        let client_ip = if self.guard.trusted_proxies().is_empty() {
            request.peer
        } else {
            client_ip::resolve(
                request.peer,
                headers.joined(headers::FORWARDED).as_deref(),
                headers.joined(headers::X_FORWARDED_FOR).as_deref(),
                self.guard.trusted_proxies(),
            )
        };
        Ok(Classified {
            mcp,
            authorization,
            client_ip,
        })
    }

    /// The verdict for the Guard's decision, recorded.
    #[inline]
    fn conclude(
        &self,
        ruled: RuledDecision,
        access: &AccessRequest<'_>,
        started: Option<std::time::Instant>,
    ) -> Verdict {
        match ruled.decision {
            Decision::Allow(principal) => {
                audit::record(
                    Ok(&principal),
                    None,
                    &ruled.rule,
                    Some(access),
                    None,
                    started.map(|s| s.elapsed()),
                );
                Verdict::Allow {
                    principal,
                    lists_tools: access.mcp.is_some_and(McpRequest::has_tools_list),
                    client_ip: access.client_ip,
                }
            }
            Decision::Deny(denial)
                if self.delivery.passes_handshake(
                    &denial,
                    access.mcp,
                    !matches!(access.authorization, Authorization::Absent),
                ) =>
            {
                audit::record(
                    Err(&denial),
                    ruled.principal.as_ref(),
                    &ruled.rule,
                    Some(access),
                    None,
                    started.map(|s| s.elapsed()),
                );
                Verdict::PassThrough
            }
            Decision::Deny(denial) => self.deny_recorded(
                denial,
                ruled.principal.as_ref(),
                &ruled.rule,
                Some(access),
                started.map(|s| s.elapsed()),
            ),
        }
    }

    /// After the handler answered: binds a new `Mcp-Session-Id` to the principal.
    pub fn on_response(&self, principal: &Principal, session_id: Option<&str>) {
        if let Some(session_id) = session_id {
            self.guard.bind_session(session_id, principal);
        }
    }

    /// How to filter the response of an allowed request, from its `Content-Type` (read only
    /// when the request listed tools: most responses need no header look-up).
    pub fn response_filter<'a>(
        &self,
        lists_tools: bool,
        content_type: impl FnOnce() -> Option<&'a str>,
    ) -> ResponseFilter {
        if !lists_tools || !self.filter_tools_list {
            return ResponseFilter::None;
        }
        let content_type = content_type().unwrap_or("").trim().to_ascii_lowercase();
        if content_type.starts_with("text/event-stream") {
            ResponseFilter::Sse
        } else if content_type.starts_with("application/json") {
            ResponseFilter::Json
        } else {
            ResponseFilter::None
        }
    }

    /// The predicate `tools/list` filtering uses for `principal` calling from `client_ip`: a
    /// listed tool is one whose call would pass the scope check (with role bindings, under
    /// their conditions for this address).
    pub fn tool_filter(
        &self,
        principal: Principal,
        client_ip: Option<IpAddr>,
    ) -> impl Fn(&str) -> bool + Send + Sync + 'static {
        let guard = self.guard.clone();
        move |tool: &str| guard.may_call_from(&principal, tool, client_ip)
    }

    /// The streaming filter for a `text/event-stream` response ([`ResponseFilter::Sse`]):
    /// feed it the body's chunks, forward what it returns, flush with `finish` at the end.
    /// Partial events are held up to [`MAX_SSE_EVENT_BYTES`].
    pub fn sse_filter(
        &self,
        principal: Principal,
        client_ip: Option<IpAddr>,
    ) -> SseFilter<impl Fn(&str) -> bool + Send + Sync + 'static> {
        SseFilter::new(self.tool_filter(principal, client_ip), MAX_SSE_EVENT_BYTES)
    }

    /// Filters a buffered `application/json` response ([`ResponseFilter::Json`], at most
    /// [`MAX_TOOLS_LIST_BYTES`]). `None` means nothing was changed: forward the original bytes.
    pub fn filter_json(
        &self,
        principal: Principal,
        client_ip: Option<IpAddr>,
        body: &[u8],
    ) -> Option<Vec<u8>> {
        tools_list::filter_json(body, &self.tool_filter(principal, client_ip))
    }
}

/// What [`Protection::classify`] read from a request.
struct Classified<'r> {
    mcp: Option<McpRequest<'r>>,
    authorization: Authorization<'r>,
    client_ip: Option<IpAddr>,
}

impl<'r> Classified<'r> {
    /// The Guard's view of the request.
    fn access<'a, H: RequestHeaders + ?Sized>(
        &'a self,
        request: &IncomingRequest<'r, H>,
    ) -> AccessRequest<'a>
    where
        'r: 'a,
    {
        AccessRequest::new(self.authorization)
            .query(request.query)
            .mcp(self.mcp.as_ref())
            .session_id(request.headers.known_text(KnownHeader::McpSessionId))
            .client_ip(self.client_ip)
    }
}

/// The `502` sent instead of a JSON `tools/list` response that could not be read for filtering
/// (over [`MAX_TOOLS_LIST_BYTES`], or a body error): an unfiltered list is never forwarded.
pub fn unfilterable_tools_list() -> RenderedDenial {
    server_error(
        502,
        "the protected service's tools/list response could not be filtered",
    )
}

/// The `500` for a handler that asks for the authenticated principal where no authsec
/// middleware ran: a wiring mistake, never a reason to serve anonymously. `middleware` names
/// the adapter's middleware (`"AuthsecLayer"`, `"Authsec middleware"`).
pub fn principal_missing(middleware: &str) -> RenderedDenial {
    server_error(
        500,
        &format!(
            "authsec: no {middleware} covers this route, so there is no authenticated principal"
        ),
    )
}

fn server_error(status: u16, description: &str) -> RenderedDenial {
    RenderedDenial {
        status,
        www_authenticate: None,
        retry_after: None,
        content_type: "application/json",
        body: serde_json::json!({"error": "server_error", "error_description": description})
            .to_string(),
    }
}

/// The RFC 9728 Protected Resource Metadata endpoint of one guard: the paths to route, the
/// document, and the headers of both answers. It needs no token, so adapters route it outside
/// the protected prefix.
///
/// When the guard's manifest is live ([`Guard::has_live_manifest`]), [`document`](Self::document)
/// renders the document per request so `scopes_supported` follows the live policy.
#[derive(Clone, Debug)]
pub struct MetadataEndpoint {
    paths: Vec<String>,
    body: String,
    live: Option<Guard>,
}

impl PartialEq for MetadataEndpoint {
    fn eq(&self, other: &Self) -> bool {
        self.paths == other.paths
            && self.body == other.body
            && self.live.is_some() == other.live.is_some()
    }
}

impl Eq for MetadataEndpoint {}

impl MetadataEndpoint {
    /// Headers of the `200` answer to `GET`: JSON, cacheable for five minutes (the AuthSec
    /// family's value; a live policy changes `scopes_supported` every 30 s), readable from any
    /// origin (browser-based MCP clients fetch it cross-origin).
    pub const HEADERS: [(&'static str, &'static str); 3] = [
        ("content-type", "application/json"),
        ("cache-control", "public, max-age=300"),
        ("access-control-allow-origin", "*"),
    ];

    /// Status of the answer to a CORS preflight (`OPTIONS`).
    pub const PREFLIGHT_STATUS: u16 = 204;

    /// Headers of the answer to a CORS preflight (`OPTIONS`).
    pub const PREFLIGHT_HEADERS: [(&'static str, &'static str); 3] = [
        ("access-control-allow-origin", "*"),
        ("access-control-allow-methods", "GET, OPTIONS"),
        ("access-control-allow-headers", "*"),
    ];

    /// The path-based well-known URL (`/.well-known/oauth-protected-resource/mcp` for
    /// `https://h/mcp`) and, since one guard is one resource, the root form
    /// `/.well-known/oauth-protected-resource` too.
    pub fn new(guard: &Guard) -> Self {
        let mut endpoint = Self::path_only(guard);
        let root = "/.well-known/oauth-protected-resource";
        if !endpoint.paths.iter().any(|path| path == root) {
            endpoint.paths.push(root.to_owned());
        }
        endpoint
    }

    /// Only the path-based URL: for servers that protect several resources and route one
    /// endpoint per guard.
    pub fn path_only(guard: &Guard) -> Self {
        MetadataEndpoint {
            paths: vec![guard.resource().metadata_path().to_owned()],
            body: guard.metadata().to_json(),
            live: guard.has_live_manifest().then(|| guard.clone()),
        }
    }

    /// The paths to route, path form first.
    pub fn paths(&self) -> &[String] {
        &self.paths
    }

    /// The JSON document as rendered when the endpoint was built.
    pub fn body(&self) -> &str {
        &self.body
    }

    /// The JSON document to serve now: [`body`](Self::body), or a fresh rendering when the
    /// manifest is live.
    pub fn document(&self) -> String {
        match &self.live {
            Some(guard) => guard.metadata().to_json(),
            None => self.body.clone(),
        }
    }
}

impl RenderedDenial {
    /// Every header of the response, ready to copy: `Content-Type`, `Cache-Control`, and
    /// `WWW-Authenticate` / `Retry-After` when present.
    pub fn headers(&self) -> Vec<(&'static str, &str)> {
        let mut headers = vec![
            ("content-type", self.content_type),
            ("cache-control", "no-store"),
        ];
        if let Some(challenge) = &self.www_authenticate {
            headers.push(("www-authenticate", challenge));
        }
        if let Some(retry) = &self.retry_after {
            headers.push(("retry-after", retry));
        }
        headers
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verifier::RejectAll;

    mod warm_lane {
        use std::sync::Arc;

        use async_trait::async_trait;
        use serde_json::{Value, json};

        use super::*;
        use crate::clock::ManualClock;
        use crate::guard::GuardBuilder;
        use crate::manifest::ToolManifest;
        use crate::principal::{Claims, TokenSource};
        use crate::verifier::TokenVerifier;
        use crate::verifier::{Policy, PolicyOutcome, PolicyRequest};

        const NOW: u64 = 1_800_000_000;

        /// Accepts every token: the subject is the text before `.`, the scopes `notes:read`,
        /// and `notes:write` too when the token holds `write`; valid for 60 s.
        struct Stub;

        #[async_trait]
        impl TokenVerifier for Stub {
            async fn verify(&self, token: &str) -> Result<Claims, Denial> {
                let scope = if token.contains("write") {
                    "notes:read notes:write"
                } else {
                    "notes:read"
                };
                let Value::Object(map) = json!({"sub": token.split('.').next(),
                    "aud": "https://h/mcp", "exp": NOW + 60, "scope": scope})
                else {
                    unreachable!()
                };
                Claims::from_map(map, TokenSource::Jwt).map_err(Denial::invalid_token)
            }
        }

        struct AllowAll;

        #[async_trait]
        impl Policy for AllowAll {
            async fn evaluate(&self, _request: &PolicyRequest<'_>) -> Result<(), Denial> {
                Ok(())
            }

            fn decides_now(&self) -> bool {
                true
            }

            fn evaluate_now(&self, _request: &PolicyRequest<'_>) -> Option<PolicyOutcome> {
                Some(PolicyOutcome::new(Ok(())))
            }
        }

        fn builder(clock: &Arc<ManualClock>) -> GuardBuilder {
            Guard::builder("https://h/mcp")
                .authorization_server("https://as")
                .verifier(Stub)
                .manifest(
                    ToolManifest::new()
                        .tool("list_notes", ["notes:read"])
                        .tool("add_note", ["notes:write"]),
                )
                .clock(clock.clone())
        }

        fn call(tool: &str) -> String {
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"{tool}","arguments":{{}}}}}}"#
            )
        }

        fn described(verdict: &Verdict) -> String {
            match verdict {
                Verdict::Allow {
                    principal,
                    lists_tools,
                    client_ip,
                } => format!("allow {} {lists_tools} {client_ip:?}", principal.subject()),
                Verdict::Deny { denial, response } => {
                    format!("deny {} {}", denial.code().as_str(), response.status)
                }
                other => format!("{other:?}"),
            }
        }

        /// A request's headers, query and body.
        type Request<'a> = (Vec<(&'a str, &'a str)>, Option<&'a str>, String);

        /// Each request, warm, through the lane and through the checks: where the lane
        /// answers, the checks answer the same; returns how many the lane answered.
        async fn agree(protection: &Protection, requests: &[Request<'_>]) -> Vec<bool> {
            let mut answered = Vec::new();
            for (headers, query, body) in requests {
                let request = IncomingRequest::new(headers.as_slice())
                    .query(*query)
                    .peer(Some([127, 0, 0, 1].into()))
                    .body(Some(body.as_bytes()));
                // Warm the token (and bind what the checks bind), then ask both.
                protection.check(&request).await;
                let lane = protection
                    .classify(&request, None)
                    .ok()
                    .and_then(|classified| protection.warm_tool_call(&classified, &request))
                    .map(|v| described(&v));
                let checked = described(&protection.check(&request).await);
                if let Some(lane) = &lane {
                    assert_eq!(lane, &checked, "{headers:?} {query:?} {body}");
                }
                answered.push(lane.is_some());
            }
            answered
        }

        #[tokio::test]
        async fn answers_only_the_allows_the_checks_give() {
            let clock = Arc::new(ManualClock::new(NOW));
            let auth = |token: &'static str| ("authorization", token);
            let requests = vec![
                (vec![auth("Bearer alice.1")], None, call("list_notes")),
                (vec![auth("Bearer alice.write")], None, call("add_note")),
                (vec![auth("bearer   alice.1 ")], None, call("list_notes")),
                // Each of these the checks decide.
                (vec![auth("Bearer alice.1")], None, call("add_note")),
                (vec![auth("Bearer alice.1")], None, call("rm_rf")),
                (
                    vec![auth("Bearer alice.1"), auth("Bearer alice.1")],
                    None,
                    call("list_notes"),
                ),
                (vec![auth("Basic YWxpY2U6cHc=")], None, call("list_notes")),
                (vec![], None, call("list_notes")),
                (
                    vec![auth("Bearer alice.1")],
                    Some("access_token=alice.1"),
                    call("list_notes"),
                ),
                (
                    vec![auth("Bearer alice.1")],
                    Some("x=1"),
                    call("list_notes"),
                ),
                (
                    vec![auth("Bearer alice.1")],
                    None,
                    r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#.into(),
                ),
                (
                    vec![auth("Bearer alice.1")],
                    None,
                    format!("[{}]", call("list_notes")),
                ),
                (vec![auth("Bearer alice.1")], None, "not json".into()),
                (
                    vec![auth("Bearer alice.1"), ("mcp-name", "add_note")],
                    None,
                    call("list_notes"),
                ),
                (
                    vec![auth("Bearer alice.1"), ("mcp-name", "list_notes")],
                    None,
                    call("list_notes"),
                ),
                (
                    vec![auth("Bearer alice.1"), ("mcp-session-id", "s-bob")],
                    None,
                    call("list_notes"),
                ),
                (
                    vec![auth("Bearer alice.1"), ("mcp-session-id", "s-alice")],
                    None,
                    call("list_notes"),
                ),
                (
                    vec![auth("Bearer alice.1"), ("mcp-session-id", "s-new")],
                    None,
                    call("list_notes"),
                ),
            ];
            let protection = Protection::new(builder(&clock).build().unwrap());
            let guard = protection.guard();
            for (session, token) in [("s-bob", "bob.1"), ("s-alice", "alice.1")] {
                let principal = guard.authenticate(token).await.unwrap();
                guard.bind_session(session, &principal);
            }
            let answered = agree(&protection, &requests).await;
            // The lane takes the plain warm calls (a batch of one is one call; its own
            // session, or a session the checks bound on the first pass) and steps aside for
            // everything else.
            assert_eq!(
                answered,
                [
                    true, true, true, false, false, false, false, false, false, false, false, true,
                    false, false, true, false, true, true
                ]
            );

            // Guards and requests it never answers: all of them go through the checks.
            let plain = &requests[..3];
            for protection in [
                Protection::new(builder(&clock).policy(AllowAll).build().unwrap()),
                Protection::new(
                    builder(&clock)
                        .require_scopes(["notes:read"])
                        .build()
                        .unwrap(),
                ),
                Protection::new(
                    builder(&clock)
                        .trusted_proxies(["10.0.0.0/8"])
                        .build()
                        .unwrap(),
                ),
            ] {
                assert_eq!(agree(&protection, plain).await, [false, false, false]);
            }
            // An expired token (past its `exp` and the leeway): the checks refuse it.
            clock.advance(60 + crate::jwt::DEFAULT_LEEWAY_SECONDS);
            assert_eq!(agree(&protection, plain).await, [false, false, false]);
            let headers = [auth("Bearer alice.1")];
            let request = IncomingRequest::new(&headers[..]).body(Some(requests[0].2.as_bytes()));
            assert_eq!(
                described(&protection.check(&request).await),
                "deny invalid_token 401"
            );
        }
    }

    fn protection() -> Protection {
        let guard = Guard::builder("https://h/mcp")
            .authorization_server("https://as")
            .verifier(RejectAll)
            .build()
            .unwrap();
        Protection::new(guard)
    }

    #[test]
    fn a_body_buffer_keeps_one_chunk_joins_more_and_holds_its_bound() {
        let one = b"{\"method\":\"ping\"}".to_vec();
        let at = one.as_ptr();
        let mut buffer = BodyBuffer::new(100);
        buffer.push(one).unwrap();
        let kept = buffer.take();
        assert_eq!(kept, b"{\"method\":\"ping\"}");
        assert_eq!(kept.as_ptr(), at, "one chunk is not copied");
        for (chunks, joined) in [
            (&["{\"a\"", ":1", "}"][..], "{\"a\":1}"),
            (&["", "{}", ""][..], "{}"),
            (&["", "", "x", "", "y"][..], "xy"),
            (&[][..], ""),
        ] {
            let mut buffer = BodyBuffer::new(100);
            for chunk in chunks {
                buffer.push(chunk.as_bytes().to_vec()).unwrap();
            }
            assert_eq!(buffer.take(), joined.as_bytes(), "{chunks:?}");
        }
        let mut buffer = BodyBuffer::new(5);
        buffer.push(b"123".to_vec()).unwrap();
        buffer.push(b"45".to_vec()).unwrap();
        assert_eq!(buffer.push(b"6".to_vec()), Err(BodyTooLarge));
        let mut exact = BodyBuffer::new(5);
        exact.push(b"12345".to_vec()).unwrap();
        assert_eq!(exact.take(), b"12345");
    }

    #[test]
    fn known_headers_are_named_slotted_and_read_through_the_lookup_by_default() {
        for (slot, header) in KnownHeader::ALL.into_iter().enumerate() {
            assert_eq!(header as usize, slot);
            assert_eq!(KnownHeader::from_name(header.name()), Some(header));
        }
        for other in [
            "Authorization",
            "mcp-session-idx",
            "mcp-nam",
            "forwarded",
            "",
        ] {
            assert_eq!(KnownHeader::from_name(other), None, "{other}");
        }
        // The pair-slice headers keep the default: `known` is `first_value` by name.
        let headers = [
            ("Authorization", "Bearer a"),
            ("MCP-Name", "add_note"),
            ("authorization", "Bearer b"),
        ];
        let headers = &headers[..];
        assert_eq!(
            headers.known(KnownHeader::Authorization),
            (Some(&b"Bearer a"[..]), true)
        );
        assert_eq!(headers.known_text(KnownHeader::McpName), Some("add_note"));
        assert_eq!(headers.known(KnownHeader::McpMethod), (None, false));
    }

    #[test]
    fn prefix_matching_is_segment_wise() {
        let p = protection();
        assert!(p.protects("/mcp"));
        assert!(p.protects("/mcp/"));
        assert!(p.protects("/mcp/x"));
        assert!(!p.protects("/mcpx"));
        assert!(!p.protects("/.well-known/oauth-protected-resource/mcp"));
        assert!(p.clone().protect_prefix("/").protects("/anything"));
    }

    #[tokio::test]
    async fn an_unparseable_body_is_refused_before_the_token() {
        let p = protection();
        let headers: [(&str, &str); 0] = [];
        let request = IncomingRequest::new(&headers[..]).body(Some(b"not json"));
        let Verdict::Deny { response, .. } = p.check(&request).await else {
            panic!()
        };
        assert_eq!(response.status, 400);
    }

    #[test]
    fn oversized_bodies_are_413_with_a_json_body() {
        let p = protection().max_body_bytes(10);
        assert!(p.declared_too_large(Some("11")));
        assert!(p.declared_too_large(Some(" 0011 ")));
        assert!(
            p.declared_too_large(Some("99999999999999999999999")),
            "past u64"
        );
        for within in ["10", "0", " 7", "", "+11", "-1", "1 1", "1e3", "11,11"] {
            assert!(!p.declared_too_large(Some(within)), "{within:?}");
        }
        assert!(!p.declared_too_large(None));
        let Verdict::Deny { response, .. } = p.body_too_large() else {
            panic!()
        };
        assert_eq!(response.status, 413);
        assert_eq!(
            response.headers(),
            [
                ("content-type", "application/json"),
                ("cache-control", "no-store"),
                (
                    "www-authenticate",
                    "Bearer error=\"invalid_request\", error_description=\"the request body exceeds 10 bytes\", resource_metadata=\"https://h/.well-known/oauth-protected-resource/mcp\""
                )
            ]
        );
    }

    #[test]
    fn metadata_is_served_at_the_path_form_and_the_root_form_once() {
        let guard = protection().guard().clone();
        let endpoint = MetadataEndpoint::new(&guard);
        assert_eq!(
            endpoint.paths(),
            [
                "/.well-known/oauth-protected-resource/mcp",
                "/.well-known/oauth-protected-resource"
            ]
        );
        assert_eq!(endpoint.body(), guard.metadata().to_json());
        assert_eq!(
            MetadataEndpoint::path_only(&guard).paths(),
            ["/.well-known/oauth-protected-resource/mcp"]
        );
        let root = Guard::builder("https://h")
            .authorization_server("https://as")
            .verifier(RejectAll)
            .build()
            .unwrap();
        assert_eq!(
            MetadataEndpoint::new(&root).paths(),
            ["/.well-known/oauth-protected-resource"]
        );
    }

    #[test]
    fn adapter_server_errors_are_json_and_uncacheable() {
        let missing = principal_missing("AuthsecLayer");
        assert_eq!(missing.status, 500);
        assert_eq!(
            missing.body,
            r#"{"error":"server_error","error_description":"authsec: no AuthsecLayer covers this route, so there is no authenticated principal"}"#
        );
        assert_eq!(
            missing.headers(),
            [
                ("content-type", "application/json"),
                ("cache-control", "no-store")
            ]
        );
        let unfilterable = unfilterable_tools_list();
        assert_eq!(unfilterable.status, 502);
        assert_eq!(
            unfilterable.body,
            r#"{"error":"server_error","error_description":"the protected service's tools/list response could not be filtered"}"#
        );
    }

    #[test]
    fn json_and_sse_filters_keep_the_tools_the_principal_may_call() {
        let guard = Guard::builder("https://h/mcp")
            .authorization_server("https://as")
            .verifier(RejectAll)
            .manifest(
                crate::ToolManifest::new()
                    .tool("list_notes", ["notes:read"])
                    .tool("add_note", ["notes:write"]),
            )
            .build()
            .unwrap();
        let p = Protection::new(guard);
        let mut raw = serde_json::Map::new();
        raw.insert("sub".into(), "alice".into());
        raw.insert("scope".into(), "notes:read".into());
        let claims = crate::Claims::from_map(raw, crate::TokenSource::Jwt).unwrap();
        let principal = Principal::new(claims, "t");
        let list = r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"list_notes"},{"name":"add_note"}]}}"#;
        let expected = serde_json::json!({"jsonrpc":"2.0","id":1,
            "result":{"cacheScope":"private","tools":[{"name":"list_notes"}]}});
        let json = p
            .filter_json(principal.clone(), None, list.as_bytes())
            .unwrap();
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&json).unwrap(),
            expected
        );
        assert_eq!(p.filter_json(principal.clone(), None, b"{}"), None);
        let mut sse = p.sse_filter(principal, None);
        let mut out = sse.push(format!("event: message\ndata: {list}\n").as_bytes());
        assert!(out.is_empty(), "an event is held until its blank line");
        out.extend(sse.push(b"\n"));
        out.extend(sse.finish());
        let out = String::from_utf8(out).unwrap();
        let data = out
            .strip_prefix("event: message\ndata: ")
            .and_then(|rest| rest.strip_suffix("\n\n"))
            .unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(data).unwrap(),
            expected
        );
    }

    #[test]
    fn only_tools_list_json_and_sse_responses_are_filtered() {
        let p = protection();
        assert_eq!(
            p.response_filter(true, || Some("text/event-stream")),
            ResponseFilter::Sse
        );
        assert_eq!(
            p.response_filter(true, || Some("application/json; charset=utf-8")),
            ResponseFilter::Json
        );
        assert_eq!(
            p.response_filter(false, || Some("application/json")),
            ResponseFilter::None
        );
        assert_eq!(
            p.response_filter(true, || Some("text/plain")),
            ResponseFilter::None
        );
    }
}
