//! Validated domain values shared by every pipeline stage.
//!
//! Input from the wire is turned into these types at the edge (`parse`/`TryFrom`); code below
//! the handlers accepts only these. Nothing here does IO.

mod correction;
mod ids;
mod meter;
mod money;
mod quantity;
mod subscription;
mod tenant;
mod usage;

pub use correction::{CorrectionAction, UsageCorrection};
pub use ids::{IdError, TenantId};
pub use meter::Meter;
pub use money::{Currency, Money, MoneyError};
pub use quantity::{Quantities, QuantityError};
pub use subscription::{plan_at, ChangeTiming, SubscriptionChange};
pub use tenant::{LateUsagePolicy, NewTenant, Tenant, TenantDetails, TenantPatch};
pub use usage::{ContentHash, NewUsageRecord, RecordKey};
