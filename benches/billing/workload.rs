//! The billed population: N tenants on `payg` from 2026-10-01, each with 20 records in
//! October 2026 (4 functions × 2 regions, 10 days; pairs of records share a 15-minute rollup
//! bucket, so 10 rollup rows per tenant), and what each invoice must total — priced here by
//! hand from `pricing/payg.toml`, independently of `tally::rate`.
//!
//! The second month: 20 records per tenant in November laid out the same way, and one late
//! October record for every tenth tenant, which November's invoice adjusts.

use chrono::{DateTime, Duration, TimeZone, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use tally::domain::{
    ContentHash, LateUsagePolicy, NewTenant, NewUsageRecord, Quantities, RecordKey, TenantDetails, TenantId,
};

pub const RECORDS_PER_TENANT: usize = 20;
pub const ROLLUPS_PER_TENANT: usize = 10;
pub const PLAN: &str = "payg";

pub fn at(y: i32, mo: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, 0, 0).single().expect("a valid UTC instant")
}

/// The billed period, `[2026-10-01, 2026-11-01)` UTC, and the run's clock.
pub fn period() -> (DateTime<Utc>, DateTime<Utc>) {
    (at(2026, 10, 1, 0), at(2026, 11, 1, 0))
}

pub fn as_of() -> DateTime<Utc> {
    at(2026, 11, 2, 0)
}

/// The second run's clock: November is due, October is still open to late usage.
pub fn second_as_of() -> DateTime<Utc> {
    at(2026, 12, 2, 0)
}

pub fn tenant_id(i: usize) -> TenantId {
    TenantId::parse(&format!("bench-{i:05}")).expect("a valid slug")
}

/// Odd tenants pay 8.875 % tax, even ones none.
fn tax_rate(i: usize) -> Decimal {
    if i % 2 == 1 {
        Decimal::new(8_875, 3)
    } else {
        Decimal::ZERO
    }
}

pub fn new_tenant(i: usize) -> NewTenant {
    NewTenant {
        id: tenant_id(i),
        details: TenantDetails {
            name: format!("Bench tenant {i}"),
            billing_emails: vec![format!("billing+{i}@example.com")],
            timezone: chrono_tz::UTC,
            tax_rate: tax_rate(i),
            address: vec!["1 Bench Street".into()],
            tax_id: String::new(),
            late_usage_policy: LateUsagePolicy::NextInvoice,
            payment_terms: None,
        },
    }
}

/// Record `j` of tenant `i` (`j` ≥ 20: November's); above every allowance of `payg` once
/// summed, varied per tenant.
fn quantities(i: usize, j: usize) -> Quantities {
    let (i, j) = (i as i64, j as i64);
    Quantities {
        invocations: Decimal::from(150_000 + (i % 97) * 1_000 + j * 10),
        memory_gb_seconds: Decimal::new(40_000_125 + (i % 13) * 1_001 + j, 3),
        cpu_cycles: Decimal::from(2_500_000_000_000 + (i % 89) * 1_000_000_007 + j),
    }
}

fn record(
    i: usize,
    record_id: String,
    timestamp: DateTime<Utc>,
    slot: usize,
    quantities: Quantities,
) -> NewUsageRecord {
    let function = format!("fn-{}", slot % 4);
    let region = ["us-east-1", "eu-west-1"][slot % 2].to_owned();
    NewUsageRecord {
        key: RecordKey { tenant_id: tenant_id(i), source: String::new(), record_id },
        content_hash: ContentHash::of(Some(timestamp), &function, &region, &quantities),
        timestamp,
        function,
        region,
        quantities,
        event_type: String::new(),
    }
}

/// Tenant `i`'s records of October (`month` 10) or November (11).
fn records_of(i: usize, month: u32) -> Vec<NewUsageRecord> {
    let (prefix, first) = if month == 10 { ("r", 0) } else { ("m2-r", RECORDS_PER_TENANT) };
    (0..RECORDS_PER_TENANT)
        .map(|j| {
            let slot = j / 2; // records 2k and 2k+1 share a rollup bucket, function and region
            let timestamp = at(2026, month, 1 + 3 * slot as u32, 12) + Duration::minutes(5 * (j % 2) as i64);
            record(i, format!("{prefix}{j:02}"), timestamp, slot, quantities(i, first + j))
        })
        .collect()
}

