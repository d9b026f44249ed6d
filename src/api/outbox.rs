//! Outbox visibility: `GET /v1/outbox` (api-spec `listOutbox`: deliveries with attempts, last
//! error and next attempt; filters `status`, `tenant`, `kind`; cursor pagination) and
//! `POST /v1/outbox/{id}/retry` (`retryOutbox`: due now, a sent email is sent again with the
//! same Message-ID). Global admin only.
//!
//! Stage: the HTTP edge. Parses, reads or moves one delivery through the store, answers.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::page::{next_cursor, page_limit, page_response, parse_time_cursor, time_cursor};
use crate::auth::GlobalAdmin;
use crate::domain::TenantId;
use crate::http::{ApiError, DeferredQuery, Idempotent, JsonReply};
use crate::store::{Delivery, DeliveryFilter, DeliveryState, RetryOutcome, Store};

/// Query of `listOutbox`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxQuery {
    status: Option<String>,
    tenant: Option<String>,
    kind: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

/// One delivery as answered.
#[derive(Debug, Serialize)]
pub struct DeliveryResponse {
    id: String,
    tenant_id: String,
    event_id: String,
    kind: String,
    channel: String,
    recipient: String,
    status: &'static str,
    attempts: u32,
    last_error: Option<String>,
    next_attempt_at: Option<DateTime<Utc>>,
    sent_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// Deliveries, newest first.
#[tracing::instrument(skip_all)]
pub async fn list_outbox(
    _caller: GlobalAdmin,
    query: DeferredQuery<OutboxQuery>,
    store: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    let query = query.parsed()?;
    let bad = |m: &str| ApiError::bad_request("invalid_query", m.to_owned());
    let filter = DeliveryFilter {
        state: query
            .status
            .as_deref()
            .map(|s| DeliveryState::parse(s).ok_or_else(|| bad("status must be pending, sending, sent or failed")))
            .transpose()?,
        tenant: query
            .tenant
            .as_deref()
            .map(|t| TenantId::parse(t).map_err(|_| bad("tenant is not a tenant id")))
            .transpose()?,
        kind: query.kind.clone(),
    };
    let limit = page_limit(query.limit, 200);
    let before = query.cursor.as_deref().map(parse_time_cursor).transpose()?.map(|(at, id)| (at, id.to_owned()));
    let deliveries = store.list_deliveries(&filter, before, limit).await?;
    let next_cursor = next_cursor(&deliveries, limit, |d| time_cursor(d.created_at, &d.delivery_id));
    let data: Vec<_> = deliveries.into_iter().map(response).collect();
    Ok(page_response(data, next_cursor))
}

/// Makes one delivery due now.
#[tracing::instrument(skip_all, fields(delivery_id = %path))]
pub async fn retry_outbox(path: web::Path<String>, request: Idempotent<GlobalAdmin>) -> Result<HttpResponse, ApiError> {
    let tenant =
        path.split_once('.').and_then(|(t, _)| TenantId::parse(t).ok()).ok_or(ApiError::NotFound("delivery"))?;
    request
        .run(|| async {
            match request.store().retry_delivery(&tenant, &path, request.now()).await? {
                RetryOutcome::Scheduled(delivery) => JsonReply::ok(response(*delivery)),
                RetryOutcome::InFlight => Err(ApiError::Conflict {
                    code: "delivery_in_flight",
                    message: "a sender holds this delivery now; retry after its lease".into(),
                }),
                RetryOutcome::NotFound => Err(ApiError::NotFound("delivery")),
            }
        })
        .await
}

fn response(d: Delivery) -> DeliveryResponse {
    let waiting = matches!(d.state, DeliveryState::Pending | DeliveryState::Sending);
    DeliveryResponse {
        id: d.delivery_id,
        tenant_id: d.tenant.to_string(),
        event_id: d.message_id,
        kind: d.kind,
        channel: d.channel,
        recipient: d.recipient,
        status: d.state.as_str(),
        attempts: d.attempts,
        last_error: Some(d.last_error).filter(|e| !e.is_empty()),
        next_attempt_at: waiting.then_some(d.next_attempt_at),
        sent_at: d.sent_at,
        created_at: d.created_at,
        updated_at: d.updated_at,
    }
}
