//! The audit log's vocabulary (DESIGN §10, §12): who did something ([`Actor`]) and the
//! append-only record of what they did ([`AuditEvent`]). Events are only ever appended, in
//! the transaction of the change they describe; nothing updates or deletes them.

use chrono::{DateTime, Utc};

use super::TenantId;

/// Who asked for a change: the credential's role, subject (`key:<id>` for an API key, the
/// `sub` claim for a JWT, `cli` on the command line) and tenant scope, and the request it
/// came in (the `x-request-id` the service echoes; one generated per CLI command).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub role: String,
    pub subject: String,
    /// The credential's tenant scope (`None`: a global credential).
    pub tenant_id: Option<TenantId>,
    pub request_id: String,
}

impl Actor {
    /// The operator at the command line (`tally api-key …`, `tally billing run`), for the
    /// command with request id `request_id`.
    pub fn command_line(request_id: impl Into<String>) -> Self {
        Self { role: "admin".into(), subject: "cli".into(), tenant_id: None, request_id: request_id.into() }
    }
}

/// What an event is about: a kind of object and its id, and the tenant it belongs to (none
/// for global objects such as webhook endpoints and global API keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditTarget {
    /// `tenant`, `subscription`, `invoice`, `webhook`, `api_key`, `billing_run`, …
    pub kind: String,
    pub id: String,
    pub tenant_id: Option<TenantId>,
}

impl AuditTarget {
    /// A tenant, or an object named by its tenant alone (its subscription, quotas, budgets).
    pub fn tenant(kind: &'static str, tenant: &TenantId) -> Self {
        Self { kind: kind.to_owned(), id: tenant.to_string(), tenant_id: Some(tenant.clone()) }
    }

    /// An object of `tenant` (`None`: a global object) with its own `id`.
    pub fn object(kind: &'static str, id: impl Into<String>, tenant: Option<&TenantId>) -> Self {
        Self { kind: kind.to_owned(), id: id.into(), tenant_id: tenant.cloned() }
    }
}

/// One appended audit event, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// Increasing in the order events were appended.
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: Actor,
    /// `<object>.<past participle>`, e.g. `tenant.created`, `invoice.voided`.
    pub action: String,
    pub target: AuditTarget,
    /// A small description of the change; never a secret.
    pub detail: serde_json::Value,
}
