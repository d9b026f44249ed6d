//! Single-record requests driven by `wrk` (Debian's package), a C load generator that costs
//! a few µs per request — the reqwest load generator of the `single` scenario costs ≈ 23 µs,
//! as much as the server, on the same 2 cores.
//!
//! Two runs: saturating (`connections` connections, as fast as answers come), then paced at
//! half the saturating rate, where the p99 latency is read. wrk is a closed loop: a connection
//! sends its next request only after the answer (plus the paced run's think time), so its percentiles
//! understate a queue that an open-loop client would build; at half the saturating rate the
//! queue stays short and the two agree closely. Every request carries a fresh record id; the
//! stored count must equal the acknowledged requests (plus, at most, the requests wrk abandons
//! in flight at its deadline: one per connection).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, ensure, Context};
use chrono::{SecondsFormat, Utc};

use crate::rows::{tenant_ids, FUNCTIONS, REGIONS};
use crate::server::Server;

/// What one wrk run printed.
#[derive(Debug, Clone, Copy)]
pub struct WrkRun {
    pub requests: usize,
    pub non_2xx: usize,
    /// 2xx answers: wrk's count of answers less those not 2xx. Answers arriving while wrk
    /// stops are left out, like the requests it abandons: stored, not counted.
    pub acknowledged: usize,
    pub elapsed: Duration,
    pub p50: Duration,
    pub p99: Duration,
}

impl WrkRun {
    pub fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
}

/// How one wrk run is shaped.
pub struct Load<'a> {
    /// Distinguishes the ids of runs against one database.
    pub run: &'a str,
    pub connections: usize,
    pub seconds: u64,
    /// Mean milliseconds each connection waits after an answer before its next request
    /// (exponentially distributed).
    pub delay_ms: Option<u64>,
    /// Every record invalid (a negative meter): answered 400 by validation, before the
    /// writer — the HTTP path alone, the latency baseline of the paced run.
    pub refused: bool,
}

/// True when `wrk` can be run (the scenario is skipped with a message otherwise).
pub fn available() -> bool {
    Command::new("wrk").arg("--version").output().is_ok()
}

/// Runs wrk against `POST /v1/usage` of `server`, one fresh record per request.
pub fn post_single_records(server: &Server, dir: &Path, load: &Load) -> anyhow::Result<WrkRun> {
    std::fs::create_dir_all(dir)?;
    let script = dir.join(format!("single-{}.lua", load.run));
    std::fs::write(&script, lua_script(&server.ingest_key, load))?;
    let output = Command::new("wrk")
        .args(["--threads", "2", "--connections", &load.connections.to_string()])
        .args(["--duration", &format!("{}s", load.seconds), "--timeout", "10s", "--latency"])
        .arg("--script")
        .arg(&script)
        .arg(format!("{}/v1/usage", server.base))
        .output()
        .context("run wrk (apt-get install wrk)")?;
    let text = String::from_utf8_lossy(&output.stdout);
    ensure!(output.status.success(), "wrk failed: {text}{}", String::from_utf8_lossy(&output.stderr));
    parse(&text).with_context(|| format!("wrk printed:\n{text}"))
}

/// The Lua script: each wrk thread numbers its requests; ids are `wrk-<run>-<thread>-<n>`,
/// tenants, functions and regions rotate like the batched workload's.
fn lua_script(key: &str, load: &Load) -> String {
    let tenants: Vec<String> = tenant_ids().iter().map(|t| format!("\"{t}\"")).collect();
    let regions: Vec<String> = REGIONS.iter().map(|r| format!("\"{r}\"")).collect();
    let at = (Utc::now() - chrono::Duration::minutes(2)).to_rfc3339_opts(SecondsFormat::Secs, true);
    // Each think time is drawn from an exponential distribution of that mean, so arrivals are
    // Poisson-like, as from many independent runtimes. A fixed delay phase-locks the
    // connections: a group commit's answers leave together, and so their next requests arrive
    // together, a burst every delay (p50 5.2–5.4 ms fixed against 2.8–3.1 ms drawn, Dec 5).
    let delay = load.delay_ms.map_or(String::new(), |ms| {
        format!(
            "function init(args) math.randomseed(os.time() * 31 + thread_number) end\n\
             function delay() return math.floor(-{ms} * math.log(1 - math.random())) end\n"
        )
    });
    let cpu_cycles = if load.refused { "-1" } else { "1500000" };
    format!(
        r#"local threads = {{}}
function setup(thread)
  thread:set("thread_number", #threads)
  table.insert(threads, thread)
end
local tenants = {{{tenants}}}
local regions = {{{regions}}}
local sent = 0
-- Put together by hand rather than by wrk.format (a table, a format per header and a join per
-- request): one format and one concatenation. And no response() function: defining one makes
-- wrk hand every answer's headers and body to Lua. wrk counts the answers that are not 2xx.
local head = "POST /v1/usage HTTP/1.1\r\nHost: " .. wrk.host .. "\r\nAuthorization: Bearer {key}\r\n" ..
  "Content-Type: application/json\r\nContent-Length: "
function request()
  sent = sent + 1
  local body = string.format(
    '{{"id":"wrk-{run}-%d-%d","tenant_id":"%s","timestamp":"{at}","function":"fn-%02d","region":"%s","cpu_cycles":{cpu_cycles},"memory_gb_seconds":"0.125","invocations":1}}',
    thread_number, sent, tenants[sent % #tenants + 1], sent % {functions}, regions[sent % #regions + 1])
  return head .. #body .. "\r\n\r\n" .. body
end
{delay}"#,
        tenants = tenants.join(","),
        regions = regions.join(","),
        run = load.run,
        functions = FUNCTIONS,
    )
}

fn parse(text: &str) -> anyhow::Result<WrkRun> {
    let mut requests = None;
    let mut elapsed = None;
    let mut non_2xx = 0;
    let mut p50 = None;
    let mut p99 = None;
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [n, "requests", "in", took, ..] => {
                requests = Some(n.parse::<usize>()?);
                elapsed = Some(duration(took.trim_end_matches(','))?);
            }
            ["Non-2xx", "or", "3xx", "responses:", n] => non_2xx = n.parse()?,
            ["50%", value] => p50 = Some(duration(value)?),
            ["99%", value] => p99 = Some(duration(value)?),
            _ => {}
        }
    }
    let requests = requests.context("no request count")?;
    Ok(WrkRun {
        requests,
        non_2xx,
        acknowledged: requests.checked_sub(non_2xx).context("more answers not 2xx than answers")?,
        elapsed: elapsed.context("no duration")?,
        p50: p50.context("no p50")?,
        p99: p99.context("no p99")?,
    })
}

/// wrk's durations: `812.00us`, `3.41ms`, `1.02s`, `1.00m`.
fn duration(text: &str) -> anyhow::Result<Duration> {
    let split = text.find(|c: char| c.is_ascii_alphabetic()).context("no unit")?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse()?;
    let seconds = match unit {
        "us" => value / 1e6,
        "ms" => value / 1e3,
        "s" => value,
        "m" => value * 60.0,
        other => bail!("unknown unit {other}"),
    };
    Ok(Duration::from_secs_f64(seconds))
}
