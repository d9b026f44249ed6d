//! Closing billing periods: `billing_period`, `invoice`, `billed_line`, credit consumptions
//! and the outbox rows — one transaction per period, at most once per (tenant, period).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::billing_pages::{line_key, period};
use super::codec::{Dec, Instant};
use super::engine::{on_read, on_tx, Tx};
use super::gate_changes;
use super::issue_batch::{issue_documents, take_numbers};
use super::{DbError, IssueInvoice, IssueOutcome, Store};
use crate::domain::{BillingPeriod, LineKey, TenantId};

impl Store {
    /// The tenant's closed billing periods.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
    pub async fn closed_periods(&self, tenant: &TenantId) -> Result<Vec<BillingPeriod>, DbError> {
        let sql = "select period_start, period_end from billing_period \
            where tenant_id = $1 and state = 'closed' order by period_start";
        let rows: Vec<(Instant, Instant)> =
            on_read!(self.read(), |db| sqlx::query_as(sql).bind(tenant.as_str()).fetch_all(db).await)?;
        rows.into_iter().map(|(s, e)| period(s, e)).collect()
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
        rows.into_iter().map(|(key, amount)| Ok((line_key(&key)?, amount.0))).collect()
    }

    /// Numbers and stores an invoice (and the adjustment invoices it carries), their billed
    /// lines, credit entries and outbox rows, and closes its period — in one transaction, at
    /// most once per (tenant, period). The period
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
        let outcome = match state.as_ref().map(|(s,)| s.as_str()) {
            None => IssueOutcome::Busy,
            Some("closed") => IssueOutcome::AlreadyClosed,
            Some(_) => return self.issue_claimed(tx, issue).await,
        };
        tx.rollback().await?;
        Ok(outcome)
    }

    /// Issues `issue` whose period `tx` has claimed open, and closes the period.
    async fn issue_claimed(&self, mut tx: Tx, issue: &IssueInvoice<'_>) -> Result<IssueOutcome, DbError> {
        let (tenant, start) = (issue.tenant.as_str(), Instant(issue.invoice.content.period_start));
        let mut documents = issue_documents(&mut tx, &[(issue.tenant, issue.invoice)], issue.invoice_prefix, issue.now)
            .await?
            .into_iter();
        let document = documents.next().ok_or_else(|| DbError::Corrupt("an issued invoice went missing".into()))?;
        let adjustments: Vec<_> = documents.collect();
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
        gate_changes::tell_periods_closed(&mut tx, &[tenant]).await?;
        tx.commit().await?;
        Ok(IssueOutcome::Issued(Box::new(document), adjustments))
    }
}

/// The next gapless number for `prefix` and `year`: a counter row moved inside the caller's
/// transaction (a sequence would leave gaps on rollback).
pub(super) async fn next_number(tx: &mut Tx, prefix: &str, year: i32) -> Result<String, DbError> {
    let value = take_numbers(tx, prefix, year, 1).await?;
    Ok(crate::domain::document_number(prefix, year, value))
}
