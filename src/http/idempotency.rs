//! `Idempotency-Key` for mutating admin requests: the first request with a key runs; a retry
//! with the same body gets the stored response; the same key with another body is refused
//! (422), and a retry while the first is still running gets 409.
//!
//! Every mutating admin route takes an [`Idempotent`] extractor: it bundles what the replay
//! needs (the request, its raw body, the caller's scope, the store and the clock) so a handler
//! only parses, then hands its one service call to [`Idempotent::run`].
//!
//! Stage: the HTTP edge. Inputs: the request, its body and a handler; output: the handler's
//! answer, run at most once per key (records kept in the store). Knows no route, and knows
//! callers only through [`IdempotencyScope`] (`auth` implements it; `http` must not import `auth`).

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{FromRequest, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use futures_util::future::try_join;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::{parse_json, ApiError, JsonBody, RequestId};
use crate::clock::SharedClock;
use crate::domain::{Actor, TenantId};
use crate::store::{IdempotencyStart, Store, StoredResponse};

/// A caller whose `Idempotency-Key`s are their own: two callers never replay (or collide with)
/// each other's keys. The same three parts name the caller as the audit log's [`Actor`].
pub trait IdempotencyScope {
    /// Everything that tells this caller from another: role, tenant scope (`""` when none —
    /// tenant ids are never empty) and subject. A subject alone is not enough: `tally token
    /// issue` names every CLI token `cli`, whichever tenant it is scoped to.
    fn idempotency_owner(&self) -> [&str; 3];
}

/// A mutating request that honours `Idempotency-Key`: the caller `C` (any caller extractor),
/// the raw JSON body (at most 1 MiB), and the store and clock that keep the replay records.
///
/// The body and the caller are extracted together, polled in that order, as two separate
/// extractor arguments would be (so a 413 or a 401 wins exactly as before).
pub struct Idempotent<C> {
    /// Who is asking.
    pub caller: C,
    request: HttpRequest,
    body: Bytes,
    store: web::Data<Store>,
    clock: web::Data<SharedClock>,
}

impl<C: IdempotencyScope> Idempotent<C> {
    /// The raw body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body parsed as `T`, see [`parse_json`].
    ///
    /// # Errors
    /// 400 `malformed_json`, 422 `invalid_body`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        parse_json(&self.body)
    }

    /// The store the handler works on.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The clock's current instant.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The caller, in this request, as the audit log names who made a change.
    pub fn actor(&self) -> Actor {
        actor(&self.caller, RequestId::of(&self.request))
    }

    /// Runs `handler` at most once per (caller, route, `Idempotency-Key`), replaying its answer.
    ///
    /// # Errors
    /// 409 `idempotency_key_in_use`, 422 `idempotency_key_reused`, or the handler's error.
    pub async fn run<Fut>(&self, handler: impl FnOnce() -> Fut) -> Result<HttpResponse, ApiError>
    where
        Fut: Future<Output = Result<JsonReply, ApiError>>,
    {
        let scope = scope_of(self.caller.idempotency_owner(), &self.request);
        run_idempotent(&self.request, &self.body, &scope, &self.store, &self.clock, handler).await
    }
}

impl<C> FromRequest for Idempotent<C>
where
    C: FromRequest<Error = ApiError> + 'static,
{
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = JsonBody::from_request(request, payload);
        let caller = C::from_request(request, payload);
        let request = request.clone();
        Box::pin(async move {
            let (JsonBody(body), caller) = try_join(body, caller).await?;
            let store = app_data::<Store>(&request, "the store")?;
            let clock = app_data::<SharedClock>(&request, "the clock")?;
            Ok(Self { caller, request, body, store, clock })
        })
    }
}

/// The key space of a request: the caller (role, tenant, subject) and the route (method and
/// matched pattern, e.g. `POST /v1/tenants/{id}/credits`), as a JSON array so that no part can
/// run into the next (and a NUL in a subject stays escaped text). The same key on another route
/// is another key; on the same route with another path or body it is a reuse (422).
fn scope_of([role, tenant, subject]: [&str; 3], request: &HttpRequest) -> String {
    let route = request.match_pattern().unwrap_or_else(|| request.path().to_owned());
    serde_json::json!([role, tenant, subject, request.method().as_str(), route]).to_string()
}

fn app_data<T: 'static>(request: &HttpRequest, what: &str) -> Result<web::Data<T>, ApiError> {
    request
        .app_data::<web::Data<T>>()
        .cloned()
        .ok_or_else(|| ApiError::Unexpected(anyhow::anyhow!("{what} is not configured")))
}

/// `caller`, in the request `request_id`, as the audit log's [`Actor`].
pub fn actor(caller: &impl IdempotencyScope, request_id: RequestId) -> Actor {
    let [role, tenant, subject] = caller.idempotency_owner();
    Actor {
        role: role.to_owned(),
        subject: subject.to_owned(),
        tenant_id: TenantId::parse(tenant).ok(),
        request_id: request_id.0,
    }
}

/// A JSON answer that can be stored and replayed.
pub struct JsonReply {
    pub status: StatusCode,
    pub body: serde_json::Value,
    /// The `Location` header, replayed too.
    pub location: Option<String>,
}

impl JsonReply {
    /// 200 with `body`.
    pub fn ok(body: impl serde::Serialize) -> Result<Self, ApiError> {
        Self::with_status(StatusCode::OK, body)
    }

    /// `status` with `body`.
    pub fn with_status(status: StatusCode, body: impl serde::Serialize) -> Result<Self, ApiError> {
        let body = serde_json::to_value(body).map_err(|e| ApiError::Unexpected(e.into()))?;
        Ok(Self { status, body, location: None })
    }

    /// The same answer with a `Location` header.
    #[must_use]
    pub fn located(self, location: String) -> Self {
        Self { location: Some(location), ..self }
    }

    fn into_response(self) -> HttpResponse {
        with_location(HttpResponse::build(self.status), self.location).json(self.body)
    }
}

async fn run_idempotent<Fut>(
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
            let stored = StoredResponse {
                status: reply.status.as_u16(),
                body: reply.body.to_string().into_bytes(),
                location: reply.location.clone(),
            };
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
    with_location(HttpResponse::build(status), stored.location)
        .insert_header(("Idempotent-Replayed", "true"))
        .content_type("application/json")
        .body(stored.body)
}

fn with_location(
    mut response: actix_web::HttpResponseBuilder,
    location: Option<String>,
) -> actix_web::HttpResponseBuilder {
    if let Some(location) = location {
        response.insert_header((actix_web::http::header::LOCATION, location));
    }
    response
}
