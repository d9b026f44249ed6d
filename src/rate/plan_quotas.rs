//! A plan's default quotas (`[[quotas]]`, DESIGN §9) and its `allow_hard_budget` flag: read
//! and validated with the rest of the plan, errors naming file and field
//! (`pricing/free.toml: quotas[0].thresholds: …`), and written back in canonical form.
//!
//! Pure: no IO. Quota limits on a meter are quantities (integers or decimal strings); a
//! `spend` limit is money, so a string in the plan's currency.

use std::fmt::Write as _;

use rust_decimal::Decimal;
use toml::{Table, Value};

use super::fields::{join, Kind, Reader};
use crate::domain::{Quota, QuotaError, QuotaMeter, MAX_THRESHOLDS, MAX_THRESHOLD_PERCENT};

const QUOTA_KEYS: &[&str] = &["id", "meter", "limit", "thresholds", "hard"];

impl Reader<'_> {
    /// `[[quotas]]`: an empty list when absent.
    pub(super) fn quotas(&mut self, table: &Table) -> Option<Vec<Quota>> {
        self.array_of_tables(
            table,
            "quotas",
            Self::quota,
            |a, b| a.id() == b.id(),
            |quota, i, first| {
                let problem = format!("quota id {:?} is already used by quotas[{first}]", quota.id());
                (format!("quotas[{i}].id"), problem)
            },
        )
    }

    /// `allow_hard_budget`: may tenants on this plan make their budgets hard? Default false.
    pub(super) fn allow_hard_budget(&mut self, table: &Table) -> Option<bool> {
        self.flag(table, "", "allow_hard_budget")
    }

    fn quota(&mut self, index: usize, item: &Value) -> Option<Quota> {
        let path = format!("quotas[{index}]");
        let Value::Table(table) = item else {
            return self.fail(&path, "must be a table: write it as [[quotas]]");
        };
        self.check_keys(table, &path, QUOTA_KEYS, "");
        let id = self.text(table, &path, "id");
        let meter = self.text(table, &path, "meter").and_then(|name| match QuotaMeter::parse(name) {
            Some(meter) => Some(meter),
            None => self.fail(&join(&path, "meter"), "must be cpu_cycles, memory_gb_seconds, invocations or spend"),
        });
        let kind = if meter == Some(QuotaMeter::Spend) { Kind::Price } else { Kind::Quantity };
        let limit = self.decimal(table, &path, "limit", kind, None);
        let thresholds = self.thresholds(table, &path);
        let hard = self.flag(table, &path, "hard");
        let (id, meter, limit, thresholds, hard) = (id?, meter?, limit?, thresholds?, hard?);
        match Quota::new(id, meter.as_str(), limit, &thresholds, hard) {
            Ok(quota) => Some(quota),
            Err(e) => {
                let field = match e {
                    QuotaError::InvalidId => "id",
                    QuotaError::UnknownMeter => "meter",
                    QuotaError::InvalidLimit => "limit",
                    QuotaError::InvalidThresholds => "thresholds",
                };
                self.fail(&join(&path, field), e.to_string())
            }
        }
    }

    fn thresholds(&mut self, table: &Table, path: &str) -> Option<Vec<u32>> {
        let field = join(path, "thresholds");
        let problem = format!(
            "must be an array of at most {MAX_THRESHOLDS} distinct whole percents from 1 to {MAX_THRESHOLD_PERCENT}, like [50, 80, 100]"
        );
        let items = match table.get("thresholds") {
            None => return Some(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(_) => return self.fail(&field, problem),
        };
        let percents: Option<Vec<u32>> = items
            .iter()
            .map(|v| v.as_integer().and_then(|n| u32::try_from(n).ok()))
            .map(|n| n.filter(|n| (1..=MAX_THRESHOLD_PERCENT).contains(n)))
            .collect();
        let mut distinct = percents.clone().unwrap_or_default();
        distinct.sort_unstable();
        distinct.dedup();
        match percents {
            Some(p) if p.len() == distinct.len() && p.len() <= MAX_THRESHOLDS => Some(p),
            _ => self.fail(&field, problem),
        }
    }

    fn flag(&mut self, table: &Table, path: &str, key: &str) -> Option<bool> {
        match table.get(key) {
            None => Some(false),
            Some(Value::Boolean(flag)) => Some(*flag),
            Some(other) => {
                self.fail(&join(path, key), format!("must be true or false, not a TOML {}", other.type_str()))
            }
        }
    }
}

