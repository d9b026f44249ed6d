//! An outbox event → its deliveries: one email per address in the invoice's billing emails
//! (finalized and voided invoices) or, for a quota alert or an overdue reminder, in the
//! tenant's billing emails as they are at expansion, or for a portal sign-in request the one
//! address that asked; one call per webhook endpoint subscribed to the event.
//!
//! Stage: notify. Reads the invoice snapshots, the tenants and the endpoints once per page of
//! events ([`PageReads`]), so a month-end's 10 000 invoices or a surge of 100 000 alerts is a
//! few statements a page, not a round trip or two an event; deciding each event's deliveries
//! from them is pure ([`deliveries_of`]). Writes nothing itself (the store's `expand_events`
//! does, a page in one transaction, idempotently).

use std::collections::HashMap;

use serde::Deserialize;

use super::identity::delivery_id;
use super::login_mail::{LoginPayload, PORTAL_LOGIN_LINK};
use crate::domain::{InvoiceId, Tenant, TenantId};
use crate::quota::THRESHOLD_CROSSED;
use crate::store::{DbError, NewDelivery, OutboxEvent, Store, StoredInvoice, WebhookEndpoint, INVOICE_OVERDUE};

/// The part of an invoice event's payload the worker reads.
#[derive(Deserialize)]
pub(crate) struct InvoiceEventPayload {
    pub invoice_id: String,
}

/// Event kinds that email the addresses on the invoice.
const EMAILED: [&str; 2] = ["invoice.finalized", "invoice.voided"];

/// Event kinds that email the tenant's billing addresses as they are at expansion: a quota
/// alert, and an overdue reminder (weeks after the invoice, to where the tenant wants its
/// mail now).
const EMAILED_TO_TENANT: [&str; 2] = [THRESHOLD_CROSSED, INVOICE_OVERDUE];

/// What expanding a page of events reads once for all of them: the invoices of its invoice
/// events, the tenants of its alert and reminder events (their billing emails as they are
/// now) and the endpoints subscribed to each kind.
pub(crate) struct PageReads {
    invoices: HashMap<InvoiceId, StoredInvoice>,
    tenants: HashMap<TenantId, Tenant>,
    endpoints: HashMap<String, Vec<WebhookEndpoint>>,
}

impl PageReads {
    /// Reads what expanding `events` needs: one statement for the invoices, one for the
    /// tenants, one per kind for the endpoints.
    ///
    /// # Errors
    /// When the store fails.
    pub(crate) async fn read(store: &Store, events: &[OutboxEvent]) -> Result<Self, DbError> {
        let mut invoiced: Vec<InvoiceId> =
            events.iter().filter(|e| EMAILED.contains(&e.kind.as_str())).filter_map(invoice_id_of).collect();
        invoiced.sort_unstable_by(|a, b| a.as_str().cmp(b.as_str()));
        invoiced.dedup();
        let mut invoices = HashMap::with_capacity(invoiced.len());
        for chunk in invoiced.chunks(ROWS_PER_READ) {
            invoices.extend(store.invoices_among(chunk).await?.into_iter().map(|i| (i.document.id.clone(), i)));
        }
        let mut addressed: Vec<TenantId> =
            events.iter().filter(|e| EMAILED_TO_TENANT.contains(&e.kind.as_str())).map(|e| e.tenant.clone()).collect();
        addressed.sort_unstable();
        addressed.dedup();
        let mut tenants = HashMap::with_capacity(addressed.len());
        for chunk in addressed.chunks(ROWS_PER_READ) {
            tenants.extend(store.tenants_among(chunk).await?.into_iter().map(|t| (t.id.clone(), t)));
        }
        let mut endpoints = HashMap::new();
        for event in events {
            if !endpoints.contains_key(&event.kind) {
                endpoints.insert(event.kind.clone(), store.webhooks_for(&event.kind).await?);
            }
        }
        Ok(Self { invoices, tenants, endpoints })
    }
}

/// Rows read per statement: at most two binds each, far below both engines' limits (a page
/// of the worker's is 500 events).
const ROWS_PER_READ: usize = 1_000;

/// The deliveries `event` fans out to now, from its page's `reads`.
pub(crate) fn deliveries_of(reads: &PageReads, event: &OutboxEvent) -> Vec<NewDelivery> {
    let mut all = Vec::new();
    if EMAILED.contains(&event.kind.as_str()) {
        if let Some(invoice) = invoice_id_of(event).and_then(|id| reads.invoices.get(&id)) {
            for address in &invoice.document.content.customer.billing_emails {
                all.push(NewDelivery {
                    delivery_id: delivery_id(&event.tenant, &event.message_id, "email", address),
                    channel: "email",
                    recipient: address.clone(),
                });
            }
        }
    }
    if EMAILED_TO_TENANT.contains(&event.kind.as_str()) {
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
        return all;
    }
    for endpoint in reads.endpoints.get(&event.kind).into_iter().flatten() {
        all.push(NewDelivery {
            delivery_id: delivery_id(&event.tenant, &event.message_id, "webhook", &endpoint.endpoint_id),
            channel: "webhook",
            recipient: endpoint.endpoint_id.clone(),
        });
    }
    all.dedup_by(|a, b| a.delivery_id == b.delivery_id);
    all
}

/// The invoice an invoice event is about, if it (still) exists and belongs to the event's tenant.
///
/// # Errors
/// When the store fails.
pub(crate) async fn invoice_of(store: &Store, event: &OutboxEvent) -> Result<Option<StoredInvoice>, DbError> {
    match invoice_id_of(event) {
        Some(id) => store.get_invoice(&id).await,
        None => Ok(None),
    }
}

/// The id of the invoice an invoice event names, if it parses and is of the event's tenant.
fn invoice_id_of(event: &OutboxEvent) -> Option<InvoiceId> {
    let payload = serde_json::from_str::<InvoiceEventPayload>(&event.payload).ok()?;
    let id = InvoiceId::parse(&payload.invoice_id).ok()?;
    (id.tenant() == &event.tenant).then_some(id)
}
