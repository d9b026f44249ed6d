//! `usage_rollup_hour` (PostgreSQL): the 15-minute rollups summed per UTC hour, so a read that
//! spans a month sums ≈ 720 rows per function and region instead of ≈ 2 880 (the 15-minute
//! rows stay the truth; this level is derived from them and never read alone).
//!
//! Why hours and not days: a usage read's units are local days (or hours, months) of the
//! tenant's time zone. Whole UTC hours tile the local days of every zone whose offset is
//! whole hours; a UTC day level would serve UTC tenants only. Zones offset by 30 or 45
//! minutes read whole hours from here and each unit's edges from the 15-minute rows.
//!
//! Why a watermark and not a second upsert on every write: nearly every record ingested
//! falls in the current hour, and adding its hour delta with every 15-minute one costs a
//! second sorted upsert as large (≈ +25 % of a group commit, BENCHMARKS.md). So the level is
//! complete only below a stored hour `W` (`rollup_hour_watermark`); reads take hours before
//! `W` from here and every later hour from the 15-minute rows, in one statement (one
//! snapshot, so never a half-moved `W`). Two transactions change the levels, each under the
//! watermark lock taken exclusive, so never at once: the fold of pending deltas
//! (`rollup_pending.rs`), which adds each 15-minute delta and, for hours before `W` (late
//! records, corrections: rare), its hour delta; and the compactor (`rollup_compaction.rs`, run
//! by `tally serve` every minute), which sums the 15-minute rows of the hours it passes and
//! moves `W`. Writers append pending deltas and never read `W`. Rebuild and copy (which write
//! 15-minute rows only) derive every hour before `W` whole. SQLite has no such level: it sums
//! rollups in Rust, and reads its 15-minute rows.

use std::collections::BTreeMap;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use sqlx::{Postgres, Transaction};

use super::engine::Engine;
use super::postgres::RollupLevel;
use super::{DbError, Store, EARLIEST};
use crate::aggregate::{RollupKey, RollupTotals};

/// Hours whose every record a correction voided or moved: gone, as a rebuild would leave them.
const DELETE_EMPTIED_SQL: &str = r#"
delete from usage_rollup_hour h
using unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[]) as k (tenant_id, bucket_start, function, region)
where h.tenant_id = k.tenant_id and h.bucket_start = k.bucket_start and h.function = k.function
    and h.region = k.region and h.records = 0"#;

/// The level from the 15-minute rows in `[$1, $2)`, in key order.
const DERIVE_SQL: &str = r#"
insert into usage_rollup_hour (tenant_id, bucket_start, function, region,
    cpu_cycles, memory_gb_seconds, invocations, records)
select tenant_id, date_bin('1 hour', bucket_start, timestamptz '2000-01-01 00:00:00+00'), function, region,
    sum(cpu_cycles), sum(memory_gb_seconds), sum(invocations), sum(records)::int8
from usage_rollup
where bucket_start >= $1 and bucket_start < $2
group by 1, 2, 3, 4
order by 1, 2, 3, 4"#;

/// The advisory lock key guarding `W` and the rollup levels (0x74616c6c79686f75, "tallyhou"):
/// the fold of pending deltas, the compactor, rebuild and copy take it exclusive.
const WATERMARK_LOCK: i64 = 0x7461_6c6c_7968_6f75;

/// Takes the watermark lock exclusive (waiting for a fold or compaction in flight; later ones
/// wait for this transaction) and reads `W`, in two statements: the read's snapshot must
/// follow the wait, or it could miss a `W` moved meanwhile.
///
/// # Errors
/// A store failure.
pub(super) async fn lock_watermark(tx: &mut Transaction<'_, Postgres>) -> Result<DateTime<Utc>, DbError> {
    sqlx::query("select pg_advisory_xact_lock($1)").bind(WATERMARK_LOCK).execute(&mut **tx).await?;
    Ok(sqlx::query_scalar("select through from rollup_hour_watermark").fetch_one(&mut **tx).await?)
}

/// The UTC hour holding `at` (`None` only at the edges of time chrono can represent).
pub(super) fn hour_floor(at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    at.duration_trunc(TimeDelta::hours(1)).ok()
}

/// The first UTC hour start at or after `at`.
pub(super) fn hour_ceil(at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let floor = hour_floor(at)?;
    if floor == at {
        Some(at)
    } else {
        floor.checked_add_signed(TimeDelta::hours(1))
    }
}

