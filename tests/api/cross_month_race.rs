//! Two writers storing one key at the same moment with timestamps in different months (issue
//! 14): each month's partition has its own primary key, so only the writers' locks can make
//! the second copy see the first. The interleaving is forced, not hoped for: a transaction
//! holds `usage_rollup_pending_batch` (the pending rollup deltas), which every write path
//! touches last, so each writer stops after its probe and its insert, before it commits; both
//! are seen waiting before it lets them go.
//! PostgreSQL here, Citus in the `citus` target; SQLite has one writer.

use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use sqlx::{Connection, PgConnection};

use crate::helpers::{count_rows, spawn_app_without_upkeep, stored_record, Backend, TestApp};
use tally::domain::{NewUsageRecord, Quantities};
use tally::store::{month_start, open_store, InsertOutcome, Store};

/// Record "k" of acme stamped `timestamp`; its content hash differs with the timestamp.
fn copy_at(timestamp: DateTime<Utc>) -> NewUsageRecord {
    stored_record("acme", "k", timestamp, Quantities { invocations: Decimal::ONE, ..Default::default() })
}

/// Client sessions of the test database waiting for a lock, with what they wait for.
async fn lock_waits(db: &mut PgConnection) -> Vec<String> {
    let sql = "select wait_event from pg_stat_activity \
        where datname = current_database() and backend_type = 'client backend' and wait_event_type = 'Lock' \
        order by wait_event";
    sqlx::query_scalar(sql).fetch_all(db).await.unwrap()
}

/// Waits until `count` sessions wait for a lock; returns what they wait for.
async fn until_waiting(db: &mut PgConnection, count: usize) -> Vec<String> {
    let deadline = Instant::now() + StdDuration::from_secs(30);
    loop {
        let waits = lock_waits(db).await;
        if waits.len() >= count || Instant::now() > deadline {
            return waits;
        }
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
}

/// Runs `a` on one store and `b` on the other at once, both held before their commit until
/// both wait for a lock; returns their outcomes and the locks they waited for.
async fn race(
    app: &TestApp,
    other: &Store,
    a: NewUsageRecord,
    b: NewUsageRecord,
    now: DateTime<Utc>,
) -> (InsertOutcome, InsertOutcome, Vec<String>) {
    let mut holder = PgConnection::connect(&app.database.url).await.unwrap();
    let mut held = holder.begin().await.unwrap();
    sqlx::query("lock table usage_rollup_pending_batch in share mode").execute(&mut *held).await.unwrap();
    let (first, second) = (app.store.clone(), other.clone());
    let first = tokio::spawn(async move { first.insert_usage(&[a], now).await });
    let second = tokio::spawn(async move { second.insert_usage(&[b], now).await });
    let mut observer = PgConnection::connect(&app.database.url).await.unwrap();
    let waits = until_waiting(&mut observer, 2).await;
    held.commit().await.unwrap();
    let first = first.await.unwrap().expect("the first writer commits")[0];
    let second = second.await.unwrap().expect("the second writer commits")[0];
    (first, second, waits)
}

crate::server_stores!(
    two_writers_storing_one_key_in_two_months_at_once_store_it_once,
    two_writers_storing_one_key_in_the_current_month_meet_at_its_primary_key_without_waiting_for_each_other,
);

async fn two_writers_storing_one_key_in_two_months_at_once_store_it_once(backend: Backend) {
    // Arrange: two processes' stores on one database; copy A stamped in the previous month,
    // copy B now (both inside the accepted window)
    let app = spawn_app_without_upkeep(backend).await;
    app.create_tenant("acme", "UTC").await;
    let other = open_store(&app.database.url, 4).await.unwrap();
    let now = Utc::now();
    app.store.ensure_usage_partitions(month_start(now) - Duration::days(1), now + Duration::hours(1)).await.unwrap();
    let (a, b) = (copy_at(month_start(now) - Duration::seconds(1)), copy_at(now));
    // Act
    let (first, second, waits) = race(&app, &other, a.clone(), b.clone(), now).await;
    // Assert
    assert_eq!(waits.len(), 2, "both writers were held before committing: {waits:?}");
    let expected = match first {
        InsertOutcome::Inserted => (InsertOutcome::Inserted, InsertOutcome::Existing(a.content_hash)),
        InsertOutcome::Existing(_) => (InsertOutcome::Existing(b.content_hash), InsertOutcome::Inserted),
    };
    assert_eq!((first, second), expected, "one copy stored, the other reported as a conflict with it");
    let stored = count_rows(&app, "select count(*) from usage_record where record_id = 'k'").await;
    assert_eq!(stored, 1, "one copy of the key is stored");
    let rolled = "select coalesce(sum(records), 0)::int8 from \
        (select records from usage_rollup union all select records from usage_rollup_pending) as r";
    let counted = count_rows(&app, rolled).await;
    assert_eq!(counted, 1, "and counted once");
}

async fn two_writers_storing_one_key_in_the_current_month_meet_at_its_primary_key_without_waiting_for_each_other(
    backend: Backend,
) {
    // Arrange: two copies of one key stamped a second apart, both in the month of the
    // database's clock (the common case)
    let app = spawn_app_without_upkeep(backend).await;
    app.create_tenant("acme", "UTC").await;
    let other = open_store(&app.database.url, 4).await.unwrap();
    let now = Utc::now();
    let b_at = now.max(month_start(now) + Duration::seconds(1));
    let (a, b) = (copy_at(b_at - Duration::seconds(1)), copy_at(b_at));
    // Act
    let (first, second, waits) = race(&app, &other, a.clone(), b.clone(), now).await;
    // Assert: outside the first hour of a month, neither waited for the other's tenant lock
    if now - month_start(now) > Duration::hours(2) {
        assert!(!waits.contains(&"advisory".to_owned()), "writers of the current month share their lock: {waits:?}");
    }
    let inserted = [first, second].iter().filter(|o| **o == InsertOutcome::Inserted).count();
    assert_eq!(inserted, 1, "the partition's primary key lets one copy in: {first:?}, {second:?}");
    let stored = count_rows(&app, "select count(*) from usage_record where record_id = 'k'").await;
    assert_eq!(stored, 1);
}
