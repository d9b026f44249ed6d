//! All SQL lives here: one [`Store`] with every operation written once, over PostgreSQL (the
//! production engine) or SQLite (the embedded default).
//!
//! Pipeline stage: persistence, below `ingest`, `invoice`, `auth` and the API. Callers pass and
//! receive `domain` (and `aggregate`) values; `*Row` types and SQL never leave this module,
//! and it never imports a module above it. Database failures are translated into [`DbError`]
//! so that callers can answer 503 without leaking internals. How one text serves both engines
//! is told in `engine.rs`; what only one engine does lives in `postgres/` and `sqlite/`.

mod alerts;
mod api_keys;
mod audit;
mod backup;
mod billing_pages;
mod billing_runs;
mod changes;
mod chunks;
mod citus;
mod codec;
mod copy;
mod corrections;
mod credit_revocations;
mod deliveries;
mod delivery_types;
mod engine;
mod error;
mod gate_changes;
mod idempotency;
mod invoices;
mod issue_batch;
mod ledger;
mod open;
mod outbox;
mod partitions;
mod periods;
mod plans;
mod portal;
mod postgres;
mod quota_pages;
mod quotas;
mod raised;
mod rebuild;
mod reminders;
mod retention;
mod rollup_compaction;
mod rollup_hours;
mod rollup_pending;
mod rollups;
mod sqlite;
mod stored_records;
mod subscriptions;
mod tenants;
mod types;
mod unbilled;
mod uncovered_checked;
mod usage;
mod wal;
mod webhooks;

use chrono::{DateTime, Utc};

pub use alerts::AlertKey;
pub use audit::AuditFilter;
pub use backup::BackupReport;
pub use billing_pages::PerTenant;
pub use billing_runs::{BillingRunStatus, RunOutcome, RunProgress, StoredBillingRun};
pub use citus::{Placement, CITUS_TABLES};
pub use copy::{
    copy_store, verify_copy, CopiedTable, CopyError, CopyOptions, CopyProgress, CopyReport, Kind, Verification,
    COPIED_TABLES, NOT_COPIED,
};
pub use credit_revocations::CreditRevocation;
pub use delivery_types::{
    AttemptResult, Delivery, DeliveryFilter, DeliveryState, NewDelivery, OutboxEvent, RetryOutcome, WebhookEndpoint,
};
pub use engine::{Store, StoreKind};
pub use error::DbError;
pub use gate_changes::{GateChange, GateWatch};
pub use invoices::InvoiceFilter;
pub use issue_batch::IssueBatch;
pub use open::open_store;
pub use partitions::{month_start, next_month};
pub use portal::{PortalSessionRow, SampleRecord};
pub use postgres::{
    binary_copy_rows, bucket_locks, BucketLock, RecordColumns, COPY_RECORDS_SQL, INSERT_RECORDS_SQL,
    LOCK_TENANT_BUCKETS_SQL, PROBE_SQL,
};
pub use raised::{Announced, Raised, Recorded};
pub use reminders::{RemindedPage, INVOICE_OVERDUE};
pub use rollup_compaction::{next_watermark, WatermarkMove, MAX_HOURS_PER_RUN};
pub use rollup_pending::{FoldReport, FOLD_PAGE_DELTAS};
pub use rollups::Unit;
pub use types::{
    CorrectionOutcome, IdempotencyStart, InsertOutcome, IssueInvoice, IssueOutcome, NewCreditGrant, NewPlanVersion,
    RebuildReport, StatusChange, StoredApiKey, StoredInvoice, StoredPlanVersion, StoredResponse,
};
pub use unbilled::{RecordedUnbilled, UnbilledEntry, UnbilledNow};
pub use usage::UsageSession;
pub use wal::{WalProgress, CHECKPOINT_EVERY};

/// Bounds of "all time" for range queries: 1677–2262, inside both engines' ranges
pub(crate) const EARLIEST: DateTime<Utc> = DateTime::from_timestamp_nanos(i64::MIN);
pub(crate) const LATEST: DateTime<Utc> = DateTime::from_timestamp_nanos(i64::MAX);
