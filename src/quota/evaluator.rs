//! The quota evaluator: finds thresholds crossed by committed usage and raises each alert
//! once. [`QuotaEvaluator::evaluate_quotas`] is one pass (tests call it with their own "now");
//! [`QuotaEvaluator::run_every`] is the worker inside `tally serve`.
//!
//! Stage: quota orchestration (IO). Inputs: the store (tenants, quota sets, subscriptions,
//! rollups via `invoice::period_usage`, alert keys), the plan catalog and "now". Output: alert
//! rows and their outbox events, written by the store in one transaction each. Never touches
//! the ingest path: it reads rollups the writer already committed.
//!
//! Cost of a pass, per active tenant: 2 reads (quota set, subscriptions); for a tenant with
//! quotas in force, 1 more (its alert keys) plus, per period still open for usage that has a
//! threshold not yet alerted, the period's rollups and the draft — the same reads as
//! `usage/current`. Thresholds already alerted cost nothing more, so a steady state writes
//! nothing. Tenants are listed 500 at a time.
//!
//! Unbilled usage (DESIGN §6) is found here too, for every tenant (deactivated ones as well):
//! the pass already reads each tenant's subscriptions, sees tenants with no plan (the billing
//! run only visits periods that have one) and runs within minutes of the usage. A period its
//! segments wholly cover costs nothing more; an uncovered one costs 1 read of entry keys and
//! its rollups summed per unit (a few rows on PostgreSQL however long the period), and its
//! first pass with usage writes the entry and its event once.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Utc};

use super::alert_event::alert_payload;
use super::periods::{periods_open_for_usage, plan_for_period};
use super::policy::{crossings, effective_quotas, projected, reached, used};
use super::unbilled_event::{unbilled_payload, USAGE_UNBILLED};
use crate::clock::SharedClock;
use crate::domain::{BillingPeriod, Currency, Quota, QuotaAlert, SubscriptionChange, Tenant, TenantId};
use crate::invoice::{covered_until, period_units, period_usage, unbilled_usage, CurrentUsage};
use crate::metrics::Metrics;
use crate::plans::SharedCatalog;
use crate::rate::PlanCatalog;
use crate::store::{Store, UnbilledEntry};

/// Evaluates quotas against committed usage.
#[derive(Clone)]
pub struct QuotaEvaluator {
    pub store: Store,
    pub catalog: SharedCatalog,
    pub metrics: Arc<Metrics>,
    /// Periods ending within this much of "now" can still receive usage, so are evaluated.
    pub allowed_lateness: chrono::Duration,
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
    /// Records no subscription covers, in the periods open for usage (this pass's view).
    pub unbilled_records: i64,
}

/// What evaluating one tenant did.
struct TenantOutcome {
    alerts: usize,
    unbilled_raised: usize,
    unbilled_records: i64,
}

/// Already alerted thresholds, by (quota id, period start).
type Alerted = BTreeMap<(String, DateTime<Utc>), BTreeSet<u32>>;

impl QuotaEvaluator {
    /// One pass over every active tenant as of `now`.
    ///
    /// # Errors
    /// When the catalog or the tenant list cannot be read; a failing tenant is counted, not fatal.
    pub async fn evaluate_quotas(&self, now: DateTime<Utc>) -> anyhow::Result<EvaluationReport> {
        let started = std::time::Instant::now();
        let catalog = self.catalog.current(&self.store).await?;
        let mut report = EvaluationReport::default();
        let mut after: Option<TenantId> = None;
        loop {
            let page = self.store.list_tenants(after.as_ref(), 500).await.context("Failed to list tenants")?;
            for tenant in &page {
                // Deactivated tenants too: their usage after the end is unbilled (DESIGN §6).
                match self.evaluate_tenant(&catalog, tenant, now).await {
                    Ok(outcome) => {
                        report.tenants += usize::from(tenant.active);
                        report.alerts_raised += outcome.alerts;
                        report.unbilled_raised += outcome.unbilled_raised;
                        report.unbilled_records += outcome.unbilled_records;
                    }
                    Err(error) => {
                        report.failures += 1;
                        tracing::warn!(tenant_id = %tenant.id, error = ?error, "quota evaluation failed");
                    }
                }
            }
            match page.last() {
                Some(last) if page.len() == 500 => after = Some(last.id.clone()),
                _ => break,
            }
        }
        self.metrics.unbilled_records.set(report.unbilled_records);
        self.metrics.record_quota_pass(started.elapsed());
        Ok(report)
    }

