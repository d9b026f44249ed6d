//! Several `tally serve` processes on one PostgreSQL: the same batches sent to each at once
//! are stored exactly once, with no deadlock (a writer groups requests in its own order, so
//! rows must be written in one global key order).

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{record, spawn_app, test_now, Backend, TestApp, JWT_SECRET};
use tally::clock::ManualClock;
use tally::config::Settings;
use tally::startup::Application;
use tally::store::open_store;

/// Another instance of the service on `first`'s database, sharing its keys and clock reading.
async fn second_instance(first: &TestApp) -> String {
    let mut settings = Settings::from_sources("", |_| None).expect("default settings load");
    settings.listen = "127.0.0.1:0".into();
    settings.data_dir = first.database.data_dir.clone();
    settings.database_url = Some(first.database.url.clone().into());
    settings.jwt.secret = Some(JWT_SECRET.to_owned().into());
    settings.http_workers = Some(2);
    settings.billing.schedule_every = std::time::Duration::ZERO;
    let store = open_store(&first.database.url, 8).await.expect("the shared database opens");
    let clock = Arc::new(ManualClock::new(test_now()));
    let app = Application::build_with_store(settings, store, clock).await.expect("the instance builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    address
}

/// 40 batches of 250 records over 20 tenants, each batch's records in a different order.
fn batches() -> Vec<Value> {
    (0..40)
        .map(|b| {
            let records: Vec<Value> = (0..250)
                .map(|i| {
                    let n = (i * 7 + b * 13) % 1_000;
                    record(&format!("t{}", n % 20), &format!("r{n}"))
                })
                .collect();
            json!({ "records": records })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_batches_sent_to_three_instances_at_once_are_stored_once_without_deadlock() {
    // Arrange
    let app = spawn_app(Backend::Postgres).await;
    for t in 0..20 {
        app.create_tenant(&format!("t{t}"), "UTC").await;
    }
    let addresses = [app.address.clone(), second_instance(&app).await, second_instance(&app).await];
    // Act
    let mut sends = Vec::new();
    for address in &addresses {
        for batch in batches() {
            let (client, url, key) = (app.client.clone(), format!("{address}/v1/usage"), app.ingest_key.clone());
            sends.push(tokio::spawn(async move {
                let response = client.post(url).bearer_auth(key).json(&batch).send().await.unwrap();
                let status = response.status();
                (status, response.json::<Value>().await.unwrap())
            }));
        }
    }
    let mut accepted = 0;
    for send in sends {
        let (status, body) = send.await.unwrap();
        // Assert
        assert_eq!(status, StatusCode::OK, "every request is answered 200, never 503: {body}");
        accepted += body["accepted"].as_u64().unwrap();
    }
    assert_eq!(accepted, 1_000, "each of the 1 000 distinct records is accepted exactly once");
    let mut stored = 0;
    for t in 0..20 {
        let rollups = app.store.all_rollups(&tally::domain::TenantId::parse(&format!("t{t}")).unwrap()).await.unwrap();
        stored += rollups.iter().map(|r| r.totals.records).sum::<i64>();
    }
    assert_eq!(stored, 1_000, "the rollups count every record once");
}
