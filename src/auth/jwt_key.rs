//! JWT signing and verification keys, loaded from configuration (`[[jwt.keys]]`, DESIGN §10).
//!
//! Stage: auth, startup. Input is a [`JwtKeyConfig`] per key; output is a ready key pair for
//! `jwt::JwtKeys`. The only IO is reading a key file. A bad key is a startup error here, never
//! a 500 later. Key material never appears in errors or `Debug` output.
//!
//! Supported key material:
//! - `HS256`: `secret` (the UTF-8 bytes are the HMAC key) or `key_file` (its contents, trimmed).
//!   At least 32 bytes; [`generate_hs256_secret`] makes one.
//! - `RS256`: `key_file` in PEM. A private key (`PRIVATE KEY`, PKCS#8, or `RSA PRIVATE KEY`,
//!   PKCS#1) signs and verifies; its public half is derived. A public key alone (`PUBLIC KEY`
//!   or `RSA PUBLIC KEY`) makes a verify-only key.
//! - `EdDSA` (Ed25519): `key_file` in PEM. A signing key needs the PKCS#8 `PRIVATE KEY` *and*
//!   its `PUBLIC KEY` in the same file, because the pure-Rust backend cannot derive the public
//!   half: `openssl genpkey -algorithm ed25519 -out k.pem && openssl pkey -in k.pem -pubout >> k.pem`.
//!   A `PUBLIC KEY` alone makes a verify-only key.
//!
//! When a file holds both halves, they are checked to belong together by signing and
//! verifying a probe message. Encrypted PEM files are not supported.

use std::path::{Path, PathBuf};

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use rand::rngs::OsRng;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};

use crate::config::{JwtAlgorithm, JwtKeyConfig};

const MIN_HS256_SECRET_BYTES: usize = 32;

/// The `jsonwebtoken` algorithm behind a configured one.
pub(crate) fn jsonwebtoken_algorithm(algorithm: JwtAlgorithm) -> Algorithm {
    match algorithm {
        JwtAlgorithm::Hs256 => Algorithm::HS256,
        JwtAlgorithm::EdDsa => Algorithm::EdDSA,
        JwtAlgorithm::Rs256 => Algorithm::RS256,
    }
}

