//! Logs every call into the store — which method, when it started (since the log was last
//! taken) and how long it took — so the report can say where a billing run's time goes: in
//! the database calls (by method) or in the run's own work between them, and whether calls get
//! slower as the run proceeds. It reads the `tracing` span every `Store` method opens (target
//! `tally::store`), counting only outermost store spans (a store method calling another is one
//! call). The run is sequential, so the calls plus the gaps between them are its wall time.
//! Overhead: a span per call, two clock reads and a push.

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
    log: Arc<Mutex<(Instant, Vec<Call>)>>,
}

impl StoreCalls {
    /// The process-wide log (installed as the global subscriber on first use).
    pub fn global() -> Self {
        static CALLS: OnceLock<StoreCalls> = OnceLock::new();
        CALLS
            .get_or_init(|| {
                let calls = StoreCalls { log: Arc::new(Mutex::new((Instant::now(), Vec::new()))) };
                let subscriber = tracing_subscriber::registry().with(CallLayer { calls: calls.clone() });
                tracing::subscriber::set_global_default(subscriber).expect("the bench installs the only subscriber");
                calls
            })
            .clone()
    }

    /// The calls so far; the next log starts now.
    pub fn take(&self) -> Vec<Call> {
        let mut log = self.log.lock().expect("no panic while holding the lock");
        log.0 = Instant::now();
        std::mem::take(&mut log.1)
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
            span.extensions_mut().insert(Started(Instant::now()));
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(started) = span.extensions().get::<Started>().map(|s| s.0) else { return };
        let took = started.elapsed();
        let mut log = self.calls.log.lock().expect("no panic while holding the lock");
        let at = started.saturating_duration_since(log.0);
        log.1.push(Call { method: span.metadata().name(), at, took });
    }
}
