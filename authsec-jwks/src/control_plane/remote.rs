//! The policy modes and the cached remote tool policy.
//!
//! Timings are the family's (H-2): a policy is fresh for 30 s; a read that finds it older starts
//! one background refresh and is served from the cache meanwhile; after a failed refresh the next
//! one waits 10 s; a policy whose refreshes keep failing is served up to 2 min after it was
//! fetched, then the tool requests get `503 authorization_unavailable` (or the local manifest,
//! in `remote_with_local_fallback`). An answer with `policy_complete: false` wipes the cache.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use authsec_core::{
    Clock, Denial, GuardBuilder, ManifestSource, SystemClock, ToolManifest, ToolRule,
};
use tokio::sync::Notify;

use super::ControlPlaneError;
use super::client::ControlPlane;

/// Where the tool → scope mapping comes from (`AUTHSEC_POLICY_MODE`). The one policy-mode
/// type: authsec-config re-exports it, and `authsec.toml` spells it in snake_case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PolicyMode {
    /// `remote_required` (alias `enforce`): AuthSec's tool policy, or 503 without it. The first
    /// fetch must succeed at start-up, unless the manifest is published (onboarding), in which
    /// case the server starts denying every tool.
    RemoteRequired,
    /// `remote_with_local_fallback`: AuthSec's tool policy when there is one, else the local
    /// tool scopes.
    RemoteWithLocalFallback,
    /// `local_only`: the local tool scopes only.
    LocalOnly,
    /// `open` (alias `observe`): every valid token may call every tool.
    Open,
}

impl PolicyMode {
    /// Every mode, in the family's order.
    pub const ALL: [PolicyMode; 4] = [
        PolicyMode::RemoteRequired,
        PolicyMode::RemoteWithLocalFallback,
        PolicyMode::LocalOnly,
        PolicyMode::Open,
    ];

    /// Parses an `AUTHSEC_POLICY_MODE` value as the family does: case-insensitive, with the
    /// aliases `enforce` and `observe`; `None` for empty or unknown values (then
    /// [`infer`](Self::infer) decides).
    pub fn parse_family(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "remote_required" | "enforce" => Some(PolicyMode::RemoteRequired),
            "remote_with_local_fallback" => Some(PolicyMode::RemoteWithLocalFallback),
            "local_only" => Some(PolicyMode::LocalOnly),
            "open" | "observe" => Some(PolicyMode::Open),
            _ => None,
        }
    }

    /// The family's inference when no mode is set: `remote_required` with a resource server
    /// id, else `local_only` with tool scopes, else `open`.
    pub fn infer(has_resource_server_id: bool, has_tool_scopes: bool) -> Self {
        if has_resource_server_id {
            PolicyMode::RemoteRequired
        } else if has_tool_scopes {
            PolicyMode::LocalOnly
        } else {
            PolicyMode::Open
        }
    }

    /// The canonical name (the family's spelling).
    pub const fn as_str(self) -> &'static str {
        match self {
            PolicyMode::RemoteRequired => "remote_required",
            PolicyMode::RemoteWithLocalFallback => "remote_with_local_fallback",
            PolicyMode::LocalOnly => "local_only",
            PolicyMode::Open => "open",
        }
    }

    /// Whether the mode reads the control plane.
    pub const fn is_remote(self) -> bool {
        matches!(
            self,
            PolicyMode::RemoteRequired | PolicyMode::RemoteWithLocalFallback
        )
    }
}

impl std::fmt::Display for PolicyMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for PolicyMode {
    type Err = String;

    /// Strict parsing (authsec.toml, the builder): the family's names and aliases, and an
    /// error for anything else (the environment's lenient form is
    /// [`parse_family`](Self::parse_family)).
    fn from_str(value: &str) -> Result<Self, String> {
        Self::parse_family(value).ok_or_else(|| {
            format!(
                "unknown policy mode {value:?}: expected remote_required (enforce), remote_with_local_fallback, local_only or open (observe)"
            )
        })
    }
}

/// The cache timings (the family's defaults).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PolicyTimings {
    /// How long a fetched policy is fresh: 30 s (`AUTHSEC_*` `ScopeMatrixTTL`).
    pub ttl: Duration,
    /// How long after its fetch a policy is still served while refreshes fail: 2 min.
    pub max_stale: Duration,
    /// How long after a failed fetch the next one may start: 10 s.
    pub retry_after: Duration,
    /// The bound on one background refresh: 10 s.
    pub refresh_timeout: Duration,
}

