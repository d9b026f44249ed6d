//! Per-unit rollup sums (`Store::rollups_per_unit`, behind the usage API, the portal and the
//! current usage) against the 15-minute rows they summarise. On PostgreSQL they read each
//! unit's whole UTC hours before the hour watermark from the hour level, so that level must
//! follow every write below the watermark (late records, corrections, the rebuild) and the
//! compactor that moves the watermark. The app's own fold and compactor are off
//! (`spawn_app_without_upkeep`): each test says when they run, and a compaction of the app's
//! own between `set_watermark` and the assertions would sum the hours the test expects empty.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use sqlx::{Connection, PgConnection};

use super::{id, usage_of};
use crate::both_stores;
use crate::helpers::{spawn_app_without_upkeep, test_now, TestApp};
use tally::aggregate::{next_unit_start, usage_series, Granularity, GroupBy};
use tally::domain::{CorrectionAction, NewUsageRecord, Quantities, RecordKey, UsageCorrection};
use tally::store::Store;

/// 48 records of `acme`, one every 37 minutes back from `test_now()`, in functions f and g.
fn spread() -> Vec<NewUsageRecord> {
    (0..48)
        .map(|i| {
            let function = if i % 3 == 0 { "g" } else { "f" };
            let memory = format!("0.{}", i + 1);
            usage_of("acme", &format!("r{i}"), test_now() - Duration::minutes(37 * i), function, &memory)
        })
        .collect()
}

/// The units of `granularity` in `tz` over `[from, to)`, clipped to it (as the API cuts them).
fn units(
    tz: Tz,
    granularity: Granularity,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut out = Vec::new();
    let mut cursor = from;
    while cursor < to {
        let next = next_unit_start(tz, granularity, cursor).min(to);
        out.push((cursor, next));
        cursor = next;
    }
    out
}

/// Every series of the last three days — by hour and by day, in UTC and in Kathmandu (UTC+5:45,
/// whose units start inside UTC hours), ungrouped and by function — is the same from the
/// per-unit sums as from the 15-minute rows.
async fn assert_sums_agree(store: &Store, when: &str) {
    let (from, to) = (test_now() - Duration::days(3), test_now() + Duration::hours(1));
    let rows = store.all_rollups(&id("acme")).await.unwrap();
    for tz in [Tz::UTC, Tz::Asia__Kathmandu] {
        for granularity in [Granularity::Hour, Granularity::Day] {
            for group in [None, Some(GroupBy::Function)] {
                let units = units(tz, granularity, from, to);
                let sums = store.rollups_per_unit(&id("acme"), &units, group).await.unwrap();
                let series = |rollups| usage_series(tz, granularity, group, from, to, rollups).unwrap();
                assert_eq!(series(&sums), series(&rows), "{when}: {tz} by {granularity:?}, {group:?}");
            }
        }
    }
}

/// On PostgreSQL: the hour rows before the watermark are exactly the 15-minute rows summed per
/// hour (no stale or emptied hour left behind), and none is at or after it. SQLite has no
/// hour level.
async fn assert_hours_derive_from_quarters(app: &TestApp, when: &str) {
    if app.database.pg_name.is_none() {
        return;
    }
    let differences = r#"
        with derived as (
            select tenant_id, date_bin('1 hour', bucket_start, timestamptz '2000-01-01 00:00:00+00') as bucket_start,
                function, region, sum(cpu_cycles) as cpu_cycles, sum(memory_gb_seconds) as memory_gb_seconds,
                sum(invocations) as invocations, sum(records)::int8 as records
            from usage_rollup where bucket_start < (select through from rollup_hour_watermark)
            group by 1, 2, 3, 4),
        stored as (select * from usage_rollup_hour)
        select count(*) from ((select * from derived except select * from stored)
            union all (select * from stored except select * from derived)) as d"#;
    let mut db = PgConnection::connect(&app.database.url).await.unwrap();
    let count: i64 = sqlx::query_scalar(differences).fetch_one(&mut db).await.unwrap();
    assert_eq!(count, 0, "{when}: hour rows differing from the 15-minute rows summed per hour");
}

/// Sets the hour watermark (PostgreSQL), as a compactor that ran up to `through` would leave it.
async fn set_watermark(app: &TestApp, through: DateTime<Utc>) {
    let mut db = PgConnection::connect(&app.database.url).await.unwrap();
    sqlx::query("update rollup_hour_watermark set through = $1").bind(through).execute(&mut db).await.unwrap();
}

async fn hour_rows_from(app: &TestApp, from: DateTime<Utc>) -> i64 {
    let mut db = PgConnection::connect(&app.database.url).await.unwrap();
    let sql = "select count(*) from usage_rollup_hour where bucket_start >= $1";
    sqlx::query_scalar(sql).bind(from).fetch_one(&mut db).await.unwrap()
}

