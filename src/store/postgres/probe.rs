//! Exactly-once across monthly partitions.
//!
//! Each partition's primary key catches a key seen again in the same month. The same key with
//! another timestamp can land in another month's partition, so before inserting, one statement
//! looks the group's keys up in the *other* partitions the accepted window reaches: records are
//! accepted from `now − allowed lateness` to `now + 5 minutes`, so two records of one key that
//! both lie in that window are at most lateness + 5 minutes apart, and the window spans at most
//! three monthly partitions (35 days: two, or three across February). That is one or two index
//! probes per record, whatever the number of partitions the table holds — or, in large groups,
//! only in the months whose bounds of the ids stored hold the key (`key_bounds.rs`): none for a
//! key outside them all. A key whose stored record lies beyond the window may be reused
//! (DESIGN §2). Writers racing with one key in two months are serialised by the locks taken
//! just before the probe (`tenant_locks.rs`); both run in the write transaction's first call
//! (`prelude.rs`).

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Duration, Utc};
use sqlx::{Postgres, Transaction};

use crate::domain::{ContentHash, NewUsageRecord};
use crate::store::codec::{content_hash, StoredKey};
use crate::store::partitions::{month_start, next_month};
use crate::store::{DbError, EARLIEST, LATEST};

/// How far into the future a record may be stamped (ingest refuses later ones).
const MAX_FUTURE: Duration = Duration::minutes(5);

/// Slack on both sides of the window: records were validated against the handler's clock a
/// moment before the writer's, and processes' clocks differ by a little.
const MARGIN: Duration = Duration::hours(1);

/// Keys whose stored rows lie in one of two ranges of `ts` (the partitions outside them are
/// pruned before the statement runs); also used verbatim by the partitioning benchmark.
pub const PROBE_SQL: &str = r#"
select r.tenant_id, r.source, r.record_id, r.content_hash
from usage_record r
join unnest($1::text[], $2::text[], $3::text[]) as k (tenant_id, source, record_id)
  on r.tenant_id = k.tenant_id and r.source = k.source and r.record_id = k.record_id
where ((r.ts >= $4 and r.ts < $5) or (r.ts >= $6 and r.ts < $7))"#;

/// A half-open range of instants, `[from, until)`.
pub(super) type Span = (DateTime<Utc>, DateTime<Utc>);

/// Where one group's keys are looked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::store) struct ProbeWindow {
    /// The months the group's records fall in (each needs its partition).
    pub months: BTreeSet<DateTime<Utc>>,
    /// The two ranges probed before inserting: the window without the group's own month when
    /// it has only one (that partition's primary key speaks for it), else the whole window.
    pub(super) probed: [Span; 2],
    /// Where a key refused by a primary key can be: the window and the group's months.
    pub lookup: Span,
}

impl ProbeWindow {
    /// The window of a group written at `ingested_at` with `lateness` allowed.
    pub fn of(records: &[&NewUsageRecord], ingested_at: DateTime<Utc>, lateness: Duration) -> Self {
        let back = lateness.checked_add(&MARGIN).unwrap_or(Duration::MAX);
        let from = ingested_at.checked_sub_signed(back).unwrap_or(EARLIEST);
        let to = ingested_at.checked_add_signed(MAX_FUTURE + MARGIN).unwrap_or(LATEST);
        let months: BTreeSet<DateTime<Utc>> = records.iter().map(|r| month_start(r.timestamp)).collect();
        let probed = match (months.first(), months.len()) {
            (Some(&only), 1) => [(from, only), (next_month(only), to)],
            _ => [(from, to), (to, to)],
        };
        let first = months.first().map_or(from, |m| from.min(*m));
        let last = months.last().map_or(to, |m| to.max(next_month(*m)));
        Self { months, probed, lookup: (first, last) }
    }

    /// The range of `ts` the group's own months cover.
    pub fn own_months(&self) -> Span {
        match (self.months.first(), self.months.last()) {
            (Some(first), Some(last)) => (*first, next_month(*last)),
            _ => (self.lookup.0, self.lookup.0),
        }
    }
}

