//! Plays one seeded scenario against a running app and keeps what the laws need: every record
//! the service accepted (with how many runs had happened when it was posted) and every run's
//! report. Each step moves the test clock forward and does one thing, as an operator and a
//! fleet of runtimes would.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::rng::Rng;
use crate::billing::{admin_patch, admin_post, at, wait_for_run};
use crate::helpers::TestApp;

pub const METERS: [&str; 3] = ["invocations", "memory_gb_seconds", "cpu_cycles"];
const ZONES: [&str; 5] = ["UTC", "Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"];
pub(super) const PLANS: [&str; 3] = ["free", "payg", "committed"];
/// Percent of plan picks that take the plan's twin in euros.
const IN_EUROS: u64 = 30;

/// The id of `plan`'s twin in euros (`mod.rs` writes it).
pub(super) fn in_euros(plan: &str) -> String {
    format!("{plan}_eur")
}
/// Percent; half the tenants pay none.
const TAX_RATES: [&str; 6] = ["0", "0", "0", "8.875", "20", "7.125"];
/// Inside the default allowed lateness (35 days) with a day to spare.
pub(super) const LATEST_LATENESS_DAYS: i64 = 34;

/// A record the service accepted.
pub struct Record {
    pub tenant: String,
    pub at: DateTime<Utc>,
    /// Per meter of [`METERS`].
    pub quantities: [Decimal; 3],
    /// Runs that had ended when it was posted: run `k` saw it when `runs_before <= k`.
    pub runs_before: usize,
    /// Corrections in order: (runs ended when made, the new quantities or `None` for a void).
    pub corrections: Vec<(usize, Option<[Decimal; 3]>)>,
    pub(super) body: Value,
}

impl Record {
    /// Its quantities as run `run` saw them: `None` before it was posted or once voided.
    pub fn state(&self, run: usize) -> Option<[Decimal; 3]> {
        if self.runs_before > run {
            return None;
        }
        let corrected = self.corrections.iter().rev().find(|(before, _)| *before <= run);
        corrected.map_or(Some(self.quantities), |(_, state)| *state)
    }

    /// Its quantities now (after every correction), `None` when voided.
    pub fn current(&self) -> Option<[Decimal; 3]> {
        self.corrections.last().map_or(Some(self.quantities), |(_, state)| *state)
    }
}

pub struct Run {
    pub as_of: DateTime<Utc>,
    pub report: Value,
}

/// What a played scenario leaves for the laws.
pub struct Played {
    pub tenants: Vec<String>,
    pub records: Vec<Record>,
    pub runs: Vec<Run>,
    /// Answers the scenario did not expect (a 4xx, counts off), already as violations.
    pub violations: Vec<String>,
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
}

pub(super) struct Tenant {
    pub(super) id: String,
    pub(super) active: bool,
    /// On a plan now or from its next period (so it has a billing currency for credit).
    pub(super) priced: bool,
    /// When it was put on a plan (created on one, or a change accepted), and the plan's
    /// currency: kept through deactivation.
    pub(super) plans: Vec<(DateTime<Utc>, &'static str)>,
}

impl Tenant {
    /// The currency of the plan it was last put on.
    pub(super) fn currency(&self) -> Option<&'static str> {
        self.plans.last().map(|(_, currency)| *currency)
    }

    /// Whether a plan in `currency` starting `now` may be refused as a currency change inside
    /// a period. The scenario does not follow period bounds (zones change) nor when a change
    /// for the next period took effect, so it allows the refusal when either of the last two
    /// plans, or any put on within two periods, is in another currency; a refusal when none is
    /// would be a defect.
    fn may_refuse_now(&self, currency: &str, now: DateTime<Utc>) -> bool {
        let recent = self.plans.len().saturating_sub(2);
        self.plans
            .iter()
            .enumerate()
            .any(|(i, (at, c))| *c != currency && (i >= recent || *at > now - Duration::days(62)))
    }
}

