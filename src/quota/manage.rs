//! Setting and reading a tenant's quota sets: the operator's quotas (`PUT …/quotas`) and the
//! tenant's budgets (`PUT …/budgets`), each replaced whole.
//!
//! Stage: quota service (IO through the store). Inputs: a tenant id, validated quotas, the
//! plan catalog, "now". Output: the stored set as [`QuotaListing`]. Rules: ids are unique per
//! tenant across both sets; budgets are spend quotas, hard only where the tenant's plan says
//! `allow_hard_budget = true`, and never reuse a plan default's id; a spend limit fits the
//! tenant's currency, a meter's limit the meter's precision (whole invocations and cycles).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::periods::plan_for_period;
use crate::aggregate::BillingCalendar;
use crate::domain::{Actor, Currency, Quota, QuotaMeter, QuotaOwner, QuotaSet, TenantId};
use crate::rate::{PlanCatalog, PricingPlan};
use crate::store::{DbError, Store};

/// Most quotas in one set.
pub const MAX_QUOTAS: usize = 50;

/// Spend limits stay below 10^18 (api-spec `QuotaInput`: at most 18 digits before the point).
const SPEND_LIMIT_BOUND: u64 = 1_000_000_000_000_000_000;

/// A tenant's quota sets and what governs them.
#[derive(Debug, Clone)]
pub struct QuotaListing {
    pub tenant_id: TenantId,
    /// The currency of the plan in force (spend limits are in it); `None` without a plan.
    pub currency: Option<Currency>,
    pub set: QuotaSet,
    /// The default quotas of the plan in force.
    pub plan_quotas: Vec<Quota>,
    /// May the tenant make budgets hard?
    pub allow_hard_budget: bool,
}

