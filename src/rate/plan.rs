//! A validated pricing plan and its canonical form.
//!
//! A `PricingPlan` only comes from [`PricingPlan::from_toml`] (see `parse.rs`), so holding one
//! means every rule of DESIGN §5 was checked. Its canonical TOML is what a plan *is* for
//! versioning: the content hash is SHA-256 over it, so comments, key order, `"0.20"` vs
//! `"0.2"` and integer vs string quantities never create a new version.

use std::fmt::Write as _;

use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

use super::ChargeModel;
use crate::domain::{Currency, Meter, Quota};

/// One priced meter of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    meter: Meter,
    model: ChargeModel,
    price_per: Decimal,
    included: Decimal,
}

impl Charge {
    /// Builds a charge; the parser has validated the parts.
    pub(crate) fn new(meter: Meter, model: ChargeModel, price_per: Decimal, included: Decimal) -> Charge {
        Charge { meter, model, price_per, included }
    }

    /// The meter this charge prices.
    pub fn meter(&self) -> Meter {
        self.meter
    }

    /// How net units become money.
    pub fn model(&self) -> &ChargeModel {
        &self.model
    }

    /// Unit prices are per this many units (always 1 for `package`).
    pub fn price_per(&self) -> Decimal {
        self.price_per
    }

    /// Free units per period, subtracted before pricing (never prorated).
    pub fn included(&self) -> Decimal {
        self.included
    }
}

/// A validated plan from `pricing/*.toml` (DESIGN §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricingPlan {
    id: String,
    name: String,
    currency: Currency,
    base_fee: Decimal,
    minimum_spend: Decimal,
    charges: Vec<Charge>,
    quotas: Vec<Quota>,
    allow_hard_budget: bool,
    content_hash: String,
}

impl PricingPlan {
    /// Builds a plan from validated parts and computes its content hash.
    pub(super) fn assemble(
        id: String,
        name: String,
        currency: Currency,
        base_fee: Decimal,
        minimum_spend: Decimal,
        charges: Vec<Charge>,
    ) -> PricingPlan {
        let mut plan = PricingPlan {
            id,
            name,
            currency,
            base_fee,
            minimum_spend,
            charges,
            quotas: Vec::new(),
            allow_hard_budget: false,
            content_hash: String::new(),
        };
        plan.content_hash = hex::encode(Sha256::digest(plan.canonical_toml().as_bytes()));
        plan
    }

    /// The plan with default quotas and the hard-budget flag (validated parts); rehashed.
    pub(super) fn with_quotas(mut self, quotas: Vec<Quota>, allow_hard_budget: bool) -> PricingPlan {
        self.quotas = quotas;
        self.allow_hard_budget = allow_hard_budget;
        self.content_hash = hex::encode(Sha256::digest(self.canonical_toml().as_bytes()));
        self
    }

    /// Default quotas of every tenant on this plan (`[[quotas]]`); a tenant's own quota with
    /// the same id overrides one.
    pub fn quotas(&self) -> &[Quota] {
        &self.quotas
    }

    /// May a tenant on this plan make its own budgets hard (`allow_hard_budget`, default false)?
    pub fn allow_hard_budget(&self) -> bool {
        self.allow_hard_budget
    }

    /// The plan id; equals the file name without `.toml`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The display name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The plan's currency; every amount it produces is in it.
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// Flat fee per period, billed in arrears and prorated for partial periods (0 when absent).
    pub fn base_fee(&self) -> Decimal {
        self.base_fee
    }

    /// The period is topped up to this amount, prorated for partial periods (0 when absent).
    pub fn minimum_spend(&self) -> Decimal {
        self.minimum_spend
    }

    /// The charges, in file order; at most one per meter.
    pub fn charges(&self) -> &[Charge] {
        &self.charges
    }

    /// The charge pricing `meter`, if the plan prices it.
    pub fn charge_for(&self, meter: Meter) -> Option<&Charge> {
        self.charges.iter().find(|c| c.meter == meter)
    }

    /// Lower-case hex SHA-256 of [`canonical_toml`](Self::canonical_toml): equal for plans that
    /// price the same, whatever the file's comments, formatting or key order. A new hash
    /// means a new plan version.
    pub fn content_hash(&self) -> &str {
        &self.content_hash
    }

