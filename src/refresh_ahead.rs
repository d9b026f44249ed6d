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
//!   flight: concurrent requests for that key wait for the one read and share its answer;
//! - told that changes may have been missed (`refresh_all`), every entry is stale: answered,
//!   and re-read in the background.
//!
//! An absent answer (`Ok(None)`: no such tenant, a revoked key) is never kept, so what another
//! node creates is usable at once; a re-read that finds the key gone drops the entry. A failed
//! background re-read keeps the old entry until its life ends; then the request's own read
//! answers the error. A life of zero reads the store every time.
//!
//! Background re-reads run on the runtime the cache was made on (the server's main one), not
//! on the caller's. An HTTP worker is one thread serving many connections: a re-read spawned
//! there (four statements and a usage sum for an entitlement snapshot) took that thread between
//! its requests, and the requests queued behind it waited. In the quotas bench, entitlement
//! GETs on an idle box had a p99 of 1.9–2.1 ms from the send with re-reads on the workers,
//! 0.9–1.4 ms with them here, against 0.2–0.4 ms for `/healthz` (BENCHMARKS.md, Dec 7).
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

/// Entries past their life are swept when the map grows past this many (keys asked once), or
/// past twice what the last sweep left, if more.
const SWEEP_ABOVE: usize = 10_000;

/// A cache of `V` by `K`, each entry living `max_age` from the start of the read that made it.
pub struct RefreshAhead<K, V> {
    max_age: Duration,
    slots: Mutex<Slots<K, V>>,
    /// Where background re-reads run: the runtime current when the cache was made, if any.
    background: Option<tokio::runtime::Handle>,
}

/// The entries, the size at which a new key sweeps out the expired ones, and since when every
/// older entry is stale.
struct Slots<K, V> {
    map: HashMap<K, Arc<Slot<V>>>,
    /// Entries whose read began at or before this instant are stale, whatever their age
    /// ([`RefreshAhead::refresh_all`]).
    stale_before: Option<Instant>,
    /// Twice what the last sweep left (at least [`SWEEP_ABOVE`]), so a sweep's cost is spread
    /// over as many new keys as the entries it kept. When it stayed at [`SWEEP_ABOVE`], every
    /// new key of a server with more live tenants than that swept them all: 1 000-record
    /// batches spanning 1 000 new tenants each, beside 30 000 live ones, spent 6.5 % of the
    /// server's CPU locking entries to read their age (BENCHMARKS.md, Dec 6).
    sweep_at: usize,
}

impl<K, V> Default for Slots<K, V> {
    fn default() -> Self {
        Self { map: HashMap::new(), stale_before: None, sweep_at: SWEEP_ABOVE }
    }
}

struct Slot<V> {
    /// The value and the instant its read began (its age counts from then).
    value: Mutex<Option<(Instant, V)>>,
    /// Held by the one read of this key in progress, in a request or in the background.
    reading: Arc<tokio::sync::Mutex<()>>,
}

/// What a held entry is worth now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Freshness {
    /// Answered from memory.
    Fresh,
    /// Answered from memory, and re-read in the background: past half its life, or read
    /// before the cache was told its entries may be out of date.
    Stale,
    /// Past its life: read again before answering.
    Expired,
}

impl<V: Clone> Slot<V> {
    /// The value held and the instant its read began.
    fn held(&self) -> Option<(Instant, V)> {
        let value = self.value.lock().unwrap_or_else(|p| p.into_inner());
        value.as_ref().map(|(at, v)| (*at, v.clone()))
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
    /// An empty cache whose entries live `max_age` (zero: never kept). Its background re-reads
    /// run on the runtime current here (made outside one: on the caller's).
    pub fn new(max_age: Duration) -> Self {
        Self { max_age, slots: Mutex::default(), background: tokio::runtime::Handle::try_current().ok() }
    }

    /// Runs a background re-read on the cache's runtime, off the thread that asked.
    fn spawn_reread(&self, reread: impl Future<Output = ()> + Send + 'static) {
        match &self.background {
            Some(runtime) => drop(runtime.spawn(reread)),
            None => drop(tokio::spawn(reread)),
        }
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
            return Box::pin(read(key)).await;
        }
        let (slot, stale_before) = self.slot(key);
        if let Some((read_at, value)) = slot.held() {
            match self.freshness(read_at, stale_before) {
                Freshness::Fresh => return Ok(Some(value)),
                Freshness::Stale => {
                    self.read_in_background(key, &slot, read);
                    return Ok(Some(value));
                }
                Freshness::Expired => {}
            }
        }
        // Boxed: an answer from memory is every request's path, and the read's future (its
        // statements, 650 bytes for a tenant's gate) would otherwise be laid out inside every
        // caller's future, which actix boxes per request (`ingest` in `ingest/routes.rs`).
        Box::pin(self.read_through(key, slot, read)).await
    }

