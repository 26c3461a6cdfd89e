//! Deduplication: a pluggable store of claims, so that each event runs its handler once.
//!
//! A delivery is processed under a **lease**: [`DedupStore::claim`] takes it, the handler runs,
//! then [`DedupStore::complete`] records the event as processed (and remembers it for a retention
//! period) or [`DedupStore::release`] forgets the claim so the sender's retry is processed. A
//! process that dies mid-handler never calls either: the lease expires and the retry goes
//! through. Nothing is lost, and nothing runs twice while a lease is live.
//!
//! Stores in this crate: [`MemoryStore`] (default, one process), `RedisStore` (feature `redis`)
//! and `PostgresStore` (feature `postgres`) for a fleet of receivers. Any type implementing
//! [`DedupStore`] works; check yours with `testing::store_contract` (feature `testing`).

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;

pub use memory::{DEFAULT_CAPACITY, MemoryStore, MemoryStoreBuilder};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::PostgresStore;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::RedisStore;

/// Proof of a claim: only the holder of the current token can complete or release it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct LeaseToken(u128);

impl LeaseToken {
    /// A token with this value. Stores must never hand out the same token twice for one key.
    pub const fn new(value: u128) -> Self {
        Self(value)
    }

    /// A token from the operating system's random source (for stores shared by a fleet).
    pub fn random() -> Self {
        let mut bytes = [0u8; 16];
        if getrandom::fill(&mut bytes).is_err() {
            // No OS randomness: mix the time and a process-wide counter instead.
            use std::sync::atomic::{AtomicU64, Ordering};
            static COUNTER: AtomicU64 = AtomicU64::new(0);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let count = COUNTER.fetch_add(1, Ordering::Relaxed);
            return Self(nanos ^ (u128::from(count) << 64) ^ u128::from(std::process::id()));
        }
        Self(u128::from_le_bytes(bytes))
    }

    /// The token's value.
    pub const fn get(self) -> u128 {
        self.0
    }
}

impl fmt::Debug for LeaseToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LeaseToken({:032x})", self.0)
    }
}

/// The answer to [`DedupStore::claim`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::exhaustive_enums)] // The protocol has exactly these three answers.
pub enum Claim {
    /// The key was new, or its previous lease expired: the caller holds the lease.
    Acquired(LeaseToken),
    /// Another worker holds a live lease; retry after about `retry_after` (the lease's remaining
    /// time, when the store knows it).
    InFlight {
        /// Remaining lease time, if known.
        retry_after: Option<Duration>,
    },
    /// The key was processed and is still remembered.
    Completed,
}

