//! Drives the demo: an in-process `tally` on the configured store, a clock walked from the
//! first of last month to now, every record through `POST /v1/usage`, the month closed with
//! `POST /v1/billing/run`, the outbox delivered, quotas evaluated.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{ensure, Context};
use chrono::{DateTime, Datelike, Duration, DurationRound, TimeZone, Utc};
use futures_util::future::join_all;
use indicatif::ProgressBar;
use serde_json::{json, Value};

use super::profiles::{Profile, PROFILES};
use super::workload::{records, DemoRecord};
use crate::auth::{issue_api_key, key_id_of, Principal, Role};
use crate::clock::ManualClock;
use crate::config::Settings;
use crate::plans::{sync_plans, SharedCatalog};
use crate::startup::{quota_evaluator, Application};
use crate::store::{open_store, Store};

/// Records per `POST /v1/usage`, and requests in flight.
const BATCH: usize = 1_000;
const IN_FLIGHT: usize = 4;

/// What the demo may vary.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// The instant the demo ends at (the wall clock for `tally demo`; fixed in tests).
    pub now: DateTime<Utc>,
    /// Minutes per record and bucket (15: the service's own bucket).
    pub bucket_minutes: i64,
    /// Draw a progress bar on stderr (hidden anyway when stderr is not a terminal).
    pub progress: bool,
}

/// What the demo did, for the command to print.
#[derive(Debug)]
pub struct DemoReport {
    pub records_sent: u64,
    pub accepted: u64,
    pub duplicates: u64,
    pub tenants: Vec<TenantSummary>,
    /// Where the `.eml` files are (no SMTP configured), and how many there are.
    pub outbox_dir: PathBuf,
    pub emails: usize,
    pub public_url: String,
}

/// One demo tenant after the run.
#[derive(Debug)]
pub struct TenantSummary {
    pub id: String,
    pub plan: String,
    /// Last month's invoice: number and total, when the month is closed.
    pub invoice: Option<(String, String)>,
    /// This month so far, as `usage/current` says.
    pub so_far: String,
}

/// Runs the demo against the store `settings` name (the embedded SQLite by default).
///
/// # Errors
/// When the store cannot be opened or the service answers unexpectedly.
pub async fn run_demo(mut settings: Settings, options: DemoOptions) -> anyhow::Result<DemoReport> {
    let now = options.now;
    let this_month = Utc.with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0).single().context("month start")?;
    let last_month = (this_month - Duration::days(1)).with_day(1).context("last month")?;
    // Links in emails point where `tally serve` will listen, not at this run's free port.
    let public_url = settings.public_url.clone().unwrap_or_else(|| format!("http://{}", settings.listen));
    settings.public_url = Some(public_url.clone());
    settings.listen = "127.0.0.1:0".into();
    settings.billing.schedule_every = std::time::Duration::ZERO;
    settings.notify.poll_every = std::time::Duration::ZERO;
    settings.quota.evaluate_every = std::time::Duration::ZERO;
    let store = open_store(&settings.database_url(), 8).await?;
    // Each tenant begins at the start of last month in its own time zone: one whole period.
    let starts: Vec<DateTime<Utc>> =
        PROFILES.iter().map(|p| p.month_start(last_month.year(), last_month.month())).collect();
    let first = starts.iter().min().copied().unwrap_or(last_month);
    let clock = ManualClock::new(first);
    let app = Application::build_with_store(settings.clone(), store.clone(), Arc::new(clock.clone())).await?;
    let demo = Demo::start(&store, &app, clock, first, starts).await?;
    let dispatcher = app.dispatcher();
    let stop = app.stop_handle();
    let served = tokio::spawn(app.run_until_stopped());

    let bar = progress_bar(&options, first, now);
    let mut sent = Sent::default();
    demo.create_tenants().await?;
    // Last month, day by day, then closed a few hours into this month (every tenant's time
    // zone has ended it by then, grace included) and its invoices emailed.
    sent += demo.send_days(first, this_month, options.bucket_minutes, &bar).await?;
    let catalog = SharedCatalog::new(sync_plans(&store, &settings.pricing_dir, last_month).await?);
    let evaluator = quota_evaluator(&settings, &store, &catalog, &Arc::default());
    evaluator.evaluate_quotas(this_month - Duration::seconds(1)).await?;
    let close_at = (this_month + Duration::hours(8)).min(now);
    demo.clock.set(close_at);
    demo.post("/v1/billing/run", &json!({})).await?;
    dispatcher.dispatch_due(close_at).await?;
    // This month up to now, then the alerts and emails of today.
    sent += demo.send_days(this_month, now, options.bucket_minutes, &bar).await?;
    demo.clock.set(now);
    evaluator.evaluate_quotas(now).await?;
    dispatcher.dispatch_due(now).await?;
    bar.finish_and_clear();

    let tenants = demo.summaries().await?;
    demo.revoke_keys(now).await?;
    stop.stop(true).await;
    served.await.context("the demo server")??;
    let outbox_dir = settings.data_dir.join("outbox");
    let emails = std::fs::read_dir(&outbox_dir).map(|d| d.count()).unwrap_or(0);
    Ok(DemoReport {
        records_sent: sent.records,
        accepted: sent.accepted,
        duplicates: sent.duplicates,
        tenants,
        outbox_dir,
        emails,
        public_url,
    })
}

fn progress_bar(options: &DemoOptions, from: DateTime<Utc>, to: DateTime<Utc>) -> ProgressBar {
    let days = (to - from).num_days().max(1) as u64 + 1;
    crate::progress::bar(days, "sending usage", "days", options.progress)
}

/// Records sent and what the service said of them.
#[derive(Debug, Default, Clone, Copy)]
struct Sent {
    records: u64,
    accepted: u64,
    duplicates: u64,
}

