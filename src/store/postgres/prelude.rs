//! The first call of every transaction writing usage records: the tenant-bucket locks
//! (`tenant_locks.rs`) and the stored hashes of the group's keys found where the attempt looks
//! (`probe.rs`) — in one round trip, `usage_write_prelude()` (migrations 20261202190000 and
//! 20261203040000).
//!
//! Citus runs them as two statements: the lookups there must name the tenant to reach one
//! shard, which a function's plan cannot do for some groups and not others.

use std::collections::HashMap;

use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::{FromRow, Postgres, Transaction};

use super::probe::{lookup_hashes, ProbeWindow, PROBE_SQL};
use super::tenant_locks::{bucket_locks, lock_tenant_buckets};
use super::usage::existing_hashes;
use crate::domain::{ContentHash, NewUsageRecord};
use crate::store::codec::{content_hash, stored_key, StoredKey};
use crate::store::DbError;

const PRELUDE_SQL: &str = "select * from usage_write_prelude($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

/// Where an attempt looks for the group's keys before writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LookIn {
    /// The other months of the window: the group's own months are left to their partitions'
    /// primary keys (a hit there refuses the `COPY`, or is caught by `on conflict`).
    OtherMonths,
    /// The whole window, the group's own months included: after a group met a stored key,
    /// so that the next ones `COPY` only what is new.
    WholeWindow,
}

/// What the prelude found.
pub(super) struct Prelude {
    /// The stored hash of every key of the group found where the attempt looked.
    pub known: HashMap<StoredKey, ContentHash>,
}

/// Locks the buckets of the group's tenants and looks the group's keys up. Must be
/// the first statement of `tx`: the lookup's snapshot must follow the locks.
pub(super) async fn prelude(
    tx: &mut Transaction<'_, Postgres>,
    records: &[&NewUsageRecord],
    window: &ProbeWindow,
    look_in: LookIn,
    distributed: bool,
) -> Result<Prelude, DbError> {
    if distributed {
        return prelude_in_steps(tx, records, window, look_in).await;
    }
    let found = bind_prelude(sqlx::query(PRELUDE_SQL), records, window, look_in).fetch_one(&mut **tx).await?;
    Ok(Prelude { known: known_hashes(&found)? })
}

/// Binds the prelude's ten parameters (`$1`–`$10`): the bucket locks, the group's keys and the
/// ranges of `ts` looked in. `usage_write_new()` (`one_call.rs`) takes the same ten first.
pub(super) fn bind_prelude<'q>(
    query: Query<'q, Postgres, PgArguments>,
    records: &[&'q NewUsageRecord],
    window: &ProbeWindow,
    look_in: LookIn,
) -> Query<'q, Postgres, PgArguments> {
    let [(a, b), (c, d)] = match look_in {
        LookIn::OtherMonths => window.probed,
        LookIn::WholeWindow => [window.lookup, (window.lookup.1, window.lookup.1)],
    };
    let locks = bucket_locks(records);
    query
        .bind(locks.iter().map(|l| l.key).collect::<Vec<_>>())
        .bind(locks.iter().map(|l| l.shared_during.map(|(from, _)| from)).collect::<Vec<_>>())
        .bind(locks.iter().map(|l| l.shared_during.map(|(_, until)| until)).collect::<Vec<_>>())
        .bind(records.iter().map(|r| r.key.tenant_id.as_str()).collect::<Vec<_>>())
        .bind(records.iter().map(|r| r.key.source.as_str()).collect::<Vec<_>>())
        .bind(records.iter().map(|r| r.key.record_id.as_str()).collect::<Vec<_>>())
        .bind(a)
        .bind(b)
        .bind(c)
        .bind(d)
}

/// The keys found and their hashes, as parallel arrays: the prelude's one row.
type Found = (Vec<String>, Vec<String>, Vec<String>, Vec<Vec<u8>>);

/// The stored hash of each key found, from the row of the prelude (or of a call that ran it).
pub(super) fn known_hashes(row: &PgRow) -> Result<HashMap<StoredKey, ContentHash>, DbError> {
    let (tenants, sources, record_ids, hashes) = Found::from_row(row)?;
    let keys = tenants.into_iter().zip(sources).zip(record_ids);
    keys.zip(hashes).map(|(((t, s), id), hash)| Ok(((t, s, id), content_hash(&hash)?))).collect()
}

/// The prelude as two statements (Citus), each lookup routed to one shard when the group
/// has one tenant.
async fn prelude_in_steps(
    tx: &mut Transaction<'_, Postgres>,
    records: &[&NewUsageRecord],
    window: &ProbeWindow,
    look_in: LookIn,
) -> Result<Prelude, DbError> {
    lock_tenant_buckets(tx, records).await?;
    let [(a, b), (c, d)] = window.probed;
    let mut known = lookup_hashes(tx, PROBE_SQL, records, &[a, b, c, d]).await?;
    if look_in == LookIn::WholeWindow {
        let unknown: Vec<&NewUsageRecord> =
            records.iter().filter(|r| !known.contains_key(&stored_key(&r.key))).copied().collect();
        known.extend(existing_hashes(tx, &unknown, window.own_months()).await?);
    }
    Ok(Prelude { known })
}
