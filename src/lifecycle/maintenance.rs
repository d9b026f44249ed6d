//! The periodic maintenance task of `tally serve`: partitions created ahead of the write path,
//! then raw usage retention.

use chrono::{DateTime, Duration, Utc};

use super::{RawRetention, RetentionReport};
use crate::clock::SharedClock;
use crate::store::{next_month, DbError, Store};

/// How far ahead partitions exist: the current month and the next two.
const MONTHS_AHEAD: u32 = 2;

/// What the maintenance task does on each pass.
#[derive(Debug, Clone, Copy)]
pub struct Maintenance {
    pub retention: RawRetention,
}

impl Maintenance {
    /// Makes sure a partition exists for every month a record may be accepted for now or in
    /// the next two months (from `now − allowed lateness`, at most 100 days back), then
    /// applies retention.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn run_once(&self, store: &Store, now: DateTime<Utc>) -> Result<RetentionReport, DbError> {
        self.ensure_partitions(store, now).await?;
        self.retention.run(store, now).await
    }

    /// The partitions part of [`Self::run_once`]; `tally serve` also runs it before serving, so
    /// the write path does not meet partition DDL in its first minutes.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn ensure_partitions(&self, store: &Store, now: DateTime<Utc>) -> Result<(), DbError> {
        let back = self.retention.allowed_lateness.checked_add(&Duration::hours(1)).unwrap_or(Duration::MAX);
        // A very long lateness is left to the write path's on-demand creation.
        let oldest = now.checked_sub_signed(back.min(Duration::days(100))).unwrap_or(now);
        let mut ahead = now;
        for _ in 0..=MONTHS_AHEAD {
            ahead = next_month(ahead);
        }
        store.ensure_usage_partitions(oldest, ahead).await?;
        Ok(())
    }

    /// Runs [`Self::run_once`] every `every`, logging failures (the next pass retries).
    pub async fn run_every(self, every: std::time::Duration, store: Store, clock: SharedClock) {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(error) = self.run_once(&store, clock.now()).await {
                tracing::error!(error = ?error, "maintenance pass failed");
            }
        }
    }
}