impl std::ops::AddAssign for Sent {
    fn add_assign(&mut self, other: Self) {
        self.records += other.records;
        self.accepted += other.accepted;
        self.duplicates += other.duplicates;
    }
}

/// The running demo: its server's address, its keys, its clock.
struct Demo {
    base: String,
    client: reqwest::Client,
    admin_key: String,
    ingest_key: String,
    store: Store,
    clock: ManualClock,
    /// Where each of `PROFILES` begins (created, first usage).
    starts: Vec<DateTime<Utc>>,
}

impl Demo {
    /// Keys of its own for this run (revoked at the end: nobody else ever sees them).
    async fn start(
        store: &Store,
        app: &Application,
        clock: ManualClock,
        now: DateTime<Utc>,
        starts: Vec<DateTime<Utc>>,
    ) -> anyhow::Result<Self> {
        let admin = Principal::new(Role::Admin, None, "tally-demo")?;
        let ingest = Principal::new(Role::Ingest, None, "tally-demo")?;
        Ok(Self {
            base: format!("http://127.0.0.1:{}", app.port()),
            client: reqwest::Client::new(),
            admin_key: issue_api_key(store, &admin, now).await?,
            ingest_key: issue_api_key(store, &ingest, now).await?,
            store: store.clone(),
            clock,
            starts,
        })
    }

    /// Creates each tenant with the clock at its start, earliest first (the clock only moves on).
    async fn create_tenants(&self) -> anyhow::Result<()> {
        let mut order: Vec<(&Profile, DateTime<Utc>)> = PROFILES.iter().zip(self.starts.iter().copied()).collect();
        order.sort_by_key(|(_, start)| *start);
        for (p, start) in order {
            self.clock.set(start);
            let body = json!({ "id": p.id, "name": p.name, "timezone": p.timezone, "plan": p.plan,
                "billing_emails": [p.billing_email] });
            let response = self.request(reqwest::Method::POST, "/v1/tenants", &self.admin_key, Some(&body)).await?;
            // A second run finds its tenants already there and goes on with them.
            ensure!(matches!(response.0, 201 | 409), "creating {}: {} {}", p.id, response.0, response.1);
        }
        Ok(())
    }

    /// Sends each day's records with the clock at the end of that day (or at `to`).
    async fn send_days(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        minutes: i64,
        bar: &ProgressBar,
    ) -> anyhow::Result<Sent> {
        let mut sent = Sent::default();
        let mut day = from;
        let last_bucket = to.duration_trunc(Duration::minutes(minutes)).unwrap_or(to);
        while day < last_bucket {
            let end = (day + Duration::days(1)).min(last_bucket);
            self.clock.set(end);
            let records: Vec<DemoRecord> = PROFILES
                .iter()
                .zip(&self.starts)
                .flat_map(|(p, start)| records(p, day.max(*start), end, minutes))
                .collect();
            sent += self.send(&records).await?;
            bar.set_message(day.format("%b %d").to_string());
            bar.inc(1);
            day = end;
        }
        Ok(sent)
    }

    async fn send(&self, records: &[DemoRecord]) -> anyhow::Result<Sent> {
        let mut sent = Sent::default();
        for wave in records.chunks(BATCH * IN_FLIGHT) {
            let posts = wave.chunks(BATCH).map(|batch| async move {
                let body = json!({ "records": batch });
                self.request(reqwest::Method::POST, "/v1/usage", &self.ingest_key, Some(&body)).await
            });
            for (batch, answer) in wave.chunks(BATCH).zip(join_all(posts).await) {
                let (status, body) = answer?;
                ensure!(status == 200, "POST /v1/usage answered {status}: {body}");
                sent += Sent {
                    records: batch.len() as u64,
                    accepted: body["accepted"].as_u64().unwrap_or(0),
                    duplicates: body["duplicates"].as_u64().unwrap_or(0),
                };
            }
        }
        Ok(sent)
    }

    async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let (status, answer) = self.request(reqwest::Method::POST, path, &self.admin_key, Some(body)).await?;
        ensure!((200..300).contains(&status), "POST {path} answered {status}: {answer}");
        Ok(answer)
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let (status, answer) = self.request(reqwest::Method::GET, path, &self.admin_key, None).await?;
        ensure!(status == 200, "GET {path} answered {status}: {answer}");
        Ok(answer)
    }

    async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        key: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = self.client.request(method, format!("{}{path}", self.base)).bearer_auth(key);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.with_context(|| format!("calling {path}"))?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    async fn summaries(&self) -> anyhow::Result<Vec<TenantSummary>> {
        let mut out = Vec::new();
        for p in PROFILES.iter() {
            let invoices = self.get(&format!("/v1/tenants/{}/invoices", p.id)).await?;
            let invoice = invoices["data"].as_array().and_then(|list| list.first()).map(|i| {
                let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
                (text(&i["number"]), format!("{} {}", text(&i["total"]), text(&i["currency"])))
            });
            let current = self.get(&format!("/v1/tenants/{}/usage/current", p.id)).await?;
            let so_far = &current["amount_so_far"];
            let so_far =
                format!("{} {}", so_far["total"].as_str().unwrap_or("0"), so_far["currency"].as_str().unwrap_or(""));
            out.push(TenantSummary {
                id: p.id.clone(),
                plan: p.plan.clone(),
                invoice,
                so_far: so_far.trim().to_owned(),
            });
        }
        Ok(out)
    }

    async fn revoke_keys(&self, now: DateTime<Utc>) -> anyhow::Result<()> {
        for key in [&self.admin_key, &self.ingest_key] {
            self.store.revoke_api_key(&key_id_of(key), now).await?;
        }
        Ok(())
    }
}
