//! Values of the outbox as the store hands them out: an event to expand, a delivery to one
//! recipient and its state, and what became of one attempt. `notify` gives them meaning.

use chrono::{DateTime, Utc};

use crate::domain::TenantId;

/// An outbox event not yet expanded into deliveries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    pub tenant: TenantId,
    /// The event's unique key (also the webhook event id).
    pub message_id: String,
    /// `invoice.finalized`, `invoice.voided`, `invoice.paid`, `quota.threshold_crossed`.
    pub kind: String,
    /// JSON written with the business event.
    pub payload: String,
    pub created_at: DateTime<Utc>,
}

/// A delivery to write when expanding an event: a channel and one recipient on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    /// Derived from (event, channel, recipient), so re-expanding an event adds nothing.
    pub delivery_id: String,
    /// `email` or `webhook`.
    pub channel: &'static str,
    /// An email address, or a webhook endpoint id.
    pub recipient: String,
}

/// Where a delivery is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Waiting for its next attempt.
    Pending,
    /// Claimed by a sender until `next_attempt_at` (the lease).
    Sending,
    Sent,
    /// Permanently refused, or out of retries.
    Failed,
}

impl DeliveryState {
    /// The stored (and wire) name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }

    /// The state a stored name stands for.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Sending, Self::Sent, Self::Failed].into_iter().find(|s| s.as_str() == text)
    }
}

/// One message to one recipient, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub tenant: TenantId,
    pub delivery_id: String,
    pub message_id: String,
    pub kind: String,
    pub channel: String,
    pub recipient: String,
    pub state: DeliveryState,
    /// Attempts begun (a claim counts as one).
    pub attempts: u32,
    /// When a pending delivery is due; when a sending delivery's lease ends.
    pub next_attempt_at: DateTime<Utc>,
    /// Empty until an attempt fails.
    pub last_error: String,
    pub sent_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What one attempt came to, as the sender decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    Sent,
    /// Try again at `at`.
    Retry {
        at: DateTime<Utc>,
        error: String,
    },
    /// Give up.
    Failed {
        error: String,
    },
}

/// Filters of the admin list; empty strings match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryFilter {
    pub state: Option<DeliveryState>,
    pub tenant: Option<TenantId>,
    pub kind: Option<String>,
}

/// The answer to a manual retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryOutcome {
    /// Due now.
    Scheduled(Box<Delivery>),
    /// A sender holds it right now.
    InFlight,
    NotFound,
}

/// A webhook endpoint as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub endpoint_id: String,
    pub url: String,
    pub events: Vec<String>,
    pub secret: String,
    pub created_at: DateTime<Utc>,
}
