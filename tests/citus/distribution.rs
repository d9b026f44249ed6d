//! The schema is in fact scaled out: tenant tables hash-distributed by `tenant_id`, colocated
//! with `tenant`, with shards on every worker; global tables copied to every node; and one
//! tenant's reads and writes, through the real service, each routed to one shard.

use reqwest::StatusCode;
use serde_json::json;
use sqlx::{Connection, PgConnection};

use crate::helpers::{record, spawn_app, spawn_app_with, spawn_app_without_upkeep, Backend, TestApp};
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
        let ports =
            "select array_agg(distinct nodeport order by nodeport) from citus_shards where table_name = $1::regclass";
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
        let all: Vec<String> =
            sqlx::query_scalar("explain select * from usage_rollup").fetch_all(&mut db).await.unwrap();
        // Assert
        assert_eq!(tasks(one).trim(), "Task Count: 1", "one tenant: one shard");
        assert_ne!(tasks(all).trim(), "Task Count: 1", "every tenant: every shard");
    }
}

/// Connection options that make any statement planned over more than one shard an error.
const REFUSE_MULTI_SHARD: &str = "?options=-c%20citus.multi_task_query_log_level%3Derror";

/// Every store read that names a tenant, on connections that refuse multi-shard statements,
/// after the service wrote a month of that tenant's life (and another tenant's).
mod one_tenants_reads_touch_one_shard {
    use super::*;
    use crate::billing::{invoices_of, run_billing_and_wait, tenant_on, usage_at};
    use tally::domain::{InvoiceId, RecordKey, TenantId};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_citus() {
        // Arrange
        let app = spawn_app(Backend::Citus).await;
        for tenant in ["acme", "globex"] {
            tenant_on(&app, tenant, "UTC", "payg", "2026-10-01T00:00:00Z").await;
            usage_at(&app, tenant, "2026-10-20T00:00:00Z", &[("r1", "2026-10-19T00:00:00Z", 5)]).await;
        }
        run_billing_and_wait(&app, "2026-11-01T02:00:00Z").await;
        let invoice = InvoiceId::parse(invoices_of(&app, "acme").await[0]["id"].as_str().unwrap()).unwrap();
        let strict = tally::store::open_store(&format!("{}{REFUSE_MULTI_SHARD}", app.database.url), 2).await.unwrap();
        let acme = TenantId::parse("acme").unwrap();
        let (from, to) = (crate::billing::at("2026-10-01T00:00:00Z"), crate::billing::at("2026-11-01T00:00:00Z"));
        // Act and assert: each read answers, so none ran on more than one shard
        strict.get_tenant(&acme).await.expect("get_tenant").expect("acme exists");
        assert!(!strict.rollups(&acme, from, to).await.expect("rollups").is_empty());
        assert!(!strict.rollups_per_unit(&acme, &[(from, to)], None).await.expect("rollups_per_unit").is_empty());
        strict.sample_record_ids(&acme, from, to, 10).await.expect("sample_record_ids");
        let r1 = RecordKey { tenant_id: acme.clone(), source: String::new(), record_id: "r1".into() };
        let looked_up = [(&r1, crate::billing::at("2026-10-19T00:00:00Z")), (&r1, from)];
        let stored = strict.stored_content_hashes(&looked_up).await.expect("stored_content_hashes");
        assert!(stored[0].is_some() && stored[1].is_none(), "r1 is stored at its instant alone: {stored:?}");
        strict.subscriptions(&acme).await.expect("subscriptions");
        assert!(!strict.closed_periods(&acme).await.expect("closed_periods").is_empty());
        strict.billed_lines(&acme, from).await.expect("billed_lines");
        strict.list_invoices(&acme, tally::store::InvoiceFilter::default(), None, 10).await.expect("list_invoices");
        strict.get_invoice(&invoice).await.expect("get_invoice").expect("the invoice exists");
        strict.credit_entries(&acme).await.expect("credit_entries");
        strict.quota_set(&acme).await.expect("quota_set");
        strict.alert_keys(&acme, from).await.expect("alert_keys");
        strict.unbilled_entries(&acme).await.expect("unbilled_entries");
        let across = strict.list_tenants(None, 10).await;
        assert!(across.is_err(), "a read across tenants is refused, so the reads above mean something");
    }
}

