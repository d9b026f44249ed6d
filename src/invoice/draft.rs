//! Drafting an invoice (pure): each segment priced by its plan version, then subtotal and tax
//! in the order of DESIGN §5. The same function answers "amount so far" and projections, so
//! they equal the invoice at period end.

use rust_decimal::Decimal;

use super::period::Segment;
use crate::domain::BillingPeriod;
use crate::domain::{Currency, Exact, Money, Quantities};
use crate::rate::{rate_fees, rate_usage, PlanVersion, PriceBreakdown, RateError};

/// One segment to price: its plan version and the usage inside it.
#[derive(Debug, Clone)]
pub struct SegmentInput<'a> {
    pub segment: Segment,
    pub plan: &'a PlanVersion,
    pub quantities: Quantities,
}

/// A priced segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DraftSegment {
    pub segment: Segment,
    pub plan_version: i32,
    pub proration: Decimal,
    pub quantities: Quantities,
    pub breakdown: PriceBreakdown,
}

/// An invoice before it is numbered and stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceDraft {
    pub currency: Currency,
    pub segments: Vec<DraftSegment>,
    /// Σ of every rounded line.
    pub subtotal: Money,
    /// Percent.
    pub tax_rate: Decimal,
    /// `round(subtotal × tax_rate ÷ 100)`, once per invoice.
    pub tax: Money,
    pub total: Money,
}

/// Why a draft could not be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DraftError {
    #[error(transparent)]
    Rate(#[from] RateError),
    #[error("segments are priced in different currencies ({0} and {1})")]
    CurrencyMismatch(Currency, Currency),
    #[error("an invoice total overflowed")]
    Overflow,
}

/// Prices every segment and totals the invoice; `None` when there is nothing to bill on
/// (no segment: the tenant had no plan in the period).
///
/// # Errors
/// [`DraftError`] on overflow or mixed currencies.
pub fn draft_invoice(
    period: &BillingPeriod,
    inputs: &[SegmentInput<'_>],
    tax_rate: Decimal,
) -> Result<Option<InvoiceDraft>, DraftError> {
    let Some(first) = inputs.first() else { return Ok(None) };
    let currency = first.plan.plan.currency();
    let mut segments = Vec::with_capacity(inputs.len());
    let mut subtotal = Decimal::ZERO;
    for input in inputs {
        let plan_currency = input.plan.plan.currency();
        if plan_currency != currency {
            return Err(DraftError::CurrencyMismatch(currency, plan_currency));
        }
        let proration = input.segment.proration(period)?;
        let breakdown = match input.segment.holds_usage() {
            true => rate_usage(&input.plan.plan, &input.quantities, proration)?,
            false => rate_fees(&input.plan.plan, proration)?,
        };
        subtotal = subtotal.checked_add(breakdown.subtotal.amount).ok_or(DraftError::Overflow)?;
        segments.push(DraftSegment {
            segment: input.segment.clone(),
            plan_version: input.plan.version,
            proration: proration.factor(),
            quantities: input.quantities,
            breakdown,
        });
    }
    let tax = tax(subtotal, tax_rate, currency)?;
    let total = subtotal.checked_add(tax).ok_or(DraftError::Overflow)?;
    Ok(Some(InvoiceDraft {
        currency,
        segments,
        subtotal: Money::new(subtotal, currency),
        tax_rate,
        tax: Money::new(tax, currency),
        total: Money::new(total, currency),
    }))
}

/// The invoice's tax: `round(subtotal × tax_rate ÷ 100)` half away from zero to the
/// currency's minor unit, once per invoice (DESIGN §5). The draft ("amount so far") and the
/// issued invoice both call this, so they agree by construction.
///
/// # Errors
/// [`DraftError::Overflow`].
pub fn tax(subtotal: Decimal, tax_rate: Decimal, currency: Currency) -> Result<Decimal, DraftError> {
    let product = Exact::from(subtotal).checked_mul(Exact::from(tax_rate));
    let precise = product.and_then(|p| p.over(Exact::from(Decimal::ONE_HUNDRED)));
    precise.and_then(|p| p.round_dp(currency.minor_units())).ok_or(DraftError::Overflow)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::at;
    use crate::rate::PricingPlan;
    use std::sync::Arc;

    fn plan(toml: &str) -> PlanVersion {
        PlanVersion {
            plan: Arc::new(PricingPlan::from_toml("p.toml", toml).unwrap()),
            version: 1,
            created_at: at("2026-01-01T00:00:00Z"),
        }
    }

    const PAYG: &str = r#"
        id = "p"
        name = "P"
        currency = "USD"
        base_fee = "10.00"
        [[charge]]
        meter = "invocations"
        model = "per_unit"
        price_per = 1000000
        unit_price = "0.20"
    "#;

    #[test]
    fn tax_is_rounded_once_on_the_subtotal_half_away_from_zero() {
        let period = BillingPeriod::new(at("2026-11-01T00:00:00Z"), at("2026-12-01T00:00:00Z")).unwrap();
        let version = plan(PAYG);
        let input = SegmentInput {
            segment: Segment::new(period.start(), period.end(), "p"),
            plan: &version,
            quantities: Quantities { invocations: Decimal::from(2_500_000), ..Default::default() },
        };
        // 10.00 + 0.50 = 10.50; 8.875 % of 10.50 = 0.931875 → 0.93.
        let draft = draft_invoice(&period, &[input], Decimal::new(8875, 3)).unwrap().unwrap();
        assert_eq!(draft.subtotal.format_amount(), "10.50");
        assert_eq!(draft.tax.format_amount(), "0.93");
        assert_eq!(draft.total.format_amount(), "11.43");
    }

    #[test]
    fn tax_is_decided_from_every_digit_of_subtotal_times_rate() {
        // 12345678901234567890123.45 × 8.8751 % = 1095691348163469134816.34631095: 30 digits.
        let subtotal = Decimal::from_str_exact("12345678901234567890123.45").unwrap();
        let big = tax(subtotal, Decimal::new(88751, 4), usd());
        assert_eq!(big, Ok(Decimal::from_str_exact("1095691348163469134816.35").unwrap()));
        let half = tax(Decimal::new(10, 2), Decimal::new(5, 0), usd());
        assert_eq!(half, Ok(Decimal::new(1, 2)), "5 % of 0.10 is half a cent: away from zero");
    }

    fn usd() -> Currency {
        Currency::parse("USD").unwrap()
    }

    #[test]
    fn a_half_period_halves_the_base_fee_but_not_the_usage_price() {
        let period = BillingPeriod::new(at("2026-11-01T00:00:00Z"), at("2026-12-01T00:00:00Z")).unwrap();
        let version = plan(PAYG);
        let input = SegmentInput {
            segment: Segment::new(at("2026-11-16T00:00:00Z"), period.end(), "p"),
            plan: &version,
            quantities: Quantities { invocations: Decimal::from(1_000_000), ..Default::default() },
        };
        let draft = draft_invoice(&period, &[input], Decimal::ZERO).unwrap().unwrap();
        assert_eq!(draft.segments[0].proration, Decimal::new(5, 1));
        assert_eq!(draft.total.format_amount(), "5.20");
    }

    #[test]
    fn no_segments_means_nothing_to_bill() {
        let period = BillingPeriod::new(at("2026-11-01T00:00:00Z"), at("2026-12-01T00:00:00Z")).unwrap();
        assert_eq!(draft_invoice(&period, &[], Decimal::ZERO), Ok(None));
    }
}
