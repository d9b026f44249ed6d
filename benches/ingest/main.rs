//! The ingest benchmark of DESIGN §13, in one run: the real `tally serve` process under HTTP
//! load on PostgreSQL (batched, with duplicates, single-record), the baselines on the same
//! rows (the writer's SQL called directly, raw `COPY`, one commit per record), and the
//! SQLite default. Prints records/s and the target ratios and writes BENCHMARKS.md.
//!
//! `cargo bench --bench ingest [-- --records 200000 --clients 8 --only http,direct --no-write]`
//! `--citus postgres://postgres@127.0.0.1:9700` runs the PostgreSQL scenarios on a Citus
//! coordinator as well, right after PostgreSQL, and prints Citus ÷ PostgreSQL.

mod args;
mod cpu;
mod direct;
mod http;
mod machine;
mod pg;
mod postgres;
mod report;
mod rows;
mod server;
mod sqlite;
mod stages;
mod wrk;

use anyhow::Context;
use chrono::Utc;
use tally::config::Settings;

use crate::args::Args;
use crate::report::Report;
use crate::rows::Workload;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse()?;
    let settings = Settings::from_sources(&args.tuning.toml(), |_| None).context("the tuning is invalid")?;
    let mut report = Report {
        machine: machine::describe().await?,
        settings: machine::settings(&args, &settings),
        ..Default::default()
    };
    let work = Workload::generate(args.preload(), args.records, Utc::now(), args.ids);
    let dir = std::env::temp_dir().join(format!("tally-bench-{}", uuid::Uuid::new_v4().simple()));
    let result = run(&args, &work, &settings, &dir, &mut report).await;
    let _ = std::fs::remove_dir_all(&dir);
    result?;
    report.machine.push(("load after (uptime)".into(), machine::uptime()));
    let rendered = report.render();
    println!("\n{rendered}");
    if args.write {
        report::write(&rendered)?;
    }
    Ok(())
}

async fn run(
    args: &Args,
    work: &Workload,
    settings: &Settings,
    dir: &std::path::Path,
    report: &mut Report,
) -> anyhow::Result<()> {
    if ["http", "saturated", "dup", "single", "wrk", "direct", "stages", "copy", "commit"].iter().any(|s| args.runs(s))
    {
        postgres::run(args, work, settings, (&pg::server_url(), "PostgreSQL"), &dir.join("pg"), report).await?;
        if let Some(citus) = &args.citus {
            let from = report.outcomes.len();
            report.machine.push(("Citus".into(), pg::citus_db::describe(citus).await?));
            postgres::run(args, work, settings, (citus, "Citus"), &dir.join("citus"), report).await?;
            citus_ratios(&mut report.outcomes, from);
        }
    }
    if args.runs("sqlite") {
        sqlite::run(args, work, &dir.join("sqlite"), report).await?;
    }
    Ok(())
}

/// Labels the Citus outcomes (from `from` on) and prints each beside its PostgreSQL twin.
fn citus_ratios(outcomes: &mut [report::Outcome], from: usize) {
    let (pg, citus) = outcomes.split_at_mut(from);
    for c in citus {
        if let Some(p) = pg.iter().find(|p| p.label == c.label) {
            println!(
                "Citus ÷ PostgreSQL, {}: records/s {:.2}×, CPU-µs per record (tally + every postgres process) {:.2}×",
                p.label,
                c.rate() / p.rate(),
                c.cpu_micros_per_record() / p.cpu_micros_per_record(),
            );
        }
        c.label = format!("Citus: {}", c.label);
    }
}
