//! SQLite's log checkpointed beside the writer (why: `store/wal.rs`).

use std::time::Duration;

use crate::store::Store;

/// Checkpoints the log every `every` while `tally serve` runs, logging failures (the next pass
/// copies what this one could not). Returns at once on PostgreSQL.
pub async fn checkpoint_wal_every(every: Duration, store: Store) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match store.checkpoint_wal().await {
            Ok(Some(_)) => {}
            Ok(None) => return,
            Err(error) => tracing::warn!(error = ?error, "log checkpoint failed"),
        }
    }
}
