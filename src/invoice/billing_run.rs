//! The billing run: a flat sequence of named steps per tenant and due period —
//! gather → draft → lines → adjustments for earlier periods → credits → assemble → issue.
//! Each period is its own transaction, so a run killed half way resumes where it stopped.
//!
//! Stage: invoice orchestration (IO through the store). Inputs: the store, the plan catalog
//! (read once by the caller), settings and `as_of`; output: a [`RunReport`]. Must not read the
//! clock, parse plans, or import `api`/`http`.

use std::collections::{BTreeMap, HashSet};

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use super::{
    adjustments, assemble_invoice, balances, covered_until, draft_invoice, due_periods, gather_segments, segment_lines,
    unbilled_note, unbilled_usage, Adjustment, InvoiceDraft, InvoiceParts, UnbilledReason,
};
use crate::domain::{
    BillingPeriod, CustomerSnapshot, InvoiceId, IssuerSnapshot, LineKey, LineSnapshot, Money, PaymentTerms,
};
use crate::domain::{SubscriptionChange, Tenant, TenantId};
use crate::rate::PlanCatalog;
use crate::store::{IssueInvoice, IssueOutcome, Store};

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
}

/// What a run did.
#[derive(Debug, Default, Serialize)]
pub struct RunReport {
    pub as_of: Option<DateTime<Utc>>,
    pub invoices_issued: Vec<IssuedInvoice>,
    /// Periods another run closed or was closing at the same time.
    pub skipped: usize,
    pub failures: Vec<String>,
    /// Usage no subscription covers in the periods this run closed (DESIGN §6), when any.
    /// (A tenant with no plan has no period to close: the quota evaluator's entries and
    /// `usage/current` show its usage.)
    pub unbilled: Vec<UnbilledPeriod>,
}

/// A closed period's usage that no subscription covers.
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
    pub total: Money,
}

/// How a run report shows an issued invoice: the total at the currency's precision, beside
/// its currency code.
#[derive(Debug, Serialize)]
pub struct IssuedInvoiceJson {
    tenant_id: String,
    invoice_id: String,
    number: String,
    total: String,
    currency: &'static str,
}

impl From<IssuedInvoice> for IssuedInvoiceJson {
    fn from(i: IssuedInvoice) -> Self {
        Self {
            tenant_id: i.invoice_id.tenant().to_string(),
            invoice_id: i.invoice_id.to_string(),
            number: i.number,
            total: i.total.round_to_minor_units().format_amount(),
            currency: i.total.currency.code(),
        }
    }
}

