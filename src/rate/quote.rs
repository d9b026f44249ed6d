//! Pricing a period's (or segment's) usage against a plan: charge lines, the base fee and the
//! minimum-spend top-up, each exact and rounded once, and their subtotal.
//!
//! The one pure function behind quotes, "amount so far", projections and invoice drafts, so
//! they always agree. Tax, credits and late adjustments are applied later by `invoice` on top
//! of this breakdown (new [`LineKind`] variants, same rounding rule). No SQL, HTTP or clock.

use rust_decimal::Decimal;

use super::{rate_charge, PricingPlan, Proration, RateError, RatedCharge};
use crate::domain::{Currency, Fraction, Money, Quantities};

/// What an invoice line is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineKind {
    /// One meter's usage, with its tier arithmetic.
    Charge(RatedCharge),
    /// The plan's flat fee × proration.
    BaseFee {
        /// The plan's full-period fee.
        base_fee: Decimal,
        /// The factor applied to it.
        proration: Decimal,
    },
    /// Brings the period up to `minimum_spend × proration`; `lines_total` is the sum of the
    /// rounded charge and base-fee lines it tops up.
    MinimumSpendTopUp {
        /// The plan's full-period minimum.
        minimum_spend: Decimal,
        /// The factor applied to it.
        proration: Decimal,
        /// Σ of the rounded lines before the top-up.
        lines_total: Decimal,
    },
}

/// One line of a breakdown: the exact amount and the amount billed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceLine {
    /// What the line is for, with its arithmetic.
    pub kind: LineKind,
    /// The exact amount (`amount_precise` in JSON) — or, when it has more digits than
    /// `Decimal` holds, that amount cut toward zero after the 28th, and
    /// `amount_precise_rounded` says so.
    pub amount_precise: Money,
    /// True when `amount_precise` is not every digit of the exact amount.
    pub amount_precise_rounded: bool,
    /// The exact amount rounded once, half away from zero, to the currency's minor unit
    /// (from every digit, so a cut `amount_precise` never moves the cent).
    pub amount: Money,
}

impl PriceLine {
    /// The line for an exact amount; `None` when it leaves `Decimal`'s range.
    fn new(kind: LineKind, exact: Fraction, currency: Currency) -> Option<PriceLine> {
        let amount = Money::new(exact.round_dp(currency.minor_units())?, currency);
        let (precise, is_exact) = exact.truncated()?;
        let amount_precise = Money::new(precise, currency);
        Some(PriceLine { kind, amount_precise, amount_precise_rounded: !is_exact, amount })
    }
}

/// A priced period: lines in order (charges in plan order, base fee, top-up) and their
/// subtotal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceBreakdown {
    /// The plan that priced the usage.
    pub plan_id: String,
    /// The plan's currency; every amount is in it.
    pub currency: Currency,
    /// Fraction of the billing period covered (1 for a full period), as shown.
    pub proration: Decimal,
    /// Charge lines in plan order, then the base fee, then the top-up.
    pub lines: Vec<PriceLine>,
    /// Σ of the rounded line amounts (so the lines always add up on paper).
    pub subtotal: Money,
}

