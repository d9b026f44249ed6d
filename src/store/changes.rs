//! `tenant_change`: which tenants' data changed since a quota evaluator last looked, so that
//! its pass reads those tenants only (DESIGN §9) instead of every tenant every pass.
//!
//! The store's own writes mark the tenant they changed, after their commit, in a set held in
//! memory: usage ([`super::usage`]), corrections, quota sets, subscriptions, credits and the
//! tenant's details. Marking adds no statement to the ingest path; a lock and a set lookup
//! per tenant of a committed group is all it costs. [`Store::flush_changed_tenants`] writes the
//! set to `tenant_change` in one statement (on SQLite one per 500 tenants; `tally serve` does
//! it every second and at shutdown), where the evaluator of any process on the database finds it:
//! [`Store::take_changed_tenants`] deletes and returns every row. One evaluator acting on a
//! row is enough (alerts are keyed), so rows are taken, not shared.
//!
//! A mark is a hint, not a record: a process that stops between a commit and its flush loses
//! its marks, which is why every evaluator also sweeps every tenant at its start and
//! periodically (`quota/evaluator.rs`).

use std::collections::BTreeSet;
use std::sync::Mutex;

use super::billing_pages::bind_tenants;
use super::codec::tenant_id;
use super::engine::{in_own_tx, on_tx, Tx};
use super::{DbError, Store};
use crate::domain::TenantId;

/// Tenants per statement of a flush on SQLite (far below its limit on binds).
const FLUSH_PAGE: usize = 500;

/// The tenants this process changed and has not flushed yet.
#[derive(Debug, Default)]
pub(super) struct TenantChanges {
    marked: Mutex<BTreeSet<TenantId>>,
}

impl TenantChanges {
    /// Adds `tenants` (repeats are cheap: a lookup, no copy).
    fn mark<'a>(&self, tenants: impl IntoIterator<Item = &'a TenantId>) {
        let mut marked = self.marked.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for tenant in tenants {
            if !marked.contains(tenant) {
                marked.insert(tenant.clone());
            }
        }
    }

    /// Empties the set, returning what it held.
    fn take(&self) -> BTreeSet<TenantId> {
        std::mem::take(&mut *self.marked.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

impl Store {
    /// Notes that `tenants`' data changed: after the commit that changed it, or again when
    /// their evaluation failed, so that the next pass retries them.
    pub fn mark_changed<'a>(&self, tenants: impl IntoIterator<Item = &'a TenantId>) {
        self.changes.mark(tenants);
    }

    /// Writes the tenants this process marked since its last flush to `tenant_change`; the
    /// value is how many. On failure they stay marked, for the next flush.
    ///
    /// # Errors
    /// A database failure.
    #[tracing::instrument(skip_all)]
    pub async fn flush_changed_tenants(&self) -> Result<usize, DbError> {
        let marked: Vec<TenantId> = self.changes.take().into_iter().collect();
        if marked.is_empty() {
            return Ok(0);
        }
        let written = self.insert_changed(&marked).await;
        if written.is_err() {
            self.changes.mark(&marked);
        }
        written.map(|()| marked.len())
    }

    /// Inserts `tenants` into `tenant_change` (present ones stay), in one transaction: on
    /// PostgreSQL as one array, on SQLite a statement per [`FLUSH_PAGE`]. (A placeholder per
    /// tenant made every length of a last page a statement of its own to parse and plan:
    /// 1.5 ms per 500 tenants when a second's changes span 30 000 of them, BENCHMARKS.md, Dec 6.)
    async fn insert_changed(&self, tenants: &[TenantId]) -> Result<(), DbError> {
        let mut tx = self.begin().await?;
        if let Tx::Postgres(pg) = &mut tx {
            let sql = "insert into tenant_change (tenant_id) select unnest($1::text[]) on conflict do nothing";
            let ids: Vec<&str> = tenants.iter().map(TenantId::as_str).collect();
            sqlx::query(sql).bind(ids).execute(&mut **pg).await?;
            return tx.commit().await;
        }
        for page in tenants.chunks(FLUSH_PAGE) {
            let rows = (1..=page.len()).map(|n| format!("(${n})")).collect::<Vec<_>>().join(", ");
            let sql = format!("insert into tenant_change (tenant_id) values {rows} on conflict do nothing");
            on_tx!(&mut tx, |db| bind_tenants!(sqlx::query(&sql), page).execute(db).await.map(|_| ()))?;
        }
        tx.commit().await
    }

    /// Deletes every row of `tenant_change` and returns its tenants, in id order: the tenants
    /// whose data changed since any evaluator last took them.
    ///
    /// # Errors
    /// A database failure (the rows stay).
    #[tracing::instrument(skip_all)]
    pub async fn take_changed_tenants(&self) -> Result<Vec<TenantId>, DbError> {
        let sql = "delete from tenant_change returning tenant_id";
        let rows: Vec<String> = in_own_tx!(self, |db| sqlx::query_scalar(sql).fetch_all(db).await);
        let mut tenants = rows.iter().map(|t| tenant_id(t)).collect::<Result<Vec<_>, _>>()?;
        tenants.sort_unstable();
        Ok(tenants)
    }
}
