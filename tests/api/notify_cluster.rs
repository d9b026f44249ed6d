//! Several `tally serve` processes on one PostgreSQL database share the outbox: three real
//! `Application`s, each with its delivery worker looping, send every message exactly once.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::billing::{admin_post, at, run_billing_and_wait};
use crate::helpers::{spawn_app_with, Backend, JWT_SECRET};
use crate::notify_support::{outbox, SmtpServer};
use tally::config::Settings;
use tally::startup::Application;
use tally::store::open_store;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_on_one_database_send_every_message_exactly_once() {
    // Arrange: app 1 (used for the API) and two peers, all polling the outbox every 10 ms.
    let smtp = SmtpServer::start(&[]);
    let url = smtp.url();
    let configure = move |s: &mut Settings| {
        s.smtp.url = Some(url.clone().into());
        s.notify.poll_every = Duration::from_millis(10);
    };
    let app = spawn_app_with(Backend::Postgres, configure.clone()).await;
    let mut peers = Vec::new();
    for _ in 0..2 {
        let mut settings = Settings::from_sources("", |_| None).unwrap();
        settings.listen = "127.0.0.1:0".into();
        settings.data_dir = app.database.data_dir.clone();
        settings.database_url = Some(app.database.url.clone().into());
        settings.jwt.secret = Some(JWT_SECRET.to_owned().into());
        settings.http_workers = Some(1);
        settings.billing.schedule_every = Duration::ZERO;
        configure(&mut settings);
        let store = open_store(&settings.database_url(), 4).await.unwrap();
        let peer = Application::build_with_store(settings, store, Arc::new(app.clock.clone())).await.unwrap();
        peers.push((peer.stop_handle(), tokio::spawn(peer.run_until_stopped())));
    }
    app.clock.set(at("2026-10-15T00:00:00Z"));
    for n in 0..12 {
        let emails = [format!("ap@t{n}.test"), format!("cfo@t{n}.test")];
        let body =
            json!({"id": format!("t{n}"), "name": format!("Tenant {n}"), "plan": "payg", "billing_emails": emails});
        assert_eq!(admin_post(&app, "/v1/tenants", &body).await.status(), 201);
    }
    // Act
    app.clock.set(at("2026-11-01T03:00:00Z"));
    run_billing_and_wait(&app, "2026-11-01T02:00:00Z").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while smtp.messages().len() < 24 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Assert
    let mails = smtp.messages();
    let ids: BTreeSet<String> = mails.iter().map(|m| m.message_id()).collect();
    assert_eq!(mails.len(), 24, "12 invoices × 2 addresses, none twice");
    assert_eq!(ids.len(), 24, "every Message-ID once");
    let sent = outbox(&app, "status=sent").await;
    assert_eq!(sent.len(), 24);
    assert!(sent.iter().all(|d| d["attempts"] == 1), "no delivery was claimed twice");
    for (stop, stopped) in peers {
        stop.stop(true).await;
        stopped.await.unwrap().unwrap();
    }
}
