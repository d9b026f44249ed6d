//! Chooses and opens an engine from the database URL scheme, and runs its migrations.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

use super::engine::{Engine, Store, StoreKind};
use super::sqlite::{writer_pragmas, IngestConnection, BUSY_TIMEOUT};

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
            let placed = super::citus::place_tables(&pool).await;
            let distributed = placed.context("Failed to place the tables on the Citus cluster")?;
            Engine::Postgres {
                pool,
                fast_path_cooldown: Default::default(),
                bounds_policy: Default::default(),
                partitions: Default::default(),
                distributed,
            }
        }
        StoreKind::Sqlite => {
            let SqlitePools { writer, reader, checkpointer, path } =
                open_sqlite(url).await.context("Failed to open the SQLite database")?;
            let migrated = sqlx::migrate!("./migrations/sqlite").run(&writer).await;
            migrated.context("Failed to migrate the SQLite database")?;
            let ingest = IngestConnection::open(&path).context("Failed to open the SQLite ingest connection")?;
            Engine::Sqlite { writer, ingest, reader, checkpointer }
        }
    };
    Ok(Store { engine, changes: Default::default() })
}

/// How long a request waits for a connection before it is answered 503 + `Retry-After`: during
/// an outage every acquire waits this long (sqlx retries the connect until then), so it bounds
/// how long a request stalls; a healthy pool hands a connection over in microseconds.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(1);

/// A pooled connection idle at least this long is pinged before use. After a PostgreSQL
/// restart every pooled connection is dead, and without the check each would fail one request
/// before being replaced — a run of 503s, longest on an idle instance. Connections on the hot
/// path are reused within milliseconds, so they are never pinged; a restart takes longer than
/// this, so the connections it killed have been idle at least this long when next checked out.
const PING_WHEN_IDLE_FOR: Duration = Duration::from_millis(250);

/// A pool that fails fast when the server does not answer and replaces connections a restart
/// killed before a request meets them.
async fn connect_postgres(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    let options = PgConnectOptions::from_str(url)?.application_name("tally");
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        // Not sqlx's ping on every checkout: that is a round trip per request on the hot path.
        .test_before_acquire(false)
        .before_acquire(|connection, meta| {
            Box::pin(async move {
                if meta.idle_for < PING_WHEN_IDLE_FOR {
                    return Ok(true);
                }
                // A dead connection is dropped and sqlx tries the next one, or opens a new one.
                Ok(sqlx::Connection::ping(connection).await.is_ok())
            })
        })
        .connect_with(options)
        .await
}

/// Begins a transaction, once more on another connection when the first one turns out dead
/// (a restart between its ping and its `BEGIN`): nothing has run yet, so the retry is safe.
///
/// # Errors
/// The second attempt's error.
pub(super) async fn begin_postgres(pool: &PgPool) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
    match pool.begin().await {
        Err(e) if super::error::is_connection_lost(&e) => pool.begin().await,
        begun => begun,
    }
}

/// The connections to one SQLite database.
struct SqlitePools {
    writer: SqlitePool,
    reader: SqlitePool,
    checkpointer: SqlitePool,
    /// The database file, for ingest's own connection.
    path: std::path::PathBuf,
}

/// Opens (creating if needed, with its directory) a WAL database with one writer connection,
/// a read-only pool and a connection for checkpoints (`wal.rs`). Ingest's own connection
/// opens after the migrations.
async fn open_sqlite(url: &str) -> Result<SqlitePools, sqlx::Error> {
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT);
    if let Some(dir) = options.get_filename().parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    // Settings of every connection that writes (`sqlite/ingest_connection.rs`); not the
    // readers': a reader's large sort keeps spilling to disk rather than to memory.
    let writer_options = writer_pragmas().into_iter().fold(options.clone(), |o, (name, value)| o.pragma(name, value));
    // sqlx pings a connection on its way back to the pool already; a second ping when it is
    // taken out is one more hop to SQLite's thread before every ingest group's `BEGIN`.
    let writer =
        SqlitePoolOptions::new().max_connections(1).test_before_acquire(false).connect_with(writer_options).await?;
    // Not read-only: a checkpoint writes the database file. Opened when first used.
    let checkpointer = SqlitePoolOptions::new().max_connections(1).connect_lazy_with(options.clone());
    let path = options.get_filename().to_owned();
    let reader = SqlitePoolOptions::new().max_connections(4).connect_with(options.read_only(true)).await?;
    Ok(SqlitePools { writer, reader, checkpointer, path })
}
