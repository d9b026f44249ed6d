//! `PUT /v1/tenants/{id}/subscription` (api-spec `changeSubscription`): put a tenant on a
//! plan at its next period start (default) or immediately (prorated segments).
//!
//! Stage: the HTTP edge. Parses the body, asks `invoice::change_plan`, answers the change.
//! Must hold no subscription rules (they live in `invoice::subscription`).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use crate::auth::{visible_tenant, AdminCaller};
use crate::clock::SharedClock;
use crate::domain::ChangeTiming;
use crate::http::{parse_json, run_idempotent, ApiError, JsonBody, JsonReply};
use crate::invoice::change_plan;
use crate::plans::SharedCatalog;
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
    catalog: web::Data<SharedCatalog>,
    clock: web::Data<SharedClock>,
) -> Result<HttpResponse, ApiError> {
    let wanted: ChangeSubscriptionRequest = parse_json(&body)?;
    let id = visible_tenant(&caller.0, &path)?;
    let store = store.get_ref();
    let catalog = catalog.current(store).await?;
    run_idempotent(&request, &body, caller.0.subject(), store, &clock, || async {
        let timing = wanted.timing.unwrap_or(ChangeTiming::NextPeriod);
        let change = change_plan(store, &catalog, &id, &wanted.plan, timing, clock.now()).await?;
        JsonReply::ok(json!({ "tenant_id": id, "plan": change.plan_id, "effective_at": change.effective_at }))
    })
    .await
}
