//! `api_key` table (global). Only SHA-256 hashes of secrets are stored; `auth` gives the
//! columns their meaning.

use chrono::{DateTime, Utc};

use super::codec::{instant, optional_tenant_id, Instant};
use super::engine::{on_read, on_tx};
use super::{audit, DbError, Store, StoredApiKey};
use crate::domain::{Actor, AuditTarget};

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
        let tenant = optional_tenant_id(&r.tenant_id)?;
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
    /// Stores a new API key (only its hash), with the `api_key.created` audit event of `actor`.
    #[tracing::instrument(skip_all, fields(key_id = %key.key_id))]
    pub async fn insert_api_key(&self, key: &StoredApiKey, actor: &Actor) -> Result<(), DbError> {
        let sql = r#"insert into api_key (key_id, secret_hash, role, tenant_id, created_at)
            values ($1, $2, $3, $4, $5)"#;
        let mut tx = self.begin().await?;
        on_tx!(&mut tx, |db| sqlx::query(sql)
            .bind(key.key_id.as_str())
            .bind(&key.secret_hash[..])
            .bind(key.role.as_str())
            .bind(key.tenant.as_ref().map_or("", |t| t.as_str()))
            .bind(Instant(key.created_at))
            .execute(db)
            .await
            .map(|_| ()))?;
        let target = AuditTarget::object("api_key", &key.key_id, key.tenant.as_ref());
        let detail = serde_json::json!({ "role": key.role });
        audit::append(&mut tx, actor, "api_key.created", &target, detail, key.created_at).await?;
        tx.commit().await
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

    /// Marks a key revoked, with the `api_key.revoked` audit event of `actor`; false (and no
    /// event) when no unrevoked key has that id.
    #[tracing::instrument(skip_all)]
    pub async fn revoke_api_key(&self, key_id: &str, now: DateTime<Utc>, actor: &Actor) -> Result<bool, DbError> {
        let sql = "update api_key set revoked_at = $2 where key_id = $1 and revoked_at is null returning tenant_id";
        let mut tx = self.begin().await?;
        let revoked: Option<(String,)> =
            on_tx!(&mut tx, |db| sqlx::query_as(sql).bind(key_id).bind(Instant(now)).fetch_optional(db).await)?;
        let Some((tenant,)) = revoked else { return Ok(false) };
        let tenant = optional_tenant_id(&tenant)?;
        let target = AuditTarget::object("api_key", key_id, tenant.as_ref());
        audit::append(&mut tx, actor, "api_key.revoked", &target, serde_json::json!({}), now).await?;
        tx.commit().await?;
        Ok(true)
    }
}
