//! Billing run benchmark (DESIGN §13, "invoice run near-linear in tenants"): times
//! `BillingRun::run` over 1 000 and 10 000 tenants — each size in a fresh PostgreSQL database —
//! and, in the same run on the same data, the raw SQL that sums the same usage per tenant
//! (`group by tenant_id` over `usage_rollup`, and over `usage_record` for reference). A smaller
//! SQLite run is kept for the record. Every invoice total is checked against the workload
//! priced by hand.
//!
//! Each size is billed twice, each time in a fresh database: in pages of
//! `tally::invoice::BILLING_PAGE` tenants (the run as shipped) and, as the same-run baseline,
//! tenant by tenant (page size 1: the reads and the one-invoice transaction of the run before
//! pages) — the baseline only up to `TALLY_BENCH_BASELINE_MAX` tenants, as it is slow.
//!
//! Run: `cargo bench --bench billing`. Environment: `TALLY_BENCH_PG` (default
//! `postgres://postgres@127.0.0.1:5432`), `TALLY_BENCH_TENANTS` (default `1000,10000`),
//! `TALLY_BENCH_SQLITE_TENANTS` (default `10000`; `0` skips SQLite),
//! `TALLY_BENCH_BASELINE_MAX` (default `10000`), `TALLY_BENCH_CITUS` (a Citus
//! coordinator, e.g. `postgres://postgres@127.0.0.1:9700`: each size is measured there too,
//! right after PostgreSQL, in pages, and the ratio printed).
//!
//! Each measurement then bills a second month on the same store: November's usage for every
//! tenant and late October usage for a tenth of them are stored (untimed), and the run that
//! closes November — re-rating every tenant's October, as a real month-end does — is timed and
//! checked the same way, adjustment lines included. The first month is its same-run baseline.
//!
//! Between the two months, overdue reminders: as of a day after October's invoices fell due,
//! the run with reminders off (which closes nothing) and then with reminders on, which
//! reminds every tenant of its October invoice; checked once each, with an outbox event each.

#[path = "billing/breakdown.rs"]
mod breakdown;
#[path = "shared/citus_db.rs"]
mod citus_db;
#[path = "billing/cpu.rs"]
mod cpu;
#[path = "billing/postgres.rs"]
mod postgres;
#[path = "billing/scenario.rs"]
mod scenario;
#[path = "billing/sqlite.rs"]
mod sqlite;
#[path = "billing/timed_store.rs"]
mod timed_store;
#[path = "billing/workload.rs"]
mod workload;

use std::process::Command;

use sqlx::{Connection, PgConnection};

/// One measured size on one engine.
pub struct Outcome {
    pub engine: &'static str,
    pub tenants: usize,
    /// Tenants billed together (1: tenant by tenant, the baseline).
    pub page_size: usize,
    pub setup: f64,
    pub billed: scenario::Billed,
    pub cpu: cpu::Split,
    /// Median seconds of the `group by tenant_id` sums over rollups and raw records.
    pub rollup_sql: f64,
    pub record_sql: f64,
    /// The rollup sums one tenant per statement, one round trip each.
    pub per_tenant_sql: f64,
    /// The same through a pool that pings each connection it hands out (sqlx's default).
    pub per_tenant_pinged_sql: Option<f64>,
    /// One single-row insert committed per tenant: the durable-commit floor.
    pub commit_floor: f64,
    pub transactions_per_tenant: Option<f64>,
    pub rows_written_per_tenant: Option<f64>,
    /// The run that closes the second month on the same store.
    pub second: Option<Second>,
    /// A run reminding every tenant of its October invoice, beside one with reminders off.
    pub reminded: Option<scenario::Reminded>,
}

/// The second month: every tenant's November closed and its October re-rated (adjusted for the
/// tenth of tenants with late October usage), timed like the first.
pub struct Second {
    /// Storing November's usage and the late records (untimed).
    pub setup: f64,
    pub billed: scenario::Billed,
    pub cpu: cpu::Split,
    pub transactions_per_tenant: Option<f64>,
    pub rows_written_per_tenant: Option<f64>,
    /// October's billed lines on November's invoices, (count, Σ), checked against the
    /// hand-priced adjustments (PostgreSQL).
    pub adjustments: Option<(i64, rust_decimal::Decimal)>,
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn uptime() -> String {
    Command::new("uptime").output().map_or_else(
        |_| std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim().to_owned(),
        |o| String::from_utf8_lossy(&o.stdout).trim().to_owned(),
    )
}

async fn machine(server: &str) -> anyhow::Result<Vec<String>> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model =
        cpuinfo.lines().find_map(|l| l.strip_prefix("model name")).map(|m| m.trim_start_matches([' ', '\t', ':']));
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mut db = PgConnection::connect(&format!("{server}/postgres")).await?;
    let (version,): (String,) = sqlx::query_as("select version()").fetch_one(&mut db).await?;
    let mut settings = Vec::new();
    for name in ["shared_buffers", "synchronous_commit", "fsync", "wal_level", "max_wal_size", "checkpoint_timeout"] {
        let (value,): (String,) = sqlx::query_as("select current_setting($1)").bind(name).fetch_one(&mut db).await?;
        settings.push(format!("{name}={value}"));
    }
    Ok(vec![
        format!("cores: {cores}, CPU: {}", model.unwrap_or("unknown")),
        format!("PostgreSQL: {version}"),
        format!("PostgreSQL settings: {}", settings.join(", ")),
    ])
}

