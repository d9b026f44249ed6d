//! The money laws, read back through the API after a scenario (DESIGN §5 invoice arithmetic,
//! §7 credits and voids):
//! - every invoice's tax is `round(subtotal × tax_rate ÷ 100)` half away from zero at the
//!   currency's precision, and its `credits_applied` lies in `0 ..= subtotal + tax`;
//! - per grant, the ledger adds up: granted + restored − consumed − revoked = remaining, and the
//!   balance is never negative along the way;
//! - an invoice's consumptions sum to its `credits_applied`; a void invoice has a credit note
//!   and its consumptions are restored exactly, a live one has nothing restored;
//! - an invoice consumes only grants made before its period ended and unexpired at that end
//!   ("a grant made before period end and unexpired at period end is eligible").
//!
//! - an invoice that leaves something to pay left no eligible grant with a balance, and one
//!   paid by credit used the grants soonest expiry first (no expiry last, ties by grant time);
//! - a negative pre-credit total is billed as 0 and its remainder granted as credit, linked to
//!   the invoice (and, once the invoice is void, that grant's remainder revoked).
//!
//! A void leaves its period closed (§7): no new invoice for it (the usage laws' "one invoice per
//! period") and what it billed still counts as billed (their "billed once", which sums every
//! invoice's lines, void or not).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::Value;

use super::laws::{dec, instant};
use super::scenario::Played;
use crate::helpers::TestApp;

/// Every money law broken by the scenario `played`, as messages.
pub async fn check(app: &TestApp, played: &Played) -> Vec<String> {
    let mut violations = Vec::new();
    let mut credit_notes = HashSet::new();
    for tenant in &played.tenants {
        let ledger = app.get_json(&format!("/v1/tenants/{tenant}/credits")).await;
        let list = app.get_json(&format!("/v1/tenants/{tenant}/invoices?limit=200")).await;
        let mut invoices = Vec::new();
        for summary in list["data"].as_array().unwrap() {
            invoices.push(app.get_json(&format!("/v1/invoices/{}", summary["id"].as_str().unwrap())).await);
        }
        let mut v = |what: String| violations.push(format!("{tenant}: {what}"));
        for invoice in &invoices {
            invoice_arithmetic(invoice, &mut v);
            if let Some(number) = invoice["credit_note_number"].as_str() {
                if !credit_notes.insert(number.to_owned()) {
                    v(format!("credit note {number} is issued twice"));
                }
            }
        }
        ledger_adds_up(&ledger, &mut v);
        consumptions_match(&ledger, &invoices, &mut v);
        for invoice in &invoices {
            no_eligible_credit_left(&ledger, invoice, &mut v);
            remainder_granted(&ledger, invoice, &mut v);
        }
        if std::env::var("TALLY_CONSERVATION_TRACE").is_ok() {
            let count = |f: &dyn Fn(&Value) -> bool| invoices.iter().filter(|i| f(i)).count();
            let kinds: Vec<&Value> = ledger["entries"].as_array().unwrap().iter().map(|e| &e["kind"]).collect();
            eprintln!(
                "{tenant}: {} invoices ({} adjustment, {} of late usage alone, {} in EUR), {} negative, {} taxed, \
                {} paid by credit, {} void; ledger {kinds:?}",
                invoices.len(),
                count(&|i| i["kind"] == "adjustment"),
                count(&|i| i["kind"] == "period" && late_usage_alone(i)),
                count(&|i| i["currency"] == "EUR"),
                count(&|i| dec(&i["subtotal"]) < Decimal::ZERO),
                count(&|i| dec(&i["tax"]) != Decimal::ZERO),
                count(&|i| dec(&i["credits_applied"]) > Decimal::ZERO),
                count(&|i| i["status"] == "void"),
            );
        }
    }
    violations
}

/// Whether `invoice` bills adjustments and nothing of its own period (usage notes aside).
fn late_usage_alone(invoice: &Value) -> bool {
    let lines = invoice["lines"].as_array().unwrap();
    lines.iter().any(|l| l["type"] == "adjustment")
        && lines.iter().all(|l| ["adjustment", "unbilled_usage"].contains(&l["type"].as_str().unwrap()))
}

