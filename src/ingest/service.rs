//! From parsed records to a per-record report: tenant checks, the batching writer, metrics.
//!
//! Stage: ingest. Inputs: validated records; outputs: an `IngestReport`. Must not import `api`.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use serde::Serialize;

use super::dedupe::WriteOutcome;
use super::record::{RecordError, TimeWindow};
use super::tenants::{TenantDirectory, TenantGate};
use super::writer::{UsageWriter, WriteError};
use crate::auth::Principal;
use crate::clock::SharedClock;
use crate::domain::{NewUsageRecord, TenantId};
use crate::http::ApiError;
use crate::metrics::Metrics;

/// Tenants read per statement when telling deactivated tenants from unknown ones: a bind
/// each, far below both engines' limits (as the gates are read, `tenants.rs`).
const TENANTS_PER_READ: usize = 500;

/// Everything ingestion needs, shared by both ingest endpoints.
pub struct Ingestor {
    pub writer: UsageWriter,
    /// Shared with the tenant routes, which forget a tenant when it changes.
    pub tenants: Arc<TenantDirectory>,
    pub clock: SharedClock,
    pub metrics: Arc<Metrics>,
    pub allowed_lateness: Duration,
}

/// One rejected record, by its index in the request.
#[derive(Debug, Serialize)]
pub struct IndexedError {
    pub index: usize,
    pub code: &'static str,
    pub message: String,
}

/// The per-request result (api-spec `IngestResult`).
#[derive(Debug, Default, Serialize)]
pub struct IngestReport {
    pub accepted: usize,
    pub duplicates: usize,
    pub rejected: usize,
    pub errors: Vec<IndexedError>,
}

impl Ingestor {
    /// The timestamp window in force now.
    pub fn window(&self) -> TimeWindow {
        TimeWindow { now: self.clock.now(), allowed_lateness: self.allowed_lateness }
    }

    /// Checks tenants, writes the valid records, and reports on every record by index.
    ///
    /// # Errors
    /// 429/503 for the whole request when the writer cannot take or commit the records.
    pub async fn submit(
        &self,
        caller: &Principal,
        parsed: Vec<Result<NewUsageRecord, RecordError>>,
    ) -> Result<IngestReport, ApiError> {
        let allowed = self.allowed_tenants(caller, &parsed).await?;
        let mut report = IngestReport::default();
        let mut valid = Vec::with_capacity(parsed.len());
        let mut valid_index = Vec::with_capacity(parsed.len());
        let mut gated = Vec::new();
        for (index, result) in parsed.into_iter().enumerate() {
            let gate = result.as_ref().ok().and_then(|r| allowed.get(&r.key.tenant_id).copied().flatten());
            match (result, gate) {
                (Ok(record), Some(gate)) if gate.closed_before.is_some_and(|end| record.timestamp < end) => {
                    gated.push((index, record, period_closed()))
                }
                (Ok(record), Some(_)) => {
                    valid_index.push(index);
                    valid.push(record);
                }
                (Ok(record), None) if caller.can_ingest_for(&record.key.tenant_id) => {
                    let error = unknown_tenant(&record.key.tenant_id);
                    gated.push((index, record, error))
                }
                (Ok(record), None) => report.reject(index, unknown_tenant(&record.key.tenant_id)),
                (Err(error), _) => report.reject(index, error),
            }
        }
        if !gated.is_empty() {
            // Boxed: a rare path, kept out of every request's future (`routes.rs` sizes it).
            Box::pin(self.settle_gated(gated, &mut report)).await?;
        }
        let outcomes = self.writer.write(valid).await.map_err(|e| match e {
            WriteError::QueueFull => ApiError::TooManyRequests { retry_after_secs: 1 },
            WriteError::Unavailable => ApiError::Unavailable { retry_after_secs: 2 },
        })?;
        for (index, outcome) in valid_index.into_iter().zip(outcomes) {
            match outcome {
                WriteOutcome::Accepted => report.accepted += 1,
                WriteOutcome::Duplicate => report.duplicates += 1,
                WriteOutcome::Conflict => report.reject(index, conflict()),
            }
        }
        report.errors.sort_by_key(|e| e.index);
        self.count(&report);
        Ok(report)
    }

    /// Records the tenant gate refused: duplicates when stored already, else rejected. A
    /// runtime retrying a batch committed before the gate closed must hear "duplicate", as for
    /// every retry (DESIGN §3.1), not a rejection of committed usage; a record is one only when
    /// stored with its key, its instant and its content (the stored hashes are read together:
    /// `Store::stored_content_hashes`). Only for callers allowed to post for the tenant (the
    /// gate refuses the others' records as unknown before this), so it tells nothing new.
    async fn settle_gated(
        &self,
        gated: Vec<(usize, NewUsageRecord, RecordError)>,
        report: &mut IngestReport,
    ) -> Result<(), ApiError> {
        let deactivated = self.deactivated_among(&gated).await?;
        let mut maybe_stored = Vec::with_capacity(gated.len());
        for (index, record, error) in gated {
            let tenant = &record.key.tenant_id;
            let error = match error.code {
                // A tenant that does not exist has stored nothing: not looked up.
                "unknown_tenant" if !deactivated.contains(tenant) => {
                    report.reject(index, error);
                    continue;
                }
                "unknown_tenant" => RecordError::new(
                    "unknown_tenant",
                    format!("tenant {:?} is deactivated: it takes no new usage", tenant.as_str()),
                ),
                _ => error,
            };
            maybe_stored.push((index, record, error));
        }
        let keys: Vec<_> = maybe_stored.iter().map(|(_, record, _)| (&record.key, record.timestamp)).collect();
        let stored = self.tenants.store().stored_content_hashes(&keys).await;
        let stored = stored.map_err(|_| ApiError::Unavailable { retry_after_secs: 2 })?;
        for ((index, record, error), stored) in maybe_stored.into_iter().zip(stored) {
            match stored == Some(record.content_hash) {
                true => report.duplicates += 1,
                false => report.reject(index, error),
            }
        }
        Ok(())
    }

