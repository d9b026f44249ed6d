//! The real service as a separate process: `tally serve` from this build, with its own data
//! directory, a free port, API keys made with `tally api-key create`, tenants made through
//! the API. Also reads its peak RSS and its writer metrics.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, ensure, Context};
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::json;

/// The JWT secret the bench configures (≥ 32 bytes).
const JWT_SECRET: &str = "tally-bench-secret-that-is-long-enough-0123456789";

/// Service settings that the bench may override (`tally.toml`); `None` keeps the default.
#[derive(Debug, Clone, Default)]
pub struct Tuning {
    pub writers: Option<usize>,
    pub max_group_records: Option<usize>,
    pub database_max_connections: Option<u32>,
    pub http_workers: Option<usize>,
    /// `RUST_LOG` of the server; `None` keeps the service default.
    pub log: Option<String>,
    /// Ingest with a JWT (`tally token issue`) rather than an API key.
    pub jwt: bool,
    /// More `tally.toml` text, appended after the settings above (experiments: a whole
    /// `[section]` the bench does not set, e.g. `[lifecycle]` with `maintain_every = "0s"`).
    pub extra_toml: Option<String>,
}

impl Tuning {
    /// The overrides as `tally.toml` text.
    pub fn toml(&self) -> String {
        let mut top = String::new();
        let mut ingest = String::from("[ingest]\n");
        if let Some(n) = self.database_max_connections {
            top.push_str(&format!("database_max_connections = {n}\n"));
        }
        if let Some(n) = self.http_workers {
            top.push_str(&format!("http_workers = {n}\n"));
        }
        if let Some(n) = self.writers {
            ingest.push_str(&format!("writers = {n}\n"));
        }
        if let Some(n) = self.max_group_records {
            ingest.push_str(&format!("max_group_records = {n}\n"));
        }
        let extra = self.extra_toml.as_deref().map_or(String::new(), |text| format!("{text}\n"));
        format!("{top}{ingest}{extra}")
    }
}

/// A running `tally serve`.
pub struct Server {
    child: Child,
    dir: PathBuf,
    database_url: Option<String>,
    pub base: String,
    pub client: reqwest::Client,
    pub ingest_key: String,
    pub admin_key: String,
}

