//! `PUT /v1/tenants/{id}/subscription` (api-spec `changeSubscription`): put a tenant on a
//! plan at its next period start (default) or immediately (prorated segments), optionally
//! backdated to a `start` within the open period.
//!
//! Stage: the HTTP edge. Parses the body, asks `invoice::change_plan`, answers the change.
//! Must hold no subscription rules (they live in `invoice::subscription`).

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use super::lookup::PathChange;
use crate::auth::AdminCaller;
use crate::domain::ChangeTiming;
use crate::http::{ApiError, JsonReply};
use crate::invoice::change_plan;
use crate::plans::SharedCatalog;

/// Body of `changeSubscription`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeSubscriptionRequest {
    plan: String,
    timing: Option<ChangeTiming>,
    /// Backdates an immediate change within the open period (fees prorate from it).
    start: Option<DateTime<Utc>>,
}

/// Schedules or applies a plan change.
#[tracing::instrument(skip_all, fields(tenant_id = %request.id))]
pub async fn change_subscription(
    request: PathChange<AdminCaller>,
    catalog: web::Data<SharedCatalog>,
) -> Result<HttpResponse, ApiError> {
    let wanted: ChangeSubscriptionRequest = request.json()?;
    let id = request.tenant()?;
    let store = request.store();
    let catalog = catalog.current(store).await?;
    request
        .run(|| async {
            let default = if wanted.start.is_some() { ChangeTiming::Immediately } else { ChangeTiming::NextPeriod };
            let when = (wanted.timing.unwrap_or(default), wanted.start);
            let change = change_plan(store, &catalog, &id, &wanted.plan, when, request.now()).await?;
            JsonReply::ok(json!({
                "tenant_id": id, "plan": change.plan_id, "effective_at": change.effective_at,
                "usage_from": change.usage_from,
            }))
        })
        .await
}
