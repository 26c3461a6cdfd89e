//! `RedisInbox` under realistic load: real workers on two engine instances, concurrent accepts
//! with duplicates, retries, dead letters and replays, ordering keys, the bound, lease
//! take-over, purge and replay races. After each run: every stored key succeeded exactly once
//! and never ran twice at once, records of one ordering key in accepted order, and nothing left
//! behind (the bound's counter, the ready stream, the group's pending entries, packed records).
//!
//! Runs against `REDIS_URL`, or, when it is unset, a private `redis-server` that this test
//! binary starts (see `servers/mod.rs`).
#![cfg(all(feature = "redis", feature = "inbox"))]

mod redis_inbox;
mod servers;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis_inbox::{counted, pending_entries, raw, record, unique_prefix, within, xlen};
use webhook_receiver::ManualClock;
use webhook_receiver::dedup::LeaseToken;
use webhook_receiver::inbox::{
    Accepted, HandlerError, Inbox, InboxEngine, InboxError, Job, ListQuery, RedisInbox,
    RetryPolicy, Status,
};

/// An engine on a shared prefix, reading the stream as `consumer`.
async fn engine(prefix: &str, consumer: &str) -> RedisInbox {
    redis_inbox::engine(prefix)
        .await
        .with_consumer(consumer)
        .unwrap()
}

/// Two engine instances (two connections, consumers `host-a` and `host-b`) on one fresh
/// prefix.
async fn two_instances(test: &str) -> (RedisInbox, RedisInbox) {
    let prefix = unique_prefix(test);
    (
        engine(&prefix, "host-a").await,
        engine(&prefix, "host-b").await,
    )
}

/// An inbox on each engine, with `lease`, [`quick_retry`] and, if set, the bound.
fn inboxes(engines: &[&RedisInbox], lease: Duration, bound: Option<u64>) -> Vec<Inbox<RedisInbox>> {
    engines
        .iter()
        .map(|e| {
            let builder = Inbox::builder((*e).clone())
                .lease(lease)
                .retry(quick_retry());
            match bound {
                Some(bound) => builder.max_pending(bound),
                None => builder,
            }
            .build()
            .unwrap()
        })
        .collect()
}

struct Rng(u64);
impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn seed() -> u64 {
    let s = LeaseToken::random().get() as u64;
    eprintln!("seed {s:#x}");
    s
}

async fn xrange_keys(engine: &RedisInbox) -> Vec<String> {
    let mut c = raw(engine).await;
    let reply: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg(engine.ready_stream())
        .arg("-")
        .arg("+")
        .query_async(&mut c)
        .await
        .unwrap();
    reply
        .into_iter()
        .map(|(id, fields)| format!("{id} {fields:?}"))
        .collect()
}

/// `n:` keys whose value is not the marker `m`.
async fn packed_n_keys(engine: &RedisInbox) -> Vec<String> {
    let mut c = raw(engine).await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}n:*", engine.prefix()))
        .query_async(&mut c)
        .await
        .unwrap();
    let mut out = Vec::new();
    for k in keys {
        let v: Option<Vec<u8>> = redis::cmd("GET").arg(&k).query_async(&mut c).await.unwrap();
        if v.as_deref() != Some(b"m") {
            out.push(format!(
                "{k} = {:?}",
                v.map(|v| String::from_utf8_lossy(&v[..v.len().min(20)]).into_owned())
            ));
        }
    }
    out
}

/// Tracks what handlers do.
#[derive(Clone, Default)]
struct Track {
    running: HashSet<String>,
    running_ok: HashMap<String, String>,
    runs: HashMap<String, u32>,
    successes: HashMap<String, u32>,
    /// ordering key -> indices of started attempts, in start order
    starts: HashMap<String, Vec<usize>>,
    /// ordering key -> indices of successes, in order
    success_order: HashMap<String, Vec<usize>>,
    permanent_failed: HashSet<String>,
    violations: Vec<String>,
}

fn index_of(key: &str) -> usize {
    key.rsplit('-').next().unwrap().parse().unwrap()
}

type Behaviour = Arc<dyn Fn(&str, u32, bool) -> Option<HandlerError> + Send + Sync>;

/// A handler that records runs and checks that a key (and an ordering key) never runs twice
/// at once, and that a key succeeds at most once.
fn tracking_handler(
    track: Arc<Mutex<Track>>,
    behaviour: Behaviour,
    max_sleep_ms: u64,
) -> impl Fn(
    Job,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), HandlerError>> + Send>>
