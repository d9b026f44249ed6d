//! The runs an operator starts by hand: billing (`tally billing run`) and raw usage retention
//! (`tally retention run`), through the same services `tally serve` schedules.

use std::sync::Arc;

use anyhow::Context;

use super::command_line;
use crate::clock::{Clock, SharedClock};
use crate::config::Settings;
use crate::invoice::{Biller, BillingJobs};
use crate::metrics::Metrics;
use crate::plans::SharedCatalog;
use crate::store::{open_store, Store};

/// `tally billing run`: a stored run like the route's (its audit event and progress too), run
/// here in the foreground by the same [`Biller`], without a tenant cache to notify (this
/// process serves no ingest).
pub(super) async fn billing_run(settings: Settings, clock: SharedClock, as_of: Option<&str>) -> anyhow::Result<()> {
    let store = open_store(&settings.database_url(), 4).await?;
    store.refuse_unverified_copy().await?;
    let catalog = crate::plans::sync_plans(&store, &settings.pricing_dir, clock.now()).await?;
    let biller = Biller {
        config: crate::startup::billing_config(&settings),
        catalog: SharedCatalog::new(catalog),
        metrics: Arc::new(Metrics::default()),
        listener: None,
    };
    let as_of = match as_of {
        Some(text) => chrono::DateTime::parse_from_rfc3339(text).context("--as-of must be RFC 3339")?.to_utc(),
        None => clock.now(),
    };
    biller.config.check_as_of(as_of, clock.now())?;
    let jobs = BillingJobs::new(biller, store.clone(), clock);
    let run = jobs.submit(as_of, &command_line()).await.context("Failed to record the billing run")?;
    let report = with_progress(&store, &run.run_id, jobs.execute(&run.run_id))
        .await?
        .context("the billing run was taken by another process")?;
    emit!("{}", serde_json::to_string_pretty(&report)?);
    if report.failures.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("{} tenant(s) failed to bill", report.failures.len())
    }
}

/// Awaits a billing run's `work`, drawing its stored progress (tenants billed of all, saved
/// by the run's heartbeat) as a bar on a terminal; nothing when stderr is not one.
async fn with_progress<T>(store: &Store, run_id: &str, work: impl std::future::Future<Output = T>) -> T {
    let bar = crate::progress::bar(0, "billing", "tenants", true);
    tokio::pin!(work);
    let outcome = loop {
        tokio::select! {
            outcome = &mut work => break outcome,
            () = tokio::time::sleep(std::time::Duration::from_millis(500)) => {
                // A failed read only leaves the bar where it was; the run reports its own errors.
                if let Ok(Some(stored)) = store.get_billing_run(run_id).await {
                    bar.set_length(u64::try_from(stored.progress.tenants_total).unwrap_or(0));
                    bar.set_position(u64::try_from(stored.progress.tenants_done).unwrap_or(0));
                }
            }
        }
    };
    bar.finish_and_clear();
    outcome
}

/// `tally retention run`: partitions ahead, then the raw months retention allows, as
/// `tally serve`'s maintenance does, printed as JSON.
pub(super) async fn retention_run(settings: Settings, clock: &dyn Clock, as_of: Option<&str>) -> anyhow::Result<()> {
    let now = match as_of {
        Some(text) => chrono::DateTime::parse_from_rfc3339(text).context("--as-of must be RFC 3339")?.to_utc(),
        None => clock.now(),
    };
    if now > clock.now() && !settings.allow_time_travel {
        anyhow::bail!("--as-of is in the future; set TALLY_ALLOW_TIME_TRAVEL=1 to allow it");
    }
    let store = open_store(&settings.database_url(), 2).await?;
    let report = crate::startup::maintenance(&settings).run_once(&store, now).await;
    emit!("{}", serde_json::to_string_pretty(&report.context("Failed to apply retention")?)?);
    Ok(())
}
