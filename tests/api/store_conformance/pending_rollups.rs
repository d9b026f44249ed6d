//! `usage_rollup_pending` (PostgreSQL): writers append rollup deltas, a fold moves them into
//! the rollup rows. Every read must answer the same whether a delta is pending or folded, a
//! fold must count each delta once however it meets writers, and a failed fold must lose none.
//! SQLite has no pending deltas: the same reads run there as the reference. The service's own
//! fold is off here (`spawn_app_without_upkeep`): each test says when a fold runs.

use std::collections::BTreeMap;

use chrono::Duration;

use super::{id, usage_of};
use crate::both_stores;
use crate::helpers::{count_rows, execute_sql, spawn_app_without_upkeep, test_now, Backend, TestApp};
use tally::aggregate::{GroupBy, RollupKey, RollupTotals};
use tally::domain::{CorrectionAction, NewUsageRecord, Quantities, RecordKey, UsageCorrection};
use tally::store::Store;

/// Everything a reader of acme's rollups can see: the rows, per-unit sums over an hour and a
/// day (both groupings), and the billing pages' stream summed per key.
#[derive(Debug, PartialEq)]
struct Reads {
    rows: Vec<(RollupKey, RollupTotals)>,
    per_unit: Vec<(RollupKey, RollupTotals)>,
    per_function: Vec<(RollupKey, RollupTotals)>,
    streamed: BTreeMap<RollupKey, RollupTotals>,
}

async fn reads(store: &Store) -> Reads {
    let acme = id("acme");
    let day = (test_now() - Duration::hours(12), test_now() + Duration::hours(12));
    let units = [(day.0, test_now() - Duration::hours(1)), (test_now() - Duration::hours(1), day.1)];
    let pairs = |rollups: Vec<tally::aggregate::Rollup>| rollups.into_iter().map(|r| (r.key, r.totals)).collect();
    let mut streamed: BTreeMap<RollupKey, RollupTotals> = BTreeMap::new();
    store
        .fold_rollups_of(std::slice::from_ref(&acme), day, |r| {
            let sum = streamed.entry(r.key).or_default();
            *sum = sum.checked_add(&r.totals).unwrap();
        })
        .await
        .unwrap();
    streamed.retain(|_, t| t.records != 0);
    Reads {
        rows: pairs(store.rollups(&acme, day.0, day.1).await.unwrap()),
        per_unit: pairs(store.rollups_per_unit(&acme, &units, None).await.unwrap()),
        per_function: pairs(store.rollups_per_unit(&acme, &units, Some(GroupBy::Function)).await.unwrap()),
        streamed,
    }
}

/// Records of acme in three buckets around `test_now()`, `prefix` making the ids unique.
fn group(prefix: &str, count: usize) -> Vec<NewUsageRecord> {
    (0..count)
        .map(|i| {
            let at = test_now() - Duration::minutes(10 * (i % 3) as i64);
            let function = if i % 2 == 0 { "f" } else { "g" };
            usage_of("acme", &format!("{prefix}-{i}"), at, function, &format!("0.{}", i + 1))
        })
        .collect()
}

fn correction(record_id: &str, action: CorrectionAction) -> UsageCorrection {
    let key = RecordKey { tenant_id: id("acme"), source: String::new(), record_id: record_id.into() };
    UsageCorrection { key, action, reason: "test".into(), closed_before: None, accepted_from: None }
}

async fn pending_rows(app: &TestApp) -> i64 {
    count_rows(app, "select count(*) from usage_rollup_pending").await
}

async fn stored_rows(app: &TestApp) -> i64 {
    count_rows(app, "select count(*) from usage_rollup").await
}

