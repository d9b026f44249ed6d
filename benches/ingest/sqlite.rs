//! The embedded default: `tally serve` with no database URL, on a SQLite file in a temp dir,
//! batched HTTP ingest of unique records.

use std::path::Path;

use anyhow::{ensure, Context};
use sqlx::{Connection, SqliteConnection};

use crate::args::Args;
use crate::http::post_all;
use crate::postgres::measured;
use crate::report::{median, Outcome, Report};
use crate::rows::{tenant_ids, unique_bodies, Workload};
use crate::server::Server;

/// Separate runs of the scenario; the report shows the median. A single run on the shared
/// 2-core VMs moves ±30 % from one minute to the next (BENCHMARKS.md), this scenario being short.
const RUNS: usize = 3;

/// Runs the SQLite scenario [`RUNS`] times, each on a fresh database, into `report`: the run
/// with the median time, and every run's rate in its note.
pub async fn run(args: &Args, work: &Workload, dir: &Path, report: &mut Report) -> anyhow::Result<()> {
    let rows = &work.fresh[..args.sqlite_records.min(work.fresh.len())];
    let mut runs = Vec::with_capacity(RUNS);
    let mut peak_rss = 0;
    for i in 0..RUNS {
        let dir = dir.join(format!("run-{i}"));
        let server = Server::start(None, &dir, &args.tuning).await?;
        server.create_tenants(&tenant_ids()).await?;
        let bodies = unique_bodies(rows, args.batch);
        let ((elapsed, answered), cpu) = measured(Some(server.pid()), post_all(&server, bodies, args.clients)).await?;
        ensure!(answered.accepted == rows.len(), "accepted {} records", answered.accepted);
        verify(&dir.join("tally.db"), rows.len()).await?;
        peak_rss = peak_rss.max(server.peak_rss_kib()?);
        server.stop()?;
        let note = format!("{} clients, one writer (BEGIN IMMEDIATE), synchronous=FULL", args.clients);
        let label = format!("SQLite default, HTTP batched, {} records/request", args.batch);
        runs.push((Outcome { key: "sqlite", label, records: rows.len(), elapsed, cpu, note }, ()));
    }
    report.peak_rss.push(("SQLite run".into(), peak_rss));
    report.outcomes.extend(median(runs).map(|(outcome, ())| outcome));
    Ok(())
}

async fn verify(file: &Path, expected: usize) -> anyhow::Result<()> {
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", file.display())).await.context("open")?;
    let (stored,): (i64,) = sqlx::query_as("select count(*) from usage_record").fetch_one(&mut conn).await?;
    let (rolled,): (i64,) =
        sqlx::query_as("select coalesce(sum(records), 0) from usage_rollup").fetch_one(&mut conn).await?;
    ensure!(stored as usize == expected && rolled as usize == expected, "SQLite stored {stored}, rollups {rolled}");
    Ok(())
}
