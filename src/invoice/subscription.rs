//! Subscriptions as a service: putting a tenant on a plan (now or at its next period start),
//! onboarding a tenant with a first plan, and deactivating a tenant (which ends its subscription).
//!
//! Stage: invoice orchestration (what gets billed from when). Inputs: the store, the plan
//! catalog, domain values and "now" (passed in). Outputs: stored subscription changes and the
//! tenants they belong to. Must not import `api` or `http`: failures are
//! [`SubscriptionError`]s, which the edge converts.

use chrono::{DateTime, Utc};

use super::segments;
use crate::aggregate::{bucket_start, BillingCalendar};
use crate::domain::{
    plan_at, Actor, BillingPeriod, ChangeTiming, Currency, NewTenant, SubscriptionChange, Tenant, TenantId, TenantPatch,
};
use crate::rate::{PlanCatalog, PlanVersion};
use crate::store::{DbError, Store};

/// Why a subscription (or the tenant it belongs to) could not be changed.
#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    #[error("no plan {0:?}")]
    UnknownPlan(String),
    #[error("a plan in another currency can only start at the next period (timing \"next_period\")")]
    CurrencyChangeNotAtPeriodStart,
    #[error("{0}")]
    InvalidStart(String),
    #[error("tenant not found")]
    TenantNotFound,
    #[error("tenant {0:?} already exists")]
    TenantExists(String),
    #[error("the tenant is billed in {billed}, so a credit in {currency} could never be used")]
    CreditCurrencyMismatch { currency: Currency, billed: String },
    #[error("the tenant has no plan, so no billing currency yet: put it on a plan, then grant credits")]
    NoBillingCurrency,
    #[error(transparent)]
    Store(#[from] DbError),
}

/// The newest version of a plan that exists.
///
/// # Errors
/// [`SubscriptionError::UnknownPlan`].
pub fn known_plan<'c>(catalog: &'c PlanCatalog, plan_id: &str) -> Result<&'c PlanVersion, SubscriptionError> {
    catalog.latest(plan_id).ok_or_else(|| SubscriptionError::UnknownPlan(plan_id.to_owned()))
}

/// Validates a change (known plan; currency fixed per tenant except at a period start) and
/// picks its instants: fees from `start` (backdated) or `now`, usage from that instant's
/// 15-minute bucket; or both at the next period start.
///
/// # Errors
/// [`SubscriptionError::UnknownPlan`], [`SubscriptionError::CurrencyChangeNotAtPeriodStart`],
/// [`SubscriptionError::InvalidStart`], or a store failure.
pub async fn plan_change(
    store: &Store,
    catalog: &PlanCatalog,
    tenant: &Tenant,
    plan_id: &str,
    when: (ChangeTiming, Option<DateTime<Utc>>),
    now: DateTime<Utc>,
) -> Result<SubscriptionChange, SubscriptionError> {
    let changes = store.subscriptions(&tenant.id).await?;
    change_on(catalog, &BillingCalendar::of(tenant), &changes, plan_id, when, now)
}

