//! Reading a pricing plan from TOML (DESIGN §5) and validating every rule at load time.
//!
//! Input: a file name (for messages) and its text. Output: a [`PricingPlan`] or every problem
//! found, each naming file, field and problem. Walks `toml::Value` by hand rather than
//! deriving, so that a TOML float price, an unknown key or an unsorted tier gets a precise
//! message. No IO here (see `load.rs`).

use rust_decimal::Decimal;
use toml::{Table, Value};

use super::fields::{join, unknown, Kind, Reader};
use super::{Charge, ChargeModel, PricingPlan, Tier};
use crate::domain::{Currency, Meter};

/// Why a plan file was refused. Displays as `file: field: problem`, e.g.
/// `pricing/standard.toml: charge[1].tiers[0].unit_price: prices must be strings like "0.20", not TOML floats`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The file or directory could not be read.
    #[error("{file}: cannot be read: {message}")]
    Unreadable {
        /// The path as given.
        file: String,
        /// The IO error's text.
        message: String,
    },
    /// The text is not TOML.
    #[error("{file}: not valid TOML: {message}")]
    Syntax {
        /// The path as given.
        file: String,
        /// Line, column and the parser's message.
        message: String,
    },
    /// A field breaks a rule of DESIGN §5.
    #[error("{file}: {field}: {problem}")]
    Invalid {
        /// The path as given.
        file: String,
        /// The field's path, e.g. `charge[1].tiers[0].unit_price`.
        field: String,
        /// What is wrong, and what would be right.
        problem: String,
    },
}

const PLAN_KEYS: &[&str] =
    &["id", "name", "currency", "base_fee", "minimum_spend", "allow_hard_budget", "charge", "quotas"];
const PER_UNIT_KEYS: &[&str] = &["meter", "model", "included", "price_per", "unit_price"];
const TIERED_KEYS: &[&str] = &["meter", "model", "included", "price_per", "tiers"];
const PACKAGE_KEYS: &[&str] = &["meter", "model", "included", "package_size", "package_price"];
const TIER_KEYS: &[&str] = &["up_to", "unit_price", "flat_fee"];

impl PricingPlan {
    /// Parses and validates a plan. `file` is only used in messages; the check that `id`
    /// matches the file name is [`load_file`](super::load_file)'s.
    ///
    /// # Errors
    /// Every problem found (not just the first), each naming `file` and the field.
    pub fn from_toml(file: &str, text: &str) -> Result<PricingPlan, Vec<PlanError>> {
        let table = text.parse::<Table>().map_err(|e| vec![syntax_error(file, text, &e)])?;
        let mut reader = Reader { file, errors: Vec::new() };
        let plan = reader.plan(&table);
        match plan {
            Some(plan) if reader.errors.is_empty() => Ok(plan),
            _ if reader.errors.is_empty() => Err(vec![reader.error("", "the plan could not be read")]),
            _ => Err(reader.errors),
        }
    }
}

