//! Raw usage over time: monthly partitions keep exactly-once across their boundaries, and
//! retention removes whole months only once billing no longer needs them.

use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::billing::{at, invoices_of, run_billing_and_wait, tenant_on, usage_at};
use crate::both_stores;
use crate::helpers::{Backend, TestApp};
use tally::domain::TenantId;
use tally::lifecycle::{Maintenance, RawRetention};

fn native(id: &str, timestamp: &str, invocations: u64) -> Value {
    json!({"id": id, "tenant_id": "acme", "timestamp": timestamp, "invocations": invocations})
}

async fn post_at(app: &TestApp, when: &str, records: Vec<Value>) -> (StatusCode, Value) {
    app.clock.set(at(when));
    let response = app.post_usage(&json!({ "records": records })).await;
    (response.status(), response.json().await.unwrap())
}

/// Raw record ids of acme stamped in `[from, to)`.
async fn raw_ids(app: &TestApp, from: &str, to: &str) -> Vec<String> {
    let mut ids = app.store.sample_record_ids(&TenantId::parse("acme").unwrap(), at(from), at(to), 100).await.unwrap();
    ids.sort();
    ids
}

/// Retention keeping raw records one day, within the default 35-day late window.
fn one_day_retention() -> Maintenance {
    Maintenance { retention: RawRetention { keep: Some(Duration::days(1)), allowed_lateness: Duration::days(35) } }
}

/// November holds acme's k-10, k-20, k-30 and beta's z-1. December's ids sit below, on,
/// between and above each tenant's ids stored there, in one batch with `padding` more new ids
/// of acme after them: exactly the keys November holds are refused, on the bounds as well (a
/// lookup that narrows its probes to the ids between the lowest and highest stored must still
/// find them).
/// `stored_in_december`: acme's ids stored in December before the batch.
/// New records padding the batch: `count` of acme's, or one for each of `count` other tenants
/// (created here) when `spread`.
async fn padding(app: &TestApp, count: usize, spread: bool) -> Vec<Value> {
    let mut records = Vec::with_capacity(count);
    for i in 0..count {
        let mut record = native(&format!("n-{i:03}"), "2026-12-02T09:00:00Z", 1);
        if spread {
            let tenant = format!("pad-{i:03}");
            app.create_tenant(&tenant, "UTC").await;
            record["tenant_id"] = json!(tenant);
        }
        records.push(record);
    }
    records
}

async fn previous_month_keys_are_refused_in_a_batch_of(
    app: &TestApp,
    padding: Vec<Value>,
    stored_in_december: &[&str],
) {
    // Arrange
    app.create_tenant("acme", "UTC").await;
    app.create_tenant("beta", "UTC").await;
    let beta =
        |id: &str, timestamp: &str| json!({"id": id, "tenant_id": "beta", "timestamp": timestamp, "invocations": 1});
    let november = vec![
        native("k-10", "2026-11-20T10:00:00Z", 1),
        native("k-20", "2026-11-20T10:00:00Z", 1),
        native("k-30", "2026-11-20T10:00:00Z", 1),
        beta("z-1", "2026-11-20T10:00:00Z"),
    ];
    let (status, _) = post_at(app, "2026-12-02T10:00:00Z", november).await;
    assert_eq!(status, StatusCode::OK);
    if !stored_in_december.is_empty() {
        // Stored, then sent again: after meeting stored keys, the writer's next groups look
        // their keys up in their own month (December) as well.
        let earlier: Vec<Value> = stored_in_december.iter().map(|id| native(id, "2026-12-02T08:00:00Z", 1)).collect();
        for _ in 0..2 {
            let (status, _) = post_at(app, "2026-12-02T10:00:00Z", earlier.clone()).await;
            assert_eq!(status, StatusCode::OK);
        }
    }
    // Act: the same ids and new ones, stamped in December, in one batch
    let acme_padding_ids =
        padding.iter().filter(|r| r["tenant_id"] == "acme").map(|r| r["id"].as_str().unwrap().to_owned());
    let padding_ids: Vec<String> = acme_padding_ids.collect();
    let december = ["k-05", "k-10", "k-15", "k-30", "k-35", "z-0"]
        .iter()
        .map(|id| native(id, "2026-12-02T09:00:00Z", 1))
        .chain([beta("z-1", "2026-12-02T09:00:00Z"), beta("a-1", "2026-12-02T09:00:00Z")])
        .chain(padding.iter().cloned())
        .collect();
    let (_, reply) = post_at(app, "2026-12-02T10:00:00Z", december).await;
    // Assert
    let refused: Vec<u64> = reply["errors"].as_array().unwrap().iter().map(|e| e["index"].as_u64().unwrap()).collect();
    assert_eq!(refused, [1, 3, 6], "k-10, k-30 and beta's z-1: {reply}");
    assert_eq!(reply["accepted"], 5 + padding.len(), "{reply}");
    let stored = raw_ids(app, "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z").await;
    let mut expected: Vec<String> = ["k-05", "k-15", "k-35", "z-0"]
        .into_iter()
        .chain(stored_in_december.iter().copied())
        .map(String::from)
        .chain(padding_ids)
        .collect();
    expected.sort();
    assert_eq!(stored, expected);
}