pub(super) struct Player<'a> {
    pub(super) app: &'a TestApp,
    rng: Rng,
    /// Draws the money steps (`money.rs`) apart from `rng`, so adding them left the usage
    /// scenario of every seed (and the CI seeds' reasons) as it was.
    pub(super) money: Rng,
    /// Draws which plans are their twin in euros, apart from both.
    currency: Rng,
    pub(super) now: DateTime<Utc>,
    pub(super) tenants: Vec<Tenant>,
    pub(super) played: Played,
    next_id: usize,
    trace: bool,
}

/// Plays the scenario of `seed`.
pub async fn play(app: &TestApp, seed: u64) -> Played {
    let mut rng = Rng::new(seed);
    let start =
        at("2026-02-01T00:00:00Z") + Duration::days(rng.between(0, 240)) + Duration::seconds(rng.between(0, 86_399));
    let played = Played {
        tenants: Vec::new(),
        records: Vec::new(),
        runs: Vec::new(),
        violations: Vec::new(),
        first: start,
        last: start,
    };
    let trace = std::env::var("TALLY_CONSERVATION_TRACE").is_ok();
    let money = Rng::new(seed ^ 0x004D_4F4E_4559);
    let currency = Rng::new(seed ^ 0x0045_5552);
    let mut p = Player { app, rng, money, currency, now: start, tenants: Vec::new(), played, next_id: 0, trace };
    for i in 0..p.rng.between(1, 3) {
        p.advance(0, 3 * 86_400);
        p.create_tenant(&format!("t{i}")).await;
    }
    let end = start + Duration::days(p.rng.between(60, 120));
    while p.now < end {
        p.advance(3_600, 3 * 86_400 + 43_200);
        let t = p.rng.below(p.tenants.len() as u64) as usize;
        // An inactive tenant is mostly brought back rather than sent usage it refuses.
        if !p.tenants[t].active && p.rng.chance(50) {
            p.toggle_active(t).await;
            continue;
        }
        match p.rng.below(100) {
            0..=44 => p.post_new(t, false).await,
            45..=54 => p.post_again(t).await,
            55..=62 => p.change_plan(t).await,
            63..=66 => p.toggle_active(t).await,
            67..=70 => p.change_zone(t).await,
            71..=85 => p.run_billing().await,
            _ => p.post_new(t, true).await,
        }
        p.money_step().await;
    }
    // A final run well after the last period, then the same run again: nothing new.
    p.now = end + Duration::days(40);
    p.app.clock.set(p.now);
    p.run_billing().await;
    p.rerun_issues_nothing().await;
    p.played.last = end;
    p.played
}

