//! Rollup deltas on SQLite: read the rows the deltas touch, add in Rust (SQLite's `+` would go
//! through floating point) and write the sums back. Safe: the one writer's transaction
//! excludes every other writer.
//!
//! Two forms of the same step ([`added`]): through sqlx, for the transactions of corrections
//! and rebuilds, a statement-sized chunk at a time (each statement is a trip to sqlx's thread);
//! and on ingest's own connection, for ingest groups (`ingest_connection.rs`), a row at a time
//! through prepared statements, where a statement costs only SQLite's own work.

use sqlx::{QueryBuilder, Sqlite, SqliteConnection, Transaction};

use crate::aggregate::{RollupKey, RollupTotals};
use crate::domain::Quantities;
use crate::store::chunks::statement_chunks;
use crate::store::codec::{decimal_text, sqlite_decimal, sqlite_instant, Dec, Instant};
use crate::store::DbError;

/// A rollup row's totals once `delta` is added; `None` when no record is left in it (every
/// record voided or moved by corrections): the row goes, as a rebuild would drop it.
fn added(current: Option<RollupTotals>, delta: &RollupTotals) -> Result<Option<RollupTotals>, DbError> {
    let sum = current.unwrap_or_default().checked_add(delta)?;
    Ok((sum.records != 0).then_some(sum))
}

/// Binds a rollup row's key as `$1`–`$4`, in the order of the rollup table's primary key
/// (`tenant_id`, `bucket_start`, `function`, `region`).
macro_rules! bind_rollup_key {
    ($query:expr, $key:expr) => {
        $query
            .bind($key.tenant_id.as_str())
            .bind(Instant($key.bucket_start))
            .bind($key.function.as_str())
            .bind($key.region.as_str())
    };
}

/// Adds `deltas` to the rollups, a statement-sized chunk at a time: one read of the rows the
/// chunk touches, one multi-row upsert of the sums.
pub(in crate::store) async fn add_deltas(
    tx: &mut Transaction<'_, Sqlite>,
    deltas: &[(RollupKey, RollupTotals)],
) -> Result<(), DbError> {
    let conn = &mut **tx;
    for chunk in statement_chunks(deltas) {
        let current = rollup_totals(conn, chunk).await?;
        let mut sums = Vec::with_capacity(chunk.len());
        let mut emptied = Vec::new();
        for ((key, delta), current) in chunk.iter().zip(current) {
            match added(current, delta)? {
                Some(sum) => sums.push((key, sum)),
                None => emptied.push(key),
            }
        }
        for rows in statement_chunks(&sums) {
            upsert_rollups(conn, rows).await?;
        }
        for key in emptied {
            bind_rollup_key!(sqlx::query(DELETE_ROLLUP), key).execute(&mut *conn).await?;
        }
    }
    Ok(())
}

/// Drops a rollup row no record is left in.
const DELETE_ROLLUP: &str =
    "delete from usage_rollup where tenant_id = $1 and bucket_start = $2 and function = $3 and region = $4";

/// The columns a rollup row is written with, in the order of both forms' values.
const ROLLUP_COLUMNS: &str =
    "insert into usage_rollup (tenant_id, bucket_start, function, region, cpu_cycles, memory_gb_seconds, invocations, records) ";

/// What a write of a row whose key exists does: its totals become the new ones.
const ON_ROLLUP_CONFLICT: &str = " on conflict (tenant_id, bucket_start, function, region) do update set \
    cpu_cycles = excluded.cpu_cycles, memory_gb_seconds = excluded.memory_gb_seconds, \
    invocations = excluded.invocations, records = excluded.records";

/// [`add_deltas`] on ingest's connection, inside the group's transaction: each row read,
/// summed and written by prepared statements.
pub(super) fn add_deltas_through(
    tx: &rusqlite::Connection,
    deltas: &[(RollupKey, RollupTotals)],
) -> Result<(), DbError> {
    let mut read = tx.prepare_cached(
        "select cpu_cycles, memory_gb_seconds, invocations, records from usage_rollup \
         where tenant_id = $1 and bucket_start = $2 and function = $3 and region = $4",
    )?;
    let mut write =
        tx.prepare_cached(&format!("{ROLLUP_COLUMNS} values ($1, $2, $3, $4, $5, $6, $7, $8){ON_ROLLUP_CONFLICT}"))?;
    for (key, delta) in deltas {
        let key_values = (key.tenant_id.as_str(), sqlite_instant(key.bucket_start), &*key.function, &*key.region);
        let current = match read.query(key_values)?.next()? {
            Some(row) => Some(stored_totals(row)?),
            None => None,
        };
        match added(current, delta)? {
            Some(sum) => {
                let (tenant_id, bucket_start, function, region) = key_values;
                let q = &sum.quantities;
                write.execute((
                    tenant_id,
                    bucket_start,
                    function,
                    region,
                    sqlite_decimal(q.cpu_cycles),
                    sqlite_decimal(q.memory_gb_seconds),
                    sqlite_decimal(q.invocations),
                    sum.records,
                ))?;
            }
            None => {
                tx.prepare_cached(DELETE_ROLLUP)?.execute(key_values)?;
            }
        }
    }
    Ok(())
}

