//! CPU time of the calling thread: what the bench binaries measure instead of wall-clock time.
//!
//! The benchmark machine has two cores and is shared (other builds run beside the benches); a
//! thread that is descheduled for a while inflates its wall-clock figures but not its CPU time.
//! Everything measured in process runs on one thread (a current-thread Tokio runtime), so its
//! CPU time is the cost of the work. Contention for caches and memory still shows.

use std::time::Duration;

/// `CLOCK_THREAD_CPUTIME_ID`.
pub fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    #[allow(unsafe_code)]
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Runs `op` `iterations` times and returns the CPU time it took on this thread.
pub fn cpu_time_of(iterations: u64, mut op: impl FnMut()) -> Duration {
    let start = thread_cpu_time();
    for _ in 0..iterations {
        op();
    }
    thread_cpu_time().saturating_sub(start)
}
