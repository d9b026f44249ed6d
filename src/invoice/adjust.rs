//! Late usage and corrections (pure, DESIGN §7): a closed period is re-rated with its own plan
//! versions, and each line bills `round(new amount) − Σ already billed` on the next invoice.
//! A tenant topped up to its minimum sees usage up and top-up down: no double charge.

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;

use super::lines::KeyedLine;
use crate::domain::BillingPeriod;
use crate::domain::{LineKey, LineSnapshot, LineType};

/// An adjustment for one line of an earlier period; `key` is that period's line key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adjustment {
    pub period: BillingPeriod,
    pub key: LineKey,
    pub line: LineSnapshot,
}

/// Differences between a closed period's re-rated lines and what was billed for them.
pub fn adjustments(
    period: BillingPeriod,
    rerated: &[KeyedLine],
    billed: &BTreeMap<LineKey, Decimal>,
) -> Vec<Adjustment> {
    let mut out = Vec::new();
    // In the re-rated lines' own order (usage, base fee, top-up), then lines no longer produced.
    for line in rerated {
        let difference = line.line.amount - billed.get(&line.key).copied().unwrap_or(Decimal::ZERO);
        if !difference.is_zero() {
            out.push(Adjustment { period, key: line.key, line: adjusted(&line.line, difference) });
        }
    }
    let produced: BTreeSet<&LineKey> = rerated.iter().map(|l| &l.key).collect();
    for (key, amount) in billed.iter().filter(|(k, a)| !produced.contains(k) && !a.is_zero()) {
        out.push(Adjustment { period, key: *key, line: removed(period, key, -*amount) });
    }
    out
}

fn adjusted(original: &LineSnapshot, difference: Decimal) -> LineSnapshot {
    let mut line = original.clone();
    line.description = format!("Adjustment: {}", original.description);
    line.line_type = LineType::Adjustment;
    line.amount = difference;
    line.amount_precise = difference;
    line
}

/// A line billed before that the re-rating no longer produces (e.g. a top-up now covered).
fn removed(period: BillingPeriod, key: &LineKey, difference: Decimal) -> LineSnapshot {
    LineSnapshot {
        number: 0,
        line_type: LineType::Adjustment,
        description: format!("Adjustment: {}", key.line_type.as_str().replace('_', " ")),
        start: period.start(),
        end: period.end(),
        plan_id: String::new(),
        plan_version: 0,
        meter: None,
        quantity: None,
        included: None,
        proration: None,
        tiers: Vec::new(),
        amount: difference,
        amount_precise: difference,
    }
}
