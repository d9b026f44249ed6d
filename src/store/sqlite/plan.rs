//! Test support: how SQLite plans a statement against the migrated schema, so tests can say
//! which index a hot-path query uses.

use sqlx::{Connection, SqliteConnection};

/// The `explain query plan` details of `sql` (parameters left unbound) on a fresh in-memory
/// database with every migration applied, one line per step.
pub(super) async fn query_plan(sql: &str) -> String {
    let mut conn = SqliteConnection::connect("sqlite::memory:").await.expect("in-memory SQLite");
    sqlx::migrate!("./migrations/sqlite").run(&mut conn).await.expect("migrations apply");
    let steps: Vec<(i64, i64, i64, String)> =
        sqlx::query_as(&format!("explain query plan {sql}")).fetch_all(&mut conn).await.expect("explain");
    steps.into_iter().map(|(.., detail)| detail).collect::<Vec<_>>().join("\n")
}
