//! The PostgreSQL scenarios, each on the same freshly reset database and the same rows:
//! HTTP batched (unique, again unique with twice the clients to saturate the server, then 10 %
//! duplicates), single-record HTTP at 64 clients (reqwest; wrk at 64 and at the connections
//! that saturate the server, then paced), then, with the server stopped, the writer's
//! statements called directly. The baselines of the ratio targets run beside the idle server,
//! in rounds with what they are compared to, so each ratio compares runs of the same minutes:
//! raw `COPY` in each round of the batched runs, one commit per record in each round of the
//! saturated wrk run.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{ensure, Context};
use chrono::Utc;
use tally::config::Settings;
use tally::domain::NewUsageRecord;
use tally::store::{binary_copy_rows, open_store, Store, COPY_RECORDS_SQL};

use crate::args::Args;
use crate::cpu::{snapshot, wait_for_quiet, CpuSplit};
use crate::direct::{copy_chunks, insert_groups};
use crate::http::post_all;
use crate::pg::BenchDb;
use crate::report::{median, Latency, Outcome, Report};
use crate::rows::{
    bodies_with_duplicates, copy_text, history, history_month, json, tenant_ids, unique_bodies, Ids, Workload, COPY_SQL,
};
use crate::server::Server;
use crate::stages::{insert_shape, Shape};
use crate::wrk::{self, Load, WrkRun};

/// Opens the pool's connections before the clock starts (concurrent pings).
async fn warm_up(store: &Store, connections: u32) -> anyhow::Result<()> {
    let pings = (0..connections * 4).map(|_| store.ping());
    for result in futures_util::future::join_all(pings).await {
        result?;
    }
    Ok(())
}

/// Runs `work` and reports the CPU split of the box while it ran.
pub async fn measured<T>(
    server: Option<u32>,
    work: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<(T, CpuSplit)> {
    wait_for_quiet(Duration::from_secs(30)).await;
    let before = snapshot(server);
    let value = work.await?;
    Ok((value, before.split_until(&snapshot(server))))
}

struct Run<'a> {
    args: &'a Args,
    work: &'a Workload,
    settings: &'a Settings,
    db: BenchDb,
}

/// Runs every selected PostgreSQL scenario on `server` (labelled `engine` where it differs from
/// PostgreSQL) into `report`.
pub async fn run(
    args: &Args,
    work: &Workload,
    settings: &Settings,
    (server, engine): (&str, &str),
    dir: &Path,
    report: &mut Report,
) -> anyhow::Result<()> {
    let mut db = BenchDb::create_on(server).await?;
    if let Some(sql) = &args.setup_sql {
        db.setup(sql).await?;
    }
    store_previous_month(&mut db, args.history, args.ids).await?;
    let run = Run { args, work, settings, db };
    let mut mean_group = None;
    // Raw `COPY` (text, binary): run in the batched rounds when there are any, alone otherwise.
    let (mut text_copies, mut binary_copies) = (Vec::new(), Vec::new());
    // One commit per record: run in the saturated wrk rounds when there are any, alone otherwise.
    let mut commits = Vec::new();
    if ["http", "saturated", "dup", "single", "wrk"].iter().any(|s| args.runs(s)) {
        let server = Server::start(Some(&run.db.url), dir, &args.tuning).await?;
        server.create_tenants(&tenant_ids()).await?;
        // The batched targets are ratios of short runs (to each other, to raw `COPY`), each
        // moving ±10 % from one minute to the next on these shared VMs: all of them are run in
        // alternation, round after round, and the medians kept (raw `COPY` beside an idle
        // server, which folds nothing).
        let (mut unique, mut saturated, mut duplicates) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..PAIRED_ROUNDS {
            if args.runs("http") {
                unique.push(run.http_batched(&server, Clients::Usual).await?);
            }
            if args.runs("saturated") {
                saturated.push((run.http_batched(&server, Clients::Saturating).await?.0, ()));
            }
            if args.runs("dup") {
                duplicates.push((run.http_duplicates(&server).await?, ()));
            }
            if args.runs("copy") {
                text_copies.push((run.copy(false).await?, ()));
                binary_copies.push((run.copy(true).await?, ()));
            }
        }
        if let Some((outcome, group)) = median(unique) {
            report.outcomes.push(outcome);
            mean_group = Some(group);
        }
        report.outcomes.extend(median(saturated).map(|(outcome, ())| outcome));
        report.outcomes.extend(median(duplicates).map(|(outcome, ())| outcome));
        if args.runs("single") {
            report.outcomes.push(run.http_single(&server).await?);
        }
        if args.runs("wrk") && wrk::available() {
            commits = run.wrk_single(&server, dir, engine, report).await?;
        } else if args.runs("wrk") {
            println!("skipped the wrk scenario: no `wrk` on this machine (apt-get install wrk)");
        }
        report.peak_rss.push((format!("{engine} run"), server.peak_rss_kib()?));
        server.stop()?;
    }
    if args.runs("direct") {
        let group = args.direct_group.or(mean_group).unwrap_or(args.batch);
        report.outcomes.push(run.direct_sql(group).await?);
    }
    if args.runs("stages") {
        let group = args.direct_group.or(mean_group).unwrap_or(args.batch);
        for shape in Shape::ALL {
            report.outcomes.push(run.stage(shape, group).await?);
        }
    }
    if args.runs("copy") && text_copies.is_empty() {
        text_copies.push((run.copy(false).await?, ()));
        binary_copies.push((run.copy(true).await?, ()));
    }
    let copies = [median(text_copies), median(binary_copies)];
    report.outcomes.extend(copies.into_iter().flatten().map(|(outcome, ())| outcome));
    if args.runs("commit") && commits.is_empty() {
        commits.push((run.one_commit_per_record().await?, ()));
    }
    report.outcomes.extend(median(commits).map(|(outcome, ())| outcome));
    Ok(())
}

