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
use super::record::{parse_native, RecordError, TimeWindow};
use super::service::Ingestor;
use crate::auth::IngestCaller;
use crate::domain::NewUsageRecord;
use crate::http::ApiError;
use crate::telemetry::spawn_blocking_with_tracing;

/// Stores native usage records: 200 when all were stored or duplicates, else 422 by index.
///
/// The span is `debug`: at single-record rates an `info` span per request (kept by the
/// default filter) costs microseconds of the request's few tens; the access log says the rest.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn ingest_usage(batch: IngestBatch, ingestor: web::Data<Ingestor>) -> Result<HttpResponse, ApiError> {
    ingest(Wire::Native, batch, &ingestor).await
}

/// Stores CloudEvents: 204 when all were stored or duplicates, else 422 by index.
#[tracing::instrument(level = "debug", skip_all)]
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

/// Bodies up to this size are parsed on the HTTP worker; larger ones on the blocking pool.
///
/// An HTTP worker is one thread serving many connections: parsing a 1 000-record batch holds
/// it for milliseconds, and every small request queued on it (an entitlement check on a
/// runtime's hot path) waits that long. Off the worker, the parse is one more thread the
/// kernel schedules fairly, and a woken worker answers at once. The hop costs microseconds,
/// which single records would feel and batches do not.
const PARSE_INLINE_MAX_BYTES: usize = 16 * 1024;

/// Splits the body into records, parses each, submits them, and answers the report.
async fn ingest(wire: Wire, batch: IngestBatch, ingestor: &Ingestor) -> Result<HttpResponse, ApiError> {
    let IngestBatch { caller, content_type, body, limits } = batch;
    let window = ingestor.window();
    let inline = body.bytes.len() <= PARSE_INLINE_MAX_BYTES;
    // The body (and its share of the in-flight budget) lives until the records are submitted.
    let parse = move || {
        let parsed = parse_batch(wire, &limits, &content_type, &body.bytes, &window);
        (parsed, body)
    };
    let (parsed, _body) = if inline {
        parse()
    } else {
        spawn_blocking_with_tracing(parse)
            .await
            .map_err(|e| ApiError::Unexpected(anyhow::anyhow!("parsing the batch failed: {e}")))?
    };
    let report = ingestor.submit(&caller.0, parsed?).await?;
    let ok_status = match wire {
        Wire::Native => StatusCode::OK,
        Wire::CloudEvents => StatusCode::NO_CONTENT,
    };
    Ok(report.into_response(ok_status))
}

/// The body split into records, each parsed (a bad record is reported by its index).
fn parse_batch(
    wire: Wire,
    limits: &BodyLimits,
    content_type: &str,
    body: &[u8],
    window: &TimeWindow,
) -> Result<Vec<Result<NewUsageRecord, RecordError>>, ApiError> {
    let raws = match wire {
        Wire::Native => limits.split_native(body)?,
        Wire::CloudEvents => limits.split_events(content_type, body)?,
    };
    Ok(match wire {
        Wire::Native => raws.iter().map(|raw| parse_native(raw.get(), window)).collect(),
        Wire::CloudEvents => raws.iter().map(|raw| parse_event(raw.get(), window, window.now)).collect(),
    })
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
