//! Usage in periods no plan covers at all, reported by the run that passes them (DESIGN §6:
//! "no accepted record is ever silently unbilled"). Such a period — a tenant with no plan, one
//! reactivated without a plan, the months before a first plan or after a subscription ended —
//! is never due, so no invoice closes it and nothing in `billing_period` says a run saw it.
//! A page's tenants are checked together: one read of how far runs have checked them
//! (`uncovered_checked`), one read of the usage of the periods not checked yet, one write.
//!
//! Once per period: a run reports the uncovered periods ending after the tenant's latest
//! closed period and after its `checked_until`, up to `as_of − grace` (as invoices wait for
//! the grace), then moves `checked_until` there. A stored mark, not "since the previous run":
//! runs may fail, overlap or go back in time (`--as-of`), and a page that failed is checked
//! again next run. At least once rather than at most once: the mark is written after the
//! report has the periods, so a failed write reports them again, never not at all. The mark is
//! written only when the periods reach past what this run closes: a closed period bounds the
//! next run's walk by itself (this step runs before the page issues anything, so a period is
//! never closed in a run that failed to check the ones before it). Periods with a plan in
//! part are the invoice's business (`BillingRun::prepare`: a note, and the report); those
//! with none are never in both. Usage arriving later for a reported period is in no later
//! report; the period's unbilled-usage entry (the quota evaluator's) follows it.
//!
//! Stage: invoice orchestration (IO through the store).

use std::collections::HashSet;

use anyhow::Context;
use chrono::{DateTime, Utc};

use super::billing_page::slice;
use super::billing_run::{unbilled_period, BillingRun, RunReport};
use super::unit_usage::UnitUsage;
use super::{due_periods, segments, unbilled_usage, uncovered_periods};
use crate::aggregate::BillingCalendar;
use crate::domain::{BillingPeriod, SubscriptionChange, Tenant, TenantId};
use crate::store::PerTenant;

/// A tenant's uncovered periods this run has to look at.
struct Unchecked<'t> {
    tenant: &'t Tenant,
    periods: Vec<BillingPeriod>,
    /// The end of the latest period this run closes for it, if any.
    closes_until: Option<DateTime<Utc>>,
}

impl BillingRun<'_> {
    /// Adds to `report` the usage of every period of `tenants` that no plan covers at all and
    /// that passed its end + grace since a run last checked it; `closed`: their closed periods.
    ///
    /// # Errors
    /// When a read fails or a tenant's usage cannot be summed: nothing is reported then, and
    /// the caller bills the page's tenants one at a time, as for its other reads.
    pub(super) async fn report_uncovered(
        &self,
        tenants: &[Tenant],
        subscriptions: &PerTenant<SubscriptionChange>,
        closed: &PerTenant<BillingPeriod>,
        as_of: DateTime<Utc>,
        report: &mut RunReport,
    ) -> anyhow::Result<()> {
        let until = as_of - self.grace;
        let mut unchecked: Vec<Unchecked> = tenants
            .iter()
            .filter_map(|t| self.unchecked(t, slice(subscriptions, &t.id), slice(closed, &t.id), as_of))
            .collect();
        if unchecked.is_empty() {
            return Ok(());
        }
        let ids: Vec<TenantId> = unchecked.iter().map(|u| u.tenant.id.clone()).collect();
        let checked = self.store.uncovered_checked_of(&ids).await?;
        for u in &mut unchecked {
            if let Some(checked) = checked.get(&u.tenant.id) {
                u.periods.retain(|p| p.end() > *checked);
            }
        }
        unchecked.retain(|u| !u.periods.is_empty());
        let mut usage = UnitUsage::default();
        for u in &unchecked {
            // A period with no segment is one gap; cut at segments anyway, as `usage_of` does,
            // so the sums stay right whatever the periods are.
            let changes = slice(subscriptions, &u.tenant.id);
            let segment_bounds = u.periods.iter().flat_map(|p| segments(p, changes)).flat_map(|s| [s.start, s.end]);
            usage.cut(&u.tenant.id, u.periods.iter().flat_map(|p| [p.start(), p.end()]).chain(segment_bounds));
        }
        let Some((tenants, range)) = usage.scope() else { return Ok(()) };
        self.store.fold_rollups_of(&tenants, range, |row| usage.add(&row)).await?;
        let (mut found, mut marked) = (Vec::new(), Vec::new());
        for u in &unchecked {
            let (id, changes) = (&u.tenant.id, slice(subscriptions, &u.tenant.id));
            let rollups = usage.rollups(id).with_context(|| format!("{id}: unbilled usage"))?;
            for period in &u.periods {
                if let Some(unbilled) =
                    unbilled_usage(period, changes, &rollups).with_context(|| format!("{id}: unbilled usage"))?
                {
                    found.push(unbilled_period(u.tenant, period, &unbilled));
                }
            }
            if u.periods.iter().any(|p| u.closes_until.is_none_or(|end| p.end() > end)) {
                marked.push(id.clone());
            }
        }
        if !found.is_empty() {
            // A page billed again one tenant at a time (a later read failed) finds them again.
            let listed: HashSet<(String, DateTime<Utc>)> =
                report.unbilled.iter().map(|u| (u.tenant_id.clone(), u.period_start)).collect();
            report
                .unbilled
                .extend(found.into_iter().filter(|u| !listed.contains(&(u.tenant_id.clone(), u.period_start))));
        }
        if marked.is_empty() {
            return Ok(());
        }
        if let Err(error) = self.store.mark_uncovered_checked(&marked, until).await {
            tracing::warn!(tenants = marked.len(), error = ?error, "recording unbilled usage as reported failed; the next run reports it again");
        }
        Ok(())
    }

    /// `tenant`'s uncovered periods passed by `as_of` and after its latest closed period, and
    /// the end of the latest period this run closes for it; `None` without such periods.
    fn unchecked<'t>(
        &self,
        tenant: &'t Tenant,
        changes: &[SubscriptionChange],
        closed: &[BillingPeriod],
        as_of: DateTime<Utc>,
    ) -> Option<Unchecked<'t>> {
        let calendar = BillingCalendar::of(tenant);
        // Records may be stamped up to the allowed lateness before the tenant existed: the
        // periods they fall in before its first one are covered by nothing either.
        let created = changes.first().map_or(tenant.created_at, |c| c.effective_at.min(tenant.created_at));
        let first = created - self.allowed_lateness;
        let after = closed.iter().map(BillingPeriod::end).max();
        let periods = uncovered_periods(&calendar, changes, first, after, as_of - self.grace);
        if periods.is_empty() {
            return None;
        }
        let starts: HashSet<DateTime<Utc>> = closed.iter().map(BillingPeriod::start).collect();
        let due = due_periods(&calendar, changes, &starts, as_of, self.grace);
        Some(Unchecked { tenant, periods, closes_until: due.last().map(BillingPeriod::end) })
    }
}