impl Server {
    /// Starts the service on `database_url` (`None`: the embedded SQLite default in `dir`).
    pub async fn start(database_url: Option<&str>, dir: &Path, tuning: &Tuning) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("tally.toml"), tuning.toml())?;
        let port = free_port()?;
        let log = std::fs::File::create(dir.join("server.log"))?;
        let mut command = tally(dir, database_url);
        if let Some(filter) = &tuning.log {
            command.env("RUST_LOG", filter);
        }
        let child = command
            .arg("serve")
            .env("TALLY_LISTEN", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("Failed to start tally serve")?;
        // Idle connections are dropped well before the server's keep-alive (actix: 5 s) closes
        // them: a request sent on a connection the server is closing fails with "connection
        // closed before message completed" (seen once, Dec 5, after a reset between runs that
        // left the pool idle about that long).
        let client =
            reqwest::Client::builder().pool_max_idle_per_host(256).pool_idle_timeout(Duration::from_secs(2)).build()?;
        let mut server = Self {
            child,
            dir: dir.to_owned(),
            database_url: database_url.map(str::to_owned),
            base: format!("http://127.0.0.1:{port}"),
            client,
            ingest_key: String::new(),
            admin_key: String::new(),
        };
        server.wait_ready().await?;
        server.ingest_key = match tuning.jwt {
            true => server.cli(&["token", "issue", "--role", "ingest", "--ttl", "2h"])?,
            false => server.cli(&["api-key", "create", "--role", "ingest"])?,
        };
        server.admin_key = server.cli(&["api-key", "create", "--role", "admin"])?;
        Ok(server)
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        for _ in 0..300 {
            if let Some(status) = self.child.try_wait()? {
                bail!("tally serve exited with {status}; see {}", self.dir.join("server.log").display());
            }
            let ready = self.client.get(format!("{}/readyz", self.base)).send().await;
            if ready.is_ok_and(|r| r.status() == StatusCode::OK) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("tally serve did not become ready within 30 s")
    }

    /// Runs a `tally` CLI command against the same configuration; returns its stdout.
    pub fn cli(&self, args: &[&str]) -> anyhow::Result<String> {
        let output = tally(&self.dir, self.database_url.as_deref()).args(args).output()?;
        ensure!(output.status.success(), "tally {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
        Ok(String::from_utf8(output.stdout)?.trim().to_owned())
    }

    /// Creates tenants through `POST /v1/tenants`.
    pub async fn create_tenants(&self, ids: &[String]) -> anyhow::Result<()> {
        // Sixteen at a time: an experiment's 100 000 tenants are then seconds, not minutes.
        let create = |id: String| {
            let body = json!({ "id": id, "name": format!("Bench {id}"), "timezone": "UTC",
                "billing_email": "billing@example.com" });
            let response =
                self.client.post(format!("{}/v1/tenants", self.base)).bearer_auth(&self.admin_key).json(&body).send();
            async move {
                let status = response.await?.status();
                ensure!(status == StatusCode::CREATED, "creating tenant {id}: {status}");
                Ok::<(), anyhow::Error>(())
            }
        };
        let mut created = futures_util::stream::iter(ids.iter().cloned().map(create)).buffer_unordered(16);
        while let Some(done) = created.next().await {
            done?;
        }
        Ok(())
    }

    /// The writer's histograms so far (group commits, records committed, seconds in commits, the
    /// queue's wait), the pending-rollup fold's and the quota pass's.
    pub async fn writer_totals(&self) -> anyhow::Result<WriterTotals> {
        let text = self.client.get(format!("{}/metrics", self.base)).send().await?.text().await?;
        let value = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<f64>().ok())
                .with_context(|| format!("{name} missing from /metrics"))
        };
        Ok(WriterTotals {
            groups: value("tally_write_batch_records_count")?,
            records: value("tally_write_batch_records_sum")?,
            seconds: value("tally_write_seconds_sum")?,
            requests: value("tally_write_wait_seconds_count")?,
            waited: value("tally_write_wait_seconds_sum")?,
            folds: value("tally_rollup_fold_seconds_count")?,
            folding: value("tally_rollup_fold_seconds_sum")?,
            folded: value("tally_rollup_deltas_folded_total")?,
            quota_passes: value("tally_quota_evaluation_seconds_count")?,
            quota_seconds: value("tally_quota_evaluation_seconds_sum")?,
        })
    }

    /// Peak resident set size so far (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).context("VmHWM missing")?;
        Ok(line.split_whitespace().nth(1).context("VmHWM value")?.parse()?)
    }

    /// Graceful stop (SIGTERM: the service drains its queue), then waits.
    pub fn stop(mut self) -> anyhow::Result<()> {
        Command::new("kill").args(["-TERM", &self.pid().to_string()]).status()?;
        for _ in 0..300 {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("tally serve did not stop within 30 s")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Writer counters read from `/metrics` (floats: they are rates and means, not money).
#[derive(Debug, Clone, Copy, Default)]
pub struct WriterTotals {
    pub groups: f64,
    pub records: f64,
    pub seconds: f64,
    /// Requests the writer took, and their seconds in its queue, summed.
    pub requests: f64,
    pub waited: f64,
    /// Pending-rollup folds (PostgreSQL), their seconds and the deltas they folded, summed.
    pub folds: f64,
    pub folding: f64,
    pub folded: f64,
    /// Quota evaluator passes and their seconds, summed.
    pub quota_passes: f64,
    pub quota_seconds: f64,
}

impl WriterTotals {
    /// What happened between `self` (before) and `after`.
    pub fn until(&self, after: &WriterTotals) -> WriterTotals {
        WriterTotals {
            groups: after.groups - self.groups,
            records: after.records - self.records,
            seconds: after.seconds - self.seconds,
            requests: after.requests - self.requests,
            waited: after.waited - self.waited,
            folds: after.folds - self.folds,
            folding: after.folding - self.folding,
            folded: after.folded - self.folded,
            quota_passes: after.quota_passes - self.quota_passes,
            quota_seconds: after.quota_seconds - self.quota_seconds,
        }
    }
}

/// A `tally` command for this data directory and database, with no stray `TALLY_*` settings.
fn tally(dir: &Path, database_url: Option<&str>) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tally"));
    for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("TALLY_") || n == "RUST_LOG") {
        command.env_remove(name);
    }
    command
        .current_dir(dir)
        .env("TALLY_CONFIG", dir.join("tally.toml"))
        .env("TALLY_DATA_DIR", dir)
        // The plans shipped in the repository: the server runs in its own directory, where
        // `pricing/` (the default) is not, and a tenant on a plan it never loaded fails evaluation.
        .env("TALLY_PRICING_DIR", concat!(env!("CARGO_MANIFEST_DIR"), "/pricing"))
        .env("TALLY_JWT_SECRET", JWT_SECRET);
    if let Some(url) = database_url {
        command.env("TALLY_DATABASE_URL", url);
    }
    command
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}
