//! Per-stage cost of the writer's record insert, as evidence for where PostgreSQL time goes:
//! the same `unnest` insert without `on conflict`, with `on conflict do nothing`, and with
//! `returning` the keys (the writer's statement, without the conflict lookup and rollups).
//! The statement text mirrors `INSERT_RECORDS_SQL` in src/store/postgres/usage.rs.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::ensure;
use chrono::Utc;
use rust_decimal::prelude::ToPrimitive;
use sqlx::PgPool;
use tally::domain::NewUsageRecord;

const INSERT: &str = r#"
insert into usage_record (tenant_id, source, record_id, ts, function, region,
    cpu_cycles, memory_gb_seconds, invocations, event_type, content_hash, ingested_at)
select t.*, $12
from unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[],
    $7::int8[], $8::numeric[], $9::int8[], $10::text[], $11::bytea[]) as t"#;

/// The statement shapes compared, from cheapest to the writer's own.
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    Plain,
    OnConflict,
    Returning,
}

impl Shape {
    pub const ALL: [Shape; 3] = [Shape::Plain, Shape::OnConflict, Shape::Returning];

    pub fn describe(self) -> &'static str {
        match self {
            Shape::Plain => "insert … select from unnest (no on conflict)",
            Shape::OnConflict => "+ on conflict do nothing",
            Shape::Returning => "+ returning tenant_id, source, record_id (the writer's statement)",
        }
    }

    fn sql(self) -> String {
        match self {
            Shape::Plain => INSERT.to_owned(),
            Shape::OnConflict => format!("{INSERT}\non conflict do nothing"),
            Shape::Returning => format!("{INSERT}\non conflict do nothing\nreturning tenant_id, source, record_id"),
        }
    }
}

/// Inserts `records` in groups of `group`, one transaction each, from `concurrency` tasks.
pub async fn insert_shape(
    pool: &PgPool,
    shape: Shape,
    records: Arc<Vec<NewUsageRecord>>,
    group: usize,
    concurrency: usize,
) -> anyhow::Result<Duration> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| tokio::spawn(shape_worker(pool.clone(), shape, records.clone(), group, next.clone())))
        .collect();
    for task in tasks {
        task.await??;
    }
    Ok(started.elapsed())
}

async fn shape_worker(
    pool: PgPool,
    shape: Shape,
    records: Arc<Vec<NewUsageRecord>>,
    group: usize,
    next: Arc<AtomicUsize>,
) -> anyhow::Result<()> {
    loop {
        let start = next.fetch_add(1, Ordering::Relaxed) * group;
        if start >= records.len() {
            return Ok(());
        }
        insert_chunk(&pool, shape, &records[start..(start + group).min(records.len())]).await?;
    }
}

async fn insert_chunk(pool: &PgPool, shape: Shape, chunk: &[NewUsageRecord]) -> anyhow::Result<()> {
    let mut tx = pool.begin().await?;
    let sql = shape.sql();
    let query = sqlx::query_as::<_, (String, String, String)>(&sql)
        .bind(chunk.iter().map(|r| r.key.tenant_id.as_str()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.key.source.as_str()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.key.record_id.as_str()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.timestamp).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.function.as_str()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.region.as_str()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.quantities.cpu_cycles.to_i64().unwrap_or(0)).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.quantities.memory_gb_seconds).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.quantities.invocations.to_i64().unwrap_or(0)).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.event_type.as_str()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| &r.content_hash.0[..]).collect::<Vec<_>>())
        .bind(Utc::now());
    // Without `returning` no rows come back; the caller checks the table count instead.
    let returned = query.fetch_all(&mut *tx).await?.len();
    ensure!(matches!(shape, Shape::Returning) == (returned == chunk.len()), "{returned} keys returned");
    tx.commit().await?;
    Ok(())
}
