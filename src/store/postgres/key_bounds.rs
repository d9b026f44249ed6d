//! Which keys of a group can be stored where it looks, and where: per (tenant, source) and
//! month, the lowest and highest record id stored (`usage_write_key_bounds_by_region()`,
//! migration 20261204180000: the bucket locks, then two descents of a primary key per pair and
//! month). A key outside every month's bounds is not there and is not probed; a key inside is
//! probed only in the months whose bounds hold it ([`KEY_PROBE_SQL`]; `prelude.rs`).
//!
//! Ids that grow over time (counters, ULIDs, UUIDv7, time-prefixed request ids) lie above the
//! month before's highest, so a group of them probes nothing there, and a key seen again (a
//! client resending) is probed in its own month alone; random ids (UUIDv4) fall inside every
//! month's bounds and are probed as before. The filter runs here, not in SQL: PostgreSQL's
//! executor spends about as much per key filtered as per key probed (BENCHMARKS.md, Dec 3).

use std::collections::{BTreeSet, HashMap};

use foldhash::fast::RandomState;
use sqlx::postgres::PgRow;
use sqlx::{FromRow, Postgres, Transaction};

use super::prelude::{bind_lookup, known_hashes};
use super::probe::Span;
use super::tenant_locks::bind_bucket_locks;
use crate::domain::{ContentHash, NewUsageRecord};
use crate::store::codec::StoredKey;
use crate::store::partitions::{month_start, next_month};
use crate::store::DbError;

const KEY_BOUNDS_SQL: &str = "select * from usage_write_key_bounds_by_region($1, $2, $3, $4, $5, $6, $7)";

/// The stored hashes of the keys inside the bounds, each looked for only between the first and
/// the last region whose bounds hold it (`$8`, `$9`) and within the ranges looked in (`$4`–`$7`):
/// the keys and ranges bound as the prelude binds them (`bind_lookup`), the regions after them.
/// The partitions outside a key's regions are pruned as the nested loop reaches it (run-time
/// pruning: one primary key descended per key and month held, `EXPLAIN ANALYZE` shows the
/// loops). A statement, not a function: the locks were taken by the bounds' call, and this
/// statement's snapshot follows it. The row is the prelude's: the keys found and their hashes.
const KEY_PROBE_SQL: &str = r#"
select coalesce(array_agg(k.tenant_id), '{}'), coalesce(array_agg(k.source), '{}'),
    coalesce(array_agg(k.record_id), '{}'), coalesce(array_agg(r.content_hash), '{}')
from unnest($1::text[], $2::text[], $3::text[], $8::timestamptz[], $9::timestamptz[])
    as k (tenant_id, source, record_id, held_from, held_until)
cross join lateral (
    select u.content_hash from usage_record u
    where u.tenant_id = k.tenant_id and u.source = k.source and u.record_id = k.record_id
      and u.ts >= k.held_from and u.ts < k.held_until
      and ((u.ts >= $4 and u.ts < $5) or (u.ts >= $6 and u.ts < $7))
    limit 1) as r"#;

/// Up to this many months looked in get bounds of their own; a longer window (a lateness of
/// months) is bounded per range looked in, widened to whole months, as one region each.
const MONTHLY_UP_TO: usize = 4;

/// The distinct (tenant, source) pairs of a group, in order of appearance, and each record's.
pub(super) struct Pairs<'a> {
    pub distinct: Vec<(&'a str, &'a str)>,
    of_record: Vec<usize>,
}

impl<'a> Pairs<'a> {
    pub fn of(records: &[&'a NewUsageRecord]) -> Self {
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

/// A record whose id lies inside the bounds of at least one region.
#[derive(Debug, Clone, Copy)]
pub(super) struct Inside<'r> {
    pub record: &'r NewUsageRecord,
    /// From the start of the first region whose bounds hold the id to the end of the last.
    pub held: Span,
}

/// The bounds of the ids stored for each record's (tenant, source), per region.
#[derive(Debug)]
pub(super) struct KeyBounds {
    /// The ranges of `ts` the bounds were read for, oldest first.
    regions: Vec<Span>,
    /// Per distinct pair, then per region: the lowest and highest id stored, `None` when
    /// nothing is.
    stored: Vec<Option<(String, String)>>,
    /// Each record's pair.
    of_record: Vec<usize>,
}

impl KeyBounds {
    /// From the arrays `usage_write_key_bounds_by_region()` returns, one element per pair and
    /// region, pair-major, in the order both were bound.
    fn new(
        pairs: Pairs<'_>,
        regions: Vec<Span>,
        lowest: Vec<Option<String>>,
        highest: Vec<Option<String>>,
    ) -> Result<Self, DbError> {
        let expected = pairs.distinct.len() * regions.len();
        if lowest.len() != expected || highest.len() != expected {
            return Err(DbError::Corrupt("the key bounds came back for other pairs or months than asked".into()));
        }
        let stored = lowest.into_iter().zip(highest).map(|(low, high)| low.zip(high)).collect();
        Ok(Self { regions, stored, of_record: pairs.of_record })
    }

    /// The records (those the bounds were read for, in order) whose keys can be stored where
    /// the bounds were read, each with the regions to look in: those whose bounds hold its id,
    /// both ends included. Ids compare byte by byte, as the primary key's `collate "C"` does.
    pub fn inside<'r>(&self, records: &[&'r NewUsageRecord]) -> Vec<Inside<'r>> {
        records
            .iter()
            .zip(&self.of_record)
            .filter_map(|(record, &pair)| {
                let id = record.key.record_id.as_str();
                let of_pair = &self.stored[pair * self.regions.len()..(pair + 1) * self.regions.len()];
                let holds = |bounds: &Option<(String, String)>| {
                    bounds.as_ref().is_some_and(|(low, high)| (low.as_str()..=high.as_str()).contains(&id))
                };
                let first = of_pair.iter().position(holds)?;
                let last = of_pair.iter().rposition(holds)?;
                Some(Inside { record, held: (self.regions[first].0, self.regions[last].1) })
            })
            .collect()
    }
}

