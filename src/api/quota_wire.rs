//! How quotas, budgets and entitlements look on the wire (api-spec `Quota`, `QuotaInput`,
//! `QuotaSet`, `BudgetSet`, `Entitlements`): limits and usage as strings, spend amounts at the
//! tenant's currency's precision next to `currency`.
//!
//! Stage: the HTTP edge. Parses request bodies into `domain::Quota`s and renders
//! `quota` results; converts `quota` errors into `ApiError`. No rules of its own.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::domain::{Currency, Quota};
use crate::http::{exact_json_number, ApiError};
use crate::quota::{format_value, Entitlement, EntitlementSnapshot, QuotaListing, QuotaSetError, Refusal};

/// One quota in a request body (`QuotaInput`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaRequest {
    id: String,
    meter: String,
    limit: String,
    /// JSON numbers, taken by value: `80` and `80.0` are the same percent.
    thresholds: Option<Vec<serde_json::Number>>,
    hard: Option<bool>,
}

/// Body of `putQuotas`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutQuotasRequest {
    pub quotas: Vec<QuotaRequest>,
}

/// Body of `putBudgets`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutBudgetsRequest {
    pub budgets: Vec<QuotaRequest>,
}

/// One entitlement (`Entitlement`).
#[derive(Debug, Serialize)]
pub struct EntitlementResponse {
    quota_id: String,
    meter: String,
    used: String,
    limit: String,
    remaining: String,
    hard: bool,
    blocked: bool,
}

/// Validates request quotas into domain quotas.
///
/// # Errors
/// 422 `invalid_quota` naming the quota and the rule.
pub fn parse_quotas(wanted: &[QuotaRequest]) -> Result<Vec<Quota>, ApiError> {
    wanted
        .iter()
        .enumerate()
        .map(|(i, q)| {
            let invalid = |why: String| ApiError::unprocessable("invalid_quota", format!("quotas[{i}]: {why}"));
            let limit = Decimal::from_str_exact(&q.limit)
                .ok()
                .filter(|_| !q.limit.contains(['e', 'E']))
                .ok_or_else(|| invalid("limit must be a decimal string like \"5000000\" or \"250.00\"".into()))?;
            let thresholds = q.thresholds.as_deref().unwrap_or_default();
            let thresholds: Vec<u32> = thresholds
                .iter()
                .map(|n| exact_json_number(n).filter(|v| v.fract().is_zero()).and_then(|v| u32::try_from(v).ok()))
                .collect::<Option<_>>()
                .ok_or_else(|| invalid("thresholds must be whole percents from 1 to 1000".into()))?;
            Quota::new(&q.id, &q.meter, limit, &thresholds, q.hard.unwrap_or(false)).map_err(|e| invalid(e.to_string()))
        })
        .collect()
}

/// A quota as stored (`Quota`).
pub fn quota_json(quota: &Quota, currency: Option<Currency>) -> Value {
    json!({
        "id": quota.id(),
        "meter": quota.meter().as_str(),
        "limit": format_value(quota.meter(), quota.limit(), currency),
        "thresholds": quota.thresholds(),
        "hard": quota.hard(),
    })
}

fn quotas_json(quotas: &[Quota], currency: Option<Currency>) -> Vec<Value> {
    quotas.iter().map(|q| quota_json(q, currency)).collect()
}

/// The operator's set and the plan's defaults (`QuotaSet`).
pub fn quota_set_json(listing: &QuotaListing) -> Value {
    json!({
        "tenant_id": listing.tenant_id,
        "currency": listing.currency.map(|c| c.code()),
        "quotas": quotas_json(&listing.set.operator, listing.currency),
        "plan_quotas": quotas_json(&listing.plan_quotas, listing.currency),
    })
}

/// The tenant's budgets (`BudgetSet`).
pub fn budget_set_json(listing: &QuotaListing) -> Value {
    json!({
        "tenant_id": listing.tenant_id,
        "currency": listing.currency.map(|c| c.code()),
        "allow_hard_budget": listing.allow_hard_budget,
        "budgets": quotas_json(&listing.set.budgets, listing.currency),
    })
}

/// One entitlement on the wire.
pub fn entitlement_response(e: &Entitlement, currency: Option<Currency>) -> EntitlementResponse {
    let meter = e.quota.meter();
    EntitlementResponse {
        quota_id: e.quota.id().to_owned(),
        meter: meter.as_str().to_owned(),
        used: format_value(meter, e.used, currency),
        limit: format_value(meter, e.quota.limit(), currency),
        remaining: format_value(meter, e.remaining, currency),
        hard: e.quota.hard(),
        blocked: e.blocked,
    }
}

/// The entitlements answer (`Entitlements`), optionally only those of one meter; `blocked` at
/// the top when ingest refuses all of the tenant's usage, which holds with no quota at all.
pub fn entitlements_json(snapshot: &EntitlementSnapshot, meter: Option<&str>) -> Value {
    let entitlements: Vec<EntitlementResponse> = snapshot
        .entitlements
        .iter()
        .filter(|e| meter.is_none_or(|m| e.quota.meter().as_str() == m))
        .map(|e| entitlement_response(e, snapshot.currency))
        .collect();
    json!({
        "tenant_id": snapshot.tenant_id,
        "as_of": snapshot.as_of,
        "period": { "start": snapshot.period.start(), "end": snapshot.period.end() },
        "currency": snapshot.currency.map(|c| c.code()),
        "blocked": snapshot.refused.is_some(),
        "blocked_reason": snapshot.refused.map(Refusal::as_str),
        "entitlements": entitlements,
    })
}

impl From<QuotaSetError> for ApiError {
    /// 404 tenant; 422 `invalid_quota`, `hard_budget_not_allowed`; 409 `quota_id_taken`.
    fn from(error: QuotaSetError) -> Self {
        match error {
            QuotaSetError::TenantNotFound => Self::NotFound("tenant"),
            QuotaSetError::Invalid(_) => Self::unprocessable("invalid_quota", error.to_string()),
            QuotaSetError::HardBudgetNotAllowed(_) => Self::unprocessable("hard_budget_not_allowed", error.to_string()),
            QuotaSetError::IdTaken(_) => Self::Conflict { code: "quota_id_taken", message: error.to_string() },
            QuotaSetError::Store(db) => db.into(),
        }
    }
}

/// `?meter=` of `getEntitlements`: a meter name or `spend`.
///
/// # Errors
/// 400 `invalid_query` for anything else.
pub fn meter_filter(meter: Option<&str>) -> Result<Option<&str>, ApiError> {
    match meter {
        Some(m) if crate::domain::QuotaMeter::parse(m).is_none() => Err(ApiError::bad_request(
            "invalid_query",
            "meter must be cpu_cycles, memory_gb_seconds, invocations or spend",
        )),
        other => Ok(other),
    }
}
