//! `audit_event` (global, append-only — DESIGN §12): one row per admin change, appended by
//! the store operation that makes the change, inside its transaction, so a change that rolls
//! back leaves no event. No operation here updates or deletes a row, and a trigger on both
//! engines refuses anyone who tries.

use chrono::{DateTime, Utc};
use sqlx::types::Json;

use super::codec::{optional_tenant_id, Instant};
use super::engine::{on_read, on_tx, Tx};
use super::{DbError, Store, EARLIEST, LATEST};
use crate::domain::{Actor, AuditEvent, AuditTarget, TenantId};

/// Which events a listing wants: all of them by default; newest first, before `before_id`.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub tenant: Option<TenantId>,
    pub action: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// The cursor: only events appended before this one.
    pub before_id: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    event_id: i64,
    at: Instant,
    actor_role: String,
    actor_subject: String,
    actor_tenant_id: String,
    request_id: String,
    action: String,
    target_kind: String,
    target_id: String,
    tenant_id: String,
    detail: Json<serde_json::Value>,
}

/// Appends the event "`actor` did `action` to `target`" inside the caller's transaction.
pub(super) async fn append(
    tx: &mut Tx,
    actor: &Actor,
    action: &str,
    target: &AuditTarget,
    detail: serde_json::Value,
    at: DateTime<Utc>,
) -> Result<(), DbError> {
    let sql = r#"insert into audit_event (at, actor_role, actor_subject, actor_tenant_id, request_id,
            action, target_kind, target_id, tenant_id, detail)
        values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"#;
    let scope = |t: Option<&TenantId>| t.map_or(String::new(), ToString::to_string);
    on_tx!(tx, |db| sqlx::query(sql)
        .bind(Instant(at))
        .bind(&actor.role)
        .bind(&actor.subject)
        .bind(scope(actor.tenant_id.as_ref()))
        .bind(&actor.request_id)
        .bind(action)
        .bind(&target.kind)
        .bind(&target.id)
        .bind(scope(target.tenant_id.as_ref()))
        .bind(Json(&detail))
        .execute(db)
        .await
        .map(|_| ()))?;
    Ok(())
}

impl Store {
    /// Audit events matching `filter`, newest first, at most `limit`.
    #[tracing::instrument(skip_all)]
    pub async fn list_audit_events(&self, filter: &AuditFilter, limit: u32) -> Result<Vec<AuditEvent>, DbError> {
        let sql = r#"select event_id, at, actor_role, actor_subject, actor_tenant_id, request_id, action,
                target_kind, target_id, tenant_id, detail
            from audit_event
            where ($1 = '' or tenant_id = $1)
                and ($2 = '' or action = $2)
                and at >= $3 and at < $4
                and event_id < $5
            order by event_id desc
            limit $6"#;
        let rows: Vec<AuditRow> = on_read!(self.read(), |db| sqlx::query_as(sql)
            .bind(filter.tenant.as_ref().map_or("", TenantId::as_str))
            .bind(filter.action.as_deref().unwrap_or(""))
            .bind(Instant(filter.since.unwrap_or(EARLIEST)))
            .bind(Instant(filter.until.unwrap_or(LATEST)))
            .bind(filter.before_id.unwrap_or(i64::MAX))
            .bind(i64::from(limit))
            .fetch_all(db)
            .await)?;
        rows.into_iter().map(AuditEvent::try_from).collect()
    }
}

impl TryFrom<AuditRow> for AuditEvent {
    type Error = DbError;

    fn try_from(r: AuditRow) -> Result<Self, DbError> {
        Ok(AuditEvent {
            id: r.event_id,
            at: r.at.0,
            actor: Actor {
                role: r.actor_role,
                subject: r.actor_subject,
                tenant_id: optional_tenant_id(&r.actor_tenant_id)?,
                request_id: r.request_id,
            },
            action: r.action,
            target: AuditTarget { kind: r.target_kind, id: r.target_id, tenant_id: optional_tenant_id(&r.tenant_id)? },
            detail: r.detail.0,
        })
    }
}
