//! `tally store copy` throughput, SQLite → PostgreSQL (DESIGN §2, issue 14). Untimed setup: a
//! SQLite store (a temporary file) with N raw usage records over 100 tenants, one record per
//! tenant and minute (so 15 records per rollup row), their rollups, and the tenants. Timed, each
//! into a fresh migrated PostgreSQL database: `copy_store` at each batch size, then
//! `verify_copy` (both sides read in full). Baseline in the same run: the same raw records read
//! from the same SQLite file and loaded with PostgreSQL's `COPY … FROM STDIN` — the bulk-load
//! floor no row-by-row copy beats.
//!
//! Run: `cargo bench --bench store_copy`. Environment: `TALLY_BENCH_PG` (default
//! `postgres://postgres@127.0.0.1:5432`), `TALLY_BENCH_COPY_RECORDS` (default `200000`),
//! `TALLY_BENCH_COPY_BATCHES` (default `500,2000,10000`). Prints a Markdown section for
//! BENCHMARKS.md.

use std::time::Instant;

use anyhow::Context;
use chrono::DateTime;
use futures_util::TryStreamExt;
use sqlx::{Connection, Executor, PgConnection, SqliteConnection};
use tally::store::{copy_store, open_store, verify_copy, CopyOptions, Store};

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn uptime() -> String {
    std::process::Command::new("uptime").output().map_or_else(
        |_| std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim().to_owned(),
        |o| String::from_utf8_lossy(&o.stdout).trim().to_owned(),
    )
}

/// 2026-10-01T00:00:00Z in microseconds.
const OCTOBER: i64 = 1_790_812_800_000_000;

/// Fills the SQLite store with `records` records over 100 tenants, and their rollups.
async fn fill(url: &str, records: usize) -> anyhow::Result<()> {
    let mut db = SqliteConnection::connect(url).await?;
    let script = format!(
        r#"
        begin;
        with recursive n(i) as (select 0 union all select i + 1 from n where i < 99)
        insert into tenant (tenant_id, name, created_at, updated_at)
            select 'tenant-' || i, 'Tenant ' || i, {OCTOBER}, {OCTOBER} from n;
        with recursive n(i) as (select 0 union all select i + 1 from n where i < {last})
        insert into usage_record
            select 'tenant-' || (i % 100), '', 'record-' || i, {OCTOBER} + (i / 100) * 60000000,
                'thumbnailer', 'eu-west-1', 1843200000, '0.25', 1, '', randomblob(16), {OCTOBER} from n;
        insert into usage_rollup
            select tenant_id, ts / 900000000 * 900000000, function, region, cast(sum(cpu_cycles) as text),
                cast(count(*) * 0.25 as text), cast(sum(invocations) as text), count(*)
            from usage_record group by 1, 2, 3, 4;
        commit;"#,
        last = records - 1
    );
    db.execute(script.as_str()).await?;
    Ok(())
}

