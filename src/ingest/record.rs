//! A native usage record on the wire (`POST /v1/usage`, api-spec `UsageRecord`) and its
//! validation into a [`NewUsageRecord`].

use std::borrow::Cow;
use std::time::Duration;

use chrono::{DateTime, Timelike, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::plain_record;
use super::quantity::{parse_decimal, parse_integer, JsonText, QuantityJson};
use crate::domain::{ContentHash, NewUsageRecord, Quantities, RecordKey, TenantId};
use crate::http::{strict_from_str, StrictJsonError};

/// Why one record of a request was rejected; `code` is from the api-spec catalogue.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RecordError {
    pub code: &'static str,
    pub message: String,
}

impl RecordError {
    /// A rejection with a catalogued code.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    /// Translates a serde error into the closest catalogued code.
    pub fn from_json(error: &serde_json::Error) -> Self {
        let message = error.to_string();
        let code = if message.starts_with("unknown field") { "unknown_field" } else { "invalid_record" };
        Self::new(code, message)
    }

    /// `duplicate_json_key` for a repeated key, otherwise `otherwise(serde's error)`.
    pub(crate) fn from_strict(error: StrictJsonError, otherwise: impl FnOnce(&serde_json::Error) -> Self) -> Self {
        match error {
            StrictJsonError::DuplicateKey { error, .. } => {
                RecordError::new("duplicate_json_key", format!("{error}; each key may appear once per object"))
            }
            StrictJsonError::Json(error) => otherwise(&error),
        }
    }
}

/// The time window a record's timestamp must fall in.
#[derive(Debug, Clone, Copy)]
pub struct TimeWindow {
    pub now: DateTime<Utc>,
    pub allowed_lateness: Duration,
}

/// How far ahead of the server's clock a timestamp may be.
const MAX_FUTURE: chrono::Duration = chrono::Duration::minutes(5);

impl TimeWindow {
    /// Parses an RFC 3339 timestamp with offset, truncated to microseconds, inside the window.
    ///
    /// A leap second (`:60`) is refused: chrono accepts one on any day and it would be stored
    /// as the next second — at the end of a day or month, the next billing period. Real leap
    /// seconds are rare enough (none since 2016, none planned) that refusing every one is the
    /// simplest honest rule.
    ///
    /// # Errors
    /// `invalid_timestamp`, `timestamp_in_future` or `timestamp_too_old`.
    pub fn check(&self, text: &str) -> Result<DateTime<Utc>, RecordError> {
        let parsed = DateTime::parse_from_rfc3339(text).map_err(|_| {
            RecordError::new("invalid_timestamp", format!("timestamp {text:?} is not RFC 3339 with an offset"))
        })?;
        if parsed.nanosecond() >= 1_000_000_000 {
            return Err(RecordError::new(
                "invalid_timestamp",
                format!("timestamp {text:?} is a leap second (:60); leap seconds are not accepted"),
            ));
        }
        let at = DateTime::from_timestamp_micros(parsed.timestamp_micros())
            .ok_or_else(|| RecordError::new("invalid_timestamp", "timestamp is out of range"))?;
        if at > self.now + MAX_FUTURE {
            return Err(RecordError::new("timestamp_in_future", "timestamp is more than 5 minutes in the future"));
        }
        if at < self.oldest_accepted() {
            return Err(RecordError::new(
                "timestamp_too_old",
                format!("timestamp is older than the allowed lateness ({})", self.lateness_text()),
            ));
        }
        Ok(at)
    }

