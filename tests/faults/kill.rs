//! The server killed with SIGKILL under load, and started again on the same database.

use std::time::Duration;

use crate::load::{assert_acknowledged_stored, body, stored_ids, sustain_while, BATCH};
use crate::private_postgres::PrivatePostgres;
use crate::restart::started;
use crate::server::{Server, Tuning};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_under_load_loses_no_acknowledged_record_and_a_resend_completes_it_exactly() {
    // Arrange
    let pg = PrivatePostgres::start().expect("a private PostgreSQL");
    let dir = crate::ScratchDir::new();
    let server = started(&pg, dir.path()).await;
    // Act: SIGKILL after 2 s of ingest (the clients see their connections drop)…
    let kill = async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        std::process::Command::new("kill").args(["-KILL", &server.pid().to_string()]).status().expect("kill");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let (sent, ()) = sustain_while(&server, "k", kill).await;
    drop(server);
    // …then a new process on the same database, and every batch sent again
    let again = Server::start(Some(&pg.url), dir.path(), &Tuning::default()).await.expect("tally serve again");
    let stored_after_kill = stored_ids(&pg.url, "acme").await;
    let batches = sent.iter().map(|s| s.batch).max().unwrap_or(0) + 1;
    for batch in 0..batches {
        let response = again
            .client
            .post(format!("{}/v1/usage", again.base))
            .bearer_auth(&again.ingest_key)
            .json(&body("acme", "k", batch))
            .send()
            .await
            .expect("an answer");
        assert_eq!(response.status(), 200, "batch {batch} resent");
    }
    // Assert
    assert_acknowledged_stored(&sent, "k", &stored_after_kill);
    let stored = stored_ids(&pg.url, "acme").await;
    assert_eq!(stored.len(), batches * BATCH, "every record stored exactly once after the resend");
    let usage: serde_json::Value = again
        .client
        .get(format!("{}/v1/tenants/acme/usage?granularity=month", again.base))
        .bearer_auth(&again.admin_key)
        .send()
        .await
        .expect("usage")
        .json()
        .await
        .expect("usage JSON");
    assert_eq!(usage["buckets"][0]["records"], batches * BATCH, "the rollups count each record once: {usage}");
}