/// A fresh, migrated PostgreSQL database (migration untimed).
async fn fresh_postgres(server: &str, admin: &mut PgConnection, names: &mut Vec<String>) -> anyhow::Result<Store> {
    let name = format!("tally_copybench_{}", uuid::Uuid::new_v4().simple());
    admin.execute(format!(r#"create database "{name}""#).as_str()).await?;
    names.push(name.clone());
    open_store(&format!("{server}/{name}"), 4).await
}

/// The baseline: every raw record read from SQLite and bulk-loaded with `COPY`.
async fn copy_from_stdin(sqlite_url: &str, target: &str) -> anyhow::Result<u64> {
    let mut source = SqliteConnection::connect(sqlite_url).await?;
    let mut pg = PgConnection::connect(target).await?;
    let columns = "tenant_id, source, record_id, ts, function, region, cpu_cycles, memory_gb_seconds, \
                   invocations, event_type, content_hash, ingested_at";
    let mut copy = pg.copy_in_raw(&format!("copy usage_record ({columns}) from stdin (format csv)")).await?;
    let sql = format!("select {columns} from usage_record order by tenant_id, source, record_id");
    let mut rows = sqlx::query_as::<_, Row>(&sql).fetch(&mut source);
    let (mut text, mut count) = (String::new(), 0_u64);
    while let Some((tenant, src, id, ts, function, region, cpu, memory, invocations, kind, hash, ingested)) =
        rows.try_next().await?
    {
        let at = |micros: i64| DateTime::from_timestamp_micros(micros).map(|t| t.to_rfc3339()).unwrap_or_default();
        // Quoted: in COPY's CSV an unquoted empty field is null, and absent dimensions are ''.
        let hash = hex::encode(hash);
        text.push_str(&format!(
            "{tenant},\"{src}\",{id},{},{function},{region},{cpu},{memory},{invocations},\"{kind}\",\\x{hash},{}\n",
            at(ts),
            at(ingested)
        ));
        count += 1;
        if text.len() > 1 << 20 {
            copy.send(std::mem::take(&mut text).into_bytes()).await?;
        }
    }
    copy.send(text.into_bytes()).await?;
    copy.finish().await?;
    Ok(count)
}

type Row = (String, String, String, i64, String, String, i64, String, i64, String, Vec<u8>, i64);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let server = env_or("TALLY_BENCH_PG", "postgres://postgres@127.0.0.1:5432");
    let records: usize = env_or("TALLY_BENCH_COPY_RECORDS", "200000").parse().context("TALLY_BENCH_COPY_RECORDS")?;
    let batches: Vec<usize> =
        env_or("TALLY_BENCH_COPY_BATCHES", "500,2000,10000").split(',').map(str::parse).collect::<Result<_, _>>()?;
    let dir = std::env::temp_dir().join(format!("tally-copybench-{}", uuid::Uuid::new_v4().simple()));
    let sqlite_url = format!("sqlite://{}/tally.db", dir.display());
    let source = open_store(&sqlite_url, 4).await?;
    let setup = Instant::now();
    fill(&sqlite_url, records).await?;
    let setup = setup.elapsed().as_secs_f64();
    let mut admin = PgConnection::connect(&format!("{server}/postgres")).await.context("Failed to reach PostgreSQL")?;
    let mut names = Vec::new();
    let load_before = uptime();
    let mut lines = Vec::new();
    let mut verified = None;
    for batch_rows in batches {
        let target = fresh_postgres(&server, &mut admin, &mut names).await?;
        let options = CopyOptions { batch_rows, stop_after_batches: None };
        let started = Instant::now();
        let report = copy_store(&source, "bench", &target, &options, &|_| {}).await?;
        let seconds = started.elapsed().as_secs_f64();
        let rows: u64 = report.tables.iter().map(|(_, n)| n).sum();
        lines.push(format!(
            "| `store copy`, batch {batch_rows} | {seconds:.1} s | **{:.0} records/s** ({:.0} rows/s, all tables) |",
            records as f64 / seconds,
            rows as f64 / seconds
        ));
        if verified.is_none() {
            let started = Instant::now();
            let verification = verify_copy(&source, &target, 5_000, &|_| {}).await?;
            anyhow::ensure!(verification.differences.is_empty(), "{:?}", verification.differences);
            let seconds = started.elapsed().as_secs_f64();
            verified = Some(format!(
                "| `--verify` (both sides read, batch 5000) | {seconds:.1} s | {:.0} rows/s per side |",
                rows as f64 / seconds
            ));
        }
    }
    lines.extend(verified);
    let baseline = fresh_postgres(&server, &mut admin, &mut names).await?;
    // The records' months must have partitions, as `copy_store` makes them for each batch.
    let october = DateTime::from_timestamp_micros(OCTOBER).context("October is a time")?;
    baseline.ensure_usage_partitions(october, october + chrono::Duration::days(62)).await?;
    drop(baseline);
    let started = Instant::now();
    let loaded = copy_from_stdin(&sqlite_url, &format!("{server}/{}", names.last().unwrap())).await?;
    let seconds = started.elapsed().as_secs_f64();
    lines.push(format!(
        "| baseline: raw records read from SQLite, `COPY … FROM STDIN` | {seconds:.1} s | {:.0} records/s |",
        loaded as f64 / seconds
    ));
    let load_after = uptime();
    for name in names {
        admin.execute(format!(r#"drop database if exists "{name}" with (force)"#).as_str()).await?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!("{records} raw records over 100 tenants (+ rollups and tenants), setup {setup:.1} s\n");
    println!("| measure | time | throughput |\n|---|---|---|");
    lines.iter().for_each(|line| println!("{line}"));
    println!("\nload before: `{load_before}`  \nload after: `{load_after}`");
    Ok(())
}
