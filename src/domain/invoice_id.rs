//! Invoice ids: `<tenant>.<32 hex digits>`. The tenant (the shard key) is part of the id, so
//! `/v1/invoices/{id}` finds its tenant's rows without a global index, and an id names its
//! tenant whether or not the invoice exists.

use std::fmt;

use super::{IdError, TenantId};

/// A parsed invoice id; knows its tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct InvoiceId {
    text: String,
    tenant: TenantId,
}

impl InvoiceId {
    /// A new id for an invoice of `tenant`: a random UUID after the tenant and a dot (tenant
    /// ids never hold dots).
    pub fn generate(tenant: &TenantId) -> Self {
        Self { text: format!("{tenant}.{}", uuid::Uuid::new_v4().simple()), tenant: tenant.clone() }
    }

    /// Reads an id.
    ///
    /// # Errors
    /// [`IdError::InvalidInvoiceId`] unless the text is a tenant id, a dot and 1–64 lowercase
    /// hex digits.
    pub fn parse(text: &str) -> Result<Self, IdError> {
        let (tenant, rest) = text.split_once('.').ok_or(IdError::InvalidInvoiceId)?;
        let tenant = TenantId::parse(tenant).map_err(|_| IdError::InvalidInvoiceId)?;
        let hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
        if rest.is_empty() || rest.len() > 64 || !rest.bytes().all(hex) {
            return Err(IdError::InvalidInvoiceId);
        }
        Ok(Self { text: text.to_owned(), tenant })
    }

    /// The tenant whose invoice this is.
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl TryFrom<String> for InvoiceId {
    type Error = IdError;

    fn try_from(text: String) -> Result<Self, IdError> {
        Self::parse(&text)
    }
}

impl From<InvoiceId> for String {
    fn from(id: InvoiceId) -> String {
        id.text
    }
}

impl fmt::Display for InvoiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_names_its_tenant() {
        let acme = TenantId::parse("acme-2").unwrap();
        let id = InvoiceId::generate(&acme);
        assert_eq!(InvoiceId::parse(id.as_str()), Ok(id.clone()), "a generated id parses back");
        assert_eq!(id.tenant(), &acme);
    }

    #[test]
    fn ids_this_api_never_issues_are_refused() {
        for bad in ["", "acme", "acme.", ".abc", "Acme.abc", "acme.xyz", "acme.ABC", "acme.ab.cd", &"a".repeat(70)] {
            assert_eq!(InvoiceId::parse(bad), Err(IdError::InvalidInvoiceId), "{bad:?}");
        }
    }
}