both_stores! {
    spawn = spawn_app_without_upkeep;

    async fn every_read_answers_the_same_before_and_after_a_fold(app) {
        // Arrange: three groups into the same buckets, a void and a replace that moves a record
        let store = &app.store;
        for prefix in ["a", "b", "c"] {
            store.insert_usage(&group(prefix, 9), test_now()).await.unwrap();
        }
        store.correct_usage(&correction("a-0", CorrectionAction::Void), test_now()).await.unwrap();
        let moved = Quantities { memory_gb_seconds: "2.5".parse().unwrap(), ..Quantities::default() };
        let replace = CorrectionAction::Replace { function: "h".into(), region: "eu".into(), quantities: moved };
        store.correct_usage(&correction("b-1", replace), test_now()).await.unwrap();
        let before = reads(store).await;
        let postgres = app.database.pg_name.is_some();
        if postgres {
            assert!(pending_rows(&app).await > 0, "the writes left their deltas pending");
        }
        // Act
        let report = store.fold_pending_rollups().await.unwrap();
        // Assert
        assert_eq!(reads(store).await, before, "a fold changes no answer");
        assert_eq!(before.rows.iter().map(|(_, t)| t.records).sum::<i64>(), 26, "27 records, one voided");
        match report {
            Some(report) => {
                assert!(report.pending > report.rows, "several deltas per row were summed: {report:?}");
                assert_eq!(pending_rows(&app).await, 0, "nothing left pending");
                assert_eq!(stored_rows(&app).await, before.rows.len() as i64, "one stored row per row read");
            }
            None => assert!(!postgres, "only SQLite has nothing to fold"),
        }
    }

    async fn a_write_too_wide_for_a_page_reads_and_folds_exactly(app) {
        // Arrange: 800 keys of one tenant in one write — its pending row of arrays is stored
        // out of line (PostgreSQL, Citus), beyond the largest row a page holds
        let store = &app.store;
        let records: Vec<NewUsageRecord> = (0..800)
            .map(|i| {
                let at = test_now() - Duration::minutes(10 * (i % 3));
                usage_of("acme", &format!("w-{i}"), at, &format!("function-with-a-long-name-{i:04}"), "0.5")
            })
            .collect();
        store.insert_usage(&records, test_now()).await.unwrap();
        if app.database.pg_name.is_some() {
            let wide = "select count(*) from usage_rollup_pending_batch where pg_column_size(functions) > 8160";
            assert_eq!(count_rows(&app, wide).await, 1, "the row is wider than a page");
        }
        let before = reads(store).await;
        // Act
        store.fold_pending_rollups().await.unwrap();
        // Assert
        assert_eq!(reads(store).await, before, "a fold changes no answer");
        assert_eq!(before.rows.len(), 800, "one rollup row per function");
        assert_eq!(before.rows.iter().map(|(_, t)| t.records).sum::<i64>(), 800);
    }

    async fn a_write_of_many_deltas_reads_as_the_sum_of_its_records(app) {
        // Arrange: 300 records of two tenants interleaved, over 100 functions and three
        // buckets — more deltas than the appending statement takes (PostgreSQL groups them
        // per tenant and month in Rust and sends them with `COPY`)
        let store = &app.store;
        let records: Vec<NewUsageRecord> = (0..300)
            .map(|i| {
                let tenant = if i % 2 == 0 { "acme" } else { "beta" };
                let at = test_now() - Duration::minutes(10 * (i % 3) as i64);
                usage_of(tenant, &format!("many-{i}"), at, &format!("fn-{:03}", i % 100), &format!("0.{}", i + 1))
            })
            .collect();
        let summed = |tenant: &str| {
            tally::aggregate::fold_records(records.iter().filter(|r| r.key.tenant_id.as_str() == tenant)).unwrap()
        };
        let stored = |tenant: &'static str| async move {
            let day = (test_now() - Duration::hours(12), test_now() + Duration::hours(12));
            let rows = store.rollups(&id(tenant), day.0, day.1).await.unwrap();
            rows.into_iter().map(|r| (r.key, r.totals)).collect::<BTreeMap<_, _>>()
        };
        // Act
        store.insert_usage(&records, test_now()).await.unwrap();
        // Assert
        if app.database.pg_name.is_some() {
            let rows = count_rows(&app, "select count(*) from usage_rollup_pending_batch").await;
            assert_eq!(rows, 2, "one pending row per tenant (one month)");
        }
        for tenant in ["acme", "beta"] {
            assert!(summed(tenant).len() > 64, "{tenant}: more deltas than the statement takes");
            assert_eq!(stored(tenant).await, summed(tenant), "{tenant}, pending");
        }
        store.fold_pending_rollups().await.unwrap();
        for tenant in ["acme", "beta"] {
            assert_eq!(stored(tenant).await, summed(tenant), "{tenant}, folded");
        }
    }

    async fn a_backlog_larger_than_a_page_folds_exactly_a_page_at_a_time(app) {
        // Arrange: three writes of 10 000 distinct rollup keys each (one function per record):
        // a backlog of 30 000 deltas, half again a fold's page
        let store = &app.store;
        let write = |w: usize| -> Vec<NewUsageRecord> {
            (0..10_000)
                .map(|i| usage_of("acme", &format!("b{w}-{i}"), test_now() - Duration::minutes(10 * (i % 3) as i64), &format!("fn-{w}-{i:05}"), "0.5"))
                .collect()
        };
        for w in 0..3 {
            store.insert_usage(&write(w), test_now()).await.unwrap();
        }
        const { assert!(30_000 > tally::store::FOLD_PAGE_DELTAS && 20_000 >= tally::store::FOLD_PAGE_DELTAS, "the backlog spans two pages") };
        let before = reads(store).await;
        // Act
        let report = store.fold_pending_rollups().await.unwrap();
        // Assert
        assert_eq!(reads(store).await, before, "a fold in pages changes no answer");
        assert_eq!(before.rows.iter().map(|(_, t)| t.records).sum::<i64>(), 30_000);
        match report {
            Some(report) => {
                // Citus folds in one go (its fold sums rows as they arrive; no pages there).
                let pages = if app.database.backend == Backend::Citus { 1 } else { 2 };
                assert_eq!((report.pending, report.pages), (30_000, pages), "two writes in the first page, one in the second");
                assert_eq!(pending_rows(&app).await, 0, "nothing left pending");
            }
            None => assert!(app.database.pg_name.is_none(), "only SQLite has nothing to fold"),
        }
    }

    async fn the_pending_table_reuses_the_space_of_the_deltas_it_folded(app) {
        // Arrange: twelve rounds of twenty writes, each a delta for ten functions of ten
        // tenants, each round folded — the table's whole content turns over every round, as it
        // does every second under ingest (autovacuum is off on the test servers, as on some
        // installations). A round fills several pages of every shard, so a table that reused
        // no space would end about twelve times its first size.
        let store = &app.store;
        let size = match app.database.backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some("select pg_relation_size('usage_rollup_pending_batch')"),
            Backend::Citus => Some("select citus_relation_size('usage_rollup_pending_batch')"),
        };
        let mut sizes = Vec::new();
        // Act
        for round in 0..12 {
            for write in 0..20 {
                let records: Vec<NewUsageRecord> = (0..100)
                    .map(|r| {
                        let (tenant, function) = (r / 10, r % 10);
                        let id = format!("r{round}-w{write}-f{function}");
                        usage_of(&format!("tenant-{tenant}"), &id, test_now(), &format!("f{function}"), "0.5")
                    })
                    .collect();
                store.insert_usage(&records, test_now()).await.unwrap();
            }
            let report = store.fold_pending_rollups().await.unwrap();
            assert_eq!(report.map(|r| (r.pending, r.vacuumed)), size.map(|_| (2_000, true)), "round {round}");
            if let Some(sql) = size {
                sizes.push(count_rows(&app, sql).await);
            }
        }
        // Assert: the table holds about one round's rows, not twelve. A vacuum that meets a
        // snapshot older than the fold's delete (on Citus, the workers' maintenance daemon)
        // leaves that round's rows to the next vacuum, so a round or two more is allowed.
        if let (Some(first), Some(last)) = (sizes.first(), sizes.last()) {
            assert!(*last <= 4 * first, "the table grew from {first} to {last} bytes: {sizes:?}");
        }
        let tenant_3 = store.all_rollups(&id("tenant-3")).await.unwrap();
        assert_eq!(tenant_3.iter().map(|r| r.totals.records).sum::<i64>(), 2_400);
    }

    async fn a_record_and_its_void_folded_together_leave_no_row(app) {
        // Arrange: one record alone in its bucket, voided before any fold
        let store = &app.store;
        let lone = [usage_of("acme", "lone", test_now() - Duration::hours(5), "f", "1")];
        store.insert_usage(&lone, test_now()).await.unwrap();
        store.correct_usage(&correction("lone", CorrectionAction::Void), test_now()).await.unwrap();
        // Act
        store.fold_pending_rollups().await.unwrap();
        // Assert: no row of zeros, as a rebuild would leave it
        assert_eq!(store.all_rollups(&id("acme")).await.unwrap(), vec![]);
        assert_eq!(stored_rows(&app).await, 0);
    }
}

