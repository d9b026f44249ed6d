//! `usage_record` and the rollup deltas written with it, inside one `BEGIN IMMEDIATE`.
//!
//! Most groups hold only new keys, so records first go in without looking anything up: plain
//! multi-row inserts inside a savepoint, counting the rows each one adds. When every row went
//! in, every record was inserted and no key needs reading back. When a count falls short, some
//! key was already stored: the savepoint is rolled back and the group takes the careful path —
//! read the stored hashes of the keys that exist, insert the rest. Either way exactly the
//! inserted records go into the rollup deltas (`rollups.rs`), folded in memory per group.
//!
//! Durability is the store's `synchronous=FULL` in WAL mode: a group is acknowledged after its
//! commit is on disk, so a crash loses nothing acknowledged.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{Connection, QueryBuilder, Sqlite, SqliteConnection, Transaction};

use super::chunks::statement_chunks;
use super::rollups::add_deltas;
use crate::aggregate::{fold_records, RollupKey, RollupTotals};
use crate::domain::{ContentHash, NewUsageRecord};
use crate::store::codec::{content_hash, stored_key, whole, Dec, Instant, StoredKey};
use crate::store::{DbError, InsertOutcome};

#[tracing::instrument(skip_all, fields(records = records.len()))]
pub(in crate::store) async fn insert_usage(
    tx: &mut Transaction<'_, Sqlite>,
    records: &[&NewUsageRecord],
    ingested_at: DateTime<Utc>,
) -> Result<Vec<InsertOutcome>, DbError> {
    if let Some(deltas) = insert_all_new(tx, records, ingested_at).await? {
        add_deltas(tx, &deltas).await?;
        return Ok(vec![InsertOutcome::Inserted; records.len()]);
    }
    let (outcomes, inserted) = insert_new_keys(tx, records, ingested_at).await?;
    add_deltas(tx, &deltas_of(inserted)?).await?;
    Ok(outcomes)
}

/// Inserts every record if no key is stored yet and answers their rollup deltas; otherwise
/// changes nothing (`None`). Stops at the first statement that adds fewer rows than it carries.
///
/// The one writer's statements run on SQLite's own thread. While one runs, this task encodes
/// the next one's values (after the last, folds the deltas) instead of waiting for it: the two
/// threads overlap rather than take turns, and the group holds the connection that much less.
async fn insert_all_new(
    tx: &mut Transaction<'_, Sqlite>,
    records: &[&NewUsageRecord],
    ingested_at: DateTime<Utc>,
) -> Result<Option<Deltas>, DbError> {
    let mut attempt = tx.begin().await?;
    let mut chunks = statement_chunks(records);
    let mut next = chunks.next().map(|chunk| (chunk.len(), insert_rows(chunk, ingested_at)));
    let mut deltas = None;
    while let Some((rows, insert)) = next.take() {
        let mut insert = insert?;
        // `biased`: the statement is handed to SQLite's thread first, then the encoding runs.
        let (added, following) = tokio::join!(biased; insert.build().execute(&mut *attempt), async {
            let following = chunks.next().map(|chunk| (chunk.len(), insert_rows(chunk, ingested_at)));
            if following.is_none() {
                deltas = Some(deltas_of(records.iter().copied()));
            }
            following
        });
        if added?.rows_affected() != rows as u64 {
            attempt.rollback().await?;
            return Ok(None);
        }
        next = following;
    }
    attempt.commit().await?;
    Ok(Some(deltas.unwrap_or_else(|| deltas_of(records.iter().copied()))?))
}

type Deltas = Vec<(RollupKey, RollupTotals)>;

fn deltas_of<'r>(inserted: impl IntoIterator<Item = &'r NewUsageRecord>) -> Result<Deltas, DbError> {
    Ok(fold_records(inserted)?.into_iter().collect())
}