/// Why a set was refused.
#[derive(Debug, thiserror::Error)]
pub enum QuotaSetError {
    #[error("tenant not found")]
    TenantNotFound,
    /// The set breaks a rule; the message says which.
    #[error("{0}")]
    Invalid(String),
    #[error("budget {0:?} is hard, and the tenant's plan does not allow hard budgets")]
    HardBudgetNotAllowed(String),
    #[error("quota id {0:?} is already used by another of the tenant's quotas or its plan")]
    IdTaken(String),
    #[error(transparent)]
    Store(#[from] DbError),
}

/// The tenant's quota sets and its plan's defaults, as of `now`.
///
/// # Errors
/// [`QuotaSetError::TenantNotFound`]; a store failure.
pub async fn quota_listing(
    store: &Store,
    catalog: &PlanCatalog,
    id: &TenantId,
    now: DateTime<Utc>,
) -> Result<QuotaListing, QuotaSetError> {
    let plan = plan_in_force(store, catalog, id, now).await?;
    let set = store.quota_set(id).await?;
    Ok(listing(id, plan.as_deref(), set))
}

/// Replaces the set `owner` keeps for the tenant with `quotas`: the tenant's own change (its
/// budgets, from the portal), which the admin audit log does not record.
///
/// # Errors
/// [`QuotaSetError`]: an unknown tenant, a broken rule, a taken id, a store failure.
pub async fn set_quotas(
    store: &Store,
    catalog: &PlanCatalog,
    id: &TenantId,
    owner: QuotaOwner,
    quotas: &[Quota],
    now: DateTime<Utc>,
) -> Result<QuotaListing, QuotaSetError> {
    set_quotas_by(None, (store, catalog), (id, owner), quotas, now).await
}

/// [`set_quotas`], recording `admin`'s audit event (`quotas.replaced`, `budgets.replaced`) in
/// the same transaction when an admin makes the change.
///
/// # Errors
/// [`QuotaSetError`]: an unknown tenant, a broken rule, a taken id, a store failure.
pub async fn set_quotas_by(
    admin: Option<&Actor>,
    (store, catalog): (&Store, &PlanCatalog),
    (id, owner): (&TenantId, QuotaOwner),
    quotas: &[Quota],
    now: DateTime<Utc>,
) -> Result<QuotaListing, QuotaSetError> {
    let plan = plan_in_force(store, catalog, id, now).await?;
    check_set(plan.as_deref(), owner, quotas)?;
    if let Some(taken) = store.replace_quotas(id, owner, quotas, now, admin).await? {
        return Err(QuotaSetError::IdTaken(taken));
    }
    quota_listing(store, catalog, id, now).await
}

fn listing(id: &TenantId, plan: Option<&PricingPlan>, set: QuotaSet) -> QuotaListing {
    QuotaListing {
        tenant_id: id.clone(),
        currency: plan.map(PricingPlan::currency),
        set,
        plan_quotas: plan.map(|p| p.quotas().to_vec()).unwrap_or_default(),
        allow_hard_budget: plan.is_some_and(PricingPlan::allow_hard_budget),
    }
}

async fn plan_in_force(
    store: &Store,
    catalog: &PlanCatalog,
    id: &TenantId,
    now: DateTime<Utc>,
) -> Result<Option<std::sync::Arc<PricingPlan>>, QuotaSetError> {
    let tenant = store.get_tenant(id).await?.ok_or(QuotaSetError::TenantNotFound)?;
    let changes = store.subscriptions(id).await?;
    let period = BillingCalendar::of(&tenant).period_containing(now);
    Ok(plan_for_period(catalog, &changes, &period, now).map(|v| v.plan.clone()))
}

/// The rules a whole set must meet (pure).
fn check_set(plan: Option<&PricingPlan>, owner: QuotaOwner, quotas: &[Quota]) -> Result<(), QuotaSetError> {
    let invalid = |m: String| Err(QuotaSetError::Invalid(m));
    if quotas.len() > MAX_QUOTAS {
        return invalid(format!("at most {MAX_QUOTAS} quotas per set"));
    }
    for (i, quota) in quotas.iter().enumerate() {
        if quotas[..i].iter().any(|q| q.id() == quota.id()) {
            return invalid(format!("quota id {:?} appears twice", quota.id()));
        }
        match quota.meter() {
            QuotaMeter::Spend => check_spend_limit(plan, quota)?,
            QuotaMeter::Usage(_) => check_quantity_limit(quota)?,
        }
        if owner == QuotaOwner::Tenant {
            check_budget(plan, quota)?;
        }
    }
    Ok(())
}

/// A spend limit is an amount: no more decimals than the tenant's currency has (without a
/// plan, than any currency has), and below [`SPEND_LIMIT_BOUND`].
fn check_spend_limit(plan: Option<&PricingPlan>, quota: &Quota) -> Result<(), QuotaSetError> {
    let minor_units = plan.map_or_else(Currency::most_minor_units, |p| p.currency().minor_units());
    if quota.limit().scale() > minor_units {
        let whose = if plan.is_some() { "its currency" } else { "any currency (the tenant has no plan yet)" };
        return Err(QuotaSetError::Invalid(format!(
            "spend limit of {:?} has more decimals than {whose}: at most {minor_units}",
            quota.id()
        )));
    }
    if quota.limit() >= Decimal::from(SPEND_LIMIT_BOUND) {
        return Err(QuotaSetError::Invalid(format!("spend limit of {:?} must be below 10^18", quota.id())));
    }
    Ok(())
}

/// A meter's limit is a quantity it can be recorded in ([`Quota::finer_than_recorded`]).
fn check_quantity_limit(quota: &Quota) -> Result<(), QuotaSetError> {
    match quota.finer_than_recorded() {
        None => Ok(()),
        Some(rule) => Err(QuotaSetError::Invalid(format!("limit of {:?} {rule}", quota.id()))),
    }
}

fn check_budget(plan: Option<&PricingPlan>, budget: &Quota) -> Result<(), QuotaSetError> {
    if budget.meter() != QuotaMeter::Spend {
        return Err(QuotaSetError::Invalid(format!("budget {:?} must have meter \"spend\"", budget.id())));
    }
    if budget.hard() && !plan.is_some_and(PricingPlan::allow_hard_budget) {
        return Err(QuotaSetError::HardBudgetNotAllowed(budget.id().to_owned()));
    }
    if plan.is_some_and(|p| p.quotas().iter().any(|q| q.id() == budget.id())) {
        return Err(QuotaSetError::IdTaken(budget.id().to_owned()));
    }
    Ok(())
}
