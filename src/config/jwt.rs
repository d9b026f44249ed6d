//! How a JWT key is written in configuration (`[[jwt.keys]]`, DESIGN §10): its id, its
//! algorithm, and where its material is.
//!
//! Stage: configuration. Input is `tally.toml`; output is plain data that `auth` loads into
//! signing and verification keys. Must not load keys, read key files or import `auth`: the
//! dependency points from `auth` to `config`, never back.

use std::path::PathBuf;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::domain::enum_with_stored_names;

enum_with_stored_names! {
    /// The JWT signature algorithms Tally accepts, spelled as in the JWT `alg` header
    /// (`parse` is case-sensitive, as in JWT headers).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    pub enum JwtAlgorithm {
        /// HMAC with SHA-256 and a shared secret.
        #[serde(rename = "HS256")]
        Hs256 => "HS256",
        /// Ed25519 signatures.
        #[serde(rename = "EdDSA")]
        EdDsa => "EdDSA",
        /// RSASSA-PKCS1-v1_5 with SHA-256.
        #[serde(rename = "RS256")]
        Rs256 => "RS256",
    }
}

/// One `[[jwt.keys]]` entry. Give `secret` or `key_file`, not both (`auth::jwt_key` says which
/// material each algorithm takes).
#[derive(Debug, Clone, Deserialize)]
pub struct JwtKeyConfig {
    /// The key id written to and read from the JWT `kid` header.
    pub kid: String,
    /// The only algorithm tokens under this `kid` may use.
    pub algorithm: JwtAlgorithm,
    /// The HS256 shared secret.
    #[serde(default)]
    pub secret: Option<SecretString>,
    /// A file with the HS256 secret, or a PEM key for EdDSA and RS256.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithms_parse_only_their_jwt_header_names() {
        for alg in [JwtAlgorithm::Hs256, JwtAlgorithm::EdDsa, JwtAlgorithm::Rs256] {
            assert_eq!(JwtAlgorithm::parse(alg.as_str()), Some(alg));
        }
        for bad in ["hs256", "none", "ES256", ""] {
            assert!(JwtAlgorithm::parse(bad).is_none(), "{bad:?} should be refused");
        }
    }
}
