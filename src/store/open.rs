//! Chooses and opens a backend from the database URL scheme, and runs its migrations.

use std::sync::Arc;

use anyhow::Context;

use super::postgres::PgStore;
use super::sqlite::SqliteStore;
use super::Store;

/// Which engine a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Postgres,
    Sqlite,
}

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
pub async fn open_store(url: &str, max_connections: u32) -> anyhow::Result<Arc<dyn Store>> {
    let store: Arc<dyn Store> = match StoreKind::from_url(url)? {
        StoreKind::Postgres => {
            let store = PgStore::connect(url, max_connections).await.context("Failed to connect to PostgreSQL")?;
            store.migrate().await.context("Failed to migrate the PostgreSQL database")?;
            Arc::new(store)
        }
        StoreKind::Sqlite => {
            let store = SqliteStore::open(url).await.context("Failed to open the SQLite database")?;
            store.migrate().await.context("Failed to migrate the SQLite database")?;
            Arc::new(store)
        }
    };
    Ok(store)
}
