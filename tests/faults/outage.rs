//! A full database outage: answers fail fast with 503 + `Retry-After`, and the service
//! recovers by itself when the database returns.

use std::time::{Duration, Instant};

use crate::private_postgres::PrivatePostgres;
use crate::restart::started;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_answers_503_with_retry_after_at_once_and_recovers_by_itself() {
    // Arrange
    let pg = PrivatePostgres::start().expect("a private PostgreSQL");
    let dir = crate::ScratchDir::new();
    let server = started(&pg, dir.path()).await;
    let get = || server.client.get(format!("{}/v1/tenants/acme", server.base)).bearer_auth(&server.admin_key).send();
    // Act: the database goes away
    tokio::task::block_in_place(|| pg.stop()).expect("stop");
    let asked = Instant::now();
    let during = get().await.expect("an answer");
    let waited = asked.elapsed();
    let status = during.status().as_u16();
    let retry_after = during.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let error: serde_json::Value = during.json().await.expect("the JSON error shape");
    // …and comes back
    tokio::task::block_in_place(|| pg.resume()).expect("resume");
    let back = Instant::now();
    let mut recovered = None;
    while back.elapsed() < Duration::from_secs(10) {
        if get().await.is_ok_and(|r| r.status() == 200) {
            recovered = Some(back.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Assert
    assert_eq!(status, 503);
    assert_eq!(error["error"]["code"], "service_unavailable");
    assert!(retry_after.is_some(), "503 says when to retry");
    assert!(waited < Duration::from_secs(3), "the request failed fast, not after a long stall: {waited:?}");
    assert!(recovered.is_some_and(|d| d < Duration::from_secs(3)), "recovered by itself: {recovered:?}");
}
