//! The engine trait: where records live and how they move between states.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use super::{Accepted, Counts, InboxError, Leased, ListQuery, NewRecord, Record, RecordMeta};
use crate::dedup::{BoxFuture, LeaseToken};

/// Where inbox records are stored and leased: SQLite (`SqliteInbox`, feature `sqlite`), or any
/// type implementing this trait.
///
/// An engine is a small, atomic state machine over records identified by their key. It knows
/// nothing about retry policies, handlers or HTTP: the [`Inbox`](super::Inbox) decides *what*
/// to do, the engine does it atomically. Check an implementation with
/// `testing::inbox_contract` (feature `testing`).
///
/// # Contract
///
/// Every call is **atomic** with respect to every other, across every process sharing the
/// engine. "Now" is the engine's clock (an injected clock, or the server's). Times the engine
/// reports ([`RecordMeta`]) are on that clock.
///
/// | call | from | to |
/// | --- | --- | --- |
/// | `accept(record, max)` | key unknown, or done and past its retention | **pending**, due now, attempts 0 → [`Accepted::Stored`] |
/// | `accept(record, max)` | key retained in any state | unchanged → [`Accepted::Duplicate`] (even when full) |
/// | `accept(record, max)` | new key, but `pending + running ≥ max` | nothing stored → [`InboxError::Full`] |
/// | `lease(d)` | the first eligible record (below) | **running**, new token, lease until now + `d`, attempts + 1 |
/// | `heartbeat(key, t, d)` | running with token `t` | lease until now + `d` |
/// | `done(key, t)` | running with token `t` | **done**, expires at now + its `retain` |
/// | `retry(key, t, d, e)` | running with token `t` | **pending**, due at now + `d`, last error `e` |
/// | `dead(key, t, e)` | running with token `t` | **dead**, last error `e` |
/// | `release(key, t)` | running with token `t` | **pending**, due now, attempts − 1 (handed back unfinished) |
/// | `replay(key)` | dead | **pending**, due now, attempts 0 |
/// | `replay_dead_since(t)` | dead, and dead since `t` or later | **pending**, due now, attempts 0 |
/// | `purge()` | done and past its retention | removed |
///
/// * **Eligible for `lease`**: pending and due (`run_at ≤ now`), or running with an expired
///   lease (its worker died or hung). Among them the earliest `run_at` first, then received
///   order. A record with an **ordering key** is eligible only if it is the oldest (in received
///   order) pending-or-running record with that key, and no other record with that key is
///   running under a live lease. Of any number of concurrent `lease` calls, each eligible
///   record goes to exactly one.
/// * **Tokens**: `lease` hands out a token never used before for that record. Every
///   token-checked call (`heartbeat`, `done`, `retry`, `dead`, `release`) changes nothing and
///   returns `Ok(false)` unless the record is running *and* holds that token — a token whose
///   lease expired still works as long as nobody leased the record since. They return
///   `Ok(true)` when they applied.
/// * **Accept is idempotent and durable**: when `accept` returns, the record survives a crash
///   of the process (and, for engines that promise it, of the machine). Of any number of
///   concurrent accepts of one new key exactly one is `Stored`. A duplicate changes nothing,
///   not even the stored body.
/// * **`run_at`** in [`RecordMeta`]: the due time when pending, the lease's end when running,
///   `None` otherwise; `expires_at`: the retention's end when done; `updated_at`: the time of
///   the last transition (for dead records, since when they are dead).
/// * `retry` with a zero delay makes the record due at once. `dead` and `retry` keep
///   `attempts`; `done` clears nothing but the token.
/// * Nothing is ever removed except by `purge` (and a done record past its retention being
///   replaced by `accept`). Pending, running and dead records are never purged.
///
/// Implementers write plain `async fn`s; the futures must be `Send`. For `Arc<dyn …>` use
/// [`DynInboxEngine`], implemented for every engine.
pub trait InboxEngine: Send + Sync + 'static {
    /// Stores `record` if its key is new (or its done record's retention ended), unless
    /// `max_unfinished` is set and that many records are pending or running.
    fn accept(
        &self,
        record: &NewRecord,
        max_unfinished: Option<u64>,
    ) -> impl Future<Output = Result<Accepted, InboxError>> + Send;

    /// Leases the first eligible record for `lease`, if any. The engines of this crate make a
    /// leased record that cannot be read back ([`InboxError::Corrupt`], only ever a record
    /// changed by hand) dead at once, its last error saying why, and return that error: it is
    /// not leased again and again, and does not hold up its ordering key.
    fn lease(
        &self,
        lease: Duration,
    ) -> impl Future<Output = Result<Option<Leased>, InboxError>> + Send;

    /// Extends the lease of `key` to now + `lease`, if `token` holds it.
    fn heartbeat(
        &self,
        key: &str,
        token: LeaseToken,
        lease: Duration,
    ) -> impl Future<Output = Result<bool, InboxError>> + Send;

    /// Marks `key` done, if `token` holds it.
    fn done(
        &self,
        key: &str,
        token: LeaseToken,
    ) -> impl Future<Output = Result<bool, InboxError>> + Send;

    /// Makes `key` pending again, due after `delay`, if `token` holds it.
    fn retry(
        &self,
        key: &str,
        token: LeaseToken,
        delay: Duration,
        error: &str,
    ) -> impl Future<Output = Result<bool, InboxError>> + Send;

    /// Marks `key` dead, if `token` holds it.
    fn dead(
        &self,
        key: &str,
        token: LeaseToken,
        error: &str,
    ) -> impl Future<Output = Result<bool, InboxError>> + Send;

    /// Hands `key` back unfinished (pending, due now, the attempt uncounted), if `token` holds
    /// it. Workers call it when they shut down before the handler finished.
    fn release(
        &self,
        key: &str,
        token: LeaseToken,
    ) -> impl Future<Output = Result<bool, InboxError>> + Send;

    /// The record `key`, if it is stored.
    fn get(&self, key: &str) -> impl Future<Output = Result<Option<Record>, InboxError>> + Send;

    /// Metadata of the records `query` selects, ordered by `(received_at, key)`.
    fn list(
        &self,
        query: &ListQuery,
    ) -> impl Future<Output = Result<Vec<RecordMeta>, InboxError>> + Send;

    /// How many records are in each status, and when the oldest pending one was received.
    fn counts(&self) -> impl Future<Output = Result<Counts, InboxError>> + Send;

    /// Makes the dead record `key` pending again with zero attempts. `Ok(false)` if it is not
    /// dead (or unknown).
    fn replay(&self, key: &str) -> impl Future<Output = Result<bool, InboxError>> + Send;

    /// Replays every record dead since `since` (inclusive); returns how many.
    fn replay_dead_since(
        &self,
        since: OffsetDateTime,
    ) -> impl Future<Output = Result<u64, InboxError>> + Send;

    /// Removes done records past their retention; returns how many.
    fn purge(&self) -> impl Future<Output = Result<u64, InboxError>> + Send;
}

