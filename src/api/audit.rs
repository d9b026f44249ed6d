//! `GET /v1/audit` (api-spec `listAuditEvents`): the audit log, newest first, filtered by the
//! target's `tenant`, the `action`, and a half-open time range `[since, until)`, with cursor
//! pagination. Global admin only. The log is append-only: there is no route that changes or
//! removes an event (DESIGN §12), and the store refuses it too.
//!
//! Stage: the HTTP edge. Parses the query, reads the store, answers.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::page::{invalid_cursor, next_cursor, page_limit, page_response};
use crate::auth::GlobalAdmin;
use crate::domain::{AuditEvent, TenantId};
use crate::http::{ApiError, DeferredQuery};
use crate::store::{AuditFilter, Store};

/// Query of `listAuditEvents`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    tenant: Option<String>,
    action: Option<String>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    limit: Option<u32>,
    cursor: Option<String>,
}

/// One event as answered (api-spec `AuditEvent`).
#[derive(Debug, Serialize)]
pub struct AuditEventResponse {
    id: String,
    at: DateTime<Utc>,
    actor: ActorResponse,
    action: String,
    target: TargetResponse,
    tenant_id: Option<TenantId>,
    request_id: String,
    detail: Value,
}

/// Who made the change (api-spec `AuditActor`).
#[derive(Debug, Serialize)]
pub struct ActorResponse {
    role: String,
    subject: String,
    tenant_id: Option<TenantId>,
}

/// What the change was made to (api-spec `AuditTarget`).
#[derive(Debug, Serialize)]
pub struct TargetResponse {
    #[serde(rename = "type")]
    kind: String,
    id: String,
}

/// Audit events, newest first.
#[tracing::instrument(skip_all, fields(tenant = tracing::field::Empty, action = tracing::field::Empty))]
pub async fn list_audit_events(
    _caller: GlobalAdmin,
    query: DeferredQuery<AuditQuery>,
    store: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    let query = query.parsed()?;
    let span = tracing::Span::current();
    span.record("tenant", tracing::field::debug(&query.tenant));
    span.record("action", tracing::field::debug(&query.action));
    let bad = |m: &str| ApiError::bad_request("invalid_query", m.to_owned());
    let tenant = query.tenant.as_deref().map(TenantId::parse).transpose();
    let is_action =
        |a: &String| (1..=64).contains(&a.len()) && a.bytes().all(|b| b.is_ascii_lowercase() || b"._".contains(&b));
    if query.action.as_ref().is_some_and(|a| !is_action(a)) {
        return Err(bad("action is a name such as tenant.created"));
    }
    let filter = AuditFilter {
        tenant: tenant.map_err(|_| bad("tenant is not a tenant id"))?,
        action: query.action,
        since: query.since,
        until: query.until,
        before_id: query.cursor.as_deref().map(|c| c.parse().map_err(|_| invalid_cursor())).transpose()?,
    };
    let limit = page_limit(query.limit, 200);
    let events = store.list_audit_events(&filter, limit).await?;
    let next_cursor = next_cursor(&events, limit, |e| e.id.to_string());
    Ok(page_response(events.into_iter().map(AuditEventResponse::from).collect(), next_cursor))
}

impl From<AuditEvent> for AuditEventResponse {
    fn from(e: AuditEvent) -> Self {
        Self {
            id: e.id.to_string(),
            at: e.at,
            actor: ActorResponse { role: e.actor.role, subject: e.actor.subject, tenant_id: e.actor.tenant_id },
            action: e.action,
            target: TargetResponse { kind: e.target.kind, id: e.target.id },
            tenant_id: e.target.tenant_id,
            request_id: e.actor.request_id,
            detail: e.detail,
        }
    }
}
