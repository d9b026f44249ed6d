//! Per-test databases on a Citus cluster (`TALLY_TEST_CITUS_URL`, the coordinator): a migrated
//! template — Citus in it on every node, the workers registered, the tables placed — cloned on
//! every node per test. Citus does not propagate `CREATE DATABASE`, and a database can only
//! be cloned while no session is in it, Citus's maintenance daemon included.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Executor, PgConnection};
use tokio::sync::OnceCell;

/// Shards per distributed table in test databases.
const TEST_SHARDS: u32 = 4;

/// The coordinator, as `postgres://user@host:port` (no database).
pub fn coordinator_url() -> String {
    let url = std::env::var("TALLY_TEST_CITUS_URL").unwrap_or_else(|_| {
        panic!(
            "TALLY_TEST_CITUS_URL must name a Citus coordinator (e.g. postgres://postgres@127.0.0.1:9700): \
             ../shared/citus/build.sh, then cluster.sh start"
        )
    });
    url.trim_end_matches('/').to_owned()
}

/// A node: the coordinator's URL with another host and port.
#[derive(Debug, Clone)]
struct Node {
    host: String,
    port: u16,
}

impl Node {
    async fn connect(&self, database: &str) -> PgConnection {
        let options = PgConnectOptions::from_str(&coordinator_url()).expect("TALLY_TEST_CITUS_URL parses");
        let options = options.host(&self.host).port(self.port).database(database);
        options.connect().await.unwrap_or_else(|e| panic!("Citus node {}:{} answers: {e}", self.host, self.port))
    }

    async fn execute(&self, database: &str, sql: &str) {
        let mut connection = self.connect(database).await;
        connection.execute(sql).await.unwrap_or_else(|e| panic!("{sql} on {}: {e}", self.port));
    }
}

/// The coordinator first, then the workers its `postgres` database has registered.
async fn nodes() -> &'static [Node] {
    static NODES: OnceCell<Vec<Node>> = OnceCell::const_new();
    NODES
        .get_or_init(|| async {
            let options = PgConnectOptions::from_str(&coordinator_url()).expect("TALLY_TEST_CITUS_URL parses");
            let coordinator = Node { host: options.get_host().to_owned(), port: options.get_port() };
            let mut admin = coordinator.connect("postgres").await;
            let workers: Vec<(String, i32)> =
                sqlx::query_as("select nodename, nodeport from pg_dist_node where groupid <> 0 order by nodeport")
                    .fetch_all(&mut admin)
                    .await
                    .expect("the coordinator's postgres database has Citus (cluster.sh start)");
            assert!(!workers.is_empty(), "the Citus coordinator has no workers registered");
            let workers = workers.into_iter().map(|(host, port)| Node { host, port: port as u16 });
            std::iter::once(coordinator).chain(workers).collect()
        })
        .await
}

/// A fresh database cloned from the template on every node; returns its name.
pub async fn create() -> String {
    let template = template().await;
    let name = format!("tally_citus_{}", uuid::Uuid::new_v4().simple());
    let clones = nodes().await.iter().map(|node| clone_on(node, template, &name));
    futures_util::future::join_all(clones).await;
    name
}

/// Drops `name` on every node (sessions ended).
pub async fn drop_everywhere(name: &str) {
    for node in nodes().await {
        let mut admin = node.connect("postgres").await;
        let _ = admin.execute(format!(r#"drop database if exists "{name}" with (force)"#).as_str()).await;
    }
}

/// `create database … template …` on one node, retried while a session ending late (the
/// template's maintenance daemon) still holds the template.
async fn clone_on(node: &Node, template: &str, name: &str) {
    let mut admin = node.connect("postgres").await;
    let sql = format!(r#"create database "{name}" template "{template}""#);
    for _ in 0..100 {
        match admin.execute(sql.as_str()).await {
            Ok(_) => return,
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("55006") => {
                end_sessions(&mut admin, template).await;
            }
            Err(e) => panic!("{sql} on {}: {e}", node.port),
        }
    }
    panic!("{sql}: the template stayed in use");
}

/// The migrated template (one per migration set, like PostgreSQL's), made once by whichever
/// test process gets the coordinator's advisory lock first. It is complete when it refuses
/// connections on the coordinator (the last step); a half-made one is dropped and remade.
async fn template() -> &'static str {
    static TEMPLATE: OnceCell<String> = OnceCell::const_new();
    TEMPLATE
        .get_or_init(|| async {
            // The placement list shapes the template as much as the migrations do.
            let placement = format!("{:?} {TEST_SHARDS}", tally::store::CITUS_TABLES);
            let name = format!("tally_citus_template_{:016x}", super::migrations_hash() ^ super::fxhash(&placement));
            let coordinator = &nodes().await[0];
            let mut admin = coordinator.connect("postgres").await;
            admin.execute("select pg_advisory_lock(727275)").await.unwrap();
            let allows: Option<bool> = sqlx::query_scalar("select datallowconn from pg_database where datname = $1")
                .bind(&name)
                .fetch_optional(&mut admin)
                .await
                .unwrap();
            if allows != Some(false) {
                drop_everywhere(&name).await;
                make_template(&name).await;
            }
            admin.execute("select pg_advisory_unlock(727275)").await.unwrap();
            name
        })
        .await
}

async fn make_template(name: &str) {
    let nodes = nodes().await;
    for node in nodes {
        node.execute("postgres", &format!(r#"create database "{name}""#)).await;
        node.execute(name, "set client_min_messages = warning; create extension if not exists citus").await;
    }
    let (coordinator, workers) = nodes.split_first().unwrap();
    let register = format!("select citus_set_coordinator_host('{}', {})", coordinator.host, coordinator.port);
    coordinator.execute(name, &register).await;
    for worker in workers {
        coordinator.execute(name, &format!("select citus_add_node('{}', {})", worker.host, worker.port)).await;
    }
    // Four shards per table (two per worker), not Citus's default 32: a statement over every
    // shard then opens at most two connections per worker from each pooled connection, and
    // costs the two cores a little, so several test apps (three processes each) fit in the
    // workers' connections and CPU. Placement and routing are the same at any shard count.
    let url = format!("{}/{name}?options=-c%20citus.shard_count%3D{TEST_SHARDS}", coordinator_url());
    let store = tally::store::open_store(&url, 1).await.expect("the Citus template migrates");
    drop(store);
    // Workers first: the coordinator refusing connections marks the template complete.
    for node in nodes.iter().rev() {
        let mut admin = node.connect("postgres").await;
        admin.execute(format!(r#"alter database "{name}" allow_connections false"#).as_str()).await.unwrap();
        end_sessions(&mut admin, name).await;
    }
}

/// Ends every session in `database` and waits until they are gone.
async fn end_sessions(admin: &mut PgConnection, database: &str) {
    let end = "select count(pg_terminate_backend(pid)) from pg_stat_activity where datname = $1";
    let left = "select count(*) from pg_stat_activity where datname = $1";
    for _ in 0..100 {
        let _: i64 = sqlx::query_scalar(end).bind(database).fetch_one(&mut *admin).await.unwrap();
        let remaining: i64 = sqlx::query_scalar(left).bind(database).fetch_one(&mut *admin).await.unwrap();
        if remaining == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("sessions in {database} did not end");
}