/// The storage the write path's cost rests on: a write's deltas are one pending row per tenant
/// and UTC month (arrays), not one per rollup key; the view shows one row per delta.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_keeps_its_deltas_as_one_pending_row_per_tenant_and_month() {
    // Arrange
    let app = spawn_app_without_upkeep(Backend::Postgres).await;
    let mut records = group("a", 12);
    records.push(usage_of("acme", "last-month", test_now() - Duration::days(30), "f", "1"));
    records.push(usage_of("globex", "other", test_now(), "f", "1"));
    // Act
    app.store.insert_usage(&records, test_now()).await.unwrap();
    // Assert: acme's 6 keys of November in one row, its October key in another, globex's in a third
    assert_eq!(count_rows(&app, "select count(*) from usage_rollup_pending_batch").await, 3);
    assert_eq!(pending_rows(&app).await, 8, "one delta per rollup key");
    let months = "select count(*) from usage_rollup_pending_batch \
        where month_start <> date_trunc('month', bucket_starts[1], 'UTC')";
    assert_eq!(count_rows(&app, months).await, 0, "each row is labelled with its deltas' month");
}

/// Sabotage: a fold that fails part way (the rollup rows refuse writes) rolls back whole, the
/// deltas stay pending and every read stays exact; the next fold, once the rows accept writes
/// again, moves them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_fold_loses_no_delta_and_the_next_one_moves_them() {
    // Arrange
    let app = spawn_app_without_upkeep(Backend::Postgres).await;
    let store = &app.store;
    store.insert_usage(&group("a", 12), test_now()).await.unwrap();
    let before = reads(store).await;
    let pending = pending_rows(&app).await;
    execute_sql(
        &app,
        "create function refuse() returns trigger language plpgsql as $$ begin raise exception 'sabotage'; end $$;
         create trigger refuse before insert or update on usage_rollup for each row execute function refuse();",
    )
    .await
    .unwrap();
    // Act
    let failed = store.fold_pending_rollups().await;
    // Assert
    assert!(failed.is_err(), "the fold fails: {failed:?}");
    assert_eq!(pending_rows(&app).await, pending, "every delta is still pending");
    assert_eq!(reads(store).await, before, "and every read still counts it");
    // Act: the rows accept writes again
    execute_sql(&app, "drop trigger refuse on usage_rollup").await.unwrap();
    store.fold_pending_rollups().await.unwrap();
    // Assert
    assert_eq!(pending_rows(&app).await, 0);
    assert_eq!(reads(store).await, before);
}

