//! Logs every call into the store — which method, when it started (since the log was last
//! taken) and how long it took — so the report can say where a billing run's time goes: in
//! the database calls (by method) or in the run's own work between them, and whether calls get
//! slower as the run proceeds. It reads the `tracing` span every `Store` method opens (target
//! `tally::store`), counting only outermost store spans (a store method calling another is one
//! call). The run is sequential, so the calls plus the gaps between them are its wall time.
//! Overhead: a span per call, two clock reads and a push.
//!
//! A call is logged when its span closes, and on SQLite that can be after the call returned:
//! sqlx's worker thread holds a clone of the caller's span while it runs each command, and
//! drops it only after it has answered — so the span of a run's last call (its last page's
//! `issue_invoices`) often closed after the log was taken, and was missing from it. Taking the
//! log therefore waits until every store span opened has closed.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tracing::span::{Attributes, Id};
use tracing::Subscriber;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// One store call: the method, when it started (since the log was last taken) and its time.
pub struct Call {
    pub method: &'static str,
    pub at: Duration,
    pub took: Duration,
}

/// The log of store calls, shared with the layer that fills it.
#[derive(Clone)]
pub struct StoreCalls {
    log: Arc<Mutex<Log>>,
}

struct Log {
    /// When the log was last taken.
    since: Instant,
    calls: Vec<Call>,
    /// Outermost store spans opened and not closed yet.
    open: usize,
}

/// How long taking the log waits for open store spans to close (sqlx's SQLite worker drops its
/// clone microseconds after it answers; a span still open after this is a call in flight).
const SETTLE: Duration = Duration::from_secs(1);

impl StoreCalls {
    /// The process-wide log (installed as the global subscriber on first use).
    pub fn global() -> Self {
        static CALLS: OnceLock<StoreCalls> = OnceLock::new();
        CALLS
            .get_or_init(|| {
                let log = Log { since: Instant::now(), calls: Vec::new(), open: 0 };
                let calls = StoreCalls { log: Arc::new(Mutex::new(log)) };
                let subscriber = tracing_subscriber::registry().with(CallLayer { calls: calls.clone() });
                tracing::subscriber::set_global_default(subscriber).expect("the bench installs the only subscriber");
                calls
            })
            .clone()
    }

    /// The calls so far, once every store span opened has closed (or after [`SETTLE`]); the
    /// next log starts now.
    pub fn take(&self) -> Vec<Call> {
        let deadline = Instant::now() + SETTLE;
        loop {
            let mut log = self.log.lock().expect("no panic while holding the lock");
            if log.open == 0 || Instant::now() >= deadline {
                log.since = Instant::now();
                return std::mem::take(&mut log.calls);
            }
            drop(log);
            std::thread::sleep(Duration::from_micros(100));
        }
    }
}

struct CallLayer {
    calls: StoreCalls,
}

struct Started(Instant);

fn is_store(metadata: &tracing::Metadata<'_>) -> bool {
    metadata.target().starts_with("tally::store")
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for CallLayer {
    fn on_new_span(&self, _: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let nested = span.parent().is_some_and(|p| is_store(p.metadata()));
        if is_store(span.metadata()) && !nested {
            self.calls.log.lock().expect("no panic while holding the lock").open += 1;
            span.extensions_mut().insert(Started(Instant::now()));
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(started) = span.extensions().get::<Started>().map(|s| s.0) else { return };
        let took = started.elapsed();
        let mut log = self.calls.log.lock().expect("no panic while holding the lock");
        log.open -= 1;
        let at = started.saturating_duration_since(log.since);
        log.calls.push(Call { method: span.metadata().name(), at, took });
    }
}
