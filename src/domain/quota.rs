//! Quotas (DESIGN §9): a limit on one meter, or on the period's spend, with alert thresholds
//! in percent and a `hard` flag runtimes may enforce. Validated on construction; no IO.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::{BillingPeriod, Meter, TenantId};

/// Most thresholds one quota may carry.
pub const MAX_THRESHOLDS: usize = 10;
/// Highest threshold in percent (alerts above the limit, e.g. 150 %, are allowed).
pub const MAX_THRESHOLD_PERCENT: u32 = 1000;

/// What a quota limits: one meter's period-to-date quantity, or the period's spend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuotaMeter {
    Usage(Meter),
    /// The amount so far (subtotal before tax and credits, without the minimum-spend top-up)
    /// in the tenant's currency.
    Spend,
}

impl QuotaMeter {
    /// The stored and wire name: a meter name or `spend`.
    pub fn as_str(self) -> &'static str {
        match self {
            QuotaMeter::Usage(meter) => meter.as_str(),
            QuotaMeter::Spend => "spend",
        }
    }

    /// Parses a meter name or `spend`.
    pub fn parse(text: &str) -> Option<Self> {
        if text == "spend" {
            return Some(QuotaMeter::Spend);
        }
        Meter::parse(text).map(QuotaMeter::Usage)
    }
}

impl fmt::Display for QuotaMeter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a quota was refused; the message names the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuotaError {
    #[error("id must be 1-64 characters of a-z, 0-9, '-' or '_'")]
    InvalidId,
    #[error("meter must be cpu_cycles, memory_gb_seconds, invocations or spend")]
    UnknownMeter,
    #[error("limit must be a decimal greater than 0")]
    InvalidLimit,
    #[error("thresholds must be at most 10 distinct whole percents from 1 to 1000")]
    InvalidThresholds,
}

/// A validated quota. Thresholds are sorted and distinct.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quota {
    id: String,
    meter: QuotaMeter,
    limit: Decimal,
    thresholds: Vec<u32>,
    hard: bool,
}

impl Quota {
    /// Validates a quota.
    ///
    /// # Errors
    /// The first rule broken, see [`QuotaError`].
    pub fn new(id: &str, meter: &str, limit: Decimal, thresholds: &[u32], hard: bool) -> Result<Self, QuotaError> {
        let slug = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
        if id.is_empty() || id.len() > 64 || !id.chars().all(slug) {
            return Err(QuotaError::InvalidId);
        }
        let meter = QuotaMeter::parse(meter).ok_or(QuotaError::UnknownMeter)?;
        if limit <= Decimal::ZERO {
            return Err(QuotaError::InvalidLimit);
        }
        let mut sorted = thresholds.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let in_range = sorted.iter().all(|t| (1..=MAX_THRESHOLD_PERCENT).contains(t));
        if sorted.len() != thresholds.len() || sorted.len() > MAX_THRESHOLDS || !in_range {
            return Err(QuotaError::InvalidThresholds);
        }
        Ok(Self { id: id.to_owned(), meter, limit: limit.normalize(), thresholds: sorted, hard })
    }

    /// The id, unique among a tenant's effective quotas.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// What the quota limits.
    pub fn meter(&self) -> QuotaMeter {
        self.meter
    }

    /// The limit per billing period (a quantity, or an amount in the tenant's currency).
    pub fn limit(&self) -> Decimal {
        self.limit
    }

    /// Alert thresholds in percent of the limit, ascending.
    pub fn thresholds(&self) -> &[u32] {
        &self.thresholds
    }

    /// Whether reaching the limit blocks (runtimes read `blocked` from entitlements).
    pub fn hard(&self) -> bool {
        self.hard
    }