impl Default for PolicyTimings {
    fn default() -> Self {
        PolicyTimings {
            ttl: Duration::from_secs(30),
            max_stale: Duration::from_secs(120),
            retry_after: Duration::from_secs(10),
            refresh_timeout: Duration::from_secs(10),
        }
    }
}

/// What the cache holds; replaced whole on each refresh.
#[derive(Debug, Default)]
struct Snapshot {
    manifest: Option<Arc<ToolManifest>>,
    scopes_supported: Option<Vec<String>>,
    generation: Option<u64>,
    /// When `manifest` was fetched.
    fetched_at: Option<u64>,
    /// When the last fetch failed; cleared by a success.
    failed_at: Option<u64>,
    /// Why it failed (operators' eyes only: it may name the control plane URL).
    last_error: Option<String>,
    /// The policy was incomplete (`policy_complete: false`), with its state.
    incomplete: Option<String>,
}

struct Shared {
    plane: ControlPlane,
    state: ArcSwap<Snapshot>,
    refreshing: AtomicBool,
    settled: Notify,
    fetches: AtomicU64,
    fallback: Option<Arc<ToolManifest>>,
    timings: PolicyTimings,
    clock: Arc<dyn Clock>,
}

/// AuthSec's remote tool policy as a live [`ManifestSource`]: cheap to clone, read without a
/// lock, refreshed in the background as a single flight.
#[derive(Clone)]
pub struct RemoteToolPolicy {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for RemoteToolPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.shared.state.load();
        f.debug_struct("RemoteToolPolicy")
            .field(
                "resource_server_id",
                &self.shared.plane.resource_server_id(),
            )
            .field("generation", &state.generation)
            .field("fetched_at", &state.fetched_at)
            .field("failed_at", &state.failed_at)
            .finish_non_exhaustive()
    }
}

/// Resets the single-flight flag however the refresh ends (success, error, timeout, drop).
struct InFlight<'a>(&'a Shared);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.refreshing.store(false, Ordering::Release);
        self.0.settled.notify_waiters();
    }
}

fn secs(duration: Duration) -> u64 {
    duration.as_secs()
}

impl Shared {
    /// Claims the single flight; false when a refresh is already running. The claimer wraps
    /// itself in an [`InFlight`] at once, so the claim is released however it ends.
    fn try_claim(&self) -> bool {
        self.refreshing
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Fetches and stores the policy. The caller holds the single flight.
    async fn refresh(&self, _flight: &InFlight<'_>) -> Result<(), ControlPlaneError> {
        let url = self.plane.policy_url();
        let fetched =
            match tokio::time::timeout(self.timings.refresh_timeout, self.plane.fetch_policy())
                .await
            {
                Ok(result) => result,
                Err(_) => Err(ControlPlaneError::Fetch(crate::FetchError::Timeout {
                    url: url.clone(),
                    timeout: self.timings.refresh_timeout,
                })),
            };
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let now = self.clock.now();
        let previous = self.state.load_full();
        let outcome = fetched.and_then(|document| document.interpret(&url));
        let next = match &outcome {
            Ok(policy) => {
                tracing::debug!(generation = ?policy.generation, "AuthSec tool policy refreshed");
                Snapshot {
                    manifest: Some(Arc::new(policy.manifest.clone())),
                    scopes_supported: policy
                        .scopes_supported
                        .clone()
                        .or_else(|| previous.scopes_supported.clone()),
                    generation: policy.generation,
                    fetched_at: Some(now),
                    failed_at: None,
                    last_error: None,
                    incomplete: None,
                }
            }
            Err(ControlPlaneError::PolicyIncomplete { state, .. }) => Snapshot {
                generation: previous.generation,
                failed_at: Some(now),
                last_error: outcome.as_ref().err().map(ToString::to_string),
                incomplete: Some(state.clone()),
                ..Snapshot::default()
            },
            Err(error) => Snapshot {
                manifest: previous.manifest.clone(),
                scopes_supported: previous.scopes_supported.clone(),
                generation: previous.generation,
                fetched_at: previous.fetched_at,
                failed_at: Some(now),
                last_error: Some(error.to_string()),
                incomplete: None,
            },
        };
        if let Err(error) = &outcome {
            tracing::warn!(%error, "AuthSec tool policy refresh failed");
        }
        self.state.store(Arc::new(next));
        outcome.map(|_| ())
    }

    /// Whether a read at `now` should start a refresh: the policy is missing or older than the
    /// TTL, and the last failure (if any) is older than the retry delay.
    fn wants_refresh(&self, state: &Snapshot, now: u64) -> bool {
        let stale = match (state.manifest.as_ref(), state.fetched_at) {
            (Some(_), Some(at)) => now.saturating_sub(at) >= secs(self.timings.ttl),
            _ => true,
        };
        let backing_off = state
            .failed_at
            .is_some_and(|at| now.saturating_sub(at) < secs(self.timings.retry_after));
        stale && !backing_off
    }

    /// The remote manifest usable at `now`: none without a policy, none when it is older than
    /// the max stale age and refreshes fail.
    fn usable(&self, state: &Snapshot, now: u64) -> Option<Arc<ToolManifest>> {
        let manifest = state.manifest.as_ref()?;
        let too_old = state.failed_at.is_some()
            && state
                .fetched_at
                .is_none_or(|at| now.saturating_sub(at) > secs(self.timings.max_stale));
        (!too_old).then(|| manifest.clone())
    }
}

impl RemoteToolPolicy {
    fn new(
        plane: ControlPlane,
        fallback: Option<ToolManifest>,
        timings: PolicyTimings,
        clock: Arc<dyn Clock>,
    ) -> Self {
        RemoteToolPolicy {
            shared: Arc::new(Shared {
                plane,
                state: ArcSwap::from_pointee(Snapshot::default()),
                refreshing: AtomicBool::new(false),
                settled: Notify::new(),
                fetches: AtomicU64::new(0),
                fallback: fallback.map(Arc::new),
                timings,
                clock,
            }),
        }
    }

