//! `POST /v1/billing/run` (api-spec `runBilling`): close every due period now, or as if the
//! clock read `as_of` (a future `as_of` only with `TALLY_ALLOW_TIME_TRAVEL=1`).

use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::idempotency::{run_idempotent, JsonReply};
use super::json::{parse_json, JsonBody};
use crate::auth::AdminCaller;
use crate::clock::SharedClock;
use crate::domain::IssuerSnapshot;
use crate::error::ApiError;
use crate::ingest::TenantDirectory;
use crate::invoice::{BillingRun, RunReport};
use crate::metrics::Metrics;
use crate::store::Store;

/// Billing settings the routes and the scheduler share.
#[derive(Debug, Clone)]
pub struct BillingConfig {
    pub issuer: IssuerSnapshot,
    pub invoice_prefix: String,
    pub credit_note_prefix: String,
    pub grace: chrono::Duration,
    pub allowed_lateness: chrono::Duration,
    pub allow_time_travel: bool,
}

impl BillingConfig {
    /// A run over `store` with these settings.
    pub fn run<'a>(&self, store: &'a Store) -> BillingRun<'a> {
        BillingRun {
            store,
            issuer: self.issuer.clone(),
            invoice_prefix: self.invoice_prefix.clone(),
            grace: self.grace,
            allowed_lateness: self.allowed_lateness,
        }
    }

    /// Refuses an `as_of` in the future unless time travel is allowed.
    ///
    /// # Errors
    /// 422 `time_travel_not_allowed`.
    pub fn check_as_of(&self, as_of: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), ApiError> {
        if as_of > now && !self.allow_time_travel {
            return Err(ApiError::unprocessable(
                "time_travel_not_allowed",
                "as_of is in the future; set TALLY_ALLOW_TIME_TRAVEL=1 (tests, staging) to allow it",
            ));
        }
        Ok(())
    }
}

/// Runs billing and applies what a run means for the rest of the service: metrics, and
/// tenants whose late-usage policy is `reject` refusing their newly closed period at once here.
#[derive(Clone)]
pub struct Biller {
    pub config: BillingConfig,
    pub directory: Arc<TenantDirectory>,
    pub metrics: Arc<Metrics>,
}

impl Biller {
    /// One billing run as of `as_of`.
    ///
    /// # Errors
    /// When the run cannot start (catalog or tenant list unreadable).
    pub async fn run(&self, store: &Store, as_of: DateTime<Utc>) -> anyhow::Result<RunReport> {
        let report = self.config.run(store).run(as_of).await?;
        self.metrics.record_billing_run(report.invoices_issued.len());
        for issued in &report.invoices_issued {
            if let Ok(tenant) = crate::domain::TenantId::parse(&issued.tenant_id) {
                self.directory.forget(&tenant);
            }
        }
        Ok(report)
    }
}

/// Body of `runBilling`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunBillingRequest {
    as_of: Option<DateTime<Utc>>,
}

/// Runs billing and reports the invoices it issued.
#[tracing::instrument(skip_all)]
pub async fn run_billing(
    request: HttpRequest,
    JsonBody(body): JsonBody,
    caller: AdminCaller,
    store: web::Data<Store>,
    clock: web::Data<SharedClock>,
    biller: web::Data<Biller>,
) -> Result<HttpResponse, ApiError> {
    if !caller.0.is_global_admin() {
        return Err(ApiError::Forbidden);
    }
    let wanted: RunBillingRequest = if body.is_empty() { RunBillingRequest::default() } else { parse_json(&body)? };
    let as_of = wanted.as_of.unwrap_or_else(|| clock.now());
    biller.config.check_as_of(as_of, clock.now())?;
    run_idempotent(&request, &body, caller.0.subject(), store.get_ref(), &clock, || async {
        JsonReply::ok(biller.run(store.get_ref(), as_of).await?)
    })
    .await
}
