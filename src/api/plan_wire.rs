//! Plans in JSON (api-spec `Plan`).

use serde_json::{json, Value};

use super::money_wire::decimal;
use crate::rate::{ChargeModel, PlanVersion, PricingPlan, Tier};

/// A plan's terms.
pub fn plan(p: &PricingPlan) -> Value {
    json!({
        "id": p.id(),
        "name": p.name(),
        "currency": p.currency().code(),
        "base_fee": decimal(p.base_fee()),
        "minimum_spend": decimal(p.minimum_spend()),
        "charges": p.charges().iter().map(|c| {
            let mut out = json!({
                "meter": c.meter(), "model": c.model().name(),
                "price_per": decimal(c.price_per()), "included": decimal(c.included()),
            });
            match c.model() {
                ChargeModel::PerUnit { unit_price } => out["unit_price"] = json!(decimal(*unit_price)),
                ChargeModel::Graduated { tiers } | ChargeModel::Volume { tiers } => out["tiers"] = tiers_json(tiers),
                ChargeModel::Package { package_size, package_price } => {
                    out["package_size"] = json!(decimal(*package_size));
                    out["package_price"] = json!(decimal(*package_price));
                }
            }
            out
        }).collect::<Vec<_>>(),
    })
}

fn tiers_json(tiers: &[Tier]) -> Value {
    tiers
        .iter()
        .map(|t| {
            json!({
                "up_to": t.up_to.map_or_else(|| "unlimited".to_owned(), decimal),
                "unit_price": decimal(t.unit_price),
                "flat_fee": decimal(t.flat_fee),
            })
        })
        .collect()
}

/// A plan's newest terms plus its version number.
pub fn latest(v: &PlanVersion) -> Value {
    let mut out = plan(&v.plan);
    out["version"] = json!(v.version);
    out
}

/// One version with its hash and recording time.
pub fn version(v: &PlanVersion) -> Value {
    json!({
        "version": v.version,
        "content_hash": v.plan.content_hash(),
        "created_at": v.created_at,
        "plan": plan(&v.plan),
    })
}
