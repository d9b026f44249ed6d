//! `GET /portal/usage` (a range, by hour, day or month, grouped by function or region: a
//! chart and a table) and `GET /portal/usage.csv` (the same buckets as a download).
//!
//! Stage: the HTTP edge (portal). Reads the session's tenant's rollups summed per time unit
//! and group (`Store::rollups_per_unit`, the read behind `GET /v1/tenants/{id}/usage`:
//! rollups carry function and region, so no raw record is read), folds them with
//! `aggregate::usage_series`, and hands them to the pure `usage_view`. A question it cannot
//! answer is a 400 page saying what to change, never a 500.

use std::collections::HashMap;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse};
use askama::Template;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::context::Portal;
use super::error::PortalError;
use super::page;
use super::session::PortalSession;
use super::usage_query::{UsageForm, UsageQuestion};
use super::usage_view::{usage_csv, usage_figures, UsageFigures};
use super::view::Chrome;
use crate::aggregate::{units_in_range, usage_series, BillingCalendar, SeriesBucket};
use crate::domain::{Meter, TenantId};
use crate::store::Store;

/// One option of a select.
struct Choice {
    value: &'static str,
    label: &'static str,
}

#[derive(Template)]
#[template(path = "portal/templates/usage.html")]
struct UsagePage {
    chrome: Chrome,
    form: UsageForm,
    meters: Vec<Choice>,
    timezone: String,
    error: Option<String>,
    figures: Option<UsageFigures>,
    /// The query string of the CSV link: the question just answered.
    csv_query: String,
    group_heading: &'static str,
}

/// The usage page of the session's tenant.
#[tracing::instrument(skip_all, fields(tenant_id = %session.tenant))]
pub async fn get_portal_usage(
    session: PortalSession,
    portal: web::Data<Portal>,
    params: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, PortalError> {
    let tenant = portal.tenant_of(&session).await?;
    let tz = BillingCalendar::of(&tenant).zone_at(portal.clock.now());
    let form = UsageForm::from_params(&params, tz, portal.clock.now());
    let mut page = UsagePage {
        chrome: Chrome::signed_in("Usage", "usage", session.account(&tenant.details.name)),
        meters: Meter::ALL.into_iter().map(|m| Choice { value: m.as_str(), label: m.display_name() }).collect(),
        timezone: tz.name().to_owned(),
        error: None,
        figures: None,
        csv_query: csv_query(&form),
        group_heading: if form.group == "region" { "Region" } else { "Function" },
        form,
    };
    match page.form.parse(tz) {
        Err(message) => {
            page.error = Some(message);
            page::html(StatusCode::BAD_REQUEST, &page)
        }
        Ok(query) => {
            let (units, buckets) = read_series(&portal.store, &tenant.id, tz, &query).await?;
            page.figures = Some(usage_figures(&query, tz, &units, &buckets));
            page::html(StatusCode::OK, &page)
        }
    }
}

/// The usage page's buckets as CSV, named after the tenant and the range.
#[tracing::instrument(skip_all, fields(tenant_id = %session.tenant))]
pub async fn get_portal_usage_csv(
    session: PortalSession,
    portal: web::Data<Portal>,
    params: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, PortalError> {
    let tenant = portal.tenant_of(&session).await?;
    let tz = BillingCalendar::of(&tenant).zone_at(portal.clock.now());
    let query =
        UsageForm::from_params(&params, tz, portal.clock.now()).parse(tz).map_err(PortalError::InvalidRequest)?;
    let (_, buckets) = read_series(&portal.store, &tenant.id, tz, &query).await?;
    let name = format!(
        "attachment; filename=\"usage-{}-{}-{}-{}.csv\"",
        tenant.id,
        query.first_day,
        query.last_day,
        query.granularity.as_str()
    );
    let disposition = header::HeaderValue::from_str(&name).map_err(|e| PortalError::Unexpected(e.into()))?;
    Ok(page::builder(StatusCode::OK)
        .insert_header((header::CONTENT_DISPOSITION, disposition))
        .content_type("text/csv; charset=utf-8")
        .body(usage_csv(&query, tz, &buckets)))
}

/// The tenant's time units of the range and its buckets grouped as asked.
async fn read_series(
    store: &Store,
    tenant: &TenantId,
    tz: Tz,
    query: &UsageQuestion,
) -> Result<(Vec<(DateTime<Utc>, DateTime<Utc>)>, Vec<SeriesBucket>), PortalError> {
    let units: Vec<_> = units_in_range(tz, query.granularity, query.from, query.to).collect();
    let rollups = store.rollups_per_unit(tenant, &units, Some(query.group)).await?;
    let buckets = usage_series(tz, query.granularity, Some(query.group), query.from, query.to, &rollups)
        .map_err(|e| PortalError::Unexpected(e.into()))?;
    Ok((units, buckets))
}

/// `from=…&to=…&granularity=…&group=…`, percent-encoded, for the CSV link.
fn csv_query(form: &UsageForm) -> String {
    let pairs = [("from", &form.from), ("to", &form.to), ("granularity", &form.granularity), ("group", &form.group)];
    pairs.iter().map(|(k, v)| format!("{k}={}", percent_encode(v))).collect::<Vec<_>>().join("&")
}

/// Every byte but unreserved ones (RFC 3986) as `%XX`.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => char::from(b).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}
