//! `Store` for the sqlite backend: each method delegates to the file of its table group.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::connection::SqliteStore;
use crate::aggregate::Rollup;
use crate::auth::ApiKey;
use crate::domain::{NewTenant, NewUsageRecord, SubscriptionChange, Tenant, TenantId, TenantPatch, UsageCorrection};
use crate::invoice::{BillingPeriod, CreditEntry};
use crate::store::{
    CorrectionOutcome, DbError, IdempotencyStart, InsertOutcome, IssueInvoice, IssueOutcome, NewCreditGrant,
    NewPlanVersion, RebuildReport, StatusChange, Store, StoreKind, StoredInvoice, StoredPlanVersion, StoredResponse,
};
use rust_decimal::Decimal;

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
        let created = super::tenants::create(&mut tx, tenant, now).await?;
        tx.commit().await?;
        Ok(created)
    }

    async fn get_tenant(&self, id: &TenantId) -> Result<Option<Tenant>, DbError> {
        super::tenants::get(&self.reader, id).await
    }

    async fn update_tenant(
        &self,
        id: &TenantId,
        patch: TenantPatch,
        now: DateTime<Utc>,
    ) -> Result<Option<Tenant>, DbError> {
        let mut tx = self.write().await?;
        let updated = super::tenants::update(&mut tx, id, patch, now).await?;
        tx.commit().await?;
        Ok(updated)
    }

    async fn list_tenants(&self, after: Option<&TenantId>, limit: u32) -> Result<Vec<Tenant>, DbError> {
        super::tenants::list(&self.reader, after, limit).await
    }

    async fn insert_usage(
        &self,
        records: &[NewUsageRecord],
        ingested_at: DateTime<Utc>,
    ) -> Result<Vec<InsertOutcome>, DbError> {
        let mut tx = self.write().await?;
        let outcomes = super::usage::insert(&mut tx, records, ingested_at).await?;
        tx.commit().await?;
        Ok(outcomes)
    }

    async fn rollups(&self, tenant: &TenantId, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<Rollup>, DbError> {
        super::rollups::between(&self.reader, tenant, from, to).await
    }

    async fn all_rollups(&self, tenant: &TenantId) -> Result<Vec<Rollup>, DbError> {
        super::rollups::between(&self.reader, tenant, crate::store::EARLIEST, crate::store::LATEST).await
    }

    async fn rebuild_rollups(&self) -> Result<RebuildReport, DbError> {
        let mut tx = self.write().await?;
        let report = super::rollups::rebuild(&mut tx).await?;
        tx.commit().await?;
        Ok(report)
    }

    async fn insert_api_key(&self, key: &ApiKey) -> Result<(), DbError> {
        let mut tx = self.write().await?;
        super::api_keys::insert(&mut tx, key).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_api_key(&self, key_id: &str) -> Result<Option<ApiKey>, DbError> {
        super::api_keys::get(&self.reader, key_id).await
    }

    async fn list_api_keys(&self) -> Result<Vec<ApiKey>, DbError> {
        super::api_keys::list(&self.reader).await
    }

    async fn revoke_api_key(&self, key_id: &str, now: DateTime<Utc>) -> Result<bool, DbError> {
        let mut tx = self.write().await?;
        let revoked = super::api_keys::revoke(&mut tx, key_id, now).await?;
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
        let state = super::idempotency::start(&mut tx, scope, key, request_hash, now).await?;
        tx.commit().await?;
        Ok(state)
    }

    async fn finish_idempotent(&self, scope: &str, key: &str, response: &StoredResponse) -> Result<(), DbError> {
        let mut tx = self.write().await?;
        super::idempotency::finish(&mut tx, scope, key, response).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn abandon_idempotent(&self, scope: &str, key: &str) -> Result<(), DbError> {
        let mut tx = self.write().await?;
        super::idempotency::abandon(&mut tx, scope, key).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn record_plan_version(&self, plan: &NewPlanVersion<'_>, now: DateTime<Utc>) -> Result<(i32, bool), DbError> {
        let mut tx = self.write().await?;
        let recorded = super::plans::record(&mut tx, plan, now).await?;
        tx.commit().await?;
        Ok(recorded)
    }

    async fn plan_versions(&self) -> Result<Vec<StoredPlanVersion>, DbError> {
        super::plans::all(&self.reader).await
    }

    async fn change_subscription(
        &self,
        tenant: &TenantId,
        change: &SubscriptionChange,
        now: DateTime<Utc>,
    ) -> Result<(), DbError> {
        let mut tx = self.write().await?;
        super::subscriptions::change(&mut tx, tenant, change, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn subscriptions(&self, tenant: &TenantId) -> Result<Vec<SubscriptionChange>, DbError> {
        super::subscriptions::of(&self.reader, tenant).await
    }

    async fn closed_periods(&self, tenant: &TenantId) -> Result<Vec<BillingPeriod>, DbError> {
        super::billing::closed_periods(&self.reader, tenant).await
    }

    async fn billed_lines(
        &self,
        tenant: &TenantId,
        period_start: DateTime<Utc>,
    ) -> Result<Vec<(String, Decimal)>, DbError> {
        super::billing::billed_lines(&self.reader, tenant, period_start).await
    }

    async fn issue_invoice(&self, issue: &IssueInvoice<'_>) -> Result<IssueOutcome, DbError> {
        let mut tx = self.write().await?;
        let outcome = super::billing::issue(&mut tx, issue).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    async fn list_invoices(
        &self,
        tenant: &TenantId,
        before: Option<(DateTime<Utc>, String)>,
        limit: u32,
    ) -> Result<Vec<StoredInvoice>, DbError> {
        super::invoices::list(&self.reader, tenant, before, limit).await
    }

    async fn get_invoice(&self, tenant: &TenantId, invoice_id: &str) -> Result<Option<StoredInvoice>, DbError> {
        super::invoices::get(&self.reader, tenant, invoice_id).await
    }

    async fn mark_invoice_paid(
        &self,
        tenant: &TenantId,
        invoice_id: &str,
        now: DateTime<Utc>,
    ) -> Result<StatusChange, DbError> {
        let mut tx = self.write().await?;
        let changed = super::invoices::mark_paid(&mut tx, tenant, invoice_id, now).await?;
        tx.commit().await?;
        super::invoices::after_change(&self.reader, tenant, invoice_id, changed).await
    }

    async fn void_invoice(
        &self,
        tenant: &TenantId,
        invoice_id: &str,
        prefix: &str,
        now: DateTime<Utc>,
    ) -> Result<StatusChange, DbError> {
        let mut tx = self.write().await?;
        let status = super::invoices::void(&mut tx, tenant, invoice_id, prefix, now).await?;
        tx.commit().await?;
        let changed = status == Some(crate::invoice::InvoiceStatus::Void);
        super::invoices::after_change(&self.reader, tenant, invoice_id, changed).await
    }

    async fn grant_credit(
        &self,
        tenant: &TenantId,
        grant: &NewCreditGrant,
        now: DateTime<Utc>,
    ) -> Result<CreditEntry, DbError> {
        let mut tx = self.write().await?;
        let entry = super::credits::grant(&mut tx, tenant, grant, now).await?;
        tx.commit().await?;
        Ok(entry)
    }

    async fn credit_entries(&self, tenant: &TenantId) -> Result<Vec<CreditEntry>, DbError> {
        super::credits::entries(&self.reader, tenant).await
    }

    async fn correct_usage(
        &self,
        correction: &UsageCorrection,
        now: DateTime<Utc>,
    ) -> Result<CorrectionOutcome, DbError> {
        let mut tx = self.write().await?;
        let outcome = super::corrections::apply(&mut tx, correction, now).await?;
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
        super::corrections::sample_ids(&self.reader, tenant, from, to, limit).await
    }
}
