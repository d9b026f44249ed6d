//! Command-line options: `cargo bench --bench ingest -- --records 200000 --clients 8`.

use anyhow::{bail, Context};

use crate::rows::Ids;
use crate::server::Tuning;

/// How big the run is and which scenarios it runs.
#[derive(Debug, Clone)]
pub struct Args {
    /// Fresh records per batched scenario.
    pub records: usize,
    /// Records stored before every PostgreSQL scenario (the duplicates repeat these);
    /// default: as many as the duplicate run repeats.
    pub preload: Option<usize>,
    /// Records of the previous month, stored once before the PostgreSQL scenarios: the
    /// partition every group's cross-month lookup searches, as in production.
    pub history: usize,
    /// Record ids ascending (default) or random (`--ids random`).
    pub ids: Ids,
    /// Records of the single-record and one-commit-per-record scenarios.
    pub single_records: usize,
    pub batch: usize,
    pub clients: usize,
    pub single_clients: usize,
    /// Seconds of each `wrk` run (single-record requests from a C load generator).
    pub wrk_seconds: u64,
    /// Experiment: the `wrk` scenario is only its paced run, at this many requests/s, so that
    /// two builds' latencies compare at one load (half the saturating rate moves ±20 % from one
    /// run to the next on a shared box).
    pub paced_rate: Option<f64>,
    pub dup_percent: usize,
    pub sqlite_records: usize,
    /// Records per direct-SQL transaction; default: the writer's measured mean group.
    pub direct_group: Option<usize>,
    /// Scenario names to run (all when `None`).
    pub only: Option<Vec<String>>,
    /// Write BENCHMARKS.md (off with `--no-write`, for experiments).
    pub write: bool,
    pub tuning: Tuning,
    /// A Citus coordinator (`postgres://user@host:port`): the PostgreSQL scenarios run there
    /// too, right after PostgreSQL, labelled "Citus".
    pub citus: Option<String>,
    /// Experiment: SQL run on the bench database after migrating (e.g. a schema change to
    /// measure before writing a migration).
    pub setup_sql: Option<String>,
}

impl Default for Args {
    fn default() -> Self {
        Self {
            records: 1_000_000,
            preload: None,
            history: 1_000_000,
            ids: Ids::Ascending,
            single_records: 50_000,
            batch: 1_000,
            clients: 8,
            single_clients: 64,
            wrk_seconds: 10,
            paced_rate: None,
            dup_percent: 10,
            sqlite_records: 200_000,
            direct_group: None,
            only: None,
            write: true,
            tuning: Tuning::default(),
            citus: None,
            setup_sql: None,
        }
    }
}

const HELP: &str =
    "options: --records N --preload N --history N --ids ascending|random --single-records N --batch N --clients N \
    --single-clients N --wrk-seconds N --paced-rate N --dup-percent N --sqlite-records N --direct-group N \
    --only http,saturated,dup,single,wrk,direct,stages,copy,commit,sqlite --no-write \
    --writers N --group-records N --db-connections N --http-workers N --server-log FILTER --server-toml TEXT --jwt --setup-sql SQL \
    --citus postgres://user@host:port";

impl Args {
    /// Parses the process arguments (cargo's own `--bench` flag is ignored).
    pub fn parse() -> anyhow::Result<Self> {
        let mut args = Self::default();
        let mut words = std::env::args().skip(1);
        while let Some(flag) = words.next() {
            let mut value = || words.next().with_context(|| format!("{flag} needs a value; {HELP}"));
            match flag.as_str() {
                "--bench" => {}
                "--no-write" => args.write = false,
                "--setup-sql" => args.setup_sql = Some(value()?),
                "--citus" => args.citus = Some(value()?.trim_end_matches('/').to_owned()),
                "--jwt" => args.tuning.jwt = true,
                "--server-log" => args.tuning.log = Some(value()?),
                "--server-toml" => args.tuning.extra_toml = Some(value()?.replace("\\n", "\n")),
                "--only" => args.only = Some(value()?.split(',').map(str::to_owned).collect()),
                "--records" => args.records = number(&value()?)?,
                "--preload" => args.preload = Some(number(&value()?)?),
                "--history" => args.history = number(&value()?)?,
                "--ids" => {
                    args.ids = match value()?.as_str() {
                        "ascending" => Ids::Ascending,
                        "random" => Ids::Random,
                        other => bail!("--ids {other}: ascending or random"),
                    }
                }
                "--single-records" => args.single_records = number(&value()?)?,
                "--batch" => args.batch = number(&value()?)?,
                "--clients" => args.clients = number(&value()?)?,
                "--single-clients" => args.single_clients = number(&value()?)?,
                "--wrk-seconds" => args.wrk_seconds = number(&value()?)? as u64,
                "--paced-rate" => args.paced_rate = Some(number(&value()?)? as f64),
                "--dup-percent" => args.dup_percent = number(&value()?)?,
                "--sqlite-records" => args.sqlite_records = number(&value()?)?,
                "--direct-group" => args.direct_group = Some(number(&value()?)?),
                "--writers" => args.tuning.writers = Some(number(&value()?)?),
                "--group-records" => args.tuning.max_group_records = Some(number(&value()?)?),
                "--db-connections" => args.tuning.database_max_connections = Some(number(&value()?)? as u32),
                "--http-workers" => args.tuning.http_workers = Some(number(&value()?)?),
                other => bail!("unknown option {other}; {HELP}"),
            }
        }
        if args.paced_rate.is_some() && args.write {
            bail!("--paced-rate leaves half the saturating rate unmeasured: an experiment, so with --no-write");
        }
        Ok(args)
    }

    /// Records stored before each PostgreSQL scenario.
    pub fn preload(&self) -> usize {
        self.preload.unwrap_or(self.records * self.dup_percent / 100).max(self.batch)
    }

    /// Whether scenario `name` is selected.
    pub fn runs(&self, name: &str) -> bool {
        self.only.as_ref().is_none_or(|names| names.iter().any(|n| n == name))
    }
}

fn number(text: &str) -> anyhow::Result<usize> {
    text.replace('_', "").parse().with_context(|| format!("{text:?} is not a number"))
}
