//! The pending rollup deltas' table reclaims its deleted rows as fast as the fold deletes them.
//!
//! Why: `usage_rollup_pending_batch` (`rollup_pending.rs`) is a queue. Writers append about a
//! second of deltas, the fold deletes them, every second. PostgreSQL reuses a deleted row's
//! space only after a `VACUUM` has recorded it; until then every append extends the table.
//! Autovacuum visits a database once a minute at best (`autovacuum_naptime`), and is off on
//! some installations (this project's CI machine among them). So the table grew by the whole
//! of each second's deltas — 172 MB of dead rows in a 60-second single-record run, beside
//! 283 MB of records — and the fold, which reads the table in order, read all of them every
//! second: its statement took 97 ms at the median instead of 38 (BENCHMARKS.md, "The pending
//! deltas' table vacuumed by the fold", Dec 5 10:13).
//! Now the fold vacuums the table after every call that took rows: the table holds about a
//! second of deltas, whatever the uptime.
//!
//! `truncate false`: giving trailing empty pages back to the file system takes an exclusive
//! lock on the table, which would stall the writers' appends behind it; those pages are
//! refilled within a second anyway. The vacuum's own lock (share update exclusive) lets the
//! writers and the readers through, and only queues another vacuum of the same table (another
//! `tally serve`, or autovacuum, which yields to it).

use sqlx::PgPool;

use crate::store::DbError;

/// Citus propagates it to every shard of the table.
const VACUUM_PENDING_SQL: &str = "vacuum (truncate false) usage_rollup_pending_batch";

/// Vacuums the pending deltas' table: outside any transaction, as `VACUUM` must be.
///
/// # Errors
/// A store failure; the table then waits for the next call (nothing is lost, it only grows).
pub(in crate::store) async fn vacuum_pending(pool: &PgPool) -> Result<(), DbError> {
    sqlx::raw_sql(VACUUM_PENDING_SQL).execute(pool).await?;
    Ok(())
}
