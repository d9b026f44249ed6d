//! How a correction moves rollups (pure): the record's old effective content leaves its
//! bucket and its new content (if any) enters — so rollups always equal the fold of every
//! record's newest effective content, which is what a rebuild computes.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::rollup::{bucket_start, RollupKey, RollupTotals};
use crate::domain::{CorrectionAction, Meter, Quantities, QuantityError, TenantId};

/// What a record counts as: its own content, or that of its newest `replace` correction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordState {
    pub timestamp: DateTime<Utc>,
    pub function: String,
    pub region: String,
    pub quantities: Quantities,
}

/// Rollup deltas (negative where content leaves) for a record going from `before` to `after`.
///
/// # Errors
/// [`QuantityError::Overflow`].
pub fn correction_deltas(
    tenant: &TenantId,
    before: Option<&RecordState>,
    after: Option<&RecordState>,
) -> Result<BTreeMap<RollupKey, RollupTotals>, QuantityError> {
    let mut deltas: BTreeMap<RollupKey, RollupTotals> = BTreeMap::new();
    let mut add = |state: &RecordState, sign: i64| -> Result<(), QuantityError> {
        let key = RollupKey {
            tenant_id: tenant.clone(),
            bucket_start: bucket_start(state.timestamp),
            function: state.function.clone(),
            region: state.region.clone(),
        };
        let mut quantities = Quantities::default();
        for meter in Meter::ALL {
            let value = state.quantities.get(meter);
            quantities.set(meter, if sign < 0 { -value } else { value });
        }
        let entry = deltas.entry(key).or_default();
        *entry = entry.checked_add(&RollupTotals { quantities, records: sign })?;
        Ok(())
    };
    if let Some(old) = before {
        add(old, -1)?;
    }
    if let Some(new) = after {
        add(new, 1)?;
    }
    deltas.retain(|_, t| t.records != 0 || !t.quantities.is_zero());
    Ok(deltas)
}

/// The content a record counts as before and after `action`, given its original content and
/// its newest correction (`None`: never corrected; `Some(None)`: void). `None` from this
/// function means the action is a void of a record that is already void. A correction keeps
/// the record's instant: it may change dimensions and quantities, not the time.
pub fn correction_step(
    original: RecordState,
    newest: Option<Option<RecordState>>,
    action: &CorrectionAction,
) -> Option<(Option<RecordState>, Option<RecordState>)> {
    let timestamp = original.timestamp;
    let before = newest.unwrap_or(Some(original));
    let after = match action {
        CorrectionAction::Void if before.is_none() => return None,
        CorrectionAction::Void => None,
        CorrectionAction::Replace { function, region, quantities } => {
            Some(RecordState { timestamp, function: function.clone(), region: region.clone(), quantities: *quantities })
        }
    };
    Some((before, after))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    fn state(function: &str, invocations: i64) -> RecordState {
        RecordState {
            timestamp: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            function: function.into(),
            region: String::new(),
            quantities: Quantities { invocations: Decimal::from(invocations), ..Default::default() },
        }
    }

    #[test]
    fn a_replacement_moves_rollups_by_the_difference() {
        let tenant = TenantId::parse("t").unwrap();
        let deltas = correction_deltas(&tenant, Some(&state("f", 10)), Some(&state("f", 4))).unwrap();
        let only = deltas.values().next().unwrap();
        assert_eq!((deltas.len(), only.quantities.invocations, only.records), (1, Decimal::from(-6), 0));
    }

    #[test]
    fn a_void_removes_the_record_and_a_new_function_moves_it() {
        let tenant = TenantId::parse("t").unwrap();
        let void = correction_deltas(&tenant, Some(&state("f", 10)), None).unwrap();
        assert_eq!(void.values().next().unwrap().records, -1);
        let moved = correction_deltas(&tenant, Some(&state("f", 10)), Some(&state("g", 10))).unwrap();
        let records: Vec<i64> = moved.values().map(|t| t.records).collect();
        assert_eq!(records, vec![-1, 1]);
    }
}