fn row(o: &Outcome) -> String {
    let run = o.billed.seconds;
    let n = o.tenants as f64;
    let c = &o.cpu;
    let opt = |v: Option<f64>| v.map_or_else(|| "–".to_owned(), |v| format!("{v:.1}"));
    format!(
        "| {} | {} | {} | {:.2} | {:.0} | {:.2} | {:.4} | {:.0}× | {:.4} | {:.0}× | {:.2} | {} | {:.2} | {:.1} / {:.1} / {:.1} / {:.1} | {} | {} |",
        o.engine,
        o.tenants,
        o.page_size,
        run,
        n / run,
        1_000.0 * run / n,
        o.rollup_sql,
        run / o.rollup_sql,
        o.record_sql,
        run / o.record_sql,
        o.per_tenant_sql,
        o.per_tenant_pinged_sql.map_or_else(|| "–".to_owned(), |v| format!("{v:.2}")),
        o.commit_floor,
        c.own,
        c.postgres,
        c.other,
        c.idle,
        opt(o.transactions_per_tenant),
        opt(o.rows_written_per_tenant),
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let server = env_or("TALLY_BENCH_PG", "postgres://postgres@127.0.0.1:5432");
    let sizes: Vec<usize> =
        env_or("TALLY_BENCH_TENANTS", "1000,10000").split(',').map(|s| s.trim().parse()).collect::<Result<_, _>>()?;
    let sqlite_tenants: usize = env_or("TALLY_BENCH_SQLITE_TENANTS", "10000").parse()?;
    let baseline_max: usize = env_or("TALLY_BENCH_BASELINE_MAX", "10000").parse()?;
    let page = tally::invoice::BILLING_PAGE;
    let pages = |tenants: usize| if tenants <= baseline_max { vec![page, 1] } else { vec![page] };
    let citus = std::env::var("TALLY_BENCH_CITUS").ok();
    let load_before = uptime();
    let mut machine = machine(&server).await?;
    if let Some(coordinator) = &citus {
        machine.push(citus_db::describe(coordinator).await?);
    }
    let mut outcomes = Vec::new();
    for &tenants in &sizes {
        for page_size in pages(tenants) {
            eprintln!("PostgreSQL, {tenants} tenants, pages of {page_size}… ({})", uptime());
            outcomes.push(postgres::measure(&server, "PostgreSQL", tenants, page_size).await?);
        }
        if let Some(coordinator) = &citus {
            eprintln!("Citus, {tenants} tenants, pages of {page}… ({})", uptime());
            outcomes.push(postgres::measure(coordinator, "Citus", tenants, page).await?);
        }
    }
    if sqlite_tenants > 0 {
        for page_size in pages(sqlite_tenants) {
            eprintln!("SQLite, {sqlite_tenants} tenants, pages of {page_size}… ({})", uptime());
            outcomes.push(sqlite::measure(sqlite_tenants, page_size).await?);
        }
    }
    println!(
        "billing run: {} records and {} rollup rows per tenant, plan payg, tax 0 / 8.875 % alternating",
        workload::RECORDS_PER_TENANT,
        workload::ROLLUPS_PER_TENANT
    );
    for line in &machine {
        println!("- {line}");
    }
    println!("- load before: {load_before}\n- load after: {}\n", uptime());
    println!("| engine | tenants | page | run s | tenants/s | ms/tenant | rollup SQL s | run ÷ rollup SQL | record SQL s | run ÷ record SQL | per-tenant SQL s | same, pinged pool s | N commits s | CPU-s run / postgres / other / idle | xacts/tenant | rows written/tenant |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|");
    for o in &outcomes {
        println!("{}", row(o));
    }
    println!();
    for o in &outcomes {
        println!(
            "{} {} (pages of {}): {} invoices, numbers gapless, Σ totals {} (equal to the hand-priced workload); setup {:.1} s (untimed)",
            o.engine, o.tenants, o.page_size, o.billed.invoices, o.billed.total, o.setup
        );
    }
    second_month(&outcomes);
    reminders(&outcomes);
    for o in &outcomes {
        breakdown::print(o, "month 1", &o.billed);
        if let Some(second) = &o.second {
            breakdown::print(o, "month 2", &second.billed);
        }
    }
    for o in &outcomes {
        let baseline = outcomes.iter().find(|b| b.engine == o.engine && b.tenants == o.tenants && b.page_size == 1);
        if let Some(b) = baseline.filter(|_| o.page_size > 1) {
            println!(
                "{} {} tenants: pages of {} take {:.2} s, tenant by tenant {:.2} s: {:.1}× faster",
                o.engine,
                o.tenants,
                o.page_size,
                o.billed.seconds,
                b.billed.seconds,
                b.billed.seconds / o.billed.seconds
            );
        }
    }
    for citus in outcomes.iter().filter(|o| o.engine == "Citus") {
        let same =
            |o: &&Outcome| o.engine == "PostgreSQL" && o.tenants == citus.tenants && o.page_size == citus.page_size;
        let Some(pg) = outcomes.iter().find(same) else { continue };
        println!(
            "Citus ÷ PostgreSQL, {} tenants: billing run {:.2}× the time, per-tenant SQL {:.2}×, CPU-s of the database processes {:.2}×",
            pg.tenants,
            citus.billed.seconds / pg.billed.seconds,
            citus.per_tenant_sql / pg.per_tenant_sql,
            citus.cpu.postgres / pg.cpu.postgres,
        );
    }
    let pg: Vec<&Outcome> = outcomes.iter().filter(|o| o.engine == "PostgreSQL" && o.page_size > 1).collect();
    for pair in pg.windows(2) {
        let (small, large) = (pair[0], pair[1]);
        println!(
            "scaling {} → {} tenants ({:.0}× tenants): billing run {:.2}×, rollup SQL {:.2}×, record SQL {:.2}×",
            small.tenants,
            large.tenants,
            large.tenants as f64 / small.tenants as f64,
            large.billed.seconds / small.billed.seconds,
            large.rollup_sql / small.rollup_sql,
            large.record_sql / small.record_sql,
        );
    }
    for pair in pg.windows(2) {
        let (Some(small), Some(large)) = (&pair[0].second, &pair[1].second) else { continue };
        println!(
            "scaling, month 2, {} → {} tenants: billing run {:.2}×",
            pair[0].tenants,
            pair[1].tenants,
            large.billed.seconds / small.billed.seconds
        );
    }
    Ok(())
}

/// The overdue reminders beside the same run with reminders off.
fn reminders(outcomes: &[Outcome]) {
    println!("\nOverdue reminders (every tenant's October invoice a day past due, reminded at once):\n");
    println!("| engine | tenants | page | run, reminders off s | run, reminders on s | reminded | reminders/s of the difference |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for o in outcomes {
        let Some(r) = &o.reminded else { continue };
        println!(
            "| {} | {} | {} | {:.2} | {:.2} | {} | {:.0} |",
            o.engine,
            o.tenants,
            o.page_size,
            r.baseline,
            r.seconds,
            r.reminded,
            r.reminded as f64 / (r.seconds - r.baseline).max(1e-9)
        );
    }
    println!("\nEach checked: every tenant reminded exactly once, an `invoice.overdue` outbox event each, a rerun reminds of nothing.");
}

/// The second month beside the first, per tenant, and its checks.
fn second_month(outcomes: &[Outcome]) {
    let opt = |v: Option<f64>| v.map_or_else(|| "–".to_owned(), |v| format!("{v:.1}"));
    println!("\nSecond month (November closed, every October re-rated, a tenth adjusted):\n");
    println!("| engine | tenants | page | month 1 run s | month 2 run s | month 2 tenants/s | month 1 ms/tenant | month 2 ms/tenant | month 2 ÷ month 1 | CPU-s run / postgres / other / idle | xacts/tenant | rows written/tenant |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|");
    for o in outcomes {
        let Some(s) = &o.second else { continue };
        let (first, second, n) = (o.billed.seconds, s.billed.seconds, o.tenants as f64);
        let c = &s.cpu;
        println!(
            "| {} | {} | {} | {first:.2} | {second:.2} | {:.0} | {:.3} | {:.3} | {:.2}× | {:.1} / {:.1} / {:.1} / {:.1} | {} | {} |",
            o.engine,
            o.tenants,
            o.page_size,
            n / second,
            1_000.0 * first / n,
            1_000.0 * second / n,
            second / first,
            c.own,
            c.postgres,
            c.other,
            c.idle,
            opt(s.transactions_per_tenant),
            opt(s.rows_written_per_tenant),
        );
    }
    println!();
    for o in outcomes {
        let Some(s) = &o.second else { continue };
        let adjusted = s.adjustments.map_or_else(String::new, |(count, sum)| {
            format!(", {count} adjustment lines Σ {sum} (equal to the hand-priced ones)")
        });
        println!(
            "{} {} (pages of {}), month 2: {} invoices, numbers gapless after month 1's, Σ totals {} (equal to the hand-priced workload), {} tenants with late usage{adjusted}; setup {:.1} s (untimed)",
            o.engine,
            o.tenants,
            o.page_size,
            s.billed.invoices,
            s.billed.total,
            workload::late_tenants(o.tenants),
            s.setup
        );
    }
}
