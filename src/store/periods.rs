//! Closing billing periods: `billing_period`, `invoice`, `billed_line`, credit consumptions
//! and the outbox row — one transaction per period, at most once per (tenant, period).

use chrono::{DateTime, Datelike, Utc};
use rust_decimal::Decimal;

use super::codec::{corrupt_json, Dec, Instant};
use super::engine::{on_read, on_tx, Tx};
use super::{DbError, IssueInvoice, IssueOutcome, Store};
use crate::domain::{BillingPeriod, CreditEntryKind, InvoiceDocument, InvoiceId, LineKey, TenantId};

impl Store {
    /// The tenant's closed billing periods.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
    pub async fn closed_periods(&self, tenant: &TenantId) -> Result<Vec<BillingPeriod>, DbError> {
        let sql = "select period_start, period_end from billing_period \
            where tenant_id = $1 and state = 'closed' order by period_start";
        let rows: Vec<(Instant, Instant)> =
            on_read!(self.read(), |db| sqlx::query_as(sql).bind(tenant.as_str()).fetch_all(db).await)?;
        rows.into_iter()
            .map(|(s, e)| {
                BillingPeriod::new(s.0, e.0).ok_or_else(|| DbError::Corrupt("an empty billing period".into()))
            })
            .collect()
    }

    /// Every amount billed for lines of one period, as (line key, amount) rows.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
    pub async fn billed_lines(
        &self,
        tenant: &TenantId,
        period_start: DateTime<Utc>,
    ) -> Result<Vec<(LineKey, Decimal)>, DbError> {
        let sql = "select line_key, amount from billed_line where tenant_id = $1 and period_start = $2";
        let rows: Vec<(String, Dec)> = on_read!(self.read(), |db| sqlx::query_as(sql)
            .bind(tenant.as_str())
            .bind(Instant(period_start))
            .fetch_all(db)
            .await)?;
        rows.into_iter()
            .map(|(key, amount)| {
                let key = LineKey::parse(&key).ok_or_else(|| DbError::Corrupt(format!("line key {key:?}")))?;
                Ok((key, amount.0))
            })
            .collect()
    }

    /// Numbers and stores an invoice, its billed lines, credit entries and outbox row, and
    /// closes its period — in one transaction, at most once per (tenant, period). The period
    /// row is claimed with `for update skip locked` on PostgreSQL, so concurrent runs on
    /// several nodes neither wait for nor duplicate each other (SQLite: the one writer).
    #[tracing::instrument(skip_all, fields(tenant_id = %issue.tenant))]
    pub async fn issue_invoice(&self, issue: &IssueInvoice<'_>) -> Result<IssueOutcome, DbError> {
        let new = &issue.invoice.content;
        let (tenant, start) = (issue.tenant.as_str(), Instant(new.period_start));
        let open = r#"insert into billing_period (tenant_id, period_start, period_end, state)
            values ($1, $2, $3, 'open')
            on conflict do nothing"#;
        let mut tx = self.begin().await?;
        on_tx!(&mut tx, |db| sqlx::query(open)
            .bind(tenant)
            .bind(start)
            .bind(Instant(new.period_end))
            .execute(db)
            .await
            .map(|_| ()))?;
        let claim = format!(
            "select state from billing_period where tenant_id = $1 and period_start = $2 {}",
            tx.for_update_skip_locked()
        );
        let state: Option<(String,)> =
            on_tx!(&mut tx, |db| sqlx::query_as(&claim).bind(tenant).bind(start).fetch_optional(db).await)?;
        match state.as_ref().map(|(s,)| s.as_str()) {
            None => return Ok(IssueOutcome::Busy),
            Some("closed") => return Ok(IssueOutcome::AlreadyClosed),
            Some(_) => {}
        }
        let number = next_number(&mut tx, issue.invoice_prefix, issue.now.year()).await?;
        let document = issue.invoice.issued(InvoiceId::generate(issue.tenant), number);
        insert_invoice(&mut tx, &document).await?;
        record_effects(&mut tx, issue, &document).await?;
        let close = "update billing_period set state = 'closed', closed_at = $3, invoice_id = $4 \
            where tenant_id = $1 and period_start = $2";
        on_tx!(&mut tx, |db| sqlx::query(close)
            .bind(tenant)
            .bind(start)
            .bind(Instant(issue.now))
            .bind(document.id.as_str())
            .execute(db)
            .await
            .map(|_| ()))?;
        tx.commit().await?;
        Ok(IssueOutcome::Issued(Box::new(document)))
    }
}

