//! Moving a store (`tally store copy`) and backing one up (`tally backup`): a billed SQLite
//! store moves to PostgreSQL through an interruption, verifies clean, and bills on there with
//! the numbering unbroken; the target serves nothing before it is verified; verification names
//! what was tampered with; a backup taken under ingest is a consistent database.

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::{Connection, Executor, PgConnection, SqliteConnection};

use crate::billing::{admin_post, invoices_of, run_billing_and_wait, tenant_on, usage_at};
use crate::helpers::{spawn_app, Backend, TestApp, TestDatabase, JWT_SECRET};
use tally::clock::ManualClock;
use tally::config::Settings;
use tally::startup::Application;
use tally::store::{copy_store, open_store, verify_copy, CopyOptions, Kind, Store, COPIED_TABLES, NOT_COPIED};

/// A store with two tenants billed for October 2026 (invoices INV-2026-000001 and -000002), a
/// credit grant, and October's raw usage: enough rows for several small batches.
async fn billed_october(backend: Backend) -> TestApp {
    let app = spawn_app(backend).await;
    for tenant in ["acme", "beta"] {
        tenant_on(&app, tenant, "UTC", "payg", "2026-10-01T00:00:00Z").await;
        let ids: Vec<String> = (0..12).map(|i| format!("{tenant}-oct-{i}")).collect();
        let records: Vec<(&str, &str, u64)> =
            ids.iter().map(|id| (id.as_str(), "2026-10-10T11:00:00Z", 250_000)).collect();
        usage_at(&app, tenant, "2026-10-10T12:00:00Z", &records).await;
    }
    let grant = json!({"amount": "1.00", "currency": "USD", "reason": "welcome"});
    assert_eq!(admin_post(&app, "/v1/tenants/acme/credits", &grant).await.status(), StatusCode::CREATED);
    run_billing_and_wait(&app, "2026-11-02T00:00:00Z").await;
    app
}

/// An empty, migrated PostgreSQL database to copy into.
async fn empty_postgres() -> (TestDatabase, Store) {
    let database = TestDatabase::create(Backend::Postgres).await;
    let store = open_store(&database.url, 4).await.unwrap();
    (database, store)
}

/// `tally serve` built on the database at `url`, its clock reading `now`.
async fn build_on(url: &str, now: &str) -> anyhow::Result<(Application, Store, ManualClock)> {
    let mut settings = Settings::from_sources("", |_| None)?;
    settings.listen = "127.0.0.1:0".into();
    settings.database_url = Some(url.to_owned().into());
    settings.jwt.secret = Some(JWT_SECRET.to_owned().into());
    settings.http_workers = Some(2);
    settings.billing.schedule_every = std::time::Duration::ZERO;
    settings.notify.poll_every = std::time::Duration::ZERO;
    settings.allow_time_travel = true;
    let store = open_store(url, 4).await?;
    let clock = ManualClock::new(crate::billing::at(now));
    let app = Application::build_with_store(settings, store.clone(), Arc::new(clock.clone())).await?;
    Ok((app, store, clock))
}

/// The service running on a copied database; the source's API keys, copied with everything
/// else, are the ones it answers.
async fn serve_on(database: TestDatabase, source: &TestApp, now: &str) -> TestApp {
    let (app, store, clock) = build_on(&database.url, now).await.expect("a verified copy serves");
    let (address, stop, dispatcher) = (format!("http://127.0.0.1:{}", app.port()), app.stop_handle(), app.dispatcher());
    let login_queue = app.login_queue();
    let stopped = tokio::spawn(app.run_until_stopped());
    let (admin_key, ingest_key, client) = (source.admin_key.clone(), source.ingest_key.clone(), source.client.clone());
    TestApp { address, client, store, clock, admin_key, ingest_key, database, dispatcher, login_queue, stop, stopped }
}

