//! `GET /v1/plans` (api-spec `listPlans`), `GET /v1/plans/{id}` (`getPlan`) and
//! `POST /v1/quotes` (`createQuote`): the price list and what usage would cost on it.
//!
//! Stage: the HTTP edge. Reads the shared plan catalog (`plans::SharedCatalog`, parsed once)
//! and prices with pure `rate`; must not parse plan definitions itself.

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{money_wire, plan_wire};
use crate::auth::AnyCaller;
use crate::domain::{parse_quantity_text, Meter, Quantities};
use crate::http::{parse_json, ApiError, JsonBody};
use crate::plans::SharedCatalog;
use crate::rate::{rate_usage, Proration};
use crate::store::Store;

/// Every plan's newest version.
#[tracing::instrument(skip_all)]
pub async fn list_plans(
    _caller: AnyCaller,
    store: web::Data<Store>,
    catalog: web::Data<SharedCatalog>,
) -> Result<HttpResponse, ApiError> {
    let catalog = catalog.current(store.get_ref()).await?;
    let data: Vec<Value> = catalog.ids().filter_map(|id| catalog.latest(id)).map(plan_wire::latest).collect();
    Ok(HttpResponse::Ok().json(json!({ "data": data })))
}

/// One plan with every version.
#[tracing::instrument(skip_all, fields(plan_id = %path))]
pub async fn get_plan(
    path: web::Path<String>,
    _caller: AnyCaller,
    store: web::Data<Store>,
    catalog: web::Data<SharedCatalog>,
) -> Result<HttpResponse, ApiError> {
    let catalog = catalog.current(store.get_ref()).await?;
    let latest = catalog.latest(&path).ok_or(ApiError::NotFound("plan"))?;
    let mut body = plan_wire::latest(latest);
    body["versions"] = catalog.versions(&path).iter().map(plan_wire::version).collect();
    Ok(HttpResponse::Ok().json(body))
}

/// `POST /v1/quotes` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuoteRequest {
    plan: String,
    usage: BTreeMap<String, Value>,
}

/// Prices hypothetical usage for a whole period on a plan's newest version (no tax: a quote
/// does not depend on a tenant).
#[tracing::instrument(skip_all)]
pub async fn create_quote(
    JsonBody(body): JsonBody,
    _caller: AnyCaller,
    store: web::Data<Store>,
    catalog: web::Data<SharedCatalog>,
) -> Result<HttpResponse, ApiError> {
    let request: QuoteRequest = parse_json(&body)?;
    let catalog = catalog.current(store.get_ref()).await?;
    let version = catalog
        .latest(&request.plan)
        .ok_or_else(|| ApiError::unprocessable("unknown_plan", format!("no plan {:?}", request.plan)))?;
    let usage = quote_usage(&request.usage)?;
    let breakdown = rate_usage(&version.plan, &usage, Proration::FULL)
        .map_err(|e| ApiError::unprocessable("quote_overflow", e.to_string()))?;
    let mut out = money_wire::breakdown(&breakdown);
    out["plan_version"] = json!(version.version);
    out["usage"] = money_wire::quantities(&usage);
    out["total"] = out["subtotal"].clone();
    Ok(HttpResponse::Ok().json(out))
}

/// Meter name → non-negative exact decimal (number or string).
pub fn quote_usage(usage: &BTreeMap<String, Value>) -> Result<Quantities, ApiError> {
    let mut quantities = Quantities::default();
    for (name, value) in usage {
        let meter = Meter::parse(name)
            .ok_or_else(|| ApiError::unprocessable("invalid_usage", format!("unknown meter {name:?}")))?;
        let text = match value {
            Value::Number(n) => n.as_str(),
            Value::String(s) => s.as_str(),
            _ => return Err(ApiError::unprocessable("invalid_usage", format!("{name} must be a number"))),
        };
        let quantity = parse_quantity_text(text)
            .map_err(|e| ApiError::unprocessable("invalid_usage", format!("{name} {e} (got {text:?})")))?;
        quantities.set(meter, quantity);
    }
    Ok(quantities)
}
