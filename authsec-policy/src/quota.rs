//! Quotas: how many tool calls a user, a client, a plan or everyone together may make.
//!
//! A [`Quota`] is a [`Rate`] (e.g. 100 calls per minute) enforced with GCRA, the generic cell
//! rate algorithm: a burst of up to `limit` calls passes at once, then calls are admitted at
//! `limit / period` on average. Each bucket keeps one number, its *theoretical arrival time*, so
//! buckets are cheap, exact, and need no background refill. When a call is refused the answer
//! is `quota_exceeded` (429) with a `Retry-After` saying when the next call will be admitted.
//!
//! Who shares a bucket is the quota's [`QuotaKey`]: each user (`sub`), each client
//! (`client_id`), each plan (a claim, `plan` by default), or everyone (`global`). A quota
//! counts every `tools/call`, or only the tools it lists; with `per_tool` each tool has its own
//! bucket. The rate may depend on the caller's plan (`plans = { pro = "1000/minute" }`). Calls
//! refused by a rule are never counted.
//!
//! Buckets live in a [`QuotaStore`]: [`MemoryStore`] (in-process, the default) or, with the
//! `redis` feature, `RedisStore`, shared by every replica of the server. When the store cannot
//! answer, [`OnUnavailable`] decides: refuse with `authorization_unavailable` (503, the
//! default) or let the call through.
//!
//! ```toml
//! [[quotas]]
//! name = "writes"
//! per = "user"
//! rate = "100/minute"
//! tools = ["add_note"]
//! plans = { pro = "1000/minute" }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::str::FromStr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;

/// The claim holding a caller's plan, unless configured otherwise.
pub const DEFAULT_PLAN_CLAIM: &str = "plan";

/// `limit` calls per `period`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    limit: u32,
    period: Duration,
}

impl Rate {
    /// `limit` calls per `period`; `None` when `limit` is 0 or the period is shorter than one
    /// millisecond per call.
    pub fn new(limit: u32, period: Duration) -> Option<Rate> {
        let rate = Rate { limit, period };
        (limit > 0 && rate.emission_interval_ms() > 0).then_some(rate)
    }

    /// Buckets count in milliseconds: at most one call per millisecond of the period.
    fn of(limit: u32, seconds: u32) -> Rate {
        Rate {
            limit: limit.clamp(1, seconds.saturating_mul(1000)),
            period: Duration::from_secs(u64::from(seconds)),
        }
    }

    /// `limit` calls per second (1 to 1000).
    pub fn per_second(limit: u32) -> Rate {
        Self::of(limit, 1)
    }

    /// `limit` calls per minute (1 to 60 000).
    pub fn per_minute(limit: u32) -> Rate {
        Self::of(limit, 60)
    }

    /// `limit` calls per hour (at least 1).
    pub fn per_hour(limit: u32) -> Rate {
        Self::of(limit, 3600)
    }

    /// `limit` calls per day (at least 1).
    pub fn per_day(limit: u32) -> Rate {
        Self::of(limit, 86_400)
    }

    /// The number of calls in a burst.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// GCRA's emission interval: the average time between admitted calls, in milliseconds.
    pub fn emission_interval_ms(&self) -> u64 {
        let period_ms = u64::try_from(self.period.as_millis()).unwrap_or(u64::MAX);
        period_ms / u64::from(self.limit.max(1))
    }

    /// GCRA's burst tolerance: how far ahead of now a bucket may run, in milliseconds, so
    /// that exactly `limit` calls pass at once.
    pub fn burst_tolerance_ms(&self) -> u64 {
        self.emission_interval_ms()
            .saturating_mul(u64::from(self.limit.saturating_sub(1)))
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.period.as_secs();
        let unit = match (secs, self.period.subsec_nanos()) {
            (1, 0) => "second".to_owned(),
            (60, 0) => "minute".to_owned(),
            (3600, 0) => "hour".to_owned(),
            (86_400, 0) => "day".to_owned(),
            (s, 0) => format!("{s}s"),
            _ => format!("{}ms", self.period.as_millis()),
        };
        write!(f, "{}/{unit}", self.limit)
    }
}

impl FromStr for Rate {
    type Err = String;