/// The next gapless number for `prefix` and `year`: a counter row moved inside the caller's
/// transaction (a sequence would leave gaps on rollback).
pub(super) async fn next_number(tx: &mut Tx, prefix: &str, year: i32) -> Result<String, DbError> {
    let create = "insert into number_counter (prefix, year, next_value) values ($1, $2, 1) on conflict do nothing";
    let take = "update number_counter set next_value = next_value + 1 \
        where prefix = $1 and year = $2 returning next_value - 1";
    on_tx!(tx, |db| sqlx::query(create).bind(prefix).bind(year).execute(db).await.map(|_| ()))?;
    let (value,): (i64,) = on_tx!(tx, |db| sqlx::query_as(take).bind(prefix).bind(year).fetch_one(db).await)?;
    Ok(crate::domain::document_number(prefix, year, value))
}

async fn insert_invoice(tx: &mut Tx, document: &InvoiceDocument) -> Result<(), DbError> {
    let sql = r#"insert into invoice (tenant_id, invoice_id, kind, number, status, period_start, period_end,
            currency, subtotal, tax, credits_applied, total, document, issued_at, created_at)
        values ($1, $2, 'period', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)"#;
    let json = serde_json::to_string(document).map_err(corrupt_json)?;
    let d = &document.content;
    on_tx!(tx, |db| sqlx::query(sql)
        .bind(d.customer.tenant_id.as_str())
        .bind(document.id.as_str())
        .bind(&document.number)
        .bind(document.status.as_str())
        .bind(Instant(d.period_start))
        .bind(Instant(d.period_end))
        .bind(d.currency.code())
        .bind(Dec(d.subtotal))
        .bind(Dec(d.tax))
        .bind(Dec(d.credits_applied))
        .bind(Dec(d.total))
        .bind(&json)
        .bind(Instant(d.issued_at))
        .execute(db)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// What issuing writes besides the invoice: billed amounts per line key, credit consumptions
/// (and a remainder credit), and the `invoice.finalized` outbox row.
async fn record_effects(tx: &mut Tx, issue: &IssueInvoice<'_>, document: &InvoiceDocument) -> Result<(), DbError> {
    let new = issue.invoice;
    if !new.billed.is_empty() {
        let insert = "insert into billed_line (tenant_id, period_start, line_key, invoice_id, amount) ";
        on_tx!(tx, |db| {
            let mut query = sqlx::QueryBuilder::new(insert);
            query.push_values(&new.billed, |mut row, billed| {
                row.push_bind(issue.tenant.as_str())
                    .push_bind(Instant(billed.period_start))
                    .push_bind(billed.key.to_string())
                    .push_bind(document.id.as_str())
                    .push_bind(Dec(billed.amount));
            });
            query.build().execute(db).await.map(|_| ())
        })?;
    }
    let ledger = super::ledger::InvoiceLedger { tenant: issue.tenant, document, now: issue.now };
    for (grant_id, amount) in &new.consumptions {
        ledger.append(tx, CreditEntryKind::Consumption, grant_id, *amount, "applied to invoice").await?;
    }
    if let Some(amount) = new.remainder_credit {
        let id = super::codec::entry_id();
        ledger.append(tx, CreditEntryKind::Grant, &id, amount, "negative invoice remainder").await?;
    }
    let payload = document.event_payload();
    super::outbox::append(tx, issue.tenant, "invoice.finalized", &payload, issue.now).await
}
