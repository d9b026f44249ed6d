//! A page of tenants' rollup rows folded, as they stream in, into one sum per tenant and
//! *unit*: the stretches between consecutive boundaries of the periods and segments a run
//! prices. Every segment and every uncovered gap is a union of whole units, so summing the
//! units inside one gives exactly what summing its rows gives (`sum_rollups` attributes a
//! row by its bucket start, and so does the fold), while memory stays a few sums per
//! tenant however many rows a page has. Pure.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::aggregate::{Rollup, RollupKey, RollupTotals};
use crate::domain::{Meter, QuantityError, TenantId};

/// `[from, to)`.
pub type Stretch = (DateTime<Utc>, DateTime<Utc>);

/// Per-unit sums of several tenants.
#[derive(Debug, Default)]
pub struct UnitUsage {
    tenants: HashMap<TenantId, Units>,
}

#[derive(Debug)]
struct Units {
    /// Ascending, distinct; unit `i` is `[bounds[i], bounds[i + 1])`.
    bounds: Vec<DateTime<Utc>>,
    sums: Vec<RollupTotals>,
    /// The meter of the first sum that left `Decimal`'s range: the usage cannot be priced.
    overflow: Option<Meter>,
}

impl UnitUsage {
    /// Units for `tenant` cut at every one of `bounds` (any order, repeats allowed).
    pub fn cut(&mut self, tenant: &TenantId, bounds: impl IntoIterator<Item = DateTime<Utc>>) {
        let units = self.tenants.entry(tenant.clone()).or_insert_with(|| Units {
            bounds: Vec::new(),
            sums: Vec::new(),
            overflow: None,
        });
        units.bounds.extend(bounds);
        units.bounds.sort_unstable();
        units.bounds.dedup();
        units.sums = vec![RollupTotals::default(); units.bounds.len().saturating_sub(1)];
    }

    /// The tenants with units, and the stretch of time covering them all.
    pub fn scope(&self) -> Option<(Vec<TenantId>, Stretch)> {
        let from = self.tenants.values().filter_map(|u| u.bounds.first()).min()?;
        let to = self.tenants.values().filter_map(|u| u.bounds.last()).max()?;
        let mut tenants: Vec<TenantId> = self.tenants.keys().cloned().collect();
        tenants.sort();
        Some((tenants, (*from, *to)))
    }

    /// Adds a row to the unit holding its bucket start; a row outside every unit is ignored.
    pub fn add(&mut self, row: &Rollup) {
        let Some(units) = self.tenants.get_mut(&row.key.tenant_id) else { return };
        let after = units.bounds.partition_point(|b| *b <= row.key.bucket_start);
        let Some(sum) = after.checked_sub(1).and_then(|i| units.sums.get_mut(i)) else { return };
        match sum.checked_add(&row.totals) {
            Ok(total) => *sum = total,
            Err(QuantityError::Overflow(meter)) => {
                units.overflow.get_or_insert(meter);
            }
        }
    }

    /// A tenant's usage as one rollup per unit with usage, dated at the unit's start: what
    /// `sum_rollups` and `unbilled_usage` take.
    ///
    /// # Errors
    /// [`QuantityError::Overflow`] when a unit's sum left `Decimal`'s range.
    pub fn rollups(&self, tenant: &TenantId) -> Result<Vec<Rollup>, QuantityError> {
        let Some(units) = self.tenants.get(tenant) else { return Ok(Vec::new()) };
        if let Some(meter) = units.overflow {
            return Err(QuantityError::Overflow(meter));
        }
        let empty = RollupTotals::default();
        Ok(units
            .bounds
            .iter()
            .zip(&units.sums)
            .filter(|(_, sum)| **sum != empty)
            .map(|(start, sum)| Rollup {
                key: RollupKey {
                    tenant_id: tenant.clone(),
                    bucket_start: *start,
                    function: String::new(),
                    region: String::new(),
                },
                totals: *sum,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::*;
    use crate::aggregate::sum_rollups;
    use crate::domain::testing::at;
    use crate::domain::Quantities;

    fn row(tenant: &TenantId, bucket: &str, invocations: i64) -> Rollup {
        let quantities = Quantities { invocations: Decimal::from(invocations), ..Quantities::default() };
        Rollup {
            key: RollupKey {
                tenant_id: tenant.clone(),
                bucket_start: at(bucket),
                function: "f".into(),
                region: "r".into(),
            },
            totals: RollupTotals { quantities, records: 1 },
        }
    }

    #[test]
    fn units_sum_what_the_rows_inside_each_cut_sum() {
        let acme = TenantId::parse("acme").unwrap();
        let rows = [
            row(&acme, "2026-09-30T23:45:00Z", 1),
            row(&acme, "2026-10-01T00:00:00Z", 2),
            row(&acme, "2026-10-15T11:45:00Z", 4),
            row(&acme, "2026-10-15T12:00:00Z", 8),
            row(&acme, "2026-10-31T23:45:00Z", 16),
            row(&acme, "2026-11-01T00:00:00Z", 32),
        ];
        let cuts = ["2026-10-01T00:00:00Z", "2026-10-15T12:00:00Z", "2026-11-01T00:00:00Z"].map(at);
        let mut usage = UnitUsage::default();
        usage.cut(&acme, cuts);
        for r in &rows {
            usage.add(r);
        }
        let units = usage.rollups(&acme).unwrap();
        for (from, to) in [(cuts[0], cuts[1]), (cuts[1], cuts[2]), (cuts[0], cuts[2])] {
            assert_eq!(sum_rollups(&units, from, to).unwrap(), sum_rollups(&rows, from, to).unwrap());
        }
        assert_eq!(units.len(), 2, "rows outside every unit are left out");
    }

    #[test]
    fn a_page_scope_spans_every_tenants_units_and_other_tenants_rows_are_ignored() {
        let (a, b) = (TenantId::parse("a").unwrap(), TenantId::parse("b").unwrap());
        let mut usage = UnitUsage::default();
        usage.cut(&b, [at("2026-10-01T00:00:00Z"), at("2026-11-01T00:00:00Z")]);
        usage.cut(&a, [at("2026-09-30T22:00:00Z"), at("2026-10-31T23:00:00Z")]);
        usage.add(&row(&TenantId::parse("c").unwrap(), "2026-10-02T00:00:00Z", 1));
        let (tenants, range) = usage.scope().unwrap();
        assert_eq!(tenants, vec![a.clone(), b]);
        assert_eq!(range, (at("2026-09-30T22:00:00Z"), at("2026-11-01T00:00:00Z")));
        assert!(usage.rollups(&a).unwrap().is_empty());
    }
}
