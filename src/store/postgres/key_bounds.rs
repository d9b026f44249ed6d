//! Which keys of a group can be stored where it looks: per (tenant, source), the lowest and
//! highest record id stored in those months (`usage_write_key_bounds()`, migration
//! 20261204120000: the bucket locks, then two descents of a primary key per pair). A key
//! outside its pair's bounds is not there; only the keys inside are probed (`prelude.rs`).
//!
//! Ids that grow over time (counters, ULIDs, UUIDv7, time-prefixed request ids) lie above the
//! month before's highest, so a group of them probes nothing there; random ids (UUIDv4) fall
//! inside and are probed as before. The filter runs here, not in SQL: PostgreSQL's executor
//! spends about as much per key filtered as per key probed (BENCHMARKS.md, Dec 3).

use std::collections::HashMap;

use foldhash::fast::RandomState;
use sqlx::postgres::PgRow;
use sqlx::{FromRow, Postgres, Transaction};

use super::probe::Span;
use super::tenant_locks::bind_bucket_locks;
use crate::domain::NewUsageRecord;
use crate::store::partitions::{month_start, next_month};
use crate::store::DbError;

const KEY_BOUNDS_SQL: &str = "select * from usage_write_key_bounds($1, $2, $3, $4, $5, $6, $7, $8, $9)";

/// The distinct (tenant, source) pairs of a group, in order of appearance, and each record's.
struct Pairs<'a> {
    distinct: Vec<(&'a str, &'a str)>,
    of_record: Vec<usize>,
}

impl<'a> Pairs<'a> {
    fn of(records: &[&'a NewUsageRecord]) -> Self {
        let mut index: HashMap<(&str, &str), usize, RandomState> = HashMap::default();
        let mut distinct = Vec::new();
        let of_record = records
            .iter()
            .map(|r| {
                let pair = (r.key.tenant_id.as_str(), r.key.source.as_str());
                *index.entry(pair).or_insert_with(|| {
                    distinct.push(pair);
                    distinct.len() - 1
                })
            })
            .collect();
        Self { distinct, of_record }
    }
}

/// The bounds of the ids stored for each record's (tenant, source).
#[derive(Debug)]
pub(super) struct KeyBounds {
    /// Per distinct pair: the lowest and highest id stored, `None` when nothing is.
    per_pair: Vec<Option<(String, String)>>,
    /// Each record's pair.
    of_record: Vec<usize>,
}

impl KeyBounds {
    /// From the arrays `usage_write_key_bounds()` returns, one element per pair in the order
    /// the pairs were bound.
    fn new(pairs: Pairs<'_>, lowest: Vec<Option<String>>, highest: Vec<Option<String>>) -> Result<Self, DbError> {
        if lowest.len() != pairs.distinct.len() || highest.len() != pairs.distinct.len() {
            return Err(DbError::Corrupt("the key bounds came back for other pairs than asked".into()));
        }
        let per_pair = lowest.into_iter().zip(highest).map(|(low, high)| low.zip(high)).collect();
        Ok(Self { per_pair, of_record: pairs.of_record })
    }

    /// The records (those the bounds were read for, in order) whose keys can be stored where
    /// the bounds were read: their ids lie between their pair's bounds, both included. Ids
    /// compare byte by byte, as the primary key's `collate "C"` does.
    pub fn inside<'r>(&self, records: &[&'r NewUsageRecord]) -> Vec<&'r NewUsageRecord> {
        records
            .iter()
            .zip(&self.of_record)
            .filter(|(r, &pair)| {
                self.per_pair[pair]
                    .as_ref()
                    .is_some_and(|(low, high)| (low.as_str()..=high.as_str()).contains(&r.key.record_id.as_str()))
            })
            .map(|(r, _)| *r)
            .collect()
    }
}

/// `span` widened to whole UTC months, the partitions' own bounds (an empty span stays
/// empty): the first entry of a primary key scanned in such a range passes its filter on `ts`.
pub(super) fn whole_months((from, to): Span) -> Span {
    let first = month_start(from);
    match to > from {
        true => (first, next_month(to - chrono::Duration::microseconds(1))),
        false => (first, first),
    }
}

