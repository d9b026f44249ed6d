//! The conservation laws, read back through the API after a scenario.
//!
//! The records a scenario had accepted are split by the invoices' usage segments (each
//! usage line bills its segment's 15-minute buckets `[start, end)`): a record in a segment is
//! billed there, any other is usage no plan covers. Then:
//! - segments: no two overlap; each lies in its invoice's period; one period invoice per period;
//! - each usage line bills exactly the segment's records that run saw, each adjustment line
//!   re-rates exactly the records its run saw, and what was billed for a segment in all adds
//!   up to the price of all its records (late usage billed once, not lost, not twice), in
//!   the currency of the segment's invoice (an adjustment invoice when the tenant has since
//!   switched currency);
//! - each run report's `unbilled` item is exactly the uncovered records of its period that run
//!   saw, and a period is reported once; an uncovered record arriving after its period was
//!   reported is noted (the product reports such usage "as seen then": api-spec
//!   `listUnbilled`) but is not a violation;
//! - every invoice adds up; the usage API's totals are the records accepted.

use std::collections::HashMap;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::scenario::{Played, Record, METERS};
use crate::billing::{admin_post, assert_adds_up};
use crate::helpers::TestApp;

const ZONES: [Tz; 5] = [Tz::UTC, Tz::Europe__Paris, Tz::America__New_York, Tz::Australia__Lord_Howe, Tz::Asia__Kolkata];
const GRACE: i64 = 3_600;

pub(super) fn dec(v: &Value) -> Decimal {
    v.as_str().and_then(|s| Decimal::from_str(s).ok()).unwrap_or_else(|| panic!("{v} is not a decimal string"))
}

pub(super) fn instant(v: &Value) -> DateTime<Utc> {
    crate::billing::at(v.as_str().unwrap_or_else(|| panic!("{v} is not an instant")))
}

/// Instants near `t` where records are easy to misplace: the 15-minute buckets around it, the
/// local month starts of the test zones around it, and their DST changes within 40 days.
pub fn boundaries_near(t: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let bucket = DateTime::from_timestamp(t.timestamp() - t.timestamp().rem_euclid(900), 0).unwrap();
    let mut out = vec![bucket, bucket + Duration::minutes(15)];
    for tz in ZONES {
        out.extend(month_starts_around(tz, t));
        let offset = |at: DateTime<Utc>| tz.offset_from_utc_datetime(&at.naive_utc()).fix();
        let mut at =
            DateTime::from_timestamp(t.timestamp() - t.timestamp().rem_euclid(1800), 0).unwrap() - Duration::days(40);
        while at < t + Duration::days(40) {
            let next = at + Duration::minutes(30);
            if offset(at) != offset(next) {
                out.push(next);
            }
            at = next;
        }
    }
    out
}

/// The starts of the local months of `tz` before, at and after the one holding `t`.
fn month_starts_around(tz: Tz, t: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let local = t.with_timezone(&tz);
    let (y, m) = (local.year(), local.month() as i32);
    (-1..=1)
        .map(|d| {
            let months = y * 12 + (m - 1) + d;
            tz.with_ymd_and_hms(months.div_euclid(12), months.rem_euclid(12) as u32 + 1, 1, 0, 0, 0)
                .earliest()
                .unwrap()
                .to_utc()
        })
        .collect()
}

/// One usage line's stretch and what was billed for it, by run: (run, quantity, amount).
struct Segment {
    tenant: String,
    plan: String,
    meter: usize,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    period: (DateTime<Utc>, DateTime<Utc>),
    /// Its invoice's: every adjustment of it is billed in the same.
    currency: String,
    billed: Vec<(usize, Decimal, Decimal)>,
}

impl Segment {
    fn holds(&self, r: &Record) -> bool {
        r.tenant == self.tenant && self.start <= r.at && r.at < self.end
    }
}

struct Checker<'a> {
    app: &'a TestApp,
    played: &'a Played,
    violations: Vec<String>,
    quotes: HashMap<(String, usize, Decimal), Decimal>,
}

