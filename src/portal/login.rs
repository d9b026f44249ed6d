//! Signing in and out (DESIGN §11): `GET /portal/login` (the form), `POST /portal/login`
//! (queue a sign-in email), `GET /portal/auth?token=` (consume the link, open a session),
//! `POST /portal/logout` (revoke it).
//!
//! Stage: the HTTP edge (portal). The answer to `POST /portal/login` is the same page whether
//! or not the address belongs to a tenant (no enumeration), and as fast: the handler only
//! hands the address to the [`LoginQueue`](super::login_queue::LoginQueue), which looks it up
//! after the answer. An address that several tenants bill gets one email per tenant, each
//! with its own link (a session is for one tenant).

use std::collections::HashMap;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::context::Portal;
use super::cookie::{self, SameSite};
use super::csrf::{self, Form};
use super::error::PortalError;
use super::page;
use super::rate_limit::{client_key, Verdict};
use super::session::{cookie_value, SessionForm, SESSION_TTL};
use super::view::Chrome;
use crate::domain::{secret_hash, SecretToken};

/// The longest address SMTP carries (RFC 5321 path limit).
const MAX_EMAIL_LEN: usize = 254;

#[derive(Template)]
#[template(path = "portal/templates/login.html")]
struct LoginPage {
    chrome: Chrome,
    csrf: String,
    email: String,
    error: Option<String>,
    notice: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "portal/templates/login_sent.html")]
struct LinkSentPage {
    chrome: Chrome,
    email: String,
}

/// The sign-in form, with a fresh double-submit CSRF cookie unless the browser has one.
pub async fn get_portal_login(
    request: HttpRequest,
    query: web::Query<HashMap<String, String>>,
    portal: web::Data<Portal>,
) -> Result<HttpResponse, PortalError> {
    let notice = query.contains_key("signed_out").then_some("You are signed out.");
    login_form(&request, &portal, StatusCode::OK, String::new(), None, notice)
}

/// Hands the address to the sign-in queue, within the rate limits, and answers the same page
/// for every well-formed address without waiting for the lookup (its time would tell).
#[tracing::instrument(skip_all)]
pub async fn request_portal_login(
    request: HttpRequest,
    form: web::Form<Vec<(String, String)>>,
    portal: web::Data<Portal>,
) -> Result<HttpResponse, PortalError> {
    let form = Form(form.into_inner());
    csrf::check(cookie::read(request.headers(), cookie::LOGIN_CSRF).as_deref(), form.token())?;
    let email = form.get("email").unwrap_or_default().trim().to_owned();
    if email.len() > MAX_EMAIL_LEN || email.parse::<lettre::Address>().is_err() {
        let error = Some("Enter an email address such as billing@example.com.".to_owned());
        return login_form(&request, &portal, StatusCode::UNPROCESSABLE_ENTITY, email, error, None);
    }
    let client = client_key(request.peer_addr().map(|a| a.ip()));
    let now = portal.clock.now();
    match portal.limiter.admit(&client, &email, now) {
        Verdict::Refuse => return Err(PortalError::TooManyRequests),
        Verdict::Quiet => tracing::info!("sign-in link not sent: the address reached its limit"),
        Verdict::Send => portal.login_queue.push(email.clone(), now).await,
    }
    page::html(StatusCode::OK, &LinkSentPage { chrome: Chrome::anonymous("Check your email"), email })
}

/// Consumes a sign-in link and opens a new session (a new id at every sign-in: no fixation).
#[tracing::instrument(skip_all)]
pub async fn finish_portal_login(
    query: web::Query<HashMap<String, String>>,
    portal: web::Data<Portal>,
) -> Result<HttpResponse, PortalError> {
    let token = query.get("token").filter(|t| !t.is_empty()).ok_or(PortalError::LinkInvalid)?;
    let now = portal.clock.now();
    let session = SecretToken::generate();
    let opened =
        portal.store.start_portal_session(&secret_hash(token), &session.hash(), now + SESSION_TTL, now).await?;
    let row = opened.ok_or(PortalError::LinkInvalid)?;
    let value = cookie_value(&row.tenant, session.text());
    let secure = portal.secure_cookies;
    let session_cookie = cookie::set(cookie::SESSION, &value, SESSION_TTL.num_seconds(), SameSite::Lax, secure);
    Ok(page::redirect("/portal")
        .append_header((header::SET_COOKIE, session_cookie))
        .append_header((header::SET_COOKIE, cookie::set(cookie::LOGIN_CSRF, "", 0, SameSite::Strict, secure)))
        .finish())
}

/// Revokes the session server-side and clears its cookie.
#[tracing::instrument(skip_all, fields(tenant_id = %posted.session.tenant))]
pub async fn logout_portal(posted: SessionForm, portal: web::Data<Portal>) -> Result<HttpResponse, PortalError> {
    posted.session.revoke(&portal).await?;
    let cleared = cookie::set(cookie::SESSION, "", 0, SameSite::Lax, portal.secure_cookies);
    Ok(page::redirect("/portal/login?signed_out=1").append_header((header::SET_COOKIE, cleared)).finish())
}

/// The sign-in form with `email` filled in, keeping the browser's CSRF cookie or setting one.
fn login_form(
    request: &HttpRequest,
    portal: &Portal,
    status: StatusCode,
    email: String,
    error: Option<String>,
    notice: Option<&'static str>,
) -> Result<HttpResponse, PortalError> {
    let existing = cookie::read(request.headers(), cookie::LOGIN_CSRF).filter(|v| v.len() >= 32);
    let csrf = existing.unwrap_or_else(|| SecretToken::generate().text().to_owned());
    let mut response = page::builder(status);
    let max_age = SESSION_TTL.num_seconds();
    response.append_header((
        header::SET_COOKIE,
        cookie::set(cookie::LOGIN_CSRF, &csrf, max_age, SameSite::Strict, portal.secure_cookies),
    ));
    let page = LoginPage { chrome: Chrome::anonymous("Sign in"), csrf, email, error, notice };
    page::html_with(response, &page)
}
