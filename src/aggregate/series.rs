//! Usage series: rollups folded into tenant-local hours, days or months (DESIGN §4, the
//! `GET /v1/tenants/{tenant}/usage` query).
//!
//! Stage: aggregate. Inputs are one tenant's [`Rollup`]s, its time zone and a half-open range;
//! the output is a list of [`SeriesBucket`]s in time order. Pure: no SQL, no HTTP, no clock.
//! The store loads the rollups; the handler checks the range with [`validate_range`] first.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::calendar::units_in_range;
use super::{bucket_start, Granularity, Rollup, RollupKey, RollupTotals};
use crate::domain::{enum_with_stored_names, QuantityError};

enum_with_stored_names! {
    /// The dimension a usage series is split by (`group_by=function|region`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum GroupBy {
        Function => "function",
        Region => "region",
    }
}

impl GroupBy {
    /// The rollup's value of this dimension, `""` when the records had none.
    pub(crate) fn value_of(self, key: &RollupKey) -> &str {
        match self {
            GroupBy::Function => &key.function,
            GroupBy::Region => &key.region,
        }
    }
}

/// One point of a usage series: the totals of one local calendar unit (clipped to the
/// requested range), and of one group value when the series is grouped.
///
/// `function` is `Some` exactly when grouping by function, `region` exactly when grouping by
/// region. The value is the stored dimension, so `Some("")` is the group of records sent
/// without a function (or region) — a real group, distinct from "not grouped" (`None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesBucket {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub function: Option<String>,
    pub region: Option<String>,
    pub totals: RollupTotals,
}

/// Why a usage range was refused. Messages are shown to API callers.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RangeError {
    #[error("from must be before to")]
    FromNotBeforeTo,
    #[error("{0} must fall on a 15-minute boundary")]
    NotOnBucketBoundary(&'static str),
    #[error("the range spans more than {0} buckets")]
    TooManyBuckets(usize),
}

/// Checks a usage range before [`usage_series`] is asked to fill it.
///
/// `max_buckets` caps the number of time units (hours, days or months in `tz`, counting
/// clipped units at either end); grouping can multiply the output by the number of groups.
///
/// # Errors
/// - [`RangeError::FromNotBeforeTo`] when `from >= to`;
/// - [`RangeError::NotOnBucketBoundary`] when `from` or `to` is not a multiple of 15 minutes
///   since the epoch, since a rollup bucket cannot be split;
/// - [`RangeError::TooManyBuckets`] when the range holds more than `max_buckets` units.
pub fn validate_range(
    tz: Tz,
    granularity: Granularity,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    max_buckets: usize,
) -> Result<(), RangeError> {
    if from >= to {
        return Err(RangeError::FromNotBeforeTo);
    }
    for (name, bound) in [("from", from), ("to", to)] {
        if bucket_start(bound) != bound {
            return Err(RangeError::NotOnBucketBoundary(name));
        }
    }
    // Stop counting one past the cap, so a century of hours costs no more than the cap.
    if units_in_range(tz, granularity, from, to).take(max_buckets.saturating_add(1)).count() > max_buckets {
        return Err(RangeError::TooManyBuckets(max_buckets));
    }
    Ok(())
}

/// Folds one tenant's rollups into local calendar units of `granularity` over `[from, to)`.
///
/// Buckets are the units of `tz` intersected with the range: the first starts at `from`, the
/// last ends at `to`. They come in time order and, within one unit, sorted by group value
/// (`""` first). A rollup counts in the unit holding its `bucket_start`; rollups outside
/// the range are ignored, and their tenant is not checked. Without `group_by` every unit is
/// emitted, zeros included, so charts have no gaps; with it only groups that have rollups in
/// that unit are. Empty when `from >= to`. Call [`validate_range`] first to bound the output.
///
/// # Errors
/// [`QuantityError::Overflow`] when a sum leaves `Decimal`'s range.
pub fn usage_series(
    tz: Tz,
    granularity: Granularity,
    group_by: Option<GroupBy>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    rollups: &[Rollup],
) -> Result<Vec<SeriesBucket>, QuantityError> {
    let units: Vec<(DateTime<Utc>, DateTime<Utc>)> = units_in_range(tz, granularity, from, to).collect();
    let mut sums: Vec<BTreeMap<&str, RollupTotals>> = vec![BTreeMap::new(); units.len()];
    for rollup in rollups {
        let Some(unit) = unit_holding(&units, rollup.key.bucket_start) else {
            continue;
        };
        let group = group_by.map_or("", |dimension| dimension.value_of(&rollup.key));
        let entry = sums[unit].entry(group).or_default();
        *entry = entry.checked_add(&rollup.totals)?;
    }
    Ok(units.into_iter().zip(sums).flat_map(|(unit, groups)| buckets_of(unit, group_by, groups)).collect())
}

