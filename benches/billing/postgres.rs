//! The PostgreSQL measurement: a fresh `tally_billbench_<uuid>` database per size (dropped at
//! the end), filled through the store, then — in the same run, on the same warm data — the
//! raw SQL baselines and the timed billing run; then, on the same store, the timed run that
//! closes the second month.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use rust_decimal::Decimal;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, Executor, PgConnection};
use tally::config::Settings;
use tally::store::open_store;

use crate::scenario::{self, check_sums, median, Month, Sums};
use crate::{cpu, workload, Outcome, Second};

/// Statements summing the period's usage for every tenant at once.
const ROLLUP_SUMS: &str = r#"select tenant_id, sum(invocations), sum(memory_gb_seconds), sum(cpu_cycles)
from usage_rollup where bucket_start >= $1 and bucket_start < $2 group by tenant_id"#;
const RECORD_SUMS: &str = r#"select tenant_id, sum(invocations)::numeric, sum(memory_gb_seconds), sum(cpu_cycles)::numeric
from usage_record where ts >= $1 and ts < $2 group by tenant_id"#;
/// The same sums one tenant at a time: one round trip per tenant, the shape billing reads in.
const ONE_TENANT_SUMS: &str = r#"select tenant_id, sum(invocations), sum(memory_gb_seconds), sum(cpu_cycles)
from usage_rollup where tenant_id = $1 and bucket_start >= $2 and bucket_start < $3 group by tenant_id"#;

/// Activity counters of the database: (transactions committed, rows inserted + updated).
async fn counters(db: &mut PgConnection) -> anyhow::Result<(i64, i64)> {
    // Backends publish their counters when idle for a while (PGSTAT_IDLE_INTERVAL, 10 s).
    tokio::time::sleep(Duration::from_secs(11)).await;
    Ok(sqlx::query_as(
        "select xact_commit, tup_inserted + tup_updated from pg_stat_database where datname = current_database()",
    )
    .fetch_one(db)
    .await?)
}

/// Measures `tenants` tenants in a database of their own on the server at `server`
/// (`postgres://user@host:port`; a Citus coordinator: the database on every node, the tables
/// distributed), reported as `engine`.
pub async fn measure(server: &str, engine: &'static str, tenants: usize, page_size: usize) -> anyhow::Result<Outcome> {
    let name = format!("tally_billbench_{}", uuid::Uuid::new_v4().simple());
    crate::citus_db::create(server, &name).await.context("Failed to create the bench database")?;
    let outcome = measure_in(&format!("{server}/{name}"), tenants, page_size).await;
    crate::citus_db::drop(server, &name).await?;
    outcome.map(|o| Outcome { engine, ..o })
}

/// Median seconds of three runs of a whole-population query, and its rows.
async fn all_sums(db: &mut PgConnection, sql: &str) -> anyhow::Result<(f64, Sums)> {
    let (start, end) = workload::period();
    let (mut seconds, mut sums) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let started = Instant::now();
        sums = sqlx::query_as(sql).bind(start).bind(end).fetch_all(&mut *db).await?;
        seconds.push(started.elapsed().as_secs_f64());
    }
    Ok((median(seconds), sums))
}

/// Seconds for the rollup sums one tenant per statement, through a pool like the store's
/// (`ping`: sqlx's default `test_before_acquire`, one extra round trip per checkout).
async fn one_by_one(url: &str, ping: bool, tenants: usize) -> anyhow::Result<f64> {
    let pool = PgPoolOptions::new().max_connections(16).test_before_acquire(ping).connect(url).await?;
    let (start, end) = workload::period();
    let started = Instant::now();
    let mut sums: Sums = Vec::with_capacity(tenants);
    for i in 0..tenants {
        let id = workload::tenant_id(i);
        sums.push(sqlx::query_as(ONE_TENANT_SUMS).bind(id.as_str()).bind(start).bind(end).fetch_one(&pool).await?);
    }
    let seconds = started.elapsed().as_secs_f64();
    pool.close().await;
    check_sums(&sums, tenants, Decimal::ZERO)?;
    Ok(seconds)
}

