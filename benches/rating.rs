//! Rating engine micro-benchmark: prices 1 000 000 line items (each a meter quantity against
//! one of the shipped plans' charges) and compares with the floor of the same work — one exact
//! `Decimal` multiply-divide per item. Run: `cargo bench --bench rating`.

use std::hint::black_box;
use std::time::Instant;

use rust_decimal::Decimal;
use tally::rate::{load_dir, rate_charge, rate_usage, Proration};

const ITEMS: usize = 1_000_000;

fn main() {
    let plans = load_dir("pricing").expect("the shipped plans load");
    let charges: Vec<_> = plans.iter().flat_map(|p| p.charges().iter()).collect();
    let quantities: Vec<Decimal> =
        (0..ITEMS as u64).map(|i| Decimal::from(i * 7_919 % 20_000_000_000) / Decimal::from(7)).collect();

    let started = Instant::now();
    let mut total = Decimal::ZERO;
    for (i, q) in quantities.iter().enumerate() {
        let rated = rate_charge(charges[i % charges.len()], *q).expect("no overflow at these sizes");
        total += rated.amount;
    }
    let rating = started.elapsed();
    black_box(total);

    let price = Decimal::new(166_667, 10);
    let started = Instant::now();
    let mut floor = Decimal::ZERO;
    for q in &quantities {
        floor += *q * price / Decimal::ONE;
    }
    let baseline = started.elapsed();
    black_box(floor);

    let plan = plans.iter().find(|p| p.id() == "committed").expect("committed ships");
    let usage = tally::domain::Quantities {
        invocations: Decimal::from(2_500_000_000_u64),
        memory_gb_seconds: Decimal::from(1_500_000_000_u64),
        cpu_cycles: Decimal::from(3_000_000_000_000_u64),
    };
    let started = Instant::now();
    for _ in 0..ITEMS / 10 {
        black_box(rate_usage(plan, black_box(&usage), Proration::FULL).expect("rates"));
    }
    let invoices = started.elapsed();

    let per_sec = |n: usize, d: std::time::Duration| n as f64 / d.as_secs_f64();
    println!("rating engine, {ITEMS} line items across {} charges", charges.len());
    println!("  rate_charge:            {:>12.0} items/s ({:.2?})", per_sec(ITEMS, rating), rating);
    println!("  baseline mul/div:       {:>12.0} items/s ({:.2?})", per_sec(ITEMS, baseline), baseline);
    println!("  ratio rating/baseline:  {:>12.2}x slower", rating.as_secs_f64() / baseline.as_secs_f64());
    println!("  rate_usage (3 charges + base fee + top-up): {:.0} plans/s", per_sec(ITEMS / 10, invoices));
}
