//! The quota alert email (DESIGN §8, §9) as a lettre message: HTML and plain-text
//! alternatives from askama templates, no attachment, and every header built by lettre's
//! typed builders. `alert_message_for` gathers what it needs (the tenant as it is now) for
//! the dispatcher.
//!
//! Stage: notify. Inputs: a `quota.threshold_crossed` outbox event, the tenant, the issuer,
//! one recipient, the delivery's Message-ID and "now". Output: a `lettre::Message`. Reads the
//! tenant; writes nothing.

use askama::Template;
use lettre::Message;

use super::alert_view::{AlertPayload, AlertView};
use super::invoice_mail::{alternatives, Envelope};
use super::mail_transport::SendFailure;
use crate::domain::{IssuerSnapshot, Tenant};
use crate::store::{OutboxEvent, Store};

#[derive(Template)]
#[template(path = "notify/templates/quota_alert_email.html")]
struct HtmlBody<'a> {
    v: &'a AlertView,
}

#[derive(Template)]
#[template(path = "notify/templates/quota_alert_email.txt")]
struct TextBody<'a> {
    v: &'a AlertView,
}

/// The alert email of `event` to `envelope.to`, from `issuer`.
///
/// # Errors
/// [`SendFailure::Temporary`] when the store fails; [`SendFailure::Permanent`] when the
/// payload is not an alert of the event's tenant, the tenant is gone, or lettre refuses the
/// message.
pub(crate) async fn alert_message_for(
    store: &Store,
    event: &OutboxEvent,
    issuer: &IssuerSnapshot,
    envelope: &Envelope<'_>,
) -> Result<Message, SendFailure> {
    let alert = AlertPayload::parse(&event.payload)
        .filter(|a| a.tenant_id == event.tenant.as_str())
        .ok_or_else(|| SendFailure::Permanent("the event is not a quota alert of its tenant".into()))?;
    let tenant = store
        .get_tenant(&event.tenant)
        .await
        .map_err(|e| SendFailure::Temporary(format!("the store failed: {e}")))?
        .ok_or_else(|| SendFailure::Permanent("the tenant is gone".into()))?;
    alert_message(&alert, &tenant, issuer, envelope)
        .map_err(|e| SendFailure::Permanent(format!("the message cannot be built: {e}")))
}

/// The alert email for `alert` of `tenant`.
///
/// # Errors
/// When lettre refuses the message (it does not for valid addresses) or a template fails.
pub(crate) fn alert_message(
    alert: &AlertPayload,
    tenant: &Tenant,
    issuer: &IssuerSnapshot,
    envelope: &Envelope<'_>,
) -> anyhow::Result<Message> {
    let view = AlertView::of(alert, tenant, issuer, envelope.public_url);
    let body = alternatives(&HtmlBody { v: &view }, &TextBody { v: &view })?;
    envelope.message(&view.issuer_name, &view.customer_name, &view.subject, body)
}
