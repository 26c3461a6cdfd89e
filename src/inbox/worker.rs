//! Workers: lease due records, run the handler under a heartbeated lease, record the outcome.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use http::HeaderMap;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::error::truncate;
use super::retry::random_unit;
use super::{HandlerError, Inbox, InboxEngine, InboxError, Leased, Record, RecordMeta, telemetry};
use crate::dedup::{BoxFuture, LeaseToken};
use crate::error::ConfigError;
#[cfg(feature = "tracing")]
use crate::telemetry::ErrorChain;

/// The longest last-error message stored with a record, in bytes.
pub const MAX_ERROR_LEN: usize = 2048;

/// Default [`Worker::poll_interval`].
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Default [`Worker::shutdown_grace`].
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How long a cancelled handler is waited for before its record is handed back or given up.
const STOP_WAIT: Duration = Duration::from_secs(1);

/// Whether a handler settles its record itself: [`Job::mark_settling`], then
/// [`Job::mark_settled`]. Shared by the job and the worker running it.
#[derive(Clone, Default)]
pub(crate) struct Settle(Arc<AtomicU8>);

impl Settle {
    const SETTLING: u8 = 1;
    const SETTLED: u8 = 2;

    pub(crate) fn settling(&self) {
        // Never back from settled.
        let _ = self
            .0
            .compare_exchange(0, Self::SETTLING, Ordering::AcqRel, Ordering::Acquire);
    }

    pub(crate) fn settled(&self) {
        self.0.store(Self::SETTLED, Ordering::Release);
    }

    fn is_settling(&self) -> bool {
        self.0.load(Ordering::Acquire) == Self::SETTLING
    }

    fn is_settled(&self) -> bool {
        self.0.load(Ordering::Acquire) == Self::SETTLED
    }
}

/// Processes inbox records: an async function of a [`Job`].
///
/// Implemented for every `Fn(Job) -> impl Future<Output = Result<(), HandlerError>>` that is
/// `Send + Sync + 'static`, so plain `async fn handle(job: Job) -> Result<(), HandlerError>`
/// and closures work. The future is spawned on the Tokio runtime, so it must be `Send` and
/// `'static` (clone what it needs from `self` into it).
///
/// Return `Ok(())` when the record is processed (it becomes done), a retryable error to try
/// again later, a permanent one to give up at once. A panic counts as a retryable error.
pub trait Handler: Send + Sync + 'static {
    /// Processes one record.
    fn handle(&self, job: Job) -> impl Future<Output = Result<(), HandlerError>> + Send + 'static;
}

impl<F, Fut> Handler for F
where
    F: Fn(Job) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
{
    fn handle(&self, job: Job) -> impl Future<Output = Result<(), HandlerError>> + Send + 'static {
        self(job)
    }
}

/// A [`Handler`] behind a pointer.
pub(crate) trait ErasedHandler: Send + Sync + 'static {
    fn call(&self, job: Job) -> BoxFuture<'static, Result<(), HandlerError>>;
}

impl<H: Handler> ErasedHandler for H {
    fn call(&self, job: Job) -> BoxFuture<'static, Result<(), HandlerError>> {
        Box::pin(self.handle(job))
    }
}

/// One attempt at one record, as a [`Handler`] sees it.
///
/// `Debug` shows the metadata, never the body.
pub struct Job {
    record: Record,
    token: LeaseToken,
    max_attempts: u32,
    event_type: Option<String>,
    settle: Settle,
}

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job")
            .field("record", &self.record)
            .field("event_type", &self.event_type)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

impl Job {
    /// The record: metadata, kept headers, body.
    pub fn record(&self) -> &Record {
        &self.record
    }

    /// The record's metadata.
    pub fn meta(&self) -> &RecordMeta {
        &self.record.meta
    }

    /// The record's key.
    pub fn key(&self) -> &str {
        &self.record.meta.key
    }

    /// The exact body bytes that were verified.
    pub fn body(&self) -> &[u8] {
        &self.record.body
    }

    /// The headers kept at accept time.
    pub fn headers(&self) -> &HeaderMap {
        &self.record.headers
    }

