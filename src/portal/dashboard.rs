//! `GET /portal`: the dashboard — the current period and days left, the amount so far and the
//! projected total (the very numbers of `GET /v1/tenants/{id}/usage/current`: the same
//! `invoice::current_usage`), per-meter usage with a daily chart, quota and budget bars (the
//! entitlements runtimes see), the functions that cost the most (`function_costs`), usage no
//! plan covers, and the invoices the tenant was reminded of and has not paid.
//!
//! Stage: the HTTP edge (portal). Reads through the tenant-scoped services; draws with `chart`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rust_decimal::RoundingStrategy;

use super::chart::{bar_chart, percent_used, progress_bar, share_bar, Bar};
use super::context::Portal;
use super::error::PortalError;
use super::function_costs::{split_by_function, CostSplit};
use super::page;
use super::session::PortalSession;
use super::view::{meter_quantities, Chrome, MeterQuantity};
use crate::aggregate::{units_in_range, usage_series, BillingCalendar, Granularity, GroupBy};
use crate::domain::{Currency, InvoiceStatus, Meter, Money, QuotaMeter};
use crate::invoice::{credit_on_hand, current_usage, display_format as format, CreditOnHand, CurrentUsage};
use crate::quota::{format_value, EntitlementSnapshot};
use crate::store::{InvoiceFilter, StoredInvoice};

/// One meter's card: usage so far, its projection, its daily chart.
struct MeterCard {
    key: &'static str,
    usage: MeterQuantity,
    projected: String,
    chart: String,
}

/// One quota or budget bar.
struct QuotaBar {
    id: String,
    meter: &'static str,
    used: String,
    limit: String,
    percent: u32,
    bar: String,
    hard: bool,
}

/// How many functions the dashboard names; the rest are summed in one row.
const TOP_FUNCTIONS: usize = 5;

/// One row of "top functions by cost".
struct FunctionRow {
    name: String,
    amount: String,
    bar: String,
}

/// The period's usage charges by function.
struct TopFunctions {
    rows: Vec<FunctionRow>,
    /// "3 more functions: USD 0.12".
    others: Option<String>,
    /// Base fee and minimum-spend top-up, which no function causes.
    unattributed: Option<String>,
}

/// Prepaid credit in one currency, as the card shows it.
struct CreditView {
    available: String,
    /// "USD 10.00 of it expires on 31 Dec 2026".
    expiring: Option<String>,
}

/// An invoice the billing run reminded the tenant of, still unpaid.
struct OverdueView {
    id: String,
    number: String,
    total: String,
    due_on: String,
}

/// Finalized invoices read for the overdue list, newest first: a tenant with more open
/// invoices than this has its oldest ones listed on the invoices page only.
const OPEN_INVOICES_READ: u32 = 50;

/// Usage no subscription covers.
struct UnbilledView {
    reason: &'static str,
    records: i64,
    meters: Vec<MeterQuantity>,
}

#[derive(Template)]
#[template(path = "portal/templates/dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    period: String,
    days_left: u64,
    amount_so_far: Option<String>,
    projected_total: Option<String>,
    credits: Vec<CreditView>,
    meters: Vec<MeterCard>,
    quotas: Vec<QuotaBar>,
    top_functions: Option<TopFunctions>,
    unbilled: Option<UnbilledView>,
    overdue: Vec<OverdueView>,
}

