//! The in-memory store: sharded, bounded, no async runtime needed.

use std::collections::HashMap;
use std::collections::hash_map::Entry as Entry_;
use std::fmt;
use std::future::{Future, ready};
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::{Claim, DedupStore, LeaseToken, StoreError};
use crate::clock::{Clock, SystemClock};

/// Default capacity: one million live keys (about 100 MB at most).
pub const DEFAULT_CAPACITY: usize = 1_000_000;

/// Keys per shard at which the store splits into more shards (at most 64).
const KEYS_PER_SHARD: usize = 4096;

/// The default store: a sharded hash map in this process.
///
/// * **No runtime**: every operation completes immediately; the futures are ready at once.
/// * **Concurrent** without one global lock: keys are spread over up to 64 shards, each with its
///   own mutex, held only for a hash-map operation.
/// * **Small**: keys are kept as a 128-bit keyed hash (XXH3 with a per-store random seed), not as
///   strings: about 40 bytes of entry per live key, under 100 bytes with the map's spare room.
/// * **Bounded**: at most `capacity` live keys. It never evicts a key whose lease or retention is
///   still running — that would let a replay or a duplicate through. When a shard is full it first
///   drops the entries past their deadline; if none is, the claim fails with
///   [`StoreError::Full`] (adapters answer 503, so the sender retries later).
///
/// It is per process: a fleet of receivers needs a shared store (Redis, PostgreSQL).
///
/// ```
/// use std::time::Duration;
/// use webhook_receiver::dedup::{Claim, DedupStore, MemoryStore};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let Claim::Acquired(token) = store.claim("evt_1", Duration::from_secs(30)).await? else {
///     unreachable!()
/// };
/// assert!(matches!(store.claim("evt_1", Duration::from_secs(30)).await?, Claim::InFlight { .. }));
/// assert!(store.complete("evt_1", token, Duration::from_secs(600)).await?);
/// assert_eq!(store.claim("evt_1", Duration::from_secs(30)).await?, Claim::Completed);
/// # Ok::<(), webhook_receiver::dedup::StoreError>(())
/// # }).unwrap();
/// ```
pub struct MemoryStore {
    inner: Arc<Inner>,
}

struct Inner {
    shards: Box<[Padded]>,
    shard_capacity: usize,
    capacity: usize,
    seed: u64,
    /// High 64 bits of every token this store hands out.
    nonce: u64,
    clock: Arc<dyn Clock>,
}

/// A shard on its own cache lines, so that threads locking neighbouring shards do not contend
/// for one line.
#[repr(align(128))]
#[derive(Default)]
struct Padded(Mutex<Shard>);

#[derive(Default)]
struct Shard {
    map: HashMap<Key, Entry, BuildHasherDefault<PassThrough>>,
    next_token: u64,
    /// A lower bound of every entry's deadline: no sweep can free anything before it.
    earliest_deadline: i64,
}

/// A key's 128-bit hash; its first half is already uniformly distributed.
#[derive(PartialEq, Eq, Clone, Copy)]
struct Key([u64; 2]);

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0[0]);
    }
}

/// Uses the key's own hash bits.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[derive(Clone, Copy)]
struct Entry {
    token: u64,
    /// Unix milliseconds: lease end while in flight, retention end once completed.
    deadline: i64,
    completed: bool,
}

/// Configures a [`MemoryStore`].
#[derive(Debug)]
pub struct MemoryStoreBuilder {
    capacity: usize,
    clock: Arc<dyn Clock>,
}

impl MemoryStoreBuilder {
    /// At most this many live keys (at least 1). Default: [`DEFAULT_CAPACITY`].
    ///
    /// The capacity is split evenly over the shards, so a shard can fill up slightly before the
    /// whole store does.
    #[must_use]
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// The clock for lease and retention deadlines (a [`ManualClock`](crate::ManualClock) in
    /// tests). Default: [`SystemClock`].
    #[must_use]
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Builds the store.
    pub fn build(self) -> MemoryStore {
        let capacity = self.capacity;
        let shards = (capacity / KEYS_PER_SHARD).clamp(1, 64).next_power_of_two();
        MemoryStore {
            inner: Arc::new(Inner {
                shards: (0..shards).map(|_| Padded::default()).collect(),
                shard_capacity: capacity.div_ceil(shards),
                capacity,
                seed: random_u64(),
                nonce: random_u64(),
                clock: self.clock,
            }),
        }
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl Clone for MemoryStore {
    /// Clones share the same entries.
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("len", &self.len())
            .field("capacity", &self.inner.capacity)
            .field("shards", &self.inner.shards.len())
            .finish()
    }
}

fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        return LeaseToken::random().get() as u64;
    }
    u64::from_le_bytes(bytes)
}

fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    // No code panics while holding a shard lock; if one did, the map is still consistent.
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl MemoryStore {
    /// A store for [`DEFAULT_CAPACITY`] live keys, on the system clock.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A store for at most `capacity` live keys, on the system clock.
    pub fn with_capacity(capacity: usize) -> Self {
        Self::builder().capacity(capacity).build()
    }

    /// Configures a store.
    pub fn builder() -> MemoryStoreBuilder {
        MemoryStoreBuilder {
            capacity: DEFAULT_CAPACITY,
            clock: Arc::new(SystemClock),
        }
    }

    /// Number of entries held, including expired ones not yet swept.
    pub fn len(&self) -> usize {
        self.inner.shards.iter().map(|s| lock(&s.0).map.len()).sum()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The configured capacity.
    pub fn capacity(&self) -> usize {
        self.inner.capacity
    }

    fn locate(&self, key: &str) -> (Key, &Mutex<Shard>) {
        let hash = xxhash_rust::xxh3::xxh3_128_with_seed(key.as_bytes(), self.inner.seed);
        let key = Key([hash as u64, (hash >> 64) as u64]);
        let index = (key.0[1] as usize) & (self.inner.shards.len() - 1);
        (key, &self.inner.shards[index].0)
    }

    fn token_value(&self, token: LeaseToken) -> Option<u64> {
        let value = token.get();
        ((value >> 64) as u64 == self.inner.nonce).then_some(value as u64)
    }

    fn claim_now(&self, key: &str, lease: Duration) -> Result<Claim, StoreError> {
        let now = self.inner.clock.unix_millis();
        let deadline = now.saturating_add(millis(lease).max(1));
        let (key, shard) = self.locate(key);
        let mut shard = lock(shard);
        let shard = &mut *shard;
        let token = shard.next_token.wrapping_add(1);
        if shard.map.len() >= self.inner.shard_capacity && !shard.map.contains_key(&key) {
            Self::sweep(shard, now);
            if shard.map.len() >= self.inner.shard_capacity {
                return Err(StoreError::Full {
                    capacity: self.inner.capacity,
                });
            }
        }
        let fresh = Entry {
            token,
            deadline,
            completed: false,
        };
        match shard.map.entry(key) {
            Entry_::Occupied(mut slot) => {
                let entry = slot.get_mut();
                if entry.deadline > now {
                    return Ok(if entry.completed {
                        Claim::Completed
                    } else {
                        Claim::InFlight {
                            retry_after: Some(Duration::from_millis(entry.deadline.abs_diff(now))),
                        }
                    });
                }
                *entry = fresh;
            }
            Entry_::Vacant(slot) => {
                slot.insert(fresh);
            }
        }
        shard.next_token = token;
        shard.earliest_deadline = shard.earliest_deadline.min(deadline);
        Ok(Claim::Acquired(LeaseToken::new(
            u128::from(self.inner.nonce) << 64 | u128::from(token),
        )))
    }

    /// Drops every entry past its deadline, if any can be.
    fn sweep(shard: &mut Shard, now: i64) {
        if now < shard.earliest_deadline {
            return;
        }
        shard.map.retain(|_, e| e.deadline > now);
        shard.earliest_deadline = shard.map.values().map(|e| e.deadline).min().unwrap_or(0);
    }

    fn complete_now(&self, key: &str, token: LeaseToken, retain: Duration) -> bool {
        let Some(token) = self.token_value(token) else {
            return false;
        };
        let now = self.inner.clock.unix_millis();
        let (key, shard) = self.locate(key);
        let mut shard = lock(shard);
        let shard = &mut *shard;
        match shard.map.get_mut(&key) {
            Some(entry) if entry.token == token && !entry.completed => {
                entry.completed = true;
                entry.deadline = now.saturating_add(millis(retain));
                // A retention shorter than the lease moves the deadline earlier.
                shard.earliest_deadline = shard.earliest_deadline.min(entry.deadline);
                true
            }
            _ => false,
        }
    }

    fn release_now(&self, key: &str, token: LeaseToken) -> bool {
        let Some(token) = self.token_value(token) else {
            return false;
        };
        let (key, shard) = self.locate(key);
        let mut shard = lock(shard);
        match shard.map.get(&key) {
            Some(entry) if entry.token == token && !entry.completed => {
                shard.map.remove(&key);
                true
            }
            _ => false,
        }
    }
}

impl DedupStore for MemoryStore {
    fn claim(
        &self,
        key: &str,
        lease: Duration,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send {
        ready(self.claim_now(key, lease))
    }

    fn complete(
        &self,
        key: &str,
        token: LeaseToken,
        retain: Duration,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        ready(Ok(self.complete_now(key, token, retain)))
    }

    fn release(
        &self,
        key: &str,
        token: LeaseToken,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        ready(Ok(self.release_now(key, token)))
    }
}
