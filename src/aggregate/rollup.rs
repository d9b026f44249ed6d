//! The rollup grain: (tenant, 15-minute UTC bucket, function, region).
//!
//! Every current IANA offset is a multiple of 15 minutes, so every tenant-local hour, day and
//! month is an exact union of these buckets.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use foldhash::fast::RandomState;

use crate::domain::{NewUsageRecord, Quantities, QuantityError, TenantId};

/// Width of a rollup bucket.
pub const BUCKET_SECONDS: i64 = 15 * 60;

/// The start of the 15-minute UTC bucket holding `at`.
pub fn bucket_start(at: DateTime<Utc>) -> DateTime<Utc> {
    let micros = at.timestamp_micros();
    let width = BUCKET_SECONDS * 1_000_000;
    DateTime::from_timestamp_micros(micros - micros.rem_euclid(width)).expect("a floored in-range instant is in range")
}

/// The first bucket boundary at or after `at`: the end of the bucket holding `at`, or `at`
/// itself on a boundary.
pub fn bucket_ceiling(at: DateTime<Utc>) -> DateTime<Utc> {
    let start = bucket_start(at);
    match start == at {
        true => at,
        false => start + chrono::Duration::seconds(BUCKET_SECONDS),
    }
}

/// Identifies one rollup row. Ordered so that batched upserts always touch rows in the same
/// order (unsorted multi-row upserts deadlock across writers).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RollupKey {
    pub tenant_id: TenantId,
    pub bucket_start: DateTime<Utc>,
    pub function: String,
    pub region: String,
}

/// What a rollup row counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RollupTotals {
    pub quantities: Quantities,
    pub records: i64,
}

impl RollupTotals {
    /// Adds `other` to these totals.
    ///
    /// # Errors
    /// [`QuantityError::Overflow`] when a sum leaves `Decimal`'s range.
    pub fn checked_add(&self, other: &RollupTotals) -> Result<RollupTotals, QuantityError> {
        Ok(RollupTotals {
            quantities: self.quantities.checked_add(&other.quantities)?,
            records: self.records + other.records,
        })
    }
}

/// One persisted rollup row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollup {
    pub key: RollupKey,
    pub totals: RollupTotals,
}

/// Folds records into per-bucket deltas, sorted by key.
///
/// This is both the write path's delta computation and the reference that
/// `tally rollups rebuild` recomputes from raw records.
///
/// # Errors
/// [`QuantityError::Overflow`] when a sum leaves `Decimal`'s range.
pub fn fold_records<'a>(
    records: impl IntoIterator<Item = &'a NewUsageRecord>,
) -> Result<BTreeMap<RollupKey, RollupTotals>, QuantityError> {
    // Summed under borrowed keys: only each distinct rollup row, not each record, copies its
    // key's text (a group of thousands of records has a few hundred rows).
    let mut sums: HashMap<(&TenantId, DateTime<Utc>, &str, &str), RollupTotals, RandomState> = HashMap::default();
    // Summed at the records' own scales and normalized once per row, at the end.
    for record in records {
        let key = (&record.key.tenant_id, bucket_start(record.timestamp), &*record.function, &*record.region);
        let sum = sums.entry(key).or_default();
        sum.quantities = sum.quantities.checked_add_unnormalized(&record.quantities)?;
        sum.records += 1;
    }
    Ok(sums
        .into_iter()
        .map(|((tenant_id, bucket_start, function, region), sum)| {
            let key = RollupKey {
                tenant_id: tenant_id.clone(),
                bucket_start,
                function: function.into(),
                region: region.into(),
            };
            (key, RollupTotals { quantities: sum.quantities.normalized(), records: sum.records })
        })
        .collect())
}

/// Rows of one key sorted next to each other (a stored rollup row and the deltas still
/// pending for it, PostgreSQL) summed into one row each, order kept; a key whose records
/// sum to zero (every record of it voided or moved by corrections) is left out, as a rebuild
/// leaves it.
///
/// # Errors
/// [`QuantityError::Overflow`] when a sum leaves `Decimal`'s range.
pub fn merge_adjacent_keys(rows: Vec<Rollup>) -> Result<Vec<Rollup>, QuantityError> {
    let mut merged: Vec<Rollup> = Vec::with_capacity(rows.len());
    for row in rows {
        match merged.last_mut() {
            Some(last) if last.key == row.key => last.totals = last.totals.checked_add(&row.totals)?,
            _ => merged.push(row),
        }
    }
    merged.retain(|r| r.totals.records != 0);
    Ok(merged)
}

