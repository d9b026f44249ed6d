//! A `Store` that forwards every call to the real one and logs when each started and how
//! long it took, so the report can say where a billing run's time goes — in the database
//! calls (by method) or in the run's own work between them — and whether calls get slower as
//! the run proceeds. The run is sequential, so the calls plus the gaps between them are its
//! wall time. Overhead: two clock reads and a push per call.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use tally::aggregate::Rollup;
use tally::auth::ApiKey;
use tally::domain::{NewTenant, NewUsageRecord, SubscriptionChange, Tenant, TenantId, TenantPatch, UsageCorrection};
use tally::invoice::{BillingPeriod, CreditEntry};
use tally::store::{
    CorrectionOutcome, DbError, IdempotencyStart, InsertOutcome, IssueInvoice, IssueOutcome, NewCreditGrant,
    NewPlanVersion, RebuildReport, StatusChange, Store, StoreKind, StoredInvoice, StoredPlanVersion, StoredResponse,
};

/// One store call: the method, when it started (since the log was last taken) and its time.
pub struct Call {
    pub method: &'static str,
    pub at: Duration,
    pub took: Duration,
}

pub struct TimedStore {
    inner: Arc<dyn Store>,
    log: Mutex<(Instant, Vec<Call>)>,
}

impl TimedStore {
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self { inner, log: Mutex::new((Instant::now(), Vec::new())) }
    }

    /// The calls so far; the next log starts now.
    pub fn take(&self) -> Vec<Call> {
        let mut log = self.log.lock().expect("no panic while holding the lock");
        log.0 = Instant::now();
        std::mem::take(&mut log.1)
    }

    async fn timed<T>(&self, method: &'static str, call: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let result = call.await;
        let took = started.elapsed();
        let mut log = self.log.lock().expect("no panic while holding the lock");
        let at = started.saturating_duration_since(log.0);
        log.1.push(Call { method, at, took });
        result
    }
}

#[async_trait]
impl Store for TimedStore {
    fn kind(&self) -> StoreKind {
        self.inner.kind()
    }

    async fn ping(&self) -> Result<(), DbError> {
        self.timed("ping", self.inner.ping()).await
    }

    async fn create_tenant(&self, tenant: &NewTenant, now: DateTime<Utc>) -> Result<Tenant, DbError> {
        self.timed("create_tenant", self.inner.create_tenant(tenant, now)).await
    }

    async fn get_tenant(&self, id: &TenantId) -> Result<Option<Tenant>, DbError> {
        self.timed("get_tenant", self.inner.get_tenant(id)).await
    }

    async fn update_tenant(
        &self,
        id: &TenantId,
        patch: TenantPatch,
        now: DateTime<Utc>,
    ) -> Result<Option<Tenant>, DbError> {
        self.timed("update_tenant", self.inner.update_tenant(id, patch, now)).await
    }

    async fn list_tenants(&self, after: Option<&TenantId>, limit: u32) -> Result<Vec<Tenant>, DbError> {
        self.timed("list_tenants", self.inner.list_tenants(after, limit)).await
    }

    async fn insert_usage(
        &self,
        records: &[NewUsageRecord],
        ingested_at: DateTime<Utc>,
    ) -> Result<Vec<InsertOutcome>, DbError> {
        self.timed("insert_usage", self.inner.insert_usage(records, ingested_at)).await
    }

