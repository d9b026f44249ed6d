//! `tenant` table.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::types::Json;

use super::billing_pages::{bind_tenants, placeholders};
use super::codec::{Dec, Instant};
use super::engine::{on_read, on_tx};
use super::gate_changes;
use super::portal::PortalPeople;
use super::{audit, portal, subscriptions, DbError, Store};
use crate::aggregate::{bucket_ceiling, BillingCalendar};
use crate::domain::{
    end_for_deactivation, Actor, AuditTarget, LateUsagePolicy, NewTenant, PaymentTerms, SubscriptionChange, Tenant,
    TenantDetails, TenantId, TenantPatch, ZoneSpan,
};

#[derive(sqlx::FromRow)]
struct TenantRow {
    tenant_id: String,
    name: String,
    billing_emails: Json<Vec<String>>,
    timezone: String,
    tax_rate: Dec,
    address: Json<Vec<String>>,
    tax_id: String,
    late_usage_policy: String,
    payment_terms: Option<String>,
    active: bool,
    created_at: Instant,
    updated_at: Instant,
    timezone_history: Json<Vec<StoredZoneSpan>>,
}

/// A [`ZoneSpan`] in `tenant.timezone_history`.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredZoneSpan {
    timezone: String,
    until: DateTime<Utc>,
}

fn stored_history(history: &[ZoneSpan]) -> Json<Vec<StoredZoneSpan>> {
    Json(history.iter().map(|s| StoredZoneSpan { timezone: s.timezone.name().to_owned(), until: s.until }).collect())
}

impl TryFrom<TenantRow> for Tenant {
    type Error = DbError;

    fn try_from(r: TenantRow) -> Result<Self, DbError> {
        let corrupt = |what: &str| DbError::Corrupt(format!("tenant {}: {what}", r.tenant_id));
        Ok(Tenant {
            id: TenantId::parse(&r.tenant_id).map_err(|_| corrupt("id"))?,
            details: TenantDetails {
                name: r.name.clone(),
                billing_emails: r.billing_emails.0.clone(),
                timezone: r.timezone.parse().map_err(|_| corrupt("timezone"))?,
                tax_rate: r.tax_rate.0,
                address: r.address.0.clone(),
                tax_id: r.tax_id.clone(),
                late_usage_policy: LateUsagePolicy::parse(&r.late_usage_policy).ok_or_else(|| corrupt("policy"))?,
                payment_terms: match &r.payment_terms {
                    Some(text) => Some(PaymentTerms::parse(text).ok_or_else(|| corrupt("payment terms"))?),
                    None => None,
                },
            },
            zone_history: r
                .timezone_history
                .0
                .iter()
                .map(|s| {
                    Ok(ZoneSpan {
                        timezone: s.timezone.parse().map_err(|_| corrupt("timezone history"))?,
                        until: s.until,
                    })
                })
                .collect::<Result<_, DbError>>()?,
            active: r.active,
            created_at: r.created_at.0,
            updated_at: r.updated_at.0,
        })
    }
}

const COLUMNS: &str = r#"tenant_id, name, billing_emails, timezone, tax_rate, address, tax_id,
    late_usage_policy, payment_terms, active, created_at, updated_at, timezone_history"#;

/// Binds the eight detail columns, in table order, after whatever is bound already.
macro_rules! bind_details {
    ($query:expr, $d:expr) => {
        $query
            .bind($d.name.as_str())
            .bind(Json(&$d.billing_emails))
            .bind($d.timezone.name())
            .bind(Dec($d.tax_rate))
            .bind(Json(&$d.address))
            .bind($d.tax_id.as_str())
            .bind($d.late_usage_policy.as_str())
            .bind($d.payment_terms.map(|t| t.to_string()))
    };
}

