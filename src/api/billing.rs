//! `POST /v1/billing/run` (api-spec `runBilling`): close every due period now, or as if the
//! clock read `as_of` (a future `as_of` only with `TALLY_ALLOW_TIME_TRAVEL=1`).
//!
//! Stage: the HTTP edge. Parses the body, asks `invoice::Biller` to run, answers its report.
//! Must hold no billing logic.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::auth::GlobalAdmin;
use crate::clock::SharedClock;
use crate::http::{parse_json, run_idempotent, ApiError, JsonBody, JsonReply};
use crate::invoice::Biller;
use crate::store::Store;

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
    caller: GlobalAdmin,
    store: web::Data<Store>,
    clock: web::Data<SharedClock>,
    biller: web::Data<Biller>,
) -> Result<HttpResponse, ApiError> {
    let wanted: RunBillingRequest = if body.is_empty() { RunBillingRequest::default() } else { parse_json(&body)? };
    let as_of = wanted.as_of.unwrap_or_else(|| clock.now());
    biller.config.check_as_of(as_of, clock.now())?;
    run_idempotent(&request, &body, caller.0.subject(), store.get_ref(), &clock, || async {
        JsonReply::ok(biller.run(store.get_ref(), as_of).await?)
    })
    .await
}
