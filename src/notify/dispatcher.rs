//! The delivery worker: expand due events into deliveries, claim due deliveries (a lease
//! committed before sending), attempt each, record the result with the retry schedule.
//! `dispatch_due(now)` is one pass (tests call it); `run_every` loops it inside `tally serve`.
//!
//! Stage: notify (IO). Inputs: the store, the transports, "now" passed in. Outputs: sent
//! messages and recorded attempts. Several processes may run it on one database: the claim
//! (PostgreSQL `for update skip locked`; Citus, a re-checked per-tenant update; SQLite, the one
//! writer) hands each delivery to one.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use lettre::Address;
use tokio::task::JoinSet;
use tracing::Instrument;

use super::alert_mail::alert_message_for;
use super::expand::{deliveries_of, invoice_of, PageReads};
use super::invoice_mail::{invoice_message, Envelope};
use super::login_mail::{login_message, login_view, mint_login_link, PORTAL_LOGIN_LINK};
use super::mail_transport::{MailTransport, SendFailure};
use super::mail_view::MailKind;
use super::webhook_call::{call_webhook, webhook_body, webhook_client};
use super::{backoff::next_attempt_after_failure, identity::message_id_header};
use crate::clock::SharedClock;
use crate::domain::{InvoiceStatus, IssuerSnapshot};
use crate::invoice::{render_pdf, DocumentKind};
use crate::metrics::Metrics;
use crate::store::{AttemptResult, DbError, Delivery, OutboxEvent, Store, INVOICE_OVERDUE};
use crate::telemetry::spawn_blocking_with_tracing;

/// Events expanded per store round trip.
const EXPAND_PAGE: u32 = 500;

/// What the worker needs besides the store.
#[derive(Debug, Clone)]
pub struct NotifyConfig {
    /// The sender address (`TALLY_MAIL_FROM`); the issuer's name is its display name.
    pub from: Address,
    /// Base of portal links (`TALLY_PUBLIC_URL`).
    pub public_url: String,
    /// How long a claim holds a delivery; a sender that crashed gives it back after this.
    pub lease: Duration,
    /// Deliveries in flight at most (claimed, being sent or recorded).
    pub batch: u32,
    /// The issuer's name and address, for messages without an invoice snapshot (quota alerts).
    pub issuer: IssuerSnapshot,
}

/// Why a pass stopped early.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Store(#[from] DbError),
}

/// Counts of one pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DispatchReport {
    pub expanded: usize,
    pub sent: usize,
    pub retried: usize,
    pub failed: usize,
}

/// The delivery worker; cheap to clone.
#[derive(Clone)]
pub struct Dispatcher {
    store: Store,
    mail: MailTransport,
    http: reqwest::Client,
    config: Arc<NotifyConfig>,
    metrics: Arc<Metrics>,
}

impl Dispatcher {
    /// A worker over `store` sending through `mail`.
    ///
    /// # Errors
    /// When the HTTP client for webhooks cannot be built.
    pub fn new(store: Store, mail: MailTransport, config: NotifyConfig, metrics: Arc<Metrics>) -> anyhow::Result<Self> {
        Ok(Self { store, mail, http: webhook_client()?, config: Arc::new(config), metrics })
    }

    /// One pass at `now`: expands due events, then claims and attempts due deliveries until
    /// none is left due.
    ///
    /// Up to `batch` deliveries are in flight, each sent and its result recorded by a task of
    /// its own; whenever half of them are done, the next claim tops the window up. So one slow
    /// send holds up nothing but itself, and claims overlap sends.
    ///
    /// # Errors
    /// When the store fails (the pass claims no more, lets the sends in flight finish, and
    /// stops; leased rows become due again after the lease).
    #[tracing::instrument(skip_all, err(level = "warn"))]
    pub async fn dispatch_due(&self, now: DateTime<Utc>) -> Result<DispatchReport, NotifyError> {
        let mut report = DispatchReport { expanded: self.expand_due(now).await?, ..DispatchReport::default() };
        let window = self.config.batch.max(1) as usize;
        let mut in_flight = JoinSet::new();
        let (mut drained, mut failure) = (false, None);
        loop {
            if !drained && failure.is_none() && in_flight.len() <= window / 2 {
                let room = u32::try_from(window - in_flight.len()).unwrap_or(u32::MAX);
                match self.store.claim_deliveries(now, now + self.config.lease, room).await {
                    Ok(claimed) => {
                        drained = claimed.is_empty();
                        for delivery in claimed {
                            in_flight.spawn(self.clone().attempt_and_record(delivery, now).in_current_span());
                        }
                    }
                    Err(error) => failure = Some(error),
                }
                continue;
            }
            let Some(done) = in_flight.join_next().await else { break };
            let (delivery, result, written) = done.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
            match written {
                Ok(_) => self.count(&delivery, &result, &mut report),
                Err(error) => failure = failure.or(Some(error)),
            }
        }
        if let Some(error) = failure {
            return Err(error.into());
        }
        self.refresh_pending().await?;
        Ok(report)
    }

