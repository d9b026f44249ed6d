//! Reads benchmark (DESIGN §13): "Portal and usage reads from rollups: p99 < 100 ms for a
//! tenant with 10 M records, ≥ 20 × faster than the raw-record scan." The real `tally serve`
//! (release build, defaults) on a fresh PostgreSQL database holding one tenant with
//! `TALLY_BENCH_RECORDS` (default 10 000 000) raw records spread over the last 30 days (8
//! functions × 4 regions), and their rollups exactly as the write path keeps them (checked:
//! the API's totals equal the raw scan's). Each read is asked `REQUESTS` times in a row.
//! The portal's pages are measured the same way, as a signed-in browser asks for them (a
//! session from `tally portal-link`): the dashboard and the usage page.
//! Baseline, in the same run on the same database: the raw-record scan the rollups avoid —
//! the same day-by-day totals computed from `usage_record`.
//!
//! Run: `cargo bench --bench reads` (`TALLY_BENCH_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432`). Prints a markdown section for BENCHMARKS.md.

#[path = "ingest/cpu.rs"]
#[allow(dead_code)] // shared with the ingest bench
mod cpu;
#[path = "ingest/pg.rs"]
#[allow(dead_code)] // shared with the ingest bench
mod pg;
#[path = "ingest/server.rs"]
#[allow(dead_code)] // shared with the ingest bench
mod server;

use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use chrono::{DurationRound, Utc};
use serde_json::Value;
use sqlx::Executor;

use crate::server::{Server, Tuning};

const REQUESTS: usize = 100;
const RAW_RUNS: usize = 5;
const FUNCTIONS: i64 = 8;
const REGIONS: i64 = 4;

