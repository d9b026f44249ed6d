//! When a writer stops gathering requests into its group and commits.
//!
//! A group commit costs PostgreSQL about as much for 16 single-record requests as for 30: the
//! tenant locks, the lookup in the other months, the statements' start-up, the commit and its
//! WAL flush are paid per group, and a record adds little. A writer that started a group with
//! whatever one request was queued while the other writer's commit was in flight made two
//! small groups where one would have carried both (BENCHMARKS.md, "Gathering beside a commit
//! in flight"). So beside a commit in flight a writer keeps gathering until its group is
//! worth a commit of its own ([`WORTH_A_COMMIT`] records) or that commit ends. Alone, it
//! commits at once, so a quiet service answers without delay; and batches of a few hundred
//! records still keep both writers busy.

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::futures::Notified;
use tokio::sync::Notify;

/// Records that earn a group commit beside another one in flight: well above the commit's fixed
/// cost in PostgreSQL (≈ 0.5 ms a call, pgbench, the time `COPY` takes for 100–150 records).
pub const WORTH_A_COMMIT: usize = 256;

/// Whether a writer holding `gathered` records (its group may hold at most `max_group`) goes
/// on gathering, with `others_committing` writers' commits in flight.
pub fn keeps_gathering(gathered: usize, max_group: usize, others_committing: usize) -> bool {
    others_committing > 0 && gathered < WORTH_A_COMMIT.min(max_group)
}

/// The commits in flight across the writers, and a signal when one ends.
#[derive(Clone, Default)]
pub struct CommitsInFlight {
    count: Arc<AtomicUsize>,
    ended: Arc<Notify>,
}

impl CommitsInFlight {
    /// Counts a commit in flight until the guard drops.
    pub fn begin(&self) -> CommitGuard<'_> {
        self.count.fetch_add(1, Ordering::SeqCst);
        CommitGuard(self)
    }

    /// A future that completes when a commit that is in flight now ends. It is registered
    /// before the count is read, so an end between the two is not missed.
    pub fn next_end(&self) -> (Pin<Box<Notified<'_>>>, usize) {
        let mut ended = Box::pin(self.ended.notified());
        ended.as_mut().enable();
        (ended, self.count.load(Ordering::SeqCst))
    }
}

/// A commit in flight; dropping it ends the commit and wakes the writers gathering beside it.
pub struct CommitGuard<'a>(&'a CommitsInFlight);

impl Drop for CommitGuard<'_> {
    fn drop(&mut self) {
        self.0.count.fetch_sub(1, Ordering::SeqCst);
        self.0.ended.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (records gathered, largest group, other commits in flight, keeps gathering, why)
    const CASES: &[(usize, usize, usize, bool, &str)] = &[
        (1, 10_000, 0, false, "alone, a writer commits at once: a quiet service answers without delay"),
        (1, 10_000, 1, true, "one record beside a commit in flight waits for more"),
        (255, 10_000, 1, true, "just under the size worth a commit"),
        (256, 10_000, 1, false, "worth a commit of its own: two writers overlap"),
        (1_000, 10_000, 1, false, "one batch request is worth a commit"),
        (1, 10_000, 2, true, "beside two commits in flight, the same"),
        (8, 8, 1, false, "a group at the configured largest size cannot grow"),
        (7, 8, 1, true, "under a small configured largest size, still gathering"),
    ];

    #[test]
    fn a_writer_gathers_only_beside_a_commit_in_flight_and_only_up_to_a_commits_worth() {
        for &(gathered, max_group, others, expected, why) in CASES {
            assert_eq!(keeps_gathering(gathered, max_group, others), expected, "{why}");
        }
    }

    #[tokio::test]
    async fn the_end_of_a_commit_in_flight_wakes_a_writer_waiting_for_it() {
        let commits = CommitsInFlight::default();
        let guard = commits.begin();
        let (ended, count) = commits.next_end();
        assert_eq!(count, 1);
        drop(guard);
        tokio::time::timeout(std::time::Duration::from_secs(5), ended).await.expect("woken by the commit's end");
        assert_eq!(commits.next_end().1, 0);
    }
}