/// Why a configured JWT key could not be loaded. `kid` is named; key material never is.
#[derive(Debug, thiserror::Error)]
pub enum JwtKeyError {
    #[error("at least one jwt key must be configured")]
    NoKeys,
    #[error("jwt issuer and audience must not be empty")]
    MissingIssuerOrAudience,
    #[error("jwt algorithm must be one of HS256, EdDSA or RS256")]
    UnsupportedAlgorithm,
    #[error("jwt key id must not be empty")]
    EmptyKid,
    #[error("jwt key id {kid:?} is configured twice")]
    DuplicateKid { kid: String },
    #[error("jwt key {kid:?} needs a secret or a key_file")]
    MissingKeyMaterial { kid: String },
    #[error("jwt key {kid:?} sets both secret and key_file")]
    ConflictingKeyMaterial { kid: String },
    #[error("jwt key {kid:?} uses {algorithm} which takes a key_file, not a secret")]
    SecretNotAllowed { kid: String, algorithm: &'static str },
    #[error("jwt key {kid:?} has an hs256 secret shorter than 32 bytes")]
    WeakSecret { kid: String },
    #[error("failed to read the key file for jwt key {kid:?} at {path}")]
    ReadKeyFile { kid: String, path: PathBuf, source: std::io::Error },
    #[error("jwt key {kid:?} has an unusable pem file: {reason}")]
    InvalidPem { kid: String, reason: String },
    #[error("jwt key {kid:?} is not a valid key for its algorithm")]
    InvalidKey { kid: String, source: jsonwebtoken::errors::Error },
    #[error("jwt key {kid:?} holds a private key and a public key that do not belong together")]
    KeyPairMismatch { kid: String },
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// A loaded key: what `jwt::JwtKeys` signs and verifies with. `Debug` redacts the key bytes.
#[derive(Debug)]
pub(crate) struct JwtKey {
    pub(crate) kid: String,
    pub(crate) algorithm: JwtAlgorithm,
    /// `None` for a verify-only key (a public key with no private half).
    pub(crate) encoding: Option<EncodingKey>,
    pub(crate) decoding: DecodingKey,
}

impl JwtKey {
    /// Loads one configured key, reading its file if it has one.
    pub(crate) fn load(config: &JwtKeyConfig) -> Result<Self, JwtKeyError> {
        let kid = config.kid.clone();
        if kid.is_empty() {
            return Err(JwtKeyError::EmptyKid);
        }
        let (encoding, decoding) = match (config.algorithm, &config.secret, &config.key_file) {
            (_, None, None) => return Err(JwtKeyError::MissingKeyMaterial { kid }),
            (_, Some(_), Some(_)) => return Err(JwtKeyError::ConflictingKeyMaterial { kid }),
            (JwtAlgorithm::Hs256, Some(secret), None) => hs256_pair(&kid, secret)?,
            (JwtAlgorithm::Hs256, None, Some(path)) => hs256_pair(&kid, &read_secret_file(&kid, path)?)?,
            (algorithm, Some(_), None) => {
                return Err(JwtKeyError::SecretNotAllowed { kid, algorithm: algorithm.as_str() })
            }
            (algorithm, None, Some(path)) => pem_pair(&kid, algorithm, &read_key_file(&kid, path)?)?,
        };
        let key = Self { kid, algorithm: config.algorithm, encoding, decoding };
        key.check_pair()?;
        Ok(key)
    }

    /// Signs and verifies a probe so a mismatched private/public pair fails at startup.
    fn check_pair(&self) -> Result<(), JwtKeyError> {
        let Some(encoding) = &self.encoding else { return Ok(()) };
        let alg = jsonwebtoken_algorithm(self.algorithm);
        let probe = b"tally jwt key check";
        let signature = jsonwebtoken::crypto::sign(probe, encoding, alg)
            .map_err(|source| JwtKeyError::InvalidKey { kid: self.kid.clone(), source })?;
        match jsonwebtoken::crypto::verify(&signature, probe, &self.decoding, alg) {
            Ok(true) => Ok(()),
            Ok(false) => Err(JwtKeyError::KeyPairMismatch { kid: self.kid.clone() }),
            Err(source) => Err(JwtKeyError::InvalidKey { kid: self.kid.clone(), source }),
        }
    }
}

/// A new HS256 secret: 32 bytes from the OS random generator as 64 hex characters.
///
/// Used to create the secret file in the data directory on first start (SQLite only).
///
/// # Panics
/// If the operating system cannot provide random bytes (`OsRng`), as `rand` does.
pub fn generate_hs256_secret() -> String {
    let mut bytes = [0_u8; MIN_HS256_SECRET_BYTES];
    OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

type KeyPair = (Option<EncodingKey>, DecodingKey);

fn hs256_pair(kid: &str, secret: &SecretString) -> Result<KeyPair, JwtKeyError> {
    let bytes = secret.expose_secret().as_bytes();
    if bytes.len() < MIN_HS256_SECRET_BYTES {
        return Err(JwtKeyError::WeakSecret { kid: kid.to_owned() });
    }
    Ok((Some(EncodingKey::from_secret(bytes)), DecodingKey::from_secret(bytes)))
}

fn read_secret_file(kid: &str, path: &Path) -> Result<SecretString, JwtKeyError> {
    let text = SecretString::from(read_key_file(kid, path)?);
    Ok(SecretString::from(text.expose_secret().trim()))
}

fn read_key_file(kid: &str, path: &Path) -> Result<String, JwtKeyError> {
    std::fs::read_to_string(path).map_err(|source| JwtKeyError::ReadKeyFile {
        kid: kid.to_owned(),
        path: path.to_owned(),
        source,
    })
}

/// Builds the pair from a PEM file's blocks (see the module docs for what is accepted).
fn pem_pair(kid: &str, algorithm: JwtAlgorithm, pem: &str) -> Result<KeyPair, JwtKeyError> {
    let invalid = |reason: &str| JwtKeyError::InvalidPem { kid: kid.to_owned(), reason: reason.to_owned() };
    let bad_key = |source| JwtKeyError::InvalidKey { kid: kid.to_owned(), source };
    let (private, public) = split_key_blocks(pem).map_err(|reason| invalid(&reason))?;
    let encoding = match private {
        None => None,
        Some(block) => Some(
            match algorithm {
                JwtAlgorithm::EdDsa => EncodingKey::from_ed_pem(block.as_bytes()),
                _ => EncodingKey::from_rsa_pem(block.as_bytes()),
            }
            .map_err(bad_key)?,
        ),
    };
    let decoding = match (public, &encoding) {
        (Some(block), _) => match algorithm {
            JwtAlgorithm::EdDsa => DecodingKey::from_ed_pem(block.as_bytes()),
            _ => DecodingKey::from_rsa_pem(block.as_bytes()),
        }
        .map_err(bad_key)?,
        (None, Some(private)) if algorithm == JwtAlgorithm::Rs256 => {
            let jwk = Jwk::from_encoding_key(private, Algorithm::RS256).map_err(bad_key)?;
            DecodingKey::from_jwk(&jwk).map_err(bad_key)?
        }
        (None, Some(_)) => return Err(invalid("an EdDSA private key must be followed by its PUBLIC KEY block")),
        (None, None) => return Err(invalid("no PRIVATE KEY or PUBLIC KEY block found")),
    };
    Ok((encoding, decoding))
}

/// Finds at most one private and one public key block in a PEM file.
fn split_key_blocks(pem: &str) -> Result<(Option<&str>, Option<&str>), String> {
    let (mut private, mut public) = (None, None);
    for (label, block) in pem_blocks(pem)? {
        let slot = match label {
            "PRIVATE KEY" | "RSA PRIVATE KEY" => &mut private,
            "PUBLIC KEY" | "RSA PUBLIC KEY" => &mut public,
            other => return Err(format!("unsupported block {other:?} (encrypted keys are not supported)")),
        };
        if slot.replace(block).is_some() {
            return Err(format!("more than one {label} block"));
        }
    }
    Ok((private, public))
}

/// Splits PEM text into `(label, whole block)` pairs, ignoring text between blocks.
///
/// Labels are checked to be plain words before they go into an error message, so a
/// malformed file cannot leak key bytes through one.
fn pem_blocks(pem: &str) -> Result<Vec<(&str, &str)>, String> {
    const BEGIN: &str = "-----BEGIN ";
    let mut blocks = Vec::new();
    let mut rest = pem;
    while let Some(start) = rest.find(BEGIN) {
        let body_start = start + BEGIN.len();
        let label = rest[body_start..].split_once("-----").map(|(label, _)| label).unwrap_or_default();
        if label.is_empty() || !label.bytes().all(|b| b.is_ascii_uppercase() || b == b' ') {
            return Err("a BEGIN line is malformed".to_owned());
        }
        let end_marker = format!("-----END {label}-----");
        let end = rest[body_start..].find(&end_marker).ok_or_else(|| format!("no END line for {label:?}"))?
            + body_start
            + end_marker.len();
        blocks.push((label, &rest[start..end]));
        rest = &rest[end..];
    }
    Ok(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn testdata(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src/auth/testdata").join(name)
    }

    fn file_key(algorithm: JwtAlgorithm, name: &str) -> JwtKeyConfig {
        JwtKeyConfig { kid: "k1".into(), algorithm, secret: None, key_file: Some(testdata(name)) }
    }

    fn secret_key(secret: &str) -> JwtKeyConfig {
        JwtKeyConfig { kid: "k1".into(), algorithm: JwtAlgorithm::Hs256, secret: Some(secret.into()), key_file: None }
    }

    #[test]
    fn each_supported_key_file_layout_loads_as_signing_or_verify_only() {
        let cases = [
            (JwtAlgorithm::EdDsa, "ed25519.pem", true),
            (JwtAlgorithm::EdDsa, "ed25519_public.pem", false),
            (JwtAlgorithm::Rs256, "rsa_private.pem", true),
            (JwtAlgorithm::Rs256, "rsa_public.pem", false),
        ];
        for (algorithm, file, signs) in cases {
            let key = JwtKey::load(&file_key(algorithm, file)).unwrap_or_else(|e| panic!("{file} should load: {e}"));
            assert_eq!(key.encoding.is_some(), signs, "{file} signing capability");
        }
    }

    #[test]
    fn an_eddsa_private_key_without_its_public_half_is_refused() {
        let error = JwtKey::load(&file_key(JwtAlgorithm::EdDsa, "ed25519_private_only.pem"));
        assert!(matches!(error, Err(JwtKeyError::InvalidPem { .. })), "{error:?}");
    }

    #[test]
    fn a_private_key_paired_with_someone_elses_public_key_is_refused() {
        let error = JwtKey::load(&file_key(JwtAlgorithm::EdDsa, "ed25519_mismatched.pem"));
        assert!(matches!(error, Err(JwtKeyError::KeyPairMismatch { .. })), "{error:?}");
    }

    #[test]
    fn a_key_file_for_another_algorithm_is_refused() {
        let error = JwtKey::load(&file_key(JwtAlgorithm::Rs256, "ed25519.pem"));
        assert!(matches!(error, Err(JwtKeyError::InvalidKey { .. })), "{error:?}");
        let error = JwtKey::load(&file_key(JwtAlgorithm::EdDsa, "rsa_private.pem"));
        assert!(matches!(error, Err(JwtKeyError::InvalidPem { .. } | JwtKeyError::InvalidKey { .. })), "{error:?}");
    }

    #[test]
    fn hs256_secrets_shorter_than_32_bytes_are_refused() {
        assert!(matches!(JwtKey::load(&secret_key(&"s".repeat(31))), Err(JwtKeyError::WeakSecret { .. })));
        assert!(JwtKey::load(&secret_key(&generate_hs256_secret())).is_ok());
    }

    #[test]
    fn key_material_must_be_given_exactly_once_and_in_the_right_form() {
        let mut both = secret_key(&generate_hs256_secret());
        both.key_file = Some(testdata("rsa_private.pem"));
        assert!(matches!(JwtKey::load(&both), Err(JwtKeyError::ConflictingKeyMaterial { .. })));
        let neither = JwtKeyConfig { secret: None, ..secret_key("") };
        assert!(matches!(JwtKey::load(&neither), Err(JwtKeyError::MissingKeyMaterial { .. })));
        let rsa_secret = JwtKeyConfig { algorithm: JwtAlgorithm::Rs256, ..secret_key(&generate_hs256_secret()) };
        assert!(matches!(JwtKey::load(&rsa_secret), Err(JwtKeyError::SecretNotAllowed { .. })));
        let missing_file = file_key(JwtAlgorithm::Rs256, "no_such_file.pem");
        assert!(matches!(JwtKey::load(&missing_file), Err(JwtKeyError::ReadKeyFile { .. })));
    }

    #[test]
    fn malformed_pem_files_are_refused_without_echoing_their_contents() {
        let two_private_keys = "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n".repeat(2);
        let cases = [
            ("end before begin", "-----END PUBLIC KEY-----\n-----BEGIN PUBLIC KEY-----\nAAAA\n"),
            ("unterminated", "-----BEGIN PUBLIC KEY-----\nAAAA\n"),
            ("label runs into the key", "-----BEGIN PRIVATE KEY\nc2VjcmV0-----\n"),
            ("encrypted", "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"),
            ("two private keys", two_private_keys.as_str()),
            ("no key at all", "hello"),
        ];
        for (description, pem) in cases {
            let error = pem_pair("k1", JwtAlgorithm::Rs256, pem).map(|_| ()).expect_err(description);
            assert!(matches!(error, JwtKeyError::InvalidPem { .. }), "{description}: {error:?}");
            assert!(!error.to_string().contains("c2VjcmV0"), "{description} leaked key text: {error}");
        }
    }

    #[test]
    fn generated_hs256_secrets_are_64_hex_characters_and_unique() {
        let (a, b) = (generate_hs256_secret(), generate_hs256_secret());
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn errors_and_debug_output_never_show_the_secret() {
        let secret = "short-but-secret";
        let error = JwtKey::load(&secret_key(secret)).expect_err("too short");
        assert!(!error.to_string().contains(secret) && !format!("{error:?}").contains(secret));
        let long = generate_hs256_secret();
        let config = secret_key(&long);
        let key = JwtKey::load(&config).expect("valid secret");
        assert!(!format!("{config:?}").contains(&long) && !format!("{key:?}").contains(&long));
    }
}
