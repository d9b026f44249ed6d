//! The hour rollups' compactor: moves the hour watermark `W` (`rollup_hours.rs`) up to the
//! last hour that ended a few minutes ago, summing the 15-minute rows of the hours it passes
//! into `usage_rollup_hour`. `tally serve` runs it every minute
//! (`lifecycle::keep_rollups_every`).
//!
//! One transaction per run, under the watermark lock taken exclusive: no fold of pending
//! deltas (`rollup_pending.rs`, the only other transaction changing the levels) runs between
//! summing the quarters and moving `W`, and folds after it read the new `W` (so each 15-minute
//! delta reaches the hour level exactly once: summed here, or added by the fold when late).
//! Several `tally serve` processes may run it at once: the lock queues them and the later ones
//! find `W` already moved. A run with nothing to do (all but one an hour) reads `W` without
//! the lock, so it never holds a fold back. A run passes at most [`MAX_HOURS_PER_RUN`] hours,
//! so a store whose compactor was off catches up over a few runs without one long transaction.

use chrono::{DateTime, TimeDelta, Utc};

use super::engine::Engine;
use super::rollup_hours::{hour_floor, lock_watermark, sum_quarters_into_hours};
use super::rollup_pending::fold_pending;
use super::{DbError, Store};

/// How long after an hour ends the compactor leaves it to the write path's 15-minute rows:
/// records of that hour still arriving (clock skew, batching) then land before it is summed.
const SETTLE: TimeDelta = TimeDelta::minutes(5);

/// The most hours one run passes.
pub const MAX_HOURS_PER_RUN: i64 = 24;

/// Where a run moves `W` to from `watermark` at `now`: the start of the latest hour that
/// ended at least [`SETTLE`] ago, at most [`MAX_HOURS_PER_RUN`] hours on; `None` when `W`
/// is already there (or later, e.g. set by a clock ahead of this one).
#[must_use]
pub fn next_watermark(watermark: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let settled = hour_floor(now.checked_sub_signed(SETTLE)?)?;
    let capped = watermark.checked_add_signed(TimeDelta::hours(MAX_HOURS_PER_RUN)).unwrap_or(settled);
    let next = settled.min(capped);
    (next > watermark).then_some(next)
}

/// What one compaction did: `W` before and after (equal when there was nothing to do).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatermarkMove {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Store {
    /// Sums the 15-minute rollups of the hours from `W` to [`next_watermark`] into the hour
    /// level and moves `W` there, in one transaction (PostgreSQL; `None` on SQLite, which has
    /// no hour level).
    ///
    /// # Errors
    /// A store failure; `W` and the hour level are then unchanged.
    #[tracing::instrument(skip_all)]
    pub async fn compact_rollup_hours(&self, now: DateTime<Utc>) -> Result<Option<WatermarkMove>, DbError> {
        let Engine::Postgres { pool, distributed, .. } = &self.engine else {
            return Ok(None);
        };
        // Most runs have nothing to do (`W` moves once an hour): they look without the lock.
        let seen: DateTime<Utc> =
            sqlx::query_scalar("select through from rollup_hour_watermark").fetch_one(pool).await?;
        if next_watermark(seen, now).is_none() {
            return Ok(Some(WatermarkMove { from: seen, to: seen }));
        }
        let mut tx = super::open::begin_postgres(pool).await?;
        // Read again under the lock: another compactor may have moved `W` meanwhile.
        let from = lock_watermark(&mut tx).await?;
        let Some(to) = next_watermark(from, now) else {
            tx.commit().await?;
            return Ok(Some(WatermarkMove { from, to: from }));
        };
        // Hours at and after `W` are never read from this level; a row left there (a copy's
        // or an older build's) must not be added to.
        sqlx::query("delete from usage_rollup_hour where bucket_start >= $1 and bucket_start < $2")
            .bind(from)
            .bind(to)
            .execute(&mut *tx)
            .await?;
        // The deltas still pending first (a page of them), so the hours summed are as complete
        // as the rows can be (a delta left pending reaches them in its fold anyway: its hour is
        // then below `W`).
        fold_pending(&mut tx, *distributed).await?;
        sum_quarters_into_hours(&mut tx, from, to).await?;
        sqlx::query("update rollup_hour_watermark set through = $1").bind(to).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(Some(WatermarkMove { from, to }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::at;

    #[test]
    fn the_watermark_moves_to_the_last_hour_that_ended_a_few_minutes_ago() {
        let watermark = at("2026-11-02T08:00:00Z");
        assert_eq!(next_watermark(watermark, at("2026-11-02T10:07:00Z")), Some(at("2026-11-02T10:00:00Z")));
        assert_eq!(next_watermark(watermark, at("2026-11-02T10:03:00Z")), Some(at("2026-11-02T09:00:00Z")));
    }

    #[test]
    fn a_watermark_already_there_or_ahead_does_not_move() {
        let now = at("2026-11-02T10:07:00Z");
        assert_eq!(next_watermark(at("2026-11-02T10:00:00Z"), now), None);
        assert_eq!(next_watermark(at("2026-11-02T12:00:00Z"), now), None);
    }

    #[test]
    fn one_run_passes_at_most_a_day_of_hours() {
        let watermark = at("2026-11-01T00:00:00Z");
        assert_eq!(next_watermark(watermark, at("2026-11-05T00:00:00Z")), Some(at("2026-11-02T00:00:00Z")));
    }
}
