//! `GET /v1/tenants/{id}/unbilled` (api-spec `listUnbilled`, admin): the tenant's
//! unbilled-usage entries (DESIGN §6), one per period, newest first.
//!
//! Stage: the HTTP edge. Checks the admin may read the tenant, reads the entries, renders them.

use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use super::lookup::ReadableTenant;
use super::money_wire;
use crate::auth::AdminCaller;
use crate::http::ApiError;
use crate::store::{Store, UnbilledEntry};

/// The tenant's unbilled-usage entries.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.0.id))]
pub async fn list_unbilled(
    _admin: AdminCaller,
    tenant: ReadableTenant,
    store: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    let entries = store.unbilled_entries(&tenant.0.id).await?;
    Ok(HttpResponse::Ok().json(json!({ "entries": entries.iter().map(entry_json).collect::<Vec<_>>() })))
}

fn entry_json(e: &UnbilledEntry) -> Value {
    let mut entry = money_wire::unbilled(&e.quantities, e.records, &e.reason);
    entry["tenant_id"] = json!(e.tenant_id);
    entry["period"] = money_wire::period(&e.period);
    entry["created_at"] = json!(e.created_at);
    entry
}
