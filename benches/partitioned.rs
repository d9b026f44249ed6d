//! What monthly partitioning costs the ingest write path (issue 14), in one run on one
//! database: the same groups of 1 000 fresh records inserted
//!
//! 1. into an unpartitioned copy of `usage_record` (the table before partitioning: one primary
//!    key on (tenant_id, source, record_id)) — the baseline;
//! 2. into the partitioned `usage_record` (the record's month partition and its primary key);
//! 3. as 2, after the cross-partition probe of the previous month (`PROBE_SQL`), which is what
//!    the write path adds to every group;
//! 4. as 3, in one transaction that first takes the tenant-bucket locks of the group
//!    (`LOCK_TENANT_BUCKETS_SQL`: shared, the records lying in the current month), as the write
//!    path does before its probe;
//! 5. through `Store::insert_usage` (locks, probe, insert, rollup upsert: the whole write
//!    path), beside the same rollup-free statements, for scale.
//!
//! Both tables are preloaded alike (the previous and the current month), so index depths match.
//!
//! `cargo bench --bench partitioned [-- --records 200000 --preload 400000]`

use std::time::{Duration as StdDuration, Instant};

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use sqlx::{Connection, Executor, PgConnection, PgExecutor, PgPool};
use tally::domain::{ContentHash, NewUsageRecord, Quantities, RecordKey, TenantId};
use tally::store::{
    bucket_locks, month_start, open_store, RecordColumns, Store, INSERT_RECORDS_SQL, LOCK_TENANT_BUCKETS_SQL, PROBE_SQL,
};

