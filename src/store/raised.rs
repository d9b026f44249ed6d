//! What a page of the quota evaluator raises — quota alerts and unbilled-usage entries, each
//! announced by its outbox event — written in one transaction: a multi-row statement per
//! table and kind, one WAL flush for the page instead of one per row.
//!
//! Each row may exist only once (its key: (tenant, quota, threshold, period) for an alert,
//! (tenant, period) for an entry). The inserts are `on conflict do nothing … returning` the
//! keys that took, and only those rows get their event: a row another pass or process
//! recorded first is neither written twice nor announced twice. One exception: an alert row
//! raised for another form of its quota (another meter or limit: the operator raised a cap,
//! a budget took over a dropped quota's id) is replaced, since "80 %" of the new form is a
//! new crossing; the same form is still refused. An entry already recorded is set to what its
//! period holds now when that changed (late records, corrections), without an event. All or
//! nothing: a page whose
//! write fails leaves none of its rows, and the caller writes its tenants one by one to find
//! the one that fails.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use super::codec::{Dec, Instant};
use super::engine::{on_tx, Tx};
use super::{outbox, DbError, Store, UnbilledEntry, UnbilledNow};
use crate::domain::{QuotaAlert, TenantId};

/// A row and the event announcing it: the outbox `kind` and its payload.
#[derive(Debug, Clone)]
pub struct Announced<T> {
    pub row: T,
    pub kind: &'static str,
    pub payload: String,
}

/// What one evaluation raises, to be written together.
#[derive(Debug, Clone, Default)]
pub struct Raised {
    pub alerts: Vec<Announced<QuotaAlert>>,
    pub unbilled: Vec<Announced<UnbilledEntry>>,
    /// What the periods of entries recorded before hold now, where it changed: their
    /// quantities and records are set to it (no new event: the entry was announced).
    pub unbilled_changed: Vec<UnbilledNow>,
}

impl Raised {
    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty() && self.unbilled.is_empty() && self.unbilled_changed.is_empty()
    }
}

/// Which rows of a [`Raised`] were recorded now, in its order; `false`: another pass or
/// process had recorded it first (or it came twice, and the first took).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recorded {
    pub alerts: Vec<bool>,
    pub unbilled: Vec<bool>,
}

/// Rows per multi-row insert: 10 binds a row stay far below both engines' limits on binds
/// per statement (65 535; SQLite 32 766).
const ROWS_PER_STATEMENT: usize = 1_000;

type AlertKey = (String, String, i64, Instant);
type EntryKey = (String, Instant);

impl Store {
    /// Records every row of `raised` not recorded yet, each with its event, in one
    /// transaction; alerts are stamped `now`.
    ///
    /// # Errors
    /// A database failure: nothing of `raised` is written.
    #[tracing::instrument(skip_all, fields(alerts = raised.alerts.len(), unbilled = raised.unbilled.len()))]
    pub async fn record_raised(&self, raised: &Raised, now: DateTime<Utc>) -> Result<Recorded, DbError> {
        if raised.is_empty() {
            return Ok(Recorded::default());
        }
        let mut tx = self.begin().await?;
        let alerts = insert_alerts(&mut tx, &raised.alerts, now).await?;
        let unbilled = insert_entries(&mut tx, &raised.unbilled).await?;
        update_entries(&mut tx, &raised.unbilled_changed).await?;
        announce(&mut tx, &raised.alerts, &alerts, |a| &a.tenant_id, now).await?;
        announce(&mut tx, &raised.unbilled, &unbilled, |e| &e.tenant_id, now).await?;
        tx.commit().await?;
        Ok(Recorded { alerts, unbilled })
    }
}

/// Inserts the alerts (replacing one raised for another form of its quota); which took.
async fn insert_alerts(
    tx: &mut Tx,
    alerts: &[Announced<QuotaAlert>],
    now: DateTime<Utc>,
) -> Result<Vec<bool>, DbError> {
    // A key twice in one `on conflict do update` is an error on PostgreSQL: the first of
    // each key is inserted, the later ones are refused as duplicates below.
    let mut seen: BTreeSet<AlertKey> = BTreeSet::new();
    let unique: Vec<&Announced<QuotaAlert>> = alerts.iter().filter(|a| seen.insert(alert_key(&a.row))).collect();
    let mut took: BTreeSet<AlertKey> = BTreeSet::new();
    for chunk in unique.chunks(ROWS_PER_STATEMENT) {
        let keys: Vec<AlertKey> = on_tx!(tx, |db| {
            let mut insert = sqlx::QueryBuilder::new(
                "insert into alert (tenant_id, quota_id, threshold, period_start, period_end, meter, used, \
                limit_value, late, created_at) ",
            );
            insert.push_values(chunk, |mut row, Announced { row: alert, .. }| {
                row.push_bind(alert.tenant_id.as_str())
                    .push_bind(alert.quota_id.as_str())
                    .push_bind(i64::from(alert.threshold))
                    .push_bind(Instant(alert.period.start()))
                    .push_bind(Instant(alert.period.end()))
                    .push_bind(alert.meter.as_str())
                    .push_bind(Dec(alert.used))
                    .push_bind(Dec(alert.limit))
                    .push_bind(alert.late)
                    .push_bind(Instant(now));
            });
            insert.push(
                " on conflict (tenant_id, quota_id, threshold, period_start) do update set \
                period_end = excluded.period_end, meter = excluded.meter, used = excluded.used, \
                limit_value = excluded.limit_value, late = excluded.late, created_at = excluded.created_at \
                where alert.meter <> excluded.meter or alert.limit_value <> excluded.limit_value \
                returning tenant_id, quota_id, threshold, period_start",
            );
            insert.build_query_as().fetch_all(db).await
        })?;
        took.extend(keys);
    }
    Ok(alerts.iter().map(|Announced { row: a, .. }| took.remove(&alert_key(a))).collect())
}

