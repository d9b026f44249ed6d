//! The billing run: a flat sequence of named steps per tenant and due period —
//! gather → draft → lines → adjustments for earlier periods → credits → assemble → issue —
//! taken by a page of tenants at a time (`billing_page.rs`: one read per table and one
//! transaction for the page). A page's invoices commit together, so a run killed half way
//! resumes at the first page it did not commit. Then it reminds tenants of invoices left
//! unpaid past their due date (`overdue.rs`).
//!
//! Stage: invoice orchestration (IO through the store). Inputs: the store, the plan catalog
//! (read once by the caller), settings and `as_of`; output: a [`RunReport`]. Must not read the
//! clock, parse plans, or import `api`/`http`.

use std::collections::BTreeMap;

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use tokio::sync::watch;

use super::billing_page::{Due, TenantInputs};
use super::{
    adjustments, assemble_invoice, balances, covered_until, draft_invoice, segment_inputs, segment_lines, segments,
    unbilled_note, unbilled_usage, Adjustment, InvoiceDraft, InvoiceParts, Unbilled, UnbilledReason,
};
use crate::aggregate::{BillingCalendar, Rollup};
use crate::domain::{
    BillingPeriod, Currency, CustomerSnapshot, InvoiceDocument, InvoiceId, InvoiceKind, IssuerSnapshot, LineKey, Money,
    NewInvoice, PaymentTerms,
};
use crate::domain::{SubscriptionChange, Tenant, TenantId};
use crate::rate::PlanCatalog;
use crate::store::{RunProgress, Store};

/// What a run needs besides the clock.
pub struct BillingRun<'a> {
    pub store: &'a Store,
    /// Every plan version, read once by the caller (see `plans::SharedCatalog`).
    pub catalog: &'a PlanCatalog,
    pub issuer: IssuerSnapshot,
    pub invoice_prefix: String,
    pub grace: Duration,
    /// Records may arrive this late, so closed periods this recent are re-rated.
    pub allowed_lateness: Duration,
    /// Terms of tenants without their own.
    pub payment_terms: PaymentTerms,
    /// Tenants billed together ([`BILLING_PAGE`] at most; 1: tenant by tenant).
    pub page_size: usize,
    /// How long after its due date an unpaid invoice is reminded of; `None`: never.
    pub overdue_reminder: Option<Duration>,
}

/// What a run did.
#[derive(Debug, Default, Serialize)]
pub struct RunReport {
    pub as_of: Option<DateTime<Utc>>,
    pub invoices_issued: Vec<IssuedInvoice>,
    /// Periods another run closed or was closing at the same time.
    pub skipped: usize,
    pub failures: Vec<String>,
    /// Usage no subscription covers (DESIGN §6), when any: in the periods this run closed, and
    /// in the periods with no plan at all that it passed (`uncovered_page.rs`), each once.
    pub unbilled: Vec<UnbilledPeriod>,
    /// Invoices this run reminded the tenant of, still unpaid past their due date
    /// (`overdue.rs`), earliest due first.
    pub invoices_reminded: Vec<IssuedInvoice>,
}

/// A closed or passed period's usage that no subscription covers.
#[derive(Debug, Clone, Serialize)]
pub struct UnbilledPeriod {
    pub tenant_id: String,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub reason: UnbilledReason,
    /// Per meter, as decimal strings.
    pub usage: BTreeMap<&'static str, String>,
    pub records: i64,
}

/// One invoice a run issued.
#[derive(Debug, Clone, Serialize)]
#[serde(into = "IssuedInvoiceJson")]
pub struct IssuedInvoice {
    pub invoice_id: InvoiceId,
    pub number: String,
    pub kind: InvoiceKind,
    pub total: Money,
}

impl From<InvoiceDocument> for IssuedInvoice {
    fn from(doc: InvoiceDocument) -> Self {
        Self {
            total: Money::new(doc.content.total, doc.content.currency),
            kind: doc.content.kind,
            invoice_id: doc.id,
            number: doc.number,
        }
    }
}

/// How a run report shows an issued invoice: the total at the currency's precision, beside
/// its currency code.
#[derive(Debug, Serialize)]
pub struct IssuedInvoiceJson {
    tenant_id: String,
    invoice_id: String,
    number: String,
    kind: &'static str,
    total: String,
    currency: &'static str,
}

impl From<IssuedInvoice> for IssuedInvoiceJson {
    fn from(i: IssuedInvoice) -> Self {
        Self {
            tenant_id: i.invoice_id.tenant().to_string(),
            invoice_id: i.invoice_id.to_string(),
            number: i.number,
            kind: i.kind.as_str(),
            total: i.total.round_to_minor_units().format_amount(),
            currency: i.total.currency.code(),
        }
    }
}

