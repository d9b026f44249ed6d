//! Usage conservation, end to end over random scenarios: every accepted record is billed
//! exactly once — on its period's invoice, on a later invoice's adjustment for that period, or
//! reported as usage no plan covers — never twice, never silently dropped (DESIGN §6, §7).
//!
//! Each seed builds one scenario (`scenario.rs`): 1–3 tenants in zones with and without DST,
//! on a shipped plan or none, sending usage over 2–4 months — duplicates, late records, records
//! on bucket, period and DST boundaries — while plans change, tenants are deactivated and
//! reactivated, zones change and billing runs at random instants, then a final run well after
//! the last period. The laws (`laws.rs`) are then checked through the API; each violation names
//! its seed.
//!
//! Currency rides along too (a third generator): a plan may be its twin in euros, so tenants
//! switch currency at period starts and late usage of a month in the other currency goes on
//! an adjustment invoice of its own (`kind: "adjustment"`).
//!
//! Money rides along (`money.rs`, drawn from a second generator so each seed's usage scenario is
//! what it was): some tenants pay tax, records are voided or replaced by corrections, credit is
//! granted (some of it expiring) and revoked, invoices are voided or marked paid. The usage laws
//! then bill the corrected records, and the money laws (`money_laws.rs`) check tax, the credit
//! ledger and voids.
//!
//! CI runs the seeds of [`SEEDS`] on both stores. To run more by hand:
//! `TALLY_CONSERVATION_SEEDS=300 cargo nextest run --test api conservation` runs seeds 0‥300
//! instead (`TALLY_CONSERVATION_FROM=1000` starts elsewhere); `TALLY_CONSERVATION_SEED=17`
//! replays one, and `TALLY_CONSERVATION_TRACE=1` prints its actions as they happen.

mod laws;
mod money;
mod money_laws;
mod rng;
mod scenario;

use crate::helpers::{spawn_app_with, Backend};

/// The seeds CI runs on each store. Most of them stamp records before their tenant's first
/// period (reported since the fix in `uncovered_page.rs`); 36, 43, 83 and 96 send late usage
/// for the period of a final invoice (billed on the next period's invoice of adjustments
/// alone since `schedule::carrier_periods`); 24, 28 and 31 void an invoice credit paid (its
/// credit restored); 7, 15, 16 and 31 bill late usage of a month in the currency a tenant has
/// since left on an adjustment invoice. (Checked again once plans could be in euros: with
/// `TALLY_CONSERVATION_TRACE=1` each tenant's invoices are counted by kind.)
const SEEDS: &[u64] = &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 24, 28, 31, 36, 43, 83, 96];

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| v.parse().unwrap_or_else(|_| panic!("{name}={v} is not a number")))
}

fn seeds() -> Vec<u64> {
    if let Some(seed) = env_u64("TALLY_CONSERVATION_SEED") {
        return vec![seed];
    }
    match env_u64("TALLY_CONSERVATION_SEEDS") {
        Some(n) => {
            let from = env_u64("TALLY_CONSERVATION_FROM").unwrap_or(0);
            (from..from + n).collect()
        }
        None => SEEDS.to_vec(),
    }
}

/// The shipped plans (`pricing/`), each beside a twin in euros (`payg_eur`: the same prices,
/// `currency = "EUR"`), so tenants can switch currency at a period start.
fn plans_in_two_currencies() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tally-conservation-plans-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    for plan in scenario::PLANS {
        let text = std::fs::read_to_string(format!("pricing/{plan}.toml")).unwrap();
        std::fs::write(dir.join(format!("{plan}.toml")), &text).unwrap();
        // The plan's id and its quotas' ids (`free-invocations`) start with its name.
        let euro = text
            .replace(&format!("id = \"{plan}"), &format!("id = \"{}", scenario::in_euros(plan)))
            .replace("currency = \"USD\"", "currency = \"EUR\"");
        assert!(euro.contains("currency = \"EUR\""), "{plan}.toml names its currency");
        std::fs::write(dir.join(format!("{}.toml", scenario::in_euros(plan))), euro).unwrap();
    }
    dir
}

/// Runs every seed on `backend` (a fresh app each), then fails with every violation found.
async fn conserves_usage(backend: Backend) {
    let mut violations = Vec::new();
    for seed in seeds() {
        let plans = plans_in_two_currencies();
        let app = spawn_app_with(backend, move |s| s.pricing_dir = plans).await;
        if std::env::var("TALLY_CONSERVATION_TRACE").is_ok() {
            eprintln!("seed {seed}");
        }
        let run = scenario::play(&app, seed).await;
        let mut found = laws::check(&app, &run).await;
        found.extend(money_laws::check(&app, &run).await);
        violations.extend(found.into_iter().map(|v| format!("seed {seed} ({backend:?}): {v}")));
        app.stop.stop(false).await;
    }
    assert!(violations.is_empty(), "{} violations:\n{}", violations.len(), violations.join("\n"));
}

crate::each_store!(conserves_usage);