/// Appends one `[[quotas]]` table per quota (nothing for none, so a plan without quotas keeps
/// the canonical text, and the version, it had before quotas existed).
pub(super) fn write_quotas(out: &mut String, quotas: &[Quota], decimal: fn(Decimal) -> String) {
    for quota in quotas {
        let thresholds: Vec<String> = quota.thresholds().iter().map(u32::to_string).collect();
        let _ = write!(
            out,
            "\n[[quotas]]\nid = \"{}\"\nmeter = \"{}\"\nlimit = {}\nthresholds = [{}]\nhard = {}\n",
            quota.id(),
            quota.meter(),
            decimal(quota.limit()),
            thresholds.join(", "),
            quota.hard()
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::{Meter, QuotaMeter};
    use crate::rate::PricingPlan;

    const PLAN: &str = r#"
id = "capped"
name = "Capped"
currency = "USD"
allow_hard_budget = true

[[quotas]]
id = "inv-cap"
meter = "invocations"
limit = 1000000
thresholds = [100, 50, 80]
hard = true

[[quotas]]
id = "spend"
meter = "spend"
limit = "250.00"
thresholds = [80, 100]
"#;

    fn problems(text: &str) -> Vec<String> {
        PricingPlan::from_toml("capped.toml", text).unwrap_err().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn default_quotas_and_the_hard_budget_flag_are_read_and_survive_the_canonical_form() {
        let plan = PricingPlan::from_toml("capped.toml", PLAN).unwrap();
        assert!(plan.allow_hard_budget());
        let ids: Vec<(&str, QuotaMeter, &[u32], bool)> =
            plan.quotas().iter().map(|q| (q.id(), q.meter(), q.thresholds(), q.hard())).collect();
        let spend = QuotaMeter::Spend;
        assert_eq!(
            ids,
            [
                ("inv-cap", QuotaMeter::Usage(Meter::Invocations), &[50, 80, 100][..], true),
                ("spend", spend, &[80, 100][..], false)
            ]
        );
        let reparsed = PricingPlan::from_toml("capped.toml", &plan.canonical_toml()).unwrap();
        assert_eq!(reparsed, plan, "canonical:\n{}", plan.canonical_toml());
    }

    #[test]
    fn a_plan_without_quotas_keeps_its_canonical_text() {
        let plan = PricingPlan::from_toml("p.toml", "id = \"p\"\nname = \"P\"\ncurrency = \"USD\"\n").unwrap();
        assert!(!plan.canonical_toml().contains("quota") && !plan.canonical_toml().contains("allow_hard_budget"));
    }

    #[test]
    fn invalid_quotas_name_file_and_field() {
        let cases = [
            (PLAN.replace("\"250.00\"", "250.0"), "capped.toml: quotas[1].limit: prices must be strings"),
            (PLAN.replace("[100, 50, 80]", "[0, 50]"), "capped.toml: quotas[0].thresholds: must be an array"),
            (PLAN.replace("[100, 50, 80]", "[50, 50]"), "capped.toml: quotas[0].thresholds: must be an array"),
            (
                PLAN.replace("id = \"spend\"", "id = \"inv-cap\""),
                "capped.toml: quotas[1].id: quota id \"inv-cap\" is already used",
            ),
            (PLAN.replace("meter = \"spend\"", "meter = \"gpu\""), "capped.toml: quotas[1].meter: must be"),
            (PLAN.replace("limit = 1000000", "limit = 0"), "capped.toml: quotas[0].limit: limit must be"),
            (PLAN.replace("hard = true", "hard = \"yes\""), "capped.toml: quotas[0].hard: must be true or false"),
            (
                PLAN.replace("allow_hard_budget = true", "allow_hard_budget = 1"),
                "capped.toml: allow_hard_budget: must be",
            ),
            (PLAN.replace("hard = true", "hard = true\nwarn = 1"), "capped.toml: quotas[0].warn: unknown field"),
        ];
        for (text, expected) in cases {
            let found = problems(&text);
            assert!(found.iter().any(|p| p.starts_with(expected)), "expected {expected:?}, got {found:?}");
        }
    }
}
