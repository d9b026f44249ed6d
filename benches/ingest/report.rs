//! Results: the table of records/s, the DESIGN §13 targets with PASS/MISS, the machine and
//! settings, printed and written to BENCHMARKS.md (hand-written notes below the marker line
//! of an existing file are kept).

use std::fmt::Write as _;
use std::time::Duration;

use crate::cpu::CpuSplit;
use crate::server::WriterTotals;
use crate::wrk::WrkRun;

/// One measured scenario.
pub struct Outcome {
    pub key: &'static str,
    pub label: String,
    pub records: usize,
    pub elapsed: Duration,
    pub cpu: CpuSplit,
    pub note: String,
}

/// The run of median time, every run's rate added to its note; `None` for no runs.
pub fn median<T>(mut runs: Vec<(Outcome, T)>) -> Option<(Outcome, T)> {
    if runs.len() < 2 {
        return runs.pop();
    }
    let rates: Vec<String> = runs.iter().map(|(o, _)| format!("{:.0}", o.rate())).collect();
    let count = runs.len();
    // By rate: a batched run's records are fixed and its time varies, a wrk run's the reverse.
    runs.sort_by(|(a, _), (b, _)| a.rate().total_cmp(&b.rate()));
    let (mut outcome, extra) = runs.swap_remove(count / 2);
    outcome.note = format!("{}; median of {count} runs ({} records/s)", outcome.note, rates.join(" / "));
    Some((outcome, extra))
}

impl Outcome {
    /// Records per second (a float: a rate, not money).
    pub fn rate(&self) -> f64 {
        self.records as f64 / self.elapsed.as_secs_f64()
    }

    /// CPU-µs per record of the work itself — tally + PostgreSQL, or, for baselines without
    /// the server, the Rust client + PostgreSQL — which other load on the box barely changes.
    pub fn cpu_micros_per_record(&self) -> f64 {
        let c = &self.cpu;
        let client = if c.server > 0.0 { c.server } else { c.bench };
        (client + c.postgres) * 1e6 / self.records as f64
    }
}

/// Single-record latency at half the saturating rate (wrk, paced).
pub struct Latency {
    pub engine: String,
    pub saturating_rate: f64,
    /// The rate the paced run reached.
    pub rate: f64,
    pub connections: usize,
    pub p50: Duration,
    pub p99: Duration,
    /// The writer's group commits during the paced run: what a request's latency waits for.
    pub commits: WriterTotals,
    /// The same paced load refused by validation (no writer, no database).
    pub http_only: WrkRun,
}

/// Everything the report shows.
#[derive(Default)]
pub struct Report {
    pub machine: Vec<(String, String)>,
    pub settings: Vec<(String, String)>,
    pub outcomes: Vec<Outcome>,
    /// (which server, peak RSS in KiB).
    pub peak_rss: Vec<(String, u64)>,
    pub latency: Vec<Latency>,
}

struct Check {
    target: &'static str,
    measured: String,
    /// The same comparison made on CPU-µs per record, which other load on the box barely moves.
    by_cpu: String,
    pass: bool,
}

const MARKER: &str = "<!-- Notes below this line are written by hand and kept when the bench rewrites this file. -->";

impl Report {
    fn rate(&self, key: &str) -> Option<f64> {
        self.outcomes.iter().find(|o| o.key == key).map(Outcome::rate)
    }

    fn cost(&self, key: &str) -> Option<f64> {
        self.outcomes.iter().find(|o| o.key == key).map(Outcome::cpu_micros_per_record)
    }

    fn ratio_check(&self, target: &'static str, (a, b): (&str, &str), at_least: f64) -> Option<Check> {
        let ratio = self.rate(a)? / self.rate(b)?;
        let by_cpu = format!("{:.2} ×", self.cost(b)? / self.cost(a)?);
        Some(Check { target, measured: format!("{ratio:.2} ×"), by_cpu, pass: ratio >= at_least })
    }

    fn floor_check(&self, target: &'static str, key: &str, at_least: f64) -> Option<Check> {
        let rate = self.rate(key)?;
        let cost = self.cost(key)?;
        let by_cpu = format!("≤ 2 cores / {cost:.1} µs = {:.0}/s", 2e6 / cost);
        Some(Check { target, measured: format!("{rate:.0} records/s"), by_cpu, pass: rate >= at_least })
    }

