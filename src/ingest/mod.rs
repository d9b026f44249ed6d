//! Ingestion: wire records and CloudEvents → validated records → the batching writer.
//!
//! Handlers validate completely (tenant, bounds, normalization) before the writer sees a
//! record, so SQL cannot fail on data. Nothing is acknowledged before it is committed.
//!
//! Stage: the first step of the pipeline, at the HTTP edge. Uses `http`, `auth`, `store`,
//! `aggregate`, `invoice` (only the `InvoiceIssued` hook); must never import `api`.

mod answers;
mod body;
mod cloudevents;
mod corrections;
mod dedupe;
mod lanes;
mod plain_record;
mod quantity;
mod record;
mod routes;
mod service;
mod tenants;
mod writer;

pub use body::BodyLimits;
pub use corrections::correct_usage;
pub use dedupe::WriteOutcome;
pub use record::{RecordError, TimeWindow};
pub use routes::{ingest_events, ingest_usage};
pub use service::{IngestReport, Ingestor};
pub use tenants::{TenantDirectory, TenantGate};
pub use writer::{UsageWriter, WriteError, WriterConfig, WriterTasks};
