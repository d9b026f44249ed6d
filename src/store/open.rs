//! Chooses and opens an engine from the database URL scheme, and runs its migrations.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

use super::engine::{Engine, Store, StoreKind};

impl StoreKind {
    /// Picks the engine from a URL's scheme.
    ///
    /// # Errors
    /// When the scheme is neither `postgres(ql)://` nor `sqlite:`.
    pub fn from_url(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else {
            anyhow::bail!("database url must start with postgres://, postgresql:// or sqlite:")
        }
    }
}

/// Opens the store at `url` and applies pending migrations.
///
/// # Errors
/// When the URL is not understood, the database cannot be reached, or a migration fails.
pub async fn open_store(url: &str, max_connections: u32) -> anyhow::Result<Store> {
    let engine = match StoreKind::from_url(url)? {
        StoreKind::Postgres => {
            let pool = connect_postgres(url, max_connections).await.context("Failed to connect to PostgreSQL")?;
            let migrated = sqlx::migrate!("./migrations/postgres").run(&pool).await;
            migrated.context("Failed to migrate the PostgreSQL database")?;
            Engine::Postgres { pool, fast_path_cooldown: Default::default() }
        }
        StoreKind::Sqlite => {
            let (writer, reader) = open_sqlite(url).await.context("Failed to open the SQLite database")?;
            let migrated = sqlx::migrate!("./migrations/sqlite").run(&writer).await;
            migrated.context("Failed to migrate the SQLite database")?;
            Engine::Sqlite { writer, reader }
        }
    };
    Ok(Store { engine })
}

/// A pool that fails fast (5 s) when the server does not answer.
async fn connect_postgres(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    let options = PgConnectOptions::from_str(url)?.application_name("tally");
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        // No ping before each use: a dead connection fails its statement instead, which the
        // callers already answer with 503; the ping cost a round trip per request.
        .test_before_acquire(false)
        .connect_with(options)
        .await
}

/// Opens (creating if needed, with its directory) a WAL database with one writer connection
/// and a read-only pool.
async fn open_sqlite(url: &str) -> Result<(SqlitePool, SqlitePool), sqlx::Error> {
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10));
    if let Some(dir) = options.get_filename().parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let writer = SqlitePoolOptions::new().max_connections(1).connect_with(options.clone()).await?;
    let reader = SqlitePoolOptions::new().max_connections(4).connect_with(options.read_only(true)).await?;
    Ok((writer, reader))
}
