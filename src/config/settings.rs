//! The settings' shape: every setting of the service and the CLI, typed and nested, with its
//! default in code and how its text reads (durations like `90s`, a retention or `forever`).
//! Loading them (`tally.toml`, then the `TALLY_*` variables, then the checks) is `load.rs`.
//!
//! Stage: startup. Pure data and parsing; must not open stores, load keys or import the
//! modules that read it.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::JwtKeyConfig;

/// Every setting of the service and the CLI.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub listen: String,
    pub data_dir: PathBuf,
    /// `None` means the embedded default `sqlite://<data_dir>/tally.db`.
    pub database_url: Option<SecretString>,
    pub database_max_connections: u32,
    pub pricing_dir: PathBuf,
    pub public_url: Option<String>,
    pub allow_time_travel: bool,
    /// HTTP worker threads; `None` means one per core.
    pub http_workers: Option<usize>,
    /// How long a verified API key is trusted without asking the database again; a revoked
    /// key stops working on every node within this time. `0s` asks every time.
    #[serde(with = "duration_text")]
    pub api_key_cache_ttl: Duration,
    pub ingest: IngestSettings,
    pub jwt: JwtSettings,
    pub billing: BillingSettings,
    pub issuer: IssuerSettings,
    pub quota: QuotaSettings,
    pub smtp: SmtpSettings,
    pub notify: NotifySettings,
    pub lifecycle: LifecycleSettings,
}

/// Raw usage lifecycle (DESIGN §2): partitions kept ahead and raw record retention.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LifecycleSettings {
    /// How long raw usage records are kept (`TALLY_RAW_RETENTION`, e.g. `400d`); `forever`
    /// (the default) keeps them. Never shorter in effect than the late window and the billing
    /// of the months concerned.
    #[serde(with = "retention_text")]
    pub raw_retention: Option<Duration>,
    /// How often `tally serve` runs maintenance (partitions ahead, retention); `0s` turns it off.
    #[serde(with = "duration_text")]
    pub maintain_every: Duration,
}

impl Default for LifecycleSettings {
    fn default() -> Self {
        Self { raw_retention: None, maintain_every: Duration::from_secs(3_600) }
    }
}

/// Where emails go (DESIGN §8).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpSettings {
    /// lettre's URL form (`smtp://host:25`, `smtp://user:pass@host:587?tls=required`,
    /// `smtps://user:pass@host:465`); `None` writes `.eml` files under `<data dir>/outbox/`.
    pub url: Option<SecretString>,
    /// The sender address.
    pub mail_from: String,
    /// Connections held open to the SMTP server at most: as many messages are sent at once.
    pub max_connections: u32,
}

impl Default for SmtpSettings {
    fn default() -> Self {
        Self { url: None, mail_from: "billing@localhost".into(), max_connections: 16 }
    }
}

/// The outbox delivery worker.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifySettings {
    /// How often `tally serve` looks for due deliveries; `0s` turns the worker off.
    #[serde(with = "duration_text")]
    pub poll_every: Duration,
    /// How long a claimed delivery is held before another process may take it over.
    #[serde(with = "duration_text")]
    pub lease: Duration,
}

impl Default for NotifySettings {
    fn default() -> Self {
        Self { poll_every: Duration::from_secs(2), lease: Duration::from_secs(300) }
    }
}

/// Limits and tuning of the ingestion write path.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestSettings {
    /// Records per request (above: 413).
    pub max_records_per_request: usize,
    /// Bytes per request body (above: 413).
    pub max_body_bytes: usize,
    /// Requests waiting for the writer (above: 429); on PostgreSQL per HTTP worker, each of
    /// which has its own writer (`ingest/lanes.rs`).
    pub queue_capacity: usize,
    /// Records per group commit.
    pub max_group_records: usize,
    /// Concurrent writer transactions per HTTP worker (PostgreSQL; SQLite always has one
    /// writer in all).
    pub writers: usize,
    /// Upper bound on request body bytes being read or parsed at once (above: 429). At least
    /// `max_body_bytes`: a body of unknown length reserves that much (see `validate`).
    pub max_inflight_bytes: usize,
    /// How far back a record's timestamp may be, e.g. `35d`.
    #[serde(with = "duration_text")]
    pub allowed_lateness: Duration,
}

/// JWT verification and signing.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtSettings {
    /// A single HS256 secret (`TALLY_JWT_SECRET`), used with kid `default` when no `keys` are set.
    pub secret: Option<SecretString>,
    pub issuer: String,
    pub audience: String,
    pub keys: Vec<JwtKeyConfig>,
}

/// Billing run timing.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BillingSettings {
    /// How long after a period ends it is closed (≤ 72 h).
    #[serde(with = "duration_text")]
    pub grace: Duration,
    /// How often `tally serve` runs billing by itself; `0s` turns the scheduler off.
    #[serde(with = "duration_text")]
    pub schedule_every: Duration,
    /// Finalization to due date (`TALLY_PAYMENT_TERMS`, ≤ 366d); a tenant's `payment_terms`
    /// overrides it.
    #[serde(with = "duration_text")]
    pub payment_terms: Duration,
    /// How long after its due date a finalized invoice still unpaid is reminded of, once:
    /// `off` (the default: Tally knows of payments only from `mark-paid`) or a duration like
    /// `0s` or `3d` (≤ 366d).
    #[serde(with = "off_or_duration")]
    pub overdue_reminder: Option<Duration>,
}

