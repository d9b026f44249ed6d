//! `POST /v1/usage` (api-spec `ingestUsage`) and `POST /api/v1/events` (`ingestEvents`).
//! Both take an [`IngestBatch`] and run the one [`ingest`] body; only the wire format differs.
//!
//! Stage: ingest, at the HTTP edge; uses `http` for errors, never `api`.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use tracing::Instrument;

use super::body::{BodyLimits, LimitedBody};
use super::cloudevents::parse_event;
use super::plain_record;
use super::record::{parse_native, validate_native, RecordError, TimeWindow};
use super::service::Ingestor;
use crate::auth::IngestCaller;
use crate::domain::NewUsageRecord;
use crate::http::ApiError;
use crate::telemetry::spawn_blocking_with_tracing;

/// Stores native usage records: 200 when all were stored or duplicates, else 422 by index.
///
/// Not an `async fn`: one would lay its arguments out beside the [`ingest`] future it
/// awaits, and actix boxes the whole on every request (see [`ingest`]). The span is `debug`:
/// at single-record rates an `info` span per request (kept by the default filter) costs
/// microseconds of the request's few tens; the access log says the rest.
pub fn ingest_usage(
    batch: IngestBatch,
    ingestor: web::Data<Ingestor>,
) -> impl Future<Output = Result<HttpResponse, ApiError>> {
    ingest(Wire::Native, batch, ingestor).instrument(tracing::debug_span!("ingest_usage"))
}

