//! [`PortalSession`]: the signed-in tenant, email and CSRF token of a request, read from the
//! `tally_session` cookie (`<tenant>.<secret>`) and checked against the store — the argument
//! of every portal page. Without a live session the browser is sent to the sign-in page.
//!
//! Stage: the HTTP edge (portal). The secret is looked up by its hash (never stored); the
//! tenant in the cookie only routes the lookup to the tenant's rows (one shard on Citus) and
//! must match the stored session.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};

use super::context::Portal;
use super::cookie;
use super::csrf::{self, Form};
use super::error::PortalError;
use super::view::Account;
use crate::auth::{Principal, Role};
use crate::domain::{derived_token, secret_hash, TenantId};

/// How long a session lasts (DESIGN §11).
pub(crate) const SESSION_TTL: chrono::Duration = chrono::Duration::hours(8);

/// What the CSRF token of a session is derived for.
const CSRF_PURPOSE: &str = "tally portal csrf";

/// A live portal session.
pub struct PortalSession {
    pub tenant: TenantId,
    pub email: String,
    /// The token every form of this session must carry.
    pub csrf: String,
    session_hash: String,
    /// A tenant-role principal for the session's tenant: portal reads go through the same
    /// "may this caller see it" checks as the tenant API.
    principal: Principal,
}

impl PortalSession {
    /// The principal the shared, tenant-scoped reads are asked with.
    pub(crate) fn principal(&self) -> &Principal {
        &self.principal
    }

    /// Ok when the form carries this session's token.
    ///
    /// # Errors
    /// [`PortalError::CsrfRefused`].
    pub(crate) fn check_csrf(&self, form: &Form) -> Result<(), PortalError> {
        csrf::check(Some(&self.csrf), form.token())
    }

    /// The header's view of the account.
    pub(crate) fn account(&self, tenant_name: &str) -> Account {
        Account { tenant_name: tenant_name.to_owned(), email: self.email.clone(), csrf: self.csrf.clone() }
    }

    /// Ends the session server-side (the cookie alone no longer signs anyone in).
    ///
    /// # Errors
    /// When the store fails.
    pub(crate) async fn revoke(&self, portal: &Portal) -> Result<(), PortalError> {
        portal.store.revoke_portal_session(&self.tenant, &self.session_hash, portal.clock.now()).await?;
        Ok(())
    }
}

/// The cookie value of a new session.
pub(crate) fn cookie_value(tenant: &TenantId, secret: &str) -> String {
    format!("{tenant}.{secret}")
}

/// `(tenant, secret)` of a cookie value; the secret is base64url, so the last `.` splits.
fn parse_cookie(value: &str) -> Option<(TenantId, &str)> {
    let (tenant, secret) = value.rsplit_once('.')?;
    Some((TenantId::parse(tenant).ok()?, secret)).filter(|(_, s)| !s.is_empty())
}

impl FromRequest for PortalSession {
    type Error = PortalError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, PortalError>>>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let value = cookie::read(request.headers(), cookie::SESSION);
        let portal = Portal::of(request);
        Box::pin(async move {
            let portal = portal?;
            let Some((tenant, secret)) = value.as_deref().and_then(parse_cookie) else {
                return Err(PortalError::SignInRequired);
            };
            let session_hash = secret_hash(secret);
            let Some(row) = portal.store.portal_session(&tenant, &session_hash, portal.clock.now()).await? else {
                tracing::debug!(tenant_id = %tenant, "portal session unknown, revoked or expired");
                return Err(PortalError::SignInRequired);
            };
            let subject = format!("portal:{}", row.email);
            let principal = Principal::new(Role::Tenant, Some(row.tenant.clone()), subject)
                .map_err(|e| PortalError::Unexpected(e.into()))?;
            Ok(PortalSession {
                tenant: row.tenant,
                email: row.email,
                csrf: derived_token(CSRF_PURPOSE, secret),
                session_hash,
                principal,
            })
        })
    }
}

/// A form posted by a signed-in browser, its CSRF token already checked: the argument of
/// every signed-in `POST`, so no such handler can forget the check.
pub struct SessionForm {
    pub(crate) session: PortalSession,
    pub(crate) form: Form,
}

impl FromRequest for SessionForm {
    type Error = PortalError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, PortalError>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let session = PortalSession::from_request(request, payload);
        let fields = web::Form::<Vec<(String, String)>>::from_request(request, payload);
        Box::pin(async move {
            let session = session.await?;
            // A body that is not a form carries no token either.
            let form = Form(fields.await.map(web::Form::into_inner).unwrap_or_default());
            session.check_csrf(&form)?;
            Ok(SessionForm { session, form })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_value_names_its_tenant_and_secret() {
        let tenant = TenantId::parse("acme").unwrap();
        let value = cookie_value(&tenant, "s3cr-t_");
        assert_eq!(parse_cookie(&value), Some((tenant, "s3cr-t_")));
        assert_eq!(parse_cookie("acme."), None);
        assert_eq!(parse_cookie("nodot"), None);
    }
}
