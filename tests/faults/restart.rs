//! PostgreSQL restarted under sustained ingest, and under an idle instance.

use std::time::{Duration, Instant};

use crate::load::{assert_acknowledged_stored, stored_ids, sustain_while};
use crate::private_postgres::PrivatePostgres;
use crate::server::{Server, Tuning};

pub async fn started(pg: &PrivatePostgres, dir: &std::path::Path) -> Server {
    let server = Server::start(Some(&pg.url), dir, &Tuning::default()).await.expect("tally serve");
    server.create_tenants(&["acme".to_owned()]).await.expect("a tenant");
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_sustained_ingest_loses_no_acknowledged_record_and_answers_no_500() {
    // Arrange
    let pg = PrivatePostgres::start().expect("a private PostgreSQL");
    let dir = crate::ScratchDir::new();
    let server = started(&pg, dir.path()).await;
    // Act: ingest for 2 s, restart PostgreSQL, ingest on for 5 s after it is back
    let chaos = async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        tokio::task::block_in_place(|| pg.restart()).expect("restart");
        let back = Instant::now();
        tokio::time::sleep(Duration::from_secs(5)).await;
        back
    };
    let (sent, back) = sustain_while(&server, "r", chaos).await;
    // Assert
    let statuses: Vec<_> = sent.iter().map(|s| s.outcome.clone()).collect();
    assert!(
        statuses.iter().all(|o| matches!(o, Ok(200) | Ok(503))),
        "every answer is 200, or 503 while the database restarts: {statuses:?}"
    );
    let first_ok_after = sent.iter().find(|s| s.at > back && s.outcome == Ok(200)).map(|s| s.at - back);
    assert!(first_ok_after.is_some_and(|d| d < Duration::from_secs(2)), "recovered within 2 s: {first_ok_after:?}");
    let failed_after = sent.iter().filter(|s| s.at > back + Duration::from_millis(500) && s.outcome != Ok(200)).count();
    assert_eq!(failed_after, 0, "no failures once the database is back");
    assert_acknowledged_stored(&sent, "r", &stored_ids(&pg.url, "acme").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_instance_answers_its_first_requests_after_a_restart() {
    // Arrange: a pool with several open connections, then idle
    let pg = PrivatePostgres::start().expect("a private PostgreSQL");
    let dir = crate::ScratchDir::new();
    let server = started(&pg, dir.path()).await;
    let get = || server.client.get(format!("{}/v1/tenants/acme", server.base)).bearer_auth(&server.admin_key).send();
    let warm: Vec<_> = futures_util::future::join_all((0..16).map(|_| get())).await;
    assert!(warm.iter().all(|r| r.as_ref().is_ok_and(|r| r.status() == 200)));
    // Act
    tokio::task::block_in_place(|| pg.restart()).expect("restart");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut statuses = Vec::new();
    for _ in 0..20 {
        statuses.push(get().await.map(|r| r.status().as_u16()).map_err(|e| e.to_string()));
    }
    // Assert
    assert!(statuses.iter().all(|s| *s == Ok(200)), "every request after the restart succeeds: {statuses:?}");
}
