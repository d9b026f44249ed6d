//! A read-through cache that re-reads a steadily used entry in the background before it
//! expires, so no request waits for the store at expiry.
//!
//! Why: the hot path's caches (ingest's tenant gate, API keys, entitlements) used to expire an
//! entry and let the next requests read it again in line. At thousands of requests a second
//! for one tenant, every request arriving during that read read too — a herd of identical
//! queries each expiry, and their milliseconds in the latency of those requests. Here:
//! - an entry younger than half its life is answered from memory;
//! - past half its life it is still answered, and one background task re-reads it;
//! - past its whole life (a key nobody asked for a while) it is read in the request, single
//!   flight: concurrent requests for that key wait for the one read and share its answer.
//!
//! An absent answer (`Ok(None)`: no such tenant, a revoked key) is never kept, so what another
//! node creates is usable at once; a re-read that finds the key gone drops the entry. A failed
//! background re-read keeps the old entry until its life ends; then the request's own read
//! answers the error. A life of zero reads the store every time.
//!
//! Stage: utility (in-process memory, no IO of its own: the caller's `read` does it).

use std::borrow::Borrow;
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

// tokio's clock, so tests can pause and advance it; in production it is the system's.
use tokio::time::Instant;

/// Entries past their life are swept when the map grows past this many (keys asked once).
const SWEEP_ABOVE: usize = 10_000;

/// A cache of `V` by `K`, each entry living `max_age` from the start of the read that made it.
pub struct RefreshAhead<K, V> {
    max_age: Duration,
    slots: Mutex<HashMap<K, Arc<Slot<V>>>>,
}

struct Slot<V> {
    /// The value and the instant its read began (its age counts from then).
    value: Mutex<Option<(Instant, V)>>,
    /// Held by the one read of this key in progress, in a request or in the background.
    reading: Arc<tokio::sync::Mutex<()>>,
}

impl<V: Clone> Slot<V> {
    fn held(&self) -> Option<(Duration, V)> {
        let value = self.value.lock().unwrap_or_else(|p| p.into_inner());
        value.as_ref().map(|(at, v)| (at.elapsed(), v.clone()))
    }

    fn put(&self, read_at: Instant, value: V) {
        *self.value.lock().unwrap_or_else(|p| p.into_inner()) = Some((read_at, value));
    }
}

impl<V> Default for Slot<V> {
    fn default() -> Self {
        Self { value: Mutex::new(None), reading: Arc::default() }
    }
}

