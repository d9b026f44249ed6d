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
