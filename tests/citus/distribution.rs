//! The schema is in fact scaled out: tenant tables hash-distributed by `tenant_id`, colocated
//! with `tenant`, with shards on every worker; global tables copied to every node; and one
//! tenant's reads and writes, through the real service, each routed to one shard.

use reqwest::StatusCode;
use serde_json::json;
use sqlx::{Connection, PgConnection};

use crate::helpers::{record, spawn_app, spawn_app_with, Backend, TestApp};
use tally::store::{Placement, CITUS_TABLES};

async fn coordinator(app: &TestApp) -> PgConnection {
    PgConnection::connect(&app.database.url).await.expect("the coordinator answers")
}

mod every_table_is_placed_with_shards_on_every_worker {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_citus() {
        // Arrange
        let app = spawn_app(Backend::Citus).await;
        let mut db = coordinator(&app).await;
        let workers: Vec<i32> = sqlx::query_scalar("select nodeport from pg_dist_node where groupid <> 0 order by 1")
            .fetch_all(&mut db)
            .await
            .unwrap();
        let nodes: i64 = sqlx::query_scalar("select count(*) from pg_dist_node").fetch_one(&mut db).await.unwrap();
        assert!(workers.len() >= 2, "a cluster with at least two workers: {workers:?}");
        let placed = r#"select p.partmethod::text, coalesce(column_to_column_name(p.logicalrelid, p.partkey), ''),
                p.colocationid = (select colocationid from pg_dist_partition where logicalrelid = 'tenant'::regclass)
            from pg_dist_partition p where p.logicalrelid = $1::regclass"#;
        let ports = "select array_agg(distinct nodeport order by nodeport) from citus_shards where table_name = $1::regclass";
        for (table, placement) in CITUS_TABLES {
            // Act
            let how: Option<(String, String, bool)> =
                sqlx::query_as(placed).bind(table).fetch_optional(&mut db).await.unwrap();
            let on: Option<Vec<i32>> = sqlx::query_scalar(ports).bind(table).fetch_one(&mut db).await.unwrap();
            // Assert
            match placement {
                Placement::ByTenant => {
                    assert_eq!(how, Some(("h".into(), "tenant_id".into(), true)), "{table}: by tenant_id, with tenant");
                    assert_eq!(on.as_ref(), Some(&workers), "{table}: shards on every worker");
                }
                Placement::Reference => {
                    assert_eq!(how.map(|h| h.0), Some("n".into()), "{table}: a reference table");
                    assert_eq!(on.map_or(0, |p| p.len() as i64), nodes, "{table}: a copy on every node");
                }
                Placement::Coordinator => assert_eq!(how, None, "{table}: left on the coordinator"),
            }
        }
    }
}

mod one_tenants_query_plans_one_task {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_citus() {
        // Arrange
        let app = spawn_app(Backend::Citus).await;
        let mut db = coordinator(&app).await;
        let tasks = |plan: Vec<String>| plan.into_iter().find(|line| line.contains("Task Count")).unwrap_or_default();
        // Act
        let explain = "explain select * from usage_rollup where tenant_id = 'acme' and bucket_start >= now()";
        let one: Vec<String> = sqlx::query_scalar(explain).fetch_all(&mut db).await.unwrap();
        let all: Vec<String> = sqlx::query_scalar("explain select * from usage_rollup").fetch_all(&mut db).await.unwrap();
        // Assert
        assert_eq!(tasks(one).trim(), "Task Count: 1", "one tenant: one shard");
        assert_ne!(tasks(all).trim(), "Task Count: 1", "every tenant: every shard");
    }
}

/// The service with every multi-shard statement refused (`citus.multi_task_query_log_level =
/// error` on its connections): whatever a tenant's own requests run must route to one shard.
mod one_tenants_requests_touch_one_shard {
    use super::*;

    /// Connection options that make any statement planned over more than one shard an error.
    const REFUSE_MULTI_SHARD: &str = "?options=-c%20citus.multi_task_query_log_level%3Derror";

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_citus() {
        // Arrange
        let app = spawn_app_with(Backend::Citus, |s| {
            let url = format!("{}{REFUSE_MULTI_SHARD}", s.database_url());
            s.database_url = Some(url.into());
        })
        .await;
        app.create_tenant("acme", "UTC").await;
        app.create_tenant("globex", "UTC").await;
        // Act
        let batch = json!({ "records": (0..20).map(|i| record("acme", &format!("r{i}"))).collect::<Vec<_>>() });
        let first = app.post_usage(&batch).await;
        let again = app.post_usage(&batch).await;
        // Assert
        assert_eq!(first.status(), StatusCode::OK, "one tenant's batch");
        assert_eq!(again.json::<serde_json::Value>().await.unwrap()["duplicates"], 20, "its retry");
        for path in [
            "/v1/tenants/acme",
            "/v1/tenants/acme/usage?granularity=day",
            "/v1/tenants/acme/usage/current",
            "/v1/tenants/acme/invoices",
            "/v1/tenants/acme/credits",
        ] {
            let response = app.get_as(path, &app.admin_key).await;
            assert_eq!(response.status(), StatusCode::OK, "GET {path}: {}", response.text().await.unwrap());
        }
        let mut bound = PgConnection::connect(&format!("{}{REFUSE_MULTI_SHARD}", app.database.url)).await.unwrap();
        let across = sqlx::query("select count(*) from usage_record").execute(&mut bound).await;
        assert!(across.is_err(), "the setting refuses a statement over every shard, so the checks above mean something");
    }
}
