//! Billing a page of tenants together (DESIGN §13): one statement per table reads what the
//! whole page needs (subscriptions, closed periods, rollups folded into the few sums pricing
//! needs, billed lines of re-rated periods, credits), the invoices are priced in memory, and
//! one transaction issues them all. A tenant with several due periods has one closed per
//! pass, oldest first, each pass reading again what the previous one changed. Before the
//! first pass, the usage of periods no plan covers at all is reported (`uncovered_page.rs`).
//!
//! Failures stay the tenant's own: pricing fails per tenant; when the page's transaction
//! fails, its invoices are issued one by one (`Store::issue_invoice`); when a page's reads
//! fail, its tenants are billed one at a time.
//!
//! Stage: invoice orchestration (IO through the store); the steps per tenant are
//! [`BillingRun::prepare`]'s.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::billing_run::{BillingRun, IssuedInvoice, RunReport};
use super::unit_usage::UnitUsage;
use super::{carrier_periods, due_periods, segments};
use crate::aggregate::{BillingCalendar, Rollup};
use crate::domain::{BillingPeriod, CreditEntry, LineKey, NewInvoice, SubscriptionChange, Tenant, TenantId};
use crate::store::{IssueBatch, IssueInvoice, IssueOutcome, PerTenant};

/// A tenant's next due period in this pass.
pub(super) struct Due<'t> {
    pub tenant: &'t Tenant,
    pub period: BillingPeriod,
    /// Its closed periods and those this run already tried, oldest first.
    pub closed: Vec<BillingPeriod>,
    /// Whether later periods are due too (the next pass takes them).
    more: bool,
    /// No plan covers it: it is due only to carry late usage of the periods before it
    /// ([`carrier_periods`]), and gets an invoice only when there is some.
    pub carrier: bool,
}

/// What pricing one tenant's due period reads.
pub(super) struct TenantInputs<'a> {
    pub changes: &'a [SubscriptionChange],
    /// Usage of the due and re-rated periods, per unit (`unit_usage.rs`).
    pub rollups: Vec<Rollup>,
    /// (period start, line key, amount) billed for the re-rated periods.
    pub billed: &'a [(DateTime<Utc>, LineKey, Decimal)],
    pub ledger: &'a [CreditEntry],
}

pub(super) fn slice<'a, T>(rows: &'a PerTenant<T>, tenant: &TenantId) -> &'a [T] {
    rows.get(tenant).map_or(&[], Vec::as_slice)
}

fn fail(report: &mut RunReport, tenant: &TenantId, error: &anyhow::Error) {
    tracing::error!(tenant_id = %tenant, error = ?error, "billing a tenant failed");
    report.failures.push(format!("{tenant}: {error:#}"));
}

