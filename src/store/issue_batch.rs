//! Issuing the invoices of a page of tenants in one transaction: the same rows as
//! [`Store::issue_invoice`] writes for one (period claimed and closed, gapless number, invoice,
//! billed lines, credit entries, `invoice.finalized` outbox row), a handful of multi-row
//! statements for the whole batch, one WAL flush. All or nothing: a run killed mid-batch
//! leaves none of the batch's invoices, numbers or periods, and the next run issues them.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, Utc};

use super::codec::{corrupt_json, entry_id, Dec, Instant};
use super::engine::{on_tx, Tx};
use super::{gate_changes, outbox};
use super::{DbError, IssueOutcome, Store};
use crate::domain::{
    document_number, BilledLine, CreditEntryKind, InvoiceDocument, InvoiceId, InvoiceKind, NewInvoice, TenantId,
};

/// Invoices of several tenants to issue together, numbered with one prefix as of one instant.
pub struct IssueBatch<'a> {
    /// At most one per (tenant, period).
    pub invoices: &'a [(&'a TenantId, &'a NewInvoice)],
    /// Invoice number prefix of the issuer (`INV`).
    pub invoice_prefix: &'a str,
    pub now: DateTime<Utc>,
}

/// Rows per multi-row statement: 13 binds per invoice row stay far below both engines'
/// limits on binds per statement (65 535; SQLite 32 766).
const ROWS_PER_STATEMENT: usize = 1_000;

impl Store {
    /// Issues every invoice of `batch` whose period is neither closed nor being closed by
    /// another run, in one transaction; the outcomes are in the batch's order. A period
    /// another run holds is skipped (`Busy`), not awaited, as in [`Store::issue_invoice`].
    ///
    /// # Errors
    /// A database failure: nothing of the batch is written, and the caller may issue its
    /// invoices one by one to find the one that fails.
    #[tracing::instrument(skip_all, fields(invoices = batch.invoices.len()))]
    pub async fn issue_invoices(&self, batch: &IssueBatch<'_>) -> Result<Vec<IssueOutcome>, DbError> {
        let mut tx = self.begin().await?;
        let states = claim_periods(&mut tx, batch.invoices, self.citus_pool().is_some()).await?;
        let mut outcomes = Vec::with_capacity(batch.invoices.len());
        let mut open = Vec::new();
        for (index, (tenant, new)) in batch.invoices.iter().enumerate() {
            match states.get(&(tenant.as_str().to_owned(), new.content.period_start)).map(String::as_str) {
                None => outcomes.push(IssueOutcome::Busy),
                Some("closed") => outcomes.push(IssueOutcome::AlreadyClosed),
                Some(_) => {
                    open.push((index, *tenant, *new));
                    outcomes.push(IssueOutcome::AlreadyClosed);
                }
            }
        }
        let issuing: Vec<_> = open.iter().map(|(_, tenant, new)| (*tenant, *new)).collect();
        let documents = issue_documents(&mut tx, &issuing, batch.invoice_prefix, batch.now).await?;
        let periods: Vec<&InvoiceDocument> =
            documents.iter().filter(|d| d.content.kind == InvoiceKind::Period).collect();
        close_periods(&mut tx, &periods, batch.now).await?;
        tx.commit().await?;
        let mut documents = documents.into_iter();
        for (index, _, new) in &open {
            if let Some(period) = documents.next() {
                let adjustments = documents.by_ref().take(new.adjustment_invoices.len()).collect();
                outcomes[*index] = IssueOutcome::Issued(Box::new(period), adjustments);
            }
        }
        Ok(outcomes)
    }
}

/// Numbers and stores `invoices`, each followed by its adjustment invoices, with what issuing
/// writes besides: billed amounts per line key, credit consumptions (and remainder credits)
/// and `invoice.finalized` outbox rows. The documents in that order (an invoice, then its
/// adjustment invoices), numbered consecutively. Closing the periods is the caller's.
pub(super) async fn issue_documents(
    tx: &mut Tx,
    invoices: &[(&TenantId, &NewInvoice)],
    invoice_prefix: &str,
    now: DateTime<Utc>,
) -> Result<Vec<InvoiceDocument>, DbError> {
    let issuing: Vec<(&TenantId, &NewInvoice)> = invoices
        .iter()
        .flat_map(|(tenant, new)| std::iter::once(*new).chain(&new.adjustment_invoices).map(move |n| (*tenant, n)))
        .collect();
    let year = now.year();
    let first = take_numbers(tx, invoice_prefix, year, issuing.len()).await?;
    let documents: Vec<InvoiceDocument> = (first..)
        .zip(&issuing)
        .map(|(value, (tenant, new))| {
            new.issued(InvoiceId::generate(tenant), document_number(invoice_prefix, year, value))
        })
        .collect();
    insert_invoices(tx, &documents).await?;
    let billed: Vec<_> = issuing
        .iter()
        .zip(&documents)
        .flat_map(|((tenant, new), document)| new.billed.iter().map(move |line| (*tenant, line, &document.id)))
        .collect();
    insert_billed_lines(tx, &billed).await?;
    for ((tenant, new), document) in issuing.iter().zip(&documents) {
        credit_effects(tx, tenant, new, document, now).await?;
    }
    outbox::append_invoice_events(tx, "invoice.finalized", &documents, now).await?;
    Ok(documents)
}