/// Takes the bucket locks of `records`' tenants and reads the bounds of their ids stored in
/// `spans` (widened to whole months here). Must be the first statement of `tx`.
pub(super) async fn lock_and_read_bounds(
    tx: &mut Transaction<'_, Postgres>,
    records: &[&NewUsageRecord],
    spans: [Span; 2],
) -> Result<KeyBounds, DbError> {
    let [(a, b), (c, d)] = spans.map(whole_months);
    let pairs = Pairs::of(records);
    let row: PgRow = bind_bucket_locks(sqlx::query(KEY_BOUNDS_SQL), records)
        .bind(pairs.distinct.iter().map(|p| p.0).collect::<Vec<_>>())
        .bind(pairs.distinct.iter().map(|p| p.1).collect::<Vec<_>>())
        .bind(a)
        .bind(b)
        .bind(c)
        .bind(d)
        .fetch_one(&mut **tx)
        .await?;
    let (lowest, highest) = <(Vec<Option<String>>, Vec<Option<String>>)>::from_row(&row)?;
    KeyBounds::new(pairs, lowest, highest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::at;
    use crate::domain::{ContentHash, Quantities, RecordKey, TenantId};

    fn record(tenant: &str, source: &str, id: &str) -> NewUsageRecord {
        NewUsageRecord {
            key: RecordKey { tenant_id: TenantId::parse(tenant).unwrap(), source: source.into(), record_id: id.into() },
            timestamp: at("2026-12-02T09:00:00Z"),
            function: String::new(),
            region: String::new(),
            quantities: Quantities::default(),
            event_type: String::new(),
            content_hash: ContentHash([0; 16]),
        }
    }

    /// The ids of `records` inside `stored`: per pair, (tenant, source, lowest, highest).
    fn ids_inside(records: &[NewUsageRecord], stored: &[(&str, &str, &str, &str)]) -> Vec<String> {
        let refs: Vec<&NewUsageRecord> = records.iter().collect();
        let pairs = Pairs::of(&refs);
        let (lowest, highest) = pairs
            .distinct
            .iter()
            .map(|pair| {
                let found = stored.iter().find(|s| (s.0, s.1) == *pair);
                (found.map(|s| s.2.to_owned()), found.map(|s| s.3.to_owned()))
            })
            .unzip();
        let bounds = KeyBounds::new(pairs, lowest, highest).unwrap();
        bounds.inside(&refs).iter().map(|r| r.key.record_id.clone()).collect()
    }

    #[test]
    fn a_key_may_be_stored_only_between_its_pairs_bounds_both_included() {
        let stored = [("acme", "", "k-10", "k-30"), ("beta", "eu", "z-1", "z-1")];
        let cases = [
            (record("acme", "", "k-05"), false, "below the lowest"),
            (record("acme", "", "k-10"), true, "on the lowest"),
            (record("acme", "", "k-15"), true, "between"),
            (record("acme", "", "k-30"), true, "on the highest"),
            (record("acme", "", "k-35"), false, "above the highest"),
            (record("beta", "eu", "z-1"), true, "the one id stored"),
            (record("beta", "", "z-1"), false, "another source: nothing stored for that pair"),
            (record("gamma", "", "k-15"), false, "a tenant with nothing stored"),
        ];
        for (record, expected, why) in cases {
            let id = record.key.record_id.clone();
            let inside = ids_inside(&[record], &stored);
            assert_eq!(inside == [id], expected, "{why}");
        }
    }

    #[test]
    fn ids_compare_byte_by_byte_as_the_primary_key_does() {
        let stored = [("acme", "", "a", "b")];
        let records = [record("acme", "", "aZ"), record("acme", "", "B"), record("acme", "", "é")];
        assert_eq!(ids_inside(&records, &stored), ["aZ"], "B sorts before a, é (multi-byte) after b");
    }

    #[test]
    fn each_record_is_judged_by_its_own_pairs_bounds_in_a_mixed_group() {
        let stored = [("c", "", "5", "7"), ("a", "x", "1", "3"), ("a", "", "8", "9")];
        let records = [
            record("a", "", "2"),
            record("c", "", "6"),
            record("a", "x", "2"),
            record("a", "", "9"),
            record("c", "", "2"),
            record("a", "x", "6"),
        ];
        assert_eq!(ids_inside(&records, &stored), ["6", "2", "9"], "in the group's order");
    }

    #[test]
    fn bounds_for_other_pairs_than_asked_are_an_error_not_a_guess() {
        let records = [record("a", "", "1"), record("b", "", "1")];
        let refs: Vec<&NewUsageRecord> = records.iter().collect();
        let one = vec![Some("1".to_owned())];
        assert!(KeyBounds::new(Pairs::of(&refs), one.clone(), one).is_err());
    }

    #[test]
    fn spans_widen_to_the_whole_months_they_touch() {
        let cases = [
            (
                ("2026-10-29T09:00:00Z", "2026-12-01T00:00:00Z"),
                ("2026-10-01T00:00:00Z", "2026-12-01T00:00:00Z"),
                "ends on a month's start",
            ),
            (
                ("2026-11-30T23:00:00Z", "2026-12-04T11:05:00Z"),
                ("2026-11-01T00:00:00Z", "2027-01-01T00:00:00Z"),
                "ends inside a month",
            ),
            (
                ("2027-01-01T00:00:00Z", "2026-12-04T11:05:00Z"),
                ("2027-01-01T00:00:00Z", "2027-01-01T00:00:00Z"),
                "empty stays empty",
            ),
        ];
        for ((from, to), (first, last), why) in cases {
            assert_eq!(whole_months((at(from), at(to))), (at(first), at(last)), "{why}");
        }
    }
}