    /// The body parsed as JSON. A body that does not parse is a **permanent** error: no retry
    /// can fix it.
    ///
    /// # Errors
    ///
    /// [`HandlerError::permanent`] saying what kind of mismatch and where (line, column) —
    /// never serde's own message, which quotes body values (it becomes the record's stored
    /// last error, and is logged).
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, HandlerError> {
        serde_json::from_slice(&self.record.body).map_err(|error| {
            HandlerError::permanent(format!(
                "the body does not match the handler's type: {} at line {}, column {}",
                crate::encoding::json_mismatch(error.classify()),
                error.line(),
                error.column()
            ))
        })
    }

    /// This attempt's number, from 1.
    pub fn attempt(&self) -> u32 {
        self.record.meta.attempts
    }

    /// Whether a retryable failure of this attempt makes the record dead.
    pub fn is_last_attempt(&self) -> bool {
        self.record.meta.attempts >= self.max_attempts
    }

    /// The event type the worker dispatched on (see [`Worker::event_type`]).
    pub fn event_type(&self) -> Option<&str> {
        self.event_type.as_deref()
    }

    /// The lease token of this attempt, for handlers that record the outcome themselves.
    pub fn token(&self) -> LeaseToken {
        self.token
    }

    /// Tells the worker that the handler has itself marked the record done with
    /// [`token`](Self::token) (e.g. inside its own database transaction, together with its
    /// writes), so the worker must not. Engines offering a transactional handler mode use it.
    pub fn mark_settled(&self) {
        self.settle.settled();
    }

    /// Tells the worker that the handler is about to commit the record's `done` itself (call
    /// it just before the commit, then [`mark_settled`](Self::mark_settled) once it went
    /// through). A heartbeat that meanwhile finds the record no longer running — the commit
    /// landed first — then waits for the handler to end (up to a second) rather than
    /// cancelling it between its commit and `mark_settled`, so the attempt is reported
    /// [`Done`](AttemptOutcome::Done), not [`Lost`](AttemptOutcome::Lost).
    pub fn mark_settling(&self) {
        self.settle.settling();
    }

    /// What [`mark_settling`](Self::mark_settling) and [`mark_settled`](Self::mark_settled)
    /// set, for wrappers that hand the job itself to the user's handler and settle after it
    /// returns.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn settle(&self) -> Settle {
        self.settle.clone()
    }
}

/// How one attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttemptOutcome {
    /// The handler succeeded; the record is done.
    Done,
    /// The handler failed; the record runs again after `delay`.
    Retry {
        /// The backoff chosen.
        delay: Duration,
    },
    /// The record is dead: a permanent error, or the attempts are exhausted.
    Dead,
    /// The lease was lost: it expired and another worker took the record, or heartbeats failed
    /// or hung (the engine unreachable) until it was about to lapse, or the `lease` call
    /// answered too late to start, and the handler was cancelled (or not started) so that
    /// two workers never run the record at once. This attempt's outcome was discarded; the
    /// record runs again once its lease has expired. (A handler committing the record's
    /// `done` itself, [`Job::mark_settling`], is waited for instead, and reported
    /// [`Done`](Self::Done) once it [settled](Job::mark_settled) it.)
    Lost,
    /// The worker shut down before the handler finished; the record is pending again.
    HandedBack,
    /// The engine could not record the outcome; the record runs again when its lease expires.
    Unsettled,
}

impl AttemptOutcome {
    /// A fixed word for metrics and logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Retry { .. } => "retry",
            Self::Dead => "dead",
            Self::Lost => "lost",
            Self::HandedBack => "handed_back",
            Self::Unsettled => "unsettled",
        }
    }
}

/// One attempt at one record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Attempt {
    /// The record's key.
    pub key: String,
    /// The attempt's number, from 1.
    pub attempt: u32,
    /// How it ended.
    pub outcome: AttemptOutcome,
}

impl Attempt {
    /// Whether the record is done.
    pub fn is_done(&self) -> bool {
        self.outcome == AttemptOutcome::Done
    }
}

