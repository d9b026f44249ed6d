//! The quota evaluator: finds thresholds crossed by committed usage and raises each alert
//! once. [`QuotaEvaluator::evaluate_changed`] is one pass over the tenants whose data changed
//! since a pass last took them; [`QuotaEvaluator::evaluate_quotas`] is a sweep over every
//! tenant (tests call both with their own "now"); `worker.rs` runs both inside `tally serve`.
//! This file is the pass: its pages, the one write per page, failures and metrics; what one
//! tenant of a page raises is `tenant_evaluation.rs`.
//!
//! Stage: quota orchestration (IO). Inputs: the store (changed tenants, tenants, quota sets,
//! subscriptions, rollups via `invoice::period_usage`, alert keys), the plan catalog and
//! "now". Output: alert rows, unbilled-usage entries and their outbox events, written by the
//! store in one transaction per page (`store/raised.rs`). Never touches the ingest path: it
//! reads rollups the writer already committed, and learns which tenants changed from
//! `tenant_change` (`store/changes.rs`), which every process writes from marks its store
//! keeps in memory.
//!
//! Why two kinds of pass: a pass over every tenant costs a usage read for every tenant with
//! usage (about 1.5 ms each on PostgreSQL), while an alert is due within 60 s of the usage
//! that crosses (DESIGN §9). The changed pass reads only what changed, so its cost follows
//! the tenants that are active now, not all there are (when every pass read every tenant, one
//! tenant at a time, 100 000 tenants took 171 s a pass). The sweep
//! finds what no mark tells: a crossing that only time makes (a new period's fixed fee over a
//! spend quota), usage a process wrote and lost its marks for (it stopped before flushing),
//! writes by the CLI (rollup rebuilds), and a catalog another process changed; it runs at
//! start, every `quota.sweep_every` and when the catalog changes.
//!
//! Cost: per page of 500 tenants, 6 statements: the facts (`page_facts.rs`: subscriptions,
//! quota sets, alert keys, unbilled-usage entries, which tenants have usage) and the usage of
//! the periods whose evaluation needs it (`page_usage.rs`): per tenant with usage, the periods
//! it has not wholly covered by subscriptions, and those with a threshold not yet alerted,
//! summed per unit of its segments — `usage/current`'s read, for the whole page at once. A
//! tenant with no usage is drafted from none. Thresholds already alerted cost nothing more, so
//! a steady state writes nothing; what a page raises is written in one transaction, a handful
//! of multi-row statements (a surge that crosses thousands of tenants' quotas at once costs
//! a WAL flush per page, not one per alert).
//!
//! Unbilled usage (DESIGN §6) is found here too, for every tenant (deactivated ones as well):
//! the pass already reads each tenant's subscriptions, sees tenants with no plan (the billing
//! run only visits periods that have one) and runs within seconds of the usage. A period its
//! segments wholly cover costs nothing more; an uncovered one is read with the page (its
//! entries and its usage), and its first pass with usage writes the entry and its event once.
//! The `unbilled_records` gauge sums each tenant's count as of its last evaluation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use chrono::{DateTime, Utc};

use super::page_facts::PageFacts;
use super::page_usage::PageUsage;
use super::tenant_evaluation::TenantOutcome;
use crate::domain::{Tenant, TenantId};
use crate::metrics::Metrics;
use crate::plans::SharedCatalog;
use crate::rate::PlanCatalog;
use crate::store::{Announced, DbError, Raised, Recorded, Store};

/// Tenants read per statement, in a sweep and in a changed pass.
const TENANT_PAGE: usize = 500;

/// Evaluates quotas against committed usage.
#[derive(Clone)]
pub struct QuotaEvaluator {
    pub store: Store,
    pub catalog: SharedCatalog,
    pub metrics: Arc<Metrics>,
    /// Periods ending within this much of "now" can still receive usage, so are evaluated.
    pub allowed_lateness: chrono::Duration,
    /// Each tenant's unbilled records as of its last evaluation (no entry: none), summed
    /// into the gauge after every pass.
    unbilled: Arc<Mutex<HashMap<TenantId, i64>>>,
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EvaluationReport {
    /// Active tenants looked at.
    pub tenants: usize,
    /// Alerts raised (each with its outbox event).
    pub alerts_raised: usize,
    /// Tenants whose evaluation failed (logged; retried next pass).
    pub failures: usize,
    /// Unbilled-usage entries written (each with its `usage.unbilled` event).
    pub unbilled_raised: usize,
    /// Records no subscription covers, in the periods open for usage, of the tenants looked at.
    pub unbilled_records: i64,
}

impl QuotaEvaluator {
    /// An evaluator over `store`, with no tenant evaluated yet.
    pub fn new(
        store: Store,
        catalog: SharedCatalog,
        metrics: Arc<Metrics>,
        allowed_lateness: chrono::Duration,
    ) -> Self {
        Self { store, catalog, metrics, allowed_lateness, unbilled: Arc::default() }
    }