/// Where one unit `[start, stop)` (on the 15-minute grid) is read from: its whole UTC hours
/// from the hour level, its edges (before the first whole hour, after the last) from the
/// 15-minute rows. Every part is `[from, to)`, non-empty.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct UnitParts {
    pub quarters: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    pub hours: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

pub(super) fn unit_parts(start: DateTime<Utc>, stop: DateTime<Utc>) -> UnitParts {
    match (hour_ceil(start), hour_floor(stop)) {
        (Some(first), Some(last)) if first < last => UnitParts {
            quarters: [(start, first), (last, stop)].into_iter().filter(|(a, b)| a < b).collect(),
            hours: Some((first, last)),
        },
        _ => UnitParts { quarters: vec![(start, stop)], hours: None },
    }
}

/// 15-minute deltas of hours before `watermark` summed per hour, sorted by key (the order
/// every writer locks rows in).
pub(super) fn hour_deltas(
    deltas: &[(RollupKey, RollupTotals)],
    watermark: DateTime<Utc>,
) -> Result<Vec<(RollupKey, RollupTotals)>, crate::domain::QuantityError> {
    let mut hours: BTreeMap<RollupKey, RollupTotals> = BTreeMap::new();
    // `W` is an hour start, so a quarter is before it exactly when its hour is.
    for (key, delta) in deltas.iter().filter(|(key, _)| key.bucket_start < watermark) {
        // Rollup buckets are instants the write path accepted, far inside chrono's range.
        let hour = RollupKey { bucket_start: hour_floor(key.bucket_start).unwrap_or(key.bucket_start), ..key.clone() };
        let sum = hours.entry(hour).or_default();
        *sum = sum.checked_add(delta)?;
    }
    Ok(hours.into_iter().collect())
}

