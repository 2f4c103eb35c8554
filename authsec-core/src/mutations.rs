//! One-byte mutations of seed texts, for the tests that hold each hand-written fast path
//! (`mcp::scan`, the JWT header and payload readers, `tools/list` filtering) to the serde path
//! it stands in for.

/// `seed` with each byte deleted, and with each of `bytes` written over and (with `insert`)
/// inserted before every byte.
pub(crate) fn one_byte_mutations(seed: &[u8], bytes: &[u8], insert: bool) -> Vec<Vec<u8>> {
    let mut variants = Vec::new();
    for at in 0..seed.len() {
        let mut deleted = seed.to_vec();
        deleted.remove(at);
        variants.push(deleted);
        for &byte in bytes {
            let mut replaced = seed.to_vec();
            replaced[at] = byte;
            variants.push(replaced);
            if insert {
                let mut inserted = seed.to_vec();
                inserted.insert(at, byte);
                variants.push(inserted);
            }
        }
    }
    variants
}

/// Feeds every deletion, replacement and insertion of `bytes` in every seed to `fast`, which
/// compares the fast path with serde and says whether the fast path answered. Returns how many
/// texts were fed and how many the fast path answered.
pub(crate) fn fed_and_answered(
    seeds: &[&str],
    bytes: &[u8],
    mut fast: impl FnMut(&[u8]) -> bool,
) -> (usize, usize) {
    let (mut fed, mut answered) = (0, 0);
    for seed in seeds {
        for text in one_byte_mutations(seed.as_bytes(), bytes, true) {
            fed += 1;
            answered += usize::from(fast(&text));
        }
    }
    (fed, answered)
}
