//! How every portal answer is sent: HTML with the headers a page of private billing data
//! needs (no caching, no framing, a strict content security policy, no referrer — a sign-in
//! link's token must never leak through `Referer`), and 303 redirects after forms.
//!
//! Stage: the HTTP edge (portal). No business logic.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, HttpResponseBuilder};
use askama::Template;

use super::error::PortalError;

/// Inline SVG needs no script and no inline style, so the policy can forbid both.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A builder for `status` with the portal's headers.
pub(crate) fn builder(status: StatusCode) -> HttpResponseBuilder {
    let mut response = HttpResponse::build(status);
    response
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"));
    response
}

/// `template` rendered as the page of a `status` answer.
///
/// # Errors
/// When the template fails (a bug: unexpected).
pub(crate) fn html(status: StatusCode, template: &impl Template) -> Result<HttpResponse, PortalError> {
    html_with(builder(status), template)
}

/// `template` rendered into `response` (which may carry cookies already).
///
/// # Errors
/// When the template fails (a bug: unexpected).
pub(crate) fn html_with(
    mut response: HttpResponseBuilder,
    template: &impl Template,
) -> Result<HttpResponse, PortalError> {
    let body = template.render().map_err(|e| PortalError::Unexpected(e.into()))?;
    Ok(response.content_type("text/html; charset=utf-8").body(body))
}

/// 303 See Other to `location` (after a form, and to the sign-in page).
pub(crate) fn redirect(location: &str) -> HttpResponseBuilder {
    let mut response = builder(StatusCode::SEE_OTHER);
    response.insert_header((header::LOCATION, location));
    response
}