/// Adds the hours before `watermark` (`W`, read under the watermark lock the caller holds) of
/// 15-minute `deltas` in the caller's transaction. Hours at or after `W` are the compactor's:
/// a fold of current records only runs no statement here.
///
/// # Errors
/// A store failure, or a sum leaving `Decimal`'s range.
pub(in crate::store) async fn add_hour_deltas(
    tx: &mut Transaction<'_, Postgres>,
    deltas: &[(RollupKey, RollupTotals)],
    watermark: DateTime<Utc>,
) -> Result<(), DbError> {
    let hours = hour_deltas(deltas, watermark)?;
    if hours.is_empty() {
        return Ok(());
    }
    super::postgres::upsert_rollup_level(tx, RollupLevel::Hour, &hours).await?;
    // Only a correction takes records away (or adds a record and its void at once: a row of
    // zeros); a fold of ingest alone never pays for this statement.
    let removing: Vec<(RollupKey, RollupTotals)> = hours.into_iter().filter(|(_, t)| t.records <= 0).collect();
    if !removing.is_empty() {
        sqlx::query(DELETE_EMPTIED_SQL)
            .bind(removing.iter().map(|(k, _)| k.tenant_id.as_str()).collect::<Vec<_>>())
            .bind(removing.iter().map(|(k, _)| k.bucket_start).collect::<Vec<_>>())
            .bind(removing.iter().map(|(k, _)| k.function.as_str()).collect::<Vec<_>>())
            .bind(removing.iter().map(|(k, _)| k.region.as_str()).collect::<Vec<_>>())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Replaces the hour rows at and after `from` with the sums of the 15-minute rows of the
/// hours in `[from, W)`, in the caller's transaction, `W` unchanged: after a rebuild or a
/// copy wrote 15-minute rows only (hours from `W` on are read from those rows anyway).
///
/// # Errors
/// A store failure.
pub(in crate::store) async fn derive_hours(
    tx: &mut Transaction<'_, Postgres>,
    from: DateTime<Utc>,
) -> Result<(), DbError> {
    let watermark = lock_watermark(tx).await?;
    sqlx::query("delete from usage_rollup_hour where bucket_start >= $1").bind(from).execute(&mut **tx).await?;
    sum_quarters_into_hours(tx, from, watermark).await
}

/// Inserts the sums of the 15-minute rows in `[from, to)` (hour starts, no hour row there
/// yet) into the hour level, in the caller's transaction.
///
/// # Errors
/// A store failure.
pub(super) async fn sum_quarters_into_hours(
    tx: &mut Transaction<'_, Postgres>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<(), DbError> {
    if from < to {
        sqlx::query(DERIVE_SQL).bind(from).bind(to).execute(&mut **tx).await?;
    }
    Ok(())
}

impl Store {
    /// Derives the hour level below `W` from the 15-minute rollups (PostgreSQL; nothing on
    /// SQLite): after `tally store copy` wrote the 15-minute rows.
    ///
    /// # Errors
    /// A store failure; the hour level is then unchanged.
    #[tracing::instrument(skip_all)]
    pub(in crate::store) async fn derive_rollup_hours(&self) -> Result<(), DbError> {
        let Engine::Postgres { pool, .. } = &self.engine else {
            return Ok(());
        };
        let mut tx = super::open::begin_postgres(pool).await?;
        derive_hours(&mut tx, EARLIEST).await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::*;
    use crate::domain::testing::at;
    use crate::domain::{Quantities, TenantId};

    fn delta(bucket: &str, function: &str, invocations: i64, records: i64) -> (RollupKey, RollupTotals) {
        let quantities = Quantities { invocations: Decimal::from(invocations), ..Quantities::default() };
        let key = RollupKey {
            tenant_id: TenantId::parse("acme").unwrap(),
            bucket_start: at(bucket),
            function: function.into(),
            region: "eu".into(),
        };
        (key, RollupTotals { quantities, records })
    }

    #[test]
    fn the_quarters_of_an_hour_sum_into_that_hour_per_function_and_region() {
        let deltas = [
            delta("2026-11-02T10:00:00Z", "f", 1, 1),
            delta("2026-11-02T10:45:00Z", "f", 2, 1),
            delta("2026-11-02T10:45:00Z", "g", 4, 1),
            delta("2026-11-02T11:00:00Z", "f", 8, -1),
        ];
        let hours = hour_deltas(&deltas, at("2026-11-02T12:00:00Z")).unwrap();
        assert_eq!(
            hours,
            vec![
                delta("2026-11-02T10:00:00Z", "f", 3, 2),
                delta("2026-11-02T10:00:00Z", "g", 4, 1),
                delta("2026-11-02T11:00:00Z", "f", 8, -1),
            ]
        );
    }

    #[test]
    fn only_quarters_before_the_watermark_make_hour_deltas() {
        let deltas = [
            delta("2026-11-02T09:45:00Z", "f", 1, 1),
            delta("2026-11-02T10:00:00Z", "f", 2, 1),
            delta("2026-11-02T10:15:00Z", "f", 4, 1),
        ];
        let hours = hour_deltas(&deltas, at("2026-11-02T10:00:00Z")).unwrap();
        assert_eq!(hours, vec![delta("2026-11-02T09:00:00Z", "f", 1, 1)]);
    }

    #[test]
    fn an_hour_start_is_its_own_floor_and_ceiling() {
        assert_eq!(hour_floor(at("2026-11-02T10:45:00Z")), Some(at("2026-11-02T10:00:00Z")));
        assert_eq!(hour_ceil(at("2026-11-02T10:15:00Z")), Some(at("2026-11-02T11:00:00Z")));
        assert_eq!(hour_ceil(at("2026-11-02T10:00:00Z")), Some(at("2026-11-02T10:00:00Z")));
    }

    #[test]
    fn a_unit_reads_its_whole_hours_from_the_hour_level_and_its_edges_from_quarters() {
        let day_in_kathmandu = unit_parts(at("2026-11-01T18:15:00Z"), at("2026-11-02T18:15:00Z"));
        assert_eq!(
            day_in_kathmandu,
            UnitParts {
                quarters: vec![
                    (at("2026-11-01T18:15:00Z"), at("2026-11-01T19:00:00Z")),
                    (at("2026-11-02T18:00:00Z"), at("2026-11-02T18:15:00Z")),
                ],
                hours: Some((at("2026-11-01T19:00:00Z"), at("2026-11-02T18:00:00Z"))),
            }
        );
        let utc_day = unit_parts(at("2026-11-02T00:00:00Z"), at("2026-11-03T00:00:00Z"));
        assert_eq!(utc_day.quarters, vec![]);
        assert_eq!(utc_day.hours, Some((at("2026-11-02T00:00:00Z"), at("2026-11-03T00:00:00Z"))));
        let inside_one_hour = unit_parts(at("2026-11-02T10:15:00Z"), at("2026-11-02T10:45:00Z"));
        assert_eq!(
            inside_one_hour,
            UnitParts { quarters: vec![(at("2026-11-02T10:15:00Z"), at("2026-11-02T10:45:00Z"))], hours: None }
        );
    }
}
