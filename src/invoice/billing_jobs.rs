//! Billing runs as jobs (DESIGN §12): `POST /v1/billing/run` stores a queued run and answers
//! 202 at once; the run then proceeds in the background of this process, its progress and
//! its report stored for `GET /v1/billing/runs/{id}`. `tally billing run` stores a run the
//! same way and runs it in the foreground. Either way the work is the one [`Biller`]'s.
//!
//! A process killed mid-run leaves its run `running`; its heartbeat stops, and every
//! `tally serve` marks such runs failed ("abandoned") when it starts and every half minute.
//! They are not resumed: a run's report lives in memory until it ends, so a resumed run could
//! not report what the killed one issued; and nothing is lost by not resuming, since billing
//! is idempotent per period — the next run (the scheduler's, or one an operator asks for)
//! closes exactly the periods the killed run did not, and one that crashed its process is not
//! retried in a loop at every start.
//!
//! Stage: invoice orchestration. Inputs: the store, the biller, the clock; outputs: stored
//! runs. Must not import `api` or `http`.

use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::watch;

use super::{Biller, RunReport};
use crate::clock::SharedClock;
use crate::domain::Actor;
use crate::store::{DbError, RunOutcome, RunProgress, Store, StoredBillingRun};

/// How often a running run's process says it is alive (and stores its progress).
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(2);

/// A queued or running run whose heartbeat is this old is taken for abandoned.
pub const ABANDONED_AFTER: Duration = Duration::from_secs(60);

/// Starts, runs and reaps billing runs.
#[derive(Clone)]
pub struct BillingJobs {
    pub biller: Biller,
    pub store: Store,
    pub clock: SharedClock,
    /// Where background runs go: the runtime that built the service, not an HTTP worker's
    /// (whose runtime stops with the worker).
    runtime: Handle,
}

impl BillingJobs {
    /// Jobs over `store`, run in the background on the current tokio runtime.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn new(biller: Biller, store: Store, clock: SharedClock) -> Self {
        Self { biller, store, clock, runtime: Handle::current() }
    }

    /// Stores a queued run as of `as_of`, requested by `actor` (its audit event too). The
    /// caller checked `as_of` (`BillingConfig::check_as_of`).
    ///
    /// # Errors
    /// A store failure.
    pub async fn submit(
        &self,
        as_of: chrono::DateTime<chrono::Utc>,
        actor: &Actor,
    ) -> Result<StoredBillingRun, DbError> {
        let run_id = format!("run_{}", uuid::Uuid::new_v4().simple());
        self.store.create_billing_run(&run_id, as_of, actor, self.clock.now()).await
    }

    /// Runs a submitted run in the background.
    pub fn start(&self, run_id: &str) {
        let (jobs, run_id) = (self.clone(), run_id.to_owned());
        self.runtime.spawn(async move {
            if let Err(error) = jobs.execute(&run_id).await {
                tracing::error!(run_id, error = ?error, "a billing run could not be recorded");
            }
        });
    }

    /// Runs a submitted run to its end here and now, storing its progress, then its report
    /// (or its error). `Ok(None)` when the run was not queued (another process took it).
    ///
    /// # Errors
    /// When the store cannot record the run's start or end.
    pub async fn execute(&self, run_id: &str) -> anyhow::Result<Option<RunReport>> {
        let Some(run) = self.store.claim_billing_run(run_id, self.clock.now()).await? else {
            return Ok(None);
        };
        let (progress, seen) = watch::channel(RunProgress::default());
        let outcome = tokio::select! {
            outcome = self.biller.run_observed(&self.store, run.as_of, &progress) => outcome,
            never = self.heartbeat(run_id, seen) => match never {},
        };
        let counts = *progress.borrow();
        let now = self.clock.now();
        match outcome {
            Ok(report) => {
                let json = serde_json::to_value(&report)?;
                self.store.finish_billing_run(run_id, RunOutcome::Succeeded(&json), counts, now).await?;
                Ok(Some(report))
            }
            Err(error) => {
                tracing::error!(run_id, error = ?error, "a billing run failed");
                // The outermost context only ("Failed to count tenants"): the cause chain,
                // with the database's own words, goes to the log, not to API clients.
                let why = error.to_string();
                self.store.finish_billing_run(run_id, RunOutcome::Failed(&why), counts, now).await?;
                Err(error)
            }
        }
    }

    /// Stores the run's progress every [`HEARTBEAT_EVERY`], for as long as it is polled.
    async fn heartbeat(&self, run_id: &str, seen: watch::Receiver<RunProgress>) -> std::convert::Infallible {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT_EVERY, HEARTBEAT_EVERY);
        loop {
            ticks.tick().await;
            let progress = *seen.borrow();
            let beat = self.store.billing_run_progress(run_id, progress, self.clock.now());
            if let Err(error) = beat.await {
                tracing::warn!(run_id, error = ?error, "a billing run's heartbeat failed");
            }
        }
    }

    /// Marks failed every queued or running run whose process is gone (no heartbeat for
    /// [`ABANDONED_AFTER`]), once. A server does this before it serves: its "now" is then read
    /// before any run it could be asked to start exists, so it can never judge a run created
    /// after that reading (with a clock that was set back, as tests do, such a run looked a
    /// month stale and was reaped the moment it was queued).
    pub async fn reap_abandoned(&self) {
        let lease = chrono::Duration::from_std(ABANDONED_AFTER).unwrap_or(chrono::Duration::MAX);
        let now = self.clock.now();
        match self.store.abandon_stale_billing_runs(now - lease, now).await {
            Ok(0) => {}
            Ok(reaped) => tracing::warn!(reaped, "billing runs abandoned by a stopped process marked failed"),
            Err(error) => tracing::warn!(error = ?error, "looking for abandoned billing runs failed"),
        }
    }

    /// [`Self::reap_abandoned`] every half of [`ABANDONED_AFTER`], for ever, starting half of
    /// that from now (the server's startup pass went first).
    pub async fn reap_abandoned_every(self) {
        let period = ABANDONED_AFTER / 2;
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            self.reap_abandoned().await;
        }
    }
}
