//! Bearer secrets of the billing portal (sign-in links, session ids): 32 random bytes shown
//! once as base64url text, stored only as their SHA-256 (hex), so a read of the database
//! cannot sign anyone in. Pure apart from the OS random generator.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// How long a sign-in link works (DESIGN §11).
pub const LOGIN_LINK_TTL: chrono::Duration = chrono::Duration::minutes(15);

/// A fresh secret: the text handed out once, and the hash kept.
#[derive(Clone)]
pub struct SecretToken {
    text: String,
}

impl SecretToken {
    /// 32 bytes from the OS random generator.
    ///
    /// # Panics
    /// If the operating system cannot provide random bytes (`OsRng`), as `rand` does.
    pub fn generate() -> Self {
        let mut bytes = [0_u8; 32];
        OsRng.fill_bytes(&mut bytes);
        Self { text: URL_SAFE_NO_PAD.encode(bytes) }
    }

    /// The text given to its holder (a link's `token`, a cookie).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// What the database keeps.
    pub fn hash(&self) -> String {
        secret_hash(&self.text)
    }
}

/// The stored form of a presented secret: lowercase hex SHA-256 of its text.
pub fn secret_hash(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// A value derived from a secret for another purpose (a session's CSRF token): base64url of
/// SHA-256(`purpose` ‖ 0 ‖ secret). Different from the stored hash, and it reveals nothing of
/// the secret, so it may be printed in pages.
pub fn derived_token(purpose: &str, secret: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(purpose.as_bytes());
    hash.update([0]);
    hash.update(secret.as_bytes());
    URL_SAFE_NO_PAD.encode(hash.finalize())
}

/// The sign-in link for `token` under `public_url`.
pub fn login_link(public_url: &str, token: &str) -> String {
    format!("{}/portal/auth?token={token}", public_url.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_43_url_safe_characters_and_is_stored_only_as_its_hash() {
        let token = SecretToken::generate();
        assert_eq!(token.text().len(), 43);
        assert!(token.text().chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(token.hash(), secret_hash(token.text()));
        assert_eq!(token.hash().len(), 64);
        assert!(!token.hash().contains(token.text()));
        assert_ne!(SecretToken::generate().text(), token.text(), "two secrets differ");
    }

    #[test]
    fn a_derived_token_depends_on_purpose_and_secret_and_differs_from_the_stored_hash() {
        let a = derived_token("csrf", "secret");
        assert_eq!(a, derived_token("csrf", "secret"));
        assert_ne!(a, derived_token("other", "secret"));
        assert_ne!(a, derived_token("csrf", "secret2"));
        assert_ne!(a, secret_hash("secret"));
    }

    #[test]
    fn the_link_joins_the_public_url_and_the_token() {
        assert_eq!(login_link("https://b.test/", "abc"), "https://b.test/portal/auth?token=abc");
    }
}
