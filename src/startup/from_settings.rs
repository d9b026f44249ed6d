//! Settings → each service's configuration: what the server wires, and what the CLI, tests
//! and benches take so they bill, retain and deliver exactly as the server does.
//!
//! Pure translation (durations to `chrono`, the issuer to its snapshot), apart from
//! `quota_evaluator`, which hands back an evaluator over the given store without starting it.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::config::Settings;
use crate::domain::{IssuerSnapshot, PaymentTerms};
use crate::ingest::BodyLimits;
use crate::invoice::BillingConfig;
use crate::lifecycle::{Maintenance, RawRetention};
use crate::metrics::Metrics;
use crate::plans::SharedCatalog;
use crate::quota::QuotaEvaluator;
use crate::store::Store;

/// The base of links in emails and of `tally portal-link`: `TALLY_PUBLIC_URL`, else the
/// listen address with the bound `port`.
pub fn public_url(settings: &Settings, port: u16) -> String {
    settings.public_url.clone().unwrap_or_else(|| match settings.listen.rsplit_once(':') {
        Some((host, _)) => format!("http://{host}:{port}"),
        None => format!("http://{}", settings.listen),
    })
}

/// The ingest endpoints' request bounds; the in-flight budget counts KiB.
pub(super) fn body_limits(settings: &Settings) -> BodyLimits {
    BodyLimits {
        max_body_bytes: settings.ingest.max_body_bytes,
        max_records: settings.ingest.max_records_per_request,
        inflight: Arc::new(Semaphore::new(settings.ingest.max_inflight_bytes.div_ceil(1024))),
    }
}

/// Outbox deliveries in flight at most in the delivery worker (claimed, read, rendered and
/// sent; the sends themselves share `smtp.max_connections`). Each is a task of its own, and a
/// claim tops the window up whenever half of it is done, so the worker never waits on its
/// slowest send (BENCHMARKS.md, "The outbox worker's SMTP connections").
pub const OUTBOX_CLAIM_BATCH: u32 = 64;

/// Billing settings from the configuration.
pub fn billing_config(settings: &Settings) -> BillingConfig {
    let issuer = &settings.issuer;
    let duration = |d: std::time::Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
    BillingConfig {
        issuer: IssuerSnapshot {
            name: issuer.name.clone(),
            address: issuer.address.clone(),
            tax_id: issuer.tax_id.clone(),
        },
        invoice_prefix: issuer.invoice_prefix.clone(),
        credit_note_prefix: issuer.credit_note_prefix.clone(),
        grace: duration(settings.billing.grace),
        allowed_lateness: duration(settings.ingest.allowed_lateness),
        allow_time_travel: settings.allow_time_travel,
        // `Settings::load` refused terms above 366 days.
        payment_terms: PaymentTerms::from_std(settings.billing.payment_terms).unwrap_or(PaymentTerms::DEFAULT),
        overdue_reminder: settings.billing.overdue_reminder.map(duration),
    }
}

/// The maintenance settings: raw usage retention within the late window.
pub fn maintenance(settings: &Settings) -> Maintenance {
    let keep = settings.lifecycle.raw_retention.map(|d| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX));
    let allowed_lateness =
        chrono::Duration::from_std(settings.ingest.allowed_lateness).unwrap_or(chrono::Duration::MAX);
    Maintenance { retention: RawRetention { keep, allowed_lateness } }
}

/// The quota evaluator over `store` with this configuration (also for tests and the CLI).
pub fn quota_evaluator(
    settings: &Settings,
    store: &Store,
    catalog: &SharedCatalog,
    metrics: &Arc<Metrics>,
) -> QuotaEvaluator {
    QuotaEvaluator::new(
        store.clone(),
        catalog.clone(),
        metrics.clone(),
        chrono::Duration::from_std(settings.ingest.allowed_lateness).unwrap_or(chrono::Duration::MAX),
    )
}
