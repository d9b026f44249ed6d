//! `POST /v1/usage` (api-spec `ingestUsage`) and `POST /api/v1/events` (`ingestEvents`).
//! Each handler parses, calls the ingestor, and answers.
//!
//! Stage: ingest, at the HTTP edge; uses `http` for errors, never `api`.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};

use super::body::BodyLimits;
use super::cloudevents::parse_event;
use super::record::parse_native;
use super::service::Ingestor;
use crate::auth::IngestCaller;
use crate::http::ApiError;

/// Stores native usage records: 200 when all were stored or duplicates, else 422 by index.
#[tracing::instrument(skip_all)]
pub async fn ingest_usage(
    request: HttpRequest,
    payload: web::Payload,
    caller: IngestCaller,
    limits: web::Data<BodyLimits>,
    ingestor: web::Data<Ingestor>,
) -> Result<HttpResponse, ApiError> {
    let body = limits.read(&request, payload).await?;
    let raws = limits.split_native(&body.bytes)?;
    let window = ingestor.window();
    let parsed = raws.iter().map(|raw| parse_native(raw.get(), &window)).collect();
    let report = ingestor.submit(&caller.0, parsed).await?;
    Ok(report.into_response(StatusCode::OK))
}

/// Stores CloudEvents: 204 when all were stored or duplicates, else 422 by index.
#[tracing::instrument(skip_all)]
pub async fn ingest_events(
    request: HttpRequest,
    payload: web::Payload,
    caller: IngestCaller,
    limits: web::Data<BodyLimits>,
    ingestor: web::Data<Ingestor>,
) -> Result<HttpResponse, ApiError> {
    let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let content_type = content_type.to_owned();
    let body = limits.read(&request, payload).await?;
    let raws = limits.split_events(&content_type, &body.bytes)?;
    let window = ingestor.window();
    let parsed = raws.iter().map(|raw| parse_event(raw.get(), &window, window.now)).collect();
    let report = ingestor.submit(&caller.0, parsed).await?;
    Ok(report.into_response(StatusCode::NO_CONTENT))
}
