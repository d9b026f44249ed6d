//! The portal sign-in email (DESIGN §8, §11): "Your Tally sign-in link", HTML and plain text
//! in the shared layout. The link is minted here, when the message is sent — the outbox event
//! carries only the address — so the secret exists only in the email and its hash in the
//! store: the outbox table never holds a usable link. A retried send mints a new link; the
//! old one simply expires.
//!
//! Stage: notify. Inputs: a `portal.login_link` outbox event, the tenant, the issuer, the
//! envelope. Output: a `lettre::Message`, after storing the new link's hash.

use askama::Template;
use lettre::Message;
use serde::Deserialize;

use super::invoice_mail::{alternatives, Envelope};
use super::mail_transport::SendFailure;
use crate::domain::{login_link, IssuerSnapshot, SecretToken, Tenant, LOGIN_LINK_TTL};
use crate::store::{OutboxEvent, Store};

/// The outbox kind of a sign-in request (one event per tenant billing the address).
pub const PORTAL_LOGIN_LINK: &str = "portal.login_link";

/// The payload of a sign-in event.
#[derive(Deserialize)]
pub(crate) struct LoginPayload {
    pub email: String,
}

impl LoginPayload {
    pub(crate) fn parse(payload: &str) -> Option<Self> {
        serde_json::from_str(payload).ok()
    }
}

/// Every text the sign-in email shows (the names `email_layout.html` reads, and the link).
pub(crate) struct LoginView {
    pub title: String,
    pub link: String,
    pub subject: String,
    pub customer_name: String,
    pub intro: String,
    pub tenant_id: String,
    pub issuer_name: String,
    pub issuer_address: Vec<String>,
}

#[derive(Template)]
#[template(path = "notify/templates/login_email.html")]
struct HtmlBody<'a> {
    v: &'a LoginView,
}

#[derive(Template)]
#[template(path = "notify/templates/login_email.txt")]
struct TextBody<'a> {
    v: &'a LoginView,
}

/// Mints a sign-in link for the event's address and tenant: stores its hash (valid for
/// [`LOGIN_LINK_TTL`] from `envelope.now`) and returns the tenant and the link.
///
/// # Errors
/// [`SendFailure::Temporary`] when the store fails; [`SendFailure::Permanent`] when the
/// payload is not a sign-in request or the tenant is gone.
pub(crate) async fn mint_login_link(
    store: &Store,
    event: &OutboxEvent,
    envelope: &Envelope<'_>,
) -> Result<(Tenant, String), SendFailure> {
    let temporary = |e: crate::store::DbError| SendFailure::Temporary(format!("the store failed: {e}"));
    let Some(payload) = LoginPayload::parse(&event.payload) else {
        return Err(SendFailure::Permanent("the event is not a sign-in request".into()));
    };
    let Some(tenant) = store.get_tenant(&event.tenant).await.map_err(temporary)? else {
        return Err(SendFailure::Permanent("the tenant is gone".into()));
    };
    // Asked while the address was billed; sent maybe later (a retry, a queue): the tenant
    // must still be active and bill it now, as the sign-in lookup required, or the email
    // would open the portal to someone the tenant has since taken off its billing list.
    if !may_sign_in(&tenant, &payload.email) {
        return Err(SendFailure::Permanent("the tenant no longer bills this address or is deactivated".into()));
    }
    let token = SecretToken::generate();
    let expires = envelope.now + LOGIN_LINK_TTL;
    store
        .insert_login_token(&tenant.id, &token.hash(), &payload.email, expires, envelope.now)
        .await
        .map_err(temporary)?;
    Ok((tenant, login_link(envelope.public_url, token.text())))
}

/// Whether `email` may sign in to `tenant`'s portal: the tenant is active and bills it,
/// compared case-insensitively (as `Store::queue_portal_login` looks addresses up).
fn may_sign_in(tenant: &Tenant, email: &str) -> bool {
    let email = email.to_lowercase();
    tenant.active && tenant.details.billing_emails.iter().any(|billed| billed.to_lowercase() == email)
}

/// The sign-in email of `view`.
///
/// # Errors
/// When lettre refuses the message (it does not for valid addresses) or a template fails.
pub(crate) fn login_message(view: &LoginView, envelope: &Envelope<'_>) -> anyhow::Result<Message> {
    let body = alternatives(&HtmlBody { v: view }, &TextBody { v: view })?;
    envelope.message(&view.issuer_name, &view.customer_name, &view.subject, body)
}

/// The texts of the email for `tenant` with `link` (pure).
pub(crate) fn login_view(tenant: &Tenant, issuer: &IssuerSnapshot, link: &str) -> LoginView {
    let minutes = LOGIN_LINK_TTL.num_minutes();
    LoginView {
        title: "Your Tally sign-in link".into(),
        link: link.to_owned(),
        subject: "Your Tally sign-in link".into(),
        customer_name: tenant.details.name.clone(),
        intro: format!(
            "Use the button below to sign in to the billing portal of {}. The link works once and expires in {minutes} minutes.",
            tenant.details.name
        ),
        tenant_id: tenant.id.to_string(),
        issuer_name: issuer.name.clone(),
        issuer_address: issuer.address.clone(),
    }
}
