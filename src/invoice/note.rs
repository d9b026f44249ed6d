//! The invoice's note about usage no subscription covered (DESIGN §6: no accepted record is
//! ever silently unbilled): zero-amount lines, one per meter with such usage, saying how much
//! was not billed and why. They are part of the invoice snapshot (so the JSON, HTML and PDF
//! show them) but bill nothing: totals and the late-usage ledger are unchanged. Pure.

use super::unbilled::{Unbilled, UnbilledReason};
use crate::domain::{BillingPeriod, LineSnapshot, LineType, Meter};

/// The note lines for `unbilled`, the usage of `period` no subscription covered.
pub fn unbilled_note(period: &BillingPeriod, unbilled: &Unbilled) -> Vec<LineSnapshot> {
    let why = match unbilled.reason {
        UnbilledReason::NoPlan => "the tenant had no plan",
        UnbilledReason::BeforeFirstSubscription => "usage before the first subscription",
        UnbilledReason::AfterSubscriptionEnded => "usage after the subscription ended",
    };
    let records = unbilled.records;
    let line = |meter: Option<Meter>| {
        let plural = if records == 1 { "" } else { "s" };
        let what = meter.map_or("Usage", Meter::display_name);
        let description = format!("{what} not billed: {why} ({records} record{plural})");
        LineSnapshot {
            meter,
            quantity: meter.map(|m| unbilled.quantities.get(m)),
            ..LineSnapshot::blank(LineType::UnbilledUsage, description, period.start(), period.end())
        }
    };
    let used: Vec<Meter> = Meter::ALL.into_iter().filter(|m| !unbilled.quantities.get(*m).is_zero()).collect();
    if used.is_empty() {
        return vec![line(None)];
    }
    used.into_iter().map(|m| line(Some(m))).collect()
}

#[cfg(test)]
mod tests {
    use chrono_tz::Tz;
    use rust_decimal::Decimal;

    use super::*;
    use crate::domain::testing::at;
    use crate::domain::Quantities;
    use crate::invoice::period_containing;

    #[test]
    fn one_zero_amount_line_per_meter_with_unbilled_usage_says_how_much_and_why() {
        let period = period_containing(Tz::UTC, at("2026-11-10T00:00:00Z"));
        let quantities = Quantities {
            invocations: Decimal::from(3),
            memory_gb_seconds: Decimal::new(25, 2),
            ..Quantities::default()
        };
        let unbilled = Unbilled { quantities, records: 2, reason: UnbilledReason::BeforeFirstSubscription };
        let lines = unbilled_note(&period, &unbilled);
        let shown: Vec<(&str, Option<Decimal>, Decimal)> =
            lines.iter().map(|l| (l.description.as_str(), l.quantity, l.amount)).collect();
        assert_eq!(
            shown,
            vec![
                (
                    "Memory (GB-seconds) not billed: usage before the first subscription (2 records)",
                    Some(Decimal::new(25, 2)),
                    Decimal::ZERO
                ),
                (
                    "Invocations not billed: usage before the first subscription (2 records)",
                    Some(Decimal::from(3)),
                    Decimal::ZERO
                ),
            ]
        );
        assert!(lines.iter().all(|l| l.line_type == LineType::UnbilledUsage && l.start == period.start()));
    }

    #[test]
    fn records_without_quantities_still_get_a_note() {
        let period = period_containing(Tz::UTC, at("2026-11-10T00:00:00Z"));
        let unbilled = Unbilled { quantities: Quantities::default(), records: 1, reason: UnbilledReason::NoPlan };
        let lines = unbilled_note(&period, &unbilled);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].description, "Usage not billed: the tenant had no plan (1 record)");
    }
}
