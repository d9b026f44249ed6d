//! The rollup levels' upkeep task of `tally serve`: every second it folds the pending rollup
//! deltas into the rollup rows (`Store::fold_pending_rollups`), so reads add only about a
//! second's deltas; every minute it compacts the hour level (`Store::compact_rollup_hours`),
//! keeping the hour watermark within an hour or so of now, so month-long usage reads take
//! nearly every hour from the hour level. One task: both take the same lock, so they never
//! run at once anyway.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::clock::SharedClock;
use crate::metrics::Metrics;
use crate::store::Store;

/// Folds every `fold_every` and compacts at most every `compact_every`, logging failures (the
/// next run retries: folded deltas and `W` move only when a run commits) and counting folds in
/// `metrics`.
pub async fn keep_rollups_every(
    fold_every: Duration,
    compact_every: Duration,
    store: Store,
    clock: SharedClock,
    metrics: Arc<Metrics>,
) {
    let mut ticks = tokio::time::interval(fold_every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut compacted: Option<Instant> = None;
    loop {
        ticks.tick().await;
        let started = Instant::now();
        match store.fold_pending_rollups().await {
            Ok(Some(report)) => metrics.record_rollup_fold(started.elapsed(), &report),
            Ok(None) => {}
            Err(error) => {
                metrics.rollup_fold_failures.inc();
                tracing::error!(error = ?error, "pending rollup fold failed");
            }
        }
        if compacted.is_some_and(|at| at.elapsed() < compact_every) {
            continue;
        }
        compacted = Some(Instant::now());
        match store.compact_rollup_hours(clock.now()).await {
            Ok(Some(moved)) if moved.from < moved.to => {
                tracing::info!(from = %moved.from, to = %moved.to, "hour rollups compacted");
            }
            Ok(_) => {}
            Err(error) => tracing::error!(error = ?error, "hour rollup compaction failed"),
        }
    }
}