fn records() -> i64 {
    std::env::var("TALLY_BENCH_RECORDS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000_000)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let load_before = uptime();
    let db = pg::BenchDb::create().await?;
    let dir = std::env::temp_dir().join(format!("tally-rbench-{}", uuid::Uuid::new_v4().simple()));
    let result = run(&db, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    let rows = result?;
    println!("{}", render(&load_before, &uptime(), &rows, &pg::version().await?));
    Ok(())
}

struct Row {
    name: String,
    p50: Duration,
    p99: Duration,
    max: Duration,
}

async fn run(db: &pg::BenchDb, dir: &std::path::Path) -> anyhow::Result<Vec<Row>> {
    let server = Server::start(Some(&db.url), dir, &Tuning::default()).await?;
    server.create_tenants(&["big".to_owned()]).await?;
    let to = Utc::now().duration_trunc(chrono::Duration::minutes(15))?;
    let from = to - chrono::Duration::days(30);
    seed(db, from, to, records()).await?;
    let range = format!("from={}&to={}", from.format("%Y-%m-%dT%H:%M:%SZ"), to.format("%Y-%m-%dT%H:%M:%SZ"));
    let day_before = format!(
        "from={}&to={}",
        (to - chrono::Duration::days(1)).format("%Y-%m-%dT%H:%M:%SZ"),
        to.format("%Y-%m-%dT%H:%M:%SZ")
    );
    let reads = [
        ("30 days by day (`GET …/usage?granularity=day`)", format!("/v1/tenants/big/usage?{range}&granularity=day")),
        ("30 days by day and function", format!("/v1/tenants/big/usage?{range}&granularity=day&group_by=function")),
        ("last day by hour and region", format!("/v1/tenants/big/usage?{day_before}&granularity=hour&group_by=region")),
        ("period so far, priced (`GET …/usage/current`)", "/v1/tenants/big/usage/current".to_owned()),
    ];
    let mut rows = Vec::new();
    let mut api_days = None;
    for (name, path) in &reads {
        let (row, body) = timed_get(&server, name, path).await?;
        api_days.get_or_insert(body);
        rows.push(row);
    }
    let (portal, cookie) = portal_session(&server).await?;
    let (first_day, last_day) = (from.format("%Y-%m-%d"), (to - chrono::Duration::seconds(1)).format("%Y-%m-%d"));
    let pages = [
        ("portal dashboard (`GET /portal`)", "/portal".to_owned()),
        ("portal usage page, 30 days by day and function", format!("/portal/usage?from={first_day}&to={last_day}")),
        (
            "portal usage page, last day by hour and region",
            format!("/portal/usage?from={last_day}&to={last_day}&granularity=hour&group=region"),
        ),
    ];
    for (name, path) in &pages {
        rows.push(timed_page(&server, &portal, &cookie, name, path).await?);
    }
    let (raw, raw_days) = raw_scan(db, from, to).await?;
    check_equal(api_days.as_ref().context("no API answer")?, &raw_days)?;
    rows.push(raw);
    server.stop()?;
    Ok(rows)
}

/// Raw records straight into `usage_record` (one statement per million), then their rollups
/// by the same rule as the write path: 15-minute UTC buckets, per function and region, and
/// those summed per UTC hour (`usage_rollup_hour`, PostgreSQL's hour level).
async fn seed(db: &pg::BenchDb, from: chrono::DateTime<Utc>, to: chrono::DateTime<Utc>, n: i64) -> anyhow::Result<()> {
    let span_us = (to - from).num_microseconds().context("span")?;
    let step = 1_000_000_i64;
    let mut first = 0_i64;
    while first < n {
        let last = (first + step).min(n) - 1;
        let sql = format!(
            "insert into usage_record (tenant_id, source, record_id, ts, function, region, cpu_cycles, \
             memory_gb_seconds, invocations, event_type, content_hash) \
             select 'big', '', 'r' || i, $1::timestamptz + (((i::numeric * {span_us} / {n})::bigint) || ' microseconds')::interval, \
             'fn-' || (i % {FUNCTIONS}), 'region-' || (i / {FUNCTIONS} % {REGIONS}), 1843200000, 0.25, 1, '', \
             sha256(('r' || i)::bytea) from generate_series({first}::bigint, {last}::bigint) as i"
        );
        sqlx::query(&sql).bind(from).execute(&db.pool).await.context("seeding raw records")?;
        eprintln!("seeded {} of {n} records", last + 1);
        first = last + 1;
    }
    db.pool
        .execute(
            "insert into usage_rollup (tenant_id, bucket_start, function, region, cpu_cycles, memory_gb_seconds, \
             invocations, records) \
             select tenant_id, date_bin('15 minutes', ts, timestamptz '2000-01-01 00:00:00+00'), function, region, \
             sum(cpu_cycles), sum(memory_gb_seconds), sum(invocations), count(*) \
             from usage_record group by 1, 2, 3, 4; \
             insert into usage_rollup_hour (tenant_id, bucket_start, function, region, cpu_cycles, \
             memory_gb_seconds, invocations, records) \
             select tenant_id, date_bin('1 hour', bucket_start, timestamptz '2000-01-01 00:00:00+00'), function, region, \
             sum(cpu_cycles), sum(memory_gb_seconds), sum(invocations), sum(records)::int8 \
             from usage_rollup group by 1, 2, 3, 4 order by 1, 2, 3, 4; \
             analyze usage_record; analyze usage_rollup; analyze usage_rollup_hour; checkpoint",
        )
        .await
        .context("building the rollups")?;
    Ok(())
}

async fn timed_get(server: &Server, name: &str, path: &str) -> anyhow::Result<(Row, Value)> {
    let url = format!("{}{path}", server.base);
    let mut times = Vec::with_capacity(REQUESTS);
    let mut last = Value::Null;
    for _ in 0..REQUESTS {
        let started = Instant::now();
        let response = server.client.get(&url).bearer_auth(&server.admin_key).send().await?;
        ensure!(response.status() == 200, "GET {path}: {}", response.status());
        last = response.json().await?;
        times.push(started.elapsed());
    }
    Ok((quantiles(name, times), last))
}

/// A client that does not follow redirects, and the session cookie a `tally portal-link`
/// link sets for tenant `big`.
async fn portal_session(server: &Server) -> anyhow::Result<(reqwest::Client, String)> {
    let output = server.cli(&["portal-link", "--tenant", "big", "--email", "billing@example.com"])?;
    let link = output.split_whitespace().last().context("portal-link printed nothing")?;
    let path = &link[link.find("/portal/").context("a portal link")?..];
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let response = client.get(format!("{}{path}", server.base)).send().await?;
    ensure!(response.status() == 303, "signing in: {}", response.status());
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("tally_session="))
        .context("no session cookie")?;
    Ok((client, cookie.split(';').next().unwrap_or_default().to_owned()))
}

/// A portal page asked for `REQUESTS` times in a row by a signed-in browser, body read.
async fn timed_page(
    server: &Server,
    client: &reqwest::Client,
    cookie: &str,
    name: &str,
    path: &str,
) -> anyhow::Result<Row> {
    let url = format!("{}{path}", server.base);
    let mut times = Vec::with_capacity(REQUESTS);
    for _ in 0..REQUESTS {
        let started = Instant::now();
        let response = client.get(&url).header("cookie", cookie).send().await?;
        ensure!(response.status() == 200, "GET {path}: {}", response.status());
        response.bytes().await?;
        times.push(started.elapsed());
    }
    Ok(quantiles(name, times))
}

/// The day-by-day totals from the raw records: what the rollups save.
async fn raw_scan(
    db: &pg::BenchDb,
    from: chrono::DateTime<Utc>,
    to: chrono::DateTime<Utc>,
) -> anyhow::Result<(Row, Vec<(i64, i64)>)> {
    let sql = "select date_trunc('day', ts, 'UTC') as day, sum(invocations)::bigint, count(*) from usage_record \
               where tenant_id = 'big' and ts >= $1 and ts < $2 group by 1 order by 1";
    let mut times = Vec::with_capacity(RAW_RUNS);
    let mut days = Vec::new();
    for _ in 0..RAW_RUNS {
        let started = Instant::now();
        let rows: Vec<(chrono::DateTime<Utc>, i64, i64)> =
            sqlx::query_as(sql).bind(from).bind(to).fetch_all(&db.pool).await?;
        times.push(started.elapsed());
        days = rows.into_iter().map(|(_, invocations, records)| (invocations, records)).collect();
    }
    Ok((quantiles("raw-record scan, 30 days by day (baseline, SQL only)", times), days))
}

/// The API's day buckets carry exactly the raw scan's invocations and record counts.
fn check_equal(api: &Value, raw: &[(i64, i64)]) -> anyhow::Result<()> {
    let buckets = api["buckets"].as_array().context("buckets")?;
    let api: Vec<(i64, i64)> = buckets
        .iter()
        .map(|b| (b["invocations"].as_str().unwrap_or("0").parse().unwrap_or(-1), b["records"].as_i64().unwrap_or(-1)))
        .collect();
    let total = |v: &[(i64, i64)]| v.iter().fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    ensure!(total(&api) == total(raw), "API totals {:?} differ from the raw scan's {:?}", total(&api), total(raw));
    ensure!(total(raw).1 == records(), "{} records stored, {} seeded", total(raw).1, records());
    Ok(())
}

fn quantiles(name: &str, mut times: Vec<Duration>) -> Row {
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1];
    Row { name: name.to_owned(), p50: at(0.5), p99: at(0.99), max: at(1.0) }
}

