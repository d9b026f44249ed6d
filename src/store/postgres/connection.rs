//! Opening the postgres store: pools, connection options, migrations.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

/// A pool of PostgreSQL connections.
#[derive(Debug, Clone)]
pub struct PgStore {
    pub(super) pool: PgPool,
    /// Groups to wait before trying the plain-insert fast path again (see `usage.rs`).
    pub(super) fast_path_cooldown: std::sync::Arc<std::sync::atomic::AtomicU32>,
}

impl PgStore {
    /// Connects a pool; fails fast (5 s) when the server does not answer.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, sqlx::Error> {
        let options = PgConnectOptions::from_str(url)?.application_name("tally");
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            // No ping before each use: a dead connection fails its statement instead, which the
            // callers already answer with 503; the ping cost a round trip per request.
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        Ok(Self { pool, fast_path_cooldown: Default::default() })
    }

    /// Applies the PostgreSQL migrations.
    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        sqlx::migrate!("./migrations/postgres").run(&self.pool).await
    }
}
