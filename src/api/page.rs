//! Cursor pagination as every list route answers it: `limit` (default 50, clamped), an opaque
//! `cursor`, and `{"data": [...], "next_cursor": ...}` where the cursor continues a full page.
//!
//! Stage: the HTTP edge. Knows no store and no object; each route says what its cursor is.

use actix_web::HttpResponse;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::http::ApiError;

/// Query of a list route that takes nothing but a page.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// The page size asked for: 50 unless given, at least 1 and at most `max`.
pub fn page_limit(limit: Option<u32>, max: u32) -> u32 {
    limit.unwrap_or(50).clamp(1, max)
}

/// 400 `invalid_cursor`: a cursor this API did not hand out.
pub fn invalid_cursor() -> ApiError {
    ApiError::bad_request("invalid_cursor", "cursor is not one this API returned")
}

/// A `created~id` cursor: the instant (µs since the epoch) and the id of the last item seen.
pub fn time_cursor(at: DateTime<Utc>, id: impl std::fmt::Display) -> String {
    format!("{}~{id}", at.timestamp_micros())
}

/// The parts of a [`time_cursor`].
///
/// # Errors
/// 400 `invalid_cursor`.
pub fn parse_time_cursor(text: &str) -> Result<(DateTime<Utc>, &str), ApiError> {
    let (micros, id) = text.split_once('~').ok_or_else(invalid_cursor)?;
    let at = micros.parse().ok().and_then(DateTime::from_timestamp_micros).ok_or_else(invalid_cursor)?;
    Ok((at, id))
}

/// The cursor after `items` when they fill a page of `limit`, else none (the list is done).
pub fn next_cursor<T>(items: &[T], limit: u32, cursor: impl FnOnce(&T) -> String) -> Option<String> {
    (items.len() == limit as usize).then(|| items.last().map(cursor)).flatten()
}

/// 200 with one page.
pub fn page_response(data: Vec<impl Serialize>, next_cursor: Option<String>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "data": data, "next_cursor": next_cursor }))
}
