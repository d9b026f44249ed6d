//! `credit_entry`: the append-only credit ledger (grants, consumptions, restorations,
//! revocations).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::billing_pages::placeholders;
use super::codec::{entry_id, instant, Dec, Instant};
use super::engine::{on_read, on_tx, Tx};
use super::{audit, DbError, NewCreditGrant, Store};
use crate::domain::{
    grant_standing, Actor, AuditTarget, CreditEntry, CreditEntryKind, Currency, GrantStanding, InvoiceDocument, Money,
    TenantId,
};

#[derive(sqlx::FromRow)]
pub(super) struct EntryRow {
    entry_id: String,
    kind: String,
    grant_id: String,
    amount: Dec,
    currency: String,
    expires_at: Option<Instant>,
    reason: String,
    invoice_id: Option<String>,
    created_at: Instant,
}

impl TryFrom<EntryRow> for CreditEntry {
    type Error = DbError;

    fn try_from(r: EntryRow) -> Result<Self, DbError> {
        let corrupt = |what: &str| DbError::Corrupt(format!("credit entry {}: {what}", r.entry_id));
        Ok(CreditEntry {
            kind: CreditEntryKind::parse(&r.kind).ok_or_else(|| corrupt("kind"))?,
            amount: Money::new(r.amount.0, Currency::parse(&r.currency).map_err(|_| corrupt("currency"))?),
            expires_at: instant(r.expires_at),
            created_at: r.created_at.0,
            entry_id: r.entry_id,
            grant_id: r.grant_id,
            reason: r.reason,
            invoice_id: r.invoice_id,
        })
    }
}

pub(super) const ENTRY_COLUMNS: &str =
    "entry_id, kind, grant_id, amount, currency, expires_at, reason, invoice_id, created_at";

const INSERT: &str = r#"insert into credit_entry (tenant_id, entry_id, kind, grant_id, amount, currency,
        expires_at, reason, invoice_id, created_at)
    values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"#;

impl Store {
    /// Appends a credit grant to the ledger, with the `credit.granted` audit event of `actor`.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
    pub async fn grant_credit(
        &self,
        tenant: &TenantId,
        grant: &NewCreditGrant,
        now: DateTime<Utc>,
        actor: &Actor,
    ) -> Result<CreditEntry, DbError> {
        let id = entry_id();
        let entry = CreditEntry {
            entry_id: id.clone(),
            kind: CreditEntryKind::Grant,
            grant_id: id,
            amount: grant.amount,
            expires_at: grant.expires_at,
            reason: grant.reason.clone(),
            invoice_id: None,
            created_at: now,
        };
        let mut tx = self.begin().await?;
        insert_entry(&mut tx, tenant, &entry).await?;
        let detail = serde_json::json!({ "amount": grant.amount.format_amount(), "currency": grant.amount.currency.code(),
            "expires_at": grant.expires_at, "reason": grant.reason });
        let target = AuditTarget::object("credit_grant", &entry.grant_id, Some(tenant));
        audit::append(&mut tx, actor, "credit.granted", &target, detail, now).await?;
        tx.commit().await?;
        self.mark_changed([tenant]);
        Ok(entry)
    }

    /// The tenant's credit ledger, oldest first.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
    pub async fn credit_entries(&self, tenant: &TenantId) -> Result<Vec<CreditEntry>, DbError> {
        let sql =
            format!("select {ENTRY_COLUMNS} from credit_entry where tenant_id = $1 order by created_at, entry_id");
        let rows: Vec<EntryRow> =
            on_read!(self.read(), |db| sqlx::query_as(&sql).bind(tenant.as_str()).fetch_all(db).await)?;
        rows.into_iter().map(CreditEntry::try_from).collect()
    }
}

