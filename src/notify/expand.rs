//! An outbox event → its deliveries: one email per address in the invoice's billing emails
//! (finalized and voided invoices) or, for a quota alert, in the tenant's billing emails as
//! they are at expansion, or for a portal sign-in request the one address that asked; one call per webhook endpoint subscribed to the event.
//!
//! Stage: notify. Reads the invoice snapshot, the tenant and the endpoints; writes nothing
//! itself (the store's `expand_event` does, idempotently).

use serde::Deserialize;

use super::identity::delivery_id;
use super::login_mail::{LoginPayload, PORTAL_LOGIN_LINK};
use crate::domain::InvoiceId;
use crate::quota::THRESHOLD_CROSSED;
use crate::store::{DbError, NewDelivery, OutboxEvent, Store, StoredInvoice};

/// The part of an invoice event's payload the worker reads.
#[derive(Deserialize)]
pub(crate) struct InvoiceEventPayload {
    pub invoice_id: String,
}

/// Event kinds that email the tenant.
const EMAILED: [&str; 2] = ["invoice.finalized", "invoice.voided"];

/// The deliveries `event` fans out to now.
///
/// # Errors
/// When the store fails.
pub(crate) async fn deliveries_of(store: &Store, event: &OutboxEvent) -> Result<Vec<NewDelivery>, DbError> {
    let mut all = Vec::new();
    if EMAILED.contains(&event.kind.as_str()) {
        if let Some(invoice) = invoice_of(store, event).await? {
            for address in &invoice.document.content.customer.billing_emails {
                all.push(NewDelivery {
                    delivery_id: delivery_id(&event.tenant, &event.message_id, "email", address),
                    channel: "email",
                    recipient: address.clone(),
                });
            }
        }
    }
    if event.kind == THRESHOLD_CROSSED {
        if let Some(tenant) = store.get_tenant(&event.tenant).await? {
            for address in &tenant.details.billing_emails {
                all.push(NewDelivery {
                    delivery_id: delivery_id(&event.tenant, &event.message_id, "email", address),
                    channel: "email",
                    recipient: address.clone(),
                });
            }
        }
    }
    if event.kind == PORTAL_LOGIN_LINK {
        // A sign-in link goes to the one address that asked for it, never to the others.
        if let Some(login) = LoginPayload::parse(&event.payload) {
            all.push(NewDelivery {
                delivery_id: delivery_id(&event.tenant, &event.message_id, "email", &login.email),
                channel: "email",
                recipient: login.email,
            });
        }
        return Ok(all);
    }
    for endpoint in store.webhooks_for(&event.kind).await? {
        all.push(NewDelivery {
            delivery_id: delivery_id(&event.tenant, &event.message_id, "webhook", &endpoint.endpoint_id),
            channel: "webhook",
            recipient: endpoint.endpoint_id,
        });
    }
    all.dedup_by(|a, b| a.delivery_id == b.delivery_id);
    Ok(all)
}

/// The invoice an invoice event is about, if it (still) exists and belongs to the event's tenant.
///
/// # Errors
/// When the store fails.
pub(crate) async fn invoice_of(store: &Store, event: &OutboxEvent) -> Result<Option<StoredInvoice>, DbError> {
    let Ok(payload) = serde_json::from_str::<InvoiceEventPayload>(&event.payload) else { return Ok(None) };
    let Ok(id) = InvoiceId::parse(&payload.invoice_id) else { return Ok(None) };
    if id.tenant() != &event.tenant {
        return Ok(None);
    }
    store.get_invoice(&id).await
}
