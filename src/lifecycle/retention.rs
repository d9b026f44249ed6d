//! Which months of raw usage retention removes, and the run that removes them.
//!
//! A UTC month's raw records go only when all of these hold: the month ended longer ago than
//! the retention (`TALLY_RAW_RETENTION`); its late window is over (no record for it can be
//! accepted any more); and for every tenant with usage in it, every billing period it touches
//! is closed with its invoice finalized, including the one that settled its late records.
//! Months go oldest first and never past the first month that must stay, so what remains is
//! always one contiguous stretch of time.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::store::{DbError, Store};

/// The retention setting and the window it must respect.
#[derive(Debug, Clone, Copy)]
pub struct RawRetention {
    /// How long raw records are kept; `None` keeps them forever (the default).
    pub keep: Option<Duration>,
    /// How late a record may arrive (`TALLY_ALLOWED_LATENESS`).
    pub allowed_lateness: Duration,
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RetentionReport {
    /// Months whose raw records were removed (their first instant, UTC).
    pub retired_months: Vec<DateTime<Utc>>,
    /// Records deleted (SQLite; PostgreSQL drops partitions without counting them).
    pub records_deleted: Option<u64>,
    /// The oldest month that old enough still had to stay, and why.
    pub kept: Option<KeptMonth>,
}

/// A month retention had to keep although it is old enough.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeptMonth {
    pub month: DateTime<Utc>,
    pub reason: String,
}

/// The newest instant a month may end at and be removed, at `now`: `None` when retention keeps
/// everything. Never later than the late window allows, whatever the retention says.
pub fn retention_horizon(retention: &RawRetention, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let keep = retention.keep?;
    let by_age = now.checked_sub_signed(keep)?;
    let by_lateness = now.checked_sub_signed(retention.allowed_lateness)?;
    Some(by_age.min(by_lateness))
}

impl RawRetention {
    /// Removes every month of raw records that may go at `now` (see the module header).
    ///
    /// # Errors
    /// When the store fails; months already removed stay removed.
    #[tracing::instrument(skip_all)]
    pub async fn run(&self, store: &Store, now: DateTime<Utc>) -> Result<RetentionReport, DbError> {
        let Some(horizon) = retention_horizon(self, now) else {
            return Ok(RetentionReport::default());
        };
        let mut report = RetentionReport::default();
        for month in store.raw_usage_months(horizon).await? {
            let month_end = crate::store::next_month(month);
            let late_until = month_end.checked_add_signed(self.allowed_lateness).unwrap_or(month_end);
            if let Some(tenant) = store.tenant_holding_raw_month(month, late_until).await? {
                let reason = format!("tenant {tenant} has usage in it that no finalized invoice settles yet");
                report.kept = Some(KeptMonth { month, reason });
                break;
            }
            report.retired_months.push(month);
        }
        report.records_deleted = store.retire_raw_usage(&report.retired_months, now).await?;
        if !report.retired_months.is_empty() {
            tracing::info!(months = ?report.retired_months, "retired raw usage");
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::at;

    #[test]
    fn keeping_forever_has_no_horizon() {
        let forever = RawRetention { keep: None, allowed_lateness: Duration::days(35) };
        assert_eq!(retention_horizon(&forever, at("2027-06-01T00:00:00Z")), None);
    }

    #[test]
    fn the_horizon_is_the_retention_age_or_the_late_window_whichever_is_older() {
        let long = RawRetention { keep: Some(Duration::days(400)), allowed_lateness: Duration::days(35) };
        let short = RawRetention { keep: Some(Duration::days(1)), allowed_lateness: Duration::days(35) };
        let now = at("2027-06-01T00:00:00Z");
        assert_eq!(retention_horizon(&long, now), Some(now - Duration::days(400)));
        assert_eq!(retention_horizon(&short, now), Some(now - Duration::days(35)), "the late window wins");
    }
}