/// Every law broken by the scenario `played`, as messages.
pub async fn check(app: &TestApp, played: &Played) -> Vec<String> {
    let mut c = Checker { app, played, violations: played.violations.clone(), quotes: HashMap::new() };
    let mut segments = Vec::new();
    let mut periods = Vec::new();
    for tenant in &played.tenants {
        let (s, p) = c.invoices(tenant).await;
        segments.extend(s);
        periods.extend(p);
    }
    c.segments_partition(&segments);
    for segment in &segments {
        c.segment_billed_once(segment).await;
    }
    c.uncovered_reported(&segments, &periods);
    if std::env::var("TALLY_CONSERVATION_TRACE").is_ok() {
        let adjusted = segments.iter().filter(|s| s.billed.len() > 1).count();
        eprintln!(
            "{} records, {} runs, {} segments, {adjusted} adjusted",
            played.records.len(),
            played.runs.len(),
            segments.len()
        );
    }
    for tenant in &played.tenants {
        c.usage_api_totals(tenant).await;
    }
    c.violations
}

impl Checker<'_> {
    fn violation(&mut self, what: String) {
        self.violations.push(what);
    }

    /// The run that issued an invoice, or an adjustment on it: the first run as of its issue.
    fn run_of(&mut self, invoice: &Value) -> usize {
        let issued = instant(&invoice["issued_at"]);
        self.played.runs.iter().position(|r| r.as_of == issued).unwrap_or_else(|| {
            self.violations.push(format!("invoice {} issued at {issued}, as of no run", invoice["id"]));
            usize::MAX
        })
    }

    /// The tenant's invoices as segments (with their adjustments) and periods (tenant, start,
    /// end, run); checks each adds up and that periods are distinct and disjoint.
    async fn invoices(&mut self, tenant: &str) -> (Vec<Segment>, Vec<(String, DateTime<Utc>, DateTime<Utc>, usize)>) {
        let list = self.app.get_json(&format!("/v1/tenants/{tenant}/invoices?limit=200")).await;
        let mut invoices = Vec::new();
        for summary in list["data"].as_array().unwrap().iter().rev() {
            let invoice = self.app.get_json(&format!("/v1/invoices/{}", summary["id"].as_str().unwrap())).await;
            if let Err(panic) = std::panic::catch_unwind(|| assert_adds_up(&invoice)) {
                let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
                self.violation(format!("{tenant}: an invoice does not add up: {message}"));
            }
            invoices.push(invoice);
        }
        invoices.sort_by_key(|i| instant(&i["period_start"]));
        // Adjustment invoices (another currency's late usage) sit beside their period's.
        let period_invoices: Vec<&Value> = invoices.iter().filter(|i| i["kind"] == "period").collect();
        let mut periods = Vec::new();
        for pair in period_invoices.windows(2) {
            if instant(&pair[0]["period_end"]) > instant(&pair[1]["period_start"]) {
                let (a, b) = (&pair[0]["period_start"], &pair[1]["period_start"]);
                self.violation(format!(
                    "{tenant}: invoices of periods starting {a} and {b} overlap (or are one period twice)"
                ));
            }
        }
        let mut segments: Vec<Segment> = Vec::new();
        for invoice in &period_invoices {
            let run = self.run_of(invoice);
            let period = (instant(&invoice["period_start"]), instant(&invoice["period_end"]));
            periods.push((tenant.to_owned(), period.0, period.1, run));
            for line in invoice["lines"].as_array().unwrap().iter().filter(|l| l["type"] == "usage") {
                let meter = METERS.iter().position(|m| line["meter"] == *m).expect("a usage line names a meter");
                let billed = vec![(run, dec(&line["quantity"]), dec(&line["amount"]))];
                let (start, end, plan) =
                    (instant(&line["start"]), instant(&line["end"]), line["plan"].as_str().unwrap().to_owned());
                let currency = invoice["currency"].as_str().unwrap().to_owned();
                segments.push(Segment { tenant: tenant.to_owned(), plan, meter, start, end, period, currency, billed });
            }
        }
        for invoice in &invoices {
            let run = self.run_of(invoice);
            for line in invoice["lines"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|l| l["type"] == "adjustment" && !l["meter"].is_null())
            {
                let (start, end) = (instant(&line["start"]), instant(&line["end"]));
                let meter = METERS.iter().position(|m| line["meter"] == *m).expect("a known meter");
                let found = segments
                    .iter_mut()
                    .find(|s| s.meter == meter && s.start == start && s.end == end && line["plan"] == *s.plan);
                match found {
                    Some(s) if s.currency != invoice["currency"] => self.violation(format!(
                        "{tenant}: an adjustment of a segment billed in {} is on an invoice in {}: {line}",
                        s.currency, invoice["currency"]
                    )),
                    Some(s) if s.billed[0].0 < run => {
                        s.billed.push((run, dec(&line["quantity"]), dec(&line["amount"])))
                    }
                    _ => self.violation(format!("{tenant}: an adjustment of no segment billed before it: {line}")),
                }
            }
        }
        (segments, periods)
    }

    /// Segments lie in their periods and no two of one tenant and meter share a bucket.
    fn segments_partition(&mut self, segments: &[Segment]) {
        for s in segments {
            if s.start < s.period.0 || s.end > s.period.1 {
                self.violation(format!(
                    "{}: segment {}–{} outside its period {:?}",
                    s.tenant, s.start, s.end, s.period
                ));
            }
            let overlapping = segments.iter().filter(|o| o.tenant == s.tenant && o.meter == s.meter && o.start < o.end);
            if s.start < s.end && overlapping.filter(|o| o.start < s.end && s.start < o.end).count() > 1 {
                self.violation(format!(
                    "{}: segment {}–{} ({}) overlaps another",
                    s.tenant, s.start, s.end, METERS[s.meter]
                ));
            }
        }
    }

    /// The segment's records that run `run` saw, summed for its meter.
    fn seen(&self, s: &Segment, run: usize) -> Decimal {
        self.played.records.iter().filter(|r| s.holds(r)).filter_map(|r| r.state(run)).map(|q| q[s.meter]).sum()
    }

    /// Each line bills what its run saw; all lines together bill the price of every record once.
    async fn segment_billed_once(&mut self, s: &Segment) {
        let name = format!("{} {} {}–{} on {}", s.tenant, METERS[s.meter], s.start, s.end, s.plan);
        for (run, quantity, _) in &s.billed {
            let seen = self.seen(s, *run);
            if *quantity != seen {
                self.violation(format!("{name}: run {run} billed a quantity of {quantity}, its records sum to {seen}"));
            }
        }
        let all = self.seen(s, usize::MAX);
        let price = self.price(&s.plan, s.meter, all).await;
        let billed: Decimal = s.billed.iter().map(|(_, _, amount)| amount).sum();
        if billed != price {
            let lines: Vec<String> = s.billed.iter().map(|(run, q, a)| format!("run {run}: {q} for {a}")).collect();
            self.violation(format!("{name}: billed {billed} in all ({lines:?}); its {all} are priced {price}"));
        }
    }

    /// The usage line amount of `quantity` of `meter` on `plan`, from `POST /v1/quotes`.
    async fn price(&mut self, plan: &str, meter: usize, quantity: Decimal) -> Decimal {
        let key = (plan.to_owned(), meter, quantity);
        if let Some(price) = self.quotes.get(&key) {
            return *price;
        }
        let body = json!({"plan": plan, "usage": { METERS[meter]: quantity.to_string() }});
        let quote: Value = admin_post(self.app, "/v1/quotes", &body).await.json().await.unwrap();
        let line = quote["lines"]
            .as_array()
            .and_then(|l| l.iter().find(|l| l["type"] == "usage" && l["meter"] == METERS[meter]));
        let price = dec(&line.unwrap_or_else(|| panic!("a quote of {body} has the meter's line: {quote}"))["amount"]);
        self.quotes.insert(key, price);
        price
    }

    /// Report items: one per period, each exactly the uncovered records its run saw; every
    /// other uncovered record arrived after its period was reported or closed.
    fn uncovered_reported(&mut self, segments: &[Segment], periods: &[(String, DateTime<Utc>, DateTime<Utc>, usize)]) {
        let runs = &self.played.runs;
        let items: Vec<(usize, &Value)> = runs
            .iter()
            .enumerate()
            .flat_map(|(k, r)| r.report["unbilled"].as_array().unwrap().iter().map(move |u| (k, u)))
            .collect();
        let uncovered: Vec<&Record> =
            self.played.records.iter().filter(|r| !segments.iter().any(|s| s.start < s.end && s.holds(r))).collect();
        let mut late = 0;
        for (k, item) in &items {
            let (tenant, start, end) =
                (item["tenant_id"].as_str().unwrap(), instant(&item["period_start"]), instant(&item["period_end"]));
            if items
                .iter()
                .filter(|(_, o)| o["tenant_id"] == tenant && o["period_start"] == item["period_start"])
                .count()
                > 1
            {
                self.violation(format!("{tenant}: the period starting {start} is reported more than once"));
            }
            let mine: Vec<&&Record> =
                uncovered.iter().filter(|r| r.tenant == tenant && start <= r.at && r.at < end).collect();
            let seen: Vec<[Decimal; 3]> = mine.iter().filter_map(|r| r.state(*k)).collect();
            for (m, meter) in METERS.iter().enumerate() {
                let sum: Decimal = seen.iter().map(|q| q[m]).sum();
                if dec(&item["usage"][meter]) != sum {
                    self.violation(format!("run {k} reports {item} but its uncovered {meter} records sum to {sum}"));
                }
            }
            if item["records"].as_u64() != Some(seen.len() as u64) {
                self.violation(format!("run {k} reports {item} but it saw {} uncovered records", seen.len()));
            }
            late += mine.len() - seen.len();
        }
        // A record voided now owes nothing, reported or not.
        for r in uncovered.iter().filter(|r| r.current().is_some()) {
            let item = items.iter().any(|(_, i)| {
                i["tenant_id"] == *r.tenant && instant(&i["period_start"]) <= r.at && r.at < instant(&i["period_end"])
            });
            if item {
                continue;
            }
            // The period it falls in ended when: that of its tenant's invoice if any, else at the
            // earliest next local month start of any test zone.
            let invoiced = periods.iter().find(|(t, start, end, _)| *t == r.tenant && *start <= r.at && r.at < *end);
            let ended = invoiced.map(|p| p.2).unwrap_or_else(|| {
                ZONES.iter().flat_map(|tz| month_starts_around(*tz, r.at)).filter(|s| *s > r.at).min().unwrap()
            });
            if runs[..r.runs_before].iter().any(|run| run.as_of >= ended + Duration::seconds(GRACE)) {
                late += 1;
            } else {
                self.violation(format!(
                    "{}: an uncovered record at {} was never reported ({:?})",
                    r.tenant, r.at, r.quantities
                ));
            }
        }
        if late > 0 && std::env::var("TALLY_CONSERVATION_TRACE").is_ok() {
            eprintln!("{late} uncovered records arrived after their period was reported: reported nowhere");
        }
    }

    /// `GET /v1/tenants/{id}/usage` by month over the whole scenario: the accepted records.
    async fn usage_api_totals(&mut self, tenant: &str) {
        let day =
            |t: DateTime<Utc>| DateTime::from_timestamp(t.timestamp() - t.timestamp().rem_euclid(86_400), 0).unwrap();
        let (from, to) = (day(self.played.first - Duration::days(45)), day(self.played.last + Duration::days(45)));
        let path =
            format!("/v1/tenants/{tenant}/usage?granularity=month&from={}&to={}", from.to_rfc3339(), to.to_rfc3339());
        let usage = self.app.get_json(&path.replace('+', "%2B")).await;
        let buckets = usage["buckets"].as_array().unwrap();
        let mine: Vec<[Decimal; 3]> =
            self.played.records.iter().filter(|r| r.tenant == tenant).filter_map(|r| r.current()).collect();
        for (m, meter) in METERS.iter().enumerate() {
            let (read, sent): (Decimal, Decimal) =
                (buckets.iter().map(|b| dec(&b[meter])).sum(), mine.iter().map(|q| q[m]).sum());
            if read != sent {
                self.violation(format!("{tenant}: the usage API has {read} {meter}, the records accepted {sent}"));
            }
        }
        let count = |b: &Value| b["records"].as_u64().or_else(|| b["records"].as_str().and_then(|s| s.parse().ok()));
        let records: u64 = buckets.iter().map(|b| count(b).unwrap_or(0)).sum();
        if records != mine.len() as u64 {
            self.violation(format!("{tenant}: the usage API has {records} records, {} were accepted", mine.len()));
        }
    }
}
