//! Exactly-once across months between concurrent writers: locks on buckets of tenants, taken
//! at the start of every write transaction, before its probe (issue 14).
//!
//! The race: two transactions write one key in different months (copy A stamped Jan 31 23:59
//! in one writer's group, copy B Feb 1 00:01 in another's). Their rows go to different
//! partitions, so no primary key meets both, and each probe runs before the other commits:
//! both copies would be stored. Serialising writers of one tenant closes it, but only
//! writers whose records lie in *different* months need it; copies in one month meet at that
//! partition's primary key. So every transaction locks the buckets (64, by a stable hash of
//! `tenant_id`) of its records' tenants:
//! - **shared** when all of the bucket's records fall in the month of the database's clock,
//!   at least [`MONTH_START_GUARD`] after that month began — the common case, where writers
//!   do not wait for one another;
//! - **exclusive** otherwise: records of another month (late or future data), and every
//!   group during the first hour of a month.
//!
//! Why it holds: if two transactions both lock shared, each one's records lie in the month of
//! its own lock statement's instant; the database has one clock, so when those months differ
//! the later statement ran at least the guard after the earlier month ended. The copies race
//! only if the earlier transaction is still open then. **The bound relied on: a write
//! transaction commits within an hour of its lock statement** (they take milliseconds; only a
//! process frozen for an hour inside one, with its connection open, breaks it — nothing in
//! the write path waits that long). When either lock is exclusive, the later transaction
//! waits for the earlier to commit, and its probe, a later statement with a later snapshot,
//! sees the committed row — that is why the locks are their own statement before the probe
//! (both in the write's first call, `usage_write_prelude()`: a plpgsql function, each of whose
//! statements takes a fresh snapshot).
//!
//! The database's clock decides, not the writer's: with one clock for every writer the bound
//! is the length of a transaction alone, not that plus the skew between processes' clocks.
//! Locks are taken in bucket order (the rows of `unnest` come in array order, there is no
//! sort to reorder the calls) and before any row is written, so writers cannot deadlock.
//! Per-key locks were the alternative: a thousand locks per group fills PostgreSQL's shared
//! lock table; 64 buckets bound a group's locks at 64 whatever its size.
//!
//! Citus: advisory locks live on the node that runs the statement; every writer goes through
//! the coordinator, which runs this one (it reads no table), so all writers share them. The
//! coordinator releases them after its workers committed (locks are released after the
//! commit callbacks that finish the distributed commit). SQLite has one writer: no locks.
//! A rolling upgrade from a version without these locks keeps the race open until every
//! process runs this one; [`bucket_of`] must not change between versions either.

use std::collections::BTreeMap;

use chrono::Duration;
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{Postgres, Transaction};

use super::probe::Span;
use crate::domain::NewUsageRecord;
use crate::store::partitions::{month_start, next_month};
use crate::store::DbError;

/// Tenants are hashed into this many locks: enough that writers of unrelated tenants rarely
/// wait for each other at a month's start, few enough to bound a group's locks.
const BUCKETS: u64 = 64;

/// The first bucket's advisory lock key ("tallyu" then the bucket number); apart from the
/// other advisory keys Tally uses.
const BUCKET_LOCK_BASE: i64 = 0x7461_6c6c_7975_0000;

/// How long after a month starts every group locks exclusively: longer than any write
/// transaction lasts (see the module's bound).
const MONTH_START_GUARD: Duration = Duration::hours(1);

/// Takes each bucket's lock in the order given: shared when the statement's instant lies in
/// `[shared_from, shared_until)`, else (or when they are null) exclusive. Also used verbatim
/// by the partitioning benchmark.
pub const LOCK_TENANT_BUCKETS_SQL: &str = r#"
select case when statement_timestamp() >= l.shared_from and statement_timestamp() < l.shared_until
    then pg_advisory_xact_lock_shared(l.lock_key) else pg_advisory_xact_lock(l.lock_key) end
from unnest($1::int8[], $2::timestamptz[], $3::timestamptz[]) as l (lock_key, shared_from, shared_until)"#;

/// One bucket's lock: its key, and when it may be shared (`None`: always exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketLock {
    pub key: i64,
    pub shared_during: Option<Span>,
}

/// The bucket of a tenant: FNV-1a of its id. Every process must agree on it.
pub fn bucket_of(tenant_id: &str) -> u64 {
    crate::domain::fnv1a(tenant_id.bytes()) % BUCKETS
}

