//! The `Inbox` front: accept, process one record, operator calls.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::Notify;

use super::worker::{self, Attempt, Handler, Worker};
use super::{
    Accepted, Counts, InboxEngine, InboxError, ListQuery, NewRecord, Record, RecordMeta,
    RetryPolicy, Status, telemetry,
};
use crate::clock::{Clock, SystemClock};
use crate::error::ConfigError;

/// Default lease of a record while its handler runs; workers renew it every third of it.
pub const DEFAULT_INBOX_LEASE: Duration = Duration::from_secs(30);

/// The shortest lease [`InboxBuilder::lease`] accepts.
pub const MIN_INBOX_LEASE: Duration = Duration::from_millis(100);

/// A durable inbox over an engine: accept deliveries, process them in
/// [workers](Inbox::worker), operate on what is stored.
///
/// Cheap to clone (one `Arc`); clones share the engine, the settings and the wake-up signal
/// that lets this process's workers start on a new record at once.
///
/// ```
/// # #[cfg(feature = "sqlite")]
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use webhook_receiver::inbox::{Accepted, Inbox, NewRecord, SqliteInbox};
///
/// let dir = std::env::temp_dir().join(format!("inbox-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let inbox = Inbox::new(SqliteInbox::open(dir.join("inbox.db")).await?);
///
/// let record = NewRecord::new("billing:id:evt_1", "billing", "stripe", &br#"{"type":"invoice.paid"}"#[..]);
/// assert_eq!(inbox.accept(&record).await?, Accepted::Stored);
/// assert_eq!(inbox.accept(&record).await?, Accepted::Duplicate);
///
/// let attempt = inbox
///     .process_next(|job: webhook_receiver::inbox::Job| async move {
///         assert_eq!(job.event_type(), Some("invoice.paid"));
///         Ok(())
///     })
///     .await?
///     .expect("one record was due");
/// assert!(attempt.is_done());
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct Inbox<E> {
    pub(crate) shared: Arc<Shared<E>>,
}

pub(crate) struct Shared<E> {
    pub(crate) engine: E,
    pub(crate) policy: RetryPolicy,
    pub(crate) lease: Duration,
    pub(crate) max_pending: Option<u64>,
    pub(crate) name: Arc<str>,
    pub(crate) wake: Notify,
    pub(crate) clock: Arc<dyn Clock>,
}

impl<E> Clone for Inbox<E> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<E: fmt::Debug> fmt::Debug for Inbox<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inbox")
            .field("engine", &self.shared.engine)
            .field("retry", &self.shared.policy)
            .field("lease", &self.shared.lease)
            .field("max_pending", &self.shared.max_pending)
            .field("name", &self.shared.name)
            .finish_non_exhaustive()
    }
}

/// Configures an [`Inbox`]. Every setter documents its default.
pub struct InboxBuilder<E> {
    engine: E,
    policy: RetryPolicy,
    lease: Duration,
    max_pending: Option<u64>,
    name: String,
    clock: Arc<dyn Clock>,
}

