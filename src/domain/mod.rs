//! Validated domain values shared by every pipeline stage.
//!
//! Input from the wire is turned into these types at the edge (`parse`/`TryFrom`); code below
//! the handlers accepts only these. Nothing here does IO.

mod correction;
mod credit;
mod ids;
mod invoice;
mod meter;
mod money;
mod period;
mod quantity;
mod subscription;
mod tenant;
mod usage;

pub use correction::{CorrectionAction, UsageCorrection};
pub use credit::{CreditEntry, CreditEntryKind};
pub use ids::{IdError, TenantId};
pub use invoice::{
    document_number, new_invoice_id, BilledLine, CustomerSnapshot, InvoiceDocument, InvoiceStatus, IssuerSnapshot,
    LineSnapshot, LineType, NewInvoice, TierSnapshot,
};
pub use meter::Meter;
pub use money::{Currency, Money, MoneyError};
pub use period::BillingPeriod;
pub use quantity::{Quantities, QuantityError};
pub use subscription::{plan_at, ChangeTiming, SubscriptionChange};
pub use tenant::{LateUsagePolicy, NewTenant, Tenant, TenantDetails, TenantPatch};
pub use usage::{ContentHash, NewUsageRecord, RecordKey};
