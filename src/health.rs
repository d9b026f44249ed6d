//! `/healthz` (the process answers), `/readyz` (the database answers), `/metrics`.
//!
//! Stage: the HTTP edge (operations). Uses `http`, `store` and `metrics` only.

use std::sync::Arc;

use actix_web::{web, HttpResponse};

use crate::http::ApiError;
use crate::metrics::Metrics;
use crate::store::Store;

/// 200 while the process serves requests.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// 200 when the database answers, else 503.
pub async fn readyz(store: web::Data<Store>) -> Result<HttpResponse, ApiError> {
    store.ping().await.map_err(|_| ApiError::Unavailable { retry_after_secs: 2 })?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })))
}

/// Prometheus text exposition.
pub async fn metrics(metrics: web::Data<Arc<Metrics>>) -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(metrics.render())
}
