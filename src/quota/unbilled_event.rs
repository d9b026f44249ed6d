//! The `usage.unbilled` event: the outbox payload written with each unbilled-usage entry
//! (DESIGN §6, §8). Webhook receivers get it as the body.
//!
//! Payload (JSON object; quantities are strings):
//! ```json
//! {
//!   "event_id": "usage.unbilled:acme:2026-11-01T00:00:00Z",
//!   "type": "usage.unbilled",
//!   "tenant_id": "acme",
//!   "period": {"start": "2026-11-01T00:00:00Z", "end": "2026-12-01T00:00:00Z"},
//!   "reason": "no_plan",            // or before_first_subscription, after_subscription_ended
//!   "usage": {"cpu_cycles": "0", "memory_gb_seconds": "0", "invocations": "12"},
//!   "records": 3,                   // as seen when first found; usage/current has it live
//!   "seen_at": "2026-11-27T12:00:00Z"
//! }
//! ```
//! `event_id` is the entry's natural key (tenant, period): receivers de-duplicate on it. Pure.

use serde_json::json;

use crate::store::UnbilledEntry;

/// The outbox kind (and webhook event type) of an unbilled-usage entry.
pub const USAGE_UNBILLED: &str = "usage.unbilled";

/// The payload announcing `entry`.
pub fn unbilled_payload(entry: &UnbilledEntry) -> String {
    let start = entry.period.start().to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    let q = &entry.quantities;
    json!({
        "event_id": format!("{USAGE_UNBILLED}:{}:{start}", entry.tenant_id),
        "type": USAGE_UNBILLED,
        "tenant_id": entry.tenant_id,
        "period": { "start": entry.period.start(), "end": entry.period.end() },
        "reason": entry.reason,
        "usage": {
            "cpu_cycles": q.cpu_cycles.normalize().to_string(),
            "memory_gb_seconds": q.memory_gb_seconds.normalize().to_string(),
            "invocations": q.invocations.normalize().to_string(),
        },
        "records": entry.records,
        "seen_at": entry.created_at,
    })
    .to_string()
}
