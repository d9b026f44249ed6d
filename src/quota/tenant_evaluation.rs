//! What evaluating one tenant raises, from the page its pass read (`page_facts.rs`,
//! `page_usage.rs`): the quota alerts of an active tenant, each threshold crossed once per
//! period, and the unbilled-usage entries of any tenant's periods its subscriptions do not
//! wholly cover. Also which periods' usage that needs, so the page reads only those.
//!
//! The pass around it — pages, the one write per page, failures, metrics — is `evaluator.rs`.
//! Reads the store only to tell whether a period with a new alert was invoiced (a late alert).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::alert_event::{alert_payload, THRESHOLD_CROSSED};
use super::evaluator::QuotaEvaluator;
use super::page_facts::PageFacts;
use super::page_usage::PageUsage;
use super::periods::{periods_open_for_usage, plan_for_period};
use super::policy::{crossings, projected, quotas_for_period, reached, spend_currency, used};
use super::unbilled_event::{unbilled_payload, USAGE_UNBILLED};
use crate::aggregate::BillingCalendar;
use crate::domain::{BillingPeriod, Currency, Quantities, Quota, QuotaAlert, SubscriptionChange, Tenant, TenantId};
use crate::invoice::{covered_until, unbilled_usage, usage_of_rollups, CurrentUsage};
use crate::rate::PlanCatalog;
use crate::store::{Announced, Raised, UnbilledEntry, UnbilledNow};

/// What evaluating one tenant found: the rows to raise, and its unbilled records.
pub(super) struct TenantOutcome {
    pub(super) raised: Raised,
    pub(super) unbilled_records: i64,
}

/// Already alerted thresholds, by (quota id, period start), each with the form of the quota
/// (meter, limit) it was alerted for.
type Alerted = BTreeMap<(String, DateTime<Utc>), BTreeMap<u32, (String, Decimal)>>;

impl QuotaEvaluator {
    /// The periods whose usage evaluating `tenant` needs: its uncovered periods (unbilled
    /// usage) and, if it is active, those with a threshold not yet alerted. None without
    /// usage: it is then drafted from no rollups.
    pub(super) fn periods_to_read(
        &self,
        catalog: &PlanCatalog,
        tenant: &Tenant,
        facts: &PageFacts,
        now: DateTime<Utc>,
    ) -> Vec<BillingPeriod> {
        if !facts.has_usage(&tenant.id) {
            return Vec::new();
        }
        let mut periods = self.uncovered_periods(tenant, facts.subscriptions(&tenant.id), now);
        if tenant.active {
            periods.extend(self.alert_work(catalog, tenant, facts, now).0.into_iter().map(|(period, _)| period));
        }
        periods.sort_unstable();
        periods.dedup();
        periods
    }

    /// The tenant's new alerts (an active tenant's) and unbilled-usage entries, from the page's
    /// `usage`; written with the page's.
    pub(super) async fn evaluate_tenant(
        &self,
        catalog: &PlanCatalog,
        tenant: &Tenant,
        facts: &PageFacts,
        usage: &PageUsage,
        now: DateTime<Utc>,
    ) -> anyhow::Result<TenantOutcome> {
        let Unbilled { new: unbilled, changed: unbilled_changed, records: unbilled_records } =
            self.unbilled_to_raise(tenant, facts, usage, now)?;
        let alerts =
            if tenant.active { self.alerts_to_raise(catalog, tenant, facts, usage, now).await? } else { vec![] };
        Ok(TenantOutcome { raised: Raised { alerts, unbilled, unbilled_changed }, unbilled_records })
    }

    /// The tenant's periods open for usage that its subscriptions do not wholly cover, newest
    /// first: only these can hold unbilled usage.
    fn uncovered_periods(
        &self,
        tenant: &Tenant,
        changes: &[SubscriptionChange],
        now: DateTime<Utc>,
    ) -> Vec<BillingPeriod> {
        periods_open_for_usage(&BillingCalendar::of(tenant), now, self.allowed_lateness)
            .into_iter()
            .filter(|period| !covered_until(period, changes, period.end()))
            .collect()
    }

