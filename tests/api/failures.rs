//! The database going away mid-load: 503s with Retry-After, never a lost acknowledgement.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use sqlx::Executor;

use crate::helpers::{pg_admin, record, spawn_app, Backend};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_mid_load_gives_503s_and_loses_no_acknowledged_record() {
    // Arrange
    let app = spawn_app(Backend::Postgres).await;
    app.create_tenant("acme", "UTC").await;
    let name = app.database.pg_name.clone().unwrap();
    let mut admin = pg_admin().await;
    let mut acknowledged: HashSet<String> = HashSet::new();
    let mut unavailable = 0;
    // Act: post batches; stop the database (refuse and kill its connections) part way, then
    // bring it back.
    for round in 0..30 {
        if round == 10 {
            admin.execute(format!(r#"alter database "{name}" allow_connections false"#).as_str()).await.unwrap();
            admin
                .execute(
                    format!("select pg_terminate_backend(pid) from pg_stat_activity where datname = '{name}'").as_str(),
                )
                .await
                .unwrap();
        }
        if round == 20 {
            admin.execute(format!(r#"alter database "{name}" allow_connections true"#).as_str()).await.unwrap();
        }
        let ids: Vec<String> = (0..50).map(|i| format!("o{round}-{i}")).collect();
        let body = json!({"records": ids.iter().map(|id| record("acme", id)).collect::<Vec<_>>()});
        let response = app.post_usage(&body).await;
        match response.status() {
            StatusCode::OK => acknowledged.extend(ids),
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(response.headers().contains_key("retry-after"), "a 503 says when to retry");
                let body: serde_json::Value = response.json().await.unwrap();
                assert_eq!(body["error"]["code"], "service_unavailable");
                unavailable += 1;
            }
            other => panic!("round {round}: unexpected status {other}: {}", response.text().await.unwrap()),
        }
        if (20..22).contains(&round) {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // Assert
    assert!(unavailable >= 5, "the outage was noticed ({unavailable} 503s)");
    assert!(acknowledged.len() >= 20 * 50 - 2 * 50, "service resumed after the outage");
    let mut connection = <sqlx::PgConnection as sqlx::Connection>::connect(&app.database.url).await.unwrap();
    let stored: Vec<(String,)> =
        sqlx::query_as("select record_id from usage_record").fetch_all(&mut connection).await.unwrap();
    let stored: HashSet<String> = stored.into_iter().map(|(id,)| id).collect();
    let missing: Vec<&String> = acknowledged.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(missing.is_empty(), "acknowledged but not stored: {missing:?}");
    let before = app.rollups_of("acme").await;
    app.store.rebuild_rollups().await.unwrap();
    assert_eq!(app.rollups_of("acme").await, before, "rollups still match the raw records");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_connection_killed_between_requests_costs_the_next_request_nothing() {
    // Arrange: one HTTP worker, so one lane writer, which keeps its connection after a commit.
    let app = crate::helpers::spawn_app_with(Backend::Postgres, |s| s.http_workers = Some(1)).await;
    app.create_tenant("acme", "UTC").await;
    let name = app.database.pg_name.clone().unwrap();
    assert_eq!(app.post_usage(&record("acme", "before")).await.status(), StatusCode::OK);
    // Act: every session of the database ends (a restart, a proxy's idle timeout), the kept
    // one included; single records and a batch, each going the path its size takes.
    let mut admin = pg_admin().await;
    let mut answers = Vec::new();
    for (round, ids) in
        [vec!["single-1".to_owned()], (0..100).map(|i| format!("batch-{i}")).collect()].iter().enumerate()
    {
        admin
            .execute(
                format!("select pg_terminate_backend(pid) from pg_stat_activity where datname = '{name}'").as_str(),
            )
            .await
            .unwrap();
        let body = json!({"records": ids.iter().map(|id| record("acme", id)).collect::<Vec<_>>()});
        let response = app.post_usage(&body).await;
        answers.push((round, response.status(), response.text().await.unwrap()));
    }
    // Assert
    for (round, status, body) in &answers {
        assert_eq!(*status, StatusCode::OK, "round {round}: written on a fresh connection, not refused: {body}");
    }
    let mut connection = <sqlx::PgConnection as sqlx::Connection>::connect(&app.database.url).await.unwrap();
    let (stored,): (i64,) =
        sqlx::query_as("select count(*) from usage_record").fetch_one(&mut connection).await.unwrap();
    assert_eq!(stored, 102, "each record stored once");
    // A store of its own: the test's pooled connections were ended too.
    let store = tally::store::open_store(&app.database.url, 1).await.unwrap();
    let rollups = store.all_rollups(&tally::domain::TenantId::parse("acme").unwrap()).await.unwrap();
    assert_eq!(rollups.iter().map(|r| r.totals.records).sum::<i64>(), 102, "and counted once");
}

crate::each_store!(a_full_write_queue_answers_429_and_queued_requests_still_commit);

async fn a_full_write_queue_answers_429_and_queued_requests_still_commit(backend: Backend) {
    // Arrange: a queue of one, one HTTP worker (on PostgreSQL each worker has its own writer
    // and queue), and the writer held up by another connection's lock.
    let app = crate::helpers::spawn_app_with(backend, |s| {
        s.ingest.queue_capacity = 1;
        s.http_workers = Some(1);
    })
    .await;
    app.create_tenant("acme", "UTC").await;
    let blocker = WriteBlocker::hold(&app).await;
    // Act: the first request occupies the writer, the second waits in the queue, the third overflows.
    let first = tokio::spawn({
        let (client, url, key) = (app.client.clone(), format!("{}/v1/usage", app.address), app.ingest_key.clone());
        async move { client.post(url).bearer_auth(key).json(&record("acme", "q1")).send().await.unwrap().status() }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = tokio::spawn({
        let (client, url, key) = (app.client.clone(), format!("{}/v1/usage", app.address), app.ingest_key.clone());
        async move { client.post(url).bearer_auth(key).json(&record("acme", "q2")).send().await.unwrap().status() }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let overflow = app.post_usage(&record("acme", "q3")).await;
    blocker.release().await;
    // Assert
    assert_eq!(overflow.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(overflow.headers().contains_key("retry-after"));
    assert_eq!(first.await.unwrap(), StatusCode::OK, "the blocked write commits once the lock is gone");
    assert_eq!(second.await.unwrap(), StatusCode::OK, "the queued write commits too");
    let usage = app.get_json("/v1/tenants/acme/usage?granularity=month").await;
    assert_eq!(usage["buckets"][0]["records"], 2);
}

/// Another connection's lock that holds the usage writer up: SQLite's exclusive transaction;
/// on PostgreSQL, `usage_record` locked against every access, the lookup of a group's keys
/// included.
enum WriteBlocker {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl WriteBlocker {
    async fn hold(app: &crate::helpers::TestApp) -> Self {
        use sqlx::Connection;
        match app.database.backend {
            Backend::Sqlite => {
                let mut connection = sqlx::SqliteConnection::connect(&app.database.url).await.unwrap();
                connection.execute("begin exclusive").await.unwrap();
                Self::Sqlite(connection)
            }
            Backend::Postgres | Backend::Citus => {
                let mut connection = sqlx::PgConnection::connect(&app.database.url).await.unwrap();
                connection.execute("begin; lock table usage_record in access exclusive mode").await.unwrap();
                Self::Postgres(connection)
            }
        }
    }

    async fn release(self) {
        match self {
            Self::Sqlite(mut connection) => drop(connection.execute("rollback").await.unwrap()),
            Self::Postgres(mut connection) => drop(connection.execute("rollback").await.unwrap()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_reports_a_missing_database_as_503() {
    // Arrange
    let app = spawn_app(Backend::Postgres).await;
    let name = app.database.pg_name.clone().unwrap();
    let ready = app.client.get(format!("{}/readyz", app.address)).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(app.get_as("/v1/plans", &app.admin_key).await.status(), StatusCode::OK, "the admin key is now cached");
    // Act
    let mut admin = pg_admin().await;
    admin.execute(format!(r#"alter database "{name}" allow_connections false"#).as_str()).await.unwrap();
    admin
        .execute(format!("select pg_terminate_backend(pid) from pg_stat_activity where datname = '{name}'").as_str())
        .await
        .unwrap();
    let not_ready = app.client.get(format!("{}/readyz", app.address)).send().await.unwrap();
    let alive = app.client.get(format!("{}/healthz", app.address)).send().await.unwrap();
    let plans = app.get_as("/v1/plans", &app.admin_key).await;
    admin.execute(format!(r#"alter database "{name}" allow_connections true"#).as_str()).await.unwrap();
    // Assert
    assert_eq!(not_ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(alive.status(), StatusCode::OK, "the process itself is healthy");
    assert_eq!(
        plans.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "a route past authentication (cached key) answers 503 too"
    );
    assert!(plans.headers().contains_key("retry-after"));
}

crate::each_store!(a_graceful_shutdown_commits_what_is_queued_before_stopping);

async fn a_graceful_shutdown_commits_what_is_queued_before_stopping(backend: Backend) {
    // Arrange: the writer is held up by another connection's lock while a request waits on it.
    let mut app = spawn_app(backend).await;
    app.create_tenant("acme", "UTC").await;
    let blocker = WriteBlocker::hold(&app).await;
    let pending = tokio::spawn({
        let (client, url, key) = (app.client.clone(), format!("{}/v1/usage", app.address), app.ingest_key.clone());
        async move { client.post(url).bearer_auth(key).json(&record("acme", "last-words")).send().await.unwrap().status() }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Act: stop the server (as SIGTERM does), then release the lock.
    let stopping = tokio::spawn(app.stop.stop(true));
    tokio::time::sleep(Duration::from_millis(100)).await;
    blocker.release().await;
    stopping.await.unwrap();
    // Assert: the request was answered after its commit, and the record is there.
    assert_eq!(pending.await.unwrap(), StatusCode::OK);
    (&mut app.stopped).await.unwrap().unwrap();
    // A connection of its own: the app's pool may hand out one its stopped workers' runtimes
    // opened, whose I/O ended with them ("a Tokio 1.x context … is being shutdown").
    let stored = crate::helpers::count_rows(&app, "select count(*) from usage_record where tenant_id = 'acme'").await;
    assert_eq!(stored, 1);
}
