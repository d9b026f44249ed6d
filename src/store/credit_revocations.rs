//! An operator's revocation of a credit grant's balance: an entry in the append-only ledger
//! (`credit_entry`), taken under the grant's row lock so that an invoice issued at the same
//! time either spends the credit first or sees it gone (`ledger::check_grants_hold`).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::codec::entry_id;
use super::engine::on_tx;
use super::ledger::{grant_entries, insert_entry, EntryRow, ENTRY_COLUMNS};
use super::{audit, DbError, Store};
use crate::domain::{
    grant_standing, revocation_amount, Actor, AuditTarget, CreditEntry, CreditEntryKind, Money, RevocationRefused,
    TenantId,
};

/// What an operator's revocation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreditRevocation {
    /// The revocation entry appended to the ledger.
    Revoked(CreditEntry),
    /// The tenant has no grant with this id.
    UnknownGrant,
    Refused(RevocationRefused),
}

impl Store {
    /// Revokes `wanted` of grant `grant_id` (all that is left when `None`), with `actor`'s
    /// `credit.revoked` audit event. Consumed credit stays consumed: it paid an invoice, and
    /// only voiding that invoice gives it back.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
    pub async fn revoke_credit(
        &self,
        tenant: &TenantId,
        grant_id: &str,
        wanted: Option<Decimal>,
        reason: &str,
        now: DateTime<Utc>,
        actor: &Actor,
    ) -> Result<CreditRevocation, DbError> {
        let mut tx = self.begin().await?;
        // The grant's row, locked: an invoice consuming it holds it `for share` until commit.
        let sql = format!(
            "select {ENTRY_COLUMNS} from credit_entry where tenant_id = $1 and entry_id = $2 and kind = 'grant' {}",
            tx.for_update()
        );
        let grant: Option<EntryRow> =
            on_tx!(&mut tx, |db| sqlx::query_as(&sql).bind(tenant.as_str()).bind(grant_id).fetch_optional(db).await)?;
        let Some(grant) = grant.map(CreditEntry::try_from).transpose()? else {
            return Ok(CreditRevocation::UnknownGrant);
        };
        let entries = grant_entries(&mut tx, tenant, &[grant_id]).await?;
        let currency = grant.amount.currency;
        let amount = match revocation_amount(&grant_standing(&entries, grant_id), currency, wanted) {
            Ok(amount) => amount,
            Err(refused) => return Ok(CreditRevocation::Refused(refused)),
        };
        let revocation = CreditEntry {
            entry_id: entry_id(),
            kind: CreditEntryKind::Revocation,
            grant_id: grant_id.to_owned(),
            amount: Money::new(amount, currency),
            expires_at: None,
            reason: reason.to_owned(),
            invoice_id: None,
            created_at: now,
        };
        insert_entry(&mut tx, tenant, &revocation).await?;
        let detail = serde_json::json!({ "amount": revocation.amount.format_amount(), "currency": currency.code(),
            "reason": reason });
        let target = AuditTarget::object("credit_grant", grant_id, Some(tenant));
        audit::append(&mut tx, actor, "credit.revoked", &target, detail, now).await?;
        tx.commit().await?;
        self.mark_changed([tenant]);
        Ok(CreditRevocation::Revoked(revocation))
    }
}