/// Σ of the rollups whose bucket starts in `[from, to)`.
///
/// # Errors
/// [`QuantityError::Overflow`] when a sum leaves `Decimal`'s range.
pub fn sum_rollups(rollups: &[Rollup], from: DateTime<Utc>, to: DateTime<Utc>) -> Result<RollupTotals, QuantityError> {
    rollups
        .iter()
        .filter(|r| r.key.bucket_start >= from && r.key.bucket_start < to)
        .try_fold(RollupTotals::default(), |sum, r| sum.checked_add(&r.totals))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::at;
    use crate::domain::{ContentHash, RecordKey};
    use rust_decimal::Decimal;

    fn record(id: &str, at: &str, function: &str, invocations: i64) -> NewUsageRecord {
        let quantities = Quantities { invocations: Decimal::from(invocations), ..Default::default() };
        let timestamp = DateTime::parse_from_rfc3339(at).unwrap().to_utc();
        NewUsageRecord {
            key: RecordKey { tenant_id: TenantId::parse("acme").unwrap(), source: String::new(), record_id: id.into() },
            timestamp,
            function: function.into(),
            region: String::new(),
            quantities,
            event_type: String::new(),
            content_hash: ContentHash::of(Some(timestamp), function, "", &quantities),
        }
    }

    fn row(bucket: &str, function: &str, invocations: i64, records: i64) -> Rollup {
        let quantities = Quantities { invocations: Decimal::from(invocations), ..Default::default() };
        let key = RollupKey {
            tenant_id: TenantId::parse("acme").unwrap(),
            bucket_start: at(bucket),
            function: function.into(),
            region: String::new(),
        };
        Rollup { key, totals: RollupTotals { quantities, records } }
    }

    #[test]
    fn a_stored_row_and_its_pending_deltas_read_as_one_row() {
        let rows = vec![
            row("2026-11-27T12:00:00Z", "f", 2, 1),
            row("2026-11-27T12:00:00Z", "f", 3, 2),
            row("2026-11-27T12:00:00Z", "g", 5, 1),
            row("2026-11-27T12:15:00Z", "f", 7, 1),
            row("2026-11-27T12:15:00Z", "f", 1, 1),
        ];
        let merged = merge_adjacent_keys(rows).unwrap();
        assert_eq!(
            merged,
            vec![
                row("2026-11-27T12:00:00Z", "f", 5, 3),
                row("2026-11-27T12:00:00Z", "g", 5, 1),
                row("2026-11-27T12:15:00Z", "f", 8, 2),
            ]
        );
    }

    #[test]
    fn a_key_whose_records_were_all_corrected_away_is_not_read() {
        let voided = vec![row("2026-11-27T12:00:00Z", "f", 2, 1), row("2026-11-27T12:00:00Z", "f", -2, -1)];
        assert_eq!(merge_adjacent_keys(voided).unwrap(), vec![]);
    }

    #[test]
    fn buckets_are_fifteen_minutes_wide_and_half_open() {
        assert_eq!(bucket_start(at("2026-11-27T12:14:59.999999Z")), at("2026-11-27T12:00:00Z"));
        assert_eq!(bucket_start(at("2026-11-27T12:15:00Z")), at("2026-11-27T12:15:00Z"));
        assert_eq!(bucket_start(at("1969-12-31T23:59:59Z")), at("1969-12-31T23:45:00Z"));
    }

    #[test]
    fn fold_sums_records_of_the_same_bucket_and_dimensions() {
        let records = [
            record("1", "2026-11-27T12:01:00Z", "f", 2),
            record("2", "2026-11-27T12:14:00Z", "f", 3),
            record("3", "2026-11-27T12:14:00Z", "g", 5),
            record("4", "2026-11-27T12:15:00Z", "f", 7),
        ];
        let folded = fold_records(&records).unwrap();
        let totals: Vec<(String, Decimal, i64)> =
            folded.iter().map(|(k, t)| (k.function.clone(), t.quantities.invocations, t.records)).collect();
        assert_eq!(
            totals,
            vec![
                ("f".into(), Decimal::from(5), 2),
                ("g".into(), Decimal::from(5), 1),
                ("f".into(), Decimal::from(7), 1)
            ]
        );
    }

    /// Stored sums are written without trailing zeros, however their terms were written.
    #[test]
    fn folded_sums_are_normalized() {
        let mut records = [record("1", "2026-11-27T12:01:00Z", "f", 1), record("2", "2026-11-27T12:02:00Z", "f", 1)];
        records[0].quantities.memory_gb_seconds = Decimal::from_str_exact("0.250").unwrap();
        records[1].quantities.memory_gb_seconds = Decimal::from_str_exact("0.7500").unwrap();
        let folded = fold_records(&records).unwrap();
        let totals = folded.values().next().unwrap();
        assert_eq!(totals.quantities.memory_gb_seconds.to_string(), "1");
        assert_eq!(totals.quantities.invocations.to_string(), "2");
        assert_eq!(totals.records, 2);
    }
}
