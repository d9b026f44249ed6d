//! Prometheus metrics (`GET /metrics`): one registry, typed handles.

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::store::FoldReport;

/// Declares [`Metrics`]: each handle once, with its type, its initial value, and the name and
/// help text it is registered (and exposed) under, in exposition order.
macro_rules! metrics {
    ($($(#[$doc:meta])* $field:ident: $ty:ty = $init:expr, $name:literal, $help:literal;)*) => {
        /// The service's metrics.
        pub struct Metrics {
            registry: Registry,
            $($(#[$doc])* pub $field: $ty,)*
        }

        impl Default for Metrics {
            fn default() -> Self {
                let mut registry = Registry::with_prefix("tally");
                $(
                    let $field: $ty = $init;
                    registry.register($name, $help, $field.clone());
                )*
                Metrics { registry, $($field),* }
            }
        }
    };
}

metrics! {
    records_accepted: Counter = Counter::default(), "ingested_records", "Usage records stored";
    records_duplicate: Counter = Counter::default(), "duplicate_records", "Usage records that were duplicates";
    records_conflicting: Counter = Counter::default(),
        "conflicting_records", "Usage records refused as conflicting duplicates";
    records_rejected: Counter = Counter::default(), "rejected_records", "Usage records rejected by validation";
    write_batch_records: Histogram = Histogram::new(exponential_buckets(1.0, 4.0, 9)),
        "write_batch_records", "Records per group commit";
    write_seconds: Histogram = Histogram::new(exponential_buckets(0.0005, 2.0, 14)),
        "write_seconds", "Group commit latency";
    write_wait_seconds: Histogram = Histogram::new(exponential_buckets(0.0001, 2.0, 16)),
        "write_wait_seconds", "Time a request waits in the write queue before its group commit starts";
    write_failures: Counter = Counter::default(), "write_failures", "Group commits that failed (answered 503)";
    queue_depth: Gauge = Gauge::default(), "write_queue_depth", "Requests waiting for the writer";
    billing_runs: Counter = Counter::default(), "billing_runs", "Billing runs completed (scheduled or requested)";
    invoices_issued: Counter = Counter::default(), "invoices_issued", "Invoices issued by billing runs";
    invoices_reminded: Counter = Counter::default(), "invoices_reminded",
        "Overdue invoices billing runs reminded tenants of";
    /// Outbox deliveries accepted by the SMTP server or webhook receiver.
    outbox_sent: Family<DeliveryLabels, Counter> = Family::default(),
        "outbox_sent", "Outbox deliveries sent, by kind and channel";
    /// Outbox deliveries that failed for good.
    outbox_failed: Family<DeliveryLabels, Counter> = Family::default(),
        "outbox_failed", "Outbox deliveries failed for good, by kind and channel";
    /// Outbox deliveries waiting to be sent (in the whole database, as of this process's
    /// last pass).
    outbox_pending: Family<DeliveryLabels, Gauge> = Family::default(),
        "outbox_pending", "Outbox deliveries waiting, by kind and channel";
    quota_alerts_raised: Counter = Counter::default(), "quota_alerts_raised", "Quota threshold alerts raised";
    unbilled_entries: Counter = Counter::default(),
        "unbilled_usage_entries", "Unbilled-usage entries written (one per tenant and period, DESIGN §6)";
    unbilled_records: Gauge = Gauge::default(),
        "unbilled_records",
        "Records no subscription covers in the periods open for usage, as of the last quota evaluator pass";
    rollup_deltas_folded: Counter = Counter::default(),
        "rollup_deltas_folded", "Pending rollup deltas folded into the rollup levels (PostgreSQL)";
    rollup_fold_seconds: Histogram = Histogram::new(exponential_buckets(0.001, 2.0, 14)),
        "rollup_fold_seconds",
        "Duration of a pending-rollup fold, its vacuum included (reads add what is still pending)";
    rollup_fold_failures: Counter = Counter::default(),
        "rollup_fold_failures", "Pending-rollup folds that failed (their deltas stay pending, still read)";
    rollup_pending_vacuum_failures: Counter = Counter::default(),
        "rollup_pending_vacuum_failures",
        "Vacuums of the pending rollup deltas' table that failed (the table grows until one succeeds)";
    quota_pass_seconds: Histogram = Histogram::new(exponential_buckets(0.001, 2.0, 16)),
        "quota_evaluation_seconds",
        "Duration of a quota evaluator pass over the tenants whose data changed (alert lag is at most the interval plus this)";
    quota_changed_tenants: Counter = Counter::default(),
        "quota_changed_tenants_evaluated", "Tenants quota evaluator passes read because their data changed";
    quota_sweep_seconds: Histogram = Histogram::new(exponential_buckets(0.01, 2.0, 16)),
        "quota_sweep_seconds", "Duration of a quota evaluator sweep over every tenant";
    quota_last_pass: Gauge = Gauge::default(),
        "quota_evaluation_last_pass_timestamp_seconds",
        "Unix time the last quota evaluator pass finished (evaluator lag = now - this)";
}

/// Labels of the outbox metrics: the event (`invoice.finalized`) and the channel (`email`,
/// `webhook`).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    pub kind: String,
    pub channel: String,
}

impl Metrics {
    /// Counts one completed billing run, the invoices it issued and those it reminded of.
    pub fn record_billing_run(&self, invoices_issued: usize, invoices_reminded: usize) {
        self.billing_runs.inc();
        self.invoices_issued.inc_by(invoices_issued as u64);
        self.invoices_reminded.inc_by(invoices_reminded as u64);
    }

    /// Records a finished quota evaluator pass (alerts are counted as they are raised).
    pub fn record_quota_pass(&self, took: std::time::Duration) {
        self.quota_pass_seconds.observe(took.as_secs_f64());
        let finished = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        self.quota_last_pass.set(i64::try_from(finished.as_secs()).unwrap_or(i64::MAX));
    }

    /// Records a finished quota evaluator sweep over every tenant.
    pub fn record_quota_sweep(&self, took: std::time::Duration) {
        self.quota_sweep_seconds.observe(took.as_secs_f64());
    }

    /// Counts the tenants a changed pass read.
    pub fn record_changed_tenants(&self, tenants: usize) {
        self.quota_changed_tenants.inc_by(tenants as u64);
    }

    /// Records a fold of pending rollup deltas that ran (PostgreSQL), how long it took and
    /// what it did.
    pub fn record_rollup_fold(&self, took: std::time::Duration, report: &FoldReport) {
        self.rollup_fold_seconds.observe(took.as_secs_f64());
        self.rollup_deltas_folded.inc_by(report.pending);
        if report.pending > 0 && !report.vacuumed {
            self.rollup_pending_vacuum_failures.inc();
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
