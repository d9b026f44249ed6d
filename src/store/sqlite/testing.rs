//! Test support: how SQLite plans a statement against the migrated schema, so tests can say
//! which index a hot-path query uses; a store on a file of its own.

use std::path::PathBuf;

use sqlx::{Connection, SqliteConnection};

use crate::store::{open_store, Store};

/// A SQLite store in a directory of its own under the temp dir (the caller removes it).
pub(super) async fn store_in_temp_dir() -> (Store, PathBuf) {
    let dir = std::env::temp_dir().join(format!("tally-sqlite-{}", uuid::Uuid::new_v4()));
    let store = open_store(&format!("sqlite://{}", dir.join("tally.db").display()), 4).await.expect("store opens");
    (store, dir)
}

/// The `explain query plan` details of `sql` (parameters left unbound) on a fresh in-memory
/// database with every migration applied, one line per step.
pub(in crate::store) async fn query_plan(sql: &str) -> String {
    let mut conn = SqliteConnection::connect("sqlite::memory:").await.expect("in-memory SQLite");
    sqlx::migrate!("./migrations/sqlite").run(&mut conn).await.expect("migrations apply");
    let steps: Vec<(i64, i64, i64, String)> =
        sqlx::query_as(&format!("explain query plan {sql}")).fetch_all(&mut conn).await.expect("explain");
    steps.into_iter().map(|(.., detail)| detail).collect::<Vec<_>>().join("\n")
}
