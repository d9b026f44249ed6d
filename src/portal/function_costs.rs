//! "Top functions by cost" (DESIGN §11): the period's usage charges split across the functions
//! that used them. Pure: a draft and rollups in, amounts out.
//!
//! The charges are not re-priced per function — pricing a function alone would hand each one
//! the whole free allowance and the cheapest tiers. Each charge line is the one the rating
//! code computed for the whole segment (the draft behind "amount so far"), and a function's
//! part of it is the line's rounded amount times its share of the line's meter usage in the
//! segment, in whole minor units by largest remainder: rounding each part on its own would
//! let the parts add up to a cent more or less than the line. So the functions' costs add up
//! to the rounded charge lines exactly; the base fee and a minimum-spend top-up belong to no
//! function and are reported apart.

use std::collections::BTreeMap;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

use crate::aggregate::Rollup;
use crate::invoice::InvoiceDraft;
use crate::rate::LineKind;

/// One function's part of the usage charges, in the draft's currency at its precision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FunctionCost {
    /// The function as stored; `""` for records sent without one.
    pub function: String,
    pub amount: Decimal,
}

/// The split of a draft's charges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CostSplit {
    /// Most expensive first (ties by name).
    pub functions: Vec<FunctionCost>,
    /// Base fees and minimum-spend top-ups (and a charge no usage row explains): charges of
    /// no function, rounded like the lines.
    pub unattributed: Decimal,
}

/// Splits each usage charge of `draft` across functions by their share of its meter in its
/// segment, reading the functions' usage from `rollups` (any rows of the period; each counts
/// in the segment holding its bucket). `None` when an amount leaves `Decimal`'s range.
pub(crate) fn split_by_function(draft: &InvoiceDraft, rollups: &[Rollup]) -> Option<CostSplit> {
    let minor_units = draft.currency.minor_units();
    let mut costs: BTreeMap<&str, Decimal> = BTreeMap::new();
    let mut unattributed = Decimal::ZERO;
    for segment in &draft.segments {
        let (start, end) = (segment.segment.start, segment.segment.end);
        let inside: Vec<&Rollup> =
            rollups.iter().filter(|r| r.key.bucket_start >= start && r.key.bucket_start < end).collect();
        for line in &segment.breakdown.lines {
            let amount = line.amount.amount;
            let LineKind::Charge(rated) = &line.kind else {
                unattributed = unattributed.checked_add(amount)?;
                continue;
            };
            let mut used: BTreeMap<&str, Decimal> = BTreeMap::new();
            for rollup in &inside {
                let function = used.entry(rollup.key.function.as_str()).or_default();
                *function = function.checked_add(rollup.totals.quantities.get(rated.meter))?;
            }
            let weights: Vec<Decimal> = used.values().copied().collect();
            let Some(parts) = share_out(amount, minor_units, &weights) else {
                if amount.is_zero() || weights.iter().all(Decimal::is_zero) {
                    unattributed = unattributed.checked_add(amount)?;
                    continue;
                }
                return None;
            };
            for (function, part) in used.keys().zip(parts).filter(|(_, part)| !part.is_zero()) {
                let cost = costs.entry(function).or_default();
                *cost = cost.checked_add(part)?;
            }
        }
    }
    let mut functions: Vec<FunctionCost> =
        costs.into_iter().map(|(function, amount)| FunctionCost { function: function.to_owned(), amount }).collect();
    functions.sort_by(|a, b| b.amount.cmp(&a.amount).then_with(|| a.function.cmp(&b.function)));
    Some(CostSplit { functions, unattributed })
}

/// `amount` (a whole number of minor units at `minor_units` decimals) shared in proportion to
/// `weights`, in whole minor units that add up to `amount` exactly (largest remainder): each
/// part is its exact share cut to the minor unit, then the units left over go one each to the
/// parts cut the most, ties to the earlier part. `None` when the weights add up to zero or an
/// amount leaves `Decimal`'s range.
pub(crate) fn share_out(amount: Decimal, minor_units: u32, weights: &[Decimal]) -> Option<Vec<Decimal>> {
    let total = weights.iter().try_fold(Decimal::ZERO, |sum, w| sum.checked_add(*w))?;
    if total.is_zero() {
        return None;
    }
    let unit = Decimal::new(if amount.is_sign_negative() { -1 } else { 1 }, minor_units);
    let exact: Vec<Decimal> = weights.iter().map(|w| share(amount, *w, total)).collect::<Option<_>>()?;
    let mut parts: Vec<Decimal> =
        exact.iter().map(|e| e.round_dp_with_strategy(minor_units, RoundingStrategy::ToZero)).collect();
    let cut = parts.iter().try_fold(Decimal::ZERO, |sum, p| sum.checked_add(*p))?;
    let left = amount.checked_sub(cut)?.checked_div(unit)?.to_usize()?;
    let mut by_remainder: Vec<usize> = (0..parts.len()).collect();
    by_remainder.sort_by(|&a, &b| (exact[b] - parts[b]).abs().cmp(&(exact[a] - parts[a]).abs()).then(a.cmp(&b)));
    for index in by_remainder.into_iter().cycle().take(left) {
        parts[index] = parts[index].checked_add(unit)?;
    }
    Some(parts)
}