both_stores! {
    async fn records_on_either_side_of_a_month_boundary_count_once_each(app) {
        // Arrange
        app.create_tenant("acme", "UTC").await;
        let records = vec![native("last", "2026-11-30T23:59:59.999999Z", 1), native("first", "2026-12-01T00:00:00Z", 2)];
        // Act
        let (status, first) = post_at(&app, "2026-12-01T00:01:00Z", records.clone()).await;
        let (_, again) = post_at(&app, "2026-12-01T00:02:00Z", records).await;
        // Assert
        assert_eq!((status, first["accepted"].as_u64()), (StatusCode::OK, Some(2)), "{first}");
        assert_eq!(again["duplicates"], 2, "{again}");
        assert_eq!(raw_ids(&app, "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z").await, ["last"]);
        assert_eq!(raw_ids(&app, "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z").await, ["first"]);
        if let Some(months) = app.store.usage_partition_months().await.unwrap() {
            assert!(months.contains(&at("2026-11-01T00:00:00Z")) && months.contains(&at("2026-12-01T00:00:00Z")));
        }
        let usage = app.get_json("/v1/tenants/acme/usage?granularity=month&from=2026-11-01T00:00:00Z&to=2027-01-01T00:00:00Z").await;
        let invocations: Vec<&str> = usage["buckets"].as_array().unwrap().iter().map(|b| b["invocations"].as_str().unwrap()).collect();
        assert_eq!(invocations, ["1", "2"]);
    }

    async fn the_same_key_with_a_timestamp_in_the_next_month_is_a_conflict(app) {
        // Arrange: "k" stored in November
        app.create_tenant("acme", "UTC").await;
        let (status, _) = post_at(&app, "2026-12-02T10:00:00Z", vec![native("k", "2026-11-28T10:00:00Z", 5)]).await;
        assert_eq!(status, StatusCode::OK);
        // Act: the same key stamped in December, alone and inside a batch of new records
        let (alone, reply) = post_at(&app, "2026-12-02T10:00:00Z", vec![native("k", "2026-12-01T10:00:00Z", 5)]).await;
        let batch = vec![native("n1", "2026-12-02T09:00:00Z", 1), native("k", "2026-12-02T09:00:00Z", 5), native("n2", "2026-12-02T09:00:00Z", 1)];
        let (_, mixed) = post_at(&app, "2026-12-02T10:00:00Z", batch).await;
        // Assert
        assert_eq!(alone, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reply["errors"][0]["code"], "conflicting_duplicate", "{reply}");
        assert_eq!((mixed["accepted"].as_u64(), mixed["rejected"].as_u64()), (Some(2), Some(1)), "{mixed}");
        assert_eq!(mixed["errors"][0]["index"], 1);
        assert!(raw_ids(&app, "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z").await == ["n1", "n2"], "k never stored in December");
    }

    async fn a_key_of_the_previous_month_is_found_whatever_ids_lie_around_it(app) {
        previous_month_keys_are_refused_in_a_batch_of(&app, Vec::new(), &[]).await;
    }

    async fn a_key_of_the_previous_month_is_found_in_a_batch_large_enough_to_read_key_bounds(app) {
        // 64 more new ids (`n-…`, above every id November holds) make the group large enough
        // to read the bounds of the stored ids and probe only the keys inside them.
        let padding = padding(&app, 64, false).await;
        previous_month_keys_are_refused_in_a_batch_of(&app, padding, &[]).await;
    }

    async fn a_key_of_the_previous_month_is_found_in_a_large_batch_of_a_tenant_a_record(app) {
        // 64 new records of 64 other tenants: a group whose (tenant, source) pairs are most of
        // its records probes every key instead of reading bounds (two descents a pair).
        let padding = padding(&app, 64, true).await;
        previous_month_keys_are_refused_in_a_batch_of(&app, padding, &[]).await;
    }

    async fn a_key_of_the_previous_month_is_found_where_only_that_months_bounds_hold_it(app) {
        // December's ids for acme (`m-…`) lie above every November id (`k-…`), and the batch
        // comes after a resend, so the writer looks in November and December: the bounds are
        // per month, and k-10 and k-30 must be looked for in November's partition.
        let padding = padding(&app, 64, false).await;
        previous_month_keys_are_refused_in_a_batch_of(&app, padding, &["m-1", "m-2"]).await;
    }

    async fn retention_removes_exactly_the_months_whose_invoices_settle_them_for_good(app) {
        // Arrange: usage in September, October and November, billed up to November
        tenant_on(&app, "acme", "UTC", "payg", "2026-09-01T00:00:00Z").await;
        usage_at(&app, "acme", "2026-09-15T12:00:00Z", &[("sep", "2026-09-15T11:00:00Z", 10)]).await;
        usage_at(&app, "acme", "2026-10-15T12:00:00Z", &[("oct", "2026-10-15T11:00:00Z", 20)]).await;
        usage_at(&app, "acme", "2026-11-25T12:00:00Z", &[("nov", "2026-11-25T11:00:00Z", 30)]).await;
        run_billing_and_wait(&app, "2026-12-01T02:00:00Z").await;
        let september = app.get_json("/v1/tenants/acme/usage?granularity=month&from=2026-09-01T00:00:00Z&to=2026-10-01T00:00:00Z").await;
        // Act: on December 20, September's late window is over and November's invoice settled it;
        // October's late records (until December 6) are settled only by December's invoice
        let report = one_day_retention().run_once(&app.store, at("2026-12-20T00:00:00Z")).await.unwrap();
        // Assert
        assert_eq!(report.retired_months, [at("2026-09-01T00:00:00Z")]);
        assert_eq!(report.kept.as_ref().map(|k| k.month), Some(at("2026-10-01T00:00:00Z")), "{report:?}");
        assert!(raw_ids(&app, "2026-09-01T00:00:00Z", "2026-10-01T00:00:00Z").await.is_empty());
        assert_eq!(raw_ids(&app, "2026-10-01T00:00:00Z", "2026-12-01T00:00:00Z").await, ["nov", "oct"]);
        let after = app.get_json("/v1/tenants/acme/usage?granularity=month&from=2026-09-01T00:00:00Z&to=2026-10-01T00:00:00Z").await;
        assert_eq!(after, september, "rollups are kept");
        app.store.rebuild_rollups().await.unwrap();
        let rebuilt = app.get_json("/v1/tenants/acme/usage?granularity=month&from=2026-09-01T00:00:00Z&to=2026-10-01T00:00:00Z").await;
        assert_eq!(rebuilt, september, "a rebuild keeps the rollups of retired months");
        let invoices = invoices_of(&app, "acme").await;
        let explain = |invoice: &Value| format!("/v1/invoices/{}/lines/1/explain", invoice["id"].as_str().unwrap());
        let retired = app.get_json(&explain(&invoices[0])).await;
        assert_eq!(retired["sample_records_retired_at"], json!(at("2026-12-20T00:00:00Z")), "{retired}");
        assert_eq!(app.get_json(&explain(&invoices[2])).await["sample_records_retired_at"], Value::Null);
    }

    async fn a_duplicate_of_a_record_retention_kept_is_still_a_duplicate(app) {
        // Arrange: September (and the empty October) retired, November kept
        tenant_on(&app, "acme", "UTC", "payg", "2026-09-01T00:00:00Z").await;
        usage_at(&app, "acme", "2026-09-15T12:00:00Z", &[("sep", "2026-09-15T11:00:00Z", 10)]).await;
        usage_at(&app, "acme", "2026-11-25T12:00:00Z", &[("nov", "2026-11-25T11:00:00Z", 30)]).await;
        run_billing_and_wait(&app, "2026-12-01T02:00:00Z").await;
        let report = one_day_retention().run_once(&app.store, at("2026-12-20T00:00:00Z")).await.unwrap();
        assert_eq!(report.retired_months, [at("2026-09-01T00:00:00Z"), at("2026-10-01T00:00:00Z")], "{report:?}");
        // Act
        let (status, reply) = post_at(&app, "2026-12-20T00:00:00Z", vec![json!({"id": "nov", "tenant_id": "acme", "timestamp": "2026-11-25T11:00:00Z", "invocations": 30})]).await;
        let (_, conflict) = post_at(&app, "2026-12-20T00:00:00Z", vec![native("nov", "2026-12-19T11:00:00Z", 30)]).await;
        // Assert
        assert_eq!((status, reply["duplicates"].as_u64()), (StatusCode::OK, Some(1)), "{reply}");
        assert_eq!(conflict["errors"][0]["code"], "conflicting_duplicate", "{conflict}");
    }

    async fn retention_keeps_everything_by_default_and_what_no_invoice_settles(app) {
        // Arrange: a tenant without a plan has usage nobody invoices
        app.create_tenant("acme", "UTC").await;
        let (status, _) = post_at(&app, "2026-09-15T12:00:00Z", vec![native("sep", "2026-09-15T11:00:00Z", 1)]).await;
        assert_eq!(status, StatusCode::OK);
        let forever = Maintenance { retention: RawRetention { keep: None, allowed_lateness: Duration::days(35) } };
        // Act
        let by_default = forever.run_once(&app.store, at("2027-06-01T00:00:00Z")).await.unwrap();
        let unsettled = one_day_retention().run_once(&app.store, at("2027-06-01T00:00:00Z")).await.unwrap();
        // Assert
        assert!(by_default.retired_months.is_empty() && by_default.kept.is_none(), "{by_default:?}");
        assert!(unsettled.retired_months.is_empty(), "{unsettled:?}");
        assert_eq!(unsettled.kept.map(|k| k.month), Some(at("2026-09-01T00:00:00Z")));
        assert_eq!(raw_ids(&app, "2026-09-01T00:00:00Z", "2026-10-01T00:00:00Z").await, ["sep"]);
    }

    async fn the_server_folds_pending_rollup_deltas_and_counts_its_folds_in_metrics(app) {
        // Arrange: three records of one 15-minute bucket in one request: one group commit, so
        // one pending rollup delta on PostgreSQL; SQLite's writer adds to the rollups itself.
        app.create_tenant("acme", "UTC").await;
        let records = vec![
            native("a", "2026-11-27T11:46:00Z", 1),
            native("b", "2026-11-27T11:50:00Z", 2),
            native("c", "2026-11-27T11:59:00Z", 3),
        ];
        let on_sqlite = app.database.backend == Backend::Sqlite;
        let deltas = if on_sqlite { 0.0 } else { 1.0 };
        // Act
        let (status, _) = post_at(&app, "2026-11-27T12:00:00Z", records).await;
        // Assert: within a few of the server's one-second folds.
        assert_eq!(status, StatusCode::OK);
        let metrics = metrics_when(&app, |m| metric(m, "tally_rollup_deltas_folded_total") == deltas).await;
        let folds = metric(&metrics, "tally_rollup_fold_seconds_count");
        assert!(if on_sqlite { folds == 0.0 } else { folds >= 1.0 }, "{metrics}");
        assert_eq!(metric(&metrics, "tally_rollup_fold_failures_total"), 0.0, "{metrics}");
        assert_eq!(metric(&metrics, "tally_rollup_pending_vacuum_failures_total"), 0.0, "{metrics}");
        let usage = app.get_json("/v1/tenants/acme/usage?granularity=hour&from=2026-11-27T11:00:00Z&to=2026-11-27T12:00:00Z").await;
        assert_eq!(usage["buckets"][0]["invocations"], "6", "{usage}");
    }
}