/// Prices `quantities` with `plan` for a period, or a segment of one when `proration < 1`
/// (DESIGN §5, §6). Each line's amount is computed exactly, however many digits it has, and
/// rounded once.
///
/// - one charge line per plan charge (meters the plan does not price are not billed);
///   allowances and tier bounds are per period and not prorated;
/// - a base-fee line `base_fee × proration` when the plan has a base fee;
/// - a top-up line `minimum_spend × proration − Σ rounded lines so far` when that is
///   positive, so a topped-up subtotal is exactly the (rounded) prorated minimum;
/// - every line is exact, then rounded half away from zero; `subtotal = Σ rounded lines`.
///
/// Worked example (AWS Lambda style, plan `payg`): 3 000 000 invocations with 1 000 000 free
/// at 0.20 per million → 2 × 0.20 = 0.40; 540 000 GB-s with 400 000 free at 0.0000166667 →
/// 140 000 × 0.0000166667 = 2.333338 → 2.33; subtotal 2.73.
///
/// ```
/// use rust_decimal::Decimal;
/// use tally::domain::Quantities;
/// use tally::rate::{rate_usage, PricingPlan, Proration};
/// let plan = PricingPlan::from_toml("payg.toml", r#"
///     id = "payg"
///     name = "Pay as you go"
///     currency = "USD"
///     [[charge]]
///     meter = "invocations"
///     model = "per_unit"
///     price_per = 1000000
///     included = 1000000
///     unit_price = "0.20"
///     [[charge]]
///     meter = "memory_gb_seconds"
///     model = "graduated"
///     included = 400000
///     tiers = [ { up_to = "unlimited", unit_price = "0.0000166667" } ]
/// "#).unwrap();
/// let usage = Quantities {
///     invocations: Decimal::from(3_000_000),
///     memory_gb_seconds: Decimal::from(540_000),
///     ..Quantities::default()
/// };
/// let breakdown = rate_usage(&plan, &usage, Proration::FULL).unwrap();
/// assert_eq!(breakdown.lines[1].amount_precise.amount, Decimal::new(2_333_338, 6));
/// assert_eq!(breakdown.subtotal.format_amount(), "2.73");
/// ```
///
/// # Errors
/// [`RateError::Overflow`] naming the line whose amount left `Decimal`'s range.
pub fn rate_usage(
    plan: &PricingPlan,
    quantities: &Quantities,
    proration: Proration,
) -> Result<PriceBreakdown, RateError> {
    rate(plan, Some(quantities), proration)
}

/// The plan's fixed fees alone, prorated: for a stretch on a plan that holds no usage bucket
/// (a plan held for minutes inside one 15-minute bucket, whose usage went to the change
/// after it, DESIGN §6). Usage lines over an empty range would bill nothing and say
/// "0 invocations" beside the next stretch's lines for the same bucket.
///
/// # Errors
/// [`RateError::Overflow`] naming the line whose amount left `Decimal`'s range.
pub fn rate_fees(plan: &PricingPlan, proration: Proration) -> Result<PriceBreakdown, RateError> {
    rate(plan, None, proration)
}

fn rate(plan: &PricingPlan, usage: Option<&Quantities>, proration: Proration) -> Result<PriceBreakdown, RateError> {
    let currency = plan.currency();
    let mut lines = Vec::with_capacity(plan.charges().len() + 2);
    let (charges, quantities) = match usage {
        Some(quantities) => (plan.charges(), quantities),
        None => (&[][..], &Quantities::default()),
    };
    for charge in charges {
        let rated = rate_charge(charge, quantities.get(charge.meter()))?;
        let overflow = RateError::Overflow(charge.meter().as_str());
        let exact = rated.exact().ok_or(overflow)?;
        lines.push(PriceLine::new(LineKind::Charge(rated), exact, currency).ok_or(overflow)?);
    }
    if plan.base_fee() > Decimal::ZERO {
        let overflow = RateError::Overflow("base_fee");
        let exact = proration.prorate_less(plan.base_fee(), Decimal::ZERO).ok_or(overflow)?;
        let kind = LineKind::BaseFee { base_fee: plan.base_fee(), proration: proration.factor() };
        lines.push(PriceLine::new(kind, exact, currency).ok_or(overflow)?);
    }
    if let Some(top_up) = minimum_spend_top_up(plan, proration, &lines)? {
        lines.push(top_up);
    }
    let subtotal = sum_rounded(&lines).ok_or(RateError::Overflow("subtotal"))?;
    Ok(PriceBreakdown {
        plan_id: plan.id().to_owned(),
        currency,
        proration: proration.factor(),
        lines,
        subtotal: Money::new(subtotal, currency),
    })
}