impl BillingRun<'_> {
    /// Bills `tenants` together; when reading for them fails, one at a time.
    pub(super) async fn bill_page(&self, tenants: &[Tenant], as_of: DateTime<Utc>, report: &mut RunReport) {
        let Err(error) = self.bill_together(tenants, as_of, report).await else { return };
        if let [tenant] = tenants {
            return fail(report, &tenant.id, &error);
        }
        tracing::warn!(tenants = tenants.len(), error = ?error, "billing a page of tenants failed; billing them one at a time");
        for tenant in tenants {
            if let Err(error) = self.bill_together(std::slice::from_ref(tenant), as_of, report).await {
                fail(report, &tenant.id, &error);
            }
        }
    }

    async fn bill_together(
        &self,
        tenants: &[Tenant],
        as_of: DateTime<Utc>,
        report: &mut RunReport,
    ) -> anyhow::Result<()> {
        let ids = |ts: &mut dyn Iterator<Item = &Tenant>| ts.map(|t| t.id.clone()).collect::<Vec<_>>();
        let subscriptions = self.store.subscriptions_of(&ids(&mut tenants.iter())).await?;
        let first_closed = self.store.closed_periods_of(&ids(&mut tenants.iter())).await?;
        // Before anything is issued: a period closed bounds what the next run checks.
        self.report_uncovered(tenants, &subscriptions, &first_closed, as_of, report).await?;
        let mut first_closed = Some(first_closed);
        let mut tried: PerTenant<BillingPeriod> = HashMap::new();
        let mut remaining: Vec<&Tenant> = tenants.iter().collect();
        while !remaining.is_empty() {
            let mut closed = match first_closed.take() {
                Some(closed) => closed,
                None => self.store.closed_periods_of(&ids(&mut remaining.iter().copied())).await?,
            };
            let due: Vec<Due> = remaining
                .iter()
                .filter_map(|t| {
                    let closed = closed.remove(&t.id).unwrap_or_default();
                    self.next_due(t, slice(&subscriptions, &t.id), closed, slice(&tried, &t.id), as_of)
                })
                .collect();
            if due.is_empty() {
                break;
            }
            let usage = self.usage_of(&due, &subscriptions).await?;
            let billed = self.billed_of(&due).await?;
            let ledgers = self.store.credit_entries_of(&ids(&mut due.iter().map(|d| d.tenant))).await?;
            let mut failed = HashSet::new();
            let mut ready = Vec::new();
            for d in &due {
                let id = &d.tenant.id;
                let inputs = usage.rollups(id).map_err(anyhow::Error::from).map(|rollups| TenantInputs {
                    changes: slice(&subscriptions, id),
                    rollups,
                    billed: slice(&billed, id),
                    ledger: slice(&ledgers, id),
                });
                match inputs.and_then(|inputs| self.prepare(d, &inputs, as_of, report)) {
                    Ok(Some(invoice)) => ready.push((id, invoice)),
                    Ok(None) if d.carrier => {}
                    Ok(None) => report.skipped += 1,
                    Err(error) => {
                        fail(report, id, &error);
                        failed.insert(id);
                    }
                }
            }
            for ((tenant, _), outcome) in ready.iter().zip(self.issue(&ready, as_of).await) {
                match outcome {
                    Ok(IssueOutcome::Issued(period, adjustments)) => {
                        report
                            .invoices_issued
                            .extend(std::iter::once(*period).chain(adjustments).map(IssuedInvoice::from));
                    }
                    Ok(IssueOutcome::AlreadyClosed | IssueOutcome::Busy) => report.skipped += 1,
                    Err(error) => {
                        fail(report, tenant, &error);
                        failed.insert(tenant);
                    }
                }
            }
            for d in &due {
                tried.entry(d.tenant.id.clone()).or_default().push(d.period);
            }
            remaining = due.iter().filter(|d| d.more && !failed.contains(&d.tenant.id)).map(|d| d.tenant).collect();
        }
        Ok(())
    }

    /// `tenant`'s oldest due period not tried yet in this run, if any. A period tried and not
    /// closed (another run held it) counts as closed from then on, as it did when each tenant
    /// was billed alone.
    fn next_due<'t>(
        &self,
        tenant: &'t Tenant,
        changes: &[SubscriptionChange],
        mut closed: Vec<BillingPeriod>,
        tried: &[BillingPeriod],
        as_of: DateTime<Utc>,
    ) -> Option<Due<'t>> {
        for period in tried {
            if !closed.iter().any(|c| c.start() == period.start()) {
                closed.push(*period);
            }
        }
        closed.sort_by_key(BillingPeriod::start);
        let starts = closed.iter().map(BillingPeriod::start).collect();
        let calendar = BillingCalendar::of(tenant);
        let mut due = due_periods(&calendar, changes, &starts, as_of, self.grace);
        due.extend(carrier_periods(&calendar, changes, &closed, as_of, self.grace, self.allowed_lateness));
        due.sort_by_key(BillingPeriod::start);
        let period = *due.first()?;
        let carrier = segments(&period, changes).is_empty();
        Some(Due { tenant, period, closed, more: due.len() > 1, carrier })
    }

    /// The usage of every due and re-rated period of the pass, one streamed read for the page.
    async fn usage_of(
        &self,
        due: &[Due<'_>],
        subscriptions: &PerTenant<SubscriptionChange>,
    ) -> anyhow::Result<UnitUsage> {
        let mut usage = UnitUsage::default();
        for d in due {
            let changes = slice(subscriptions, &d.tenant.id);
            let mut cuts = Vec::new();
            for period in std::iter::once(&d.period).chain(self.rerated(d)) {
                cuts.extend([period.start(), period.end()]);
                cuts.extend(segments(period, changes).iter().flat_map(|s| [s.start, s.end]));
            }
            usage.cut(&d.tenant.id, cuts);
        }
        if let Some((tenants, range)) = usage.scope() {
            self.store.fold_rollups_of(&tenants, range, |row| usage.add(&row)).await?;
        }
        Ok(usage)
    }

    /// What was billed for the periods the pass re-rates.
    async fn billed_of(&self, due: &[Due<'_>]) -> anyhow::Result<PerTenant<(DateTime<Utc>, LineKey, Decimal)>> {
        let rerating: Vec<&Due> = due.iter().filter(|d| self.rerated(d).next().is_some()).collect();
        let Some(from) = rerating.iter().flat_map(|d| self.rerated(d)).map(BillingPeriod::start).min() else {
            return Ok(HashMap::new());
        };
        let tenants: Vec<TenantId> = rerating.iter().map(|d| d.tenant.id.clone()).collect();
        Ok(self.store.billed_lines_of(&tenants, from).await?)
    }

    /// Issues `ready` in one transaction; when that fails (or for one invoice), one by one,
    /// so a failure is only its own tenant's. Outcomes in `ready`'s order.
    async fn issue(
        &self,
        ready: &[(&TenantId, NewInvoice)],
        as_of: DateTime<Utc>,
    ) -> Vec<anyhow::Result<IssueOutcome>> {
        if ready.len() > 1 {
            let invoices: Vec<_> = ready.iter().map(|(tenant, invoice)| (*tenant, invoice)).collect();
            let batch = IssueBatch { invoices: &invoices, invoice_prefix: &self.invoice_prefix, now: as_of };
            match self.store.issue_invoices(&batch).await {
                Ok(outcomes) => return outcomes.into_iter().map(Ok).collect(),
                Err(error) => {
                    tracing::warn!(error = ?error, "issuing a page of invoices failed; issuing them one by one")
                }
            }
        }
        let mut outcomes = Vec::with_capacity(ready.len());
        for (tenant, invoice) in ready {
            let issue = IssueInvoice { tenant, invoice, invoice_prefix: &self.invoice_prefix, now: as_of };
            outcomes.push(self.store.issue_invoice(&issue).await.map_err(anyhow::Error::from));
        }
        outcomes
    }
}
