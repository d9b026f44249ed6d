//! Loading plan files from disk: `pricing/*.toml` at startup and in `tally plans check`.
//!
//! The only IO in `rate`: reads files, hands the text to the pure parser, and adds the rules
//! for a file alone: the id matches the file name, and quota limits are no finer than their
//! meter or currency (the API's rule for a tenant's quotas). The parser does not hold stored
//! versions to that rule: one recorded before it must keep parsing, or `tally serve` would
//! not start. Reports every problem in every file, so one run of `tally plans check` lists
//! them all.

use std::path::Path;

use super::{PlanError, PricingPlan};
use crate::domain::{Quota, QuotaMeter};

/// Reads and validates one plan file.
///
/// # Errors
/// Every problem in the file; [`PlanError::Unreadable`] when it cannot be read, and a
/// [`PlanError::Invalid`] on `id` when the id is not the file name without `.toml`.
pub fn load_file(path: &Path) -> Result<PricingPlan, Vec<PlanError>> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![PlanError::Unreadable { file: file.clone(), message: e.to_string() }])?;
    let plan = PricingPlan::from_toml(&file, &text)?;
    let stem = path.file_stem().and_then(|stem| stem.to_str()).unwrap_or_default();
    let mut errors = too_fine_limits(&file, &plan);
    if plan.id() != stem {
        let problem = format!("{:?} must match the file name {stem:?}", plan.id());
        errors.insert(0, PlanError::Invalid { file, field: "id".to_owned(), problem });
    }
    if errors.is_empty() {
        Ok(plan)
    } else {
        Err(errors)
    }
}

/// `[[quotas]]` limits finer than what they limit: a meter's recorded precision, or for
/// `spend` the plan's currency.
fn too_fine_limits(file: &str, plan: &PricingPlan) -> Vec<PlanError> {
    let minor_units = plan.currency().minor_units();
    let problem = |quota: &Quota| match quota.meter() {
        QuotaMeter::Usage(_) => quota.finer_than_recorded(),
        QuotaMeter::Spend => (quota.limit().scale() > minor_units)
            .then(|| format!("must have at most {minor_units} decimals, as {} has", plan.currency().code())),
    };
    let field = |i: usize| format!("quotas[{i}].limit");
    plan.quotas()
        .iter()
        .enumerate()
        .filter_map(|(i, quota)| {
            problem(quota).map(|problem| PlanError::Invalid { file: file.to_owned(), field: field(i), problem })
        })
        .collect()
}

/// Reads and validates every `*.toml` file directly in `dir`, sorted by id.
///
/// # Errors
/// The problems of all files together (files are not skipped after the first bad one), or
/// [`PlanError::Unreadable`] when the directory cannot be listed.
pub fn load_dir(dir: impl AsRef<Path>) -> Result<Vec<PricingPlan>, Vec<PlanError>> {
    let dir = dir.as_ref();
    let unreadable =
        |e: std::io::Error| vec![PlanError::Unreadable { file: dir.display().to_string(), message: e.to_string() }];
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(unreadable)? {
        let path = entry.map_err(unreadable)?.path();
        if path.extension().is_some_and(|ext| ext == "toml") && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    let mut plans = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        match load_file(&path) {
            Ok(plan) => plans.push(plan),
            Err(mut found) => errors.append(&mut found),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    plans.sort_by(|a, b| a.id().cmp(b.id()));
    Ok(plans)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Meter;
    use std::path::PathBuf;

    /// A fresh scratch directory under the system temp dir.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tally-rate-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn shipped() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("pricing")
    }

    #[test]
    fn the_shipped_plans_load_and_validate() {
        let plans = load_dir(shipped()).unwrap_or_else(|errors| panic!("{errors:#?}"));
        let ids: Vec<&str> = plans.iter().map(|p| p.id()).collect();
        assert_eq!(ids, ["committed", "free", "payg"]);
        for plan in &plans {
            assert_eq!(plan.currency().code(), "USD", "{}", plan.id());
            for meter in Meter::ALL {
                assert!(plan.charge_for(meter).is_some(), "{} prices {meter}", plan.id());
            }
        }
    }

    #[test]
    fn the_id_must_match_the_file_name() {
        let dir = scratch("id");
        let path = dir.join("standard.toml");
        std::fs::write(&path, "id = \"other\"\nname = \"Other\"\ncurrency = \"USD\"\n").unwrap();
        let errors = load_file(&path).unwrap_err();
        let expected = format!("{}: id: \"other\" must match the file name \"standard\"", path.display());
        assert_eq!(errors.iter().map(ToString::to_string).collect::<Vec<_>>(), [expected]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_file_quota_finer_than_its_meter_or_currency_is_refused_but_such_a_stored_version_still_parses() {
        let dir = scratch("fine");
        let path = dir.join("fine.toml");
        let text = "id = \"fine\"\nname = \"Fine\"\ncurrency = \"USD\"\n\
            [[quotas]]\nid = \"calls\"\nmeter = \"invocations\"\nlimit = \"10.5\"\n\
            [[quotas]]\nid = \"memory\"\nmeter = \"memory_gb_seconds\"\nlimit = \"0.123456789\"\n\
            [[quotas]]\nid = \"cycles\"\nmeter = \"cpu_cycles\"\nlimit = \"1.0\"\n\
            [[quotas]]\nid = \"spend\"\nmeter = \"spend\"\nlimit = \"250.005\"\n";
        std::fs::write(&path, text).unwrap();
        let errors: Vec<String> = load_file(&path).unwrap_err().iter().map(ToString::to_string).collect();
        let file = path.display();
        assert_eq!(
            errors,
            [
                format!("{file}: quotas[0].limit: must be a whole number, as invocations are recorded"),
                format!("{file}: quotas[3].limit: must have at most 2 decimals, as USD has"),
            ],
            "nine decimals of GB-seconds fit, and 1.0 cycles is the whole number 1"
        );
        assert!(PricingPlan::from_toml("fine.toml", text).is_ok(), "a version stored before the rule keeps parsing");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_directory_reports_the_problems_of_every_file() {
        let dir = scratch("many");
        std::fs::write(dir.join("a.toml"), "id = \"a\"\nname = \"A\"\ncurrency = \"XYZ\"\n").unwrap();
        std::fs::write(dir.join("b.toml"), "id = \"b\"\nname = \"B\"\ncurrency = \"USD\"\nbase_fee = 1.5\n").unwrap();
        std::fs::write(dir.join("c.toml"), "id = \"c\"\nname = \"C\"\ncurrency = \"USD\"\n").unwrap();
        std::fs::write(dir.join("notes.txt"), "not a plan").unwrap();
        let errors = load_dir(&dir).unwrap_err();
        let fields: Vec<String> = errors
            .iter()
            .map(|e| match e {
                PlanError::Invalid { file, field, .. } => format!("{}:{field}", Path::new(file).display()),
                other => other.to_string(),
            })
            .collect();
        let a = dir.join("a.toml").display().to_string();
        let b = dir.join("b.toml").display().to_string();
        assert_eq!(fields, [format!("{a}:currency"), format!("{b}:base_fee")]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_missing_directory_is_an_unreadable_error() {
        let errors = load_dir("/nonexistent/tally/pricing").unwrap_err();
        assert!(matches!(&errors[..], [PlanError::Unreadable { .. }]), "{errors:?}");
    }
}
