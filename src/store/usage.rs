//! `usage_record`: the ingest write path. The engines differ here on purpose (array binds and
//! a plain-insert fast path on PostgreSQL; multi-row inserts and Rust-side rollup sums on
//! SQLite), so each has its own file; this one only picks.

use chrono::{DateTime, Utc};

use super::engine::Engine;
use super::{postgres, sqlite, DbError, InsertOutcome, Store};
use crate::domain::NewUsageRecord;

impl Store {
    /// Inserts records whose keys are unique within the slice, in one transaction that also
    /// adds exactly the inserted records to the rollups. Returns one outcome per record, in
    /// the order given.
    ///
    /// Rows are written in key order whatever order they come in: concurrent writers (several
    /// `tally serve` on one PostgreSQL, each grouping requests its own way) then take index
    /// locks in one global order and cannot deadlock. Rollup deltas are sorted too.
    pub async fn insert_usage(
        &self,
        records: &[NewUsageRecord],
        ingested_at: DateTime<Utc>,
    ) -> Result<Vec<InsertOutcome>, DbError> {
        let mut order: Vec<usize> = (0..records.len()).collect();
        order.sort_unstable_by(|a, b| records[*a].key.cmp(&records[*b].key));
        let sorted: Vec<&NewUsageRecord> = order.iter().map(|i| &records[*i]).collect();
        let sorted_outcomes = self.insert_sorted_usage(&sorted, ingested_at).await?;
        let mut outcomes = vec![InsertOutcome::Inserted; records.len()];
        for (position, outcome) in order.into_iter().zip(sorted_outcomes) {
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
            Engine::Postgres { pool, fast_path_cooldown } => {
                postgres::insert_usage(pool, fast_path_cooldown, records, ingested_at).await
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
