//! What only PostgreSQL does: the ingest hot path, `COPY` for groups of new keys and array
//! binds (`unnest`) for the rest, so a batch is one statement whatever its size, and rollup
//! upserts that add in SQL (`numeric` is exact).

mod bounds_policy;
mod copy_binary;
mod copy_insert;
mod copy_pending;
mod held_connection;
mod key_bounds;
mod one_call;
mod pending_vacuum;
mod prelude;
mod probe;
mod tenant_locks;
mod usage;

pub(super) use bounds_policy::BoundsPolicy;
pub use copy_binary::{copy_rows as binary_copy_rows, COPY_RECORDS_SQL};
pub(super) use copy_insert::send_copy;
pub(super) use copy_pending::{pending_rows, COPY_PENDING_SQL};
pub(super) use held_connection::HeldConnection;
pub(super) use pending_vacuum::vacuum_pending;
pub use probe::PROBE_SQL;
pub use tenant_locks::{bucket_locks, BucketLock, LOCK_TENANT_BUCKETS_SQL};
pub(super) use usage::{
    add_rollup_deltas, bind_rollup_columns, insert_usage, upsert_rollup_level, upsert_rollup_rows, RollupLevel,
    UsageTable,
};
pub use usage::{RecordColumns, INSERT_RECORDS_SQL};
