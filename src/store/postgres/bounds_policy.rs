//! When a group reads the bounds of the stored ids before probing its keys (`key_bounds.rs`):
//! a pure decision, shared by the writers of one store.
//!
//! The bounds save the probe of every key outside them, and cost a statement and a round
//! trip. Ids that grow over time fall outside (the bounds pay); random ids (UUIDv4) fall
//! inside group after group (the bounds save nothing: BENCHMARKS.md, Dec 4). Growing ids also
//! fall inside now and then: a request that reaches a writer after later ones were committed
//! lies below the highest id stored. Such a group is one group; random ids are every group. So
//! the probe goes unbounded only after [`INSIDE_STREAK`] groups in a row had most of their
//! keys inside, and only for [`UNBOUNDED_GROUPS`]; an occasional late request once sent the
//! next 16 groups of growing ids to probe every key (a third of the records of the 10 %
//! duplicates run, BENCHMARKS.md).

use std::sync::atomic::{AtomicU32, Ordering};

/// Groups from this size read the bounds of their keys first; smaller ones (single-record
/// requests) probe every key at once, which costs less than the bounds' second round trip
/// whenever a key falls inside them.
const BOUNDED_FROM_RECORDS: usize = 64;

/// Groups in a row with more than half their keys inside the bounds before the bounds are
/// skipped: random ids do it every time, growing ids arriving out of order once in a while.
const INSIDE_STREAK: u32 = 3;

/// Groups that then probe every key at once. The next group after them reads the bounds
/// again, so growing ids find their way back; random ids, still inside, skip them again at once
/// (the streak is kept through the skipped groups).
const UNBOUNDED_GROUPS: u32 = 16;

/// What the groups before this one taught about the bounds (relaxed atomics: a miscount costs
/// a round trip or a probe, never a wrong answer — the probe judges every key either way).
#[derive(Debug, Default)]
pub(in crate::store) struct BoundsPolicy {
    /// Groups left that probe every key without reading the bounds.
    unbounded_left: AtomicU32,
    /// Bounded groups in a row with most of their keys inside.
    inside_streak: AtomicU32,
}

impl BoundsPolicy {
    /// Whether a group of `group_size` records may read the bounds at all: a smaller one
    /// (single-record requests) never does, so its pairs need not be counted.
    pub(super) fn may_read_bounds(group_size: usize) -> bool {
        group_size >= BOUNDED_FROM_RECORDS
    }

    /// Whether a group of `group_size` records over `distinct_pairs` (tenant, source) pairs
    /// reads the bounds (counting down the groups that do not). The bounds cost two descents
    /// per pair and month, the probe one per key and month: a group whose pairs are at least
    /// half its keys (a collector's batch across a long tail of tenants) probes every key, as
    /// cheap even when none lies inside. Such groups leave the streak as it is.
    pub(super) fn reads_bounds(&self, group_size: usize, distinct_pairs: usize) -> bool {
        if !Self::may_read_bounds(group_size) || distinct_pairs * 2 >= group_size {
            return false;
        }
        let left = self.unbounded_left.load(Ordering::Relaxed);
        if left > 0 {
            self.unbounded_left.store(left - 1, Ordering::Relaxed);
        }
        left == 0
    }

    /// Learns from a group that read the bounds: `inside` of its `group_size` keys lay inside.
    pub(super) fn saw(&self, inside: usize, group_size: usize) {
        if inside * 2 <= group_size {
            self.inside_streak.store(0, Ordering::Relaxed);
            return;
        }
        let streak = self.inside_streak.load(Ordering::Relaxed).saturating_add(1);
        self.inside_streak.store(streak, Ordering::Relaxed);
        if streak >= INSIDE_STREAK {
            self.unbounded_left.store(UNBOUNDED_GROUPS, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GROUP: usize = 1000;

    /// The (tenant, source) pairs of a group of a few tenants' records.
    const FEW_PAIRS: usize = 10;

    /// Which of the next `groups` groups read the bounds, each with `inside(n)` keys inside.
    fn reads(policy: &BoundsPolicy, groups: usize, inside: impl Fn(usize) -> usize) -> Vec<bool> {
        (0..groups)
            .map(|n| {
                let read = policy.reads_bounds(GROUP, FEW_PAIRS);
                if read {
                    policy.saw(inside(n), GROUP);
                }
                read
            })
            .collect()
    }

    #[test]
    fn small_groups_never_read_the_bounds() {
        let policy = BoundsPolicy::default();
        assert!(!policy.reads_bounds(BOUNDED_FROM_RECORDS - 1, 1));
        assert!(policy.reads_bounds(BOUNDED_FROM_RECORDS, 1));
    }

    #[test]
    fn groups_whose_pairs_are_half_their_keys_or_more_probe_every_key() {
        let policy = BoundsPolicy::default();
        assert!(policy.reads_bounds(GROUP, GROUP / 2 - 1), "two keys a pair and more: two descents save one");
        assert!(!policy.reads_bounds(GROUP, GROUP / 2), "two keys a pair: the bounds' descents are the probe's");
        assert!(!policy.reads_bounds(GROUP, GROUP), "a key a pair (a batch across a thousand tenants)");
    }

    #[test]
    fn a_group_of_many_pairs_leaves_the_count_of_groups_to_skip_as_it_was() {
        let policy = BoundsPolicy::default();
        reads(&policy, 3, |_| GROUP);
        assert!(!policy.reads_bounds(GROUP, GROUP));
        let read = reads(&policy, 17, |_| GROUP);
        assert!(read[..16].iter().all(|read| !read) && read[16], "{read:?}");
    }

    #[test]
    fn growing_ids_with_now_and_then_a_late_request_keep_reading_the_bounds() {
        let policy = BoundsPolicy::default();
        // Groups 3, 4 and 9 were late requests: every key inside, yet never three in a row.
        let late = |n: usize| if [3, 4, 9].contains(&n) { GROUP } else { GROUP / 10 };
        assert!(reads(&policy, 40, late).into_iter().all(|read| read));
    }

    #[test]
    fn three_groups_in_a_row_mostly_inside_send_the_next_sixteen_straight_to_the_probe() {
        let policy = BoundsPolicy::default();
        let read = reads(&policy, 3 + 16 + 1, |_| GROUP);
        assert_eq!(read[..3], [true; 3]);
        assert!(read[3..19].iter().all(|read| !read), "{read:?}");
        assert!(read[19], "then the bounds are read again");
    }

    #[test]
    fn random_ids_after_the_skipped_groups_skip_again_after_one_group() {
        let policy = BoundsPolicy::default();
        let read = reads(&policy, 3 + 2 * 17, |_| GROUP);
        let bounded: Vec<usize> = read.iter().enumerate().filter(|(_, r)| **r).map(|(n, _)| n).collect();
        assert_eq!(bounded, [0, 1, 2, 19, 36]);
    }

    #[test]
    fn one_group_mostly_outside_ends_the_streak() {
        let policy = BoundsPolicy::default();
        // Inside, inside, outside: the count starts again, and three more are needed.
        let inside = |n: usize| if n == 2 { 0 } else { GROUP };
        assert_eq!(reads(&policy, 7, inside), [true, true, true, true, true, true, false]);
    }

    #[test]
    fn exactly_half_inside_is_not_mostly_inside() {
        let policy = BoundsPolicy::default();
        assert!(reads(&policy, 10, |_| GROUP / 2).into_iter().all(|read| read));
    }
}
