//! The Redis quota store: one set of buckets shared by every replica of a server.
//!
//! Each acquisition is one Lua script run on the Redis server, so checking every bucket and
//! counting the call in all of them is atomic however many replicas call at once, and the
//! script reads the Redis server's clock (`TIME`), so replicas whose clocks drift still agree.
//! Buckets expire by themselves once drained (`PX`). Keys are `{key_prefix}{quota}:{per}:…`.
//!
//! Every acquisition is bounded by a timeout (default [`DEFAULT_TIMEOUT`]) covering connecting,
//! reconnecting and the script's answer; past it, or on any error, the store reports
//! [`StoreError`] and the policy set applies its
//! [`OnUnavailable`](crate::OnUnavailable) behaviour: `authorization_unavailable` (503) by
//! default, or fail-open. The connection is made on first use and re-made after a failure, so a
//! server starts while Redis is down and recovers when it returns.
//!
//! Redis Cluster is not supported: a call's buckets may hash to different slots.
//!
//! ```no_run
//! use std::time::Duration;
//! use authsec_policy::{PolicySet, Quota, QuotaKey, Rate, RedisStore};
//!
//! let policies = PolicySet::builder()
//!     .quota(Quota::new("calls", QuotaKey::User, Rate::per_minute(100)))
//!     .store(RedisStore::new("redis://127.0.0.1:6379/0")?.timeout(Duration::from_millis(200)))
//!     .build()?;
//! # Ok::<(), authsec_core::ConfigError>(())
//! ```

use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

use async_trait::async_trait;
use authsec_core::ConfigError;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::quota::{Admission, Bucket, QuotaStore, StoreError};

/// The default bound on one acquisition.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(250);

/// The default prefix of bucket keys.
pub const DEFAULT_KEY_PREFIX: &str = "authsec:quota:";

/// GCRA over every bucket, all or nothing. KEYS: bucket keys. ARGV: emission interval and burst
/// tolerance (ms) per key. Returns {0, 0} when admitted, else {1-based index, wait in ms}.
const SCRIPT: &str = r#"
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local next_tat = {}
for i, key in ipairs(KEYS) do
  local emission = tonumber(ARGV[2 * i - 1])
  local tolerance = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', key) or now) or now
  if tat < now then tat = now end
  local allowed_at = tat - tolerance
  if allowed_at > now then
    return {i, allowed_at - now}
  end
  next_tat[i] = tat + emission
end
for i, key in ipairs(KEYS) do
  redis.call('SET', key, string.format('%.0f', next_tat[i]), 'PX', string.format('%.0f', next_tat[i] - now))
end
return {0, 0}
"#;

/// Buckets in Redis; see the [module documentation](self).
pub struct RedisStore {
    client: redis::Client,
    connection: OnceLock<ConnectionManager>,
    timeout: Duration,
    prefix: String,
    script: redis::Script,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("timeout", &self.timeout)
            .field("key_prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store at `url` (`redis://[user:password@]host:port/db`, or `rediss://` is refused: this
    /// build has no TLS). Nothing is connected until the first call.
    pub fn new(url: &str) -> Result<Self, ConfigError> {
        let client = redis::Client::open(url).map_err(|e| {
            ConfigError::new(format!(
                "the Redis URL is not usable ({}): {e}",
                redact(url)
            ))
        })?;
        Ok(RedisStore {
            client,
            connection: OnceLock::new(),
            timeout: DEFAULT_TIMEOUT,
            prefix: DEFAULT_KEY_PREFIX.to_owned(),
            script: redis::Script::new(SCRIPT),
        })
    }

    /// Bounds each acquisition, connection included (default [`DEFAULT_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Prefixes every bucket key (default [`DEFAULT_KEY_PREFIX`]), e.g. to share a Redis
    /// between servers.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    fn connection(&self) -> Result<ConnectionManager, StoreError> {
        if let Some(connection) = self.connection.get() {
            return Ok(connection.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(1));
        let manager = ConnectionManager::new_lazy_with_config(self.client.clone(), config)
            .map_err(|e| StoreError(format!("cannot set up the Redis connection: {e}")))?;
        Ok(self.connection.get_or_init(|| manager).clone())
    }

    async fn run(&self, buckets: &[Bucket<'_>]) -> Result<Admission, StoreError> {
        let mut connection = self.connection()?;
        let mut invocation = self.script.prepare_invoke();
        for bucket in buckets {
            invocation
                .key(format!("{}{}", self.prefix, bucket.key))
                .arg(bucket.rate.emission_interval_ms())
                .arg(bucket.rate.burst_tolerance_ms());
        }
        let (index, wait): (usize, u64) = invocation
            .invoke_async(&mut connection)
            .await
            .map_err(|e| StoreError(format!("Redis answered with an error: {e}")))?;
        Ok(match index {
            0 => Admission::Admitted,
            i => Admission::Exceeded {
                bucket: i - 1,
                retry_after_ms: wait,
            },
        })
    }
}

#[async_trait]
impl QuotaStore for RedisStore {
    /// Uses the Redis server's clock, not `now_ms`.
    async fn acquire(&self, buckets: &[Bucket<'_>], _now_ms: u64) -> Result<Admission, StoreError> {
        if buckets.is_empty() {
            return Ok(Admission::Admitted);
        }
        match tokio::time::timeout(self.timeout, self.run(buckets)).await {
            Ok(answer) => answer,
            Err(_) => Err(StoreError(format!(
                "no answer from Redis within {} ms",
                self.timeout.as_millis()
            ))),
        }
    }
}

/// The URL without its password, for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://…@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}
