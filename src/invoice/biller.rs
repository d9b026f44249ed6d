//! The billing service: one [`Biller`] runs billing for the HTTP route (`runBilling`), the
//! scheduler inside `tally serve` ([`Biller::run_every`]) and `tally billing run` alike, and applies what a run means
//! for the rest of the service (metrics; caches that must forget the tenants it invoiced).
//!
//! Stage: invoice orchestration. Inputs are the store, the shared plan catalog and an `as_of`;
//! the output is a [`RunReport`]. Must not import `api`, `http` or `ingest`: its errors are its
//! own ([`AsOfError`]) and the edge converts them; ingest's tenant cache listens through
//! [`InvoiceIssued`].

use std::sync::Arc;

use chrono::{DateTime, Months, Utc};
use tokio::sync::watch;

use super::{BillingRun, RunReport};
use crate::clock::SharedClock;
use crate::domain::TenantId;
use crate::domain::{IssuerSnapshot, PaymentTerms};
use crate::metrics::Metrics;
use crate::plans::SharedCatalog;
use crate::rate::PlanCatalog;
use crate::store::{RunProgress, Store};

/// Billing settings the routes, the scheduler and the CLI share.
#[derive(Debug, Clone)]
pub struct BillingConfig {
    pub issuer: IssuerSnapshot,
    pub invoice_prefix: String,
    pub credit_note_prefix: String,
    pub grace: chrono::Duration,
    pub allowed_lateness: chrono::Duration,
    pub allow_time_travel: bool,
    /// Terms of tenants without their own (`TALLY_PAYMENT_TERMS`).
    pub payment_terms: PaymentTerms,
    /// How long after its due date an unpaid invoice is reminded of (`TALLY_OVERDUE_REMINDER`);
    /// `None`: never.
    pub overdue_reminder: Option<chrono::Duration>,
}

/// How far past "now" a run may look, in months (a few billing periods), also with time
/// travel: a run closes every period that ended before `as_of`, so an `as_of` centuries
/// ahead would loop over centuries of periods (DESIGN §12).
pub const MAX_AS_OF_AHEAD_MONTHS: u32 = 3;

/// Why a requested `as_of` was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AsOfError {
    /// `as_of` is after "now" and time travel is off.
    #[error("as_of is in the future; set TALLY_ALLOW_TIME_TRAVEL=1 (tests, staging) to allow it")]
    TimeTravelNotAllowed,
    /// `as_of` is more than [`MAX_AS_OF_AHEAD_MONTHS`] past "now".
    #[error("as_of is more than {MAX_AS_OF_AHEAD_MONTHS} months ahead of now; a run may look at most that far ahead")]
    TooFarAhead,
}

impl BillingConfig {
    /// A run over `store` pricing with `catalog`, with these settings.
    pub fn run<'a>(&self, store: &'a Store, catalog: &'a PlanCatalog) -> BillingRun<'a> {
        BillingRun {
            store,
            catalog,
            issuer: self.issuer.clone(),
            invoice_prefix: self.invoice_prefix.clone(),
            grace: self.grace,
            allowed_lateness: self.allowed_lateness,
            payment_terms: self.payment_terms,
            page_size: super::BILLING_PAGE,
            overdue_reminder: self.overdue_reminder,
        }
    }

    /// Refuses an `as_of` in the future unless time travel is allowed, and one more than
    /// [`MAX_AS_OF_AHEAD_MONTHS`] ahead in any case.
    ///
    /// # Errors
    /// [`AsOfError::TimeTravelNotAllowed`], [`AsOfError::TooFarAhead`].
    pub fn check_as_of(&self, as_of: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), AsOfError> {
        if as_of > now && !self.allow_time_travel {
            return Err(AsOfError::TimeTravelNotAllowed);
        }
        if now.checked_add_months(Months::new(MAX_AS_OF_AHEAD_MONTHS)).is_none_or(|limit| as_of > limit) {
            return Err(AsOfError::TooFarAhead);
        }
        Ok(())
    }
}

/// Told about every invoice a run issued, e.g. so a cache of tenant state drops that tenant
/// (a `reject` tenant refuses usage for the newly closed period at once on this node).
pub trait InvoiceIssued: Send + Sync {
    /// `tenant` has a new invoice.
    fn invoice_issued(&self, tenant: &TenantId);
}

/// Runs billing and applies what a run means for the rest of the service.
#[derive(Clone)]
pub struct Biller {
    pub config: BillingConfig,
    pub catalog: SharedCatalog,
    pub metrics: Arc<Metrics>,
    /// Who hears of each issued invoice (none in the CLI).
    pub listener: Option<Arc<dyn InvoiceIssued>>,
}

impl Biller {
    /// One billing run as of `as_of`, priced with the current plan catalog.
    ///
    /// # Errors
    /// When the run cannot start (catalog or tenant list unreadable).
    pub async fn run(&self, store: &Store, as_of: DateTime<Utc>) -> anyhow::Result<RunReport> {
        self.run_observed(store, as_of, &watch::Sender::new(RunProgress::default())).await
    }

    /// [`Biller::run`], telling `progress` how many tenants it has billed of how many.
    ///
    /// # Errors
    /// When the run cannot start (catalog or tenant list unreadable).
    pub async fn run_observed(
        &self,
        store: &Store,
        as_of: DateTime<Utc>,
        progress: &watch::Sender<RunProgress>,
    ) -> anyhow::Result<RunReport> {
        let catalog = self.catalog.current(store).await?;
        let report = self.config.run(store, &catalog).run_observed(as_of, progress).await?;
        self.metrics.record_billing_run(report.invoices_issued.len(), report.invoices_reminded.len());
        if let Some(listener) = &self.listener {
            for issued in &report.invoices_issued {
                listener.invoice_issued(issued.invoice_id.tenant());
            }
        }
        Ok(report)
    }

    /// The scheduler inside `tally serve`: a run every `every`, as of the clock's "now", for
    /// ever. Runs may overlap with runs on other nodes: periods are claimed in the database.
    pub async fn run_every(&self, every: std::time::Duration, store: Store, clock: SharedClock) {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match self.run(&store, clock.now()).await {
                Ok(report)
                    if !report.invoices_issued.is_empty()
                        || !report.invoices_reminded.is_empty()
                        || !report.failures.is_empty() =>
                {
                    tracing::info!(
                        issued = report.invoices_issued.len(),
                        reminded = report.invoices_reminded.len(),
                        failures = report.failures.len(),
                        "scheduled billing run"
                    );
                }
                Ok(_) => {}
                Err(error) => tracing::error!(error = ?error, "scheduled billing run failed"),
            }
        }
    }
}
