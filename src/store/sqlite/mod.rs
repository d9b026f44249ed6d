//! The SQLite store: the embedded default (`sqlite://tally-data/tally.db`).
//!
//! WAL, `synchronous=FULL`, foreign keys, a busy timeout. One writer connection: every write
//! transaction is `BEGIN IMMEDIATE` on it, so writers queue instead of failing with
//! SQLITE_BUSY on upgrade. Reads use a separate pool. Decimals are text and are summed in
//! Rust, never in SQL (SQLite would coerce them to floating point).

mod api_keys;
mod billing;
mod corrections;
mod credits;
mod effects;
mod idempotency;
mod invoices;
mod plans;
mod rollups;
mod subscriptions;
mod tenants;
mod usage;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, Transaction};

use super::{
    CorrectionOutcome, DbError, IdempotencyStart, InsertOutcome, IssueInvoice, IssueOutcome, NewCreditGrant,
    NewPlanVersion, RebuildReport, StatusChange, Store, StoreKind, StoredInvoice, StoredPlanVersion, StoredResponse,
};
use crate::aggregate::Rollup;
use crate::auth::ApiKey;
use crate::domain::{NewTenant, NewUsageRecord, SubscriptionChange, Tenant, TenantId, TenantPatch, UsageCorrection};
use crate::invoice::{BillingPeriod, CreditEntry};
use rust_decimal::Decimal;