    async fn rollups(&self, tenant: &TenantId, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<Rollup>, DbError> {
        self.timed("rollups", self.inner.rollups(tenant, from, to)).await
    }

    async fn all_rollups(&self, tenant: &TenantId) -> Result<Vec<Rollup>, DbError> {
        self.timed("all_rollups", self.inner.all_rollups(tenant)).await
    }

    async fn rebuild_rollups(&self) -> Result<RebuildReport, DbError> {
        self.timed("rebuild_rollups", self.inner.rebuild_rollups()).await
    }

    async fn insert_api_key(&self, key: &ApiKey) -> Result<(), DbError> {
        self.timed("insert_api_key", self.inner.insert_api_key(key)).await
    }

    async fn get_api_key(&self, key_id: &str) -> Result<Option<ApiKey>, DbError> {
        self.timed("get_api_key", self.inner.get_api_key(key_id)).await
    }

    async fn list_api_keys(&self) -> Result<Vec<ApiKey>, DbError> {
        self.timed("list_api_keys", self.inner.list_api_keys()).await
    }

    async fn revoke_api_key(&self, key_id: &str, now: DateTime<Utc>) -> Result<bool, DbError> {
        self.timed("revoke_api_key", self.inner.revoke_api_key(key_id, now)).await
    }

    async fn start_idempotent(
        &self,
        scope: &str,
        key: &str,
        request_hash: &[u8],
        now: DateTime<Utc>,
    ) -> Result<IdempotencyStart, DbError> {
        self.timed("start_idempotent", self.inner.start_idempotent(scope, key, request_hash, now)).await
    }

    async fn finish_idempotent(&self, scope: &str, key: &str, response: &StoredResponse) -> Result<(), DbError> {
        self.timed("finish_idempotent", self.inner.finish_idempotent(scope, key, response)).await
    }

    async fn abandon_idempotent(&self, scope: &str, key: &str) -> Result<(), DbError> {
        self.timed("abandon_idempotent", self.inner.abandon_idempotent(scope, key)).await
    }

    async fn record_plan_version(&self, plan: &NewPlanVersion<'_>, now: DateTime<Utc>) -> Result<(i32, bool), DbError> {
        self.timed("record_plan_version", self.inner.record_plan_version(plan, now)).await
    }

    async fn plan_versions(&self) -> Result<Vec<StoredPlanVersion>, DbError> {
        self.timed("plan_versions", self.inner.plan_versions()).await
    }

    async fn change_subscription(
        &self,
        tenant: &TenantId,
        change: &SubscriptionChange,
        now: DateTime<Utc>,
    ) -> Result<(), DbError> {
        self.timed("change_subscription", self.inner.change_subscription(tenant, change, now)).await
    }

    async fn subscriptions(&self, tenant: &TenantId) -> Result<Vec<SubscriptionChange>, DbError> {
        self.timed("subscriptions", self.inner.subscriptions(tenant)).await
    }

    async fn closed_periods(&self, tenant: &TenantId) -> Result<Vec<BillingPeriod>, DbError> {
        self.timed("closed_periods", self.inner.closed_periods(tenant)).await
    }

    async fn billed_lines(
        &self,
        tenant: &TenantId,
        period_start: DateTime<Utc>,
    ) -> Result<Vec<(String, Decimal)>, DbError> {
        self.timed("billed_lines", self.inner.billed_lines(tenant, period_start)).await
    }

    async fn issue_invoice(&self, issue: &IssueInvoice<'_>) -> Result<IssueOutcome, DbError> {
        self.timed("issue_invoice", self.inner.issue_invoice(issue)).await
    }

    async fn list_invoices(
        &self,
        tenant: &TenantId,
        before: Option<(DateTime<Utc>, String)>,
        limit: u32,
    ) -> Result<Vec<StoredInvoice>, DbError> {
        self.timed("list_invoices", self.inner.list_invoices(tenant, before, limit)).await
    }

    async fn get_invoice(&self, tenant: &TenantId, invoice_id: &str) -> Result<Option<StoredInvoice>, DbError> {
        self.timed("get_invoice", self.inner.get_invoice(tenant, invoice_id)).await
    }

    async fn mark_invoice_paid(
        &self,
        tenant: &TenantId,
        invoice_id: &str,
        now: DateTime<Utc>,
    ) -> Result<StatusChange, DbError> {
        self.timed("mark_invoice_paid", self.inner.mark_invoice_paid(tenant, invoice_id, now)).await
    }

    async fn void_invoice(
        &self,
        tenant: &TenantId,
        invoice_id: &str,
        credit_note_prefix: &str,
        now: DateTime<Utc>,
    ) -> Result<StatusChange, DbError> {
        self.timed("void_invoice", self.inner.void_invoice(tenant, invoice_id, credit_note_prefix, now)).await
    }

    async fn grant_credit(
        &self,
        tenant: &TenantId,
        grant: &NewCreditGrant,
        now: DateTime<Utc>,
    ) -> Result<CreditEntry, DbError> {
        self.timed("grant_credit", self.inner.grant_credit(tenant, grant, now)).await
    }

    async fn credit_entries(&self, tenant: &TenantId) -> Result<Vec<CreditEntry>, DbError> {
        self.timed("credit_entries", self.inner.credit_entries(tenant)).await
    }

    async fn correct_usage(
        &self,
        correction: &UsageCorrection,
        now: DateTime<Utc>,
    ) -> Result<CorrectionOutcome, DbError> {
        self.timed("correct_usage", self.inner.correct_usage(correction, now)).await
    }

    async fn sample_record_ids(
        &self,
        tenant: &TenantId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<String>, DbError> {
        self.timed("sample_record_ids", self.inner.sample_record_ids(tenant, from, to, limit)).await
    }
}
