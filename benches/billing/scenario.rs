//! Engine-independent steps: fill a fresh store through the `Store` interface (untimed), then
//! time `BillingRun::run` and check every invoice against the hand-priced workload; then the
//! second month: store November's usage and the late October records (untimed), and time the
//! run that closes November.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use chrono::{DateTime, Utc};
use futures_util::{StreamExt, TryStreamExt};
use rust_decimal::Decimal;
use tally::config::Settings;
use tally::domain::{Actor, NewUsageRecord, SubscriptionChange};
use tally::plans::{load_catalog, sync_plans};
use tally::startup::billing_config;
use tally::store::{InsertOutcome, Store};

use crate::timed_store::{Call, StoreCalls};
use crate::workload::{self, at};

/// Concurrent setup requests (setup is untimed; this only shortens the wait).
const SETUP_CONCURRENCY: usize = 8;
/// Records per `insert_usage` call.
const USAGE_BATCH: usize = 10_000;

/// Plans, tenants, subscriptions and usage for `tenants` tenants.
pub async fn fill(store: &Store, tenants: usize) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let now = at(2026, 9, 15, 0);
    sync_plans(store, Path::new("pricing"), now).await?;
    futures_util::stream::iter(0..tenants)
        .map(|i| async move {
            store
                .create_tenant(&workload::new_tenant(i), now, &Actor::command_line("bench"))
                .await
                .context("Failed to create a tenant")?;
            let change = SubscriptionChange::to_plan(workload::period().0, workload::PLAN);
            store
                .change_subscription(&workload::tenant_id(i), &change, now, &Actor::command_line("bench"))
                .await
                .context("Failed to subscribe")
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .try_collect::<()>()
        .await?;
    store_usage(store, tenants, workload::records, at(2026, 11, 1, 6)).await?;
    Ok(started.elapsed())
}

/// After the first month is billed: November's usage and the late October records (untimed).
pub async fn fill_second(store: &Store, tenants: usize) -> anyhow::Result<Duration> {
    let started = Instant::now();
    store_usage(store, tenants, workload::second_records, at(2026, 12, 1, 6)).await?;
    Ok(started.elapsed())
}

/// Stores `records(i)` of every tenant, ingested at `ingested_at`, and folds the rollups.
async fn store_usage(
    store: &Store,
    tenants: usize,
    records: fn(usize) -> Vec<NewUsageRecord>,
    ingested_at: DateTime<Utc>,
) -> anyhow::Result<()> {
    let per_batch = USAGE_BATCH / workload::RECORDS_PER_TENANT;
    for first in (0..tenants).step_by(per_batch) {
        let batch: Vec<_> = (first..tenants.min(first + per_batch)).flat_map(records).collect();
        let outcomes = store.insert_usage(&batch, ingested_at).await.context("Failed to insert usage")?;
        ensure!(outcomes.iter().all(|o| matches!(o, InsertOutcome::Inserted)), "every record is new");
    }
    // On PostgreSQL the deltas wait in `usage_rollup_pending` until `tally serve`'s fold, which
    // does not run here; the baselines read `usage_rollup` alone, as a fold leaves it.
    store.fold_pending_rollups().await.context("Failed to fold the pending rollup deltas")?;
    Ok(())
}

/// What the timed run did, checked.
pub struct Billed {
    pub seconds: f64,
    /// Store calls made by the run, by method.
    pub calls: Vec<Call>,
    pub invoices: usize,
    pub total: Decimal,
}

/// Times the run that closes October, see [`bill_month`].
pub async fn bill(store: &Store, tenants: usize, page_size: usize) -> anyhow::Result<Billed> {
    bill_month(store, tenants, page_size, Month::October).await
}

/// The month a timed run closes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Month {
    /// The first invoice of every tenant.
    October,
    /// The second, which re-rates October (adjusting it for the tenants with late usage).
    November,
}

