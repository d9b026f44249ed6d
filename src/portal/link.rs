//! `tally portal-link --tenant T [--email E]`: a sign-in link made directly, for operators
//! (support, onboarding), without an email. The same single-use, 15-minute, hashed link the
//! sign-in email carries.
//!
//! Stage: the portal's service for the CLI. Reads the tenant, stores the link's hash.

use anyhow::Context;
use chrono::{DateTime, Utc};

use crate::domain::{login_link, SecretToken, TenantId, LOGIN_LINK_TTL};
use crate::store::Store;

/// A new sign-in link for `tenant` under `public_url`, for `email` (default: the tenant's
/// first billing address, else `operator`: the session shows who it is for).
///
/// # Errors
/// When the tenant does not exist or the store fails.
pub async fn create_portal_link(
    store: &Store,
    tenant: &TenantId,
    email: Option<&str>,
    public_url: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    let found = store.get_tenant(tenant).await.context("Failed to read the tenant")?;
    let found = found.with_context(|| format!("no tenant {tenant}"))?;
    let email = email.map(str::to_owned).or_else(|| found.details.billing_emails.first().cloned());
    let email = email.unwrap_or_else(|| "operator".to_owned());
    let token = SecretToken::generate();
    store
        .insert_login_token(tenant, &token.hash(), &email, now + LOGIN_LINK_TTL, now)
        .await
        .context("Failed to store the sign-in link")?;
    Ok(login_link(public_url, token.text()))
}
