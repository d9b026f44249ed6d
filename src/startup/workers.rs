//! The background workers `Application` starts beside the server, each from its settings:
//! the batching writer, the billing scheduler, maintenance and the rollup upkeep, the outbox
//! delivery worker and the quota evaluator.
//!
//! A worker whose interval is set to zero is not started (`None`); `Application::run_until_stopped`
//! aborts the ones that run. The tasks with no setting (WAL checkpoints, change reports, the
//! billing run reaper, the portal's sign-in queue) are one-line spawns in `Application::build`.

use std::sync::Arc;

use anyhow::Context;
use tokio::task::JoinHandle;

use super::from_settings::{billing_config, maintenance, public_url, quota_evaluator, OUTBOX_CLAIM_BATCH};
use crate::clock::SharedClock;
use crate::config::Settings;
use crate::ingest::{UsageWriter, WriterConfig, WriterTasks};
use crate::invoice::Biller;
use crate::lifecycle::keep_rollups_every;
use crate::metrics::Metrics;
use crate::notify::{Dispatcher, MailTransport, NotifyConfig};
use crate::plans::SharedCatalog;
use crate::store::{Store, StoreKind};

/// The batching writer: one task on SQLite (one writer connection), `ingest.writers` on
/// PostgreSQL.
pub(super) fn start_writer(
    settings: &Settings,
    store: &Store,
    clock: &SharedClock,
    metrics: &Arc<Metrics>,
) -> (UsageWriter, WriterTasks) {
    let writers = if store.kind() == StoreKind::Sqlite { 1 } else { settings.ingest.writers };
    let config = WriterConfig {
        queue_capacity: settings.ingest.queue_capacity,
        max_group_records: settings.ingest.max_group_records,
        writers,
    };
    UsageWriter::start(store.clone(), clock.clone(), metrics.clone(), config)
}

/// Runs billing every `billing.schedule_every` (off when zero), see [`Biller::run_every`].
pub(super) fn spawn_billing_scheduler(
    settings: &Settings,
    store: Store,
    clock: SharedClock,
    biller: Biller,
) -> Option<JoinHandle<()>> {
    let every = settings.billing.schedule_every;
    if every.is_zero() {
        return None;
    }
    Some(tokio::spawn(async move { biller.run_every(every, store, clock).await }))
}

/// Runs maintenance every `lifecycle.maintain_every` (off when zero), see [`Maintenance::run_every`](crate::lifecycle::Maintenance::run_every).
pub(super) fn spawn_maintenance(settings: &Settings, store: &Store, clock: &SharedClock) -> Option<JoinHandle<()>> {
    let every = settings.lifecycle.maintain_every;
    (!every.is_zero()).then(|| tokio::spawn(maintenance(settings).run_every(every, store.clone(), clock.clone())))
}

/// How often the hour rollups' compactor runs at most: the hour watermark then trails the
/// last settled hour by about a minute.
const HOUR_COMPACTION_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// How often pending rollup deltas are folded at most: reads then add about a second's.
const PENDING_FOLD_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Runs the rollup levels' upkeep (see [`keep_rollups_every`]): the fold every second and the
/// hour compactor every minute, each every `lifecycle.maintain_every` if shorter; off when
/// maintenance is (zero), as it is store upkeep (reads stay exact without it).
pub(super) fn spawn_rollup_keeper(
    settings: &Settings,
    store: &Store,
    metrics: &Arc<Metrics>,
    clock: &SharedClock,
) -> Option<JoinHandle<()>> {
    let every = settings.lifecycle.maintain_every;
    (!every.is_zero()).then(|| {
        let (fold, compact) = (every.min(PENDING_FOLD_EVERY), every.min(HOUR_COMPACTION_EVERY));
        tokio::spawn(keep_rollups_every(fold, compact, store.clone(), clock.clone(), metrics.clone()))
    })
}

/// The outbox worker: SMTP at `smtp.url`, else `.eml` files under `<data dir>/outbox/`.
pub(super) fn build_dispatcher(
    settings: &Settings,
    store: &Store,
    metrics: &Arc<Metrics>,
    port: u16,
) -> anyhow::Result<Dispatcher> {
    use secrecy::ExposeSecret;
    let url = settings.smtp.url.as_ref().map(|u| u.expose_secret().to_owned());
    let mail =
        MailTransport::from_settings(url.as_deref(), settings.data_dir.join("outbox"), settings.smtp.max_connections)?;
    let from = settings.smtp.mail_from.parse().with_context(|| {
        format!("smtp.mail_from (TALLY_MAIL_FROM) {:?} is not an email address", settings.smtp.mail_from)
    })?;
    let public_url = public_url(settings, port);
    let config = NotifyConfig {
        from,
        public_url,
        lease: chrono::Duration::from_std(settings.notify.lease).unwrap_or(chrono::Duration::minutes(5)),
        batch: OUTBOX_CLAIM_BATCH,
        issuer: billing_config(settings).issuer,
    };
    Dispatcher::new(store.clone(), mail, config, metrics.clone())
}

/// Runs outbox passes every `notify.poll_every` (off when zero), see [`Dispatcher::run_every`].
pub(super) fn spawn_notify_worker(
    settings: &Settings,
    dispatcher: Dispatcher,
    clock: SharedClock,
) -> Option<JoinHandle<()>> {
    let every = settings.notify.poll_every;
    (!every.is_zero()).then(|| tokio::spawn(dispatcher.run_every(every, clock)))
}

/// Evaluates quotas every `quota.evaluate_every` (off when zero), see [`QuotaEvaluator::run_every`](crate::quota::QuotaEvaluator::run_every).
pub(super) fn spawn_quota_evaluator(
    settings: &Settings,
    store: &Store,
    catalog: &SharedCatalog,
    metrics: &Arc<Metrics>,
    clock: &SharedClock,
) -> Option<JoinHandle<()>> {
    let (every, sweep_every) = (settings.quota.evaluate_every, settings.quota.sweep_every);
    if every.is_zero() {
        return None;
    }
    let evaluator = quota_evaluator(settings, store, catalog, metrics);
    let clock = clock.clone();
    Some(tokio::spawn(async move { evaluator.run_every(every, sweep_every, clock).await }))
}
