//! `plan_version` table (global).

use chrono::{DateTime, Utc};

use super::codec::Instant;
use super::engine::{on_read, on_tx, Tx};
use super::{DbError, NewPlanVersion, Store, StoredPlanVersion};

#[derive(sqlx::FromRow)]
struct PlanVersionRow {
    plan_id: String,
    version: i32,
    content_hash: String,
    definition: String,
    created_at: Instant,
}

impl Store {
    /// Records a plan's content as its next version unless its newest version already has
    /// this content hash. Serialized across processes. Returns the version in force and
    /// whether it was created now.
    #[tracing::instrument(skip_all, fields(plan_id = plan.plan_id))]
    pub async fn record_plan_version(
        &self,
        plan: &NewPlanVersion<'_>,
        now: DateTime<Utc>,
    ) -> Result<(i32, bool), DbError> {
        let newest = "select version, content_hash from plan_version where plan_id = $1 order by version desc limit 1";
        let insert = r#"insert into plan_version (plan_id, version, content_hash, definition, currency, created_at)
            values ($1, $2, $3, $4, $5, $6)"#;
        let mut tx = self.begin().await?;
        lock_plan(&mut tx, plan.plan_id).await?;
        let latest: Option<(i32, String)> =
            on_tx!(&mut tx, |db| sqlx::query_as(newest).bind(plan.plan_id).fetch_optional(db).await)?;
        if let Some((version, hash)) = &latest {
            if hash == plan.content_hash {
                return Ok((*version, false));
            }
        }
        let version = latest.map_or(1, |(v, _)| v + 1);
        on_tx!(&mut tx, |db| sqlx::query(insert)
            .bind(plan.plan_id)
            .bind(version)
            .bind(plan.content_hash)
            .bind(plan.definition)
            .bind(plan.currency)
            .bind(Instant(now))
            .execute(db)
            .await
            .map(|_| ()))?;
        tx.commit().await?;
        Ok((version, true))
    }

    /// Every stored plan version.
    #[tracing::instrument(skip_all)]
    pub async fn plan_versions(&self) -> Result<Vec<StoredPlanVersion>, DbError> {
        let sql = "select plan_id, version, content_hash, definition, created_at from plan_version \
            order by plan_id, version";
        let rows: Vec<PlanVersionRow> = on_read!(self.read(), |db| sqlx::query_as(sql).fetch_all(db).await)?;
        Ok(rows
            .into_iter()
            .map(|r| StoredPlanVersion {
                plan_id: r.plan_id,
                version: r.version,
                content_hash: r.content_hash,
                definition: r.definition,
                created_at: r.created_at.0,
            })
            .collect())
    }
}

/// Serializes version numbering of one plan: on PostgreSQL a transaction-scoped advisory lock
/// (never a session lock on a pooled connection); on SQLite the one writer already does.
async fn lock_plan(tx: &mut Tx, plan_id: &str) -> Result<(), DbError> {
    if let Tx::Postgres(tx) = tx {
        sqlx::query("select pg_advisory_xact_lock(hashtext('tally.plan_version.' || $1))")
            .bind(plan_id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}
