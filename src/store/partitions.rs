//! Monthly partitions of `usage_record` on PostgreSQL (and Citus), managed by Tally itself.
//!
//! One partition per UTC month, named `usage_record_pYYYYMM`, each with its own primary key on
//! (tenant_id, source, record_id). They are created ahead (the migration, and the maintenance
//! task: from the oldest accepted instant to two months ahead) and on demand by the write path
//! before it inserts a record of a month it has not seen: the write path never meets a missing
//! partition, and if it did (the DDL failed) the insert fails whole — 503, never acknowledged.
//! SQLite's raw table is not partitioned: every call here is a no-op there.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use sqlx::{Connection, PgConnection};

use super::engine::Engine;
use super::{DbError, Store};

/// The start of the UTC month holding `at`.
pub fn month_start(at: DateTime<Utc>) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(at.year(), at.month(), 1, 0, 0, 0).single().unwrap_or(at)
}

/// The start of the UTC month after the one holding `at`.
pub fn next_month(at: DateTime<Utc>) -> DateTime<Utc> {
    let (year, month) = if at.month() == 12 { (at.year() + 1, 1) } else { (at.year(), at.month() + 1) };
    Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0).single().unwrap_or(at)
}

/// The starts of the UTC months intersecting `[from, to)`, oldest first.
pub fn months_between(from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let mut months = Vec::new();
    let mut month = month_start(from);
    while month < to {
        months.push(month);
        month = next_month(month);
    }
    months
}

/// The partition holding the month starting at `month`.
pub(super) fn partition_name(month: DateTime<Utc>) -> String {
    format!("usage_record_p{:04}{:02}", month.year(), month.month())
}

/// The month a partition name stands for.
fn month_of_partition(name: &str) -> Option<DateTime<Utc>> {
    let digits = name.strip_prefix("usage_record_p")?;
    let (year, month) = (digits.get(..4)?.parse().ok()?, digits.get(4..)?.parse().ok()?);
    Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0).single()
}

/// What the PostgreSQL write path knows about partitions: the months known to have one, and
/// how far back the accepted window reaches (the allowed lateness).
#[derive(Debug)]
pub(super) struct PartitionState {
    known: Mutex<BTreeSet<DateTime<Utc>>>,
    lateness_seconds: AtomicI64,
}

impl Default for PartitionState {
    fn default() -> Self {
        Self { known: Mutex::default(), lateness_seconds: AtomicI64::new(35 * 86_400) }
    }
}

impl PartitionState {
    pub(super) fn lateness(&self) -> Duration {
        Duration::try_seconds(self.lateness_seconds.load(Ordering::Relaxed)).unwrap_or(Duration::MAX)
    }

    fn unknown(&self, months: &BTreeSet<DateTime<Utc>>) -> bool {
        let known = self.known.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        !months.is_subset(&known)
    }

    fn remember(&self, months: impl IntoIterator<Item = DateTime<Utc>>) {
        self.known.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend(months);
    }

    /// Forgets every month: after a failed write or a retention run, the catalog is asked again.
    pub(super) fn forget(&self) {
        self.known.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
    }
}

/// Serialises partition DDL across processes (a transaction lock; never a session lock).
const PARTITION_LOCK: i64 = 0x7461_6c6c_7970_6172; // "tallypar"

impl Store {
    /// Sets the allowed lateness, which bounds the window the write path probes for a key
    /// (`TALLY_ALLOWED_LATENESS`; 35 days unless set). Shared by every clone of this store.
    pub fn set_allowed_lateness(&self, lateness: std::time::Duration) {
        if let Engine::Postgres { partitions, .. } = &self.engine {
            let seconds = i64::try_from(lateness.as_secs()).unwrap_or(i64::MAX);
            partitions.lateness_seconds.store(seconds, Ordering::Relaxed);
        }
    }

