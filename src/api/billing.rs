//! `POST /v1/billing/run` (api-spec `runBilling`): close every due period now, or as if the
//! clock read `as_of` (a future `as_of` only with `TALLY_ALLOW_TIME_TRAVEL=1`).
//!
//! Stage: the HTTP edge. Parses the body, asks `invoice::Biller` to run, answers its report.
//! Must hold no billing logic.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::auth::GlobalAdmin;
use crate::http::{ApiError, Idempotent, JsonReply};
use crate::invoice::Biller;

/// Body of `runBilling`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunBillingRequest {
    as_of: Option<DateTime<Utc>>,
}

/// Runs billing and reports the invoices it issued.
#[tracing::instrument(skip_all)]
pub async fn run_billing(
    request: Idempotent<GlobalAdmin>,
    biller: web::Data<Biller>,
) -> Result<HttpResponse, ApiError> {
    let wanted: RunBillingRequest =
        if request.body().is_empty() { RunBillingRequest::default() } else { request.json()? };
    let as_of = wanted.as_of.unwrap_or_else(|| request.now());
    biller.config.check_as_of(as_of, request.now())?;
    request.run(|| async { JsonReply::ok(biller.run(request.store(), as_of).await?) }).await
}
