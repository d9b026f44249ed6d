//! Notifications (DESIGN §8): the outbox delivery worker, invoice, credit-note, quota-alert and
//! portal sign-in emails over SMTP (or `.eml` files), and signed webhooks.
//!
//! Stage: the last of the pipeline, `store → invoice → notify`. Inputs: outbox events the
//! business transactions wrote (`store`), invoice snapshots and their PDF (`invoice`), the
//! clock's "now" passed in. Outputs: emails, webhook calls, and each delivery's recorded
//! attempts. It never writes business data and never blocks ingest (it runs in its own task,
//! with short transactions); nothing below it imports it.

mod alert_mail;
mod alert_view;
mod backoff;
mod dispatcher;
mod expand;
mod identity;
mod invoice_mail;
mod login_mail;
mod mail_transport;
mod mail_view;
mod signature;
mod webhook_call;

pub use backoff::{next_attempt_after_failure, RETRY_SCHEDULE};
pub use dispatcher::{DispatchReport, Dispatcher, NotifyConfig, NotifyError};
pub use identity::{delivery_id, message_id_header};
pub use login_mail::PORTAL_LOGIN_LINK;
pub use mail_transport::{MailTransport, SendFailure};
pub use signature::{sign_webhook, WEBHOOK_SIGNATURE_HEADER};
pub use webhook_call::{generate_webhook_secret, WEBHOOK_EVENTS};
