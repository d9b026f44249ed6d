//! `billing_run` (global, like job leases): billing runs as jobs (DESIGN §12). A run is
//! stored `queued` with its audit event, claimed `running` by the process that runs it, kept
//! alive by that process's heartbeat, and ended `succeeded` (with its report) or `failed`
//! (with an error) — by that process, or by any other once the heartbeat has stopped.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sqlx::types::Json;

use super::codec::{instant, Instant};
use super::engine::{execute_in_own_tx, in_own_tx, on_read, on_tx};
use super::{audit, DbError, Store};
use crate::domain::{enum_with_stored_names, Actor, AuditTarget};

enum_with_stored_names! {
    /// Where a billing run is: `queued → running → succeeded | failed`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
    #[serde(rename_all = "snake_case")]
    pub enum BillingRunStatus {
        Queued => "queued",
        Running => "running",
        Succeeded => "succeeded",
        Failed => "failed",
    }
}

/// How far a run got: tenants billed (or failed) of all tenants when it started.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RunProgress {
    pub tenants_done: i64,
    pub tenants_total: i64,
}

/// A billing run as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredBillingRun {
    pub run_id: String,
    /// The requesting credential's subject (`key:<id>`, a JWT `sub`, `cli`).
    pub requested_by: String,
    pub as_of: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub status: BillingRunStatus,
    pub progress: RunProgress,
    /// The run's report, once it succeeded.
    pub report: Option<Value>,
    pub error: Option<String>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy)]
