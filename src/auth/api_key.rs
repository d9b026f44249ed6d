//! API keys for runtimes and automation: `tly_<key_id>_<secret>` (DESIGN §10).
//!
//! Stage: auth, at the edge. `key_id` is 12 lowercase hex characters: public, the lookup key
//! in the store, and what `tally api-key list` shows (as the prefix `tly_<key_id>`). `secret`
//! is 32 bytes from the OS random generator, as 64 lowercase hex characters.
//!
//! Only `SHA-256(secret)` is stored. A fast unsalted hash is enough because the secret is 256
//! random bits, not a password: there is nothing to guess. Hashes are compared in constant
//! time. Plaintext keys and secrets are [`SecretString`]s so they never reach a log by
//! accident. Pure apart from reading the OS random generator; no store access here.

use std::fmt;

use chrono::{DateTime, Utc};
use rand::rngs::OsRng;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::role::{Principal, Role, RoleError};
use crate::domain::TenantId;
use crate::store::{DbError, StoredApiKey};

const PREFIX: &str = "tly_";
const KEY_ID_BYTES: usize = 6;
const SECRET_BYTES: usize = 32;

/// The public half of an API key: 12 lowercase hex characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ApiKeyId(String);

impl ApiKeyId {
    /// Validates a key id as shown by `tally api-key list` (with or without `tly_`).
    ///
    /// # Errors
    /// [`ApiKeyError::InvalidKeyId`] unless the text is 12 lowercase hex characters.
    pub fn parse(text: &str) -> Result<Self, ApiKeyError> {
        let id = text.strip_prefix(PREFIX).unwrap_or(text);
        if is_lower_hex(id, KEY_ID_BYTES * 2) {
            Ok(Self(id.to_owned()))
        } else {
            Err(ApiKeyError::InvalidKeyId)
        }
    }

    /// The bare id, as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `tly_<key_id>`: how a key is listed without revealing its secret.
    pub fn display_prefix(&self) -> String {
        format!("{PREFIX}{}", self.0)
    }
}

impl AsRef<str> for ApiKeyId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ApiKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why an API key value was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ApiKeyError {
    #[error("api key id must be 12 lowercase hex characters")]
    InvalidKeyId,
    #[error(transparent)]
    InvalidGrant(#[from] RoleError),
}

/// A freshly created key. `plaintext` is shown to the operator once; only `secret_hash` is kept.
#[derive(Debug)]
pub struct GeneratedApiKey {
    /// The public id to store and list.
    pub key_id: ApiKeyId,
    /// The whole `tly_<key_id>_<secret>` text, to print once and never store or log.
    pub plaintext: SecretString,
    /// `SHA-256(secret)`, the only part that is stored.
    pub secret_hash: [u8; 32],
}

impl GeneratedApiKey {
    /// Makes a new key from the OS random generator.
    ///
    /// # Panics
    /// If the operating system cannot provide random bytes (`OsRng`), as `rand` does.
    pub fn generate() -> Self {
        let key_id = ApiKeyId(random_hex(KEY_ID_BYTES));
        let secret = random_hex(SECRET_BYTES);
        let secret_hash = hash_secret(&secret);
        let plaintext = SecretString::from(format!("{PREFIX}{key_id}_{secret}"));
        Self { key_id, plaintext, secret_hash }
    }
}

/// A key as a client sent it (`Authorization: Bearer tly_…`), split but not yet checked.
#[derive(Debug)]
pub struct PresentedApiKey {
    /// The id to look the stored key up by.
    pub key_id: ApiKeyId,
    /// The secret to check against the stored hash.
    pub secret: SecretString,
}

impl PresentedApiKey {
    /// Splits `tly_<key_id>_<secret>`; anything else (including a JWT) is `None`.
    ///
    /// Exactly our format is accepted: 12 then 64 lowercase hex characters.
    pub fn parse(text: &str) -> Option<Self> {
        let (id, secret) = text.strip_prefix(PREFIX)?.split_once('_')?;
        if !is_lower_hex(secret, SECRET_BYTES * 2) {
            return None;
        }
        let key_id = ApiKeyId::parse(id).ok()?;
        Some(Self { key_id, secret: SecretString::from(secret) })
    }

    /// Whether this secret hashes to `stored_hash`, compared in constant time.
    pub fn verify(&self, stored_hash: &[u8; 32]) -> bool {
        constant_time_eq(&hash_secret(self.secret.expose_secret()), stored_hash)
    }
}

/// A stored API key, as the store returns it. Never holds the secret itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    principal: Principal,
    key_id: ApiKeyId,
    secret_hash: [u8; 32],
    created_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
}