/// What a worker did between [`Worker::run`] and its shutdown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerReport {
    /// Records done.
    pub done: u64,
    /// Attempts that scheduled a retry.
    pub retried: u64,
    /// Records that went dead.
    pub dead: u64,
    /// Attempts whose lease was lost.
    pub lost: u64,
    /// Records handed back at shutdown.
    pub handed_back: u64,
    /// Attempts whose outcome the engine could not record.
    pub unsettled: u64,
}

impl WorkerReport {
    fn count(&mut self, outcome: AttemptOutcome) {
        let slot = match outcome {
            AttemptOutcome::Done => &mut self.done,
            AttemptOutcome::Retry { .. } => &mut self.retried,
            AttemptOutcome::Dead => &mut self.dead,
            AttemptOutcome::Lost => &mut self.lost,
            AttemptOutcome::HandedBack => &mut self.handed_back,
            AttemptOutcome::Unsettled => &mut self.unsettled,
        };
        *slot += 1;
    }

    fn add(&mut self, other: &Self) {
        self.done += other.done;
        self.retried += other.retried;
        self.dead += other.dead;
        self.lost += other.lost;
        self.handed_back += other.handed_back;
        self.unsettled += other.unsettled;
    }
}

type EventTypeFn = dyn Fn(&Record) -> Option<String> + Send + Sync;

/// Leases due records and runs their handler, `concurrency` at a time. Built by
/// [`Inbox::worker`]; every setter documents its default.
///
/// * Each record runs under a lease renewed every third of it (a heartbeat). A worker whose
///   heartbeat finds the lease taken over cancels its handler; so does one whose heartbeats
///   fail, or get no answer, until the lease is within a sixth of its end (the lease counts
///   from the start of the `lease` call that took the record).
/// * A retryable failure schedules the record after the [`RetryPolicy`](super::RetryPolicy)'s
///   backoff; the last allowed attempt, or a permanent error, makes it dead. A record leased
///   more often than the policy allows (its workers kept dying) is dead without running.
/// * [`run`](Self::run) stops leasing when the shutdown future completes, lets running handlers
///   finish for up to [`shutdown_grace`](Self::shutdown_grace), then cancels the rest and hands
///   their records back (pending, attempt uncounted).
/// * Dispatch: [`on`](Self::on) routes an event type to its handler; others go to the default.
///
/// ```no_run
/// use webhook_receiver::inbox::{HandlerError, Inbox, InboxEngine, Job};
///
/// async fn paid(job: Job) -> Result<(), HandlerError> {
///     let _invoice: serde_json::Value = job.json()?;
///     Ok(())
/// }
///
/// async fn anything_else(_job: Job) -> Result<(), HandlerError> {
///     Ok(())
/// }
///
/// # async fn run<E: InboxEngine>(inbox: Inbox<E>) -> Result<(), Box<dyn std::error::Error>> {
/// let report = inbox
///     .worker(anything_else)
///     .on("invoice.paid", paid)
///     .concurrency(8)
///     .run(async { tokio::signal::ctrl_c().await.ok(); })
///     .await?;
/// println!("{} done, {} dead", report.done, report.dead);
/// # Ok(())
/// # }
/// ```
pub struct Worker<E> {
    inbox: Inbox<E>,
    default: Arc<dyn ErasedHandler>,
    routes: HashMap<String, Arc<dyn ErasedHandler>>,
    event_type: Arc<EventTypeFn>,
    concurrency: usize,
    poll_interval: Duration,
    shutdown_grace: Duration,
    metrics_interval: Duration,
}

impl<E> fmt::Debug for Worker<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut routes: Vec<_> = self.routes.keys().collect();
        routes.sort();
        f.debug_struct("Worker")
            .field("routes", &routes)
            .field("concurrency", &self.concurrency)
            .field("poll_interval", &self.poll_interval)
            .field("shutdown_grace", &self.shutdown_grace)
            .finish_non_exhaustive()
    }
}