/// The locks a group takes, in bucket order: a bucket whose records all lie in one month may
/// be shared from the guard after that month's start to its end.
pub fn bucket_locks(records: &[&NewUsageRecord]) -> Vec<BucketLock> {
    // Per bucket: the month of its first record, or `None` once a record lies elsewhere.
    let mut months: BTreeMap<u64, Option<Span>> = BTreeMap::new();
    for record in records {
        let at = record.timestamp;
        months
            .entry(bucket_of(record.key.tenant_id.as_str()))
            .and_modify(|month| *month = month.filter(|(start, end)| *start <= at && at < *end))
            .or_insert_with(|| Some((month_start(at), next_month(at))));
    }
    months
        .into_iter()
        .map(|(bucket, month)| BucketLock {
            key: BUCKET_LOCK_BASE + bucket as i64,
            shared_during: month.map(|(start, end)| (start + MONTH_START_GUARD, end)),
        })
        .collect()
}

/// Locks the buckets of `records`' tenants for the rest of `tx`. Must be `tx`'s first
/// statement that reads `usage_record` (the probe's snapshot must come after the locks).
pub(super) async fn lock_tenant_buckets(
    tx: &mut Transaction<'_, Postgres>,
    records: &[&NewUsageRecord],
) -> Result<(), DbError> {
    if records.is_empty() {
        return Ok(());
    }
    bind_bucket_locks(sqlx::query(LOCK_TENANT_BUCKETS_SQL), records).execute(&mut **tx).await?;
    Ok(())
}

/// Binds the locks of `records`' tenants as the query's next three parameters (keys, shared
/// from, shared until), the way [`LOCK_TENANT_BUCKETS_SQL`] and the write functions that
/// begin with it take them.
pub(super) fn bind_bucket_locks<'q>(
    query: Query<'q, Postgres, PgArguments>,
    records: &[&NewUsageRecord],
) -> Query<'q, Postgres, PgArguments> {
    let locks = bucket_locks(records);
    query
        .bind(locks.iter().map(|l| l.key).collect::<Vec<_>>())
        .bind(locks.iter().map(|l| l.shared_during.map(|(from, _)| from)).collect::<Vec<_>>())
        .bind(locks.iter().map(|l| l.shared_during.map(|(_, until)| until)).collect::<Vec<_>>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::at;
    use crate::domain::{ContentHash, Quantities, RecordKey, TenantId};

    fn record(tenant: &str, timestamp: &str) -> NewUsageRecord {
        NewUsageRecord {
            key: RecordKey {
                tenant_id: TenantId::parse(tenant).unwrap(),
                source: String::new(),
                record_id: "r".into(),
            },
            timestamp: at(timestamp),
            function: String::new(),
            region: String::new(),
            quantities: Quantities::default(),
            event_type: String::new(),
            content_hash: ContentHash([0; 16]),
        }
    }

    fn locks_of(records: &[NewUsageRecord]) -> Vec<BucketLock> {
        bucket_locks(&records.iter().collect::<Vec<_>>())
    }

    #[test]
    fn buckets_are_a_fixed_hash_of_the_tenant_every_process_computes_alike() {
        // Pinned: processes of two versions must lock the same bucket for a tenant.
        assert_eq!([bucket_of("acme"), bucket_of("beta"), bucket_of("t0")], [15, 39, 9]);
        assert!((0..1_000).all(|t| bucket_of(&format!("tenant-{t}")) < BUCKETS));
    }

    #[test]
    fn a_bucket_within_one_month_may_be_shared_from_an_hour_after_the_month_starts() {
        let locks = locks_of(&[record("acme", "2026-12-02T10:00:00Z"), record("acme", "2026-12-31T23:59:59Z")]);
        let shared = Some((at("2026-12-01T01:00:00Z"), at("2027-01-01T00:00:00Z")));
        assert_eq!(locks, [BucketLock { key: BUCKET_LOCK_BASE + 15, shared_during: shared }]);
    }

    #[test]
    fn a_bucket_with_records_in_two_months_is_always_exclusive() {
        let locks = locks_of(&[record("acme", "2026-12-01T00:00:01Z"), record("acme", "2026-11-30T23:59:59Z")]);
        assert_eq!(locks, [BucketLock { key: BUCKET_LOCK_BASE + 15, shared_during: None }]);
    }

    #[test]
    fn buckets_come_in_order_each_once_and_alone_decide_their_mode() {
        let records = [
            record("t0", "2026-12-02T10:00:00Z"),
            record("beta", "2026-11-20T10:00:00Z"),
            record("acme", "2026-12-02T10:00:00Z"),
            record("beta", "2026-12-02T10:00:00Z"),
            record("acme", "2026-12-02T11:00:00Z"),
        ];
        let locks = locks_of(&records);
        let keys: Vec<i64> = locks.iter().map(|l| l.key - BUCKET_LOCK_BASE).collect();
        assert_eq!(keys, [9, 15, 39], "t0, acme, beta");
        let shared: Vec<bool> = locks.iter().map(|l| l.shared_during.is_some()).collect();
        assert_eq!(shared, [true, true, false], "only beta's bucket straddles two months");
    }
}
