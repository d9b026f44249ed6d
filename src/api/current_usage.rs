//! `GET /v1/tenants/{id}/usage/current` (api-spec `getCurrentUsage`): period-to-date usage,
//! the amount so far (drafted exactly as the invoice will be) and a projection to period end.

use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use super::money_wire;
use crate::aggregate::sum_rollups;
use crate::auth::AnyCaller;
use crate::clock::SharedClock;
use crate::error::ApiError;
use crate::invoice::period_containing;
use crate::invoice::{draft_invoice, project, segment_inputs, segments};
use crate::plans::load_catalog;
use crate::store::Store;

/// Period-to-date usage and charges.
#[tracing::instrument(skip_all, fields(tenant_id = %path))]
pub async fn get_current_usage(
    path: web::Path<String>,
    caller: AnyCaller,
    store: web::Data<Store>,
    clock: web::Data<SharedClock>,
) -> Result<HttpResponse, ApiError> {
    let id = caller.readable_tenant(&path)?;
    let tenant = store.get_tenant(&id).await.map_err(super::unexpected)?.ok_or(ApiError::NotFound("tenant"))?;
    let catalog = load_catalog(store.get_ref()).await?;
    let now = clock.now();
    let period = period_containing(tenant.details.timezone, now);
    let rollups = store.rollups(&id, period.start(), period.end()).await.map_err(super::unexpected)?;
    let usage = sum_rollups(&rollups, period.start(), period.end()).map_err(|e| ApiError::Unexpected(e.into()))?;
    let changes = store.subscriptions(&id).await?;
    let inputs = segment_inputs(&catalog, &segments(&period, &changes), &period, &rollups)?;
    let draft = |inputs: &[_]| -> Result<Value, ApiError> {
        let drafted =
            draft_invoice(&period, inputs, tenant.details.tax_rate).map_err(|e| ApiError::Unexpected(e.into()))?;
        Ok(drafted.as_ref().map_or(Value::Null, money_wire::draft))
    };
    let so_far = draft(&inputs)?;
    let projected = project(&inputs, now);
    let mut projection = draft(&projected)?;
    if !projection.is_null() {
        let total =
            projected.iter().try_fold(crate::domain::Quantities::default(), |sum, i| sum.checked_add(&i.quantities));
        projection["usage"] = money_wire::quantities(&total.map_err(|e| ApiError::Unexpected(e.into()))?);
    }
    Ok(HttpResponse::Ok().json(json!({
        "tenant_id": id,
        "period": { "start": period.start(), "end": period.end() },
        "as_of": now,
        "usage": money_wire::quantities(&usage.quantities),
        "records": usage.records,
        "amount_so_far": so_far,
        "projection": projection,
    })))
}
