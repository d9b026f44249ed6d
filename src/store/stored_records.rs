//! Whether a record is already stored with the same content, read outside the write path:
//! for records the tenant gate refuses (a deactivated tenant, a period its policy keeps
//! closed), which never reach the writer. A runtime retrying a batch that was committed before
//! the gate closed must hear "duplicate", as DESIGN §3.1 promises for every retry.

use chrono::{DateTime, Utc};

use super::codec::{content_hash, Instant};
use super::engine::on_read;
use super::{DbError, Store};
use crate::domain::{ContentHash, RecordKey};

impl Store {
    /// The content hash stored for `key` at instant `at`, if such a record exists. The instant
    /// is part of a record's content, so a record stored at another instant is no duplicate
    /// (and naming it lets PostgreSQL read one partition).
    #[tracing::instrument(skip_all, fields(tenant_id = %key.tenant_id))]
    pub async fn stored_content_hash(
        &self,
        key: &RecordKey,
        at: DateTime<Utc>,
    ) -> Result<Option<ContentHash>, DbError> {
        let sql = "select content_hash from usage_record \
            where tenant_id = $1 and source = $2 and record_id = $3 and ts = $4";
        let row: Option<(Vec<u8>,)> = on_read!(self.read(), |db| sqlx::query_as(sql)
            .bind(key.tenant_id.as_str())
            .bind(&key.source)
            .bind(&key.record_id)
            .bind(Instant(at))
            .fetch_optional(db)
            .await)?;
        row.map(|(bytes,)| content_hash(bytes.as_slice())).transpose()
    }
}
