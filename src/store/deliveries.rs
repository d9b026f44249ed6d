//! `outbox` events → `outbox_delivery` rows, and their claims, attempts and retries.
//!
//! A claim is committed before anything is sent: it moves due rows to `sending` with a lease
//! (`next_attempt_at` = the lease's end, after which a crashed sender's row is due again). On
//! PostgreSQL one statement locks due rows `for update skip locked` (several processes never
//! take the same row); on SQLite the one writer's `BEGIN IMMEDIATE` excludes other claimers; on
//! Citus, which refuses row locks across shards, due rows are picked without a lock and each
//! tenant's are claimed by a single-shard update that re-checks they are still due.
//! An attempt's result is written only if the row is still the claim that sent it (same
//! `attempts`), so a sender whose lease ran out cannot overwrite a newer claim.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use sqlx::PgPool;

use super::codec::{instant, tenant_id, Instant};
use super::engine::{execute_in_own_tx, on_read, on_tx};
use super::{AttemptResult, DbError, Delivery, DeliveryFilter, DeliveryState, NewDelivery, OutboxEvent, Store};
use super::{RetryOutcome, LATEST};
use crate::domain::TenantId;

/// Rows per multi-row statement: 12 binds a delivery stay far below both engines' limits on
/// binds per statement (65 535; SQLite 32 766).
const ROWS_PER_STATEMENT: usize = 1_000;

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    tenant_id: String,
    delivery_id: String,
    message_id: String,
    kind: String,
    channel: String,
    recipient: String,
    state: String,
    attempts: i32,
    next_attempt_at: Instant,
    last_error: String,
    sent_at: Option<Instant>,
    created_at: Instant,
    updated_at: Instant,
}

const COLUMNS: &str = "tenant_id, delivery_id, message_id, kind, channel, recipient, state, attempts, \
    next_attempt_at, last_error, sent_at, created_at, updated_at";

impl TryFrom<DeliveryRow> for Delivery {
    type Error = DbError;

    fn try_from(r: DeliveryRow) -> Result<Self, DbError> {
        Ok(Delivery {
            tenant: tenant_id(&r.tenant_id)?,
            state: DeliveryState::parse(&r.state)
                .ok_or_else(|| DbError::Corrupt(format!("delivery state {:?}", r.state)))?,
            attempts: u32::try_from(r.attempts).unwrap_or(0),
            delivery_id: r.delivery_id,
            message_id: r.message_id,
            kind: r.kind,
            channel: r.channel,
            recipient: r.recipient,
            next_attempt_at: r.next_attempt_at.0,
            last_error: r.last_error,
            sent_at: instant(r.sent_at),
            created_at: r.created_at.0,
            updated_at: r.updated_at.0,
        })
    }
}

fn deliveries(rows: Vec<DeliveryRow>) -> Result<Vec<Delivery>, DbError> {
    rows.into_iter().map(Delivery::try_from).collect()
}