fn invoice_arithmetic(invoice: &Value, v: &mut impl FnMut(String)) {
    let number = &invoice["number"];
    let (subtotal, rate, tax, credits) =
        (dec(&invoice["subtotal"]), dec(&invoice["tax_rate"]), dec(&invoice["tax"]), dec(&invoice["credits_applied"]));
    let owed =
        (subtotal * rate / Decimal::ONE_HUNDRED).round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    if tax != owed {
        v(format!("invoice {number}: tax {tax} on a subtotal of {subtotal} at {rate}% (owed {owed})"));
    }
    if credits < Decimal::ZERO || credits > (subtotal + tax).max(Decimal::ZERO) {
        v(format!("invoice {number}: {credits} of credit applied to {subtotal} + {tax} tax"));
    }
    let void = invoice["status"] == "void";
    if void != (invoice["credit_note_number"].is_string() && invoice["voided_at"].is_string()) {
        v(format!("invoice {number} is {} with credit note {}", invoice["status"], invoice["credit_note_number"]));
    }
}

/// Each grant's entries, oldest first, never take its balance below zero and end at `remaining`.
fn ledger_adds_up(ledger: &Value, v: &mut impl FnMut(String)) {
    let entries = ledger["entries"].as_array().unwrap();
    for grant in ledger["grants"].as_array().unwrap() {
        let id = &grant["grant_id"];
        let mut balance = Decimal::ZERO;
        for entry in entries.iter().filter(|e| e["grant_id"] == *id) {
            let amount = dec(&entry["amount"]);
            balance += match entry["kind"].as_str().unwrap() {
                "grant" | "restoration" => amount,
                _ => -amount,
            };
            if balance < Decimal::ZERO {
                v(format!("grant {id} goes below zero ({balance}) at {entry}"));
            }
        }
        if balance != dec(&grant["remaining"]) {
            v(format!("grant {id}: its entries leave {balance}, it says {} remain", grant["remaining"]));
        }
    }
}

/// Per invoice: consumed = credits applied; restored = consumed when void, else nothing; each
/// consumed grant was eligible for the invoice's period.
fn consumptions_match(ledger: &Value, invoices: &[Value], v: &mut impl FnMut(String)) {
    let grants: HashMap<&Value, &Value> =
        ledger["grants"].as_array().unwrap().iter().map(|g| (&g["grant_id"], g)).collect();
    let entries = ledger["entries"].as_array().unwrap();
    for invoice in invoices {
        let number = &invoice["number"];
        let of =
            |kind: &'static str| entries.iter().filter(move |e| e["kind"] == kind && e["invoice_id"] == invoice["id"]);
        let consumed: Decimal = of("consumption").map(|e| dec(&e["amount"])).sum();
        let restored: Decimal = of("restoration").map(|e| dec(&e["amount"])).sum();
        if consumed != dec(&invoice["credits_applied"]) {
            v(format!("invoice {number} consumed {consumed} of credit, applied {}", invoice["credits_applied"]));
        }
        let owed = if invoice["status"] == "void" { consumed } else { Decimal::ZERO };
        if restored != owed {
            v(format!("{} invoice {number} consumed {consumed}, {restored} was restored", invoice["status"]));
        }
        let end = instant(&invoice["period_end"]);
        for e in of("consumption") {
            let Some(grant) = grants.get(&e["grant_id"]) else {
                v(format!("invoice {number} consumed an unknown grant: {e}"));
                continue;
            };
            if !eligible(grant, end) {
                v(format!("invoice {number} of the period ending {end} consumed the ineligible grant {grant}"));
            }
        }
    }
}

/// Whether `grant` may pay the invoice of the period ending `end`: made before it and unexpired
/// at it.
fn eligible(grant: &Value, end: DateTime<Utc>) -> bool {
    let expired = grant["expires_at"].as_str().is_some_and(|x| crate::billing::at(x) <= end);
    !expired && instant(&grant["granted_at"]) < end
}

