//! Credentials from the command line: API keys (create, list, revoke) and JWTs, valid for a
//! server running with the same settings.

use anyhow::Context;

use super::{command_line, ApiKeyCommand};
use crate::auth::{issue_api_key, Authenticator, Principal, Role};
use crate::clock::Clock;
use crate::config::Settings;
use crate::domain::TenantId;
use crate::store::open_store;

pub(super) async fn api_key(command: ApiKeyCommand, settings: Settings, clock: &dyn Clock) -> anyhow::Result<()> {
    let store = open_store(&settings.database_url(), 1).await?;
    match command {
        ApiKeyCommand::Create { role, tenant } => {
            let principal = principal(&role, tenant.as_deref(), "cli")?;
            let plaintext = issue_api_key(&store, &principal, clock.now(), &command_line()).await?;
            emit!("{plaintext}");
        }
        ApiKeyCommand::List => {
            for stored in store.list_api_keys().await.context("Failed to list API keys")? {
                let key = crate::auth::ApiKey::try_from(stored)?;
                let tenant = key.tenant().map_or("-".to_owned(), ToString::to_string);
                let state = if key.is_usable() { "active" } else { "revoked" };
                let (id, role, created) =
                    (key.key_id().display_prefix(), key.role().as_str(), key.created_at().to_rfc3339());
                emit!("{id}\t{role}\t{tenant}\t{state}\t{created}");
            }
        }
        ApiKeyCommand::Revoke { key } => {
            let key_id = crate::auth::key_id_of(&key);
            let revoked = store.revoke_api_key(&key_id, clock.now(), &command_line()).await;
            if !revoked.context("Failed to revoke the key")? {
                anyhow::bail!("no active API key with id {key_id}");
            }
            emit!("revoked tly_{key_id}");
        }
    }
    Ok(())
}

/// `tally token issue`: a JWT signed with the configured keys, valid for `ttl`.
pub(super) async fn issue_token(
    settings: Settings,
    clock: &dyn Clock,
    role: &str,
    tenant: Option<&str>,
    subject: String,
    ttl: &str,
) -> anyhow::Result<()> {
    let store = open_store(&settings.database_url(), 1).await?;
    let auth = Authenticator::from_settings(&settings, store)?;
    let principal = principal(role, tenant, subject)?;
    let ttl = crate::config::parse_duration(ttl).context("--ttl must look like 15m, 1h or 7d")?;
    let ttl = chrono::Duration::from_std(ttl).context("--ttl is too long")?;
    emit!("{}", auth.issue_token(&principal, ttl, clock.now())?);
    Ok(())
}

fn principal(role: &str, tenant: Option<&str>, subject: impl Into<String>) -> anyhow::Result<Principal> {
    let role = role.parse::<Role>().context("--role")?;
    let tenant = tenant.map(TenantId::parse).transpose().context("--tenant is not a valid tenant id")?;
    Principal::new(role, tenant, subject).context("invalid role/tenant combination")
}