impl Store {
    /// Events written by business transactions and not yet expanded, oldest first.
    #[tracing::instrument(skip_all)]
    pub async fn unexpanded_events(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<OutboxEvent>, DbError> {
        let sql = r#"select tenant_id, message_id, kind, payload, created_at from outbox
            where state = 'pending' and next_attempt_at <= $1
            order by next_attempt_at
            limit $2"#;
        let rows: Vec<(String, String, String, String, Instant)> = on_read!(self.read(), |db| sqlx::query_as(sql)
            .bind(Instant(now))
            .bind(i64::from(limit))
            .fetch_all(db)
            .await)?;
        rows.into_iter()
            .map(|(tenant, message_id, kind, payload, at)| {
                Ok(OutboxEvent { tenant: tenant_id(&tenant)?, message_id, kind, payload, created_at: at.0 })
            })
            .collect()
    }

    /// Writes the deliveries of a page of events (those already written are kept as they
    /// are) and marks the events expanded — one transaction, a multi-row statement per
    /// thousand rows; safe to repeat and to race.
    #[tracing::instrument(skip_all, fields(events = page.len()))]
    pub async fn expand_events(
        &self,
        page: &[(&OutboxEvent, Vec<NewDelivery>)],
        now: DateTime<Utc>,
    ) -> Result<(), DbError> {
        if page.is_empty() {
            return Ok(());
        }
        let deliveries: Vec<(&OutboxEvent, &NewDelivery)> =
            page.iter().flat_map(|(event, new)| new.iter().map(move |d| (*event, d))).collect();
        let mut tx = self.begin().await?;
        for chunk in deliveries.chunks(ROWS_PER_STATEMENT) {
            on_tx!(&mut tx, |db| {
                let mut insert = sqlx::QueryBuilder::new(
                    "insert into outbox_delivery (tenant_id, delivery_id, message_id, kind, channel, recipient, \
                    state, attempts, next_attempt_at, last_error, created_at, updated_at) ",
                );
                insert.push_values(chunk, |mut row, (event, d)| {
                    row.push_bind(event.tenant.as_str())
                        .push_bind(d.delivery_id.as_str())
                        .push_bind(event.message_id.as_str())
                        .push_bind(event.kind.as_str())
                        .push_bind(d.channel)
                        .push_bind(d.recipient.as_str())
                        .push_bind("pending")
                        .push_bind(0_i32)
                        .push_bind(Instant(now))
                        .push_bind("")
                        .push_bind(Instant(now))
                        .push_bind(Instant(now));
                });
                insert.push(" on conflict do nothing");
                insert.build().execute(db).await.map(|_| ())
            })?;
        }
        for chunk in page.chunks(ROWS_PER_STATEMENT) {
            on_tx!(&mut tx, |db| {
                let mut expanded =
                    sqlx::QueryBuilder::new("update outbox set state = 'expanded' where (tenant_id, message_id) in (");
                expanded.push_values(chunk, |mut row, (event, _)| {
                    row.push_bind(event.tenant.as_str()).push_bind(event.message_id.as_str());
                });
                expanded.push(")");
                expanded.build().execute(db).await.map(|_| ())
            })?;
        }
        tx.commit().await
    }

    /// Claims up to `limit` due deliveries (pending, or sending with an expired lease) until
    /// `lease_until`, counting an attempt on each; committed before the caller sends.
    #[tracing::instrument(skip_all)]
    pub async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Delivery>, DbError> {
        if let Some(pool) = self.citus_pool() {
            return claim_deliveries_by_tenant(pool, now, lease_until, limit).await;
        }
        let mut tx = self.begin().await?;
        let sql = format!(
            r#"update outbox_delivery set state = 'sending', attempts = attempts + 1, next_attempt_at = $2, updated_at = $1
            where (tenant_id, delivery_id) in (
                select tenant_id, delivery_id from outbox_delivery
                where state in ('pending', 'sending') and next_attempt_at <= $1
                order by next_attempt_at
                limit $3
                {})
            returning {COLUMNS}"#,
            tx.for_update_skip_locked()
        );
        let rows: Vec<DeliveryRow> = on_tx!(&mut tx, |db| sqlx::query_as(&sql)
            .bind(Instant(now))
            .bind(Instant(lease_until))
            .bind(i64::from(limit))
            .fetch_all(db)
            .await)?;
        tx.commit().await?;
        deliveries(rows)
    }

    /// Records the result of the attempt `claimed` was claimed for. Returns false (and writes
    /// nothing) when the row has been claimed again since (its lease ran out).
    #[tracing::instrument(skip_all, fields(tenant_id = %claimed.tenant))]
    pub async fn record_attempt(
        &self,
        claimed: &Delivery,
        result: &AttemptResult,
        now: DateTime<Utc>,
    ) -> Result<bool, DbError> {
        let (state, next, error, sent_at) = match result {
            AttemptResult::Sent => (DeliveryState::Sent, now, "", Some(Instant(now))),
            AttemptResult::Retry { at, error } => (DeliveryState::Pending, *at, error.as_str(), None),
            AttemptResult::Failed { error } => (DeliveryState::Failed, now, error.as_str(), None),
        };
        let sql = r#"update outbox_delivery
            set state = $4, next_attempt_at = $5, last_error = case when $6 = '' then last_error else $6 end,
                sent_at = $7, updated_at = $8
            where tenant_id = $1 and delivery_id = $2 and state = 'sending' and attempts = $3"#;
        let written = execute_in_own_tx!(
            self,
            sqlx::query(sql)
                .bind(claimed.tenant.as_str())
                .bind(&claimed.delivery_id)
                .bind(i64::from(claimed.attempts))
                .bind(state.as_str())
                .bind(Instant(next))
                .bind(error)
                .bind(sent_at)
                .bind(Instant(now))
        );
        Ok(written == 1)
    }

    /// Deliveries matching `filter`, newest first, after the `(created_at, id)` cursor.
    #[tracing::instrument(skip_all)]
    pub async fn list_deliveries(
        &self,
        filter: &DeliveryFilter,
        before: Option<(DateTime<Utc>, String)>,
        limit: u32,
    ) -> Result<Vec<Delivery>, DbError> {
        let (at, id) = before.unwrap_or((LATEST, String::new()));
        let sql = format!(
            r#"select {COLUMNS} from outbox_delivery
            where ($1 = '' or state = $1) and ($2 = '' or tenant_id = $2) and ($3 = '' or kind = $3)
              and (created_at < $4 or (created_at = $4 and delivery_id < $5) or $5 = '')
            order by created_at desc, delivery_id desc
            limit $6"#
        );
        let rows: Vec<DeliveryRow> = on_read!(self.read(), |db| sqlx::query_as(&sql)
            .bind(filter.state.map_or("", DeliveryState::as_str))
            .bind(filter.tenant.as_ref().map_or("", TenantId::as_str))
            .bind(filter.kind.as_deref().unwrap_or(""))
            .bind(Instant(at.min(LATEST)))
            .bind(&id)
            .bind(i64::from(limit))
            .fetch_all(db)
            .await)?;
        deliveries(rows)
    }

    /// Makes a delivery due now, whatever became of it (a sent email is sent again, with the
    /// same Message-ID) — unless a sender holds its lease.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
    pub async fn retry_delivery(
        &self,
        tenant: &TenantId,
        delivery_id: &str,
        now: DateTime<Utc>,
    ) -> Result<RetryOutcome, DbError> {
        let sql = format!(
            r#"update outbox_delivery set state = 'pending', next_attempt_at = $3, updated_at = $3
            where tenant_id = $1 and delivery_id = $2 and (state <> 'sending' or next_attempt_at <= $3)
            returning {COLUMNS}"#
        );
        let exists = "select count(*) from outbox_delivery where tenant_id = $1 and delivery_id = $2";
        let mut tx = self.begin().await?;
        let row: Option<DeliveryRow> = on_tx!(&mut tx, |db| sqlx::query_as(&sql)
            .bind(tenant.as_str())
            .bind(delivery_id)
            .bind(Instant(now))
            .fetch_optional(db)
            .await)?;
        let (count,): (i64,) =
            on_tx!(&mut tx, |db| sqlx::query_as(exists).bind(tenant.as_str()).bind(delivery_id).fetch_one(db).await)?;
        tx.commit().await?;
        match row {
            Some(row) => Ok(RetryOutcome::Scheduled(Box::new(Delivery::try_from(row)?))),
            None if count > 0 => Ok(RetryOutcome::InFlight),
            None => Ok(RetryOutcome::NotFound),
        }
    }

    /// Deliveries per (kind, channel, state), for `/metrics`.
    #[tracing::instrument(skip_all)]
    pub async fn delivery_counts(&self) -> Result<Vec<(String, String, DeliveryState, u64)>, DbError> {
        let sql = "select kind, channel, state, count(*) from outbox_delivery group by kind, channel, state";
        let rows: Vec<(String, String, String, i64)> =
            on_read!(self.read(), |db| sqlx::query_as(sql).fetch_all(db).await)?;
        rows.into_iter()
            .map(|(kind, channel, state, n)| {
                let state = DeliveryState::parse(&state).ok_or_else(|| DbError::Corrupt(format!("state {state}")))?;
                Ok((kind, channel, state, u64::try_from(n).unwrap_or(0)))
            })
            .collect()
    }
}

/// [`Store::claim_deliveries`] on Citus: the due rows, oldest first, picked without a lock
/// (one read over every shard), then one single-shard update per tenant that takes only the
/// rows still due. Two claimers that picked the same row both try it: the second's update
/// waits for the first's, re-checks, and finds the row leased until after `now` — so exactly
/// one wins, and the loser claims fewer rows this round (the next round picks others).
async fn claim_deliveries_by_tenant(
    pool: &PgPool,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<Delivery>, DbError> {
    let due = r#"select tenant_id, delivery_id from outbox_delivery
        where state in ('pending', 'sending') and next_attempt_at <= $1
        order by next_attempt_at
        limit $2"#;
    let picked: Vec<(String, String)> =
        sqlx::query_as(due).bind(Instant(now)).bind(i64::from(limit)).fetch_all(pool).await?;
    let mut by_tenant: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (tenant, delivery) in picked {
        by_tenant.entry(tenant).or_default().push(delivery);
    }
    let claim = format!(
        r#"update outbox_delivery set state = 'sending', attempts = attempts + 1, next_attempt_at = $4, updated_at = $3
        where tenant_id = $1 and delivery_id = any($2)
          and state in ('pending', 'sending') and next_attempt_at <= $3
        returning {COLUMNS}"#
    );
    let claims = by_tenant.iter().map(|(tenant, ids)| {
        let query = sqlx::query_as(&claim).bind(tenant).bind(ids).bind(Instant(now)).bind(Instant(lease_until));
        query.fetch_all(pool)
    });
    // Each claim commits on its own: rows claimed are handed out even when another tenant's
    // claim failed (its rows stay due), or they would sit leased, unsent, until the lease ends.
    let (mut claimed, mut failure) = (Vec::new(), None);
    for result in join_all(claims).await {
        match result {
            Ok(rows) => claimed.extend(rows),
            Err(e) => failure = Some(e),
        }
    }
    match failure {
        Some(e) if claimed.is_empty() => Err(e.into()),
        Some(e) => {
            tracing::warn!(error = %e, claimed = claimed.len(), "some deliveries could not be claimed; retried next pass");
            deliveries(claimed)
        }
        None => deliveries(claimed),
    }
}

impl Store {
    /// One outbox event, by its key.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
    pub async fn outbox_event(&self, tenant: &TenantId, message_id: &str) -> Result<Option<OutboxEvent>, DbError> {
        let sql = "select kind, payload, created_at from outbox where tenant_id = $1 and message_id = $2";
        let row: Option<(String, String, Instant)> = on_read!(self.read(), |db| sqlx::query_as(sql)
            .bind(tenant.as_str())
            .bind(message_id)
            .fetch_optional(db)
            .await)?;
        Ok(row.map(|(kind, payload, at)| OutboxEvent {
            tenant: tenant.clone(),
            message_id: message_id.to_owned(),
            kind,
            payload,
            created_at: at.0,
        }))
    }
}
