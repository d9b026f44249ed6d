//! `portal_login_token` and `portal_session`: the billing portal's sign-in links and
//! sessions, both kept only as SHA-256 hashes of their secrets (DESIGN §11). Plus the one
//! cross-tenant read the portal needs: which tenants bill an email address (to send sign-in
//! links); every page read after sign-in goes through the tenant-scoped calls of the API.
//! And the few raw records "explain this line" shows as samples (a bounded read).

use chrono::{DateTime, Utc};

use super::codec::{tenant_id, Dec, Instant};
use super::engine::{execute_in_own_tx, on_read, on_tx, Tx};
use super::{DbError, Store};
use crate::domain::{Quantities, TenantId};

/// Active tenants whose `billing_emails` hold `$1`, compared case-insensitively. The engines
/// spell "an element of a JSON array" differently; the rest is the same.
const TENANTS_BILLING_POSTGRES: &str = r#"select tenant_id from tenant
    where active
    and exists (select 1 from jsonb_array_elements_text(billing_emails) as e(address) where lower(e.address) = lower($1))
    order by tenant_id
    limit 20"#;
const TENANTS_BILLING_SQLITE: &str = r#"select tenant_id from tenant
    where active
    and exists (select 1 from json_each(tenant.billing_emails) as e where lower(e.value) = lower($1))
    order by tenant_id
    limit 20"#;

/// A session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalSessionRow {
    pub tenant: TenantId,
    pub email: String,
    pub expires_at: DateTime<Utc>,
}

/// A raw usage record as received, shown as an example of what a line bills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleRecord {
    pub source: String,
    pub record_id: String,
    pub timestamp: DateTime<Utc>,
    pub function: String,
    pub region: String,
    pub quantities: Quantities,
}

#[derive(sqlx::FromRow)]
struct SampleRow {
    source: String,
    record_id: String,
    ts: Instant,
    function: String,
    region: String,
    cpu_cycles: i64,
    memory_gb_seconds: Dec,
    invocations: i64,
}

impl From<SampleRow> for SampleRecord {
    fn from(r: SampleRow) -> Self {
        let quantities = Quantities {
            cpu_cycles: r.cpu_cycles.into(),
            memory_gb_seconds: r.memory_gb_seconds.0,
            invocations: r.invocations.into(),
        };
        Self {
            source: r.source,
            record_id: r.record_id,
            timestamp: r.ts.0,
            function: r.function,
            region: r.region,
            quantities,
        }
    }
}

/// Whose portal access [`end_portal_access`] ends.
pub(super) enum PortalPeople<'a> {
    /// Everyone's: the tenant was deactivated, and a deactivated tenant may not sign in.
    Everyone,
    /// These addresses' (compared case-insensitively, as the sign-in lookup compares): the
    /// tenant stopped billing them, so their people may no longer sign in.
    Addresses(&'a [&'a str]),
}

/// Ends the portal access of `people` at `tenant` inside `tx`: their live sessions are
/// revoked and their unused sign-in links expire now. Whoever may no longer sign in (the login
/// lookup no longer finds them) must not stay signed in either.
pub(super) async fn end_portal_access(
    tx: &mut Tx,
    tenant: &TenantId,
    people: PortalPeople<'_>,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let sessions = "update portal_session set revoked_at = $2 where tenant_id = $1 and revoked_at is null";
    let links = r#"update portal_login_token set expires_at = $2
        where tenant_id = $1 and used_at is null and expires_at > $2"#;
    let emails = match people {
        PortalPeople::Everyone => vec![None],
        PortalPeople::Addresses(emails) => emails.iter().copied().map(Some).collect(),
    };
    for email in emails {
        for sql in [sessions, links] {
            let sql = match email {
                None => sql.to_owned(),
                Some(_) => format!("{sql} and lower(email) = lower($3)"),
            };
            on_tx!(&mut *tx, |db| {
                let query = sqlx::query(&sql).bind(tenant.as_str()).bind(Instant(now));
                match email {
                    Some(email) => query.bind(email),
                    None => query,
                }
                .execute(db)
                .await
                .map(|_| ())
            })?;
        }
    }
    Ok(())
}

