//! Turns a draft's priced segments into numbered invoice lines and the keys the late-usage
//! rule compares on: (segment start, line type, meter).

use super::draft::DraftSegment;
use crate::domain::{LineKey, LineSnapshot, LineType, TierSnapshot};
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

fn keyed(segment: &DraftSegment, priced: &PriceLine) -> KeyedLine {
    let (line_type, meter, quantity, included, proration, tiers, description) = match &priced.kind {
        LineKind::Charge(rated) => {
            let tiers = rated
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
                })
                .collect();
            let description = format!("{} ({})", rated.meter, segment.segment.plan_id);
            (LineType::Usage, Some(rated.meter), Some(rated.quantity), Some(rated.included), None, tiers, description)
        }
        LineKind::BaseFee { proration, .. } => (
            LineType::BaseFee,
            None,
            None,
            None,
            Some(*proration),
            Vec::new(),
            format!("Base fee ({})", segment.segment.plan_id),
        ),
        LineKind::MinimumSpendTopUp { proration, .. } => {
            let description = format!("Minimum spend top-up ({})", segment.segment.plan_id);
            (LineType::MinimumSpendTopUp, None, None, None, Some(*proration), Vec::new(), description)
        }
    };
    KeyedLine {
        key: LineKey { segment_start: segment.segment.start, line_type, meter },
        line: LineSnapshot {
            number: 0,
            line_type,
            description,
            start: segment.segment.start,
            end: segment.segment.end,
            plan_id: segment.segment.plan_id.clone(),
            plan_version: segment.plan_version,
            meter,
            quantity,
            included,
            proration,
            tiers,
            amount: priced.amount.amount,
            amount_precise: priced.amount_precise.amount,
        },
    }
}
