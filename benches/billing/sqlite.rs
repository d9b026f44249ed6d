//! The SQLite measurement (for the record): a fresh database file in a temporary directory,
//! the same fill, baselines and timed run. Decimals are text in this store, so the baseline
//! sums integer meters exactly and memory as a float (`total`), which is only a timing
//! reference — the store itself folds decimals in Rust. The second month is billed after the
//! first, as on PostgreSQL.

use std::str::FromStr;
use std::time::Instant;

use anyhow::Context;
use rust_decimal::Decimal;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Connection, Executor, SqliteConnection};
use tally::config::Settings;
use tally::store::open_store;

use crate::scenario::{self, check_sums, median, Month, Sums};
use crate::{cpu, workload, Outcome, Second};

const ROLLUP_SUMS: &str = r#"select tenant_id, sum(cast(invocations as integer)), total(cast(memory_gb_seconds as real)),
    sum(cast(cpu_cycles as integer))
from usage_rollup where bucket_start >= $1 and bucket_start < $2 group by tenant_id"#;
const RECORD_SUMS: &str = r#"select tenant_id, sum(invocations), total(cast(memory_gb_seconds as real)), sum(cpu_cycles)
from usage_record where ts >= $1 and ts < $2 group by tenant_id"#;
const ONE_TENANT_SUMS: &str = r#"select tenant_id, sum(cast(invocations as integer)), total(cast(memory_gb_seconds as real)),
    sum(cast(cpu_cycles as integer))
from usage_rollup where tenant_id = $1 and bucket_start >= $2 and bucket_start < $3 group by tenant_id"#;

type Row = (String, i64, f64, i64);

fn decoded(rows: Vec<Row>) -> anyhow::Result<Sums> {
    rows.into_iter()
        .map(|(t, inv, mem, cpu)| {
            let mem = Decimal::from_str(&format!("{mem:.3}")).context("a finite memory sum")?;
            Ok((t, Decimal::from(inv), mem, Decimal::from(cpu)))
        })
        .collect()
}

/// Median seconds of three runs of a whole-population query, and its rows.
async fn all_sums(db: &mut SqliteConnection, sql: &str) -> anyhow::Result<(f64, Sums)> {
    let (start, end) = workload::period();
    let (mut seconds, mut rows) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let started = Instant::now();
        rows =
            sqlx::query_as(sql).bind(start.timestamp_micros()).bind(end.timestamp_micros()).fetch_all(&mut *db).await?;
        seconds.push(started.elapsed().as_secs_f64());
    }
    Ok((median(seconds), decoded(rows)?))
}

/// Measures `tenants` tenants in a new database file; the directory is removed afterwards.
pub async fn measure(tenants: usize, page_size: usize) -> anyhow::Result<Outcome> {
    let dir = std::env::temp_dir().join(format!("tally_billbench_{}", uuid::Uuid::new_v4().simple()));
    let outcome = measure_in(&dir, tenants, page_size).await;
    std::fs::remove_dir_all(&dir).context("Failed to remove the SQLite directory")?;
    outcome
}

async fn measure_in(dir: &std::path::Path, tenants: usize, page_size: usize) -> anyhow::Result<Outcome> {
    let url = format!("sqlite://{}/tally.db", dir.display());
    let store = open_store(&url, Settings::default().database_max_connections).await?;
    let setup = scenario::fill(&store, tenants).await?;
    // The store's own settings: WAL and synchronous=FULL.
    let options = SqliteConnectOptions::from_str(&url)?
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(std::time::Duration::from_secs(10));
    let mut db = SqliteConnection::connect_with(&options).await?;
    for table in ["tenant", "subscription", "plan_version", "usage_record", "usage_rollup"] {
        db.execute(format!("analyze {table}").as_str()).await?; // as on PostgreSQL: setup's tables only
    }
    let (rollup_sql, sums) = all_sums(&mut db, ROLLUP_SUMS).await?;
    let slack = Decimal::new(1, 2);
    check_sums(&sums, tenants, slack)?;
    let (record_sql, sums) = all_sums(&mut db, RECORD_SUMS).await?;
    check_sums(&sums, tenants, slack)?;
    let (start, end) = workload::period();
    let started = Instant::now();
    let mut rows: Vec<Row> = Vec::with_capacity(tenants);
    for i in 0..tenants {
        let query = sqlx::query_as(ONE_TENANT_SUMS).bind(workload::tenant_id(i).as_str().to_owned());
        rows.push(query.bind(start.timestamp_micros()).bind(end.timestamp_micros()).fetch_one(&mut db).await?);
    }
    let per_tenant_sql = started.elapsed().as_secs_f64();
    check_sums(&decoded(rows)?, tenants, slack)?;

    let cpu_before = cpu::snapshot();
    let billed = scenario::bill(&store, tenants, page_size).await?;
    let cpu = cpu::between(cpu_before, cpu::snapshot());

    db.execute("create table bench_commit_probe (i integer primary key)").await?;
    let started = Instant::now();
    for i in 0..tenants as i64 {
        sqlx::query("insert into bench_commit_probe values ($1)").bind(i).execute(&mut db).await?;
    }
    let commit_floor = started.elapsed().as_secs_f64();
    let reminded = scenario::remind(&store, tenants).await?;
    let second_setup = scenario::fill_second(&store, tenants).await?;
    let cpu_before = cpu::snapshot();
    let second_billed = scenario::bill_month(&store, tenants, page_size, Month::November).await?;
    let second = Second {
        setup: second_setup.as_secs_f64(),
        billed: second_billed,
        cpu: cpu::between(cpu_before, cpu::snapshot()),
        transactions_per_tenant: None,
        rows_written_per_tenant: None,
        adjustments: None,
    };
    Ok(Outcome {
        engine: "SQLite",
        tenants,
        page_size,
        setup: setup.as_secs_f64(),
        billed,
        cpu,
        rollup_sql,
        record_sql,
        per_tenant_sql,
        per_tenant_pinged_sql: None,
        commit_floor,
        transactions_per_tenant: None,
        rows_written_per_tenant: None,
        second: Some(second),
        reminded: Some(reminded),
    })
}