    /// Fetches the policy now, or waits for the refresh already running and reports success
    /// when it left a usable policy.
    pub async fn refresh_now(&self) -> Result<(), ControlPlaneError> {
        match self.shared.try_claim() {
            true => {
                let flight = InFlight(&self.shared);
                self.shared.refresh(&flight).await
            }
            false => {
                self.settled().await;
                let state = self.shared.state.load();
                match self.shared.usable(&state, self.shared.clock.now()) {
                    Some(_) => Ok(()),
                    None => Err(ControlPlaneError::PolicyUnavailable(
                        state
                            .last_error
                            .clone()
                            .unwrap_or_else(|| "no policy was fetched yet".into()),
                    )),
                }
            }
        }
    }

    /// Waits until no refresh is running (tests, graceful shutdown).
    pub async fn settled(&self) {
        loop {
            let notified = self.shared.settled.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if !self.shared.refreshing.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }

    /// How many fetches of `sdk-policy` completed (successful or not).
    pub fn fetches(&self) -> u64 {
        self.shared.fetches.load(Ordering::Relaxed)
    }

    /// `generation` of the cached policy.
    pub fn generation(&self) -> Option<u64> {
        self.shared.state.load().generation
    }

    /// Why the last refresh failed, while it has not succeeded since (for operators: may name
    /// the control plane URL, never a secret).
    pub fn last_error(&self) -> Option<String> {
        self.shared.state.load().last_error.clone()
    }

    /// Starts a background refresh when the cache wants one and none is running. Needs a tokio
    /// runtime (the request path has one); without one, nothing happens.
    fn maybe_refresh(&self, state: &Snapshot, now: u64) {
        if !self.shared.wants_refresh(state, now) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if !self.shared.try_claim() {
            return;
        }
        let shared = self.shared.clone();
        runtime.spawn(async move {
            let flight = InFlight(&shared);
            let _ = shared.refresh(&flight).await;
        });
    }

    fn unavailable(&self, state: &Snapshot, now: u64) -> Denial {
        let description = match &state.incomplete {
            Some(lifecycle) => format!(
                "the tool policy of this resource server is incomplete (state {:?}): every tool is \
                 denied until its setup is finished",
                lifecycle.chars().take(32).collect::<String>()
            ),
            None => "the tool policy could not be fetched from the authorization server".to_owned(),
        };
        let wait = state.failed_at.map_or(1, |at| {
            secs(self.shared.timings.retry_after)
                .saturating_sub(now.saturating_sub(at))
                .max(1)
        });
        Denial::policy_unavailable(description).with_retry_after(wait)
    }
}

impl ManifestSource for RemoteToolPolicy {
    fn current(&self) -> Result<Arc<ToolManifest>, Denial> {
        let state = self.shared.state.load();
        let now = self.shared.clock.now();
        self.maybe_refresh(&state, now);
        match (self.shared.usable(&state, now), &self.shared.fallback) {
            (Some(manifest), _) => Ok(manifest),
            (None, Some(local)) => Ok(local.clone()),
            (None, None) => Err(self.unavailable(&state, now)),
        }
    }

