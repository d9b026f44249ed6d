//! Period-to-date usage for one tenant: the usage so far, the amount so far (drafted exactly as
//! the invoice will be) and a projection to period end — what `getCurrentUsage` answers.
//!
//! Stage: invoice orchestration (read only). Inputs: the store, the plan catalog, a tenant id
//! and "now" (passed in; no clock here). Output: [`CurrentUsage`], plain values the edge
//! renders. Must not import `api` or `http`, and writes nothing.

use chrono::{DateTime, Utc};

use super::period_units;
use super::{draft_invoice, project, segment_inputs, segments, unbilled_usage, DraftError, InvoiceDraft, Unbilled};
use crate::aggregate::BillingCalendar;
use crate::aggregate::{sum_rollups, Rollup};
use crate::domain::{BillingPeriod, SubscriptionChange, Tenant};
use crate::domain::{Quantities, QuantityError, TenantId};
use crate::rate::{PlanCatalog, RateError};
use crate::store::{DbError, Store};

/// A tenant's period so far.
#[derive(Debug, Clone)]
pub struct CurrentUsage {
    pub tenant_id: TenantId,
    /// The period containing `as_of`, in the tenant's time zone.
    pub period: BillingPeriod,
    pub as_of: DateTime<Utc>,
    /// Usage from the period start to now.
    pub usage: Quantities,
    /// Records behind `usage`.
    pub records: i64,
    /// The draft of the usage so far; `None` without a plan in the period.
    pub amount_so_far: Option<InvoiceDraft>,
    /// The draft at the current rate to period end; `None` without a plan in the period.
    pub projection: Option<Projection>,
    /// The usage so far no subscription covers (DESIGN §6); `None` when all of it is billed.
    pub unbilled: Option<Unbilled>,
}

/// Usage extrapolated to the period end, and its draft.
#[derive(Debug, Clone)]
pub struct Projection {
    pub draft: InvoiceDraft,
    /// Σ of the projected usage of every segment.
    pub usage: Quantities,
}

/// Why the current usage could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CurrentUsageError {
    #[error("tenant not found")]
    TenantNotFound,
    /// The usage (or its projection) is too large to sum or price: a named error, as a quote's
    /// `quote_overflow` is, since the billing run isolates such a tenant rather than failing.
    #[error("the usage is too large to price: {0}")]
    Overflow(String),
    #[error(transparent)]
    Store(#[from] DbError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<QuantityError> for CurrentUsageError {
    fn from(error: QuantityError) -> Self {
        Self::Overflow(error.to_string())
    }
}

impl From<DraftError> for CurrentUsageError {
    fn from(error: DraftError) -> Self {
        match error {
            DraftError::Rate(RateError::Overflow(_)) | DraftError::Overflow => Self::Overflow(error.to_string()),
            other => Self::Unexpected(other.into()),
        }
    }
}

/// A summing overflow inside `segment_inputs` (which answers `anyhow`) is still an overflow.
fn gathered(error: anyhow::Error) -> CurrentUsageError {
    match error.downcast::<QuantityError>() {
        Ok(overflow) => overflow.into(),
        Err(other) => CurrentUsageError::Unexpected(other),
    }
}

/// Reads the tenant's period so far and drafts it, now and projected to the period end.
///
/// # Errors
/// [`CurrentUsageError::TenantNotFound`]; [`CurrentUsageError::Overflow`]; a store failure; a
/// plan missing from the catalog (unexpected).
pub async fn current_usage(
    store: &Store,
    catalog: &PlanCatalog,
    id: &TenantId,
    now: DateTime<Utc>,
) -> Result<CurrentUsage, CurrentUsageError> {
    let tenant = store.get_tenant(id).await?.ok_or(CurrentUsageError::TenantNotFound)?;
    let changes = store.subscriptions(id).await?;
    let period = BillingCalendar::of(&tenant).period_containing(now);
    period_usage(store, catalog, &tenant, &changes, period, now).await
}

/// The usage of any `period` of a tenant (whose subscription `changes` the caller read) as of
/// `now`, drafted exactly as [`current_usage`] drafts the current one: quotas evaluate the
/// current period and the closed ones still receiving late usage with it. For a period that
/// has ended, the projection equals the usage.
///
/// # Errors
/// A store failure; a plan missing from the catalog or an overflow (unexpected).
pub async fn period_usage(
    store: &Store,
    catalog: &PlanCatalog,
    tenant: &Tenant,
    changes: &[SubscriptionChange],
    period: BillingPeriod,
    now: DateTime<Utc>,
) -> Result<CurrentUsage, CurrentUsageError> {
    let rollups = store.rollups_per_unit(&tenant.id, &period_units(&period, changes), None).await?;
    usage_of_rollups(catalog, tenant, changes, period, now, &rollups)
}

/// [`period_usage`] from the period's `rollups` (summed per unit of `period_units`, or the
/// rows themselves; none when the tenant has no usage): the pure part.
///
/// # Errors
/// A plan missing from the catalog or an overflow (unexpected).
pub fn usage_of_rollups(
    catalog: &PlanCatalog,
    tenant: &Tenant,
    changes: &[SubscriptionChange],
    period: BillingPeriod,
    now: DateTime<Utc>,
    rollups: &[Rollup],
) -> Result<CurrentUsage, CurrentUsageError> {
    let id = &tenant.id;
    let usage = sum_rollups(rollups, period.start(), period.end())?;
    let inputs = segment_inputs(catalog, &segments(&period, changes), &period, rollups).map_err(gathered)?;
    let unbilled = unbilled_usage(&period, changes, rollups)?;
    let tax_rate = tenant.details.tax_rate;
    let amount_so_far = draft_invoice(&period, &inputs, tax_rate)?;
    let projected = project(&inputs, rollups, now)?;
    let projection = match draft_invoice(&period, &projected, tax_rate)? {
        Some(draft) => {
            let total = projected.iter().try_fold(Quantities::default(), |sum, i| sum.checked_add(&i.quantities));
            Some(Projection { draft, usage: total? })
        }
        None => None,
    };
    Ok(CurrentUsage {
        tenant_id: id.clone(),
        period,
        as_of: now,
        usage: usage.quantities,
        records: usage.records,
        amount_so_far,
        projection,
        unbilled,
    })
}