/// Times one billing run over every tenant, `page_size` tenants at a time (1: tenant by
/// tenant, the run before pages), logging each store call, and checks: exactly one invoice per
/// tenant, no failures or skips, each total equal to the hand-priced one, numbers gapless
/// (November's follow October's: one counter per year).
pub async fn bill_month(store: &Store, tenants: usize, page_size: usize, month: Month) -> anyhow::Result<Billed> {
    let (as_of, expected_total, first_number): (_, fn(usize) -> Decimal, _) = match month {
        Month::October => (workload::as_of(), workload::expected_total, 1),
        Month::November => (workload::second_as_of(), workload::expected_second_total, tenants + 1),
    };
    let config = billing_config(&Settings::default());
    let catalog = load_catalog(store).await?;
    let mut run = config.run(store, &catalog);
    run.page_size = page_size;
    let calls = StoreCalls::global();
    calls.take();
    let started = Instant::now();
    let report = run.run(as_of).await?;
    let seconds = started.elapsed().as_secs_f64();
    let calls = calls.take();
    ensure!(report.failures.is_empty(), "failures: {:?}", &report.failures[..report.failures.len().min(3)]);
    ensure!(report.skipped == 0, "{} periods skipped", report.skipped);
    ensure!(report.invoices_issued.len() == tenants, "{} invoices for {tenants} tenants", report.invoices_issued.len());
    let mut numbers: Vec<&str> = report.invoices_issued.iter().map(|i| i.number.as_str()).collect();
    numbers.sort_unstable();
    let gapless: Vec<String> = (first_number..first_number + tenants).map(|n| format!("INV-2026-{n:06}")).collect();
    ensure!(numbers.iter().copied().eq(gapless.iter().map(String::as_str)), "invoice numbers are not gapless");
    let mut totals: HashMap<&str, Decimal> = HashMap::with_capacity(tenants);
    for invoice in &report.invoices_issued {
        let tenant = invoice.invoice_id.tenant().as_str();
        ensure!(totals.insert(tenant, invoice.total.amount).is_none(), "two invoices for {tenant}");
    }
    let mut expected_sum = Decimal::ZERO;
    for i in 0..tenants {
        let expected = expected_total(i);
        let id = workload::tenant_id(i);
        let got = totals.get(id.as_str()).with_context(|| format!("no invoice for {id}"))?;
        ensure!(*got == expected, "{id}: invoiced {got}, priced by hand {expected}");
        expected_sum += expected;
    }
    let total: Decimal = totals.values().sum();
    ensure!(total == expected_sum, "Σ invoiced {total} ≠ Σ priced by hand {expected_sum}");
    Ok(Billed { seconds, calls, invoices: report.invoices_issued.len(), total })
}

/// Reminding every tenant of its unpaid October invoice, beside the same run with reminders
/// off (which passes every tenant and closes nothing either: only the reminder step differs).
pub struct Reminded {
    pub baseline: f64,
    pub seconds: f64,
    pub reminded: usize,
}

/// As of a day after October's invoices fell due: the run with reminders off (the baseline),
/// then the same run with reminders on (at the due date), timed; checked: every tenant reminded
/// exactly once, nothing else issued, and a third run reminds of nothing.
pub async fn remind(store: &Store, tenants: usize) -> anyhow::Result<Reminded> {
    let as_of = workload::as_of() + chrono::Duration::days(15);
    let catalog = load_catalog(store).await?;
    let mut config = billing_config(&Settings::default());
    let started = Instant::now();
    let off = config.run(store, &catalog).run(as_of).await?;
    let baseline = started.elapsed().as_secs_f64();
    ensure!(off.invoices_issued.is_empty() && off.invoices_reminded.is_empty(), "the baseline issued or reminded");
    config.overdue_reminder = Some(chrono::Duration::zero());
    let started = Instant::now();
    let on = config.run(store, &catalog).run(as_of).await?;
    let seconds = started.elapsed().as_secs_f64();
    ensure!(on.failures.is_empty() && on.invoices_issued.is_empty(), "failures: {:?}", on.failures);
    let mut reminded: Vec<&str> = on.invoices_reminded.iter().map(|i| i.invoice_id.tenant().as_str()).collect();
    reminded.sort_unstable();
    reminded.dedup();
    ensure!(reminded.len() == tenants && on.invoices_reminded.len() == tenants, "{} reminded", reminded.len());
    let again = config.run(store, &catalog).run(as_of).await?;
    ensure!(again.invoices_reminded.is_empty(), "{} reminded twice", again.invoices_reminded.len());
    Ok(Reminded { baseline, seconds, reminded: on.invoices_reminded.len() })
}

/// Per-tenant sums a baseline query returned: (tenant, invocations, memory, cpu).
pub type Sums = Vec<(String, Decimal, Decimal, Decimal)>;

/// Checks a baseline's per-tenant sums against the workload (memory within `memory_slack`,
/// for SQLite's float sum of decimal text).
pub fn check_sums(sums: &Sums, tenants: usize, memory_slack: Decimal) -> anyhow::Result<()> {
    ensure!(sums.len() == tenants, "{} groups for {tenants} tenants", sums.len());
    let by_id: HashMap<String, usize> = (0..tenants).map(|i| (workload::tenant_id(i).as_str().to_owned(), i)).collect();
    for (tenant, invocations, memory, cpu) in sums {
        let i = *by_id.get(tenant.as_str()).with_context(|| format!("unknown tenant {tenant}"))?;
        let q = workload::usage(i);
        ensure!(*invocations == q.invocations && *cpu == q.cpu_cycles, "{tenant}: integer meters differ");
        ensure!((*memory - q.memory_gb_seconds).abs() <= memory_slack, "{tenant}: memory {memory}");
    }
    Ok(())
}

/// The middle of a few timings, in seconds.
pub fn median(mut seconds: Vec<f64>) -> f64 {
    seconds.sort_by(f64::total_cmp);
    seconds[seconds.len() / 2]
}