impl Store {
    /// Creates a tenant, with the `tenant.created` audit event of `actor`.
    ///
    /// # Errors
    /// [`DbError::AlreadyExists`] when the id is taken.
    pub async fn create_tenant(
        &self,
        tenant: &NewTenant,
        now: DateTime<Utc>,
        actor: &Actor,
    ) -> Result<Tenant, DbError> {
        self.create_tenant_on(tenant, None, now, actor).await
    }

    /// Creates a tenant and, when given, its first subscription, in one commit: a crash
    /// between the two would leave a tenant on no plan whose creation cannot be retried
    /// (its id is taken). Audit events `tenant.created` and `subscription.changed` of `actor`.
    ///
    /// # Errors
    /// [`DbError::AlreadyExists`] when the id is taken.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant.id))]
    pub async fn create_tenant_on(
        &self,
        tenant: &NewTenant,
        first: Option<&SubscriptionChange>,
        now: DateTime<Utc>,
        actor: &Actor,
    ) -> Result<Tenant, DbError> {
        let sql = format!(
            r#"insert into tenant ({COLUMNS})
            values ($1, $2, $3, $4, $5, $6, $7, $8, $9, true, $10, $10, '[]')
            returning {COLUMNS}"#
        );
        let mut tx = self.begin().await?;
        let row: TenantRow =
            on_tx!(&mut tx, |db| bind_details!(sqlx::query_as(&sql).bind(tenant.id.as_str()), tenant.details)
                .bind(Instant(now))
                .fetch_one(db)
                .await)?;
        let target = AuditTarget::tenant("tenant", &tenant.id);
        audit::append(&mut tx, actor, "tenant.created", &target, json!({ "name": tenant.details.name }), now).await?;
        if let Some(first) = first {
            subscriptions::record_change(&mut tx, &tenant.id, first, now, actor).await?;
        }
        tx.commit().await?;
        self.mark_changed([&tenant.id]);
        row.try_into()
    }

    /// Reads a tenant.
    #[tracing::instrument(skip_all, fields(tenant_id = %id))]
    pub async fn get_tenant(&self, id: &TenantId) -> Result<Option<Tenant>, DbError> {
        let sql = format!("select {COLUMNS} from tenant where tenant_id = $1");
        let row: Option<TenantRow> =
            on_read!(self.read(), |db| sqlx::query_as(&sql).bind(id.as_str()).fetch_optional(db).await)?;
        row.map(Tenant::try_from).transpose()
    }