/// Stores `records` in the previous month (untimed, once; kept through every reset). Every day
/// of a month the accepted window (35 days of lateness) reaches the month before, so in
/// production every group looks its keys up in that month's primary key; without it here the
/// lookup would meet no partition and cost nothing.
async fn store_previous_month(db: &mut BenchDb, records: usize, ids: Ids) -> anyhow::Result<()> {
    let now = Utc::now();
    for chunk in history(records, 10_000, now, ids) {
        db.store.insert_usage(&chunk, now).await.context("Failed to store the previous month")?;
    }
    db.keep(format!("usage_record_p{}", history_month(now).format("%Y%m")), records);
    Ok(())
}

/// Rounds of the batched unique and the duplicates runs, in alternation; the report keeps the
/// median of each.
const PAIRED_ROUNDS: usize = 3;

/// A doubling of the connections that raises the single-record rate by less than this has
/// reached the server's saturation (runs of the same minute move by about ±5 %).
const SATURATION_GAIN: f64 = 0.1;

/// wrk's connections stop doubling here, whatever the rate: beyond, they cost the load
/// generator more than they give the server (wrk took 4.4 of the 20 core-seconds at 1 024).
const SATURATION_MAX_CONNECTIONS: usize = 1024;

/// How many HTTP clients post the batched bodies.
#[derive(Debug, Clone, Copy)]
enum Clients {
    /// `--clients` (8): the scenario every earlier run measured.
    Usual,
    /// Twice as many: each client waits for its answer (after the commit), so 8 leave the
    /// two cores ≈ 20 % idle between group commits; this run shows the server saturated.
    Saturating,
}

impl Clients {
    fn count(self, usual: usize) -> usize {
        match self {
            Self::Usual => usual,
            Self::Saturating => usual * 2,
        }
    }
}

