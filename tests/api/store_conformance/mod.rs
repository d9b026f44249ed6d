//! The `Store` contract, checked directly against both engines: every public operation, one
//! body run on SQLite and on PostgreSQL (`both_stores!`), so the engines must give identical
//! answers — decimals exact, instants to the microsecond, orders as documented.
//!
//! One file per table group; the fixtures they share live here.

mod access;
mod adjustment_invoices;
mod credits;
mod invoices;
mod pending_rollups;
mod plans;
mod reminders;
mod rollup_levels;
mod tenants;
mod usage;
mod usage_groups;

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;

use crate::helpers::test_now;
use tally::domain::{
    BillingPeriod, ContentHash, Currency, CustomerSnapshot, IssuerSnapshot, LateUsagePolicy, LineKey, LineSnapshot,
    LineType, NewInvoice, NewTenant, NewUsageRecord, Quantities, RecordKey, Tenant, TenantDetails, TenantId,
};
use tally::invoice::{assemble_invoice, balances, InvoiceParts, KeyedLine};
use tally::store::{IssueInvoice, IssueOutcome, Store, StoredInvoice};

/// A tenant id that parses.
fn id(text: &str) -> TenantId {
    TenantId::parse(text).unwrap()
}

/// A decimal from its text, so a test says exactly the digits it means.
fn dec(text: &str) -> Decimal {
    text.parse().unwrap()
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

fn usd() -> Currency {
    Currency::parse("USD").unwrap()
}

/// A tenant with every detail set (tax 8.875 %, so tax rounds).
pub(crate) fn tenant(id: &str) -> NewTenant {
    NewTenant {
        id: TenantId::parse(id).unwrap(),
        details: TenantDetails {
            name: format!("Tenant {id}"),
            billing_emails: vec!["a@b.test".into()],
            timezone: chrono_tz::Tz::Asia__Kolkata,
            tax_rate: Decimal::new(8875, 3),
            address: vec!["1 Main St".into()],
            tax_id: String::new(),
            late_usage_policy: LateUsagePolicy::NextInvoice,
            payment_terms: None,
        },
    }
}

/// A record of tenant `acme` in function `f`, `minutes` before `test_now()`.
fn usage(id: &str, minutes: i64, memory: &str) -> NewUsageRecord {
    usage_of("acme", id, test_now() - Duration::minutes(minutes), "f", memory)
}

/// A record with one invocation and `memory` GB-seconds.
fn usage_of(tenant: &str, id: &str, timestamp: DateTime<Utc>, function: &str, memory: &str) -> NewUsageRecord {
    let quantities = Quantities { memory_gb_seconds: dec(memory), invocations: Decimal::ONE, ..Default::default() };
    NewUsageRecord {
        key: RecordKey { tenant_id: TenantId::parse(tenant).unwrap(), source: String::new(), record_id: id.into() },
        timestamp,
        function: function.into(),
        region: String::new(),
        quantities,
        event_type: String::new(),
        content_hash: ContentHash::of(Some(timestamp), function, "", &quantities),
    }
}

/// The calendar month of 2026 starting in `month`, in UTC.
pub(crate) fn month(month: u32) -> BillingPeriod {
    let start = at(&format!("2026-{month:02}-01T00:00:00Z"));
    let end = at(&format!("2026-{:02}-01T00:00:00Z", month + 1));
    BillingPeriod::new(start, end).unwrap()
}

/// An invoice for `period` with one base-fee line of `fee`, assembled by the real pure code
/// with the tenant's tax and its credit balances as stored now.
async fn new_invoice(store: &Store, tenant: &Tenant, period: BillingPeriod, fee: &str) -> NewInvoice {
    let ledger = store.credit_entries(&tenant.id).await.unwrap();
    let credits = balances(&ledger, usd());
    let line = LineSnapshot {
        number: 0,
        line_type: LineType::BaseFee,
        description: "Base fee".into(),
        start: period.start(),
        end: period.end(),
        plan_id: "pro".into(),
        plan_version: 1,
        meter: None,
        quantity: None,
        included: None,
        proration: Some(Decimal::ONE),
        tiers: Vec::new(),
        amount: dec(fee),
        amount_precise: dec(fee),
        amount_precise_rounded: false,
    };
    let d = &tenant.details;
    assemble_invoice(InvoiceParts {
        kind: tally::domain::InvoiceKind::Period,
        issuer: IssuerSnapshot { name: "Tally Inc.".into(), address: vec!["2 Issuer Rd".into()], tax_id: "T-1".into() },
        customer: CustomerSnapshot {
            tenant_id: tenant.id.to_string(),
            name: d.name.clone(),
            billing_emails: d.billing_emails.clone(),
            address: d.address.clone(),
            tax_id: d.tax_id.clone(),
            timezone: d.timezone.name().to_owned(),
        },
        period,
        issued_at: test_now(),
        payment_terms: tally::domain::PaymentTerms::DEFAULT,
        currency: usd(),
        tax_rate: d.tax_rate,
        period_lines: vec![KeyedLine {
            key: LineKey { segment_start: period.start(), line_type: LineType::BaseFee, meter: None },
            line,
        }],
        adjustments: Vec::new(),
        notes: Vec::new(),
        credits: &credits,
    })
    .unwrap()
}

/// Issues `invoice` at `test_now()` with the `INV` prefix.
async fn issue(store: &Store, tenant: &TenantId, invoice: &NewInvoice) -> IssueOutcome {
    let issue = IssueInvoice { tenant, invoice, invoice_prefix: "INV", now: test_now() };
    store.issue_invoice(&issue).await.unwrap()
}

/// Assembles and issues an invoice for `period`, expecting it to be issued; returns it as stored.
pub(crate) async fn issued(store: &Store, tenant: &Tenant, period: BillingPeriod, fee: &str) -> StoredInvoice {
    let invoice = new_invoice(store, tenant, period, fee).await;
    let IssueOutcome::Issued(document, _) = issue(store, &tenant.id, &invoice).await else {
        panic!("{period:?} of {} is issued", tenant.id)
    };
    store.get_invoice(&document.id).await.unwrap().expect("an issued invoice reads back")
}
