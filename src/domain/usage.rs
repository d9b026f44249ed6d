//! A validated usage record, ready to be written.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

use super::{Meter, Quantities, TenantId};

/// The exactly-once key of a raw usage record: `(tenant_id, source, record_id)`.
///
/// Native records have source `""`; CloudEvents carry their own `source`, so both share one
/// key space and one table.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordKey {
    pub tenant_id: TenantId,
    pub source: String,
    pub record_id: String,
}

/// 16 bytes of SHA-256 over a record's normalized content; two records with the same key are
/// duplicates when their hashes are equal and conflicting otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContentHash(pub [u8; 16]);

impl ContentHash {
    /// Hashes the normalized content. `timestamp` is `None` when the sender gave no time
    /// (a CloudEvent without `time`): the receipt time differs on every retry, so it must
    /// not take part in the comparison.
    pub fn of(timestamp: Option<DateTime<Utc>>, function: &str, region: &str, quantities: &Quantities) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"tally-usage-v1");
        match timestamp {
            Some(ts) => hasher.update(ts.timestamp_micros().to_be_bytes()),
            None => hasher.update(b"no-time"),
        }
        for text in [function, region] {
            hasher.update((text.len() as u64).to_be_bytes());
            hasher.update(text.as_bytes());
        }
        // Normalized, so "0.250" and 0.25 (and absent vs 0) hash alike.
        let mut buffer = [0u8; 40];
        for meter in Meter::ALL {
            let value = normalized_text(quantities.get(meter), &mut buffer);
            hasher.update((value.len() as u64).to_be_bytes());
            hasher.update(value.as_bytes());
        }
        let digest = hasher.finalize();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        Self(bytes)
    }

    /// Rebuilds a hash read from the database.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 16]>::try_from(bytes).ok().map(Self)
    }
}

/// A decimal's text as `Display` writes it after `normalize()` — the bytes every stored hash
/// was made from — written straight from the mantissa into `buffer`, right to left: this runs
/// three times per record ingested, and the formatter's general path was a visible share of
/// ingest's CPU.
fn normalized_text(value: Decimal, buffer: &mut [u8; 40]) -> Cow<'_, str> {
    if value.is_sign_negative() && !value.is_zero() {
        // Quantities are never negative; the general path keeps this total anyway.
        return Cow::Owned(value.normalize().to_string());
    }
    let mut scale = value.scale();
    let mut mantissa = value.mantissa().unsigned_abs();
    // normalize(): the fraction loses its trailing zeros (and a zero becomes "0").
    while scale > 0 && mantissa % 10 == 0 {
        mantissa /= 10;
        scale -= 1;
    }
    // At most 29 digits, a point and a leading zero: 31 bytes.
    let mut at = buffer.len();
    let mut push = |byte: u8| {
        at -= 1;
        buffer[at] = byte;
    };
    for _ in 0..scale {
        push(b'0' + (mantissa % 10) as u8);
        mantissa /= 10;
    }
    if scale > 0 {
        push(b'.');
    }
    loop {
        push(b'0' + (mantissa % 10) as u8);
        mantissa /= 10;
        if mantissa == 0 {
            break;
        }
    }
    Cow::Borrowed(std::str::from_utf8(&buffer[at..]).expect("ASCII digits and a point"))
}

/// A usage record that passed validation and is not yet persisted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUsageRecord {
    pub key: RecordKey,
    /// Truncated to microseconds, the precision both stores keep.
    pub timestamp: DateTime<Utc>,
    /// `""` when absent (never NULL, so unique keys match).
    pub function: String,
    /// `""` when absent.
    pub region: String,
    pub quantities: Quantities,
    /// The CloudEvents `type`, stored and not interpreted; `""` for native records.
    pub event_type: String,
    pub content_hash: ContentHash,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn memory(text: &str) -> Quantities {
        Quantities { memory_gb_seconds: Decimal::from_str(text).unwrap(), ..Default::default() }
    }

    #[test]
    fn hash_compares_quantities_by_value() {
        let at = Some(DateTime::from_timestamp_micros(1_000).unwrap());
        assert_eq!(ContentHash::of(at, "f", "r", &memory("0.250")), ContentHash::of(at, "f", "r", &memory("0.25")));
        assert_ne!(ContentHash::of(at, "f", "r", &memory("0.25")), ContentHash::of(at, "f", "r", &memory("0.26")));
    }

    /// Stored hashes decide duplicates against records written by every earlier version: the
    /// bytes of one hash are pinned.
    #[test]
    fn hash_bytes_are_stable_across_versions() {
        let at = Some(DateTime::from_timestamp_micros(1_764_244_800_123_456).unwrap());
        let q = Quantities {
            cpu_cycles: Decimal::from(3_000_000_000_i64),
            memory_gb_seconds: Decimal::from_str("0.1250").unwrap(),
            invocations: Decimal::ONE,
        };
        assert_eq!(hex::encode(ContentHash::of(at, "fn-01", "eu-west-1", &q).0), "a862f5ab211b277537806f141b24b4bb");
        assert_eq!(hex::encode(ContentHash::of(None, "", "", &memory("2")).0), "e338d45a54bfa198348c31061256384a");
    }

    /// The hash's text of a quantity must stay byte for byte what `Display` wrote after
    /// `normalize()`, the way every stored hash was made.
    #[test]
    fn normalized_text_is_what_display_writes_after_normalize() {
        let mut buffer = [0u8; 40];
        for case in [
            "0",
            "0.000",
            "-0",
            "1",
            "10",
            "1000",
            "0.05",
            "0.250",
            "1.5",
            "120.0100",
            "0.000000001",
            "1000000000000000",
            "9223372036854775807",
            "79228162514264337593543950335",
            "0.0000000000000000000000000001",
            "-1.50",
        ] {
            let value = Decimal::from_str(case).unwrap();
            assert_eq!(normalized_text(value, &mut buffer), value.normalize().to_string(), "{case}");
        }
    }

    proptest::proptest! {
        #[test]
        fn normalized_text_matches_display_for_any_non_negative_decimal(mantissa in 0u64.., scale in 0u32..=28) {
            let value = Decimal::from_i128_with_scale(i128::from(mantissa), scale);
            let mut buffer = [0u8; 40];
            proptest::prop_assert_eq!(normalized_text(value, &mut buffer), value.normalize().to_string());
        }
    }

    #[test]
    fn hash_separates_function_from_region() {
        let q = memory("1");
        assert_ne!(ContentHash::of(None, "ab", "", &q), ContentHash::of(None, "a", "b", &q));
    }
}