    /// An entry (with its `usage.unbilled` event) for each period open for usage that holds
    /// usage no subscription covers and has none yet; what the period holds now for each
    /// entry recorded before whose usage has changed since (late records, corrections, a
    /// backdated plan: zero when none is unbilled any more); and the records unbilled. The
    /// usage is the page's, summed per unit of its segments and gaps, so the
    /// `unbilled_records` gauge and the entries stay current.
    fn unbilled_to_raise(
        &self,
        tenant: &Tenant,
        facts: &PageFacts,
        usage: &PageUsage,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Unbilled> {
        let mut out = Unbilled::default();
        let recorded = facts.unbilled_recorded(&tenant.id);
        if !facts.has_usage(&tenant.id) && recorded.is_empty() {
            return Ok(out);
        }
        let changes = facts.subscriptions(&tenant.id);
        // Only these periods' usage was read (`periods_to_read`); a tenant with none has
        // nothing unbilled.
        let uncovered =
            if facts.has_usage(&tenant.id) { self.uncovered_periods(tenant, changes, now) } else { Vec::new() };
        for period in periods_open_for_usage(&BillingCalendar::of(tenant), now, self.allowed_lateness) {
            let unbilled = if uncovered.contains(&period) {
                unbilled_usage(&period, changes, &usage.in_period(&tenant.id, &period))?
            } else {
                None
            };
            let (quantities, records) =
                unbilled.as_ref().map_or((Quantities::default(), 0), |u| (u.quantities, u.records));
            out.records += records;
            match (recorded.iter().find(|r| r.period_start == period.start()), unbilled) {
                (Some(r), _) if r.quantities == quantities && r.records == records => {}
                (Some(_), _) => {
                    out.changed.push(UnbilledNow { tenant_id: tenant.id.clone(), period, quantities, records })
                }
                (None, None) => {}
                (None, Some(unbilled)) => {
                    let entry = UnbilledEntry {
                        tenant_id: tenant.id.clone(),
                        period,
                        reason: unbilled.reason.as_str().to_owned(),
                        quantities,
                        records,
                        created_at: now,
                    };
                    let payload = unbilled_payload(&entry);
                    out.new.push(Announced { row: entry, kind: USAGE_UNBILLED, payload });
                }
            }
        }
        Ok(out)
    }

    /// The periods open for usage with quotas in force of which some threshold is not alerted
    /// yet, each with those quotas (only those in force before the period ended), and the
    /// thresholds already alerted.
    fn alert_work(
        &self,
        catalog: &PlanCatalog,
        tenant: &Tenant,
        facts: &PageFacts,
        now: DateTime<Utc>,
    ) -> (Vec<(BillingPeriod, Vec<Quota>)>, Alerted) {
        let changes = facts.subscriptions(&tenant.id);
        let set = facts.quota_set(&tenant.id);
        let mut alerted = Alerted::new();
        for key in facts.alert_keys(&tenant.id) {
            let form = (key.meter.clone(), key.limit);
            alerted.entry((key.quota_id.clone(), key.period_start)).or_default().insert(key.threshold, form);
        }
        let work = periods_open_for_usage(&BillingCalendar::of(tenant), now, self.allowed_lateness)
            .into_iter()
            .map(|period| {
                let plan = plan_for_period(catalog, changes, &period, now).map(|v| v.plan.as_ref());
                let quotas = quotas_for_period(plan, &set, &period);
                (period, quotas)
            })
            .filter(|(period, quotas)| {
                let done = alerted_in(&alerted, period);
                quotas.iter().any(|q| q.thresholds().iter().any(|t| !done(q).contains(t)))
            })
            .collect();
        (work, alerted)
    }

    /// The tenant's new quota alerts, each with its event, from the page's `usage`.
    async fn alerts_to_raise(
        &self,
        catalog: &PlanCatalog,
        tenant: &Tenant,
        facts: &PageFacts,
        usage: &PageUsage,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Vec<Announced<QuotaAlert>>> {
        let changes = facts.subscriptions(&tenant.id);
        let (work, alerted) = self.alert_work(catalog, tenant, facts, now);
        let mut alerts = Vec::new();
        for (period, quotas) in work {
            let done = alerted_in(&alerted, &period);
            // Spend can cross with no usage as well: a fixed fee over a spend quota.
            let drafted =
                usage_of_rollups(catalog, tenant, changes, period, now, &usage.in_period(&tenant.id, &period))?;
            let due: Vec<(&Quota, u32)> = quotas
                .iter()
                .flat_map(|q| {
                    let reached = reached(used(q.meter(), &drafted), q.limit(), q.thresholds());
                    crossings(&reached, &done(q)).into_iter().map(move |t| (q, t))
                })
                .collect();
            if due.is_empty() {
                continue;
            }
            let late = self.is_closed(&tenant.id, &period, now).await?;
            let currency = spend_currency(&drafted);
            let earlier = alerted_before(&alerted, &period);
            alerts.extend(due.into_iter().map(|(quota, threshold)| {
                let again = earlier(quota, threshold);
                announced_alert(quota, threshold, &drafted, (currency, late, again), now)
            }));
        }
        Ok(alerts)
    }

    /// Whether `period` has ended and been invoiced: an alert for it is a late one.
    async fn is_closed(&self, tenant: &TenantId, period: &BillingPeriod, now: DateTime<Utc>) -> anyhow::Result<bool> {
        if period.end() > now {
            return Ok(false);
        }
        Ok(self.store.closed_periods(tenant).await?.contains(period))
    }
}

/// The alert of `quota` at `threshold` over `usage`, with its `quota.threshold_crossed` event;
/// `again`: it replaces an alert of the same threshold raised for another form of the quota.
fn announced_alert(
    quota: &Quota,
    threshold: u32,
    usage: &CurrentUsage,
    (currency, late, again): (Option<Currency>, bool, bool),
    now: DateTime<Utc>,
) -> Announced<QuotaAlert> {
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
    let payload = alert_payload(&alert, quota, projected(quota.meter(), usage), currency, again, now);
    Announced { row: alert, kind: THRESHOLD_CROSSED, payload }
}

/// The thresholds of a quota already alerted in `period` for the quota as it is now. An alert
/// raised for another meter or limit under the same id (a cap raised from 100 to 1000, a
/// budget that took a dropped quota's id) says nothing about this one's: 80 % of 100 is not
/// 80 % of 1000, and the raised cap must still announce that it now blocks.
fn alerted_in<'a>(alerted: &'a Alerted, period: &BillingPeriod) -> impl Fn(&Quota) -> BTreeSet<u32> + 'a {
    let start = period.start();
    move |q: &Quota| {
        let form = |(meter, limit): &(String, Decimal)| meter == q.meter().as_str() && *limit == q.limit();
        let of_quota = alerted.get(&(q.id().to_owned(), start));
        of_quota.into_iter().flatten().filter(|(_, f)| form(f)).map(|(t, _)| *t).collect()
    }
}

/// Whether a threshold of a quota was alerted in `period` at all, for whatever form.
fn alerted_before<'a>(alerted: &'a Alerted, period: &BillingPeriod) -> impl Fn(&Quota, u32) -> bool + 'a {
    let start = period.start();
    move |q: &Quota, threshold: u32| {
        alerted.get(&(q.id().to_owned(), start)).is_some_and(|t| t.contains_key(&threshold))
    }
}

/// What a tenant's evaluation finds unbilled.
#[derive(Default)]
struct Unbilled {
    /// Entries for periods that have none yet, each with its event.
    new: Vec<Announced<UnbilledEntry>>,
    /// What the periods of recorded entries hold now, where it changed since.
    changed: Vec<UnbilledNow>,
    /// Records no subscription covers in the periods open for usage.
    records: i64,
}
