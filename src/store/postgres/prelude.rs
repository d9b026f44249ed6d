//! The first call of every transaction writing usage records: the tenant-bucket locks
//! (`tenant_locks.rs`) and the stored hashes of the group's keys found where the attempt looks
//! (`probe.rs`) — in one round trip, `usage_write_prelude()` (migrations 20261202190000 and
//! 20261203040000). A large group first reads the bounds of its ids stored where it looks, per
//! month, with the locks (`key_bounds.rs`), and probes only the keys inside them, each in the
//! months whose bounds hold it: none, for ids that grow over time.
//!
//! Citus runs them as two statements: the lookups there must name the tenant to reach one
//! shard, which a function's plan cannot do for some groups and not others.

use std::collections::HashMap;

use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::{FromRow, Postgres, Transaction};

use super::bounds_policy::BoundsPolicy;
use super::key_bounds::{lock_and_read_bounds, probe_inside, Pairs};
use super::probe::{lookup_hashes, ProbeWindow, Span, PROBE_SQL};
use super::tenant_locks::{bind_bucket_locks, lock_tenant_buckets};
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

/// How the lookups of this store are made.
#[derive(Clone, Copy)]
pub(super) struct Lookups<'a> {
    /// Citus: in two statements, each naming the tenant when there is one.
    pub distributed: bool,
    /// Which groups read the bounds of the stored ids before probing (`bounds_policy.rs`).
    pub bounds: &'a BoundsPolicy,
}

/// Locks the buckets of the group's tenants and looks the group's keys up. Must be
/// the first statement of `tx`: the lookup's snapshot must follow the locks.
pub(super) async fn prelude(
    tx: &mut Transaction<'_, Postgres>,
    records: &[&NewUsageRecord],
    window: &ProbeWindow,
    look_in: LookIn,
    lookups: Lookups<'_>,
) -> Result<Prelude, DbError> {
    if lookups.distributed {
        return prelude_in_steps(tx, records, window, look_in).await;
    }
    // The pairs are counted only where they can decide (a hash of every key of the group).
    let pairs = BoundsPolicy::may_read_bounds(records.len()).then(|| Pairs::of(records));
    let Some(pairs) = pairs.filter(|p| lookups.bounds.reads_bounds(records.len(), p.distinct.len())) else {
        let found = bind_prelude(sqlx::query(PRELUDE_SQL), records, window, look_in).fetch_one(&mut **tx).await?;
        return Ok(Prelude { known: known_hashes(&found)? });
    };
    let spans = look_in.spans(window);
    let bounds = lock_and_read_bounds(tx, records, pairs, spans).await?;
    let inside = bounds.inside(records);
    lookups.bounds.saw(inside.len(), records.len());
    if inside.is_empty() {
        return Ok(Prelude { known: HashMap::new() });
    }
    Ok(Prelude { known: probe_inside(tx, &inside, spans).await? })
}

impl LookIn {
    /// The two ranges of `ts` looked in.
    fn spans(self, window: &ProbeWindow) -> [Span; 2] {
        match self {
            Self::OtherMonths => window.probed,
            Self::WholeWindow => [window.lookup, (window.lookup.1, window.lookup.1)],
        }
    }
}

/// Binds the prelude's ten parameters (`$1`–`$10`): the bucket locks, the group's keys and the
/// ranges of `ts` looked in. `usage_write_new()` (`one_call.rs`) takes the same ten first.
pub(super) fn bind_prelude<'q>(
    query: Query<'q, Postgres, PgArguments>,
    records: &[&'q NewUsageRecord],
    window: &ProbeWindow,
    look_in: LookIn,
) -> Query<'q, Postgres, PgArguments> {
    bind_lookup(bind_bucket_locks(query, records), records, look_in.spans(window))
}

/// Binds the group's keys and the two ranges of `ts` they are looked for in (seven parameters;
/// the probe after the key bounds, `key_bounds.rs`, binds the same first).
pub(super) fn bind_lookup<'q>(
    query: Query<'q, Postgres, PgArguments>,
    records: &[&'q NewUsageRecord],
    [(a, b), (c, d)]: [Span; 2],
) -> Query<'q, Postgres, PgArguments> {
    query
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
