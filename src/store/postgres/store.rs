//! `Store` for the postgres backend: each method delegates to the file of its table group.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::connection::PgStore;
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
impl Store for PgStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Postgres
    }

    async fn ping(&self) -> Result<(), DbError> {
        sqlx::query("select 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn create_tenant(&self, tenant: &NewTenant, now: DateTime<Utc>) -> Result<Tenant, DbError> {
        super::tenants::create(&self.pool, tenant, now).await
    }

    async fn get_tenant(&self, id: &TenantId) -> Result<Option<Tenant>, DbError> {
        super::tenants::get(&self.pool, id).await
    }

    async fn update_tenant(
        &self,
        id: &TenantId,
        patch: TenantPatch,
        now: DateTime<Utc>,
    ) -> Result<Option<Tenant>, DbError> {
        super::tenants::update(&self.pool, id, patch, now).await
    }

    async fn list_tenants(&self, after: Option<&TenantId>, limit: u32) -> Result<Vec<Tenant>, DbError> {
        super::tenants::list(&self.pool, after, limit).await
    }

    async fn insert_usage(
        &self,
        records: &[NewUsageRecord],
        ingested_at: DateTime<Utc>,
    ) -> Result<Vec<InsertOutcome>, DbError> {
        super::usage::insert(&self.pool, &self.fast_path_cooldown, records, ingested_at).await
    }

    async fn rollups(&self, tenant: &TenantId, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<Rollup>, DbError> {
        super::rollups::between(&self.pool, tenant, from, to).await
    }

    async fn all_rollups(&self, tenant: &TenantId) -> Result<Vec<Rollup>, DbError> {
        super::rollups::between(&self.pool, tenant, crate::store::EARLIEST, crate::store::LATEST).await
    }

    async fn rebuild_rollups(&self) -> Result<RebuildReport, DbError> {
        super::rollups::rebuild(&self.pool).await
    }

    async fn insert_api_key(&self, key: &ApiKey) -> Result<(), DbError> {
        super::api_keys::insert(&self.pool, key).await
    }

    async fn get_api_key(&self, key_id: &str) -> Result<Option<ApiKey>, DbError> {
        super::api_keys::get(&self.pool, key_id).await
    }

    async fn list_api_keys(&self) -> Result<Vec<ApiKey>, DbError> {
        super::api_keys::list(&self.pool).await
    }

    async fn revoke_api_key(&self, key_id: &str, now: DateTime<Utc>) -> Result<bool, DbError> {
        super::api_keys::revoke(&self.pool, key_id, now).await
    }

    async fn start_idempotent(
        &self,
        scope: &str,
        key: &str,
        request_hash: &[u8],
        now: DateTime<Utc>,
    ) -> Result<IdempotencyStart, DbError> {
        super::idempotency::start(&self.pool, scope, key, request_hash, now).await
    }

    async fn finish_idempotent(&self, scope: &str, key: &str, response: &StoredResponse) -> Result<(), DbError> {
        super::idempotency::finish(&self.pool, scope, key, response).await
    }

    async fn abandon_idempotent(&self, scope: &str, key: &str) -> Result<(), DbError> {
        super::idempotency::abandon(&self.pool, scope, key).await
    }

    async fn record_plan_version(&self, plan: &NewPlanVersion<'_>, now: DateTime<Utc>) -> Result<(i32, bool), DbError> {
        super::plans::record(&self.pool, plan, now).await
    }

    async fn plan_versions(&self) -> Result<Vec<StoredPlanVersion>, DbError> {
        super::plans::all(&self.pool).await
    }

    async fn change_subscription(
        &self,
        tenant: &TenantId,
        change: &SubscriptionChange,
        now: DateTime<Utc>,
    ) -> Result<(), DbError> {
        super::subscriptions::change(&self.pool, tenant, change, now).await
    }

    async fn subscriptions(&self, tenant: &TenantId) -> Result<Vec<SubscriptionChange>, DbError> {
        super::subscriptions::of(&self.pool, tenant).await
    }

    async fn closed_periods(&self, tenant: &TenantId) -> Result<Vec<BillingPeriod>, DbError> {
        super::billing::closed_periods(&self.pool, tenant).await
    }

    async fn billed_lines(
        &self,
        tenant: &TenantId,
        period_start: DateTime<Utc>,
    ) -> Result<Vec<(String, Decimal)>, DbError> {
        super::billing::billed_lines(&self.pool, tenant, period_start).await
    }

    async fn issue_invoice(&self, issue: &IssueInvoice<'_>) -> Result<IssueOutcome, DbError> {
        super::billing::issue(&self.pool, issue).await
    }

    async fn list_invoices(
        &self,
        tenant: &TenantId,
        before: Option<(DateTime<Utc>, String)>,
        limit: u32,
    ) -> Result<Vec<StoredInvoice>, DbError> {
        super::invoices::list(&self.pool, tenant, before, limit).await
    }

    async fn get_invoice(&self, tenant: &TenantId, invoice_id: &str) -> Result<Option<StoredInvoice>, DbError> {
        super::invoices::get(&self.pool, tenant, invoice_id).await
    }

    async fn mark_invoice_paid(
        &self,
        tenant: &TenantId,
        invoice_id: &str,
        now: DateTime<Utc>,
    ) -> Result<StatusChange, DbError> {
        super::invoices::mark_paid(&self.pool, tenant, invoice_id, now).await
    }

    async fn void_invoice(
        &self,
        tenant: &TenantId,
        invoice_id: &str,
        prefix: &str,
        now: DateTime<Utc>,
    ) -> Result<StatusChange, DbError> {
        super::invoices::void(&self.pool, tenant, invoice_id, prefix, now).await
    }

    async fn grant_credit(
        &self,
        tenant: &TenantId,
        grant: &NewCreditGrant,
        now: DateTime<Utc>,
    ) -> Result<CreditEntry, DbError> {
        super::credits::grant(&self.pool, tenant, grant, now).await
    }

    async fn credit_entries(&self, tenant: &TenantId) -> Result<Vec<CreditEntry>, DbError> {
        super::credits::entries(&self.pool, tenant).await
    }

    async fn correct_usage(
        &self,
        correction: &UsageCorrection,
        now: DateTime<Utc>,
    ) -> Result<CorrectionOutcome, DbError> {
        super::corrections::apply(&self.pool, correction, now).await
    }

    async fn sample_record_ids(
        &self,
        tenant: &TenantId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<String>, DbError> {
        super::corrections::sample_ids(&self.pool, tenant, from, to, limit).await
    }
}
