//! Makes actix's own errors (unknown route, wrong method, bad query or path) answer in the
//! one error shape.
//!
//! Stage: the HTTP edge (wiring helpers for `startup`'s route table). Knows no route.

use actix_web::{web, HttpResponse, Resource};

use super::ApiError;

/// A resource whose unmatched methods answer 405 in our shape.
pub fn resource(path: &str) -> Resource {
    web::resource(path).default_service(web::to(|| async { Err::<HttpResponse, _>(ApiError::MethodNotAllowed) }))
}

/// 404 for unknown routes.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound("route"))
}

/// Query string errors → 400 `invalid_query`.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default()
        .error_handler(|error, _| ApiError::bad_request("invalid_query", error.to_string()).into())
}

/// Path parameter errors → 404.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|_, _| ApiError::NotFound("resource").into())
}