    /// Attempts one claimed delivery and records what came of it, in a task of its own.
    async fn attempt_and_record(
        self,
        delivery: Delivery,
        now: DateTime<Utc>,
    ) -> (Delivery, AttemptResult, Result<bool, DbError>) {
        let result = self.attempt(&delivery, now).await;
        let written = self.store.record_attempt(&delivery, &result, now).await;
        (delivery, result, written)
    }

    /// The first step of a pass: writes the deliveries of every due event (idempotent, safe
    /// to race) and returns how many events it expanded.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn expand_due(&self, now: DateTime<Utc>) -> Result<usize, NotifyError> {
        // Page by page until none is left: a month-end's 10 000 events are expanded in one
        // pass, not 500 per poll interval.
        let mut expanded = 0;
        loop {
            let events = self.store.unexpanded_events(now, EXPAND_PAGE).await?;
            let reads = PageReads::read(&self.store, &events).await?;
            let page: Vec<_> = events.iter().map(|event| (event, deliveries_of(&reads, event))).collect();
            self.store.expand_events(&page, now).await?;
            expanded += events.len();
            if events.len() < EXPAND_PAGE as usize {
                return Ok(expanded);
            }
        }
    }

    /// Sends one claimed delivery and says what came of it; records nothing. (The worker
    /// records the result; a process that dies between the two is what the lease is for.)
    #[tracing::instrument(skip_all, fields(tenant_id = %delivery.tenant, delivery_id = %delivery.delivery_id))]
    pub async fn attempt(&self, delivery: &Delivery, now: DateTime<Utc>) -> AttemptResult {
        let outcome = match delivery.channel.as_str() {
            "email" => self.send_email(delivery, now).await,
            "webhook" => self.call_endpoint(delivery, now).await,
            other => Err(SendFailure::Permanent(format!("unknown channel {other}"))),
        };
        match outcome {
            Ok(()) => AttemptResult::Sent,
            Err(SendFailure::Permanent(error)) => AttemptResult::Failed { error },
            Err(SendFailure::Temporary(error)) => match next_attempt_after_failure(delivery.attempts, now) {
                Some(at) => AttemptResult::Retry { at, error },
                None => {
                    AttemptResult::Failed { error: format!("gave up after {} attempts: {error}", delivery.attempts) }
                }
            },
        }
    }

    /// Runs a pass every `every` until the task is aborted.
    pub async fn run_every(self, every: std::time::Duration, clock: SharedClock) {
        loop {
            if let Err(error) = self.dispatch_due(clock.now()).await {
                tracing::warn!(error = %error, "outbox pass failed; retrying");
            }
            tokio::time::sleep(every).await;
        }
    }

    async fn send_email(&self, delivery: &Delivery, now: DateTime<Utc>) -> Result<(), SendFailure> {
        let to: Address = delivery
            .recipient
            .parse()
            .map_err(|e| SendFailure::Permanent(format!("{:?} is not a valid address: {e}", delivery.recipient)))?;
        let event = self.store.outbox_event(&delivery.tenant, &delivery.message_id).await.map_err(store_failure)?;
        let event = event.ok_or_else(|| SendFailure::Permanent("the outbox event is gone".into()))?;
        if event.kind == crate::quota::THRESHOLD_CROSSED || event.kind == PORTAL_LOGIN_LINK {
            return self.send_alert(delivery, &event, &to, now).await;
        }
        let invoice = invoice_of(&self.store, &event).await.map_err(store_failure)?;
        let invoice = invoice.ok_or_else(|| SendFailure::Permanent("the invoice is gone".into()))?;
        if event.kind == INVOICE_OVERDUE && invoice.document.status != InvoiceStatus::Finalized {
            // Paid or voided since the run reminded of it: nothing is overdue any more.
            tracing::info!(invoice_id = %invoice.document.id, "overdue reminder not sent: the invoice was settled");
            return Ok(());
        }
        let (kind, printed) = match (event.kind.as_str(), &invoice.credit_note_number) {
            ("invoice.voided", Some(number)) => (
                MailKind::CreditNote(number.clone()),
                DocumentKind::CreditNote {
                    number: number.clone(),
                    issued_at: invoice.voided_at.unwrap_or(event.created_at),
                },
            ),
            (INVOICE_OVERDUE, _) => (MailKind::Reminder, DocumentKind::Invoice),
            _ => (MailKind::Invoice, DocumentKind::Invoice),
        };
        let document = invoice.document.clone();
        let pdf = spawn_blocking_with_tracing(move || render_pdf(&document, &printed))
            .await
            .map_err(|e| SendFailure::Temporary(format!("rendering the PDF failed: {e}")))?
            .map_err(|e| SendFailure::Permanent(format!("the PDF cannot be rendered: {e}")))?;
        let envelope = Envelope {
            from: &self.config.from,
            to: &to,
            message_id: message_id_header(&delivery.delivery_id, self.config.from.domain()),
            now,
            public_url: &self.config.public_url,
        };
        let message = invoice_message(&invoice.document, &kind, pdf, &envelope)
            .map_err(|e| SendFailure::Permanent(format!("the message cannot be built: {e}")))?;
        self.mail.send(message, &delivery.delivery_id).await
    }

    /// The messages without an invoice (quota alerts, portal sign-in links): built from the
    /// event and the tenant, from the issuer of the configuration.
    async fn send_alert(
        &self,
        delivery: &Delivery,
        event: &OutboxEvent,
        to: &Address,
        now: DateTime<Utc>,
    ) -> Result<(), SendFailure> {
        let envelope = Envelope {
            from: &self.config.from,
            to,
            message_id: message_id_header(&delivery.delivery_id, self.config.from.domain()),
            now,
            public_url: &self.config.public_url,
        };
        let message = if event.kind == PORTAL_LOGIN_LINK {
            let (tenant, link) = mint_login_link(&self.store, event, &envelope).await?;
            login_message(&login_view(&tenant, &self.config.issuer, &link), &envelope)
                .map_err(|e| SendFailure::Permanent(format!("the message cannot be built: {e}")))?
        } else {
            alert_message_for(&self.store, event, &self.config.issuer, &envelope).await?
        };
        self.mail.send(message, &delivery.delivery_id).await
    }

    async fn call_endpoint(&self, delivery: &Delivery, now: DateTime<Utc>) -> Result<(), SendFailure> {
        let endpoint = self.store.get_webhook(&delivery.recipient).await.map_err(store_failure)?;
        let endpoint = endpoint.ok_or_else(|| SendFailure::Permanent("the webhook endpoint was deleted".into()))?;
        let event = self.store.outbox_event(&delivery.tenant, &delivery.message_id).await.map_err(store_failure)?;
        let event = event.ok_or_else(|| SendFailure::Permanent("the outbox event is gone".into()))?;
        call_webhook(&self.http, &endpoint, &event.message_id, webhook_body(&event), now).await
    }

    fn count(&self, delivery: &Delivery, result: &AttemptResult, report: &mut DispatchReport) {
        let labels = crate::metrics::DeliveryLabels { kind: delivery.kind.clone(), channel: delivery.channel.clone() };
        match result {
            AttemptResult::Sent => {
                report.sent += 1;
                self.metrics.outbox_sent.get_or_create(&labels).inc();
            }
            AttemptResult::Retry { error, .. } => {
                report.retried += 1;
                tracing::info!(delivery_id = %delivery.delivery_id, %error, "delivery will be retried");
            }
            AttemptResult::Failed { error } => {
                report.failed += 1;
                self.metrics.outbox_failed.get_or_create(&labels).inc();
                tracing::warn!(delivery_id = %delivery.delivery_id, %error, "delivery failed for good");
            }
        }
    }

    async fn refresh_pending(&self) -> Result<(), DbError> {
        let mut pending = std::collections::BTreeMap::new();
        for (kind, channel, state, n) in self.store.delivery_counts().await? {
            let waiting = matches!(state, crate::store::DeliveryState::Pending | crate::store::DeliveryState::Sending);
            *pending.entry((kind, channel)).or_insert(0_i64) += if waiting { i64::try_from(n).unwrap_or(0) } else { 0 };
        }
        for ((kind, channel), n) in pending {
            self.metrics.outbox_pending.get_or_create(&crate::metrics::DeliveryLabels { kind, channel }).set(n);
        }
        Ok(())
    }
}

/// A store failure during one attempt: the database may be back by the next one.
fn store_failure(error: DbError) -> SendFailure {
    SendFailure::Temporary(format!("the store failed: {error}"))
}
