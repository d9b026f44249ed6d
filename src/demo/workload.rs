//! What a demo tenant uses, bucket by bucket: pure and deterministic (seeded per tenant and
//! bucket), so running the demo twice sends the same records, which the second time are
//! duplicates.
//!
//! The shape is serverless traffic as platforms see it: a daily rhythm in the tenant's time
//! zone (quiet at night, a peak in the afternoon), a weekly one (weekends differ per
//! tenant), functions with their own memory sizes and durations, a few regions, noise.
//! Quantities follow from invocations: GB-seconds = invocations × memory × duration; CPU cycles
//! at 2 GHz for the duration.

use chrono::{DateTime, Datelike, Duration, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::profiles::Profile;
use crate::domain::fnv1a;

/// One pre-aggregated usage record, as `POST /v1/usage` takes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DemoRecord {
    pub id: String,
    pub tenant_id: String,
    pub timestamp: String,
    pub function: String,
    pub region: String,
    pub invocations: u64,
    /// A decimal string: exact, at millisecond-of-GB precision.
    pub memory_gb_seconds: String,
    pub cpu_cycles: u64,
}

/// CPU cycles per millisecond of duration (a 2 GHz core).
const CYCLES_PER_MS: u64 = 2_000_000;

/// How busy the hour is, relative to the day's mean (averages ≈ 1 over a day): a night
/// trough and an afternoon peak.
fn hour_weight(local_hour: u32) -> f64 {
    let phase = (f64::from(local_hour) - 15.0) / 24.0 * std::f64::consts::TAU;
    1.0 + 0.75 * phase.cos()
}

fn day_weight(profile: &Profile, weekday: Weekday) -> f64 {
    match weekday {
        Weekday::Sat | Weekday::Sun => profile.weekend_factor,
        _ => 1.0,
    }
}

/// Every record of `profile` for the buckets of `minutes` starting in `[from, to)`.
pub fn records(profile: &Profile, from: DateTime<Utc>, to: DateTime<Utc>, minutes: i64) -> Vec<DemoRecord> {
    let tz: Tz = profile.timezone.parse().unwrap_or(Tz::UTC);
    let buckets_per_day = (24 * 60 / minutes) as f64;
    let mut out = Vec::new();
    let mut start = from;
    while start < to {
        let local = start.with_timezone(&tz);
        let expected = profile.daily_invocations / buckets_per_day
            * hour_weight(local.hour())
            * day_weight(profile, local.weekday());
        let mut rng = StdRng::seed_from_u64(seed(&profile.id, start));
        for function in &profile.functions {
            for (r, region) in profile.regions.iter().enumerate() {
                // Regions share the traffic unevenly: the first carries the most.
                let region_share = 1.0 / (r as f64 + 1.5) / region_norm(profile.regions.len());
                let mean = expected * function.share * region_share;
                let invocations = (mean * rng.gen_range(0.8..1.2)).round() as u64;
                if invocations == 0 {
                    continue;
                }
                let duration_ms = f64::from(function.mean_ms) * rng.gen_range(0.85..1.15);
                let total_ms = (invocations as f64 * duration_ms).round() as u64;
                // GB-s in thousandths: MB/1024 × ms/1000, kept exact as an integer count.
                let milli_gb_s = total_ms * u64::from(function.memory_mb) / 1024;
                out.push(DemoRecord {
                    id: format!("{}-{}-{}", start.format("%Y%m%dT%H%M"), function.name, region),
                    tenant_id: profile.id.clone(),
                    timestamp: start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    function: function.name.clone(),
                    region: region.clone(),
                    invocations,
                    memory_gb_seconds: format!("{}.{:03}", milli_gb_s / 1000, milli_gb_s % 1000),
                    cpu_cycles: total_ms * CYCLES_PER_MS,
                });
            }
        }
        start += Duration::minutes(minutes);
    }
    out
}

fn region_norm(regions: usize) -> f64 {
    (0..regions).map(|r| 1.0 / (r as f64 + 1.5)).sum()
}

/// FNV-1a of the tenant and the bucket: the same bucket always draws the same numbers.
fn seed(tenant: &str, bucket: DateTime<Utc>) -> u64 {
    fnv1a(tenant.bytes().chain(bucket.timestamp().to_le_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::profiles::PROFILES;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn invocations(records: &[DemoRecord]) -> u64 {
        records.iter().map(|r| r.invocations).sum()
    }

    #[test]
    fn the_same_buckets_always_give_the_same_records() {
        let day = |p| records(p, at("2026-11-02T00:00:00Z"), at("2026-11-03T00:00:00Z"), 15);
        assert_eq!(day(&PROFILES[0]), day(&PROFILES[0]));
        assert_eq!(day(&PROFILES[0]).len(), 96 * 4 * 2, "a record per bucket, function and region");
    }

    #[test]
    fn a_weekday_carries_about_the_profiles_daily_invocations() {
        let monday = records(&PROFILES[1], at("2026-11-02T05:00:00Z"), at("2026-11-03T05:00:00Z"), 15);
        let ratio = invocations(&monday) as f64 / PROFILES[1].daily_invocations;
        assert!((0.9..1.1).contains(&ratio), "within 10 % of the profile: {ratio}");
    }

    #[test]
    fn weekends_follow_the_tenants_rhythm() {
        let acme = &PROFILES[0];
        let day = |d: &str| invocations(&records(acme, at(d), at(d) + Duration::days(1), 60));
        let (wednesday, saturday) = (day("2026-11-04T00:00:00Z"), day("2026-11-07T00:00:00Z"));
        assert!(saturday * 2 < wednesday, "a B2B tool sleeps at the weekend: {saturday} vs {wednesday}");
    }

    #[test]
    fn afternoons_are_busier_than_nights_in_the_tenants_own_time_zone() {
        let acme = &PROFILES[0]; // Europe/Berlin: UTC+1 in November
        let hour = |h: &str| invocations(&records(acme, at(h), at(h) + Duration::hours(1), 60));
        assert!(hour("2026-11-04T14:00:00Z") > 3 * hour("2026-11-04T02:00:00Z"));
    }

    #[test]
    fn memory_and_cycles_follow_from_invocations_memory_and_duration() {
        let record = &records(&PROFILES[2], at("2026-11-04T14:00:00Z"), at("2026-11-04T14:15:00Z"), 15)[0];
        let gb_s: f64 = record.memory_gb_seconds.parse().unwrap();
        let per_call_ms = record.cpu_cycles as f64 / CYCLES_PER_MS as f64 / record.invocations as f64;
        assert!((90.0 * 0.85..=90.0 * 1.15).contains(&per_call_ms), "tps-report runs ~90 ms: {per_call_ms}");
        let expected = record.invocations as f64 * per_call_ms / 1000.0 * 0.25;
        assert!((gb_s - expected).abs() < 0.01, "256 MB × duration: {gb_s} vs {expected}");
    }
}