impl<E: InboxEngine> Worker<E> {
    pub(crate) fn new(inbox: Inbox<E>, handler: impl Handler) -> Self {
        Self {
            inbox,
            default: Arc::new(handler),
            routes: HashMap::new(),
            event_type: Arc::new(default_event_type),
            concurrency: 1,
            poll_interval: DEFAULT_POLL_INTERVAL,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            metrics_interval: Duration::from_secs(15),
        }
    }

    /// Runs `handler` for records of `event_type` instead of the default handler.
    #[must_use]
    pub fn on(mut self, event_type: impl Into<String>, handler: impl Handler) -> Self {
        self.routes.insert(event_type.into(), Arc::new(handler));
        self
    }

    /// How to read a record's event type for [`on`](Self::on) and [`Job::event_type`].
    /// Default: the JSON body's top-level `"type"` string (Stripe, Standard Webhooks, Slack's
    /// envelope), else the `x-github-event`, `x-shopify-topic` or `x-gitlab-event` header when
    /// it was kept.
    #[must_use]
    pub fn event_type(
        mut self,
        read: impl Fn(&Record) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.event_type = Arc::new(read);
        self
    }

    /// How many records run at once (≥ 1). Default: 1.
    #[must_use]
    pub fn concurrency(mut self, records: usize) -> Self {
        self.concurrency = records;
        self
    }

    /// How often an idle worker looks for due records (> 0). Records accepted through this
    /// process's inbox wake it at once; those accepted elsewhere, and retries coming due, are
    /// found within this. Default: 250 ms.
    #[must_use]
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// How long running handlers may finish after shutdown was asked for, before they are
    /// cancelled and their records handed back. Default: 10 s. Zero cancels them at once. A
    /// cancelled handler stops at its next `.await`; its record is handed back once it has
    /// stopped (waited for up to a second), so the record's next attempt does not overlap it.
    #[must_use]
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// How often the queue-depth gauges are refreshed (feature `metrics`; > 0). Default: 15 s.
    #[must_use]
    pub fn metrics_interval(mut self, interval: Duration) -> Self {
        self.metrics_interval = interval;
        self
    }

    /// Processes records until `shutdown` completes, then shuts down gracefully (see the type's
    /// docs) and reports what it did. Engine errors are logged (feature `tracing`) and retried
    /// after the poll interval; they never stop the worker.
    ///
    /// Needs a Tokio runtime with the time driver. Dropping the returned future cancels
    /// running handlers without handing their records back: their leases expire and they run
    /// again, as after a crash.
    ///
    /// # Errors
    ///
    /// A zero concurrency, poll interval or metrics interval.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<WorkerReport, ConfigError> {
        if self.concurrency == 0 {
            return Err(ConfigError::invalid("concurrency", "must be at least 1"));
        }
        if self.poll_interval.is_zero() {
            return Err(ConfigError::invalid(
                "poll_interval",
                "must be longer than zero",
            ));
        }
        if self.metrics_interval.is_zero() {
            return Err(ConfigError::invalid(
                "metrics_interval",
                "must be longer than zero",
            ));
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        let this = Arc::new(self);
        let mut slots = tokio::task::JoinSet::new();
        for _ in 0..this.concurrency {
            slots.spawn(Arc::clone(&this).slot(stop_rx.clone()));
        }
        #[cfg(feature = "metrics")]
        slots.spawn(Arc::clone(&this).gauges(stop_rx.clone()));
        drop(stop_rx);
        shutdown.await;
        let _ = stop_tx.send(true);
        let mut report = WorkerReport::default();
        while let Some(done) = slots.join_next().await {
            if let Ok(slot) = done {
                report.add(&slot);
            }
        }
        Ok(report)
    }

