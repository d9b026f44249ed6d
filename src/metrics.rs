//! Prometheus metrics (`GET /metrics`): one registry, typed handles.

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// The service's metrics.
pub struct Metrics {
    registry: Registry,
    pub records_accepted: Counter,
    pub records_duplicate: Counter,
    pub records_conflicting: Counter,
    pub records_rejected: Counter,
    pub write_batch_records: Histogram,
    pub write_seconds: Histogram,
    pub write_failures: Counter,
    pub queue_depth: Gauge,
    pub billing_runs: Counter,
    pub invoices_issued: Counter,
    pub quota_alerts_raised: Counter,
    pub quota_pass_seconds: Histogram,
    pub quota_last_pass: Gauge,
    /// Outbox deliveries accepted by the SMTP server or webhook receiver.
    pub outbox_sent: Family<DeliveryLabels, Counter>,
    /// Outbox deliveries that failed for good.
    pub outbox_failed: Family<DeliveryLabels, Counter>,
    /// Outbox deliveries waiting to be sent (in the whole database, as of this process's
    /// last pass).
    pub outbox_pending: Family<DeliveryLabels, Gauge>,
}

/// Labels of the outbox metrics: the event (`invoice.finalized`) and the channel (`email`,
/// `webhook`).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    pub kind: String,
    pub channel: String,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("tally");
        let m = Metrics {
            records_accepted: Counter::default(),
            records_duplicate: Counter::default(),
            records_conflicting: Counter::default(),
            records_rejected: Counter::default(),
            write_batch_records: Histogram::new(exponential_buckets(1.0, 4.0, 9)),
            write_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 14)),
            write_failures: Counter::default(),
            queue_depth: Gauge::default(),
            billing_runs: Counter::default(),
            invoices_issued: Counter::default(),
            outbox_sent: Family::default(),
            outbox_failed: Family::default(),
            outbox_pending: Family::default(),
            quota_alerts_raised: Counter::default(),
            quota_pass_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            quota_last_pass: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register("ingested_records", "Usage records stored", m.records_accepted.clone());
        registry.register("duplicate_records", "Usage records that were duplicates", m.records_duplicate.clone());
        registry.register(
            "conflicting_records",
            "Usage records refused as conflicting duplicates",
            m.records_conflicting.clone(),
        );
        registry.register("rejected_records", "Usage records rejected by validation", m.records_rejected.clone());
        registry.register("write_batch_records", "Records per group commit", m.write_batch_records.clone());
        registry.register("write_seconds", "Group commit latency", m.write_seconds.clone());
        registry.register("write_failures", "Group commits that failed (answered 503)", m.write_failures.clone());
        registry.register("write_queue_depth", "Requests waiting for the writer", m.queue_depth.clone());
        registry.register("billing_runs", "Billing runs completed (scheduled or requested)", m.billing_runs.clone());
        registry.register("invoices_issued", "Invoices issued by billing runs", m.invoices_issued.clone());
        registry.register("outbox_sent", "Outbox deliveries sent, by kind and channel", m.outbox_sent.clone());
        registry.register(
            "outbox_failed",
            "Outbox deliveries failed for good, by kind and channel",
            m.outbox_failed.clone(),
        );
        registry.register("outbox_pending", "Outbox deliveries waiting, by kind and channel", m.outbox_pending.clone());
        registry.register("quota_alerts_raised", "Quota threshold alerts raised", m.quota_alerts_raised.clone());
        registry.register(
            "quota_evaluation_seconds",
            "Duration of a quota evaluator pass (alert lag is at most the interval plus this)",
            m.quota_pass_seconds.clone(),
        );
        registry.register(
            "quota_evaluation_last_pass_timestamp_seconds",
            "Unix time the last quota evaluator pass finished (evaluator lag = now - this)",
            m.quota_last_pass.clone(),
        );
        Metrics { registry, ..m }
    }
}

impl Metrics {
    /// Counts one completed billing run and the invoices it issued.
    pub fn record_billing_run(&self, invoices_issued: usize) {
        self.billing_runs.inc();
        self.invoices_issued.inc_by(invoices_issued as u64);
    }

    /// Records a finished quota evaluator pass (alerts are counted as they are raised).
    pub fn record_quota_pass(&self, took: std::time::Duration) {
        self.quota_pass_seconds.observe(took.as_secs_f64());
        let finished = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        self.quota_last_pass.set(i64::try_from(finished.as_secs()).unwrap_or(i64::MAX));
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