impl Player<'_> {
    fn advance(&mut self, min_seconds: i64, max_seconds: i64) {
        self.now += Duration::seconds(self.rng.between(min_seconds, max_seconds));
        self.app.clock.set(self.now);
    }

    pub(super) fn note(&mut self, what: String) {
        if self.trace {
            eprintln!("{} {what}", self.now.to_rfc3339_opts(SecondsFormat::Secs, true));
        }
    }

    pub(super) fn unexpected(&mut self, what: String) {
        self.note(format!("UNEXPECTED {what}"));
        self.played.violations.push(format!("at {}: {what}", self.now.to_rfc3339()));
    }

    /// Whether `response` answered `expected`; otherwise records it as unexpected, with what
    /// was being done, the status and the body.
    pub(super) async fn answered(&mut self, response: reqwest::Response, expected: StatusCode, doing: String) -> bool {
        if response.status() == expected {
            return true;
        }
        let (status, text) = (response.status(), response.text().await.unwrap_or_default());
        self.unexpected(format!("{doing}: {status} {text}"));
        false
    }

    /// A shipped plan (drawn as before euros existed), or its twin in euros; with its currency.
    fn pick_plan(&mut self) -> (String, &'static str) {
        let plan = *self.rng.pick(&PLANS);
        if self.currency.chance(IN_EUROS) {
            (in_euros(plan), "EUR")
        } else {
            (plan.to_owned(), "USD")
        }
    }

    async fn create_tenant(&mut self, id: &str) {
        let zone = *self.rng.pick(&ZONES);
        let tax_rate = *self.money.pick(&TAX_RATES);
        let mut body = json!({"id": id, "name": format!("Tenant {id}"), "timezone": zone, "tax_rate": tax_rate});
        let plan = (!self.rng.chance(20)).then(|| self.pick_plan());
        if let Some((plan, _)) = &plan {
            body["plan"] = json!(plan);
        }
        self.note(format!("create {id} in {zone} on {plan:?}"));
        let status = admin_post(self.app, "/v1/tenants", &body).await.status();
        if status != StatusCode::CREATED {
            self.unexpected(format!("creating {id}: {status}"));
        }
        let plans = plan.iter().map(|(_, currency)| (self.now, *currency)).collect();
        self.tenants.push(Tenant { id: id.to_owned(), active: true, priced: plan.is_some(), plans });
        self.played.tenants.push(id.to_owned());
    }

    /// A batch of new records (some stamped on boundaries, `late` ones in the past weeks), one
    /// of them sometimes twice in the same request.
    async fn post_new(&mut self, t: usize, late: bool) {
        let mut records = Vec::new();
        for _ in 0..self.rng.between(1, 6) {
            let at = self.timestamp(late);
            let quantities = self.quantities();
            self.next_id += 1;
            records.push(self.record(t, &format!("r{}", self.next_id), at, quantities));
        }
        let mut bodies: Vec<Value> = records.iter().map(|r| r.body.clone()).collect();
        let again = self.rng.chance(20).then(|| bodies[0].clone());
        bodies.extend(again.clone());
        self.post(t, records, bodies, 0, usize::from(again.is_some()), if late { "late" } else { "new" }).await;
    }

    /// Some records already accepted, re-posted exactly as sent: duplicates, counted once.
    async fn post_again(&mut self, t: usize) {
        let oldest = self.now - Duration::days(LATEST_LATENESS_DAYS);
        let tenant = &self.tenants[t].id;
        let candidates: Vec<Value> = self
            .played
            .records
            .iter()
            .filter(|r| &r.tenant == tenant && r.at >= oldest)
            .map(|r| r.body.clone())
            .collect();
        if candidates.is_empty() {
            return;
        }
        let bodies: Vec<Value> = (0..self.rng.between(1, 3)).map(|_| self.rng.pick(&candidates).clone()).collect();
        let duplicates = bodies.len();
        self.post(t, Vec::new(), bodies, duplicates, 0, "again").await;
    }

    /// Posts `bodies`: first the `fresh` records, then `repeats` of records already stored,
    /// then `inner` repeats of fresh ones. Keeps the records accepted. A repeat of a stored
    /// record is a duplicate even once its tenant is deactivated (a retry is always safe);
    /// a deactivated tenant's new records are refused.
    async fn post(
        &mut self,
        t: usize,
        fresh: Vec<Record>,
        bodies: Vec<Value>,
        repeats: usize,
        inner: usize,
        kind: &str,
    ) {
        let (tenant, active) = (self.tenants[t].id.clone(), self.tenants[t].active);
        let stamps: Vec<&str> = bodies.iter().map(|b| b["timestamp"].as_str().unwrap()).collect();
        self.note(format!(
            "post {kind} {tenant} (active {active}): {} new, {} again, at {stamps:?}",
            fresh.len(),
            repeats + inner
        ));
        let response = self.app.post_usage(&json!({ "records": bodies })).await;
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        let (accepted, duplicates, rejected) =
            if active { (fresh.len(), repeats + inner, 0) } else { (0, repeats, fresh.len() + inner) };
        let expected_status = if rejected == 0 { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
        let count = |field: &str| answer[field].as_u64().unwrap_or(u64::MAX) as usize;
        if (status, count("accepted"), count("duplicates"), count("rejected"))
            != (expected_status, accepted, duplicates, rejected)
        {
            self.unexpected(format!("posting {kind} records of {tenant} (active {active}): {status} {answer}"));
        }
        let refused: Vec<u64> = answer["errors"]
            .as_array()
            .map(|e| e.iter().filter_map(|e| e["index"].as_u64()).collect())
            .unwrap_or_default();
        let runs_before = self.played.runs.len();
        for (i, mut record) in fresh.into_iter().enumerate() {
            if status.is_success() || (status == StatusCode::UNPROCESSABLE_ENTITY && !refused.contains(&(i as u64))) {
                record.runs_before = runs_before;
                self.played.records.push(record);
            }
        }
    }

    pub(super) fn record(&self, t: usize, id: &str, at: DateTime<Utc>, quantities: [Decimal; 3]) -> Record {
        let tenant = self.tenants[t].id.clone();
        let mut body =
            json!({"id": id, "tenant_id": tenant, "timestamp": at.to_rfc3339_opts(SecondsFormat::Micros, true)});
        for (meter, quantity) in METERS.iter().zip(quantities) {
            if !quantity.is_zero() {
                body[*meter] = if *meter == "memory_gb_seconds" {
                    json!(quantity.to_string())
                } else {
                    json!(quantity.mantissa() as u64)
                };
            }
        }
        if id.len() % 2 == 0 {
            body["function"] = json!(format!("fn-{}", id.len() % 3));
        }
        Record { tenant, at, quantities, runs_before: 0, corrections: Vec::new(), body }
    }

    /// Each meter present at random (at least one): invocations and CPU cycles around the plans'
    /// allowances, GB-seconds with up to 9 decimals.
    fn quantities(&mut self) -> [Decimal; 3] {
        random_quantities(&mut self.rng)
    }

    /// A recent instant (a little in the future at times), or for `late` one of the past weeks;
    /// a third of them moved onto a boundary near it: a bucket's, a local month's, a DST change's.
    fn timestamp(&mut self, late: bool) -> DateTime<Utc> {
        let back = if late {
            self.rng.between(3 * 86_400, LATEST_LATENESS_DAYS * 86_400)
        } else {
            self.rng.between(-240, 2 * 86_400)
        };
        let mut stamp = self.now - Duration::seconds(back) + Duration::microseconds(self.rng.between(0, 999_999));
        if self.rng.chance(35) {
            let near = super::laws::boundaries_near(stamp);
            let oldest = self.now - Duration::days(LATEST_LATENESS_DAYS);
            let fits: Vec<DateTime<Utc>> =
                near.into_iter().filter(|b| *b >= oldest && *b <= self.now + Duration::minutes(4)).collect();
            if !fits.is_empty() {
                stamp = *self.rng.pick(&fits) + Duration::microseconds(*self.rng.pick(&[-1, 0, 0, 1]));
            }
        }
        stamp.clamp(self.now - Duration::days(LATEST_LATENESS_DAYS), self.now + Duration::minutes(4))
    }

    async fn change_plan(&mut self, t: usize) {
        if !self.tenants[t].active {
            return;
        }
        let (plan, currency) = self.pick_plan();
        let timing = *self.rng.pick(&["immediately", "next_period"]);
        let id = self.tenants[t].id.clone();
        self.note(format!("plan of {id} → {plan} {timing}"));
        let request = self.app.client.put(format!("{}/v1/tenants/{id}/subscription", self.app.address));
        let response = request
            .bearer_auth(&self.app.admin_key)
            .json(&json!({"plan": plan, "timing": timing}))
            .send()
            .await
            .unwrap();
        // Another currency may start at a period start only (DESIGN §4).
        let may_refuse = timing == "immediately" && self.tenants[t].may_refuse_now(currency, self.now);
        if response.status() == StatusCode::UNPROCESSABLE_ENTITY && may_refuse {
            let error: Value = response.json().await.unwrap_or_default();
            if error["error"]["code"] != "currency_change_not_at_period_start" {
                self.unexpected(format!("putting {id} on {plan} {timing}: {error}"));
            }
            return;
        }
        if self.answered(response, StatusCode::OK, format!("putting {id} on {plan} {timing}")).await {
            self.tenants[t].priced = true;
            self.tenants[t].plans.push((self.now, currency));
        }
    }

    async fn toggle_active(&mut self, t: usize) {
        let (id, active) = (self.tenants[t].id.clone(), !self.tenants[t].active);
        self.note(format!("{id} active: {active}"));
        let status = admin_patch(self.app, &format!("/v1/tenants/{id}"), &json!({ "active": active })).await.status();
        if status == StatusCode::OK {
            self.tenants[t].active = active;
            // Deactivation ends the subscription; reactivation starts none (api-spec
            // `updateTenant`), so until a plan change there is no billing currency for credit.
            self.tenants[t].priced &= active;
        } else {
            self.unexpected(format!("{id} active {active}: {status}"));
        }
    }

    async fn change_zone(&mut self, t: usize) {
        if !self.tenants[t].active {
            return;
        }
        let (id, zone) = (self.tenants[t].id.clone(), *self.rng.pick(&ZONES));
        self.note(format!("{id} moves to {zone}"));
        let status = admin_patch(self.app, &format!("/v1/tenants/{id}"), &json!({ "timezone": zone })).await.status();
        if !status.is_success() {
            self.unexpected(format!("{id} to {zone}: {status}"));
        }
    }

    async fn run_billing(&mut self) {
        self.note("billing run".to_owned());
        let Some(report) = self.billing_run().await else { return };
        self.played.runs.push(Run { as_of: self.now, report });
        if self.rng.chance(25) {
            self.rerun_issues_nothing().await;
        }
    }

    /// A second run at the same instant issues no invoice and reports nothing again.
    async fn rerun_issues_nothing(&mut self) {
        let Some(again) = self.billing_run().await else { return };
        if again["invoices_issued"] != json!([]) || again["unbilled"] != json!([]) {
            self.unexpected(format!("a second run as of the same instant did something: {again}"));
        }
        self.played.runs.push(Run { as_of: self.now, report: again });
    }

    /// A run as of now through the API; its report, or `None` (a violation) when it failed.
    async fn billing_run(&mut self) -> Option<Value> {
        let as_of = self.now.to_rfc3339();
        let response = admin_post(self.app, "/v1/billing/run", &json!({ "as_of": as_of })).await;
        if response.status() != StatusCode::ACCEPTED {
            self.unexpected(format!("a run as of {as_of}: {}", response.status()));
            return None;
        }
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        let run = wait_for_run(self.app, &location).await;
        if run["status"] != "succeeded" || run["result"]["failures"] != json!([]) {
            self.unexpected(format!("the run as of {as_of} failed: {run}"));
            return None;
        }
        Some(run["result"].clone())
    }
}

/// Each meter present at random (at least one): invocations and CPU cycles around the plans'
/// allowances, GB-seconds with up to 9 decimals.
pub(super) fn random_quantities(rng: &mut Rng) -> [Decimal; 3] {
    let mut q = [Decimal::ZERO; 3];
    while q.iter().all(Decimal::is_zero) {
        if rng.chance(70) {
            let most = if rng.chance(50) { 1_000 } else { 4_000_000 };
            q[0] = Decimal::from(rng.between(1, most));
        }
        if rng.chance(50) {
            let scale = rng.between(0, 9) as u32;
            q[1] = Decimal::new(rng.between(1, 300_000 * 10i64.pow(scale)), scale).normalize();
        }
        if rng.chance(40) {
            q[2] = Decimal::from(rng.between(1, 20_000_000_000_000));
        }
    }
    q
}