    /// One lease-run-settle loop.
    async fn slot(self: Arc<Self>, mut stop: watch::Receiver<bool>) -> WorkerReport {
        let mut report = WorkerReport::default();
        let shared = &self.inbox.shared;
        while !*stop.borrow() {
            let leased_at = tokio::time::Instant::now();
            let wait = match shared.engine.lease(shared.lease).await {
                Ok(Some(leased)) => {
                    let event_type = (self.event_type)(&leased.record);
                    let handler = event_type
                        .as_deref()
                        .and_then(|t| self.routes.get(t))
                        .unwrap_or(&self.default);
                    let attempt = execute(
                        &self.inbox,
                        leased,
                        leased_at,
                        Arc::clone(handler),
                        event_type,
                        Some((&mut stop, self.shutdown_grace)),
                    )
                    .await;
                    report.count(attempt.outcome);
                    continue;
                }
                Ok(None) => self.poll_interval,
                Err(error) => {
                    telemetry::log_warn!(error = %ErrorChain(&error), "inbox worker could not lease a record");
                    let _ = error;
                    self.poll_interval.max(Duration::from_secs(1))
                }
            };
            tokio::select! {
                () = shared.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
                _ = stop.wait_for(|stop| *stop) => {}
            }
        }
        report
    }

    #[cfg(feature = "metrics")]
    async fn gauges(self: Arc<Self>, mut stop: watch::Receiver<bool>) -> WorkerReport {
        loop {
            // Errors only delay the next refresh.
            let _ = self.inbox.counts().await;
            tokio::select! {
                () = tokio::time::sleep(self.metrics_interval) => {}
                _ = stop.wait_for(|stop| *stop) => return WorkerReport::default(),
            }
        }
    }
}

/// The default event type: the JSON body's top-level `"type"`, else a provider's event header.
pub(crate) fn default_event_type(record: &Record) -> Option<String> {
    if let Some(kind) = crate::providers::json_str(&record.body, &["type"]) {
        return Some(kind.into_owned());
    }
    ["x-github-event", "x-shopify-topic", "x-gitlab-event"]
        .iter()
        .find_map(|name| record.headers.get(*name)?.to_str().ok())
        .map(str::to_owned)
}

/// Aborts the task when dropped, so a cancelled worker leaves no handler running.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

enum Ending {
    Finished(Result<Result<(), HandlerError>, tokio::task::JoinError>),
    Lost,
    /// Heartbeats failed until the lease was about to lapse.
    Lapsing,
    HandBack,
}

/// Runs one leased record to an outcome. `leased_at`: when the `lease` call that returned it
/// started (its lease runs from a little later). `stop`: the worker's shutdown signal and grace.
pub(crate) async fn execute<E: InboxEngine>(
    inbox: &Inbox<E>,
    leased: Leased,
    leased_at: tokio::time::Instant,
    handler: Arc<dyn ErasedHandler>,
    event_type: Option<String>,
    stop: Option<(&mut watch::Receiver<bool>, Duration)>,
) -> Attempt {
    let started = Instant::now();
    let meta = &leased.record.meta;
    let key = meta.key.clone();
    let endpoint = meta.endpoint.clone();
    let attempt = meta.attempts;
    #[cfg(feature = "tracing")]
    let span = tracing::info_span!(
        "webhook_inbox_attempt",
        key = %key,
        endpoint = %endpoint,
        provider = %meta.provider,
        event_id = meta.event_id.as_deref(),
        event_type = event_type.as_deref(),
        attempt,
        outcome = tracing::field::Empty,
    );
    let run = run_attempt(inbox, leased, leased_at, handler, event_type, stop);
    #[cfg(feature = "tracing")]
    let run = tracing::Instrument::instrument(run, span.clone());
    let outcome = run.await;
    #[cfg(feature = "tracing")]
    span.record("outcome", outcome.as_str());
    telemetry::attempt(&endpoint, outcome.as_str(), started.elapsed());
    Attempt {
        key,
        attempt,
        outcome,
    }
}

