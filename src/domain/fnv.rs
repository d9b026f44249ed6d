//! FNV-1a (64-bit): a fixed, seedless hash. Used where every process, and every version of
//! it, must compute the same number for the same bytes — tenant lock buckets, the order
//! writers take rows in, the demo's reproducible draws — so it must never change.

const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0100_0000_01b3;

/// FNV-1a 64 of `bytes`, in the order given.
pub(crate) fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(OFFSET_BASIS, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(PRIME))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_gives_the_published_64_bit_test_vectors() {
        // From the reference test suite (Fowler/Noll/Vo, `test_fnv.c`, FNV-1a 64).
        let vectors: [(&[u8], u64); 5] = [
            (b"", 0xcbf2_9ce4_8422_2325),
            (b"a", 0xaf63_dc4c_8601_ec8c),
            (b"b", 0xaf63_df4c_8601_f1a5),
            (b"foobar", 0x8594_4171_f739_67e8),
            (b"chongo was here!\n", 0x4681_0940_eff5_f915),
        ];
        for (input, expected) in vectors {
            assert_eq!(fnv1a(input.iter().copied()), expected, "{:?}", String::from_utf8_lossy(input));
        }
    }
}
