//! Projection to period end (pure): the segment in progress is extrapolated linearly from
//! what it used so far, at the rate of its usage over the time that usage covers — at least a
//! day of it; finished segments stay as they are. The result is re-rated by the same draft function as the
//! invoice, so fixed fees keep their proration from the true instant the plan began.

use chrono::{DateTime, TimeDelta, Utc};
use rust_decimal::{Decimal, RoundingStrategy};

use super::draft::SegmentInput;
use crate::aggregate::{sum_rollups, Rollup, RollupTotals};
use crate::domain::{Meter, Quantities, QuantityError};

/// Scales the usage of the segment containing `as_of` by `length ÷ elapsed`, both counted
/// from where its usage began: the segment start when the period's `rollups` (rows, or sums
/// per unit of `period_units`) hold usage from before the plan began (a tenant's first
/// period bills what its runtime reported while it was being onboarded, DESIGN §6, so that
/// usage has been running since then), else when the plan began (a tenant created mid-period
/// has used what it used since its creation, not since the 1st). Measuring all of a
/// segment's usage over the seconds since creation alone would project six days of backfill
/// as if it had been used in the minute since.
///
/// Until [`SHORTEST_OBSERVATION`] has passed, the usage counts as that long's: a tenant that
/// used 86 invocations in the 20 s since it was created is heading for about 86 a day, not
/// for 86 every 20 s (11 million in a month), which is what its first alert email and
/// dashboard would say otherwise. (Lago's projection counts elapsed days from 1 likewise.)
///
/// # Errors
/// [`QuantityError::Overflow`] when a projected quantity leaves `Decimal`'s range.
pub fn project<'a>(
    inputs: &[SegmentInput<'a>],
    rollups: &[Rollup],
    as_of: DateTime<Utc>,
) -> Result<Vec<SegmentInput<'a>>, QuantityError> {
    inputs
        .iter()
        .map(|input| {
            let segment = &input.segment;
            let (before_from, before_to) = segment.usage_before_fees();
            let reported_before = sum_rollups(rollups, before_from, before_to)? != RollupTotals::default();
            let from = if reported_before { segment.start } else { segment.fees_from.max(segment.start) };
            let length = segment.end - from;
            let elapsed = as_of.min(segment.end) - from;
            let observed = elapsed.max(SHORTEST_OBSERVATION.min(length));
            let mut projected = input.clone();
            if elapsed > TimeDelta::zero() && observed < length {
                let (length, observed) = (length.num_seconds(), observed.num_seconds());
                projected.quantities = scale(&input.quantities, Decimal::from(length), Decimal::from(observed))?;
            }
            Ok(projected)
        })
        .collect()
}

/// The least time usage is taken to cover: serverless usage follows the day (business
/// hours, nightly batches), so a rate read off less than a day of it says little about the
/// month, and off a few seconds multiplies a burst by hundreds of thousands.
const SHORTEST_OBSERVATION: TimeDelta = TimeDelta::days(1);

