//! Where emails go: an SMTP server named by `TALLY_SMTP_URL` in lettre's URL form
//! (`smtp://host:25`, `smtp://user:pass@host:587?tls=required`, `smtps://user:pass@host:465`),
//! or — with no URL, the embedded default — one complete RFC 5322 `.eml` file per message
//! under `<data dir>/outbox/`, named by its delivery id (a resend overwrites it).
//!
//! Stage: notify (IO). Classifies failures into retryable (4xx replies, connection, TLS and
//! timeouts) and permanent (5xx replies); it never decides when to retry.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::Semaphore;

use crate::telemetry::spawn_blocking_with_tracing;

/// The configured mail transport.
#[derive(Clone)]
pub enum MailTransport {
    /// lettre's pooled transport, sending at most as many messages at once as `connections`
    /// has permits: its pool opens a connection per concurrent send and keeps as many idle,
    /// so the relay sees that many connections, each reused.
    Smtp { transport: AsyncSmtpTransport<Tokio1Executor>, connections: Arc<Semaphore> },
    /// Directory the `.eml` files go to.
    EmlFiles(PathBuf),
}

impl std::fmt::Debug for MailTransport {
    /// Never prints the URL (it may hold a password).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Smtp { .. } => f.write_str("MailTransport::Smtp"),
            Self::EmlFiles(dir) => write!(f, "MailTransport::EmlFiles({})", dir.display()),
        }
    }
}

/// Why one message was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendFailure {
    /// Worth retrying later: a 4xx reply, a refused or dropped connection, a timeout.
    #[error("{0}")]
    Temporary(String),
    /// A 5xx reply or a message that can never be sent as addressed.
    #[error("{0}")]
    Permanent(String),
}

impl MailTransport {
    /// The SMTP transport for `url`, holding at most `max_connections` connections to it, or
    /// `.eml` files under `eml_dir` when there is none.
    ///
    /// # Errors
    /// When the URL is not one lettre understands (scheme, `tls=` parameter, port).
    pub fn from_settings(url: Option<&str>, eml_dir: PathBuf, max_connections: u32) -> anyhow::Result<Self> {
        let Some(url) = url else { return Ok(Self::EmlFiles(eml_dir)) };
        let max_connections = max_connections.max(1);
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| anyhow::anyhow!("TALLY_SMTP_URL is not a valid SMTP URL: {e}"))?
            .timeout(Some(Duration::from_secs(30)))
            // lettre keeps 10 idle connections by default and closes the rest after their
            // message: with more sends at once, every round of the worker would reconnect.
            .pool_config(PoolConfig::new().max_size(max_connections))
            .build();
        Ok(Self::Smtp { transport, connections: Arc::new(Semaphore::new(max_connections as usize)) })
    }

    /// Sends one message (or writes its file), named `delivery_id` where a name is needed.
    ///
    /// # Errors
    /// [`SendFailure`], classified for the retry decision.
    pub async fn send(&self, message: Message, delivery_id: &str) -> Result<(), SendFailure> {
        match self {
            Self::Smtp { transport, connections } => {
                // Held for the whole exchange: the relay sees at most that many connections
                // (Postfix refuses a client's 51st by default).
                let _connection = connections
                    .acquire()
                    .await
                    .map_err(|_| SendFailure::Temporary("the mail transport is shut down".into()))?;
                let sent = transport.send(message).await.map(|_| ()).map_err(|e| classify(&e));
                // lettre hands the connection back to its pool in a task it spawns as the send
                // returns; yielding lets that task run first, so the next send finds the
                // connection idle instead of opening another.
                tokio::task::yield_now().await;
                sent
            }
            Self::EmlFiles(dir) => {
                let (dir, path) = (dir.clone(), dir.join(format!("{delivery_id}.eml")));
                let shown = path.display().to_string();
                let failed =
                    |e: &dyn std::fmt::Display| SendFailure::Temporary(format!("Failed to write {shown}: {e}"));
                // Creating a file blocks: off the runtime, the files of the sends in flight are
                // written at once.
                spawn_blocking_with_tracing(move || write_eml(&dir, &path, &message.formatted()))
                    .await
                    .map_err(|e| failed(&e))?
                    .map_err(|e| failed(&e))
            }
        }
    }
}

fn classify(error: &lettre::transport::smtp::Error) -> SendFailure {
    let text = error_text(error);
    if error.is_permanent() {
        SendFailure::Permanent(text)
    } else {
        SendFailure::Temporary(text)
    }
}

/// The error and its causes on one line (lettre's Display alone omits "connection refused").
fn error_text(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

/// Writes the file atomically (temporary name, then rename), so a reader never sees half a
/// message.
fn write_eml(dir: &std::path::Path, path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let partial = path.with_extension("eml.partial");
    std::fs::write(&partial, bytes)?;
    std::fs::rename(&partial, path)
}