pub(super) async fn insert_entry(tx: &mut Tx, tenant: &TenantId, e: &CreditEntry) -> Result<(), DbError> {
    on_tx!(tx, |db| sqlx::query(INSERT)
        .bind(tenant.as_str())
        .bind(&e.entry_id)
        .bind(e.kind.as_str())
        .bind(&e.grant_id)
        .bind(Dec(e.amount.amount))
        .bind(e.amount.currency.code())
        .bind(e.expires_at.map(Instant))
        .bind(&e.reason)
        .bind(e.invoice_id.as_deref())
        .bind(Instant(e.created_at))
        .execute(db)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// Ledger entries an invoice makes, in the invoice's currency and transaction.
pub(super) struct InvoiceLedger<'a> {
    pub tenant: &'a TenantId,
    pub document: &'a InvoiceDocument,
    pub now: DateTime<Utc>,
}

impl InvoiceLedger<'_> {
    /// Appends an entry of `kind` drawing on `grant_id` (a grant is its own grant id).
    pub(super) async fn append(
        &self,
        tx: &mut Tx,
        kind: CreditEntryKind,
        grant_id: &str,
        amount: Decimal,
        reason: &str,
    ) -> Result<(), DbError> {
        let entry = CreditEntry {
            entry_id: if kind == CreditEntryKind::Grant { grant_id.to_owned() } else { entry_id() },
            kind,
            grant_id: grant_id.to_owned(),
            amount: Money::new(amount, self.document.content.currency),
            expires_at: None,
            reason: reason.to_owned(),
            invoice_id: Some(self.document.id.to_string()),
            created_at: self.now,
        };
        insert_entry(tx, self.tenant, &entry).await
    }
}

