//! Paced open-loop load on the real server: usage batches at a fixed batch rate, entitlement
//! GETs at a fixed request rate. Each request is spawned at its tick whatever is still in
//! flight (no coordinated omission: a GET's latency counts from its scheduled tick).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use reqwest::{Client, StatusCode};
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;

const REGIONS: [&str; 4] = ["eu-west-1", "us-east-1", "us-west-2", "ap-south-1"];

/// Batch bodies of `batch` unique records (`invocations` 1 each), tenants round robin,
/// timestamps ascending over the last 30 minutes.
pub fn bodies(tenants: &[String], prefix: &str, records: usize, batch: usize) -> Vec<String> {
    let start = Utc::now() - chrono::Duration::minutes(30);
    let span = 1_800_000_000_i64;
    let record = |i: usize| {
        let at = start + chrono::Duration::microseconds(span * i as i64 / records.max(1) as i64);
        format!(
            r#"{{"id":"{prefix}-{i:09}","tenant_id":"{}","timestamp":"{}","function":"fn-{:02}","region":"{}","cpu_cycles":1000000,"memory_gb_seconds":"0.128","invocations":1}}"#,
            tenants[i % tenants.len()],
            at.to_rfc3339_opts(SecondsFormat::Micros, true),
            i % 20,
            REGIONS[i / 20 % REGIONS.len()],
        )
    };
    (0..records.div_ceil(batch))
        .map(|b| {
            let items: Vec<String> = (b * batch..((b + 1) * batch).min(records)).map(record).collect();
            format!(r#"{{"records":[{}]}}"#, items.join(","))
        })
        .collect()
}

/// What a paced ingest run achieved: the instant of each 2xx (in send order of completion).
#[derive(Debug, Default)]
pub struct Ingested {
    pub acks: Vec<Instant>,
    pub errors: usize,
    pub started: Option<Instant>,
    pub finished: Option<Instant>,
}

impl Ingested {
    /// Acknowledged batches per second, first send to last answer.
    pub fn batches_per_second(&self) -> f64 {
        match (self.started, self.finished) {
            (Some(s), Some(f)) => self.acks.len() as f64 / (f - s).as_secs_f64(),
            _ => 0.0,
        }
    }
}

/// Posts `bodies` at `per_second` batches/s (at most `in_flight` at once), stopping after
/// `duration` or when the bodies run out.
pub async fn ingest(
    client: Client,
    url: String,
    key: String,
    bodies: Vec<String>,
    per_second: f64,
    in_flight: usize,
    duration: Duration,
) -> Ingested {
    let (url, key) = (Arc::new(url), Arc::new(key));
    let limit = Arc::new(tokio::sync::Semaphore::new(in_flight));
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / per_second));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for body in bodies {
        ticks.tick().await;
        if started.elapsed() >= duration {
            break;
        }
        let permit = limit.clone().acquire_owned().await.expect("semaphore open");
        let (client, url, key) = (client.clone(), url.clone(), key.clone());
        tasks.spawn(async move {
            let sent = client.post(url.as_str()).bearer_auth(key.as_str()).header("content-type", "application/json");
            let ok = match sent.body(body).send().await {
                Ok(response) => response.status() == StatusCode::OK && response.bytes().await.is_ok(),
                Err(_) => false,
            };
            drop(permit);
            (Instant::now(), ok)
        });
    }
    let mut run = Ingested { started: Some(started), ..Default::default() };
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok((at, true)) => run.acks.push(at),
            _ => run.errors += 1,
        }
    }
    run.acks.sort();
    run.finished = run.acks.last().copied().or(Some(Instant::now()));
    run
}

/// Latencies of a paced entitlement run.
#[derive(Debug, Default)]
pub struct Checked {
    /// Sorted.
    pub latencies: Vec<Duration>,
    pub errors: usize,
    pub elapsed: Duration,
}

impl Checked {
    pub fn quantile(&self, q: f64) -> Duration {
        let n = self.latencies.len();
        match n {
            0 => Duration::ZERO,
            _ => self.latencies[((n as f64 * q).ceil() as usize).clamp(1, n) - 1],
        }
    }

    pub fn rate(&self) -> f64 {
        (self.latencies.len() + self.errors) as f64 / self.elapsed.as_secs_f64()
    }
}

/// `GET /v1/tenants/{id}/entitlements` at `per_second` (ticks of 1 ms, tenants round robin)
/// for `duration`; each latency runs from the request's scheduled tick to its full body.
pub async fn entitlements(
    client: Client,
    base: &str,
    key: &str,
    tenants: &[String],
    per_second: usize,
    duration: Duration,
) -> Checked {
    let urls: Arc<Vec<String>> =
        Arc::new(tenants.iter().map(|t| format!("{base}/v1/tenants/{t}/entitlements")).collect());
    let key = Arc::new(key.to_owned());
    let per_tick = per_second.div_ceil(1_000);
    let mut ticks = tokio::time::interval(Duration::from_micros((1_000_000 * per_tick / per_second) as u64));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    let mut next = 0usize;
    while started.elapsed() < duration {
        let scheduled = ticks.tick().await.into_std();
        for _ in 0..per_tick {
            let (client, urls, key) = (client.clone(), urls.clone(), key.clone());
            let url = next % urls.len();
            next += 1;
            tasks.spawn(async move {
                let ok = match client.get(urls[url].as_str()).bearer_auth(key.as_str()).send().await {
                    Ok(response) => response.status() == StatusCode::OK && response.bytes().await.is_ok(),
                    Err(_) => false,
                };
                ok.then(|| scheduled.elapsed())
            });
        }
    }
    let elapsed = started.elapsed();
    let mut run = Checked { elapsed, ..Default::default() };
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Some(latency)) => run.latencies.push(latency),
            _ => run.errors += 1,
        }
    }
    run.latencies.sort();
    run
}
