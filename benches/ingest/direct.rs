//! Baselines without HTTP: the writer's own statements through the library
//! (`Store::insert_usage`: the probe, `COPY` of the group, the sorted rollup upsert, one
//! transaction per call), and raw `COPY` of the same rows.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use chrono::Utc;
use sqlx::PgPool;
use tally::domain::NewUsageRecord;
use tally::store::{InsertOutcome, Store};

/// Calls `insert_usage` on consecutive groups of `group` records from `concurrency` tasks.
/// With `group` = 1 this is the one-commit-per-record baseline.
pub async fn insert_groups(
    store: Store,
    records: Arc<Vec<NewUsageRecord>>,
    group: usize,
    concurrency: usize,
) -> anyhow::Result<Duration> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| tokio::spawn(insert_worker(store.clone(), records.clone(), group, next.clone())))
        .collect();
    for task in tasks {
        task.await??;
    }
    Ok(started.elapsed())
}

async fn insert_worker(
    store: Store,
    records: Arc<Vec<NewUsageRecord>>,
    group: usize,
    next: Arc<AtomicUsize>,
) -> anyhow::Result<()> {
    loop {
        let start = next.fetch_add(1, Ordering::Relaxed) * group;
        if start >= records.len() {
            return Ok(());
        }
        let chunk = &records[start..(start + group).min(records.len())];
        let outcomes = store.insert_usage(chunk, Utc::now()).await.context("insert_usage failed")?;
        ensure!(outcomes.iter().all(|o| *o == InsertOutcome::Inserted), "a fresh record was not inserted");
    }
}

/// Streams pre-built `COPY` text chunks, one `COPY` statement (and commit) per chunk, from
/// `concurrency` connections.
pub async fn copy_chunks(
    pool: &PgPool,
    sql: &'static str,
    chunks: Arc<Vec<Vec<u8>>>,
    concurrency: usize,
) -> anyhow::Result<Duration> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> =
        (0..concurrency).map(|_| tokio::spawn(copy_worker(pool.clone(), sql, chunks.clone(), next.clone()))).collect();
    for task in tasks {
        task.await??;
    }
    Ok(started.elapsed())
}

async fn copy_worker(
    pool: PgPool,
    sql: &'static str,
    chunks: Arc<Vec<Vec<u8>>>,
    next: Arc<AtomicUsize>,
) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    while let Some(chunk) = chunks.get(next.fetch_add(1, Ordering::Relaxed)) {
        let mut copy = conn.copy_in_raw(sql).await.context("COPY failed to start")?;
        copy.send(chunk.as_slice()).await?;
        copy.finish().await.context("COPY failed")?;
    }
    Ok(())
}
