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
    /// From each request's scheduled tick to its full body (includes the client timer's own
    /// lateness, up to ~1 ms with tokio's millisecond timer); sorted.
    pub latencies: Vec<Duration>,
    /// From the moment each request was handed to the client to its full body; sorted.
    pub from_send: Vec<Duration>,
    pub errors: usize,
    pub elapsed: Duration,
}

impl Checked {
    pub fn quantile(&self, q: f64) -> Duration {
        quantile(&self.latencies, q)
    }

    pub fn send_quantile(&self, q: f64) -> Duration {
        quantile(&self.from_send, q)
    }

    pub fn rate(&self) -> f64 {
        (self.latencies.len() + self.errors) as f64 / self.elapsed.as_secs_f64()
    }
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    let n = sorted.len();
    match n {
        0 => Duration::ZERO,
        _ => sorted[((n as f64 * q).ceil() as usize).clamp(1, n) - 1],
    }
}

/// GETs of `urls` (round robin) at `per_second` for `duration`; each latency runs from the
/// request's scheduled instant to its full body. A pacing thread sleeps to each instant
/// (`nanosleep`, tens of µs late) and hands the request to the runtime: tokio's own timer has
/// a 1 ms resolution, which would add up to a millisecond to every figure.
pub async fn paced_gets(client: Client, urls: &[String], key: &str, per_second: usize, duration: Duration) -> Checked {
    let urls = Arc::new(urls.to_vec());
    let key = Arc::new(key.to_owned());
    let (ticks, mut due) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let started = Instant::now();
    let count = (per_second as f64 * duration.as_secs_f64()) as u32;
    let interval = Duration::from_secs(1) / per_second as u32;
    let pacer = std::thread::spawn(move || {
        for i in 0..count {
            let at = started + interval * i;
            if let Some(wait) = at.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            if ticks.send(at).is_err() {
                return;
            }
        }
    });
    let mut tasks = JoinSet::new();
    let mut next = 0usize;
    while let Some(scheduled) = due.recv().await {
        let (client, urls, key) = (client.clone(), urls.clone(), key.clone());
        let url = next % urls.len();
        next += 1;
        tasks.spawn(async move {
            let sent = Instant::now();
            let ok = match client.get(urls[url].as_str()).bearer_auth(key.as_str()).send().await {
                Ok(response) => response.status() == StatusCode::OK && response.bytes().await.is_ok(),
                Err(_) => false,
            };
            ok.then(|| (scheduled.elapsed(), sent.elapsed()))
        });
    }
    pacer.join().expect("the pacing thread");
    let elapsed = started.elapsed();
    let mut run = Checked { elapsed, ..Default::default() };
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Some((from_tick, from_send))) => {
                run.latencies.push(from_tick);
                run.from_send.push(from_send);
            }
            _ => run.errors += 1,
        }
    }
    run.latencies.sort();
    run.from_send.sort();
    run
}