    /// Which of the tenants `gated` refused as unknown exist but are deactivated (the gate
    /// knows only active tenants), read together once per request: the operator reading
    /// "unknown tenant" for one that is listed would look for the wrong cause.
    async fn deactivated_among(
        &self,
        gated: &[(usize, NewUsageRecord, RecordError)],
    ) -> Result<HashSet<TenantId>, ApiError> {
        let unknown: BTreeSet<&TenantId> = gated
            .iter()
            .filter(|(.., error)| error.code == "unknown_tenant")
            .map(|(_, r, _)| &r.key.tenant_id)
            .collect();
        let unknown: Vec<TenantId> = unknown.into_iter().cloned().collect();
        let mut deactivated = HashSet::new();
        for page in unknown.chunks(TENANTS_PER_READ) {
            let tenants = self.tenants.store().tenants_among(page).await;
            let tenants = tenants.map_err(|_| ApiError::Unavailable { retry_after_secs: 2 })?;
            deactivated.extend(tenants.into_iter().filter(|t| !t.active).map(|t| t.id));
        }
        Ok(deactivated)
    }

    /// Each distinct tenant of the request, and its gate if this caller may post usage for it
    /// (the gates of a request's tenants are read together: `TenantDirectory::gates`).
    async fn allowed_tenants(
        &self,
        caller: &Principal,
        parsed: &[Result<NewUsageRecord, RecordError>],
    ) -> Result<HashMap<TenantId, Option<TenantGate>>, ApiError> {
        let mut allowed: HashMap<TenantId, Option<TenantGate>> = HashMap::new();
        let mut permitted = Vec::new();
        for record in parsed.iter().flatten() {
            let tenant = &record.key.tenant_id;
            if !allowed.contains_key(tenant) {
                allowed.insert(tenant.clone(), None);
                if caller.can_ingest_for(tenant) {
                    permitted.push(tenant.clone());
                }
            }
        }
        let gates = match permitted.as_slice() {
            [] => Ok(HashMap::new()),
            // One tenant (every single-record request): its read is single flight, so the
            // requests arriving as its entry expires share one.
            [one] => self.tenants.gate(one).await.map(|gate| gate.map(|g| (one.clone(), g)).into_iter().collect()),
            many => self.tenants.gates(many).await,
        }
        .map_err(|_| ApiError::Unavailable { retry_after_secs: 2 })?;
        for (tenant, gate) in gates {
            allowed.insert(tenant, Some(gate));
        }
        Ok(allowed)
    }

    fn count(&self, report: &IngestReport) {
        let conflicts = report.errors.iter().filter(|e| e.code == "conflicting_duplicate").count();
        self.metrics.records_accepted.inc_by(report.accepted as u64);
        self.metrics.records_duplicate.inc_by(report.duplicates as u64);
        self.metrics.records_conflicting.inc_by(conflicts as u64);
        self.metrics.records_rejected.inc_by((report.rejected - conflicts) as u64);
    }
}

impl IngestReport {
    fn reject(&mut self, index: usize, error: RecordError) {
        self.rejected += 1;
        self.errors.push(IndexedError { index, code: error.code, message: error.message });
    }

    /// `ok_status` when nothing was rejected; otherwise 422 with the report and an error.
    pub fn into_response(self, ok_status: StatusCode) -> HttpResponse {
        if self.rejected == 0 {
            return match ok_status {
                StatusCode::NO_CONTENT => HttpResponse::NoContent().finish(),
                status => HttpResponse::build(status).json(self),
            };
        }
        let message = match (self.rejected, self.total()) {
            (1, 1) => "the record was rejected".to_owned(),
            (rejected, total) if rejected == total => format!("all {total} records were rejected"),
            (rejected, total) => format!("{rejected} of {total} records were rejected; the others were stored"),
        };
        HttpResponse::UnprocessableEntity().json(serde_json::json!({
            "error": { "code": "some_records_rejected", "message": message },
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "errors": self.errors,
        }))
    }

    fn total(&self) -> usize {
        self.accepted + self.duplicates + self.rejected
    }
}

fn unknown_tenant(tenant: &TenantId) -> RecordError {
    RecordError::new("unknown_tenant", format!("unknown tenant {:?}", tenant.as_str()))
}

fn period_closed() -> RecordError {
    RecordError::new(
        "period_closed",
        "the billing period of this timestamp is closed and the tenant's policy is reject",
    )
}

fn conflict() -> RecordError {
    RecordError::new("conflicting_duplicate", "a record with this key was already stored with different content")
}
