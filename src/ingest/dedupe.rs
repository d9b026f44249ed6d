//! Pure exactly-once bookkeeping for a group of records: which records the store must see,
//! and what each record's outcome is once the store has answered.
//!
//! The same key twice in one group: the first wins; the rest are duplicates when their content
//! equals what is stored for the key and conflicts otherwise.

use std::collections::HashMap;

use foldhash::fast::RandomState;

use crate::domain::{ContentHash, NewUsageRecord, RecordKey};
use crate::store::InsertOutcome;

/// What happened to one acknowledged record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    Accepted,
    Duplicate,
    /// Same key, different content: refused, nothing stored or overwritten.
    Conflict,
}

/// For each record, the index of the first record in the group with the same key.
pub fn first_occurrences(records: &[NewUsageRecord]) -> Vec<usize> {
    let mut firsts: HashMap<&RecordKey, usize, RandomState> =
        HashMap::with_capacity_and_hasher(records.len(), RandomState::default());
    records.iter().enumerate().map(|(i, r)| *firsts.entry(&r.key).or_insert(i)).collect()
}

/// Classifies every record from the store's outcomes for the first occurrences.
///
/// `store_outcome(first)` answers for the record at index `first` (always a first occurrence).
pub fn classify(
    records: &[NewUsageRecord],
    firsts: &[usize],
    store_outcome: impl Fn(usize) -> InsertOutcome,
) -> Vec<WriteOutcome> {
    records
        .iter()
        .zip(firsts)
        .enumerate()
        .map(|(i, (record, &first))| {
            let stored: ContentHash = match store_outcome(first) {
                InsertOutcome::Inserted if i == first => return WriteOutcome::Accepted,
                InsertOutcome::Inserted => records[first].content_hash,
                InsertOutcome::Existing(hash) => hash,
            };
            if stored == record.content_hash {
                WriteOutcome::Duplicate
            } else {
                WriteOutcome::Conflict
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Quantities, TenantId};
    use chrono::DateTime;

    fn record(id: &str, hash: u8) -> NewUsageRecord {
        NewUsageRecord {
            key: RecordKey { tenant_id: TenantId::parse("t").unwrap(), source: String::new(), record_id: id.into() },
            timestamp: DateTime::from_timestamp_micros(0).unwrap(),
            function: String::new(),
            region: String::new(),
            quantities: Quantities::default(),
            event_type: String::new(),
            content_hash: ContentHash([hash; 16]),
        }
    }

    #[test]
    fn the_first_of_a_repeated_key_wins_and_the_rest_are_compared_with_it() {
        let records = [record("a", 1), record("a", 1), record("a", 2), record("b", 3)];
        let firsts = first_occurrences(&records);
        assert_eq!(firsts, vec![0, 0, 0, 3]);
        let outcomes = classify(&records, &firsts, |_| InsertOutcome::Inserted);
        use WriteOutcome::*;
        assert_eq!(outcomes, vec![Accepted, Duplicate, Conflict, Accepted]);
    }

    #[test]
    fn records_already_stored_are_compared_with_the_stored_content() {
        let records = [record("a", 1), record("a", 2)];
        let firsts = first_occurrences(&records);
        let outcomes = classify(&records, &firsts, |_| InsertOutcome::Existing(ContentHash([2; 16])));
        assert_eq!(outcomes, vec![WriteOutcome::Conflict, WriteOutcome::Duplicate]);
    }
}