fn uptime() -> String {
    std::process::Command::new("uptime")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

fn render(before: &str, after: &str, rows: &[Row], version: &str) -> String {
    let raw = rows.last().map_or(Duration::ZERO, |r| r.p50);
    let table: String = rows
        .iter()
        .map(|r| {
            let speedup = raw.as_secs_f64() / r.p50.as_secs_f64().max(1e-9);
            format!("| {} | {} | {} | {} | {speedup:.0} × |\n", r.name, ms(r.p50), ms(r.p99), ms(r.max))
        })
        .collect();
    let api = &rows[..rows.len() - 1];
    let worst_p99 = api.iter().map(|r| r.p99).max().unwrap_or_default();
    let slowest_p50 = api.iter().map(|r| r.p50).max().unwrap_or_default();
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    format!(
        "## Usage reads and portal pages from rollups (`cargo bench --bench reads`)\n\n\
         - {version}\n- load before (uptime): {before}\n- load after (uptime): {after}\n\
         - one tenant, {} raw records over the last 30 days (8 functions × 4 regions), rollups as the write path keeps them; \
         {REQUESTS} sequential requests per read to the real `tally serve` (release); the raw scan {RAW_RUNS} times\n\n\
         | read | p50 ms | p99 ms | max ms | raw scan p50 / this p50 |\n|---|---|---|---|---|\n{table}\n\
         p99 < 100 ms: **{}** (worst p99 {} ms). ≥ 20 × faster than the raw scan: **{}** (slowest read's p50 {} ms vs {} ms). \
         The API's day totals equal the raw scan's, record for record.\n",
        records(),
        verdict(worst_p99 < Duration::from_millis(100)),
        ms(worst_p99),
        verdict(raw.as_secs_f64() >= 20.0 * slowest_p50.as_secs_f64()),
        ms(slowest_p50),
        ms(raw),
    )
}
