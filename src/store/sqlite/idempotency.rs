//! `idempotency` table: at most one execution per (scope, Idempotency-Key).

use chrono::{DateTime, Utc};
use sqlx::{Sqlite, Transaction};

use crate::store::convert::{idempotency_state, micros, IdempotencyRow};
use crate::store::{DbError, IdempotencyStart, StoredResponse};

#[tracing::instrument(skip_all)]
pub(super) async fn start(
    tx: &mut Transaction<'_, Sqlite>,
    scope: &str,
    key: &str,
    request_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<IdempotencyStart, DbError> {
    let claimed = sqlx::query(
        r#"insert into idempotency (scope, idempotency_key, request_hash, created_at)
        values ($1, $2, $3, $4)
        on conflict do nothing"#,
    )
    .bind(scope)
    .bind(key)
    .bind(request_hash)
    .bind(micros(now))
    .execute(&mut **tx)
    .await?;
    if claimed.rows_affected() == 1 {
        return Ok(IdempotencyStart::Claimed);
    }
    let row: Option<IdempotencyRow> = sqlx::query_as(
        "select request_hash, response_status, response_body from idempotency where scope = $1 and idempotency_key = $2",
    )
    .bind(scope)
    .bind(key)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(idempotency_state(row, request_hash))
}

#[tracing::instrument(skip_all)]
pub(super) async fn finish(
    tx: &mut Transaction<'_, Sqlite>,
    scope: &str,
    key: &str,
    response: &StoredResponse,
) -> Result<(), DbError> {
    sqlx::query(
        r#"update idempotency set response_status = $3, response_body = $4
        where scope = $1 and idempotency_key = $2"#,
    )
    .bind(scope)
    .bind(key)
    .bind(i32::from(response.status))
    .bind(&response.body)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[tracing::instrument(skip_all)]
pub(super) async fn abandon(tx: &mut Transaction<'_, Sqlite>, scope: &str, key: &str) -> Result<(), DbError> {
    sqlx::query("delete from idempotency where scope = $1 and idempotency_key = $2 and response_status is null")
        .bind(scope)
        .bind(key)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
