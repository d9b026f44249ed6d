//! `webhook_endpoint` (global, like API keys): operator-registered endpoints and the events
//! each subscribes to (stored as a comma-separated list of event names).

use chrono::{DateTime, Utc};

use super::codec::Instant;
use super::engine::{execute_on_tx, on_read, on_tx};
use super::{audit, DbError, Store, WebhookEndpoint};
use crate::domain::{Actor, AuditTarget};

#[derive(sqlx::FromRow)]
struct EndpointRow {
    endpoint_id: String,
    url: String,
    events: String,
    secret: String,
    created_at: Instant,
}

impl From<EndpointRow> for WebhookEndpoint {
    fn from(r: EndpointRow) -> Self {
        WebhookEndpoint {
            endpoint_id: r.endpoint_id,
            url: r.url,
            events: r.events.split(',').filter(|e| !e.is_empty()).map(str::to_owned).collect(),
            secret: r.secret,
            created_at: r.created_at.0,
        }
    }
}

const COLUMNS: &str = "endpoint_id, url, events, secret, created_at";

impl Store {
    /// Registers an endpoint, with the `webhook.created` audit event of `actor` (its URL and
    /// events; never its secret).
    #[tracing::instrument(skip_all, fields(endpoint_id = %endpoint.endpoint_id))]
    pub async fn insert_webhook(&self, endpoint: &WebhookEndpoint, actor: &Actor) -> Result<(), DbError> {
        let sql =
            "insert into webhook_endpoint (endpoint_id, url, events, secret, created_at) values ($1, $2, $3, $4, $5)";
        let mut tx = self.begin().await?;
        on_tx!(&mut tx, |db| sqlx::query(sql)
            .bind(&endpoint.endpoint_id)
            .bind(&endpoint.url)
            .bind(endpoint.events.join(","))
            .bind(&endpoint.secret)
            .bind(Instant(endpoint.created_at))
            .execute(db)
            .await
            .map(|_| ()))?;
        let target = AuditTarget::object("webhook", &endpoint.endpoint_id, None);
        let detail = serde_json::json!({ "url": endpoint.url, "events": endpoint.events });
        audit::append(&mut tx, actor, "webhook.created", &target, detail, endpoint.created_at).await?;
        tx.commit().await
    }

    /// Endpoints by id, after `after`, at most `limit`.
    #[tracing::instrument(skip_all)]
    pub async fn list_webhooks(&self, after: Option<&str>, limit: u32) -> Result<Vec<WebhookEndpoint>, DbError> {
        let sql =
            format!("select {COLUMNS} from webhook_endpoint where endpoint_id > $1 order by endpoint_id limit $2");
        let rows: Vec<EndpointRow> = on_read!(self.read(), |db| sqlx::query_as(&sql)
            .bind(after.unwrap_or(""))
            .bind(i64::from(limit))
            .fetch_all(db)
            .await)?;
        Ok(rows.into_iter().map(WebhookEndpoint::from).collect())
    }

    /// One endpoint.
    #[tracing::instrument(skip_all)]
    pub async fn get_webhook(&self, endpoint_id: &str) -> Result<Option<WebhookEndpoint>, DbError> {
        let sql = format!("select {COLUMNS} from webhook_endpoint where endpoint_id = $1");
        let row: Option<EndpointRow> =
            on_read!(self.read(), |db| sqlx::query_as(&sql).bind(endpoint_id).fetch_optional(db).await)?;
        Ok(row.map(WebhookEndpoint::from))
    }

    /// Every endpoint subscribed to `event` (there are few; filtered here, not in SQL).
    #[tracing::instrument(skip_all)]
    pub async fn webhooks_for(&self, event: &str) -> Result<Vec<WebhookEndpoint>, DbError> {
        let sql = format!("select {COLUMNS} from webhook_endpoint order by endpoint_id");
        let rows: Vec<EndpointRow> = on_read!(self.read(), |db| sqlx::query_as(&sql).fetch_all(db).await)?;
        Ok(rows.into_iter().map(WebhookEndpoint::from).filter(|e| e.events.iter().any(|e| e == event)).collect())
    }

    /// Removes an endpoint, with the `webhook.deleted` audit event of `actor`; false (and no
    /// event) when there was none. Its pending deliveries then fail.
    #[tracing::instrument(skip_all)]
    pub async fn delete_webhook(&self, endpoint_id: &str, now: DateTime<Utc>, actor: &Actor) -> Result<bool, DbError> {
        let sql = "delete from webhook_endpoint where endpoint_id = $1";
        let mut tx = self.begin().await?;
        if execute_on_tx!(&mut tx, sqlx::query(sql).bind(endpoint_id))? == 0 {
            return Ok(false);
        }
        let target = AuditTarget::object("webhook", endpoint_id, None);
        audit::append(&mut tx, actor, "webhook.deleted", &target, serde_json::json!({}), now).await?;
        tx.commit().await?;
        Ok(true)
    }
}
