//! `usage_record` and the rollup deltas written with it: one ingest group on ingest's own
//! connection (`ingest_connection.rs`), inside one `BEGIN IMMEDIATE`.
//!
//! Each record goes in through one prepared single-row insert that skips a stored key. A
//! record whose row was not added has a key stored before the group (keys are unique within
//! a group), and its stored hash is read back by primary key: a group meeting a few stored
//! keys pays a lookup for each of those, not a second pass over all of them. Exactly the
//! inserted records go into the rollup deltas, folded in memory per group (`rollups.rs`).
//!
//! Durability is the store's `synchronous=FULL` in WAL mode: a group is acknowledged after its
//! commit is on disk, so a crash loses nothing acknowledged.

use chrono::{DateTime, Utc};
use rusqlite::{CachedStatement, Transaction, TransactionBehavior};

use super::rollups::add_deltas_through;
use crate::aggregate::{fold_records, RollupKey, RollupTotals};
use crate::domain::NewUsageRecord;
use crate::store::codec::{content_hash, sqlite_decimal, sqlite_instant, whole};
use crate::store::{DbError, InsertOutcome};

/// Inserts `records` (keys unique among them) and adds exactly the inserted ones to the
/// rollups, in one transaction; one outcome per record, in the order given.
#[tracing::instrument(skip_all, fields(records = records.len()))]
pub(in crate::store) fn insert_usage(
    connection: &rusqlite::Connection,
    records: &[NewUsageRecord],
    ingested_at: DateTime<Utc>,
) -> Result<Vec<InsertOutcome>, DbError> {
    let tx = Transaction::new_unchecked(connection, TransactionBehavior::Immediate)?;
    let outcomes = insert_records(&tx, records, ingested_at)?;
    let inserted = records.iter().zip(&outcomes).filter(|(_, outcome)| **outcome == InsertOutcome::Inserted);
    let deltas: Vec<(RollupKey, RollupTotals)> =
        fold_records(inserted.map(|(record, _)| record))?.into_iter().collect();
    add_deltas_through(&tx, &deltas)?;
    tx.commit()?;
    Ok(outcomes)
}

/// Inserts the records whose keys are new; answers each record's outcome.
fn insert_records(
    tx: &rusqlite::Connection,
    records: &[NewUsageRecord],
    ingested_at: DateTime<Utc>,
) -> Result<Vec<InsertOutcome>, DbError> {
    let mut insert = tx.prepare_cached(
        "insert into usage_record (tenant_id, source, record_id, ts, function, region, \
         cpu_cycles, memory_gb_seconds, invocations, event_type, content_hash, ingested_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) on conflict do nothing",
    )?;
    let mut stored_hash = tx.prepare_cached(STORED_HASH)?;
    let ingested_at = sqlite_instant(ingested_at);
    records.iter().map(|r| insert_record(&mut insert, &mut stored_hash, r, ingested_at)).collect()
}

/// The content hash stored under a key.
const STORED_HASH: &str =
    "select content_hash from usage_record where tenant_id = $1 and source = $2 and record_id = $3";

