//! The issued invoice: its identity (id, gapless number, status) around its content, and the
//! new invoice the billing run hands the store to number and keep.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{
    Currency, CustomerSnapshot, InvoiceId, InvoiceKind, InvoiceStatus, IssuerSnapshot, LineKey, LineSnapshot, Money,
};

/// Everything an invoice says, whatever its id and number: snapshotted when it is finalized
/// (plan versions and prices, quantities, tenant and issuer details, tax, credits, currency).
/// Rendering (HTML, PDF, JSON) reads only this, never live data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceContent {
    /// Documents stored before it was snapshotted read as `period` (all were).
    #[serde(default)]
    pub kind: InvoiceKind,
    pub issuer: IssuerSnapshot,
    pub customer: CustomerSnapshot,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub issued_at: DateTime<Utc>,
    /// `issued_at` + the tenant's payment terms. Documents issued before due dates existed
    /// have none (and show none: it is not invented after the fact).
    #[serde(default)]
    pub due_at: Option<DateTime<Utc>>,
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

/// A finalized invoice, exactly as issued. Stored (and served) as one flat JSON object: the
/// identity fields beside the content's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceDocument {
    pub id: InvoiceId,
    pub number: String,
    pub status: InvoiceStatus,
    pub content: InvoiceContent,
}

/// One billed amount, recorded under the line key of the period it bills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BilledLine {
    pub period_start: DateTime<Utc>,
    pub key: LineKey,
    pub amount: Decimal,
}

/// A finalized invoice the store has yet to give an id and a number, with its ledger effects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInvoice {
    pub content: InvoiceContent,
    pub billed: Vec<BilledLine>,
    /// (grant id, amount) of each credit that pays it.
    pub consumptions: Vec<(String, Decimal)>,
    /// A credit to grant when adjustments made the invoice negative.
    pub remainder_credit: Option<Decimal>,
    /// Beside a `period` invoice: one `adjustment` invoice per other currency its late usage
    /// was billed in, issued in the same transaction as it or not at all.
    pub adjustment_invoices: Vec<NewInvoice>,
}

impl NewInvoice {
    /// The issued document, once the store has numbered it.
    pub fn issued(&self, id: InvoiceId, number: String) -> InvoiceDocument {
        InvoiceDocument { id, number, status: InvoiceStatus::Finalized, content: self.content.clone() }
    }
}

/// A gapless document number as printed: `INV-2026-000123`, `CN-2026-000007`.
pub fn document_number(prefix: &str, year: i32, value: i64) -> String {
    format!("{prefix}-{year}-{value:06}")
}

impl InvoiceDocument {
    /// The payload of this invoice's outbox events: enough to find and render it. The total is
    /// at the currency's precision like every amount in the API (`"0.00"`, not the stored `0`).
    pub fn event_payload(&self) -> String {
        let total = Money::new(self.content.total, self.content.currency).round_to_minor_units();
        serde_json::json!({
            "invoice_id": self.id,
            "number": self.number,
            "kind": self.content.kind,
            "tenant_id": self.content.customer.tenant_id,
            "total": total.format_amount(),
            "currency": self.content.currency.code(),
            "due_at": self.content.due_at,
        })
        .to_string()
    }
}

/// The identity fields of the flat JSON form.
#[derive(Serialize, Deserialize)]
struct Identity {
    id: InvoiceId,
    number: String,
    status: InvoiceStatus,
}

// Flat JSON through `serde_json::Value`, not `#[serde(flatten)]`: flatten buffers numbers in a
// way serde_json's `arbitrary_precision` (on in this crate) cannot read back.
impl Serialize for InvoiceDocument {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error;
        let identity = Identity { id: self.id.clone(), number: self.number.clone(), status: self.status };
        let mut object = match serde_json::to_value(identity).map_err(S::Error::custom)? {
            serde_json::Value::Object(object) => object,
            _ => return Err(S::Error::custom("an invoice identity is an object")),
        };
        if let serde_json::Value::Object(content) = serde_json::to_value(&self.content).map_err(S::Error::custom)? {
            object.extend(content);
        }
        object.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for InvoiceDocument {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let value = serde_json::Value::deserialize(deserializer)?;
        let identity = Identity::deserialize(&value).map_err(D::Error::custom)?;
        let content = InvoiceContent::deserialize(&value).map_err(D::Error::custom)?;
        Ok(Self { id: identity.id, number: identity.number, status: identity.status, content })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::TenantId;

