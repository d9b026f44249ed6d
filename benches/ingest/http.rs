//! Load generation: `clients` concurrent tasks post pre-built bodies to `POST /v1/usage`
//! until none are left. A 429/503 is retried (and counted); anything else non-200 aborts.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure};
use reqwest::StatusCode;
use serde::Deserialize;

use crate::server::Server;

/// What the server answered, summed over every request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Answered {
    pub accepted: usize,
    pub duplicates: usize,
    pub retries: usize,
}

#[derive(Deserialize)]
struct IngestResult {
    accepted: usize,
    duplicates: usize,
    rejected: usize,
}

/// Posts every body with `clients` concurrent clients; returns the wall time and the tallies.
pub async fn post_all(server: &Server, bodies: Vec<String>, clients: usize) -> anyhow::Result<(Duration, Answered)> {
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    let url = Arc::new(format!("{}/v1/usage", server.base));
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let client = Poster { client: server.client.clone(), url: url.clone(), key: server.ingest_key.clone() };
            tokio::spawn(client.run(bodies.clone(), next.clone()))
        })
        .collect();
    let mut total = Answered::default();
    for task in tasks {
        let part = task.await??;
        total.accepted += part.accepted;
        total.duplicates += part.duplicates;
        total.retries += part.retries;
    }
    Ok((started.elapsed(), total))
}

struct Poster {
    client: reqwest::Client,
    url: Arc<String>,
    key: String,
}

impl Poster {
    async fn run(self, bodies: Arc<Vec<String>>, next: Arc<AtomicUsize>) -> anyhow::Result<Answered> {
        let mut answered = Answered::default();
        loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(body) = bodies.get(index) else { return Ok(answered) };
            let (result, retries) = self.post(body).await?;
            answered.accepted += result.accepted;
            answered.duplicates += result.duplicates;
            answered.retries += retries;
        }
    }

    async fn post(&self, body: &str) -> anyhow::Result<(IngestResult, usize)> {
        for retries in 0..1_000 {
            let response = self
                .client
                .post(self.url.as_str())
                .bearer_auth(&self.key)
                .header("content-type", "application/json")
                .body(body.to_owned())
                .send()
                .await?;
            match response.status() {
                StatusCode::OK => {
                    let result: IngestResult = response.json().await?;
                    ensure!(result.rejected == 0, "the server rejected {} records", result.rejected);
                    return Ok((result, retries));
                }
                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                status => bail!("POST /v1/usage answered {status}: {}", response.text().await.unwrap_or_default()),
            }
        }
        bail!("POST /v1/usage kept answering 429/503")
    }
}
