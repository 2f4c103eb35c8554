//! Cache eviction between requests: what the kernel's network stack does to a server's caches
//! between two requests over loopback, done on purpose in process, so that the cost of a
//! request whose code and data have to be fetched again can be measured without `wrk`'s noise.
//!
//! - [`Evictor::code`] runs 1,024 distinct functions (~64 KiB of code, twice this machine's
//!   32 KiB L1 instruction cache), so the next request's code comes from L2.
//! - [`Evictor::all`] also writes twice this machine's L2 in data ([`l2_bytes`]: 2 MiB per
//!   core here, so 4 MiB), so code and data come from L3.

use std::hint::black_box;

/// A block of straight-line code, distinct for each `N` (the constants differ, so no two
/// instantiations can be merged).
#[inline(never)]
fn block<const N: u64>(x: u64) -> u64 {
    let mut y = x ^ N;
    y = y.wrapping_mul(0x9E37_79B9_7F4A_7C15 ^ N);
    y ^= y >> 29;
    y = y.wrapping_add(N.wrapping_mul(0xBF58_476D_1CE4_E5B9));
    y ^= y >> 31;
    y = y.wrapping_mul(0x94D0_49BB_1331_11EB ^ (N << 7));
    y ^ (y >> 27) ^ N.rotate_left(13)
}

macro_rules! sixteen {
    ($hi:literal) => {
        [
            block::<{ $hi * 16 }>,
            block::<{ $hi * 16 + 1 }>,
            block::<{ $hi * 16 + 2 }>,
            block::<{ $hi * 16 + 3 }>,
            block::<{ $hi * 16 + 4 }>,
            block::<{ $hi * 16 + 5 }>,
            block::<{ $hi * 16 + 6 }>,
            block::<{ $hi * 16 + 7 }>,
            block::<{ $hi * 16 + 8 }>,
            block::<{ $hi * 16 + 9 }>,
            block::<{ $hi * 16 + 10 }>,
            block::<{ $hi * 16 + 11 }>,
            block::<{ $hi * 16 + 12 }>,
            block::<{ $hi * 16 + 13 }>,
            block::<{ $hi * 16 + 14 }>,
            block::<{ $hi * 16 + 15 }>,
        ]
    };
}

macro_rules! blocks {
    ($($hi:literal),*) => {{
        let mut all: Vec<fn(u64) -> u64> = Vec::with_capacity(1024);
        $(all.extend(sixteen!($hi));)*
        all
    }};
}

/// Evicts this core's caches; see the module's documentation.
pub struct Evictor {
    blocks: Vec<fn(u64) -> u64>,
    data: Vec<u64>,
}

impl Default for Evictor {
    fn default() -> Self {
        Self::new()
    }
}

impl Evictor {
    pub fn new() -> Self {
        Evictor {
            blocks: blocks!(
                0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43,
                44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63
            ),
            data: vec![0; 2 * l2_bytes() / 8],
        }
    }

    /// The L1 instruction cache: 1,024 functions run once each.
    pub fn code(&self) {
        let mut x = 1u64;
        for block in &self.blocks {
            x = block(black_box(x));
        }
        black_box(x);
    }

    /// The instruction cache and L2: [`code`](Self::code), then [`data`](Self::data).
    pub fn all(&mut self) {
        self.code();
        self.data();
    }

    /// L2 (and the L1 data cache): a write to each 64-byte line of twice [`l2_bytes`].
    pub fn data(&mut self) {
        for line in self.data.chunks_exact_mut(8) {
            line[0] = line[0].wrapping_add(1);
        }
        black_box(&self.data);
    }

    /// How many distinct functions [`code`](Self::code) runs.
    pub fn functions(&self) -> usize {
        self.blocks.len()
    }
}

/// The L2 cache of the first CPU, in bytes, as Linux describes it
/// (`/sys/devices/system/cpu/cpu0/cache/index*/`: the level-2 data or unified cache); 1 MiB
/// where that cannot be read.
pub fn l2_bytes() -> usize {
    const FALLBACK: usize = 1024 * 1024;
    let read = |index: usize, file: &str| {
        std::fs::read_to_string(format!(
            "/sys/devices/system/cpu/cpu0/cache/index{index}/{file}"
        ))
        .ok()
    };
    (0..8)
        .find_map(|index| {
            let level = read(index, "level")?;
            let kind = read(index, "type")?;
            if level.trim() != "2" || !matches!(kind.trim(), "Unified" | "Data") {
                return None;
            }
            cache_size(&read(index, "size")?)
        })
        .unwrap_or(FALLBACK)
}

/// A size as sysfs writes it (`2048K`, `1M`, `512`), in bytes.
fn cache_size(text: &str) -> Option<usize> {
    let text = text.trim();
    let (digits, unit) = match text.as_bytes().last()? {
        b'K' => (&text[..text.len() - 1], 1024),
        b'M' => (&text[..text.len() - 1], 1024 * 1024),
        _ => (text, 1),
    };
    digits.parse::<usize>().ok()?.checked_mul(unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_sizes_read_as_sysfs_writes_them() {
        assert_eq!(cache_size("2048K\n"), Some(2 * 1024 * 1024));
        assert_eq!(cache_size("48K"), Some(48 * 1024));
        assert_eq!(cache_size("1M"), Some(1024 * 1024));
        assert_eq!(cache_size("512"), Some(512));
        assert_eq!(cache_size(""), None);
        assert_eq!(cache_size("K"), None);
        assert_eq!(cache_size("two"), None);
        assert!(l2_bytes() >= 64 * 1024, "{}", l2_bytes());
    }

    #[test]
    fn every_block_is_its_own_function() {
        let evictor = Evictor::new();
        assert_eq!(evictor.functions(), 1024);
        let mut addresses: Vec<usize> = evictor.blocks.iter().map(|f| *f as usize).collect();
        addresses.sort_unstable();
        addresses.dedup();
        assert_eq!(
            addresses.len(),
            1024,
            "merged functions would not evict anything"
        );
        let span = addresses[1023] - addresses[0];
        assert!(span >= 48 * 1024, "the blocks span only {span} bytes");
    }
}
