//! Rollups: pure folding of usage into 15-minute buckets and tenant-local calendar series.
//!
//! Inputs are domain values; outputs are values. No SQL, no HTTP, no clock: `store` calls
//! [`fold_records`] on the write path and for rebuilds, so the two can never disagree.

mod rollup;

pub use rollup::{bucket_start, fold_records, Rollup, RollupKey, RollupTotals, BUCKET_SECONDS};