/// The dashboard of the session's tenant.
#[tracing::instrument(skip_all, fields(tenant_id = %session.tenant))]
pub async fn get_portal_dashboard(
    session: PortalSession,
    portal: web::Data<Portal>,
) -> Result<HttpResponse, PortalError> {
    let (store, now) = (&portal.store, portal.clock.now());
    let tenant = portal.tenant_of(&session).await?;
    let catalog = portal.catalog.current(store).await?;
    let current = current_usage(store, &catalog, &tenant.id, now).await?;
    let (start, end) = (current.period.start(), current.period.end());
    let tz = BillingCalendar::of(&tenant).zone_at(now);
    let units = days_cut_at_segments(tz, &current);
    // Per day and function (≈ 8 functions × 31 days of sums, not every 15-minute row): the
    // chart folds them per day, the cost split per segment, as it would the rows.
    let rollups = store.rollups_per_unit(&tenant.id, &units, Some(GroupBy::Function)).await?;
    let days = usage_series(tz, Granularity::Day, None, start, end, &rollups)
        .map_err(|e| PortalError::Unexpected(e.into()))?;
    let quotas = portal.entitlements.get(&tenant.id, now).await?;
    let credits = credit_on_hand(&store.credit_entries(&tenant.id).await?, now);
    let open = InvoiceFilter { status: Some(InvoiceStatus::Finalized), kind: None };
    let open = store.list_invoices(&tenant.id, open, None, OPEN_INVOICES_READ).await?;
    let page = DashboardPage {
        chrome: Chrome::signed_in("Dashboard", "dashboard", session.account(&tenant.details.name)),
        period: format::span(start, end, tz),
        days_left: days_left(end, now),
        amount_so_far: current.amount_so_far.as_ref().map(|d| format::money(&d.total)),
        projected_total: current.projection.as_ref().map(|p| format::money(&p.draft.total)),
        credits: credits.iter().map(|c| credit_view(c, tz)).collect(),
        meters: meter_cards(&current, &days, tz),
        quotas: quota_bars(&quotas),
        top_functions: current
            .amount_so_far
            .as_ref()
            .and_then(|draft| Some((split_by_function(draft, &rollups)?, draft.currency)))
            .map(|(split, currency)| top_functions(&split, currency)),
        unbilled: current.unbilled.as_ref().map(|u| UnbilledView {
            reason: unbilled_reason(u.reason.as_str()),
            records: u.records,
            meters: meter_quantities(&u.quantities),
        }),
        overdue: open.iter().filter(|i| i.is_overdue()).map(overdue_view).collect(),
    };
    page::html(StatusCode::OK, &page)
}

fn overdue_view(invoice: &StoredInvoice) -> OverdueView {
    let (doc, c) = (&invoice.document, &invoice.document.content);
    OverdueView {
        id: doc.id.to_string(),
        number: doc.number.clone(),
        total: format::money(&Money::new(c.total, c.currency)),
        due_on: c.due_at.map(|due| format::date(due, format::zone(&c.customer.timezone))).unwrap_or_default(),
    }
}

fn credit_view(held: &CreditOnHand, tz: Tz) -> CreditView {
    let money = |amount| format::money(&Money::new(amount, held.currency));
    CreditView {
        available: money(held.available),
        expiring: held
            .next_expiry
            .map(|(when, amount)| format!("{} of it expires on {}", money(amount), format::date(when, tz))),
    }
}

/// The period's local days, each cut at the bounds of the segments the amount so far priced:
/// every day and every segment is then a union of whole units.
fn days_cut_at_segments(tz: Tz, current: &CurrentUsage) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let (start, end) = (current.period.start(), current.period.end());
    let segments = current.amount_so_far.iter().flat_map(|draft| &draft.segments);
    let mut cuts: Vec<DateTime<Utc>> = units_in_range(tz, Granularity::Day, start, end)
        .flat_map(|(start, end)| [start, end])
        .chain(segments.flat_map(|s| [s.segment.start, s.segment.end]))
        .map(|at| at.clamp(start, end))
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    cuts.windows(2).map(|w| (w[0], w[1])).collect()
}

/// Whole or partial days from `now` to the period's end (a period ending in 1 h has 1 left).
fn days_left(end: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    u64::try_from((end - now).num_seconds()).unwrap_or(0).div_ceil(86_400)
}

