//! A writer per HTTP worker thread (PostgreSQL): the request, its group commit and its answer
//! on one thread.
//!
//! actix runs each HTTP worker on a single-threaded runtime of its own. With one queue shared
//! by every worker, a request parsed on a worker was committed by a writer task on the main
//! runtime, and answered back on the worker: two wake-ups across threads per group, and the
//! records parsed on one core encoded for `COPY` on another. Here a request made on a
//! single-threaded runtime goes to that runtime's lane instead: a queue, its writer tasks on
//! the same runtime, and a pool of its own whose connections were opened there
//! (`Store::with_pool_for_this_runtime`), so PostgreSQL's replies wake the same thread too.
//! Measured on 2 cores (BENCHMARKS.md, Dec 5 16:15 section): batched ingest at 8 clients rose
//! from 223–232 k to 268–278 k records/s, the idle core-seconds inside group commits fell
//! from 1.7 to 0.5, and the CPU per record stayed the same.
//!
//! A lane opens on its thread's first request. Lanes group only their own worker's requests,
//! and take part in the exactly-once contract like any writer: the database's keys and bucket
//! locks decide between them, as between processes.
//!
//! Shutdown: the HTTP server's graceful stop keeps a worker's runtime running until the
//! requests in flight on it are answered, so what a lane has queued for a waiting request is
//! committed before it stops; a lane also drains and stops on the writer's stop signal, as the
//! shared writers do. A job whose request went away (the client disconnected) can be dropped
//! with its runtime: nobody was acknowledged.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::sync::mpsc;

use super::writer::{Crew, Job};

/// Opens and finds the lanes of one [`super::UsageWriter`].
pub(super) struct Lanes {
    /// Tells this writer's lanes from another writer's, should one thread serve two (the
    /// thread-local below outlives any one writer).
    id: u64,
    /// The shared writers' makings; a lane's get a store of their own.
    crew: Crew,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The lanes open on this thread: (writer id, its lane's queue).
    static OPEN: RefCell<Vec<(u64, mpsc::Sender<Job>)>> = const { RefCell::new(Vec::new()) };
}

impl Lanes {
    pub(super) fn new(crew: Crew) -> Self {
        Self { id: NEXT_ID.fetch_add(1, Ordering::Relaxed), crew }
    }

    /// The queue of this thread's lane, opened on first use; `None` off a single-threaded
    /// runtime (the request goes to the shared queue).
    pub(super) fn here(&self) -> Option<mpsc::Sender<Job>> {
        let runtime = Handle::try_current().ok()?;
        if runtime.runtime_flavor() != RuntimeFlavor::CurrentThread {
            return None;
        }
        OPEN.with_borrow_mut(|open| {
            if let Some((_, queue)) = open.iter().find(|(id, _)| *id == self.id) {
                return Some(queue.clone());
            }
            let queue = self.open();
            open.push((self.id, queue.clone()));
            Some(queue)
        })
    }

    /// Spawns this thread's lane: `config.writers` writer tasks over a pool of as many
    /// connections, all on this runtime.
    fn open(&self) -> mpsc::Sender<Job> {
        let (queue, receiver) = mpsc::channel(self.crew.config.queue_capacity);
        // Detached: they stop on the stop signal, or with this runtime.
        drop(self.crew.on_a_pool_of_its_own().spawn(receiver));
        queue
    }
}
