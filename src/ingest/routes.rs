//! `POST /v1/usage` (api-spec `ingestUsage`) and `POST /api/v1/events` (`ingestEvents`).
//! Both take an [`IngestBatch`] and run the one [`ingest`] body; only the wire format differs.
//!
//! Stage: ingest, at the HTTP edge; uses `http` for errors, never `api`.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};

use super::body::{BodyLimits, LimitedBody};
use super::cloudevents::parse_event;
use super::record::parse_native;
use super::service::Ingestor;
use crate::auth::IngestCaller;
use crate::http::ApiError;

/// Stores native usage records: 200 when all were stored or duplicates, else 422 by index.
#[tracing::instrument(skip_all)]
pub async fn ingest_usage(batch: IngestBatch, ingestor: web::Data<Ingestor>) -> Result<HttpResponse, ApiError> {
    ingest(Wire::Native, batch, &ingestor).await
}

/// Stores CloudEvents: 204 when all were stored or duplicates, else 422 by index.
#[tracing::instrument(skip_all)]
pub async fn ingest_events(batch: IngestBatch, ingestor: web::Data<Ingestor>) -> Result<HttpResponse, ApiError> {
    ingest(Wire::CloudEvents, batch, &ingestor).await
}

/// The two wire formats of usage.
#[derive(Clone, Copy)]
enum Wire {
    /// `POST /v1/usage`: one record or `{"records": [...]}`.
    Native,
    /// `POST /api/v1/events`: one event or an array, by content type.
    CloudEvents,
}

/// Splits the body into records, parses each, submits them, and answers the report.
async fn ingest(wire: Wire, batch: IngestBatch, ingestor: &Ingestor) -> Result<HttpResponse, ApiError> {
    let IngestBatch { caller, content_type, body, limits } = batch;
    let raws = match wire {
        Wire::Native => limits.split_native(&body.bytes)?,
        Wire::CloudEvents => limits.split_events(&content_type, &body.bytes)?,
    };
    let window = ingestor.window();
    let parsed = match wire {
        Wire::Native => raws.iter().map(|raw| parse_native(raw.get(), &window)).collect(),
        Wire::CloudEvents => raws.iter().map(|raw| parse_event(raw.get(), &window, window.now)).collect(),
    };
    let report = ingestor.submit(&caller.0, parsed).await?;
    let ok_status = match wire {
        Wire::Native => StatusCode::OK,
        Wire::CloudEvents => StatusCode::NO_CONTENT,
    };
    Ok(report.into_response(ok_status))
}

/// What both ingest routes take: a caller that may send usage, and the body, read within
/// [`BodyLimits`] only once the caller is authenticated (an anonymous client spends none of
/// the in-flight budget).
pub struct IngestBatch {
    caller: IngestCaller,
    content_type: String,
    body: LimitedBody,
    limits: web::Data<BodyLimits>,
}

impl FromRequest for IngestBatch {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let caller = IngestCaller::from_request(request, payload);
        let payload = web::Payload::from_request(request, payload).into_inner();
        let request = request.clone();
        Box::pin(async move {
            let caller = caller.await?;
            let Some(limits) = request.app_data::<web::Data<BodyLimits>>().cloned() else {
                return Err(ApiError::Unexpected(anyhow::anyhow!("the ingest body limits are not configured")));
            };
            let payload = payload.map_err(|e| ApiError::Unexpected(anyhow::anyhow!("{e}")))?;
            let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
            let content_type = content_type.to_owned();
            let body = limits.read(&request, payload).await?;
            Ok(Self { caller, content_type, body, limits })
        })
    }
}