fn correction(record_id: &str, action: CorrectionAction) -> UsageCorrection {
    let key = RecordKey { tenant_id: id("acme"), source: String::new(), record_id: record_id.into() };
    UsageCorrection { key, action, reason: "test".into(), closed_before: None, accepted_from: None }
}

both_stores! {
    spawn = spawn_app_without_upkeep;
    async fn per_unit_sums_equal_the_15_minute_rows_through_late_records_corrections_and_a_rebuild(app) {
        // Arrange
        let store = &app.store;
        store.insert_usage(&spread(), test_now()).await.unwrap();
        assert_sums_agree(store, "after ingest").await;
        assert_hours_derive_from_quarters(&app, "after ingest").await;
        // Act: a late record into an hour that already has rows, and one into a new hour
        let late = [
            usage_of("acme", "late-1", test_now() - Duration::minutes(37 * 20 + 3), "f", "7"),
            usage_of("acme", "late-2", test_now() - Duration::hours(60), "h", "0.5"),
        ];
        store.insert_usage(&late, test_now()).await.unwrap();
        // Assert
        assert_sums_agree(store, "after late records").await;
        assert_hours_derive_from_quarters(&app, "after late records").await;
        store.fold_pending_rollups().await.unwrap();
        assert_sums_agree(store, "after late records folded").await;
        assert_hours_derive_from_quarters(&app, "after late records folded").await;
        // Act: a void that empties an hour, a replace that moves a record to another function
        let moved = Quantities { memory_gb_seconds: "2.5".parse().unwrap(), ..Quantities::default() };
        let replace = CorrectionAction::Replace { function: "g".into(), region: "eu".into(), quantities: moved };
        store.correct_usage(&correction("late-2", CorrectionAction::Void), test_now()).await.unwrap();
        store.correct_usage(&correction("r5", replace), test_now()).await.unwrap();
        // Assert
        assert_sums_agree(store, "after corrections").await;
        assert_hours_derive_from_quarters(&app, "after corrections").await;
        store.fold_pending_rollups().await.unwrap();
        assert_sums_agree(store, "after corrections folded").await;
        assert_hours_derive_from_quarters(&app, "after corrections folded").await;
        // Act
        store.rebuild_rollups().await.unwrap();
        // Assert
        assert_sums_agree(store, "after a rebuild").await;
        assert_hours_derive_from_quarters(&app, "after a rebuild").await;
    }
}

both_stores! {
    spawn = spawn_app_without_upkeep;
    async fn records_at_or_after_the_hour_watermark_wait_for_the_compactor_and_reads_stay_exact(app) {
        // Arrange: the hour level complete up to three hours before now
        let store = &app.store;
        let watermark = test_now() - Duration::hours(3);
        let postgres = app.database.pg_name.is_some();
        if postgres {
            set_watermark(&app, watermark).await;
        }
        // Act: records on both sides of the watermark, one late record below it
        store.insert_usage(&spread(), test_now()).await.unwrap();
        let late = [usage_of("acme", "late", test_now() - Duration::hours(50), "h", "0.5")];
        store.insert_usage(&late, test_now()).await.unwrap();
        // Assert: the late record's hour is in the hour level, no hour at or after W is
        assert_sums_agree(store, "before compaction").await;
        assert_hours_derive_from_quarters(&app, "before compaction").await;
        // Act: the pending deltas folded (the late record's hour is below the watermark)
        store.fold_pending_rollups().await.unwrap();
        // Assert
        assert_sums_agree(store, "after a fold").await;
        assert_hours_derive_from_quarters(&app, "after a fold").await;
        if postgres {
            assert_eq!(hour_rows_from(&app, watermark).await, 0, "hour rows at or after the watermark");
        }
        // Act: the compactor, ten minutes after the hour of test_now() ended
        let moved = store.compact_rollup_hours(test_now() + Duration::minutes(70)).await.unwrap();
        // Assert
        if postgres {
            let moved = moved.expect("PostgreSQL has an hour level");
            assert_eq!((moved.from, moved.to), (watermark, test_now() + Duration::hours(1)));
            assert!(hour_rows_from(&app, watermark).await > 0, "the compactor summed the hours it passed");
        } else {
            assert_eq!(moved, None, "SQLite has no hour level");
        }
        assert_sums_agree(store, "after compaction").await;
        assert_hours_derive_from_quarters(&app, "after compaction").await;
        // Act: two compactors at once from the old watermark (the hours summed again)
        if postgres {
            set_watermark(&app, watermark).await;
        }
        let now = test_now() + Duration::minutes(70);
        let (first, second) = tokio::join!(store.compact_rollup_hours(now), store.compact_rollup_hours(now));
        // Assert: one moved the watermark, the other found nothing to do
        if postgres {
            let mut moves = [first.unwrap().unwrap(), second.unwrap().unwrap()].map(|m| m.from < m.to);
            moves.sort_unstable();
            assert_eq!(moves, [false, true]);
        }
        assert_sums_agree(store, "after two compactions at once").await;
        assert_hours_derive_from_quarters(&app, "after two compactions at once").await;
        // Act: a correction below and one above the watermark, then a rebuild
        store.correct_usage(&correction("late", CorrectionAction::Void), test_now()).await.unwrap();
        store.correct_usage(&correction("r0", CorrectionAction::Void), test_now()).await.unwrap();
        store.rebuild_rollups().await.unwrap();
        // Assert
        assert_sums_agree(store, "after corrections and a rebuild").await;
        assert_hours_derive_from_quarters(&app, "after corrections and a rebuild").await;
    }
}