/// The dyn-compatible mirror of [`InboxEngine`], so engines can be chosen at run time:
/// `Arc<dyn DynInboxEngine>` is itself an [`InboxEngine`].
#[allow(missing_docs)] // Each method is its `InboxEngine` namesake, boxed.
pub trait DynInboxEngine: Send + Sync + 'static {
    fn accept_boxed<'a>(
        &'a self,
        record: &'a NewRecord,
        max_unfinished: Option<u64>,
    ) -> BoxFuture<'a, Result<Accepted, InboxError>>;
    fn lease_boxed(&self, lease: Duration) -> BoxFuture<'_, Result<Option<Leased>, InboxError>>;
    fn heartbeat_boxed<'a>(
        &'a self,
        key: &'a str,
        token: LeaseToken,
        lease: Duration,
    ) -> BoxFuture<'a, Result<bool, InboxError>>;
    fn done_boxed<'a>(
        &'a self,
        key: &'a str,
        token: LeaseToken,
    ) -> BoxFuture<'a, Result<bool, InboxError>>;
    fn retry_boxed<'a>(
        &'a self,
        key: &'a str,
        token: LeaseToken,
        delay: Duration,
        error: &'a str,
    ) -> BoxFuture<'a, Result<bool, InboxError>>;
    fn dead_boxed<'a>(
        &'a self,
        key: &'a str,
        token: LeaseToken,
        error: &'a str,
    ) -> BoxFuture<'a, Result<bool, InboxError>>;
    fn release_boxed<'a>(
        &'a self,
        key: &'a str,
        token: LeaseToken,
    ) -> BoxFuture<'a, Result<bool, InboxError>>;
    fn get_boxed<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Record>, InboxError>>;
    fn list_boxed<'a>(
        &'a self,
        query: &'a ListQuery,
    ) -> BoxFuture<'a, Result<Vec<RecordMeta>, InboxError>>;
    fn counts_boxed(&self) -> BoxFuture<'_, Result<Counts, InboxError>>;
    fn replay_boxed<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, InboxError>>;
    fn replay_dead_since_boxed(
        &self,
        since: OffsetDateTime,
    ) -> BoxFuture<'_, Result<u64, InboxError>>;
    fn purge_boxed(&self) -> BoxFuture<'_, Result<u64, InboxError>>;
}

