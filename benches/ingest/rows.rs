//! The generated workload: the same records feed every scenario, as HTTP bodies, as
//! `NewUsageRecord`s for the direct-SQL baselines, and as `COPY` text.
//!
//! Shape: `TENANTS` tenants (or [`tenant_count`]) × `FUNCTIONS` functions × `REGIONS` regions, timestamps ascending
//! over the last hour (runtimes report as they go), so a request of 1 000 records touches a
//! few hundred rollup rows and concurrent groups share rollup rows, as in production.

use std::sync::Arc;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use tally::domain::{ContentHash, NewUsageRecord, Quantities, RecordKey, TenantId};

pub const TENANTS: usize = 10;
pub const FUNCTIONS: usize = 20;
pub const REGIONS: [&str; 4] = ["eu-west-1", "us-east-1", "us-west-2", "ap-south-1"];

/// Records stored before a timed run (the 10 % duplicates repeat these) and the timed ones.
pub struct Workload {
    pub preload: Vec<NewUsageRecord>,
    /// Shared with the baseline tasks without copying.
    pub fresh: Arc<Vec<NewUsageRecord>>,
}

/// How many tenants the workload spreads its records over: [`TENANTS`], or
/// `TALLY_BENCH_INGEST_TENANTS` for an experiment (with 100 000, a 1 000-record request spans
/// about as many tenants, as a collector's batches of a vendor's long tail do).
pub fn tenant_count() -> usize {
    std::env::var("TALLY_BENCH_INGEST_TENANTS").ok().and_then(|v| v.parse().ok()).filter(|&n| n > 0).unwrap_or(TENANTS)
}

/// Tenant slugs the workload uses.
pub fn tenant_ids() -> Vec<String> {
    (0..tenant_count()).map(|t| format!("bench-{t:02}")).collect()
}

/// [`tenant_ids`] as the domain's ids.
fn parsed_tenant_ids() -> Vec<TenantId> {
    tenant_ids().iter().map(|t| TenantId::parse(t).expect("valid slug")).collect()
}

/// How record ids look: where each insert lands in a month's primary key, and where each
/// cross-month lookup descends in the previous month's, follow from it (BENCHMARKS.md measures
/// both shapes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ids {
    /// Growing over time, as counters, ULIDs, UUIDv7 and time-prefixed request ids do:
    /// `p-000000001`, `u-000000001`, … (each series its own prefix).
    Ascending,
    /// Random UUIDs (v4), as most runtimes' request ids are.
    Random,
}

impl Ids {
    fn id(self, rng: &mut StdRng, prefix: &str, i: usize) -> String {
        match self {
            Self::Ascending => format!("{prefix}-{i:09}"),
            Self::Random => uuid::Builder::from_random_bytes(rng.gen()).into_uuid().to_string(),
        }
    }
}

impl Workload {
    /// Deterministic records: `preload` with ids `p-…`, `fresh` with ids `u-…` (or random).
    pub fn generate(preload: usize, fresh: usize, now: DateTime<Utc>, ids: Ids) -> Self {
        let mut rng = StdRng::seed_from_u64(0x7a11);
        let tenants = parsed_tenant_ids();
        let start = now - Duration::minutes(65);
        let mut series = |prefix: &str, count: usize| -> Vec<NewUsageRecord> {
            (0..count)
                .map(|i| {
                    let at = start + Duration::microseconds(3_600_000_000 * i as i64 / count.max(1) as i64);
                    let id = ids.id(&mut rng, prefix, i);
                    record(&mut rng, &tenants, id, at)
                })
                .collect()
        };
        Self { preload: series("p", preload), fresh: Arc::new(series("u", fresh)) }
    }
}

fn record(rng: &mut StdRng, tenants: &[TenantId], id: String, at: DateTime<Utc>) -> NewUsageRecord {
    let function = format!("fn-{:02}", rng.gen_range(0..FUNCTIONS));
    let region = REGIONS[rng.gen_range(0..REGIONS.len())].to_owned();
    let quantities = Quantities {
        cpu_cycles: Decimal::from(rng.gen_range(1_000_000_i64..4_000_000_000)),
        memory_gb_seconds: Decimal::new(rng.gen_range(1..4_000), 3),
        invocations: Decimal::ONE,
    };
    let tenant_id = tenants[rng.gen_range(0..tenants.len())].clone();
    NewUsageRecord {
        content_hash: ContentHash::of(Some(at), &function, &region, &quantities),
        key: RecordKey { tenant_id, source: String::new(), record_id: id },
        timestamp: at,
        function,
        region,
        quantities,
        event_type: String::new(),
    }
}

