//! All SQL lives here: one [`Store`] interface, a PostgreSQL and a SQLite implementation.
//!
//! Callers pass and receive domain values; `*Row` types and SQL never leave this module.
//! Database failures are translated into [`DbError`] so that the write path can answer 503
//! without leaking internals.

mod convert;
mod error;
mod open;
mod postgres;
mod rebuild;
mod sqlite;
mod types;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::aggregate::Rollup;
use crate::auth::ApiKey;
use crate::invoice::{BillingPeriod, CreditEntry};
use rust_decimal::Decimal;

use crate::domain::{NewTenant, NewUsageRecord, SubscriptionChange, Tenant, TenantId, TenantPatch, UsageCorrection};

pub use error::DbError;
pub use open::{open_store, StoreKind};
pub use types::{
    CorrectionOutcome, IdempotencyStart, InsertOutcome, IssueInvoice, IssueOutcome, NewCreditGrant, NewPlanVersion,
    RebuildReport, StatusChange, StoredInvoice, StoredPlanVersion, StoredResponse,
};

/// Bounds of "all time" for range queries: 1677–2262, inside both engines' ranges
pub(crate) const EARLIEST: DateTime<Utc> = DateTime::from_timestamp_nanos(i64::MIN);
pub(crate) const LATEST: DateTime<Utc> = DateTime::from_timestamp_nanos(i64::MAX);

