//! Values the store hands back that are not domain entities of their own.

use crate::domain::ContentHash;

/// What happened to one record of an insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertOutcome {
    /// Stored now.
    Inserted,
    /// A record with this key was already stored, with this content hash.
    Existing(ContentHash),
}

/// An API key as stored: only the SHA-256 hash of its secret. `auth` gives the role its meaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredApiKey {
    pub key_id: String,
    pub secret_hash: [u8; 32],
    pub role: String,
    pub tenant: Option<crate::domain::TenantId>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Counts from a rollup rebuild.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RebuildReport {
    pub records: u64,
    pub rollups: u64,
}

/// A response saved for an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: Vec<u8>,
    /// The `Location` header, when the answer had one.
    pub location: Option<String>,
}

/// The state of an idempotency key when a request tries to claim it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyStart {
    /// Claimed for this request: run it, then finish or abandon.
    Claimed,
    /// Same key and same request, already answered: replay this.
    Replay(StoredResponse),
    /// Same key, still being processed by another request.
    InFlight,
    /// Same key used for a different request.
    Mismatch,
}

/// A plan's content to record as a version.
#[derive(Debug, Clone, Copy)]
pub struct NewPlanVersion<'a> {
    pub plan_id: &'a str,
    pub content_hash: &'a str,
    /// Canonical TOML of the parsed plan.
    pub definition: &'a str,
    pub currency: &'a str,
}

/// A stored plan version, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPlanVersion {
    pub plan_id: String,
    pub version: i32,
    pub content_hash: String,
    pub definition: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// An assembled invoice to number and store, closing its period.
#[derive(Debug, Clone, Copy)]
pub struct IssueInvoice<'a> {
    pub tenant: &'a crate::domain::TenantId,
    pub invoice: &'a crate::domain::NewInvoice,
    /// Invoice number prefix of the issuer (`INV`).
    pub invoice_prefix: &'a str,
    pub now: chrono::DateTime<chrono::Utc>,
}

/// What happened when a run tried to close a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssueOutcome {
    /// Numbered, stored, outbox row written, period closed: the period's invoice, and the
    /// adjustment invoices issued with it (other currencies), in number order.
    Issued(Box<crate::domain::InvoiceDocument>, Vec<crate::domain::InvoiceDocument>),
    /// Another run closed it first.
    AlreadyClosed,
    /// Another run is closing it right now (its row is locked).
    Busy,
}

/// An invoice as stored: the issued document, with its current status and status facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredInvoice {
    pub document: crate::domain::InvoiceDocument,
    pub paid_at: Option<chrono::DateTime<chrono::Utc>>,
    pub voided_at: Option<chrono::DateTime<chrono::Utc>>,
    pub credit_note_number: Option<String>,
    /// When the billing run reminded the tenant that it is overdue (`billing.overdue_reminder`).
    pub reminded_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl StoredInvoice {
    /// Whether the tenant was reminded of it (`billing.overdue_reminder`) and has not paid it:
    /// what the portal calls overdue.
    pub fn is_overdue(&self) -> bool {
        self.document.status == crate::domain::InvoiceStatus::Finalized && self.reminded_at.is_some()
    }
}

/// The result of a status change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusChange {
    Changed(Box<StoredInvoice>),
    NotFound,
    /// The invoice is in a status that does not allow the change.
    NotAllowed(crate::domain::InvoiceStatus),
    /// A void refused, nothing written: credit the invoice granted (a negative remainder) was
    /// consumed by these invoices, none of them void (id and number, in ledger order).
    /// Voiding them restores that credit; then this void can take it all back.
    GrantedCreditSpent(Vec<(crate::domain::InvoiceId, String)>),
}

/// A prepaid credit to grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCreditGrant {
    /// Positive, in the currency's minor units.
    pub amount: crate::domain::Money,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    pub reason: String,
}

/// What applying a correction did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorrectionOutcome {
    /// Appended as correction number `seq`; the record went from `before` to `after`.
    Applied {
        seq: i32,
        before: Option<Box<crate::aggregate::RecordState>>,
        after: Option<Box<crate::aggregate::RecordState>>,
    },
    RecordNotFound,
    /// A void of a record that is already void.
    AlreadyVoid,
    /// The record is in a period the tenant's policy keeps closed.
    PeriodClosed,
    /// The record is older than the accepted window.
    TooOld,
}