impl<E: fmt::Debug> fmt::Debug for InboxBuilder<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboxBuilder")
            .field("engine", &self.engine)
            .field("retry", &self.policy)
            .field("lease", &self.lease)
            .field("max_pending", &self.max_pending)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<E: InboxEngine> InboxBuilder<E> {
    /// Backoff and maximum attempts. Default: [`RetryPolicy::new`] (5 s doubling to 1 h, 12
    /// attempts, jitter 0.2).
    #[must_use]
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// How long a worker holds a record before another may take it over; the worker renews it
    /// every third of it while the handler runs. Default: [`DEFAULT_INBOX_LEASE`] (30 s). A
    /// worker that dies delays its record by up to this.
    #[must_use]
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// Refuse new deliveries ([`InboxError::Full`], answered 503 + `Retry-After`) while this
    /// many records are pending or running, so a stalled handler cannot grow the inbox without
    /// bound. Duplicates are still answered. Default: no bound.
    #[must_use]
    pub fn max_pending(mut self, records: u64) -> Self {
        self.max_pending = Some(records);
        self
    }

    /// Names this inbox in its queue gauges (`webhook_receiver_inbox_records{inbox, status}`,
    /// `webhook_receiver_inbox_oldest_pending_seconds{inbox}`), so that two inboxes of one
    /// process (two engines, tables or prefixes) do not overwrite each other's values.
    /// Default: `default`.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The clock used for ages in [`Inbox::counts`] metrics. Default: [`SystemClock`]. (The
    /// engine has its own clock for due times and leases.)
    #[must_use]
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Builds the inbox.
    ///
    /// # Errors
    ///
    /// An invalid [`RetryPolicy`], a lease shorter than [`MIN_INBOX_LEASE`], a zero
    /// `max_pending`, or a name that is empty, longer than 64 bytes or holds control
    /// characters.
    pub fn build(self) -> Result<Inbox<E>, ConfigError> {
        self.policy.validate()?;
        if self.lease < MIN_INBOX_LEASE {
            return Err(ConfigError::invalid(
                "lease",
                "must be at least 100 ms (a shorter lease is lost to scheduling delays)",
            ));
        }
        if self.max_pending == Some(0) {
            return Err(ConfigError::invalid("max_pending", "must be at least 1"));
        }
        if self.name.is_empty() || self.name.len() > 64 || self.name.chars().any(char::is_control) {
            return Err(ConfigError::invalid(
                "name",
                "must be 1 to 64 bytes without control characters",
            ));
        }
        Ok(Inbox {
            shared: Arc::new(Shared {
                engine: self.engine,
                policy: self.policy,
                lease: self.lease,
                max_pending: self.max_pending,
                name: self.name.into(),
                wake: Notify::new(),
                clock: self.clock,
            }),
        })
    }
}

impl<E: InboxEngine> Inbox<E> {
    /// An inbox with the default retry policy and lease, and no bound.
    pub fn new(engine: E) -> Self {
        Self::builder(engine)
            .build()
            .expect("the defaults are valid")
    }

    /// Configures an inbox.
    pub fn builder(engine: E) -> InboxBuilder<E> {
        InboxBuilder {
            engine,
            policy: RetryPolicy::new(),
            lease: DEFAULT_INBOX_LEASE,
            max_pending: None,
            name: "default".to_owned(),
            clock: Arc::new(SystemClock),
        }
    }

    /// The engine.
    pub fn engine(&self) -> &E {
        &self.shared.engine
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.shared.policy
    }

    /// The lease.
    pub fn lease(&self) -> Duration {
        self.shared.lease
    }

    /// The bound on unfinished records, if any.
    pub fn max_pending(&self) -> Option<u64> {
        self.shared.max_pending
    }

    /// The name of this inbox in its queue gauges.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Stores `record` durably, once per key. When it returns `Ok`, the delivery may be
    /// acknowledged (2xx); a worker of this process is woken at once.
    ///
    /// Most deliveries come through an [`InboxEndpoint`](super::InboxEndpoint), which
    /// verifies the request and builds the record.
    ///
    /// # Errors
    ///
    /// [`InboxError::Full`] when the bound is reached, [`InboxError::Unavailable`] when the
    /// engine is down: answer 503 ([`InboxError::status`]).
    pub async fn accept(&self, record: &NewRecord) -> Result<Accepted, InboxError> {
        let started = std::time::Instant::now();
        let accepted = self
            .shared
            .engine
            .accept(record, self.shared.max_pending)
            .await?;
        if accepted == Accepted::Stored {
            self.shared.wake.notify_one();
        }
        telemetry::received(
            &record.endpoint,
            &record.provider,
            record.key_label.as_deref(),
            accepted,
            started.elapsed(),
        );
        Ok(accepted)
    }

    /// A worker that runs `handler` for every record (add per-event-type handlers with
    /// [`Worker::on`]); start it with [`Worker::run`].
    pub fn worker<H: Handler>(&self, handler: H) -> Worker<E> {
        Worker::new(self.clone(), handler)
    }

