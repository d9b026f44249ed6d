//! Identifier newtypes.

use std::fmt;

/// Why an identifier was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdError {
    #[error("tenant id must be 1-64 characters of a-z, 0-9, '-' or '_', starting with a letter or digit")]
    InvalidTenantId,
    #[error("invoice id must be a tenant id, a dot and hex digits")]
    InvalidInvoiceId,
}

/// A tenant's slug: 1–64 characters of `[a-z0-9_-]`, starting with a letter or digit.
///
/// The slug is the first column of every tenant-owned key, so it is kept short and
/// boring: no case folding questions, safe in URLs and file names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct TenantId(String);

impl TenantId {
    /// Validates a tenant slug.
    ///
    /// # Errors
    /// [`IdError::InvalidTenantId`] when the text is not a valid slug.
    pub fn parse(text: &str) -> Result<Self, IdError> {
        let valid_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
        let starts_well = text.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if text.len() <= 64 && starts_well && text.chars().all(valid_char) {
            Ok(Self(text.to_owned()))
        } else {
            Err(IdError::InvalidTenantId)
        }
    }

    /// The slug as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for TenantId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_are_lowercase_slugs() {
        for ok in ["acme", "a", "acme-corp_2", "9lives"] {
            assert!(TenantId::parse(ok).is_ok(), "{ok} should be accepted");
        }
        let too_long = "a".repeat(65);
        for bad in ["", "Acme", "-acme", "acme corp", "acmé", too_long.as_str()] {
            assert_eq!(TenantId::parse(bad), Err(IdError::InvalidTenantId), "{bad:?} should be refused");
        }
    }
}