impl<E: InboxEngine> DynInboxEngine for E {
    fn accept_boxed<'a>(
        &'a self,
        record: &'a NewRecord,
        max_unfinished: Option<u64>,
    ) -> BoxFuture<'a, Result<Accepted, InboxError>> {
        Box::pin(self.accept(record, max_unfinished))
    }
    fn lease_boxed(&self, lease: Duration) -> BoxFuture<'_, Result<Option<Leased>, InboxError>> {
        Box::pin(self.lease(lease))
    }
    fn heartbeat_boxed<'a>(
        &'a self,
        key: &'a str,
        token: LeaseToken,
        lease: Duration,
    ) -> BoxFuture<'a, Result<bool, InboxError>> {
        Box::pin(self.heartbeat(key, token, lease))
    }
    fn done_boxed<'a>(
        &'a self,
        key: &'a str,
        token: LeaseToken,
    ) -> BoxFuture<'a, Result<bool, InboxError>> {
        Box::pin(self.done(key, token))
    }
    fn retry_boxed<'a>(
        &'a self,
        key: &'a str,
        token: LeaseToken,
        delay: Duration,
        error: &'a str,
    ) -> BoxFuture<'a, Result<bool, InboxError>> {
        Box::pin(self.retry(key, token, delay, error))
    }
    fn dead_boxed<'a>(
        &'a self,
        key: &'a str,
        token: LeaseToken,
        error: &'a str,
    ) -> BoxFuture<'a, Result<bool, InboxError>> {
        Box::pin(self.dead(key, token, error))
    }
    fn release_boxed<'a>(
        &'a self,
        key: &'a str,
        token: LeaseToken,
    ) -> BoxFuture<'a, Result<bool, InboxError>> {
        Box::pin(self.release(key, token))
    }
    fn get_boxed<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Record>, InboxError>> {
        Box::pin(self.get(key))
    }
    fn list_boxed<'a>(
        &'a self,
        query: &'a ListQuery,
    ) -> BoxFuture<'a, Result<Vec<RecordMeta>, InboxError>> {
        Box::pin(self.list(query))
    }
    fn counts_boxed(&self) -> BoxFuture<'_, Result<Counts, InboxError>> {
        Box::pin(self.counts())
    }
    fn replay_boxed<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, InboxError>> {
        Box::pin(self.replay(key))
    }
    fn replay_dead_since_boxed(
        &self,
        since: OffsetDateTime,
    ) -> BoxFuture<'_, Result<u64, InboxError>> {
        Box::pin(self.replay_dead_since(since))
    }
    fn purge_boxed(&self) -> BoxFuture<'_, Result<u64, InboxError>> {
        Box::pin(self.purge())
    }
}