    fn checks(&self) -> Vec<Check> {
        let mut checks = vec![
            self.ratio_check("HTTP batched ≥ 0.5 × direct SQL (writer's statements)", ("http", "direct"), 0.5),
            self.ratio_check("HTTP batched ≥ 0.5 × raw COPY (2 sessions)", ("http", "copy"), 0.5),
            self.ratio_check(
                "HTTP batched ≥ 0.5 × raw binary COPY (2 sessions, the write path's bytes)",
                ("http", "copy_binary"),
                0.5,
            ),
            // The same comparison with both sides saturated: raw `COPY` keeps its two sessions
            // busy, while eight clients leave the writers waiting between requests (idle cores).
            self.ratio_check(
                "HTTP batched, server saturated (twice the clients) ≥ 0.5 × raw COPY (2 sessions)",
                ("saturated", "copy"),
                0.5,
            ),
            self.ratio_check(
                "HTTP batched, server saturated (twice the clients) ≥ 0.5 × raw binary COPY (2 sessions)",
                ("saturated", "copy_binary"),
                0.5,
            ),
            self.floor_check("SQLite default, HTTP batched ≥ 150 000 records/s", "sqlite", 150_000.0),
            self.ratio_check(
                "single-record HTTP (64 clients) ≥ 10 × one-commit-per-record",
                ("single", "commit"),
                10.0,
            ),
            self.ratio_check(
                "single-record HTTP from wrk (a C load generator) ≥ 10 × one-commit-per-record",
                ("wrk", "commit"),
                10.0,
            ),
            self.ratio_check(
                "single-record HTTP from wrk, server saturated (connections doubled until the rate stops rising) ≥ 10 × one-commit-per-record",
                ("wrk_saturated", "commit"),
                10.0,
            ),
        ];
        for l in &self.latency {
            checks.push(Some(Check {
                target: "single-record p99 < 10 ms at half the saturating rate (wrk, paced)",
                measured: format!(
                    "p99 {:.2} ms, p50 {:.2} ms at {:.0} requests/s ({:.0} saturating, {} connections; {}; \
                     mean {:.1} records per group commit, {:.2} ms each, after {:.2} ms in the queue; \
                     {:.0} pending-rollup folds of {:.0} deltas each, {:.1} ms each; \
                     {:.0} quota passes, {:.1} ms each); the HTTP path alone (the same connections and pacing, every record refused by validation): \
                     p99 {:.2} ms, p50 {:.2} ms at {:.0} requests/s",
                    l.p99.as_secs_f64() * 1e3,
                    l.p50.as_secs_f64() * 1e3,
                    l.rate,
                    l.saturating_rate,
                    l.connections,
                    l.engine,
                    l.commits.records / l.commits.groups.max(1.0),
                    l.commits.seconds / l.commits.groups.max(1.0) * 1e3,
                    l.commits.waited / l.commits.requests.max(1.0) * 1e3,
                    l.commits.folds,
                    l.commits.folded / l.commits.folds.max(1.0),
                    l.commits.folding / l.commits.folds.max(1.0) * 1e3,
                    l.commits.quota_passes,
                    l.commits.quota_seconds / l.commits.quota_passes.max(1.0) * 1e3,
                    l.http_only.p99.as_secs_f64() * 1e3,
                    l.http_only.p50.as_secs_f64() * 1e3,
                    l.http_only.rate(),
                ),
                by_cpu: String::new(),
                pass: l.p99 < Duration::from_millis(10),
            }));
        }
        checks.push(self.rate("http").map(|r| Check {
            target: "HTTP batched ≥ 250 000 records/s",
            measured: format!("{r:.0} records/s"),
            by_cpu: self.cost("http").map_or(String::new(), |c| format!("≤ 2 cores / {c:.1} µs = {:.0}/s", 2e6 / c)),
            pass: r >= 250_000.0,
        }));
        checks.push(self.rate("saturated").map(|r| Check {
            target: "HTTP batched ≥ 250 000 records/s, server saturated (twice the clients)",
            measured: format!("{r:.0} records/s"),
            by_cpu:
                self.cost("saturated").map_or(String::new(), |c| format!("≤ 2 cores / {c:.1} µs = {:.0}/s", 2e6 / c)),
            pass: r >= 250_000.0,
        }));
        checks.push(self.rate("dup").zip(self.rate("http")).map(|(dup, unique)| {
            Check {
                target: "10 % duplicates cost ≤ 10 % throughput",
                measured: format!("costs {:.1} %", (1.0 - dup / unique) * 100.0),
                by_cpu: self
                    .cost("dup")
                    .zip(self.cost("http"))
                    .map_or(String::new(), |(d, u)| format!("costs {:.1} %", (d / u - 1.0) * 100.0)),
                pass: dup >= 0.9 * unique,
            }
        }));
        checks.push(Some(Check {
            target: "stored counts exact (records and rollup sums, every scenario)",
            measured: "all equal".into(),
            by_cpu: String::new(),
            pass: true,
        }));
        for (server, kib) in &self.peak_rss {
            checks.push(Some(Check {
                target: "server peak RSS < 200 MB",
                measured: format!("{:.0} MB ({server})", *kib as f64 / 1024.0),
                by_cpu: String::new(),
                pass: *kib < 200 * 1024,
            }));
        }
        checks.into_iter().flatten().collect()
    }

