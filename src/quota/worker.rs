//! The quota evaluator's worker inside `tally serve`: changed passes every
//! `quota.evaluate_every`, and sweeps at start, every `quota.sweep_every` and soon after the
//! plan catalog changes (the passes themselves: `evaluator.rs`).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::evaluator::QuotaEvaluator;
use crate::clock::SharedClock;
use crate::rate::PlanCatalog;

impl QuotaEvaluator {
    /// The worker inside `tally serve`: a changed pass every `every`, and a sweep at start,
    /// every `sweep_every` (never again when zero) and soon after the catalog changes, as of
    /// the clock's "now". Passes on several nodes, and a sweep beside a changed pass, may
    /// overlap: the alert key lets one of them win each alert.
    pub async fn run_every(&self, every: Duration, sweep_every: Duration, clock: SharedClock) {
        let sweep_soon = Notify::new();
        tokio::join!(self.changed_passes(every, &clock, &sweep_soon), self.sweeps(sweep_every, &clock, &sweep_soon));
    }

    /// Changed passes every `every`; asks for a sweep when the catalog in force changed (each
    /// pass asks the store for it, and the handle keeps what it found).
    async fn changed_passes(&self, every: Duration, clock: &SharedClock, sweep_soon: &Notify) {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut seen: Arc<PlanCatalog> = self.catalog.cached();
        loop {
            ticks.tick().await;
            match self.evaluate_changed(clock.now()).await {
                Ok(report) if report.alerts_raised > 0 || report.failures > 0 => {
                    tracing::info!(alerts = report.alerts_raised, failures = report.failures, "quota evaluation");
                }
                Ok(_) => {}
                Err(error) => tracing::error!(error = ?error, "quota evaluation pass failed"),
            }
            let catalog = self.catalog.cached();
            if !Arc::ptr_eq(&seen, &catalog) {
                sweep_soon.notify_one();
                seen = catalog;
            }
        }
    }

    /// Sweeps at once, then every `every` (zero: only when asked) and when asked.
    async fn sweeps(&self, every: Duration, clock: &SharedClock, sweep_soon: &Notify) {
        let mut ticks = (!every.is_zero()).then(|| tokio::time::interval(every));
        if let Some(ticks) = &mut ticks {
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
        }
        loop {
            let started = std::time::Instant::now();
            match self.evaluate_quotas(clock.now()).await {
                Ok(report) => tracing::info!(
                    tenants = report.tenants,
                    alerts = report.alerts_raised,
                    failures = report.failures,
                    took_ms = started.elapsed().as_millis(),
                    "quota sweep"
                ),
                Err(error) => tracing::error!(error = ?error, "quota sweep failed"),
            }
            match &mut ticks {
                Some(ticks) => tokio::select! {
                    _ = ticks.tick() => {}
                    () = sweep_soon.notified() => {}
                },
                None => sweep_soon.notified().await,
            }
        }
    }
}
