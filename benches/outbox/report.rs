//! The outbox bench's numbers as a Markdown section, printed and written into BENCHMARKS.md
//! between its markers (the file's other sections are kept as they are).

use std::process::Command;

use crate::delivery::{Delivered, Sending};

const START: &str = "<!-- outbox bench: start (written by `cargo bench --bench outbox`) -->";
const END: &str = "<!-- outbox bench: end -->";

/// One run's measurements.
pub struct Outcome {
    pub setup: f64,
    pub delivered: Delivered,
    /// CPU-seconds during delivery: this process (dispatcher + PostgreSQL client), the sink.
    pub cpu: (f64, f64),
    pub message_bytes: u64,
    pub render_per_pdf: f64,
    pub pdf_bytes: usize,
    /// Seconds for the same number of pre-built messages sent straight to the sink.
    pub raw_smtp: f64,
    pub raw_sink_cpu: f64,
    /// Seconds a message over one connection, messages sent in turn.
    pub one_connection_per_message: f64,
    pub own_peak_rss_mb: f64,
    pub sink_peak_rss_mb: f64,
    pub load: (String, String),
}

pub fn uptime() -> String {
    Command::new("uptime").output().map_or_else(
        |_| std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim().to_owned(),
        |o| String::from_utf8_lossy(&o.stdout).trim().to_owned(),
    )
}

/// CPU-seconds this process has used so far.
pub fn own_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or_default().split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (ticks(11) + ticks(12)) as f64 / 100.0
}

/// The section text.
pub fn markdown(o: &Outcome, tenants: usize, sending: Sending) -> String {
    let Sending { claim_batch: batch, connections } = sending;
    let d = &o.delivered;
    let rate = d.sent as f64 / d.seconds;
    let raw_rate = tenants as f64 / o.raw_smtp;
    let verdict = if d.seconds <= 60.0 { "met" } else { "NOT met" };
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let render_total = o.render_per_pdf * tenants as f64;
    format!(
        "{START}\n## Outbox delivery (`cargo bench --bench outbox`)\n\n\
Month-end for **{tenants} tenants** on PostgreSQL (the billing bench's workload, billed in an untimed \
setup of {setup:.0} s), then the real `Dispatcher` ({batch} deliveries in flight, lettre's pooled SMTP \
transport over at most {connections} connections) delivering one invoice email with its PDF per tenant \
over TCP to `tests/smtp/server.py` (aiosmtpd, one file per message). Checked afterwards: exactly one message per billing address, each \
with a PDF ({kb:.1} kB per message, PDF {pdf_kb:.1} kB).\n\n\
| measure | value |\n|---|---|\n\
| delivered | {sent} emails in **{secs:.1} s** = **{rate:.0} messages/s** ({passes} `dispatch_due` passes) |\n\
| of which expanding the events into deliveries | {expanding:.2} s |\n\
| target ≤ 60 s | **{verdict}** |\n\
| PDF render alone (one thread, {sample} invoices) | {render_ms:.2} ms per PDF → {render_total:.1} s for {tenants} |\n\
| SMTP sink ceiling (same count, pre-built messages, {connections} connections, lettre pool) | {raw:.1} s = {raw_rate:.0} messages/s |\n\
| one connection (pre-built messages sent in turn, lettre) | {one_ms:.1} ms a message (≈ 45 ms without `TCP_NODELAY`: `vendor/README.md`) |\n\
| CPU during delivery | bench process {own_cpu:.1} s, aiosmtpd {sink_cpu:.1} s (raw baseline: aiosmtpd {raw_sink_cpu:.1} s) |\n\
| peak RSS | bench process (dispatcher + store + setup), read before the baselines (the raw-SMTP one holds every pre-built message) {own_rss:.0} MB, aiosmtpd {sink_rss:.0} MB |\n\
| machine | {cores} cores, shared with other engineers' builds and tests |\n\
| load before | `{load0}` |\n| load after | `{load1}` |\n\n{END}\n",
        setup = o.setup,
        kb = o.message_bytes as f64 / 1024.0,
        pdf_kb = o.pdf_bytes as f64 / 1024.0,
        sent = d.sent,
        secs = d.seconds,
        passes = d.passes,
        expanding = d.expanding,
        sample = tenants.min(1_000),
        render_ms = o.render_per_pdf * 1_000.0,
        raw = o.raw_smtp,
        one_ms = o.one_connection_per_message * 1_000.0,
        own_cpu = o.cpu.0,
        sink_cpu = o.cpu.1,
        raw_sink_cpu = o.raw_sink_cpu,
        own_rss = o.own_peak_rss_mb,
        sink_rss = o.sink_peak_rss_mb,
        load0 = o.load.0,
        load1 = o.load.1,
    )
}

/// Replaces the section between the markers in BENCHMARKS.md, or appends it.
pub fn write_section(section: &str) -> anyhow::Result<()> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let updated = match (text.find(START), text.find(END)) {
        (Some(start), Some(end)) if end > start => {
            format!("{}{}{}", &text[..start], section.trim_end(), &text[end + END.len()..])
        }
        _ => format!("{}\n\n{}", text.trim_end(), section),
    };
    std::fs::write(path, updated)?;
    Ok(())
}
