//! The sign-in email queue (DESIGN §11, no enumeration). `POST /portal/login` hands each
//! admitted address to [`LoginQueue::push`] and answers at once; one task looks the address
//! up and appends its outbox events. The answer's timing then no longer depends on whether
//! the address is known: on the response path, a known address used to commit outbox rows
//! (2.5–5 ms) where an unknown one only read (0.7 ms), which told them apart.
//!
//! Stage: the HTTP edge (portal), with its one worker task. In memory, on purpose: a request
//! still queued when the process dies is lost — the person asks again, as for any email that
//! does not arrive. Nothing else is: a full queue (a flood past the per-client limits) makes
//! the answers wait for room, known and unknown addresses alike, rather than dropping
//! anyone's request; a store that fails is retried for a while before the request is given up
//! (logged). Must not report anything back to the handler.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::notify::PORTAL_LOGIN_LINK;
use crate::store::Store;

/// Requests waiting at most; a burst the rate limits let through fits many times over.
const CAPACITY: usize = 1024;

/// Waits between attempts at a request the store refused: about half a minute in all, to
/// ride out a failover or a restart of the database.
const RETRY_DELAYS: [Duration; 4] =
    [Duration::from_millis(500), Duration::from_secs(2), Duration::from_secs(8), Duration::from_secs(20)];

/// A sign-in request admitted by the rate limits.
struct LoginRequest {
    email: String,
    at: DateTime<Utc>,
}

/// The sending side of the queue, shared by the portal handlers (and by shutdown and tests,
/// which wait for it to settle).
#[derive(Clone)]
pub struct LoginQueue {
    sender: mpsc::Sender<LoginRequest>,
    /// Requests pushed and not yet handled.
    pending: Arc<watch::Sender<usize>>,
}

impl LoginQueue {
    /// The queue and its worker, which queues the sign-in emails in `store`.
    pub fn start(store: Store) -> (Self, JoinHandle<()>) {
        let (sender, receiver) = mpsc::channel(CAPACITY);
        let pending = Arc::new(watch::Sender::new(0));
        let worker = tokio::spawn(work(store, receiver, pending.clone()));
        (Self { sender, pending }, worker)
    }

    /// Queues sign-in emails for `email` as requested at `at`, without waiting for them to be
    /// looked up — only, when the queue is full, for room in it.
    pub(crate) async fn push(&self, email: String, at: DateTime<Utc>) {
        self.pending.send_modify(|n| *n += 1);
        if self.sender.send(LoginRequest { email, at }).await.is_err() {
            self.pending.send_modify(|n| *n -= 1);
            tracing::warn!("sign-in request dropped: the queue has stopped (shutting down)");
        }
    }

    /// Resolves once every request pushed so far has been handled (shutdown drains with it;
    /// tests wait with it instead of sleeping).
    pub async fn settled(&self) {
        let mut pending = self.pending.subscribe();
        // The sender lives in `self`, so the wait cannot fail.
        let _ = pending.wait_for(|n| *n == 0).await;
    }
}

/// Handles requests in order until every sender is gone.
async fn work(store: Store, mut requests: mpsc::Receiver<LoginRequest>, pending: Arc<watch::Sender<usize>>) {
    while let Some(request) = requests.recv().await {
        queue_emails(&store, request).await;
        pending.send_modify(|n| *n -= 1);
    }
}

/// One request: an outbox event per tenant that bills the address (none when unknown),
/// retried while the store fails.
#[tracing::instrument(skip_all)]
async fn queue_emails(store: &Store, request: LoginRequest) {
    let mut delays = RETRY_DELAYS.iter();
    loop {
        match store.queue_portal_login(&request.email, PORTAL_LOGIN_LINK, request.at).await {
            Ok(tenants) => return tracing::debug!(tenants = tenants.len(), "sign-in emails queued"),
            Err(error) => match delays.next() {
                Some(delay) => {
                    tracing::warn!(error = ?error, retry_in = ?delay, "Failed to queue sign-in emails; retrying");
                    tokio::time::sleep(*delay).await;
                }
                None => return tracing::error!(error = ?error, "Failed to queue sign-in emails; request given up"),
            },
        }
    }
}
