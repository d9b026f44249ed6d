//! What the numbers were measured on and with: the box, PostgreSQL, and the settings.

use std::process::Command;

use tally::config::Settings;

use crate::args::Args;
use crate::pg;
use crate::rows::{tenant_count, FUNCTIONS, REGIONS};

/// The box and the database server, with the load before the run.
pub async fn describe() -> anyhow::Result<Vec<(String, String)>> {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .unwrap_or(": ?")
        .trim_start_matches([' ', '\t', ':']);
    Ok(vec![
        ("cores (nproc)".into(), cores.to_string()),
        ("CPU".into(), model.to_owned()),
        ("memory".into(), format!("{:.1} GiB", mem_kib as f64 / 1_048_576.0)),
        ("PostgreSQL".into(), pg::version().await?),
        ("PostgreSQL settings".into(), pg::write_settings().await?),
        (
            "database location".into(),
            "same box, 127.0.0.1 (shares the 2 cores with tally and the load generator)".into(),
        ),
        ("load before (uptime)".into(), uptime()),
    ])
}

/// `uptime` output, or the load averages from `/proc/loadavg`.
pub fn uptime() -> String {
    Command::new("uptime")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .or_else(|| std::fs::read_to_string("/proc/loadavg").ok())
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// The workload and the service settings in force.
pub fn settings(args: &Args, s: &Settings) -> Vec<(String, String)> {
    let http_workers = s.http_workers.map_or("one per core".to_owned(), |n| n.to_string());
    vec![
        ("records per batched run".into(), format!("{} fresh, after {} preloaded (untimed)", args.records, args.preload())),
        ("record ids".into(), format!("{:?}", args.ids).to_lowercase()),
        (
            "previous month (PostgreSQL)".into(),
            format!(
                "{} records stored once, kept through every scenario: each group's cross-month lookup searches them",
                args.history
            ),
        ),
        ("single-record / one-commit runs".into(), format!("{} records, {} concurrent", args.single_records, args.single_clients)),
        ("batch".into(), format!("{} records/request, {} concurrent HTTP clients", args.batch, args.clients)),
        ("SQLite run".into(), format!("{} records", args.sqlite_records.min(args.records))),
        ("data shape".into(), format!("{} tenants × {FUNCTIONS} functions × {} regions, timestamps ascending over one hour", tenant_count(), REGIONS.len())),
        (
            "writer".into(),
            format!(
                "writers={} per HTTP worker, max_group_records={}, queue_capacity={}, database_max_connections={}, http_workers={http_workers}",
                s.ingest.writers, s.ingest.max_group_records, s.ingest.queue_capacity, s.database_max_connections
            ),
        ),
        ("build".into(), "release (cargo bench), server logging at its default (info, JSON to a file)".into()),
    ]
}