impl<K, V> RefreshAhead<K, V>
where
    K: Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// An empty cache whose entries live `max_age` (zero: never kept).
    pub fn new(max_age: Duration) -> Self {
        Self { max_age, slots: Mutex::default() }
    }

    /// The value of `key`: from memory while fresh (re-read in the background past half its
    /// life), else read in this call, once for all concurrent callers. `read` makes the read of
    /// a key; it is called only when one is due, so an answer from memory clones and allocates
    /// nothing of the caller's.
    ///
    /// # Errors
    /// `read`'s error, when this call had to read (the entry was missing or past its life).
    pub async fn get<Q, E, F, Fut>(&self, key: &Q, read: F) -> Result<Option<V>, E>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + std::fmt::Display + ?Sized,
        F: FnOnce(&Q) -> Fut,
        Fut: Future<Output = Result<Option<V>, E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        if self.max_age.is_zero() {
            return read(key).await;
        }
        let slot = self.slot(key);
        if let Some((age, value)) = slot.held().filter(|(age, _)| *age < self.max_age) {
            if age >= self.max_age / 2 {
                Self::read_in_background(key, &slot, read);
            }
            return Ok(Some(value));
        }
        let _single_flight = slot.reading.lock().await;
        if let Some((_, value)) = slot.held().filter(|(age, _)| *age < self.max_age) {
            return Ok(Some(value));
        }
        let read_at = Instant::now();
        let value = read(key).await?;
        match &value {
            Some(value) => slot.put(read_at, value.clone()),
            None => self.forget(key),
        }
        Ok(value)
    }

    /// Drops `key`'s entry (after it changed on this node): the next call reads it.
    pub fn forget<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.slots.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }

    fn slot<Q>(&self, key: &Q) -> Arc<Slot<V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(slot) = slots.get(key) {
            return slot.clone();
        }
        if slots.len() >= SWEEP_ABOVE {
            let max_age = self.max_age;
            slots.retain(|_, slot| slot.held().is_some_and(|(age, _)| age < max_age));
        }
        slots.entry(key.to_owned()).or_default().clone()
    }

    /// One background re-read of `key` (none starts while a read of it is in progress).
    fn read_in_background<Q, E, F, Fut>(key: &Q, slot: &Arc<Slot<V>>, read: F)
    where
        Q: std::fmt::Display + ?Sized,
        F: FnOnce(&Q) -> Fut,
        Fut: Future<Output = Result<Option<V>, E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        let Ok(reading) = slot.reading.clone().try_lock_owned() else {
            return;
        };
        let (slot, reread, key) = (slot.clone(), read(key), key.to_string());
        // The re-read drops the entry itself when the key is gone: it holds the slot, not the map.
        tokio::spawn(async move {
            let _reading = reading;
            let read_at = Instant::now();
            match reread.await {
                Ok(Some(value)) => slot.put(read_at, value),
                Ok(None) => *slot.value.lock().unwrap_or_else(|p| p.into_inner()) = None,
                Err(error) => {
                    tracing::warn!(key = %key, error = %error, "background re-read failed; the cached entry ages out")
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    type Answer = Result<Option<u32>, String>;
    type Reading = std::pin::Pin<Box<dyn Future<Output = Answer> + Send>>;

    /// A source answering `answer` and counting its reads; each read takes `takes`.
    #[derive(Clone)]
    struct Source {
        reads: Arc<AtomicUsize>,
        answer: Arc<Mutex<Answer>>,
        takes: Duration,
    }

    impl Source {
        fn answering(answer: Answer) -> Self {
            Self { reads: Arc::default(), answer: Arc::new(Mutex::new(answer)), takes: Duration::ZERO }
        }

        fn now_answers(&self, answer: Answer) {
            *self.answer.lock().unwrap() = answer;
        }

        fn reads(&self) -> usize {
            self.reads.load(Ordering::SeqCst)
        }

        /// The `read` argument of [`RefreshAhead::get`].
        fn read(&self) -> impl FnOnce(&String) -> Reading {
            let source = self.clone();
            move |_key| {
                Box::pin(async move {
                    source.reads.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(source.takes).await;
                    source.answer.lock().unwrap().clone()
                })
            }
        }
    }

    fn key() -> String {
        "tenant-a".to_owned()
    }

    /// Lets spawned background reads run to their end.
    async fn settle() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_fresh_entry_is_answered_from_memory() {
        let cache = RefreshAhead::new(Duration::from_secs(10));
        let source = Source::answering(Ok(Some(7)));
        assert_eq!(cache.get(&key(), source.read()).await, Ok(Some(7)));
        tokio::time::advance(Duration::from_secs(4)).await;
        source.now_answers(Ok(Some(8)));
        assert_eq!(cache.get(&key(), source.read()).await, Ok(Some(7)));
        settle().await;
        assert_eq!(source.reads(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn past_half_its_life_an_entry_is_still_answered_and_reread_once_in_the_background() {
        let cache = RefreshAhead::new(Duration::from_secs(10));
        let source = Source::answering(Ok(Some(7)));
        cache.get(&key(), source.read()).await.unwrap();
        tokio::time::advance(Duration::from_secs(6)).await;
        source.now_answers(Ok(Some(8)));
        for _ in 0..5 {
            assert_eq!(cache.get(&key(), source.read()).await, Ok(Some(7)), "the old entry, without waiting");
        }
        settle().await;
        assert_eq!(source.reads(), 2, "one background re-read for five requests");
        assert_eq!(cache.get(&key(), source.read()).await, Ok(Some(8)));
        tokio::time::advance(Duration::from_secs(9)).await;
        assert_eq!(cache.get(&key(), source.read()).await, Ok(Some(8)), "the re-read entry lives from its own read");
    }

    #[tokio::test(start_paused = true)]
    async fn an_entry_past_its_life_is_read_once_for_all_concurrent_callers() {
        let cache = Arc::new(RefreshAhead::new(Duration::from_secs(10)));
        let mut source = Source::answering(Ok(Some(7)));
        source.takes = Duration::from_millis(5);
        cache.get(&key(), source.read()).await.unwrap();
        tokio::time::advance(Duration::from_secs(11)).await;
        source.now_answers(Ok(Some(8)));
        let callers: Vec<_> = (0..8)
            .map(|_| {
                let (cache, read) = (cache.clone(), source.read());
                tokio::spawn(async move { cache.get(&key(), read).await })
            })
            .collect();
        for caller in callers {
            assert_eq!(caller.await.unwrap(), Ok(Some(8)), "nobody is answered the expired entry");
        }
        assert_eq!(source.reads(), 2, "one read in line for eight callers");
    }

    #[tokio::test(start_paused = true)]
    async fn an_absent_answer_is_never_kept() {
        let cache = RefreshAhead::new(Duration::from_secs(10));
        let source = Source::answering(Ok(None));
        assert_eq!(cache.get(&key(), source.read()).await, Ok(None));
        source.now_answers(Ok(Some(7)));
        assert_eq!(cache.get(&key(), source.read()).await, Ok(Some(7)), "created elsewhere: usable at once");
    }

    #[tokio::test(start_paused = true)]
    async fn a_background_reread_that_finds_the_key_gone_drops_the_entry() {
        let cache = RefreshAhead::new(Duration::from_secs(10));
        let source = Source::answering(Ok(Some(7)));
        cache.get(&key(), source.read()).await.unwrap();
        tokio::time::advance(Duration::from_secs(6)).await;
        source.now_answers(Ok(None));
        assert_eq!(cache.get(&key(), source.read()).await, Ok(Some(7)));
        settle().await;
        assert_eq!(cache.get(&key(), source.read()).await, Ok(None), "deactivated or revoked: seen at the re-read");
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_background_reread_keeps_the_entry_until_its_life_ends_then_the_error_is_answered() {
        let cache = RefreshAhead::new(Duration::from_secs(10));
        let source = Source::answering(Ok(Some(7)));
        cache.get(&key(), source.read()).await.unwrap();
        tokio::time::advance(Duration::from_secs(6)).await;
        source.now_answers(Err("store unavailable".to_owned()));
        assert_eq!(cache.get(&key(), source.read()).await, Ok(Some(7)));
        settle().await;
        assert_eq!(cache.get(&key(), source.read()).await, Ok(Some(7)), "still within its life");
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(cache.get(&key(), source.read()).await, Err("store unavailable".to_owned()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_life_of_zero_reads_every_time() {
        let cache = RefreshAhead::new(Duration::ZERO);
        let source = Source::answering(Ok(Some(7)));
        for _ in 0..3 {
            assert_eq!(cache.get(&key(), source.read()).await, Ok(Some(7)));
        }
        assert_eq!(source.reads(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn forget_makes_the_next_call_read() {
        let cache = RefreshAhead::new(Duration::from_secs(10));
        let source = Source::answering(Ok(Some(7)));
        cache.get(&key(), source.read()).await.unwrap();
        source.now_answers(Ok(Some(8)));
        cache.forget(&key());
        assert_eq!(cache.get(&key(), source.read()).await, Ok(Some(8)));
    }
}
