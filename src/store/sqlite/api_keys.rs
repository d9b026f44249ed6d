//! `api_key` table (global). Only SHA-256 hashes of secrets are stored.

use chrono::{DateTime, Utc};
use sqlx::{Sqlite, SqlitePool, Transaction};

use crate::auth::ApiKey;
use crate::store::convert::{api_key, from_micros, micros, ApiKeyColumns};
use crate::store::DbError;

#[derive(sqlx::FromRow)]
struct ApiKeyRow {
    key_id: String,
    secret_hash: Vec<u8>,
    role: String,
    tenant_id: String,
    created_at: i64,
    revoked_at: Option<i64>,
}

impl TryFrom<ApiKeyRow> for ApiKey {
    type Error = DbError;

    fn try_from(r: ApiKeyRow) -> Result<Self, DbError> {
        api_key(ApiKeyColumns {
            key_id: r.key_id,
            secret_hash: r.secret_hash,
            role: r.role,
            tenant_id: r.tenant_id,
            created_at: from_micros(r.created_at)?,
            revoked_at: r.revoked_at.map(from_micros).transpose()?,
        })
    }
}

const COLUMNS: &str = "key_id, secret_hash, role, tenant_id, created_at, revoked_at";

#[tracing::instrument(skip_all, fields(key_id = %key.key_id().as_str()))]
pub(super) async fn insert(tx: &mut Transaction<'_, Sqlite>, key: &ApiKey) -> Result<(), DbError> {
    sqlx::query(
        r#"insert into api_key (key_id, secret_hash, role, tenant_id, created_at)
        values ($1, $2, $3, $4, $5)"#,
    )
    .bind(key.key_id().as_str())
    .bind(&key.secret_hash()[..])
    .bind(key.role().as_str())
    .bind(key.tenant().map_or("", |t| t.as_str()))
    .bind(micros(key.created_at()))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[tracing::instrument(skip_all)]
pub(super) async fn get(pool: &SqlitePool, key_id: &str) -> Result<Option<ApiKey>, DbError> {
    let sql = format!("select {COLUMNS} from api_key where key_id = $1");
    let row: Option<ApiKeyRow> = sqlx::query_as(&sql).bind(key_id).fetch_optional(pool).await?;
    row.map(ApiKey::try_from).transpose()
}

#[tracing::instrument(skip_all)]
pub(super) async fn list(pool: &SqlitePool) -> Result<Vec<ApiKey>, DbError> {
    let sql = format!("select {COLUMNS} from api_key order by created_at desc, key_id");
    let rows: Vec<ApiKeyRow> = sqlx::query_as(&sql).fetch_all(pool).await?;
    rows.into_iter().map(ApiKey::try_from).collect()
}

#[tracing::instrument(skip_all)]
pub(super) async fn revoke(
    tx: &mut Transaction<'_, Sqlite>,
    key_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let done = sqlx::query("update api_key set revoked_at = $2 where key_id = $1 and revoked_at is null")
        .bind(key_id)
        .bind(micros(now))
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() == 1)
}
