//! Whether records are already stored with the same content, read outside the write path:
//! for records the tenant gate refuses (a deactivated tenant, a period its policy keeps
//! closed), which never reach the writer. A runtime retrying a batch that was committed before
//! the gate closed must hear "duplicate", as DESIGN §3.1 promises for every retry — and a
//! retried batch of 10 000 records must not cost 10 000 round trips on the request path, so
//! the keys are read together: one statement per tenant and [`statement_chunks`] of keys.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use super::chunks::statement_chunks;
use super::codec::{content_hash, Instant};
use super::engine::on_read;
use super::{DbError, Store};
use crate::domain::{ContentHash, RecordKey, TenantId};

/// A key looked for, as the statement answers it: source, record id, and the instant in
/// microseconds (the precision both engines store).
type Looked = (String, String, i64);

impl Store {
    /// The content hash stored for each of `keys` at its instant, in the order given: `None`
    /// where no such record is stored. The instant is part of a record's content, so a record
    /// stored under the key at another instant is no duplicate (and naming it lets PostgreSQL
    /// read only the partitions of the instants asked for). One statement per tenant (its
    /// `tenant_id` named, so on Citus each runs on that tenant's shard alone) and chunk of at
    /// most [`super::chunks::MAX_ROWS`] keys, whose three binds each keep it far below both
    /// engines' limits.
    ///
    /// # Errors
    /// When the database cannot answer, or a stored hash is not 16 bytes.
    #[tracing::instrument(skip_all, fields(keys = keys.len()))]
    pub async fn stored_content_hashes(
        &self,
        keys: &[(&RecordKey, DateTime<Utc>)],
    ) -> Result<Vec<Option<ContentHash>>, DbError> {
        let mut of_tenant: BTreeMap<&TenantId, Vec<(&RecordKey, DateTime<Utc>)>> = BTreeMap::new();
        for &(key, at) in keys {
            of_tenant.entry(&key.tenant_id).or_default().push((key, at));
        }
        let mut stored: HashMap<&TenantId, HashMap<Looked, ContentHash>> = HashMap::new();
        for (tenant, keys) in &of_tenant {
            let found = stored.entry(tenant).or_default();
            for chunk in statement_chunks(keys) {
                found.extend(self.stored_hashes_of_tenant(tenant, chunk).await?);
            }
        }
        let answer = |(key, at): &(&RecordKey, DateTime<Utc>)| {
            let looked = (key.source.clone(), key.record_id.clone(), at.timestamp_micros());
            stored.get(&key.tenant_id).and_then(|found| found.get(&looked)).copied()
        };
        Ok(keys.iter().map(answer).collect())
    }

    /// The stored hashes of one tenant's `keys` ([`lookup_sql`]), those found only.
    async fn stored_hashes_of_tenant(
        &self,
        tenant: &TenantId,
        keys: &[(&RecordKey, DateTime<Utc>)],
    ) -> Result<Vec<(Looked, ContentHash)>, DbError> {
        let earliest = keys.iter().map(|(_, at)| *at).min().unwrap_or_default();
        let latest = keys.iter().map(|(_, at)| *at).max().unwrap_or_default();
        let sql = lookup_sql(keys.len());
        let rows: Vec<(String, String, Instant, Option<Vec<u8>>)> = on_read!(self.read(), |db| {
            let mut query = sqlx::query_as(&sql).bind(tenant.as_str()).bind(Instant(earliest)).bind(Instant(latest));
            for (key, at) in keys {
                query = query.bind(key.source.as_str()).bind(key.record_id.as_str()).bind(Instant(*at));
            }
            query.fetch_all(db).await
        })?;
        rows.into_iter()
            .filter_map(|(source, record_id, at, hash)| Some(((source, record_id, at.0.timestamp_micros()), hash?)))
            .map(|(looked, hash)| Ok((looked, content_hash(&hash)?)))
            .collect()
    }
}

/// The lookup of `count` keys of one tenant (`$1`), whose instants lie from `$2` to `$3`
/// (PostgreSQL reads only those months' partitions), each key as three binds after them:
/// source, record id, instant. Each key is looked up by a subquery of its own: one descent of
/// the primary key per key (and month) on either engine, whatever the planner estimates of the
/// tenant's rows — a join may be planned as a scan of all of them. One row per key.
fn lookup_sql(count: usize) -> String {
    let keys: Vec<String> = (0..count).map(|i| format!("(${}, ${}, ${})", 4 + 3 * i, 5 + 3 * i, 6 + 3 * i)).collect();
    format!(
        r#"select k.column1, k.column2, k.column3, (
    select u.content_hash from usage_record u
    where u.tenant_id = $1 and u.source = k.column1 and u.record_id = k.column2 and u.ts = k.column3
      and u.ts >= $2 and u.ts <= $3)
from (values {}) as k"#,
        keys.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::testing::query_plan;

    #[tokio::test]
    async fn each_key_is_looked_up_by_the_primary_key_instead_of_scanning_the_tenants_records() {
        let plan = query_plan(&lookup_sql(3)).await;
        assert!(plan.contains("SEARCH u USING PRIMARY KEY (tenant_id=? AND source=? AND record_id=?)"), "{plan}");
        assert!(!plan.contains("SCAN u"), "{plan}");
    }
}
