//! Data lifecycle: the raw usage table's monthly partitions kept ahead of time, raw usage
//! retention (`TALLY_RAW_RETENTION`, DESIGN §2), and moving or backing up a whole store
//! (`tally store copy`, `tally backup`: `moves.rs`).
//!
//! Stage: maintenance beside `invoice`'s scheduler. Decides which months of raw records may go
//! (pure, `retention.rs`) and runs the store's partition and retirement calls; holds no SQL.

mod checkpoints;
mod hour_rollups;
mod maintenance;
mod moves;
mod retention;

pub use checkpoints::checkpoint_wal_every;
pub use hour_rollups::keep_rollups_every;
pub use maintenance::Maintenance;
pub use moves::{backup, store_copy, Outcome};
pub use retention::{retention_horizon, RawRetention, RetentionReport};
