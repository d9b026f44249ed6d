//! `usage_record`: the ingest write path. The engines differ here on purpose (`COPY` for new
//! keys and array binds on PostgreSQL; multi-row inserts and Rust-side rollup sums on
//! SQLite), so each has its own file; this one only picks.

use chrono::{DateTime, Utc};

use super::engine::Engine;
use super::{postgres, sqlite, DbError, InsertOutcome, Store};
use crate::domain::{NewUsageRecord, RecordKey};

impl Store {
    /// Inserts records whose keys are unique within the slice, in one transaction that also
    /// adds exactly the inserted records to the rollups. Returns one outcome per record, in
    /// the order given.
    ///
    /// Rows are written in one global order whatever order they come in (see [`lock_order`]):
    /// concurrent writers (several `tally serve` on one PostgreSQL, each grouping requests its
    /// own way) then take index locks in the same order and cannot deadlock (PostgreSQL writes
    /// a group spanning months month by month, in this order within each). Rollup deltas are
    /// sorted too.
    pub async fn insert_usage(
        &self,
        records: &[NewUsageRecord],
        ingested_at: DateTime<Utc>,
    ) -> Result<Vec<InsertOutcome>, DbError> {
        let mut order: Vec<(u64, usize)> = records.iter().map(|r| lock_order(&r.key)).zip(0..).collect();
        order.sort_unstable_by(|(a, i), (b, j)| a.cmp(b).then_with(|| records[*i].key.cmp(&records[*j].key)));
        let sorted: Vec<&NewUsageRecord> = order.iter().map(|(_, i)| &records[*i]).collect();
        let sorted_outcomes = self.insert_sorted_usage(&sorted, ingested_at).await?;
        let mut outcomes = vec![InsertOutcome::Inserted; records.len()];
        for ((_, position), outcome) in order.into_iter().zip(sorted_outcomes) {
            outcomes[position] = outcome;
        }
        Ok(outcomes)
    }

    async fn insert_sorted_usage(
        &self,
        records: &[&NewUsageRecord],
        ingested_at: DateTime<Utc>,
    ) -> Result<Vec<InsertOutcome>, DbError> {
        match &self.engine {
            Engine::Postgres { pool, fast_path_cooldown, partitions, distributed, .. } => {
                let on = postgres::UsageTable {
                    pool,
                    lookup_groups: fast_path_cooldown,
                    partitions,
                    distributed: *distributed,
                };
                postgres::insert_usage(&on, records, ingested_at).await
            }
            Engine::Sqlite { writer, .. } => {
                let mut tx = writer.begin_with(sqlite::BEGIN_WRITE).await?;
                let outcomes = sqlite::insert_usage(&mut tx, records, ingested_at).await?;
                tx.commit().await?;
                Ok(outcomes)
            }
        }
    }
}

/// Where a record's key falls in the order rows are written: FNV-1a over the key's columns.
/// Any order all writers share avoids deadlocks; comparing these numbers (the key breaks a
/// tie) costs far less than comparing the key texts, which cost about a microsecond a record.
fn lock_order(key: &RecordKey) -> u64 {
    let columns = [key.tenant_id.as_str(), &key.source, &key.record_id];
    crate::domain::fnv1a(columns.iter().flat_map(|c| c.bytes().chain([0xff])))
}
