//! `usage_record`: the ingest write path. The engines differ here on purpose (`COPY` for new
//! keys and array binds on PostgreSQL; prepared statements on a connection of its own and
//! Rust-side rollup sums on SQLite), so each has its own file; this one only picks.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::engine::Engine;
use super::postgres::HeldConnection;
use super::{postgres, sqlite, DbError, InsertOutcome, Store};
use crate::domain::{NewUsageRecord, RecordKey, TenantId};

/// A usage writer's hold on the store, from one group commit to the next: on PostgreSQL the
/// connection it keeps (`postgres/held_connection.rs`); on SQLite nothing more than the store
/// (ingest has a connection of its own there).
pub struct UsageSession {
    store: Store,
    /// PostgreSQL's, made on the first write.
    connection: Option<HeldConnection>,
}

impl Store {
    /// A session for a writer that commits group after group ([`UsageSession::insert_shared_usage`]).
    pub fn usage_session(&self) -> UsageSession {
        UsageSession { store: self.clone(), connection: None }
    }

    /// Inserts records whose keys are unique within the slice, in one transaction that also
    /// adds exactly the inserted records to the rollups. Returns one outcome per record, in
    /// the order given.
    ///
    /// On PostgreSQL rows are written in one global order whatever order they come in (see
    /// [`lock_order`]): concurrent writers (several `tally serve` on one database, each grouping
    /// requests its own way) then take index locks in the same order and cannot deadlock
    /// (a group spanning months is written month by month, in this order within each). Rollup
    /// deltas are sorted too. SQLite writes through one connection and keeps the given order.
    pub async fn insert_usage(
        &self,
        records: &[NewUsageRecord],
        ingested_at: DateTime<Utc>,
    ) -> Result<Vec<InsertOutcome>, DbError> {
        self.usage_session().insert_usage_from(records, || records.into(), ingested_at).await
    }
}

impl UsageSession {
    /// [`Store::insert_usage`] of records the caller shares rather than lends (SQLite writes a
    /// group on a thread of its own, `sqlite/ingest_connection.rs`, which must own what it
    /// reads, and the ingest writer's groups get there without a copy), on this session's
    /// connection.
    pub async fn insert_shared_usage(
        &mut self,
        records: Arc<[NewUsageRecord]>,
        ingested_at: DateTime<Utc>,
    ) -> Result<Vec<InsertOutcome>, DbError> {
        self.insert_usage_from(&records, || Arc::clone(&records), ingested_at).await
    }

    /// Writes `records`; SQLite takes them as `shared` gives them. Once committed, the tenants
    /// of the records inserted are marked changed (`changes.rs`).
    async fn insert_usage_from(
        &mut self,
        records: &[NewUsageRecord],
        shared: impl FnOnce() -> Arc<[NewUsageRecord]>,
        ingested_at: DateTime<Utc>,
    ) -> Result<Vec<InsertOutcome>, DbError> {
        let outcomes = self.write(records, shared, ingested_at).await?;
        self.store.mark_changed(inserted_tenants(records, &outcomes));
        Ok(outcomes)
    }

    /// Writes `records` in one transaction of the store's engine.
    async fn write(
        &mut self,
        records: &[NewUsageRecord],
        shared: impl FnOnce() -> Arc<[NewUsageRecord]>,
        ingested_at: DateTime<Utc>,
    ) -> Result<Vec<InsertOutcome>, DbError> {
        match &self.store.engine {
            Engine::Postgres { pool, fast_path_cooldown, bounds_policy, partitions, distributed } => {
                let connection = self.connection.get_or_insert_with(|| HeldConnection::of(pool.clone()));
                let on = postgres::UsageTable {
                    lookup_groups: fast_path_cooldown,
                    bounds: bounds_policy,
                    partitions,
                    distributed: *distributed,
                };
                let order = lock_ordered(records);
                let sorted: Vec<&NewUsageRecord> = order.iter().map(|&i| &records[i]).collect();
                let outcomes = postgres::insert_usage(&on, connection, &sorted, ingested_at).await?;
                Ok(in_given_order(&order, outcomes))
            }
            // One connection writes: no order to keep, and the records' own order (ids ascending
            // within a runtime's batch) is the kinder one for the key index's pages.
            Engine::Sqlite { writer, ingest, .. } => {
                let records = shared();
                ingest.run(writer, move |connection| sqlite::insert_usage(connection, &records, ingested_at)).await
            }
        }
    }
}

/// The tenants of the records stored now (a duplicate changes nothing), each once, found
/// before the marks' lock is taken. A group is mostly runs of one tenant's records (a request
/// is one tenant's batch), so a run costs one comparison a record; the set catches a tenant
/// met again after another.
fn inserted_tenants<'a>(records: &'a [NewUsageRecord], outcomes: &[InsertOutcome]) -> HashSet<&'a TenantId> {
    let mut tenants = HashSet::new();
    let mut last: Option<&TenantId> = None;
    for (record, outcome) in records.iter().zip(outcomes) {
        let tenant = &record.key.tenant_id;
        if *outcome == InsertOutcome::Inserted && last != Some(tenant) {
            last = Some(tenant);
            tenants.insert(tenant);
        }
    }
    tenants
}

/// The positions of `records` sorted by [`lock_order`] (the key breaks a tie).
fn lock_ordered(records: &[NewUsageRecord]) -> Vec<usize> {
    let mut order: Vec<(u64, usize)> = records.iter().map(|r| lock_order(&r.key)).zip(0..).collect();
    order.sort_unstable_by(|(a, i), (b, j)| a.cmp(b).then_with(|| records[*i].key.cmp(&records[*j].key)));
    order.into_iter().map(|(_, i)| i).collect()
}

/// Outcomes of the records at `order`'s positions, put back in the order the records came.
fn in_given_order(order: &[usize], sorted_outcomes: Vec<InsertOutcome>) -> Vec<InsertOutcome> {
    let mut outcomes = vec![InsertOutcome::Inserted; order.len()];
    for (&position, outcome) in order.iter().zip(sorted_outcomes) {
        outcomes[position] = outcome;
    }
    outcomes
}

/// Where a record's key falls in the order rows are written: FNV-1a over the key's columns.
/// Any order all writers share avoids deadlocks; comparing these numbers (the key breaks a
/// tie) costs far less than comparing the key texts, which cost about a microsecond a record.
fn lock_order(key: &RecordKey) -> u64 {
    let columns = [key.tenant_id.as_str(), &key.source, &key.record_id];
    crate::domain::fnv1a(columns.iter().flat_map(|c| c.bytes().chain([0xff])))
}