async fn run_attempt<E: InboxEngine>(
    inbox: &Inbox<E>,
    leased: Leased,
    leased_at: tokio::time::Instant,
    handler: Arc<dyn ErasedHandler>,
    event_type: Option<String>,
    stop: Option<(&mut watch::Receiver<bool>, Duration)>,
) -> AttemptOutcome {
    let shared = &inbox.shared;
    let engine = &shared.engine;
    let policy = shared.policy;
    let Leased { record, token } = leased;
    let key = record.meta.key.clone();
    let attempt = record.meta.attempts;

    if attempt > policy.attempts() {
        // Leased more often than allowed without an outcome: its workers crashed or hung.
        let mut error = format!(
            "gave up after {} attempts: a lease expired without an outcome \
             (a worker crashed or outlived its lease)",
            attempt - 1
        );
        if let Some(last) = &record.meta.last_error {
            error.push_str("; last error: ");
            error.push_str(last);
        }
        let error = truncate(error, MAX_ERROR_LEN);
        telemetry::log_warn!(%error, "inbox record is dead");
        return settle(engine.dead(&key, token, &error).await, AttemptOutcome::Dead);
    }

    let every = shared.lease / 3;
    // When to give up on the lease: a sixth of it before it lapses unless renewed, counted
    // from before the `lease` call that took it and from before each heartbeat that renewed it
    // (the engine's deadline is a little later). So a handler is cancelled before its lease
    // lapses — after which another worker may take the record — even when the engine hangs
    // rather than fails.
    let margin = every.min(CENTURY) / 2;
    let give_up_from = |start| {
        let lapses = at(start, shared.lease);
        lapses.checked_sub(margin).unwrap_or(lapses)
    };
    let mut give_up = give_up_from(leased_at);
    if tokio::time::Instant::now() >= give_up {
        // The `lease` call itself took (almost) the whole lease.
        telemetry::log_warn!("inbox lease about to lapse before its handler started");
        return AttemptOutcome::Lost;
    }

    let settlement = Settle::default();
    let job = Job {
        record,
        token,
        max_attempts: policy.attempts(),
        event_type,
        settle: settlement.clone(),
    };
    let mut task = AbortOnDrop(tokio::spawn(handler.call(job)));

    let mut heartbeat = tokio::time::interval_at(at(leased_at, every), every);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut stop, grace) = match stop {
        Some((stop, grace)) => (Some(stop), grace),
        None => (None, Duration::ZERO),
    };
    let mut stopping = false;
    let grace_end = tokio::time::sleep(Duration::from_secs(365 * 24 * 3600));
    tokio::pin!(grace_end);

    let ending = loop {
        tokio::select! {
            // A handler that has finished is recorded, even when the shutdown's grace ends at
            // the same moment: its result is never thrown away to run the record again.
            biased;
            joined = &mut task.0 => break Ending::Finished(joined),
            _ = heartbeat.tick() => {
                let asked = tokio::time::Instant::now();
                let renewed =
                    tokio::time::timeout_at(give_up, engine.heartbeat(&key, token, shared.lease));
                match renewed.await {
                    Ok(Ok(true)) => give_up = give_up_from(asked),
                    Ok(Ok(false)) => break Ending::Lost,
                    Ok(Err(error)) => {
                        telemetry::log_warn!(error = %ErrorChain(&error), "inbox heartbeat failed");
                        let _ = error;
                        // The lease would lapse before the next heartbeat could renew it:
                        // another worker may take the record then, so this one stops its
                        // handler now.
                        if after(every) >= give_up {
                            break Ending::Lapsing;
                        }
                    }
                    Err(_) => {
                        telemetry::log_warn!("inbox heartbeat got no answer before the lease was about to lapse");
                        break Ending::Lapsing;
                    }
                }
            }
            () = async {
                match stop.as_mut() {
                    // A dropped sender also means stop.
                    Some(stop) => { let _ = stop.wait_for(|s| *s).await; }
                    None => std::future::pending().await,
                }
            }, if !stopping => {
                stopping = true;
                grace_end.as_mut().reset(after(grace));
            }
            () = &mut grace_end, if stopping => break Ending::HandBack,
        }
    };
    if matches!(ending, Ending::Lost) && settlement.is_settling() {
        // The record is no longer running because the handler's own commit of `done` (which
        // the heartbeat waited on) landed; its task may not have run since. Not cancelled
        // between its commit and `mark_settled`: waited for, boundedly.
        let _ = tokio::time::timeout(STOP_WAIT, &mut task.0).await;
    }
    if !task.0.is_finished() {
        // A cancelled task stops at its next `.await`: wait for that (boundedly), so that the
        // record is handed back, or left to the worker that took it over, only once its
        // handler no longer runs — never while it still does, next to the record's next
        // attempt. A handler busy for longer without awaiting may still overlap it.
        task.0.abort();
        let _ = tokio::time::timeout(STOP_WAIT, &mut task.0).await;
    }
    drop(task);
    if settlement.is_settled() {
        // The handler committed `done` itself (a transactional handler): a heartbeat or the
        // hand-back that ran into it meanwhile only saw the record no longer running.
        return AttemptOutcome::Done;
    }

    match ending {
        Ending::Lost => {
            telemetry::log_warn!("inbox lease lost: another worker took the record over");
            AttemptOutcome::Lost
        }
        Ending::Lapsing => {
            telemetry::log_warn!(
                "inbox heartbeats failed or hung until the lease was about to lapse; handler cancelled"
            );
            AttemptOutcome::Lost
        }
        Ending::HandBack => settle(
            engine.release(&key, token).await,
            AttemptOutcome::HandedBack,
        ),
        Ending::Finished(Ok(Ok(()))) => settle(
            retrying(|| engine.done(&key, token)).await,
            AttemptOutcome::Done,
        ),
        Ending::Finished(result) => {
            let error = match result {
                Ok(Err(error)) => error,
                // Never the panic's payload: it may hold anything.
                _ => HandlerError::retry("the handler panicked"),
            };
            let mut message = error.message(MAX_ERROR_LEN);
            if error.is_permanent() {
                telemetry::log_warn!(error = %message, "inbox record is dead: permanent error");
                return settle(
                    retrying(|| engine.dead(&key, token, &message)).await,
                    AttemptOutcome::Dead,
                );
            }
            if policy.exhausted(attempt) {
                message = truncate(
                    format!("gave up after {attempt} attempts: {message}"),
                    MAX_ERROR_LEN,
                );
                telemetry::log_warn!(error = %message, "inbox record is dead: attempts exhausted");
                return settle(
                    retrying(|| engine.dead(&key, token, &message)).await,
                    AttemptOutcome::Dead,
                );
            }
            let delay = error
                .retry_after()
                .unwrap_or_else(|| policy.delay_jittered(attempt, random_unit()));
            telemetry::log_warn!(error = %message, ?delay, "inbox handler failed; will retry");
            settle(
                retrying(|| engine.retry(&key, token, delay, &message)).await,
                AttemptOutcome::Retry { delay },
            )
        }
    }
}

