//! Moving a whole store to another database (`tally store copy --to URL [--verify]`): SQLite →
//! PostgreSQL, PostgreSQL → PostgreSQL or Citus. Tables are copied by their logical columns
//! (`tables.rs`) through the store's own codecs (`value.rs`), in keyset batches (`batch.rs`),
//! resumably (`state.rs`, `run.rs`), then compared side by side (`summary.rs`, `verify.rs`).

mod batch;
mod run;
mod state;
mod summary;
mod tables;
mod value;
mod verify;

pub use run::{copy_store, CopyError, CopyOptions, CopyProgress, CopyReport};
pub use tables::{CopiedTable, COPIED_TABLES, NOT_COPIED};
pub use value::Kind;
pub use verify::{verify_copy, Verification};
