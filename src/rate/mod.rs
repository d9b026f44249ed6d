//! Rating: pure pricing of usage against pricing plans (DESIGN §5).
//!
//! Stage `aggregate → rate → invoice`. Inputs: a validated [`PricingPlan`] (from
//! `pricing/*.toml`), period quantities and a proration factor. Outputs: a
//! [`PriceBreakdown`] of exact and rounded lines with their tier arithmetic. No SQL, no HTTP,
//! no clock; the only IO is reading plan files in [`load_dir`]/[`load_file`].
#![warn(missing_docs)]

mod catalog;
mod fields;
mod graduated;
mod load;
mod model;
mod package;
mod parse;
mod per_unit;
mod plan;
mod plan_quotas;
mod proration;
mod quote;
mod rated;
#[cfg(test)]
mod testing;
mod tier;
mod volume;

pub use catalog::{PlanCatalog, PlanVersion};
pub use load::{load_dir, load_file};
pub use model::{rate_charge, ChargeModel};
pub use parse::PlanError;
pub use plan::{Charge, PricingPlan};
pub use proration::Proration;
pub use quote::{rate_fees, rate_usage, LineKind, PriceBreakdown, PriceLine};
pub use rated::{RateError, RatedCharge, TierLine};
pub use tier::Tier;