/// Tenants billed together by default: read with one statement per table, issued in one
/// transaction (DESIGN §13: round trips per page of tenants, not per tenant).
pub const BILLING_PAGE: usize = 500;

impl BillingRun<'_> {
    /// Closes every period whose end + grace is before `as_of`, for every tenant.
    ///
    /// # Errors
    /// Only when the tenant list cannot be read; per-tenant failures are reported
    /// in the [`RunReport`] and do not stop the others.
    pub async fn run(&self, as_of: DateTime<Utc>) -> anyhow::Result<RunReport> {
        self.run_observed(as_of, &watch::Sender::new(RunProgress::default())).await
    }

    /// [`BillingRun::run`], counting the tenants done in `progress`.
    ///
    /// # Errors
    /// Only when the tenant list cannot be read.
    pub async fn run_observed(
        &self,
        as_of: DateTime<Utc>,
        progress: &watch::Sender<RunProgress>,
    ) -> anyhow::Result<RunReport> {
        let mut report = RunReport { as_of: Some(as_of), ..RunReport::default() };
        let tenants_total = self.store.count_tenants().await.context("Failed to count tenants")?;
        progress.send_replace(RunProgress { tenants_done: 0, tenants_total });
        let page_size = self.page_size.clamp(1, BILLING_PAGE);
        let mut after: Option<TenantId> = None;
        loop {
            let list = self.store.list_tenants(after.as_ref(), 500).await.context("Failed to list tenants")?;
            for page in list.chunks(page_size) {
                self.bill_page(page, as_of, &mut report).await;
                progress.send_modify(|p| p.tenants_done += i64::try_from(page.len()).unwrap_or(i64::MAX));
            }
            match list.last() {
                Some(last) if list.len() == 500 => after = Some(last.id.clone()),
                _ => break,
            }
        }
        self.remind_overdue(as_of, &mut report).await;
        Ok(report)
    }

    /// The steps for one tenant's due `period` once its inputs are read (pure): draft →
    /// adjustments for the earlier periods still open to late usage → what no plan covers
    /// (into `report.unbilled`, and as notes) → credits → the assembled invoice, with one
    /// adjustment invoice per other currency those adjustments were billed in. `None` when no
    /// plan priced the period after all, or when a period no plan covers has no late usage to
    /// carry.
    pub(super) fn prepare(
        &self,
        due: &Due<'_>,
        inputs: &TenantInputs<'_>,
        as_of: DateTime<Utc>,
        report: &mut RunReport,
    ) -> anyhow::Result<Option<NewInvoice>> {
        let (tenant, period, changes) = (due.tenant, &due.period, inputs.changes);
        let draft = self.draft(tenant, changes, period, &inputs.rollups)?;
        let late = self.late_adjustments(due, inputs)?;
        // A carrier's invoice is in the currency of the latest period it adjusts.
        let currency = match &draft {
            Some(draft) => draft.currency,
            None if due.carrier => match late.iter().rev().find_map(|l| l.currency) {
                Some(currency) => currency,
                None => return Ok(None),
            },
            None => return Ok(None),
        };
        // One invoice is in one currency: late usage billed in another goes on its own.
        let mut elsewhere: BTreeMap<Currency, Vec<Adjustment>> = BTreeMap::new();
        let mut adjustments = Vec::new();
        for l in late {
            match l.currency {
                Some(other) if other != currency => elsewhere.entry(other).or_default().extend(l.lines),
                _ => adjustments.extend(l.lines),
            }
        }
        let period_lines = match draft {
            Some(draft) => segment_lines(&draft.segments),
            None if adjustments.is_empty() && elsewhere.is_empty() => return Ok(None),
            None => Vec::new(),
        };
        let mut notes = Vec::new();
        if !covered_until(period, changes, period.end()) {
            if let Some(u) = unbilled_usage(period, changes, &inputs.rollups)? {
                // A carrier's period was reported as no plan's already (`uncovered_page.rs`).
                let listed = report
                    .unbilled
                    .iter()
                    .any(|l| l.tenant_id == tenant.id.as_str() && l.period_start == period.start());
                if !listed {
                    report.unbilled.push(unbilled_period(tenant, period, &u));
                }
                notes = unbilled_note(period, &u);
            }
        }
        let invoice = |kind, currency, period_lines, adjustments, notes| {
            assemble_invoice(InvoiceParts {
                kind,
                issuer: self.issuer.clone(),
                customer: customer(tenant, period),
                period: *period,
                issued_at: as_of,
                payment_terms: tenant.details.payment_terms.unwrap_or(self.payment_terms),
                currency,
                tax_rate: tenant.details.tax_rate,
                period_lines,
                adjustments,
                notes,
                credits: &balances(inputs.ledger, currency),
            })
        };
        let mut issued = invoice(InvoiceKind::Period, currency, period_lines, adjustments, notes)?;
        for (other, adjustments) in elsewhere {
            issued.adjustment_invoices.push(invoice(
                InvoiceKind::Adjustment,
                other,
                Vec::new(),
                adjustments,
                Vec::new(),
            )?);
        }
        Ok(Some(issued))
    }

    /// The adjustments for each closed period before `due`'s ([`Self::rerated`]) that has
    /// any, oldest first, with the currency it was billed in.
    fn late_adjustments(&self, due: &Due<'_>, inputs: &TenantInputs<'_>) -> anyhow::Result<Vec<LatePeriod>> {
        let mut late = Vec::new();
        for earlier in self.rerated(due) {
            let rerated = self.draft(due.tenant, inputs.changes, earlier, &inputs.rollups)?;
            let mut billed: BTreeMap<LineKey, Decimal> = BTreeMap::new();
            for (_, key, amount) in inputs.billed.iter().filter(|(start, _, _)| *start == earlier.start()) {
                *billed.entry(*key).or_default() += amount;
            }
            let segments = rerated.as_ref().map_or(&[][..], |d| d.segments.as_slice());
            let lines = adjustments(*earlier, segments, &billed);
            if !lines.is_empty() {
                late.push(LatePeriod { currency: rerated.map(|d| d.currency), lines });
            }
        }
        Ok(late)
    }

    /// The closed periods before `due`'s that usage (late records, corrections) may have
    /// changed since the tenant's previous invoice: re-rated and compared with what was billed.
    ///
    /// That invoice closed the period before `due`'s, so it was issued after `due`'s start;
    /// usage arriving since can reach back at most the allowed lateness from then (records and
    /// corrections alike are refused beyond it). So every period ending after `due`'s start −
    /// lateness may have changed — the grace on top covers records that committed while that
    /// run was reading. (Measured from the run's own `as_of`, the window missed usage that
    /// arrived between the previous run and the end of the lateness: a late record 30 days old
    /// for a period two closings back was never billed.)
    pub(super) fn rerated<'d>(&self, due: &'d Due<'_>) -> impl Iterator<Item = &'d BillingPeriod> {
        let start = due.period.start();
        let open_to_late = start - self.allowed_lateness - self.grace;
        due.closed.iter().filter(move |p| p.start() < start && p.end() > open_to_late)
    }

    /// The draft of `period` priced with its own plan versions, from `rollups` covering it.
    fn draft(
        &self,
        tenant: &Tenant,
        changes: &[SubscriptionChange],
        period: &BillingPeriod,
        rollups: &[Rollup],
    ) -> anyhow::Result<Option<InvoiceDraft>> {
        let inputs = segment_inputs(self.catalog, &segments(period, changes), period, rollups)?;
        Ok(draft_invoice(period, &inputs, tenant.details.tax_rate)?)
    }
}

