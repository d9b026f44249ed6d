//! `Idempotency-Key` for mutating admin requests: the first request with a key runs; a retry
//! with the same body gets the stored response; the same key with another body is refused
//! (422), and a retry while the first is still running gets 409.
//!
//! Stage: the HTTP edge. Inputs: the request, its body and a handler; output: the handler's
//! answer, run at most once per key (records kept in the store). Knows no route or caller type.

use std::future::Future;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

use super::ApiError;
use crate::clock::SharedClock;
use crate::store::{IdempotencyStart, Store, StoredResponse};

/// A JSON answer that can be stored and replayed.
pub struct JsonReply {
    pub status: StatusCode,
    pub body: serde_json::Value,
}

impl JsonReply {
    /// 200 with `body`.
    pub fn ok(body: impl serde::Serialize) -> Result<Self, ApiError> {
        Self::with_status(StatusCode::OK, body)
    }

    /// `status` with `body`.
    pub fn with_status(status: StatusCode, body: impl serde::Serialize) -> Result<Self, ApiError> {
        let body = serde_json::to_value(body).map_err(|e| ApiError::Unexpected(e.into()))?;
        Ok(Self { status, body })
    }

    fn into_response(self) -> HttpResponse {
        HttpResponse::build(self.status).json(self.body)
    }
}

/// Runs `handler` at most once per (`scope`, `Idempotency-Key`), replaying its answer.
///
/// # Errors
/// 409 `idempotency_key_in_use`, 422 `idempotency_key_reused`, or the handler's error.
pub async fn run_idempotent<Fut>(
    request: &HttpRequest,
    body: &[u8],
    scope: &str,
    store: &Store,
    clock: &SharedClock,
    handler: impl FnOnce() -> Fut,
) -> Result<HttpResponse, ApiError>
where
    Fut: Future<Output = Result<JsonReply, ApiError>>,
{
    let Some(key) = idempotency_key(request)? else {
        return Ok(handler().await?.into_response());
    };
    let mut hasher = Sha256::new();
    for part in [request.method().as_str().as_bytes(), request.path().as_bytes(), body] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    let request_hash = hasher.finalize();
    let db = ApiError::from;
    match store.start_idempotent(scope, &key, &request_hash, clock.now()).await.map_err(db)? {
        IdempotencyStart::Claimed => {}
        IdempotencyStart::Replay(stored) => return Ok(replay(stored)),
        IdempotencyStart::InFlight => {
            return Err(ApiError::Conflict {
                code: "idempotency_key_in_use",
                message: "a request with this Idempotency-Key is still being processed".into(),
            })
        }
        IdempotencyStart::Mismatch => {
            return Err(ApiError::unprocessable(
                "idempotency_key_reused",
                "this Idempotency-Key was used with a different request",
            ))
        }
    }
    match handler().await {
        Ok(reply) => {
            let stored = StoredResponse { status: reply.status.as_u16(), body: reply.body.to_string().into_bytes() };
            store.finish_idempotent(scope, &key, &stored).await.map_err(db)?;
            Ok(reply.into_response())
        }
        Err(error) => {
            store.abandon_idempotent(scope, &key).await.map_err(db)?;
            Err(error)
        }
    }
}

fn idempotency_key(request: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = request.headers().get("idempotency-key") else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key) if (1..=255).contains(&key.len()) => Ok(Some(key.to_owned())),
        _ => Err(ApiError::bad_request(
            "invalid_idempotency_key",
            "Idempotency-Key must be 1-255 visible ASCII characters",
        )),
    }
}

fn replay(stored: StoredResponse) -> HttpResponse {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    HttpResponse::build(status)
        .insert_header(("Idempotent-Replayed", "true"))
        .content_type("application/json")
        .body(stored.body)
}
