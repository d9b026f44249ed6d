//! `idempotency` table: at most one execution per (scope, Idempotency-Key).

use chrono::{DateTime, Utc};

use super::codec::Instant;
use super::engine::{execute_on_tx, in_own_tx, on_tx};
use super::{DbError, IdempotencyStart, Store, StoredResponse};

/// An `idempotency` row: request hash, response status, body and location (absent while in
/// flight).
type IdempotencyRow = (Vec<u8>, Option<i32>, Option<Vec<u8>>, Option<String>);

impl Store {
    /// Claims an idempotency key for a request, or reports what happened to it before.
    #[tracing::instrument(skip_all)]
    pub async fn start_idempotent(
        &self,
        scope: &str,
        key: &str,
        request_hash: &[u8],
        now: DateTime<Utc>,
    ) -> Result<IdempotencyStart, DbError> {
        let claim = r#"insert into idempotency (scope, idempotency_key, request_hash, created_at)
            values ($1, $2, $3, $4)
            on conflict do nothing"#;
        let read = "select request_hash, response_status, response_body, response_location from idempotency \
            where scope = $1 and idempotency_key = $2";
        let mut tx = self.begin().await?;
        let claimed =
            execute_on_tx!(&mut tx, sqlx::query(claim).bind(scope).bind(key).bind(request_hash).bind(Instant(now)))?
                == 1;
        let state = if claimed {
            IdempotencyStart::Claimed
        } else {
            let row: Option<IdempotencyRow> =
                on_tx!(&mut tx, |db| sqlx::query_as(read).bind(scope).bind(key).fetch_optional(db).await)?;
            idempotency_state(row, request_hash)
        };
        tx.commit().await?;
        Ok(state)
    }

    /// Saves the response of a claimed idempotency key.
    #[tracing::instrument(skip_all)]
    pub async fn finish_idempotent(&self, scope: &str, key: &str, response: &StoredResponse) -> Result<(), DbError> {
        let sql = r#"update idempotency set response_status = $3, response_body = $4, response_location = $5
            where scope = $1 and idempotency_key = $2"#;
        in_own_tx!(self, |db| sqlx::query(sql)
            .bind(scope)
            .bind(key)
            .bind(i32::from(response.status))
            .bind(&response.body)
            .bind(response.location.as_deref())
            .execute(db)
            .await
            .map(|_| ()));
        Ok(())
    }

    /// Releases a claim whose request failed before producing a response worth replaying.
    #[tracing::instrument(skip_all)]
    pub async fn abandon_idempotent(&self, scope: &str, key: &str) -> Result<(), DbError> {
        let sql = "delete from idempotency where scope = $1 and idempotency_key = $2 and response_status is null";
        in_own_tx!(self, |db| sqlx::query(sql).bind(scope).bind(key).execute(db).await.map(|_| ()));
        Ok(())
    }
}

/// What a stored idempotency row means for a new request with `request_hash`. `None` means
/// the claim vanished between the insert and the read (abandoned): treat as in flight.
fn idempotency_state(row: Option<IdempotencyRow>, request_hash: &[u8]) -> IdempotencyStart {
    match row {
        None => IdempotencyStart::InFlight,
        Some((hash, ..)) if hash != request_hash => IdempotencyStart::Mismatch,
        Some((_, Some(status), Some(body), location)) => {
            IdempotencyStart::Replay(StoredResponse { status: u16::try_from(status).unwrap_or(500), body, location })
        }
        Some(_) => IdempotencyStart::InFlight,
    }
}