impl Run<'_> {
    /// The server's concurrent writer transactions, the baselines' concurrency: `writers` per
    /// HTTP worker (`ingest/lanes.rs`), one worker per core unless set.
    fn writers(&self) -> usize {
        self.settings.ingest.writers * self.settings.http_worker_count()
    }

    fn single_rows(&self) -> &[NewUsageRecord] {
        &self.work.fresh[..self.args.single_records.min(self.work.fresh.len())]
    }

    /// Returns the outcome and the writer's mean group size.
    async fn http_batched(&self, server: &Server, clients: Clients) -> anyhow::Result<(Outcome, usize)> {
        self.db.reset(&self.work.preload).await?;
        let bodies = unique_bodies(&self.work.fresh, self.args.batch);
        let before = server.writer_totals().await?;
        let count = clients.count(self.args.clients);
        let ((elapsed, answered), cpu) = measured(Some(server.pid()), post_all(server, bodies, count)).await?;
        let writer = before.until(&server.writer_totals().await?);
        ensure!(answered.accepted == self.work.fresh.len(), "accepted {} records", answered.accepted);
        self.db.verify(self.work.preload.len() + self.work.fresh.len(), true).await?;
        let mean_group = (writer.records / writer.groups.max(1.0)).round() as usize;
        let note = format!(
            "{count} clients; {:.0} group commits, mean {mean_group} records, {:.1} ms each; {} retries (429/503)",
            writer.groups,
            writer.seconds * 1000.0 / writer.groups.max(1.0),
            answered.retries
        );
        let (key, label) = match clients {
            Clients::Usual => ("http", format!("HTTP batched, {} records/request, unique", self.args.batch)),
            Clients::Saturating => ("saturated", format!("HTTP batched, unique, {count} clients (saturating)")),
        };
        Ok((Outcome { key, label, records: self.work.fresh.len(), elapsed, cpu, note }, mean_group.max(1)))
    }

    async fn http_duplicates(&self, server: &Server) -> anyhow::Result<Outcome> {
        self.db.reset(&self.work.preload).await?;
        let (bodies, fresh) = bodies_with_duplicates(self.work, self.args.batch, self.args.dup_percent);
        let submitted = bodies.len() * self.args.batch;
        let ((elapsed, answered), cpu) =
            measured(Some(server.pid()), post_all(server, bodies, self.args.clients)).await?;
        ensure!(answered.accepted == fresh, "accepted {} of {fresh} fresh records", answered.accepted);
        ensure!(answered.duplicates == submitted - fresh, "{} duplicates reported", answered.duplicates);
        self.db.verify(self.work.preload.len() + fresh, true).await?;
        let note =
            format!("{} accepted, {} duplicates (as expected); {} retries", fresh, submitted - fresh, answered.retries);
        let label = format!("HTTP batched, {} % duplicates", self.args.dup_percent);
        Ok(Outcome { key: "dup", label, records: submitted, elapsed, cpu, note })
    }

    async fn http_single(&self, server: &Server) -> anyhow::Result<Outcome> {
        self.db.reset(&self.work.preload).await?;
        let rows = self.single_rows();
        let bodies: Vec<String> = rows.iter().map(json).collect();
        let before = server.writer_totals().await?;
        let ((elapsed, answered), cpu) =
            measured(Some(server.pid()), post_all(server, bodies, self.args.single_clients)).await?;
        let writer = before.until(&server.writer_totals().await?);
        ensure!(answered.accepted == rows.len(), "accepted {} records", answered.accepted);
        self.db.verify(self.work.preload.len() + rows.len(), true).await?;
        let note = format!(
            "mean {:.1} records per group commit, {:.1} ms each; {} retries",
            writer.records / writer.groups.max(1.0),
            writer.seconds * 1000.0 / writer.groups.max(1.0),
            answered.retries
        );
        let label = format!("HTTP single-record, {} clients", self.args.single_clients);
        Ok(Outcome { key: "single", label, records: rows.len(), elapsed, cpu, note })
    }

    /// Single-record requests from `wrk`: closed-loop runs at `--single-clients` and at the
    /// connections that saturate the server (two outcomes), then one paced at half the higher
    /// rate for the p99 latency. Stored counts checked after each. Returns the one-commit-per-record baseline's
    /// runs (with `commit`), which alternate with the saturated runs. With `--paced-rate` only
    /// the paced run, at that rate: two builds' latencies compared at the same load.
    async fn wrk_single(
        &self,
        server: &Server,
        dir: &Path,
        engine: &str,
        report: &mut Report,
    ) -> anyhow::Result<Vec<(Outcome, ())>> {
        self.db.reset(&self.work.preload).await?;
        if let Some(rate) = self.args.paced_rate {
            report.latency.push(self.paced(server, dir, engine, rate, 2.0 * rate).await?);
            return Ok(Vec::new());
        }
        let usual = self.args.single_clients;
        let (outcome, full) = self.wrk_closed_loop(server, dir, usual, "closed").await?;
        report.outcomes.push(outcome);
        // Each connection waits for its answer, after the group commit: at 64 the run is
        // bound by that latency, not by the server (idle cores). The saturating rate is where
        // more connections stop paying (`saturating_connections`); the paced run halves it.
        // Its ratio to one commit per record is a ratio of two short runs, each moving ±10 %
        // from one minute to the next: they alternate, round after round, and the medians are
        // kept (the baseline beside the idle server).
        let (saturating, probes) = self.saturating_connections(server, dir, usual * 4).await?;
        let (mut saturated, mut commits) = (Vec::new(), Vec::new());
        for round in 0..PAIRED_ROUNDS {
            self.db.reset(&self.work.preload).await?;
            let (outcome, run) = self.wrk_closed_loop(server, dir, saturating, &format!("saturated{round}")).await?;
            saturated.push((outcome, run));
            if self.args.runs("commit") {
                commits.push((self.one_commit_per_record().await?, ()));
            }
        }
        let (mut outcome, most) = median(saturated).context("no saturated wrk run")?;
        outcome.note = format!("{}; connections found by doubling: {probes}", outcome.note);
        report.outcomes.push(outcome);
        let full = if most.rate() > full.rate() { most } else { full };
        self.db.reset(&self.work.preload).await?;
        report.latency.push(self.paced(server, dir, engine, full.rate() / 2.0, full.rate()).await?);
        Ok(commits)
    }

    /// Single-record requests from `wrk` paced at `target` requests/s (half `saturating_rate`,
    /// or as `--paced-rate` fixes it), then the same load refused by validation. Stored counts
    /// checked after each.
    async fn paced(
        &self,
        server: &Server,
        dir: &Path,
        engine: &str,
        target: f64,
        saturating_rate: f64,
    ) -> anyhow::Result<Latency> {
        // Paced: each connection waits DELAY after an answer, so connections ≈ rate × (DELAY + latency).
        const DELAY_MS: u64 = 10;
        let mut connections = (target * (DELAY_MS as f64 + 1.0) / 1e3).ceil().max(1.0) as usize;
        let mut stored = 0;
        // The latency is not known before: up to three runs, each correcting the connections
        // by how far the last one's rate fell from the target.
        let mut attempt = 1;
        let (half, commits_paced) = loop {
            let run = format!("paced{attempt}");
            let paced = Load {
                run: &run,
                connections,
                seconds: self.args.wrk_seconds,
                delay_ms: Some(DELAY_MS),
                refused: false,
            };
            // Not behind the closed-loop runs' writeback (`settle`): this run's own pages are
            // written back after it, as a steady load's are all along.
            self.db.settle().await?;
            let before = server.writer_totals().await?;
            let half = tokio::task::block_in_place(|| wrk::post_single_records(server, dir, &paced))?;
            let commits = before.until(&server.writer_totals().await?);
            stored = self.stored_beyond_preload(stored + half.acknowledged, connections).await?;
            if (half.rate() / target - 1.0).abs() <= 0.1 || attempt == 3 {
                break (half, commits);
            }
            connections = ((connections as f64) * target / half.rate()).ceil() as usize;
            attempt += 1;
        };
        // The same load refused by validation: what the box, wrk and the HTTP path take
        // without the writer and the database (nothing is stored).
        let refused = Load {
            run: "refused",
            connections,
            seconds: self.args.wrk_seconds,
            delay_ms: Some(DELAY_MS),
            refused: true,
        };
        let http_only = tokio::task::block_in_place(|| wrk::post_single_records(server, dir, &refused))?;
        ensure!(
            http_only.acknowledged == 0 && http_only.non_2xx == http_only.requests,
            "invalid records were accepted"
        );
        self.stored_beyond_preload(stored, 0).await?;
        Ok(Latency {
            engine: engine.to_owned(),
            saturating_rate,
            rate: half.rate(),
            connections,
            p50: half.p50,
            p99: half.p99,
            commits: commits_paced,
            http_only,
        })
    }

    /// The connections the server saturates at: from `from`, doubled while a doubling still
    /// raises the rate by [`SATURATION_GAIN`], at most [`SATURATION_MAX_CONNECTIONS`]. A fixed
    /// multiple was not enough: on Dec 5 256, 512 and 1 024 connections gave 31, 36–38 and 40 k
    /// requests/s, the cores 2.5, 1.9 and 1.0 core-seconds idle. Returns them and each probe's
    /// rate (`256: 30935/s, …`) for the row's note.
    async fn saturating_connections(
        &self,
        server: &Server,
        dir: &Path,
        from: usize,
    ) -> anyhow::Result<(usize, String)> {
        let mut probes = Vec::new();
        let probe = |connections: usize| async move {
            self.db.reset(&self.work.preload).await?;
            let (_, run) = self.wrk_closed_loop(server, dir, connections, "probe").await?;
            anyhow::Ok(run.rate())
        };
        let (mut connections, mut rate) = (from, probe(from).await?);
        probes.push(format!("{connections}: {rate:.0}/s"));
        while connections * 2 <= SATURATION_MAX_CONNECTIONS {
            let more = probe(connections * 2).await?;
            probes.push(format!("{}: {more:.0}/s", connections * 2));
            if more < rate * (1.0 + SATURATION_GAIN) {
                break;
            }
            (connections, rate) = (connections * 2, more);
        }
        Ok((connections, probes.join(", ")))
    }

    /// One closed-loop wrk run at `connections` (`run` names its record ids apart), on a
    /// freshly reset database: its row and what wrk printed, the stored count checked.
    async fn wrk_closed_loop(
        &self,
        server: &Server,
        dir: &Path,
        connections: usize,
        run: &str,
    ) -> anyhow::Result<(Outcome, WrkRun)> {
        let usual = connections == self.args.single_clients;
        let run = format!("{run}{connections}");
        let load = Load { run: &run, connections, seconds: self.args.wrk_seconds, delay_ms: None, refused: false };
        let before = server.writer_totals().await?;
        let (full, cpu) = measured(Some(server.pid()), async {
            tokio::task::block_in_place(|| wrk::post_single_records(server, dir, &load))
        })
        .await?;
        let writer = before.until(&server.writer_totals().await?);
        let stored = self.stored_beyond_preload(full.acknowledged, connections).await?;
        let note = format!(
            "wrk, {connections} connections, {} s; {} acknowledged ({} not 2xx), {stored} stored in all; mean {:.1} records per group commit; p50 {:.2} ms, p99 {:.2} ms",
            self.args.wrk_seconds,
            full.acknowledged,
            full.non_2xx,
            writer.records / writer.groups.max(1.0),
            full.p50.as_secs_f64() * 1e3,
            full.p99.as_secs_f64() * 1e3,
        );
        let (key, label) = match usual {
            true => ("wrk", format!("HTTP single-record, wrk, {connections} connections")),
            false => ("wrk_saturated", format!("HTTP single-record, wrk, {connections} connections (saturating)")),
        };
        let records = full.acknowledged;
        Ok((Outcome { key, label, records, elapsed: full.elapsed, cpu, note }, full))
    }

    /// Records stored beyond the preload, checked against what was acknowledged: every
    /// acknowledged record is stored, and at most `in_flight` more (requests wrk abandoned at
    /// its deadline may still have been written). Rollups must count the same records.
    async fn stored_beyond_preload(&self, acknowledged: usize, in_flight: usize) -> anyhow::Result<usize> {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let stored = self.db.count().await? - self.work.preload.len();
        ensure!(
            (acknowledged..=acknowledged + in_flight).contains(&stored),
            "{stored} records stored beyond the preload, {acknowledged} acknowledged"
        );
        self.db.verify(self.work.preload.len() + stored, true).await?;
        Ok(stored)
    }

    async fn direct_sql(&self, group: usize) -> anyhow::Result<Outcome> {
        self.db.reset(&self.work.preload).await?;
        let store = open_store(&self.db.url, self.settings.database_max_connections).await?;
        let rows = self.work.fresh.clone();
        // `store` outlives the measurement: exiting backends would take their CPU counters along.
        let (elapsed, cpu) = measured(None, insert_groups(store.clone(), rows, group, self.writers())).await?;
        self.db.verify(self.work.preload.len() + self.work.fresh.len(), true).await?;
        let note = format!("Store::insert_usage, {group} records per transaction, {} concurrent", self.writers());
        let label = "direct SQL: the writer's statements from Rust".to_owned();
        Ok(Outcome { key: "direct", label, records: self.work.fresh.len(), elapsed, cpu, note })
    }

    async fn stage(&self, shape: Shape, group: usize) -> anyhow::Result<Outcome> {
        self.db.reset(&self.work.preload).await?;
        let rows = self.work.fresh.clone();
        let (elapsed, cpu) = measured(None, insert_shape(&self.db.pool, shape, rows, group, self.writers())).await?;
        self.db.verify(self.work.preload.len() + self.work.fresh.len(), false).await?;
        let note =
            format!("records only (no lookup, no rollups), {group} per transaction, {} concurrent", self.writers());
        let label = format!("stage: {}", shape.describe());
        Ok(Outcome { key: "stage", label, records: self.work.fresh.len(), elapsed, cpu, note })
    }

    /// `COPY` of the fresh rows straight into `usage_record`, 2 sessions: as text (`binary`
    /// false), or in the binary format the write path streams, its very bytes.
    async fn copy(&self, binary: bool) -> anyhow::Result<Outcome> {
        const ROWS_PER_COPY: usize = 10_000;
        self.db.reset(&self.work.preload).await?;
        let chunks: Vec<Vec<u8>> = match binary {
            false => self.work.fresh.chunks(ROWS_PER_COPY).map(|c| copy_text(c).into_bytes()).collect(),
            true => self
                .work
                .fresh
                .chunks(ROWS_PER_COPY)
                .map(|c| binary_copy_rows(&c.iter().collect::<Vec<_>>(), chrono::Utc::now()))
                .collect::<Result<_, _>>()?,
        };
        let sql = if binary { COPY_RECORDS_SQL } else { COPY_SQL };
        let (elapsed, cpu) = measured(None, copy_chunks(&self.db.pool, sql, Arc::new(chunks), self.writers())).await?;
        self.db.verify(self.work.preload.len() + self.work.fresh.len(), false).await?;
        let format = if binary { "binary" } else { "text" };
        let note = format!(
            "{format} COPY into usage_record (primary key present), {ROWS_PER_COPY} rows per COPY, {} connections",
            self.writers()
        );
        let (key, label) = if binary { ("copy_binary", "raw COPY, binary") } else { ("copy", "raw COPY") };
        Ok(Outcome { key, label: label.into(), records: self.work.fresh.len(), elapsed, cpu, note })
    }

    async fn one_commit_per_record(&self) -> anyhow::Result<Outcome> {
        self.db.reset(&self.work.preload).await?;
        let tasks = self.args.single_clients;
        let connections = (tasks as u32).min(self.db.free_connections().await?.saturating_sub(10)).max(1);
        let store = open_store(&self.db.url, connections).await?;
        warm_up(&store, connections).await?;
        let rows = Arc::new(self.single_rows().to_vec());
        let (elapsed, cpu) = measured(None, insert_groups(store.clone(), rows.clone(), 1, tasks)).await?;
        self.db.verify(self.work.preload.len() + rows.len(), true).await?;
        let note = format!(
            "{tasks} tasks over {connections} connections; per record: begin, the writer's insert … on conflict do nothing returning, rollup upsert, commit"
        );
        let label = "one commit per record".to_owned();
        Ok(Outcome { key: "commit", label, records: rows.len(), elapsed, cpu, note })
    }
}