    /// Reads `key` in this call, once for all concurrent callers: those that waited find the
    /// value the first one read.
    async fn read_through<Q, E, F, Fut>(&self, key: &Q, slot: Arc<Slot<V>>, read: F) -> Result<Option<V>, E>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        F: FnOnce(&Q) -> Fut,
        Fut: Future<Output = Result<Option<V>, E>>,
    {
        let _single_flight = slot.reading.lock().await;
        if let Some((_, value)) = slot.held().filter(|(read_at, _)| read_at.elapsed() < self.max_age) {
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

    /// The values of distinct `keys` (a key with none is left out), as [`Self::get`] answers
    /// each, but with one read for many keys: those missing or past their life are read in
    /// this call by one `read_many` of them all, and those past half their life are re-read by
    /// one background `read_many` (keys already being re-read are left to that read). For a
    /// request spanning many keys — a batch of usage for a thousand tenants — that is one
    /// statement instead of one per key, in line and in the background alike.
    ///
    /// Unlike [`Self::get`], the in-line read is not single flight: two calls missing the same
    /// key at once both read it, each in its one statement.
    ///
    /// # Errors
    /// `read_many`'s error, when this call had to read.
    pub async fn get_many<E, F, Fut>(&self, keys: &[K], read_many: F) -> Result<HashMap<K, V>, E>
    where
        K: Clone + std::fmt::Display,
        F: Fn(Vec<K>) -> Fut,
        Fut: Future<Output = Result<HashMap<K, V>, E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        if self.max_age.is_zero() {
            return Box::pin(read_many(keys.to_vec())).await;
        }
        let mut found = HashMap::with_capacity(keys.len());
        let (mut stale, mut due) = (Vec::new(), Vec::new());
        for key in keys {
            let (slot, stale_before) = self.slot(key);
            let held = slot.held().map(|(read_at, value)| (self.freshness(read_at, stale_before), value));
            match held {
                Some((Freshness::Fresh, value)) => {
                    found.insert(key.clone(), value);
                }
                Some((Freshness::Stale, value)) => {
                    if let Ok(reading) = slot.reading.clone().try_lock_owned() {
                        stale.push((key.clone(), slot, reading));
                    }
                    found.insert(key.clone(), value);
                }
                Some((Freshness::Expired, _)) | None => due.push((key.clone(), slot)),
            }
        }
        if !stale.is_empty() {
            let reread = read_many(stale.iter().map(|(key, _, _)| key.clone()).collect());
            self.spawn_reread(async move {
                let read_at = Instant::now();
                match reread.await {
                    Ok(values) => {
                        for (key, slot, _reading) in stale {
                            *slot.value.lock().unwrap_or_else(|p| p.into_inner()) =
                                values.get(&key).map(|value| (read_at, value.clone()));
                        }
                    }
                    Err(error) => tracing::warn!(
                        keys = stale.len(),
                        error = %error,
                        "background re-read failed; the cached entries age out"
                    ),
                }
            });
        }
        if !due.is_empty() {
            let read_at = Instant::now();
            // Boxed, as in `get`: the statements' future stays out of every caller's.
            let values = Box::pin(read_many(due.iter().map(|(key, _)| key.clone()).collect())).await?;
            for (key, slot) in due {
                match values.get(&key) {
                    Some(value) => {
                        slot.put(read_at, value.clone());
                        found.insert(key, value.clone());
                    }
                    None => self.forget(&key),
                }
            }
        }
        Ok(found)
    }

    /// Drops `key`'s entry (after it changed on this node): the next call reads it.
    pub fn forget<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.slots.lock().unwrap_or_else(|p| p.into_inner()).map.remove(key);
    }

    /// Makes every entry held, and every read under way, stale (when changes may have been
    /// missed): each is still answered once more, and re-read in the background — a burst of
    /// reads in line would fall on a database that may just have restarted. A read that began
    /// before this call stays stale when it lands, whatever it found.
    pub fn refresh_all(&self) {
        self.slots.lock().unwrap_or_else(|p| p.into_inner()).stale_before = Some(Instant::now());
    }

    fn freshness(&self, read_at: Instant, stale_before: Option<Instant>) -> Freshness {
        let age = read_at.elapsed();
        if age >= self.max_age {
            Freshness::Expired
        } else if age >= self.max_age / 2 || stale_before.is_some_and(|before| read_at <= before) {
            Freshness::Stale
        } else {
            Freshness::Fresh
        }
    }

