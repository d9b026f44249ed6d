//! The [`Store`] handle and the two engines behind it.
//!
//! Every operation is written once, as a method of [`Store`] in the file of its table group.
//! A statement is one expression run through [`on_read!`] (a pooled read) or [`on_tx!`] (inside
//! a write transaction): the macro matches the engine and type-checks the expression once per
//! engine, so one SQL text, one bind list and one row type serve both. The types the engines
//! store differently are newtypes in `codec.rs`. Code is per engine only where the engines
//! really differ, as an explicit `match` on [`Tx`]: the ingest hot path, locks, and rollup
//! arithmetic SQLite must not do.

use std::sync::atomic::AtomicU32;
use std::sync::Arc;

use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};

use super::DbError;

/// Which engine a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Postgres,
    Sqlite,
}

/// The persistence handle: cheap to clone, shared by every request and worker.
#[derive(Debug, Clone)]
pub struct Store {
    pub(super) engine: Engine,
    /// Tenants this process changed, for the quota evaluator (`changes.rs`); shared by
    /// every clone, a writer lane's too.
    pub(super) changes: Arc<super::changes::TenantChanges>,
}

/// The connections of one engine.
#[derive(Debug, Clone)]
pub(super) enum Engine {
    /// One pool; several `tally serve` processes coordinate through keys and row locks.
    Postgres {
        pool: PgPool,
        /// Groups left that look their keys up before the `COPY` fast path (`postgres/usage.rs`).
        fast_path_cooldown: Arc<AtomicU32>,
        /// Which groups read the bounds of the stored ids before probing their keys
        /// (`postgres/bounds_policy.rs`).
        bounds_policy: Arc<super::postgres::BoundsPolicy>,
        /// Months known to have a `usage_record` partition, and the accepted window (`partitions.rs`).
        partitions: Arc<super::partitions::PartitionState>,
        /// A Citus cluster (the tables are distributed): locks that span tenants are refused,
        /// so claims across tenants take another shape (`deliveries.rs`, `issue_batch.rs`).
        distributed: bool,
    },
    /// One writer connection (every write is `BEGIN IMMEDIATE`; holding it is the process's
    /// turn to write), ingest's own connection that writes during that turn
    /// (`sqlite/ingest_connection.rs`), a read-only pool, and the connection that checkpoints
    /// the log beside the writers (`wal.rs`).
    Sqlite { writer: SqlitePool, ingest: super::sqlite::IngestConnection, reader: SqlitePool, checkpointer: SqlitePool },
}