pub enum RunOutcome<'a> {
    Succeeded(&'a Value),
    Failed(&'a str),
}

#[derive(sqlx::FromRow)]
struct RunRow {
    run_id: String,
    as_of: Instant,
    requested_by: String,
    status: String,
    tenants_done: i64,
    tenants_total: i64,
    report: Option<Json<Value>>,
    error: Option<String>,
    created_at: Instant,
    started_at: Option<Instant>,
    finished_at: Option<Instant>,
}

const COLUMNS: &str = r#"run_id, as_of, requested_by, status, tenants_done, tenants_total, report, error,
    created_at, started_at, finished_at"#;

impl Store {
    /// Stores a queued run as of `as_of`, and the `billing_run.requested` audit event of
    /// `actor`, in one transaction.
    #[tracing::instrument(skip_all, fields(run_id = %run_id))]
    pub async fn create_billing_run(
        &self,
        run_id: &str,
        as_of: DateTime<Utc>,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<StoredBillingRun, DbError> {
        let sql = format!(
            r#"insert into billing_run (run_id, as_of, requested_by, status, created_at, heartbeat_at, updated_at)
            values ($1, $2, $3, 'queued', $4, $4, $4)
            returning {COLUMNS}"#
        );
        let mut tx = self.begin().await?;
        let row: RunRow = on_tx!(&mut tx, |db| sqlx::query_as(&sql)
            .bind(run_id)
            .bind(Instant(as_of))
            .bind(&actor.subject)
            .bind(Instant(now))
            .fetch_one(db)
            .await)?;
        let target = AuditTarget::object("billing_run", run_id, None);
        audit::append(&mut tx, actor, "billing_run.requested", &target, json!({ "as_of": as_of }), now).await?;
        tx.commit().await?;
        row.try_into()
    }

    /// Moves a queued run to `running`; `None` when it is not queued (any more).
    #[tracing::instrument(skip_all, fields(run_id = %run_id))]
    pub async fn claim_billing_run(
        &self,
        run_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<StoredBillingRun>, DbError> {
        let sql = format!(
            r#"update billing_run set status = 'running', started_at = $2, heartbeat_at = $2, updated_at = $2
            where run_id = $1 and status = 'queued'
            returning {COLUMNS}"#
        );
        let row: Option<RunRow> =
            in_own_tx!(self, |db| sqlx::query_as(&sql).bind(run_id).bind(Instant(now)).fetch_optional(db).await);
        row.map(StoredBillingRun::try_from).transpose()
    }

    /// The heartbeat of a running run, with how many tenants it has billed of how many.
    #[tracing::instrument(skip_all, fields(run_id = %run_id))]
    pub async fn billing_run_progress(
        &self,
        run_id: &str,
        progress: RunProgress,
        now: DateTime<Utc>,
    ) -> Result<(), DbError> {
        let RunProgress { tenants_done: done, tenants_total: total } = progress;
        let sql = r#"update billing_run set tenants_done = $2, tenants_total = $3, heartbeat_at = $4, updated_at = $4
            where run_id = $1 and status = 'running'"#;
        execute_in_own_tx!(self, sqlx::query(sql).bind(run_id).bind(done).bind(total).bind(Instant(now)));
        Ok(())
    }

    /// Ends a run with its outcome and final progress.
    #[tracing::instrument(skip_all, fields(run_id = %run_id))]
    pub async fn finish_billing_run(
        &self,
        run_id: &str,
        outcome: RunOutcome<'_>,
        progress: RunProgress,
        now: DateTime<Utc>,
    ) -> Result<(), DbError> {
        let RunProgress { tenants_done: done, tenants_total: total } = progress;
        let sql = r#"update billing_run set status = $2, report = $3, error = $4, tenants_done = $5,
                tenants_total = $6, finished_at = $7, heartbeat_at = $7, updated_at = $7
            where run_id = $1"#;
        let (status, report, error) = match outcome {
            RunOutcome::Succeeded(report) => (BillingRunStatus::Succeeded, Some(Json(report)), None),
            RunOutcome::Failed(error) => (BillingRunStatus::Failed, None, Some(error)),
        };
        execute_in_own_tx!(
            self,
            sqlx::query(sql)
                .bind(run_id)
                .bind(status.as_str())
                .bind(report)
                .bind(error)
                .bind(done)
                .bind(total)
                .bind(Instant(now))
        );
        Ok(())
    }

    /// One run.
    #[tracing::instrument(skip_all, fields(run_id = %run_id))]
    pub async fn get_billing_run(&self, run_id: &str) -> Result<Option<StoredBillingRun>, DbError> {
        let sql = format!("select {COLUMNS} from billing_run where run_id = $1");
        on_read!(self.read(), |db| sqlx::query_as::<_, RunRow>(&sql).bind(run_id).fetch_optional(db).await)?
            .map(StoredBillingRun::try_from)
            .transpose()
    }

    /// Marks failed every queued or running run whose heartbeat stopped before `stale_before`
    /// (its process is gone); how many.
    #[tracing::instrument(skip_all)]
    pub async fn abandon_stale_billing_runs(
        &self,
        stale_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64, DbError> {
        let sql = r#"update billing_run set status = 'failed', error = $3, finished_at = $2, updated_at = $2
            where status in ('queued', 'running') and heartbeat_at < $1"#;
        let why = "abandoned: the process running it stopped; billing is idempotent per period, so a new run \
            closes what this one did not";
        Ok(execute_in_own_tx!(self, sqlx::query(sql).bind(Instant(stale_before)).bind(Instant(now)).bind(why)))
    }
}

impl TryFrom<RunRow> for StoredBillingRun {
    type Error = DbError;

    fn try_from(r: RunRow) -> Result<Self, DbError> {
        let status = BillingRunStatus::parse(&r.status)
            .ok_or_else(|| DbError::Corrupt(format!("billing run {}: status {:?}", r.run_id, r.status)))?;
        Ok(StoredBillingRun {
            run_id: r.run_id,
            as_of: r.as_of.0,
            requested_by: r.requested_by,
            status,
            progress: RunProgress { tenants_done: r.tenants_done, tenants_total: r.tenants_total },
            report: r.report.map(|j| j.0),
            error: r.error,
            created_at: r.created_at.0,
            started_at: instant(r.started_at),
            finished_at: instant(r.finished_at),
        })
    }
}
