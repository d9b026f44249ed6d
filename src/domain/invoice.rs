//! The invoice document: everything an invoice shows, snapshotted when it is finalized (plan
//! version and prices, quantities per segment and meter, tenant and issuer details, tax,
//! credits, currency). Rendering (HTML, PDF, JSON) reads only this, never live data.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{Currency, Meter, TenantId};

/// Lifecycle: `draft → finalized → paid | void` ("sent" is an outbox fact, not a state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    Draft,
    Finalized,
    Paid,
    Void,
}

impl InvoiceStatus {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Finalized => "finalized",
            Self::Paid => "paid",
            Self::Void => "void",
        }
    }

    /// Parses the stored name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Draft, Self::Finalized, Self::Paid, Self::Void].into_iter().find(|s| s.as_str() == text)
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

/// What a line is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineType {
    Usage,
    BaseFee,
    MinimumSpendTopUp,
    /// A late change to an earlier, already invoiced period.
    Adjustment,
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
    /// Rounded to the currency's minor unit.
    pub amount: Decimal,
    /// Exact.
    pub amount_precise: Decimal,
}

/// A finalized invoice, exactly as issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceDocument {
    pub id: String,
    pub number: String,
    pub status: InvoiceStatus,
    pub issuer: IssuerSnapshot,
    pub customer: CustomerSnapshot,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub issued_at: DateTime<Utc>,
    pub currency: Currency,
    pub lines: Vec<LineSnapshot>,
    /// Σ of the rounded lines.
    pub subtotal: Decimal,
    /// Percent.
    pub tax_rate: Decimal,
    pub tax: Decimal,
    /// Prepaid credits applied after tax.
    pub credits_applied: Decimal,
    /// `subtotal + tax − credits_applied`, never below 0.
    pub total: Decimal,
}

/// One billed amount, recorded under the line key of the period it bills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BilledLine {
    pub period_start: DateTime<Utc>,
    pub key: String,
    pub amount: Decimal,
}

/// A finalized invoice (number and id still to be assigned by the store) and its ledger effects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInvoice {
    pub document: InvoiceDocument,
    pub billed: Vec<BilledLine>,
    pub consumptions: Vec<(String, Decimal)>,
    /// A credit to grant when adjustments made the invoice negative.
    pub remainder_credit: Option<Decimal>,
}

/// A new invoice id: the tenant, a dot, and a random UUID. Tenant ids never contain dots, so
/// the tenant (the shard key) can always be read back from an id in a URL.
pub fn new_invoice_id(tenant: &TenantId) -> String {
    format!("{tenant}.{}", uuid::Uuid::new_v4().simple())
}

/// A gapless document number as printed: `INV-2026-000123`, `CN-2026-000007`.
pub fn document_number(prefix: &str, year: i32, value: i64) -> String {
    format!("{prefix}-{year}-{value:06}")
}

impl InvoiceDocument {
    /// The payload of this invoice's outbox events: enough to find and render it.
    pub fn event_payload(&self) -> String {
        serde_json::json!({
            "invoice_id": self.id,
            "number": self.number,
            "tenant_id": self.customer.tenant_id,
            "total": self.total.to_string(),
            "currency": self.currency.code(),
        })
        .to_string()
    }
}
