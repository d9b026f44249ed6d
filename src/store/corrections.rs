//! `usage_correction`: append a correction under a row lock on the original record, and move
//! the rollups by the difference in the same transaction.

use chrono::{DateTime, Utc};

use super::codec::{whole, Dec, Instant};
use super::engine::{on_tx, Tx};
use super::rebuild::NewestCorrections;
use super::{CorrectionOutcome, DbError, Store};
use crate::aggregate::{correction_deltas, correction_step, RecordState, RollupKey, RollupTotals};
use crate::domain::{CorrectionAction, Quantities, TenantId, UsageCorrection};

/// A record's effective content as stored (in `usage_record` or a `replace` correction).
#[derive(sqlx::FromRow)]
struct ContentRow {
    function: String,
    region: String,
    cpu_cycles: i64,
    memory_gb_seconds: Dec,
    invocations: i64,
}

impl ContentRow {
    fn quantities(&self) -> Quantities {
        Quantities {
            cpu_cycles: self.cpu_cycles.into(),
            memory_gb_seconds: self.memory_gb_seconds.0,
            invocations: self.invocations.into(),
        }
    }

    fn state(self, timestamp: DateTime<Utc>) -> RecordState {
        let quantities = self.quantities();
        RecordState { timestamp, function: self.function, region: self.region, quantities }
    }
}

/// A stored record's instant and content.
#[derive(sqlx::FromRow)]
struct OriginalRow {
    ts: Instant,
    #[sqlx(flatten)]
    content: ContentRow,
}

/// The newest correction of a record.
#[derive(sqlx::FromRow)]
struct NewestRow {
    tenant_id: String,
    source: String,
    record_id: String,
    seq: i32,
    action: String,
    #[sqlx(flatten)]
    content: ContentRow,
}

const NEWEST: &str = r#"select c.tenant_id, c.source, c.record_id, c.seq, c.action, c.function, c.region,
        c.cpu_cycles, c.memory_gb_seconds, c.invocations
    from usage_correction c
    where c.seq = (select max(n.seq) from usage_correction n
        where n.tenant_id = c.tenant_id and n.source = c.source and n.record_id = c.record_id)"#;

/// Binds a record key's three columns, as `$1`, `$2`, `$3` (`query` and `query_as` share no
/// bind trait, hence a macro).
macro_rules! bind_key {
    ($query:expr, $key:expr) => {
        $query.bind($key.tenant_id.as_str()).bind(&$key.source).bind(&$key.record_id)
    };
}

impl Store {
    /// Appends a correction to a stored record and moves the rollups by the difference, in
    /// one transaction.
    #[tracing::instrument(skip_all, fields(tenant_id = %c.key.tenant_id))]
    pub async fn correct_usage(&self, c: &UsageCorrection, now: DateTime<Utc>) -> Result<CorrectionOutcome, DbError> {
        let key = &c.key;
        let mut tx = self.begin().await?;
        let original = format!(
            "select ts, function, region, cpu_cycles, memory_gb_seconds, invocations from usage_record \
            where tenant_id = $1 and source = $2 and record_id = $3 {}",
            tx.for_update()
        );
        let row: Option<OriginalRow> =
            on_tx!(&mut tx, |db| bind_key!(sqlx::query_as(&original), key).fetch_optional(db).await)?;
        let Some(OriginalRow { ts: Instant(timestamp), content }) = row else {
            return Ok(CorrectionOutcome::RecordNotFound);
        };
        if c.closed_before.is_some_and(|end| timestamp < end) {
            return Ok(CorrectionOutcome::PeriodClosed);
        }
        if c.accepted_from.is_some_and(|from| timestamp < from) {
            return Ok(CorrectionOutcome::TooOld);
        }
        let newest = format!("{NEWEST} and c.tenant_id = $1 and c.source = $2 and c.record_id = $3");
        let newest: Option<NewestRow> =
            on_tx!(&mut tx, |db| bind_key!(sqlx::query_as(&newest), key).fetch_optional(db).await)?;
        let seq = newest.as_ref().map_or(1, |n| n.seq + 1);
        let newest = newest.map(|n| (n.action == "replace").then(|| n.content.state(timestamp)));
        let Some((before, after)) = correction_step(content.state(timestamp), newest, &c.action) else {
            return Ok(CorrectionOutcome::AlreadyVoid);
        };
        insert_correction(&mut tx, c, seq, now).await?;
        let deltas: Vec<(RollupKey, RollupTotals)> =
            correction_deltas(&key.tenant_id, before.as_ref(), after.as_ref())?.into_iter().collect();
        // A bucket whose every record was voided or moved goes, as a rebuild would leave it:
        // SQLite's add deletes it, PostgreSQL's fold (`rollup_pending.rs`).
        super::rollups::add_deltas(&mut tx, &deltas).await?;
        tx.commit().await?;
        self.mark_changed([&key.tenant_id]);
        Ok(CorrectionOutcome::Applied { seq, before: before.map(Box::new), after: after.map(Box::new) })
    }

    /// Up to `limit` ids of records of a tenant in `[from, to)` (for explanations).
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
    pub async fn sample_record_ids(
        &self,
        tenant: &TenantId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<String>, DbError> {
        let records = self.sample_records(tenant, from, to, limit).await?;
        Ok(records.into_iter().map(|r| r.record_id).collect())
    }
}

async fn insert_correction(tx: &mut Tx, c: &UsageCorrection, seq: i32, now: DateTime<Utc>) -> Result<(), DbError> {
    let sql = r#"insert into usage_correction (tenant_id, source, record_id, seq, action, function, region,
            cpu_cycles, memory_gb_seconds, invocations, reason, created_at)
        values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"#;
    let (action, function, region, q) = match &c.action {
        CorrectionAction::Void => ("void", "", "", Quantities::default()),
        CorrectionAction::Replace { function, region, quantities } => {
            ("replace", &function[..], &region[..], *quantities)
        }
    };
    let (cpu_cycles, invocations) = (whole(q.cpu_cycles)?, whole(q.invocations)?);
    on_tx!(tx, |db| bind_key!(sqlx::query(sql), c.key)
        .bind(seq)
        .bind(action)
        .bind(function)
        .bind(region)
        .bind(cpu_cycles)
        .bind(Dec(q.memory_gb_seconds))
        .bind(invocations)
        .bind(&c.reason)
        .bind(Instant(now))
        .execute(db)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// The newest correction of every corrected record (for rebuilds): `None` for a void.
pub(super) async fn newest_states(tx: &mut Tx) -> Result<NewestCorrections, DbError> {
    let rows: Vec<NewestRow> = on_tx!(tx, |db| sqlx::query_as(NEWEST).fetch_all(db).await)?;
    Ok(rows
        .into_iter()
        .map(|n| {
            let content = (n.action == "replace")
                .then(|| (n.content.function.clone(), n.content.region.clone(), n.content.quantities()));
            ((n.tenant_id, n.source, n.record_id), content)
        })
        .collect())
}
