//! `GET /portal/plans`: "what would last period have cost on plan X" — the tenant's real
//! usage of its last closed period, priced on every plan of the catalog by the invoice's own
//! drafting (`invoice::draft_invoice`, which calls `rate::rate_usage`), tax included at the
//! tenant's rate.
//!
//! Stage: the HTTP edge (portal). Reads the period's usage from rollups summed in one unit
//! (`Store::rollups_per_unit`: one row on PostgreSQL), the subscription changes, the catalog.
//! Each plan prices the whole period as one segment with the version that would have priced
//! it (`PlanCatalog::for_period_starting`), as billing would have after a switch at its start.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use chrono::TimeDelta;

use super::context::Portal;
use super::error::PortalError;
use super::page;
use super::session::PortalSession;
use super::view::{meter_quantities, Chrome, MeterQuantity};
use crate::aggregate::{sum_rollups, BillingCalendar};
use crate::domain::{BillingPeriod, Quantities, QuotaMeter};
use crate::invoice::display_format as format;
use crate::invoice::{draft_invoice, segments, InvoiceDraft, Segment, SegmentInput};
use crate::rate::{PlanCatalog, PlanVersion};

/// One plan's price for the period.
struct PlanRow {
    id: String,
    name: String,
    subtotal: String,
    total: String,
    current: bool,
    cheapest: bool,
    /// The usage passes one of the plan's hard limits: on it, usage past them would have been
    /// refused, so its price is not what that usage would cost.
    limited: bool,
}

#[derive(Template)]
#[template(path = "portal/templates/plans.html")]
struct PlansPage {
    chrome: Chrome,
    period: String,
    usage: Vec<MeterQuantity>,
    no_usage: bool,
    tax_rate: String,
    plans: Vec<PlanRow>,
}

/// Every plan, priced on the session's tenant's last closed period.
#[tracing::instrument(skip_all, fields(tenant_id = %session.tenant))]
pub async fn get_portal_plans(session: PortalSession, portal: web::Data<Portal>) -> Result<HttpResponse, PortalError> {
    let store = &portal.store;
    let tenant = portal.tenant_of(&session).await?;
    let calendar = BillingCalendar::of(&tenant);
    let current = calendar.period_containing(portal.clock.now());
    let last = calendar.period_containing(current.start() - TimeDelta::seconds(1));
    let rollups = store.rollups_per_unit(&tenant.id, &[(last.start(), last.end())], None).await?;
    let usage = sum_rollups(&rollups, last.start(), last.end()).map_err(|e| PortalError::Unexpected(e.into()))?;
    let changes = store.subscriptions(&tenant.id).await?;
    let on_plan = segments(&last, &changes).last().map(|s| s.plan_id.clone());
    let catalog = portal.catalog.current(store).await?;
    let mut plans = price_every_plan(&catalog, &last, &usage.quantities, tenant.details.tax_rate)?;
    plans.sort_by(|a, b| a.1.total.amount.cmp(&b.1.total.amount).then_with(|| a.0.plan.id().cmp(b.0.plan.id())));
    let limited = |version: &PlanVersion, draft: &InvoiceDraft| over_hard_limits(version, &usage.quantities, draft);
    let cheapest = plans.iter().find(|(v, d)| !limited(v, d)).map(|(_, d)| d.total);
    let page = PlansPage {
        chrome: Chrome::signed_in("Plans", "plans", session.account(&tenant.details.name)),
        period: format::span(last.start(), last.end(), calendar.zone_at(last.start())),
        usage: meter_quantities(&usage.quantities),
        no_usage: usage.records == 0,
        tax_rate: format::percent(tenant.details.tax_rate),
        plans: plans
            .iter()
            .map(|(version, draft)| PlanRow {
                id: version.plan.id().to_owned(),
                name: version.plan.name().to_owned(),
                subtotal: format::money(&draft.subtotal),
                total: format::money(&draft.total),
                current: on_plan.as_deref() == Some(version.plan.id()),
                cheapest: cheapest == Some(draft.total) && !limited(version, draft),
                limited: limited(version, draft),
            })
            .collect(),
    };
    page::html(StatusCode::OK, &page)
}

/// Whether `usage` (priced at `draft`) passes a hard limit of the plan's own quotas; spend is
/// the quotas' own (`quota::spend`: no minimum-spend top-up).
fn over_hard_limits(version: &PlanVersion, usage: &Quantities, draft: &InvoiceDraft) -> bool {
    version.plan.quotas().iter().filter(|q| q.hard()).any(|q| match q.meter() {
        QuotaMeter::Usage(meter) => usage.get(meter) > q.limit(),
        QuotaMeter::Spend => crate::quota::spend(draft) > q.limit(),
    })
}

/// `quantities` of `period` drafted on each plan of `catalog`, as one whole-period segment.
fn price_every_plan<'a>(
    catalog: &'a PlanCatalog,
    period: &BillingPeriod,
    quantities: &Quantities,
    tax_rate: rust_decimal::Decimal,
) -> Result<Vec<(&'a PlanVersion, InvoiceDraft)>, PortalError> {
    let mut priced = Vec::new();
    for id in catalog.ids() {
        let Some(version) = catalog.for_period_starting(id, period.start()) else { continue };
        let input = SegmentInput {
            segment: Segment::new(period.start(), period.end(), id),
            plan: version,
            quantities: *quantities,
        };
        let draft = draft_invoice(period, &[input], tax_rate).map_err(|e| PortalError::Unexpected(e.into()))?;
        priced.extend(draft.map(|d| (version, d)));
    }
    Ok(priced)
}
