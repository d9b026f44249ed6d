//! The sign-in email queue (DESIGN §11, no enumeration). `POST /portal/login` hands each
//! admitted address to [`LoginQueue::push`] and answers at once; one task looks the address
//! up and appends its outbox events. The answer's timing then no longer depends on whether
//! the address is known: on the response path, a known address used to commit outbox rows
//! (2.5–5 ms) where an unknown one only read (0.7 ms), which told them apart.
//!
//! Stage: the HTTP edge (portal), with its one worker task. In memory, on purpose: a request
//! still queued when the process dies is lost — the person asks again, as for any email that
//! does not arrive — and a full queue (a flood past the rate limits) drops the request,
//! logged, rather than making the answer wait. Must not report anything back to the handler.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::notify::PORTAL_LOGIN_LINK;
use crate::store::Store;

/// Requests waiting at most; a burst the rate limits let through fits many times over.
const CAPACITY: usize = 1024;

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

    /// Queues sign-in emails for `email` as requested at `at`, without waiting for them.
    pub(crate) fn push(&self, email: String, at: DateTime<Utc>) {
        self.pending.send_modify(|n| *n += 1);
        if let Err(error) = self.sender.try_send(LoginRequest { email, at }) {
            self.pending.send_modify(|n| *n -= 1);
            tracing::warn!(%error, "sign-in request dropped: the queue is full or stopped");
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

/// One request: an outbox event per tenant that bills the address (none when unknown).
#[tracing::instrument(skip_all)]
async fn queue_emails(store: &Store, request: LoginRequest) {
    match store.queue_portal_login(&request.email, PORTAL_LOGIN_LINK, request.at).await {
        Ok(tenants) => tracing::debug!(tenants = tenants.len(), "sign-in emails queued"),
        Err(error) => tracing::error!(error = ?error, "Failed to queue sign-in emails"),
    }
}
