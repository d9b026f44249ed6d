//! Test-only helpers every stage's unit tests share.

use chrono::{DateTime, Utc};

/// The instant of an RFC 3339 text such as `"2026-10-15T00:00:00Z"`.
///
/// # Panics
/// When the text is not RFC 3339 (a mistake in the test).
pub(crate) fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).expect("the test writes RFC 3339 instants").to_utc()
}
