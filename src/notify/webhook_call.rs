//! One webhook call: the event as JSON with its unique id, signed (`signature.rs`), POSTed
//! with a 10 s timeout. 2xx = delivered; 5xx, timeouts and connection errors are retried; any
//! other answer (4xx, a redirect) fails for good — a receiver that refuses an event will
//! refuse it again.
//!
//! Stage: notify (IO). Inputs: the endpoint, the event, "now" for the signature's timestamp.
//! Must not decide the retry schedule.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::RngCore;

use super::mail_transport::SendFailure;
use super::signature::{sign_webhook, WEBHOOK_SIGNATURE_HEADER};
use crate::store::{OutboxEvent, WebhookEndpoint};

/// The events an endpoint may subscribe to.
pub const WEBHOOK_EVENTS: [&str; 6] = [
    "invoice.finalized",
    "invoice.voided",
    "invoice.paid",
    crate::store::INVOICE_OVERDUE,
    crate::quota::THRESHOLD_CROSSED,
    crate::quota::USAGE_UNBILLED,
];

/// How long a receiver has to answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A new endpoint secret: `whsec_` and 32 random bytes in hex.
pub fn generate_webhook_secret() -> String {
    let mut bytes = [0_u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("whsec_{}", hex::encode(bytes))
}

/// The HTTP client webhook calls share (no redirects: a 3xx is the receiver's answer).
///
/// # Errors
/// When the TLS backend cannot be initialised.
pub(crate) fn webhook_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder().timeout(TIMEOUT).redirect(reqwest::redirect::Policy::none()).build()?)
}

/// The JSON body of `event`: `{"id", "type", "created_at", "data"}`.
pub(crate) fn webhook_body(event: &OutboxEvent) -> String {
    let data: serde_json::Value =
        serde_json::from_str(&event.payload).unwrap_or_else(|_| serde_json::Value::String(event.payload.clone()));
    serde_json::json!({
        "id": event.message_id,
        "type": event.kind,
        "created_at": event.created_at,
        "data": data,
    })
    .to_string()
}

/// POSTs `body` to `endpoint`, signed at `now`.
///
/// # Errors
/// [`SendFailure`], classified for the retry decision.
pub(crate) async fn call_webhook(
    client: &reqwest::Client,
    endpoint: &WebhookEndpoint,
    event_id: &str,
    body: String,
    now: DateTime<Utc>,
) -> Result<(), SendFailure> {
    let signature = sign_webhook(&endpoint.secret, now.timestamp(), &body);
    let sent = client
        .post(&endpoint.url)
        .header("content-type", "application/json")
        .header(WEBHOOK_SIGNATURE_HEADER, signature)
        .header("Tally-Event-Id", event_id)
        .body(body)
        .send()
        .await;
    let response = match sent {
        Ok(response) => response,
        Err(error) if error.is_builder() => return Err(SendFailure::Permanent(format!("invalid request: {error}"))),
        Err(error) => return Err(SendFailure::Temporary(describe(&error))),
    };
    let status = response.status();
    match status.as_u16() {
        200..=299 => Ok(()),
        500..=599 => Err(SendFailure::Temporary(format!("the endpoint answered {status}"))),
        _ => Err(SendFailure::Permanent(format!("the endpoint answered {status}"))),
    }
}

fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return format!("no answer within {} s", TIMEOUT.as_secs());
    }
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}
