//! The batching writer (group commit): records from many concurrent requests go into one
//! transaction; each request is answered only after that transaction commits.
//!
//! A bounded queue gives back-pressure (full → 429). On any database error the whole group
//! answers 503: nothing is acknowledged that is not durable, and retries are idempotent.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot, watch, Mutex};
use tokio::task::JoinHandle;

use super::answers::{Answers, Home, Reply};
use super::dedupe::{classify, first_occurrences, WriteOutcome};
use super::lanes::Lanes;
use crate::clock::SharedClock;
use crate::domain::NewUsageRecord;
use crate::metrics::Metrics;
use crate::store::{DbError, InsertOutcome, Store, StoreKind, UsageSession};

/// Why a write was not acknowledged.
#[derive(Debug, Clone, Copy, thiserror::Error)]
pub enum WriteError {
    #[error("the write queue is full")]
    QueueFull,
    #[error("the database is unavailable")]
    Unavailable,
}

pub(super) struct Job {
    records: Vec<NewUsageRecord>,
    reply: Reply,
    home: Option<Home>,
    queued: Instant,
}

/// The handle request handlers submit records through. Dropping every handle lets the
/// writer tasks drain the queue and stop.
#[derive(Clone)]
pub struct UsageWriter {
    /// The shared queue: every write on SQLite, and on PostgreSQL the writes made off an HTTP
    /// worker's runtime.
    queue: mpsc::Sender<Job>,
    /// PostgreSQL: a writer per HTTP worker thread (`lanes.rs`).
    lanes: Option<Arc<Lanes>>,
    metrics: Arc<Metrics>,
}

/// Sizing of the writer.
#[derive(Debug, Clone, Copy)]
pub struct WriterConfig {
    /// Requests waiting, per queue (the shared one, and each lane's).
    pub queue_capacity: usize,
    pub max_group_records: usize,
    /// Writer tasks per queue.
    pub writers: usize,
}

impl UsageWriter {
    /// Starts `config.writers` writer tasks on the shared queue; on PostgreSQL each HTTP
    /// worker thread opens a lane of as many on its first request (`lanes.rs`).
    pub fn start(store: Store, clock: SharedClock, metrics: Arc<Metrics>, config: WriterConfig) -> (Self, WriterTasks) {
        let (queue, receiver) = mpsc::channel(config.queue_capacity);
        let (stop, stopped) = watch::channel(false);
        let crew = Crew { store, clock, metrics: metrics.clone(), config, stopped };
        let handles = crew.spawn(receiver);
        let lanes = (crew.store.kind() == StoreKind::Postgres).then(|| Arc::new(Lanes::new(crew)));
        (Self { queue, lanes, metrics }, WriterTasks { stop, handles })
    }

    /// Writes records and returns one outcome per record, after commit.
    ///
    /// # Errors
    /// [`WriteError::QueueFull`] (answer 429) or [`WriteError::Unavailable`] (answer 503).
    pub async fn write(&self, records: Vec<NewUsageRecord>) -> Result<Vec<WriteOutcome>, WriteError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = oneshot::channel();
        self.metrics.queue_depth.inc();
        let lane = self.lanes.as_deref().and_then(Lanes::here);
        if lane
            .as_ref()
            .unwrap_or(&self.queue)
            .try_send(Job { records, reply, home: Home::here(), queued: Instant::now() })
            .is_err()
        {
            self.metrics.queue_depth.dec();
            return Err(WriteError::QueueFull);
        }
        answer.await.unwrap_or(Err(WriteError::Unavailable))
    }
}

/// The running writer tasks.
pub struct WriterTasks {
    stop: watch::Sender<bool>,
    handles: Vec<JoinHandle<()>>,
}

impl WriterTasks {
    /// Commits everything already queued, then stops the tasks (graceful shutdown: call it
    /// after the HTTP server has stopped taking requests). The lanes' writers get the same
    /// signal; their requests were answered before their HTTP workers stopped (`lanes.rs`).
    pub async fn drain_and_stop(self) {
        let _ = self.stop.send(true);
        for handle in self.handles {
            if let Err(error) = handle.await {
                tracing::error!(%error, "a usage writer task failed");
            }
        }
    }
}

/// What the writer tasks of a queue are made of: the shared queue's, and each lane's (over a
/// store of its own, `lanes.rs`).
#[derive(Clone)]
pub(super) struct Crew {
    store: Store,
    clock: SharedClock,
    metrics: Arc<Metrics>,
    pub(super) config: WriterConfig,
    stopped: watch::Receiver<bool>,
}

impl Crew {
    /// The same crew over a pool of its own, of a connection per writer, opened on the runtime
    /// that first uses it (a lane's, `lanes.rs`).
    pub(super) fn on_a_pool_of_its_own(&self) -> Self {
        let connections = u32::try_from(self.config.writers).unwrap_or(u32::MAX);
        Self { store: self.store.with_pool_for_this_runtime(connections), ..self.clone() }
    }