    /// `100/minute`, `10/second`, `5000/hour`, `20000/day`, or a period with a unit:
    /// `30/10s`, `1/500ms`, `100/5m`, `10/2h`, `7/1d`.
    fn from_str(text: &str) -> Result<Rate, String> {
        let invalid = || {
            format!(
                "invalid rate {text:?}: expected CALLS/PERIOD such as \"100/minute\" or \"30/10s\""
            )
        };
        let (limit, period) = text.trim().split_once('/').ok_or_else(invalid)?;
        let limit: u32 = limit.trim().parse().map_err(|_| invalid())?;
        let period = period.trim();
        let period = match period {
            "second" | "s" => Duration::from_secs(1),
            "minute" | "m" => Duration::from_secs(60),
            "hour" | "h" => Duration::from_secs(3600),
            "day" | "d" => Duration::from_secs(86_400),
            _ => {
                let digits = period.trim_end_matches(|c: char| c.is_ascii_alphabetic());
                let count: u64 = digits.parse().map_err(|_| invalid())?;
                match &period[digits.len()..] {
                    "ms" => Duration::from_millis(count),
                    "s" => Duration::from_secs(count),
                    "m" => Duration::from_secs(count.saturating_mul(60)),
                    "h" => Duration::from_secs(count.saturating_mul(3600)),
                    "d" => Duration::from_secs(count.saturating_mul(86_400)),
                    _ => return Err(invalid()),
                }
            }
        };
        Rate::new(limit, period).ok_or_else(|| {
            format!("invalid rate {text:?}: the limit must be at least 1 and the period at least 1 ms per call")
        })
    }
}

/// Who shares a bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum QuotaKey {
    /// Each subject (`sub`, else `client_id`) has its own bucket.
    User,
    /// Each OAuth client (`client_id`) has its own bucket; tokens without one share a bucket.
    Client,
    /// Each plan (the plan claim) has its own bucket; callers without a plan share a bucket.
    Plan,
    /// One bucket for everyone.
    Global,
}

impl QuotaKey {
    /// How denials describe who shares a bucket: `per user`, `per client`, `per plan`,
    /// `shared by all callers`.
    pub fn describe(self) -> &'static str {
        match self {
            QuotaKey::User => "per user",
            QuotaKey::Client => "per client",
            QuotaKey::Plan => "per plan",
            QuotaKey::Global => "shared by all callers",
        }
    }

    /// The config spelling: `user`, `client`, `plan`, `global`.
    pub fn as_str(self) -> &'static str {
        match self {
            QuotaKey::User => "user",
            QuotaKey::Client => "client",
            QuotaKey::Plan => "plan",
            QuotaKey::Global => "global",
        }
    }
}

/// A rate limit on tool calls; see the [module documentation](self).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quota {
    pub(crate) name: String,
    pub(crate) key: QuotaKey,
    pub(crate) rate: Rate,
    pub(crate) tools: Option<Vec<String>>,
    pub(crate) per_tool: bool,
    pub(crate) plans: Vec<(String, Rate)>,
}

impl Quota {
    /// A quota named `name` (the name appears in the audit trail and the bucket keys) of `rate`
    /// per `key`, counting every tool call.
    pub fn new(name: impl Into<String>, key: QuotaKey, rate: Rate) -> Self {
        Quota {
            name: name.into(),
            key,
            rate,
            tools: None,
            per_tool: false,
            plans: Vec::new(),
        }
    }

    /// Counts only calls to these tools.
    pub fn tools<S: Into<String>>(mut self, tools: impl IntoIterator<Item = S>) -> Self {
        self.tools = Some(tools.into_iter().map(Into::into).collect());
        self
    }

    /// Gives each tool its own bucket (default: the counted tools share one).
    pub fn per_tool(mut self, per_tool: bool) -> Self {
        self.per_tool = per_tool;
        self
    }

    /// Callers whose plan claim is `plan` get `rate` instead.
    pub fn plan(mut self, plan: impl Into<String>, rate: Rate) -> Self {
        self.plans.push((plan.into(), rate));
        self
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn counts(&self, tool: &str) -> bool {
        self.tools
            .as_ref()
            .is_none_or(|tools| tools.iter().any(|t| t == tool))
    }

    pub(crate) fn rate_for(&self, plan: Option<&str>) -> Rate {
        plan.and_then(|plan| self.plans.iter().find(|(p, _)| p == plan))
            .map_or(self.rate, |(_, rate)| *rate)
    }

    /// The bucket key: the quota's name, then the caller's key, then the tool when `per_tool`.
    /// The caller's value is length-prefixed, so no subject can forge another's key.
    pub(crate) fn bucket_key(&self, value: &str, tool: &str) -> String {
        let mut key = format!(
            "{}:{}:{}:{value}",
            self.name,
            self.key.as_str(),
            value.len()
        );
        if self.per_tool {
            key.push(':');
            key.push_str(tool);
        }
        key
    }
}

/// What happens to a call when the quota store cannot answer in time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OnUnavailable {
    /// Refuse with `authorization_unavailable` (503, `Retry-After: 5`): no unmetered calls.
    #[default]
    Deny,
    /// Let the call through unmetered (and log a warning).
    Allow,
}

