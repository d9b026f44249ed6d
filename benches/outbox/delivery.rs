//! The timed steps: the real `Dispatcher` delivering every invoice email of the month-end to
//! the SMTP sink, and — in the same run — the two halves of its work measured alone: rendering
//! the invoices' PDFs (one thread), and the sink's own ceiling (pre-built messages of the
//! same size sent straight to it with lettre, over as many connections as the dispatcher uses).

use std::sync::Arc;
use std::time::Instant;

use anyhow::{ensure, Context};
use futures_util::{StreamExt, TryStreamExt};
use lettre::message::{header::ContentType, Attachment, MultiPart, SinglePart};
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tally::domain::InvoiceDocument;
use tally::invoice::{render_pdf, DocumentKind};
use tally::metrics::Metrics;
use tally::notify::{Dispatcher, MailTransport, NotifyConfig};
use tally::store::Store;

use crate::workload;

/// How the dispatcher sends: deliveries claimed per round, SMTP connections at most.
#[derive(Debug, Clone, Copy)]
pub struct Sending {
    pub claim_batch: u32,
    pub connections: u32,
}

/// What delivering the month-end took.
pub struct Delivered {
    pub seconds: f64,
    /// Of which expanding the month-end's events into their deliveries (the first step, timed
    /// on its own).
    pub expanding: f64,
    /// `dispatch_due` passes until nothing was left (a pass expands at most one page of events
    /// unless the worker pages through them).
    pub passes: usize,
    pub sent: usize,
}

/// Times passes of the real dispatcher back to back until every due delivery is sent; fails
/// on any failed or retried delivery.
pub async fn dispatch_all(store: &Store, smtp_url: &str, sending: Sending) -> anyhow::Result<Delivered> {
    let transport = MailTransport::from_settings(Some(smtp_url), std::env::temp_dir(), sending.connections)?;
    let config = NotifyConfig {
        from: "billing@tally.test".parse()?,
        public_url: "https://billing.example.test".into(),
        lease: chrono::Duration::minutes(5),
        batch: sending.claim_batch,
        issuer: tally::startup::billing_config(&tally::config::Settings::default()).issuer,
    };
    let dispatcher = Dispatcher::new(store.clone(), transport, config, Arc::new(Metrics::default()))?;
    let now = workload::as_of() + chrono::Duration::hours(1);
    let started = Instant::now();
    let expanded = dispatcher.expand_due(now).await?;
    let expanding = started.elapsed().as_secs_f64();
    ensure!(expanded > 0, "the month-end has events to expand");
    let (mut passes, mut sent) = (0, 0);
    loop {
        let report = dispatcher.dispatch_due(now).await?;
        ensure!(report.failed == 0 && report.retried == 0, "deliveries failed: {report:?}");
        passes += 1;
        sent += report.sent;
        if report.expanded == 0 && report.sent == 0 {
            break;
        }
    }
    Ok(Delivered { seconds: started.elapsed().as_secs_f64(), expanding, passes, sent })
}

/// The issued invoices of the first `count` tenants (untimed).
pub async fn invoices(store: &Store, count: usize) -> anyhow::Result<Vec<InvoiceDocument>> {
    futures_util::stream::iter(0..count)
        .map(|i| async move {
            let mut list =
                store.list_invoices(&workload::tenant_id(i), tally::store::InvoiceFilter::default(), None, 1).await?;
            list.pop().map(|invoice| invoice.document).context("an invoice per tenant")
        })
        .buffered(8)
        .try_collect()
        .await
}

/// Seconds to render each of `docs` as a PDF on this thread, and the mean PDF size in bytes.
pub fn render_all(docs: &[InvoiceDocument]) -> anyhow::Result<(f64, usize)> {
    let started = Instant::now();
    let mut bytes = 0;
    for doc in docs {
        bytes += render_pdf(doc, &DocumentKind::Invoice)?.len();
    }
    Ok((started.elapsed().as_secs_f64(), bytes / docs.len().max(1)))
}

/// A message shaped like an invoice email: two alternatives and a PDF of `pdf_bytes`.
fn prebuilt(i: usize, pdf: &[u8]) -> anyhow::Result<Message> {
    let body = MultiPart::mixed()
        .multipart(
            MultiPart::alternative()
                .singlepart(SinglePart::plain("x".repeat(900)))
                .singlepart(SinglePart::html("y".repeat(3_500))),
        )
        .singlepart(Attachment::new(format!("INV-{i}.pdf")).body(pdf.to_vec(), ContentType::parse("application/pdf")?));
    Ok(Message::builder()
        .from("billing@tally.test".parse()?)
        .to(format!("raw+{i}@example.com").parse()?)
        .subject(format!("Invoice {i}"))
        .multipart(body)?)
}

/// Seconds to send `count` pre-built messages carrying `pdf` straight to the sink through one
/// pooled lettre transport, `connections` at a time (each kept): the SMTP half without the
/// service.
pub async fn raw_smtp(url: &str, count: usize, connections: u32, pdf: &[u8]) -> anyhow::Result<f64> {
    let pool = PoolConfig::new().max_size(connections);
    let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)?.pool_config(pool).build();
    let messages = (0..count).map(|i| prebuilt(i, pdf)).collect::<anyhow::Result<Vec<_>>>()?;
    let started = Instant::now();
    futures_util::stream::iter(messages)
        .map(|message| {
            let transport = transport.clone();
            async move { transport.send(message).await }
        })
        .buffer_unordered(connections as usize)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(started.elapsed().as_secs_f64())
}
