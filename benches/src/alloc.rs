//! A counting global allocator for the bench binaries: allocations, bytes and live bytes, per
//! thread.
//!
//! Counters are thread-local `Cell`s rather than atomics, so that counting adds about a
//! nanosecond per allocation instead of a locked instruction, and the time figures of
//! allocation-heavy contenders stay honest. Measure on one thread (a current-thread runtime)
//! for exact live-byte figures.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The allocator: install it in a bench binary with
/// `#[global_allocator] static ALLOC: CountingAlloc = CountingAlloc;`.
pub struct CountingAlloc;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    static BYTES: Cell<u64> = const { Cell::new(0) };
    static LIVE: Cell<i64> = const { Cell::new(0) };
}

fn record(allocations: u64, bytes: u64, live: i64) {
    // `try_with`: never panic inside the allocator, even during thread teardown.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + allocations));
    let _ = BYTES.try_with(|c| c.set(c.get() + bytes));
    let _ = LIVE.try_with(|c| c.set(c.get() + live));
}

#[allow(unsafe_code)]
// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the
// bookkeeping touches only thread-local `Cell`s, which never allocate.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(1, layout.size() as u64, layout.size() as i64);
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(1, layout.size() as u64, layout.size() as i64);
        // SAFETY: forwarded as is.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        record(0, 0, -(layout.size() as i64));
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(1, new_size as u64, new_size as i64 - layout.size() as i64);
        // SAFETY: forwarded as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// The counters of the current thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AllocStats {
    /// Allocations (a `realloc` counts as one).
    pub allocations: u64,
    /// Bytes requested.
    pub bytes: u64,
    /// Bytes allocated and not yet freed.
    pub live: i64,
}

impl AllocStats {
    /// The counters now, on this thread.
    pub fn now() -> Self {
        AllocStats {
            allocations: ALLOCATIONS.try_with(Cell::get).unwrap_or(0),
            bytes: BYTES.try_with(Cell::get).unwrap_or(0),
            live: LIVE.try_with(Cell::get).unwrap_or(0),
        }
    }

    /// What happened between `earlier` and `self`.
    pub fn since(self, earlier: AllocStats) -> AllocStats {
        AllocStats {
            allocations: self.allocations - earlier.allocations,
            bytes: self.bytes - earlier.bytes,
            live: self.live - earlier.live,
        }
    }
}

/// Runs `op` `runs` times on this thread and returns the allocations and bytes per run
/// (only meaningful in a binary whose global allocator is [`CountingAlloc`]).
pub fn per_run(runs: u64, mut op: impl FnMut()) -> (f64, f64) {
    let before = AllocStats::now();
    for _ in 0..runs {
        op();
    }
    let delta = AllocStats::now().since(before);
    (
        delta.allocations as f64 / runs as f64,
        delta.bytes as f64 / runs as f64,
    )
}
