//! `GET /portal/budgets` and `POST /portal/budgets`: the tenant's own spend budgets (DESIGN
//! §9), shown and replaced whole through a form — the same `quota::set_quotas` with
//! `QuotaOwner::Tenant` as `PUT /v1/tenants/{id}/budgets`, so the same rules apply (spend only,
//! hard only where the plan allows, ids unique). A refused form is shown again with the
//! reason and what was typed (422).
//!
//! Stage: the HTTP edge (portal). Parses the form into `domain::Quota`s, calls the service.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use rust_decimal::Decimal;

use super::context::Portal;
use super::csrf::Form;
use super::error::PortalError;
use super::page;
use super::session::{PortalSession, SessionForm};
use crate::domain::{Quota, QuotaOwner};
use crate::quota::{format_value, quota_listing, set_quotas, QuotaListing, QuotaSetError, MAX_QUOTAS};

/// Thresholds a new budget row suggests.
const DEFAULT_THRESHOLDS: &str = "80, 100";

/// One row of the form, as shown or as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct BudgetRow {
    id: String,
    limit: String,
    thresholds: String,
    hard: bool,
}

#[derive(Template)]
#[template(path = "portal/templates/budgets.html")]
struct BudgetsPage {
    chrome: super::view::Chrome,
    csrf: String,
    currency: String,
    allow_hard: bool,
    rows: Vec<BudgetRow>,
    error: Option<String>,
    saved: bool,
}

/// The budgets form, filled with the stored budgets and one empty row.
#[tracing::instrument(skip_all, fields(tenant_id = %session.tenant))]
pub async fn get_portal_budgets(
    session: PortalSession,
    query: web::Query<HashMap<String, String>>,
    portal: web::Data<Portal>,
) -> Result<HttpResponse, PortalError> {
    let listing = listing_of(&portal, &session).await?;
    let mut rows: Vec<BudgetRow> = listing.set.budgets.iter().map(|b| stored_row(b, &listing)).collect();
    rows.push(BudgetRow {
        id: String::new(),
        limit: String::new(),
        thresholds: DEFAULT_THRESHOLDS.into(),
        hard: false,
    });
    render(&session, &portal, &listing, rows, None, query.contains_key("saved")).await
}

/// Replaces the budgets with the form's rows (a row with neither id nor limit is dropped, so
/// clearing a row deletes that budget).
#[tracing::instrument(skip_all, fields(tenant_id = %posted.session.tenant))]
pub async fn save_portal_budgets(posted: SessionForm, portal: web::Data<Portal>) -> Result<HttpResponse, PortalError> {
    let SessionForm { session, form } = posted;
    let rows = form_rows(&form);
    let refused = match parse_rows(&rows) {
        Ok(budgets) => {
            let catalog = portal.catalog.current(&portal.store).await?;
            let now = portal.clock.now();
            match set_quotas(&portal.store, &catalog, &session.tenant, QuotaOwner::Tenant, &budgets, now).await {
                Ok(_) => return Ok(page::redirect("/portal/budgets?saved=1").finish()),
                Err(QuotaSetError::Store(error)) => return Err(error.into()),
                Err(QuotaSetError::TenantNotFound) => return Err(PortalError::NotFound("tenant")),
                Err(rule) => rule.to_string(),
            }
        }
        Err(message) => message,
    };
    let listing = listing_of(&portal, &session).await?;
    let mut response = render(&session, &portal, &listing, rows, Some(refused), false).await?;
    *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    Ok(response)
}

/// The tenant's budgets and what governs them, as the API reads them.
async fn listing_of(portal: &Portal, session: &PortalSession) -> Result<QuotaListing, PortalError> {
    let catalog = portal.catalog.current(&portal.store).await?;
    Ok(quota_listing(&portal.store, &catalog, &session.tenant, portal.clock.now()).await?)
}

async fn render(
    session: &PortalSession,
    portal: &Portal,
    listing: &QuotaListing,
    rows: Vec<BudgetRow>,
    error: Option<String>,
    saved: bool,
) -> Result<HttpResponse, PortalError> {
    let tenant = portal.tenant_of(session).await?;
    let page = BudgetsPage {
        chrome: super::view::Chrome::signed_in("Budgets", "budgets", session.account(&tenant.details.name)),
        csrf: session.csrf.clone(),
        currency: listing.currency.map_or_else(|| "—".to_owned(), |c| c.code().to_owned()),
        allow_hard: listing.allow_hard_budget,
        rows,
        error,
        saved,
    };
    page::html(StatusCode::OK, &page)
}

