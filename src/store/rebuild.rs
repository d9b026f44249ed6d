//! The backend-independent part of `tally rollups rebuild`: each raw record's newest effective
//! content (its newest correction, if any) folded with the write path's own pure fold.

use std::collections::{BTreeMap, HashMap};

use crate::aggregate::{fold_records, RollupKey, RollupTotals};
use crate::domain::{NewUsageRecord, Quantities};
use crate::store::codec::StoredKey;
use crate::store::DbError;

/// Newest correction per corrected record: `None` for a void, else the replacement's
/// (function, region, quantities).
pub(super) type NewestCorrections = HashMap<StoredKey, Option<(String, String, Quantities)>>;

/// Records folded so far, in chunks so memory stays bounded by the number of rollup rows.
pub(super) struct RebuildFold {
    corrections: NewestCorrections,
    chunk: Vec<NewUsageRecord>,
    totals: BTreeMap<RollupKey, RollupTotals>,
    records: u64,
}

const CHUNK: usize = 10_000;

impl RebuildFold {
    pub(super) fn new(corrections: NewestCorrections) -> Self {
        Self { corrections, chunk: Vec::with_capacity(CHUNK), totals: BTreeMap::new(), records: 0 }
    }

    /// Adds one raw record, as its newest correction says it counts.
    pub(super) fn push(&mut self, key: &StoredKey, mut record: NewUsageRecord) -> Result<(), DbError> {
        match self.corrections.get(key) {
            None => {}
            Some(None) => return Ok(()),
            Some(Some((function, region, quantities))) => {
                (record.function, record.region, record.quantities) = (function.clone(), region.clone(), *quantities);
            }
        }
        self.chunk.push(record);
        if self.chunk.len() == CHUNK {
            self.merge()?;
        }
        Ok(())
    }

    /// The rollups and the number of records counted.
    pub(super) fn finish(mut self) -> Result<(BTreeMap<RollupKey, RollupTotals>, u64), DbError> {
        self.merge()?;
        Ok((self.totals, self.records))
    }

    fn merge(&mut self) -> Result<(), DbError> {
        for (key, delta) in fold_records(&self.chunk)? {
            let entry = self.totals.entry(key).or_default();
            *entry = entry.checked_add(&delta)?;
        }
        self.records += self.chunk.len() as u64;
        self.chunk.clear();
        Ok(())
    }
}