impl BillingRun<'_> {
    /// Closes every period whose end + grace is before `as_of`, for every tenant.
    ///
    /// # Errors
    /// Only when the tenant list cannot be read; per-tenant failures are reported
    /// in the [`RunReport`] and do not stop the others.
    pub async fn run(&self, as_of: DateTime<Utc>) -> anyhow::Result<RunReport> {
        let mut report = RunReport { as_of: Some(as_of), ..RunReport::default() };
        let mut after: Option<TenantId> = None;
        loop {
            let page = self.store.list_tenants(after.as_ref(), 500).await.context("Failed to list tenants")?;
            for tenant in &page {
                if let Err(error) = self.bill_tenant(tenant, as_of, &mut report).await {
                    tracing::error!(tenant_id = %tenant.id, error = ?error, "billing a tenant failed");
                    report.failures.push(format!("{}: {error:#}", tenant.id));
                }
            }
            match page.last() {
                Some(last) if page.len() == 500 => after = Some(last.id.clone()),
                _ => return Ok(report),
            }
        }
    }

    #[tracing::instrument(skip_all, fields(tenant_id = %tenant.id))]
    async fn bill_tenant(&self, tenant: &Tenant, as_of: DateTime<Utc>, report: &mut RunReport) -> anyhow::Result<()> {
        let changes = self.store.subscriptions(&tenant.id).await?;
        let mut closed = self.store.closed_periods(&tenant.id).await?;
        let closed_starts: HashSet<DateTime<Utc>> = closed.iter().map(BillingPeriod::start).collect();
        for period in due_periods(tenant.details.timezone, &changes, &closed_starts, as_of, self.grace) {
            let mut unbilled = None;
            if !covered_until(&period, &changes, period.end()) {
                let rollups = self.store.rollups(&tenant.id, period.start(), period.end()).await?;
                unbilled = unbilled_usage(&period, &changes, &rollups)?;
                if let Some(u) = &unbilled {
                    let q = u.quantities;
                    report.unbilled.push(UnbilledPeriod {
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
                    });
                }
            }
            let notes = unbilled.map(|u| unbilled_note(&period, &u)).unwrap_or_default();
            match self.close_period((tenant, &changes), &period, &closed, (as_of, notes)).await? {
                IssueOutcome::Issued(doc) => report.invoices_issued.push(IssuedInvoice {
                    total: Money::new(doc.content.total, doc.content.currency),
                    invoice_id: doc.id,
                    number: doc.number,
                }),
                IssueOutcome::AlreadyClosed | IssueOutcome::Busy => report.skipped += 1,
            }
            closed.push(period);
        }
        Ok(())
    }

    async fn close_period(
        &self,
        (tenant, changes): (&Tenant, &[SubscriptionChange]),
        period: &BillingPeriod,
        closed: &[BillingPeriod],
        (as_of, notes): (DateTime<Utc>, Vec<LineSnapshot>),
    ) -> anyhow::Result<IssueOutcome> {
        let Some(draft) = self.draft((tenant, changes), period).await? else {
            return Ok(IssueOutcome::AlreadyClosed);
        };
        let mut late = Vec::new();
        for earlier in
            closed.iter().filter(|p| p.start() < period.start() && p.end() > as_of - self.allowed_lateness - self.grace)
        {
            late.extend(self.adjustments_for((tenant, changes), earlier).await?);
        }
        let ledger = self.store.credit_entries(&tenant.id).await?;
        let credits = balances(&ledger, draft.currency);
        let assembled = assemble_invoice(InvoiceParts {
            issuer: self.issuer.clone(),
            customer: customer(tenant),
            period: *period,
            issued_at: as_of,
            payment_terms: tenant.details.payment_terms.unwrap_or(self.payment_terms),
            currency: draft.currency,
            tax_rate: tenant.details.tax_rate,
            period_lines: segment_lines(&draft.segments),
            adjustments: late,
            notes,
            credits: &credits,
        })?;
        let issue =
            IssueInvoice { tenant: &tenant.id, invoice: &assembled, invoice_prefix: &self.invoice_prefix, now: as_of };
        Ok(self.store.issue_invoice(&issue).await?)
    }

    async fn draft(
        &self,
        (tenant, changes): (&Tenant, &[SubscriptionChange]),
        period: &BillingPeriod,
    ) -> anyhow::Result<Option<InvoiceDraft>> {
        let inputs = gather_segments(self.store, self.catalog, &tenant.id, changes, period).await?;
        Ok(draft_invoice(period, &inputs, tenant.details.tax_rate)?)
    }

    /// Re-rates a closed period with its own plan versions and compares with what was billed.
    async fn adjustments_for(
        &self,
        (tenant, changes): (&Tenant, &[SubscriptionChange]),
        period: &BillingPeriod,
    ) -> anyhow::Result<Vec<Adjustment>> {
        let rerated = self.draft((tenant, changes), period).await?.map(|d| d.segments).unwrap_or_default();
        let mut billed: BTreeMap<LineKey, Decimal> = BTreeMap::new();
        for (key, amount) in self.store.billed_lines(&tenant.id, period.start()).await? {
            *billed.entry(key).or_default() += amount;
        }
        Ok(adjustments(*period, &rerated, &billed))
    }
}

fn customer(tenant: &Tenant) -> CustomerSnapshot {
    let d = &tenant.details;
    CustomerSnapshot {
        tenant_id: tenant.id.to_string(),
        name: d.name.clone(),
        billing_emails: d.billing_emails.clone(),
        address: d.address.clone(),
        tax_id: d.tax_id.clone(),
        timezone: d.timezone.name().to_owned(),
    }
}