    fn scopes_supported(&self) -> Option<Vec<String>> {
        let state = self.shared.state.load();
        let now = self.shared.clock.now();
        self.maybe_refresh(&state, now);
        let stale_with_error = state.failed_at.is_some()
            && state
                .fetched_at
                .is_none_or(|at| now.saturating_sub(at) > secs(self.shared.timings.max_stale));
        if stale_with_error {
            return None;
        }
        state.scopes_supported.clone()
    }
}

/// The tool policy of one resource server, started in one of the [`PolicyMode`]s.
#[derive(Clone, Debug)]
pub struct ToolPolicy {
    mode: PolicyMode,
    fixed: Option<ToolManifest>,
    remote: Option<RemoteToolPolicy>,
}

/// Configuration of a [`ToolPolicy`].
#[must_use]
pub struct ToolPolicyBuilder {
    mode: PolicyMode,
    control_plane: Option<ControlPlane>,
    local: Option<ToolManifest>,
    publish_manifest: bool,
    timings: PolicyTimings,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for ToolPolicyBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolPolicyBuilder")
            .field("mode", &self.mode)
            .field("control_plane", &self.control_plane)
            .field("publish_manifest", &self.publish_manifest)
            .field("timings", &self.timings)
            .finish_non_exhaustive()
    }
}

impl ToolPolicy {
    /// Starts configuring a policy in `mode`.
    pub fn builder(mode: PolicyMode) -> ToolPolicyBuilder {
        ToolPolicyBuilder {
            mode,
            control_plane: None,
            local: None,
            publish_manifest: false,
            timings: PolicyTimings::default(),
            clock: Arc::new(SystemClock),
        }
    }

    /// The mode.
    pub fn mode(&self) -> PolicyMode {
        self.mode
    }

    /// The remote policy, in the remote modes.
    pub fn remote(&self) -> Option<&RemoteToolPolicy> {
        self.remote.as_ref()
    }

    /// Gives the Guard its manifest: the live remote policy, or the fixed local (or open) one.
    pub fn apply(&self, builder: GuardBuilder) -> GuardBuilder {
        match (&self.remote, &self.fixed) {
            (Some(remote), _) => builder.manifest_source(remote.clone()),
            (None, Some(fixed)) => builder.manifest(fixed.clone()),
            (None, None) => builder,
        }
    }
}

impl ToolPolicyBuilder {
    /// The control plane (required in the remote modes).
    pub fn control_plane(mut self, control_plane: ControlPlane) -> Self {
        self.control_plane = Some(control_plane);
        self
    }

    /// The local tool scopes (`AUTHSEC_TOOL_SCOPES_JSON`, or a manifest from `authsec.toml`):
    /// the policy of `local_only`, the fallback of `remote_with_local_fallback`.
    pub fn local_manifest(mut self, manifest: ToolManifest) -> Self {
        self.local = Some(manifest);
        self
    }

    /// Whether the manifest is published at start-up (`AUTHSEC_PUBLISH_MANIFEST`): in
    /// `remote_required` a failed first fetch then only logs and the server starts denying
    /// every tool, since the policy is being set up from the published manifest.
    pub fn publish_manifest(mut self, publish: bool) -> Self {
        self.publish_manifest = publish;
        self
    }

    /// How long a policy is fresh (default 30 s).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.timings.ttl = ttl;
        self
    }

    /// How long after its fetch a policy is served while refreshes fail (default 2 min).
    pub fn max_stale(mut self, max_stale: Duration) -> Self {
        self.timings.max_stale = max_stale;
        self
    }

    /// How long after a failed fetch the next one may start (default 10 s).
    pub fn retry_after(mut self, retry_after: Duration) -> Self {
        self.timings.retry_after = retry_after;
        self
    }

    /// The bound on one refresh (default 10 s).
    pub fn refresh_timeout(mut self, timeout: Duration) -> Self {
        self.timings.refresh_timeout = timeout;
        self
    }