    /// `key`'s slot (created empty when missing), and since when entries are stale.
    fn slot<Q>(&self, key: &Q) -> (Arc<Slot<V>>, Option<Instant>)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let stale_before = slots.stale_before;
        if let Some(slot) = slots.map.get(key) {
            return (slot.clone(), stale_before);
        }
        if slots.map.len() >= slots.sweep_at {
            let max_age = self.max_age;
            slots.map.retain(|_, slot| slot.held().is_some_and(|(read_at, _)| read_at.elapsed() < max_age));
            slots.sweep_at = (2 * slots.map.len()).max(SWEEP_ABOVE);
        }
        (slots.map.entry(key.to_owned()).or_default().clone(), stale_before)
    }

    /// Entries held, and the size at which the next new key sweeps.
    #[cfg(test)]
    fn sizes(&self) -> (usize, usize) {
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        (slots.map.len(), slots.sweep_at)
    }

    /// One background re-read of `key` (none starts while a read of it is in progress).
    fn read_in_background<Q, E, F, Fut>(&self, key: &Q, slot: &Arc<Slot<V>>, read: F)
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
        self.spawn_reread(async move {
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
    type ReadingMany = std::pin::Pin<Box<dyn Future<Output = Result<HashMap<String, u32>, String>> + Send>>;

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
                    // What the store holds when the read starts (its snapshot), answered later.
                    source.reads.fetch_add(1, Ordering::SeqCst);
                    let answer = source.answer.lock().unwrap().clone();
                    tokio::time::sleep(source.takes).await;
                    answer
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

    /// [`Source`] as the `read_many` argument of [`RefreshAhead::get_many`]: one read per call,
    /// whatever the keys; `keys` gathers the keys each call asked.
    fn read_many(source: &Source, keys: &Arc<Mutex<Vec<Vec<String>>>>) -> impl Fn(Vec<String>) -> ReadingMany {
        let (source, keys) = (source.clone(), keys.clone());
        move |asked: Vec<String>| {
            let (source, keys) = (source.clone(), keys.clone());
            Box::pin(async move {
                source.reads.fetch_add(1, Ordering::SeqCst);
                keys.lock().unwrap().push(asked.clone());
                let answer = source.answer.lock().unwrap().clone()?;
                Ok(answer.map(|v| asked.into_iter().map(|k| (k, v)).collect()).unwrap_or_default())
            })
        }
    }

    fn names(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn many_keys_missing_are_read_in_one_call_and_fresh_ones_answered_from_memory() {
        let cache = RefreshAhead::new(Duration::from_secs(10));
        let source = Source::answering(Ok(Some(7)));
        let asked = Arc::default();
        cache.get(&"a".to_owned(), source.read()).await.unwrap();
        let values = cache.get_many(&names(&["a", "b", "c"]), read_many(&source, &asked)).await.unwrap();
        assert_eq!(values.len(), 3);
        assert_eq!(*asked.lock().unwrap(), vec![names(&["b", "c"])], "one read of the missing keys only");
        source.now_answers(Ok(Some(8)));
        let values = cache.get_many(&names(&["a", "b", "c"]), read_many(&source, &asked)).await.unwrap();
        assert_eq!(values.values().copied().collect::<Vec<_>>(), vec![7, 7, 7], "all fresh: from memory");
        assert_eq!(source.reads(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn many_keys_past_half_their_life_are_answered_and_reread_together_in_the_background() {
        let cache = RefreshAhead::new(Duration::from_secs(10));
        let source = Source::answering(Ok(Some(7)));
        let asked = Arc::default();
        cache.get_many(&names(&["a", "b"]), read_many(&source, &asked)).await.unwrap();
        tokio::time::advance(Duration::from_secs(6)).await;
        source.now_answers(Ok(Some(8)));
        let values = cache.get_many(&names(&["a", "b", "c"]), read_many(&source, &asked)).await.unwrap();
        assert_eq!((values["a"], values["b"], values["c"]), (7, 7, 8), "old entries without waiting, the new one read");
        settle().await;
        // The missing key's read ran in the call; the background one after it.
        assert_eq!(*asked.lock().unwrap(), vec![names(&["a", "b"]), names(&["c"]), names(&["a", "b"])]);
        assert_eq!(cache.get(&"a".to_owned(), source.read()).await, Ok(Some(8)), "the re-read entry");
        assert_eq!(source.reads(), 3, "a single key's call found it fresh");
    }

    #[tokio::test(start_paused = true)]
    async fn many_keys_absent_are_left_out_and_not_kept_and_a_failed_read_is_answered() {
        let cache = RefreshAhead::new(Duration::from_secs(10));
        let source = Source::answering(Ok(None));
        let asked = Arc::default();
        let values = cache.get_many(&names(&["a", "b"]), read_many(&source, &asked)).await.unwrap();
        assert!(values.is_empty());
        source.now_answers(Err("store unavailable".to_owned()));
        let failed = cache.get_many(&names(&["a"]), read_many(&source, &asked)).await;
        assert_eq!(failed, Err("store unavailable".to_owned()), "absent answers were not kept: read again");
    }

    #[tokio::test(start_paused = true)]
    async fn a_sweep_of_expired_entries_waits_for_the_map_to_double_past_the_live_ones() {
        let cache = RefreshAhead::new(Duration::from_secs(10));
        let source = Source::answering(Ok(Some(7)));
        let fill = |keys: std::ops::Range<usize>, prefix: &'static str| {
            let (cache, source) = (&cache, &source);
            async move {
                for i in keys {
                    cache.get(&format!("{prefix}-{i}"), source.read()).await.unwrap();
                }
            }
        };
        fill(0..SWEEP_ABOVE, "live").await;
        assert_eq!(cache.sizes(), (SWEEP_ABOVE, SWEEP_ABOVE));
        // A new key at the threshold sweeps, keeps every live entry, and moves the threshold.
        fill(0..1, "new").await;
        assert_eq!(cache.sizes(), (SWEEP_ABOVE + 1, 2 * SWEEP_ABOVE), "every entry is live: none swept");
        // Once they expire, new keys up to the threshold do not sweep; the next one does.
        tokio::time::advance(Duration::from_secs(11)).await;
        fill(1..SWEEP_ABOVE, "new").await;
        assert_eq!(cache.sizes(), (2 * SWEEP_ABOVE, 2 * SWEEP_ABOVE));
        fill(SWEEP_ABOVE..SWEEP_ABOVE + 1, "new").await;
        assert_eq!(cache.sizes(), (SWEEP_ABOVE, 2 * (SWEEP_ABOVE - 1)), "the expired swept, the live kept");
        assert_eq!(source.reads(), 2 * SWEEP_ABOVE + 1, "one read per new key");
    }

    #[tokio::test(start_paused = true)]
    async fn refreshing_all_answers_every_entry_once_more_and_rereads_it_and_a_read_under_way_stays_stale() {
        let cache = Arc::new(RefreshAhead::new(Duration::from_secs(10)));
        let mut source = Source::answering(Ok(Some(7)));
        let asked = Arc::default();
        cache.get_many(&names(&["a", "b"]), read_many(&source, &asked)).await.unwrap();
        source.takes = Duration::from_millis(5);
        let under_way = {
            let (cache, read) = (cache.clone(), source.read());
            tokio::spawn(async move { cache.get(&key(), read).await })
        };
        tokio::task::yield_now().await;
        // The store changes after that read began; the cache is told it may have missed changes.
        source.now_answers(Ok(Some(8)));
        cache.refresh_all();
        assert_eq!(under_way.await.unwrap(), Ok(Some(7)), "its caller is answered what it read");
        source.takes = Duration::ZERO;
        assert_eq!(cache.get(&key(), source.read()).await, Ok(Some(7)), "what it read is answered once more");
        assert_eq!(cache.get(&"a".to_owned(), source.read()).await, Ok(Some(7)), "so are the entries held before");
        let many = cache.get_many(&names(&["a", "b"]), read_many(&source, &asked)).await.unwrap();
        assert_eq!((many["a"], many["b"]), (7, 7));
        settle().await;
        assert_eq!(cache.get(&key(), source.read()).await, Ok(Some(8)), "then each was re-read in the background");
        let many = cache.get_many(&names(&["a", "b"]), read_many(&source, &asked)).await.unwrap();
        assert_eq!((many["a"], many["b"]), (8, 8));
        assert_eq!(*asked.lock().unwrap(), vec![names(&["a", "b"]), names(&["b"])], "b with the many, a alone");
        settle().await;
        assert_eq!(source.reads(), 5, "one read each, none twice: b's first, key's, then key, a and b again");
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

    /// The HTTP workers' case: the cache is made on the main runtime and asked from a worker's.
    #[tokio::test]
    async fn a_background_reread_runs_on_the_runtime_that_made_the_cache_not_on_the_callers() {
        // Real time (two runtimes share no paused clock): past half the life, far from its end.
        let cache = Arc::new(RefreshAhead::new(Duration::from_secs(4)));
        cache.get(&key(), Source::answering(Ok(Some(1))).read()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2_100)).await;
        let (ran_on, reread_thread) = tokio::sync::oneshot::channel();
        let asking = cache.clone();
        std::thread::spawn(move || {
            let worker = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let reread = move |_: &String| async move {
                let _ = ran_on.send(std::thread::current().id());
                Ok::<_, String>(Some(2))
            };
            // The worker answers from memory and is gone before any re-read could run on it.
            assert_eq!(worker.block_on(asking.get(&key(), reread)).unwrap(), Some(1));
        })
        .join()
        .unwrap();
        let thread = reread_thread.await.expect("the re-read ran (a task left on the worker's runtime died with it)");
        assert_eq!(thread, std::thread::current().id());
        assert_eq!(cache.get(&key(), Source::answering(Ok(Some(3))).read()).await.unwrap(), Some(2));
    }
}