+ Send
+ Sync
+ 'static {
    move |job: Job| {
        let track = Arc::clone(&track);
        let behaviour = Arc::clone(&behaviour);
        Box::pin(async move {
            let key = job.key().to_owned();
            let ok = job.meta().ordering_key.clone();
            let attempt = job.meta().attempts;
            let first_perm;
            {
                let mut t = track.lock().unwrap();
                if !t.running.insert(key.clone()) {
                    t.violations
                        .push(format!("{key} runs concurrently with itself"));
                }
                if let Some(ok) = &ok {
                    if let Some(other) = t.running_ok.insert(ok.clone(), key.clone()) {
                        t.violations.push(format!(
                            "{key} started while {other} of ordering key {ok} runs"
                        ));
                    }
                    t.starts.entry(ok.clone()).or_default().push(index_of(&key));
                }
                *t.runs.entry(key.clone()).or_default() += 1;
                first_perm = !t.permanent_failed.contains(&key);
            }
            struct Guard(Arc<Mutex<Track>>, String, Option<String>);
            impl Drop for Guard {
                fn drop(&mut self) {
                    let mut t = self.0.lock().unwrap_or_else(|e| e.into_inner());
                    t.running.remove(&self.1);
                    if let Some(ok) = &self.2
                        && t.running_ok.get(ok) == Some(&self.1)
                    {
                        t.running_ok.remove(ok);
                    }
                }
            }
            let guard = Guard(Arc::clone(&track), key.clone(), ok.clone());
            let sleep = (LeaseToken::random().get() as u64) % (max_sleep_ms + 1);
            tokio::time::sleep(Duration::from_millis(sleep)).await;
            let outcome = behaviour(&key, attempt, first_perm);
            drop(guard);
            let mut t = track.lock().unwrap();
            match outcome {
                None => {
                    let n = {
                        let n = t.successes.entry(key.clone()).or_default();
                        *n += 1;
                        *n
                    };
                    if n > 1 {
                        t.violations.push(format!("{key} succeeded {n} times"));
                    }
                    if let Some(ok) = &ok {
                        t.success_order
                            .entry(ok.clone())
                            .or_default()
                            .push(index_of(&key));
                    }
                    Ok(())
                }
                Some(e) => {
                    if e.is_permanent() {
                        t.permanent_failed.insert(key.clone());
                    }
                    Err(e)
                }
            }
        })
    }
}

fn quick_retry() -> RetryPolicy {
    RetryPolicy::new()
        .base(Duration::from_millis(10))
        .cap(Duration::from_millis(40))
        .max_attempts(4)
        .jitter(0.0)
}

struct Workers {
    stops: Vec<tokio::sync::oneshot::Sender<()>>,
    handles: Vec<
        tokio::task::JoinHandle<
            Result<webhook_receiver::inbox::WorkerReport, webhook_receiver::ConfigError>,
        >,
    >,
}

impl Workers {
    async fn stop(self) -> Vec<webhook_receiver::inbox::WorkerReport> {
        for s in self.stops {
            let _ = s.send(());
        }
        let mut out = Vec::new();
        for h in self.handles {
            out.push(within(30, "worker stop", h).await.unwrap().unwrap());
        }
        out
    }
}

fn start_workers(
    inboxes: &[Inbox<RedisInbox>],
    track: &Arc<Mutex<Track>>,
    behaviour: &Behaviour,
    concurrency: usize,
    max_sleep_ms: u64,
) -> Workers {
    let mut stops = Vec::new();
    let mut handles = Vec::new();
    for inbox in inboxes {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        stops.push(tx);
        let worker = inbox
            .worker(tracking_handler(
                Arc::clone(track),
                Arc::clone(behaviour),
                max_sleep_ms,
            ))
            .concurrency(concurrency)
            .poll_interval(Duration::from_millis(20));
        handles.push(tokio::spawn(worker.run(async {
            rx.await.ok();
        })));
    }
    Workers { stops, handles }
}