impl ApiKey {
    /// Assembles a stored key; `role` and `tenant` are its grant (see [`Principal`]).
    ///
    /// # Errors
    /// [`ApiKeyError::InvalidGrant`] for a `tenant` role without a tenant.
    pub fn new(
        key_id: ApiKeyId,
        secret_hash: [u8; 32],
        role: Role,
        tenant: Option<TenantId>,
        created_at: DateTime<Utc>,
        revoked_at: Option<DateTime<Utc>>,
    ) -> Result<Self, ApiKeyError> {
        let principal = Principal::new(role, tenant, format!("key:{key_id}"))?;
        Ok(Self { principal, key_id, secret_hash, created_at, revoked_at })
    }

    /// The public id.
    pub fn key_id(&self) -> &ApiKeyId {
        &self.key_id
    }

    /// `SHA-256(secret)`.
    pub fn secret_hash(&self) -> &[u8; 32] {
        &self.secret_hash
    }

    /// The role this key grants.
    pub fn role(&self) -> Role {
        self.principal.role()
    }

    /// The tenant this key is scoped to, if any.
    pub fn tenant(&self) -> Option<&TenantId> {
        self.principal.tenant()
    }

    /// When the key was created.
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }

    /// When the key was revoked, if it was.
    pub fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.revoked_at
    }

    /// A key is usable until it is revoked; revocation takes effect immediately.
    pub fn is_usable(&self) -> bool {
        self.revoked_at.is_none()
    }

    /// The caller this key stands for, with subject `key:<key_id>`.
    pub fn principal(&self) -> Principal {
        self.principal.clone()
    }

    /// The whole check for a presented key: same id, not revoked, matching secret.
    pub fn authenticate(&self, presented: &PresentedApiKey) -> Option<Principal> {
        let matches = presented.key_id == self.key_id && presented.verify(&self.secret_hash);
        (matches && self.is_usable()).then(|| self.principal())
    }
}

impl TryFrom<StoredApiKey> for ApiKey {
    type Error = DbError;

    /// Gives a stored key's columns their meaning.
    fn try_from(stored: StoredApiKey) -> Result<Self, DbError> {
        let corrupt = |what: &str| DbError::Corrupt(format!("api key {}: {what}", stored.key_id));
        let key_id = ApiKeyId::parse(&stored.key_id).map_err(|_| corrupt("id"))?;
        let role = Role::parse(&stored.role).ok_or_else(|| corrupt("role"))?;
        ApiKey::new(key_id, stored.secret_hash, role, stored.tenant, stored.created_at, stored.revoked_at)
            .map_err(|_| corrupt("grant"))
    }
}

impl From<&ApiKey> for StoredApiKey {
    fn from(key: &ApiKey) -> Self {
        StoredApiKey {
            key_id: key.key_id.as_str().to_owned(),
            secret_hash: key.secret_hash,
            role: key.role().as_str().to_owned(),
            tenant: key.tenant().cloned(),
            created_at: key.created_at,
            revoked_at: key.revoked_at,
        }
    }
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0_u8; bytes];
    OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