/// A one-line syntax error with its line and column.
fn syntax_error(file: &str, text: &str, error: &toml::de::Error) -> PlanError {
    let at = error.span().map(|span| {
        let before = &text[..span.start.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        format!("line {line}, column {column}: ")
    });
    PlanError::Syntax { file: file.to_owned(), message: format!("{}{}", at.unwrap_or_default(), error.message()) }
}

/// The plan-shaped reads: plan, charges, models, tiers. The generic typed field reads
/// (strings, prices, quantities, unknown keys) are in `fields.rs`.
impl Reader<'_> {
    fn plan(&mut self, table: &Table) -> Option<PricingPlan> {
        self.check_keys(table, "", PLAN_KEYS, "");
        let id = self.id(table);
        let name = self.text(table, "", "name");
        let currency = self.text(table, "", "currency").and_then(|code| match Currency::parse(code) {
            Ok(currency) => Some(currency),
            Err(e) => self.fail("currency", e.to_string()),
        });
        let base_fee = self.decimal(table, "", "base_fee", Kind::Price, Some(Decimal::ZERO));
        let minimum_spend = self.decimal(table, "", "minimum_spend", Kind::Price, Some(Decimal::ZERO));
        let charges = self.charges(table);
        let (quotas, allow_hard_budget) = (self.quotas(table), self.allow_hard_budget(table));
        let plan = PricingPlan::assemble(id?, name?.to_owned(), currency?, base_fee?, minimum_spend?, charges?);
        Some(plan.with_quotas(quotas?, allow_hard_budget?))
    }

    fn id(&mut self, table: &Table) -> Option<String> {
        let id = self.text(table, "", "id")?;
        let slug = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
        if id.len() <= 64 && id.chars().all(slug) {
            Some(id.to_owned())
        } else {
            self.fail("id", "must be 1-64 characters of a-z, 0-9, '-' or '_'")
        }
    }

    fn charges(&mut self, table: &Table) -> Option<Vec<Charge>> {
        self.array_of_tables(
            table,
            "charge",
            Self::charge,
            |a, b| a.meter() == b.meter(),
            |charge, i, first| {
                let problem = format!("meter {} is already priced by charge[{first}]", charge.meter());
                (format!("charge[{i}].meter"), problem)
            },
        )
    }

    fn charge(&mut self, index: usize, item: &Value) -> Option<Charge> {
        let path = format!("charge[{index}]");
        let Value::Table(table) = item else {
            return self.fail(&path, "must be a table: write it as [[charge]]");
        };
        let meter = self.text(table, &path, "meter").and_then(|name| match Meter::parse(name) {
            Some(meter) => Some(meter),
            None => {
                self.fail(&join(&path, "meter"), unknown("meter", name, "cpu_cycles, memory_gb_seconds, invocations"))
            }
        });
        let included = self.decimal(table, &path, "included", Kind::Quantity, Some(Decimal::ZERO));
        let model = self.model(table, &path);
        let price_per = match &model {
            Some(ChargeModel::Package { .. }) => Some(Decimal::ONE),
            _ => self.positive(table, &path, "price_per", Some(Decimal::ONE)),
        };
        Some(Charge::new(meter?, model?, price_per?, included?))
    }

    fn model(&mut self, table: &Table, path: &str) -> Option<ChargeModel> {
        let name = self.text(table, path, "model")?;
        let (keys, model) = match name {
            "per_unit" => (PER_UNIT_KEYS, self.per_unit(table, path)),
            "graduated" => (TIERED_KEYS, self.tiers(table, path).map(|tiers| ChargeModel::Graduated { tiers })),
            "volume" => (TIERED_KEYS, self.tiers(table, path).map(|tiers| ChargeModel::Volume { tiers })),
            "package" => (PACKAGE_KEYS, self.package(table, path)),
            other => {
                return self.fail(&join(path, "model"), unknown("model", other, "per_unit, graduated, volume, package"))
            }
        };
        self.check_keys(table, path, keys, &format!(" for model \"{name}\""));
        model
    }

    fn per_unit(&mut self, table: &Table, path: &str) -> Option<ChargeModel> {
        let unit_price = self.decimal(table, path, "unit_price", Kind::Price, None)?;
        Some(ChargeModel::PerUnit { unit_price })
    }

    fn package(&mut self, table: &Table, path: &str) -> Option<ChargeModel> {
        let package_size = self.positive(table, path, "package_size", None);
        let package_price = self.decimal(table, path, "package_price", Kind::Price, None);
        Some(ChargeModel::Package { package_size: package_size?, package_price: package_price? })
    }

    fn tiers(&mut self, table: &Table, path: &str) -> Option<Vec<Tier>> {
        let field = join(path, "tiers");
        let items = match table.get("tiers") {
            Some(Value::Array(items)) if !items.is_empty() => items,
            Some(Value::Array(_)) => return self.fail(&field, "needs at least one tier"),
            Some(_) => {
                return self.fail(&field, "must be an array like [ { up_to = \"unlimited\", unit_price = \"0.20\" } ]")
            }
            None => return self.fail(&field, "is required for tiered models"),
        };
        let tiers: Vec<Option<Tier>> = items.iter().enumerate().map(|(i, item)| self.tier(&field, i, item)).collect();
        let tiers: Vec<Tier> = tiers.into_iter().collect::<Option<_>>()?;
        self.tiers_are_ordered(&field, &tiers).then_some(tiers)
    }

    fn tier(&mut self, field: &str, index: usize, item: &Value) -> Option<Tier> {
        let path = format!("{field}[{index}]");
        let Value::Table(table) = item else {
            return self.fail(&path, "must be a table like { up_to = 100, unit_price = \"0.20\" }");
        };
        self.check_keys(table, &path, TIER_KEYS, "");
        let up_to = match table.get("up_to") {
            Some(Value::String(text)) if text == "unlimited" => Some(None),
            Some(_) => self.positive(table, &path, "up_to", None).map(Some),
            None => self.fail(&join(&path, "up_to"), "is required (a number, or \"unlimited\" for the last tier)"),
        };
        let unit_price = self.decimal(table, &path, "unit_price", Kind::Price, None);
        let flat_fee = self.decimal(table, &path, "flat_fee", Kind::Price, Some(Decimal::ZERO));
        Some(Tier { up_to: up_to?, unit_price: unit_price?, flat_fee: flat_fee? })
    }

    /// Tiers are `(previous up_to, up_to]`, so strictly rising bounds make them contiguous;
    /// the last one, and only it, is open-ended.
    fn tiers_are_ordered(&mut self, field: &str, tiers: &[Tier]) -> bool {
        let before = self.errors.len();
        let mut previous = Decimal::ZERO;
        for (i, tier) in tiers.iter().enumerate() {
            let up_to_field = format!("{field}[{i}].up_to");
            match (tier.up_to, i + 1 == tiers.len()) {
                (None, true) => {}
                (None, false) => self.errors.push(self.error(&up_to_field, "only the last tier may be \"unlimited\"")),
                (Some(_), true) => self
                    .errors
                    .push(self.error(&up_to_field, "the last tier must be open-ended: up_to = \"unlimited\"")),
                (Some(up_to), false) if up_to <= previous => {
                    let problem = format!("tiers must be sorted: {up_to} is not above the previous up_to {previous}");
                    self.errors.push(self.error(&up_to_field, problem));
                }
                (Some(up_to), false) => previous = up_to,
            }
        }
        self.errors.len() == before
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rate::testing::STANDARD_PLAN;

    const FILE: &str = "pricing/standard.toml";

    fn messages(text: &str) -> Vec<String> {
        match PricingPlan::from_toml(FILE, text) {
            Ok(plan) => panic!("expected errors, got {plan:?}"),
            Err(errors) => errors.iter().map(ToString::to_string).collect(),
        }
    }

    fn replaced(from: &str, to: &str) -> String {
        assert!(STANDARD_PLAN.contains(from), "the fixture contains {from:?}");
        STANDARD_PLAN.replacen(from, to, 1)
    }

    #[test]
    fn the_design_example_parses() {
        let plan = PricingPlan::from_toml(FILE, STANDARD_PLAN).unwrap_or_else(|e| panic!("{e:#?}"));
        assert_eq!((plan.id(), plan.name(), plan.currency().code()), ("standard", "Standard", "USD"));
        assert_eq!(plan.charges().len(), 2);
        let memory = &plan.charges()[1];
        assert_eq!(memory.model().tiers().len(), 3);
        assert_eq!(memory.model().tiers()[2].up_to, None);
        assert_eq!(plan.charges()[0].price_per(), Decimal::from(1_000_000));
    }

    /// (what is wrong, text to replace in `STANDARD_PLAN`, replacement, message after the file name).
    const CASES: &[(&str, &str, &str, &str)] = &[
        (
            "float price",
            "\"0.000015\"",
            "0.000015",
            "charge[1].tiers[1].unit_price: prices must be strings like \"0.20\", not TOML floats",
        ),
        (
            "integer price",
            "base_fee = \"0.00\"",
            "base_fee = 0",
            "base_fee: prices must be strings like \"0.20\", not TOML integers",
        ),
        (
            "float quantity",
            "included = 400000",
            "included = 4.5e5",
            "charge[1].included: quantities must be integers or strings like \"0.5\", not TOML floats",
        ),
        ("negative price", "\"0.20\"", "\"-0.20\"", "charge[0].tiers[0].unit_price: must not be negative"),
        ("negative quantity", "included = 1000000", "included = -1", "charge[0].included: must not be negative"),
        (
            "exponent",
            "\"0.20\"",
            "\"1e-1\"",
            "charge[0].tiers[0].unit_price: \"1e-1\" is not a decimal number like \"0.20\"",
        ),
        (
            "underscore",
            "\"0.20\"",
            "\"0_20\"",
            "charge[0].tiers[0].unit_price: \"0_20\" is not a decimal number like \"0.20\"",
        ),
        (
            "no digits before the point",
            "\"0.20\"",
            "\".20\"",
            "charge[0].tiers[0].unit_price: \".20\" is not a decimal number like \"0.20\"",
        ),
        (
            "too precise",
            "\"0.20\"",
            "\"0.00000000000000000000000000001\"",
            "charge[0].tiers[0].unit_price: \"0.00000000000000000000000000001\" has more digits than 28",
        ),
        (
            "wrong type",
            "base_fee = \"0.00\"",
            "base_fee = true",
            "base_fee: must be a string like \"0.20\", not a TOML boolean",
        ),
        (
            "unknown meter",
            "\"invocations\"",
            "\"requests\"",
            "charge[0].meter: unknown meter \"requests\"; expected one of cpu_cycles, memory_gb_seconds, invocations",
        ),
        (
            "unknown model",
            "\"graduated\"",
            "\"stairstep\"",
            "charge[0].model: unknown model \"stairstep\"; expected one of per_unit, graduated, volume, package",
        ),
        (
            "unknown currency",
            "\"USD\"",
            "\"XYZ\"",
            "currency: unknown currency \"XYZ\"; expected an ISO 4217 code such as \"USD\"",
        ),
        ("missing name", "name = \"Standard\"\n", "", "name: is required"),
        ("blank name", "name = \"Standard\"", "name = \"  \"", "name: must not be empty"),
        ("id of the wrong type", "id = \"standard\"", "id = 7", "id: must be a string, not a TOML integer"),
        (
            "id that is not a slug",
            "id = \"standard\"",
            "id = \"Stand ard\"",
            "id: must be 1-64 characters of a-z, 0-9, '-' or '_'",
        ),
        (
            "typo at the top level",
            "minimum_spend",
            "minimum_spent",
            "minimum_spent: unknown field; expected one of id, name, currency, base_fee, minimum_spend, allow_hard_budget, charge, quotas",
        ),
        ("zero price_per", "price_per = 1000000", "price_per = 0", "charge[0].price_per: must be greater than 0"),
        (
            "a field of another model",
            "price_per = 1000000",
            "unit_price = \"1\"",
            "charge[0].unit_price: unknown field for model \"graduated\"; expected one of meter, model, included, \
            price_per, tiers",
        ),
        (
            "no tiers",
            "tiers = [ { up_to = \"unlimited\", unit_price = \"0.20\" } ]",
            "tiers = []",
            "charge[0].tiers: needs at least one tier",
        ),
        (
            "missing tiers",
            "tiers = [ { up_to = \"unlimited\", unit_price = \"0.20\" } ]\n",
            "",
            "charge[0].tiers: is required for tiered models",
        ),
        (
            "closed last tier",
            "up_to = \"unlimited\", unit_price = \"0.20\"",
            "up_to = 5, unit_price = \"0.20\"",
            "charge[0].tiers[0].up_to: the last tier must be open-ended: up_to = \"unlimited\"",
        ),
        (
            "open middle tier",
            "up_to = 6000000000, ",
            "up_to = \"unlimited\",",
            "charge[1].tiers[0].up_to: only the last tier may be \"unlimited\"",
        ),
        (
            "unsorted tiers",
            "up_to = 15000000000",
            "up_to = 6000000000",
            "charge[1].tiers[1].up_to: tiers must be sorted: 6000000000 is not above the previous up_to 6000000000",
        ),
        (
            "an empty first tier",
            "up_to = 6000000000, ",
            "up_to = 0,",
            "charge[1].tiers[0].up_to: must be greater than 0",
        ),
        (
            "a tier without a price",
            "{ up_to = 15000000000, unit_price = \"0.000015\" }",
            "{ up_to = 15000000000 }",
            "charge[1].tiers[1].unit_price: is required",
        ),
        (
            "a tier with a from",
            "{ up_to = 15000000000, unit_price",
            "{ from = 1, up_to = 15000000000, unit_price",
            "charge[1].tiers[1].from: unknown field; expected one of up_to, unit_price, flat_fee",
        ),
        (
            "two charges for one meter",
            "\"memory_gb_seconds\"",
            "\"invocations\"",
            "charge[1].meter: meter invocations is already priced by charge[0]",
        ),
        (
            "a syntax error",
            "name = \"Standard\"",
            "name = \"Standard",
            "not valid TOML: line 3, column 17: invalid basic string",
        ),
    ];

    #[test]
    fn each_validation_problem_has_a_message_naming_file_and_field() {
        for (why, from, to, problem) in CASES {
            let expected = format!("pricing/standard.toml: {problem}");
            assert_eq!(messages(&replaced(from, to)), [expected], "{why}");
        }
    }

    #[test]
    fn package_charges_validate_their_size_and_price() {
        let package = "[[charge]]\nmeter = \"cpu_cycles\"\nmodel = \"package\"\n";
        let p = "pricing/standard.toml: charge[2]";
        let cases = [
            ("package_size = 0\npackage_price = \"1\"", format!("{p}.package_size: must be greater than 0")),
            ("package_size = 10", format!("{p}.package_price: is required")),
            (
                "package_size = 10\npackage_price = 1.5",
                format!("{p}.package_price: prices must be strings like \"0.20\", not TOML floats"),
            ),
            (
                "package_size = 10\npackage_price = \"1\"\nprice_per = 5",
                format!(
                    "{p}.price_per: unknown field for model \"package\"; \
                    expected one of meter, model, included, package_size, package_price"
                ),
            ),
        ];
        for (fields, expected) in cases {
            let text = format!("{STANDARD_PLAN}\n{package}{fields}\n");
            assert_eq!(messages(&text), [expected], "{fields}");
        }
        let valid = format!("{STANDARD_PLAN}\n{package}package_size = \"0.5\"\npackage_price = \"1\"\n");
        assert!(PricingPlan::from_toml(FILE, &valid).is_ok());
    }

    #[test]
    fn per_unit_charges_need_a_unit_price() {
        let per_unit = "[[charge]]\nmeter = \"cpu_cycles\"\nmodel = \"per_unit\"\nprice_per = \"1000000000\"\n";
        assert_eq!(
            messages(&format!("{STANDARD_PLAN}\n{per_unit}")),
            ["pricing/standard.toml: charge[2].unit_price: is required"]
        );
        let valid = format!("{STANDARD_PLAN}\n{per_unit}unit_price = \"0.05\"\n");
        assert!(PricingPlan::from_toml(FILE, &valid).is_ok());
    }

    #[test]
    fn every_problem_in_a_file_is_reported_at_once() {
        let text = STANDARD_PLAN.replacen("\"USD\"", "\"usd\"", 1).replacen("\"0.20\"", "0.20", 1).replacen(
            "name = \"Standard\"\n",
            "",
            1,
        );
        let fields: Vec<String> = PricingPlan::from_toml(FILE, &text)
            .unwrap_err()
            .into_iter()
            .filter_map(|e| match e {
                PlanError::Invalid { field, .. } => Some(field),
                _ => None,
            })
            .collect();
        assert_eq!(fields, ["name", "currency", "charge[0].tiers[0].unit_price"]);
    }

    #[test]
    fn flat_fees_and_decimal_bounds_are_read() {
        let text = replaced(
            "{ up_to = 6000000000,  unit_price = \"0.0000166667\" }",
            "{ up_to = \"0.5\", unit_price = \"1\", flat_fee = \"2.50\" }",
        );
        let plan = PricingPlan::from_toml(FILE, &text).unwrap_or_else(|e| panic!("{e:#?}"));
        let first = &plan.charges()[1].model().tiers()[0];
        assert_eq!((first.up_to, first.flat_fee), (Some(Decimal::new(5, 1)), Decimal::new(250, 2)));
    }
}
