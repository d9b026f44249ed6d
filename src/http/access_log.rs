//! The access log: one event per answered request (method, path, status, `x-request-id`,
//! latency), at a level chosen by the status so the default `info` filter keeps what an
//! operator acts on and drops the rest.
//!
//! - 2xx/3xx: `debug`. Single-record ingest answers tens of thousands of these a second; a
//!   log line (or an `info` span) each cost about as much CPU as the request itself.
//! - 4xx: `info` (a client that is refused, throttled with 429, or sends bad data).
//! - 5xx: `warn` (503 when the database is away; a 500 is also logged at `error` with its
//!   cause where it happens).
//!
//! Stage: the HTTP edge (middleware `startup` wraps the app in). Knows no route.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::HttpMessage;
use tracing::Level;

use super::RequestId;

/// The level a request answered with `status` is logged at.
pub fn access_level(status: StatusCode) -> Level {
    if status.is_server_error() {
        Level::WARN
    } else if status.is_client_error() {
        Level::INFO
    } else {
        Level::DEBUG
    }
}

/// Middleware: logs each answer (see the module docs). Wrap it outside
/// [`super::assign_request_id`], whose id it reads back from the answered request.
///
/// # Errors
/// Whatever the wrapped service fails with.
pub async fn log_access(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let response = next.call(request).await?;
    let status = response.status();
    let request = response.request();
    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    // `tracing::event!` needs a constant level: one arm each, same fields.
    macro_rules! access {
        ($level:expr) => {
            if tracing::enabled!($level) {
                let id = request.extensions().get::<RequestId>().map(|id| id.0.clone()).unwrap_or_default();
                tracing::event!(
                    $level,
                    method = %request.method(),
                    path = request.path(),
                    status = status.as_u16(),
                    request_id = %id,
                    micros,
                    "request answered"
                );
            }
        };
    }
    match access_level(status) {
        Level::WARN => access!(Level::WARN),
        Level::INFO => access!(Level::INFO),
        _ => access!(Level::DEBUG),
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_requests_are_logged_at_debug_refusals_at_info_failures_at_warn() {
        assert_eq!(access_level(StatusCode::OK), Level::DEBUG);
        assert_eq!(access_level(StatusCode::NO_CONTENT), Level::DEBUG);
        assert_eq!(access_level(StatusCode::UNPROCESSABLE_ENTITY), Level::INFO);
        assert_eq!(access_level(StatusCode::TOO_MANY_REQUESTS), Level::INFO);
        assert_eq!(access_level(StatusCode::UNAUTHORIZED), Level::INFO);
        assert_eq!(access_level(StatusCode::SERVICE_UNAVAILABLE), Level::WARN);
        assert_eq!(access_level(StatusCode::INTERNAL_SERVER_ERROR), Level::WARN);
    }
}
