//! Webhook endpoints: `POST /v1/webhooks` (api-spec `createWebhook`; the secret is shown
//! once, in this answer), `GET /v1/webhooks` (`listWebhooks`), `DELETE /v1/webhooks/{id}`
//! (`deleteWebhook`). Global admin only: endpoints receive every tenant's events.
//!
//! Stage: the HTTP edge. Parses and validates, writes the store, answers; the signing and the
//! delivery are `notify`'s.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::page::{invalid_cursor, next_cursor, page_limit, page_response, PageQuery};
use crate::auth::GlobalAdmin;
use crate::clock::SharedClock;
use crate::http::{actor, ApiError, DeferredQuery, Idempotent, JsonReply, RequestId};
use crate::notify::{generate_webhook_secret, WEBHOOK_EVENTS};
use crate::store::{Store, WebhookEndpoint};

/// Body of `createWebhook`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookRequest {
    url: String,
    events: Vec<String>,
}

/// An endpoint as answered; `secret` only on creation.
#[derive(Debug, Serialize)]
pub struct WebhookResponse {
    id: String,
    url: String,
    events: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
    created_at: DateTime<Utc>,
}

/// Registers an endpoint and answers its secret, once.
#[tracing::instrument(skip_all)]
pub async fn create_webhook(request: Idempotent<GlobalAdmin>) -> Result<HttpResponse, ApiError> {
    let (url, events) = validate(request.json()?)?;
    request
        .run(|| async {
            let endpoint = WebhookEndpoint {
                endpoint_id: format!("wh_{}", uuid::Uuid::new_v4().simple()),
                url,
                events,
                secret: generate_webhook_secret(),
                created_at: request.now(),
            };
            request.store().insert_webhook(&endpoint, &request.actor()).await?;
            JsonReply::with_status(StatusCode::CREATED, response(endpoint, true))
        })
        .await
}

/// Every endpoint, by id, without secrets.
#[tracing::instrument(skip_all)]
pub async fn list_webhooks(
    _caller: GlobalAdmin,
    query: DeferredQuery<PageQuery>,
    store: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    let query = query.parsed()?;
    let limit = page_limit(query.limit, 200);
    if query.cursor.as_deref().is_some_and(|cursor| !is_endpoint_id(cursor)) {
        return Err(invalid_cursor());
    }
    let endpoints = store.list_webhooks(query.cursor.as_deref(), limit).await?;
    let next_cursor = next_cursor(&endpoints, limit, |e| e.endpoint_id.clone());
    let data: Vec<_> = endpoints.into_iter().map(|e| response(e, false)).collect();
    Ok(page_response(data, next_cursor))
}

/// Removes an endpoint; its deliveries not yet sent then fail.
#[tracing::instrument(skip_all, fields(endpoint_id = %path))]
pub async fn delete_webhook(
    path: web::Path<String>,
    caller: GlobalAdmin,
    request_id: RequestId,
    store: web::Data<Store>,
    clock: web::Data<SharedClock>,
) -> Result<HttpResponse, ApiError> {
    if !is_endpoint_id(&path) || !store.delete_webhook(&path, clock.now(), &actor(&caller, request_id)).await? {
        return Err(ApiError::NotFound("webhook"));
    }
    Ok(HttpResponse::NoContent().finish())
}

fn response(e: WebhookEndpoint, with_secret: bool) -> WebhookResponse {
    WebhookResponse {
        id: e.endpoint_id,
        url: e.url,
        events: e.events,
        secret: with_secret.then_some(e.secret),
        created_at: e.created_at,
    }
}

fn is_endpoint_id(text: &str) -> bool {
    text.strip_prefix("wh_").is_some_and(|hex| hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit()))
}

/// An absolute http(s) URL of at most 2048 characters, and a non-empty set of known events.
fn validate(wanted: CreateWebhookRequest) -> Result<(String, Vec<String>), ApiError> {
    let url = reqwest::Url::parse(&wanted.url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some() && wanted.url.len() <= 2048);
    if url.is_none() || wanted.url.chars().any(char::is_control) {
        return Err(ApiError::unprocessable("invalid_webhook", "url must be an absolute http or https URL"));
    }
    let mut events = wanted.events;
    events.sort();
    events.dedup();
    if events.is_empty() || events.iter().any(|e| !WEBHOOK_EVENTS.contains(&e.as_str())) {
        let known = WEBHOOK_EVENTS.join(", ");
        return Err(ApiError::unprocessable("invalid_webhook", format!("events must be some of: {known}")));
    }
    Ok((wanted.url, events))
}