/// Boxed error source kept by [`StoreError`].
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// A dedup store failed. The adapters answer 503 + `Retry-After` (fail closed): the sender
/// retries later and nothing is acknowledged unprocessed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend cannot be reached (connection refused, timeout, pool exhausted).
    #[error("dedup store unavailable")]
    Unavailable(#[source] BoxError),
    /// The store is full of entries still inside their retention; nothing can be evicted.
    #[error("dedup store full: {capacity} live keys, none past its retention")]
    Full {
        /// The configured capacity.
        capacity: usize,
    },
    /// The backend answered with an error or an unexpected reply.
    #[error("dedup store error")]
    Backend(#[source] BoxError),
}

impl StoreError {
    /// An [`Unavailable`](Self::Unavailable) error.
    pub fn unavailable(source: impl Into<BoxError>) -> Self {
        Self::Unavailable(source.into())
    }

    /// A [`Backend`](Self::Backend) error.
    pub fn backend(source: impl Into<BoxError>) -> Self {
        Self::Backend(source.into())
    }
}

/// Where deliveries are claimed, completed and released.
///
/// # Contract
///
/// Every operation is **atomic** with respect to every other on the same key, across every
/// process sharing the store:
///
/// * `claim(key, lease)` returns
///   * [`Claim::Acquired`] with a token never handed out before for this key, if the key is
///     unknown, or its lease expired without completion, or its retention expired. The lease
///     lasts `lease` from now;
///   * [`Claim::InFlight`] while another claim's lease is live;
///   * [`Claim::Completed`] while a completed key is retained.
///
///   Of any number of concurrent claims of one key, exactly one is `Acquired`.
/// * `complete(key, token, retain)` marks the key processed and remembers it for `retain` from
///   now, **only if `token` is the key's current lease token** (even if the lease has run out, as
///   long as nobody claimed the key since). It returns whether it did.
/// * `release(key, token)` forgets the claim, so the next claim is `Acquired`, only if `token` is
///   the key's current lease token and the key is not completed. It returns whether it did.
///
/// A stale token — its lease expired and someone else claimed the key — changes nothing.
/// A store may forget a key only after its lease (in flight) or retention (completed) expired;
/// a store that must forget live keys refuses new claims with [`StoreError::Full`] instead.
///
/// Implementers write plain `async fn`s; the trait's futures must be `Send`. For
/// `Arc<dyn …>` use [`DynDedupStore`], implemented for every `DedupStore`.
pub trait DedupStore: Send + Sync + 'static {
    /// Claims `key` for `lease`.
    fn claim(
        &self,
        key: &str,
        lease: Duration,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send;

    /// Marks `key` processed for `retain`, if `token` is current.
    fn complete(
        &self,
        key: &str,
        token: LeaseToken,
        retain: Duration,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Forgets the claim on `key`, if `token` is current and the key is not completed.
    fn release(
        &self,
        key: &str,
        token: LeaseToken,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// A boxed future, as [`DynDedupStore`] returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The dyn-compatible mirror of [`DedupStore`], so stores can be chosen at run time:
/// `Arc<dyn DynDedupStore>` is itself a [`DedupStore`].
///
/// ```
/// use std::sync::Arc;
/// use webhook_receiver::dedup::{DynDedupStore, MemoryStore};
///
/// let store: Arc<dyn DynDedupStore> = Arc::new(MemoryStore::new());
/// # fn takes<S: webhook_receiver::dedup::DedupStore>(_: S) {}
/// takes(store);
/// ```
pub trait DynDedupStore: Send + Sync + 'static {
    /// [`DedupStore::claim`], boxed.
    fn claim_boxed<'a>(
        &'a self,
        key: &'a str,
        lease: Duration,
    ) -> BoxFuture<'a, Result<Claim, StoreError>>;

    /// [`DedupStore::complete`], boxed.
    fn complete_boxed<'a>(
        &'a self,
        key: &'a str,
        token: LeaseToken,
        retain: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// [`DedupStore::release`], boxed.
    fn release_boxed<'a>(
        &'a self,
        key: &'a str,
        token: LeaseToken,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
}

impl<S: DedupStore> DynDedupStore for S {
    fn claim_boxed<'a>(
        &'a self,
        key: &'a str,
        lease: Duration,
    ) -> BoxFuture<'a, Result<Claim, StoreError>> {
        Box::pin(self.claim(key, lease))
    }

    fn complete_boxed<'a>(
        &'a self,
        key: &'a str,
        token: LeaseToken,
        retain: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(self.complete(key, token, retain))
    }

    fn release_boxed<'a>(
        &'a self,
        key: &'a str,
        token: LeaseToken,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(self.release(key, token))
    }
}

impl DedupStore for dyn DynDedupStore {
    async fn claim(&self, key: &str, lease: Duration) -> Result<Claim, StoreError> {
        self.claim_boxed(key, lease).await
    }

    async fn complete(
        &self,
        key: &str,
        token: LeaseToken,
        retain: Duration,
    ) -> Result<bool, StoreError> {
        self.complete_boxed(key, token, retain).await
    }

    async fn release(&self, key: &str, token: LeaseToken) -> Result<bool, StoreError> {
        self.release_boxed(key, token).await
    }
}

impl<S: DedupStore + ?Sized> DedupStore for Arc<S> {
    fn claim(
        &self,
        key: &str,
        lease: Duration,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send {
        (**self).claim(key, lease)
    }

    fn complete(
        &self,
        key: &str,
        token: LeaseToken,
        retain: Duration,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        (**self).complete(key, token, retain)
    }

    fn release(
        &self,
        key: &str,
        token: LeaseToken,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        (**self).release(key, token)
    }
}