/// The top-up line, measured against the rounded lines so that the subtotal lands exactly
/// on the rounded minimum; `None` when the lines already reach it.
fn minimum_spend_top_up(
    plan: &PricingPlan,
    proration: Proration,
    lines: &[PriceLine],
) -> Result<Option<PriceLine>, RateError> {
    if plan.minimum_spend().is_zero() {
        return Ok(None);
    }
    let overflow = RateError::Overflow("minimum_spend");
    let lines_total = sum_rounded(lines).ok_or(overflow)?;
    let shortfall = proration.prorate_less(plan.minimum_spend(), lines_total).ok_or(overflow)?;
    let kind =
        LineKind::MinimumSpendTopUp { minimum_spend: plan.minimum_spend(), proration: proration.factor(), lines_total };
    let line = PriceLine::new(kind, shortfall, plan.currency()).ok_or(overflow)?;
    Ok((line.amount.amount > Decimal::ZERO).then_some(line))
}

/// Σ of the rounded amounts; `None` on overflow.
fn sum_rounded(lines: &[PriceLine]) -> Option<Decimal> {
    lines.iter().try_fold(Decimal::ZERO, |sum, line| sum.checked_add(line.amount.amount))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Meter;
    use crate::rate::testing::d;
    use crate::rate::{load_file, Charge, ChargeModel, Proration};
    use proptest::prelude::*;
    use std::path::Path;

    fn shipped(id: &str) -> PricingPlan {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("pricing").join(format!("{id}.toml"));
        load_file(&path).unwrap_or_else(|e| panic!("{e:#?}"))
    }

    /// A USD plan with `base_fee`, `minimum_spend` and one per-unit charge (price per unit,
    /// nothing included) for each `(meter, unit price)`.
    fn per_unit_plan(base_fee: &str, minimum_spend: &str, prices: &[(Meter, &str)]) -> PricingPlan {
        let charge = |(meter, price): &(Meter, &str)| {
            Charge::new(*meter, ChargeModel::PerUnit { unit_price: d(price) }, Decimal::ONE, Decimal::ZERO)
        };
        let usd = Currency::parse("USD").expect("USD is a known currency");
        let charges = prices.iter().map(charge).collect();
        PricingPlan::assemble("t".into(), "T".into(), usd, d(base_fee), d(minimum_spend), charges)
    }

    /// Base fee 100.00, minimum spend 250.00, invocations at 0.001.
    fn committed() -> PricingPlan {
        per_unit_plan("100.00", "250.00", &[(Meter::Invocations, "0.001")])
    }

    fn usage(invocations: &str, memory_gb_seconds: &str, cpu_cycles: &str) -> Quantities {
        Quantities { invocations: d(invocations), memory_gb_seconds: d(memory_gb_seconds), cpu_cycles: d(cpu_cycles) }
    }

    fn line(breakdown: &PriceBreakdown, meter: Meter) -> &PriceLine {
        breakdown
            .lines
            .iter()
            .find(|line| matches!(&line.kind, LineKind::Charge(rated) if rated.meter == meter))
            .expect("the plan prices the meter")
    }

    #[test]
    fn the_aws_lambda_worked_example_is_reproduced_to_the_cent() {
        // Arrange: AWS Lambda's public x86 price list (us-east-1): requests $0.20 per 1M with
        // 1M free per month; compute $0.0000166667 per GB-s for the first 6B GB-s with
        // 400 000 GB-s free per month. Our `payg` plan ships those prices.
        //
        // By hand, for 3 000 000 requests and 540 000 GB-s:
        //   requests: 3 000 000 − 1 000 000 free = 2 000 000 × $0.20 / 1 000 000 = $0.40
        //   compute:  540 000 − 400 000 free = 140 000 GB-s × $0.0000166667 = $2.333338 → $2.33
        //   cpu:      0 cycles → $0.00
        //   total:    $0.40 + $2.33 = $2.73
        let plan = shipped("payg");
        // Act
        let breakdown = rate_usage(&plan, &usage("3000000", "540000", "0"), Proration::FULL).expect("in range");
        // Assert
        assert_eq!(line(&breakdown, Meter::Invocations).amount.format_amount(), "0.40");
        assert_eq!(line(&breakdown, Meter::MemoryGbSeconds).amount_precise.amount, d("2.333338"));
        assert_eq!(line(&breakdown, Meter::MemoryGbSeconds).amount.format_amount(), "2.33");
        assert_eq!(line(&breakdown, Meter::CpuCycles).amount.format_amount(), "0.00");
        assert_eq!(breakdown.subtotal.format_amount(), "2.73");
    }

    #[test]
    fn the_aws_pricing_page_example_matches_up_to_their_rounded_unit_price() {
        // AWS's page: 512 MB, 3M invocations of 1 s → 3 000 000 s × 0.5 GB = 1 500 000 GB-s.
        //   compute:  1 500 000 − 400 000 = 1 100 000 GB-s × $0.0000166667 = $18.33337 → $18.33
        //   requests: (3M − 1M) × $0.20 / 1M = $0.40;  total $18.73.
        // AWS prints $18.34 + $0.40 = $18.74 because the page multiplies by $0.00001667, a
        // rounded price (1 100 000 × 0.00001667 = 18.337); with its listed price it is $18.33.
        let breakdown =
            rate_usage(&shipped("payg"), &usage("3000000", "1500000", "0"), Proration::FULL).expect("in range");
        assert_eq!(line(&breakdown, Meter::MemoryGbSeconds).amount_precise.amount, d("18.33337"));
        assert_eq!(breakdown.subtotal.format_amount(), "18.73");
    }

    #[test]
    fn every_line_is_rounded_half_away_from_zero() {
        let plan = per_unit_plan("0", "0", &[(Meter::Invocations, "0.125"), (Meter::CpuCycles, "0.135")]);
        let breakdown = rate_usage(&plan, &usage("1", "0", "1"), Proration::FULL).expect("in range");
        assert_eq!(line(&breakdown, Meter::Invocations).amount.amount, d("0.13"), "0.125 → 0.13, not banker's 0.12");
        assert_eq!(line(&breakdown, Meter::CpuCycles).amount.amount, d("0.14"), "0.135 → 0.14");
        assert_eq!(breakdown.subtotal.amount, d("0.27"), "subtotal of rounded lines, not round(0.26)");
    }

    #[test]
    fn the_minimum_spend_tops_the_period_up() {
        let cases = [
            ("0", "1", "250.00", Some("150.00"), "no usage: base 100 + top-up 150"),
            ("100000", "1", "250.00", Some("50.00"), "usage 100 + base 100 + top-up 50"),
            ("150000", "1", "250.00", None, "usage 150 + base 100 reaches the minimum"),
            ("200000", "1", "300.00", None, "usage above the minimum is billed as is"),
            ("0", "0.5", "125.00", Some("75.00"), "half a period: base 50 + top-up 75"),
            ("1", "0.333333", "83.33", Some("50.00"), "a third: 83.33325 − (33.33 + 0.00) = 50.00325 → 50.00"),
            ("0", "0", "0.00", None, "an empty segment costs nothing"),
        ];
        for (invocations, proration, subtotal, top_up, why) in cases {
            let proration = Proration::of_factor(d(proration)).expect("valid");
            let breakdown = rate_usage(&committed(), &usage(invocations, "0", "0"), proration).expect("in range");
            let found = breakdown.lines.iter().find(|l| matches!(l.kind, LineKind::MinimumSpendTopUp { .. }));
            assert_eq!(found.map(|l| l.amount.format_amount()), top_up.map(str::to_owned), "top-up: {why}");
            assert_eq!(breakdown.subtotal.format_amount(), subtotal, "subtotal: {why}");
        }
    }

    #[test]
    fn fees_alone_bill_the_prorated_base_fee_and_top_up_and_no_usage_line() {
        let quarter = Proration::of_factor(d("0.25")).expect("valid");
        let fees = rate_fees(&committed(), quarter).expect("in range");
        let with_no_usage = rate_usage(&committed(), &usage("0", "0", "0"), quarter).expect("in range");
        let kinds: Vec<&LineKind> = fees.lines.iter().map(|l| &l.kind).collect();
        assert!(kinds.iter().all(|k| !matches!(k, LineKind::Charge(_))), "{kinds:?}");
        assert_eq!(fees.subtotal, with_no_usage.subtotal, "the same fees as a stretch that used nothing");
        assert_eq!(fees.lines.len(), 2, "base fee and top-up");
    }

    #[test]
    fn the_base_fee_is_prorated_and_shows_its_proration() {
        let quarter = Proration::of_factor(d("0.25")).expect("valid");
        let breakdown = rate_usage(&committed(), &usage("0", "0", "0"), quarter).expect("in range");
        let base =
            breakdown.lines.iter().find(|l| matches!(l.kind, LineKind::BaseFee { .. })).expect("a base fee line");
        assert_eq!(base.kind, LineKind::BaseFee { base_fee: d("100.00"), proration: d("0.25") });
        assert_eq!(base.amount.format_amount(), "25.00");
    }

    #[test]
    fn a_line_past_28_digits_is_rounded_once_from_every_digit() {
        // Issue 11. payg's memory charge for 760015049399880.000599997 GB-s is exactly
        // 10133619653.5349999…98: 100000.2 + 135000 + 760000048999880.000599997 × 0.0000133334
        // (33 digits). Rounding the product inside Decimal first gave …53.535 → .54.
        let memory = usage("0", "760015049399880.000599997", "0");
        let breakdown = rate_usage(&shipped("payg"), &memory, Proration::FULL).expect("in range");
        let memory = line(&breakdown, Meter::MemoryGbSeconds);
        assert_eq!(memory.amount.format_amount(), "10133619653.53");
        assert_eq!(memory.amount_precise.amount.to_string(), "10133619653.534999999999999999");
        assert!(memory.amount_precise_rounded, "the precise amount says it lost digits");
        // A 28-digit unit price × a 15-digit quantity: exactly 5000001711.2949999…99924…
        let plan = per_unit_plan("0", "0", &[(Meter::CpuCycles, "0.0000405000142259898507839869")]);
        let cycles = usage("0", "0", "123456789012345");
        let breakdown = rate_usage(&plan, &cycles, Proration::FULL).expect("in range");
        assert_eq!(line(&breakdown, Meter::CpuCycles).amount.format_amount(), "5000001711.29");
        // Short products stay exact and unmarked.
        let short = rate_usage(&shipped("payg"), &usage("3000000", "540000", "0"), Proration::FULL).expect("in range");
        assert!(short.lines.iter().all(|l| !l.amount_precise_rounded));
    }

    #[test]
    fn a_subtotal_overflow_is_a_named_error() {
        let plan = per_unit_plan("0", "0", &[(Meter::Invocations, "1"), (Meter::CpuCycles, "1")]);
        let more_than_half = Decimal::MAX / Decimal::TWO + Decimal::ONE_THOUSAND;
        let quantities =
            Quantities { invocations: more_than_half, cpu_cycles: more_than_half, ..Quantities::default() };
        assert_eq!(rate_usage(&plan, &quantities, Proration::FULL), Err(RateError::Overflow("subtotal")));
    }

    proptest! {
        #[test]
        fn subtotals_add_up_and_are_never_negative(
            invocations in 0u64..100_000_000_000,
            memory_millis in 0u64..100_000_000_000,
            cycles in 0u64..u64::MAX,
            proration_permille in 0u32..=1000,
            plan_id in prop::sample::select(vec!["free", "payg", "committed"]),
        ) {
            let quantities = Quantities {
                invocations: Decimal::from(invocations),
                memory_gb_seconds: Decimal::new(memory_millis as i64, 3),
                cpu_cycles: Decimal::from(cycles),
            };
            let plan = shipped(plan_id);
            let proration = Decimal::new(i64::from(proration_permille), 3);
            let exact = Proration::of_factor(proration).expect("valid");
            let breakdown = rate_usage(&plan, &quantities, exact).expect("in range");
            let sum: Decimal = breakdown.lines.iter().map(|l| l.amount.amount).sum();
            prop_assert_eq!(breakdown.subtotal.amount, sum);
            for line in &breakdown.lines {
                prop_assert!(line.amount_precise.amount >= Decimal::ZERO);
                prop_assert_eq!(line.amount, line.amount_precise.round_to_minor_units());
            }
            let minimum = Money::new(plan.minimum_spend() * proration, plan.currency()).round_to_minor_units();
            prop_assert!(breakdown.subtotal.amount >= minimum.amount);
        }
    }
}
