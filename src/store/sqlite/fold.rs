//! A group's rollup deltas, folded in memory before they touch the database.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::aggregate::{bucket_start, RollupKey, RollupTotals};
use crate::domain::{NewUsageRecord, TenantId};
use crate::store::DbError;

/// The inserted records' rollup deltas, sorted by key: the sums of [`crate::aggregate::fold_records`],
/// folded under borrowed keys so that only each distinct rollup row, not each record, copies
/// its key's text.
pub(super) fn fold_deltas(records: &[&NewUsageRecord]) -> Result<Vec<(RollupKey, RollupTotals)>, DbError> {
    let mut sums: HashMap<(&TenantId, DateTime<Utc>, &str, &str), RollupTotals> = HashMap::new();
    for r in records {
        let sum = sums.entry((&r.key.tenant_id, bucket_start(r.timestamp), &r.function, &r.region)).or_default();
        *sum = sum.checked_add(&RollupTotals { quantities: r.quantities, records: 1 })?;
    }
    let mut deltas: Vec<(RollupKey, RollupTotals)> = sums
        .into_iter()
        .map(|((tenant_id, bucket_start, function, region), sum)| {
            let key = RollupKey {
                tenant_id: tenant_id.clone(),
                bucket_start,
                function: function.into(),
                region: region.into(),
            };
            (key, sum)
        })
        .collect();
    deltas.sort_unstable_by(|(a, _), (b, _)| a.cmp(b));
    Ok(deltas)
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::*;
    use crate::aggregate::fold_records;
    use crate::domain::testing::at;
    use crate::domain::{ContentHash, Quantities, RecordKey};

    fn record(tenant: &str, id: &str, at: DateTime<Utc>, function: &str, region: &str, memory: i64) -> NewUsageRecord {
        let quantities = Quantities { memory_gb_seconds: Decimal::new(memory, 3), ..Default::default() };
        NewUsageRecord {
            key: RecordKey { tenant_id: TenantId::parse(tenant).unwrap(), source: String::new(), record_id: id.into() },
            timestamp: at,
            function: function.into(),
            region: region.into(),
            quantities,
            event_type: String::new(),
            content_hash: ContentHash::of(Some(at), function, region, &quantities),
        }
    }

    #[test]
    fn the_deltas_are_the_reference_fold_of_the_records() {
        let noon = at("2026-11-27T12:00:00Z");
        let records: Vec<NewUsageRecord> = (0..200_i64)
            .map(|i| {
                let tenant = ["acme", "beta"][i as usize % 2];
                let function = ["f", "g", "h"][i as usize % 3];
                let region = ["", "eu"][i as usize % 5 / 3];
                record(tenant, &i.to_string(), noon + chrono::Duration::seconds(37 * i), function, region, i + 1)
            })
            .collect();
        let borrowed: Vec<&NewUsageRecord> = records.iter().collect();
        let expected: Vec<(RollupKey, RollupTotals)> = fold_records(&records).unwrap().into_iter().collect();
        assert_eq!(fold_deltas(&borrowed).unwrap(), expected);
    }
}