pub fn records(i: usize) -> Vec<NewUsageRecord> {
    records_of(i, 10)
}

/// Tenant `i`'s usage stored after October was billed: November's records, and for every
/// tenth tenant one late October record (in a bucket of its own, on the last day).
pub fn second_records(i: usize) -> Vec<NewUsageRecord> {
    let mut records = records_of(i, 11);
    records.extend(late(i).map(|q| record(i, "late-r00".into(), at(2026, 10, 31, 18), 0, q)));
    records
}

/// The late October record of tenant `i`, if it has one: small, so memory stays in the first tier.
fn late(i: usize) -> Option<Quantities> {
    let k = (i % 7) as i64;
    (i % 10 == 0).then(|| Quantities {
        invocations: Decimal::from(123_457 + k * 11),
        memory_gb_seconds: Decimal::new(1_234_567 + k * 101, 3),
        cpu_cycles: Decimal::from(987_654_321_012 + k * 1_000_003),
    })
}

pub fn late_tenants(tenants: usize) -> usize {
    (0..tenants).filter(|&i| late(i).is_some()).count()
}

fn sum(quantities: impl Iterator<Item = Quantities>) -> Quantities {
    quantities.fold(Quantities::default(), |a, q| Quantities {
        invocations: a.invocations + q.invocations,
        memory_gb_seconds: a.memory_gb_seconds + q.memory_gb_seconds,
        cpu_cycles: a.cpu_cycles + q.cpu_cycles,
    })
}

/// Σ of a tenant's October records per meter (what the raw SQL must return).
pub fn usage(i: usize) -> Quantities {
    sum((0..RECORDS_PER_TENANT).map(|j| quantities(i, j)))
}

fn cents(amount: Decimal) -> Decimal {
    amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// A month's usage lines from `pricing/payg.toml` by hand: per meter `(q − included) × price`,
/// each rounded to cents.
fn lines(q: &Quantities) -> [Decimal; 3] {
    let net = |quantity: Decimal, included: i64| (quantity - Decimal::from(included)).max(Decimal::ZERO);
    let memory = net(q.memory_gb_seconds, 400_000);
    assert!(memory <= Decimal::from(6_000_000_000_u64), "the workload stays in payg's first memory tier");
    [
        cents(net(q.invocations, 1_000_000) * Decimal::new(20, 2) / Decimal::from(1_000_000)),
        cents(memory * Decimal::new(166_667, 10)),
        cents(net(q.cpu_cycles, 30_000_000_000_000) * Decimal::new(2, 5) / Decimal::from(1_000_000_000)),
    ]
}

/// Tax once on the subtotal.
fn with_tax(i: usize, subtotal: Decimal) -> Decimal {
    subtotal + cents(subtotal * tax_rate(i) / Decimal::ONE_HUNDRED)
}

/// The October invoice total of tenant `i`.
pub fn expected_total(i: usize) -> Decimal {
    with_tax(i, lines(&usage(i)).iter().sum())
}

/// The adjustment lines November's invoice carries for October (DESIGN §7: each line's
/// re-rated amount − what was billed; lines that did not move are not shown).
pub fn expected_adjustments(i: usize) -> Vec<Decimal> {
    let Some(late) = late(i) else { return Vec::new() };
    let billed = lines(&usage(i));
    let rerated = lines(&sum([usage(i), late].into_iter()));
    rerated.iter().zip(billed).map(|(r, b)| r - b).filter(|d| !d.is_zero()).collect()
}

/// The November invoice total of tenant `i`: November's lines plus the adjustments, taxed once.
pub fn expected_second_total(i: usize) -> Decimal {
    let november = sum((RECORDS_PER_TENANT..2 * RECORDS_PER_TENANT).map(|j| quantities(i, j)));
    let subtotal: Decimal = lines(&november).iter().chain(&expected_adjustments(i)).sum();
    with_tax(i, subtotal)
}
