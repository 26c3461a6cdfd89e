//! Workers over the SQLite inbox: retries with growing delays, dead letters and replay, graceful
//! shutdown, heartbeats (and failing ones), dispatch, per-key ordering, concurrency, and a
//! worker process killed mid-handler.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;
use webhook_receiver::ManualClock;
use webhook_receiver::dedup::LeaseToken;
use webhook_receiver::inbox::{
    Accepted, AttemptOutcome, Counts, HandlerError, Inbox, InboxEngine, InboxError, Job, Leased,
    ListQuery, NewRecord, Record, RecordMeta, RetryPolicy, SqliteInbox, Status, WorkerReport,
};

/// A fresh directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "webhook-inbox-{name}-{}-{:x}",
            std::process::id(),
            webhook_receiver::dedup::LeaseToken::random().get() as u64
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn db(&self) -> PathBuf {
        self.0.join("inbox.db")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn record(name: &str, body: &str) -> NewRecord {
    NewRecord::new(
        format!("test:{name}"),
        "test",
        "test-provider",
        body.to_owned(),
    )
}

/// Polls `check` every 10 ms until it holds; panics after 30 s (a loaded machine is slow, a
/// broken one never gets there).
async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Runs `worker` in the background; the returned sender stops it.
fn spawn_worker(
    worker: webhook_receiver::inbox::Worker<SqliteInbox>,
) -> (oneshot::Sender<()>, tokio::task::JoinHandle<WorkerReport>) {
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        worker
            .run(async {
                let _ = stopped.await;
            })
            .await
            .expect("valid worker settings")
    });
    (stop, task)
}

