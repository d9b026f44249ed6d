//! Outbox benchmark (DESIGN §13: "month-end for 10 000 tenants (invoice email + PDF each)
//! delivered to a local SMTP server in ≤ 60 s"). Untimed setup, reusing the billing bench's
//! workload: N tenants with October usage on PostgreSQL (a fresh database), billed. Timed: the
//! real `Dispatcher` delivering every invoice email, PDF attached, over TCP to
//! `tests/smtp/server.py` (aiosmtpd, storing each message as a file). Afterwards: exactly one
//! message per billing address, each with a PDF. Baselines in the same run: the PDFs rendered
//! alone, the SMTP server's own ceiling (pre-built messages of the same size sent to it
//! directly with lettre, over as many connections as the dispatcher uses), and one
//! connection's time per message (lettre's exchange alone: ≈ 45 ms without `TCP_NODELAY`,
//! `vendor/README.md`).
//!
//! Run: `cargo bench --bench outbox`. Environment: `TALLY_BENCH_PG` (default
//! `postgres://postgres@127.0.0.1:5432`), `TALLY_BENCH_TENANTS` (default `10000`),
//! `TALLY_BENCH_CLAIM_BATCH` and `TALLY_BENCH_SMTP_CONNECTIONS` (default: the service's),
//! `TALLY_BENCH_NO_WRITE=1` to leave BENCHMARKS.md alone.

#[path = "outbox/delivery.rs"]
mod delivery;
#[path = "outbox/report.rs"]
mod report;
#[path = "billing/scenario.rs"]
#[allow(dead_code)] // shared with the billing bench, which reads all of it
mod scenario;
#[path = "outbox/sink.rs"]
mod sink;
#[path = "billing/timed_store.rs"]
#[allow(dead_code)] // shared with the billing bench, which reads all of it
mod timed_store;
#[path = "billing/workload.rs"]
#[allow(dead_code)] // shared with the billing bench, which reads all of it
mod workload;

use std::time::Instant;

use anyhow::Context;
use sqlx::{Connection, Executor, PgConnection};
use tally::config::Settings;
use tally::store::open_store;

/// Messages sent in turn over one connection, for the per-message latency of the exchange.
const ONE_CONNECTION_MESSAGES: usize = 200;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let server = env_or("TALLY_BENCH_PG", "postgres://postgres@127.0.0.1:5432");
    let tenants: usize = env_or("TALLY_BENCH_TENANTS", "10000").parse().context("TALLY_BENCH_TENANTS")?;
    let sending = delivery::Sending {
        claim_batch: env_or("TALLY_BENCH_CLAIM_BATCH", &tally::startup::OUTBOX_CLAIM_BATCH.to_string()).parse()?,
        connections: env_or("TALLY_BENCH_SMTP_CONNECTIONS", &Settings::default().smtp.max_connections.to_string())
            .parse()?,
    };
    let name = format!("tally_outboxbench_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&format!("{server}/postgres")).await.context("Failed to reach PostgreSQL")?;
    admin.execute(format!(r#"create database "{name}""#).as_str()).await?;
    let outcome = measure(&format!("{server}/{name}"), tenants, sending).await;
    admin.execute(format!(r#"drop database if exists "{name}" with (force)"#).as_str()).await?;
    let outcome = outcome?;
    let text = report::markdown(&outcome, tenants, sending);
    println!("{text}");
    if std::env::var("TALLY_BENCH_NO_WRITE").is_err() {
        report::write_section(&text)?;
    }
    Ok(())
}

async fn measure(url: &str, tenants: usize, sending: delivery::Sending) -> anyhow::Result<report::Outcome> {
    let store = open_store(url, Settings::default().database_max_connections).await?;
    let started = Instant::now();
    scenario::fill(&store, tenants).await?;
    scenario::bill(&store, tenants, tally::invoice::BILLING_PAGE).await?;
    let setup = started.elapsed().as_secs_f64();
    let sink = sink::Sink::start()?;
    let load_before = report::uptime();
    let (cpu_before, sink_before) = (report::own_cpu_seconds(), sink.cpu_seconds());
    let delivered = delivery::dispatch_all(&store, &sink.url(), sending).await?;
    let cpu = (report::own_cpu_seconds() - cpu_before, sink.cpu_seconds() - sink_before);
    let load_after = report::uptime();
    // Before the baselines: the raw-SMTP baseline holds every pre-built message in memory.
    let own_peak_rss_mb = sink::peak_rss_mb("/proc/self/status");
    let addresses: Vec<String> = (0..tenants).map(|i| format!("billing+{i}@example.com")).collect();
    let bytes = sink.check(&addresses)?;
    sink.clear()?;
    let sample = delivery::invoices(&store, tenants.min(1_000)).await?;
    let (render_seconds, pdf_bytes) = delivery::render_all(&sample)?;
    let pdf = tally::invoice::render_pdf(&sample[0], &tally::invoice::DocumentKind::Invoice)?;
    let sink_raw_before = sink.cpu_seconds();
    let raw = delivery::raw_smtp(&sink.url(), tenants, sending.connections, &pdf).await?;
    let raw_sink_cpu = sink.cpu_seconds() - sink_raw_before;
    let one_connection = delivery::raw_smtp(&sink.url(), ONE_CONNECTION_MESSAGES, 1, &pdf).await?;
    Ok(report::Outcome {
        setup,
        delivered,
        cpu,
        message_bytes: bytes / tenants.max(1) as u64,
        render_per_pdf: render_seconds / sample.len() as f64,
        pdf_bytes,
        raw_smtp: raw,
        raw_sink_cpu,
        one_connection_per_message: one_connection / ONE_CONNECTION_MESSAGES as f64,
        own_peak_rss_mb,
        sink_peak_rss_mb: sink.peak_rss_mb(),
        load: (load_before, load_after),
    })
}