/// 48 records of `beta`, 11 minutes before each of [`spread`]'s, in functions f and h.
fn spread_of_beta() -> Vec<NewUsageRecord> {
    (0..48)
        .map(|i| {
            let function = if i % 3 == 0 { "h" } else { "f" };
            let at = test_now() - Duration::minutes(37 * i + 11);
            usage_of("beta", &format!("b{i}"), at, function, &format!("0.{}", i + 2))
        })
        .collect()
}

/// A page read (`rollups_per_unit_of`) answers each tenant what its own per-unit read does.
async fn assert_page_agrees(store: &Store, when: &str) {
    let (from, to) = (test_now() - Duration::days(3), test_now() + Duration::hours(1));
    let wanted = vec![
        (id("acme"), units(Tz::UTC, Granularity::Hour, from, to)),
        (id("beta"), units(Tz::Asia__Kathmandu, Granularity::Day, from, to)),
        (id("idle"), units(Tz::UTC, Granularity::Day, from, to)),
    ];
    let page = store.rollups_per_unit_of(&wanted).await.unwrap();
    for (tenant, units) in &wanted {
        let own = store.rollups_per_unit(tenant, units, None).await.unwrap();
        assert_eq!(page.get(tenant).cloned().unwrap_or_default(), own, "{when}: {tenant}");
    }
    assert!(!page.contains_key(&id("idle")), "{when}: a tenant with no usage has no sums");
    assert!(page.contains_key(&id("beta")), "{when}: beta's usage is read");
}

both_stores! {
    spawn = spawn_app_without_upkeep;
    async fn a_page_of_tenants_reads_each_tenants_own_per_unit_sums_pending_folded_and_compacted(app) {
        // Arrange: the hour level complete up to three hours before now
        let store = &app.store;
        if app.database.pg_name.is_some() {
            set_watermark(&app, test_now() - Duration::hours(3)).await;
        }
        // Act: two tenants' records on both sides of the watermark, still pending
        store.insert_usage(&spread(), test_now()).await.unwrap();
        store.insert_usage(&spread_of_beta(), test_now()).await.unwrap();
        // Assert
        assert_page_agrees(store, "pending").await;
        // Act + Assert: folded, then compacted
        store.fold_pending_rollups().await.unwrap();
        assert_page_agrees(store, "folded").await;
        store.compact_rollup_hours(test_now() + Duration::minutes(70)).await.unwrap();
        assert_page_agrees(store, "compacted").await;
    }
}

/// A fold queued behind a compactor adds hour deltas below the watermark that compactor moved
/// to, not the one before its wait (else a late delta's hour would never reach the hour level:
/// the compactor summed the quarters without it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fold_waiting_for_the_compactor_reads_the_watermark_it_moved_to() {
    // Arrange: a record pending in an hour above W; a compactor's transaction holding the
    // lock, W moved past that hour but not committed. The service's own fold is off: queued
    // behind the same lock, it could take the delta before the fold under test.
    let app = crate::helpers::spawn_app_without_upkeep(crate::helpers::Backend::Postgres).await;
    app.create_tenant("acme", "UTC").await;
    set_watermark(&app, test_now() - Duration::hours(5)).await;
    let at = test_now() - Duration::hours(3);
    app.store.insert_usage(&[usage_of("acme", "r", at, "f", "1")], test_now()).await.unwrap();
    let moved_to = test_now() - Duration::hours(1);
    let mut compactor = PgConnection::connect(&app.database.url).await.unwrap();
    sqlx::query("begin").execute(&mut compactor).await.unwrap();
    sqlx::query("select pg_advisory_xact_lock(x'74616c6c79686f75'::int8)").execute(&mut compactor).await.unwrap();
    sqlx::query("update rollup_hour_watermark set through = $1").bind(moved_to).execute(&mut compactor).await.unwrap();
    // Act: a fold (waiting), then the compactor commits
    let store = app.store.clone();
    let fold = tokio::spawn(async move { store.fold_pending_rollups().await });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!fold.is_finished(), "the fold waits for the compactor's lock");
    sqlx::query("commit").execute(&mut compactor).await.unwrap();
    // Assert
    let report = fold.await.unwrap().unwrap().expect("PostgreSQL folds");
    assert_eq!((report.pending, report.rows), (1, 1));
    assert_eq!(hour_rows_from(&app, test_now() - Duration::hours(4)).await, 1, "the record's hour was added");
    assert_hours_derive_from_quarters(&app, "after the fold").await;
}