const GROUP: usize = 1_000;
const ROUNDS: usize = 2;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let arg = |name: &str, default: usize| -> usize {
        let args: Vec<String> = std::env::args().collect();
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (fresh, preload) = (arg("--records", 200_000), arg("--preload", 400_000));
    let server =
        std::env::var("TALLY_BENCH_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let name = format!("tally_bench_part_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&format!("{server}/postgres")).await?;
    admin.execute(format!(r#"create database "{name}""#).as_str()).await?;
    let result = run(&format!("{server}/{name}"), fresh, preload).await;
    admin.execute(format!(r#"drop database "{name}" with (force)"#).as_str()).await?;
    println!("load after (uptime): {}", uptime());
    result
}

async fn run(url: &str, fresh: usize, preload: usize) -> anyhow::Result<()> {
    let store = open_store(url, 4).await?;
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(2).connect(url).await?;
    pool.execute(
        "create table usage_record_flat (like usage_record including defaults); \
         alter table usage_record_flat add primary key (tenant_id, source, record_id)",
    )
    .await?;
    let now = Utc::now();
    let previous = month_start(month_start(now) - Duration::days(1));
    store.ensure_usage_partitions(previous, now).await?;
    println!("load before (uptime): {}", uptime());
    for (prefix, start) in [("old", previous + Duration::days(3)), ("cur", month_start(now))] {
        let rows = records(prefix, preload / 2, start);
        for chunk in rows.chunks(GROUP) {
            insert(&pool, "usage_record", chunk).await?;
            insert(&pool, "usage_record_flat", chunk).await?;
        }
    }
    pool.execute("analyze usage_record; analyze usage_record_flat; checkpoint").await?;
    let at = now - Duration::minutes(30);
    // Two rounds of the scenarios, interleaved; the best of each (a shared box is noisy).
    let scenarios =
        ["flat", "partitioned", "partitioned + probe", "partitioned + locks + probe", "Store::insert_usage"];
    let mut results: Vec<(String, f64)> = scenarios.iter().map(|s| (s.to_string(), 0.0)).collect();
    for round in 0..ROUNDS {
        for (i, scenario) in scenarios.iter().enumerate() {
            let rows = records(&format!("r{round}s{i}"), fresh, at);
            let elapsed = timed(&pool, &store, scenario, &rows, now).await?;
            results[i].1 = results[i].1.max(fresh as f64 / elapsed.as_secs_f64());
        }
    }
    let baseline = results[0].1;
    println!("\n| scenario ({fresh} records, groups of {GROUP}, one connection, best of {ROUNDS}) | records/s | × unpartitioned |");
    println!("| --- | ---: | ---: |");
    for (scenario, rate) in &results {
        println!("| {scenario} | {rate:.0} | {:.2} |", rate / baseline);
    }
    Ok(())
}

async fn timed(
    pool: &PgPool,
    store: &Store,
    scenario: &str,
    rows: &[NewUsageRecord],
    now: DateTime<Utc>,
) -> anyhow::Result<StdDuration> {
    let started = Instant::now();
    for chunk in rows.chunks(GROUP) {
        match scenario {
            "flat" => insert(pool, "usage_record_flat", chunk).await?,
            "partitioned" => insert(pool, "usage_record", chunk).await?,
            "partitioned + probe" => {
                probe(&mut *pool.acquire().await?, chunk, now).await?;
                insert(pool, "usage_record", chunk).await?;
            }
            "partitioned + locks + probe" => {
                let mut tx = pool.begin().await?;
                lock_tenant_buckets(&mut tx, chunk).await?;
                probe(&mut tx, chunk, now).await?;
                insert(&mut *tx, "usage_record", chunk).await?;
                tx.commit().await?;
            }
            _ => {
                store.insert_usage(chunk, now).await.context("insert_usage")?;
            }
        }
    }
    Ok(started.elapsed())
}

/// The write path's plain insert (no conflict handling: every key is fresh) into `table`.
async fn insert(db: impl PgExecutor<'_>, table: &str, chunk: &[NewUsageRecord]) -> anyhow::Result<()> {
    let refs: Vec<&NewUsageRecord> = chunk.iter().collect();
    let c = RecordColumns::of(&refs)?;
    let sql = INSERT_RECORDS_SQL
        .replace("insert into usage_record ", &format!("insert into {table} "))
        .replace("on conflict do nothing\nreturning tenant_id, source, record_id", "");
    sqlx::query(&sql)
        .bind(&c.tenant_ids)
        .bind(&c.sources)
        .bind(&c.record_ids)
        .bind(&c.timestamps)
        .bind(&c.functions)
        .bind(&c.regions)
        .bind(&c.cpu_cycles)
        .bind(&c.memory_gb_seconds)
        .bind(&c.invocations)
        .bind(&c.event_types)
        .bind(&c.content_hashes)
        .bind(Utc::now())
        .execute(db)
        .await?;
    Ok(())
}

/// The tenant-bucket locks the write path takes before its probe, for the rest of `tx`.
async fn lock_tenant_buckets(tx: &mut PgConnection, chunk: &[NewUsageRecord]) -> anyhow::Result<()> {
    let locks = bucket_locks(&chunk.iter().collect::<Vec<_>>());
    sqlx::query(LOCK_TENANT_BUCKETS_SQL)
        .bind(locks.iter().map(|l| l.key).collect::<Vec<_>>())
        .bind(locks.iter().map(|l| l.shared_during.map(|(from, _)| from)).collect::<Vec<_>>())
        .bind(locks.iter().map(|l| l.shared_during.map(|(_, until)| until)).collect::<Vec<_>>())
        .execute(tx)
        .await?;
    Ok(())
}

/// The probe the write path runs for a group within one month: the window before that month.
async fn probe(db: &mut PgConnection, chunk: &[NewUsageRecord], now: DateTime<Utc>) -> anyhow::Result<()> {
    let from = now - Duration::days(35) - Duration::hours(1);
    let found: Vec<(String, String, String, Vec<u8>)> = sqlx::query_as(PROBE_SQL)
        .bind(chunk.iter().map(|r| r.key.tenant_id.as_str()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.key.source.as_str()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.key.record_id.as_str()).collect::<Vec<_>>())
        .bind(from)
        .bind(month_start(now))
        .bind(now + Duration::hours(2))
        .bind(now + Duration::hours(2))
        .fetch_all(db)
        .await?;
    anyhow::ensure!(found.is_empty(), "fresh keys were found");
    Ok(())
}

/// `count` records of 10 tenants × 20 functions, one microsecond apart from `start`.
fn records(prefix: &str, count: usize, start: DateTime<Utc>) -> Vec<NewUsageRecord> {
    let tenants: Vec<TenantId> = (0..10).map(|t| TenantId::parse(&format!("bench-{t:02}")).expect("a slug")).collect();
    (0..count)
        .map(|i| {
            let timestamp = start + Duration::microseconds(i as i64);
            let function = format!("fn-{:02}", i % 20);
            let region = "eu-west-1".to_owned();
            let quantities = Quantities {
                cpu_cycles: Decimal::from(1_000_000 + i),
                memory_gb_seconds: Decimal::new(250, 3),
                invocations: Decimal::ONE,
            };
            let key = RecordKey {
                tenant_id: tenants[i % 10].clone(),
                source: String::new(),
                record_id: format!("{prefix}-{i:09}"),
            };
            NewUsageRecord {
                content_hash: ContentHash::of(Some(timestamp), &function, &region, &quantities),
                key,
                timestamp,
                function,
                region,
                quantities,
                event_type: String::new(),
            }
        })
        .collect()
}

fn uptime() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
