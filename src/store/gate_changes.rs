//! Changes to what ingest's tenant gates hold (`ingest/tenants.rs`): a tenant's `active` flag
//! or late-usage policy patched, a period of a `reject` tenant closed. On PostgreSQL
//! the transaction making one tells every process on the database (`NOTIFY`, delivered when it
//! commits, never if it rolls back), so a process keeps its gates until told, not a few seconds:
//! re-read every few seconds, the gates of 100 000 tenants took about a sixth of PostgreSQL's
//! time in batches spanning them (BENCHMARKS.md, Dec 6).
//!
//! A process that loses its listening connection cannot know what it missed while it was gone:
//! [`GateWatch::next`] says so ([`GateChange::Missed`]) once it listens again, and the cache
//! marks every gate stale, a read under way included (`RefreshAhead::refresh_all`).
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
    /// Of one connection: the listener's.
    pool: PgPool,
    /// `None` after its connection failed, until one listens again.
    listener: Option<PgListener>,
}

/// How long a watch waits between attempts to listen again after its connection failed.
const RETRY_AFTER: Duration = Duration::from_secs(1);

impl Store {
    /// A watch of the gate changes; `None` on SQLite, which has no notifications, and where
    /// a notification sent does not reach the listening connection within [`PROBE_WAIT`] (a
    /// pooler in transaction mode between Tally and PostgreSQL passes `LISTEN` on but not
    /// what it listens for).
    ///
    /// # Errors
    /// When the database cannot be reached.
    pub async fn watch_gates(&self) -> Result<Option<GateWatch>, DbError> {
        let Engine::Postgres { pool: main, .. } = &self.engine else {
            return Ok(None);
        };
        // A pool of its own, so the listening connection is not one of the pool's readers.
        let pool = PgPoolOptions::new().max_connections(1).connect_lazy_with((*main.connect_options()).clone());
        let mut listener = listen(&pool).await?;
        // Any notification proves they arrive (another process's probe as well as this one's);
        // one of a change is not needed yet, as nothing is cached.
        sqlx::query("select pg_notify($1, $2)").bind(GATE_CHANNEL).bind(PROBE).execute(main).await?;
        if !matches!(tokio::time::timeout(PROBE_WAIT, listener.try_recv()).await, Ok(Ok(Some(_)))) {
            tracing::warn!("notifications do not reach a listening connection (a pooler in transaction mode?)");
            return Ok(None);
        }
        Ok(Some(GateWatch { pool, listener: Some(listener) }))
    }
}

/// The payload of the notification that checks notifications arrive: no tenant's id.
const PROBE: &str = "";

/// How long a new watch waits for its probe.
const PROBE_WAIT: Duration = Duration::from_secs(2);

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
            let Some(listener) = self.listener.as_mut() else {
                self.listener = Some(self.listen_again().await);
                return GateChange::Missed;
            };
            match listener.try_recv().await {
                Ok(Some(notification)) if notification.payload() == PROBE => {}
                Ok(Some(notification)) => match TenantId::parse(notification.payload()) {
                    Ok(tenant) => return GateChange::Tenant(tenant),
                    Err(_) => tracing::warn!(payload = notification.payload(), "a gate change names no tenant"),
                },
                // Lost, and listening again on a new connection (sqlx reconnects first).
                Ok(None) => return GateChange::Missed,
                Err(error) => {
                    // Dropped, so its connection (the pool's one) is free for the next listener.
                    tracing::warn!(error = %error, "the gate changes' connection failed; listening again");
                    self.listener = None;
                }
            }
        }
    }

    /// A new listener, once one can listen.
    async fn listen_again(&self) -> PgListener {
        loop {
            match listen(&self.pool).await {
                Ok(listener) => return listener,
                Err(error) => tracing::warn!(error = %error, "cannot listen for gate changes yet"),
            }
            tokio::time::sleep(RETRY_AFTER).await;
        }
    }
}
