//! CloudEvents 1.0 structured JSON (`POST /api/v1/events`), OpenMeter-compatible: `subject`
//! names the tenant, `data` carries the native record's billable fields.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::quantity::JsonText;
use super::record::{build, check_id, tenant, RecordError, TimeWindow, WireUsage};
use crate::domain::NewUsageRecord;
use crate::http::strict_from_str;

/// The envelope. Other attributes are CloudEvents extensions and are allowed (and ignored).
#[derive(Debug, Deserialize)]
struct Envelope<'a> {
    specversion: Option<String>,
    id: Option<String>,
    source: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    subject: Option<String>,
    time: Option<String>,
    datacontenttype: Option<String>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
    data_base64: Option<&'a RawValue>,
}

/// Parses and validates one event. `received_at` stands in for a missing `time` (and is then
/// left out of the conflict comparison, so retries stay duplicates).
///
/// # Errors
/// `invalid_event` for envelope problems, otherwise the native record's codes.
pub fn parse_event(raw: &str, window: &TimeWindow, received_at: DateTime<Utc>) -> Result<NewUsageRecord, RecordError> {
    let envelope: Envelope =
        strict_from_str(raw).map_err(|e| RecordError::from_strict(e, |e| invalid(&e.to_string())))?;
    if envelope.specversion.as_deref() != Some("1.0") {
        return Err(invalid("specversion must be \"1.0\""));
    }
    if envelope.data_base64.is_some() {
        return Err(invalid("data_base64 is not supported; send data as a JSON object"));
    }
    if let Some(kind) = envelope.datacontenttype.as_deref().filter(|k| !k.starts_with("application/json")) {
        return Err(invalid(&format!("datacontenttype {kind:?} is not supported; use application/json")));
    }
    let id = envelope.id.ok_or_else(|| invalid("id is required"))?;
    let source = required_text("source", envelope.source)?;
    let event_type = required_text("type", envelope.event_type)?;
    let subject = envelope.subject.ok_or_else(|| invalid("subject (the tenant id) is required"))?;
    check_id("id", &id)?;
    let time = match envelope.time {
        Some(text) => {
            let at = window.check(&text)?;
            (at, Some(at))
        }
        None => (received_at, None),
    };
    let data = envelope.data.ok_or_else(|| invalid("data is required"))?;
    if !data.get().trim_start().starts_with('{') {
        return Err(invalid("data must be a JSON object"));
    }
    let usage: WireUsage<JsonText> =
        strict_from_str(data.get()).map_err(|e| RecordError::from_strict(e, RecordError::from_json))?;
    build(tenant(&subject)?, source, &id, time, usage, event_type)
}

fn required_text(field: &str, value: Option<String>) -> Result<String, RecordError> {
    match value {
        Some(v) if (1..=256).contains(&v.len()) && !v.chars().any(char::is_control) => Ok(v),
        _ => Err(invalid(&format!("{field} is required (1-256 characters, no control characters)"))),
    }
}

fn invalid(message: &str) -> RecordError {
    RecordError::new("invalid_event", message.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn window() -> TimeWindow {
        TimeWindow {
            now: DateTime::parse_from_rfc3339("2026-11-27T12:00:00Z").unwrap().to_utc(),
            allowed_lateness: Duration::from_secs(86_400),
        }
    }

    const EVENT: &str = r#"{"specversion":"1.0","id":"e1","source":"lambda/eu","type":"invocation",
        "subject":"acme","data":{"invocations":1,"memory_gb_seconds":"0.5"},"traceparent":"x"}"#;

    #[test]
    fn an_event_without_time_uses_the_receipt_time_but_hashes_without_it() {
        let one = parse_event(EVENT, &window(), window().now).unwrap();
        let later = parse_event(EVENT, &window(), window().now + chrono::Duration::seconds(9)).unwrap();
        assert_eq!(one.timestamp, window().now);
        assert_eq!(one.key.source, "lambda/eu");
        assert_eq!(one.event_type, "invocation");
        assert_eq!(one.content_hash, later.content_hash);
    }

    #[test]
    fn envelope_problems_are_invalid_events() {
        for broken in [
            EVENT.replace("\"1.0\"", "\"0.3\""),
            EVENT.replace("\"subject\":\"acme\",", ""),
            EVENT.replace("lambda/eu", "lambda\\u0000eu"),
            EVENT.replace("\"data\":{\"invocations\":1,\"memory_gb_seconds\":\"0.5\"}", "\"data_base64\":\"AA==\""),
        ] {
            assert_eq!(parse_event(&broken, &window(), window().now).unwrap_err().code, "invalid_event", "{broken}");
        }
    }

    #[test]
    fn unknown_data_fields_are_refused() {
        let typo = EVENT.replace("\"invocations\"", "\"invocation\"");
        assert_eq!(parse_event(&typo, &window(), window().now).unwrap_err().code, "unknown_field");
    }
}
