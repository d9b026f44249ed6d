//! Turns a bearer credential into a [`Principal`]: `tly_…` API keys are looked up in the
//! store; anything else is verified as a JWT. Also where keys and tokens are issued.
//!
//! Stage: auth, at the edge. Inputs: `config::Settings` (JWT keys, cache TTL) and the store;
//! output: a `Principal` or an [`AuthError`]. Must not import `http` types into its errors
//! (the extractors map them).

use std::path::Path;

use anyhow::Context;
use chrono::{DateTime, Utc};
use secrecy::SecretString;

use super::{generate_hs256_secret, ApiKey, GeneratedApiKey, JwtKeys, PresentedApiKey, Principal};
use crate::config::{JwtAlgorithm, JwtKeyConfig, Settings};
use crate::domain::Actor;
use crate::refresh_ahead::RefreshAhead;
use crate::store::{Store, StoreKind, StoredApiKey};

/// Why a credential was refused (logged at debug level, answered as a plain 401).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no bearer credential")]
    Missing,
    #[error("unknown or revoked api key")]
    BadApiKey,
    #[error(transparent)]
    BadToken(#[from] super::JwtError),
    #[error("the credential store is unavailable")]
    Unavailable(#[source] crate::store::DbError),
}

/// Verifies credentials for every request.
pub struct Authenticator {
    store: Store,
    jwt: JwtKeys,
    /// Stored API keys recently read, so the hot path (one ingest request per record at high
    /// rates) does not cost a database query each, nor a herd of them when an entry ages out
    /// (`refresh_ahead`). The secret is still checked against the cached hash on every request;
    /// only revocation is seen up to the settings' `api_key_cache_ttl` late.
    keys: RefreshAhead<String, ApiKey>,
}

/// The file in the data directory holding the generated HS256 secret (SQLite only).
const GENERATED_SECRET_FILE: &str = "jwt-secret";

impl Authenticator {
    /// Loads the JWT keys of the settings: `[[jwt.keys]]`, else `TALLY_JWT_SECRET` (kid
    /// `default`), else — on SQLite only — a secret generated once into the data directory.
    ///
    /// # Errors
    /// When a key cannot be loaded, or PostgreSQL runs without configured keys (every node
    /// must share them, so none can be generated locally).
    pub fn from_settings(settings: &Settings, store: Store) -> anyhow::Result<Self> {
        let configs = if !settings.jwt.keys.is_empty() {
            settings.jwt.keys.clone()
        } else if let Some(secret) = &settings.jwt.secret {
            vec![hs256("default", secret.clone())]
        } else if store.kind() == StoreKind::Sqlite {
            vec![hs256("local", local_secret(&settings.data_dir)?)]
        } else {
            anyhow::bail!("PostgreSQL needs shared JWT keys: set TALLY_JWT_SECRET or [[jwt.keys]] in tally.toml");
        };
        let jwt = JwtKeys::from_config(&configs, &settings.jwt.issuer, &settings.jwt.audience)
            .context("Failed to load the JWT keys")?;
        let keys = RefreshAhead::new(settings.api_key_cache_ttl);
        Ok(Self { store, jwt, keys })
    }

    /// The principal behind `Authorization: Bearer <credential>`.
    ///
    /// # Errors
    /// [`AuthError`] naming why the credential was refused.
    pub async fn authenticate(&self, credential: &str, now: DateTime<Utc>) -> Result<Principal, AuthError> {
        let Some(presented) = PresentedApiKey::parse(credential) else {
            if credential.starts_with("tly_") {
                return Err(AuthError::BadApiKey);
            }
            return Ok(self.jwt.verify(credential, now)?);
        };
        let read = |key_id: &str| {
            let (store, key_id) = (self.store.clone(), key_id.to_owned());
            async move { store.get_api_key(&key_id).await?.map(ApiKey::try_from).transpose() }
        };
        let stored = self.keys.get(presented.key_id.as_str(), read).await.map_err(AuthError::Unavailable)?;
        stored.and_then(|key| key.authenticate(&presented)).ok_or(AuthError::BadApiKey)
    }

    /// Signs a JWT for `principal`.
    ///
    /// # Errors
    /// When the signing key cannot sign or `ttl` is under a second.
    pub fn issue_token(
        &self,
        principal: &Principal,
        ttl: chrono::Duration,
        now: DateTime<Utc>,
    ) -> anyhow::Result<String> {
        Ok(self.jwt.issue(principal, ttl, now)?)
    }
}

/// Creates an API key for `principal`'s role and tenant, stores its hash (with `actor`'s
/// `api_key.created` audit event), and returns the plaintext (to be shown once).
///
/// # Errors
/// When the key cannot be stored.
pub async fn issue_api_key(
    store: &Store,
    principal: &Principal,
    now: DateTime<Utc>,
    actor: &Actor,
) -> anyhow::Result<String> {
    let generated = GeneratedApiKey::generate();
    let key =
        ApiKey::new(generated.key_id, generated.secret_hash, principal.role(), principal.tenant().cloned(), now, None)?;
    store.insert_api_key(&StoredApiKey::from(&key), actor).await.context("Failed to store the API key")?;
    Ok(secrecy::ExposeSecret::expose_secret(&generated.plaintext).to_owned())
}

/// The key id inside a full key (`tly_<id>_<secret>`), a listed id (`tly_<id>`) or a bare id.
pub fn key_id_of(text: &str) -> String {
    let bare = text.strip_prefix("tly_").unwrap_or(text);
    bare.split('_').next().unwrap_or(bare).to_owned()
}

fn hs256(kid: &str, secret: SecretString) -> JwtKeyConfig {
    JwtKeyConfig { kid: kid.into(), algorithm: JwtAlgorithm::Hs256, secret: Some(secret), key_file: None }
}

/// Reads the generated secret, creating it (mode 0600) on first start.
fn local_secret(data_dir: &Path) -> anyhow::Result<SecretString> {
    let path = data_dir.join(GENERATED_SECRET_FILE);
    if !path.exists() {
        std::fs::create_dir_all(data_dir).with_context(|| format!("Failed to create {}", data_dir.display()))?;
        write_private(&path, &generate_hs256_secret())
            .with_context(|| format!("Failed to write {}", path.display()))?;
    }
    let text = std::fs::read_to_string(&path).with_context(|| format!("Failed to read {}", path.display()))?;
    Ok(SecretString::from(text.trim().to_owned()))
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?.write_all(text.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}