/// `amount × used ÷ total`, multiplying first for precision, dividing first when the product
/// would not fit.
fn share(amount: Decimal, used: Decimal, total: Decimal) -> Option<Decimal> {
    match amount.checked_mul(used) {
        Some(product) => product.checked_div(total),
        None => amount.checked_div(total)?.checked_mul(used),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::{RollupKey, RollupTotals};
    use crate::domain::testing::at;
    use crate::domain::{BillingPeriod, Quantities, TenantId};
    use crate::invoice::{draft_invoice, Segment, SegmentInput};
    use crate::rate::{PlanVersion, PricingPlan};
    use std::sync::Arc;

    const PLAN: &str = r#"
        id = "p"
        name = "P"
        currency = "USD"
        base_fee = "10.00"
        [[charge]]
        meter = "invocations"
        model = "per_unit"
        included = 1000
        unit_price = "0.01"
    "#;

    fn rollup(bucket: &str, function: &str, invocations: i64) -> Rollup {
        let quantities = Quantities { invocations: Decimal::from(invocations), ..Quantities::default() };
        Rollup {
            key: RollupKey {
                tenant_id: TenantId::parse("acme").unwrap(),
                bucket_start: at(bucket),
                function: function.into(),
                region: "eu".into(),
            },
            totals: RollupTotals { quantities, records: 1 },
        }
    }

    fn draft(rollups: &[Rollup]) -> InvoiceDraft {
        let period = BillingPeriod::new(at("2026-11-01T00:00:00Z"), at("2026-12-01T00:00:00Z")).unwrap();
        let plan = PlanVersion {
            plan: Arc::new(PricingPlan::from_toml("p.toml", PLAN).unwrap()),
            version: 1,
            created_at: at("2026-01-01T00:00:00Z"),
        };
        let quantities =
            rollups.iter().fold(Quantities::default(), |sum, r| sum.checked_add(&r.totals.quantities).unwrap());
        let input = SegmentInput { segment: Segment::new(period.start(), period.end(), "p"), plan: &plan, quantities };
        draft_invoice(&period, &[input], Decimal::ZERO).unwrap().unwrap()
    }

    #[test]
    fn a_charge_is_shared_by_usage_so_the_allowance_is_shared_too() {
        // 4000 invocations, 1000 free: 3000 × 0.01 = 30.00, shared 3 : 1.
        let rollups = [
            rollup("2026-11-02T00:00:00Z", "api", 2000),
            rollup("2026-11-03T00:00:00Z", "api", 1000),
            rollup("2026-11-03T00:00:00Z", "cron", 1000),
        ];
        let split = split_by_function(&draft(&rollups), &rollups).unwrap();
        let shown: Vec<(&str, String)> =
            split.functions.iter().map(|f| (f.function.as_str(), f.amount.normalize().to_string())).collect();
        assert_eq!(shown, [("api", "22.5".to_owned()), ("cron", "7.5".to_owned())]);
        assert_eq!(split.unattributed, Decimal::new(1000, 2), "the base fee belongs to no function");
    }

    #[test]
    fn usage_within_the_allowance_costs_nothing_and_no_usage_splits_nothing() {
        let rollups = [rollup("2026-11-02T00:00:00Z", "api", 500)];
        let split = split_by_function(&draft(&rollups), &rollups).unwrap();
        assert!(split.functions.is_empty(), "{split:?}");
        assert!(split_by_function(&draft(&[]), &[]).unwrap().functions.is_empty());
    }

    #[test]
    fn shares_that_do_not_divide_evenly_still_add_up_to_the_charge() {
        let rollups = [
            rollup("2026-11-02T00:00:00Z", "a", 1334),
            rollup("2026-11-02T00:00:00Z", "b", 1333),
            rollup("2026-11-02T00:00:00Z", "c", 1333),
        ];
        let split = split_by_function(&draft(&rollups), &rollups).unwrap();
        let sum: Decimal = split.functions.iter().map(|f| f.amount).sum();
        assert_eq!(sum, Decimal::from(30), "{split:?}");
    }

    #[test]
    fn the_parts_are_whole_cents_adding_up_to_the_rounded_charge() {
        // 3003 invocations, 1000 free: 20.03, a third each is 6.676…: rounded alone, 3 × 6.68
        // would show 20.04.
        let rollups = [
            rollup("2026-11-02T00:00:00Z", "a", 1001),
            rollup("2026-11-02T00:00:00Z", "b", 1001),
            rollup("2026-11-02T00:00:00Z", "c", 1001),
        ];
        let split = split_by_function(&draft(&rollups), &rollups).unwrap();
        let shown: Vec<(&str, String)> =
            split.functions.iter().map(|f| (f.function.as_str(), f.amount.to_string())).collect();
        assert_eq!(shown, [("a", "6.68".to_owned()), ("b", "6.68".to_owned()), ("c", "6.67".to_owned())]);
    }

    #[test]
    fn sharing_out_gives_the_cents_left_to_the_largest_remainders() {
        let cents = |v: &[i64]| v.iter().map(|c| Decimal::new(*c, 2)).collect::<Vec<_>>();
        let weights = |v: &[i64]| v.iter().map(|w| Decimal::from(*w)).collect::<Vec<_>>();
        assert_eq!(share_out(Decimal::new(2, 2), 2, &weights(&[1, 1, 1])), Some(cents(&[1, 1, 0])));
        assert_eq!(
            share_out(Decimal::new(674, 2), 2, &weights(&[286, 253, 79, 56])).map(|p| p.iter().sum::<Decimal>()),
            Some(Decimal::new(674, 2))
        );
        assert_eq!(
            share_out(Decimal::new(100, 2), 2, &weights(&[1, 5])),
            Some(cents(&[17, 83])),
            "0.1666… and 0.8333…"
        );
        assert_eq!(share_out(Decimal::new(-10, 2), 2, &weights(&[1, 2])), Some(cents(&[-3, -7])));
        assert_eq!(
            share_out(Decimal::new(1870, 0), 0, &weights(&[1, 1, 1])),
            Some(vec![Decimal::from(624), Decimal::from(623), Decimal::from(623)])
        );
        assert_eq!(share_out(Decimal::ONE, 2, &weights(&[0, 0])), None, "no usage to share by");
    }
}