/// One bucket to check and count.
#[derive(Clone, Copy, Debug)]
pub struct Bucket<'a> {
    /// The bucket's key (unique per quota, caller and, for `per_tool`, tool).
    pub key: &'a str,
    /// Its rate.
    pub rate: Rate,
}

/// The answer of a [`QuotaStore`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Admission {
    /// Every bucket had room, and the call was counted in each.
    Admitted,
    /// The bucket at index `bucket` is full; nothing was counted. The next call would be
    /// admitted in `retry_after_ms`.
    Exceeded {
        /// Index into the buckets passed.
        bucket: usize,
        /// Milliseconds until the bucket admits a call again.
        retry_after_ms: u64,
    },
}

/// The store could not answer (unreachable, timed out, full).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("quota store unavailable: {0}")]
pub struct StoreError(pub String);

/// Where buckets live.
///
/// `acquire` must be atomic: checking every bucket and counting the call in all of them (only
/// if all have room) must not interleave with another call's, or concurrent calls could exceed
/// the limit.
#[async_trait]
pub trait QuotaStore: Send + Sync + 'static {
    /// Checks `buckets` and, if every one has room, counts one call in each. `now_ms` is the
    /// Guard's clock in milliseconds; a store shared by several servers may use its own clock
    /// instead, so that replicas with skewed clocks still agree.
    async fn acquire(&self, buckets: &[Bucket<'_>], now_ms: u64) -> Result<Admission, StoreError>;
}

/// GCRA on one bucket: the new theoretical arrival time, or how long to wait.
pub(crate) fn gcra(tat: Option<u64>, rate: Rate, now_ms: u64) -> Result<u64, u64> {
    let tat = tat.unwrap_or(now_ms).max(now_ms);
    let allowed_at = tat.saturating_sub(rate.burst_tolerance_ms());
    if allowed_at > now_ms {
        Err(allowed_at - now_ms)
    } else {
        Ok(tat.saturating_add(rate.emission_interval_ms()))
    }
}

/// Default bound on the buckets a [`MemoryStore`] keeps.
pub const DEFAULT_MEMORY_STORE_CAPACITY: usize = 1_000_000;

const SHARDS: usize = 16;

/// The in-process store: buckets in sharded maps, for a server running as one process.
///
/// A bucket whose calls have all drained is dropped when its shard grows, so memory follows the
/// number of callers active within one period. If more than the capacity are active at once,
/// new buckets are refused as [`StoreError`] (and the call follows [`OnUnavailable`]) rather
/// than evicting live buckets, which would hand out extra calls.
pub struct MemoryStore {
    shards: Box<[Mutex<HashMap<String, u64>>]>,
    per_shard: usize,
    hasher: RandomState,
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("capacity", &(self.per_shard * SHARDS))
            .finish_non_exhaustive()
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_MEMORY_STORE_CAPACITY)
    }
}

impl MemoryStore {
    /// A store of at most [`DEFAULT_MEMORY_STORE_CAPACITY`] live buckets.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store of at most about `capacity` live buckets.
    pub fn with_capacity(capacity: usize) -> Self {
        MemoryStore {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
            hasher: RandomState::new(),
        }
    }