    /// The oldest timestamp accepted now.
    pub fn oldest_accepted(&self) -> DateTime<Utc> {
        let lateness = chrono::Duration::from_std(self.allowed_lateness).unwrap_or(chrono::Duration::MAX);
        self.now.checked_sub_signed(lateness).unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// The allowed lateness as people write it: "35 days", "12 hours", "90 minutes".
    pub fn lateness_text(&self) -> String {
        let seconds = self.allowed_lateness.as_secs();
        match seconds {
            s if s % 86_400 == 0 => plural(s / 86_400, "day"),
            s if s % 3_600 == 0 => plural(s / 3_600, "hour"),
            s if s % 60 == 0 => plural(s / 60, "minute"),
            s => plural(s, "second"),
        }
    }
}

/// "1 day", "35 days".
fn plural(n: u64, unit: &str) -> String {
    match n {
        1 => format!("1 {unit}"),
        n => format!("{n} {unit}s"),
    }
}

/// `POST /v1/usage` record. Unknown fields are refused: a typo must not drop billable usage.
/// Read in place from the body: the key's text and the quantities are borrowed, not copied
/// (this runs once per record ingested) — by hand for the usual spelling
/// (`plain_record.rs`), by the strict serde path for every other.
#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WireRecord<'a> {
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    #[serde(borrow)]
    pub tenant_id: Cow<'a, str>,
    #[serde(borrow)]
    pub timestamp: Cow<'a, str>,
    pub function: Option<String>,
    pub region: Option<String>,
    #[serde(borrow)]
    pub cpu_cycles: Option<JsonText<'a>>,
    #[serde(borrow)]
    pub memory_gb_seconds: Option<JsonText<'a>>,
    #[serde(borrow)]
    pub invocations: Option<JsonText<'a>>,
}

/// The billable part shared by native records, CloudEvents `data` and corrections; `Q` is how
/// the quantities were read (a parsed [`Value`], or the body's text as a [`JsonText`]).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WireUsage<Q = Value> {
    pub function: Option<String>,
    pub region: Option<String>,
    pub cpu_cycles: Option<Q>,
    pub memory_gb_seconds: Option<Q>,
    pub invocations: Option<Q>,
}

/// Parses and validates one native record.
///
/// # Errors
/// The first rule the record breaks, as a catalogued [`RecordError`].
pub fn parse_native(raw: &str, window: &TimeWindow) -> Result<NewUsageRecord, RecordError> {
    let wire = match plain_record::read(raw) {
        Some(wire) => wire,
        None => strict_from_str(raw).map_err(|e| RecordError::from_strict(e, RecordError::from_json))?,
    };
    validate_native(wire, window)
}

/// Validates a native record as read from the wire.
///
/// # Errors
/// As [`parse_native`], for the rules past the record's shape.
pub(super) fn validate_native(wire: WireRecord<'_>, window: &TimeWindow) -> Result<NewUsageRecord, RecordError> {
    let usage = WireUsage {
        function: wire.function,
        region: wire.region,
        cpu_cycles: wire.cpu_cycles,
        memory_gb_seconds: wire.memory_gb_seconds,
        invocations: wire.invocations,
    };
    let timestamp = window.check(&wire.timestamp)?;
    build(tenant(&wire.tenant_id)?, String::new(), &wire.id, (timestamp, Some(timestamp)), usage, String::new())
}

/// Resolves a tenant slug; an invalid slug cannot name a tenant, so it is "unknown".
pub(crate) fn tenant(text: &str) -> Result<TenantId, RecordError> {
    TenantId::parse(text).map_err(|_| RecordError::new("unknown_tenant", format!("unknown tenant {text:?}")))
}

/// Assembles a validated record. `time` is (stored instant, instant compared for conflicts).
pub(crate) fn build<Q: QuantityJson>(
    tenant_id: TenantId,
    source: String,
    id: &str,
    time: (DateTime<Utc>, Option<DateTime<Utc>>),
    usage: WireUsage<Q>,
    event_type: String,
) -> Result<NewUsageRecord, RecordError> {
    check_id("id", id)?;
    let quantities = quantities(&usage)?;
    let function = dimension("function", usage.function)?;
    let region = dimension("region", usage.region)?;
    Ok(NewUsageRecord {
        content_hash: ContentHash::of(time.1, &function, &region, &quantities),
        key: RecordKey { tenant_id, source, record_id: id.to_owned() },
        timestamp: time.0,
        function,
        region,
        quantities,
        event_type,
    })
}

/// Ids are 1–128 printable ASCII characters.
pub(crate) fn check_id(field: &str, id: &str) -> Result<(), RecordError> {
    if (1..=128).contains(&id.len()) && id.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        Ok(())
    } else {
        Err(RecordError::new("invalid_id", format!("{field} must be 1-128 printable ASCII characters")))
    }
}

