//! The quota rules, pure: which quotas are in force, how much of each is used, which
//! thresholds are reached and which of those still need an alert, and what an entitlement
//! says. No IO, no clock: usage and "now" come in as values.

use std::collections::BTreeSet;

use rust_decimal::Decimal;

use crate::domain::{BillingPeriod, Currency, Quota, QuotaMeter, QuotaSet};
use crate::invoice::{CurrentUsage, InvoiceDraft};
use crate::rate::{LineKind, PricingPlan};

/// The quotas in force for a tenant on `plan`: the plan's defaults; a quota the operator set
/// with the same id **replaces** the default (so an operator can raise, lower or soften a
/// plan limit per tenant); then the tenant's budgets. A budget never replaces a plan or
/// operator quota: one whose id is taken by either is shadowed (the API refuses such ids,
/// but a later plan change may introduce one). A hard budget is hard only while the plan in
/// force allows hard budgets: set on a plan that did, it alerts but never blocks after a move
/// to one that does not (DESIGN §9: "never `hard` unless the plan allows"). Ordered by id.
pub fn effective_quotas(plan: Option<&PricingPlan>, set: &QuotaSet) -> Vec<Quota> {
    let mut quotas: Vec<Quota> = plan.map(|p| p.quotas().to_vec()).unwrap_or_default();
    for own in &set.operator {
        quotas.retain(|q| q.id() != own.id());
        quotas.push(own.clone());
    }
    let hard_allowed = plan.is_some_and(PricingPlan::allow_hard_budget);
    for budget in &set.budgets {
        if quotas.iter().all(|q| q.id() != budget.id()) {
            quotas.push(if hard_allowed { budget.clone() } else { budget.clone().softened() });
        }
    }
    quotas.sort_by(|a, b| a.id().cmp(b.id()));
    quotas
}

/// The effective quotas that concern `period`: those in force before it ended. A quota set or
/// changed since then did not exist in that form while the period ran, so it raises no alert
/// for it (a budget saved today must not announce last month's invoiced spend as "late");
/// late usage that crosses a threshold of a quota in force then still alerts. The plan default
/// a newly stored quota replaces is left out as well: what stood under its id then is unknown.
pub fn quotas_for_period(plan: Option<&PricingPlan>, set: &QuotaSet, period: &BillingPeriod) -> Vec<Quota> {
    effective_quotas(plan, set).into_iter().filter(|q| set.in_force_before(q, period.end())).collect()
}

/// How much of `meter` the period has used: the period-to-date quantity, or for `spend` the
/// [`spend`] of the amount so far; 0 without a plan.
pub fn used(meter: QuotaMeter, usage: &CurrentUsage) -> Decimal {
    match meter {
        QuotaMeter::Usage(m) => usage.usage.get(m),
        QuotaMeter::Spend => usage.amount_so_far.as_ref().map_or(Decimal::ZERO, spend),
    }
}

/// What a draft has spent: its subtotal (before tax and credits) without the minimum-spend
/// top-ups — the usage and fees accrued. The top-up is not spending: it is added when the
/// period closes, and counting it would put a tenant on a plan whose minimum exceeds its
/// budget over that budget (a hard one blocked) on its first day, before any usage.
pub fn spend(draft: &InvoiceDraft) -> Decimal {
    let lines = draft.segments.iter().flat_map(|s| &s.breakdown.lines);
    let top_ups: Decimal =
        lines.filter(|l| matches!(l.kind, LineKind::MinimumSpendTopUp { .. })).map(|l| l.amount.amount).sum();
    // The top-ups are among the lines the subtotal sums, so this never leaves Decimal's range.
    draft.subtotal.amount - top_ups
}

/// The currency `spend` is counted in for the period of `usage`: its draft's. A period's
/// currency is fixed, and outlives the plan in force now: a tenant deactivated (or reactivated
/// without a plan) still has the period's spend in the currency its invoice will use.
/// `None` when no plan covers any of the period.
pub fn spend_currency(usage: &CurrentUsage) -> Option<Currency> {
    usage.amount_so_far.as_ref().map(|draft| draft.currency)
}

