//! Loading the settings once: defaults in code, then an optional `tally.toml` (or the file
//! `TALLY_CONFIG` names), then the `TALLY_*` variables of DESIGN §12, each mapped onto one
//! nested setting; then the checks no single field can make. An unknown variable is warned
//! about (`unknown_env.rs`), an unknown key in the file refused.
//!
//! Stage: startup. Parsing only, apart from reading the file and the environment in `load`.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};

use super::unknown_env::unknown_variables;
use super::Settings;

/// The documented environment variables and the setting each one sets.
const ENV_VARS: &[(&str, &str)] = &[
    ("TALLY_LISTEN", "listen"),
    ("TALLY_DATA_DIR", "data_dir"),
    ("TALLY_DATABASE_URL", "database_url"),
    ("TALLY_DATABASE_MAX_CONNECTIONS", "database_max_connections"),
    ("TALLY_PRICING_DIR", "pricing_dir"),
    ("TALLY_PUBLIC_URL", "public_url"),
    ("TALLY_ALLOW_TIME_TRAVEL", "allow_time_travel"),
    ("TALLY_HTTP_WORKERS", "http_workers"),
    ("TALLY_API_KEY_CACHE_TTL", "api_key_cache_ttl"),
    ("TALLY_JWT_SECRET", "jwt.secret"),
    ("TALLY_JWT_ISSUER", "jwt.issuer"),
    ("TALLY_JWT_AUDIENCE", "jwt.audience"),
    ("TALLY_BILLING_GRACE", "billing.grace"),
    ("TALLY_BILLING_SCHEDULE_EVERY", "billing.schedule_every"),
    ("TALLY_PAYMENT_TERMS", "billing.payment_terms"),
    ("TALLY_OVERDUE_REMINDER", "billing.overdue_reminder"),
    ("TALLY_ISSUER_NAME", "issuer.name"),
    ("TALLY_ISSUER_ADDRESS", "issuer.address"),
    ("TALLY_ISSUER_TAX_ID", "issuer.tax_id"),
    ("TALLY_ISSUER_INVOICE_PREFIX", "issuer.invoice_prefix"),
    ("TALLY_ALLOWED_LATENESS", "ingest.allowed_lateness"),
    ("TALLY_INGEST_MAX_RECORDS", "ingest.max_records_per_request"),
    ("TALLY_INGEST_MAX_BODY_BYTES", "ingest.max_body_bytes"),
    ("TALLY_INGEST_MAX_INFLIGHT_BYTES", "ingest.max_inflight_bytes"),
    ("TALLY_INGEST_QUEUE_CAPACITY", "ingest.queue_capacity"),
    ("TALLY_INGEST_WRITERS", "ingest.writers"),
    ("TALLY_SMTP_URL", "smtp.url"),
    ("TALLY_MAIL_FROM", "smtp.mail_from"),
    ("TALLY_SMTP_MAX_CONNECTIONS", "smtp.max_connections"),
    ("TALLY_NOTIFY_POLL_EVERY", "notify.poll_every"),
    ("TALLY_NOTIFY_LEASE", "notify.lease"),
    ("TALLY_QUOTA_EVALUATE_EVERY", "quota.evaluate_every"),
    ("TALLY_QUOTA_SWEEP_EVERY", "quota.sweep_every"),
    ("TALLY_ENTITLEMENT_MAX_AGE", "quota.entitlement_max_age"),
    ("TALLY_RAW_RETENTION", "lifecycle.raw_retention"),
    ("TALLY_MAINTENANCE_EVERY", "lifecycle.maintain_every"),
];

/// Every variable the service reads: the settings and `TALLY_CONFIG`.
fn known_names() -> Vec<&'static str> {
    ENV_VARS.iter().map(|(name, _)| *name).chain(["TALLY_CONFIG"]).collect()
}

impl Settings {
    /// Loads `tally.toml` (or the file named by `TALLY_CONFIG`) if present, then the
    /// environment.
    ///
    /// # Errors
    /// When the file or a variable does not parse, naming which.
    pub fn load() -> anyhow::Result<Self> {
        let path = std::env::var("TALLY_CONFIG").unwrap_or_else(|_| "tally.toml".into());
        let file = Path::new(&path);
        let text = if file.exists() {
            std::fs::read_to_string(file).with_context(|| format!("Failed to read {path}"))?
        } else {
            String::new()
        };
        for unknown in
            unknown_variables(std::env::vars_os().filter_map(|(name, _)| name.into_string().ok()), &known_names())
        {
            tracing::warn!("{unknown}; it is ignored (the settings are listed in README.md, Configuration)");
        }
        Self::from_sources(&text, |name| std::env::var(name).ok())
    }

