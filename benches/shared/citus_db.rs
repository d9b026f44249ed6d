//! Bench databases that work on a Citus coordinator as on plain PostgreSQL. Citus does not
//! propagate `CREATE DATABASE`: on a server whose `postgres` database lists Citus workers, a
//! bench database is created on every node, with the extension, and the workers registered —
//! then `open_store` distributes Tally's tables in it (`src/store/citus.rs`).
//! `TALLY_BENCH_PG_ASYNC_COMMIT=1` turns `synchronous_commit` off in a plain PostgreSQL bench
//! database, to compare with a test cluster that runs without fsync (`cluster.sh`'s default).

use std::str::FromStr;

use anyhow::Context;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor, PgConnection};

/// The workers the server's `postgres` database has registered; empty on plain PostgreSQL.
async fn workers(server: &str) -> anyhow::Result<Vec<(String, u16)>> {
    let mut admin = PgConnection::connect(&format!("{server}/postgres")).await.context("the server answers")?;
    let citus: Option<i32> =
        sqlx::query_scalar("select 1 from pg_extension where extname = 'citus'").fetch_optional(&mut admin).await?;
    if citus.is_none() {
        return Ok(Vec::new());
    }
    let nodes: Vec<(String, i32)> =
        sqlx::query_as("select nodename, nodeport from pg_dist_node where groupid <> 0 order by nodeport")
            .fetch_all(&mut admin)
            .await?;
    Ok(nodes.into_iter().map(|(host, port)| (host, port as u16)).collect())
}

/// A connection to `database` on the node at `host:port`, as the server's user.
async fn on_node(server: &str, (host, port): (&str, u16), database: &str) -> anyhow::Result<PgConnection> {
    let options = PgConnectOptions::from_str(server)?.host(host).port(port).database(database);
    options.connect().await.with_context(|| format!("Citus node {host}:{port} answers"))
}

/// Creates `name` on the server (`postgres://user@host:port`) — on every node of a Citus
/// cluster. Returns whether it is one.
pub async fn create(server: &str, name: &str) -> anyhow::Result<bool> {
    let workers = workers(server).await?;
    let mut admin = PgConnection::connect(&format!("{server}/postgres")).await?;
    admin.execute(format!(r#"create database "{name}""#).as_str()).await.context("Failed to create the database")?;
    if workers.is_empty() {
        // Beside a test cluster that runs without fsync, commits should not wait for the disk
        // on PostgreSQL either, or the comparison measures the disk.
        if std::env::var("TALLY_BENCH_PG_ASYNC_COMMIT").is_ok_and(|v| v == "1") {
            admin.execute(format!(r#"alter database "{name}" set synchronous_commit = off"#).as_str()).await?;
        }
        return Ok(false);
    }
    for (host, port) in &workers {
        let mut node = on_node(server, (host, *port), "postgres").await?;
        node.execute(format!(r#"create database "{name}""#).as_str()).await?;
        on_node(server, (host, *port), name).await?.execute("create extension citus").await?;
    }
    let mut coordinator = PgConnection::connect(&format!("{server}/{name}")).await?;
    coordinator.execute("create extension citus").await?;
    let options = PgConnectOptions::from_str(server)?;
    let register = format!("select citus_set_coordinator_host('{}', {})", options.get_host(), options.get_port());
    coordinator.execute(register.as_str()).await?;
    for (host, port) in &workers {
        coordinator.execute(format!("select citus_add_node('{host}', {port})").as_str()).await?;
    }
    Ok(true)
}

/// Drops `name` on the server, then on every worker of a Citus cluster.
pub async fn drop(server: &str, name: &str) -> anyhow::Result<()> {
    let sql = format!(r#"drop database if exists "{name}" with (force)"#);
    let workers = workers(server).await?;
    PgConnection::connect(&format!("{server}/postgres")).await?.execute(sql.as_str()).await?;
    for (host, port) in workers {
        on_node(server, (&host, port), "postgres").await?.execute(sql.as_str()).await?;
    }
    Ok(())
}

/// One line on the cluster for the report: Citus's version, its workers, the settings that
/// matter.
pub async fn describe(server: &str) -> anyhow::Result<String> {
    let workers = workers(server).await?;
    let mut admin = PgConnection::connect(&format!("{server}/postgres")).await?;
    let (version,): (String,) = sqlx::query_as("select citus_version()").fetch_one(&mut admin).await?;
    let mut settings = Vec::new();
    for name in ["citus.max_cached_conns_per_worker", "fsync", "synchronous_commit", "shared_buffers"] {
        let (value,): (String,) = sqlx::query_as("select current_setting($1)").bind(name).fetch_one(&mut admin).await?;
        settings.push(format!("{name}={value}"));
    }
    let nodes: Vec<String> = workers.iter().map(|(host, port)| format!("{host}:{port}")).collect();
    Ok(format!("Citus: {version}; coordinator {server}, workers {}; {}", nodes.join(", "), settings.join(", ")))
}
