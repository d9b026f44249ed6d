//! Overdue reminders: finalized invoices still unpaid after their due date, each marked
//! `reminded_at` with its `invoice.overdue` outbox row in one transaction, once.

use chrono::{DateTime, Utc};

use super::codec::Instant;
use super::engine::{on_read, on_tx};
use super::invoices::{InvoiceRow, COLUMNS};
use super::{outbox, DbError, Store, StoredInvoice};

/// The outbox event of a reminder: an email to the tenant's billing addresses and a call to
/// every webhook endpoint subscribed to it.
pub const INVOICE_OVERDUE: &str = "invoice.overdue";

/// One page of reminders.
#[derive(Debug)]
pub struct RemindedPage {
    /// The invoices this call reminded, earliest due first.
    pub reminded: Vec<StoredInvoice>,
    /// Whether the page of candidates was full: more may be waiting.
    pub full: bool,
}

impl Store {
    /// Reminds up to `limit` finalized invoices not reminded yet whose due date is in
    /// `[from, until)`, earliest due first: marks each reminded at `now` and appends its
    /// `invoice.overdue` outbox row, in one transaction. An invoice paid, voided or reminded by
    /// another run between the read and the update is left out (the update's condition is read
    /// again under the row lock), so each invoice is reminded at most once.
    #[tracing::instrument(skip_all, fields(limit))]
    pub async fn remind_overdue(
        &self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<RemindedPage, DbError> {
        let select = "select tenant_id, invoice_id from invoice \
            where status = 'finalized' and reminded_at is null and due_at >= $1 and due_at < $2 \
            order by due_at, tenant_id, invoice_id limit $3";
        let keys: Vec<(String, String)> = on_read!(self.read(), |db| sqlx::query_as(select)
            .bind(Instant(from))
            .bind(Instant(until))
            .bind(i64::from(limit))
            .fetch_all(db)
            .await)?;
        let full = keys.len() == usize::try_from(limit).unwrap_or(usize::MAX);
        if keys.is_empty() {
            return Ok(RemindedPage { reminded: Vec::new(), full });
        }
        let mut tx = self.begin().await?;
        let rows: Vec<InvoiceRow> = on_tx!(&mut tx, |db| {
            let mut update = sqlx::QueryBuilder::new("update invoice set reminded_at = ");
            update.push_bind(Instant(now));
            update.push(" where status = 'finalized' and reminded_at is null and (tenant_id, invoice_id) in (");
            update.push_values(&keys, |mut row, (tenant, invoice)| {
                row.push_bind(tenant).push_bind(invoice);
            });
            update.push(format!(") returning {COLUMNS}"));
            update.build_query_as().fetch_all(db).await
        })?;
        let mut reminded = rows.into_iter().map(StoredInvoice::try_from).collect::<Result<Vec<_>, _>>()?;
        reminded.sort_by(|a, b| {
            let (a, b) = (&a.document, &b.document);
            (a.content.due_at, a.id.as_str()).cmp(&(b.content.due_at, b.id.as_str()))
        });
        outbox::append_invoice_events(&mut tx, INVOICE_OVERDUE, reminded.iter().map(|i| &i.document), now).await?;
        tx.commit().await?;
        Ok(RemindedPage { reminded, full })
    }
}
