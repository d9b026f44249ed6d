//! `GET /v1/tenants/{id}/usage` (api-spec `getUsage`): usage from rollups, in buckets aligned
//! to the tenant's time zone, optionally grouped by function or region.
//!
//! Stage: the HTTP edge. Parses the query, reads rollups, folds them with `aggregate`, answers.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::lookup::ReadableTenant;
use crate::aggregate::{
    units_in_range, usage_series, validate_range, BillingCalendar, Granularity, GroupBy, RangeError, SeriesBucket,
};
use crate::clock::SharedClock;
use crate::http::{ApiError, DeferredQuery};
use crate::store::Store;

/// Most buckets one response may hold.
const MAX_BUCKETS: usize = 10_000;

/// Query of `getUsage`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    from: Option<String>,
    to: Option<String>,
    granularity: Option<String>,
    group_by: Option<String>,
}

#[derive(Debug, Serialize)]
struct BucketResponse {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    function: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<String>,
    cpu_cycles: String,
    memory_gb_seconds: String,
    invocations: String,
    records: i64,
}

impl From<SeriesBucket> for BucketResponse {
    fn from(b: SeriesBucket) -> Self {
        let q = b.totals.quantities;
        Self {
            start: b.start,
            end: b.end,
            function: b.function,
            region: b.region,
            cpu_cycles: q.cpu_cycles.normalize().to_string(),
            memory_gb_seconds: q.memory_gb_seconds.normalize().to_string(),
            invocations: q.invocations.normalize().to_string(),
            records: b.totals.records,
        }
    }
}

/// Usage buckets over `[from, to)` (default: the tenant's current billing period).
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id))]
pub async fn get_usage(
    ReadableTenant(tenant): ReadableTenant,
    query: DeferredQuery<UsageQuery>,
    store: web::Data<Store>,
    clock: web::Data<SharedClock>,
) -> Result<HttpResponse, ApiError> {
    let query = query.parsed()?;
    let id = tenant.id.clone();
    let calendar = BillingCalendar::of(&tenant);
    let tz = calendar.zone_at(clock.now());
    let granularity = match query.granularity.as_deref() {
        None => Granularity::Day,
        Some(text) => Granularity::parse(text).ok_or_else(|| invalid("granularity must be hour, day or month"))?,
    };
    let group_by = query
        .group_by
        .as_deref()
        .map(|text| GroupBy::parse(text).ok_or_else(|| invalid("group_by must be function or region")))
        .transpose()?;
    let current = calendar.period_containing(clock.now());
    let (default_from, default_to) = (current.start(), current.end());
    let from = query.from.as_deref().map(|text| instant("from", text)).transpose()?.unwrap_or(default_from);
    let to = query.to.as_deref().map(|text| instant("to", text)).transpose()?.unwrap_or(default_to);
    validate_range(tz, granularity, from, to, MAX_BUCKETS).map_err(|e| {
        // Name the bound the caller did not give: it is the current period's.
        let defaulted = match (query.from.is_none(), query.to.is_none()) {
            (true, false) => {
                format!(" (from was not given: the current period's start, {})", default_from.to_rfc3339())
            }
            (false, true) => format!(" (to was not given: the current period's end, {})", default_to.to_rfc3339()),
            _ => String::new(),
        };
        match e {
            RangeError::FromNotBeforeTo => invalid(&format!("{e}{defaulted}")),
            other => invalid(&other.to_string()),
        }
    })?;
    let units: Vec<_> = units_in_range(tz, granularity, from, to).collect();
    let rollups = store.rollups_per_unit(&id, &units, group_by).await?;
    let buckets = usage_series(tz, granularity, group_by, from, to, &rollups)
        .map_err(|e| ApiError::Unexpected(anyhow::Error::new(e)))?;
    let buckets: Vec<BucketResponse> = buckets.into_iter().map(BucketResponse::from).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "tenant_id": id,
        "timezone": tz.name(),
        "from": from,
        "to": to,
        "granularity": granularity,
        "buckets": buckets,
    })))
}

/// The `parameter`'s instant; a 400 naming it (as `DeferredQuery` names the ones it parses).
fn instant(parameter: &str, text: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.to_utc())
        .map_err(|_| invalid(&format!("{parameter}: {text:?} is not an RFC 3339 instant with offset")))
}

fn invalid(message: &str) -> ApiError {
    ApiError::bad_request("invalid_query", message)
}