/// Inserts each period as `open` unless it exists, then locks the rows no other transaction
/// holds (`skip locked`; SQLite: the one writer) and answers their states by (tenant, start).
/// On Citus (`distributed`), which refuses `for update` on a statement over several shards,
/// each tenant's periods are locked by a statement of their own, routed to that tenant's
/// shard, in the same transaction: the page is still claimed and issued as one.
async fn claim_periods(
    tx: &mut Tx,
    invoices: &[(&TenantId, &NewInvoice)],
    distributed: bool,
) -> Result<HashMap<(String, DateTime<Utc>), String>, DbError> {
    let mut states = HashMap::new();
    for chunk in invoices.chunks(ROWS_PER_STATEMENT) {
        on_tx!(tx, |db| {
            let mut open =
                sqlx::QueryBuilder::new("insert into billing_period (tenant_id, period_start, period_end, state) ");
            open.push_values(chunk, |mut row, (tenant, new)| {
                row.push_bind(tenant.as_str())
                    .push_bind(Instant(new.content.period_start))
                    .push_bind(Instant(new.content.period_end))
                    .push_bind("open");
            });
            open.push(" on conflict do nothing");
            open.build().execute(db).await.map(|_| ())
        })?;
        let rows = if distributed { lock_per_tenant(tx, chunk).await? } else { lock_together(tx, chunk).await? };
        states.extend(rows.into_iter().map(|(tenant, start, state)| ((tenant, start.0), state)));
    }
    Ok(states)
}

/// A claimed period: tenant, start, state.
type Claimed = (String, Instant, String);

/// Locks the periods of `chunk` with one statement over every tenant.
async fn lock_together(tx: &mut Tx, chunk: &[(&TenantId, &NewInvoice)]) -> Result<Vec<Claimed>, DbError> {
    let lock = tx.for_update_skip_locked();
    let rows = on_tx!(tx, |db| {
        let mut claim = sqlx::QueryBuilder::new(
            "select tenant_id, period_start, state from billing_period where (tenant_id, period_start) in (",
        );
        claim.push_values(chunk, |mut row, (tenant, new)| {
            row.push_bind(tenant.as_str()).push_bind(Instant(new.content.period_start));
        });
        claim.push(") ").push(lock);
        claim.build_query_as().fetch_all(db).await
    })?;
    Ok(rows)
}

/// Locks the periods of `chunk` with one statement per tenant (`tenant_id = $1`: one shard).
async fn lock_per_tenant(tx: &mut Tx, chunk: &[(&TenantId, &NewInvoice)]) -> Result<Vec<Claimed>, DbError> {
    let lock = tx.for_update_skip_locked();
    let mut starts: BTreeMap<&str, Vec<DateTime<Utc>>> = BTreeMap::new();
    for (tenant, new) in chunk {
        starts.entry(tenant.as_str()).or_default().push(new.content.period_start);
    }
    let mut claimed = Vec::with_capacity(chunk.len());
    for (tenant, starts) in starts {
        let rows: Vec<Claimed> = on_tx!(&mut *tx, |db| {
            let mut claim = sqlx::QueryBuilder::new("select tenant_id, period_start, state from billing_period ");
            claim.push("where tenant_id = ").push_bind(tenant).push(" and period_start in (");
            let mut list = claim.separated(", ");
            for start in &starts {
                list.push_bind(Instant(*start));
            }
            claim.push(") ").push(lock);
            claim.build_query_as().fetch_all(db).await
        })?;
        claimed.extend(rows);
    }
    Ok(claimed)
}

/// Takes `count` consecutive gapless numbers for `prefix` and `year` inside the caller's
/// transaction and answers the first: the counter row stays locked until commit, so
/// concurrent issuers queue behind it and a rollback returns the whole range.
pub(super) async fn take_numbers(tx: &mut Tx, prefix: &str, year: i32, count: usize) -> Result<i64, DbError> {
    if count == 0 {
        return Ok(0);
    }
    let count = i64::try_from(count).map_err(|_| DbError::Corrupt("a batch beyond i64".into()))?;
    let take = "update number_counter set next_value = next_value + $3 \
        where prefix = $1 and year = $2 returning next_value - $3";
    let create = "insert into number_counter (prefix, year, next_value) values ($1, $2, 1) on conflict do nothing";
    let taken: Option<(i64,)> =
        on_tx!(tx, |db| sqlx::query_as(take).bind(prefix).bind(year).bind(count).fetch_optional(db).await)?;
    if let Some((first,)) = taken {
        return Ok(first);
    }
    on_tx!(tx, |db| sqlx::query(create).bind(prefix).bind(year).execute(db).await.map(|_| ()))?;
    let (first,): (i64,) =
        on_tx!(tx, |db| sqlx::query_as(take).bind(prefix).bind(year).bind(count).fetch_one(db).await)?;
    Ok(first)
}