/// The month before the one the workload's records fall in: wholly inside the accepted window
/// (35 days of lateness by default), so every group's cross-month lookup (`probe.rs`) searches
/// its partition, as it does in production on every day of a month. Two hours back from `now`
/// so that no generated record (the last 65 minutes) falls in it, even just after midnight on
/// the first of a month.
pub fn history_month(now: DateTime<Utc>) -> DateTime<Utc> {
    let current = tally::store::month_start(now - Duration::hours(2));
    tally::store::month_start(current - Duration::days(1))
}

/// `count` records of [`history_month`] (ids `h-…`, timestamps spread over its first 20 days),
/// in chunks of `chunk`, generated as they are stored (not held: a real previous month is
/// far larger than the workload).
pub fn history(count: usize, chunk: usize, now: DateTime<Utc>, ids: Ids) -> impl Iterator<Item = Vec<NewUsageRecord>> {
    let mut rng = StdRng::seed_from_u64(0x4157);
    let tenants = parsed_tenant_ids();
    let start = history_month(now);
    let span = Duration::days(20).num_microseconds().expect("20 days in µs") / count.max(1) as i64;
    (0..count).step_by(chunk.max(1)).map(move |first| {
        (first..(first + chunk).min(count))
            .map(|i| {
                let id = ids.id(&mut rng, "h", i);
                record(&mut rng, &tenants, id, start + Duration::microseconds(span * i as i64))
            })
            .collect()
    })
}

/// One record as the `POST /v1/usage` wire object (ids and names are plain ASCII).
pub fn json(r: &NewUsageRecord) -> String {
    format!(
        r#"{{"id":"{}","tenant_id":"{}","timestamp":"{}","function":"{}","region":"{}","cpu_cycles":{},"memory_gb_seconds":"{}","invocations":{}}}"#,
        r.key.record_id,
        r.key.tenant_id,
        r.timestamp.to_rfc3339_opts(SecondsFormat::Micros, true),
        r.function,
        r.region,
        r.quantities.cpu_cycles,
        r.quantities.memory_gb_seconds,
        r.quantities.invocations,
    )
}

/// A batch body `{"records": [...]}`.
pub fn batch_body<'a>(records: impl IntoIterator<Item = &'a NewUsageRecord>) -> String {
    let items: Vec<String> = records.into_iter().map(json).collect();
    format!(r#"{{"records":[{}]}}"#, items.join(","))
}

/// Batch bodies of `batch` unique records each.
pub fn unique_bodies(records: &[NewUsageRecord], batch: usize) -> Vec<String> {
    records.chunks(batch).map(batch_body).collect()
}

/// Batch bodies with `dup_percent` % of each body repeating already-stored (preloaded)
/// records; the rest are fresh. Returns the bodies and how many records are fresh.
pub fn bodies_with_duplicates(w: &Workload, batch: usize, dup_percent: usize) -> (Vec<String>, usize) {
    let dups_per_body = batch * dup_percent / 100;
    let fresh_per_body = batch - dups_per_body;
    let bodies = w.fresh.len() / batch;
    let mut old = w.preload.iter().cycle();
    let body = |b: usize, old: &mut dyn Iterator<Item = &NewUsageRecord>| {
        let fresh = &w.fresh[b * fresh_per_body..(b + 1) * fresh_per_body];
        let repeats: Vec<&NewUsageRecord> = old.take(dups_per_body).collect();
        batch_body(fresh.iter().chain(repeats))
    };
    let list = (0..bodies).map(|b| body(b, &mut old)).collect();
    (list, bodies * fresh_per_body)
}

/// Rows in PostgreSQL `COPY … from stdin` text format, columns as in [`COPY_SQL`].
pub fn copy_text(records: &[NewUsageRecord]) -> String {
    let mut out = String::with_capacity(records.len() * 160);
    for r in records {
        let ts = r.timestamp.to_rfc3339_opts(SecondsFormat::Micros, true);
        let hash = hex::encode(r.content_hash.0);
        let q = &r.quantities;
        out.push_str(&format!(
            "{}\t\t{}\t{ts}\t{}\t{}\t{}\t{}\t{}\t\t\\\\x{hash}\n",
            r.key.tenant_id, r.key.record_id, r.function, r.region, q.cpu_cycles, q.memory_gb_seconds, q.invocations
        ));
    }
    out
}

/// The `COPY` statement matching [`copy_text`]; `ingested_at` takes its default.
pub const COPY_SQL: &str = "copy usage_record (tenant_id, source, record_id, ts, function, region, \
    cpu_cycles, memory_gb_seconds, invocations, event_type, content_hash) from stdin";