/// The period total `meter` is heading for: the projection of [`used`] to the period end (for
/// `spend`, without the top-up too: the amount a spend quota compares is projected).
pub fn projected(meter: QuotaMeter, usage: &CurrentUsage) -> Decimal {
    let projection = usage.projection.as_ref();
    match meter {
        QuotaMeter::Usage(m) => projection.map_or_else(|| usage.usage.get(m), |p| p.usage.get(m)),
        QuotaMeter::Spend => projection.map_or(Decimal::ZERO, |p| spend(&p.draft)),
    }
}

/// The thresholds (percent of `limit`) that `used` has reached: `used ≥ limit × t ÷ 100`,
/// compared exactly as `used × 100 ≥ limit × t`.
pub fn reached(used: Decimal, limit: Decimal, thresholds: &[u32]) -> Vec<u32> {
    let scaled = used.checked_mul(Decimal::ONE_HUNDRED);
    thresholds
        .iter()
        .copied()
        .filter(|t| match (scaled, limit.checked_mul(Decimal::from(*t))) {
            (Some(used), Some(bound)) => used >= bound,
            // Only an astronomically large `used` overflows ×100: it is past every threshold.
            (None, _) => true,
            (Some(_), None) => false,
        })
        .collect()
}

/// The reached thresholds that have not alerted yet in this period: the alerts to raise.
/// Usage that dips below a threshold and rises again finds it in `alerted` and raises nothing.
pub fn crossings(reached: &[u32], alerted: &BTreeSet<u32>) -> Vec<u32> {
    reached.iter().copied().filter(|t| !alerted.contains(t)).collect()
}

/// One quota as runtimes see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entitlement {
    pub quota: Quota,
    pub used: Decimal,
    /// `max(0, limit − used)`.
    pub remaining: Decimal,
    /// A hard quota whose limit is reached (`used ≥ limit`).
    pub blocked: bool,
}