    /// Builds settings from TOML text and an environment lookup; pure, for tests.
    ///
    /// # Errors
    /// When the TOML or a variable does not parse, naming which.
    pub fn from_sources(toml_text: &str, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let mut table: toml::Table = toml::from_str(toml_text).context("tally.toml is not valid TOML")?;
        for (name, path) in ENV_VARS {
            if let Some(value) = env(name) {
                set_path(&mut table, path, env_value(path, value));
            }
        }
        let settings: Settings =
            toml::Value::Table(table).try_into().context("invalid configuration (tally.toml or TALLY_* variables)")?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> anyhow::Result<()> {
        if self.billing.grace > Duration::from_secs(72 * 3_600) {
            bail!("billing.grace (TALLY_BILLING_GRACE) must be at most 72h");
        }
        if crate::domain::PaymentTerms::from_std(self.billing.payment_terms).is_none() {
            bail!("billing.payment_terms (TALLY_PAYMENT_TERMS) must be at most 366d");
        }
        if self.billing.overdue_reminder.is_some_and(|d| d > Duration::from_secs(366 * 86_400)) {
            bail!("billing.overdue_reminder (TALLY_OVERDUE_REMINDER) must be `off` or at most 366d");
        }
        if self.smtp.max_connections == 0 {
            bail!("smtp.max_connections (TALLY_SMTP_MAX_CONNECTIONS) must be positive");
        }
        if self.ingest.writers == 0 || self.ingest.queue_capacity == 0 || self.ingest.max_group_records == 0 {
            bail!("ingest.writers, ingest.queue_capacity and ingest.max_group_records must be positive");
        }
        // A chunked body reserves `max_body_bytes` of the in-flight budget before it is read:
        // a budget below that could never be granted, and every such request would get 429.
        let ingest = &self.ingest;
        if ingest.max_inflight_bytes < ingest.max_body_bytes {
            bail!(
                "ingest.max_inflight_bytes (TALLY_INGEST_MAX_INFLIGHT_BYTES) is {} but must be at least \
                 ingest.max_body_bytes (TALLY_INGEST_MAX_BODY_BYTES), {}: raise the budget or lower the body limit",
                ingest.max_inflight_bytes,
                ingest.max_body_bytes
            );
        }
        Ok(())
    }
}

/// Environment values are strings; numeric and boolean settings are parsed from them.
fn env_value(path: &str, value: String) -> toml::Value {
    if path == "issuer.address" {
        return toml::Value::Array(value.split(';').map(|l| toml::Value::String(l.trim().to_owned())).collect());
    }
    if path.starts_with("issuer.") || matches!(path, "smtp.url" | "smtp.mail_from") {
        return toml::Value::String(value);
    }
    if path == "allow_time_travel" {
        return toml::Value::Boolean(matches!(value.as_str(), "1" | "true" | "yes"));
    }
    match value.parse::<i64>() {
        Ok(n) if !path.ends_with("secret") && !path.ends_with("issuer") && !path.ends_with("audience") => {
            toml::Value::Integer(n)
        }
        _ => toml::Value::String(value),
    }
}

fn set_path(table: &mut toml::Table, path: &str, value: toml::Value) {
    match path.split_once('.') {
        Some((head, rest)) => {
            let entry = table.entry(head).or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let toml::Value::Table(inner) = entry {
                set_path(inner, rest, value);
            }
        }
        None => {
            table.insert(path.to_owned(), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn defaults_use_the_embedded_sqlite_file() {
        let settings = Settings::from_sources("", |_| None).unwrap();
        assert_eq!(settings.database_url(), "sqlite://tally-data/tally.db");
        assert_eq!(settings.listen, "127.0.0.1:8080");
        assert_eq!(settings.ingest.allowed_lateness, Duration::from_secs(35 * 86_400));
        assert_eq!(settings.lifecycle.raw_retention, None, "raw usage is kept forever by default");
    }

    #[test]
    fn raw_retention_reads_a_duration_or_forever() {
        let days = Settings::from_sources("", |n| (n == "TALLY_RAW_RETENTION").then(|| "400d".into())).unwrap();
        assert_eq!(days.lifecycle.raw_retention, Some(Duration::from_secs(400 * 86_400)));
        let forever = Settings::from_sources("[lifecycle]\nraw_retention = \"forever\"\n", |_| None).unwrap();
        assert_eq!(forever.lifecycle.raw_retention, None);
        assert!(Settings::from_sources("", |n| (n == "TALLY_RAW_RETENTION").then(|| "soon".into())).is_err());
    }

    #[test]
    fn an_in_flight_byte_budget_below_the_body_limit_is_refused_naming_both() {
        let body =
            |bytes: &'static str| move |name: &str| (name == "TALLY_INGEST_MAX_BODY_BYTES").then(|| bytes.into());
        let error = Settings::from_sources("", body("200000000")).unwrap_err().to_string();
        assert!(
            error.contains("TALLY_INGEST_MAX_INFLIGHT_BYTES") && error.contains("TALLY_INGEST_MAX_BODY_BYTES"),
            "{error}"
        );
        let raised = Settings::from_sources("[ingest]\nmax_inflight_bytes = 400000000\n", body("200000000")).unwrap();
        assert_eq!(raised.ingest.max_body_bytes, 200_000_000);
        let equal = Settings::from_sources("", body("134217728")).unwrap();
        assert_eq!(
            equal.ingest.max_inflight_bytes, equal.ingest.max_body_bytes,
            "a budget of one whole body is enough"
        );
        let both = |name: &str| match name {
            "TALLY_INGEST_MAX_BODY_BYTES" => Some("1048576".to_owned()),
            "TALLY_INGEST_MAX_INFLIGHT_BYTES" => Some("1048575".to_owned()),
            _ => None,
        };
        assert!(Settings::from_sources("", both).is_err());
    }

    #[test]
    fn environment_overrides_the_file() {
        let toml = "listen = \"0.0.0.0:9000\"\n[billing]\ngrace = \"2h\"\n";
        let env = |name: &str| match name {
            "TALLY_LISTEN" => Some("127.0.0.1:7000".to_owned()),
            "TALLY_JWT_SECRET" => Some("12345".to_owned()),
            "TALLY_INGEST_WRITERS" => Some("4".to_owned()),
            _ => None,
        };
        let settings = Settings::from_sources(toml, env).unwrap();
        assert_eq!(settings.listen, "127.0.0.1:7000");
        assert_eq!(settings.billing.grace, Duration::from_secs(7_200));
        assert_eq!(settings.jwt.secret.unwrap().expose_secret(), "12345");
        assert_eq!(settings.ingest.writers, 4);
    }

    #[test]
    fn payment_terms_default_to_14_days_and_read_like_the_other_durations() {
        assert_eq!(
            Settings::from_sources("", |_| None).unwrap().billing.payment_terms,
            Duration::from_secs(14 * 86_400)
        );
        let env = |name: &str| (name == "TALLY_PAYMENT_TERMS").then(|| "30d".to_owned());
        assert_eq!(Settings::from_sources("", env).unwrap().billing.payment_terms, Duration::from_secs(30 * 86_400));
        assert!(Settings::from_sources("[billing]\npayment_terms = \"400d\"", |_| None).is_err());
    }

    #[test]
    fn overdue_reminders_are_off_by_default_and_read_off_or_a_duration() {
        assert_eq!(Settings::from_sources("", |_| None).unwrap().billing.overdue_reminder, None);
        let env = |value: &'static str| move |name: &str| (name == "TALLY_OVERDUE_REMINDER").then(|| value.to_owned());
        assert_eq!(
            Settings::from_sources("", env("3d")).unwrap().billing.overdue_reminder,
            Some(Duration::from_secs(3 * 86_400))
        );
        assert_eq!(Settings::from_sources("", env("0s")).unwrap().billing.overdue_reminder, Some(Duration::ZERO));
        assert_eq!(
            Settings::from_sources("[billing]\noverdue_reminder = \"off\"", |_| None).unwrap().billing.overdue_reminder,
            None
        );
        assert!(Settings::from_sources("", env("soon")).is_err(), "neither off nor a duration");
        assert!(Settings::from_sources("", env("400d")).is_err(), "longer than a year");
    }

    #[test]
    fn smtp_connections_default_to_16_read_from_the_environment_and_must_be_positive() {
        assert_eq!(Settings::from_sources("", |_| None).unwrap().smtp.max_connections, 16);
        let env = |name: &str| (name == "TALLY_SMTP_MAX_CONNECTIONS").then(|| "4".to_owned());
        assert_eq!(Settings::from_sources("", env).unwrap().smtp.max_connections, 4);
        let error = Settings::from_sources("[smtp]\nmax_connections = 0", |_| None).unwrap_err();
        assert!(error.to_string().contains("TALLY_SMTP_MAX_CONNECTIONS"), "{error}");
    }

    #[test]
    fn a_grace_above_72_hours_is_refused() {
        let error = Settings::from_sources("[billing]\ngrace = \"73h\"", |_| None).unwrap_err();
        assert!(error.to_string().contains("72h"), "{error}");
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let settings = Settings::from_sources("database_url = \"postgres://u:hunter2@h/db\"", |_| None).unwrap();
        assert!(!format!("{settings:?}").contains("hunter2"));
    }
}