/// Stores CloudEvents: 204 when all were stored or duplicates, else 422 by index.
pub fn ingest_events(
    batch: IngestBatch,
    ingestor: web::Data<Ingestor>,
) -> impl Future<Output = Result<HttpResponse, ApiError>> {
    ingest(Wire::CloudEvents, batch, ingestor).instrument(tracing::debug_span!("ingest_events"))
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
///
/// actix boxes each request's handler future. Past 1 032 bytes that box misses glibc's
/// per-thread cache, and its `malloc` first consolidates the small chunks freed since: a
/// 2 024-byte box did that on every single-record request (BENCHMARKS.md, Dec 7). So the
/// submission, the largest state here, is boxed on its own, and the test
/// `the_ingest_routes_futures_fit_the_allocators_thread_cache` keeps the rest under the line.
async fn ingest(wire: Wire, batch: IngestBatch, ingestor: web::Data<Ingestor>) -> Result<HttpResponse, ApiError> {
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
    let report = Box::pin(ingestor.submit(&caller.0, parsed?)).await?;
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
    match wire {
        Wire::Native => parse_native_body(limits, body, window),
        Wire::CloudEvents => {
            let raws = limits.split_events(content_type, body)?;
            Ok(raws.iter().map(|raw| parse_event(raw.get(), window, window.now)).collect())
        }
    }
}

/// A native body: read in one pass when every record in it is spelled the usual way
/// (`plain_record.rs`), else split into raw records, each read on its own — the path that
/// tells a malformed body from a bad record and words every error.
fn parse_native_body(
    limits: &BodyLimits,
    body: &[u8],
    window: &TimeWindow,
) -> Result<Vec<Result<NewUsageRecord, RecordError>>, ApiError> {
    if let Some(records) = plain_record::read_body(body) {
        limits.check_count(records.len())?;
        return Ok(records.into_iter().map(|wire| validate_native(wire, window)).collect());
    }
    let raws = limits.split_native(body)?;
    Ok(raws.iter().map(|raw| parse_native(raw.get(), window)).collect())
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use chrono::DateTime;
    use tokio::sync::Semaphore;

    use super::*;

    type Parsed = Result<Vec<Result<NewUsageRecord, RecordError>>, &'static str>;

    fn limits() -> BodyLimits {
        BodyLimits { max_body_bytes: 1 << 20, max_records: 3, inflight: Arc::new(Semaphore::new(1024)) }
    }

    fn window() -> TimeWindow {
        TimeWindow {
            now: DateTime::parse_from_rfc3339("2026-11-27T12:00:00Z").unwrap().to_utc(),
            allowed_lateness: Duration::from_secs(35 * 86_400),
        }
    }

    /// What the route answers for `body`.
    fn parsed(body: &[u8]) -> Parsed {
        parse_native_body(&limits(), body, &window()).map_err(|e| e.code())
    }

    /// What the split and the per-record path alone answer.
    fn split_then_each(body: &[u8]) -> Parsed {
        let raws = limits().split_native(body).map_err(|e| e.code())?;
        Ok(raws.iter().map(|raw| parse_native(raw.get(), &window())).collect())
    }

    fn usual(id: &str, tenant: &str) -> String {
        format!(r#"{{"id":"{id}","tenant_id":"{tenant}","timestamp":"2026-11-27T11:00:00Z","invocations":1}}"#)
    }

    /// The size of the future a two-argument `handler` returns, without calling it.
    fn handler_future_size<A, B, F: Fn(A, B) -> Fut, Fut>(_handler: F) -> usize {
        std::mem::size_of::<Fut>()
    }

    /// The size of the future a method of two arguments returns, without calling it.
    fn method_future_size<S, A, B, F: Fn(S, A, B) -> Fut, Fut>(_method: F) -> usize {
        std::mem::size_of::<Fut>()
    }

    #[test]
    fn the_ingest_routes_futures_fit_the_allocators_thread_cache() {
        // actix boxes the handler's future with the extractors' state: the release build
        // made a 2 024-byte `malloc` a request when this test measured the future at 1 808
        // bytes. The box must stay within glibc's per-thread cache, 1 032 bytes.
        const ACTIX_STATE_BYTES: usize = 2_024 - 1_808;
        const THREAD_CACHE_MAX_BYTES: usize = 1_032;
        let handlers =
            [("/v1/usage", handler_future_size(ingest_usage)), ("/api/v1/events", handler_future_size(ingest_events))];
        for (route, size) in handlers {
            assert!(size + ACTIX_STATE_BYTES <= THREAD_CACHE_MAX_BYTES, "{route}'s handler future takes {size} bytes");
        }
        let submission = method_future_size(Ingestor::submit);
        assert!(submission <= THREAD_CACHE_MAX_BYTES, "the boxed submission takes {submission} bytes");
    }

    #[test]
    fn a_body_of_usual_records_is_read_in_one_pass_as_the_split_path_reads_it() {
        let bodies = [
            format!(r#"{{"records":[{},{}]}}"#, usual("a", "acme"), usual("b", "acme")),
            format!(" {{ \"records\" : [ {} ] }}\n", usual("a", "acme")),
            usual("a", "acme"),
            r#"{"records":[]}"#.to_owned(),
            format!(r#"{{"records":[{},{}]}}"#, usual("a", "acme"), usual("b", "Not A Slug")),
            format!(r#"{{"records":[{0},{0},{0},{0}]}}"#, usual("a", "acme")),
        ];
        for body in bodies {
            assert!(plain_record::read_body(body.as_bytes()).is_some(), "read in one pass: {body}");
            assert_eq!(parsed(body.as_bytes()), split_then_each(body.as_bytes()), "{body}");
        }
    }

    #[test]
    fn a_body_spelled_otherwise_goes_through_the_split_and_reads_the_same() {
        let escaped = r#"{"id":"\u0061","tenant_id":"acme","timestamp":"2026-11-27T11:00:00Z","invocations":1}"#;
        let bodies = [
            format!(r#"{{"records":[{},{escaped}]}}"#, usual("a", "acme")),
            format!(r#"{{"records":[{}],"extra":1}}"#, usual("a", "acme")),
            format!(r#"{{"records":[{}]}} x"#, usual("a", "acme")),
            format!(r#"{{"records":[{}],"records":[]}}"#, usual("a", "acme")),
            format!(r#"{{"records":[{},7]}}"#, usual("a", "acme")),
            r#"{"records":{}}"#.to_owned(),
            "[]".to_owned(),
            String::new(),
        ];
        for body in bodies {
            assert!(plain_record::read_body(body.as_bytes()).is_none(), "left to the split: {body}");
            assert_eq!(parsed(body.as_bytes()), split_then_each(body.as_bytes()), "{body}");
        }
        let not_utf8 =
            b"{\"id\":\"\xff\",\"tenant_id\":\"acme\",\"timestamp\":\"2026-11-27T11:00:00Z\",\"invocations\":1}";
        assert!(plain_record::read_body(not_utf8).is_none());
        assert_eq!(parsed(not_utf8), split_then_each(not_utf8));
    }
}