/// `span` widened to whole UTC months, the partitions' own bounds (an empty span stays
/// empty): the first entry of a primary key scanned in such a range passes its filter on `ts`.
fn whole_months((from, to): Span) -> Span {
    let first = month_start(from);
    match to > from {
        true => (first, next_month(to - chrono::Duration::microseconds(1))),
        false => (first, first),
    }
}

/// The ranges of `ts` the bounds are read for: each whole UTC month the spans touch, oldest
/// first, or when they touch more than [`MONTHLY_UP_TO`], each non-empty span widened to whole
/// months.
fn regions(spans: [Span; 2]) -> Vec<Span> {
    let widened = spans.map(whole_months);
    let mut months = BTreeSet::new();
    for (from, to) in widened {
        let mut month = from;
        while month < to {
            if months.len() == MONTHLY_UP_TO && !months.contains(&month) {
                return widened.into_iter().filter(|(from, to)| from < to).collect();
            }
            months.insert(month);
            month = next_month(month);
        }
    }
    months.into_iter().map(|month| (month, next_month(month))).collect()
}

/// Takes the bucket locks of `records`' tenants and reads the bounds of their ids stored in
/// `spans`, per region and per pair of `pairs` (those of `records`). Must be the first
/// statement of `tx`.
pub(super) async fn lock_and_read_bounds(
    tx: &mut Transaction<'_, Postgres>,
    records: &[&NewUsageRecord],
    pairs: Pairs<'_>,
    spans: [Span; 2],
) -> Result<KeyBounds, DbError> {
    let regions = regions(spans);
    let row: PgRow = bind_bucket_locks(sqlx::query(KEY_BOUNDS_SQL), records)
        .bind(pairs.distinct.iter().map(|p| p.0).collect::<Vec<_>>())
        .bind(pairs.distinct.iter().map(|p| p.1).collect::<Vec<_>>())
        .bind(regions.iter().map(|r| r.0).collect::<Vec<_>>())
        .bind(regions.iter().map(|r| r.1).collect::<Vec<_>>())
        .fetch_one(&mut **tx)
        .await?;
    let (lowest, highest) = <(Vec<Option<String>>, Vec<Option<String>>)>::from_row(&row)?;
    KeyBounds::new(pairs, regions, lowest, highest)
}

