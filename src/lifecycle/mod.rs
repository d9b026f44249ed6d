//! Data lifecycle: the raw usage table's monthly partitions kept ahead of time, and raw usage
//! retention (`TALLY_RAW_RETENTION`, DESIGN §2).
//!
//! Stage: maintenance beside `invoice`'s scheduler. Decides which months of raw records may go
//! (pure, `retention.rs`) and runs the store's partition and retirement calls; holds no SQL.

mod maintenance;
mod retention;

pub use maintenance::Maintenance;
pub use retention::{retention_horizon, RawRetention, RetentionReport};
