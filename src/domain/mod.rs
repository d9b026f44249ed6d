//! The shared vocabulary: validated domain values every pipeline stage speaks — tenants and
//! their ids, usage records and corrections, meters and quantities, money and currencies,
//! subscriptions, billing periods, quotas and their alerts, the audit log's actors and events, invoice ids and line keys, the invoice document (content
//! and identity) and the credit ledger's entries; and FNV-1a, the one hash whose values are
//! pinned (lock buckets, write order, demo draws).
//!
//! Input from the wire is turned into these types at the edge (`parse`/`TryFrom`); code below
//! the handlers accepts only these. Nothing here does IO, and this module imports no other
//! module of the crate: everything else may use it.

mod audit;
mod correction;
mod credit;
mod document;
mod exact;
mod fnv;
mod ids;
mod invoice;
mod invoice_id;
mod line_key;
mod meter;
mod money;
mod number_text;
mod payment_terms;
mod period;
mod quantity;
mod quota;
mod secret_token;
mod stored_names;
mod subscription;
mod tenant;
#[cfg(test)]
pub(crate) mod testing;
mod usage;
mod wide;

pub use audit::{Actor, AuditEvent, AuditTarget};
pub use correction::{CorrectionAction, UsageCorrection};
pub use credit::{grant_standing, revocation_amount, CreditEntry, CreditEntryKind, GrantStanding, RevocationRefused};
pub use document::{document_number, BilledLine, InvoiceContent, InvoiceDocument, NewInvoice};
pub(crate) use exact::{Exact, Fraction};
pub(crate) use fnv::fnv1a;
pub use ids::{IdError, TenantId};
pub use invoice::{CustomerSnapshot, InvoiceKind, InvoiceStatus, IssuerSnapshot, LineSnapshot, LineType, TierSnapshot};
pub use invoice_id::InvoiceId;
pub use line_key::LineKey;
pub use meter::Meter;
pub use money::{Currency, Money, MoneyError};
pub(crate) use number_text::NumberText;
pub use payment_terms::{parse_duration_text, PaymentTerms};
pub use period::BillingPeriod;
pub use quantity::{parse_quantity_text, Quantities, QuantityError, QuantityTextError, MAX_QUANTITY_DIGITS};
pub use quota::{
    Quota, QuotaAlert, QuotaError, QuotaMeter, QuotaOwner, QuotaSet, MAX_THRESHOLDS, MAX_THRESHOLD_PERCENT,
};
pub use secret_token::{derived_token, login_link, secret_hash, SecretToken, LOGIN_LINK_TTL};
pub(crate) use stored_names::enum_with_stored_names;
pub use subscription::{end_for_deactivation, plan_at, ChangeTiming, SubscriptionChange};
pub use tenant::{LateUsagePolicy, NewTenant, Tenant, TenantDetails, TenantPatch, ZoneSpan};
pub use usage::{ContentHash, NewUsageRecord, RecordKey};