/// Runs a lookup of the stored hashes of `records`' keys: `sql` takes the keys as `$1`–`$3`
/// and `instants` after them; it is run as given for several tenants, or with the one tenant
/// named (the parameter after the instants) so that Citus routes it to that tenant's shard.
pub(super) async fn lookup_hashes(
    tx: &mut Transaction<'_, Postgres>,
    sql: &str,
    records: &[&NewUsageRecord],
    instants: &[DateTime<Utc>],
) -> Result<HashMap<StoredKey, ContentHash>, DbError> {
    let tenant = one_tenant(records);
    let sql = match tenant {
        Some(_) => format!("{sql} and r.tenant_id = ${}", 4 + instants.len()),
        None => sql.to_owned(),
    };
    let mut query = sqlx::query_as(&sql)
        .bind(records.iter().map(|r| r.key.tenant_id.as_str()).collect::<Vec<_>>())
        .bind(records.iter().map(|r| r.key.source.as_str()).collect::<Vec<_>>())
        .bind(records.iter().map(|r| r.key.record_id.as_str()).collect::<Vec<_>>());
    for instant in instants {
        query = query.bind(*instant);
    }
    if let Some(tenant) = tenant {
        query = query.bind(tenant);
    }
    let rows: Vec<(String, String, String, Vec<u8>)> = query.fetch_all(&mut **tx).await?;
    rows.into_iter().map(|(t, s, id, hash)| Ok(((t, s, id), content_hash(&hash)?))).collect()
}

/// The tenant of every record when there is only one. Lookups then name it, so on Citus they
/// run on that tenant's shard alone instead of on every shard.
fn one_tenant<'a>(records: &[&'a NewUsageRecord]) -> Option<&'a str> {
    let first = records.first()?.key.tenant_id.as_str();
    records.iter().all(|r| r.key.tenant_id.as_str() == first).then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::at;
    use crate::domain::{Quantities, RecordKey, TenantId};

    fn usage_record_at(id: &str, timestamp: DateTime<Utc>) -> NewUsageRecord {
        NewUsageRecord {
            key: RecordKey { tenant_id: TenantId::parse("t").unwrap(), source: String::new(), record_id: id.into() },
            timestamp,
            function: String::new(),
            region: String::new(),
            quantities: Quantities::default(),
            event_type: String::new(),
            content_hash: ContentHash([0; 16]),
        }
    }

    #[test]
    fn a_group_within_one_month_probes_the_window_around_that_month() {
        let records = [usage_record_at("a", at("2026-12-03T10:00:00Z"))];
        let refs: Vec<&NewUsageRecord> = records.iter().collect();
        let window = ProbeWindow::of(&refs, at("2026-12-03T10:00:00Z"), Duration::days(35));
        let december = at("2026-12-01T00:00:00Z");
        assert_eq!(window.months, BTreeSet::from([december]));
        assert_eq!(window.probed[0], (at("2026-10-29T09:00:00Z"), december), "back to the oldest accepted instant");
        assert_eq!(window.probed[1], (at("2027-01-01T00:00:00Z"), at("2026-12-03T11:05:00Z")), "nothing after");
        assert_eq!(window.lookup, (at("2026-10-29T09:00:00Z"), at("2027-01-01T00:00:00Z")));
    }

    #[test]
    fn a_group_across_months_probes_the_whole_window() {
        let records =
            [usage_record_at("a", at("2026-11-30T23:59:59Z")), usage_record_at("b", at("2026-12-01T00:00:00Z"))];
        let refs: Vec<&NewUsageRecord> = records.iter().collect();
        let window = ProbeWindow::of(&refs, at("2026-12-01T00:00:01Z"), Duration::days(35));
        assert_eq!(window.months.len(), 2);
        assert_eq!(window.probed[0], (at("2026-10-26T23:00:01Z"), at("2026-12-01T01:05:01Z")));
        assert!(window.probed[1].0 >= window.probed[1].1, "the second range is empty");
    }
}