fn stored_row(budget: &Quota, listing: &QuotaListing) -> BudgetRow {
    let thresholds: Vec<String> = budget.thresholds().iter().map(u32::to_string).collect();
    BudgetRow {
        id: budget.id().to_owned(),
        limit: format_value(budget.meter(), budget.limit(), listing.currency),
        thresholds: thresholds.join(", "),
        hard: budget.hard(),
    }
}

/// The rows the form sent (`id_0`, `limit_0`, `thresholds_0`, `hard_0`, `id_1`, …), in order.
fn form_rows(form: &Form) -> Vec<BudgetRow> {
    (0..=MAX_QUOTAS)
        .map_while(|i| {
            let id = form.get(&format!("id_{i}"))?;
            Some(BudgetRow {
                id: id.trim().to_owned(),
                limit: form.get(&format!("limit_{i}")).unwrap_or_default().trim().to_owned(),
                thresholds: form.get(&format!("thresholds_{i}")).unwrap_or_default().trim().to_owned(),
                hard: form.get(&format!("hard_{i}")).is_some(),
            })
        })
        .collect()
}

/// Budgets of the non-empty rows, or what is wrong with the first bad one (pure).
fn parse_rows(rows: &[BudgetRow]) -> Result<Vec<Quota>, String> {
    rows.iter()
        .enumerate()
        .filter(|(_, row)| !(row.id.is_empty() && row.limit.is_empty()))
        .map(|(i, row)| {
            let name = if row.id.is_empty() { format!("row {}", i + 1) } else { format!("budget {:?}", row.id) };
            let limit = Decimal::from_str_exact(&row.limit)
                .ok()
                .filter(|_| !row.limit.contains(['e', 'E']))
                .ok_or_else(|| format!("The limit of {name} must be an amount such as 250.00."))?;
            let thresholds = row
                .thresholds
                .split(',')
                .map(|t| t.trim().trim_end_matches('%').trim())
                .filter(|t| !t.is_empty())
                .map(|t| {
                    t.parse::<u32>()
                        .map_err(|_| format!("The alert thresholds of {name} must be whole percents such as 80, 100."))
                })
                .collect::<Result<Vec<u32>, String>>()?;
            Quota::new(&row.id, "spend", limit, &thresholds, row.hard)
                .map_err(|e| format!("The {name} is refused: {e}."))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, limit: &str, thresholds: &str) -> BudgetRow {
        BudgetRow { id: id.into(), limit: limit.into(), thresholds: thresholds.into(), hard: false }
    }

    #[test]
    fn rows_become_spend_budgets_and_empty_rows_are_dropped() {
        let budgets = parse_rows(&[row("monthly", "250.00", "80, 100%"), row("", "", "80, 100")]).unwrap();
        assert_eq!(budgets.len(), 1);
        assert_eq!(budgets[0].id(), "monthly");
        assert_eq!(budgets[0].limit(), Decimal::new(25_000, 2));
        assert_eq!(budgets[0].thresholds(), [80, 100]);
        assert_eq!(budgets[0].meter().as_str(), "spend");
    }

    #[test]
    fn a_bad_limit_or_threshold_names_the_row() {
        let limit = parse_rows(&[row("monthly", "lots", "80")]).unwrap_err();
        assert!(limit.contains("\"monthly\"") && limit.contains("limit"), "{limit}");
        let exponent = parse_rows(&[row("monthly", "1e3", "80")]).unwrap_err();
        assert!(exponent.contains("limit"), "{exponent}");
        let threshold = parse_rows(&[row("", "10", "eighty")]).unwrap_err();
        assert!(threshold.contains("row 1") && threshold.contains("thresholds"), "{threshold}");
    }

    #[test]
    fn the_form_is_read_row_by_row_until_a_row_is_missing() {
        let pairs = [("id_0", "a"), ("limit_0", "1"), ("hard_0", "on"), ("id_1", "b"), ("id_3", "skipped")];
        let form = Form(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect());
        let rows = form_rows(&form);
        assert_eq!(rows.len(), 2);
        assert!(rows[0].hard && !rows[1].hard);
        assert_eq!(rows[1].limit, "");
    }
}