/// A rollup row's stored totals (the decimals are text).
fn stored_totals(row: &rusqlite::Row<'_>) -> Result<RollupTotals, DbError> {
    let decimal = |column| -> Result<_, DbError> {
        let text =
            row.get_ref(column)?.as_str().map_err(|e| DbError::Corrupt(format!("rollup column {column}: {e}")))?;
        decimal_text(text)
    };
    let quantities = Quantities { cpu_cycles: decimal(0)?, memory_gb_seconds: decimal(1)?, invocations: decimal(2)? };
    Ok(RollupTotals { quantities, records: row.get(3)? })
}

/// Writes rollup rows as given (their new totals).
async fn upsert_rollups(conn: &mut SqliteConnection, rows: &[(&RollupKey, RollupTotals)]) -> Result<(), DbError> {
    let mut upsert = QueryBuilder::<Sqlite>::new(ROLLUP_COLUMNS);
    upsert.push_values(rows, |mut row, (key, sum)| {
        row.push_bind(key.tenant_id.as_str())
            .push_bind(Instant(key.bucket_start))
            .push_bind(key.function.as_str())
            .push_bind(key.region.as_str())
            .push_bind(Dec(sum.quantities.cpu_cycles))
            .push_bind(Dec(sum.quantities.memory_gb_seconds))
            .push_bind(Dec(sum.quantities.invocations))
            .push_bind(sum.records);
    });
    upsert.push(ON_ROLLUP_CONFLICT);
    upsert.build().execute(conn).await?;
    Ok(())
}

/// The current totals of the rollup rows of `deltas`, in their order (`None`: no row yet).
///
/// The rows come back as one JSON array in one result row: sqlx hands rows over from SQLite's
/// thread one at a time, each column copied, which cost ≈ 9 µs a row here against a few for
/// SQLite to find it; a group reads hundreds. Each row answers the position of its key in
/// `deltas`, so no key text is read back.
async fn rollup_totals(
    conn: &mut SqliteConnection,
    deltas: &[(RollupKey, RollupTotals)],
) -> Result<Vec<Option<RollupTotals>>, DbError> {
    let (found,): (String,) = rollup_totals_query(deltas).build_query_as().fetch_one(conn).await?;
    let found: Vec<(usize, &str, &str, &str, i64)> = serde_json::from_str(&found)
        .map_err(|e| DbError::Corrupt(format!("rollup totals read back as {found:?}: {e}")))?;
    let mut current = vec![None; deltas.len()];
    for (position, cpu_cycles, memory_gb_seconds, invocations, records) in found {
        let quantities = Quantities {
            cpu_cycles: decimal_text(cpu_cycles)?,
            memory_gb_seconds: decimal_text(memory_gb_seconds)?,
            invocations: decimal_text(invocations)?,
        };
        let slot = current.get_mut(position).ok_or_else(|| DbError::Corrupt(format!("rollup position {position}")))?;
        *slot = Some(RollupTotals { quantities, records });
    }
    Ok(current)
}

/// The keys as a `values` list with their positions, each looked up by primary key (as
/// `usage.rs` looks up stored records: the `in (values …)` form scans the table on some SQLite
/// versions).
fn rollup_totals_query(deltas: &[(RollupKey, RollupTotals)]) -> QueryBuilder<'_, Sqlite> {
    let mut select = QueryBuilder::<Sqlite>::new(
        "select json_group_array(json_array(wanted.column5, cpu_cycles, memory_gb_seconds, invocations, records)) \
         from (",
    );
    select.push_values(deltas.iter().zip(0_i64..), |mut row, ((key, _), position)| {
        row.push_bind(key.tenant_id.as_str())
            .push_bind(Instant(key.bucket_start))
            .push_bind(key.function.as_str())
            .push_bind(key.region.as_str())
            .push_bind(position);
    });
    select.push(
        ") as wanted cross join usage_rollup on tenant_id = wanted.column1 and bucket_start = wanted.column2 \
         and function = wanted.column3 and region = wanted.column4",
    );
    select
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::TenantId;
    use crate::store::sqlite::testing::query_plan;

    #[tokio::test]
    async fn reading_the_touched_rollups_searches_the_primary_key_instead_of_scanning_the_table() {
        let key = RollupKey {
            tenant_id: TenantId::parse("acme").unwrap(),
            bucket_start: chrono::DateTime::UNIX_EPOCH,
            function: "resize".into(),
            region: "eu-west-1".into(),
        };
        let deltas = vec![(key, RollupTotals::default()); 3];
        let plan = query_plan(rollup_totals_query(&deltas).sql()).await;
        assert!(plan.contains("SEARCH usage_rollup USING PRIMARY KEY"), "{plan}");
        assert!(!plan.contains("SCAN usage_rollup"), "{plan}");
    }
}
