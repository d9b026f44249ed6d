//! Where the CPU went during a scenario, from `/proc`: the tally server, PostgreSQL backends,
//! this load generator (with the `wrk` it ran), everything else on the box (other builds), and idle time.
//! On a 2-core box that shares the database, this split is the first-order profile.

use std::collections::HashMap;

/// Kernel clock ticks per second as reported in `/proc` (`USER_HZ`, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// A reading of the counters.
pub struct CpuSnapshot {
    machine_busy: u64,
    machine_idle: u64,
    server: u64,
    bench: u64,
    /// Ticks of every `postgres` process by pid, and whether it is a background process
    /// (checkpointer, WAL writer, autovacuum…) rather than a client backend.
    postgres: HashMap<u32, (u64, bool)>,
}

/// CPU-seconds spent per party between two snapshots.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuSplit {
    pub server: f64,
    pub postgres: f64,
    /// The part of `postgres` spent by background processes (autovacuum, WAL writer, …).
    pub postgres_background: f64,
    pub bench: f64,
    pub other: f64,
    pub idle: f64,
}

/// Reads the counters now. `server` is the tally process, if one is running.
pub fn snapshot(server: Option<u32>) -> CpuSnapshot {
    let (machine_busy, machine_idle) = machine_ticks();
    CpuSnapshot {
        machine_busy,
        machine_idle,
        server: server.and_then(process_ticks).unwrap_or(0),
        bench: process_ticks(std::process::id()).unwrap_or(0) + children_ticks(),
        postgres: postgres_ticks(),
    }
}

impl CpuSnapshot {
    /// The split between `self` (before) and `after`.
    pub fn split_until(&self, after: &CpuSnapshot) -> CpuSplit {
        let secs = |ticks: u64| ticks as f64 / TICKS_PER_SECOND;
        let spent = |background: bool| -> u64 {
            let pids = after.postgres.iter().filter(|(_, (_, bg))| *bg == background);
            pids.map(|(pid, (ticks, _))| ticks.saturating_sub(self.postgres.get(pid).map_or(0, |p| p.0))).sum()
        };
        let (backends, background) = (spent(false), spent(true));
        let postgres = backends + background;
        let server = after.server.saturating_sub(self.server);
        let bench = after.bench.saturating_sub(self.bench);
        let busy = after.machine_busy.saturating_sub(self.machine_busy);
        CpuSplit {
            server: secs(server),
            postgres: secs(postgres),
            postgres_background: secs(background),
            bench: secs(bench),
            other: secs(busy.saturating_sub(server + bench + postgres)),
            idle: secs(after.machine_idle.saturating_sub(self.machine_idle)),
        }
    }
}

/// Waits (up to `max_wait`) until the box has been nearly idle for a second, so a scenario
/// does not start in the middle of someone else's build. Returns the seconds waited.
pub async fn wait_for_quiet(max_wait: std::time::Duration) -> f64 {
    let started = std::time::Instant::now();
    loop {
        let (busy_before, _) = machine_ticks();
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let (busy_after, _) = machine_ticks();
        let busy_cores = busy_after.saturating_sub(busy_before) as f64 / TICKS_PER_SECOND;
        if busy_cores < 0.3 || started.elapsed() >= max_wait {
            return started.elapsed().as_secs_f64();
        }
    }
}

/// (busy, idle) ticks summed over all cores, from the first line of `/proc/stat`.
fn machine_ticks() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> =
        text.lines().next().unwrap_or("").split_whitespace().skip(1).take(8).filter_map(|f| f.parse().ok()).collect();
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    (fields.iter().sum::<u64>().saturating_sub(idle), idle)
}

/// utime + stime of a process (all its threads), in ticks.
fn process_ticks(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = text.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the command name: state is field 3, utime and stime are fields 14 and 15.
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// cutime + cstime of this process: the children it has waited for (`wrk`), in ticks.
fn children_ticks() -> u64 {
    let text = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let Some((_, rest)) = text.rsplit_once(')') else { return 0 };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    [13, 14].iter().filter_map(|&i| fields.get(i)?.parse::<u64>().ok()).sum()
}

/// Ticks of every `postgres` process by pid, with whether it is a background process.
fn postgres_ticks() -> HashMap<u32, (u64, bool)> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return HashMap::new() };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "postgres"))
        .filter_map(|pid| Some((pid, (process_ticks(pid)?, is_background(pid)))))
        .collect()
}

/// Client backends show `postgres: <cluster>: <user> <database> …` as their title.
fn is_background(pid: u32) -> bool {
    let title = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let title = String::from_utf8_lossy(&title);
    ["checkpointer", "background writer", "walwriter", "autovacuum", "logical replication", "stats"]
        .iter()
        .any(|name| title.contains(name))
}