    /// A sweep: one pass over every tenant as of `now`.
    ///
    /// # Errors
    /// When the catalog or the tenant list cannot be read; a failing tenant is counted, not fatal.
    pub async fn evaluate_quotas(&self, now: DateTime<Utc>) -> anyhow::Result<EvaluationReport> {
        let started = std::time::Instant::now();
        let catalog = self.catalog.current(&self.store).await?;
        let mut report = EvaluationReport::default();
        let mut after: Option<TenantId> = None;
        loop {
            let page =
                self.store.list_tenants(after.as_ref(), TENANT_PAGE as u32).await.context("Failed to list tenants")?;
            self.evaluate_page(&catalog, &page, now, &mut report).await;
            match page.last() {
                Some(last) if page.len() == TENANT_PAGE => after = Some(last.id.clone()),
                _ => break,
            }
        }
        self.set_unbilled_gauge();
        self.metrics.record_quota_sweep(started.elapsed());
        Ok(report)
    }

    /// One pass over the tenants whose data changed since a pass last took them: this
    /// process's marks are flushed first, then every process's are taken. A tenant whose
    /// evaluation fails is marked again, for the next pass.
    ///
    /// # Errors
    /// When the catalog or the changed tenants cannot be read (the marks then stay).
    pub async fn evaluate_changed(&self, now: DateTime<Utc>) -> anyhow::Result<EvaluationReport> {
        let started = std::time::Instant::now();
        let catalog = self.catalog.current(&self.store).await?;
        self.store.flush_changed_tenants().await.context("Failed to write the changed tenants")?;
        let changed = self.store.take_changed_tenants().await.context("Failed to take the changed tenants")?;
        let mut report = EvaluationReport::default();
        for (done, ids) in (0..).step_by(TENANT_PAGE).zip(changed.chunks(TENANT_PAGE)) {
            let page = match self.store.tenants_among(ids).await {
                Ok(page) => page,
                Err(error) => {
                    self.store.mark_changed(&changed[done..]);
                    return Err(error).context("Failed to read the changed tenants");
                }
            };
            self.evaluate_page(&catalog, &page, now, &mut report).await;
        }
        self.metrics.record_changed_tenants(changed.len());
        self.set_unbilled_gauge();
        self.metrics.record_quota_pass(started.elapsed());
        Ok(report)
    }

    /// Evaluates a page of tenants into `report`, then writes what they raise together
    /// ([`Self::write_raised`]). A tenant whose evaluation or write fails is counted, logged
    /// and marked changed again, so that the next changed pass retries it.
    async fn evaluate_page(
        &self,
        catalog: &PlanCatalog,
        page: &[Tenant],
        now: DateTime<Utc>,
        report: &mut EvaluationReport,
    ) {
        let (facts, usage) = match self.read_page(catalog, page, now).await {
            Ok(read) => read,
            Err(error) => {
                report.failures += page.len();
                let ids: Vec<TenantId> = page.iter().map(|t| t.id.clone()).collect();
                self.store.mark_changed(&ids);
                tracing::warn!(tenants = page.len(), error = ?error, "quota evaluation of a page failed");
                return;
            }
        };
        let mut evaluated = Vec::with_capacity(page.len());
        for tenant in page {
            // Deactivated tenants too: their usage after the end is unbilled (DESIGN §6).
            match self.evaluate_tenant(catalog, tenant, &facts, &usage, now).await {
                Ok(outcome) => evaluated.push((tenant, outcome)),
                Err(error) => self.count_failed(&tenant.id, &error, report),
            }
        }
        let written = self.write_raised(&evaluated, now).await;
        for ((tenant, outcome), written) in evaluated.iter().zip(written) {
            match written {
                Ok(recorded) => {
                    report.tenants += usize::from(tenant.active);
                    report.alerts_raised += self.announce_alerts(&outcome.raised, &recorded);
                    report.unbilled_raised += self.announce_unbilled(&outcome.raised, &recorded);
                    report.unbilled_records += outcome.unbilled_records;
                    self.note_unbilled(&tenant.id, outcome.unbilled_records);
                }
                Err(error) => self.count_failed(&tenant.id, &error, report),
            }
        }
    }

