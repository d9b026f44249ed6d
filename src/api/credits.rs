//! Prepaid credits: `GET /v1/tenants/{id}/credits` (api-spec `listCredits`),
//! `POST /v1/tenants/{id}/credits` (`grantCredit`) and
//! `POST /v1/tenants/{id}/credits/{grant_id}/revoke` (`revokeCredit`); both POSTs honour
//! `Idempotency-Key`.
//!
//! Stage: the HTTP edge. Parses, writes or reads the store's credit ledger, answers with
//! balances from `invoice::balances`; holds no ledger rules.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Value};

use super::lookup::{existing_tenant, PathChange, ReadableTenant};
use crate::auth::AdminCaller;
use crate::domain::{CreditEntry, RevocationRefused};
use crate::domain::{Currency, Money};
use crate::http::{ApiError, JsonReply};
use crate::invoice::{balances, check_credit_currency};
use crate::plans::SharedCatalog;
use crate::store::{CreditRevocation, NewCreditGrant, Store};

/// Body of `grantCredit`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantCreditRequest {
    amount: String,
    currency: String,
    expires_at: Option<DateTime<Utc>>,
    reason: String,
}

/// Appends a grant to the tenant's ledger, in a currency the tenant's invoices can use.
#[tracing::instrument(skip_all, fields(tenant_id = %request.id))]
pub async fn grant_credit(
    request: PathChange<AdminCaller>,
    catalog: web::Data<SharedCatalog>,
) -> Result<HttpResponse, ApiError> {
    let id = request.tenant()?;
    let grant = validate(request.json()?, request.now())?;
    existing_tenant(request.store(), &id).await?;
    let catalog = catalog.current(request.store()).await?;
    check_credit_currency(request.store(), &catalog, &id, grant.amount.currency, request.now()).await?;
    request
        .run(|| async {
            let entry = request.store().grant_credit(&id, &grant, request.now(), &request.actor()).await?;
            JsonReply::with_status(StatusCode::CREATED, entry_json(&entry))
        })
        .await
}

/// Body of `revokeCredit`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeCreditRequest {
    /// All that is left of the grant when absent.
    amount: Option<String>,
    reason: String,
}

/// Takes back part or all of what is left of one grant (an operator's credit adjustment).
#[tracing::instrument(skip_all, fields(tenant_id = %request.id))]
pub async fn revoke_credit(
    request: PathChange<AdminCaller>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let id = request.tenant()?;
    let grant_id = &path.1;
    let wanted: RevokeCreditRequest = request.json()?;
    let amount = wanted.amount.as_deref().map(positive_amount).transpose()?;
    let reason = valid_reason(wanted.reason)?;
    existing_tenant(request.store(), &id).await?;
    request
        .run(|| async {
            let store = request.store();
            match store.revoke_credit(&id, grant_id, amount, &reason, request.now(), &request.actor()).await? {
                CreditRevocation::Revoked(entry) => JsonReply::with_status(StatusCode::CREATED, entry_json(&entry)),
                CreditRevocation::UnknownGrant => Err(ApiError::NotFound("credit grant")),
                CreditRevocation::Refused(refused @ RevocationRefused::FinerThanCurrency(_)) => {
                    Err(ApiError::unprocessable("invalid_credit", format!("amount: {refused}")))
                }
                CreditRevocation::Refused(refused) => {
                    Err(ApiError::unprocessable("credit_exhausted", refused.to_string()))
                }
            }
        })
        .await
}

fn invalid(message: &str) -> ApiError {
    ApiError::unprocessable("invalid_credit", message)
}

fn positive_amount(text: &str) -> Result<Decimal, ApiError> {
    match Decimal::from_str_exact(text) {
        Ok(amount) if amount > Decimal::ZERO => Ok(amount),
        _ => Err(invalid("amount must be a positive decimal string like \"50.00\"")),
    }
}

fn valid_reason(reason: String) -> Result<String, ApiError> {
    match reason.trim().is_empty() || reason.chars().count() > 500 || reason.chars().any(char::is_control) {
        true => Err(invalid("reason must be 1-500 characters without control characters")),
        false => Ok(reason),
    }
}

fn validate(wanted: GrantCreditRequest, now: DateTime<Utc>) -> Result<NewCreditGrant, ApiError> {
    let currency =
        Currency::parse(&wanted.currency).map_err(|_| invalid("currency must be an ISO 4217 code like USD"))?;
    let amount = Decimal::from_str_exact(&wanted.amount)
        .map_err(|_| invalid("amount must be a decimal string like \"50.00\""))?;
    if amount <= Decimal::ZERO || amount.scale() > currency.minor_units() {
        return Err(invalid("amount must be positive, in the currency's minor units"));
    }
    let reason = valid_reason(wanted.reason)?;
    // A grant that has expired already could never be consumed: a typo in the year, most likely.
    if wanted.expires_at.is_some_and(|at| at <= now) {
        return Err(ApiError::unprocessable("credit_expired", "expires_at must be in the future"));
    }
    Ok(NewCreditGrant { amount: Money::new(amount, currency), expires_at: wanted.expires_at, reason })
}

/// The ledger and the remaining balance of every grant.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.0.id))]
pub async fn list_credits(tenant: ReadableTenant, store: web::Data<Store>) -> Result<HttpResponse, ApiError> {
    let entries = store.credit_entries(&tenant.0.id).await?;
    let mut currencies: Vec<Currency> = entries.iter().map(|e| e.amount.currency).collect();
    currencies.sort();
    currencies.dedup();
    let grants: Vec<Value> = currencies
        .into_iter()
        .flat_map(|c| balances(&entries, c).into_iter().map(move |b| (c, b)))
        .map(|(c, b)| {
            json!({ "grant_id": b.grant_id, "currency": c.code(), "remaining": Money::new(b.remaining, c).format_amount(),
                "expires_at": b.expires_at, "granted_at": b.granted_at })
        })
        .collect();
    Ok(HttpResponse::Ok()
        .json(json!({ "grants": grants, "entries": entries.iter().map(entry_json).collect::<Vec<_>>() })))
}

fn entry_json(e: &CreditEntry) -> Value {
    json!({
        "entry_id": e.entry_id, "kind": e.kind, "grant_id": e.grant_id,
        "amount": e.amount.round_to_minor_units().format_amount(), "currency": e.amount.currency.code(),
        "expires_at": e.expires_at,
        "reason": e.reason, "invoice_id": e.invoice_id, "created_at": e.created_at,
    })
}
