//! Rollups: pure folding of usage into 15-minute buckets and tenant-local calendar series.
//!
//! Inputs are domain values; outputs are values. No SQL, no HTTP, no clock: `store` calls
//! [`fold_records`] on the write path and for rebuilds, so the two can never disagree.
//! Tenant-local calendar units (hours, days, months in the tenant's time zone) give usage
//! series their buckets ([`usage_series`]) and billing its periods ([`month_period`]).

mod billing_calendar;
mod calendar;
mod correction;
mod rollup;
mod series;

pub use billing_calendar::BillingCalendar;
pub(crate) use calendar::units_in_range;
pub use calendar::{month_period, next_unit_start, unit_start, Granularity};
pub use correction::{correction_deltas, correction_step, RecordState};
pub use rollup::{
    bucket_ceiling, bucket_start, fold_records, merge_adjacent_keys, sum_rollups, Rollup, RollupKey, RollupTotals,
    BUCKET_SECONDS,
};
pub use series::{usage_series, validate_range, GroupBy, RangeError, SeriesBucket};