    /// Leases the next due record, if any, and runs `handler` on it once, exactly as a worker
    /// would (heartbeat, retry with backoff, dead letters) — for tests, or to drive
    /// processing from your own scheduler. `Ok(None)` when nothing is due.
    ///
    /// # Errors
    ///
    /// If the lease fails. Failures after the lease are reported in the [`Attempt`].
    pub async fn process_next<H: Handler>(
        &self,
        handler: H,
    ) -> Result<Option<Attempt>, InboxError> {
        let leased_at = tokio::time::Instant::now();
        let Some(leased) = self.shared.engine.lease(self.shared.lease).await? else {
            return Ok(None);
        };
        let event_type = worker::default_event_type(&leased.record);
        let handler: Arc<dyn worker::ErasedHandler> = Arc::new(handler);
        Ok(Some(
            worker::execute(self, leased, leased_at, handler, event_type, None).await,
        ))
    }

    /// Counts per status and the oldest pending record; also published as gauges
    /// (`webhook_receiver_inbox_records`, `webhook_receiver_inbox_oldest_pending_seconds`,
    /// labelled with the inbox's [name](InboxBuilder::name)) with the feature `metrics`.
    ///
    /// # Errors
    ///
    /// If the engine fails.
    pub async fn counts(&self) -> Result<Counts, InboxError> {
        let counts = self.shared.engine.counts().await?;
        telemetry::counts(&self.shared.name, &counts, self.shared.clock.now());
        Ok(counts)
    }

    /// How long the oldest pending record has waited, by this inbox's clock.
    ///
    /// # Errors
    ///
    /// If the engine fails.
    pub async fn oldest_pending_age(&self) -> Result<Option<Duration>, InboxError> {
        Ok(self
            .counts()
            .await?
            .oldest_pending_age(self.shared.clock.now()))
    }

    /// Metadata of the records `query` selects, ordered by `(received_at, key)`.
    ///
    /// # Errors
    ///
    /// If the engine fails.
    pub async fn list(&self, query: &ListQuery) -> Result<Vec<RecordMeta>, InboxError> {
        self.shared.engine.list(query).await
    }

    /// The first `limit` dead records: metadata, attempts, last error.
    ///
    /// # Errors
    ///
    /// If the engine fails.
    pub async fn list_dead(&self, limit: u32) -> Result<Vec<RecordMeta>, InboxError> {
        self.list(&ListQuery::new(Status::Dead).limit(limit)).await
    }

    /// The record `key` with its headers and body, if stored.
    ///
    /// # Errors
    ///
    /// If the engine fails or the record cannot be read back.
    pub async fn inspect(&self, key: &str) -> Result<Option<Record>, InboxError> {
        self.shared.engine.get(key).await
    }

    /// Makes the dead record `key` pending again, due now, with its attempts reset. `Ok(false)`
    /// if it is not dead.
    ///
    /// # Errors
    ///
    /// If the engine fails.
    pub async fn replay(&self, key: &str) -> Result<bool, InboxError> {
        let replayed = self.shared.engine.replay(key).await?;
        if replayed {
            self.shared.wake.notify_one();
        }
        Ok(replayed)
    }

    /// Replays every record that died at `since` or later; returns how many.
    ///
    /// # Errors
    ///
    /// If the engine fails.
    pub async fn replay_dead_since(&self, since: OffsetDateTime) -> Result<u64, InboxError> {
        let replayed = self.shared.engine.replay_dead_since(since).await?;
        if replayed > 0 {
            self.shared.wake.notify_waiters();
        }
        Ok(replayed)
    }

    /// Removes done records past their retention (never pending, running or dead ones);
    /// returns how many. Run it on a schedule.
    ///
    /// # Errors
    ///
    /// If the engine fails.
    pub async fn purge(&self) -> Result<u64, InboxError> {
        self.shared.engine.purge().await
    }
}
