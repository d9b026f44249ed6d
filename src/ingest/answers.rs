//! Handing a group commit's answers back to the requests waiting for them.
//!
//! A request waits on its HTTP worker's runtime; the writer commits on another thread. Sending
//! each answer from the writer wakes that worker through the kernel (an `eventfd` write, and
//! often a context switch) once per request: ≈ 0.9 system calls per single-record request
//! (`strace -c`, BENCHMARKS.md Dec 5). Here a group's answers are gathered per worker thread
//! and one task on that worker's runtime hands them all over, so a worker is woken once per
//! group and its requests are woken on their own thread, without the kernel.

use std::thread::ThreadId;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

use super::dedupe::WriteOutcome;
use super::writer::WriteError;

/// What a request is answered: an outcome per record, once committed.
pub(super) type Answer = Result<Vec<WriteOutcome>, WriteError>;
/// Where a request waits for its [`Answer`].
pub(super) type Reply = oneshot::Sender<Answer>;

/// The thread and runtime a request waits on (an HTTP worker's), so that its answer can be
/// handed over together with its neighbours'.
pub(super) struct Home {
    thread: ThreadId,
    runtime: Handle,
}

impl Home {
    pub(super) fn here() -> Option<Self> {
        Handle::try_current().ok().map(|runtime| Self { thread: std::thread::current().id(), runtime })
    }
}

/// A group's answers, gathered per home thread. Answering a waiting request from the writer's
/// thread wakes its HTTP worker through the kernel (an `eventfd` write, and often a context
/// switch), once per request; one task per worker that answers all of that worker's requests
/// wakes each worker once per group, and the requests are then woken on their own thread.
#[derive(Default)]
pub(super) struct Answers {
    by_home: Vec<HomeAnswers>,
}

/// The answers of the requests that wait on one thread.
struct HomeAnswers {
    home: Home,
    answers: Vec<(Reply, Answer)>,
}

impl Answers {
    /// Keeps `answer` for its home's hand-over; a request outside any runtime (it has no
    /// worker to wake), or waiting on this very thread (a lane's, `lanes.rs`: waking it wakes
    /// no thread), is answered at once.
    pub(super) fn add(&mut self, home: Option<Home>, reply: Reply, answer: Answer) {
        let Some(home) = home.filter(|home| home.thread != std::thread::current().id()) else {
            let _ = reply.send(answer);
            return;
        };
        match self.by_home.iter_mut().find(|group| group.home.thread == home.thread) {
            Some(group) => group.answers.push((reply, answer)),
            None => self.by_home.push(HomeAnswers { home, answers: vec![(reply, answer)] }),
        }
    }

    /// One task on each home runtime answers that home's requests. A runtime that is shutting
    /// down drops the task, and with it the senders: its requests read that as unavailable,
    /// as they would a lost writer.
    pub(super) fn deliver(self) {
        for HomeAnswers { home, answers } in self.by_home {
            drop(home.runtime.spawn(async move {
                for (reply, answer) in answers {
                    let _ = reply.send(answer);
                }
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two single-threaded runtimes, as actix's HTTP workers are, each with two requests
    /// waiting; the answers are delivered from this thread, as the writer does.
    #[test]
    fn each_request_gets_its_own_answer_on_the_runtime_it_waits_on() {
        let (sent, waiting) = std::sync::mpsc::channel();
        let workers: Vec<_> = (0..2)
            .map(|worker| {
                let sent = sent.clone();
                std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
                    runtime.block_on(async move {
                        let mut answers: Vec<oneshot::Receiver<Answer>> = Vec::new();
                        for request in 0..2 {
                            let (reply, answer) = oneshot::channel();
                            sent.send((worker * 2 + request + 1, Home::here(), reply)).unwrap();
                            answers.push(answer);
                        }
                        let mut lengths = Vec::new();
                        for answer in answers {
                            lengths.push(answer.await.unwrap().unwrap().len());
                        }
                        lengths
                    })
                })
            })
            .collect();
        drop(sent);
        let mut answers = Answers::default();
        for (records, home, reply) in waiting.iter().take(4) {
            assert!(home.is_some(), "a request inside a runtime knows its home");
            answers.add(home, reply, Ok(vec![WriteOutcome::Accepted; records]));
        }
        assert_eq!(answers.by_home.len(), 2, "one hand-over per worker thread");
        answers.deliver();
        let lengths: Vec<Vec<usize>> = workers.into_iter().map(|w| w.join().unwrap()).collect();
        assert_eq!(lengths, [vec![1, 2], vec![3, 4]], "each request got its own answer");
    }

    /// A lane's writer (`lanes.rs`) commits on the thread its requests wait on.
    #[test]
    fn a_request_waiting_on_the_writers_own_thread_is_answered_at_once() {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async {
            let (reply, mut answer) = oneshot::channel();
            let mut answers = Answers::default();
            answers.add(Home::here(), reply, Ok(vec![WriteOutcome::Accepted]));
            assert!(answers.by_home.is_empty(), "no hand-over to this thread");
            assert!(matches!(answer.try_recv(), Ok(Ok(outcomes)) if outcomes.len() == 1));
        });
    }

    #[test]
    fn a_request_without_a_runtime_is_answered_directly() {
        let (reply, mut answer) = oneshot::channel();
        let mut answers = Answers::default();
        answers.add(None, reply, Err(WriteError::Unavailable));
        answers.deliver();
        assert!(matches!(answer.try_recv(), Ok(Err(WriteError::Unavailable))));
    }
}
