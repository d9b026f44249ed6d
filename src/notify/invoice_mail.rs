//! The invoice and credit-note emails as lettre messages: HTML and plain-text alternatives
//! from askama templates, the PDF attached, and every header built by lettre's typed
//! builders (names and subjects are encoded, never pasted into header text).
//!
//! Stage: notify. Inputs: an invoice snapshot, its PDF, the sender, one recipient, the
//! delivery's Message-ID and "now". Output: a `lettre::Message`. No IO.

use askama::Template;
use chrono::{DateTime, Utc};
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::{Address, Message};

use super::mail_view::{MailKind, MailView};
use crate::domain::InvoiceDocument;

#[derive(Template)]
#[template(path = "notify/templates/invoice_email.html")]
struct HtmlBody<'a> {
    v: &'a MailView,
}

#[derive(Template)]
#[template(path = "notify/templates/invoice_email.txt")]
struct TextBody<'a> {
    v: &'a MailView,
}

/// What an invoice email is made of, besides the document.
pub(crate) struct Envelope<'a> {
    pub from: &'a Address,
    pub to: &'a Address,
    pub message_id: String,
    pub now: DateTime<Utc>,
    pub public_url: &'a str,
}

/// The email for `doc` as `kind` with `pdf` attached.
///
/// # Errors
/// When lettre refuses the message (it does not for valid addresses) or a template fails.
pub(crate) fn invoice_message(
    doc: &InvoiceDocument,
    kind: &MailKind,
    pdf: Vec<u8>,
    envelope: &Envelope<'_>,
) -> anyhow::Result<Message> {
    let view = MailView::of(doc, kind, envelope.public_url);
    let pdf_type = ContentType::parse("application/pdf")?;
    let body = MultiPart::mixed()
        .multipart(alternatives(&HtmlBody { v: &view }, &TextBody { v: &view })?)
        .singlepart(Attachment::new(view.pdf_name.clone()).body(pdf, pdf_type));
    envelope.message(&view.issuer_name, &view.customer_name, &view.subject, body)
}

/// The plain-text and HTML renderings of one email, as alternatives of each other.
///
/// # Errors
/// When a template fails.
pub(crate) fn alternatives(html: &impl Template, text: &impl Template) -> anyhow::Result<MultiPart> {
    let (html, text) = (html.render()?, text.render()?);
    Ok(MultiPart::alternative().singlepart(SinglePart::plain(text)).singlepart(SinglePart::html(html)))
}

impl Envelope<'_> {
    /// The message of `body` from `issuer_name` to `customer_name`, every header built by
    /// lettre's typed builders (names and subjects are encoded).
    ///
    /// # Errors
    /// When lettre refuses the message (it does not for valid addresses).
    pub(crate) fn message(
        &self,
        issuer_name: &str,
        customer_name: &str,
        subject: &str,
        body: MultiPart,
    ) -> anyhow::Result<Message> {
        let from = Mailbox::new(Some(issuer_name.to_owned()), self.from.clone());
        let to = Mailbox::new(Some(customer_name.to_owned()), self.to.clone());
        Ok(Message::builder()
            .message_id(Some(self.message_id.clone()))
            .date(self.now.into())
            .from(from)
            .to(to)
            .subject(subject)
            .multipart(body)?)
    }
}