    /// Spawns `config.writers` writer tasks on the current runtime, taking groups from `receiver`.
    pub(super) fn spawn(&self, receiver: mpsc::Receiver<Job>) -> Vec<JoinHandle<()>> {
        let receiver = Arc::new(Mutex::new(receiver));
        (0..self.config.writers)
            .map(|_| {
                let worker = Worker {
                    stopped: self.stopped.clone(),
                    receiver: receiver.clone(),
                    session: self.store.usage_session(),
                    clock: self.clock.clone(),
                    metrics: self.metrics.clone(),
                    max_group_records: self.config.max_group_records,
                };
                tokio::spawn(worker.run())
            })
            .collect()
    }
}

struct Worker {
    stopped: watch::Receiver<bool>,
    receiver: Arc<Mutex<mpsc::Receiver<Job>>>,
    /// On PostgreSQL the writer's own connection, kept from one group to the next.
    session: UsageSession,
    clock: SharedClock,
    metrics: Arc<Metrics>,
    max_group_records: usize,
}

impl Worker {
    async fn run(mut self) {
        while let Some(group) = self.next_group().await {
            self.metrics.queue_depth.dec_by(group.len() as i64);
            self.commit(group).await;
        }
    }

    /// Waits for one job, then takes whatever else is queued, up to the group size. After the
    /// stop signal it only drains what is queued, then answers `None`.
    async fn next_group(&self) -> Option<Vec<Job>> {
        let mut receiver = self.receiver.lock().await;
        let mut stopped = self.stopped.clone();
        let first = if *stopped.borrow() {
            receiver.try_recv().ok()?
        } else {
            tokio::select! {
                job = receiver.recv() => job?,
                _ = stopped.changed() => receiver.try_recv().ok()?,
            }
        };
        let mut size = first.records.len();
        let mut group = vec![first];
        while size < self.max_group_records {
            match receiver.try_recv() {
                Ok(job) => {
                    size += job.records.len();
                    group.push(job);
                }
                Err(_) => break,
            }
        }
        Some(group)
    }

    #[tracing::instrument(skip_all, fields(jobs = group.len()))]
    async fn commit(&mut self, group: Vec<Job>) {
        let mut records = Vec::with_capacity(group.iter().map(|j| j.records.len()).sum());
        let mut replies = Vec::with_capacity(group.len());
        let taken = Instant::now();
        for job in group {
            self.metrics.write_wait_seconds.observe(taken.duration_since(job.queued).as_secs_f64());
            replies.push((job.records.len(), job.reply, job.home));
            records.extend(job.records);
        }
        // Shared, not copied, with the store (SQLite's group runs on a thread of its own).
        let records: Arc<[NewUsageRecord]> = records.into();
        let mut answers = Answers::default();
        match self.timed_insert(&records).await {
            Ok(outcomes) => {
                let mut outcomes = outcomes.into_iter();
                for (count, reply, home) in replies {
                    answers.add(home, reply, Ok(outcomes.by_ref().take(count).collect()));
                }
            }
            // A failure that is not the database being away comes from one request's data
            // (validation should have caught it): commit the requests one by one, so only that
            // request fails and its neighbours in the group are not punished.
            Err(error) if replies.len() > 1 && !matches!(error, DbError::Unavailable(_)) => {
                tracing::warn!(error = ?anyhow::Error::new(error), "group commit failed; retrying its requests one by one");
                let mut rest = records.iter().cloned();
                for (count, reply, _) in replies {
                    let own: Arc<[NewUsageRecord]> = rest.by_ref().take(count).collect();
                    let result = self.timed_insert(&own).await.map_err(|e| self.failed(e, own.len()));
                    let _ = reply.send(result);
                }
            }
            Err(error) => {
                let error = self.failed(error, records.len());
                for (_, reply, home) in replies {
                    answers.add(home, reply, Err(error));
                }
            }
        }
        answers.deliver();
    }

    async fn timed_insert(&mut self, records: &Arc<[NewUsageRecord]>) -> Result<Vec<WriteOutcome>, DbError> {
        let started = Instant::now();
        let result = self.insert(records).await;
        self.metrics.write_seconds.observe(started.elapsed().as_secs_f64());
        self.metrics.write_batch_records.observe(records.len() as f64);
        result
    }

    fn failed(&self, error: DbError, records: usize) -> WriteError {
        self.metrics.write_failures.inc();
        tracing::error!(error = ?anyhow::Error::new(error), records, "commit failed; answering 503");
        WriteError::Unavailable
    }

    async fn insert(&mut self, records: &Arc<[NewUsageRecord]>) -> Result<Vec<WriteOutcome>, DbError> {
        let firsts = first_occurrences(records);
        let unique: Vec<usize> = (0..records.len()).filter(|&i| firsts[i] == i).collect();
        let now = self.clock.now();
        let stored = if unique.len() == records.len() {
            self.session.insert_shared_usage(Arc::clone(records), now).await?
        } else {
            let subset: Vec<NewUsageRecord> = unique.iter().map(|&i| records[i].clone()).collect();
            self.session.insert_shared_usage(subset.into(), now).await?
        };
        let mut by_index = vec![InsertOutcome::Inserted; records.len()];
        for (&i, outcome) in unique.iter().zip(stored) {
            by_index[i] = outcome;
        }
        Ok(classify(records, &firsts, |first| by_index[first]))
    }
}
