//! Billing periods: half-open `[start, end)` stretches of time an invoice covers.

use chrono::{DateTime, Utc};

/// A half-open `[start, end)` billing period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BillingPeriod {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

impl BillingPeriod {
    /// A period; `None` unless `start < end`.
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Option<Self> {
        (start < end).then_some(Self { start, end })
    }

    /// First instant of the period.
    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }

    /// First instant after the period.
    pub fn end(&self) -> DateTime<Utc> {
        self.end
    }
}
