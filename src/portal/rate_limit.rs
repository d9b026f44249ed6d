//! Sign-in request limits (DESIGN §11): at most 5 links per address and 20 requests per
//! client (an IPv4 address or an IPv6 /64, see [`client_key`]) per 15 minutes, counted in
//! this process (a sliding window of request times). Behind N processes the effective limit
//! is N times as high — still a bound on abuse; a shared limit would need the database on
//! every request. Pure: time is passed in.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

/// The window both limits count over.
const WINDOW: Duration = Duration::minutes(15);
/// Sign-in emails per address per window.
pub(crate) const PER_ADDRESS: usize = 5;
/// Sign-in requests per client (IP address) per window.
pub(crate) const PER_CLIENT: usize = 20;
/// Keys kept before old ones are swept, so a flood of distinct keys cannot grow memory
/// without bound.
const SWEEP_ABOVE: usize = 10_000;

/// What a sign-in request may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Send the link.
    Send,
    /// Answer as usual but send nothing: the address had its share (an attacker learns
    /// nothing, its owner's inbox is not flooded).
    Quiet,
    /// Refuse the client (429).
    Refuse,
}

/// The in-process counters.
#[derive(Default)]
pub struct LoginLimiter {
    windows: Mutex<HashMap<String, VecDeque<DateTime<Utc>>>>,
}

impl LoginLimiter {
    /// Counts one request from `client` for `address` at `now` and says what it may do.
    pub(crate) fn admit(&self, client: &str, address: &str, now: DateTime<Utc>) -> Verdict {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() > SWEEP_ABOVE {
            windows.retain(|_, times| times.back().is_some_and(|t| *t > now - WINDOW));
        }
        if !take(&mut windows, format!("client:{client}"), PER_CLIENT, now) {
            return Verdict::Refuse;
        }
        if !take(&mut windows, format!("address:{}", address.to_lowercase()), PER_ADDRESS, now) {
            return Verdict::Quiet;
        }
        Verdict::Send
    }
}

/// The client a request is counted against: an IPv4 address, or an IPv6 address's /64 — the
/// block one subscriber or host is given, whose 2^64 addresses would otherwise each get their
/// own twenty requests (enough to fill the sign-in queue and crowd out everyone else's).
/// An IPv4 client of a dual-stack listener (`::ffff:a.b.c.d`) counts as its IPv4 address.
pub(crate) fn client_key(peer: Option<IpAddr>) -> String {
    match peer.map(|ip| ip.to_canonical()) {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        None => "unknown".to_owned(),
    }
}

/// Records a request under `key` if fewer than `limit` fall in the window ending at `now`.
fn take(windows: &mut HashMap<String, VecDeque<DateTime<Utc>>>, key: String, limit: usize, now: DateTime<Utc>) -> bool {
    let times = windows.entry(key).or_default();
    while times.front().is_some_and(|t| *t <= now - WINDOW) {
        times.pop_front();
    }
    if times.len() >= limit {
        return false;
    }
    times.push_back(now);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + Duration::minutes(minute)
    }

    #[test]
    fn an_address_gets_five_links_per_window_then_quiet_answers_then_links_again() {
        let limiter = LoginLimiter::default();
        for i in 0..5 {
            assert_eq!(limiter.admit(&format!("10.0.0.{i}"), "a@x.test", at(i)), Verdict::Send, "request {i}");
        }
        assert_eq!(limiter.admit("10.0.0.9", "A@X.test", at(6)), Verdict::Quiet, "case does not reset it");
        assert_eq!(limiter.admit("10.0.0.9", "a@x.test", at(16)), Verdict::Send, "the first left the window");
    }

    #[test]
    fn an_ipv6_client_is_its_64_block_so_changing_address_within_it_does_not_reset_its_limit() {
        let limiter = LoginLimiter::default();
        let ip = |text: &str| client_key(Some(text.parse().unwrap()));
        for i in 0..PER_CLIENT {
            let own_address = ip(&format!("2001:db8:1:2::{:x}", i + 1));
            assert_ne!(limiter.admit(&own_address, &format!("u{i}@x.test"), at(0)), Verdict::Refuse, "request {i}");
        }
        assert_eq!(limiter.admit(&ip("2001:db8:1:2:ffff::9"), "new@x.test", at(1)), Verdict::Refuse);
        assert_eq!(limiter.admit(&ip("2001:db8:1:3::1"), "new@x.test", at(1)), Verdict::Send, "the next /64 is not");
        assert_eq!(ip("::ffff:192.0.2.7"), ip("192.0.2.7"), "an IPv4 client over IPv6 is its IPv4 address");
        assert_ne!(ip("::ffff:192.0.2.7"), ip("::ffff:192.0.2.8"), "and IPv4 clients are not one /64");
    }

    #[test]
    fn a_client_is_refused_after_twenty_requests_whatever_the_addresses() {
        let limiter = LoginLimiter::default();
        for i in 0..PER_CLIENT {
            assert_ne!(limiter.admit("10.0.0.1", &format!("u{i}@x.test"), at(0)), Verdict::Refuse);
        }
        assert_eq!(limiter.admit("10.0.0.1", "new@x.test", at(1)), Verdict::Refuse);
        assert_eq!(limiter.admit("10.0.0.2", "new@x.test", at(1)), Verdict::Send, "another client is not");
    }
}
