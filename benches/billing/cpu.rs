//! Where CPU went during a timed step, from `/proc` (Linux): this process (the billing run),
//! every `postgres` process, the rest of the box (other engineers' builds), and idle.

use std::fs;

const TICKS_PER_SECOND: f64 = 100.0; // USER_HZ on Linux

#[derive(Clone, Copy)]
pub struct Snapshot {
    own: u64,
    postgres: u64,
    busy: u64,
    idle: u64,
}

/// CPU-seconds during an interval.
#[derive(Clone, Copy, Default)]
pub struct Split {
    pub own: f64,
    pub postgres: f64,
    pub other: f64,
    pub idle: f64,
}

/// utime + stime of one `/proc/<pid>/stat`, with the process name.
fn process_ticks(stat: &str) -> Option<(&str, u64)> {
    let name = &stat[stat.find('(')? + 1..stat.rfind(')')?];
    let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split(' ').collect();
    Some((name, fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?))
}

pub fn snapshot() -> Snapshot {
    let own = fs::read_to_string("/proc/self/stat").ok().as_deref().and_then(process_ticks).map_or(0, |(_, t)| t);
    let mut postgres = 0;
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        if let Ok(stat) = fs::read_to_string(entry.path().join("stat")) {
            if let Some(("postgres", ticks)) = process_ticks(&stat) {
                postgres += ticks;
            }
        }
    }
    let total = fs::read_to_string("/proc/stat").unwrap_or_default();
    let cpu: Vec<u64> =
        total.lines().next().unwrap_or_default().split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    let field = |i: usize| cpu.get(i).copied().unwrap_or(0);
    let idle = field(3) + field(4);
    let busy = field(0) + field(1) + field(2) + field(5) + field(6) + field(7);
    Snapshot { own, postgres, busy, idle }
}

pub fn between(before: Snapshot, after: Snapshot) -> Split {
    let seconds = |a: u64, b: u64| b.saturating_sub(a) as f64 / TICKS_PER_SECOND;
    let own = seconds(before.own, after.own);
    let postgres = seconds(before.postgres, after.postgres);
    let busy = seconds(before.busy, after.busy);
    Split { own, postgres, other: (busy - own - postgres).max(0.0), idle: seconds(before.idle, after.idle) }
}
