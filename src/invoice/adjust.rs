//! Late usage and corrections (pure, DESIGN §7): a closed period is re-rated with its own plan
//! versions, and each line bills `round(new amount) − Σ already billed` on the next invoice.
//! A tenant topped up to its minimum sees usage up and top-up down: no double charge.

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;

use super::draft::DraftSegment;
use super::lines::{frame, segment_lines};
use crate::domain::BillingPeriod;
use crate::domain::{Currency, LineKey, LineSnapshot, LineType, Money};

/// An adjustment for one line of an earlier period; `key` is that period's line key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adjustment {
    pub period: BillingPeriod,
    pub key: LineKey,
    pub line: LineSnapshot,
}

/// Differences between a closed period's re-rated segments and what was billed for them. Each
/// adjustment names what it adjusts as the original line did — its plan, the stretch it
/// bills, and its words after "Adjustment: " — also for a line the re-rating no longer
/// produces (a top-up that late usage made unnecessary).
pub fn adjustments(
    period: BillingPeriod,
    rerated: &[DraftSegment],
    billed: &BTreeMap<LineKey, Decimal>,
) -> Vec<Adjustment> {
    let lines = segment_lines(rerated);
    let mut out = Vec::new();
    // In the re-rated lines' own order (usage, base fee, top-up), then lines no longer produced.
    for line in &lines {
        let difference = line.line.amount - billed.get(&line.key).copied().unwrap_or(Decimal::ZERO);
        if !difference.is_zero() {
            out.push(Adjustment { period, key: line.key, line: adjusted(&line.line, difference) });
        }
    }
    let produced: BTreeSet<&LineKey> = lines.iter().map(|l| &l.key).collect();
    for (key, amount) in billed.iter().filter(|(k, a)| !produced.contains(k) && !a.is_zero()) {
        out.push(Adjustment { period, key: *key, line: adjusted(&original(period, rerated, key), -*amount) });
    }
    out
}

/// What the re-rating made of the line an adjustment adjusts, rounded as that line was billed:
/// its tiers' sum, prorated. The adjustment keeps the re-rated line's quantity and tiers and
/// bills only the difference, so this less the adjustment's amount is what was billed before.
/// `None` for a line without tiers (a fee or a top-up, whose re-rated amount is not kept).
pub fn rerated_amount(adjustment: &LineSnapshot, currency: Currency) -> Option<Money> {
    if adjustment.line_type != LineType::Adjustment || adjustment.tiers.is_empty() {
        return None;
    }
    let exact: Decimal = adjustment.tiers.iter().map(|t| t.amount).sum();
    let exact = exact.checked_mul(adjustment.proration.unwrap_or(Decimal::ONE))?;
    Some(Money::new(exact, currency).round_to_minor_units())
}

fn adjusted(original: &LineSnapshot, difference: Decimal) -> LineSnapshot {
    let mut line = original.clone();
    line.description = format!("Adjustment: {}", original.description);
    line.line_type = LineType::Adjustment;
    line.amount = difference;
    line.amount_precise = difference;
    line.amount_precise_rounded = false;
    line
}

/// The line billed under `key` that the re-rating no longer produces, as its segment shows
/// it. A closed period's segments never change (subscriptions backdate within the open period
/// only), so the segment is there; were it not, the line is named by its type over the period.
fn original(period: BillingPeriod, rerated: &[DraftSegment], key: &LineKey) -> LineSnapshot {
    let framed = rerated.iter().map(|s| frame(s, key.line_type, key.meter)).find(|framed| framed.key == *key);
    framed.map(|f| f.line).unwrap_or_else(|| LineSnapshot {
        meter: key.meter,
        ..LineSnapshot::blank(key.line_type, key.line_type.as_str().replace('_', " "), period.start(), period.end())
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono_tz::Tz;

    use super::*;
    use crate::domain::testing::at;
    use crate::domain::Quantities;
    use crate::invoice::draft::{draft_invoice, SegmentInput};
    use crate::invoice::period::Segment;
    use crate::invoice::period_containing;
    use crate::rate::{load_file, PlanVersion};
    use std::path::Path;

    /// November re-rated with `invocations` on the shipped "committed" plan (base 500, minimum
    /// 2000, 10M included, then 0.18/M), taken at 03:06:59 on the 10th by a tenant created
    /// then (usage from the period start, fees from the true instant).
    fn rerated(invocations: i64) -> (BillingPeriod, Vec<DraftSegment>) {
        let period = period_containing(Tz::UTC, at("2026-11-10T00:00:00Z"));
        let plan = PlanVersion {
            plan: Arc::new(load_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("pricing/committed.toml")).unwrap()),
            version: 4,
            created_at: at("2026-01-01T00:00:00Z"),
        };
        let segment = Segment {
            fees_from: at("2026-11-10T03:06:59Z"),
            ..Segment::new(period.start(), period.end(), "committed")
        };
        let input = SegmentInput {
            segment,
            plan: &plan,
            quantities: Quantities { invocations: Decimal::from(invocations), ..Quantities::default() },
        };
        (period, draft_invoice(&period, &[input], Decimal::ZERO).unwrap().unwrap().segments)
    }

    #[test]
    fn a_top_up_that_late_usage_removed_is_adjusted_under_its_own_name_plan_and_span() {
        // Arrange: billed with no usage — base fee and a top-up; late usage now covers the minimum.
        let (period, billed_segments) = rerated(0);
        let billed: BTreeMap<LineKey, Decimal> =
            segment_lines(&billed_segments).into_iter().map(|l| (l.key, l.line.amount)).collect();
        let top_up = segment_lines(&billed_segments)
            .into_iter()
            .find(|l| l.line.line_type == LineType::MinimumSpendTopUp)
            .expect("a top-up was billed");
        let (_, now) = rerated(20_000_000_000);
        // Act
        let adjustments = adjustments(period, &now, &billed);
        // Assert
        let removed = adjustments.iter().find(|a| a.key == top_up.key).expect("the top-up is taken back");
        let (line, original) = (&removed.line, &top_up.line);
        assert_eq!(line.description, format!("Adjustment: {}", original.description));
        assert_eq!(line.description, "Adjustment: Minimum spend top-up");
        assert_eq!((line.plan_id.as_str(), line.plan_version), ("committed", 4), "the plan it adjusts");
        assert_eq!((line.start, line.end), (at("2026-11-10T03:06:59Z"), period.end()), "the fees' own span");
        assert_eq!((line.start, line.end), (original.start, original.end));
        assert_eq!(line.proration, original.proration);
        assert_eq!(line.amount, -original.amount);
        assert_eq!(line.line_type, LineType::Adjustment);
    }

    #[test]
    fn a_changed_line_is_adjusted_by_the_difference_in_the_original_words() {
        let (period, before) = rerated(11_000_000);
        let billed: BTreeMap<LineKey, Decimal> =
            segment_lines(&before).into_iter().map(|l| (l.key, l.line.amount)).collect();
        let (_, after) = rerated(20_000_000);
        let adjusted = adjustments(period, &after, &billed);
        let usage = adjusted.iter().find(|a| a.key.line_type == LineType::Usage).expect("usage moved");
        assert_eq!(usage.line.description, "Adjustment: Invocations");
        assert_eq!((usage.line.start, usage.line.plan_id.as_str()), (period.start(), "committed"));
        assert_eq!(usage.line.amount, Decimal::new(162, 2), "10M net at 0.18/M − 1M net");
    }
}
