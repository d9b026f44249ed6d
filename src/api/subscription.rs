//! `PUT /v1/tenants/{id}/subscription` (api-spec `changeSubscription`): put a tenant on a
//! plan at its next period start (default) or immediately (prorated segments).

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use super::idempotency::{run_idempotent, JsonReply};
use super::json::{parse_json, JsonBody};
use crate::aggregate::bucket_start;
use crate::auth::{visible_tenant, AdminCaller};
use crate::clock::SharedClock;
use crate::domain::{plan_at, ChangeTiming, SubscriptionChange, Tenant};
use crate::error::ApiError;
use crate::invoice::period_containing;
use crate::plans::load_catalog;
use crate::rate::PlanCatalog;
use crate::store::Store;

/// Body of `changeSubscription`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeSubscriptionRequest {
    plan: String,
    timing: Option<ChangeTiming>,
}

/// Schedules or applies a plan change.
#[tracing::instrument(skip_all, fields(tenant_id = %path))]
pub async fn change_subscription(
    request: HttpRequest,
    path: web::Path<String>,
    JsonBody(body): JsonBody,
    caller: AdminCaller,
    store: web::Data<Store>,
    clock: web::Data<SharedClock>,
) -> Result<HttpResponse, ApiError> {
    let wanted: ChangeSubscriptionRequest = parse_json(&body)?;
    let id = visible_tenant(&caller.0, &path)?;
    let catalog = load_catalog(store.get_ref()).await?;
    run_idempotent(&request, &body, caller.0.subject(), store.get_ref(), &clock, || async {
        let tenant = store.get_tenant(&id).await.map_err(super::unexpected)?.ok_or(ApiError::NotFound("tenant"))?;
        let timing = wanted.timing.unwrap_or(ChangeTiming::NextPeriod);
        let change = plan_change(store.get_ref(), &catalog, &tenant, &wanted.plan, timing, clock.now()).await?;
        store.change_subscription(&id, &change, clock.now()).await.map_err(super::unexpected)?;
        JsonReply::ok(json!({ "tenant_id": id, "plan": change.plan_id, "effective_at": change.effective_at }))
    })
    .await
}

/// Validates a change (known plan; currency fixed per tenant except at a period start) and
/// picks its instant.
///
/// # Errors
/// 422 `unknown_plan` or `currency_change_not_at_period_start`.
pub async fn plan_change(
    store: &Store,
    catalog: &PlanCatalog,
    tenant: &Tenant,
    plan_id: &str,
    timing: ChangeTiming,
    now: DateTime<Utc>,
) -> Result<SubscriptionChange, ApiError> {
    let plan = catalog
        .latest(plan_id)
        .ok_or_else(|| ApiError::unprocessable("unknown_plan", format!("no plan {plan_id:?}")))?;
    let changes = store.subscriptions(&tenant.id).await.map_err(super::unexpected)?;
    let effective_at = match (timing, plan_at(&changes, now)) {
        // Without a current plan, "next period" would leave usage unbilled until then: start now.
        (ChangeTiming::Immediately, _) | (_, None) => bucket_start(now),
        (ChangeTiming::NextPeriod, Some(_)) => period_containing(tenant.details.timezone, now).end(),
    };
    let current_currency = plan_at(&changes, now).and_then(|c| catalog.latest(&c.plan_id)).map(|v| v.plan.currency());
    let at_period_start = effective_at == period_containing(tenant.details.timezone, effective_at).start();
    if current_currency.is_some_and(|c| c != plan.plan.currency()) && !at_period_start {
        return Err(ApiError::unprocessable(
            "currency_change_not_at_period_start",
            "a plan in another currency can only start at the next period (timing \"next_period\")",
        ));
    }
    Ok(SubscriptionChange { effective_at, plan_id: plan_id.to_owned() })
}
