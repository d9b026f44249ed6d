//! `POST /v1/usage/corrections` (api-spec `correctUsage`): void or replace a stored record by
//! key. Append-only: the original is kept and the correction is linked to it; rollups move by
//! the difference; invoiced periods are settled as adjustments on the next invoice.
//!
//! Stage: ingest, at the HTTP edge. Uses `http` for bodies, idempotency and errors; must not
//! import `api` (ingest and api are sibling edges).

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::record::{check_id, dimension, quantities, tenant, TimeWindow, WireUsage};
use super::service::Ingestor;
use super::tenants::TenantDirectory;
use crate::aggregate::RecordState;
use crate::auth::IngestCaller;
use crate::domain::{CorrectionAction, RecordKey, UsageCorrection};
use crate::http::{ApiError, Idempotent, JsonReply};
use crate::store::CorrectionOutcome;

/// Body of `correctUsage`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorrectionRequest {
    tenant_id: String,
    #[serde(default)]
    source: String,
    id: String,
    action: String,
    replacement: Option<WireUsage>,
    reason: String,
}

/// Applies one correction.
#[tracing::instrument(skip_all)]
pub async fn correct_usage(
    request: Idempotent<IngestCaller>,
    directory: web::Data<TenantDirectory>,
    ingestor: web::Data<Ingestor>,
) -> Result<HttpResponse, ApiError> {
    let mut correction = validate(request.json()?)?;
    let tenant = &correction.key.tenant_id;
    let unknown = || ApiError::NotFound("record");
    let gate = match request.caller.0.can_ingest_for(tenant) {
        true => directory.gate(tenant).await?.ok_or_else(unknown)?,
        false => return Err(unknown()),
    };
    correction.closed_before = gate.closed_before;
    correction.accepted_from = Some(ingestor.window().oldest_accepted());
    let correction = correction;
    let tenant = &correction.key.tenant_id;
    request
        .run(|| async {
            match request.store().correct_usage(&correction, request.now()).await? {
                CorrectionOutcome::Applied { seq, before, after } => JsonReply::ok(json!({
                    "tenant_id": tenant, "source": correction.key.source, "id": correction.key.record_id,
                    "correction": seq, "before": state_json(before.as_deref()), "after": state_json(after.as_deref()),
                })),
                CorrectionOutcome::RecordNotFound => Err(unknown()),
                CorrectionOutcome::PeriodClosed => Err(period_closed()),
                CorrectionOutcome::TooOld => Err(too_old(&ingestor.window())),
                CorrectionOutcome::AlreadyVoid => Err(ApiError::Conflict {
                    code: "record_already_void",
                    message: "this record is already void".into(),
                }),
            }
        })
        .await
}

fn validate(r: CorrectionRequest) -> Result<UsageCorrection, ApiError> {
    let invalid = |e: super::RecordError| ApiError::unprocessable(e.code, e.message);
    check_id("id", &r.id).map_err(invalid)?;
    if r.source.chars().count() > 256 || r.source.chars().any(char::is_control) {
        return Err(ApiError::unprocessable(
            "invalid_correction",
            "source is \"\" (native records) or a CloudEvents source: at most 256 characters, no control characters",
        ));
    }
    let key = RecordKey {
        tenant_id: tenant(&r.tenant_id).map_err(|_| ApiError::NotFound("record"))?,
        source: r.source,
        record_id: r.id,
    };
    let action = match (r.action.as_str(), r.replacement) {
        ("void", None) => CorrectionAction::Void,
        ("replace", Some(usage)) => CorrectionAction::Replace {
            quantities: quantities(&usage).map_err(invalid)?,
            function: dimension("function", usage.function).map_err(invalid)?,
            region: dimension("region", usage.region).map_err(invalid)?,
        },
        _ => {
            return Err(ApiError::unprocessable(
                "invalid_correction",
                "action is \"void\" (no replacement) or \"replace\" (with a replacement)",
            ))
        }
    };
    if r.reason.trim().is_empty() || r.reason.chars().count() > 500 || r.reason.chars().any(char::is_control) {
        return Err(ApiError::unprocessable("invalid_correction", "reason must be 1-500 characters"));
    }
    Ok(UsageCorrection { key, action, reason: r.reason, closed_before: None, accepted_from: None })
}

fn state_json(state: Option<&RecordState>) -> Value {
    state.map_or(Value::Null, |s| {
        json!({
            "timestamp": s.timestamp, "function": s.function, "region": s.region,
            "cpu_cycles": s.quantities.cpu_cycles.to_string(),
            "memory_gb_seconds": s.quantities.memory_gb_seconds.normalize().to_string(),
            "invocations": s.quantities.invocations.to_string(),
        })
    })
}

fn too_old(window: &TimeWindow) -> ApiError {
    ApiError::unprocessable(
        "timestamp_too_old",
        format!(
            "the record is older than the allowed lateness ({}): its billing period can no longer be adjusted",
            window.lateness_text()
        ),
    )
}

fn period_closed() -> ApiError {
    ApiError::unprocessable("period_closed", "the record's billing period is closed and the tenant's policy is reject")
}
