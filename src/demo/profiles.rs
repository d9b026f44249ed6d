//! The demo's tenants: what they run, where, how much, and on which shipped plan.

/// One serverless function of a tenant.
#[derive(Debug, Clone, Copy)]
pub struct Function {
    pub name: &'static str,
    /// Configured memory, MB (Lambda-style sizes).
    pub memory_mb: u32,
    /// Mean duration of one invocation, ms.
    pub mean_ms: u32,
    /// This function's share of the tenant's invocations.
    pub share: f64,
}

/// A demo tenant.
#[derive(Debug, Clone, Copy)]
pub struct Profile {
    pub id: &'static str,
    pub name: &'static str,
    pub plan: &'static str,
    pub timezone: &'static str,
    pub billing_email: &'static str,
    /// Invocations on an average weekday.
    pub daily_invocations: f64,
    /// Weekend traffic relative to a weekday (B2B tools sleep; consumer apps do not).
    pub weekend_factor: f64,
    pub regions: &'static [&'static str],
    pub functions: &'static [Function],
}

/// Three tenants on the three shipped plans, with different shapes of traffic.
pub const PROFILES: [Profile; 3] = [
    Profile {
        id: "demo-acme",
        name: "Acme Analytics",
        plan: "payg",
        timezone: "Europe/Berlin",
        billing_email: "billing@acme.example",
        daily_invocations: 180_000.0,
        weekend_factor: 0.35,
        regions: &["eu-west-1", "eu-central-1"],
        functions: &[
            Function { name: "ingest-events", memory_mb: 512, mean_ms: 45, share: 0.55 },
            Function { name: "build-report", memory_mb: 2048, mean_ms: 1_800, share: 0.05 },
            Function { name: "resize-chart", memory_mb: 1024, mean_ms: 320, share: 0.25 },
            Function { name: "send-digest", memory_mb: 256, mean_ms: 120, share: 0.15 },
        ],
    },
    Profile {
        id: "demo-globex",
        name: "Globex Media",
        plan: "committed",
        timezone: "America/New_York",
        billing_email: "ap@globex.example",
        daily_invocations: 2_400_000.0,
        weekend_factor: 1.25,
        regions: &["us-east-1", "us-west-2", "eu-west-1"],
        functions: &[
            Function { name: "transcode", memory_mb: 3008, mean_ms: 2_400, share: 0.04 },
            Function { name: "thumbnail", memory_mb: 1024, mean_ms: 180, share: 0.36 },
            Function { name: "feed-api", memory_mb: 512, mean_ms: 35, share: 0.6 },
        ],
    },
    Profile {
        id: "demo-initech",
        name: "Initech (hobby)",
        plan: "free",
        timezone: "UTC",
        billing_email: "peter@initech.example",
        daily_invocations: 32_000.0,
        weekend_factor: 0.6,
        regions: &["us-east-1"],
        functions: &[
            Function { name: "tps-report", memory_mb: 256, mean_ms: 90, share: 0.8 },
            Function { name: "stapler-bot", memory_mb: 128, mean_ms: 40, share: 0.2 },
        ],
    },
];

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
