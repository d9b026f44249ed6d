//! `api_key` table (global). Only SHA-256 hashes of secrets are stored; `auth` gives the
//! columns their meaning.

use chrono::{DateTime, Utc};

use super::codec::{instant, tenant_id, Instant};
use super::engine::{execute_in_own_tx, in_own_tx, on_read};
use super::{DbError, Store, StoredApiKey};

#[derive(sqlx::FromRow)]
struct ApiKeyRow {
    key_id: String,
    secret_hash: Vec<u8>,
    role: String,
    tenant_id: String,
    created_at: Instant,
    revoked_at: Option<Instant>,
}

impl TryFrom<ApiKeyRow> for StoredApiKey {
    type Error = DbError;

    fn try_from(r: ApiKeyRow) -> Result<Self, DbError> {
        let secret_hash = r
            .secret_hash
            .as_slice()
            .try_into()
            .map_err(|_| DbError::Corrupt(format!("api key {}: hash is not 32 bytes", r.key_id)))?;
        let tenant = if r.tenant_id.is_empty() { None } else { Some(tenant_id(&r.tenant_id)?) };
        Ok(StoredApiKey {
            key_id: r.key_id,
            secret_hash,
            role: r.role,
            tenant,
            created_at: r.created_at.0,
            revoked_at: instant(r.revoked_at),
        })
    }
}

const COLUMNS: &str = "key_id, secret_hash, role, tenant_id, created_at, revoked_at";

impl Store {
    /// Stores a new API key (only its hash).
    #[tracing::instrument(skip_all, fields(key_id = %key.key_id))]
    pub async fn insert_api_key(&self, key: &StoredApiKey) -> Result<(), DbError> {
        let sql = r#"insert into api_key (key_id, secret_hash, role, tenant_id, created_at)
            values ($1, $2, $3, $4, $5)"#;
        in_own_tx!(self, |db| sqlx::query(sql)
            .bind(key.key_id.as_str())
            .bind(&key.secret_hash[..])
            .bind(key.role.as_str())
            .bind(key.tenant.as_ref().map_or("", |t| t.as_str()))
            .bind(Instant(key.created_at))
            .execute(db)
            .await
            .map(|_| ()));
        Ok(())
    }

    /// Reads an API key by its public id.
    #[tracing::instrument(skip_all)]
    pub async fn get_api_key(&self, key_id: &str) -> Result<Option<StoredApiKey>, DbError> {
        let sql = format!("select {COLUMNS} from api_key where key_id = $1");
        let row: Option<ApiKeyRow> =
            on_read!(self.read(), |db| sqlx::query_as(&sql).bind(key_id).fetch_optional(db).await)?;
        row.map(StoredApiKey::try_from).transpose()
    }

    /// Every API key, newest first.
    #[tracing::instrument(skip_all)]
    pub async fn list_api_keys(&self) -> Result<Vec<StoredApiKey>, DbError> {
        let sql = format!("select {COLUMNS} from api_key order by created_at desc, key_id");
        let rows: Vec<ApiKeyRow> = on_read!(self.read(), |db| sqlx::query_as(&sql).fetch_all(db).await)?;
        rows.into_iter().map(StoredApiKey::try_from).collect()
    }

    /// Marks a key revoked; false when no unrevoked key has that id.
    #[tracing::instrument(skip_all)]
    pub async fn revoke_api_key(&self, key_id: &str, now: DateTime<Utc>) -> Result<bool, DbError> {
        let sql = "update api_key set revoked_at = $2 where key_id = $1 and revoked_at is null";
        let done = execute_in_own_tx!(self, sqlx::query(sql).bind(key_id).bind(Instant(now)));
        Ok(done == 1)
    }
}
