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

/// The CPU time of this whole process so far, in user mode and in the kernel
/// (`getrusage(RUSAGE_SELF)`): over a loopback run it is the serving thread's time, the
/// load generator being another process. `None` if the call fails.
pub fn process_cpu_times() -> Option<(Duration, Duration)> {
    #[allow(unsafe_code)]
    // SAFETY: `usage` is a valid, writable rusage for the duration of the call, and all-zero
    // bytes are a valid rusage.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        (libc::getrusage(libc::RUSAGE_SELF, &mut usage) == 0).then_some(usage)
    }?;
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Some((time(usage.ru_utime), time(usage.ru_stime)))
}

/// Runs `op` `iterations` times and returns the CPU time it took on this thread.
pub fn cpu_time_of(iterations: u64, mut op: impl FnMut()) -> Duration {
    let start = thread_cpu_time();
    for _ in 0..iterations {
        op();
    }
    thread_cpu_time().saturating_sub(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_cpu_time_counts_the_work_of_every_thread() {
        let (user0, kernel0) = process_cpu_times().expect("getrusage");
        // Another thread's work, which this thread's clock does not see.
        let worked = std::thread::spawn(|| {
            let start = thread_cpu_time();
            let mut x = 0u64;
            while thread_cpu_time().saturating_sub(start) < Duration::from_millis(30) {
                for i in 0..10_000u64 {
                    x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
                }
            }
            thread_cpu_time().saturating_sub(start)
        })
        .join()
        .expect("worker");
        let (user1, kernel1) = process_cpu_times().expect("getrusage");
        assert!(user1 >= user0 && kernel1 >= kernel0);
        let spent = (user1 - user0) + (kernel1 - kernel0);
        // Both come from the scheduler's run time; getrusage rounds to microseconds.
        assert!(
            spent + Duration::from_millis(1) >= worked,
            "process {spent:?} < worker thread {worked:?}"
        );
    }
}
