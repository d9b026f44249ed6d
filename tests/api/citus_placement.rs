//! Every table the PostgreSQL migrations create has a place on Citus (`CITUS_TABLES`), and
//! every tenant table can colocate with `tenant`. Checked on plain PostgreSQL, so a migration
//! that forgets either fails `cargo test`, not only the Citus stage.

use std::collections::BTreeSet;

use sqlx::{Connection, PgConnection};

use crate::helpers::{spawn_app, Backend};
use tally::store::{Placement, CITUS_TABLES};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_table_the_migrations_create_has_a_place_on_citus() {
    // Arrange
    let app = spawn_app(Backend::Postgres).await;
    let mut db = PgConnection::connect(&app.database.url).await.unwrap();
    // Act
    // Partitions (usage_record's months) are placed with their parent.
    let created: BTreeSet<String> = sqlx::query_scalar(
        "select c.relname::text from pg_class c join pg_namespace n on n.oid = c.relnamespace \
         where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relispartition",
    )
    .fetch_all(&mut db)
    .await
    .unwrap()
    .into_iter()
    .collect();
    // Assert
    let listed: BTreeSet<String> = CITUS_TABLES.iter().map(|(table, _)| table.to_string()).collect();
    let unplaced: Vec<_> = created.difference(&listed).collect();
    let stale: Vec<_> = listed.difference(&created).collect();
    assert!(unplaced.is_empty(), "add these to CITUS_TABLES (src/store/citus.rs): {unplaced:?}");
    assert!(stale.is_empty(), "CITUS_TABLES lists tables no migration creates: {stale:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tenant_table_keys_on_a_byte_ordered_tenant_id() {
    // Arrange
    let app = spawn_app(Backend::Postgres).await;
    let mut db = PgConnection::connect(&app.database.url).await.unwrap();
    let column = r#"select collation_name from information_schema.columns
        where table_schema = 'public' and table_name = $1 and column_name = 'tenant_id'"#;
    for (table, placement) in CITUS_TABLES.iter().filter(|(_, p)| *p == Placement::ByTenant) {
        // Act
        let collation: Option<Option<String>> =
            sqlx::query_scalar(column).bind(table).fetch_optional(&mut db).await.unwrap();
        // Assert
        assert_eq!(
            collation,
            Some(Some("C".to_owned())),
            "{table} ({placement:?}) needs `tenant_id text collate \"C\"` to colocate with tenant"
        );
    }
}