/// A sample's value in `/metrics`; absent reads as NaN, which equals nothing.
fn metric(metrics: &str, name: &str) -> f64 {
    let value = metrics.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(' '));
    value.and_then(|v| v.parse().ok()).unwrap_or(f64::NAN)
}

/// `/metrics` once `done` holds for it, read every 100 ms for at most 10 s (then as it is).
async fn metrics_when(app: &TestApp, done: impl Fn(&str) -> bool) -> String {
    for _ in 0..100 {
        let metrics = app.metrics().await;
        if done(&metrics) {
            return metrics;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let metrics = app.metrics().await;
    assert!(done(&metrics), "/metrics never got there:\n{metrics}");
    metrics
}

/// Records in the SQLite database file alone — what a checkpoint has copied out of the log —
/// read from a copy of the file without its log (0 when the copy caught a checkpoint halfway).
async fn records_in_the_database_file(app: &TestApp) -> i64 {
    use sqlx::Connection;
    let copy = app.database.data_dir.join("file-alone.db");
    std::fs::copy(app.database.data_dir.join("tally.db"), &copy).unwrap();
    let mut records = 0;
    if let Ok(mut conn) = sqlx::SqliteConnection::connect(&format!("sqlite://{}", copy.display())).await {
        let counted: Result<(i64,), _> = sqlx::query_as("select count(*) from usage_record").fetch_one(&mut conn).await;
        records = counted.map_or(0, |(n,)| n);
        let _ = conn.close().await;
    }
    for file in ["file-alone.db", "file-alone.db-wal", "file-alone.db-shm"] {
        let _ = std::fs::remove_file(app.database.data_dir.join(file));
    }
    records
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_acknowledged_records_reach_the_database_file_without_the_writer_checkpointing() {
    // Arrange: far fewer log pages than the writer's own checkpoint waits for.
    let app = crate::helpers::spawn_app(crate::helpers::Backend::Sqlite).await;
    app.create_tenant("acme", "UTC").await;
    let records: Vec<Value> = (0..50).map(|i| native(&format!("r{i}"), "2026-11-27T11:00:00Z", 1)).collect();

    // Act
    let (status, _) = post_at(&app, "2026-11-27T12:00:00Z", records).await;

    // Assert: the checkpoint beside the writer copies them within a few of its passes.
    assert_eq!(status, StatusCode::OK);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while records_in_the_database_file(&app).await != 50 {
        assert!(std::time::Instant::now() < deadline, "the records never reached the database file");
        tokio::time::sleep(tally::store::CHECKPOINT_EVERY).await;
    }
}