/// A re-rated period's adjustments.
struct LatePeriod {
    /// What it was billed in; `None` when no plan prices it any more.
    currency: Option<Currency>,
    lines: Vec<Adjustment>,
}

/// A period's uncovered usage as the report shows it.
pub(super) fn unbilled_period(tenant: &Tenant, period: &BillingPeriod, u: &Unbilled) -> UnbilledPeriod {
    let q = u.quantities;
    UnbilledPeriod {
        tenant_id: tenant.id.to_string(),
        period_start: period.start(),
        period_end: period.end(),
        reason: u.reason,
        usage: BTreeMap::from([
            ("cpu_cycles", q.cpu_cycles.normalize().to_string()),
            ("memory_gb_seconds", q.memory_gb_seconds.normalize().to_string()),
            ("invocations", q.invocations.normalize().to_string()),
        ]),
        records: u.records,
    }
}

/// The customer as `period`'s invoice shows it: its dates in the zone that period followed.
fn customer(tenant: &Tenant, period: &BillingPeriod) -> CustomerSnapshot {
    let d = &tenant.details;
    CustomerSnapshot {
        tenant_id: tenant.id.to_string(),
        name: d.name.clone(),
        billing_emails: d.billing_emails.clone(),
        address: d.address.clone(),
        tax_id: d.tax_id.clone(),
        timezone: BillingCalendar::of(tenant).zone_at(period.start()).name().to_owned(),
    }
}