async fn measure_in(url: &str, tenants: usize, page_size: usize) -> anyhow::Result<Outcome> {
    let store = open_store(url, Settings::default().database_max_connections).await?;
    let setup = scenario::fill(&store, tenants).await?;
    let mut db = PgConnection::connect(url).await?;
    // The tables setup loaded reach a steady state (no autovacuum inside the timed steps).
    // The tables the run writes keep the state a fresh store leaves them in: analyzing them
    // while empty makes cached generic plans scan them sequentially as the run fills them.
    db.execute("vacuum analyze tenant, subscription, plan_version, usage_record, usage_rollup").await?;
    let (rollup_sql, sums) = all_sums(&mut db, ROLLUP_SUMS).await?;
    check_sums(&sums, tenants, Decimal::ZERO)?;
    let (record_sql, sums) = all_sums(&mut db, RECORD_SUMS).await?;
    check_sums(&sums, tenants, Decimal::ZERO)?;
    let per_tenant_sql = one_by_one(url, false, tenants).await?;
    let per_tenant_pinged_sql = one_by_one(url, true, tenants).await?;

    let before = counters(&mut db).await?;
    let cpu_before = cpu::snapshot();
    let billed = scenario::bill(&store, tenants, page_size).await?;
    let cpu = cpu::between(cpu_before, cpu::snapshot());
    let after = counters(&mut db).await?;
    let per_tenant = |a: i64, b: i64| (b - a) as f64 / tenants as f64;
    // Reminders come a payment term after the invoices: by then autovacuum has analyzed the
    // table the run just filled (with the statistics of an empty table, the planner joins each
    // page's keys by scanning every invoice: 18.6 s for 10 000 reminders, not 1.0).
    db.execute("analyze invoice").await?;
    let reminded = scenario::remind(&store, tenants).await?;
    let (events,): (i64,) =
        sqlx::query_as("select count(*) from outbox where kind = 'invoice.overdue'").fetch_one(&mut db).await?;
    ensure!(events == tenants as i64, "{events} invoice.overdue events for {tenants} tenants");

    db.execute("create table bench_commit_probe (i bigint primary key)").await?;
    let started = Instant::now();
    for i in 0..tenants as i64 {
        sqlx::query("insert into bench_commit_probe values ($1)").bind(i).execute(&mut db).await?;
    }
    let commit_floor = started.elapsed().as_secs_f64();
    let second = second_month(&store, &mut db, tenants, page_size).await?;
    Ok(Outcome {
        engine: "PostgreSQL",
        tenants,
        page_size,
        setup: setup.as_secs_f64(),
        billed,
        cpu,
        rollup_sql,
        record_sql,
        per_tenant_sql,
        per_tenant_pinged_sql: Some(per_tenant_pinged_sql),
        commit_floor,
        // minus the counters query itself
        transactions_per_tenant: Some(per_tenant(before.0 + 1, after.0)),
        rows_written_per_tenant: Some(per_tenant(before.1, after.1)),
        second: Some(second),
        reminded: Some(reminded),
    })
}

/// October's billed lines on November's invoices: (count, Σ amount).
const ADJUSTMENTS: &str = r#"select count(*), coalesce(sum(b.amount), 0) from billed_line b
join invoice i on i.invoice_id = b.invoice_id and i.tenant_id = b.tenant_id
where b.period_start = $1 and i.period_start = $2"#;

/// The second month on the store the first left: November's usage and the late October
/// records stored (untimed), then the timed run that closes November and re-rates October.
async fn second_month(
    store: &tally::store::Store,
    db: &mut PgConnection,
    tenants: usize,
    page_size: usize,
) -> anyhow::Result<Second> {
    let setup = scenario::fill_second(store, tenants).await?;
    // A month later autovacuum has visited every table, the run's own ones too: none inside
    // the timed run.
    db.execute("vacuum analyze").await?;
    let before = counters(db).await?;
    let cpu_before = cpu::snapshot();
    let billed = scenario::bill_month(store, tenants, page_size, Month::November).await?;
    let cpu = cpu::between(cpu_before, cpu::snapshot());
    let after = counters(db).await?;
    let per_tenant = |a: i64, b: i64| (b - a) as f64 / tenants as f64;
    let (october, november) = (workload::period().0, workload::period().1);
    let adjustments: (i64, Decimal) = sqlx::query_as(ADJUSTMENTS).bind(october).bind(november).fetch_one(db).await?;
    let expected: Vec<Decimal> = (0..tenants).flat_map(workload::expected_adjustments).collect();
    ensure!(
        adjustments == (expected.len() as i64, expected.iter().sum()),
        "adjustment lines {adjustments:?}, priced by hand {} Σ {}",
        expected.len(),
        expected.iter().sum::<Decimal>()
    );
    Ok(Second {
        setup: setup.as_secs_f64(),
        billed,
        cpu,
        transactions_per_tenant: Some(per_tenant(before.0 + 1, after.0)),
        rows_written_per_tenant: Some(per_tenant(before.1, after.1)),
        adjustments: Some(adjustments),
    })
}
