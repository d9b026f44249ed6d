//! Turns a draft's priced segments into numbered invoice lines and the keys the late-usage
//! rule compares on: (the line's start, line type, meter).
//!
//! Usage lines bill the segment's buckets; fee lines (base fee, top-up) bill the true instants
//! its fees cover (DESIGN §6), so each line starts where what it bills starts. [`frame`] is the
//! one place a line's words, plan and span are decided — adjustments start from it too, so they
//! name what they adjust exactly as the original line did.

use super::draft::DraftSegment;
use crate::domain::{LineKey, LineSnapshot, LineType, Meter, TierSnapshot};
use crate::rate::{LineKind, PriceLine};

/// A line before it is numbered, with its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedLine {
    pub key: LineKey,
    pub line: LineSnapshot,
}

/// The lines of priced segments, in order (per segment: usage, base fee, top-up).
pub fn segment_lines(segments: &[DraftSegment]) -> Vec<KeyedLine> {
    segments.iter().flat_map(|s| s.breakdown.lines.iter().map(move |l| keyed(s, l))).collect()
}

/// The line `segment` shows for `line_type` and `meter`, amounts zero: its description, plan,
/// the stretch it bills, its proration, and its key.
pub(crate) fn frame(segment: &DraftSegment, line_type: LineType, meter: Option<Meter>) -> KeyedLine {
    let (s, plan) = (&segment.segment, &segment.segment.plan_id);
    // Words as people write them (DESIGN §7); the plan is the line's own field, which every
    // rendering shows beside the words.
    let (description, (start, end), proration) = match (line_type, meter) {
        (LineType::Usage, Some(meter)) => (meter.display_name().to_owned(), (s.start, s.end), None),
        (LineType::Usage, None) => ("Usage".to_owned(), (s.start, s.end), None),
        (LineType::BaseFee, _) => ("Base fee".to_owned(), (s.fees_from, s.fees_until), Some(segment.proration)),
        (LineType::MinimumSpendTopUp, _) => {
            ("Minimum spend top-up".to_owned(), (s.fees_from, s.fees_until), Some(segment.proration))
        }
        (LineType::Adjustment, _) => ("Adjustment".to_owned(), (s.start, s.end), None),
        (LineType::UnbilledUsage, _) => ("Usage not billed".to_owned(), (s.start, s.end), None),
    };
    let line = LineSnapshot {
        plan_id: plan.clone(),
        plan_version: segment.plan_version,
        meter,
        proration,
        ..LineSnapshot::blank(line_type, description, start, end)
    };
    KeyedLine { key: LineKey { segment_start: start, line_type, meter }, line }
}

fn keyed(segment: &DraftSegment, priced: &PriceLine) -> KeyedLine {
    let mut keyed = match &priced.kind {
        LineKind::Charge(rated) => {
            let mut keyed = frame(segment, LineType::Usage, Some(rated.meter));
            keyed.line.quantity = Some(rated.quantity);
            keyed.line.included = Some(rated.included);
            keyed.line.tiers = rated
                .lines
                .iter()
                .map(|t| TierSnapshot {
                    from: t.from,
                    to: t.to,
                    units: t.units,
                    unit_price: t.unit_price,
                    price_per: rated.price_per,
                    flat_fee: t.flat_fee,
                    amount: t.amount,
                    package_size: t.package_size,
                })
                .collect();
            keyed
        }
        LineKind::BaseFee { .. } => frame(segment, LineType::BaseFee, None),
        LineKind::MinimumSpendTopUp { .. } => frame(segment, LineType::MinimumSpendTopUp, None),
    };
    keyed.line.amount = priced.amount.amount;
    keyed.line.amount_precise = priced.amount_precise.amount;
    keyed.line.amount_precise_rounded = priced.amount_precise_rounded;
    keyed
}
