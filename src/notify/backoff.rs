//! The retry schedule (DESIGN §8): after a failed attempt, wait 1 min, 5 min, 30 min, 2 h,
//! 12 h; after the sixth attempt, give up. Pure.

use chrono::{DateTime, Duration, Utc};

/// Waits after the 1st, 2nd, … failed attempt.
pub const RETRY_SCHEDULE: [Duration; 5] =
    [Duration::minutes(1), Duration::minutes(5), Duration::minutes(30), Duration::hours(2), Duration::hours(12)];

/// When to try again after attempt number `attempts` (1-based) failed at `now`; `None` when
/// the schedule is used up and the delivery has failed for good.
///
/// ```
/// # use chrono::{Duration, TimeZone, Utc};
/// # use tally::notify::next_attempt_after_failure;
/// let now = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
/// assert_eq!(next_attempt_after_failure(1, now), Some(now + Duration::minutes(1)));
/// assert_eq!(next_attempt_after_failure(6, now), None);
/// ```
pub fn next_attempt_after_failure(attempts: u32, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let index = usize::try_from(attempts).ok()?.checked_sub(1)?;
    RETRY_SCHEDULE.get(index).map(|wait| now + *wait)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn each_failure_waits_longer_and_the_sixth_gives_up() {
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
        let waits: Vec<_> = (1..=6).map(|n| next_attempt_after_failure(n, now).map(|at| at - now)).collect();
        assert_eq!(
            waits,
            vec![
                Some(Duration::minutes(1)),
                Some(Duration::minutes(5)),
                Some(Duration::minutes(30)),
                Some(Duration::hours(2)),
                Some(Duration::hours(12)),
                None
            ]
        );
        assert_eq!(next_attempt_after_failure(0, now), None, "attempts count from 1");
    }
}