/// The index of the unit whose `[start, end)` holds `at`, if any.
fn unit_holding(units: &[(DateTime<Utc>, DateTime<Utc>)], at: DateTime<Utc>) -> Option<usize> {
    let after = units.partition_point(|(start, _)| *start <= at);
    let index = after.checked_sub(1)?;
    (at < units[index].1).then_some(index)
}

/// The output buckets of one unit: exactly one when ungrouped, one per group otherwise.
fn buckets_of(
    (start, end): (DateTime<Utc>, DateTime<Utc>),
    group_by: Option<GroupBy>,
    mut groups: BTreeMap<&str, RollupTotals>,
) -> Vec<SeriesBucket> {
    let bucket = |function: Option<&str>, region: Option<&str>, totals| SeriesBucket {
        start,
        end,
        function: function.map(str::to_owned),
        region: region.map(str::to_owned),
        totals,
    };
    match group_by {
        None => vec![bucket(None, None, groups.remove("").unwrap_or_default())],
        Some(GroupBy::Function) => {
            groups.into_iter().map(|(value, totals)| bucket(Some(value), None, totals)).collect()
        }
        Some(GroupBy::Region) => groups.into_iter().map(|(value, totals)| bucket(None, Some(value), totals)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::at;
    use crate::domain::{Meter, Quantities, TenantId};
    use chrono::SecondsFormat::Secs;
    use rust_decimal::Decimal;
    use std::str::FromStr;

    /// The series of `rollups` over `[from, to)` in UTC.
    /// The series of `rollups` over the half-open UTC range `[from, to)`.
    fn utc_series(
        granularity: Granularity,
        group_by: Option<GroupBy>,
        (from, to): (&str, &str),
        rollups: &[Rollup],
    ) -> Result<Vec<SeriesBucket>, QuantityError> {
        usage_series(Tz::UTC, granularity, group_by, at(from), at(to), rollups)
    }

    fn rollup(bucket: &str, function: &str, region: &str, gb_seconds: &str) -> Rollup {
        let quantities = Quantities {
            memory_gb_seconds: Decimal::from_str(gb_seconds).unwrap(),
            invocations: Decimal::ONE,
            ..Default::default()
        };
        Rollup {
            key: RollupKey {
                tenant_id: TenantId::parse("acme").unwrap(),
                bucket_start: at(bucket),
                function: function.into(),
                region: region.into(),
            },
            totals: RollupTotals { quantities, records: 1 },
        }
    }

    /// One line per bucket, `start → end [group]: GB-seconds GB-s in records`, for compact
    /// assertions.
    fn summary(buckets: &[SeriesBucket]) -> Vec<String> {
        buckets
            .iter()
            .map(|b| {
                let group = b.function.as_ref().or(b.region.as_ref()).map(|g| format!(" {g:?}")).unwrap_or_default();
                let gb = b.totals.quantities.get(Meter::MemoryGbSeconds);
                let (start, end) = (b.start.to_rfc3339_opts(Secs, true), b.end.to_rfc3339_opts(Secs, true));
                format!("{start} → {end}{group}: {gb} GB-s in {}", b.totals.records)
            })
            .collect()
    }

    #[test]
    fn folding_quarter_hour_rollups_into_kolkata_days_matches_a_hand_computation() {
        // Arrange: Kolkata days begin at 18:30 UTC.
        let tz = chrono_tz::Asia::Kolkata;
        let rollups = [
            rollup("2024-05-09T18:15:00Z", "f", "", "100"), // 23:45 IST on the 9th: outside
            rollup("2024-05-09T18:30:00Z", "f", "", "1.5"), // 00:00 IST on the 10th
            rollup("2024-05-10T06:00:00Z", "g", "", "2.25"),
            rollup("2024-05-10T18:15:00Z", "f", "", "0.25"), // 23:45 IST, last bucket of the 10th
            rollup("2024-05-10T18:30:00Z", "f", "", "4"),    // 00:00 IST on the 11th
            rollup("2024-05-11T18:30:00Z", "f", "", "100"),  // the 12th: outside
        ];
        // Act
        let series =
            usage_series(tz, Granularity::Day, None, at("2024-05-09T18:30:00Z"), at("2024-05-11T18:30:00Z"), &rollups);
        // Assert: 1.5 + 2.25 + 0.25 = 4 on the 10th, 4 on the 11th.
        assert_eq!(
            summary(&series.unwrap()),
            [
                "2024-05-09T18:30:00Z → 2024-05-10T18:30:00Z: 4 GB-s in 3",
                "2024-05-10T18:30:00Z → 2024-05-11T18:30:00Z: 4 GB-s in 1"
            ]
        );
    }

    #[test]
    fn month_buckets_follow_local_midnight_across_a_dst_change() {
        // Arrange: Los Angeles springs forward on 10 March 2024, so March starts at 08:00Z
        // and April at 07:00Z.
        let tz = chrono_tz::America::Los_Angeles;
        let rollups = [
            rollup("2024-03-01T07:45:00Z", "f", "", "9"), // 23:45 PST on 29 Feb
            rollup("2024-03-01T08:00:00Z", "f", "", "1"),
            rollup("2024-04-01T06:45:00Z", "f", "", "2"), // 23:45 PDT on 31 March
            rollup("2024-04-01T07:00:00Z", "f", "", "3"),
        ];
        // Act
        let series = usage_series(
            tz,
            Granularity::Month,
            None,
            at("2024-03-01T08:00:00Z"),
            at("2024-05-01T07:00:00Z"),
            &rollups,
        );
        // Assert
        assert_eq!(
            summary(&series.unwrap()),
            [
                "2024-03-01T08:00:00Z → 2024-04-01T07:00:00Z: 3 GB-s in 2",
                "2024-04-01T07:00:00Z → 2024-05-01T07:00:00Z: 3 GB-s in 1"
            ]
        );
    }

    #[test]
    fn grouping_by_function_emits_only_groups_with_usage_sorted_within_each_bucket() {
        // Arrange
        let rollups = [
            rollup("2024-05-10T01:15:00Z", "resize", "", "1"),
            rollup("2024-05-10T01:30:00Z", "", "", "2"),
            rollup("2024-05-10T00:00:00Z", "thumbnail", "", "3"),
            rollup("2024-05-10T00:45:00Z", "resize", "", "4"),
            rollup("2024-05-10T01:45:00Z", "resize", "", "5"),
        ];
        let three_hours = ("2024-05-10T00:00:00Z", "2024-05-10T03:00:00Z");
        // Act
        let series = utc_series(Granularity::Hour, Some(GroupBy::Function), three_hours, &rollups).unwrap();
        // Assert: hour 02:00 has no usage and no bucket; "" (no function) sorts first.
        assert_eq!(
            summary(&series),
            [
                "2024-05-10T00:00:00Z → 2024-05-10T01:00:00Z \"resize\": 4 GB-s in 1",
                "2024-05-10T00:00:00Z → 2024-05-10T01:00:00Z \"thumbnail\": 3 GB-s in 1",
                "2024-05-10T01:00:00Z → 2024-05-10T02:00:00Z \"\": 2 GB-s in 1",
                "2024-05-10T01:00:00Z → 2024-05-10T02:00:00Z \"resize\": 6 GB-s in 2",
            ]
        );
        assert!(series.iter().all(|b| b.region.is_none()), "grouping by function leaves region unset");
    }

    #[test]
    fn grouping_by_region_sets_only_the_region() {
        let rollups =
            [rollup("2024-05-10T00:00:00Z", "f", "eu-west", "1"), rollup("2024-05-10T00:15:00Z", "g", "", "2")];
        let day = ("2024-05-10T00:00:00Z", "2024-05-11T00:00:00Z");
        let series = utc_series(Granularity::Day, Some(GroupBy::Region), day, &rollups).unwrap();
        let groups: Vec<_> = series.iter().map(|b| (b.function.as_deref(), b.region.as_deref())).collect();
        assert_eq!(groups, [(None, Some("")), (None, Some("eu-west"))]);
    }

    #[test]
    fn ungrouped_series_emit_every_unit_in_range_with_zeros_for_empty_ones() {
        // Arrange: a range that starts and ends mid-day, with no usage at all.
        let from = at("2024-05-10T06:00:00Z");
        let to = at("2024-05-12T06:00:00Z");
        // Act
        let series = usage_series(Tz::UTC, Granularity::Day, None, from, to, &[]).unwrap();
        // Assert: the first bucket starts at `from`, the last ends at `to`.
        let bounds: Vec<_> = series.iter().map(|b| (b.start, b.end)).collect();
        assert_eq!(
            bounds,
            [
                (from, at("2024-05-11T00:00:00Z")),
                (at("2024-05-11T00:00:00Z"), at("2024-05-12T00:00:00Z")),
                (at("2024-05-12T00:00:00Z"), to)
            ]
        );
        assert!(series.iter().all(|b| b.totals == RollupTotals::default() && b.function.is_none()));
    }

    #[test]
    fn an_empty_or_inverted_range_has_no_buckets() {
        let t = at("2024-05-10T00:00:00Z");
        let rollups = [rollup("2024-05-10T00:00:00Z", "f", "", "1")];
        assert_eq!(usage_series(Tz::UTC, Granularity::Hour, None, t, t, &rollups), Ok(vec![]));
        assert_eq!(
            usage_series(Tz::UTC, Granularity::Hour, None, t + chrono::TimeDelta::hours(1), t, &rollups),
            Ok(vec![])
        );
    }

    #[test]
    fn an_overflowing_sum_is_an_error() {
        let mut huge = rollup("2024-05-10T00:00:00Z", "f", "", "1");
        huge.totals.quantities.cpu_cycles = Decimal::MAX;
        let result =
            utc_series(Granularity::Day, None, ("2024-05-10T00:00:00Z", "2024-05-11T00:00:00Z"), &[huge.clone(), huge]);
        assert_eq!(result, Err(QuantityError::Overflow(Meter::CpuCycles)));
    }

    #[test]
    fn validate_range_accepts_aligned_ranges_up_to_the_cap() {
        let tz = chrono_tz::Asia::Kolkata;
        // 18:30Z to 18:30Z three days later is exactly three Kolkata days.
        let (from, to) = (at("2024-05-09T18:30:00Z"), at("2024-05-12T18:30:00Z"));
        assert_eq!(validate_range(tz, Granularity::Day, from, to, 3), Ok(()));
        assert_eq!(validate_range(tz, Granularity::Day, from, to, 2), Err(RangeError::TooManyBuckets(2)));
        // Shifted by 15 minutes, the range clips four local days.
        let shifted = (at("2024-05-09T18:45:00Z"), at("2024-05-12T18:45:00Z"));
        assert_eq!(validate_range(tz, Granularity::Day, shifted.0, shifted.1, 3), Err(RangeError::TooManyBuckets(3)));
    }

    #[test]
    fn validate_range_refuses_empty_inverted_and_unaligned_ranges() {
        let cases = [
            ("2024-05-10T00:00:00Z", "2024-05-10T00:00:00Z", RangeError::FromNotBeforeTo, "empty"),
            ("2024-05-11T00:00:00Z", "2024-05-10T00:00:00Z", RangeError::FromNotBeforeTo, "inverted"),
            ("2024-05-10T00:10:00Z", "2024-05-11T00:00:00Z", RangeError::NotOnBucketBoundary("from"), "from at :10"),
            (
                "2024-05-10T00:00:00Z",
                "2024-05-10T00:15:00.5Z",
                RangeError::NotOnBucketBoundary("to"),
                "to off by 0.5 s",
            ),
        ];
        for (from, to, expected, description) in cases {
            let result = validate_range(Tz::UTC, Granularity::Hour, at(from), at(to), 100);
            assert_eq!(result, Err(expected), "{description}");
        }
        assert_eq!(RangeError::NotOnBucketBoundary("to").to_string(), "to must fall on a 15-minute boundary");
    }

    #[test]
    fn group_by_parses_its_lowercase_wire_names_only() {
        assert_eq!(GroupBy::parse("function"), Some(GroupBy::Function));
        assert_eq!(GroupBy::parse("region"), Some(GroupBy::Region));
        assert_eq!(GroupBy::parse("tenant"), None);
        assert_eq!(serde_json::to_string(&GroupBy::Region).unwrap(), r#""region""#);
        assert_eq!(serde_json::from_str::<GroupBy>(r#""function""#).unwrap(), GroupBy::Function);
    }
}
