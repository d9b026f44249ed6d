//! The invoice document: everything an invoice shows, snapshotted when it is finalized (plan
//! version and prices, quantities per segment and meter, tenant and issuer details, tax,
//! credits, currency). Rendering (HTML, PDF, JSON) reads only this, never live data.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{enum_with_stored_names, Meter};

enum_with_stored_names! {
    /// Lifecycle: `draft → finalized → paid | void` ("sent" is an outbox fact, not a state).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum InvoiceStatus {
        Draft => "draft",
        Finalized => "finalized",
        Paid => "paid",
        Void => "void",
    }
}

enum_with_stored_names! {
    /// Why an invoice exists. Every tenant and period has at most one `period` invoice (its
    /// usage and fees, plus late adjustments of earlier periods in its currency) and at most
    /// one `adjustment` invoice per other currency: late usage of earlier periods billed in a
    /// currency the tenant has since switched away from (one invoice is in one currency).
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum InvoiceKind {
        /// Documents stored before kinds were snapshotted are all period invoices.
        #[default]
        Period => "period",
        Adjustment => "adjustment",
    }
}

/// Who issues invoices (from configuration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuerSnapshot {
    pub name: String,
    pub address: Vec<String>,
    pub tax_id: String,
}

/// The billed tenant as it was when the invoice was finalized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerSnapshot {
    pub tenant_id: String,
    pub name: String,
    pub billing_emails: Vec<String>,
    pub address: Vec<String>,
    pub tax_id: String,
    pub timezone: String,
}

enum_with_stored_names! {
    /// What a line is for.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum LineType {
        Usage => "usage",
        BaseFee => "base_fee",
        MinimumSpendTopUp => "minimum_spend_top_up",
        /// A late change to an earlier, already invoiced period.
        Adjustment => "adjustment",
        /// A zero-amount note: usage of the period no subscription covers, and why (DESIGN §6).
        UnbilledUsage => "unbilled_usage",
    }
}

/// One tier of a usage line's arithmetic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierSnapshot {
    pub from: Decimal,
    pub to: Option<Decimal>,
    pub units: Decimal,
    pub unit_price: Decimal,
    pub price_per: Decimal,
    pub flat_fee: Decimal,
    pub amount: Decimal,
    /// Units per package on a `package` line, whose `units` count packages. Absent from
    /// snapshots taken before it was recorded (they read as `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_size: Option<Decimal>,
}

/// One invoice line, numbered from 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineSnapshot {
    pub number: u32,
    pub line_type: LineType,
    pub description: String,
    /// The stretch of time the line bills (a segment of this or, for adjustments, an earlier period).
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub plan_id: String,
    pub plan_version: i32,
    pub meter: Option<Meter>,
    pub quantity: Option<Decimal>,
    pub included: Option<Decimal>,
    /// Fraction of the period, for base fee and minimum lines.
    pub proration: Option<Decimal>,
    pub tiers: Vec<TierSnapshot>,
    /// Rounded to the currency's minor unit, once, from the exact amount.
    pub amount: Decimal,
    /// Exact — or, past `Decimal`'s 28 digits, cut toward zero and marked below.
    pub amount_precise: Decimal,
    /// True when `amount_precise` is not every digit of the exact amount (absent in documents
    /// issued before the mark existed, which were all within 28 digits or rounded silently).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub amount_precise_rounded: bool,
}

impl LineSnapshot {
    /// A line of `line_type` billing `[start, end)` with no plan, meter or arithmetic yet and
    /// a zero amount: what callers fill in (numbered when the invoice is assembled).
    pub fn blank(line_type: LineType, description: String, start: DateTime<Utc>, end: DateTime<Utc>) -> LineSnapshot {
        LineSnapshot {
            number: 0,
            line_type,
            description,
            start,
            end,
            plan_id: String::new(),
            plan_version: 0,
            meter: None,
            quantity: None,
            included: None,
            proration: None,
            tiers: Vec::new(),
            amount: Decimal::ZERO,
            amount_precise: Decimal::ZERO,
            amount_precise_rounded: false,
        }
    }
}