/// The entitlement of `quota` at `used`.
pub fn entitlement(quota: &Quota, used: Decimal) -> Entitlement {
    let remaining = quota.limit().checked_sub(used).unwrap_or(Decimal::ZERO).max(Decimal::ZERO);
    let blocked = quota.hard() && used >= quota.limit();
    Entitlement { quota: quota.clone(), used, remaining, blocked }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::at;
    use std::str::FromStr;

    fn d(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    fn quota(id: &str, limit: &str, hard: bool) -> Quota {
        Quota::new(id, "invocations", d(limit), &[50, 80, 100], hard).unwrap()
    }

    #[test]
    fn thresholds_are_reached_at_their_exact_boundary_and_not_a_unit_before() {
        let cases: [(&str, &[u32], &str); 9] = [
            ("0", &[], "nothing used"),
            ("49", &[], "just below 50 %"),
            ("50", &[50], "exactly 50 %"),
            ("50.0000001", &[50], "a hair above 50 %"),
            ("79.999", &[50], "just below 80 %"),
            ("80", &[50, 80], "exactly 80 %"),
            ("100", &[50, 80, 100], "exactly the limit"),
            ("250", &[50, 80, 100], "far over"),
            ("99.99", &[50, 80], "a cent below the limit"),
        ];
        for (used, expected, why) in cases {
            assert_eq!(reached(d(used), d("100"), &[50, 80, 100]), expected, "used {used}: {why}");
        }
        assert_eq!(reached(d("3"), d("7"), &[42, 43]), [42], "3/7 = 42.86 %, exact decimal comparison");
        assert_eq!(reached(Decimal::MAX, d("1"), &[100]), [100], "overflow means far past the limit");
    }

    #[test]
    fn only_thresholds_not_yet_alerted_in_the_period_cross() {
        let alerted: BTreeSet<u32> = [50].into();
        assert_eq!(crossings(&[50, 80], &alerted), [80], "50 alerted before, 80 is new");
        assert_eq!(crossings(&[50], &alerted), Vec::<u32>::new(), "hovering at 50: nothing");
        assert_eq!(crossings(&[50, 80, 100], &BTreeSet::new()), [50, 80, 100], "a jump crosses all at once");
    }

    #[test]
    fn the_operators_quota_replaces_the_plan_default_with_its_id_and_budgets_never_do() {
        let plan = PricingPlan::from_toml(
            "p.toml",
            "id = \"p\"\nname = \"P\"\ncurrency = \"USD\"\n[[quotas]]\nid = \"cap\"\nmeter = \"invocations\"\nlimit = 10\nhard = true\n[[quotas]]\nid = \"mem\"\nmeter = \"memory_gb_seconds\"\nlimit = 5\n",
        )
        .unwrap();
        let set = QuotaSet {
            operator: vec![quota("cap", "1000", false), quota("extra", "7", false)],
            budgets: vec![quota("mem", "1", true), quota("mine", "2", false)],
            set_at: Default::default(),
        };
        let found: Vec<(String, String, bool)> = effective_quotas(Some(&plan), &set)
            .iter()
            .map(|q| (q.id().to_owned(), q.limit().to_string(), q.hard()))
            .collect();
        let expected = [("cap", "1000", false), ("extra", "7", false), ("mem", "5", false), ("mine", "2", false)];
        let expected: Vec<(String, String, bool)> =
            expected.iter().map(|(i, l, h)| (i.to_string(), l.to_string(), *h)).collect();
        assert_eq!(found, expected);
    }

    #[test]
    fn a_hard_budget_blocks_only_while_the_plan_allows_hard_budgets() {
        let plan = |allow: bool| {
            let toml = format!("id = \"p\"\nname = \"P\"\ncurrency = \"USD\"\nallow_hard_budget = {allow}\n");
            PricingPlan::from_toml("p.toml", &toml).unwrap()
        };
        let set = QuotaSet { operator: vec![], budgets: vec![quota("cap", "100", true)], set_at: Default::default() };
        let hard = |plan: Option<&PricingPlan>| effective_quotas(plan, &set)[0].hard();
        assert!(hard(Some(&plan(true))), "set on a plan that allows it");
        assert!(!hard(Some(&plan(false))), "after a move to a plan that does not: it alerts, never blocks");
        assert!(!hard(None), "without a plan");
    }

    #[test]
    fn a_period_is_concerned_only_by_the_quotas_in_force_before_it_ended() {
        let plan = PricingPlan::from_toml(
            "p.toml",
            "id = \"p\"\nname = \"P\"\ncurrency = \"USD\"\n[[quotas]]\nid = \"plan-cap\"\nmeter = \"invocations\"\nlimit = 10\n[[quotas]]\nid = \"cap\"\nmeter = \"invocations\"\nlimit = 20\n",
        )
        .unwrap();
        let spend = |id: &str| Quota::new(id, "spend", d("6"), &[50, 100], false).unwrap();
        let set = QuotaSet {
            operator: vec![quota("cap", "1000", false), quota("old", "7", false)],
            budgets: vec![spend("monthly"), spend("legacy")],
            set_at: [
                ("cap".to_owned(), at("2026-12-07T09:00:00Z")),
                ("old".to_owned(), at("2026-10-15T00:00:00Z")),
                ("monthly".to_owned(), at("2026-12-07T09:00:00Z")),
                ("legacy".to_owned(), at("2026-12-01T00:00:00Z")),
            ]
            .into(),
        };
        let ids = |start: &str, end: &str| -> Vec<String> {
            let period = BillingPeriod::new(at(start), at(end)).unwrap();
            quotas_for_period(Some(&plan), &set, &period).iter().map(|q| q.id().to_owned()).collect()
        };
        assert_eq!(
            ids("2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"),
            ["cap", "legacy", "monthly", "old", "plan-cap"],
            "the current period: every quota, whenever it was set"
        );
        assert_eq!(
            ids("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z"),
            ["old", "plan-cap"],
            "November: the plan default and the quota set in October; not the budget saved on December 7, \
             nor one saved at the very instant November ended, nor the override (or the default it replaces)"
        );
    }

    #[test]
    fn a_hard_quota_blocks_from_its_limit_on_and_a_soft_one_never() {
        let cases =
            [("99", true, false, "1"), ("100", true, true, "0"), ("130", true, true, "0"), ("130", false, false, "0")];
        for (used, hard, blocked, remaining) in cases {
            let e = entitlement(&quota("cap", "100", hard), d(used));
            assert_eq!((e.blocked, e.remaining), (blocked, d(remaining)), "used {used}, hard {hard}");
        }
    }
}