async fn status<E: InboxEngine>(inbox: &Inbox<E>, key: &str) -> (Status, u32) {
    let meta = inbox.inspect(key).await.unwrap().expect("stored").meta;
    (meta.status, meta.attempts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_failing_twice_then_succeeding_runs_three_times_with_growing_delays() {
    let dir = TempDir::new("backoff");
    let clock = ManualClock::at_unix(1_767_225_600);
    let engine = SqliteInbox::builder(dir.db())
        .clock(clock.clone())
        .open()
        .await
        .unwrap();
    let inbox = Inbox::builder(engine)
        .retry(
            RetryPolicy::new()
                .base(Duration::from_secs(10))
                .max_attempts(5),
        )
        .build()
        .unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    let handler = {
        let calls = Arc::clone(&calls);
        move |job: Job| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if job.attempt() < 3 {
                    Err(HandlerError::retry("downstream unavailable"))
                } else {
                    Ok(())
                }
            }
        }
    };
    let (stop, worker) = spawn_worker(
        inbox
            .worker(handler)
            .poll_interval(Duration::from_millis(10)),
    );
    inbox.accept(&record("flaky", "{}")).await.unwrap();

    // After each failure, read the delay the engine scheduled, then move the clock there.
    let mut delays = Vec::new();
    for failed in 1..=2u32 {
        wait_until(&format!("failure {failed} is scheduled"), || async {
            status(&inbox, "test:flaky").await == (Status::Pending, failed)
        })
        .await;
        let meta = inbox.inspect("test:flaky").await.unwrap().unwrap().meta;
        let run_at = meta.run_at.expect("a pending record has run_at");
        delays.push(run_at - meta.updated_at);
        assert_eq!(meta.last_error.as_deref(), Some("downstream unavailable"));
        clock.set(run_at);
    }
    wait_until("the third attempt succeeds", || async {
        status(&inbox, "test:flaky").await.0 == Status::Done
    })
    .await;
    stop.send(()).unwrap();
    let report = worker.await.unwrap();

    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(status(&inbox, "test:flaky").await, (Status::Done, 3));
    assert_eq!((report.retried, report.done, report.dead), (2, 1, 0));
    // Base 10 s doubling, shortened by at most 20 % jitter: [8, 10] s then [16, 20] s.
    let secs: Vec<f64> = delays.iter().map(|d| d.as_seconds_f64()).collect();
    assert!((8.0..=10.0).contains(&secs[0]), "{secs:?}");
    assert!((16.0..=20.0).contains(&secs[1]), "{secs:?}");
    assert!(secs[1] > secs[0], "delays must grow: {secs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_event_goes_dead_and_once_replayed_is_processed() {
    let dir = TempDir::new("poison");
    let inbox = Inbox::builder(SqliteInbox::open(dir.db()).await.unwrap())
        .retry(
            RetryPolicy::new()
                .base(Duration::from_millis(10))
                .max_attempts(3)
                .jitter(0.0),
        )
        .build()
        .unwrap();
    let fixed = Arc::new(AtomicBool::new(false));
    let processed = Arc::new(Mutex::new(Vec::new()));
    let handler = {
        let fixed = Arc::clone(&fixed);
        let processed = Arc::clone(&processed);
        move |job: Job| {
            let fixed = fixed.load(Ordering::SeqCst);
            let processed = Arc::clone(&processed);
            async move {
                if !fixed {
                    return Err(HandlerError::retry("bug: cannot handle this event"));
                }
                processed.lock().unwrap().push(job.key().to_owned());
                Ok(())
            }
        }
    };
    let (stop, worker) = spawn_worker(
        inbox
            .worker(handler)
            .poll_interval(Duration::from_millis(10)),
    );
    inbox.accept(&record("poison", "{}")).await.unwrap();
    wait_until("the poison event is dead", || async {
        status(&inbox, "test:poison").await.0 == Status::Dead
    })
    .await;

    let dead = inbox.list_dead(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].key, "test:poison");
    assert_eq!(dead[0].attempts, 3);
    let error = dead[0].last_error.as_deref().unwrap();
    assert!(error.contains("gave up after 3 attempts"), "{error}");
    assert!(error.contains("bug: cannot handle this event"), "{error}");
    assert_eq!(inbox.counts().await.unwrap().dead, 1);

    // The bug is fixed; the operator replays.
    fixed.store(true, Ordering::SeqCst);
    assert!(inbox.replay("test:poison").await.unwrap());
    wait_until("the replayed event is done", || async {
        status(&inbox, "test:poison").await.0 == Status::Done
    })
    .await;
    stop.send(()).unwrap();
    let report = worker.await.unwrap();
    assert_eq!(status(&inbox, "test:poison").await, (Status::Done, 1));
    assert_eq!(*processed.lock().unwrap(), ["test:poison"]);
    assert_eq!((report.dead, report.done, report.retried), (1, 1, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_error_is_dead_at_once_and_replay_since_revives_it() {
    let dir = TempDir::new("permanent");
    let inbox = Inbox::new(SqliteInbox::open(dir.db()).await.unwrap());
    let since = time::OffsetDateTime::now_utc() - Duration::from_secs(1);
    inbox
        .accept(&record("bad-json", "{not json"))
        .await
        .unwrap();
    let parse = |job: Job| async move {
        let _: serde_json::Value = job.json()?;
        Ok(())
    };
    let attempt = inbox.process_next(parse).await.unwrap().unwrap();
    assert_eq!(
        attempt.outcome,
        webhook_receiver::inbox::AttemptOutcome::Dead
    );
    let meta = inbox.inspect("test:bad-json").await.unwrap().unwrap().meta;
    assert_eq!((meta.status, meta.attempts), (Status::Dead, 1));
    let error = meta.last_error.unwrap();
    assert!(
        error.contains("line 1"),
        "serde names the position: {error}"
    );

    assert_eq!(inbox.replay_dead_since(since).await.unwrap(), 1);
    let ok = |_job: Job| async { Ok::<(), HandlerError>(()) };
    let attempt = inbox.process_next(ok).await.unwrap().unwrap();
    assert!(attempt.is_done());
}

/// A body that does not match the handler's type is dead at once, and its stored (and logged)
/// error says what and where, never the body values serde's own message quotes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_of_the_wrong_type_is_dead_without_its_content_in_the_error() {
    #[derive(serde::Deserialize)]
    struct Payment {
        #[allow(dead_code)]
        card: u64,
    }
    let dir = TempDir::new("wrong-type");
    let inbox = Inbox::new(SqliteInbox::open(dir.db()).await.unwrap());
    inbox
        .accept(&record(
            "payment",
            r#"{"card":"4111-1111-1111-1111 CARDHOLDER JANE DOE"}"#,
        ))
        .await
        .unwrap();
    let parse = |job: Job| async move {
        let _: Payment = job.json()?;
        Ok(())
    };
    let attempt = inbox.process_next(parse).await.unwrap().unwrap();
    assert_eq!(
        attempt.outcome,
        webhook_receiver::inbox::AttemptOutcome::Dead
    );
    let record = inbox.inspect("test:payment").await.unwrap().unwrap();
    let error = record.meta.last_error.clone().unwrap();
    assert!(
        error.contains("wrong type") && error.contains("line 1, column"),
        "{error}"
    );
    for shown in [error, format!("{record:?}")] {
        assert!(
            !shown.contains("4111") && !shown.contains("JANE"),
            "{shown}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_with_no_grace_hands_a_running_record_back() {
    let dir = TempDir::new("handback");
    let inbox = Inbox::new(SqliteInbox::open(dir.db()).await.unwrap());
    let (started_tx, started) = tokio::sync::mpsc::unbounded_channel::<()>();
    let handler = move |_job: Job| {
        let started_tx = started_tx.clone();
        async move {
            let _ = started_tx.send(());
            std::future::pending::<()>().await;
            Ok(())
        }
    };
    inbox.accept(&record("slow", "{}")).await.unwrap();
    let (stop, worker) = spawn_worker(inbox.worker(handler).shutdown_grace(Duration::ZERO));
    let mut started = started;
    started.recv().await.unwrap();
    assert_eq!(status(&inbox, "test:slow").await, (Status::Running, 1));
    stop.send(()).unwrap();
    let report = tokio::time::timeout(Duration::from_secs(30), worker)
        .await
        .expect("shutdown is prompt")
        .unwrap();
    assert_eq!(report.handed_back, 1);
    // Pending again, the interrupted attempt uncounted, due now.
    assert_eq!(status(&inbox, "test:slow").await, (Status::Pending, 0));
}

/// With no grace, a running record is handed back only once its handler has stopped. A
/// cancelled handler stops at its next `.await`; this one is busy for 300 ms without one, and
/// handing its record back at once would let another worker start it while it still runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_is_handed_back_only_after_its_handler_stopped() {
    struct Stopped(Arc<AtomicBool>);
    impl Drop for Stopped {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let dir = TempDir::new("handback-stopped");
    let inbox = Inbox::new(SqliteInbox::open(dir.db()).await.unwrap());
    let stopped = Arc::new(AtomicBool::new(false));
    let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel::<()>();
    let handler = {
        let stopped = Arc::clone(&stopped);
        move |_job: Job| {
            let (stopped, started_tx) = (Stopped(Arc::clone(&stopped)), started_tx.clone());
            async move {
                let _stopped = stopped;
                let _ = started_tx.send(());
                std::thread::sleep(Duration::from_millis(300));
                tokio::task::yield_now().await;
                std::future::pending::<()>().await;
                Ok(())
            }
        }
    };
    inbox.accept(&record("busy", "{}")).await.unwrap();
    let (stop, worker) = spawn_worker(inbox.worker(handler).shutdown_grace(Duration::ZERO));
    started.recv().await.unwrap();
    stop.send(()).unwrap();
    let report = tokio::time::timeout(Duration::from_secs(30), worker)
        .await
        .expect("shutdown is prompt")
        .unwrap();
    assert!(
        stopped.load(Ordering::SeqCst),
        "the record was handed back while its handler still ran"
    );
    assert_eq!(report.handed_back, 1);
    assert_eq!(status(&inbox, "test:busy").await, (Status::Pending, 0));
}

/// Shutdown while a handler runs, with this lease and grace: the running handler finishes within
/// the grace and its record is done; the record not started stays pending.
async fn shutdown_mid_handler(name: &str, lease: Duration, grace: Duration) {
    let dir = TempDir::new(name);
    let inbox = Inbox::builder(SqliteInbox::open(dir.db()).await.unwrap())
        .lease(lease)
        .build()
        .unwrap();
    let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel::<()>();
    let handler = move |_job: Job| {
        let started_tx = started_tx.clone();
        async move {
            let _ = started_tx.send(());
            tokio::time::sleep(Duration::from_millis(300)).await;
            Ok(())
        }
    };
    inbox.accept(&record("finishing", "{}")).await.unwrap();
    inbox.accept(&record("not-started", "{}")).await.unwrap();
    let (stop, worker) = spawn_worker(inbox.worker(handler).shutdown_grace(grace));
    started.recv().await.unwrap();
    stop.send(()).unwrap();
    let report = worker.await.unwrap();
    assert_eq!((report.done, report.handed_back, report.lost), (1, 0, 0));
    assert_eq!(status(&inbox, "test:finishing").await, (Status::Done, 1));
    let counts = inbox.counts().await.unwrap();
    assert_eq!((counts.done, counts.pending, counts.running), (1, 1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_running_handlers_finish_within_the_grace() {
    shutdown_mid_handler("grace", Duration::from_secs(30), Duration::from_secs(30)).await;
}

/// "However long it takes": a lease and a shutdown grace of `Duration::MAX` are valid settings.
/// Nothing overflows when they are added to the clock: the handler runs to its end during the
/// grace, and its record is done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unbounded_lease_and_grace_let_the_handler_finish() {
    shutdown_mid_handler("unbounded", Duration::MAX, Duration::MAX).await;
}

/// SQLite whose heartbeats can be made to fail, as when the engine is unreachable, or to hang
/// (10 s), as when it does not answer; and whose next `lease` call can be made slow, answering
/// only that long after it leased.
struct FailingHeartbeats {
    inner: SqliteInbox,
    failing: AtomicBool,
    hanging: AtomicBool,
    next_lease_late_ms: AtomicU32,
}

impl FailingHeartbeats {
    async fn open(path: PathBuf, failing: bool) -> Self {
        Self {
            inner: SqliteInbox::open(path).await.unwrap(),
            failing: AtomicBool::new(failing),
            hanging: AtomicBool::new(false),
            next_lease_late_ms: AtomicU32::new(0),
        }
    }
}

impl InboxEngine for FailingHeartbeats {
    async fn accept(&self, record: &NewRecord, max: Option<u64>) -> Result<Accepted, InboxError> {
        self.inner.accept(record, max).await
    }
    async fn lease(&self, lease: Duration) -> Result<Option<Leased>, InboxError> {
        let leased = self.inner.lease(lease).await;
        let late = self.next_lease_late_ms.swap(0, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(late.into())).await;
        leased
    }
    async fn heartbeat(
        &self,
        key: &str,
        token: LeaseToken,
        lease: Duration,
    ) -> Result<bool, InboxError> {
        if self.hanging.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_secs(10)).await;
        }
        if self.failing.load(Ordering::SeqCst) {
            return Err(InboxError::unavailable("the engine is unreachable (test)"));
        }
        self.inner.heartbeat(key, token, lease).await
    }
    async fn done(&self, key: &str, token: LeaseToken) -> Result<bool, InboxError> {
        self.inner.done(key, token).await
    }
    async fn retry(
        &self,
        key: &str,
        token: LeaseToken,
        delay: Duration,
        error: &str,
    ) -> Result<bool, InboxError> {
        self.inner.retry(key, token, delay, error).await
    }
    async fn dead(&self, key: &str, token: LeaseToken, error: &str) -> Result<bool, InboxError> {
        self.inner.dead(key, token, error).await
    }
    async fn release(&self, key: &str, token: LeaseToken) -> Result<bool, InboxError> {
        self.inner.release(key, token).await
    }
    async fn get(&self, key: &str) -> Result<Option<Record>, InboxError> {
        self.inner.get(key).await
    }
    async fn list(&self, query: &ListQuery) -> Result<Vec<RecordMeta>, InboxError> {
        self.inner.list(query).await
    }
    async fn counts(&self) -> Result<Counts, InboxError> {
        self.inner.counts().await
    }
    async fn replay(&self, key: &str) -> Result<bool, InboxError> {
        self.inner.replay(key).await
    }
    async fn replay_dead_since(&self, since: time::OffsetDateTime) -> Result<u64, InboxError> {
        self.inner.replay_dead_since(since).await
    }
    async fn purge(&self) -> Result<u64, InboxError> {
        self.inner.purge().await
    }
}

/// Runs one record under a handler that would take 3 s: the attempt, when it started, and
/// whether the handler got to its end.
async fn a_3_s_handler<E: InboxEngine>(
    inbox: &Inbox<E>,
) -> (
    webhook_receiver::inbox::Attempt,
    std::time::Instant,
    Arc<AtomicBool>,
) {
    let finished = Arc::new(AtomicBool::new(false));
    let slow = {
        let finished = Arc::clone(&finished);
        move |_job: Job| {
            let finished = Arc::clone(&finished);
            async move {
                tokio::time::sleep(Duration::from_secs(3)).await;
                finished.store(true, Ordering::SeqCst);
                Ok(())
            }
        }
    };
    let started = std::time::Instant::now();
    let attempt = inbox.process_next(slow).await.unwrap().expect("leased");
    (attempt, started, finished)
}

/// A worker whose heartbeats fail cancels its handler before the lease lapses — after which
/// another worker may take the record — so the record never runs twice at once; once the
/// lease has expired the record runs again, to its end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_heartbeats_cancel_the_handler_before_the_lease_lapses() {
    let dir = TempDir::new("lapsing");
    let lease = Duration::from_millis(600);
    let inbox = Inbox::builder(FailingHeartbeats::open(dir.db(), true).await)
        .lease(lease)
        .build()
        .unwrap();
    inbox.accept(&record("lapsing", "{}")).await.unwrap();
    let (attempt, started, finished) = a_3_s_handler(&inbox).await;
    assert_eq!(attempt.outcome, AttemptOutcome::Lost);
    // Due about a third of a lease before it lapses (not asserted: a loaded machine is late).
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "not run to its end"
    );
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert!(
        !finished.load(Ordering::SeqCst),
        "the handler was cancelled"
    );

    // The lease has expired: with the engine back, the record runs again and is done.
    inbox.engine().failing.store(false, Ordering::SeqCst);
    let attempt = inbox
        .process_next(|_job: Job| async { Ok(()) })
        .await
        .unwrap()
        .expect("leased again after the lease expired");
    assert_eq!(attempt.outcome, AttemptOutcome::Done);
    assert_eq!(status(&inbox, "test:lapsing").await, (Status::Done, 2));
}

/// A heartbeat that gets no answer (the engine hangs rather than fails) counts as failed
/// once the lease is about to lapse: the handler is cancelled then, not when the call returns
/// (10 s later, long after another worker could have taken the record over).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_heartbeats_cancel_the_handler_before_the_lease_lapses() {
    let dir = TempDir::new("hanging");
    let engine = FailingHeartbeats::open(dir.db(), false).await;
    engine.hanging.store(true, Ordering::SeqCst);
    let inbox = Inbox::builder(engine)
        .lease(Duration::from_millis(600))
        .build()
        .unwrap();
    inbox.accept(&record("hanging", "{}")).await.unwrap();
    let (attempt, started, finished) = a_3_s_handler(&inbox).await;
    assert_eq!(
        attempt.outcome,
        AttemptOutcome::Lost,
        "the handler was cancelled, not left to finish under a lapsed lease"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "cancelled before the handler's end, not when the heartbeat answered"
    );
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert!(
        !finished.load(Ordering::SeqCst),
        "the handler was cancelled"
    );
    assert_eq!(status(&inbox, "test:hanging").await, (Status::Running, 1));
}

/// The lease runs from when the `lease` call started, not from when it answered: a slow
/// answer leaves less of it, and a worker whose heartbeats fail cancels its handler before
/// the lease it really holds lapses — so the worker that takes the record over after the
/// lease never runs it next to the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_lease_answer_counts_against_the_lease() {
    let dir = TempDir::new("slow-lease");
    let lease = Duration::from_millis(1200);
    let engine = FailingHeartbeats::open(dir.db(), true).await;
    engine.next_lease_late_ms.store(900, Ordering::SeqCst);
    let inbox = Inbox::builder(engine).lease(lease).build().unwrap();
    inbox.accept(&record("slow-lease", "{}")).await.unwrap();
    let running = Arc::new(AtomicBool::new(false));

    /// Clears `running` when the handler ends, also when it is cancelled.
    struct Running(Arc<AtomicBool>);
    impl Drop for Running {
        fn drop(&mut self) {
            self.0.store(false, Ordering::SeqCst);
        }
    }
    let first = {
        let (inbox, running) = (inbox.clone(), Arc::clone(&running));
        tokio::spawn(async move {
            inbox
                .process_next(move |_job: Job| {
                    let running = Arc::clone(&running);
                    async move {
                        running.store(true, Ordering::SeqCst);
                        let _running = Running(running);
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        Ok(())
                    }
                })
                .await
        })
    };
    // The lease taken at about 0 ms ends at about 1 200 ms: a second worker takes the record
    // over just after.
    tokio::time::sleep(lease + Duration::from_millis(100)).await;
    inbox.engine().failing.store(false, Ordering::SeqCst);
    let overlapped = Arc::new(AtomicBool::new(false));
    let second = {
        let (running, overlapped) = (Arc::clone(&running), Arc::clone(&overlapped));
        inbox
            .process_next(move |_job: Job| {
                let (running, overlapped) = (Arc::clone(&running), Arc::clone(&overlapped));
                async move {
                    overlapped.store(running.load(Ordering::SeqCst), Ordering::SeqCst);
                    Ok(())
                }
            })
            .await
            .unwrap()
            .expect("the lease has expired: the record is due again")
    };
    assert_eq!(second.outcome, AttemptOutcome::Done);
    assert!(
        !overlapped.load(Ordering::SeqCst),
        "the first handler still ran when the record was taken over"
    );
    let first = first.await.unwrap().unwrap().expect("leased");
    assert_eq!(first.outcome, AttemptOutcome::Lost);
    assert_eq!(status(&inbox, "test:slow-lease").await, (Status::Done, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_keep_a_long_handler_s_lease_from_a_second_worker() {
    let dir = TempDir::new("heartbeat");
    let inbox = Inbox::builder(SqliteInbox::open(dir.db()).await.unwrap())
        .lease(Duration::from_secs(1))
        .build()
        .unwrap();
    let runs = Arc::new(AtomicU32::new(0));
    let handler = {
        let runs = Arc::clone(&runs);
        move |_job: Job| {
            runs.fetch_add(1, Ordering::SeqCst);
            async {
                // Three leases long: only heartbeats keep the record.
                tokio::time::sleep(Duration::from_secs(3)).await;
                Ok(())
            }
        }
    };
    inbox.accept(&record("long", "{}")).await.unwrap();
    let poll = Duration::from_millis(20);
    let (stop_a, a) = spawn_worker(inbox.worker(handler.clone()).poll_interval(poll));
    let (stop_b, b) = spawn_worker(inbox.worker(handler).poll_interval(poll));
    wait_until("the long handler is done", || async {
        status(&inbox, "test:long").await.0 == Status::Done
    })
    .await;
    stop_a.send(()).unwrap();
    stop_b.send(()).unwrap();
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(status(&inbox, "test:long").await, (Status::Done, 1));
    assert_eq!(a.done + b.done, 1);
    assert_eq!(a.lost + b.lost, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_are_dispatched_by_event_type() {
    let dir = TempDir::new("dispatch");
    let inbox = Inbox::new(SqliteInbox::open(dir.db()).await.unwrap());
    let seen = Arc::new(Mutex::new(HashMap::new()));
    let route = |name: &'static str| {
        let seen = Arc::clone(&seen);
        move |job: Job| {
            seen.lock().unwrap().insert(
                job.key().to_owned(),
                (name, job.event_type().map(str::to_owned)),
            );
            async { Ok::<(), HandlerError>(()) }
        }
    };
    let mut github = record("push", "{}");
    github
        .headers
        .insert("x-github-event", "push".parse().unwrap());
    for r in [
        record("paid", r#"{"type":"invoice.paid","id":"evt_1"}"#),
        record("created", r#"{"id":"evt_2","type":"customer.created"}"#),
        record("untyped", "[1, 2, 3]"),
        github,
    ] {
        inbox.accept(&r).await.unwrap();
    }
    let (stop, worker) = spawn_worker(
        inbox
            .worker(route("default"))
            .on("invoice.paid", route("paid"))
            .on("push", route("push")),
    );
    wait_until("every record is done", || async {
        inbox.counts().await.unwrap().done == 4
    })
    .await;
    stop.send(()).unwrap();
    worker.await.unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen["test:paid"], ("paid", Some("invoice.paid".into())));
    assert_eq!(
        seen["test:created"],
        ("default", Some("customer.created".into()))
    );
    assert_eq!(seen["test:untyped"], ("default", None));
    assert_eq!(seen["test:push"], ("push", Some("push".into())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_event_type_reader_routes_records() {
    let dir = TempDir::new("dispatch-custom");
    let inbox = Inbox::new(SqliteInbox::open(dir.db()).await.unwrap());
    let hit = Arc::new(AtomicBool::new(false));
    inbox
        .accept(&record("custom", r#"{"event":"order.shipped"}"#))
        .await
        .unwrap();
    let handler = {
        let hit = Arc::clone(&hit);
        move |_job: Job| {
            hit.store(true, Ordering::SeqCst);
            async { Ok::<(), HandlerError>(()) }
        }
    };
    let (stop, worker) = spawn_worker(
        inbox
            .worker(|_job: Job| async { Err::<(), _>(HandlerError::permanent("wrong route")) })
            .event_type(|record| {
                let value: serde_json::Value = serde_json::from_slice(&record.body).ok()?;
                Some(value["event"].as_str()?.to_owned())
            })
            .on("order.shipped", handler),
    );
    wait_until("the record is done", || async {
        inbox.counts().await.unwrap().done == 1
    })
    .await;
    stop.send(()).unwrap();
    worker.await.unwrap();
    assert!(hit.load(Ordering::SeqCst));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_ordering_key_runs_one_record_at_a_time_in_received_order() {
    let dir = TempDir::new("ordering");
    let inbox = Inbox::builder(SqliteInbox::open(dir.db()).await.unwrap())
        .retry(
            RetryPolicy::new()
                .base(Duration::from_millis(20))
                .jitter(0.0),
        )
        .build()
        .unwrap();
    const KEYS: [&str; 3] = ["alice", "bob", "carol"];
    const PER_KEY: usize = 8;
    for n in 0..PER_KEY {
        for key in KEYS {
            let r =
                record(&format!("{key}-{n}"), &format!(r#"{{"n":{n}}}"#)).with_ordering_key(key);
            inbox.accept(&r).await.unwrap();
        }
    }
    let running: Arc<Mutex<HashSet<String>>> = Arc::default();
    let log: Arc<Mutex<HashMap<String, Vec<usize>>>> = Arc::default();
    let overlaps = Arc::new(AtomicUsize::new(0));
    let handler = {
        let (running, log, overlaps) = (running.clone(), log.clone(), overlaps.clone());
        move |job: Job| {
            let (running, log, overlaps) = (running.clone(), log.clone(), overlaps.clone());
            async move {
                let key = job.meta().ordering_key.clone().unwrap();
                if !running.lock().unwrap().insert(key.clone()) {
                    overlaps.fetch_add(1, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
                let n = job.json::<serde_json::Value>()?["n"].as_u64().unwrap() as usize;
                running.lock().unwrap().remove(&key);
                // Every third record fails once: a retry must still hold the later ones back.
                if n % 3 == 1 && job.attempt() == 1 {
                    return Err(HandlerError::retry("try again"));
                }
                log.lock().unwrap().entry(key).or_default().push(n);
                Ok(())
            }
        }
    };
    let (stop, worker) = spawn_worker(
        inbox
            .worker(handler)
            .concurrency(8)
            .poll_interval(Duration::from_millis(5)),
    );
    wait_until("every record is done", || async {
        inbox.counts().await.unwrap().done == (KEYS.len() * PER_KEY) as u64
    })
    .await;
    stop.send(()).unwrap();
    worker.await.unwrap();
    assert_eq!(
        overlaps.load(Ordering::SeqCst),
        0,
        "two records of one key ran at once"
    );
    let log = log.lock().unwrap();
    for key in KEYS {
        assert_eq!(log[key], (0..PER_KEY).collect::<Vec<_>>(), "order of {key}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_engines_on_one_file_run_each_record_once_and_never_twice_at_once() {
    let dir = TempDir::new("concurrency");
    const RECORDS: usize = 200;
    let first = Inbox::new(SqliteInbox::open(dir.db()).await.unwrap());
    // A second engine with its own connections, as a second process would have.
    let second = Inbox::new(SqliteInbox::open(dir.db()).await.unwrap());
    for n in 0..RECORDS {
        first.accept(&record(&format!("r{n}"), "{}")).await.unwrap();
    }
    let running: Arc<Mutex<HashSet<String>>> = Arc::default();
    let handled: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let overlaps = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let handler = {
        let (running, handled, overlaps, peak) = (
            running.clone(),
            handled.clone(),
            overlaps.clone(),
            peak.clone(),
        );
        move |job: Job| {
            let (running, handled, overlaps, peak) = (
                running.clone(),
                handled.clone(),
                overlaps.clone(),
                peak.clone(),
            );
            async move {
                let key = job.key().to_owned();
                {
                    let mut running = running.lock().unwrap();
                    if !running.insert(key.clone()) {
                        overlaps.fetch_add(1, Ordering::SeqCst);
                    }
                    peak.fetch_max(running.len(), Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
                running.lock().unwrap().remove(&key);
                *handled.lock().unwrap().entry(key).or_default() += 1;
                Ok::<(), HandlerError>(())
            }
        }
    };
    let poll = Duration::from_millis(5);
    let (stop_a, a) = spawn_worker(
        first
            .worker(handler.clone())
            .concurrency(4)
            .poll_interval(poll),
    );
    let (stop_b, b) = spawn_worker(second.worker(handler).concurrency(4).poll_interval(poll));
    wait_until("every record is done", || async {
        first.counts().await.unwrap().done == RECORDS as u64
    })
    .await;
    stop_a.send(()).unwrap();
    stop_b.send(()).unwrap();
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    assert_eq!(overlaps.load(Ordering::SeqCst), 0);
    let handled = handled.lock().unwrap();
    assert_eq!(handled.len(), RECORDS);
    assert!(handled.values().all(|&n| n == 1), "a record ran twice");
    assert_eq!(a.done + b.done, RECORDS as u64);
    assert!(a.done > 0 && b.done > 0, "both engines worked: {a:?} {b:?}");
    assert!(peak.load(Ordering::SeqCst) >= 2, "records ran concurrently");
}

const CHILD_DB: &str = "WEBHOOK_INBOX_TEST_CHILD_DB";
const CHILD_MARKER: &str = "WEBHOOK_INBOX_TEST_CHILD_MARKER";

/// Not a test on its own: the worker process that
/// `a_worker_process_killed_mid_handler_leaves_its_record_to_another_after_the_lease` starts
/// (this test binary, filtered to this function) and kills. Without its environment variables
/// it returns at once.
#[test]
fn child_worker_process() {
    let (Ok(db), Ok(marker)) = (std::env::var(CHILD_DB), std::env::var(CHILD_MARKER)) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let inbox = Inbox::builder(SqliteInbox::open(&db).await.unwrap())
            .lease(Duration::from_secs(1))
            .build()
            .unwrap();
        let handler = move |job: Job| {
            let marker = marker.clone();
            async move {
                std::fs::write(&marker, job.key()).unwrap();
                // Hang mid-handler until killed.
                std::future::pending::<()>().await;
                Ok(())
            }
        };
        inbox
            .worker(handler)
            .poll_interval(Duration::from_millis(10))
            .run(std::future::pending())
            .await
            .unwrap();
    });
}

fn wait_for_file(path: &Path) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !path.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the child worker never started its handler"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_process_killed_mid_handler_leaves_its_record_to_another_after_the_lease() {
    let dir = TempDir::new("kill");
    let inbox = Inbox::builder(SqliteInbox::open(dir.db()).await.unwrap())
        .lease(Duration::from_secs(1))
        .build()
        .unwrap();
    inbox
        .accept(&record("orphan", r#"{"type":"invoice.paid"}"#))
        .await
        .unwrap();
    let marker = dir.0.join("child-started");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_worker_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DB, dir.db())
        .env(CHILD_MARKER, &marker)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start the child worker");
    let marker_path = marker.clone();
    tokio::task::spawn_blocking(move || wait_for_file(&marker_path))
        .await
        .unwrap();
    assert_eq!(status(&inbox, "test:orphan").await, (Status::Running, 1));
    child.kill().expect("SIGKILL the child"); // SIGKILL on Unix: no cleanup runs.
    let exit = child.wait().unwrap();
    assert!(!exit.success());

    let runs = Arc::new(AtomicU32::new(0));
    let handler = {
        let runs = Arc::clone(&runs);
        move |_job: Job| {
            runs.fetch_add(1, Ordering::SeqCst);
            async { Ok::<(), HandlerError>(()) }
        }
    };
    let (stop, worker) = spawn_worker(
        inbox
            .worker(handler)
            .poll_interval(Duration::from_millis(20)),
    );
    wait_until("another worker processed the orphan", || async {
        status(&inbox, "test:orphan").await.0 == Status::Done
    })
    .await;
    stop.send(()).unwrap();
    let report = worker.await.unwrap();
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "processed exactly once here"
    );
    assert_eq!(report.done, 1);
    // The killed attempt counted: attempt 2 succeeded.
    assert_eq!(status(&inbox, "test:orphan").await, (Status::Done, 2));
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "test:orphan");
}

#[tokio::test]
async fn invalid_worker_settings_are_config_errors() {
    let dir = TempDir::new("worker-config");
    let inbox = Inbox::new(SqliteInbox::open(dir.db()).await.unwrap());
    let ok = |_job: Job| async { Ok::<(), HandlerError>(()) };
    for worker in [
        inbox.worker(ok).concurrency(0),
        inbox.worker(ok).poll_interval(Duration::ZERO),
        inbox.worker(ok).metrics_interval(Duration::ZERO),
    ] {
        let error = worker.run(async {}).await.unwrap_err();
        assert!(error.to_string().contains("must be"), "{error}");
    }
    for bad in [
        Inbox::builder(SqliteInbox::open(dir.db()).await.unwrap()).lease(Duration::from_millis(5)),
        Inbox::builder(SqliteInbox::open(dir.db()).await.unwrap()).max_pending(0),
        Inbox::builder(SqliteInbox::open(dir.db()).await.unwrap())
            .retry(RetryPolicy::new().max_attempts(0)),
        Inbox::builder(SqliteInbox::open(dir.db()).await.unwrap()).name(""),
        Inbox::builder(SqliteInbox::open(dir.db()).await.unwrap()).name("a\nb"),
        Inbox::builder(SqliteInbox::open(dir.db()).await.unwrap()).name("x".repeat(65)),
    ] {
        assert!(bad.build().is_err());
    }
    let named = Inbox::builder(SqliteInbox::open(dir.db()).await.unwrap())
        .name("billing")
        .build()
        .unwrap();
    assert_eq!((named.name(), inbox.name()), ("billing", "default"));
}

/// A handler that marks its record done itself (a transactional handler committing `done`
/// with its writes) can finish just after a heartbeat that waited on the record saw it no
/// longer running. Having said so (`mark_settling`), it is waited for rather than cancelled,
/// so the attempt is reported done — it used to be cancelled between its commit and
/// `mark_settled`, and reported lost.
#[tokio::test]
async fn a_handler_that_settled_the_record_itself_is_done_not_lost() {
    let dir = TempDir::new("settled");
    let inbox = Inbox::builder(SqliteInbox::open(dir.db()).await.unwrap())
        .lease(Duration::from_millis(300))
        .build()
        .unwrap();
    inbox.accept(&record("settled", "{}")).await.unwrap();
    let engine = Arc::new(SqliteInbox::open(dir.db()).await.unwrap());
    let attempt = inbox
        .process_next(move |job: Job| {
            let engine = Arc::clone(&engine);
            async move {
                // The handler's transaction commits `done`...
                job.mark_settling();
                assert!(engine.done(job.key(), job.token()).await.unwrap());
                // ... and its task is next polled only after the worker's heartbeat (every
                // 100 ms) found the record done.
                tokio::time::sleep(Duration::from_millis(300)).await;
                job.mark_settled();
                Ok(())
            }
        })
        .await
        .unwrap()
        .expect("leased");
    assert_eq!(attempt.outcome, AttemptOutcome::Done);
    assert_eq!(status(&inbox, "test:settled").await, (Status::Done, 1));
}
