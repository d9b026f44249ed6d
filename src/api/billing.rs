//! Billing runs as jobs: `POST /v1/billing/run` (api-spec `runBilling`) starts one — closing
//! every due period as of now, or as if the clock read `as_of` (a future `as_of` only with
//! `TALLY_ALLOW_TIME_TRAVEL=1`, and never more than a few months ahead) — and answers 202 with
//! the run and its `Location`; `GET /v1/billing/runs/{id}` (`getBillingRun`) reports its
//! progress and, once done, its report.
//!
//! Stage: the HTTP edge. Parses the body, hands the run to `invoice::BillingJobs`, answers.
//! Must hold no billing logic.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::auth::GlobalAdmin;
use crate::http::{ApiError, Idempotent, JsonReply};
use crate::invoice::BillingJobs;
use crate::store::{BillingRunStatus, Store, StoredBillingRun};

/// Body of `runBilling`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunBillingRequest {
    as_of: Option<DateTime<Utc>>,
}

/// A billing run as answered (api-spec `BillingRun`).
#[derive(Debug, Serialize)]
pub struct BillingRunResponse {
    run_id: String,
    status: BillingRunStatus,
    as_of: DateTime<Utc>,
    requested_by: String,
    progress: RunProgressResponse,
    /// The run's report once it succeeded (what the synchronous run used to answer).
    result: Option<Value>,
    error: Option<String>,
    created_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
}

/// Tenants billed so far, of all tenants (api-spec `BillingRunProgress`).
#[derive(Debug, Serialize)]
pub struct RunProgressResponse {
    tenants_done: i64,
    tenants_total: i64,
}

/// Starts a billing run in the background; 202 with the queued run.
#[tracing::instrument(skip_all, fields(run_id))]
pub async fn run_billing(
    request: Idempotent<GlobalAdmin>,
    jobs: web::Data<BillingJobs>,
) -> Result<HttpResponse, ApiError> {
    let wanted: RunBillingRequest =
        if request.body().is_empty() { RunBillingRequest::default() } else { request.json()? };
    let as_of = wanted.as_of.unwrap_or_else(|| request.now());
    jobs.biller.config.check_as_of(as_of, request.now())?;
    request
        .run(|| async {
            let run = jobs.submit(as_of, &request.actor()).await?;
            tracing::Span::current().record("run_id", run.run_id.as_str());
            jobs.start(&run.run_id);
            let location = format!("/v1/billing/runs/{}", run.run_id);
            Ok(JsonReply::with_status(StatusCode::ACCEPTED, BillingRunResponse::from(run))?.located(location))
        })
        .await
}

/// One billing run: its status, progress and, once done, its report or error.
#[tracing::instrument(skip_all, fields(run_id = %path))]
pub async fn get_billing_run(
    _caller: GlobalAdmin,
    path: web::Path<String>,
    store: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    let is_run_id =
        path.strip_prefix("run_").is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()));
    let run = if is_run_id { store.get_billing_run(&path).await? } else { None };
    Ok(HttpResponse::Ok().json(BillingRunResponse::from(run.ok_or(ApiError::NotFound("billing run"))?)))
}

impl From<StoredBillingRun> for BillingRunResponse {
    fn from(r: StoredBillingRun) -> Self {
        Self {
            run_id: r.run_id,
            status: r.status,
            as_of: r.as_of,
            requested_by: r.requested_by,
            progress: RunProgressResponse {
                tenants_done: r.progress.tenants_done,
                tenants_total: r.progress.tenants_total,
            },
            result: r.report,
            error: r.error,
            created_at: r.created_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
        }
    }
}