    fn shard_of(&self, key: &str) -> usize {
        (self.hasher.hash_one(key) as usize) % SHARDS
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[async_trait]
impl QuotaStore for MemoryStore {
    async fn acquire(&self, buckets: &[Bucket<'_>], now_ms: u64) -> Result<Admission, StoreError> {
        // Lock every shard involved, in index order (no deadlock), for an atomic check-and-count.
        let mut shard_ids: Vec<usize> = buckets.iter().map(|b| self.shard_of(b.key)).collect();
        let bucket_shards = shard_ids.clone();
        shard_ids.sort_unstable();
        shard_ids.dedup();
        let mut guards: Vec<(usize, MutexGuard<'_, HashMap<String, u64>>)> = shard_ids
            .iter()
            .map(|&id| (id, lock(&self.shards[id])))
            .collect();
        let guard_of = |shard: usize| guards.iter().position(|(id, _)| *id == shard).unwrap_or(0);
        let positions: Vec<usize> = bucket_shards.iter().map(|&s| guard_of(s)).collect();
        let mut next = Vec::with_capacity(buckets.len());
        for (i, bucket) in buckets.iter().enumerate() {
            let map = &guards[positions[i]].1;
            match gcra(map.get(bucket.key).copied(), bucket.rate, now_ms) {
                Ok(tat) => next.push(tat),
                Err(wait) => {
                    return Ok(Admission::Exceeded {
                        bucket: i,
                        retry_after_ms: wait,
                    });
                }
            }
        }
        for (i, bucket) in buckets.iter().enumerate() {
            let map = &mut guards[positions[i]].1;
            if !map.contains_key(bucket.key) && map.len() >= self.per_shard {
                map.retain(|_, tat| *tat > now_ms);
                if map.len() >= self.per_shard {
                    return Err(StoreError(
                        "the in-process quota store is full of live buckets".into(),
                    ));
                }
            }
            map.insert(bucket.key.to_owned(), next[i]);
        }
        Ok(Admission::Admitted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_in_words_and_units() {
        assert_eq!("100/minute".parse::<Rate>().unwrap(), Rate::per_minute(100));
        assert_eq!(
            "30/10s".parse::<Rate>().unwrap(),
            Rate::new(30, Duration::from_secs(10)).unwrap()
        );
        assert_eq!(
            "1/500ms".parse::<Rate>().unwrap().emission_interval_ms(),
            500
        );
        assert_eq!(
            "7/1d".parse::<Rate>().unwrap(),
            Rate::new(7, Duration::from_secs(86_400)).unwrap()
        );
        assert_eq!(
            "ten/minute".parse::<Rate>().unwrap_err(),
            "invalid rate \"ten/minute\": expected CALLS/PERIOD such as \"100/minute\" or \"30/10s\""
        );
        assert!("0/minute".parse::<Rate>().is_err());
        assert!("2000/1s".parse::<Rate>().is_err());
        assert_eq!(Rate::per_minute(100).to_string(), "100/minute");
        assert_eq!(Rate::per_minute(1_000_000).emission_interval_ms(), 1);
        assert_eq!(Rate::per_second(0).limit(), 1);
        assert_eq!("3/10s".parse::<Rate>().unwrap().to_string(), "3/10s");
    }

    #[test]
    fn gcra_admits_a_burst_of_limit_then_one_per_interval() {
        let rate = Rate::per_minute(3); // one call every 20 s, bursts of 3
        let mut tat = None;
        for _ in 0..3 {
            tat = Some(gcra(tat, rate, 1_000_000).unwrap());
        }
        assert_eq!(gcra(tat, rate, 1_000_000), Err(20_000));
        assert_eq!(gcra(tat, rate, 1_019_999), Err(1));
        let after = gcra(tat, rate, 1_020_000).unwrap();
        assert_eq!(gcra(Some(after), rate, 1_020_000), Err(20_000));
    }

    #[tokio::test]
    async fn memory_store_counts_only_when_every_bucket_has_room() {
        let store = MemoryStore::new();
        let tight = Rate::per_minute(1);
        let loose = Rate::per_minute(100);
        let both = [
            Bucket {
                key: "loose",
                rate: loose,
            },
            Bucket {
                key: "tight",
                rate: tight,
            },
        ];
        assert_eq!(store.acquire(&both, 0).await, Ok(Admission::Admitted));
        assert_eq!(
            store.acquire(&both, 0).await,
            Ok(Admission::Exceeded {
                bucket: 1,
                retry_after_ms: 60_000
            })
        );
        // The refused call was not counted in the loose bucket: 99 more fit.
        for _ in 0..99 {
            assert_eq!(store.acquire(&both[..1], 0).await, Ok(Admission::Admitted));
        }
        assert!(matches!(
            store.acquire(&both[..1], 0).await,
            Ok(Admission::Exceeded { bucket: 0, .. })
        ));
    }

    #[tokio::test]
    async fn a_full_memory_store_refuses_new_buckets_but_reuses_drained_ones() {
        let store = MemoryStore::with_capacity(SHARDS); // one bucket per shard
        let rate = Rate::per_minute(1);
        let mut refused = 0;
        for i in 0..200 {
            let key = format!("k{i}");
            match store.acquire(&[Bucket { key: &key, rate }], 0).await {
                Ok(Admission::Admitted) => {}
                Err(StoreError(_)) => refused += 1,
                other => panic!("{other:?}"),
            }
        }
        let shards_hit: std::collections::HashSet<usize> =
            (0..200).map(|i| store.shard_of(&format!("k{i}"))).collect();
        assert_eq!(200 - refused, shards_hit.len());
        // A minute later every bucket has drained and new keys fit again.
        assert_eq!(
            store
                .acquire(&[Bucket { key: "fresh", rate }], 60_000)
                .await,
            Ok(Admission::Admitted)
        );
    }
}