/// The persistence interface. Both implementations pass the same conformance tests.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Which engine this is.
    fn kind(&self) -> StoreKind;

    /// Checks that the database answers (`/readyz`).
    async fn ping(&self) -> Result<(), DbError>;

    /// Creates a tenant. [`DbError::AlreadyExists`] when the id is taken.
    async fn create_tenant(&self, tenant: &NewTenant, now: DateTime<Utc>) -> Result<Tenant, DbError>;

    /// Reads a tenant.
    async fn get_tenant(&self, id: &TenantId) -> Result<Option<Tenant>, DbError>;

    /// Applies a partial update; `None` when the tenant does not exist.
    async fn update_tenant(
        &self,
        id: &TenantId,
        patch: TenantPatch,
        now: DateTime<Utc>,
    ) -> Result<Option<Tenant>, DbError>;

    /// Tenants ordered by id, starting after `after` (cursor pagination).
    async fn list_tenants(&self, after: Option<&TenantId>, limit: u32) -> Result<Vec<Tenant>, DbError>;

    /// Inserts records whose keys are unique within the slice, in one transaction that also
    /// adds exactly the inserted records to the rollups. Returns one outcome per record.
    async fn insert_usage(
        &self,
        records: &[NewUsageRecord],
        ingested_at: DateTime<Utc>,
    ) -> Result<Vec<InsertOutcome>, DbError>;

    /// Rollup rows of one tenant with `from <= bucket_start < to`, ordered by key.
    async fn rollups(&self, tenant: &TenantId, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<Rollup>, DbError>;

    /// Every rollup row of one tenant, ordered by key.
    async fn all_rollups(&self, tenant: &TenantId) -> Result<Vec<Rollup>, DbError>;

    /// Recomputes every rollup from raw records (with the same pure fold as the write path)
    /// and replaces the table's contents in one transaction.
    async fn rebuild_rollups(&self) -> Result<RebuildReport, DbError>;

    /// Stores a new API key (only its hash).
    async fn insert_api_key(&self, key: &ApiKey) -> Result<(), DbError>;

    /// Reads an API key by its public id.
    async fn get_api_key(&self, key_id: &str) -> Result<Option<ApiKey>, DbError>;

    /// Every API key, newest first.
    async fn list_api_keys(&self) -> Result<Vec<ApiKey>, DbError>;

    /// Marks a key revoked; false when no unrevoked key has that id.
    async fn revoke_api_key(&self, key_id: &str, now: DateTime<Utc>) -> Result<bool, DbError>;

    /// Claims an idempotency key for a request, or reports what happened to it before.
    async fn start_idempotent(
        &self,
        scope: &str,
        key: &str,
        request_hash: &[u8],
        now: DateTime<Utc>,
    ) -> Result<IdempotencyStart, DbError>;

    /// Saves the response of a claimed idempotency key.
    async fn finish_idempotent(&self, scope: &str, key: &str, response: &StoredResponse) -> Result<(), DbError>;

    /// Releases a claim whose request failed before producing a response worth replaying.
    async fn abandon_idempotent(&self, scope: &str, key: &str) -> Result<(), DbError>;

    /// Records a plan's content as its next version unless its newest version already has
    /// this content hash. Serialized across processes. Returns the version in force and
    /// whether it was created now.
    async fn record_plan_version(&self, plan: &NewPlanVersion<'_>, now: DateTime<Utc>) -> Result<(i32, bool), DbError>;

    /// Every stored plan version.
    async fn plan_versions(&self) -> Result<Vec<StoredPlanVersion>, DbError>;

    /// Puts a tenant on a plan from `change.effective_at`, replacing any change scheduled at
    /// or after that instant.
    async fn change_subscription(
        &self,
        tenant: &TenantId,
        change: &SubscriptionChange,
        now: DateTime<Utc>,
    ) -> Result<(), DbError>;

    /// A tenant's subscription changes, ordered by `effective_at`.
    async fn subscriptions(&self, tenant: &TenantId) -> Result<Vec<SubscriptionChange>, DbError>;

    /// The tenant's closed billing periods.
    async fn closed_periods(&self, tenant: &TenantId) -> Result<Vec<BillingPeriod>, DbError>;

    /// Every amount billed for lines of one period, as (line key, amount) rows.
    async fn billed_lines(
        &self,
        tenant: &TenantId,
        period_start: DateTime<Utc>,
    ) -> Result<Vec<(String, Decimal)>, DbError>;

    /// Numbers and stores an invoice, its billed lines, credit entries and outbox row, and
    /// closes its period — in one transaction, at most once per (tenant, period).
    async fn issue_invoice(&self, issue: &IssueInvoice<'_>) -> Result<IssueOutcome, DbError>;

    /// A tenant's invoices, newest period first, after the `(period_start, id)` cursor.
    async fn list_invoices(
        &self,
        tenant: &TenantId,
        before: Option<(DateTime<Utc>, String)>,
        limit: u32,
    ) -> Result<Vec<StoredInvoice>, DbError>;

    /// One invoice.
    async fn get_invoice(&self, tenant: &TenantId, invoice_id: &str) -> Result<Option<StoredInvoice>, DbError>;

    /// `finalized → paid`.
    async fn mark_invoice_paid(
        &self,
        tenant: &TenantId,
        invoice_id: &str,
        now: DateTime<Utc>,
    ) -> Result<StatusChange, DbError>;

    /// `finalized | paid → void`: numbers a credit note and restores consumed credits.
    async fn void_invoice(
        &self,
        tenant: &TenantId,
        invoice_id: &str,
        credit_note_prefix: &str,
        now: DateTime<Utc>,
    ) -> Result<StatusChange, DbError>;

    /// Appends a credit grant to the ledger.
    async fn grant_credit(
        &self,
        tenant: &TenantId,
        grant: &NewCreditGrant,
        now: DateTime<Utc>,
    ) -> Result<CreditEntry, DbError>;

    /// The tenant's credit ledger, oldest first.
    async fn credit_entries(&self, tenant: &TenantId) -> Result<Vec<CreditEntry>, DbError>;

    /// Appends a correction to a stored record and moves the rollups by the difference, in
    /// one transaction.
    async fn correct_usage(
        &self,
        correction: &UsageCorrection,
        now: DateTime<Utc>,
    ) -> Result<CorrectionOutcome, DbError>;

    /// Up to `limit` ids of records of a tenant in `[from, to)` (for explanations).
    async fn sample_record_ids(
        &self,
        tenant: &TenantId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<String>, DbError>;
}