    /// Replaces the clock (tests).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Starts the policy with the family's start-up behaviour:
    /// - `remote_required`: the first fetch must succeed (else the error), unless the manifest
    ///   is published, in which case it logs and starts denying every tool (503);
    /// - `remote_with_local_fallback`: needs local tool scopes; a failed first fetch is logged;
    /// - `local_only`: the local tool scopes (none: every tool denied);
    /// - `open`: every tool public.
    pub async fn start(self) -> Result<ToolPolicy, ControlPlaneError> {
        let mode = self.mode;
        let fixed = |manifest: ToolManifest| {
            Ok(ToolPolicy {
                mode,
                fixed: Some(manifest),
                remote: None,
            })
        };
        match mode {
            PolicyMode::LocalOnly => return fixed(self.local.unwrap_or_default()),
            PolicyMode::Open => {
                return fixed(ToolManifest::new().default_rule(ToolRule::public()));
            }
            PolicyMode::RemoteRequired | PolicyMode::RemoteWithLocalFallback => {}
        }
        let Some(plane) = self.control_plane else {
            return Err(ControlPlaneError::Config(format!(
                "policy mode {mode} needs the AuthSec control plane: set the resource server id \
                 (AUTHSEC_RESOURCE_SERVER_ID) and the introspection client id and secret"
            )));
        };
        let fallback = match mode {
            PolicyMode::RemoteWithLocalFallback => Some(self.local.ok_or_else(|| {
                ControlPlaneError::Config(
                    "policy mode remote_with_local_fallback needs local tool scopes \
                     (AUTHSEC_TOOL_SCOPES_JSON) to fall back on"
                        .into(),
                )
            })?),
            _ => None,
        };
        if let Some(local) = &fallback {
            local
                .validate()
                .map_err(|e| ControlPlaneError::Config(e.to_string()))?;
        }
        let remote = RemoteToolPolicy::new(plane, fallback, self.timings, self.clock);
        if let Err(error) = remote.refresh_now().await {
            match mode {
                PolicyMode::RemoteRequired if !self.publish_manifest => return Err(error),
                PolicyMode::RemoteRequired => tracing::warn!(
                    %error,
                    "AuthSec tool policy unavailable at start-up; denying every tool until the \
                     published manifest is mapped in the dashboard"
                ),
                _ => tracing::warn!(
                    %error,
                    "AuthSec tool policy unavailable at start-up; using the local tool scopes"
                ),
            }
        }
        Ok(ToolPolicy {
            mode,
            fixed: None,
            remote: Some(remote),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_with_the_family_aliases_and_infer_like_it() {
        assert_eq!(
            PolicyMode::parse_family(" ENFORCE "),
            Some(PolicyMode::RemoteRequired)
        );
        assert_eq!(
            PolicyMode::parse_family("remote_required"),
            Some(PolicyMode::RemoteRequired)
        );
        assert_eq!(
            PolicyMode::parse_family("Remote_With_Local_Fallback"),
            Some(PolicyMode::RemoteWithLocalFallback)
        );
        assert_eq!(
            PolicyMode::parse_family("local_only"),
            Some(PolicyMode::LocalOnly)
        );
        assert_eq!(PolicyMode::parse_family("observe"), Some(PolicyMode::Open));
        assert_eq!(PolicyMode::parse_family("open"), Some(PolicyMode::Open));
        assert_eq!(PolicyMode::parse_family(""), None);
        assert_eq!(PolicyMode::parse_family("strict"), None);
        assert_eq!(PolicyMode::infer(true, true), PolicyMode::RemoteRequired);
        assert_eq!(PolicyMode::infer(false, true), PolicyMode::LocalOnly);
        assert_eq!(PolicyMode::infer(false, false), PolicyMode::Open);
        assert_eq!(
            PolicyMode::RemoteWithLocalFallback.to_string(),
            "remote_with_local_fallback"
        );
    }

    #[tokio::test]
    async fn remote_modes_need_a_control_plane_and_fallback_needs_local_scopes() {
        let err = ToolPolicy::builder(PolicyMode::RemoteRequired)
            .start()
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("AUTHSEC_RESOURCE_SERVER_ID"),
            "{err}"
        );
        let plane = ControlPlane::builder("http://127.0.0.1:9", "rs")
            .credentials("rs", "s")
            .build()
            .unwrap();
        let err = ToolPolicy::builder(PolicyMode::RemoteWithLocalFallback)
            .control_plane(plane)
            .start()
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("AUTHSEC_TOOL_SCOPES_JSON"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn local_and_open_modes_are_fixed_manifests() {
        let open = ToolPolicy::builder(PolicyMode::Open).start().await.unwrap();
        assert!(open.remote().is_none());
        let manifest = open.fixed.as_ref().unwrap();
        assert!(manifest.allows("anything", &authsec_core::ScopeSet::new()));
        let local = ToolPolicy::builder(PolicyMode::LocalOnly)
            .start()
            .await
            .unwrap();
        assert_eq!(local.fixed, Some(ToolManifest::new()));
    }
}