/// An invoice with something left to pay had no eligible grant left with a balance when it was
/// issued, nor had one consuming a grant due later any due sooner left: the balances then are those of every entry made before, plus the consumptions of its
/// run (entries made at its instant after it — a revocation, a void's restoration — came later).
fn no_eligible_credit_left(ledger: &Value, invoice: &Value, v: &mut impl FnMut(String)) {
    let owed = dec(&invoice["subtotal"]) + dec(&invoice["tax"]) - dec(&invoice["credits_applied"]);
    let (issued, end) = (instant(&invoice["issued_at"]), instant(&invoice["period_end"]));
    let entries = ledger["entries"].as_array().unwrap();
    let grants = ledger["grants"].as_array().unwrap();
    // Soonest expiry first, no expiry last, ties by grant time (DESIGN §7).
    let order = |g: &Value| {
        (g["expires_at"].is_null(), g["expires_at"].as_str().map(crate::billing::at), instant(&g["granted_at"]))
    };
    let consumed = entries.iter().filter(|e| e["kind"] == "consumption" && e["invoice_id"] == invoice["id"]);
    let last_used = consumed.filter_map(|e| grants.iter().find(|g| g["grant_id"] == e["grant_id"])).map(order).max();
    for grant in grants.iter().filter(|g| eligible(g, end)) {
        let before_last_used = last_used.as_ref().is_some_and(|last| order(grant) < *last);
        if owed <= Decimal::ZERO && !before_last_used {
            continue;
        }
        let balance: Decimal = entries
            .iter()
            .filter(|e| e["grant_id"] == grant["grant_id"])
            .filter(|e| {
                let at = instant(&e["created_at"]);
                at < issued || (at == issued && e["kind"] == "consumption")
            })
            .map(|e| match e["kind"].as_str().unwrap() {
                "grant" | "restoration" => dec(&e["amount"]),
                _ => -dec(&e["amount"]),
            })
            .sum();
        if balance > Decimal::ZERO && grant["currency"] == invoice["currency"] {
            v(format!(
                "invoice {} left {owed} to pay (or used a grant due later) while the eligible grant {} had {balance} left",
                invoice["number"], grant["grant_id"]
            ));
        }
    }
}

/// A negative pre-credit total is billed as 0 and granted back whole, linked to the invoice.
fn remainder_granted(ledger: &Value, invoice: &Value, v: &mut impl FnMut(String)) {
    let before_credit = dec(&invoice["subtotal"]) + dec(&invoice["tax"]);
    let expected_total = (before_credit - dec(&invoice["credits_applied"])).max(Decimal::ZERO);
    if dec(&invoice["total"]) != expected_total {
        v(format!("invoice {}: total {} for {before_credit} less credits", invoice["number"], invoice["total"]));
    }
    let entries = ledger["entries"].as_array().unwrap();
    let granted: Decimal = entries
        .iter()
        .filter(|e| e["kind"] == "grant" && e["invoice_id"] == invoice["id"])
        .map(|e| dec(&e["amount"]))
        .sum();
    let remainder = (-before_credit).max(Decimal::ZERO);
    if granted != remainder {
        v(format!("invoice {}: {before_credit} before credit, {granted} granted back", invoice["number"]));
    }
    if invoice["status"] != "void" {
        return;
    }
    // Voided, it takes back what is left of what it granted (api-spec `voidInvoice`).
    for grant in entries.iter().filter(|e| e["kind"] == "grant" && e["invoice_id"] == invoice["id"]) {
        let left = ledger["grants"].as_array().unwrap().iter().find(|g| g["grant_id"] == grant["grant_id"]);
        if left.is_none_or(|g| dec(&g["remaining"]) != Decimal::ZERO) {
            v(format!("void invoice {} still leaves credit it granted: {left:?}", invoice["number"]));
        }
    }
}