    /// Writes what the page's tenants raised in one transaction; each tenant's part of what
    /// was recorded. When that fails for another reason than an outage, each tenant's rows
    /// are written on their own, so one tenant that cannot be written holds up no other.
    async fn write_raised(
        &self,
        evaluated: &[(&Tenant, TenantOutcome)],
        now: DateTime<Utc>,
    ) -> Vec<Result<Recorded, anyhow::Error>> {
        let mut page = Raised::default();
        for (_, outcome) in evaluated {
            page.alerts.extend(outcome.raised.alerts.iter().cloned());
            page.unbilled.extend(outcome.raised.unbilled.iter().cloned());
            page.unbilled_changed.extend(outcome.raised.unbilled_changed.iter().cloned());
        }
        match self.store.record_raised(&page, now).await {
            Ok(recorded) => split_recorded(evaluated, recorded).into_iter().map(Ok).collect(),
            Err(error @ DbError::Unavailable(_)) => {
                let error = anyhow::Error::new(error).context("Failed to write the page's alerts");
                evaluated.iter().map(|_| Err(anyhow::anyhow!("{error:#}"))).collect()
            }
            Err(error) => {
                tracing::warn!(error = ?error, "writing a page's alerts failed; writing its tenants one by one");
                let mut written = Vec::with_capacity(evaluated.len());
                for (_, outcome) in evaluated {
                    written.push(self.store.record_raised(&outcome.raised, now).await.map_err(anyhow::Error::new));
                }
                written
            }
        }
    }

    /// Counts the alerts recorded now, each in the metrics and the log; how many.
    fn announce_alerts(&self, raised: &Raised, recorded: &Recorded) -> usize {
        recorded_now(&raised.alerts, &recorded.alerts)
            .inspect(|alert| {
                self.metrics.quota_alerts_raised.inc();
                tracing::info!(tenant_id = %alert.tenant_id, quota_id = %alert.quota_id, threshold = alert.threshold,
                    late = alert.late, "quota threshold crossed");
            })
            .count()
    }

    /// Counts the unbilled-usage entries recorded now, each in the metrics and the log; how many.
    fn announce_unbilled(&self, raised: &Raised, recorded: &Recorded) -> usize {
        recorded_now(&raised.unbilled, &recorded.unbilled)
            .inspect(|entry| {
                self.metrics.unbilled_entries.inc();
                tracing::warn!(tenant_id = %entry.tenant_id, reason = %entry.reason, records = entry.records,
                    "unbilled usage");
            })
            .count()
    }

    /// Counts a tenant whose evaluation or write failed and marks it for the next pass.
    fn count_failed(&self, tenant: &TenantId, error: &anyhow::Error, report: &mut EvaluationReport) {
        report.failures += 1;
        self.store.mark_changed([tenant]);
        tracing::warn!(tenant_id = %tenant, error = ?error, "quota evaluation failed");
    }

    /// What evaluating `page` reads: its facts, then the usage of the periods its tenants'
    /// evaluation needs ([`Self::periods_to_read`]), a statement for the whole page each.
    async fn read_page(
        &self,
        catalog: &PlanCatalog,
        page: &[Tenant],
        now: DateTime<Utc>,
    ) -> Result<(PageFacts, PageUsage), DbError> {
        let facts = PageFacts::read(&self.store, page, now, self.allowed_lateness).await?;
        let wanted =
            page.iter().map(|t| (&t.id, facts.subscriptions(&t.id), self.periods_to_read(catalog, t, &facts, now)));
        let usage = PageUsage::read(&self.store, wanted).await?;
        Ok((facts, usage))
    }

    /// Keeps `records` as the tenant's unbilled count.
    fn note_unbilled(&self, tenant: &TenantId, records: i64) {
        let mut unbilled = self.unbilled.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if records == 0 {
            unbilled.remove(tenant);
        } else {
            unbilled.insert(tenant.clone(), records);
        }
    }

    /// Sets the `unbilled_records` gauge to the sum over every tenant evaluated so far.
    fn set_unbilled_gauge(&self) {
        let unbilled = self.unbilled.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        self.metrics.unbilled_records.set(unbilled.values().sum());
    }
}

/// The rows of `rows` that `took` says were recorded now.
fn recorded_now<'a, T>(rows: &'a [Announced<T>], took: &'a [bool]) -> impl Iterator<Item = &'a T> {
    rows.iter().zip(took).filter(|(_, took)| **took).map(|(announced, _)| &announced.row)
}

/// Each evaluated tenant's part of what the page's write recorded: the page's rows are its
/// tenants' in order, so each takes as many flags as it raised rows.
fn split_recorded(evaluated: &[(&Tenant, TenantOutcome)], recorded: Recorded) -> Vec<Recorded> {
    let (mut alerts, mut unbilled) = (recorded.alerts.into_iter(), recorded.unbilled.into_iter());
    evaluated
        .iter()
        .map(|(_, outcome)| Recorded {
            alerts: alerts.by_ref().take(outcome.raised.alerts.len()).collect(),
            unbilled: unbilled.by_ref().take(outcome.raised.unbilled.len()).collect(),
        })
        .collect()
}