fn scale(quantities: &Quantities, numerator: Decimal, denominator: Decimal) -> Result<Quantities, QuantityError> {
    let mut scaled = Quantities::default();
    for meter in Meter::ALL {
        let value = quantities.get(meter);
        // Multiply first for exactness; fall back to dividing first if that would overflow.
        let projected = value
            .checked_mul(numerator)
            .map(|v| v / denominator)
            .or_else(|| (value / denominator).checked_mul(numerator))
            .ok_or(QuantityError::Overflow(meter))?;
        // A projection is no finer than what it projects: whole invocations and cycles, not
        // 24.098159722222222222222222222 of them (and the amount is priced on that figure).
        let recorded = projected.round_dp_with_strategy(meter.decimals(), RoundingStrategy::MidpointAwayFromZero);
        scaled.set(meter, recorded.normalize());
    }
    Ok(scaled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::RollupKey;
    use crate::domain::testing::at;
    use crate::domain::TenantId;
    use crate::invoice::period::Segment;
    use crate::rate::{PlanVersion, PricingPlan};
    use std::str::FromStr;
    use std::sync::Arc;

    fn plan() -> PlanVersion {
        PlanVersion {
            plan: Arc::new(PricingPlan::from_toml("p.toml", "id = \"p\"\nname = \"P\"\ncurrency = \"USD\"\n").unwrap()),
            version: 1,
            created_at: at("2026-01-01T00:00:00Z"),
        }
    }

    fn row(bucket: &str, invocations: u64) -> Rollup {
        let quantities = Quantities { invocations: Decimal::from(invocations), ..Default::default() };
        Rollup {
            key: RollupKey {
                tenant_id: TenantId::parse("acme").unwrap(),
                bucket_start: at(bucket),
                function: "f".into(),
                region: "r".into(),
            },
            totals: RollupTotals { quantities, records: 1 },
        }
    }

    /// The projected invocations of one segment `[start, end)` whose plan began at `began`,
    /// with usage `rows`, as of `as_of`.
    fn projected(
        (start, end, began): (&str, &str, &str),
        rows: &[(&str, u64)],
        as_of: &str,
    ) -> Result<Decimal, QuantityError> {
        let plan = plan();
        let rollups: Vec<Rollup> = rows.iter().map(|(bucket, n)| row(bucket, *n)).collect();
        let segment = Segment { fees_from: at(began), ..Segment::new(at(start), at(end), "p") };
        let quantities = sum_rollups(&rollups, segment.start, segment.end)?.quantities;
        let input = SegmentInput { segment, plan: &plan, quantities };
        Ok(project(&[input], &rollups, at(as_of))?[0].quantities.invocations)
    }

    #[test]
    fn usage_is_extrapolated_at_its_rate_over_the_time_it_covers() {
        let november = ("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z", "2026-11-01T00:00:00Z");
        let created_16th = ("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z", "2026-11-16T00:00:00Z");
        let created_11th = ("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z", "2026-11-11T00:00:00Z");
        let created_2359 = ("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z", "2026-11-15T23:59:40Z");
        let created_0037 = ("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z", "2026-11-16T00:37:00Z");
        let created_1200 = ("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z", "2026-11-16T12:00:00Z");
        let changed_late = ("2026-11-30T12:00:00Z", "2026-12-01T00:00:00Z", "2026-11-30T12:00:00Z");
        let backfill: Vec<(String, u64)> =
            (1..=10).map(|day| (format!("2026-11-{day:02}T12:00:00Z"), 1_000_000)).collect();
        let mut backfill_then_more: Vec<(&str, u64)> = backfill.iter().map(|(b, n)| (b.as_str(), *n)).collect();
        backfill_then_more.push(("2026-11-13T12:00:00Z", 5_000_000));
        #[allow(clippy::type_complexity)]
        let cases: [((&str, &str, &str), Vec<(&str, u64)>, &str, &str, &str); 11] = [
            (
                november,
                vec![("2026-11-05T00:00:00Z", 100)],
                "2026-11-11T00:00:00Z",
                "300",
                "a third of the way through: triples",
            ),
            (
                created_16th,
                vec![("2026-11-17T00:00:00Z", 100)],
                "2026-11-20T00:00:00Z",
                "375",
                "created on the 16th with nothing before: 4 of its 15 days, from its creation",
            ),
            (
                created_11th,
                backfill_then_more,
                "2026-11-16T00:00:00Z",
                "30000000",
                "ten days of backfill before an onboarding on the 11th and 5M since: 15M in 15 days, from the 1st",
            ),
            (
                created_2359,
                vec![("2026-11-15T22:00:00Z", 1234)],
                "2026-11-16T00:00:00Z",
                "2468",
                "a record from before a creation 20 s ago: half the month since the 1st, not 20 s",
            ),
            (
                created_0037,
                vec![("2026-11-16T00:30:00Z", 100)],
                "2026-11-19T00:29:36Z",
                "500",
                "usage in the creation's 15-minute bucket counts as after it: 100 in a fifth of the time since",
            ),
            (
                created_1200,
                vec![("2026-11-16T12:00:00Z", 86)],
                "2026-11-16T12:00:20Z",
                "1247",
                "86 in the 20 s since creation count as a day's: 14.5 days left of the month, not 62 640 times 86",
            ),
            (
                created_1200,
                vec![("2026-11-16T12:00:00Z", 86)],
                "2026-11-17T12:00:00Z",
                "1247",
                "a day after creation, the day floor and the elapsed time agree",
            ),
            (
                changed_late,
                vec![("2026-11-30T12:00:00Z", 50)],
                "2026-11-30T18:00:00Z",
                "50",
                "a segment shorter than a day is not extrapolated: less than a day of usage says too little",
            ),
            (
                november,
                vec![("2026-11-05T00:00:00Z", 100)],
                "2026-11-08T00:00:00Z",
                "429",
                "seven days of thirty: 428.571… invocations project as 429, whole as invocations are recorded",
            ),
            (created_16th, vec![], "2026-11-20T00:00:00Z", "0", "no usage projects none"),
            (
                november,
                vec![("2026-11-05T00:00:00Z", 100)],
                "2026-12-03T00:00:00Z",
                "100",
                "a segment that has ended stays",
            ),
        ];
        for (segment, rows, as_of, expected, why) in cases {
            assert_eq!(projected(segment, &rows, as_of), Ok(Decimal::from_str(expected).unwrap()), "{why}");
        }
    }

    #[test]
    fn a_projection_leaving_decimals_range_is_a_named_error() {
        let plan = plan();
        let segment = Segment::new(at("2026-11-01T00:00:00Z"), at("2026-12-01T00:00:00Z"), "p");
        let quantities = Quantities { invocations: Decimal::MAX, ..Default::default() };
        let huge = SegmentInput { segment, plan: &plan, quantities };
        let one_second_in = project(&[huge], &[], at("2026-11-01T00:00:01Z"));
        assert_eq!(one_second_in.unwrap_err(), QuantityError::Overflow(Meter::Invocations), "not a panic");
    }
}
