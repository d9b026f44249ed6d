//! `TALLY_*` variables the service does not know, found so that a misspelt one is said out loud.
//!
//! A typo in `tally.toml` stops startup (unknown fields are refused). A typo in a variable
//! would otherwise be silent, and the silent default can be the costly one:
//! `TALLY_DATABSE_URL=postgres://…` starts the service on the embedded SQLite file, and
//! `TALLY_SMTP_URLL` writes every invoice email to `.eml` files. Unknown names are warned
//! about rather than refused, because a platform may set `TALLY_*` names of its own:
//! Kubernetes gives every pod `TALLY_SERVICE_HOST`, `TALLY_PORT`, … for a Service named
//! `tally`, and the test and bench harnesses read `TALLY_TEST_*` and `TALLY_BENCH_*`.

/// Prefixes and names that belong to someone else: left alone, never warned about.
const OTHERS: &[&str] = &["TALLY_TEST_", "TALLY_BENCH_", "TALLY_SERVICE_", "TALLY_PORT", "TALLY_CITUS_DIR"];

/// At most this many single-character edits make a known name a likely meaning.
const LIKELY_TYPO_EDITS: usize = 3;

/// One unknown variable, and the known name it most likely meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownVariable {
    pub name: String,
    pub did_you_mean: Option<&'static str>,
}

impl std::fmt::Display for UnknownVariable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.did_you_mean {
            Some(known) => write!(f, "{} is not a Tally setting (did you mean {known}?)", self.name),
            None => write!(f, "{} is not a Tally setting", self.name),
        }
    }
}

/// The `TALLY_*` names among `names` that are neither `known` nor someone else's, in order.
pub fn unknown_variables(names: impl IntoIterator<Item = String>, known: &[&'static str]) -> Vec<UnknownVariable> {
    names
        .into_iter()
        .filter(|name| name.starts_with("TALLY_"))
        .filter(|name| !known.contains(&name.as_str()))
        .filter(|name| !OTHERS.iter().any(|other| name.starts_with(other)))
        .map(|name| {
            let did_you_mean = known
                .iter()
                .map(|k| (strsim::levenshtein(&name, k), *k))
                .filter(|(edits, _)| *edits <= LIKELY_TYPO_EDITS)
                .min()
                .map(|(_, k)| k);
            UnknownVariable { name, did_you_mean }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &[&str] = &["TALLY_DATABASE_URL", "TALLY_SMTP_URL", "TALLY_CONFIG", "TALLY_LISTEN"];

    fn unknown(names: &[&str]) -> Vec<UnknownVariable> {
        unknown_variables(names.iter().map(|n| (*n).to_owned()), KNOWN)
    }

    #[test]
    fn a_misspelt_database_url_is_named_with_the_setting_it_meant() {
        let found = unknown(&["TALLY_DATABSE_URL"]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].did_you_mean, Some("TALLY_DATABASE_URL"));
        assert_eq!(found[0].to_string(), "TALLY_DATABSE_URL is not a Tally setting (did you mean TALLY_DATABASE_URL?)");
    }

    #[test]
    fn an_unknown_name_far_from_every_setting_is_named_without_a_guess() {
        assert_eq!(unknown(&["TALLY_DB"]), vec![UnknownVariable { name: "TALLY_DB".into(), did_you_mean: None }]);
    }

    #[test]
    fn known_settings_and_other_programs_variables_pass_silently() {
        let quiet = [
            "TALLY_DATABASE_URL",
            "TALLY_CONFIG",
            "PATH",
            "TALLYHO",
            // The harnesses' own.
            "TALLY_TEST_DATABASE_URL",
            "TALLY_BENCH_RECORDS",
            "TALLY_CITUS_DIR",
            // Kubernetes service links for a Service named `tally`.
            "TALLY_SERVICE_HOST",
            "TALLY_SERVICE_PORT",
            "TALLY_PORT",
            "TALLY_PORT_8080_TCP_ADDR",
        ];
        assert_eq!(unknown(&quiet), vec![]);
    }

    #[test]
    fn the_nearest_known_name_is_the_guess() {
        let found = unknown(&["TALLY_LISTN", "TALLY_SMTP_URLL"]);
        let guesses: Vec<_> = found.iter().map(|u| u.did_you_mean).collect();
        assert_eq!(guesses, vec![Some("TALLY_LISTEN"), Some("TALLY_SMTP_URL")]);
    }
}