/// Inserts the unbilled-usage entries; which took.
async fn insert_entries(tx: &mut Tx, entries: &[Announced<UnbilledEntry>]) -> Result<Vec<bool>, DbError> {
    let mut took: BTreeSet<EntryKey> = BTreeSet::new();
    for chunk in entries.chunks(ROWS_PER_STATEMENT) {
        let keys: Vec<EntryKey> = on_tx!(tx, |db| {
            let mut insert = sqlx::QueryBuilder::new(
                "insert into unbilled_usage (tenant_id, period_start, period_end, reason, cpu_cycles, \
                memory_gb_seconds, invocations, records, created_at) ",
            );
            insert.push_values(chunk, |mut row, Announced { row: entry, .. }| {
                row.push_bind(entry.tenant_id.as_str())
                    .push_bind(Instant(entry.period.start()))
                    .push_bind(Instant(entry.period.end()))
                    .push_bind(entry.reason.as_str())
                    .push_bind(Dec(entry.quantities.cpu_cycles))
                    .push_bind(Dec(entry.quantities.memory_gb_seconds))
                    .push_bind(Dec(entry.quantities.invocations))
                    .push_bind(entry.records)
                    .push_bind(Instant(entry.created_at));
            });
            insert.push(" on conflict do nothing returning tenant_id, period_start");
            insert.build_query_as().fetch_all(db).await
        })?;
        took.extend(keys);
    }
    Ok(entries.iter().map(|Announced { row: e, .. }| took.remove(&entry_key(e))).collect())
}

/// Sets recorded entries to the usage their period holds now, one statement each: only
/// tenants no plan covers have entries, and only those whose usage moved since the last pass
/// are here (a planless tenant still sending usage is one statement a pass, not a row a record).
async fn update_entries(tx: &mut Tx, entries: &[UnbilledNow]) -> Result<(), DbError> {
    for entry in entries {
        on_tx!(tx, |db| {
            sqlx::query(
                "update unbilled_usage set cpu_cycles = $3, memory_gb_seconds = $4, invocations = $5, records = $6 \
                where tenant_id = $1 and period_start = $2",
            )
            .bind(entry.tenant_id.as_str())
            .bind(Instant(entry.period.start()))
            .bind(Dec(entry.quantities.cpu_cycles))
            .bind(Dec(entry.quantities.memory_gb_seconds))
            .bind(Dec(entry.quantities.invocations))
            .bind(entry.records)
            .execute(db)
            .await
            .map(|_| ())
        })?;
    }
    Ok(())
}

/// Appends the event of each row that took, grouped by kind (in the rows' order within one).
async fn announce<T>(
    tx: &mut Tx,
    rows: &[Announced<T>],
    took: &[bool],
    tenant_of: impl Fn(&T) -> &TenantId,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let mut kinds: Vec<&str> = rows.iter().map(|r| r.kind).collect();
    kinds.sort_unstable();
    kinds.dedup();
    for kind in kinds {
        let messages: Vec<(&TenantId, &str)> = rows
            .iter()
            .zip(took)
            .filter(|(r, took)| **took && r.kind == kind)
            .map(|(r, _)| (tenant_of(&r.row), r.payload.as_str()))
            .collect();
        outbox::append_many(tx, kind, &messages, now).await?;
    }
    Ok(())
}

fn alert_key(alert: &QuotaAlert) -> AlertKey {
    (
        alert.tenant_id.as_str().to_owned(),
        alert.quota_id.clone(),
        i64::from(alert.threshold),
        Instant(alert.period.start()),
    )
}

fn entry_key(entry: &UnbilledEntry) -> EntryKey {
    (entry.tenant_id.as_str().to_owned(), Instant(entry.period.start()))
}
