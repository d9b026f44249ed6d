//! Several `tally serve` processes on one database — PostgreSQL, and Citus in the `citus`
//! target: the same batches sent to each at once are stored exactly once, with no deadlock (a
//! writer groups requests in its own order, so rows must be written in one global key order).
//! On a loaded 2-core box a group commit may wait over the pool's 1 s for a connection and
//! answer 503 + `Retry-After`; the sender retries it, as runtimes do — still exactly once.
//! `notify_cluster.rs` bills and emails through three processes.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{instance_beside, record, spawn_app, Backend, TestApp};
use tally::config::Settings;

/// The app's address and those of two more instances on its database, sharing its keys and
/// clock, with `adjust` applied to their settings; their stop handles.
pub async fn three_instances(
    app: &TestApp,
    adjust: impl Fn(&mut Settings),
) -> ([String; 3], Vec<actix_web::dev::ServerHandle>) {
    let mut addresses = vec![app.address.clone()];
    let mut stops = Vec::new();
    for _ in 0..2 {
        let (address, stop) = instance_beside(app, |s| {
            s.http_workers = Some(2);
            s.database_max_connections = 8;
            adjust(s);
        })
        .await;
        addresses.push(address);
        stops.push(stop);
    }
    (addresses.try_into().expect("three addresses"), stops)
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

crate::server_stores!(the_same_batches_sent_to_three_instances_at_once_are_stored_once_without_deadlock);

async fn the_same_batches_sent_to_three_instances_at_once_are_stored_once_without_deadlock(backend: Backend) {
    // Arrange
    let app = spawn_app(backend).await;
    for t in 0..20 {
        app.create_tenant(&format!("t{t}"), "UTC").await;
    }
    let (addresses, stops) = three_instances(&app, |_| {}).await;
    // Act: each sender retries a 503 after its `Retry-After`, as runtimes do
    let mut sends = Vec::new();
    for address in &addresses {
        for batch in batches() {
            let (client, url, key) = (app.client.clone(), format!("{address}/v1/usage"), app.ingest_key.clone());
            sends.push(tokio::spawn(async move {
                for retries in 0.. {
                    let response = client.post(&url).bearer_auth(&key).json(&batch).send().await.unwrap();
                    let status = response.status();
                    if status != StatusCode::SERVICE_UNAVAILABLE || retries == 5 {
                        return (status, response.json::<Value>().await.unwrap(), retries);
                    }
                    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                }
                unreachable!("the loop returns")
            }));
        }
    }
    let (mut accepted, mut duplicates, mut retried) = (0, 0, 0);
    for send in sends {
        let (status, body, retries) = send.await.unwrap();
        // Assert
        assert_eq!(status, StatusCode::OK, "every request is answered 200 in the end: {body}");
        accepted += body["accepted"].as_u64().unwrap();
        duplicates += body["duplicates"].as_u64().unwrap();
        retried += retries;
    }
    assert!(retried < 40, "a few 503s at most (a connection awaited over 1 s), not a failing writer: {retried}");
    assert_eq!(accepted, 1_000, "each of the 1 000 distinct records is accepted exactly once");
    assert_eq!(duplicates, 3 * 40 * 250 - 1_000, "every other copy is reported a duplicate");
    let mut stored = 0;
    for t in 0..20 {
        let rollups = app.store.all_rollups(&tally::domain::TenantId::parse(&format!("t{t}")).unwrap()).await.unwrap();
        stored += rollups.iter().map(|r| r.totals.records).sum::<i64>();
    }
    assert_eq!(stored, 1_000, "the rollups count every record once");
    for stop in stops {
        stop.stop(true).await;
    }
}