impl InboxEngine for dyn DynInboxEngine {
    async fn accept(
        &self,
        record: &NewRecord,
        max_unfinished: Option<u64>,
    ) -> Result<Accepted, InboxError> {
        self.accept_boxed(record, max_unfinished).await
    }
    async fn lease(&self, lease: Duration) -> Result<Option<Leased>, InboxError> {
        self.lease_boxed(lease).await
    }
    async fn heartbeat(
        &self,
        key: &str,
        token: LeaseToken,
        lease: Duration,
    ) -> Result<bool, InboxError> {
        self.heartbeat_boxed(key, token, lease).await
    }
    async fn done(&self, key: &str, token: LeaseToken) -> Result<bool, InboxError> {
        self.done_boxed(key, token).await
    }
    async fn retry(
        &self,
        key: &str,
        token: LeaseToken,
        delay: Duration,
        error: &str,
    ) -> Result<bool, InboxError> {
        self.retry_boxed(key, token, delay, error).await
    }
    async fn dead(&self, key: &str, token: LeaseToken, error: &str) -> Result<bool, InboxError> {
        self.dead_boxed(key, token, error).await
    }
    async fn release(&self, key: &str, token: LeaseToken) -> Result<bool, InboxError> {
        self.release_boxed(key, token).await
    }
    async fn get(&self, key: &str) -> Result<Option<Record>, InboxError> {
        self.get_boxed(key).await
    }
    async fn list(&self, query: &ListQuery) -> Result<Vec<RecordMeta>, InboxError> {
        self.list_boxed(query).await
    }
    async fn counts(&self) -> Result<Counts, InboxError> {
        self.counts_boxed().await
    }
    async fn replay(&self, key: &str) -> Result<bool, InboxError> {
        self.replay_boxed(key).await
    }
    async fn replay_dead_since(&self, since: OffsetDateTime) -> Result<u64, InboxError> {
        self.replay_dead_since_boxed(since).await
    }
    async fn purge(&self) -> Result<u64, InboxError> {
        self.purge_boxed().await
    }
}

impl<E: InboxEngine + ?Sized> InboxEngine for Arc<E> {
    fn accept(
        &self,
        record: &NewRecord,
        max_unfinished: Option<u64>,
    ) -> impl Future<Output = Result<Accepted, InboxError>> + Send {
        (**self).accept(record, max_unfinished)
    }
    fn lease(
        &self,
        lease: Duration,
    ) -> impl Future<Output = Result<Option<Leased>, InboxError>> + Send {
        (**self).lease(lease)
    }
    fn heartbeat(
        &self,
        key: &str,
        token: LeaseToken,
        lease: Duration,
    ) -> impl Future<Output = Result<bool, InboxError>> + Send {
        (**self).heartbeat(key, token, lease)
    }
    fn done(
        &self,
        key: &str,
        token: LeaseToken,
    ) -> impl Future<Output = Result<bool, InboxError>> + Send {
        (**self).done(key, token)
    }
    fn retry(
        &self,
        key: &str,
        token: LeaseToken,
        delay: Duration,
        error: &str,
    ) -> impl Future<Output = Result<bool, InboxError>> + Send {
        (**self).retry(key, token, delay, error)
    }
    fn dead(
        &self,
        key: &str,
        token: LeaseToken,
        error: &str,
    ) -> impl Future<Output = Result<bool, InboxError>> + Send {
        (**self).dead(key, token, error)
    }
    fn release(
        &self,
        key: &str,
        token: LeaseToken,
    ) -> impl Future<Output = Result<bool, InboxError>> + Send {
        (**self).release(key, token)
    }
    fn get(&self, key: &str) -> impl Future<Output = Result<Option<Record>, InboxError>> + Send {
        (**self).get(key)
    }
    fn list(
        &self,
        query: &ListQuery,
    ) -> impl Future<Output = Result<Vec<RecordMeta>, InboxError>> + Send {
        (**self).list(query)
    }
    fn counts(&self) -> impl Future<Output = Result<Counts, InboxError>> + Send {
        (**self).counts()
    }
    fn replay(&self, key: &str) -> impl Future<Output = Result<bool, InboxError>> + Send {
        (**self).replay(key)
    }
    fn replay_dead_since(
        &self,
        since: OffsetDateTime,
    ) -> impl Future<Output = Result<u64, InboxError>> + Send {
        (**self).replay_dead_since(since)
    }
    fn purge(&self) -> impl Future<Output = Result<u64, InboxError>> + Send {
        (**self).purge()
    }
}

/// `decoded` is the record just leased under `token`, as read back. One that cannot be read
/// ([`InboxError::Corrupt`] with its key) is made dead at once, its last error saying why, so
/// that it is not leased again after every lease expiry — and, with an ordering key, does not
/// hold up the records behind it forever; its error is returned for the lease to report.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
pub(crate) async fn readable<E: InboxEngine + ?Sized>(
    engine: &E,
    token: LeaseToken,
    decoded: Result<Record, InboxError>,
) -> Result<Record, InboxError> {
    if let Err(InboxError::Corrupt { key, reason }) = &decoded
        && !key.is_empty()
    {
        // If this fails too, the record is leased again after its lease, as before.
        let _ = engine
            .dead(
                key,
                token,
                &format!("the stored record cannot be read: {reason}"),
            )
            .await;
    }
    decoded
}
