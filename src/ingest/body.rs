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

    /// 413 when a request holds more than `max_records` records.
    ///
    /// # Errors
    /// 413 `payload_too_large`.
    pub(super) fn check_count(&self, count: usize) -> Result<(), ApiError> {
        if count > self.max_records {
            return Err(ApiError::PayloadTooLarge(format!("at most {} records per request", self.max_records)));
        }
        Ok(())
    }

    /// Splits a `POST /v1/usage` body into raw records: one record object, or
    /// `{"records": [...]}`. A batch is read in one pass — the top level validated and its
    /// array split into raw records as it goes — since every pass over a megabyte of JSON is
    /// a visible share of ingest's CPU; each record is parsed once more, on its own, later.
    ///
    /// # Errors
    /// 400 `malformed_json` / `invalid_body`, 413 `too_many_records`.
    pub fn split_native<'a>(&self, body: &'a [u8]) -> Result<Vec<&'a RawValue>, ApiError> {
        let TopLevel { mut records, others } = match serde_json::from_slice(body) {
            Ok(fields) => fields,
            // Not an object: malformed, or valid JSON of another shape (told apart by a full
            // parse, on this error path only).
            Err(e) if e.classify() == serde_json::error::Category::Data => {
                parse::<&RawValue>(body)?;
                return Err(ApiError::bad_request(
                    "invalid_body",
                    "body must be a usage record object or {\"records\": [...]}",
                ));
            }
            Err(e) => return Err(malformed(&e)),
        };
        let records = match (records.len(), others) {
            (0, _) => return Ok(vec![parse(body)?]),
            (1, 0) => records.pop(),
            (1, _) => return Err(ApiError::bad_request("invalid_body", "a batch body has only the field \"records\"")),
            _ => {
                return Err(ApiError::bad_request(
                    "duplicate_json_key",
                    "key \"records\" appears more than once; send one array of records",
                ))
            }
        };
        let Some(RecordsValue::Array(records)) = records else {
            return Err(ApiError::bad_request("invalid_body", "\"records\" must be an array"));
        };
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
    records: Vec<RecordsValue<'a>>,
    others: usize,
}

/// The value of a `"records"` key: the array split into raw records, or anything else (which
/// the caller refuses by name rather than as a type error of the parser).
enum RecordsValue<'a> {
    Array(Vec<&'a RawValue>),
    NotArray,
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

impl<'de> serde::Deserialize<'de> for RecordsValue<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Value;
        impl<'de> serde::de::Visitor<'de> for Value {
            type Value = RecordsValue<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut records = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(record) = seq.next_element()? {
                    records.push(record);
                }
                Ok(RecordsValue::Array(records))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                serde::de::IgnoredAny.visit_map(map).map(|_| RecordsValue::NotArray)
            }

            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(RecordsValue::NotArray)
            }

            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(RecordsValue::NotArray)
            }

            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(RecordsValue::NotArray)
            }

            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(RecordsValue::NotArray)
            }

            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(RecordsValue::NotArray)
            }

            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(RecordsValue::NotArray)
            }
        }
        deserializer.deserialize_any(Value)
    }
}

/// The content types `POST /api/v1/events` accepts.
pub const EVENT_CONTENT_TYPES: &str =
    "application/cloudevents+json, application/cloudevents-batch+json, application/json";

fn parse<'a, T: serde::Deserialize<'a>>(body: &'a [u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| malformed(&e))
}

fn malformed(error: &serde_json::Error) -> ApiError {
    ApiError::bad_request("malformed_json", format!("body is not valid JSON: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> BodyLimits {
        BodyLimits { max_body_bytes: 1 << 20, max_records: 3, inflight: Arc::new(Semaphore::new(1024)) }
    }

    fn split(body: &str) -> Result<Vec<String>, &'static str> {
        let records = limits().split_native(body.as_bytes()).map_err(|e| e.code())?;
        Ok(records.iter().map(|r| r.get().to_owned()).collect())
    }

    #[test]
    fn a_batch_is_split_into_its_raw_records_in_order() {
        let body = r#" {"records": [{"id":"a"}, {"id":"b","n":[1,{"x":"\"]"}]}, 7] } "#;
        assert_eq!(split(body).unwrap(), [r#"{"id":"a"}"#, r#"{"id":"b","n":[1,{"x":"\"]"}]}"#, "7"]);
    }

    #[test]
    fn a_body_without_records_is_one_record_whatever_its_keys() {
        assert_eq!(split(r#" {"id":"a","invocations":1.50} "#).unwrap(), [r#"{"id":"a","invocations":1.50}"#]);
        assert_eq!(split("{}").unwrap(), ["{}"]);
    }

    #[test]
    fn each_wrong_shape_has_its_own_code() {
        let cases = [
            ("", "malformed_json", "empty"),
            ("[1,", "malformed_json", "an unfinished array is malformed, not a wrong shape"),
            (r#"{"records":[1,}"#, "malformed_json", "a syntax error inside the array"),
            (r#"{"records":[]} x"#, "malformed_json", "trailing characters"),
            (r#"{"id":"a"}{"id":"b"}"#, "malformed_json", "two top-level values"),
            ("[1]", "invalid_body", "an array is valid JSON of the wrong shape"),
            ("5", "invalid_body", "so is a number"),
            (r#"{"records":5}"#, "invalid_body", "records must be an array"),
            (r#"{"records":{"a":1}}"#, "invalid_body", "not an object either"),
            (r#"{"records":"[]"}"#, "invalid_body", "nor a string"),
            (r#"{"records":null}"#, "invalid_body", "nor null"),
            (r#"{"records":[],"x":1}"#, "invalid_body", "a batch has no other field"),
            (r#"{"records":[],"records":[]}"#, "duplicate_json_key", "records twice"),
            (r#"{"records":5,"records":[]}"#, "duplicate_json_key", "records twice, the first not an array"),
            (r#"{"records":[1,2,3,4]}"#, "payload_too_large", "more records than allowed"),
        ];
        for (body, code, why) in cases {
            assert_eq!(split(body), Err(code), "{why}: {body}");
        }
    }
}
