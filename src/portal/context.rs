//! [`Portal`]: what every portal handler needs — the store, the clock, the plan catalog, the
//! entitlement cache, the sign-in limiter and queue, and whether cookies are `Secure` — as one
//! `web::Data`, so a handler's signature says what it takes from the request (a session, a
//! form) rather than listing services.
//!
//! Stage: the HTTP edge (portal). Holds handles; no logic beyond reading the tenant a session
//! belongs to.

use std::sync::Arc;

use actix_web::{web, HttpRequest};

use super::error::PortalError;
use super::login_queue::LoginQueue;
use super::rate_limit::LoginLimiter;
use super::session::PortalSession;
use crate::clock::SharedClock;
use crate::domain::Tenant;
use crate::plans::SharedCatalog;
use crate::quota::EntitlementCache;
use crate::store::Store;

/// The portal's shared services.
pub struct Portal {
    pub(crate) store: Store,
    pub(crate) clock: SharedClock,
    pub(crate) catalog: SharedCatalog,
    pub(crate) entitlements: Arc<EntitlementCache>,
    pub(crate) limiter: LoginLimiter,
    pub(crate) login_queue: LoginQueue,
    /// Cookies get `Secure` when the public URL is https (DESIGN §11); plain http (local
    /// development, tests) would otherwise never send them back.
    pub(crate) secure_cookies: bool,
}

impl Portal {
    /// The portal over these services, served at `public_url` (`TALLY_PUBLIC_URL`, if set).
    pub fn new(
        store: Store,
        clock: SharedClock,
        catalog: SharedCatalog,
        entitlements: Arc<EntitlementCache>,
        login_queue: LoginQueue,
        public_url: Option<&str>,
    ) -> Self {
        let secure_cookies = secure_for(public_url);
        let limiter = LoginLimiter::default();
        Self { store, clock, catalog, entitlements, limiter, login_queue, secure_cookies }
    }

    /// The portal of the app serving `request`.
    ///
    /// # Errors
    /// Unexpected when the app was built without it (a wiring bug).
    pub(crate) fn of(request: &HttpRequest) -> Result<web::Data<Portal>, PortalError> {
        request
            .app_data::<web::Data<Portal>>()
            .cloned()
            .ok_or_else(|| PortalError::Unexpected(anyhow::anyhow!("the portal is not configured")))
    }

    /// The tenant a session belongs to, as it is now.
    ///
    /// # Errors
    /// 404 when it is gone; a store failure.
    pub(crate) async fn tenant_of(&self, session: &PortalSession) -> Result<Tenant, PortalError> {
        self.store.get_tenant(&session.tenant).await?.ok_or(PortalError::NotFound("tenant"))
    }
}

/// Whether pages served at `public_url` are https.
fn secure_for(public_url: Option<&str>) -> bool {
    public_url.is_some_and(|u| u.trim_start().to_ascii_lowercase().starts_with("https://"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_secure_exactly_when_the_public_url_is_https() {
        assert!(secure_for(Some("https://billing.example.test")));
        assert!(secure_for(Some("HTTPS://billing.example.test")));
        assert!(!secure_for(Some("http://127.0.0.1:8080")));
        assert!(!secure_for(None));
    }
}
