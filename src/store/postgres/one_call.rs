//! A small group of new records in one round trip: `usage_write_new()` (migration
//! 20261203100000) runs the prelude, the insert of the records and the append of their rollup
//! deltas as one statement, sent outside an explicit transaction so that it is its own
//! transaction. The transaction path (`usage.rs`) sends `BEGIN`, the prelude, the insert, the
//! append and `COMMIT`: five round trips, which for a group of a few dozen single-record
//! requests cost both processes more than the rows did.
//!
//! It answers only the common case — no key of the group stored anywhere in the window — and
//! writes nothing otherwise, leaving the group to the transaction path: a key found in another
//! month comes back from the call's lookup, a key stored in the group's own month fails its
//! insert (`DbError::AlreadyExists`), exactly as a refused `COPY` does. A connection lost under
//! the call fails it: the write is then run again, whole, on a fresh connection (`usage.rs`).
//! Had the lost call committed after all, the rerun finds every key stored and answers them as
//! duplicates of themselves: stored once either way.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::prelude::{bind_prelude, known_hashes, LookIn};
use super::probe::ProbeWindow;
use super::usage::{bind_rollup_columns, RecordColumns};
use crate::aggregate::{fold_records, RollupKey, RollupTotals};
use crate::domain::NewUsageRecord;
use crate::store::rollup_pending::months_of;
use crate::store::DbError;

const WRITE_NEW_SQL: &str = "select * from usage_write_new($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
     $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28)";

/// What the call did.
pub(super) enum OneCall {
    /// Every record was inserted, its rollup deltas appended, and committed.
    Written,
    /// Nothing was written: the call's lookup found a key of the group in another month. The
    /// transaction path writes the group.
    LeftToTransaction,
}

/// Writes `records` (none of whose keys may be stored in their own months, or the call fails
/// whole with [`DbError::AlreadyExists`]) in one call.
pub(super) async fn write_new_in_one_call(
    connection: &mut PgConnection,
    records: &[&NewUsageRecord],
    window: &ProbeWindow,
    ingested_at: DateTime<Utc>,
) -> Result<OneCall, DbError> {
    let columns = RecordColumns::of(records)?;
    let deltas: Vec<(RollupKey, RollupTotals)> = fold_records(records.iter().copied())?.into_iter().collect();
    let query = bind_prelude(sqlx::query(WRITE_NEW_SQL), records, window, LookIn::OtherMonths)
        .bind(&columns.timestamps)
        .bind(&columns.functions)
        .bind(&columns.regions)
        .bind(&columns.cpu_cycles)
        .bind(&columns.memory_gb_seconds)
        .bind(&columns.invocations)
        .bind(&columns.event_types)
        .bind(&columns.content_hashes)
        .bind(ingested_at);
    let query = bind_rollup_columns(query, &deltas).bind(months_of(&deltas));
    let row = query.fetch_one(connection).await?;
    Ok(match known_hashes(&row)?.is_empty() {
        true => OneCall::Written,
        false => OneCall::LeftToTransaction,
    })
}
