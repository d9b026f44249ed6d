//! A validated usage record, ready to be written.

use std::fmt::Write;

use chrono::{DateTime, Utc};
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
        // One buffer for the three values (this runs once per record ingested).
        let mut value = String::with_capacity(32);
        for meter in Meter::ALL {
            value.clear();
            // normalize() makes "0.250" and 0.25 (and absent vs 0) hash alike.
            write!(value, "{}", quantities.get(meter).normalize()).expect("writing to a String cannot fail");
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
    use rust_decimal::Decimal;
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

    #[test]
    fn hash_separates_function_from_region() {
        let q = memory("1");
        assert_ne!(ContentHash::of(None, "ab", "", &q), ContentHash::of(None, "a", "b", &q));
    }
}