/// [`plan_change`] for a tenant billed by `calendar` whose changes so far are `changes`.
fn change_on(
    catalog: &PlanCatalog,
    calendar: &BillingCalendar,
    changes: &[SubscriptionChange],
    plan_id: &str,
    (timing, start): (ChangeTiming, Option<DateTime<Utc>>),
    now: DateTime<Utc>,
) -> Result<SubscriptionChange, SubscriptionError> {
    let plan = known_plan(catalog, plan_id)?;
    let open = calendar.period_containing(now);
    let immediate = || -> Result<SubscriptionChange, SubscriptionError> {
        let at = backdated(start, &open, now)?;
        // A change that replaces the tenant's first subscription keeps the usage it covered.
        let inherited = changes.first().filter(|first| first.effective_at >= at).map(|first| first.usage_from);
        let usage_from = inherited.map_or(bucket_start(at), |u| u.min(bucket_start(at)));
        Ok(SubscriptionChange::to_plan(at, plan_id).with_usage_from(usage_from))
    };
    let change = match (timing, plan_at(changes, now)) {
        (ChangeTiming::NextPeriod, Some(_)) if start.is_some() => {
            return Err(SubscriptionError::InvalidStart(
                "start backdates an immediate change; a next_period change starts at the next period".into(),
            ))
        }
        (ChangeTiming::NextPeriod, Some(_)) => SubscriptionChange::to_plan(open.end(), plan_id),
        // Without a current plan, "next period" would leave usage unbilled until then: start
        // now — unless this period is billed in another currency (a tenant deactivated and
        // reactivated in it), which only the next period can change.
        (ChangeTiming::NextPeriod, None) if start.is_none() => {
            let now_change = immediate()?;
            match billed_in_another_currency(catalog, calendar, changes, &now_change, plan.plan.currency()) {
                true => SubscriptionChange::to_plan(open.end(), plan_id),
                false => now_change,
            }
        }
        (ChangeTiming::Immediately, _) | (_, None) => immediate()?,
    };
    let current_currency = plan_at(changes, now).and_then(|plan_id| catalog.latest(plan_id)).map(|v| v.plan.currency());
    let at_period_start = change.effective_at == calendar.period_containing(change.effective_at).start();
    let switches_now = current_currency.is_some_and(|c| c != plan.plan.currency()) && !at_period_start;
    if switches_now || billed_in_another_currency(catalog, calendar, changes, &change, plan.plan.currency()) {
        return Err(SubscriptionError::CurrencyChangeNotAtPeriodStart);
    }
    Ok(change)
}

/// Whether the period `change` takes effect in would hold a plan in another currency than
/// `currency` beside it, once the changes it replaces are gone: its invoice is in one
/// currency, so a currency switch waits for a period start. Judged by the period's segments,
/// not by the plan in force now: a tenant deactivated this period has no plan now, yet its
/// final invoice bills the weeks before in the old plan's currency (the period could not be
/// drafted, so it was never invoiced).
fn billed_in_another_currency(
    catalog: &PlanCatalog,
    calendar: &BillingCalendar,
    changes: &[SubscriptionChange],
    change: &SubscriptionChange,
    currency: Currency,
) -> bool {
    let period = calendar.period_containing(change.effective_at);
    // The store replaces the changes at or after this one's instant and gives it the usage of
    // its bucket (`record_change`); an earlier change cut back to no usage still bills fees.
    let kept = changes.iter().filter(|c| c.effective_at < change.effective_at);
    let kept = kept.map(|c| SubscriptionChange { usage_from: c.usage_from.min(change.usage_from), ..c.clone() });
    let after: Vec<SubscriptionChange> = kept.chain([change.clone()]).collect();
    segments(&period, &after).iter().filter_map(|s| catalog.latest(&s.plan_id)).any(|v| v.plan.currency() != currency)
}

