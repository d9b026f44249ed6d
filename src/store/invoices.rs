//! Reading invoices and moving their status. The content stays as issued: a trigger on both
//! engines refuses anything else.

use chrono::{DateTime, Datelike, Utc};

use super::codec::{corrupt_json, instant, Instant};
use super::engine::{execute_on_tx, on_read, on_tx, Tx};
use super::periods::next_number;
use super::{audit, DbError, StatusChange, Store, StoredInvoice, LATEST};
use crate::domain::{Actor, AuditTarget, InvoiceDocument, InvoiceId, InvoiceKind, InvoiceStatus, TenantId};

/// Which of a tenant's invoices a list holds: all, or those of one status, one kind or both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InvoiceFilter {
    pub status: Option<InvoiceStatus>,
    pub kind: Option<InvoiceKind>,
}

#[derive(sqlx::FromRow)]
pub(super) struct InvoiceRow {
    document: String,
    status: String,
    paid_at: Option<Instant>,
    voided_at: Option<Instant>,
    credit_note_number: Option<String>,
    reminded_at: Option<Instant>,
}

impl TryFrom<InvoiceRow> for StoredInvoice {
    type Error = DbError;

    fn try_from(r: InvoiceRow) -> Result<Self, DbError> {
        let mut document: InvoiceDocument = serde_json::from_str(&r.document).map_err(corrupt_json)?;
        document.status = status(&r.status)?;
        Ok(StoredInvoice {
            document,
            paid_at: instant(r.paid_at),
            voided_at: instant(r.voided_at),
            credit_note_number: r.credit_note_number,
            reminded_at: instant(r.reminded_at),
        })
    }
}

pub(super) const COLUMNS: &str = "document, status, paid_at, voided_at, credit_note_number, reminded_at";

fn status(text: &str) -> Result<InvoiceStatus, DbError> {
    InvoiceStatus::parse(text).ok_or_else(|| DbError::Corrupt(format!("invoice status {text}")))
}

impl Store {
    /// A tenant's invoices of `filter`, newest period first, after the `(period_start, id)`
    /// cursor.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
    pub async fn list_invoices(
        &self,
        tenant: &TenantId,
        filter: InvoiceFilter,
        before: Option<(DateTime<Utc>, InvoiceId)>,
        limit: u32,
    ) -> Result<Vec<StoredInvoice>, DbError> {
        let (at, id) = before.map_or((LATEST, String::new()), |(at, id)| (at, id.to_string()));
        let sql = format!(
            r#"select {COLUMNS} from invoice
            where tenant_id = $1 and (period_start < $2 or (period_start = $2 and invoice_id < $3) or $3 = '')
            and ($5 = '' or status = $5) and ($6 = '' or kind = $6)
            order by period_start desc, invoice_id desc
            limit $4"#
        );
        let rows: Vec<InvoiceRow> = on_read!(self.read(), |db| sqlx::query_as(&sql)
            .bind(tenant.as_str())
            .bind(Instant(at.min(LATEST)))
            .bind(&id)
            .bind(i64::from(limit))
            .bind(filter.status.map_or("", InvoiceStatus::as_str))
            .bind(filter.kind.map_or("", InvoiceKind::as_str))
            .fetch_all(db)
            .await)?;
        rows.into_iter().map(StoredInvoice::try_from).collect()
    }

    /// One invoice (of the tenant its id names).
    #[tracing::instrument(skip_all, fields(invoice_id = %id))]
    pub async fn get_invoice(&self, id: &InvoiceId) -> Result<Option<StoredInvoice>, DbError> {
        let sql = format!("select {COLUMNS} from invoice where tenant_id = $1 and invoice_id = $2");
        let row: Option<InvoiceRow> = on_read!(self.read(), |db| sqlx::query_as(&sql)
            .bind(id.tenant().as_str())
            .bind(id.as_str())
            .fetch_optional(db)
            .await)?;
        row.map(StoredInvoice::try_from).transpose()
    }

