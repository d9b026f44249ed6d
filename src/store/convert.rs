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
