//! Who is calling and what they may touch: [`Role`] and [`Principal`].
//!
//! Stage: auth, at the edge. Inputs are a verified API key or JWT (see `api_key`, `jwt`);
//! the output is a `Principal` that handlers ask yes/no questions. Pure: no IO, no clock.
//! Access rules live here and nowhere else, so a route cannot grow its own idea of scope.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::domain::{enum_with_stored_names, TenantId};

enum_with_stored_names! {
    /// What a credential is for (DESIGN §10). Its name, as written in config, CLI flags and
    /// claims, is the lowercase text serde writes (case-sensitive).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum Role {
        /// Operators: manage tenants, plans, invoices, credentials.
        Admin => "admin",
        /// Runtimes and automation that send usage.
        Ingest => "ingest",
        /// A tenant's own people (portal sessions, tenant API); always scoped to that tenant.
        Tenant => "tenant",
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = RoleError;

    /// [`RoleError::UnknownRole`] for any name but `admin`, `ingest` and `tenant`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text).ok_or(RoleError::UnknownRole)
    }
}

/// Why a role or principal was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RoleError {
    #[error("role must be one of admin, ingest or tenant")]
    UnknownRole,
    #[error("a tenant credential must name its tenant")]
    TenantRoleWithoutTenant,
    #[error("a subject is 1-256 characters without control characters")]
    InvalidSubject,
}

/// An authenticated caller: a role, an optional tenant scope, and who it is for the audit log.
///
/// `tenant` is present exactly when the caller is scoped to one tenant. A `tenant` principal
/// always has one; `admin` and `ingest` principals may be scoped or global.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    role: Role,
    tenant: Option<TenantId>,
    subject: String,
}

impl Principal {
    /// Builds a principal, enforcing that a `tenant` role names its tenant.
    ///
    /// `subject` is the audit-log actor: `key:<key_id>` for API keys, the `sub` claim for JWTs.
    ///
    /// # Errors
    /// [`RoleError::TenantRoleWithoutTenant`] for `Role::Tenant` with no tenant.
    pub fn new(role: Role, tenant: Option<TenantId>, subject: impl Into<String>) -> Result<Self, RoleError> {
        if role == Role::Tenant && tenant.is_none() {
            return Err(RoleError::TenantRoleWithoutTenant);
        }
        // The subject is logged and stored (idempotency scopes, audit): no NUL, no controls.
        let subject = subject.into();
        if !(1..=256).contains(&subject.chars().count()) || subject.chars().any(char::is_control) {
            return Err(RoleError::InvalidSubject);
        }
        Ok(Self { role, tenant, subject })
    }

    /// The caller's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The tenant the caller is scoped to, or `None` for a global admin or ingest credential.
    pub fn tenant(&self) -> Option<&TenantId> {
        self.tenant.as_ref()
    }

    /// The audit-log actor (`key:<key_id>` or a JWT `sub`).
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// True for the `admin` role, scoped or not. Cross-tenant routes (list or create tenants,
    /// run billing) take the `GlobalAdmin` extractor, which asks [`Principal::is_global_admin`].
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// True for an `admin` with no tenant scope: the only caller allowed across tenants.
    pub fn is_global_admin(&self) -> bool {
        self.is_admin() && self.tenant.is_none()
    }

    /// May this caller read `tenant`'s data (usage, invoices, quotas)?
    ///
    /// A global admin reads any tenant; a scoped admin or a tenant reads only its own.
    /// Ingest credentials only write, so they read nothing.
    pub fn can_read_tenant(&self, tenant: &TenantId) -> bool {
        match self.role {
            Role::Admin | Role::Tenant => self.in_scope(tenant),
            Role::Ingest => false,
        }
    }

    /// May this caller send usage for `tenant`? Ingest and admin may, within their scope.
    pub fn can_ingest_for(&self, tenant: &TenantId) -> bool {
        match self.role {
            Role::Admin | Role::Ingest => self.in_scope(tenant),
            Role::Tenant => false,
        }
    }

    fn in_scope(&self, tenant: &TenantId) -> bool {
        self.tenant.as_ref().is_none_or(|own| own == tenant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(slug: &str) -> TenantId {
        TenantId::parse(slug).expect("test slugs are valid")
    }

    fn principal(role: Role, scope: Option<&str>) -> Principal {
        Principal::new(role, scope.map(tenant), "test").expect("test principals are valid")
    }

    #[test]
    fn a_subject_is_plain_text_of_1_to_256_characters() {
        for bad in ["", "ops\u{0}", "line\nbreak", "tab\there", &"x".repeat(257)] {
            let result = Principal::new(Role::Admin, None, bad);
            assert!(matches!(result, Err(RoleError::InvalidSubject)), "{bad:?}: {result:?}");
        }
        for good in ["cli", "alice@example.com", "key:0123456789ab", "Zoë", &"x".repeat(256)] {
            assert!(Principal::new(Role::Admin, None, good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn roles_round_trip_through_their_lowercase_names() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse(), Ok(role));
            assert_eq!(role.to_string(), role.as_str());
            let json = serde_json::to_string(&role).expect("roles serialize");
            assert_eq!(json, format!("\"{}\"", role.as_str()));
            assert_eq!(serde_json::from_str::<Role>(&json).expect("roles deserialize"), role);
        }
    }

    #[test]
    fn unknown_or_differently_cased_role_names_are_refused() {
        for bad in ["", "Admin", "root", "tenants"] {
            assert_eq!(bad.parse::<Role>(), Err(RoleError::UnknownRole), "{bad:?} should be refused");
        }
    }

    #[test]
    fn a_tenant_principal_must_name_its_tenant() {
        assert_eq!(Principal::new(Role::Tenant, None, "x"), Err(RoleError::TenantRoleWithoutTenant));
        assert!(Principal::new(Role::Admin, None, "x").is_ok());
        assert!(Principal::new(Role::Ingest, None, "x").is_ok());
    }

    #[test]
    fn a_global_admin_reads_and_ingests_for_every_tenant() {
        let admin = principal(Role::Admin, None);
        assert!(admin.is_admin() && admin.is_global_admin());
        assert!(admin.can_read_tenant(&tenant("acme")));
        assert!(admin.can_ingest_for(&tenant("globex")));
    }

    #[test]
    fn a_scoped_admin_stays_inside_its_tenant() {
        let admin = principal(Role::Admin, Some("acme"));
        assert!(admin.is_admin() && !admin.is_global_admin());
        assert!(admin.can_read_tenant(&tenant("acme")) && admin.can_ingest_for(&tenant("acme")));
        assert!(!admin.can_read_tenant(&tenant("globex")) && !admin.can_ingest_for(&tenant("globex")));
    }

    #[test]
    fn ingest_credentials_write_within_scope_and_read_nothing() {
        let global = principal(Role::Ingest, None);
        let scoped = principal(Role::Ingest, Some("acme"));
        assert!(global.can_ingest_for(&tenant("globex")));
        assert!(scoped.can_ingest_for(&tenant("acme")) && !scoped.can_ingest_for(&tenant("globex")));
        assert!(!global.can_read_tenant(&tenant("acme")) && !scoped.can_read_tenant(&tenant("acme")));
        assert!(!global.is_admin());
    }

    #[test]
    fn a_tenant_reads_only_its_own_data_and_never_ingests() {
        let acme = principal(Role::Tenant, Some("acme"));
        assert!(acme.can_read_tenant(&tenant("acme")));
        assert!(!acme.can_read_tenant(&tenant("globex")));
        assert!(!acme.can_ingest_for(&tenant("acme")));
        assert!(!acme.is_admin());
    }
}