/// Looks the keys `inside` up where their bounds hold them, within `spans`: the stored hash of
/// each key found. Runs after [`lock_and_read_bounds`], in the same transaction.
pub(super) async fn probe_inside(
    tx: &mut Transaction<'_, Postgres>,
    inside: &[Inside<'_>],
    spans: [Span; 2],
) -> Result<HashMap<StoredKey, ContentHash>, DbError> {
    let records: Vec<&NewUsageRecord> = inside.iter().map(|i| i.record).collect();
    let row: PgRow = bind_lookup(sqlx::query(KEY_PROBE_SQL), &records, spans)
        .bind(inside.iter().map(|i| i.held.0).collect::<Vec<_>>())
        .bind(inside.iter().map(|i| i.held.1).collect::<Vec<_>>())
        .fetch_one(&mut **tx)
        .await?;
    known_hashes(&row)
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

    const NOVEMBER: (&str, &str) = ("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z");
    const DECEMBER: (&str, &str) = ("2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z");

    /// Each record of `records` inside `stored` (per pair and region: tenant, source, the
    /// region's index in `regions`, lowest, highest) with the range it is looked for in.
    fn held(
        records: &[NewUsageRecord],
        regions: &[(&str, &str)],
        stored: &[(&str, &str, usize, &str, &str)],
    ) -> Vec<(String, Span)> {
        let refs: Vec<&NewUsageRecord> = records.iter().collect();
        let pairs = Pairs::of(&refs);
        let (lowest, highest) = pairs
            .distinct
            .iter()
            .flat_map(|pair| (0..regions.len()).map(move |region| (*pair, region)))
            .map(|(pair, region)| {
                let found = stored.iter().find(|s| (s.0, s.1, s.2) == (pair.0, pair.1, region));
                (found.map(|s| s.3.to_owned()), found.map(|s| s.4.to_owned()))
            })
            .unzip();
        let regions = regions.iter().map(|(from, to)| (at(from), at(to))).collect();
        let bounds = KeyBounds::new(pairs, regions, lowest, highest).unwrap();
        bounds.inside(&refs).iter().map(|i| (i.record.key.record_id.clone(), i.held)).collect()
    }

    /// The ids of `records` inside `stored` (per pair: tenant, source, lowest, highest), one region.
    fn ids_inside(records: &[NewUsageRecord], stored: &[(&str, &str, &str, &str)]) -> Vec<String> {
        let stored: Vec<_> = stored.iter().map(|&(t, s, low, high)| (t, s, 0, low, high)).collect();
        held(records, &[DECEMBER], &stored).into_iter().map(|(id, _)| id).collect()
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
        let december = vec![(at(DECEMBER.0), at(DECEMBER.1))];
        assert!(KeyBounds::new(Pairs::of(&refs), december.clone(), one.clone(), one).is_err(), "one pair");
        let two = vec![Some("1".to_owned()); 2];
        assert!(KeyBounds::new(Pairs::of(&refs[..1]), december, two.clone(), two).is_err(), "two regions");
    }

    #[test]
    fn a_key_is_looked_for_only_in_the_months_whose_bounds_hold_it() {
        let (nov, dec) = ((at(NOVEMBER.0), at(NOVEMBER.1)), (at(DECEMBER.0), at(DECEMBER.1)));
        let stored = [("acme", "", 0, "h-1", "h-9"), ("acme", "", 1, "u-1", "u-5"), ("beta", "", 1, "a", "z")];
        let cases = [
            (record("acme", "", "u-3"), Some(dec), "a repeated key of this month: not last month's primary key"),
            (record("acme", "", "h-5"), Some(nov), "a key of last month's range: not this month's"),
            (record("acme", "", "u-9"), None, "above both months' highest"),
            (record("acme", "", "m"), None, "between the months' bounds, inside neither"),
            (record("beta", "", "q"), Some(dec), "a pair with nothing stored last month"),
        ];
        for (record, expected, why) in cases {
            let found = held(&[record], &[NOVEMBER, DECEMBER], &stored);
            assert_eq!(found.first().map(|(_, held)| *held), expected, "{why}");
        }
    }

    #[test]
    fn a_key_inside_both_months_bounds_is_looked_for_in_both() {
        let stored = [("acme", "", 0, "a", "m"), ("acme", "", 1, "k", "z")];
        let found = held(&[record("acme", "", "l")], &[NOVEMBER, DECEMBER], &stored);
        assert_eq!(found, [("l".to_owned(), (at(NOVEMBER.0), at(DECEMBER.1)))]);
    }

    #[test]
    fn bounds_are_read_per_month_for_a_window_of_a_few_months() {
        let window = (at("2026-10-29T09:00:00Z"), at("2027-01-01T00:00:00Z"));
        let empty = (window.1, window.1);
        let expected: Vec<Span> =
            ["2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"]
                .windows(2)
                .map(|w| (at(w[0]), at(w[1])))
                .collect();
        assert_eq!(regions([window, empty]), expected, "the whole window, as after a miss");
        let around = [(window.0, at("2026-12-01T00:00:00Z")), (at("2027-01-01T00:00:00Z"), at("2027-01-01T01:05:00Z"))];
        let months: Vec<_> = regions(around).iter().map(|r| r.0).collect();
        assert_eq!(
            months,
            [at("2026-10-01T00:00:00Z"), at("2026-11-01T00:00:00Z"), at("2027-01-01T00:00:00Z")],
            "around December"
        );
    }

    #[test]
    fn a_window_of_many_months_is_bounded_per_range_looked_in() {
        let long = [
            (at("2025-12-04T11:00:00Z"), at("2026-12-01T00:00:00Z")),
            (at("2027-01-01T00:00:00Z"), at("2027-01-01T01:00:00Z")),
        ];
        let expected = [
            (at("2025-12-01T00:00:00Z"), at("2026-12-01T00:00:00Z")),
            (at("2027-01-01T00:00:00Z"), at("2027-02-01T00:00:00Z")),
        ];
        assert_eq!(regions(long), expected);
        let unbounded = [
            (crate::store::EARLIEST, at("2026-12-01T00:00:00Z")),
            (at("2027-01-01T00:00:00Z"), at("2027-01-01T00:00:00Z")),
        ];
        assert_eq!(regions(unbounded).len(), 1, "an unlimited lateness: one region, no month-by-month walk");
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
