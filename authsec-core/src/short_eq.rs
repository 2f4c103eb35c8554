//! Equality of the short strings compared on every request (a scope, a tool name, the protected
//! prefix) without a call to `memcmp`, whose call and dispatch cost more than the compare.

/// `a == b`. Up to 16 bytes are compared as two overlapping words (two overlapping half-words
/// for 4 to 7 bytes); longer and shorter ones as slices.
#[inline]
pub(crate) fn short_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    match a.len() {
        8..=16 => ends::<8>(a) == ends::<8>(b),
        4..=7 => ends::<4>(a) == ends::<4>(b),
        _ => a == b,
    }
}

/// The first and the last `N` bytes of `bytes` (which overlap when it is shorter than `2N`);
/// `None` when it is shorter than `N`.
#[inline(always)]
fn ends<const N: usize>(bytes: &[u8]) -> Option<([u8; N], [u8; N])> {
    Some((*bytes.first_chunk::<N>()?, *bytes.last_chunk::<N>()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_slice_equality_at_every_length_and_every_differing_byte() {
        let base: Vec<u8> = (b'a'..=b'z').collect();
        for len in 0..=base.len() {
            let a = &base[..len];
            let copy = a.to_vec();
            assert!(short_eq(a, &copy), "{len}");
            for at in 0..len {
                let mut b = a.to_vec();
                b[at] ^= 0x20;
                assert!(!short_eq(a, &b), "{len} {at}");
                assert!(!short_eq(&b, a), "{len} {at}");
            }
            if len > 0 {
                assert!(!short_eq(a, &a[..len - 1]), "{len}");
                assert!(!short_eq(&a[1..], a), "{len}");
            }
        }
    }
}
