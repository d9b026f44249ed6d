//! The tenants this process changed, reported to every quota evaluator on the database
//! (`tenant_change`, `store/changes.rs`): every `tally serve` does it, whether or not it runs
//! an evaluator itself, so an evaluator on another node reads them within a second of the
//! commit.

use std::time::Duration;

use crate::store::Store;

/// How often a process writes its changed tenants: an alert is due within 60 s of the usage
/// (DESIGN §9), and an empty set costs no statement.
pub const REPORT_CHANGES_EVERY: Duration = Duration::from_secs(1);

/// Writes the changed tenants every `every` while `tally serve` runs; a failed write keeps
/// them for the next (logged).
pub async fn report_changes_every(every: Duration, store: Store) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        report_changes(&store).await;
    }
}

/// Writes the changed tenants once (also after the write queue drained at shutdown).
pub async fn report_changes(store: &Store) {
    if let Err(error) = store.flush_changed_tenants().await {
        tracing::warn!(error = ?error, "writing the changed tenants failed");
    }
}