fn no_progress(_: tally::store::CopyProgress) {}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_billed_sqlite_store_moves_to_postgresql_through_an_interruption_and_bills_on_without_a_gap() {
    // Arrange
    let source = billed_october(Backend::Sqlite).await;
    let (database, target) = empty_postgres().await;
    let small = CopyOptions { batch_rows: 5, stop_after_batches: Some(3) };
    // Act: the copy stops after three batches, as a crash would leave it …
    let interrupted = copy_store(&source.store, "the test's SQLite", &target, &small, &no_progress).await.unwrap();
    let before_verification = build_on(&database.url, "2026-11-10T00:00:00Z").await;
    // … and is run again to the end, then verified.
    let resume = CopyOptions { batch_rows: 5, stop_after_batches: None };
    let resumed = copy_store(&source.store, "the test's SQLite", &target, &resume, &no_progress).await.unwrap();
    let verification = verify_copy(&source.store, &target, 7, &|_| {}).await.unwrap();
    // Assert
    assert!(!interrupted.complete && interrupted.batches == 3, "{interrupted:?}");
    let error = before_verification.err().expect("an unverified copy does not serve").to_string();
    assert!(error.contains("unverified `tally store copy`") && error.contains("--verify"), "{error}");
    assert!(resumed.resumed && resumed.complete, "{resumed:?}");
    let copied: u64 = resumed.tables.iter().map(|(_, rows)| rows).sum();
    assert_eq!(copied, interrupted.rows_written + resumed.rows_written, "no row written twice across the interruption");
    assert_eq!(verification.differences, Vec::<String>::new());
    assert!(verification.released, "a clean verification releases the target");
    let records = verification.tables.iter().find(|(t, _, _)| *t == "usage_record").unwrap();
    assert_eq!((records.1, records.2), (24, 24));
    // The service on the new store: October as it was, November numbered straight after.
    let moved = serve_on(database, &source, "2026-11-10T00:00:00Z").await;
    let october_by_day = "/v1/tenants/acme/usage?from=2026-10-01T00:00:00Z&to=2026-11-01T00:00:00Z&granularity=day";
    assert_eq!(
        moved.get_json(october_by_day).await,
        source.get_json(october_by_day).await,
        "October's usage reads the same on the new store (its hour rollups derived from the copied ones)"
    );
    let october = source
        .get_json(&format!("/v1/invoices/{}", invoices_of(&source, "acme").await[0]["id"].as_str().unwrap()))
        .await;
    usage_at(&moved, "acme", "2026-11-10T12:00:00Z", &[("acme-nov-0", "2026-11-10T11:00:00Z", 1_000_000)]).await;
    run_billing_and_wait(&moved, "2026-12-02T00:00:00Z").await;
    let mut numbers = Vec::new();
    for tenant in ["acme", "beta"] {
        let invoices = invoices_of(&moved, tenant).await;
        numbers.extend(invoices.iter().map(|i| i["number"].as_str().unwrap().to_owned()));
        if tenant == "acme" {
            assert_eq!(invoices[0], october, "October's invoice reads the same on the new store");
        }
    }
    numbers.sort();
    let expected: Vec<String> = (1..=4).map(|n| format!("INV-2026-{n:06}")).collect();
    assert_eq!(numbers, expected, "November continues October's numbering without a gap");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_names_a_tampered_rollup_and_invoice_and_the_command_fails() {
    // Arrange: a PostgreSQL store copied to another and verified clean, then edited behind
    // the service's back (the invoice through its immutability trigger, switched off).
    let source = billed_october(Backend::Postgres).await;
    let (database, target) = empty_postgres().await;
    copy_store(&source.store, "the test's PostgreSQL", &target, &CopyOptions::default(), &no_progress).await.unwrap();
    assert_eq!(verify_copy(&source.store, &target, 100, &|_| {}).await.unwrap().differences, Vec::<String>::new());
    let mut db = PgConnection::connect(&database.url).await.unwrap();
    db.execute(
        "update usage_rollup set invocations = invocations + 1 where tenant_id = 'beta';
         alter table invoice disable trigger invoice_immutable;
         update invoice set total = total + 1 where number = 'INV-2026-000001';",
    )
    .await
    .unwrap();
    // Act
    let output = tally(&["store", "copy", "--to", &database.url, "--verify"], &source.database.url).await;
    // Assert
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "differences fail the command: {stdout}");
    assert!(stdout.contains("comparing only"), "{stdout}");
    for expected in [
        "DIFFERENCE\tusage_rollup: as many rows on both sides",
        "DIFFERENCE\tusage_rollup: tenant beta's rollups sum to",
        "DIFFERENCE\tinvoice: invoice INV-2026-000001 of tenant",
        "in the source but",
        "its finalized content differs",
    ] {
        assert!(stdout.contains(expected), "{expected:?} in:\n{stdout}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_the_service_ingests_is_whole_and_consistent() {
    // Arrange: a tenant receiving batches of usage, concurrently, for the whole test.
    let app = spawn_app(Backend::Sqlite).await;
    app.create_tenant("acme", "UTC").await;
    let batch = |n: usize| json!({"records": (0..50).map(|i| crate::helpers::record("acme", &format!("r{n}-{i}"))).collect::<Vec<Value>>()});
    assert_eq!(app.post_usage(&batch(0)).await.status(), StatusCode::OK);
    let (client, address, key) = (app.client.clone(), app.address.clone(), app.ingest_key.clone());
    let ingesting = tokio::spawn(async move {
        for n in 1..=40 {
            let request = client.post(format!("{address}/v1/usage")).bearer_auth(&key).json(&batch(n));
            assert_eq!(request.send().await.unwrap().status(), StatusCode::OK);
        }
    });
    let file = app.database.data_dir.join("backup.db");
    // Act
    let output = tally(&["backup", file.to_str().unwrap()], &app.database.url).await;
    ingesting.await.unwrap();
    // Assert
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("integrity check ok"), "{stdout}");
    let mut backup = SqliteConnection::connect(&format!("sqlite://{}", file.display())).await.unwrap();
    let records: i64 = sqlx::query_scalar("select count(*) from usage_record").fetch_one(&mut backup).await.unwrap();
    let counted: i64 =
        sqlx::query_scalar("select sum(records) from usage_rollup").fetch_one(&mut backup).await.unwrap();
    assert!(records >= 50 && records % 50 == 0, "whole batches only: {records}");
    assert_eq!(records, counted, "raw records and rollups from the same instant");
    open_store(&format!("sqlite://{}", file.display()), 1).await.expect("the backup opens as a store");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_of_postgresql_points_to_its_own_tools() {
    let (database, store) = empty_postgres().await;
    let error = store.backup_into(&database.data_dir.join("backup.db")).await.unwrap_err().to_string();
    assert!(error.contains("pg_dump") && error.contains("point-in-time recovery"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_table_and_column_the_migrations_create_is_copied_with_its_type() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        // Arrange
        let database = TestDatabase::create(backend).await;
        drop(open_store(&database.url, 1).await.unwrap());
        // Act
        let created = schema(&database).await;
        // Assert
        let listed: BTreeSet<(String, String, String)> = COPIED_TABLES
            .iter()
            .flat_map(|t| {
                t.columns.iter().map(move |(c, kind)| (t.name.to_owned(), c.to_string(), kind_on(backend, *kind)))
            })
            .collect();
        let uncopied: Vec<_> = created.difference(&listed).collect();
        let stale: Vec<_> = listed.difference(&created).collect();
        assert!(uncopied.is_empty(), "{backend:?}: add to COPIED_TABLES (src/store/copy/tables.rs): {uncopied:?}");
        assert!(stale.is_empty(), "{backend:?}: COPIED_TABLES lists what no migration creates: {stale:?}");
    }
}

/// (table, column, type) of every column of every table but the ones a copy leaves out, and
/// not partitions (their rows are their parent's); SQLite's types are not compared.
async fn schema(database: &TestDatabase) -> BTreeSet<(String, String, String)> {
    let rows: Vec<(String, String, String)> = match database.backend {
        Backend::Postgres => {
            let sql = r#"select c.table_name::text, c.column_name::text,
                    case c.data_type when 'integer' then 'bigint' else c.data_type end::text
                from information_schema.columns c
                join pg_class k on k.relname = c.table_name
                join pg_namespace n on n.oid = k.relnamespace and n.nspname = c.table_schema
                where c.table_schema = current_schema() and k.relkind in ('r', 'p') and not k.relispartition"#;
            sqlx::query_as(sql).fetch_all(&mut PgConnection::connect(&database.url).await.unwrap()).await.unwrap()
        }
        _ => {
            let sql = r#"select m.name, p.name, '' from sqlite_master m join pragma_table_info(m.name) p
                where m.type = 'table' and m.name not like 'sqlite_%'"#;
            sqlx::query_as(sql).fetch_all(&mut SqliteConnection::connect(&database.url).await.unwrap()).await.unwrap()
        }
    };
    rows.into_iter().filter(|(table, _, _)| !NOT_COPIED.contains(&table.as_str())).collect()
}

/// How PostgreSQL's catalog names the type a kind is copied as.
fn kind_on(backend: Backend, kind: Kind) -> String {
    let name = match kind {
        _ if backend == Backend::Sqlite => "",
        Kind::Text => "text",
        Kind::Int => "bigint",
        Kind::Bool => "boolean",
        Kind::Dec => "numeric",
        Kind::Time => "timestamp with time zone",
        Kind::Bytes => "bytea",
        Kind::Json => "jsonb",
    };
    name.to_owned()
}

/// Runs the real `tally` binary with the configured store at `database_url`.
async fn tally(args: &[&str], database_url: &str) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tally"));
    command.args(args).env("TALLY_DATABASE_URL", database_url);
    tokio::task::spawn_blocking(move || command.output().expect("the tally binary runs")).await.unwrap()
}