/// Where a read runs: a pool of either engine.
pub(super) enum Reader<'a> {
    Postgres(&'a PgPool),
    Sqlite(&'a SqlitePool),
}

/// A write transaction of either engine. Dropping it without [`Tx::commit`] rolls back.
pub(super) enum Tx {
    Postgres(Transaction<'static, Postgres>),
    Sqlite(Transaction<'static, Sqlite>),
}

/// Runs one expression against a [`Reader`], with `$db` bound to that engine's pool.
macro_rules! on_read {
    ($reader:expr, |$db:ident| $body:expr) => {
        match $reader {
            $crate::store::engine::Reader::Postgres($db) => $body,
            $crate::store::engine::Reader::Sqlite($db) => $body,
        }
    };
}

/// Runs one expression inside a [`Tx`], with `$db` bound to that engine's connection.
macro_rules! on_tx {
    ($tx:expr, |$db:ident| $body:expr) => {
        match $tx {
            $crate::store::engine::Tx::Postgres(tx) => {
                let $db = &mut **tx;
                $body
            }
            $crate::store::engine::Tx::Sqlite(tx) => {
                let $db = &mut **tx;
                $body
            }
        }
    };
}

/// Runs one statement in a write transaction of its own: begin, run `$body` with `$db` bound
/// to that engine's connection, commit. The value is `$body`'s `Ok`.
macro_rules! in_own_tx {
    ($store:expr, |$db:ident| $body:expr) => {{
        let mut tx = $store.begin().await?;
        let value = $crate::store::engine::on_tx!(&mut tx, |$db| $body)?;
        tx.commit().await?;
        value
    }};
}

/// Runs one statement (a query with its binds) inside a [`Tx`]; the value is how many rows
/// it changed.
macro_rules! execute_on_tx {
    ($tx:expr, $query:expr) => {
        $crate::store::engine::on_tx!($tx, |db| $query.execute(db).await.map(|done| done.rows_affected()))
    };
}

/// Runs one statement (a query with its binds) in a write transaction of its own; the value
/// is how many rows it changed.
macro_rules! execute_in_own_tx {
    ($store:expr, $query:expr) => {
        $crate::store::engine::in_own_tx!($store, |db| $query.execute(db).await.map(|done| done.rows_affected()))
    };
}

pub(super) use {execute_in_own_tx, execute_on_tx, in_own_tx, on_read, on_tx};

impl Store {
    /// Which engine this is.
    pub fn kind(&self) -> StoreKind {
        match self.engine {
            Engine::Postgres { .. } => StoreKind::Postgres,
            Engine::Sqlite { .. } => StoreKind::Sqlite,
        }
    }

    /// The same store over a PostgreSQL pool of its own, of `connections` connections opened
    /// lazily: on the runtime that first uses them. A connection's socket is driven by the
    /// runtime it was opened on, so a task of another runtime that awaits it is woken through
    /// that runtime's thread, a hop across threads for every reply. An HTTP worker's writer
    /// (`ingest/lanes.rs`) takes its connections here. SQLite's store is returned as it is.
    pub fn with_pool_for_this_runtime(&self, connections: u32) -> Store {
        let mut engine = self.engine.clone();
        if let Engine::Postgres { pool, .. } = &mut engine {
            let options = pool.options().clone().max_connections(connections).min_connections(0);
            *pool = options.connect_lazy_with((*pool.connect_options()).clone());
        }
        Store { engine, changes: Arc::clone(&self.changes) }
    }

    /// The pool, when the tables are distributed over a Citus cluster (`None` otherwise).
    pub(super) fn citus_pool(&self) -> Option<&PgPool> {
        match &self.engine {
            Engine::Postgres { pool, distributed: true, .. } => Some(pool),
            _ => None,
        }
    }

    /// Checks that the database answers (`/readyz`).
    ///
    /// # Errors
    /// [`DbError::Unavailable`] when it does not.
    pub async fn ping(&self) -> Result<(), DbError> {
        on_read!(self.read(), |db| sqlx::query("select 1").execute(db).await.map(|_| ()))?;
        Ok(())
    }

    /// The pool reads go to (SQLite: the read-only pool, never the writer).
    pub(super) fn read(&self) -> Reader<'_> {
        match &self.engine {
            Engine::Postgres { pool, .. } => Reader::Postgres(pool),
            Engine::Sqlite { reader, .. } => Reader::Sqlite(reader),
        }
    }

    /// Starts a write transaction; on SQLite on the one writer, with `BEGIN IMMEDIATE`.
    pub(super) async fn begin(&self) -> Result<Tx, DbError> {
        Ok(match &self.engine {
            Engine::Postgres { pool, .. } => Tx::Postgres(super::open::begin_postgres(pool).await?),
            Engine::Sqlite { writer, .. } => Tx::Sqlite(writer.begin_with(super::sqlite::BEGIN_WRITE).await?),
        })
    }
}

impl Tx {
    /// Commits.
    pub(super) async fn commit(self) -> Result<(), DbError> {
        match self {
            Tx::Postgres(tx) => tx.commit().await?,
            Tx::Sqlite(tx) => tx.commit().await?,
        }
        Ok(())
    }

    /// Rolls back now, releasing its row locks before the caller goes on (a dropped
    /// transaction's rollback waits for its connection's return to the pool, a spawned task:
    /// a next statement on another connection could still find the rows locked).
    pub(super) async fn rollback(self) -> Result<(), DbError> {
        match self {
            Tx::Postgres(tx) => tx.rollback().await?,
            Tx::Sqlite(tx) => tx.rollback().await?,
        }
        Ok(())
    }

    /// The clause that locks the rows a `select` reads until commit. Empty on SQLite, where
    /// the one writer's transaction already excludes every other writer.
    pub(super) fn for_update(&self) -> &'static str {
        match self {
            Tx::Postgres(_) => "for update",
            Tx::Sqlite(_) => "",
        }
    }

    /// Like [`Tx::for_update`], but other readers may share the lock: it only keeps writers
    /// (`for update`) out until commit.
    pub(super) fn for_share(&self) -> &'static str {
        match self {
            Tx::Postgres(_) => "for share",
            Tx::Sqlite(_) => "",
        }
    }

    /// Like [`Tx::for_update`], but a row another transaction holds is skipped, not awaited.
    pub(super) fn for_update_skip_locked(&self) -> &'static str {
        match self {
            Tx::Postgres(_) => "for update skip locked",
            Tx::Sqlite(_) => "",
        }
    }
}