fn insert_record(
    insert: &mut CachedStatement<'_>,
    stored_hash: &mut CachedStatement<'_>,
    r: &NewUsageRecord,
    ingested_at: i64,
) -> Result<InsertOutcome, DbError> {
    let added = insert.execute((
        r.key.tenant_id.as_str(),
        &*r.key.source,
        &*r.key.record_id,
        sqlite_instant(r.timestamp),
        &*r.function,
        &*r.region,
        whole(r.quantities.cpu_cycles)?,
        sqlite_decimal(r.quantities.memory_gb_seconds),
        whole(r.quantities.invocations)?,
        &*r.event_type,
        &r.content_hash.0[..],
        ingested_at,
    ))?;
    if added == 1 {
        return Ok(InsertOutcome::Inserted);
    }
    let key = (r.key.tenant_id.as_str(), &*r.key.source, &*r.key.record_id);
    let hash = stored_hash.query_row(key, |row| row.get::<_, Vec<u8>>(0))?;
    Ok(InsertOutcome::Existing(content_hash(&hash)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::at;
    use crate::domain::{ContentHash, Quantities, RecordKey, TenantId};
    use crate::store::engine::Engine;
    use crate::store::sqlite::testing::{query_plan, store_in_temp_dir};

    fn record(id: &str, timestamp: &str) -> NewUsageRecord {
        let (function, region) = ("resize".to_owned(), "eu-west-1".to_owned());
        let quantities =
            Quantities { cpu_cycles: 1_000.into(), memory_gb_seconds: "0.5".parse().unwrap(), invocations: 1.into() };
        NewUsageRecord {
            content_hash: ContentHash::of(Some(at(timestamp)), &function, &region, &quantities),
            key: RecordKey { tenant_id: TenantId::parse("acme").unwrap(), source: String::new(), record_id: id.into() },
            timestamp: at(timestamp),
            function,
            region,
            quantities,
            event_type: String::new(),
        }
    }

    #[tokio::test]
    async fn a_group_that_fails_leaves_nothing_behind_and_the_next_group_goes_in() {
        // Arrange: a stored rollup row whose total does not parse.
        let (store, dir) = store_in_temp_dir().await;
        let now = at("2026-11-02T12:00:00Z");
        store.insert_usage(&[record("r-1", "2026-11-02T10:00:00Z")], now).await.unwrap();
        let Engine::Sqlite { writer, .. } = &store.engine else { unreachable!("a SQLite store") };
        sqlx::query("update usage_rollup set cpu_cycles = 'garbage'").execute(writer).await.unwrap();

        // Act: a group adding to that row, then one in another day.
        let failed = store.insert_usage(&[record("r-2", "2026-11-02T10:01:00Z")], now).await;
        let next = store.insert_usage(&[record("r-3", "2026-11-03T10:00:00Z")], now).await;

        // Assert
        assert!(matches!(failed, Err(DbError::Corrupt(_))), "{failed:?}");
        assert_eq!(next.unwrap(), [InsertOutcome::Inserted]);
        let stored: Vec<(String,)> =
            sqlx::query_as("select record_id from usage_record order by 1").fetch_all(writer).await.unwrap();
        assert_eq!(stored, [("r-1".to_owned(),), ("r-3".to_owned(),)], "the failed group's record was rolled back");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn a_stored_key_answers_its_stored_hash_and_adds_nothing_to_the_rollups() {
        let (store, dir) = store_in_temp_dir().await;
        let now = at("2026-11-02T12:00:00Z");
        let original = record("r-1", "2026-11-02T10:00:00Z");
        store.insert_usage(std::slice::from_ref(&original), now).await.unwrap();

        let mut changed = record("r-1", "2026-11-02T10:05:00Z");
        changed.content_hash = ContentHash::of(Some(changed.timestamp), "other", "eu-west-1", &changed.quantities);
        let outcomes = store.insert_usage(&[changed, record("r-2", "2026-11-02T10:01:00Z")], now).await.unwrap();

        assert_eq!(outcomes, [InsertOutcome::Existing(original.content_hash), InsertOutcome::Inserted]);
        let Engine::Sqlite { writer, .. } = &store.engine else { unreachable!("a SQLite store") };
        let (records,): (i64,) =
            sqlx::query_as("select sum(records) from usage_rollup").fetch_one(writer).await.unwrap();
        assert_eq!(records, 2, "the stored key's record counted once");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn looking_up_a_stored_key_searches_the_primary_key_instead_of_scanning_the_table() {
        let plan = query_plan(STORED_HASH).await;
        assert!(plan.contains("SEARCH usage_record USING PRIMARY KEY"), "{plan}");
        assert!(!plan.contains("SCAN usage_record"), "{plan}");
    }
}
