//! An outbox event → its deliveries: one email per address in the invoice's billing emails
//! (finalized and voided invoices) or, for a quota alert, in the tenant's billing emails as
//! they are at expansion, or for a portal sign-in request the one address that asked; one call per webhook endpoint subscribed to the event.
//!
//! Stage: notify. Reads the invoice snapshot, the tenant and the endpoints — the tenants and
//! endpoints once per page of events ([`PageReads`]), so a surge of 100 000 alerts is not
//! 200 000 round trips; writes nothing itself (the store's `expand_events` does, a page in
//! one transaction, idempotently).

use std::collections::HashMap;

use serde::Deserialize;

use super::identity::delivery_id;
use super::login_mail::{LoginPayload, PORTAL_LOGIN_LINK};
use crate::domain::{InvoiceId, Tenant, TenantId};
use crate::quota::THRESHOLD_CROSSED;
use crate::store::{DbError, NewDelivery, OutboxEvent, Store, StoredInvoice, WebhookEndpoint};

/// The part of an invoice event's payload the worker reads.
#[derive(Deserialize)]
pub(crate) struct InvoiceEventPayload {
    pub invoice_id: String,
}

/// Event kinds that email the tenant.
const EMAILED: [&str; 2] = ["invoice.finalized", "invoice.voided"];

/// What expanding a page of events reads once for all of them: the tenants of its alert
/// events (their billing emails as they are now) and the endpoints subscribed to each kind.
pub(crate) struct PageReads {
    tenants: HashMap<TenantId, Tenant>,
    endpoints: HashMap<String, Vec<WebhookEndpoint>>,
}

impl PageReads {
    /// Reads what expanding `events` needs: one statement for the tenants, one per kind.
    ///
    /// # Errors
    /// When the store fails.
    pub(crate) async fn read(store: &Store, events: &[OutboxEvent]) -> Result<Self, DbError> {
        let mut alerted: Vec<TenantId> =
            events.iter().filter(|e| e.kind == THRESHOLD_CROSSED).map(|e| e.tenant.clone()).collect();
        alerted.sort_unstable();
        alerted.dedup();
        let mut tenants = HashMap::with_capacity(alerted.len());
        for chunk in alerted.chunks(TENANTS_PER_READ) {
            tenants.extend(store.tenants_among(chunk).await?.into_iter().map(|t| (t.id.clone(), t)));
        }
        let mut endpoints = HashMap::new();
        for event in events {
            if !endpoints.contains_key(&event.kind) {
                endpoints.insert(event.kind.clone(), store.webhooks_for(&event.kind).await?);
            }
        }
        Ok(Self { tenants, endpoints })
    }
}

/// Tenants read per statement: one bind each, far below both engines' limits.
const TENANTS_PER_READ: usize = 1_000;

/// The deliveries `event` fans out to now, from its page's `reads`.
///
/// # Errors
/// When the store fails.
pub(crate) async fn deliveries_of(
    store: &Store,
    reads: &PageReads,
    event: &OutboxEvent,
) -> Result<Vec<NewDelivery>, DbError> {
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
        if let Some(tenant) = reads.tenants.get(&event.tenant) {
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
    for endpoint in reads.endpoints.get(&event.kind).into_iter().flatten() {
        all.push(NewDelivery {
            delivery_id: delivery_id(&event.tenant, &event.message_id, "webhook", &endpoint.endpoint_id),
            channel: "webhook",
            recipient: endpoint.endpoint_id.clone(),
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