/// Quota alerts and entitlements (DESIGN §9).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuotaSettings {
    /// How often `tally serve` evaluates the quotas of the tenants whose data changed, for
    /// crossed thresholds; `0s` turns the evaluator off (sweeps too).
    #[serde(with = "duration_text")]
    pub evaluate_every: Duration,
    /// How often the evaluator also sweeps every tenant (it does at start and when the plan
    /// catalog changes as well); `0s`: only then. A sweep finds what no change tells of: a
    /// crossing time alone makes (a new period's fixed fee over a spend quota), usage of a
    /// process that stopped before reporting its changes, a CLI's rollup rebuild.
    #[serde(with = "duration_text")]
    pub sweep_every: Duration,
    /// How stale a cached entitlement answer may be; `0s` reads the store every time.
    #[serde(with = "duration_text")]
    pub entitlement_max_age: Duration,
}

impl Default for QuotaSettings {
    fn default() -> Self {
        Self {
            evaluate_every: Duration::from_secs(10),
            sweep_every: Duration::from_secs(300),
            entitlement_max_age: Duration::from_secs(1),
        }
    }
}

/// Who issues the invoices.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IssuerSettings {
    pub name: String,
    /// Address lines (in `TALLY_ISSUER_ADDRESS`, separated by `;`).
    pub address: Vec<String>,
    pub tax_id: String,
    pub invoice_prefix: String,
    pub credit_note_prefix: String,
}

impl Default for IssuerSettings {
    fn default() -> Self {
        Self {
            name: "Tally Demo Issuer (configure [issuer] in tally.toml)".into(),
            address: vec!["1 Example Street".into(), "Example City".into()],
            tax_id: String::new(),
            invoice_prefix: "INV".into(),
            credit_note_prefix: "CN".into(),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            data_dir: "tally-data".into(),
            database_url: None,
            database_max_connections: 16,
            pricing_dir: "pricing".into(),
            public_url: None,
            allow_time_travel: false,
            http_workers: None,
            api_key_cache_ttl: Duration::from_secs(10),
            ingest: IngestSettings::default(),
            jwt: JwtSettings::default(),
            billing: BillingSettings::default(),
            issuer: IssuerSettings::default(),
            smtp: SmtpSettings::default(),
            notify: NotifySettings::default(),
            quota: QuotaSettings::default(),
            lifecycle: LifecycleSettings::default(),
        }
    }
}

impl Default for IngestSettings {
    fn default() -> Self {
        Self {
            max_records_per_request: 10_000,
            max_body_bytes: 8 * 1024 * 1024,
            queue_capacity: 1_024,
            max_group_records: 10_000,
            writers: 1,
            max_inflight_bytes: 128 * 1024 * 1024,
            allowed_lateness: Duration::from_secs(35 * 86_400),
        }
    }
}

impl Default for JwtSettings {
    fn default() -> Self {
        Self { secret: None, issuer: "tally".into(), audience: "tally".into(), keys: Vec::new() }
    }
}

impl Default for BillingSettings {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(3_600),
            schedule_every: Duration::from_secs(60),
            payment_terms: Duration::from_secs(14 * 86_400),
            overdue_reminder: None,
        }
    }
}

impl Settings {
    /// HTTP worker threads: `http_workers`, or one per core.
    pub fn http_worker_count(&self) -> usize {
        self.http_workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
    }

    /// The database URL in force (the embedded SQLite file by default).
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.expose_secret().to_owned(),
            None => format!("sqlite://{}/tally.db", self.data_dir.display()),
        }
    }
}

/// Parses a duration written as `90s`, `15m`, `1h` or `35d`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    duration_text::parse(text)
}

/// Durations written as `90s`, `15m`, `1h`, `35d`.
mod duration_text {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not a duration like 90s, 15m, 1h or 35d")))
    }

    pub fn parse(text: &str) -> Option<Duration> {
        crate::domain::parse_duration_text(text)
    }
}

/// A duration that one word stands in for having none of (`off`, `forever`): that word is
/// `None`, anything else must be a duration.
fn keyword_or_duration<'de, D: serde::Deserializer<'de>>(
    d: D,
    keyword: &str,
    example: &str,
) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(d)?;
    if text == keyword {
        return Ok(None);
    }
    duration_text::parse(&text).map(Some).ok_or_else(|| {
        serde::de::Error::custom(format!("{text:?} is neither `{keyword}` nor a duration like {example}"))
    })
}

/// A delay that may be switched off: `off`, or a duration like `3d`.
mod off_or_duration {
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<std::time::Duration>, D::Error> {
        super::keyword_or_duration(d, "off", "3d")
    }
}

/// A retention: `forever`, or a duration like `400d`.
mod retention_text {
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<std::time::Duration>, D::Error> {
        super::keyword_or_duration(d, "forever", "400d")
    }
}
