//! What goes wrong in the portal, answered as a page people can act on (never JSON, never
//! internals): 404 for anything not the session's tenant's, 403 for a refused form, 410 for a
//! used or expired sign-in link, 400 for a question the page cannot answer (a bad date, an
//! unknown grouping), 429 when a client asks for too many links, and a redirect to
//! the sign-in page without a session.
//!
//! Stage: the HTTP edge (portal). Converts `http::ApiError` (the shared services' errors) into
//! pages; 5xx causes go to the log only.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use super::page;
use super::view::Chrome;
use crate::http::{error_chain_fmt, ApiError};

/// A portal failure.
#[derive(thiserror::Error)]
pub enum PortalError {
    /// No live session: the browser is sent to the sign-in page.
    #[error("sign-in required")]
    SignInRequired,
    /// A form without its CSRF token, or with a wrong one.
    #[error("this form has expired or did not come from the billing portal")]
    CsrfRefused,
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A link or address the page cannot answer (query parameters out of range): the sentence
    /// says what to change.
    #[error("{0}")]
    InvalidRequest(String),
    /// The sign-in link was used already, has expired, or never existed.
    #[error("this sign-in link has expired or was already used")]
    LinkInvalid,
    #[error("too many sign-in requests; try again in a few minutes")]
    TooManyRequests,
    /// A shared service's error (503 when the database is away, …).
    #[error(transparent)]
    Api(ApiError),
    #[error(transparent)]
    Unexpected(anyhow::Error),
}

impl std::fmt::Debug for PortalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        error_chain_fmt(self, f)
    }
}

impl From<ApiError> for PortalError {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::NotFound(what) => Self::NotFound(what),
            other => Self::Api(other),
        }
    }
}

/// The shared services' errors become pages the way the API turns them into statuses.
macro_rules! through_api_error {
    ($($error:ty),*) => {$(
        impl From<$error> for PortalError {
            fn from(error: $error) -> Self {
                ApiError::from(error).into()
            }
        }
    )*};
}

through_api_error!(
    anyhow::Error,
    crate::store::DbError,
    crate::invoice::CurrentUsageError,
    crate::quota::QuotaSetError
);

#[derive(Template)]
#[template(path = "portal/templates/error.html")]
struct ErrorPage {
    chrome: Chrome,
    heading: String,
    message: String,
    show_sign_in: bool,
}

impl ResponseError for PortalError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::SignInRequired => StatusCode::SEE_OTHER,
            Self::CsrfRefused => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::LinkInvalid => StatusCode::GONE,
            Self::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Self::Api(api) => api.status_code(),
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if matches!(self, Self::SignInRequired) {
            return page::redirect("/portal/login").finish();
        }
        let status = self.status_code();
        if status.is_server_error() {
            tracing::error!(error = ?self, "portal request failed");
        }
        let (heading, message, show_sign_in) = match self {
            Self::NotFound(_) => ("Not found", "There is nothing here for your account.".to_owned(), false),
            Self::CsrfRefused => ("Form refused", format!("{self}. Reload the page and try again."), true),
            Self::LinkInvalid => ("Link no longer valid", format!("{}. Ask for a new one.", capitalised(self)), true),
            Self::TooManyRequests => ("Slow down", capitalised(self), true),
            _ if status.is_server_error() => {
                ("Something went wrong", "The billing portal could not answer. Try again shortly.".to_owned(), false)
            }
            other => ("Request refused", capitalised(other), false),
        };
        let body = ErrorPage { chrome: Chrome::anonymous(heading), heading: heading.into(), message, show_sign_in };
        let mut response = page::builder(status);
        if matches!(self, Self::TooManyRequests) {
            response.insert_header((header::RETRY_AFTER, "900"));
        }
        page::html_with(response, &body).unwrap_or_else(|_| HttpResponse::build(status).finish())
    }
}

fn capitalised(error: &PortalError) -> String {
    let text = error.to_string();
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}
