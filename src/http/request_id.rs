//! `x-request-id`: every request carries one — the caller's own when it sends a sensible one
//! (1-128 visible ASCII characters), else one generated here — and every answer echoes it, so
//! a client, the logs and the audit log (`GET /v1/audit`) can name the same request.
//!
//! Stage: the HTTP edge (middleware `startup` wraps the app in). Knows no route.

use std::future::{ready, Ready};

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest};

use super::ApiError;

/// The header's name.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The id of the request being served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

impl RequestId {
    /// The id [`assign_request_id`] gave `request` (a fresh one outside that middleware).
    pub fn of(request: &HttpRequest) -> Self {
        request.extensions().get::<RequestId>().cloned().unwrap_or_else(Self::generate)
    }

    /// A new random id: a v4 UUID from the thread's CSPRNG (`uuid::new_v4` asks the kernel,
    /// one `getrandom` system call for every request answered).
    pub fn generate() -> Self {
        Self(uuid::Builder::from_random_bytes(rand::random()).into_uuid().simple().to_string())
    }

    fn from_header(value: Option<&HeaderValue>) -> Option<Self> {
        let text = value?.to_str().ok()?;
        let sensible = (1..=128).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_graphic());
        sensible.then(|| Self(text.to_owned()))
    }
}

/// Middleware: gives the request its id and echoes it on the answer.
///
/// # Errors
/// Whatever the wrapped service fails with.
pub async fn assign_request_id(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = RequestId::from_header(request.headers().get(REQUEST_ID_HEADER)).unwrap_or_else(RequestId::generate);
    request.extensions_mut().insert(id.clone());
    let mut response = next.call(request).await?;
    if let Ok(value) = HeaderValue::from_str(&id.0) {
        response.headers_mut().insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    Ok(response)
}

impl FromRequest for RequestId {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self::of(request)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_distinct_version_4_uuids() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| RequestId::generate().0).collect();
        assert_eq!(ids.len(), 1000);
        for id in &ids {
            let uuid = uuid::Uuid::parse_str(id).unwrap();
            assert_eq!(uuid.get_version_num(), 4, "{id}");
            assert_eq!(uuid.get_variant(), uuid::Variant::RFC4122, "{id}");
        }
    }
}