    /// Creates the partitions of the months intersecting `[from, to)` that do not exist yet;
    /// returns the months created. SQLite: nothing to do.
    ///
    /// # Errors
    /// When the database fails or refuses the DDL.
    #[tracing::instrument(skip_all)]
    pub async fn ensure_usage_partitions(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<DateTime<Utc>>, DbError> {
        match &self.engine {
            Engine::Postgres { pool, partitions, .. } => {
                let months: BTreeSet<_> = months_between(from, to).into_iter().collect();
                let created = create_missing(&mut *pool.acquire().await?, &months).await?;
                partitions.remember(months);
                Ok(created)
            }
            Engine::Sqlite { .. } => Ok(Vec::new()),
        }
    }

    /// The months that have a partition, oldest first (PostgreSQL); `None` on SQLite.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn usage_partition_months(&self) -> Result<Option<Vec<DateTime<Utc>>>, DbError> {
        match &self.engine {
            Engine::Postgres { pool, .. } => Ok(Some(existing_months(pool).await?.into_iter().collect())),
            Engine::Sqlite { .. } => Ok(None),
        }
    }
}

/// Makes sure every month of `months` has a partition, asking the catalog only for months this
/// process has not seen yet (the write path's check: a set lookup, almost always).
pub(super) async fn ensure_months(
    connection: &mut PgConnection,
    state: &PartitionState,
    months: BTreeSet<DateTime<Utc>>,
) -> Result<(), DbError> {
    if state.unknown(&months) {
        create_missing(connection, &months).await?;
        state.remember(months);
    }
    Ok(())
}

async fn existing_months(db: impl sqlx::PgExecutor<'_>) -> Result<BTreeSet<DateTime<Utc>>, DbError> {
    let sql = "select c.relname::text from pg_inherits i join pg_class c on c.oid = i.inhrelid \
        where i.inhparent = 'usage_record'::regclass";
    let names: Vec<String> = sqlx::query_scalar(sql).fetch_all(db).await?;
    Ok(names.iter().filter_map(|n| month_of_partition(n)).collect())
}

/// One transaction under [`PARTITION_LOCK`], so processes starting a month at once create its
/// partition once.
async fn create_missing(
    connection: &mut PgConnection,
    months: &BTreeSet<DateTime<Utc>>,
) -> Result<Vec<DateTime<Utc>>, DbError> {
    let missing: Vec<_> = months.difference(&existing_months(&mut *connection).await?).copied().collect();
    if missing.is_empty() {
        return Ok(missing);
    }
    let mut tx = connection.begin().await?;
    sqlx::query("select pg_advisory_xact_lock($1)").bind(PARTITION_LOCK).execute(&mut *tx).await?;
    let existing = existing_months(&mut *tx).await?;
    let mut created = Vec::new();
    for month in missing.into_iter().filter(|m| !existing.contains(m)) {
        // Names and bounds come from the month itself, never from input.
        let ddl = format!(
            "create table {} partition of usage_record (primary key (tenant_id, source, record_id)) \
             for values from ('{}') to ('{}')",
            partition_name(month),
            month.to_rfc3339(),
            next_month(month).to_rfc3339()
        );
        sqlx::query(&ddl).execute(&mut *tx).await?;
        created.push(month);
    }
    tx.commit().await?;
    tracing::info!(months = ?created, "created usage_record partitions");
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::at;

    #[test]
    fn months_are_utc_calendar_months_across_a_year_end() {
        let months = months_between(at("2026-11-27T12:00:00Z"), at("2027-01-01T00:00:01Z"));
        assert_eq!(months, vec![at("2026-11-01T00:00:00Z"), at("2026-12-01T00:00:00Z"), at("2027-01-01T00:00:00Z")]);
    }

    #[test]
    fn a_range_ending_on_a_month_start_does_not_reach_that_month() {
        assert_eq!(months_between(at("2026-11-01T00:00:00Z"), at("2026-12-01T00:00:00Z")).len(), 1);
    }

    #[test]
    fn partition_names_round_trip_to_their_month() {
        let month = at("2027-02-01T00:00:00Z");
        assert_eq!(partition_name(month), "usage_record_p202702");
        assert_eq!(month_of_partition(&partition_name(month)), Some(month));
        assert_eq!(month_of_partition("usage_record_unpartitioned"), None);
    }
}