/// Inserts issued invoices, their content as the JSON document.
pub(super) async fn insert_invoices(tx: &mut Tx, documents: &[InvoiceDocument]) -> Result<(), DbError> {
    let json: Vec<String> =
        documents.iter().map(serde_json::to_string).collect::<Result<_, _>>().map_err(corrupt_json)?;
    let rows: Vec<_> = documents.iter().zip(&json).collect();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        on_tx!(tx, |db| {
            let mut insert = sqlx::QueryBuilder::new(
                "insert into invoice (tenant_id, invoice_id, kind, number, status, period_start, period_end, \
                currency, subtotal, tax, credits_applied, total, document, issued_at, due_at, created_at) ",
            );
            insert.push_values(chunk, |mut row, (document, json)| {
                let d = &document.content;
                row.push_bind(d.customer.tenant_id.as_str())
                    .push_bind(document.id.as_str())
                    .push_bind(d.kind.as_str())
                    .push_bind(&document.number)
                    .push_bind(document.status.as_str())
                    .push_bind(Instant(d.period_start))
                    .push_bind(Instant(d.period_end))
                    .push_bind(d.currency.code())
                    .push_bind(Dec(d.subtotal))
                    .push_bind(Dec(d.tax))
                    .push_bind(Dec(d.credits_applied))
                    .push_bind(Dec(d.total))
                    .push_bind(json.as_str())
                    .push_bind(Instant(d.issued_at))
                    .push_bind(d.due_at.map(Instant))
                    .push_bind(Instant(d.issued_at));
            });
            insert.build().execute(db).await.map(|_| ())
        })?;
    }
    Ok(())
}

/// Inserts billed amounts, each under the invoice that billed it.
pub(super) async fn insert_billed_lines(
    tx: &mut Tx,
    lines: &[(&TenantId, &BilledLine, &InvoiceId)],
) -> Result<(), DbError> {
    for chunk in lines.chunks(ROWS_PER_STATEMENT) {
        on_tx!(tx, |db| {
            let mut insert = sqlx::QueryBuilder::new(
                "insert into billed_line (tenant_id, period_start, line_key, invoice_id, amount) ",
            );
            insert.push_values(chunk, |mut row, (tenant, billed, invoice)| {
                row.push_bind(tenant.as_str())
                    .push_bind(Instant(billed.period_start))
                    .push_bind(billed.key.to_string())
                    .push_bind(invoice.as_str())
                    .push_bind(Dec(billed.amount));
            });
            insert.build().execute(db).await.map(|_| ())
        })?;
    }
    Ok(())
}

/// The credit consumptions paying an invoice (none of them on revoked credit) and the
/// remainder credit a negative one grants.
pub(super) async fn credit_effects(
    tx: &mut Tx,
    tenant: &TenantId,
    new: &NewInvoice,
    document: &InvoiceDocument,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    super::ledger::check_grants_hold(tx, tenant, &new.consumptions).await?;
    let ledger = super::ledger::InvoiceLedger { tenant, document, now };
    for (grant_id, amount) in &new.consumptions {
        ledger.append(tx, CreditEntryKind::Consumption, grant_id, *amount, "applied to invoice").await?;
    }
    if let Some(amount) = new.remainder_credit {
        let id = entry_id();
        ledger.append(tx, CreditEntryKind::Grant, &id, amount, "negative invoice remainder").await?;
    }
    Ok(())
}

/// Closes the periods of issued invoices, each naming its invoice.
async fn close_periods(tx: &mut Tx, documents: &[&InvoiceDocument], now: DateTime<Utc>) -> Result<(), DbError> {
    for chunk in documents.chunks(ROWS_PER_STATEMENT) {
        on_tx!(tx, |db| {
            let mut close = sqlx::QueryBuilder::new("update billing_period set state = 'closed', closed_at = ");
            close.push_bind(Instant(now));
            close.push(
                ", invoice_id = (select i.invoice_id from invoice i where i.tenant_id = billing_period.tenant_id \
                and i.period_start = billing_period.period_start and i.kind = 'period') \
                where (tenant_id, period_start) in (",
            );
            close.push_values(chunk, |mut row, document| {
                row.push_bind(document.content.customer.tenant_id.as_str())
                    .push_bind(Instant(document.content.period_start));
            });
            close.push(")");
            close.build().execute(db).await.map(|_| ())
        })?;
        let tenants: Vec<&str> = chunk.iter().map(|d| d.content.customer.tenant_id.as_str()).collect();
        gate_changes::tell_periods_closed(tx, &tenants).await?;
    }
    Ok(())
}
