//! The bench database: `tally_bench_<uuid>` on the local PostgreSQL, migrated by the library,
//! reset between scenarios, checked for exact counts, dropped at the end (also on panic).

use anyhow::{ensure, Context};
use chrono::Utc;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, Executor, PgConnection, PgPool};
use tally::domain::NewUsageRecord;
use tally::store::{open_store, Store};

#[path = "../shared/citus_db.rs"]
#[allow(dead_code)] // shared by every bench that includes this file; each uses part of it
pub mod citus_db;

/// The PostgreSQL server: `TALLY_BENCH_DATABASE_URL` or the local default.
pub fn server_url() -> String {
    std::env::var("TALLY_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
        .trim_end_matches('/')
        .to_owned()
}

/// A fresh, migrated database, dropped when this value is dropped.
pub struct BenchDb {
    server: String,
    pub name: String,
    pub url: String,
    pub pool: PgPool,
    pub store: Store,
    /// A partition resets keep, and its records ([`BenchDb::keep`]).
    kept: Option<(String, usize)>,
}

impl BenchDb {
    /// Creates and migrates `tally_bench_<uuid>` on the local PostgreSQL.
    #[allow(dead_code)] // the reads and quotas benches; the ingest bench names its server
    pub async fn create() -> anyhow::Result<Self> {
        Self::create_on(&server_url()).await
    }

    /// Creates and migrates `tally_bench_<uuid>` on `server` (a Citus coordinator: on every
    /// node, the tables distributed).
    pub async fn create_on(server: &str) -> anyhow::Result<Self> {
        let name = format!("tally_bench_{}", uuid::Uuid::new_v4().simple());
        citus_db::create(server, &name).await.context("Failed to create the database")?;
        let url = format!("{server}/{name}");
        let store = open_store(&url, 4).await?;
        let pool = PgPoolOptions::new().max_connections(4).connect(&url).await.context("Failed to connect")?;
        Ok(Self { server: server.to_owned(), name, url, pool, store, kept: None })
    }

    /// Runs experiment SQL (`--setup-sql`) on the bench database.
    pub async fn setup(&self, sql: &str) -> anyhow::Result<()> {
        self.pool.execute(sql).await.context("--setup-sql failed")?;
        Ok(())
    }

    /// Keeps `partition` of `usage_record`, holding `records`, through every later reset; counts
    /// leave its records out.
    #[allow(dead_code)] // the ingest bench's previous month
    pub fn keep(&mut self, partition: String, records: usize) {
        self.kept = Some((partition, records));
    }

    /// Empties the usage tables (but a kept partition), stores `preload` through the library
    /// (untimed), refreshes planner statistics and checkpoints, so every scenario starts from
    /// the same state.
    pub async fn reset(&self, preload: &[NewUsageRecord]) -> anyhow::Result<()> {
        let kept = self.kept.as_ref().map_or("", |(partition, _)| partition.as_str());
        let (partitions,): (Vec<String>,) = sqlx::query_as(
            "select coalesce(array_agg(c.relname::text), '{}') from pg_inherits i join pg_class c on c.oid = i.inhrelid \
             where i.inhparent = 'usage_record'::regclass and c.relname <> $1",
        )
        .bind(kept)
        .fetch_one(&self.pool)
        .await
        .context("Failed to list the partitions")?;
        // One table a statement, pending deltas first: a running server's reads lock the
        // rollups then the pending deltas, its fold the other way round, so a statement
        // holding several could deadlock with one of them. A kept partition's rollups go too:
        // the counts below are the scenario's own.
        let tables = ["usage_rollup_pending_batch", "usage_rollup", "usage_rollup_hour"];
        for table in tables.into_iter().chain(partitions.iter().map(String::as_str)) {
            self.pool.execute(format!("truncate {table}").as_str()).await.context("Failed to truncate")?;
        }
        // The hour watermark below every generated timestamp (they span the last 65 minutes),
        // as a compactor leaves it for records of the current hour: the write path adds no
        // hour deltas, which is the common case this bench measures.
        self.pool
            .execute("update rollup_hour_watermark set through = date_bin('1 hour', now() - interval '2 hours', timestamptz '2000-01-01')")
            .await
            .context("Failed to reset the hour watermark")?;
        for chunk in preload.chunks(1_000) {
            self.store.insert_usage(chunk, Utc::now()).await.context("Failed to preload")?;
        }
        // As `tally serve` leaves them: the preload's deltas in the rollup rows.
        self.store.fold_pending_rollups().await.context("Failed to fold the preload's rollups")?;
        self.pool.execute("analyze usage_record; analyze usage_rollup").await.context("Failed to analyze")?;
        self.settle().await
    }

    /// Writes out what earlier work left dirty, so that a scenario does not pay for it: a
    /// checkpoint (PostgreSQL's dirty buffers), then `sync` (the kernel's). The truncates, a
    /// preload or an earlier scenario leave hundreds of MB of dirty pages, which the kernel
    /// writes back ≈ 30 s later (`vm.dirty_expire_centisecs`), in the middle of the next
    /// scenario. A WAL flush behind that writeback stalled every group commit for up to a
    /// second (BENCHMARKS.md, Dec 4), and for 25–48 ms in the paced run (Dec 5 07:23).
    pub async fn settle(&self) -> anyhow::Result<()> {
        self.pool.execute("checkpoint").await.context("Failed to checkpoint")?;
        let synced = tokio::task::spawn_blocking(|| std::process::Command::new("sync").status()).await?;
        ensure!(synced.context("Failed to run sync")?.success(), "sync failed");
        Ok(())
    }

    /// Raw records stored since the reset (every stored record counted, less a kept
    /// partition's, which no scenario changes).
    pub async fn count(&self) -> anyhow::Result<usize> {
        let (stored,): (i64,) =
            sqlx::query_as("select count(*) from usage_record").fetch_one(&self.pool).await.context("count")?;
        let kept = self.kept.as_ref().map_or(0, |(_, records)| *records);
        (stored as usize).checked_sub(kept).context("records of the kept partition are missing")
    }

    /// Checks that exactly `expected` records are stored and counted in the rollups
    /// (`with_rollups` false for the raw `COPY`, which writes no rollups).
    pub async fn verify(&self, expected: usize, with_rollups: bool) -> anyhow::Result<()> {
        let stored = self.count().await?;
        ensure!(stored == expected, "{stored} records stored, expected {expected} (besides a kept partition's)");
        if with_rollups {
            // The rollup rows and the deltas still pending: what every read adds up.
            let rolled = "select sum(records)::int8 from \
                (select records from usage_rollup union all select records from usage_rollup_pending) as r";
            let (rolled,): (Option<i64>,) =
                sqlx::query_as(rolled).fetch_one(&self.pool).await.context("sum rollups")?;
            ensure!(rolled.unwrap_or(0) as usize == expected, "rollups count {rolled:?} records, expected {expected}");
        }
        Ok(())
    }

    /// Connections the server allows and how many are free now.
    pub async fn free_connections(&self) -> anyhow::Result<u32> {
        let (max, used): (i32, i64) =
            sqlx::query_as("select current_setting('max_connections')::int4, (select count(*) from pg_stat_activity)")
                .fetch_one(&self.pool)
                .await?;
        Ok((max as i64 - used).max(0) as u32)
    }
}

impl Drop for BenchDb {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        // Drop may run inside the runtime; use a thread with its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
            runtime.block_on(async {
                let _ = citus_db::drop(&server, &name).await;
            });
        })
        .join();
    }
}

/// A connection to the server's `postgres` database.
async fn admin() -> anyhow::Result<PgConnection> {
    let url = format!("{}/postgres", server_url());
    PgConnection::connect(&url).await.with_context(|| format!("PostgreSQL did not answer at {url}"))
}

/// `select version()` of the server.
pub async fn version() -> anyhow::Result<String> {
    let mut admin = admin().await?;
    let (version,): (String,) = sqlx::query_as("select version()").fetch_one(&mut admin).await?;
    Ok(version)
}

/// Settings of the server that matter for write throughput.
pub async fn write_settings() -> anyhow::Result<String> {
    let mut admin = admin().await?;
    let names =
        ["shared_buffers", "synchronous_commit", "wal_level", "max_wal_size", "checkpoint_timeout", "autovacuum"];
    let mut parts = Vec::new();
    for name in names {
        let (value,): (String,) = sqlx::query_as("select current_setting($1)").bind(name).fetch_one(&mut admin).await?;
        parts.push(format!("{name}={value}"));
    }
    Ok(parts.join(", "))
}
