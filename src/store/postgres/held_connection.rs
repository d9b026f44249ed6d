//! A usage writer's connection, kept from one group commit to the next.
//!
//! sqlx pings every connection handed back to its pool (a round trip, in a task of its own:
//! `PoolConnection::return_to_pool`) and keeps it from the next taker until the answer. A
//! writer that took a connection per group paid that round trip after every commit, and a
//! lane's next group (a lane's pool has a connection per writer, `ingest/lanes.rs`) waited for
//! it. Kept, one connection serves group after group: at half the saturating single-record
//! rate on 2 cores, a group's queue wait plus its commit fell from 2.4 to 1.7 ms and the p50
//! latency by a quarter (BENCHMARKS.md, Dec 5 22:17).
//!
//! What the pool did for a connection on its way back, the writer does here:
//! - A connection that died while kept (a database restart, a proxy's idle timeout) fails the
//!   group's first statement. The write is then run once more, whole, on a fresh connection
//!   (`usage.rs`): every write path refuses a stored key, so a rerun cannot store a record
//!   twice, even if the lost connection had committed.
//! - After a failure the connection is given back to the pool, which tests it (it may be broken
//!   or hold an aborted transaction) rather than kept.
//! - A connection older than the pool's `max_lifetime` is given back and replaced, as the pool
//!   would retire it.

use std::time::Instant;

use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, PgPool, Postgres};

use crate::store::DbError;

/// A connection of `pool`, taken on first use and kept until [`HeldConnection::give_back`].
pub(in crate::store) struct HeldConnection {
    pool: PgPool,
    held: Option<Held>,
}

struct Held {
    connection: PoolConnection<Postgres>,
    taken: Instant,
}

impl HeldConnection {
    /// Holds nothing yet: the first [`HeldConnection::get`] takes a connection of `pool`.
    pub(in crate::store) fn of(pool: PgPool) -> Self {
        Self { pool, held: None }
    }

    /// The kept connection, or a fresh one of the pool when none is kept or the kept one has
    /// outlived the pool's `max_lifetime`.
    ///
    /// # Errors
    /// The pool's, when it cannot give a connection.
    pub(in crate::store) async fn get(&mut self) -> Result<&mut PgConnection, DbError> {
        let lifetime = self.pool.options().get_max_lifetime();
        if self.held.as_ref().is_some_and(|held| lifetime.is_some_and(|l| held.taken.elapsed() >= l)) {
            self.give_back();
        }
        let held = match self.held.take() {
            Some(held) => held,
            None => Held { connection: self.pool.acquire().await?, taken: Instant::now() },
        };
        Ok(&mut self.held.insert(held).connection)
    }

    /// Hands the kept connection back to the pool, which tests it before anyone else takes it.
    pub(in crate::store) fn give_back(&mut self) {
        self.held = None;
    }
}
