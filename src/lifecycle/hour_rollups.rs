//! The hour rollups' compactor task of `tally serve` (the work is
//! `Store::compact_rollup_hours`): it keeps the hour watermark within an hour or so of now,
//! so month-long usage reads take nearly every hour from the hour level.

use crate::clock::SharedClock;
use crate::store::Store;

/// Compacts every `every`, logging failures (the next run retries from the same watermark).
pub async fn compact_rollup_hours_every(every: std::time::Duration, store: Store, clock: SharedClock) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match store.compact_rollup_hours(clock.now()).await {
            Ok(Some(moved)) if moved.from < moved.to => {
                tracing::info!(from = %moved.from, to = %moved.to, "hour rollups compacted");
            }
            Ok(_) => {}
            Err(error) => tracing::error!(error = ?error, "hour rollup compaction failed"),
        }
    }
}
