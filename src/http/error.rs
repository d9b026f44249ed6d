//! The one HTTP error type. Module errors convert into it with `From`; handlers return
//! `Result<HttpResponse, ApiError>` and use plain `?`.
//!
//! Stage: the HTTP edge. This is the one place module errors (`store`, `invoice`) become
//! statuses and codes; it must not import the route modules (`api`, `ingest`, `auth`).
//!
//! Every error body is `{"error": {"code", "message"}}` (api-spec `Error`); 5xx bodies are
//! generic and the cause chain goes to the log.

use std::fmt;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};

use crate::invoice::{AsOfError, CurrentUsageError, SubscriptionError};

/// An error answered to an HTTP client.
#[derive(thiserror::Error)]
pub enum ApiError {
    /// 400 with a stable code.
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("authentication required")]
    Unauthorized,
    #[error("this credential may not do that")]
    Forbidden,
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 405; `allow` lists the resource's methods (the `Allow` header).
    #[error("method not allowed; this resource serves {allow}")]
    MethodNotAllowed { allow: String },
    /// 409 with a stable code.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("content type must be one of: {0}")]
    UnsupportedMediaType(&'static str),
    /// 413; the message says which limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 422 with a stable code.
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    #[error("too many requests in flight; retry after {retry_after_secs} s")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("the service is temporarily unavailable; retry after {retry_after_secs} s")]
    Unavailable { retry_after_secs: u64 },
    #[error(transparent)]
    Unexpected(anyhow::Error),
}

impl From<anyhow::Error> for ApiError {
    /// A database that went away deep inside an operation is still a 503, not a 500.
    fn from(error: anyhow::Error) -> Self {
        match error.downcast_ref::<crate::store::DbError>() {
            Some(crate::store::DbError::Unavailable(_)) => Self::Unavailable { retry_after_secs: 2 },
            _ => Self::Unexpected(error),
        }
    }
}

impl ApiError {
    /// A 400 with `code`.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest { code, message: message.into() }
    }

    /// A 422 with `code`.
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::Unprocessable { code, message: message.into() }
    }

    /// The stable machine-readable code (catalogued in `api-spec/`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. } | Self::Conflict { code, .. } | Self::Unprocessable { code, .. } => code,
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::TooManyRequests { .. } => "too_many_requests",
            Self::Unavailable { .. } => "service_unavailable",
            Self::Unexpected(_) => "internal_error",
        }
    }
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        error_chain_fmt(self, f)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let message = match self {
            Self::Unexpected(_) => {
                tracing::error!(error = ?self, "request failed unexpectedly");
                "an internal error occurred".to_owned()
            }
            other => other.to_string(),
        };
        let mut response = HttpResponse::build(self.status_code());
        match self {
            Self::TooManyRequests { retry_after_secs } | Self::Unavailable { retry_after_secs } => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            Self::Unauthorized => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            Self::MethodNotAllowed { allow } => {
                response.insert_header((header::ALLOW, allow.as_str()));
            }
            _ => {}
        }
        response.json(error_body(self.code(), &message))
    }
}

impl From<crate::store::DbError> for ApiError {
    /// An unreachable database is a 503 the client may retry; anything else is unexpected.
    fn from(error: crate::store::DbError) -> Self {
        match error {
            crate::store::DbError::Unavailable(_) => Self::Unavailable { retry_after_secs: 2 },
            other => Self::Unexpected(anyhow::Error::new(other)),
        }
    }
}

impl From<AsOfError> for ApiError {
    /// 422 `time_travel_not_allowed`.
    fn from(error: AsOfError) -> Self {
        match error {
            AsOfError::TimeTravelNotAllowed => Self::unprocessable("time_travel_not_allowed", error.to_string()),
        }
    }
}

impl From<SubscriptionError> for ApiError {
    /// 422 `unknown_plan` / `currency_change_not_at_period_start` / `invalid_start` /
    /// `credit_currency_mismatch`,
    /// 404 tenant, 409 `tenant_exists`.
    fn from(error: SubscriptionError) -> Self {
        match error {
            SubscriptionError::UnknownPlan(_) => Self::unprocessable("unknown_plan", error.to_string()),
            SubscriptionError::CurrencyChangeNotAtPeriodStart => {
                Self::unprocessable("currency_change_not_at_period_start", error.to_string())
            }
            SubscriptionError::InvalidStart(_) => Self::unprocessable("invalid_start", error.to_string()),
            SubscriptionError::TenantNotFound => Self::NotFound("tenant"),
            SubscriptionError::TenantExists(_) => Self::Conflict { code: "tenant_exists", message: error.to_string() },
            SubscriptionError::CreditCurrencyMismatch { .. } | SubscriptionError::NoBillingCurrency => {
                Self::unprocessable("credit_currency_mismatch", error.to_string())
            }
            SubscriptionError::Store(db) => db.into(),
        }
    }
}

impl From<CurrentUsageError> for ApiError {
    /// 404 tenant, 422 `amount_overflow`; anything else is a store failure (503 when
    /// unreachable) or unexpected.
    fn from(error: CurrentUsageError) -> Self {
        match error {
            CurrentUsageError::TenantNotFound => Self::NotFound("tenant"),
            CurrentUsageError::Overflow(_) => Self::unprocessable("amount_overflow", error.to_string()),
            CurrentUsageError::Store(db) => db.into(),
            CurrentUsageError::Unexpected(other) => other.into(),
        }
    }
}

/// The `{"error": {"code", "message"}}` body.
pub fn error_body(code: &str, message: &str) -> serde_json::Value {
    serde_json::json!({ "error": { "code": code, "message": message } })
}

/// Writes an error and every `source()` below it, one per line, for logs.
pub fn error_chain_fmt(e: &impl std::error::Error, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    writeln!(f, "{e}")?;
    let mut current = e.source();
    while let Some(cause) = current {
        writeln!(f, "Caused by:\n\t{cause}")?;
        current = cause.source();
    }
    Ok(())
}
