//! Conversions between stored representations and domain values shared by both backends.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::str::FromStr;

use super::DbError;
use crate::domain::{ContentHash, LateUsagePolicy, Tenant, TenantDetails, TenantId};

/// The columns of a `tenant` row once each backend has decoded its own types.
pub(super) struct TenantColumns {
    pub tenant_id: String,
    pub name: String,
    pub billing_emails: String,
    pub timezone: String,
    pub tax_rate: Decimal,
    pub address: String,
    pub tax_id: String,
    pub late_usage_policy: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<TenantColumns> for Tenant {
    type Error = DbError;

    fn try_from(c: TenantColumns) -> Result<Self, DbError> {
        let corrupt = |what: &str| DbError::Corrupt(format!("tenant {}: {what}", c.tenant_id));
        Ok(Tenant {
            id: TenantId::parse(&c.tenant_id).map_err(|_| corrupt("id"))?,
            details: TenantDetails {
                name: c.name.clone(),
                billing_emails: serde_json::from_str(&c.billing_emails).map_err(|_| corrupt("billing_emails"))?,
                timezone: c.timezone.parse().map_err(|_| corrupt("timezone"))?,
                tax_rate: c.tax_rate,
                address: serde_json::from_str(&c.address).map_err(|_| corrupt("address"))?,
                tax_id: c.tax_id.clone(),
                late_usage_policy: LateUsagePolicy::parse(&c.late_usage_policy).ok_or_else(|| corrupt("policy"))?,
            },
            active: c.active,
            created_at: c.created_at,
            updated_at: c.updated_at,
        })
    }
}

/// JSON text of a list of strings, as stored.
pub(super) fn json_list(items: &[String]) -> String {
    serde_json::Value::from(items.to_vec()).to_string()
}

/// A stored content hash.
pub(super) fn content_hash(bytes: &[u8]) -> Result<ContentHash, DbError> {
    ContentHash::from_slice(bytes).ok_or_else(|| DbError::Corrupt("content hash is not 16 bytes".into()))
}

/// A tenant id read back from a tenant-owned table.
pub(super) fn tenant_id(text: &str) -> Result<TenantId, DbError> {
    TenantId::parse(text).map_err(|_| DbError::Corrupt(format!("tenant id {text:?}")))
}

/// Decimal text stored by the SQLite backend.
pub(super) fn decimal_text(text: &str) -> Result<Decimal, DbError> {
    Decimal::from_str(text).map_err(|_| DbError::Corrupt(format!("decimal {text:?}")))
}

/// Microseconds since the epoch, as the SQLite backend stores instants.
pub(super) fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

/// An instant stored by the SQLite backend.
pub(super) fn from_micros(micros: i64) -> Result<DateTime<Utc>, DbError> {
    DateTime::from_timestamp_micros(micros).ok_or_else(|| DbError::Corrupt(format!("instant {micros}")))
}

/// An `idempotency` row: request hash, response status and body (absent while in flight).
pub(super) type IdempotencyRow = (Vec<u8>, Option<i32>, Option<Vec<u8>>);

/// What a stored idempotency row means for a new request with `request_hash`. `None` means
/// the claim vanished between the insert and the read (abandoned): treat as in flight.
pub(super) fn idempotency_state(row: Option<IdempotencyRow>, request_hash: &[u8]) -> super::IdempotencyStart {
    use super::{IdempotencyStart, StoredResponse};
    match row {
        None => IdempotencyStart::InFlight,
        Some((hash, _, _)) if hash != request_hash => IdempotencyStart::Mismatch,
        Some((_, Some(status), Some(body))) => {
            IdempotencyStart::Replay(StoredResponse { status: u16::try_from(status).unwrap_or(500), body })
        }
        Some(_) => IdempotencyStart::InFlight,
    }
}

/// An integer meter as the raw tables store it (`bigint`/`integer`). Ingest validates
/// `cpu_cycles` and `invocations` to whole numbers in `0..=i64::MAX`.
pub(super) fn whole(value: rust_decimal::Decimal) -> Result<i64, DbError> {
    use rust_decimal::prelude::ToPrimitive;
    value
        .trunc()
        .eq(&value)
        .then(|| value.to_i64())
        .flatten()
        .ok_or_else(|| DbError::Corrupt(format!("{value} is not an integer meter value")))
}

/// The columns of an `api_key` row once each backend has decoded its own types.
pub(super) struct ApiKeyColumns {
    pub key_id: String,
    pub secret_hash: Vec<u8>,
    pub role: String,
    pub tenant_id: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Rebuilds a stored API key.
pub(super) fn api_key(c: ApiKeyColumns) -> Result<crate::auth::ApiKey, DbError> {
    use crate::auth::{ApiKey, ApiKeyId, Role};
    let corrupt = |what: &str| DbError::Corrupt(format!("api key {}: {what}", c.key_id));
    let hash: [u8; 32] = c.secret_hash.as_slice().try_into().map_err(|_| corrupt("hash is not 32 bytes"))?;
    let tenant = if c.tenant_id.is_empty() { None } else { Some(tenant_id(&c.tenant_id)?) };
    ApiKey::new(
        ApiKeyId::parse(&c.key_id).map_err(|_| corrupt("id"))?,
        hash,
        Role::parse(&c.role).map_err(|_| corrupt("role"))?,
        tenant,
        c.created_at,
        c.revoked_at,
    )
    .map_err(|_| corrupt("grant"))
}

/// A new invoice id: the tenant, a dot, and a random UUID. Tenant ids never contain dots, so
/// the tenant (the shard key) can always be read back from an id in a URL.
pub(super) fn invoice_id(tenant: &TenantId) -> String {
    format!("{tenant}.{}", uuid::Uuid::new_v4().simple())
}

/// A new ledger or outbox entry id.
pub(super) fn entry_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// `INV-2026-000123`.
pub(super) fn number_text(prefix: &str, year: i32, value: i64) -> String {
    format!("{prefix}-{year}-{value:06}")
}

/// A document that cannot be (de)serialized is a bug, not a data problem; report it plainly.
pub(super) fn corrupt_json(error: serde_json::Error) -> DbError {
    DbError::Corrupt(format!("invoice document json: {error}"))
}

/// The outbox payload of an invoice event: enough to find and render it.
pub(super) fn outbox_payload(document: &crate::invoice::InvoiceDocument) -> String {
    serde_json::json!({
        "invoice_id": document.id,
        "number": document.number,
        "tenant_id": document.customer.tenant_id,
        "total": document.total.to_string(),
        "currency": document.currency.code(),
    })
    .to_string()
}

/// An invoice row: the issued document with its current status facts.
pub(super) fn stored_invoice(
    document: &str,
    status: &str,
    paid_at: Option<DateTime<Utc>>,
    voided_at: Option<DateTime<Utc>>,
    credit_note_number: Option<String>,
) -> Result<super::StoredInvoice, DbError> {
    let mut document: crate::invoice::InvoiceDocument = serde_json::from_str(document).map_err(corrupt_json)?;
    document.status =
        crate::invoice::InvoiceStatus::parse(status).ok_or_else(|| DbError::Corrupt(format!("status {status}")))?;
    Ok(super::StoredInvoice { document, paid_at, voided_at, credit_note_number })
}

/// The columns of a `credit_entry` row once decoded.
pub(super) struct CreditColumns {
    pub entry_id: String,
    pub kind: String,
    pub grant_id: String,
    pub amount: Decimal,
    pub currency: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub reason: String,
    pub invoice_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Rebuilds a ledger entry.
pub(super) fn credit_entry(c: CreditColumns) -> Result<crate::invoice::CreditEntry, DbError> {
    let corrupt = |what: &str| DbError::Corrupt(format!("credit entry {}: {what}", c.entry_id));
    Ok(crate::invoice::CreditEntry {
        kind: crate::invoice::CreditEntryKind::parse(&c.kind).ok_or_else(|| corrupt("kind"))?,
        currency: crate::domain::Currency::parse(&c.currency).map_err(|_| corrupt("currency"))?,
        amount: c.amount.normalize(),
        entry_id: c.entry_id,
        grant_id: c.grant_id,
        expires_at: c.expires_at,
        reason: c.reason,
        invoice_id: c.invoice_id,
        created_at: c.created_at,
    })
}

/// The content a record counts as before and after `action`, given its original content and
/// its newest correction (`None`: never corrected; `Some(None)`: void). `None` from this
/// function means the action is a void of a record that is already void.
pub(super) fn correction_step(
    original: crate::aggregate::RecordState,
    newest: Option<Option<crate::aggregate::RecordState>>,
    action: &crate::domain::CorrectionAction,
) -> Option<(Option<crate::aggregate::RecordState>, Option<crate::aggregate::RecordState>)> {
    use crate::domain::CorrectionAction;
    let timestamp = original.timestamp;
    let before = newest.unwrap_or(Some(original));
    let after = match action {
        CorrectionAction::Void if before.is_none() => return None,
        CorrectionAction::Void => None,
        CorrectionAction::Replace { function, region, quantities } => Some(crate::aggregate::RecordState {
            timestamp,
            function: function.clone(),
            region: region.clone(),
            quantities: *quantities,
        }),
    };
    Some((before, after))
}

/// The stored (action, function, region, quantities) of a correction.
pub(super) fn correction_columns(
    action: &crate::domain::CorrectionAction,
) -> (&'static str, &str, &str, crate::domain::Quantities) {
    match action {
        crate::domain::CorrectionAction::Void => ("void", "", "", crate::domain::Quantities::default()),
        crate::domain::CorrectionAction::Replace { function, region, quantities } => {
            ("replace", function, region, *quantities)
        }
    }
}

/// The ledger entry a new grant is stored as (a grant is its own grant id).
pub(super) fn granted_entry(
    id: String,
    grant: &super::NewCreditGrant,
    now: DateTime<Utc>,
) -> crate::invoice::CreditEntry {
    crate::invoice::CreditEntry {
        entry_id: id.clone(),
        kind: crate::invoice::CreditEntryKind::Grant,
        grant_id: id,
        amount: grant.amount,
        currency: grant.currency,
        expires_at: grant.expires_at,
        reason: grant.reason.clone(),
        invoice_id: None,
        created_at: now,
    }
}