pub(crate) fn dimension(field: &str, value: Option<String>) -> Result<String, RecordError> {
    match value {
        None => Ok(String::new()),
        Some(v) if (1..=128).contains(&v.chars().count()) && !v.chars().any(char::is_control) => Ok(v),
        Some(_) => Err(RecordError::new(
            "invalid_dimension",
            format!("{field} must be 1-128 characters without control characters when present"),
        )),
    }
}

pub(crate) fn quantities<Q: QuantityJson>(usage: &WireUsage<Q>) -> Result<Quantities, RecordError> {
    let mut q = Quantities::default();
    if let Some(v) = &usage.cpu_cycles {
        q.cpu_cycles = parse_integer("cpu_cycles", v)?;
    }
    if let Some(v) = &usage.memory_gb_seconds {
        q.memory_gb_seconds = parse_decimal("memory_gb_seconds", v)?;
    }
    if let Some(v) = &usage.invocations {
        q.invocations = parse_integer("invocations", v)?;
    }
    if q.is_zero() {
        return Err(RecordError::new(
            "no_quantity",
            "at least one of cpu_cycles, memory_gb_seconds, invocations must be greater than 0",
        ));
    }
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window() -> TimeWindow {
        TimeWindow {
            now: DateTime::parse_from_rfc3339("2026-11-27T12:00:00Z").unwrap().to_utc(),
            allowed_lateness: Duration::from_secs(35 * 86_400),
        }
    }

    fn code_of(raw: &str) -> &'static str {
        parse_native(raw, &window()).unwrap_err().code
    }

    const OK: &str = r#"{"id":"r1","tenant_id":"acme","timestamp":"2026-11-27T11:00:00.1234567Z","invocations":1}"#;

    #[test]
    fn a_valid_record_is_truncated_to_microseconds() {
        let record = parse_native(OK, &window()).unwrap();
        assert_eq!(record.timestamp.timestamp_subsec_micros(), 123_456);
        assert_eq!(record.function, "");
    }

    #[test]
    fn each_rule_has_its_own_code() {
        let cases = [
            (
                r#"{"id":"r","tenant_id":"acme","timestamp":"2026-11-27T11:00:00Z","invocations":1,"cpu":1}"#,
                "unknown_field",
            ),
            (r#"{"id":"","tenant_id":"acme","timestamp":"2026-11-27T11:00:00Z","invocations":1}"#, "invalid_id"),
            (r#"{"id":"r","tenant_id":"Acme!","timestamp":"2026-11-27T11:00:00Z","invocations":1}"#, "unknown_tenant"),
            (r#"{"id":"r","tenant_id":"acme","timestamp":"2026-11-27T11:00:00","invocations":1}"#, "invalid_timestamp"),
            (
                r#"{"id":"r","tenant_id":"acme","timestamp":"2026-11-26T23:59:60Z","invocations":1}"#,
                "invalid_timestamp",
            ),
            (
                r#"{"id":"r","tenant_id":"acme","timestamp":"2026-11-27T00:29:60.5+00:30","invocations":1}"#,
                "invalid_timestamp",
            ),
            (
                r#"{"id":"r","tenant_id":"acme","timestamp":"2026-11-27T12:05:01Z","invocations":1}"#,
                "timestamp_in_future",
            ),
            (
                r#"{"id":"r","tenant_id":"acme","timestamp":"2026-10-23T11:59:59Z","invocations":1}"#,
                "timestamp_too_old",
            ),
            (r#"{"id":"r","tenant_id":"acme","timestamp":"2026-11-27T11:00:00Z","invocations":0}"#, "no_quantity"),
            (
                r#"{"id":"r","tenant_id":"acme","timestamp":"2026-11-27T11:00:00Z","invocations":-1}"#,
                "invalid_quantity",
            ),
            (
                r#"{"id":"r","tenant_id":"acme","timestamp":"2026-11-27T11:00:00Z","function":"","invocations":1}"#,
                "invalid_dimension",
            ),
            (r#"{"tenant_id":"acme","timestamp":"2026-11-27T11:00:00Z","invocations":1}"#, "invalid_record"),
            (r#"[1]"#, "invalid_record"),
        ];
        for (raw, code) in cases {
            assert_eq!(code_of(raw), code, "{raw}");
        }
    }
}