fn meter_cards(current: &CurrentUsage, days: &[crate::aggregate::SeriesBucket], tz: Tz) -> Vec<MeterCard> {
    let usage = meter_quantities(&current.usage);
    Meter::ALL
        .into_iter()
        .zip(usage)
        .map(|(meter, usage)| {
            let bars: Vec<Bar> = days
                .iter()
                .map(|day| {
                    let value = day.totals.quantities.get(meter);
                    let label = day.start.with_timezone(&tz).format("%-d %b").to_string();
                    Bar { title: format!("{label}: {}", format::quantity(value)), label, value }
                })
                .collect();
            let projected = current.projection.as_ref().map_or(current.usage.get(meter), |p| p.usage.get(meter));
            // An extrapolation: whole units read better than its exact 20 decimals.
            let projected = projected.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero);
            MeterCard {
                key: meter.as_str(),
                chart: bar_chart(&bars, &format!("{} per day this period", meter.display_name())),
                projected: format::quantity(projected),
                usage,
            }
        })
        .collect()
}

fn top_functions(split: &CostSplit, currency: Currency) -> TopFunctions {
    let shown = |amount| format::money(&Money::new(amount, currency));
    let largest = split.functions.first().map_or(rust_decimal::Decimal::ZERO, |f| f.amount);
    let rows = split
        .functions
        .iter()
        .take(TOP_FUNCTIONS)
        .map(|f| {
            let name = if f.function.is_empty() { "(no function)".to_owned() } else { f.function.clone() };
            let amount = shown(f.amount);
            // Bars compare functions with each other: the most expensive one is full.
            let bar = share_bar(percent_used(f.amount, largest), &format!("{name}: {amount}"));
            FunctionRow { name, amount, bar }
        })
        .collect();
    let rest = split.functions.get(TOP_FUNCTIONS..).unwrap_or_default();
    let others = (!rest.is_empty()).then(|| {
        let sum = rest.iter().map(|f| f.amount).fold(rust_decimal::Decimal::ZERO, |a, b| a.saturating_add(b));
        format!("{} more {}: {}", rest.len(), if rest.len() == 1 { "function" } else { "functions" }, shown(sum))
    });
    let unattributed = (!split.unattributed.is_zero()).then(|| shown(split.unattributed));
    TopFunctions { rows, others, unattributed }
}

fn quota_bars(snapshot: &EntitlementSnapshot) -> Vec<QuotaBar> {
    snapshot
        .entitlements
        .iter()
        .map(|e| {
            let meter = e.quota.meter();
            let percent = percent_used(e.used, e.quota.limit());
            let (used, limit) =
                (shown(meter, e.used, snapshot.currency), shown(meter, e.quota.limit(), snapshot.currency));
            QuotaBar {
                id: e.quota.id().to_owned(),
                meter: match meter {
                    QuotaMeter::Usage(m) => m.display_name(),
                    QuotaMeter::Spend => "Spend",
                },
                bar: progress_bar(percent, &format!("{}: {used} of {limit} ({percent}%)", e.quota.id())),
                used,
                limit,
                percent,
                hard: e.quota.hard(),
            }
        })
        .collect()
}

/// A quota's figure as the page's other figures read: quantities with thousands separators,
/// spend as money with its currency (`"USD 6.74"`).
fn shown(meter: QuotaMeter, value: rust_decimal::Decimal, currency: Option<Currency>) -> String {
    match (meter, currency) {
        (QuotaMeter::Usage(_), _) => format::quantity(value),
        (QuotaMeter::Spend, Some(currency)) => format::money(&Money::new(value, currency)),
        (QuotaMeter::Spend, None) => format_value(meter, value, None),
    }
}

fn unbilled_reason(reason: &str) -> &'static str {
    match reason {
        "no_plan" => "Your account has no plan yet, so this usage is not billed.",
        "before_first_subscription" => "This usage came before your plan started, so it is not billed.",
        _ => "This usage came after your subscription ended, so it is not billed.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_left_counts_a_started_day_as_one() {
        let end = DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z").unwrap().to_utc();
        let at = |text: &str| DateTime::parse_from_rfc3339(text).unwrap().to_utc();
        assert_eq!(days_left(end, at("2026-11-27T12:00:00Z")), 4);
        assert_eq!(days_left(end, at("2026-11-30T23:00:00Z")), 1);
        assert_eq!(days_left(end, at("2026-11-28T00:00:00Z")), 3);
        assert_eq!(days_left(end, end), 0);
    }
}