/// The instant a change takes effect: `now`, or `start` when it lies in the open period and
/// not in the future (DESIGN §6: a subscription backdates within the open period only, so no
/// closed period is re-opened).
///
/// # Errors
/// [`SubscriptionError::InvalidStart`].
pub fn backdated(
    start: Option<DateTime<Utc>>,
    open: &BillingPeriod,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, SubscriptionError> {
    match start {
        None => Ok(now),
        Some(at) if at >= open.start() && at <= now => Ok(at),
        Some(at) => Err(SubscriptionError::InvalidStart(format!(
            "start {} must lie in the open billing period, from {} to now ({})",
            at.to_rfc3339(),
            open.start().to_rfc3339(),
            now.to_rfc3339()
        ))),
    }
}

/// Checks that a credit in `currency` can pay one of the tenant's invoices: credits are
/// consumed in the invoice's currency only, and a tenant's invoices are in its plan's currency
/// — the plan in force `now`, or one already scheduled to start. A tenant with no plan (never
/// subscribed, or deactivated) has no billing currency: its grant is refused too, rather than
/// accepted in a currency its future plan may not have.
///
/// # Errors
/// [`SubscriptionError::CreditCurrencyMismatch`], [`SubscriptionError::NoBillingCurrency`], or
/// a store failure.
pub async fn check_credit_currency(
    store: &Store,
    catalog: &PlanCatalog,
    id: &TenantId,
    currency: Currency,
    now: DateTime<Utc>,
) -> Result<(), SubscriptionError> {
    let changes = store.subscriptions(id).await?;
    let scheduled = changes.iter().filter(|c| c.effective_at > now).filter_map(|c| c.plan_id.as_deref());
    let mut billed: Vec<Currency> = plan_at(&changes, now)
        .into_iter()
        .chain(scheduled)
        .filter_map(|plan_id| catalog.latest(plan_id).map(|v| v.plan.currency()))
        .collect();
    billed.sort();
    billed.dedup();
    match billed.as_slice() {
        [] => Err(SubscriptionError::NoBillingCurrency),
        _ if billed.contains(&currency) => Ok(()),
        _ => {
            let billed = billed.iter().map(Currency::code).collect::<Vec<_>>().join(" or ");
            Err(SubscriptionError::CreditCurrencyMismatch { currency, billed })
        }
    }
}

/// Puts an existing tenant on `plan_id` (validated by [`plan_change`]) and stores the change
/// as `actor`'s.
///
/// # Errors
/// [`SubscriptionError::TenantNotFound`], the errors of [`plan_change`], or a store failure.
pub async fn change_plan(
    store: &Store,
    catalog: &PlanCatalog,
    id: &TenantId,
    plan_id: &str,
    when: (ChangeTiming, Option<DateTime<Utc>>),
    now: DateTime<Utc>,
    actor: &Actor,
) -> Result<SubscriptionChange, SubscriptionError> {
    let tenant = store.get_tenant(id).await?.ok_or(SubscriptionError::TenantNotFound)?;
    let change = plan_change(store, catalog, &tenant, plan_id, when, now).await?;
    store.change_subscription(id, &change, now, actor).await?;
    Ok(change)
}

/// Creates a tenant and, when `plan_id` is given, subscribes it from now — or from `start`,
/// backdated within the open period: `actor`'s `tenant.created` and `subscription.changed`.
/// That first subscription rates all usage of the tenant's first period, records stamped
/// before the tenant existed too, while its fixed fees are prorated from the subscription's
/// true instant (DESIGN §6).
///
/// # Errors
/// [`SubscriptionError::TenantExists`] when the id is taken, the errors of [`plan_change`], or
/// a store failure.
pub async fn onboard_tenant(
    store: &Store,
    catalog: &PlanCatalog,
    new: &NewTenant,
    (plan_id, start): (Option<&str>, Option<DateTime<Utc>>),
    now: DateTime<Utc>,
    actor: &Actor,
) -> Result<Tenant, SubscriptionError> {
    if plan_id.is_none() && start.is_some() {
        return Err(SubscriptionError::InvalidStart("subscription_start needs a plan".into()));
    }
    let calendar = BillingCalendar::fixed(new.details.timezone);
    let first = match plan_id {
        Some(plan_id) => {
            let change = change_on(catalog, &calendar, &[], plan_id, (ChangeTiming::Immediately, start), now)?;
            let first_period = calendar.period_containing(change.effective_at);
            Some(change.with_usage_from(first_period.start()))
        }
        None => None,
    };
    store.create_tenant_on(new, first.as_ref(), now, actor).await.map_err(|e| match e {
        DbError::AlreadyExists => SubscriptionError::TenantExists(new.id.as_str().to_owned()),
        other => SubscriptionError::Store(other),
    })
}

/// Applies `patch` to a tenant as `actor`; deactivating it (`active: false`) also ends its
/// subscription in the same commit: it stops accruing fixed fees now, and usage with the
/// bucket it is in (the last it could send usage in); the period so far is billed, prorated,
/// when that period closes — its final invoice.
///
/// # Errors
/// [`SubscriptionError::TenantNotFound`] or a store failure.
pub async fn apply_tenant_patch(
    store: &Store,
    id: &TenantId,
    patch: TenantPatch,
    now: DateTime<Utc>,
    actor: &Actor,
) -> Result<Tenant, SubscriptionError> {
    store.update_tenant(id, patch, now, actor).await?.ok_or(SubscriptionError::TenantNotFound)
}