/// Voiding an invoice that granted credit (the revocation, or the refusal naming the invoice
/// that spent it) and issuing an invoice that consumes such credit (the check that it was not
/// revoked) each run on one tenant's shard.
mod credit_revocation_touches_one_shard {
    use super::*;
    use crate::helpers::{operator, test_now};
    use crate::store_conformance::{issued, month, tenant};
    use tally::store::StatusChange;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_citus() {
        // Arrange: October granted credit (a negative invoice), on the ordinary connections.
        let app = spawn_app(Backend::Citus).await;
        let acme = app.store.create_tenant(&tenant("acme"), test_now(), &operator()).await.unwrap();
        let negative = issued(&app.store, &acme, month(10), "-5.00").await;
        let strict = tally::store::open_store(&format!("{}{REFUSE_MULTI_SHARD}", app.database.url), 2).await.unwrap();
        // Act and assert: each call answers, so none ran on more than one shard
        let november = issued(&strict, &acme, month(11), "2.00").await;
        let refused = strict.void_invoice(&negative.document.id, "CN", test_now(), &operator()).await;
        assert!(matches!(refused, Ok(StatusChange::GrantedCreditSpent(_))), "{refused:?}");
        let spender = strict.void_invoice(&november.document.id, "CN", test_now(), &operator()).await;
        assert!(matches!(spender, Ok(StatusChange::Changed(_))), "{spender:?}");
        let revoked = strict.void_invoice(&negative.document.id, "CN", test_now(), &operator()).await;
        assert!(matches!(revoked, Ok(StatusChange::Changed(_))), "{revoked:?}");
    }
}

/// The service itself on such connections: a tenant's own requests answer.
mod one_tenants_requests_touch_one_shard {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_citus() {
        // Arrange
        let app = spawn_app_with(Backend::Citus, |s| {
            let url = format!("{}{REFUSE_MULTI_SHARD}", s.database_url());
            s.database_url = Some(url.into());
        })
        .await;
        app.create_tenant("acme", "UTC").await;
        // Act
        let batch = json!({ "records": (0..20).map(|i| record("acme", &format!("r{i}"))).collect::<Vec<_>>() });
        let posted = app.post_usage(&batch).await;
        // Assert
        assert_eq!(posted.status(), StatusCode::OK, "a batch of new records: {}", posted.text().await.unwrap());
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
    }
}

/// Rows per table, every table of [`CITUS_TABLES`] but the migration bookkeeping and the
/// quota evaluator's changed tenants (the app writes those each second in the background).
async fn row_counts(db: &mut PgConnection) -> Vec<(String, i64)> {
    let mut counts = Vec::new();
    for (table, _) in CITUS_TABLES.iter().filter(|(t, _)| !t.starts_with('_') && *t != "tenant_change") {
        let count: i64 =
            sqlx::query_scalar(&format!("select count(*) from {table}")).fetch_one(&mut *db).await.unwrap();
        counts.push((table.to_string(), count));
    }
    counts
}

/// What `tally migrate` does to a PostgreSQL database that has just been given Citus: its
/// tables, full of a month's data, are distributed and the data moves to the shards. (The
/// database is the test cluster's, its tables turned back into local ones first.)
mod an_existing_database_given_citus_is_distributed_with_its_data {
    use super::*;
    use crate::billing::{invoices_of, run_billing_and_wait, tenant_on, usage_at};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_citus() {
        // Arrange: a month billed for two tenants, then every table made local again (no fold
        // of pending rollup deltas moving rows between tables while they are counted)
        let app = spawn_app_without_upkeep(Backend::Citus).await;
        for tenant in ["acme", "globex"] {
            tenant_on(&app, tenant, "UTC", "payg", "2026-10-01T00:00:00Z").await;
            usage_at(&app, tenant, "2026-10-20T00:00:00Z", &[("r1", "2026-10-19T00:00:00Z", 5)]).await;
        }
        run_billing_and_wait(&app, "2026-11-01T02:00:00Z").await;
        let mut db = coordinator(&app).await;
        let before = row_counts(&mut db).await;
        sqlx::query("set citus.enable_unsafe_triggers = on").execute(&mut db).await.unwrap();
        for (table, placement) in CITUS_TABLES.iter().rev() {
            if *placement != Placement::Coordinator {
                let local = format!("select undistribute_table('{table}')");
                sqlx::query(&local).execute(&mut db).await.unwrap_or_else(|e| panic!("{local}: {e}"));
            }
        }
        let placed: i64 =
            sqlx::query_scalar("select count(*) from pg_dist_partition").fetch_one(&mut db).await.unwrap();
        assert_eq!(placed, 0, "every table is a plain local table again");
        // Act: what `tally migrate` (and `tally serve` at start) does
        let migrated = tally::store::open_store(&app.database.url, 2).await.expect("the database migrates");
        // Assert
        assert_eq!(row_counts(&mut db).await, before, "every row of every table is there, read from the shards");
        let local = "select pg_relation_size('usage_rollup') + pg_relation_size('invoice')";
        let local_bytes: i64 = sqlx::query_scalar(local).fetch_one(&mut db).await.unwrap();
        assert_eq!(local_bytes, 0, "the coordinator keeps no copy of its own");
        let acme = tally::domain::TenantId::parse("acme").unwrap();
        assert_eq!(
            migrated.list_invoices(&acme, tally::store::InvoiceFilter::default(), None, 10).await.unwrap().len(),
            1
        );
        assert_eq!(invoices_of(&app, "acme").await.len(), 1, "the service reads the invoice from its shard");
    }
}
