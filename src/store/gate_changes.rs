//! Changes to what ingest's tenant gates hold (`ingest/tenants.rs`): a tenant's `active` flag
//! or late-usage policy patched, a period of a `reject` tenant closed. On PostgreSQL
//! the transaction making one tells every process on the database (`NOTIFY`, delivered when it
//! commits, never if it rolls back), so a process keeps its gates until told, not a few seconds:
//! re-read every few seconds, the gates of 100 000 tenants cost PostgreSQL a third as much as
//! the usage records themselves (BENCHMARKS.md, Dec 6).
//!
//! A process that loses its listening connection cannot know what it missed while it was gone:
//! [`GateWatch::next`] says so ([`GateChange::Missed`]) once it listens again, and the cache
//! drops everything. A read under way then is safe too: a dropped entry's slot is gone from
//! the cache, so the late answer lands nowhere (`refresh_ahead.rs`).
//!
//! Citus: every process reaches the cluster through the coordinator, which runs both the
//! `pg_notify` of a change and the `LISTEN`s. SQLite has no notifications; it serves one
//! process, which forgets what it changed itself (`TenantDirectory::forget`).

use std::time::Duration;

use sqlx::postgres::{PgListener, PgPoolOptions};
use sqlx::PgPool;

use super::engine::{Engine, Tx};
use super::{DbError, Store};
use crate::domain::TenantId;

/// The channel of gate changes; a notification's payload is the tenant's id.
const GATE_CHANNEL: &str = "tally_tenant_gate";

/// Tells every process that `tenant`'s gate changed, when `tx` commits.
pub(super) async fn tell_tenant_changed(tx: &mut Tx, tenant: &TenantId) -> Result<(), DbError> {
    tell(tx, &[tenant.as_str()]).await
}

/// Tells every process that periods of `tenants` closed, when `tx` commits. Only a `reject`
/// tenant's gate holds its periods, but the others are told too: a statement naming no table
/// runs on Citus's coordinator, where the watches listen (one reading `tenant` would run on
/// the workers), and a gate forgotten once a month costs one read.
pub(super) async fn tell_periods_closed(tx: &mut Tx, tenants: &[&str]) -> Result<(), DbError> {
    tell(tx, tenants).await
}

async fn tell(tx: &mut Tx, tenants: &[&str]) -> Result<(), DbError> {
    if let Tx::Postgres(tx) = tx {
        let sql = "select pg_notify($1, t) from unnest($2::text[]) as t";
        sqlx::query(sql).bind(GATE_CHANNEL).bind(tenants).execute(&mut **tx).await?;
    }
    Ok(())
}

/// What a [`GateWatch`] heard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateChange {
    /// This tenant's gate changed.
    Tenant(TenantId),
    /// The watch was not listening for a while: any gate may have changed.
    Missed,
}

/// A listening connection of its own, on the gate changes' channel.
pub struct GateWatch {
    pool: PgPool,
    listener: PgListener,
}

/// How long a watch waits between attempts to listen again after its connection failed.
const RETRY_AFTER: Duration = Duration::from_secs(1);

impl Store {
    /// A watch of the gate changes; `None` on SQLite, which has no notifications.
    ///
    /// # Errors
    /// When the database cannot be reached.
    pub async fn watch_gates(&self) -> Result<Option<GateWatch>, DbError> {
        let Engine::Postgres { pool, .. } = &self.engine else {
            return Ok(None);
        };
        // A pool of its own, so the listening connection is not one of the pool's readers.
        let pool = PgPoolOptions::new().max_connections(1).connect_lazy_with((*pool.connect_options()).clone());
        let listener = listen(&pool).await?;
        Ok(Some(GateWatch { pool, listener }))
    }
}

async fn listen(pool: &PgPool) -> Result<PgListener, DbError> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(GATE_CHANNEL).await?;
    Ok(listener)
}

impl GateWatch {
    /// The next change. Waits while the database is unreachable, and answers
    /// [`GateChange::Missed`] once it listens again.
    pub async fn next(&mut self) -> GateChange {
        loop {
            match self.listener.try_recv().await {
                Ok(Some(notification)) => match TenantId::parse(notification.payload()) {
                    Ok(tenant) => return GateChange::Tenant(tenant),
                    Err(_) => tracing::warn!(payload = notification.payload(), "a gate change names no tenant"),
                },
                // Lost, and listening again on a new connection (sqlx reconnects first).
                Ok(None) => return GateChange::Missed,
                Err(error) => {
                    tracing::warn!(error = %error, "the gate changes' connection failed; listening again");
                    self.listen_again().await;
                    return GateChange::Missed;
                }
            }
        }
    }

    /// A new listener, once one can listen.
    async fn listen_again(&mut self) {
        loop {
            match listen(&self.pool).await {
                Ok(listener) => {
                    self.listener = listener;
                    return;
                }
                Err(error) => tracing::warn!(error = %error, "cannot listen for gate changes yet"),
            }
            tokio::time::sleep(RETRY_AFTER).await;
        }
    }
}
