//! Sustained ingest for the fault tests: unique records in batches from a few concurrent
//! clients, every answer kept, and the stored records read back to check that every
//! acknowledged one is there.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const BATCH: usize = 50;
const CLIENTS: usize = 4;

/// One batch's answer: its HTTP status, or the transport error (no answer at all).
#[derive(Debug, Clone)]
pub struct Sent {
    pub batch: usize,
    pub at: Instant,
    pub outcome: Result<u16, String>,
}

/// The record ids of batch `batch`.
pub fn ids(prefix: &str, batch: usize) -> Vec<String> {
    (0..BATCH).map(|i| format!("{prefix}-{batch:05}-{i:02}")).collect()
}

/// One timestamp for every record of the run, so that a batch sent again is the same batch.
static STAMP: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| chrono::Utc::now().to_rfc3339());

pub fn body(tenant: &str, prefix: &str, batch: usize) -> Value {
    let records: Vec<Value> = ids(prefix, batch)
        .into_iter()
        .map(|id| {
            json!({ "id": id, "tenant_id": tenant, "timestamp": STAMP.as_str(),
            "function": "resize", "region": "eu-west-1", "invocations": 1 })
        })
        .collect();
    json!({ "records": records })
}

/// Posts batches `0..` from `CLIENTS` clients until `stop` is set; every answer is returned.
pub async fn sustain(server: &crate::server::Server, tenant: &str, prefix: &str, stop: Arc<AtomicBool>) -> Vec<Sent> {
    let next = Arc::new(AtomicUsize::new(0));
    let url = format!("{}/v1/usage", server.base);
    let clients = (0..CLIENTS).map(|_| {
        let (client, url, key, next, stop) =
            (server.client.clone(), url.clone(), server.ingest_key.clone(), next.clone(), stop.clone());
        let (tenant, prefix) = (tenant.to_owned(), prefix.to_owned());
        tokio::spawn(async move {
            let mut sent = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let batch = next.fetch_add(1, Ordering::Relaxed);
                let answer = client
                    .post(&url)
                    .bearer_auth(&key)
                    .timeout(Duration::from_secs(30))
                    .json(&body(&tenant, &prefix, batch))
                    .send()
                    .await;
                let outcome = answer.map(|r| r.status().as_u16()).map_err(|e| e.to_string());
                sent.push(Sent { batch, at: Instant::now(), outcome });
            }
            sent
        })
    });
    let mut all = Vec::new();
    for client in clients.collect::<Vec<_>>() {
        all.extend(client.await.expect("a load client"));
    }
    all.sort_by_key(|s| s.at);
    all
}

/// Sustained ingest (`sustain`) while `fault` runs; the load stops when the fault's future
/// ends (it sleeps on as long as it wants the load to go on). Every answer, and the fault's
/// result.
pub async fn sustain_while<T>(
    server: &crate::server::Server,
    prefix: &str,
    fault: impl std::future::Future<Output = T>,
) -> (Vec<Sent>, T) {
    let stop = Arc::new(AtomicBool::new(false));
    let fault = async {
        let result = fault.await;
        stop.store(true, Ordering::Relaxed);
        result
    };
    tokio::join!(sustain(server, "acme", prefix, stop.clone()), fault)
}

/// The record ids stored for `tenant`, read straight from the database.
pub async fn stored_ids(url: &str, tenant: &str) -> HashSet<String> {
    let pool = sqlx::PgPool::connect(url).await.expect("the private PostgreSQL");
    let rows: Vec<(String,)> = sqlx::query_as("select record_id from usage_record where tenant_id = $1")
        .bind(tenant)
        .fetch_all(&pool)
        .await
        .expect("reading the stored ids");
    pool.close().await;
    rows.into_iter().map(|(id,)| id).collect()
}

/// Every record of every batch answered 200 is stored.
pub fn assert_acknowledged_stored(sent: &[Sent], prefix: &str, stored: &HashSet<String>) {
    let acknowledged: Vec<&Sent> = sent.iter().filter(|s| s.outcome == Ok(200)).collect();
    assert!(!acknowledged.is_empty(), "some batches were acknowledged");
    for s in acknowledged {
        for id in ids(prefix, s.batch) {
            assert!(stored.contains(&id), "acknowledged record {id} is stored");
        }
    }
}