/// Reads the stored hashes of the keys that exist and inserts the other records; returns the
/// outcomes in the order given and the inserted records.
async fn insert_new_keys<'r>(
    tx: &mut Transaction<'_, Sqlite>,
    records: &[&'r NewUsageRecord],
    ingested_at: DateTime<Utc>,
) -> Result<(Vec<InsertOutcome>, Vec<&'r NewUsageRecord>), DbError> {
    let keys: Vec<StoredKey> = records.iter().map(|r| stored_key(&r.key)).collect();
    let mut hashes = HashMap::new();
    for chunk in statement_chunks(&keys) {
        hashes.extend(existing_hashes(tx, chunk).await?);
    }
    let mut outcomes = Vec::with_capacity(records.len());
    let mut inserted = Vec::with_capacity(records.len());
    for (record, key) in records.iter().zip(&keys) {
        match hashes.get(key) {
            Some(hash) => outcomes.push(InsertOutcome::Existing(*hash)),
            None => {
                outcomes.push(InsertOutcome::Inserted);
                inserted.push(*record);
            }
        }
    }
    for chunk in statement_chunks(&inserted) {
        // The one writer's transaction holds: a key read as absent is still absent.
        if insert_rows(chunk, ingested_at)?.build().execute(&mut **tx).await?.rows_affected() != chunk.len() as u64 {
            return Err(DbError::Corrupt("a record appeared inside the writer's transaction".into()));
        }
    }
    Ok((outcomes, inserted))
}

/// One multi-row insert that skips stored keys, its values encoded; run, it adds as many rows as
/// it carries records whose keys were new.
///
/// Values are bound as owned copies: sqlx copies borrowed ones anyway when it hands a
/// statement to SQLite's thread, and here the copying is done ahead, while another statement runs.
fn insert_rows(
    chunk: &[&NewUsageRecord],
    ingested_at: DateTime<Utc>,
) -> Result<QueryBuilder<'static, Sqlite>, DbError> {
    let mut query = QueryBuilder::<Sqlite>::new(
        "insert into usage_record (tenant_id, source, record_id, ts, function, region, \
         cpu_cycles, memory_gb_seconds, invocations, event_type, content_hash, ingested_at) ",
    );
    let whole_meters: Vec<(i64, i64)> = chunk
        .iter()
        .map(|r| Ok((whole(r.quantities.cpu_cycles)?, whole(r.quantities.invocations)?)))
        .collect::<Result<_, DbError>>()?;
    query.push_values(chunk.iter().zip(whole_meters), |mut row, (r, (cpu_cycles, invocations))| {
        row.push_bind(r.key.tenant_id.as_str().to_owned())
            .push_bind(r.key.source.clone())
            .push_bind(r.key.record_id.clone())
            .push_bind(Instant(r.timestamp))
            .push_bind(r.function.clone())
            .push_bind(r.region.clone())
            .push_bind(cpu_cycles)
            .push_bind(Dec(r.quantities.memory_gb_seconds))
            .push_bind(invocations)
            .push_bind(r.event_type.clone())
            .push_bind(r.content_hash.0.to_vec())
            .push_bind(Instant(ingested_at));
    });
    query.push(" on conflict do nothing");
    Ok(query)
}

/// The stored content hashes of those of `keys` that exist.
async fn existing_hashes(
    conn: &mut SqliteConnection,
    keys: &[StoredKey],
) -> Result<HashMap<StoredKey, ContentHash>, DbError> {
    let rows: Vec<(String, String, String, Vec<u8>)> =
        existing_hashes_query(keys).build_query_as().fetch_all(conn).await?;
    rows.into_iter().map(|(t, s, r, hash)| Ok(((t, s, r), content_hash(&hash)?))).collect()
}

/// The keys are a `values` list the query walks, looking each up by primary key (`cross join`
/// keeps that order), whatever the SQLite version. Written as `(…) in (values …)`, the bundled
/// SQLite also searches the key, but 3.40 (Debian 12's library) scans the whole table against
/// the list: time proportional to the table for every group that meets a stored key.
fn existing_hashes_query(keys: &[StoredKey]) -> QueryBuilder<'_, Sqlite> {
    let mut select = QueryBuilder::<Sqlite>::new("select tenant_id, source, record_id, content_hash from (");
    select.push_values(keys, |mut row, key| {
        row.push_bind(key.0.as_str()).push_bind(key.1.as_str()).push_bind(key.2.as_str());
    });
    select.push(
        ") as wanted cross join usage_record on tenant_id = wanted.column1 and source = wanted.column2 \
         and record_id = wanted.column3",
    );
    select
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::plan::query_plan;

    #[tokio::test]
    async fn looking_up_stored_keys_searches_the_primary_key_instead_of_scanning_the_table() {
        let keys = vec![("acme".to_owned(), String::new(), "r-1".to_owned()); 3];
        let plan = query_plan(existing_hashes_query(&keys).sql()).await;
        assert!(plan.contains("SEARCH usage_record USING PRIMARY KEY"), "{plan}");
        assert!(!plan.contains("SCAN usage_record"), "{plan}");
    }
}