    fn content() -> InvoiceContent {
        let at = DateTime::from_timestamp(1_793_491_200, 0).unwrap();
        InvoiceContent {
            kind: InvoiceKind::Period,
            issuer: IssuerSnapshot { name: "Issuer".into(), address: vec![], tax_id: String::new() },
            customer: CustomerSnapshot {
                tenant_id: "acme".into(),
                name: "Acme".into(),
                billing_emails: vec![],
                address: vec![],
                tax_id: String::new(),
                timezone: "UTC".into(),
            },
            period_start: at,
            period_end: at,
            issued_at: at,
            due_at: Some(at + chrono::Duration::days(14)),
            currency: Currency::parse("USD").unwrap(),
            lines: vec![],
            subtotal: Decimal::new(1870, 2),
            tax_rate: Decimal::ZERO,
            tax: Decimal::ZERO,
            credits_applied: Decimal::ZERO,
            total: Decimal::new(1870, 2),
        }
    }

    /// `content` to issue, with no ledger effects and nothing beside it.
    fn new_invoice(content: InvoiceContent) -> NewInvoice {
        NewInvoice {
            content,
            billed: vec![],
            consumptions: vec![],
            remainder_credit: None,
            adjustment_invoices: vec![],
        }
    }

    /// The outbox payload of `content` issued.
    fn event_of(content: InvoiceContent) -> serde_json::Value {
        let document = new_invoice(content)
            .issued(InvoiceId::generate(&TenantId::parse("acme").unwrap()), "INV-2026-000007".into());
        serde_json::from_str(&document.event_payload()).unwrap()
    }

    #[test]
    fn a_document_is_one_flat_json_object_and_reads_back_unchanged() {
        let new = new_invoice(content());
        let id = InvoiceId::generate(&TenantId::parse("acme").unwrap());
        let document = new.issued(id.clone(), document_number("INV", 2026, 7));
        let json = serde_json::to_value(&document).unwrap();
        assert_eq!(json["id"], id.as_str());
        assert_eq!(json["number"], "INV-2026-000007");
        assert_eq!(json["status"], "finalized");
        assert_eq!(json["total"], "18.70", "content fields sit beside the identity, as stored before");
        let read: InvoiceDocument = serde_json::from_value(json).unwrap();
        assert_eq!(read, document);
    }

    #[test]
    fn the_event_payload_carries_the_total_at_the_currency_precision() {
        let payload = |total: Decimal, code: &str| {
            let event = event_of(InvoiceContent { total, currency: Currency::parse(code).unwrap(), ..content() });
            event["total"].as_str().unwrap().to_owned()
        };
        assert_eq!(payload(Decimal::ZERO, "USD"), "0.00", "a zero total is not \"0\"");
        assert_eq!(payload(Decimal::new(187, 1), "USD"), "18.70");
        assert_eq!(payload(Decimal::new(18700, 3), "JPY"), "19");
        assert_eq!(payload(Decimal::new(1870, 0), "JPY"), "1870");
    }

    #[test]
    fn the_event_payload_says_whether_the_invoice_is_the_periods_or_an_adjustment_invoice() {
        let kind =
            |kind: InvoiceKind| event_of(InvoiceContent { kind, ..content() })["kind"].as_str().unwrap().to_owned();
        assert_eq!(kind(InvoiceKind::Period), "period");
        assert_eq!(kind(InvoiceKind::Adjustment), "adjustment");
    }

    #[test]
    fn a_document_stored_before_due_dates_reads_back_without_one() {
        let id = InvoiceId::generate(&TenantId::parse("acme").unwrap());
        let mut json =
            serde_json::to_value(new_invoice(content()).issued(id, document_number("INV", 2026, 7))).unwrap();
        json.as_object_mut().unwrap().remove("due_at");
        let read: InvoiceDocument = serde_json::from_value(json).unwrap();
        assert_eq!(read.content.due_at, None);
    }

    #[test]
    fn a_document_stored_before_kinds_reads_back_as_a_period_invoice() {
        let id = InvoiceId::generate(&TenantId::parse("acme").unwrap());
        let adjustment = InvoiceContent { kind: InvoiceKind::Adjustment, ..content() };
        let new = new_invoice(adjustment);
        let mut json = serde_json::to_value(new.issued(id, document_number("INV", 2026, 7))).unwrap();
        assert_eq!(json["kind"], "adjustment");
        json.as_object_mut().unwrap().remove("kind");
        let read: InvoiceDocument = serde_json::from_value(json).unwrap();
        assert_eq!(read.content.kind, InvoiceKind::Period);
    }
}
