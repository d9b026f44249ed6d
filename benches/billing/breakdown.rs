//! Where a run's wall time went: each store method (calls, time, share), the run's own work
//! between calls, and whether calls were slower at the end of the run than at its start.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::scenario::Billed;
use crate::Outcome;

#[derive(Default)]
struct Method {
    calls: usize,
    took: Duration,
    /// (calls, time) in the first and in the last tenth of the run.
    first: (usize, Duration),
    last: (usize, Duration),
}

fn ms_per_call((calls, took): (usize, Duration)) -> String {
    if calls == 0 {
        return "–".into();
    }
    format!("{:.3}", 1_000.0 * took.as_secs_f64() / calls as f64)
}

/// Where `billed` (a run of `o`'s, named by `month`) spent its time.
pub fn print(o: &Outcome, month: &str, billed: &Billed) {
    let run = billed.seconds;
    let tenth = Duration::from_secs_f64(run / 10.0);
    let last_tenth = Duration::from_secs_f64(run * 0.9);
    let mut methods: BTreeMap<&str, Method> = BTreeMap::new();
    for call in &billed.calls {
        let m = methods.entry(call.method).or_default();
        m.calls += 1;
        m.took += call.took;
        if call.at < tenth {
            m.first = (m.first.0 + 1, m.first.1 + call.took);
        } else if call.at >= last_tenth {
            m.last = (m.last.0 + 1, m.last.1 + call.took);
        }
    }
    println!("\n{} {} tenants, pages of {}, {month} — where the {run:.2} s went:", o.engine, o.tenants, o.page_size);
    println!("| store call | calls | per tenant | s | share | ms/call | first 10 % of run | last 10 % |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut in_calls = 0.0;
    for (name, m) in &methods {
        let s = m.took.as_secs_f64();
        in_calls += s;
        println!(
            "| {name} | {} | {:.2} | {s:.2} | {:.0} % | {} | {} | {} |",
            m.calls,
            m.calls as f64 / o.tenants as f64,
            100.0 * s / run,
            ms_per_call((m.calls, m.took)),
            ms_per_call(m.first),
            ms_per_call(m.last),
        );
    }
    let rest = run - in_calls;
    println!("| (between calls: scheduling, rating, assembling) | | | {rest:.2} | {:.0} % | | | |", 100.0 * rest / run);
    if let Some(issue) = methods.get("issue_invoice").filter(|_| o.page_size == 1) {
        let rate = |issued: usize| issued as f64 / (run / 10.0);
        println!(
            "invoices/s in the first 10 % of the run: {:.0}; in the last 10 %: {:.0}",
            rate(issue.first.0),
            rate(issue.last.0)
        );
    }
}
