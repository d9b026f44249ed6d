//! A validated usage record, ready to be written.

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
        for meter in Meter::ALL {
            // normalize() makes "0.250" and 0.25 (and absent vs 0) hash alike.
            let value = quantities.get(meter).normalize().to_string();
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

    #[test]
    fn hash_separates_function_from_region() {
        let q = memory("1");
        assert_ne!(ContentHash::of(None, "ab", "", &q), ContentHash::of(None, "a", "b", &q));
    }
}