/// Two writers and a fold in a loop, all at once, on one database: every record is counted
/// exactly once, as a rebuild from the raw records counts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_and_folds_running_at_once_count_every_record_once() {
    // Arrange
    let app = spawn_app_without_upkeep(Backend::Postgres).await;
    let writes = |name: &'static str| {
        let store = app.store.clone();
        tokio::spawn(async move {
            for n in 0..40 {
                store.insert_usage(&group(&format!("{name}{n}"), 15), test_now()).await.unwrap();
            }
        })
    };
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let folds = {
        let (store, done) = (app.store.clone(), done.clone());
        tokio::spawn(async move {
            let mut runs = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                store.fold_pending_rollups().await.unwrap();
                runs += 1;
            }
            runs
        })
    };
    // Act
    let (first, second) = tokio::join!(writes("x"), writes("y"));
    first.unwrap();
    second.unwrap();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let runs = folds.await.unwrap();
    let written = reads(&app.store).await;
    // Assert
    assert!(runs > 1, "folds ran beside the writers ({runs})");
    let counted: i64 = written.rows.iter().map(|(_, t)| t.records).sum();
    assert_eq!(counted, 2 * 40 * 15, "every record counted once");
    app.store.rebuild_rollups().await.unwrap();
    assert_eq!(reads(&app.store).await, written, "the rollups equal a rebuild from the raw records");
}
