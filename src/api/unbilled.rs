//! `GET /v1/tenants/{id}/unbilled` (api-spec `listUnbilled`, admin): the tenant's
//! unbilled-usage entries (DESIGN §6), one per period, newest first.
//!
//! Stage: the HTTP edge. Checks the admin may read the tenant, reads the entries, renders them.

use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use super::money_wire;
use crate::auth::AdminCaller;
use crate::http::ApiError;
use crate::store::{Store, UnbilledEntry};

/// The tenant's unbilled-usage entries.
#[tracing::instrument(skip_all, fields(tenant_id = %path))]
pub async fn list_unbilled(
    path: web::Path<String>,
    caller: AdminCaller,
    store: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    let id = caller.readable_tenant(&path)?;
    if store.get_tenant(&id).await?.is_none() {
        return Err(ApiError::NotFound("tenant"));
    }
    let entries = store.unbilled_entries(&id).await?;
    Ok(HttpResponse::Ok().json(json!({ "entries": entries.iter().map(entry_json).collect::<Vec<_>>() })))
}

fn entry_json(e: &UnbilledEntry) -> Value {
    json!({
        "tenant_id": e.tenant_id,
        "period": { "start": e.period.start(), "end": e.period.end() },
        "reason": e.reason,
        "usage": money_wire::quantities(&e.quantities),
        "records": e.records,
        "created_at": e.created_at,
    })
}