impl Store {
    /// Up to `limit` raw records of `tenant` with `from <= ts < to`, in no particular order
    /// (whichever the index finds first: a sample, not a listing).
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
    pub async fn sample_records(
        &self,
        tenant: &TenantId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<SampleRecord>, DbError> {
        let sql = r#"select source, record_id, ts, function, region, cpu_cycles, memory_gb_seconds, invocations
            from usage_record
            where tenant_id = $1 and ts >= $2 and ts < $3
            limit $4"#;
        let rows: Vec<SampleRow> = on_read!(self.read(), |db| sqlx::query_as(sql)
            .bind(tenant.as_str())
            .bind(Instant(from))
            .bind(Instant(to))
            .bind(i64::from(limit))
            .fetch_all(db)
            .await)?;
        Ok(rows.into_iter().map(SampleRecord::from).collect())
    }

    /// Appends one `kind` outbox event (payload `{"email": …}`) for every active tenant that
    /// bills `email`, in one transaction, and says which tenants those were (none for an
    /// unknown address).
    #[tracing::instrument(skip_all)]
    pub async fn queue_portal_login(
        &self,
        email: &str,
        kind: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<TenantId>, DbError> {
        let mut tx = self.begin().await?;
        let sql = match &tx {
            Tx::Postgres(_) => TENANTS_BILLING_POSTGRES,
            Tx::Sqlite(_) => TENANTS_BILLING_SQLITE,
        };
        let ids: Vec<(String,)> = on_tx!(&mut tx, |db| sqlx::query_as(sql).bind(email).fetch_all(db).await)?;
        let tenants = ids.iter().map(|(id,)| tenant_id(id)).collect::<Result<Vec<_>, _>>()?;
        let payload = serde_json::json!({ "email": email }).to_string();
        for tenant in &tenants {
            super::outbox::append(&mut tx, tenant, kind, &payload, now).await?;
        }
        tx.commit().await?;
        Ok(tenants)
    }

    /// Stores a sign-in link's hash for `email` of `tenant`, usable until `expires_at`.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
    pub async fn insert_login_token(
        &self,
        tenant: &TenantId,
        token_hash: &str,
        email: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), DbError> {
        let sql = r#"insert into portal_login_token (tenant_id, token_hash, email, expires_at, used_at, created_at)
            values ($1, $2, $3, $4, null, $5)"#;
        execute_in_own_tx!(
            self,
            sqlx::query(sql)
                .bind(tenant.as_str())
                .bind(token_hash)
                .bind(email)
                .bind(Instant(expires_at))
                .bind(Instant(now))
        );
        Ok(())
    }

    /// Consumes the sign-in link with `token_hash` — once: the `update … where used_at is
    /// null` takes it atomically, so a second use (or a race of two) finds nothing — and in
    /// the same transaction opens a session `session_hash` for its tenant and email until
    /// `session_expires`. `None` when the link is unknown, used or expired.
    #[tracing::instrument(skip_all)]
    pub async fn start_portal_session(
        &self,
        token_hash: &str,
        session_hash: &str,
        session_expires: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<PortalSessionRow>, DbError> {
        let consume = r#"update portal_login_token set used_at = $2
            where token_hash = $1 and used_at is null and expires_at > $2
            returning tenant_id, email"#;
        let open = r#"insert into portal_session (tenant_id, session_hash, email, expires_at, revoked_at, created_at)
            values ($1, $2, $3, $4, null, $5)"#;
        let mut tx = self.begin().await?;
        let taken: Option<(String, String)> =
            on_tx!(&mut tx, |db| sqlx::query_as(consume).bind(token_hash).bind(Instant(now)).fetch_optional(db).await)?;
        let Some((tenant, email)) = taken else { return Ok(None) };
        on_tx!(&mut tx, |db| sqlx::query(open)
            .bind(&tenant)
            .bind(session_hash)
            .bind(&email)
            .bind(Instant(session_expires))
            .bind(Instant(now))
            .execute(db)
            .await
            .map(|_| ()))?;
        tx.commit().await?;
        Ok(Some(PortalSessionRow { tenant: tenant_id(&tenant)?, email, expires_at: session_expires }))
    }

    /// The live session `session_hash` of `tenant`: not revoked, not expired at `now`.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
    pub async fn portal_session(
        &self,
        tenant: &TenantId,
        session_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<PortalSessionRow>, DbError> {
        let sql = r#"select email, expires_at from portal_session
            where tenant_id = $1 and session_hash = $2 and revoked_at is null and expires_at > $3"#;
        let row: Option<(String, Instant)> = on_read!(self.read(), |db| sqlx::query_as(sql)
            .bind(tenant.as_str())
            .bind(session_hash)
            .bind(Instant(now))
            .fetch_optional(db)
            .await)?;
        Ok(row.map(|(email, expires)| PortalSessionRow { tenant: tenant.clone(), email, expires_at: expires.0 }))
    }

    /// Revokes a session (logout); `true` when it was live.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
    pub async fn revoke_portal_session(
        &self,
        tenant: &TenantId,
        session_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, DbError> {
        let sql = r#"update portal_session set revoked_at = $3
            where tenant_id = $1 and session_hash = $2 and revoked_at is null"#;
        let changed =
            execute_in_own_tx!(self, sqlx::query(sql).bind(tenant.as_str()).bind(session_hash).bind(Instant(now)));
        Ok(changed == 1)
    }
}