/// `wait` from now, or about a century when that is past what the clock can hold: a lease or
/// a grace of `Duration::MAX` means "however long it takes".
fn after(wait: Duration) -> tokio::time::Instant {
    at(tokio::time::Instant::now(), wait)
}

/// The longest wait [`after`] and [`at`] add to the clock.
const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// `wait` from `from`, capped as in [`after`].
fn at(from: tokio::time::Instant, wait: Duration) -> tokio::time::Instant {
    from.checked_add(wait.min(CENTURY)).unwrap_or(from)
}

/// `outcome` if the transition applied, `Lost` if the token no longer held the record,
/// `Unsettled` if the engine failed.
fn settle(result: Result<bool, InboxError>, outcome: AttemptOutcome) -> AttemptOutcome {
    match result {
        Ok(true) => outcome,
        Ok(false) => {
            telemetry::log_warn!("inbox lease lost before the outcome was recorded");
            AttemptOutcome::Lost
        }
        Err(error) => {
            telemetry::log_warn!(error = %ErrorChain(&error), "inbox could not record an outcome");
            let _ = error;
            AttemptOutcome::Unsettled
        }
    }
}

/// Runs a transition, retrying transient engine errors a few times (about 1.3 s in all).
async fn retrying<F, Fut>(mut transition: F) -> Result<bool, InboxError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool, InboxError>>,
{
    for pause in [50, 250, 1000] {
        match transition().await {
            Err(error) if error.is_transient() => {
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
            other => return other,
        }
    }
    transition().await
}
