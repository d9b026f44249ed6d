//! `GET /v1/tenants/{id}/usage/current` (api-spec `getCurrentUsage`): period-to-date usage,
//! the amount so far (drafted exactly as the invoice will be) and a projection to period end.
//!
//! Stage: the HTTP edge. Checks who may read the tenant, asks `invoice::current_usage`, renders
//! the answer. Must hold no billing logic and call the store only through that service.

use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use super::lookup::ReadableTenant;
use super::money_wire;
use crate::clock::SharedClock;
use crate::http::ApiError;
use crate::invoice::{current_usage, CurrentUsage};
use crate::plans::SharedCatalog;
use crate::store::Store;

/// Period-to-date usage and charges.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.0.id))]
pub async fn get_current_usage(
    tenant: ReadableTenant,
    store: web::Data<Store>,
    catalog: web::Data<SharedCatalog>,
    clock: web::Data<SharedClock>,
) -> Result<HttpResponse, ApiError> {
    let store = store.get_ref();
    let catalog = catalog.current(store).await?;
    let current = current_usage(store, &catalog, &tenant.0.id, clock.now()).await?;
    Ok(HttpResponse::Ok().json(respond(&current)))
}

fn respond(current: &CurrentUsage) -> Value {
    let projection = current.projection.as_ref().map_or(Value::Null, |p| {
        let mut draft = money_wire::draft(&p.draft);
        draft["usage"] = money_wire::quantities(&p.usage);
        draft
    });
    json!({
        "tenant_id": current.tenant_id,
        "period": money_wire::period(&current.period),
        "as_of": current.as_of,
        "usage": money_wire::quantities(&current.usage),
        "records": current.records,
        "amount_so_far": current.amount_so_far.as_ref().map_or(Value::Null, money_wire::draft),
        "projection": projection,
        "unbilled": current.unbilled.as_ref().map_or(Value::Null, |u| {
            money_wire::unbilled(&u.quantities, u.records, u.reason.as_str())
        }),
    })
}
