//! Reading and splitting ingest bodies: size limits, the in-flight byte bound, and the
//! top-level shapes (one record / `{"records": [...]}`; one event / an array of events).
//!
//! Records are split as raw JSON so that one bad record is reported by index while the rest
//! of the batch is still stored.

use std::sync::Arc;

use actix_web::web::{Bytes, BytesMut, Payload};
use actix_web::HttpRequest;
use futures_util::StreamExt;
use serde_json::value::RawValue;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::http::ApiError;

/// Bounds what one request and all requests together may hold in memory.
pub struct BodyLimits {
    pub max_body_bytes: usize,
    pub max_records: usize,
    /// Permits are KiB of request body being read or parsed.
    pub inflight: Arc<Semaphore>,
}

/// A body that holds its share of the in-flight budget until dropped.
pub struct LimitedBody {
    pub bytes: Bytes,
    _permit: OwnedSemaphorePermit,
}

impl BodyLimits {
    /// Reads the body, refusing it early (413) when it is too large and answering 429 when
    /// the in-flight budget is spent.
    ///
    /// # Errors
    /// 413 `payload_too_large`, 429 `too_many_requests`, or 400 when the stream breaks.
    pub async fn read(&self, request: &HttpRequest, mut payload: Payload) -> Result<LimitedBody, ApiError> {
        let too_large =
            || ApiError::PayloadTooLarge(format!("request body is larger than {} bytes", self.max_body_bytes));
        let declared = request
            .headers()
            .get(actix_web::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > self.max_body_bytes) {
            return Err(too_large());
        }
        let kib = u32::try_from(declared.unwrap_or(self.max_body_bytes).div_ceil(1024).max(1)).unwrap_or(u32::MAX);
        let permit = self
            .inflight
            .clone()
            .try_acquire_many_owned(kib)
            .map_err(|_| ApiError::TooManyRequests { retry_after_secs: 1 })?;
        let mut bytes = BytesMut::with_capacity(declared.unwrap_or(0));
        while let Some(chunk) = payload.next().await {
            let chunk =
                chunk.map_err(|e| ApiError::bad_request("invalid_body", format!("could not read the body: {e}")))?;
            if bytes.len() + chunk.len() > self.max_body_bytes {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(LimitedBody { bytes: bytes.freeze(), _permit: permit })
    }

    fn check_count(&self, count: usize) -> Result<(), ApiError> {
        if count > self.max_records {
            return Err(ApiError::PayloadTooLarge(format!("at most {} records per request", self.max_records)));
        }
        Ok(())
    }

    /// Splits a `POST /v1/usage` body into raw records: one record object, or
    /// `{"records": [...]}`.
    ///
    /// # Errors
    /// 400 `malformed_json` / `invalid_body`, 413 `too_many_records`.
    pub fn split_native<'a>(&self, body: &'a [u8]) -> Result<Vec<&'a RawValue>, ApiError> {
        let top: &RawValue = parse(body)?;
        if !top.get().starts_with('{') {
            return Err(ApiError::bad_request(
                "invalid_body",
                "body must be a usage record object or {\"records\": [...]}",
            ));
        }
        let fields: TopLevel = parse(top.get().as_bytes())?;
        let records = match fields.records.as_slice() {
            [] => return Ok(vec![top]),
            [records] if fields.others == 0 => records,
            [_] => return Err(ApiError::bad_request("invalid_body", "a batch body has only the field \"records\"")),
            [..] => {
                return Err(ApiError::bad_request(
                    "duplicate_json_key",
                    "key \"records\" appears more than once; send one array of records",
                ))
            }
        };
        let records: Vec<&RawValue> = serde_json::from_str(records.get())
            .map_err(|_| ApiError::bad_request("invalid_body", "\"records\" must be an array"))?;
        self.check_count(records.len())?;
        Ok(records)
    }

    /// Splits a CloudEvents body by content type: `application/cloudevents+json` (one event),
    /// `application/cloudevents-batch+json` (an array), `application/json` (either).
    ///
    /// # Errors
    /// 415 for other content types, 400 for unparseable envelopes, 413 for too many events.
    pub fn split_events<'a>(&self, content_type: &str, body: &'a [u8]) -> Result<Vec<&'a RawValue>, ApiError> {
        let media = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        let top: &RawValue = parse(body)?;
        let is_array = top.get().starts_with('[');
        let events = match (media.as_str(), is_array) {
            ("application/cloudevents+json" | "application/json", false) => vec![top],
            ("application/cloudevents-batch+json" | "application/json", true) => {
                serde_json::from_str(top.get()).map_err(|e| ApiError::bad_request("malformed_json", e.to_string()))?
            }
            ("application/cloudevents+json", true) => {
                return Err(ApiError::bad_request(
                    "invalid_body",
                    "a single event must be a JSON object; send batches as application/cloudevents-batch+json",
                ))
            }
            ("application/cloudevents-batch+json", false) => {
                return Err(ApiError::bad_request("invalid_body", "a batch must be a JSON array of events"))
            }
            _ => return Err(ApiError::UnsupportedMediaType(EVENT_CONTENT_TYPES)),
        };
        self.check_count(events.len())?;
        Ok(events)
    }
}

/// The top level of a native body, read in one pass that keeps every `"records"` it meets (a
/// map would keep only the last one, silently dropping the others) and skips the rest: the
/// keys of a single record are checked, repeats included, when that record is parsed.
struct TopLevel<'a> {
    records: Vec<&'a RawValue>,
    others: usize,
}

impl<'de> serde::Deserialize<'de> for TopLevel<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = TopLevel<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut top = TopLevel { records: Vec::new(), others: 0 };
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    if key == "records" {
                        top.records.push(map.next_value()?);
                    } else {
                        map.next_value::<serde::de::IgnoredAny>()?;
                        top.others += 1;
                    }
                }
                Ok(top)
            }
        }
        deserializer.deserialize_map(Fields)
    }
}

/// The content types `POST /api/v1/events` accepts.
pub const EVENT_CONTENT_TYPES: &str =
    "application/cloudevents+json, application/cloudevents-batch+json, application/json";

fn parse<'a, T: serde::Deserialize<'a>>(body: &'a [u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request("malformed_json", format!("body is not valid JSON: {e}")))
}