    /// The report as Markdown.
    pub fn render(&self) -> String {
        let mut out = String::from("# Ingest benchmark\n\nGenerated by `cargo bench --bench ingest` ");
        out.push_str("(benches/ingest/); see DESIGN §13 for the targets.\n\n## Machine\n\n");
        pairs(&mut out, &self.machine);
        out.push_str("\n## Settings\n\n");
        pairs(&mut out, &self.settings);
        out.push_str("\n## Results\n\n");
        self.results_table(&mut out);
        out.push_str("\n## Targets\n\nResult from records/s as measured; *by CPU cost* makes the same ");
        out.push_str("comparison on µs/record, the better guide when other load disturbed the run.\n\n");
        out.push_str("| target | measured | result | by CPU cost |\n| --- | --- | --- | --- |\n");
        for c in self.checks() {
            let result = if c.pass { "PASS" } else { "MISS" };
            let _ = writeln!(out, "| {} | {} | {result} | {} |", c.target, c.measured, c.by_cpu);
        }
        out
    }

    fn results_table(&self, out: &mut String) {
        out.push_str("CPU columns: CPU-seconds spent during the scenario by the tally server, PostgreSQL ");
        out.push_str("(client backends + background processes such as autovacuum and the WAL writer), this load ");
        out.push_str("generator, anything else on the box (other engineers' builds), and idle core-seconds. ");
        out.push_str("µs/record: CPU of tally + PostgreSQL (baselines: the Rust client + PostgreSQL) per record, ");
        out.push_str("the figure other load on the box disturbs least.\n\n");
        out.push_str("| scenario | records | seconds | records/s | µs/record | tally | postgres | load gen | other ");
        out.push_str(
            "| idle | notes |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n",
        );
        for o in &self.outcomes {
            let c = &o.cpu;
            let _ = writeln!(
                out,
                "| {} | {} | {:.2} | **{:.0}** | {:.1} | {:.1} | {:.1} + {:.1} | {:.1} | {:.1} | {:.1} | {} |",
                o.label,
                o.records,
                o.elapsed.as_secs_f64(),
                o.rate(),
                o.cpu_micros_per_record(),
                c.server,
                c.postgres - c.postgres_background,
                c.postgres_background,
                c.bench,
                c.other,
                c.idle,
                o.note
            );
        }
    }
}

fn pairs(out: &mut String, items: &[(String, String)]) {
    for (name, value) in items {
        let _ = writeln!(out, "- {name}: {value}");
    }
}

/// Writes `BENCHMARKS.md` at the crate root, keeping notes below the marker.
pub fn write(rendered: &str) -> anyhow::Result<()> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md");
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    let notes = old.split_once(MARKER).map_or("\n", |(_, notes)| notes);
    std::fs::write(&path, format!("{rendered}\n{MARKER}{notes}"))?;
    println!("wrote {}", path.display());
    Ok(())
}