    /// The plan as canonical TOML: fixed key order, every default written out, decimals
    /// normalized and quoted. It parses back to an equal plan, so the store can keep it as a
    /// version's body.
    pub fn canonical_toml(&self) -> String {
        let mut out = String::from("# tally pricing plan, canonical form v1\n");
        let _ = writeln!(out, "id = {}", toml_string(&self.id));
        let _ = writeln!(out, "name = {}", toml_string(&self.name));
        let _ = writeln!(out, "currency = {}", toml_string(self.currency.code()));
        let _ = writeln!(out, "base_fee = {}", decimal(self.base_fee));
        let _ = writeln!(out, "minimum_spend = {}", decimal(self.minimum_spend));
        if self.allow_hard_budget {
            out.push_str("allow_hard_budget = true\n");
        }
        for charge in &self.charges {
            write_charge(&mut out, charge);
        }
        super::plan_quotas::write_quotas(&mut out, &self.quotas, decimal);
        out
    }
}

/// Appends one `[[charge]]` table in canonical form.
fn write_charge(out: &mut String, charge: &Charge) {
    let _ = write!(out, "\n[[charge]]\nmeter = {}\n", toml_string(charge.meter.as_str()));
    let _ = writeln!(out, "model = {}", toml_string(charge.model.name()));
    let _ = writeln!(out, "included = {}", decimal(charge.included));
    match &charge.model {
        ChargeModel::PerUnit { unit_price } => {
            let _ = writeln!(out, "price_per = {}\nunit_price = {}", decimal(charge.price_per), decimal(*unit_price));
        }
        ChargeModel::Graduated { tiers } | ChargeModel::Volume { tiers } => {
            let _ = writeln!(out, "price_per = {}\ntiers = [", decimal(charge.price_per));
            for tier in tiers {
                let up_to = tier.up_to.map_or_else(|| toml_string("unlimited"), decimal);
                let (unit_price, flat_fee) = (decimal(tier.unit_price), decimal(tier.flat_fee));
                let _ = writeln!(out, "  {{ up_to = {up_to}, unit_price = {unit_price}, flat_fee = {flat_fee} }},");
            }
            out.push_str("]\n");
        }
        ChargeModel::Package { package_size, package_price } => {
            let (size, price) = (decimal(*package_size), decimal(*package_price));
            let _ = writeln!(out, "package_size = {size}\npackage_price = {price}");
        }
    }
}

/// A decimal as a quoted, normalized TOML string (`"0.2"`, never a float).
fn decimal(value: Decimal) -> String {
    toml_string(&value.normalize().to_string())
}

/// A TOML basic string with `"`, `\` and control characters escaped.
fn toml_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rate::testing::STANDARD_PLAN;

    /// The standard plan with a flat fee, a package charge and a name that needs escaping.
    fn hashy() -> String {
        let text = STANDARD_PLAN.replacen("name = \"Standard\"", r#"name = "Hashy \"quoted\" \\ name""#, 1).replacen(
            "\"0.0000133334\"",
            "\"0.0000133334\", flat_fee = \"1.50\"",
            1,
        );
        let package =
            "meter = \"cpu_cycles\"\nmodel = \"package\"\npackage_size = \"1000000000\"\npackage_price = \"0.05\"";
        format!("{text}\n[[charge]]\n{package}\n")
    }

    fn plan(text: &str) -> PricingPlan {
        PricingPlan::from_toml("hashy.toml", text).unwrap_or_else(|e| panic!("{e:?}"))
    }

    #[test]
    fn the_canonical_form_parses_back_to_an_equal_plan() {
        let original = plan(&hashy());
        let reparsed = plan(&original.canonical_toml());
        assert_eq!(reparsed, original, "canonical:\n{}", original.canonical_toml());
        assert_eq!(reparsed.content_hash(), original.content_hash());
    }

    #[test]
    fn the_hash_ignores_comments_layout_and_equivalent_spellings() {
        let respelled = hashy()
            .replace("base_fee = \"0.00\"", "# a comment\nbase_fee = \"0\"")
            .replace("included = 400000", "included = \"400000.0\"")
            .replace("\"0.05\"", "\"0.050\"");
        assert_eq!(plan(&respelled).content_hash(), plan(&hashy()).content_hash());
    }

    #[test]
    fn the_hash_changes_when_a_price_changes() {
        let repriced = hashy().replace("\"0.05\"", "\"0.06\"");
        assert_ne!(plan(&repriced).content_hash(), plan(&hashy()).content_hash());
        assert_eq!(plan(&hashy()).content_hash().len(), 64);
    }

    #[test]
    fn charges_are_found_by_meter() {
        assert_eq!(plan(&hashy()).charge_for(Meter::CpuCycles).map(|c| c.model().name()), Some("package"));
        assert!(plan(STANDARD_PLAN).charge_for(Meter::CpuCycles).is_none());
    }
}