    /// The worker inside `tally serve`: a pass every `every`, as of the clock's "now". Passes on
    /// several nodes may overlap: the alert key lets one of them win each alert.
    pub async fn run_every(&self, every: std::time::Duration, clock: SharedClock) {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match self.evaluate_quotas(clock.now()).await {
                Ok(report) if report.alerts_raised > 0 || report.failures > 0 => {
                    tracing::info!(alerts = report.alerts_raised, failures = report.failures, "quota evaluation");
                }
                Ok(_) => {}
                Err(error) => tracing::error!(error = ?error, "quota evaluation pass failed"),
            }
        }
    }

    /// Raises the tenant's new alerts (an active tenant's) and unbilled-usage entries.
    async fn evaluate_tenant(
        &self,
        catalog: &PlanCatalog,
        tenant: &Tenant,
        now: DateTime<Utc>,
    ) -> anyhow::Result<TenantOutcome> {
        let changes = self.store.subscriptions(&tenant.id).await?;
        let (unbilled_raised, unbilled_records) = self.raise_unbilled(tenant, &changes, now).await?;
        let alerts = if tenant.active { self.raise_alerts(catalog, tenant, &changes, now).await? } else { 0 };
        Ok(TenantOutcome { alerts, unbilled_raised, unbilled_records })
    }

    /// Writes an entry (and its `usage.unbilled` event) for each period open for usage that
    /// holds usage no subscription covers and has none yet; returns (entries written, records
    /// unbilled). A period wholly covered by segments costs no read; an uncovered one costs
    /// its rollups, so the `unbilled_records` gauge stays current.
    async fn raise_unbilled(
        &self,
        tenant: &Tenant,
        changes: &[SubscriptionChange],
        now: DateTime<Utc>,
    ) -> anyhow::Result<(usize, i64)> {
        let uncovered: Vec<BillingPeriod> = periods_open_for_usage(tenant.details.timezone, now, self.allowed_lateness)
            .into_iter()
            .filter(|period| !covered_until(period, changes, period.end()))
            .collect();
        let Some(oldest) = uncovered.last().map(BillingPeriod::start) else { return Ok((0, 0)) };
        let recorded = self.store.unbilled_period_starts(&tenant.id, oldest).await?;
        let (mut raised, mut records) = (0, 0);
        for period in uncovered {
            // Summed per unit (segments and gaps are unions of units), as `period_usage` reads: a
            // handful of rows, not every 15-minute row of a month with no plan every pass.
            let rollups = self.store.rollups_per_unit(&tenant.id, &period_units(&period, changes), None).await?;
            let Some(unbilled) = unbilled_usage(&period, changes, &rollups)? else { continue };
            records += unbilled.records;
            if recorded.contains(&period.start()) {
                continue;
            }
            let entry = UnbilledEntry {
                tenant_id: tenant.id.clone(),
                period,
                reason: unbilled.reason.as_str().to_owned(),
                quantities: unbilled.quantities,
                records: unbilled.records,
                created_at: now,
            };
            if self.store.record_unbilled(&entry, USAGE_UNBILLED, &unbilled_payload(&entry)).await? {
                raised += 1;
                self.metrics.unbilled_entries.inc();
                tracing::warn!(tenant_id = %tenant.id, reason = %entry.reason, records = entry.records, "unbilled usage");
            }
        }
        Ok((raised, records))
    }

    /// Raises the tenant's new quota alerts; returns how many.
    async fn raise_alerts(
        &self,
        catalog: &PlanCatalog,
        tenant: &Tenant,
        changes: &[SubscriptionChange],
        now: DateTime<Utc>,
    ) -> anyhow::Result<usize> {
        let set = self.store.quota_set(&tenant.id).await?;
        let periods = periods_open_for_usage(tenant.details.timezone, now, self.allowed_lateness);
        let work: Vec<(BillingPeriod, Vec<Quota>)> = periods
            .into_iter()
            .map(|period| {
                let plan = plan_for_period(catalog, changes, &period, now).map(|v| v.plan.as_ref());
                (period, effective_quotas(plan, &set))
            })
            .filter(|(_, quotas)| quotas.iter().any(|q| !q.thresholds().is_empty()))
            .collect();
        let Some(oldest) = work.last().map(|(p, _)| p.start()) else { return Ok(0) };
        let mut alerted = Alerted::new();
        for key in self.store.alert_keys(&tenant.id, oldest).await? {
            alerted.entry((key.quota_id, key.period_start)).or_default().insert(key.threshold);
        }
        let mut raised = 0;
        for (period, quotas) in work {
            let done = |q: &Quota| alerted.get(&(q.id().to_owned(), period.start())).cloned().unwrap_or_default();
            if quotas.iter().all(|q| q.thresholds().iter().all(|t| done(q).contains(t))) {
                continue;
            }
            let usage = period_usage(&self.store, catalog, tenant, changes, period, now).await?;
            let due: Vec<(&Quota, u32)> = quotas
                .iter()
                .flat_map(|q| {
                    let reached = reached(used(q.meter(), &usage), q.limit(), q.thresholds());
                    crossings(&reached, &done(q)).into_iter().map(move |t| (q, t))
                })
                .collect();
            if due.is_empty() {
                continue;
            }
            let late = self.is_closed(&tenant.id, &period, now).await?;
            let currency = plan_for_period(catalog, changes, &period, now).map(|v| v.plan.currency());
            for (quota, threshold) in due {
                raised += usize::from(self.raise(quota, threshold, &usage, currency, late, now).await?);
            }
        }
        Ok(raised)
    }

    /// Whether `period` has ended and been invoiced: an alert for it is a late one.
    async fn is_closed(&self, tenant: &TenantId, period: &BillingPeriod, now: DateTime<Utc>) -> anyhow::Result<bool> {
        if period.end() > now {
            return Ok(false);
        }
        Ok(self.store.closed_periods(tenant).await?.contains(period))
    }

    /// Records one alert and its event; `false` when another pass or process already did.
    async fn raise(
        &self,
        quota: &Quota,
        threshold: u32,
        usage: &CurrentUsage,
        currency: Option<Currency>,
        late: bool,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let alert = QuotaAlert {
            tenant_id: usage.tenant_id.clone(),
            quota_id: quota.id().to_owned(),
            threshold,
            period: usage.period,
            meter: quota.meter(),
            used: used(quota.meter(), usage),
            limit: quota.limit(),
            late,
        };
        let payload = alert_payload(&alert, quota, projected(quota.meter(), usage), currency, now);
        let recorded = self.store.record_alert(&alert, &payload, now).await?;
        if recorded {
            self.metrics.quota_alerts_raised.inc();
            tracing::info!(tenant_id = %alert.tenant_id, quota_id = %alert.quota_id, threshold, late, "quota threshold crossed");
        }
        Ok(recorded)
    }
}
