//! The demo's tenants (`profiles.toml`, compiled in): what they run, where, how much, and on
//! which shipped plan.

use std::sync::LazyLock;

use serde::Deserialize;

/// One serverless function of a tenant.
#[derive(Debug, Clone, Deserialize)]
pub struct Function {
    pub name: String,
    /// Configured memory, MB.
    pub memory_mb: u32,
    /// Mean duration of one invocation, ms.
    pub mean_ms: u32,
    /// This function's share of the tenant's invocations.
    pub share: f64,
}

/// A demo tenant.
#[derive(Debug, Clone, Deserialize)]
pub struct Profile {
    pub id: String,
    pub name: String,
    pub plan: String,
    pub timezone: String,
    pub billing_email: String,
    /// Invocations on an average weekday.
    pub daily_invocations: f64,
    /// Weekend traffic relative to a weekday.
    pub weekend_factor: f64,
    pub regions: Vec<String>,
    pub functions: Vec<Function>,
}

#[derive(Deserialize)]
struct ProfileFile {
    tenant: Vec<Profile>,
}

/// The demo's tenants, in file order.
pub static PROFILES: LazyLock<Vec<Profile>> = LazyLock::new(|| {
    let file: ProfileFile = toml::from_str(include_str!("profiles.toml")).expect("src/demo/profiles.toml is valid");
    file.tenant
});

impl Profile {
    /// Midnight on the first of `month` in the tenant's own time zone: where its billing
    /// periods begin, so the demo creates it and starts its usage there.
    pub fn month_start(&self, year: i32, month: u32) -> chrono::DateTime<chrono::Utc> {
        use chrono::TimeZone;
        let tz: chrono_tz::Tz = self.timezone.parse().unwrap_or(chrono_tz::Tz::UTC);
        let local = tz.with_ymd_and_hms(year, month, 1, 0, 0, 0).earliest();
        local.map_or_else(|| chrono::Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0).unwrap(), |t| t.to_utc())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_profile_is_on_a_shipped_plan_with_shares_that_add_up() {
        assert_eq!(PROFILES.len(), 3);
        for p in PROFILES.iter() {
            assert!(["free", "payg", "committed"].contains(&p.plan.as_str()), "{}", p.plan);
            let shares: f64 = p.functions.iter().map(|f| f.share).sum();
            assert!((shares - 1.0).abs() < 1e-9, "{}: shares add up to {shares}", p.id);
            assert!(p.timezone.parse::<chrono_tz::Tz>().is_ok(), "{}", p.timezone);
        }
    }
}