    /// The invoices among `ids` that exist, in one statement (a page of outbox events' invoices).
    #[tracing::instrument(skip_all, fields(count = ids.len()))]
    pub async fn invoices_among(&self, ids: &[InvoiceId]) -> Result<Vec<StoredInvoice>, DbError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<InvoiceRow> = on_read!(self.read(), |db| {
            let mut query =
                sqlx::QueryBuilder::new(format!("select {COLUMNS} from invoice where (tenant_id, invoice_id) in ("));
            query.push_values(ids, |mut row, id| {
                row.push_bind(id.tenant().as_str()).push_bind(id.as_str());
            });
            query.push(")");
            query.build_query_as().fetch_all(db).await
        })?;
        rows.into_iter().map(StoredInvoice::try_from).collect()
    }

    /// `finalized → paid`, with the `invoice.paid` outbox row and audit event (of `actor`) in
    /// the same transaction.
    #[tracing::instrument(skip_all, fields(invoice_id = %id))]
    pub async fn mark_invoice_paid(
        &self,
        id: &InvoiceId,
        now: DateTime<Utc>,
        actor: &Actor,
    ) -> Result<StatusChange, DbError> {
        let sql = "update invoice set status = 'paid', paid_at = $3 \
            where tenant_id = $1 and invoice_id = $2 and status = 'finalized'";
        let (tenant, invoice_id) = (id.tenant(), id.as_str());
        let mut tx = self.begin().await?;
        let changed =
            execute_on_tx!(&mut tx, sqlx::query(sql).bind(tenant.as_str()).bind(invoice_id).bind(Instant(now)))? == 1;
        if changed {
            announce(&mut tx, id, "invoice.paid", actor, now).await?;
        }
        tx.commit().await?;
        self.after_change(id, changed).await
    }

    /// `finalized | paid → void`: under a lock on the invoice row, takes back what is left
    /// of the credit the invoice granted (a negative remainder), numbers a credit note, voids,
    /// restores every credit the invoice consumed and writes the `invoice.voided` outbox row
    /// and audit event (of `actor`) — one transaction. Refused, with nothing written, while
    /// invoices that are not void hold some of the credit it granted
    /// ([`StatusChange::GrantedCreditSpent`]).
    #[tracing::instrument(skip_all, fields(invoice_id = %id))]
    pub async fn void_invoice(
        &self,
        id: &InvoiceId,
        credit_note_prefix: &str,
        now: DateTime<Utc>,
        actor: &Actor,
    ) -> Result<StatusChange, DbError> {
        let (tenant, invoice_id) = (id.tenant(), id.as_str());
        let mut tx = self.begin().await?;
        let sql = format!("select status from invoice where tenant_id = $1 and invoice_id = $2 {}", tx.for_update());
        let current: Option<(String,)> =
            on_tx!(&mut tx, |db| sqlx::query_as(&sql).bind(tenant.as_str()).bind(invoice_id).fetch_optional(db).await)?;
        let Some((current,)) = current else { return Ok(StatusChange::NotFound) };
        let current = status(&current)?;
        if !matches!(current, InvoiceStatus::Finalized | InvoiceStatus::Paid) {
            return Ok(StatusChange::NotAllowed(current));
        }
        if let Err(spenders) = super::ledger::revoke_granted(&mut tx, tenant, invoice_id, now).await? {
            return Ok(StatusChange::GrantedCreditSpent(numbered(&mut tx, tenant, &spenders).await?));
        }
        let number = next_number(&mut tx, credit_note_prefix, now.year()).await?;
        set_void(&mut tx, tenant, invoice_id, &number, now).await?;
        super::ledger::restore_consumed(&mut tx, tenant, invoice_id, now).await?;
        let voided = announce(&mut tx, id, "invoice.voided", actor, now).await?;
        tx.commit().await?;
        Ok(StatusChange::Changed(Box::new(voided)))
    }

    /// The status change as seen after its transaction.
    async fn after_change(&self, id: &InvoiceId, changed: bool) -> Result<StatusChange, DbError> {
        match self.get_invoice(id).await? {
            None => Ok(StatusChange::NotFound),
            Some(invoice) if changed => Ok(StatusChange::Changed(Box::new(invoice))),
            Some(invoice) => Ok(StatusChange::NotAllowed(invoice.document.status)),
        }
    }
}

/// The ids of `invoices` (of `tenant`) with their numbers, in the order given.
async fn numbered(tx: &mut Tx, tenant: &TenantId, invoices: &[String]) -> Result<Vec<(InvoiceId, String)>, DbError> {
    let sql = "select number from invoice where tenant_id = $1 and invoice_id = $2";
    let mut out = Vec::with_capacity(invoices.len());
    for invoice in invoices {
        let (number,): (String,) =
            on_tx!(&mut *tx, |db| sqlx::query_as(sql).bind(tenant.as_str()).bind(invoice).fetch_one(db).await)?;
        let id = InvoiceId::parse(invoice).map_err(|_| DbError::Corrupt(format!("credit entry invoice {invoice}")))?;
        out.push((id, number));
    }
    Ok(out)
}

async fn set_void(
    tx: &mut Tx,
    tenant: &TenantId,
    invoice_id: &str,
    credit_note_number: &str,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let sql = "update invoice set status = 'void', voided_at = $3, credit_note_number = $4 \
        where tenant_id = $1 and invoice_id = $2";
    on_tx!(tx, |db| sqlx::query(sql)
        .bind(tenant.as_str())
        .bind(invoice_id)
        .bind(Instant(now))
        .bind(credit_note_number)
        .execute(db)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// Announces an invoice's status change inside its transaction: the `event` outbox row (the
/// invoice as changed) and `actor`'s audit event of the same name, naming its number (and its
/// credit note's). Returns the invoice as changed.
async fn announce(
    tx: &mut Tx,
    id: &InvoiceId,
    event: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<StoredInvoice, DbError> {
    let sql = format!("select {COLUMNS} from invoice where tenant_id = $1 and invoice_id = $2");
    let row: InvoiceRow =
        on_tx!(tx, |db| sqlx::query_as(&sql).bind(id.tenant().as_str()).bind(id.as_str()).fetch_one(db).await)?;
    let changed = StoredInvoice::try_from(row)?;
    super::outbox::append(tx, id.tenant(), event, &changed.document.event_payload(), now).await?;
    let target = AuditTarget::object("invoice", id.as_str(), Some(id.tenant()));
    let detail =
        serde_json::json!({ "number": changed.document.number, "credit_note_number": changed.credit_note_number });
    audit::append(tx, actor, event, &target, detail, now).await?;
    Ok(changed)
}