async fn wait_drained(
    inbox: &Inbox<RedisInbox>,
    secs: u64,
    want_dead: Option<u64>,
) -> webhook_receiver::inbox::Counts {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let c = inbox.counts().await.unwrap();
        if c.pending == 0 && c.running == 0 && want_dead.is_none_or(|d| c.dead == d) {
            return c;
        }
        if Instant::now() >= deadline {
            let dump = dump_state(inbox.engine()).await;
            panic!("not drained within {secs} s: {c:?}\n{dump}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A sorted set with its scores, as text.
async fn zrange(c: &mut redis::aio::ConnectionManager, key: String) -> Vec<String> {
    redis::cmd("ZRANGE")
        .arg(key)
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query_async(c)
        .await
        .unwrap()
}

/// The pending and running records with their queue state, the ready stream, the delayed set.
async fn dump_state(engine: &RedisInbox) -> String {
    let mut c = raw(engine).await;
    let p = engine.prefix();
    let mut out = String::new();
    for set in ["s:pending", "s:running"] {
        let keys: Vec<String> = redis::cmd("ZRANGE")
            .arg(format!("{p}{set}"))
            .arg(0)
            .arg(-1)
            .query_async(&mut c)
            .await
            .unwrap();
        for k in keys {
            let f: Vec<Option<String>> = redis::cmd("HMGET")
                .arg(format!("{p}r:{k}"))
                .arg(&[
                    "status",
                    "q",
                    "entry",
                    "ordering_key",
                    "seq",
                    "attempts",
                    "deadline",
                    "token",
                ])
                .query_async(&mut c)
                .await
                .unwrap();
            out.push_str(&format!("{set} {k}: {f:?}\n"));
            if let Some(Some(ok)) = f.get(3) {
                let o: Vec<String> = zrange(&mut c, format!("{p}o:{ok}")).await;
                let h: Vec<String> = zrange(&mut c, format!("{p}h:{ok}")).await;
                out.push_str(&format!("   o:{ok} = {o:?} h:{ok} = {h:?}\n"));
            }
        }
    }
    let delayed: Vec<String> = zrange(&mut c, format!("{p}delayed")).await;
    let leases: Vec<String> = zrange(&mut c, format!("{p}leases")).await;
    out.push_str(&format!(
        "delayed {delayed:?}\nleases {leases:?}\nready {:?}\nxpending {}\n",
        xrange_keys(engine).await,
        pending_entries(engine).await
    ));
    out
}

async fn final_checks(engine: &RedisInbox, what: &str) {
    let c = engine.counts().await.unwrap();
    let counted = counted(engine).await;
    assert_eq!(
        counted.len() as u64,
        c.pending + c.running,
        "{what}: the bound counts {counted:?}"
    );
    let len = xlen(engine).await;
    assert_eq!(
        len,
        0,
        "{what}: ready stream not empty: {:?}",
        xrange_keys(engine).await
    );
    assert_eq!(
        pending_entries(engine).await,
        0,
        "{what}: consumer group pending entries"
    );
    let packed = packed_n_keys(engine).await;
    assert!(
        packed.is_empty(),
        "{what}: n: keys with packed content: {packed:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 1. Two instances, concurrent accepts with duplicates, retries, dead, replay.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stress_two_instances_duplicates_retries_dead_replay() {
    const KEYS: usize = 400;
    let (a, b) = two_instances("stress").await;
    let inboxes = inboxes(&[&a, &b], Duration::from_secs(3), None);
    let track = Arc::new(Mutex::new(Track::default()));
    let behaviour: Behaviour = Arc::new(|key: &str, attempt: u32, first_perm: bool| {
        let i = index_of(key);
        if i % 11 == 3 && first_perm {
            return Some(HandlerError::permanent("boom"));
        }
        if i % 5 == 1 && attempt <= 2 {
            return Some(HandlerError::retry("again"));
        }
        None
    });
    let workers = start_workers(&inboxes, &track, &behaviour, 4, 8);

    let stored: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let accepted_once: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut rng = Rng::new(seed());
    // Four streams of accepts, interleaved keys.
    let mut tasks = Vec::new();
    for s in 0..4usize {
        let inboxes = inboxes.clone();
        let stored = Arc::clone(&stored);
        let accepted_once = Arc::clone(&accepted_once);
        let mut rng = Rng::new(rng.next());
        tasks.push(tokio::spawn(async move {
            for i in (s..KEYS).step_by(4) {
                let key = format!("k-{i}");
                let inbox = &inboxes[rng.below(2) as usize];
                let answer = inbox.accept(&record(&key)).await.unwrap();
                if answer == Accepted::Stored {
                    *stored.lock().unwrap().entry(key.clone()).or_default() += 1;
                }
                accepted_once.lock().unwrap().push(key);
                // Duplicates of earlier keys (30 %).
                if rng.chance(30) {
                    let earlier = {
                        let list = accepted_once.lock().unwrap();
                        let n = list.len() as u64;
                        // Mostly recent ones (pending/running), sometimes old ones (done).
                        let back = if rng.chance(60) {
                            rng.below(8.min(n))
                        } else {
                            rng.below(n)
                        };
                        list[(n - 1 - back) as usize].clone()
                    };
                    let inbox = &inboxes[rng.below(2) as usize];
                    let answer = inbox.accept(&record(&earlier)).await.unwrap();
                    if answer == Accepted::Stored {
                        *stored.lock().unwrap().entry(earlier).or_default() += 1;
                    }
                }
                if rng.chance(20) {
                    tokio::time::sleep(Duration::from_millis(rng.below(4))).await;
                }
            }
        }));
    }
    // A duplicate sprayer during the whole run, concurrent with the streams.
    let spray = {
        let inboxes = inboxes.clone();
        let stored = Arc::clone(&stored);
        let accepted_once = Arc::clone(&accepted_once);
        let mut rng = Rng::new(rng.next());
        tokio::spawn(async move {
            for _ in 0..300 {
                let pick = {
                    let list = accepted_once.lock().unwrap();
                    if list.is_empty() {
                        None
                    } else {
                        Some(list[rng.below(list.len() as u64) as usize].clone())
                    }
                };
                if let Some(key) = pick {
                    let r = record(&key);
                    let futs = (0..2).map(|j| inboxes[j].accept(&r));
                    for answer in futures_util::future::join_all(futs).await {
                        if answer.unwrap() == Accepted::Stored {
                            *stored.lock().unwrap().entry(key.clone()).or_default() += 1;
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(rng.below(3))).await;
            }
        })
    };
    for t in tasks {
        within(60, "accepts", t).await.unwrap();
    }
    within(60, "spray", spray).await.unwrap();

    let c = wait_drained(&inboxes[0], 40, None).await;
    let expected_dead = (0..KEYS).filter(|i| i % 11 == 3).count() as u64;
    assert_eq!(c.dead, expected_dead, "{c:?}");
    // Replay the dead, with duplicates of them racing.
    let since = time::OffsetDateTime::UNIX_EPOCH;
    let dup_dead = {
        let inboxes = inboxes.clone();
        tokio::spawn(async move {
            let mut out = Vec::new();
            for i in (0..KEYS).filter(|i| i % 11 == 3) {
                out.push((
                    i,
                    inboxes[i % 2]
                        .accept(&record(&format!("k-{i}")))
                        .await
                        .unwrap(),
                ));
            }
            out
        })
    };
    let replayed = inboxes[1].replay_dead_since(since).await.unwrap();
    for (i, answer) in dup_dead.await.unwrap() {
        assert_eq!(answer, Accepted::Duplicate, "dead/replayed k-{i}");
    }
    assert_eq!(replayed, expected_dead);
    let c = wait_drained(&inboxes[0], 40, Some(0)).await;
    let reports = workers.stop().await;
    eprintln!("reports {reports:?}");

    let t = track.lock().unwrap().clone();
    assert!(t.violations.is_empty(), "violations: {:?}", t.violations);
    let stored = stored.lock().unwrap().clone();
    assert_eq!(stored.len(), KEYS, "every key stored");
    let multi: Vec<_> = stored.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        multi.is_empty(),
        "keys stored more than once inside retention: {multi:?}"
    );
    let not_once: Vec<_> = (0..KEYS)
        .map(|i| format!("k-{i}"))
        .filter(|k| t.successes.get(k).copied().unwrap_or(0) != 1)
        .collect();
    assert!(
        not_once.is_empty(),
        "keys not succeeded exactly once: {not_once:?}"
    );
    assert_eq!(
        (c.pending, c.running, c.done, c.dead),
        (0, 0, KEYS as u64, 0)
    );
    final_checks(&a, "stress").await;
}

// ---------------------------------------------------------------------------------------------
// 2. Ordering keys: sequential accepts run in accepted order, never together.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordering_keys_run_in_accepted_order_with_dups_counts_and_retries() {
    const RECORDS: usize = 240;
    const ORDERING: usize = 4;
    let (a, b) = two_instances("order").await;
    let inboxes = inboxes(&[&a, &b], Duration::from_secs(3), None);
    let track = Arc::new(Mutex::new(Track::default()));
    let behaviour: Behaviour = Arc::new(|key: &str, attempt: u32, _| {
        let i = index_of(key);
        if i.is_multiple_of(4) && attempt == 1 {
            return Some(HandlerError::retry("again"));
        }
        if i % 9 == 2 && attempt <= 2 {
            return Some(HandlerError::retry("again").after(Duration::from_millis(30)));
        }
        None
    });
    let workers = start_workers(&inboxes, &track, &behaviour, 4, 5);
    let mut rng = Rng::new(seed());
    let mut accepted: HashMap<String, Vec<usize>> = HashMap::new();
    for i in 0..RECORDS {
        let ok = format!("ok{}", rng.below(ORDERING as u64));
        let key = format!("o-{i}");
        let inbox = &inboxes[rng.below(2) as usize];
        let answer = inbox
            .accept(&record(&key).with_ordering_key(ok.clone()))
            .await
            .unwrap();
        assert_eq!(answer, Accepted::Stored);
        accepted.entry(ok.clone()).or_default().push(i);
        if i > 0 && rng.chance(30) {
            let j = if rng.chance(50) {
                i - rng.below(3.min(i as u64)) as usize
            } else {
                rng.below(i as u64) as usize
            };
            // its ordering key: look it up
            let jok = accepted
                .iter()
                .find(|(_, v)| v.contains(&j))
                .map(|(k, _)| k.clone())
                .unwrap();
            let inbox = &inboxes[rng.below(2) as usize];
            let answer = inbox
                .accept(&record(&format!("o-{j}")).with_ordering_key(jok))
                .await
                .unwrap();
            assert_eq!(answer, Accepted::Duplicate, "o-{j}");
        }
        if rng.chance(10) {
            inboxes[rng.below(2) as usize].counts().await.unwrap();
        }
        if rng.chance(10) {
            inboxes[rng.below(2) as usize]
                .list(&ListQuery::new(Status::Pending).limit(1000))
                .await
                .unwrap();
        }
        if rng.chance(10) {
            tokio::time::sleep(Duration::from_millis(rng.below(5))).await;
        }
    }
    let c = wait_drained(&inboxes[0], 40, Some(0)).await;
    workers.stop().await;
    let t = track.lock().unwrap().clone();
    assert!(t.violations.is_empty(), "violations: {:?}", t.violations);
    for (ok, order) in &accepted {
        let starts = t.starts.get(ok).cloned().unwrap_or_default();
        let mut regress = Vec::new();
        for w in starts.windows(2) {
            if w[1] < w[0] {
                regress.push((w[0], w[1]));
            }
        }
        assert!(
            regress.is_empty(),
            "{ok}: attempt started after a later record: {regress:?}\nstarts {starts:?}"
        );
        assert_eq!(t.success_order.get(ok), Some(order), "{ok} success order");
    }
    assert_eq!(
        (c.pending, c.running, c.done, c.dead),
        (0, 0, RECORDS as u64, 0)
    );
    final_checks(&a, "order").await;
}

// ---------------------------------------------------------------------------------------------
// 3. Bounded accepts from many tasks over two instances.
// ---------------------------------------------------------------------------------------------

/// Twelve tasks accept 300 keys (each answered 200 once, then once more as a duplicate) into
/// an inbox bounded at 20 while workers run them: `counts` never sees more than the bound
/// plus the accepts in flight (a record stored over the bound is visible until its accept
/// takes it back), every key is stored once and runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounded_accepts_keep_the_bound() {
    const BOUND: u64 = 20;
    const KEYS: usize = 300;
    const TASKS: usize = 12;
    let (a, b) = two_instances("bound").await;
    let inboxes = inboxes(&[&a, &b], Duration::from_secs(3), Some(BOUND));
    let track = Arc::new(Mutex::new(Track::default()));
    let behaviour: Behaviour = Arc::new(|key: &str, attempt: u32, _| {
        if index_of(key).is_multiple_of(7) && attempt == 1 {
            return Some(HandlerError::retry("again"));
        }
        None
    });
    let workers = start_workers(&inboxes, &track, &behaviour, 3, 10);
    let stop_monitor = Arc::new(AtomicBool::new(false));
    let max_seen = Arc::new(AtomicU64::new(0));
    let monitor = {
        let inboxes = inboxes.clone();
        let stop = Arc::clone(&stop_monitor);
        let max_seen = Arc::clone(&max_seen);
        tokio::spawn(async move {
            let mut over = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let c = inboxes[i % 2].counts().await.unwrap();
                i += 1;
                let u = c.pending + c.running;
                max_seen.fetch_max(u, Ordering::Relaxed);
                if u > BOUND + TASKS as u64 {
                    over.push(format!("{c:?}"));
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            over
        })
    };
    let fulls = Arc::new(AtomicU64::new(0));
    let stored = Arc::new(Mutex::new(HashMap::<String, u32>::new()));
    let mut tasks = Vec::new();
    for s in 0..TASKS {
        let inboxes = inboxes.clone();
        let fulls = Arc::clone(&fulls);
        let stored = Arc::clone(&stored);
        tasks.push(tokio::spawn(async move {
            for i in (s..KEYS).step_by(TASKS) {
                let key = format!("b-{i}");
                let mut tries = 0;
                loop {
                    tries += 1;
                    assert!(tries < 3000, "{key} never accepted");
                    match inboxes[(i + tries) % 2].accept(&record(&key)).await {
                        Ok(Accepted::Stored) => {
                            *stored.lock().unwrap().entry(key.clone()).or_default() += 1;
                            // a duplicate right away
                            let d = inboxes[(i + tries + 1) % 2]
                                .accept(&record(&key))
                                .await
                                .unwrap();
                            assert_eq!(d, Accepted::Duplicate);
                            break;
                        }
                        Ok(Accepted::Duplicate) => break,
                        Err(InboxError::Full { .. }) => {
                            fulls.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(3)).await;
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
            }
        }));
    }
    for t in tasks {
        within(60, "bounded accepts", t).await.unwrap();
    }
    let c = wait_drained(&inboxes[0], 40, Some(0)).await;
    stop_monitor.store(true, Ordering::Relaxed);
    let over = monitor.await.unwrap();
    // Full errors stop once drained.
    for i in 0..(BOUND as usize) {
        let answer = inboxes[i % 2].accept(&record(&format!("late-{i}"))).await;
        assert!(
            matches!(answer, Ok(Accepted::Stored)),
            "late-{i}: {answer:?}"
        );
    }
    wait_drained(&inboxes[0], 20, Some(0)).await;
    workers.stop().await;
    eprintln!(
        "fulls {} max unfinished seen {}",
        fulls.load(Ordering::Relaxed),
        max_seen.load(Ordering::Relaxed)
    );
    assert!(over.is_empty(), "over the bound: {over:?}");
    let stored = stored.lock().unwrap().clone();
    assert_eq!(stored.len(), KEYS);
    assert!(stored.values().all(|n| *n == 1));
    let t = track.lock().unwrap().clone();
    assert!(t.violations.is_empty(), "{:?}", t.violations);
    assert_eq!(c.done, KEYS as u64);
    final_checks(&a, "bound").await;
}

// ---------------------------------------------------------------------------------------------
// 4. Lease expiry take-over with fresh records (ManualClock).
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_take_over_of_fresh_records_across_instances() {
    let clock = ManualClock::at_unix(1_767_225_600);
    let prefix = unique_prefix("takeover");
    let a = engine(&prefix, "host-a").await.with_clock(clock.clone());
    let b = engine(&prefix, "host-b").await.with_clock(clock.clone());
    let short = Duration::from_secs(5);
    // x, y (ordering key O), z (no key), a duplicate of x while fresh.
    assert_eq!(
        a.accept(&record("x").with_ordering_key("O"), None)
            .await
            .unwrap(),
        Accepted::Stored
    );
    assert_eq!(
        b.accept(&record("y").with_ordering_key("O"), None)
            .await
            .unwrap(),
        Accepted::Stored
    );
    assert_eq!(
        a.accept(&record("z"), None).await.unwrap(),
        Accepted::Stored
    );
    assert_eq!(
        b.accept(&record("x").with_ordering_key("O"), None)
            .await
            .unwrap(),
        Accepted::Duplicate
    );
    let first = a.lease(short).await.unwrap().unwrap();
    assert_eq!(first.record.meta.key, "x");
    // y is parked behind x; z is next.
    let second = a.lease(short).await.unwrap().unwrap();
    assert_eq!(second.record.meta.key, "z");
    assert!(b.lease(short).await.unwrap().is_none(), "y waits for x");
    clock.advance(Duration::from_secs(6));
    // Both leases expired: b takes them over (earliest lease end first).
    let mut taken = Vec::new();
    for _ in 0..2 {
        let l = b
            .lease(short)
            .await
            .unwrap()
            .expect("an expired lease is taken over");
        assert_eq!(l.record.meta.attempts, 2, "{}", l.record.meta.key);
        taken.push(l);
    }
    let keys: HashSet<_> = taken.iter().map(|l| l.record.meta.key.clone()).collect();
    assert_eq!(keys, HashSet::from(["x".to_owned(), "z".to_owned()]));
    assert!(
        b.lease(short).await.unwrap().is_none(),
        "y still waits for x"
    );
    assert!(!a.done("x", first.token).await.unwrap(), "old token");
    assert!(!a.done("z", second.token).await.unwrap(), "old token");
    for l in &taken {
        assert!(b.done(&l.record.meta.key, l.token).await.unwrap());
    }
    let y = a.lease(short).await.unwrap().expect("y after x");
    assert_eq!(y.record.meta.key, "y");
    assert_eq!(y.record.meta.attempts, 1);
    assert!(a.done("y", y.token).await.unwrap());
    assert!(a.lease(short).await.unwrap().is_none());
    let c = a.counts().await.unwrap();
    assert_eq!((c.pending, c.running, c.done, c.dead), (0, 0, 3, 0));
    final_checks(&a, "takeover").await;
}

/// Same, through real workers: a hung handler (lease 300 ms, handler never heartbeating is not
/// possible with real workers, so the worker task is aborted) — the record runs again on the
/// other instance, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn take_over_after_a_worker_dies_with_fresh_records_behind() {
    let (a, b) = two_instances("takeover-real").await;
    let lease = Duration::from_millis(300);
    let ia = Inbox::builder(a.clone())
        .lease(lease)
        .retry(quick_retry())
        .build()
        .unwrap();
    let ib = Inbox::builder(b.clone())
        .lease(lease)
        .retry(quick_retry())
        .build()
        .unwrap();
    for i in 0..20 {
        let ok = format!("O{}", i % 3);
        assert_eq!(
            ia.accept(&record(&format!("t-{i}")).with_ordering_key(ok))
                .await
                .unwrap(),
            Accepted::Stored
        );
    }
    // Worker A takes one and hangs; we abort it.
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<String>();
    let started_tx = Arc::new(Mutex::new(Some(started_tx)));
    let hung = tokio::spawn(
        ia.worker(move |job: Job| {
            let tx = started_tx.lock().unwrap().take();
            async move {
                if let Some(tx) = tx {
                    let _ = tx.send(job.key().to_owned());
                }
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok::<(), HandlerError>(())
            }
        })
        .concurrency(1)
        .run(std::future::pending()),
    );
    let hung_key = within(5, "first lease", started_rx).await.unwrap();
    hung.abort();
    let _ = hung.await;
    let track = Arc::new(Mutex::new(Track::default()));
    let behaviour: Behaviour = Arc::new(|_: &str, _, _| None);
    let workers = start_workers(&[ib.clone(), ia.clone()], &track, &behaviour, 2, 3);
    let c = wait_drained(&ib, 20, Some(0)).await;
    workers.stop().await;
    let t = track.lock().unwrap().clone();
    assert!(t.violations.is_empty(), "{:?}", t.violations);
    for i in 0..20 {
        let k = format!("t-{i}");
        assert_eq!(t.successes.get(&k), Some(&1), "{k} (hung: {hung_key})");
    }
    for (ok, order) in &t.success_order {
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(order, &sorted, "{ok}");
    }
    assert_eq!(c.done, 20);
    final_checks(&a, "takeover-real").await;
}

// ---------------------------------------------------------------------------------------------
// 5. purge racing with accepts of the same keys after retention; replay racing duplicates.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_races_accepts_after_retention() {
    const KEYS: usize = 60;
    let clock = ManualClock::at_unix(1_767_225_600);
    let prefix = unique_prefix("purge-race");
    let a = engine(&prefix, "host-a").await.with_clock(clock.clone());
    let b = engine(&prefix, "host-b").await.with_clock(clock.clone());
    let retain = Duration::from_secs(10);
    let rec = |i: usize| {
        record(&format!("p-{i}"))
            .with_retain(retain)
            .with_ordering_key(format!("P{}", i % 3))
    };
    let mut runs: HashMap<String, u32> = HashMap::new();
    async fn drain(e: &RedisInbox, runs: &mut HashMap<String, u32>) {
        for _ in 0..10_000 {
            let Some(l) = within(10, "lease", e.lease(Duration::from_secs(30)))
                .await
                .unwrap()
            else {
                return;
            };
            *runs.entry(l.record.meta.key.clone()).or_default() += 1;
            assert!(e.done(&l.record.meta.key, l.token).await.unwrap());
        }
    }
    for i in 0..KEYS {
        assert_eq!(a.accept(&rec(i), None).await.unwrap(), Accepted::Stored);
    }
    drain(&a, &mut runs).await;
    for round in 0..5 {
        clock.advance(Duration::from_secs(11));
        // Concurrently: purge on one, accepts (some bounded) of every key on both, twice each.
        let purge = {
            let b = b.clone();
            tokio::spawn(async move {
                let mut n = 0;
                for _ in 0..5 {
                    n += b.purge().await.unwrap();
                    tokio::task::yield_now().await;
                }
                n
            })
        };
        let accepts = (0..KEYS).flat_map(|i| {
            let (a, b) = (a.clone(), b.clone());
            let r = rec(i);
            [0, 1].into_iter().map(move |j| {
                let (e, r) = (if j == 0 { a.clone() } else { b.clone() }, r.clone());
                async move {
                    let bound = if (i + j) % 3 == 0 { Some(10_000) } else { None };
                    (i, e.accept(&r, bound).await.unwrap())
                }
            })
        });
        let answers = futures_util::future::join_all(accepts).await;
        let _purged = purge.await.unwrap();
        let mut stored = vec![0; KEYS];
        for (i, answer) in answers {
            if answer == Accepted::Stored {
                stored[i] += 1;
            }
        }
        let wrong: Vec<_> = stored
            .iter()
            .enumerate()
            .filter(|(_, n)| **n != 1)
            .collect();
        assert!(
            wrong.is_empty(),
            "round {round}: keys not stored exactly once: {wrong:?}"
        );
        let c = a.counts().await.unwrap();
        assert_eq!(c.pending, KEYS as u64, "round {round}: {c:?}");
        drain(&b, &mut runs).await;
        let c = a.counts().await.unwrap();
        assert_eq!(
            (c.pending, c.running, c.done),
            (0, 0, KEYS as u64),
            "round {round}"
        );
        let wrong: Vec<_> = runs.iter().filter(|(_, n)| **n != round + 2).collect();
        assert!(wrong.is_empty(), "round {round}: runs {wrong:?}");
    }
    final_checks(&a, "purge-race").await;
    clock.advance(Duration::from_secs(11));
    assert_eq!(a.purge().await.unwrap(), KEYS as u64);
    let mut c = raw(&a).await;
    let left: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}[nr]:*", a.prefix()))
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_races_duplicates() {
    const KEYS: usize = 80;
    let (a, b) = two_instances("replay-race").await;
    for i in 0..KEYS {
        let r = record(&format!("d-{i}")).with_ordering_key(format!("D{}", i % 4));
        assert_eq!(a.accept(&r, None).await.unwrap(), Accepted::Stored);
    }
    // All die.
    for _ in 0..KEYS {
        let l = a.lease(Duration::from_secs(30)).await.unwrap().unwrap();
        assert!(a.dead(&l.record.meta.key, l.token, "x").await.unwrap());
    }
    assert!(a.lease(Duration::from_secs(30)).await.unwrap().is_none());
    // Replays (per key and since) race duplicates on both instances, and workers on both.
    let ia = Inbox::builder(a.clone())
        .lease(Duration::from_secs(3))
        .retry(quick_retry())
        .build()
        .unwrap();
    let ib = Inbox::builder(b.clone())
        .lease(Duration::from_secs(3))
        .retry(quick_retry())
        .build()
        .unwrap();
    let track = Arc::new(Mutex::new(Track::default()));
    let behaviour: Behaviour = Arc::new(|_: &str, _, _| None);
    let workers = start_workers(&[ia.clone(), ib.clone()], &track, &behaviour, 3, 3);
    let dups = (0..KEYS).flat_map(|i| {
        let (a, b) = (a.clone(), b.clone());
        [0, 1, 2].into_iter().map(move |j| {
            let e = if j % 2 == 0 { a.clone() } else { b.clone() };
            let r = record(&format!("d-{i}")).with_ordering_key(format!("D{}", i % 4));
            async move {
                if j == 2 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                let bound = if j == 1 { Some(1) } else { None };
                (i, e.accept(&r, bound).await)
            }
        })
    });
    let replays = async {
        let mut n = 0;
        for i in (0..KEYS).step_by(2) {
            if ib.replay(&format!("d-{i}")).await.unwrap() {
                n += 1;
            }
        }
        n += ia
            .replay_dead_since(time::OffsetDateTime::UNIX_EPOCH)
            .await
            .unwrap();
        n
    };
    let (answers, replayed) = tokio::join!(futures_util::future::join_all(dups), replays);
    for (i, answer) in answers {
        assert!(
            matches!(answer, Ok(Accepted::Duplicate)),
            "d-{i}: {answer:?}"
        );
    }
    assert_eq!(replayed, KEYS as u64);
    let c = wait_drained(&ia, 20, Some(0)).await;
    workers.stop().await;
    let t = track.lock().unwrap().clone();
    assert!(t.violations.is_empty(), "{:?}", t.violations);
    for i in 0..KEYS {
        assert_eq!(t.successes.get(&format!("d-{i}")), Some(&1), "d-{i}");
    }
    assert_eq!(c.done, KEYS as u64);
    final_checks(&a, "replay-race").await;
}

// ---------------------------------------------------------------------------------------------
// 6. Ordering keys with workers that shut down (hand back) and restart, retries, dead + replay.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordering_keys_with_restarting_workers_and_replay() {
    const RECORDS: usize = 300;
    const ORDERING: u64 = 6;
    let (a, b) = two_instances("order-restart").await;
    let inboxes = inboxes(&[&a, &b], Duration::from_secs(2), None);
    let track = Arc::new(Mutex::new(Track::default()));
    let replay_phase = Arc::new(AtomicBool::new(false));
    let phase = Arc::clone(&replay_phase);
    let behaviour: Behaviour = Arc::new(move |key: &str, attempt: u32, _first_perm: bool| {
        let i = index_of(key);
        // Dead until replayed (a permanent error a grace-0 hand-back discards fails again).
        if i % 13 == 5 && !phase.load(Ordering::SeqCst) {
            return Some(HandlerError::permanent("dead"));
        }
        if i.is_multiple_of(3) && attempt == 1 {
            return Some(HandlerError::retry("again"));
        }
        None
    });
    let handler =
        |t: &Arc<Mutex<Track>>| tracking_handler(Arc::clone(t), Arc::clone(&behaviour), 6);
    // instance a: stable worker; instance b: restarted repeatedly with grace 0.
    let (stop_a, stopped_a) = tokio::sync::oneshot::channel::<()>();
    let wa = tokio::spawn(
        inboxes[0]
            .worker(handler(&track))
            .concurrency(3)
            .poll_interval(Duration::from_millis(20))
            .run(async {
                stopped_a.await.ok();
            }),
    );
    let restarting = {
        let inbox = inboxes[1].clone();
        let track = Arc::clone(&track);
        let behaviour = Arc::clone(&behaviour);
        let stop_all = Arc::new(AtomicBool::new(false));
        let stop2 = Arc::clone(&stop_all);
        let h = tokio::spawn(async move {
            let mut handed_back = 0;
            while !stop2.load(Ordering::Relaxed) {
                let w = inbox
                    .worker(tracking_handler(
                        Arc::clone(&track),
                        Arc::clone(&behaviour),
                        6,
                    ))
                    .concurrency(3)
                    .poll_interval(Duration::from_millis(20))
                    .shutdown_grace(Duration::ZERO);
                let r = w
                    .run(tokio::time::sleep(Duration::from_millis(37)))
                    .await
                    .unwrap();
                handed_back += r.handed_back;
            }
            handed_back
        });
        (stop_all, h)
    };
    let mut rng = Rng::new(seed());
    let mut accepted: HashMap<String, Vec<usize>> = HashMap::new();
    let mut ok_of: Vec<String> = Vec::new();
    for i in 0..RECORDS {
        let ok = format!("ok{}", rng.below(ORDERING));
        ok_of.push(ok.clone());
        let key = format!("o-{i}");
        let answer = inboxes[rng.below(2) as usize]
            .accept(&record(&key).with_ordering_key(ok.clone()))
            .await
            .unwrap();
        assert_eq!(answer, Accepted::Stored);
        accepted.entry(ok).or_default().push(i);
        if rng.chance(30) {
            let j = rng.below(i as u64 + 1) as usize;
            let answer = inboxes[rng.below(2) as usize]
                .accept(&record(&format!("o-{j}")).with_ordering_key(ok_of[j].clone()))
                .await
                .unwrap();
            assert_eq!(answer, Accepted::Duplicate, "o-{j}");
        }
        if rng.chance(10) {
            inboxes[rng.below(2) as usize].counts().await.unwrap();
        }
        if rng.chance(5) {
            tokio::time::sleep(Duration::from_millis(rng.below(10))).await;
        }
    }
    let dead = (0..RECORDS).filter(|i| i % 13 == 5).count() as u64;
    wait_drained(&inboxes[0], 40, Some(dead)).await;
    // Snapshot the success order before the replay: the dead ones run after.
    let before: HashMap<String, Vec<usize>> = track.lock().unwrap().success_order.clone();
    replay_phase.store(true, Ordering::SeqCst);
    assert_eq!(
        inboxes[0]
            .replay_dead_since(time::OffsetDateTime::UNIX_EPOCH)
            .await
            .unwrap(),
        dead
    );
    let c = wait_drained(&inboxes[0], 40, Some(0)).await;
    restarting.0.store(true, Ordering::Relaxed);
    let handed_back = within(30, "restarting worker", restarting.1).await.unwrap();
    stop_a.send(()).ok();
    within(30, "worker a", wa).await.unwrap().unwrap();
    eprintln!("handed back {handed_back}");
    let t = track.lock().unwrap().clone();
    // A zero grace hands running records back at once (at-least-once): a handler that was
    // finishing just then may succeed again. Tolerated here; everything else is not.
    let other: Vec<_> = t
        .violations
        .iter()
        .filter(|v| !v.contains("succeeded"))
        .collect();
    assert!(other.is_empty(), "violations: {other:?}");
    for (ok, order) in &accepted {
        let expected: Vec<usize> = order.iter().copied().filter(|i| i % 13 != 5).collect();
        let mut got = before.get(ok).cloned().unwrap_or_default();
        got.dedup();
        assert_eq!(got, expected, "{ok} success order");
        let starts = t.starts.get(ok).cloned().unwrap_or_default();
        let first_pass: Vec<usize> = starts.iter().copied().filter(|i| i % 13 != 5).collect();
        assert!(
            first_pass.windows(2).all(|w| w[0] <= w[1]),
            "{ok} starts {first_pass:?}"
        );
    }
    for i in 0..RECORDS {
        assert!(
            t.successes.get(&format!("o-{i}")).is_some_and(|n| *n >= 1),
            "o-{i}"
        );
    }
    assert_eq!(
        (c.pending, c.running, c.done, c.dead),
        (0, 0, RECORDS as u64, 0)
    );
    final_checks(&a, "order-restart").await;
}