fn hash_secret(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

fn is_lower_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Compares two digests without an early exit, so timing says nothing about where they differ.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0_u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(generated: &GeneratedApiKey, revoked_at: Option<DateTime<Utc>>) -> ApiKey {
        let created_at = DateTime::from_timestamp(1_700_000_000, 0).expect("valid timestamp");
        let tenant = TenantId::parse("acme").expect("valid slug");
        ApiKey::new(generated.key_id.clone(), generated.secret_hash, Role::Ingest, Some(tenant), created_at, revoked_at)
            .expect("ingest keys may be scoped")
    }

    #[test]
    fn a_generated_key_parses_back_and_verifies_against_its_hash() {
        // Arrange
        let generated = GeneratedApiKey::generate();
        // Act
        let presented = PresentedApiKey::parse(generated.plaintext.expose_secret()).expect("own format parses");
        // Assert
        assert_eq!(presented.key_id, generated.key_id);
        assert!(presented.verify(&generated.secret_hash));
        assert_eq!(generated.plaintext.expose_secret().len(), 4 + 12 + 1 + 64);
    }

    #[test]
    fn generated_keys_are_unique() {
        let (a, b) = (GeneratedApiKey::generate(), GeneratedApiKey::generate());
        assert_ne!(a.key_id, b.key_id);
        assert_ne!(a.secret_hash, b.secret_hash);
    }

    #[test]
    fn a_wrong_secret_does_not_verify() {
        let generated = GeneratedApiKey::generate();
        let text = generated.plaintext.expose_secret();
        let flipped = if text.ends_with('0') { "1" } else { "0" };
        let tampered = format!("{}{flipped}", &text[..text.len() - 1]);
        let presented = PresentedApiKey::parse(&tampered).expect("still well formed");
        assert!(!presented.verify(&generated.secret_hash));
    }

    #[test]
    fn malformed_key_strings_are_rejected() {
        let secret = "a".repeat(64);
        let cases = [
            ("empty", String::new()),
            ("no prefix", format!("0123456789ab_{secret}")),
            ("other prefix", format!("tlx_0123456789ab_{secret}")),
            ("short id", format!("tly_0123456789a_{secret}")),
            ("uppercase id", format!("tly_0123456789AB_{secret}")),
            ("non-hex id", format!("tly_0123456789zz_{secret}")),
            ("short secret", format!("tly_0123456789ab_{}", "a".repeat(63))),
            ("long secret", format!("tly_0123456789ab_{}", "a".repeat(65))),
            ("uppercase secret", format!("tly_0123456789ab_{}", "A".repeat(64))),
            ("extra part", format!("tly_0123456789ab_{secret}_x")),
            ("no separator", format!("tly_0123456789ab{secret}")),
            ("a jwt", "eyJhbGciOiJIUzI1NiJ9.e30.c2ln".to_owned()),
        ];
        for (description, text) in cases {
            assert!(PresentedApiKey::parse(&text).is_none(), "{description} should be rejected");
        }
        assert!(PresentedApiKey::parse(&format!("tly_0123456789ab_{secret}")).is_some());
    }

    #[test]
    fn a_stored_key_authenticates_as_its_scoped_principal() {
        let generated = GeneratedApiKey::generate();
        let key = stored(&generated, None);
        let presented = PresentedApiKey::parse(generated.plaintext.expose_secret()).expect("parses");
        let principal = key.authenticate(&presented).expect("valid key authenticates");
        assert_eq!(principal.subject(), format!("key:{}", generated.key_id));
        assert_eq!(principal.role(), Role::Ingest);
        assert_eq!(principal.tenant().map(TenantId::as_str), Some("acme"));
    }

    #[test]
    fn a_revoked_key_is_not_usable_and_does_not_authenticate() {
        let generated = GeneratedApiKey::generate();
        let key = stored(&generated, DateTime::from_timestamp(1_700_000_100, 0));
        let presented = PresentedApiKey::parse(generated.plaintext.expose_secret()).expect("parses");
        assert!(!key.is_usable());
        assert!(key.authenticate(&presented).is_none());
    }

    #[test]
    fn a_key_does_not_authenticate_against_another_keys_record() {
        let (mine, other) = (GeneratedApiKey::generate(), GeneratedApiKey::generate());
        let presented = PresentedApiKey::parse(mine.plaintext.expose_secret()).expect("parses");
        assert!(stored(&other, None).authenticate(&presented).is_none());
    }

    #[test]
    fn debug_output_never_shows_the_plaintext_or_secret() {
        let generated = GeneratedApiKey::generate();
        let plaintext = generated.plaintext.expose_secret().to_owned();
        let presented = PresentedApiKey::parse(&plaintext).expect("parses");
        let secret = plaintext.rsplit('_').next().expect("has a secret part");
        for debug in [format!("{generated:?}"), format!("{presented:?}")] {
            assert!(!debug.contains(secret), "secret leaked in {debug}");
        }
    }

    #[test]
    fn key_ids_parse_with_or_without_the_listing_prefix() {
        let id = ApiKeyId::parse("tly_0123456789ab").expect("prefixed id parses");
        assert_eq!(id, ApiKeyId::parse("0123456789ab").expect("bare id parses"));
        assert_eq!(id.display_prefix(), "tly_0123456789ab");
        assert_eq!(ApiKeyId::parse("0123"), Err(ApiKeyError::InvalidKeyId));
    }

    #[test]
    fn the_constant_time_compare_spots_a_difference_in_any_byte() {
        let a = [7_u8; 32];
        assert!(constant_time_eq(&a, &a));
        for i in 0..32 {
            let mut b = a;
            b[i] ^= 1;
            assert!(!constant_time_eq(&a, &b), "byte {i} differs");
        }
    }
}