/// Restores every credit `invoice_id` consumed (on void), inside the caller's transaction.
pub(super) async fn restore_consumed(
    tx: &mut Tx,
    tenant: &TenantId,
    invoice_id: &str,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let sql = r#"insert into credit_entry (tenant_id, entry_id, kind, grant_id, amount, currency, reason,
            invoice_id, created_at)
        select tenant_id, $3 || '-' || entry_id, $4, grant_id, amount, currency, 'invoice voided', invoice_id, $5
        from credit_entry where tenant_id = $1 and invoice_id = $2 and kind = 'consumption'"#;
    on_tx!(tx, |db| sqlx::query(sql)
        .bind(tenant.as_str())
        .bind(invoice_id)
        .bind(entry_id())
        .bind(CreditEntryKind::Restoration.as_str())
        .bind(Instant(now))
        .execute(db)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// On void, takes back what is left of every grant `invoice_id` made (its negative remainder)
/// with a revocation entry each, inside the caller's transaction, so the void leaves no
/// spendable credit behind. Answers `Err` with the invoices (not void) that consumed such a
/// grant, writing nothing: revoking only the rest would leave the credit they used unpaid.
pub(super) async fn revoke_granted(
    tx: &mut Tx,
    tenant: &TenantId,
    invoice_id: &str,
    now: DateTime<Utc>,
) -> Result<Result<(), Vec<String>>, DbError> {
    let sql = format!(
        "select {ENTRY_COLUMNS} from credit_entry
        where tenant_id = $1 and grant_id in (
            select grant_id from credit_entry where tenant_id = $1 and invoice_id = $2 and kind = 'grant')
        order by created_at, entry_id"
    );
    let rows: Vec<EntryRow> =
        on_tx!(&mut *tx, |db| sqlx::query_as(&sql).bind(tenant.as_str()).bind(invoice_id).fetch_all(db).await)?;
    let entries: Vec<CreditEntry> = rows.into_iter().map(CreditEntry::try_from).collect::<Result<_, _>>()?;
    let standings: Vec<(&CreditEntry, GrantStanding)> = entries
        .iter()
        .filter(|e| e.kind == CreditEntryKind::Grant)
        .map(|grant| (grant, grant_standing(&entries, &grant.grant_id)))
        .collect();
    let mut spent_by: Vec<String> = Vec::new();
    for invoice in standings.iter().flat_map(|(_, standing)| &standing.spent_by) {
        if !spent_by.contains(invoice) {
            spent_by.push(invoice.clone());
        }
    }
    if !spent_by.is_empty() {
        return Ok(Err(spent_by));
    }
    for (grant, GrantStanding { remaining, .. }) in standings {
        if remaining > Decimal::ZERO {
            let revocation = CreditEntry {
                entry_id: entry_id(),
                kind: CreditEntryKind::Revocation,
                grant_id: grant.grant_id.clone(),
                amount: Money::new(remaining, grant.amount.currency),
                expires_at: None,
                reason: "invoice voided".to_owned(),
                invoice_id: Some(invoice_id.to_owned()),
                created_at: now,
            };
            insert_entry(tx, tenant, &revocation).await?;
        }
    }
    Ok(Ok(()))
}

/// Before an invoice consumes `consumptions` (grant, amount), inside its issuing
/// transaction: refuses ([`DbError::CreditRevoked`]) when a grant no longer holds what the
/// invoice would take — it was made by an invoice that is now void, or an operator revoked
/// its balance — since the invoice was priced from a ledger read before. Nothing is written,
/// and pricing it again (the next run) leaves that credit out.
///
/// The granting invoices and the grants' rows stay locked (`for share`; SQLite: the one
/// writer) until commit, so a void of one of them, or an operator's revocation of a grant,
/// waits and then sees this consumption.
pub(super) async fn check_grants_hold(
    tx: &mut Tx,
    tenant: &TenantId,
    consumptions: &[(String, Decimal)],
) -> Result<(), DbError> {
    if consumptions.is_empty() {
        return Ok(());
    }
    let grants: Vec<&str> = consumptions.iter().map(|(grant_id, _)| grant_id.as_str()).collect();
    let (list, lock) = (placeholders(2, grants.len()), tx.for_share());
    let granting_invoices = format!(
        "select status from invoice where tenant_id = $1 and invoice_id in (
            select invoice_id from credit_entry where tenant_id = $1 and kind = 'grant' and grant_id in ({list})) {lock}"
    );
    let statuses: Vec<(String,)> = on_tx!(&mut *tx, |db| {
        let mut query = sqlx::query_as(&granting_invoices).bind(tenant.as_str());
        for grant in &grants {
            query = query.bind(*grant);
        }
        query.fetch_all(db).await
    })?;
    if statuses.iter().any(|(status,)| status == "void") {
        return Err(DbError::CreditRevoked);
    }
    let grant_rows = format!(
        "select entry_id from credit_entry where tenant_id = $1 and kind = 'grant' and entry_id in ({list}) {lock}"
    );
    let _locked: Vec<(String,)> = on_tx!(&mut *tx, |db| {
        let mut query = sqlx::query_as(&grant_rows).bind(tenant.as_str());
        for grant in &grants {
            query = query.bind(*grant);
        }
        query.fetch_all(db).await
    })?;
    let entries = grant_entries(tx, tenant, &grants).await?;
    let short = consumptions.iter().any(|(grant_id, amount)| grant_standing(&entries, grant_id).remaining < *amount);
    match short {
        true => Err(DbError::CreditRevoked),
        false => Ok(()),
    }
}

/// Every ledger entry of `grants` (the grants included), as `tx` sees them.
pub(super) async fn grant_entries(
    tx: &mut Tx,
    tenant: &TenantId,
    grants: &[&str],
) -> Result<Vec<CreditEntry>, DbError> {
    let sql = format!(
        "select {ENTRY_COLUMNS} from credit_entry where tenant_id = $1 and grant_id in ({})
        order by created_at, entry_id",
        placeholders(2, grants.len())
    );
    let rows: Vec<EntryRow> = on_tx!(&mut *tx, |db| {
        let mut query = sqlx::query_as(&sql).bind(tenant.as_str());
        for grant in grants {
            query = query.bind(*grant);
        }
        query.fetch_all(db).await
    })?;
    rows.into_iter().map(CreditEntry::try_from).collect()
}
