//! What only PostgreSQL does: the ingest hot path with array binds (`unnest`), so a batch is
//! one statement whatever its size, and rollup upserts that add in SQL (`numeric` is exact).

mod probe;
mod tenant_locks;
mod usage;

pub use probe::PROBE_SQL;
pub use tenant_locks::{bucket_locks, BucketLock, LOCK_TENANT_BUCKETS_SQL};
pub(super) use usage::{insert_usage, upsert_rollup_rows};
pub use usage::{RecordColumns, INSERT_RECORDS_SQL};