    /// What is wrong with the limit when it is finer than its meter is recorded in — whole
    /// invocations and cycles, GB-seconds to nine decimals — or `None`. A limit of 10.5
    /// invocations would block at 11 while saying 10.5, and `remaining` would read "0.5". A
    /// `spend` limit is money: its currency decides (the caller's rule).
    pub fn finer_than_recorded(&self) -> Option<String> {
        let QuotaMeter::Usage(meter) = self.meter else { return None };
        let decimals = meter.decimals();
        if self.limit.scale() <= decimals {
            return None;
        }
        let rule = if decimals == 0 { "a whole number".to_owned() } else { format!("at most {decimals} decimals") };
        Some(format!("must be {rule}, as {meter} are recorded"))
    }

    /// The same quota, alerting only: it never blocks.
    pub fn softened(self) -> Self {
        Self { hard: false, ..self }
    }
}

/// Who set a stored quota: the operator (`PUT …/quotas`) or the tenant (`PUT …/budgets`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaOwner {
    Operator,
    Tenant,
}

impl QuotaOwner {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            QuotaOwner::Operator => "operator",
            QuotaOwner::Tenant => "tenant",
        }
    }
}

/// A tenant's stored quotas: the operator's set and the tenant's own budgets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuotaSet {
    pub operator: Vec<Quota>,
    pub budgets: Vec<Quota>,
    /// When each stored quota (by id) took its present form: when it was set, or last
    /// changed. Only an alert for a past period reads it: a quota that did not exist then,
    /// or had another limit, must not alert for it. A quota without an entry counts as
    /// always in force.
    pub set_at: BTreeMap<String, DateTime<Utc>>,
}

impl QuotaSet {
    /// Whether `quota`, one of the tenant's effective quotas, was in force before `instant`:
    /// a plan default always (the plan in force then says which), a stored quota if it took
    /// its present form before `instant`.
    pub fn in_force_before(&self, quota: &Quota, instant: DateTime<Utc>) -> bool {
        !self.holds(quota) || self.set_at.get(quota.id()).is_none_or(|set_at| *set_at < instant)
    }

    /// Whether `quota`, exactly as it is, is one of the set's (the operator's or a budget).
    pub fn holds(&self, quota: &Quota) -> bool {
        self.operator.iter().chain(&self.budgets).any(|own| own == quota)
    }
}

/// One threshold of one quota crossed in one period: the `alert` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaAlert {
    pub tenant_id: TenantId,
    pub quota_id: String,
    pub threshold: u32,
    pub period: BillingPeriod,
    pub meter: QuotaMeter,
    pub used: Decimal,
    pub limit: Decimal,
    /// The period was already invoiced when the crossing was seen (late usage).
    pub late: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(id: &str, meter: &str, limit: i64, thresholds: &[u32]) -> Result<Quota, QuotaError> {
        Quota::new(id, meter, Decimal::from(limit), thresholds, false)
    }

    #[test]
    fn a_quota_keeps_its_thresholds_sorted() {
        let q = quota("inv-cap", "invocations", 5, &[100, 50, 80]).unwrap();
        assert_eq!(q.thresholds(), [50, 80, 100]);
        assert_eq!(q.meter(), QuotaMeter::Usage(Meter::Invocations));
        assert_eq!(quota("s", "spend", 1, &[]).unwrap().meter(), QuotaMeter::Spend);
    }

    #[test]
    fn invalid_quotas_are_refused_with_the_rule_they_break() {
        let cases = [
            (quota("", "spend", 1, &[50]), QuotaError::InvalidId, "empty id"),
            (quota("Cap", "spend", 1, &[50]), QuotaError::InvalidId, "upper case id"),
            (quota("c", "gpu", 1, &[50]), QuotaError::UnknownMeter, "unknown meter"),
            (quota("c", "spend", 0, &[50]), QuotaError::InvalidLimit, "zero limit"),
            (quota("c", "spend", 1, &[0]), QuotaError::InvalidThresholds, "0 %"),
            (quota("c", "spend", 1, &[1001]), QuotaError::InvalidThresholds, "above 1000 %"),
            (quota("c", "spend", 1, &[50, 50]), QuotaError::InvalidThresholds, "duplicate"),
        ];
        for (got, expected, what) in cases {
            assert_eq!(got, Err(expected), "{what}");
        }
    }
}
