//! Three `tally serve` processes on one database — PostgreSQL, and Citus in the `citus`
//! target — each with its delivery worker looping: a billing run requested on all three at
//! once issues one invoice per tenant and period with gapless numbers, and every message
//! reaches the real SMTP server exactly once.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::billing::{admin_post, at, invoices_of, wait_for_run};
use crate::concurrency::three_instances;
use crate::helpers::{spawn_app_with, Backend, TestApp};
use crate::notify_support::{outbox, SmtpServer};
use tally::config::Settings;

const TENANTS: usize = 12;

/// Requests a billing run as of `as_of` on the instance at `address`; returns its location.
async fn request_run(app: &TestApp, address: &str, as_of: &str) -> String {
    let url = format!("{address}/v1/billing/run");
    let response = app.client.post(url).bearer_auth(&app.admin_key).json(&json!({ "as_of": as_of })).send();
    let response = response.await.unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    response.headers()["location"].to_str().unwrap().to_owned()
}

crate::server_stores!(three_processes_bill_once_with_gapless_numbers_and_send_every_message_exactly_once);

async fn three_processes_bill_once_with_gapless_numbers_and_send_every_message_exactly_once(backend: Backend) {
    // Arrange: app 1 and two peers, all polling the outbox every 100 ms (on Citus each poll
    // reads every shard: much faster polls only measure how busy the two cores are)
    let smtp = SmtpServer::start(&[]);
    let url = smtp.url();
    let sending = move |s: &mut Settings| {
        s.smtp.url = Some(url.clone().into());
        s.notify.poll_every = Duration::from_millis(100);
    };
    let app = spawn_app_with(backend, sending.clone()).await;
    let (addresses, stops) = three_instances(&app, sending).await;
    app.clock.set(at("2026-10-15T00:00:00Z"));
    for n in 0..TENANTS {
        let emails = [format!("ap@t{n}.test"), format!("cfo@t{n}.test")];
        let body =
            json!({"id": format!("t{n}"), "name": format!("Tenant {n}"), "plan": "payg", "billing_emails": emails});
        assert_eq!(admin_post(&app, "/v1/tenants", &body).await.status(), 201);
    }
    // Act: the same run requested on every process at once
    app.clock.set(at("2026-11-01T03:00:00Z"));
    let requests = addresses.iter().map(|address| request_run(&app, address, "2026-11-01T02:00:00Z"));
    let locations = futures_util::future::join_all(requests).await;
    let mut issued = 0;
    for location in &locations {
        let run = wait_for_run(&app, location).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        assert_eq!(run["result"]["failures"], json!([]), "{run}");
        issued += run["result"]["invoices_issued"].as_array().map_or(0, Vec::len);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while smtp.messages().len() < 2 * TENANTS && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Assert: one invoice per tenant for October, numbered 1…12 with no gap
    let mut numbers = Vec::new();
    for n in 0..TENANTS {
        let invoices: Vec<Value> = invoices_of(&app, &format!("t{n}")).await;
        assert_eq!(invoices.len(), 1, "t{n}: one invoice for October, whichever process issued it");
        numbers.push(invoices[0]["number"].as_str().unwrap().to_owned());
    }
    let mut serials: Vec<u32> = numbers.iter().map(|n| n.rsplit('-').next().unwrap().parse().unwrap()).collect();
    serials.sort_unstable();
    assert_eq!(serials, (1..=TENANTS as u32).collect::<Vec<_>>(), "gapless numbers: {numbers:?}");
    assert_eq!(issued, TENANTS, "the three runs' reports share the invoices between them");
    let mails = smtp.messages();
    let ids: BTreeSet<String> = mails.iter().map(|m| m.message_id()).collect();
    assert_eq!(mails.len(), 2 * TENANTS, "an invoice to each of two addresses, none twice");
    assert_eq!(ids.len(), 2 * TENANTS, "every Message-ID once");
    let sent = outbox(&app, "status=sent").await;
    assert_eq!(sent.len(), 2 * TENANTS);
    assert!(sent.iter().all(|d| d["attempts"] == 1), "no delivery was claimed twice");
    for stop in stops {
        stop.stop(true).await;
    }
}