/// A single-writer SQLite database with a separate read pool.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed, with its directory) the database at `url`.
    pub async fn open(url: &str) -> Result<Self, sqlx::Error> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        if let Some(dir) = options.get_filename().parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let writer = SqlitePoolOptions::new().max_connections(1).connect_with(options.clone()).await?;
        let reader = SqlitePoolOptions::new().max_connections(4).connect_with(options.read_only(true)).await?;
        Ok(Self { writer, reader })
    }

    /// Applies the SQLite migrations.
    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        sqlx::migrate!("./migrations/sqlite").run(&self.writer).await
    }

    async fn write(&self) -> Result<Transaction<'static, Sqlite>, DbError> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Sqlite
    }

    async fn ping(&self) -> Result<(), DbError> {
        sqlx::query("select 1").execute(&self.reader).await?;
        Ok(())
    }

    async fn create_tenant(&self, tenant: &NewTenant, now: DateTime<Utc>) -> Result<Tenant, DbError> {
        let mut tx = self.write().await?;
        let created = tenants::create(&mut tx, tenant, now).await?;
        tx.commit().await?;
        Ok(created)
    }

    async fn get_tenant(&self, id: &TenantId) -> Result<Option<Tenant>, DbError> {
        tenants::get(&self.reader, id).await
    }

    async fn update_tenant(
        &self,
        id: &TenantId,
        patch: TenantPatch,
        now: DateTime<Utc>,
    ) -> Result<Option<Tenant>, DbError> {
        let mut tx = self.write().await?;
        let updated = tenants::update(&mut tx, id, patch, now).await?;
        tx.commit().await?;
        Ok(updated)
    }

    async fn list_tenants(&self, after: Option<&TenantId>, limit: u32) -> Result<Vec<Tenant>, DbError> {
        tenants::list(&self.reader, after, limit).await
    }

    async fn insert_usage(
        &self,
        records: &[NewUsageRecord],
        ingested_at: DateTime<Utc>,
    ) -> Result<Vec<InsertOutcome>, DbError> {
        let mut tx = self.write().await?;
        let outcomes = usage::insert(&mut tx, records, ingested_at).await?;
        tx.commit().await?;
        Ok(outcomes)
    }

    async fn rollups(&self, tenant: &TenantId, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<Rollup>, DbError> {
        rollups::between(&self.reader, tenant, from, to).await
    }

    async fn all_rollups(&self, tenant: &TenantId) -> Result<Vec<Rollup>, DbError> {
        rollups::between(&self.reader, tenant, super::EARLIEST, super::LATEST).await
    }

    async fn rebuild_rollups(&self) -> Result<RebuildReport, DbError> {
        let mut tx = self.write().await?;
        let report = rollups::rebuild(&mut tx).await?;
        tx.commit().await?;
        Ok(report)
    }

    async fn insert_api_key(&self, key: &ApiKey) -> Result<(), DbError> {
        let mut tx = self.write().await?;
        api_keys::insert(&mut tx, key).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_api_key(&self, key_id: &str) -> Result<Option<ApiKey>, DbError> {
        api_keys::get(&self.reader, key_id).await
    }

    async fn list_api_keys(&self) -> Result<Vec<ApiKey>, DbError> {
        api_keys::list(&self.reader).await
    }

    async fn revoke_api_key(&self, key_id: &str, now: DateTime<Utc>) -> Result<bool, DbError> {
        let mut tx = self.write().await?;
        let revoked = api_keys::revoke(&mut tx, key_id, now).await?;
        tx.commit().await?;
        Ok(revoked)
    }

    async fn start_idempotent(
        &self,
        scope: &str,
        key: &str,
        request_hash: &[u8],
        now: DateTime<Utc>,
    ) -> Result<IdempotencyStart, DbError> {
        let mut tx = self.write().await?;
        let state = idempotency::start(&mut tx, scope, key, request_hash, now).await?;
        tx.commit().await?;
        Ok(state)
    }

    async fn finish_idempotent(&self, scope: &str, key: &str, response: &StoredResponse) -> Result<(), DbError> {
        let mut tx = self.write().await?;
        idempotency::finish(&mut tx, scope, key, response).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn abandon_idempotent(&self, scope: &str, key: &str) -> Result<(), DbError> {
        let mut tx = self.write().await?;
        idempotency::abandon(&mut tx, scope, key).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn record_plan_version(&self, plan: &NewPlanVersion<'_>, now: DateTime<Utc>) -> Result<(i32, bool), DbError> {
        let mut tx = self.write().await?;
        let recorded = plans::record(&mut tx, plan, now).await?;
        tx.commit().await?;
        Ok(recorded)
    }

    async fn plan_versions(&self) -> Result<Vec<StoredPlanVersion>, DbError> {
        plans::all(&self.reader).await
    }

    async fn change_subscription(
        &self,
        tenant: &TenantId,
        change: &SubscriptionChange,
        now: DateTime<Utc>,
    ) -> Result<(), DbError> {
        let mut tx = self.write().await?;
        subscriptions::change(&mut tx, tenant, change, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn subscriptions(&self, tenant: &TenantId) -> Result<Vec<SubscriptionChange>, DbError> {
        subscriptions::of(&self.reader, tenant).await
    }

    async fn closed_periods(&self, tenant: &TenantId) -> Result<Vec<BillingPeriod>, DbError> {
        billing::closed_periods(&self.reader, tenant).await
    }

    async fn billed_lines(
        &self,
        tenant: &TenantId,
        period_start: DateTime<Utc>,
    ) -> Result<Vec<(String, Decimal)>, DbError> {
        billing::billed_lines(&self.reader, tenant, period_start).await
    }

    async fn issue_invoice(&self, issue: &IssueInvoice<'_>) -> Result<IssueOutcome, DbError> {
        let mut tx = self.write().await?;
        let outcome = billing::issue(&mut tx, issue).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    async fn list_invoices(
        &self,
        tenant: &TenantId,
        before: Option<(DateTime<Utc>, String)>,
        limit: u32,
    ) -> Result<Vec<StoredInvoice>, DbError> {
        invoices::list(&self.reader, tenant, before, limit).await
    }

    async fn get_invoice(&self, tenant: &TenantId, invoice_id: &str) -> Result<Option<StoredInvoice>, DbError> {
        invoices::get(&self.reader, tenant, invoice_id).await
    }

    async fn mark_invoice_paid(
        &self,
        tenant: &TenantId,
        invoice_id: &str,
        now: DateTime<Utc>,
    ) -> Result<StatusChange, DbError> {
        let mut tx = self.write().await?;
        let changed = invoices::mark_paid(&mut tx, tenant, invoice_id, now).await?;
        tx.commit().await?;
        invoices::after_change(&self.reader, tenant, invoice_id, changed).await
    }

    async fn void_invoice(
        &self,
        tenant: &TenantId,
        invoice_id: &str,
        prefix: &str,
        now: DateTime<Utc>,
    ) -> Result<StatusChange, DbError> {
        let mut tx = self.write().await?;
        let status = invoices::void(&mut tx, tenant, invoice_id, prefix, now).await?;
        tx.commit().await?;
        let changed = status == Some(crate::invoice::InvoiceStatus::Void);
        invoices::after_change(&self.reader, tenant, invoice_id, changed).await
    }

    async fn grant_credit(
        &self,
        tenant: &TenantId,
        grant: &NewCreditGrant,
        now: DateTime<Utc>,
    ) -> Result<CreditEntry, DbError> {
        let mut tx = self.write().await?;
        let entry = credits::grant(&mut tx, tenant, grant, now).await?;
        tx.commit().await?;
        Ok(entry)
    }

    async fn credit_entries(&self, tenant: &TenantId) -> Result<Vec<CreditEntry>, DbError> {
        credits::entries(&self.reader, tenant).await
    }

    async fn correct_usage(
        &self,
        correction: &UsageCorrection,
        now: DateTime<Utc>,
    ) -> Result<CorrectionOutcome, DbError> {
        let mut tx = self.write().await?;
        let outcome = corrections::apply(&mut tx, correction, now).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    async fn sample_record_ids(
        &self,
        tenant: &TenantId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<String>, DbError> {
        corrections::sample_ids(&self.reader, tenant, from, to, limit).await
    }
}