    /// Applies a partial update, with the `tenant.updated` audit event of `actor`; `None` when
    /// the tenant does not exist. Read-modify-write under a row lock, so concurrent patches of
    /// different fields both land. Deactivating (`active: false`) also ends the tenant's
    /// subscription in the same commit ([`end_for_deactivation`]): in two, a crash between
    /// left an inactive tenant still subscribed, its fees accruing.
    #[tracing::instrument(skip_all, fields(tenant_id = %id))]
    pub async fn update_tenant(
        &self,
        id: &TenantId,
        patch: TenantPatch,
        now: DateTime<Utc>,
        actor: &Actor,
    ) -> Result<Option<Tenant>, DbError> {
        let mut tx = self.begin().await?;
        let sql = format!("select {COLUMNS} from tenant where tenant_id = $1 {}", tx.for_update());
        let row: Option<TenantRow> =
            on_tx!(&mut tx, |db| sqlx::query_as(&sql).bind(id.as_str()).fetch_optional(db).await)?;
        let Some(row) = row else { return Ok(None) };
        let detail = json!({ "fields": patch.field_names() });
        let deactivating = patch.active == Some(false);
        let before = Tenant::try_from(row)?;
        let gate_before = (before.active, before.details.late_usage_policy);
        let emails_before = before.details.billing_emails.clone();
        // A new time zone takes over at the end of the current period (DESIGN §6).
        let calendar = BillingCalendar::of(&before);
        let mut tenant = before.patched(patch, now);
        tenant.zone_history = calendar.history_after_asking(tenant.details.timezone, now);
        let sql = format!(
            r#"update tenant set name = $2, billing_emails = $3, timezone = $4, tax_rate = $5,
                address = $6, tax_id = $7, late_usage_policy = $8, payment_terms = $9, active = $10,
                updated_at = $11, timezone_history = $12
            where tenant_id = $1
            returning {COLUMNS}"#
        );
        let row: TenantRow =
            on_tx!(&mut tx, |db| bind_details!(sqlx::query_as(&sql).bind(id.as_str()), tenant.details)
                .bind(tenant.active)
                .bind(Instant(now))
                .bind(stored_history(&tenant.zone_history))
                .fetch_one(db)
                .await)?;
        audit::append(&mut tx, actor, "tenant.updated", &AuditTarget::tenant("tenant", id), detail, now).await?;
        // Whoever may no longer sign in loses the portal, in the same commit: their sessions
        // end and their unused sign-in links expire (DESIGN §11). On deactivation that is
        // everyone; otherwise the addresses the tenant no longer bills.
        let removed = removed_addresses(&emails_before, &tenant.details.billing_emails);
        let people = match (gate_before.0, tenant.active) {
            (true, false) => PortalPeople::Everyone,
            _ => PortalPeople::Addresses(&removed),
        };
        portal::end_portal_access(&mut tx, id, people, now).await?;
        if deactivating {
            let changes = subscriptions::changes_in(&mut tx, id).await?;
            if let Some(end) = end_for_deactivation(&changes, now, bucket_ceiling(now)) {
                subscriptions::record_change(&mut tx, id, &end, now, actor).await?;
            }
        }
        if (tenant.active, tenant.details.late_usage_policy) != gate_before {
            gate_changes::tell_tenant_changed(&mut tx, id).await?;
        }
        tx.commit().await?;
        self.mark_changed([id]);
        row.try_into().map(Some)
    }

    /// Tenants ordered by id, starting after `after` (cursor pagination).
    #[tracing::instrument(skip_all)]
    pub async fn list_tenants(&self, after: Option<&TenantId>, limit: u32) -> Result<Vec<Tenant>, DbError> {
        let sql = format!("select {COLUMNS} from tenant where tenant_id > $1 order by tenant_id limit $2");
        let after = after.map_or("", TenantId::as_str);
        let rows: Vec<TenantRow> =
            on_read!(self.read(), |db| sqlx::query_as(&sql).bind(after).bind(i64::from(limit)).fetch_all(db).await)?;
        rows.into_iter().map(Tenant::try_from).collect()
    }

    /// The tenants of `ids` that exist, ordered by id: a page of the tenants whose data
    /// changed (`changes.rs`), read in one statement.
    #[tracing::instrument(skip_all, fields(tenants = ids.len()))]
    pub async fn tenants_among(&self, ids: &[TenantId]) -> Result<Vec<Tenant>, DbError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "select {COLUMNS} from tenant where tenant_id in ({}) order by tenant_id",
            placeholders(1, ids.len())
        );
        let rows: Vec<TenantRow> =
            on_read!(self.read(), |db| bind_tenants!(sqlx::query_as(&sql), ids).fetch_all(db).await)?;
        rows.into_iter().map(Tenant::try_from).collect()
    }

    /// How many tenants there are (a billing run's progress counts them).
    #[tracing::instrument(skip_all)]
    pub async fn count_tenants(&self) -> Result<i64, DbError> {
        let sql = "select count(*) from tenant";
        Ok(on_read!(self.read(), |db| sqlx::query_scalar(sql).fetch_one(db).await)?)
    }
}

/// The addresses of `before` that `after` no longer holds, compared as the sign-in lookup
/// compares them (case-insensitively).
fn removed_addresses<'a>(before: &'a [String], after: &[String]) -> Vec<&'a str> {
    let kept: Vec<String> = after.iter().map(|e| e.to_lowercase()).collect();
    before.iter().filter(|e| !kept.contains(&e.to_lowercase())).map(String::as_str).collect()
}
