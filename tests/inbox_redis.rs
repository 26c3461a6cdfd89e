//! `RedisInbox` against a real Redis: the inbox contract on a manual clock and on real time,
//! 2 000 records drained by workers on two engine instances (each processed exactly once), a
//! worker killed mid-handler (the record runs again after its lease), awkward keys, the
//! dead-letter stream and the consumer group's pending entries, and outages (a closed port, a
//! server killed under a connected engine): `Unavailable`, quickly, never a hang; and the
//! fresh-record accept path (no script): duplicates, ordering, the bound, a full Redis,
//! hand-corrupted values; and what happens between a bounded accept's transaction and its
//! script, when it stored a record over the bound (a connection that holds the script call).
//!
//! Runs against `REDIS_URL`, or, when it is unset, a private `redis-server` that this test binary
//! starts on a free loopback port (see `servers/mod.rs`). The outage test always starts its own.
//! A missing `redis-server` fails the tests; it never skips them.

mod inbox_scenarios;
mod redis_inbox;
mod servers;

use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::StatusCode;
use redis_inbox::{
    counted, destroy_group, engine, get_raw, pending_entries, raw, record, unique_prefix, within,
    xlen,
};
use servers::{RedisServer, free_port};
use webhook_receiver::ManualClock;
use webhook_receiver::dedup::LeaseToken;
use webhook_receiver::inbox::{
    Accepted, AttemptOutcome, HandlerError, Inbox, InboxEngine, InboxError, Job, ListQuery,
    NewRecord, RedisInbox, RetryPolicy, Status,
};
use webhook_receiver::testing::{InboxContractConfig, inbox_contract};

/// An engine under a fresh prefix on a manual clock (2026-01-01), and the clock.
async fn manual_engine(test: &str) -> (RedisInbox, ManualClock) {
    let clock = ManualClock::at_unix(1_767_225_600);
    let engine = engine(&unique_prefix(test)).await.with_clock(clock.clone());
    (engine, clock)
}

/// Two engines on one fresh prefix and one manual clock (2026-01-01), as two hosts of a fleet:
/// consumers `host-a` and `host-b`.
async fn two_hosts(test: &str) -> (RedisInbox, RedisInbox, ManualClock) {
    let prefix = unique_prefix(test);
    let clock = ManualClock::at_unix(1_767_225_600);
    let host = |name: &'static str| {
        let (prefix, clock) = (prefix.clone(), clock.clone());
        async move {
            engine(&prefix)
                .await
                .with_clock(clock)
                .with_consumer(name)
                .unwrap()
        }
    };
    (host("host-a").await, host("host-b").await, clock)
}

/// The entries of a stream, as (field → value) maps of text.
async fn xrange(engine: &RedisInbox, stream: &str) -> Vec<HashMap<String, String>> {
    let mut conn = raw(engine).await;
    let reply: redis::Value = redis::cmd("XRANGE")
        .arg(stream)
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .unwrap();
    let text = |value: &redis::Value| match value {
        redis::Value::BulkString(bytes) => String::from_utf8(bytes.clone()).unwrap(),
        other => panic!("unexpected stream value {other:?}"),
    };
    let redis::Value::Array(entries) = reply else {
        panic!("unexpected XRANGE reply {reply:?}")
    };
    entries
        .iter()
        .map(|entry| {
            let redis::Value::Array(parts) = entry else {
                panic!("unexpected entry {entry:?}")
            };
            let redis::Value::Array(fields) = &parts[1] else {
                panic!("unexpected fields {entry:?}")
            };
            fields
                .chunks(2)
                .map(|pair| (text(&pair[0]), text(&pair[1])))
                .collect()
        })
        .collect()
}

/// The consumer group's pending entries: (consumer, idle ms, times delivered) each.
async fn pending_leases(engine: &RedisInbox) -> Vec<(String, i64, i64)> {
    let mut conn = raw(engine).await;
    let reply: redis::Value = redis::cmd("XPENDING")
        .arg(engine.ready_stream())
        .arg("workers")
        .arg("-")
        .arg("+")
        .arg(100)
        .query_async(&mut conn)
        .await
        .unwrap();
    let redis::Value::Array(entries) = reply else {
        panic!("unexpected XPENDING reply {reply:?}")
    };
    entries
        .iter()
        .map(|entry| match entry {
            redis::Value::Array(parts) => match (&parts[1], &parts[2], &parts[3]) {
                (
                    redis::Value::BulkString(consumer),
                    redis::Value::Int(idle),
                    redis::Value::Int(count),
                ) => (String::from_utf8(consumer.clone()).unwrap(), *idle, *count),
                other => panic!("unexpected XPENDING entry {other:?}"),
            },
            other => panic!("unexpected XPENDING entry {other:?}"),
        })
        .collect()
}

/// The consumer group's pending entries: (consumer, times delivered) each.
async fn pending_detail(engine: &RedisInbox) -> Vec<(String, i64)> {
    pending_leases(engine)
        .await
        .into_iter()
        .map(|(consumer, _, count)| (consumer, count))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_passes_the_contract_on_a_manual_clock() {
    let (engine, clock) = manual_engine("contract-manual").await;
    inbox_contract(engine, InboxContractConfig::manual(&clock)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_passes_the_contract_on_real_time() {
    let engine = engine(&unique_prefix("contract-real")).await;
    inbox_contract(engine, InboxContractConfig::real_time()).await;
}

/// Two engine instances (two connections), four workers each: 2 000 records, each handler run
/// exactly once, nothing left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_drain_2000_records_each_exactly_once() {
    const RECORDS: usize = 2_000;
    let prefix = unique_prefix("drain");
    let first = engine(&prefix).await.with_consumer("host-a").unwrap();
    let second = engine(&prefix).await.with_consumer("host-b").unwrap();

    let started = Instant::now();
    for chunk in (0..RECORDS).collect::<Vec<_>>().chunks(100) {
        let accepts = chunk.iter().map(|i| {
            let engine = if i % 2 == 0 { &first } else { &second };
            let record = record(&format!("delivery-{i}"));
            async move { engine.accept(&record, Some(10_000)).await }
        });
        for result in futures_util::future::join_all(accepts).await {
            assert_eq!(result.unwrap(), Accepted::Stored);
        }
    }
    let accepted_in = started.elapsed();
    assert_eq!(first.counts().await.unwrap().pending, RECORDS as u64);

    let runs = Arc::new(Mutex::new(HashMap::<String, (u32, &'static str)>::new()));
    let mut stops = Vec::new();
    let mut workers = Vec::new();
    for (engine, name) in [(first.clone(), "a"), (second.clone(), "b")] {
        let inbox = Inbox::builder(engine)
            .lease(Duration::from_secs(60))
            .build()
            .unwrap();
        let runs = Arc::clone(&runs);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        stops.push(stop);
        let worker = inbox
            .worker(move |job: Job| {
                let runs = Arc::clone(&runs);
                async move {
                    let mut runs = runs.lock().unwrap();
                    let entry = runs.entry(job.key().to_owned()).or_insert((0, name));
                    entry.0 += 1;
                    Ok::<(), HandlerError>(())
                }
            })
            .concurrency(4)
            .poll_interval(Duration::from_millis(20));
        workers.push(tokio::spawn(worker.run(async {
            stopped.await.ok();
        })));
    }
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let counts = first.counts().await.unwrap();
        if counts.done == RECORDS as u64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not drained within 180 s: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let drained_in = started.elapsed() - accepted_in;
    for stop in stops {
        stop.send(()).ok();
    }
    let mut done = 0;
    for worker in workers {
        let report = within(60, "worker shutdown", worker)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(report.lost + report.retried + report.dead, 0, "{report:?}");
        done += report.done;
    }
    assert_eq!(done, RECORDS as u64);
    let runs = runs.lock().unwrap().clone();
    assert_eq!(runs.len(), RECORDS, "every record ran");
    let twice: Vec<_> = runs.iter().filter(|(_, (n, _))| *n != 1).collect();
    assert!(twice.is_empty(), "records run more than once: {twice:?}");
    let by_a = runs.values().filter(|(_, name)| *name == "a").count();
    assert!(
        by_a > 0 && by_a < RECORDS,
        "both instances take records: {by_a} of {RECORDS} ran on the first"
    );
    let counts = second.counts().await.unwrap();
    assert_eq!(
        (counts.pending, counts.running, counts.done, counts.dead),
        (0, 0, RECORDS as u64, 0)
    );
    assert_eq!(
        pending_entries(&first).await,
        0,
        "no entry left unacknowledged"
    );
    eprintln!(
        "2 000 records: accepted in {accepted_in:?}, drained by 2 × 4 workers in {drained_in:?}"
    );
}

/// A worker whose task is aborted mid-handler leaves its lease; once it ends, another instance
/// runs the record again (attempt 2) and completes it; the dead worker's token changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_s_record_runs_again_after_the_lease() {
    let (first, second, clock) = two_hosts("killed").await;
    let lease = Duration::from_secs(30);
    assert_eq!(
        first.accept(&record("k1"), None).await.unwrap(),
        Accepted::Stored
    );

    let (started, mut has_started) = tokio::sync::mpsc::channel::<LeaseToken>(1);
    let inbox = Inbox::builder(first.clone()).lease(lease).build().unwrap();
    let worker = tokio::spawn(
        inbox
            .worker(move |job: Job| {
                let started = started.clone();
                async move {
                    started.send(job.token()).await.ok();
                    std::future::pending::<()>().await;
                    Ok::<(), HandlerError>(())
                }
            })
            .poll_interval(Duration::from_millis(10))
            .run(std::future::pending()),
    );
    let token = within(30, "the handler starts", has_started.recv())
        .await
        .unwrap();
    worker.abort();
    assert!(worker.await.unwrap_err().is_cancelled());

    let running = second.get("k1").await.unwrap().unwrap().meta;
    assert_eq!((running.status, running.attempts), (Status::Running, 1));
    assert!(
        second.lease(lease).await.unwrap().is_none(),
        "the lease still holds"
    );
    assert_eq!(
        pending_detail(&second).await,
        [("host-a".to_owned(), 1)],
        "the running record's entry is pending with the consumer that read it"
    );
    clock.advance(lease + Duration::from_secs(1));

    let other = Inbox::builder(second.clone()).lease(lease).build().unwrap();
    let attempt = other
        .process_next({
            let second = second.clone();
            move |job: Job| {
                let second = second.clone();
                async move {
                    assert_eq!(job.attempt(), 2);
                    assert_eq!(
                        pending_detail(&second).await,
                        [("host-b".to_owned(), 2)],
                        "the take-over claimed the entry for the new consumer"
                    );
                    Ok::<(), HandlerError>(())
                }
            }
        })
        .await
        .unwrap()
        .expect("the record is leased again after the lease");
    assert_eq!(
        (attempt.outcome, attempt.attempt),
        (AttemptOutcome::Done, 2)
    );
    assert!(
        !first.done("k1", token).await.unwrap(),
        "the killed worker's token changes nothing"
    );
    let done = first.get("k1").await.unwrap().unwrap().meta;
    assert_eq!((done.status, done.attempts), (Status::Done, 2));
    assert_eq!(pending_entries(&first).await, 0);
}

/// A lease is its entry's pending delivery: `XPENDING` shows the holder, and an idle time
/// that counts from the take and starts again at each heartbeat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_entries_show_each_lease_and_its_renewal() {
    let engine = engine(&unique_prefix("pel-idle"))
        .await
        .with_consumer("host-a")
        .unwrap();
    let lease = Duration::from_secs(30);
    engine.accept(&record("k"), None).await.unwrap();
    let leased = engine.lease(lease).await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let before = pending_leases(&engine).await;
    assert_eq!(before.len(), 1, "{before:?}");
    assert_eq!((before[0].0.as_str(), before[0].2), ("host-a", 1));
    assert!(before[0].1 >= 350, "idle since the take: {before:?}");
    let renewed = Instant::now();
    assert!(engine.heartbeat("k", leased.token, lease).await.unwrap());
    let after = pending_leases(&engine).await;
    assert_eq!((after[0].0.as_str(), after[0].2), ("host-a", 1));
    // Not renewed, it would be idle for the 400 ms and more since.
    let since = i64::try_from(renewed.elapsed().as_millis()).unwrap();
    assert!(
        after[0].1 <= since + 20,
        "a heartbeat renews the idle time: {after:?}, {since} ms since it"
    );
    assert!(engine.done("k", leased.token).await.unwrap());
    assert!(pending_leases(&engine).await.is_empty());
}

/// Leases of different lengths share one inbox: a `lease` call with a short lease passes
/// over a longer lease that is not over (it stays with its consumer, its start unchanged),
/// takes it over once it is, and a heartbeat moves its start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_lease_is_not_taken_over_by_a_short_one() {
    let (long, short, clock) = two_hosts("lengths").await;
    long.accept(&record("slow"), None).await.unwrap();
    let held = long.lease(Duration::from_secs(60)).await.unwrap().unwrap();
    clock.advance(Duration::from_secs(20));
    assert!(
        short
            .lease(Duration::from_secs(10))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(pending_detail(&long).await, [("host-a".to_owned(), 1)]);
    clock.advance(Duration::from_secs(30));
    assert!(
        long.heartbeat("slow", held.token, Duration::from_secs(60))
            .await
            .unwrap()
    );
    clock.advance(Duration::from_secs(59));
    assert!(
        short
            .lease(Duration::from_secs(10))
            .await
            .unwrap()
            .is_none(),
        "the heartbeat renewed the lease for 60 s"
    );
    assert_eq!(pending_detail(&long).await, [("host-a".to_owned(), 1)]);
    clock.advance(Duration::from_secs(2));
    let taken = short
        .lease(Duration::from_secs(10))
        .await
        .unwrap()
        .expect("the 60 s lease is over");
    assert_eq!(
        (taken.record.meta.key.as_str(), taken.record.meta.attempts),
        ("slow", 2)
    );
    assert_eq!(pending_detail(&long).await, [("host-b".to_owned(), 2)]);
    assert!(!long.done("slow", held.token).await.unwrap());
    assert!(short.done("slow", taken.token).await.unwrap());
}

/// A running record whose holder died keeps its lease when an operator deletes the consumer
/// group: the group made again hands its entry back to that lease, and it is taken over once
/// the lease is over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_holder_s_record_survives_a_deleted_group() {
    let (first, second, clock) = two_hosts("group-lease").await;
    let lease = Duration::from_secs(30);
    first.accept(&record("k"), None).await.unwrap();
    let dead = first.lease(lease).await.unwrap().unwrap();
    destroy_group(&first).await;
    assert!(second.lease(lease).await.unwrap().is_none(), "still leased");
    assert_eq!(pending_detail(&second).await, [("host-a".to_owned(), 1)]);
    clock.advance(lease + Duration::from_secs(1));
    let taken = second
        .lease(lease)
        .await
        .unwrap()
        .expect("taken over after the lease");
    assert_eq!(taken.record.meta.attempts, 2);
    assert!(!first.done("k", dead.token).await.unwrap());
    assert!(second.done("k", taken.token).await.unwrap());
    assert_eq!(pending_entries(&second).await, 0);
}

/// A running record whose holder died and whose entry then left the pending list behind the
/// engine's back — the consumer deleted (`XGROUP DELCONSUMER`), or the stream trimmed — is
/// found by the sweep once its lease is over, and taken over; before then it is left alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_record_whose_entry_was_removed_by_hand_is_taken_over() {
    for removal in ["DELCONSUMER", "XTRIM"] {
        let (first, second, clock) = two_hosts(&format!("removed-{removal}")).await;
        let lease = Duration::from_secs(30);
        first.accept(&record("k"), None).await.unwrap();
        let dead = first.lease(lease).await.unwrap().unwrap();
        let mut conn = raw(&first).await;
        let removal_command = match removal {
            "DELCONSUMER" => redis::cmd("XGROUP")
                .arg("DELCONSUMER")
                .arg(first.ready_stream())
                .arg("workers")
                .arg("host-a")
                .clone(),
            _ => redis::cmd("XTRIM")
                .arg(first.ready_stream())
                .arg("MAXLEN")
                .arg(0)
                .clone(),
        };
        removal_command.query_async::<()>(&mut conn).await.unwrap();
        for _ in 0..3 {
            assert!(
                second.lease(lease).await.unwrap().is_none(),
                "{removal}: the lease is not over"
            );
        }
        clock.advance(lease + Duration::from_secs(1));
        let mut taken = None;
        for _ in 0..3 {
            taken = second.lease(lease).await.unwrap();
            if taken.is_some() {
                break;
            }
        }
        let taken = taken.unwrap_or_else(|| panic!("{removal}: never taken over"));
        assert_eq!(taken.record.meta.attempts, 2, "{removal}");
        assert!(!first.done("k", dead.token).await.unwrap(), "{removal}");
        assert!(second.done("k", taken.token).await.unwrap(), "{removal}");
        assert_eq!(pending_entries(&second).await, 0, "{removal}");
        assert!(second.lease(lease).await.unwrap().is_none(), "{removal}");
    }
}

/// A running record's hash that lost its lease end (edited by hand) is an expired lease, not
/// a script error that would fail every `lease` call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_record_without_a_lease_end_is_taken_over() {
    let (engine, clock) = manual_engine("no-deadline").await;
    let lease = Duration::from_secs(30);
    engine.accept(&record("k"), None).await.unwrap();
    engine.accept(&record("next"), None).await.unwrap();
    let first = engine.lease(lease).await.unwrap().unwrap();
    let mut conn = raw(&engine).await;
    redis::cmd("HDEL")
        .arg(format!("{}r:k", engine.prefix()))
        .arg("deadline")
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    clock.advance(lease + Duration::from_secs(1));
    let again = engine.lease(lease).await.unwrap().unwrap();
    assert_eq!(
        (again.record.meta.key.as_str(), again.record.meta.attempts),
        ("k", 2)
    );
    assert!(!engine.done("k", first.token).await.unwrap());
    assert!(engine.done("k", again.token).await.unwrap());
    let next = engine.lease(lease).await.unwrap().unwrap();
    assert_eq!(next.record.meta.key, "next");
}

/// A queued record whose entry someone read by hand (`XREADGROUP` as another consumer) is not
/// stuck in that consumer's pending list: once idle for a lease, `lease` claims and runs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_read_by_hand_still_runs() {
    let engine = engine(&unique_prefix("by-hand")).await;
    // Long enough that a stalled machine does not let the hand-read entry look idle for a
    // whole lease before the first `lease` call.
    let lease = Duration::from_secs(2);
    let mut conn = raw(&engine).await;
    redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(engine.ready_stream())
        .arg("workers")
        .arg("0")
        .arg("MKSTREAM")
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    engine.accept(&record("k"), None).await.unwrap();
    let read: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("workers")
        .arg("intruder")
        .arg("COUNT")
        .arg(1)
        .arg("STREAMS")
        .arg(engine.ready_stream())
        .arg(">")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(!matches!(read, redis::Value::Nil), "the hand read got it");
    assert!(
        engine.lease(lease).await.unwrap().is_none(),
        "delivered a moment ago"
    );
    tokio::time::sleep(lease + Duration::from_millis(200)).await;
    let leased = within(10, "lease", engine.lease(lease))
        .await
        .unwrap()
        .expect("claimed from the hand read");
    assert_eq!(
        (leased.record.meta.key.as_str(), leased.record.meta.attempts),
        ("k", 1)
    );
    assert!(engine.done("k", leased.token).await.unwrap());
    assert_eq!(pending_entries(&engine).await, 0);
    assert!(engine.lease(lease).await.unwrap().is_none(), "ran once");
}

/// Keys with NUL bytes, non-ASCII text and 64 KiB go through every operation intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_nul_and_non_ascii_keys() {
    let prefix = unique_prefix("keys");
    let clock = ManualClock::at_unix(1_767_225_600);
    let engine = engine(&prefix).await.with_clock(clock.clone());
    let keys = [
        "a\0b".to_owned(),
        "\0".to_owned(),
        "ключ:🔑:鍵".to_owned(),
        "x".repeat(64 * 1024),
        "r:nested:ready".to_owned(),
    ];
    for (i, key) in keys.iter().enumerate() {
        let mut new = record(key).with_event_id(format!("evt\0{i}"));
        if i == 0 {
            new = new.with_ordering_key("ordering\0ключ");
        }
        assert_eq!(engine.accept(&new, None).await.unwrap(), Accepted::Stored);
        assert_eq!(
            engine.accept(&new, None).await.unwrap(),
            Accepted::Duplicate
        );
        let stored = engine.get(key).await.unwrap().expect("stored");
        assert_eq!(&stored.meta.key, key);
        assert_eq!(
            stored.meta.event_id.as_deref(),
            Some(format!("evt\0{i}").as_str())
        );
        clock.advance(Duration::from_millis(1));
    }
    assert!(
        engine.get("a").await.unwrap().is_none(),
        "a prefix of a key is another key"
    );
    assert!(engine.get("a\0").await.unwrap().is_none());

    let pending = engine.list(&ListQuery::new(Status::Pending)).await.unwrap();
    let listed: Vec<_> = pending.iter().map(|m| m.key.clone()).collect();
    assert_eq!(listed, keys, "list returns them in received order");
    let mut leased = Vec::new();
    while let Some(lease) = engine.lease(Duration::from_secs(30)).await.unwrap() {
        leased.push(lease.record.meta.key.clone());
        assert!(
            engine
                .done(&lease.record.meta.key, lease.token)
                .await
                .unwrap()
        );
    }
    assert_eq!(leased, keys, "leased in received order, each once");
    assert_eq!(engine.counts().await.unwrap().done, keys.len() as u64);
}

/// After the last attempt the record is in the dead-letter stream (key, error, attempts);
/// replay takes it out and queues it again; the consumer group holds exactly the running
/// records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dead_letter_stream_follows_dead_and_replay() {
    let prefix = unique_prefix("dead-letters");
    let clock = ManualClock::at_unix(1_767_225_600);
    let engine = engine(&prefix).await.with_clock(clock.clone());
    let inbox = Inbox::builder(engine.clone())
        .lease(Duration::from_secs(30))
        .retry(
            RetryPolicy::new()
                .base(Duration::from_secs(1))
                .max_attempts(2)
                .jitter(0.0),
        )
        .build()
        .unwrap();
    let key = "evt\0poison-ключ";
    assert_eq!(inbox.accept(&record(key)).await.unwrap(), Accepted::Stored);
    assert_eq!(xrange(&engine, &engine.ready_stream()).await.len(), 1);
    let failing = |job: Job| async move {
        Err::<(), _>(HandlerError::retry(format!("boom {}", job.attempt())))
    };
    let first = inbox.process_next(failing).await.unwrap().unwrap();
    assert!(
        matches!(first.outcome, AttemptOutcome::Retry { .. }),
        "{first:?}"
    );
    assert!(
        xrange(&engine, &engine.ready_stream()).await.is_empty(),
        "a retry waits in the delayed set"
    );
    clock.advance(Duration::from_secs(2));
    let last = inbox.process_next(failing).await.unwrap().unwrap();
    assert_eq!(last.outcome, AttemptOutcome::Dead);

    let letters = xrange(&engine, &engine.dead_letter_stream()).await;
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0]["k"], key);
    assert_eq!(letters[0]["attempts"], "2");
    assert!(
        letters[0]["error"].contains("gave up after 2 attempts")
            && letters[0]["error"].contains("boom 2"),
        "{letters:?}"
    );
    assert_eq!(
        letters[0]["at"].parse::<i64>().unwrap(),
        1_767_225_602_000,
        "the time of death on the engine's clock"
    );
    assert!(xrange(&engine, &engine.ready_stream()).await.is_empty());
    assert_eq!(pending_entries(&engine).await, 0);

    assert!(inbox.replay(key).await.unwrap());
    assert!(
        xrange(&engine, &engine.dead_letter_stream())
            .await
            .is_empty(),
        "replay takes the record out of the dead-letter stream"
    );
    let ready = xrange(&engine, &engine.ready_stream()).await;
    assert_eq!(ready.len(), 1);
    assert_eq!(ready[0]["k"], key);

    // While it runs, its entry is the group's one pending entry.
    let leased = engine
        .lease(Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(leased.record.meta.attempts, 1);
    assert_eq!(pending_entries(&engine).await, 1);
    assert!(engine.done(key, leased.token).await.unwrap());
    assert_eq!(pending_entries(&engine).await, 0);
    assert!(xrange(&engine, &engine.ready_stream()).await.is_empty());
    assert!(
        xrange(&engine, &engine.dead_letter_stream())
            .await
            .is_empty()
    );
}

/// An operator deletes the consumer group (or the stream's group is lost): running records
/// still finish, the next lease makes the group again, and every pending record runs once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_consumer_group_is_made_again() {
    let engine = engine(&unique_prefix("group")).await;
    let lease = Duration::from_secs(30);
    for key in ["running", "queued-1", "queued-2"] {
        assert_eq!(
            engine.accept(&record(key), None).await.unwrap(),
            Accepted::Stored
        );
    }
    let running = engine.lease(lease).await.unwrap().unwrap();
    assert_eq!(running.record.meta.key, "running");
    destroy_group(&engine).await;
    assert!(engine.done("running", running.token).await.unwrap());
    let mut leased = Vec::new();
    while let Some(next) = engine.lease(lease).await.unwrap() {
        leased.push(next.record.meta.key.clone());
        assert!(
            engine
                .done(&next.record.meta.key, next.token)
                .await
                .unwrap()
        );
    }
    assert_eq!(leased, ["queued-1", "queued-2"]);
    assert_eq!(engine.counts().await.unwrap().done, 3);
    assert_eq!(pending_entries(&engine).await, 0);
}

/// A closed port: `connect` fails with `Unavailable` (503) at once. A server killed under a
/// connected engine: every call fails with `Unavailable` within the bounded time-outs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outages_are_unavailable_quickly_never_a_hang() {
    let closed = format!("redis://127.0.0.1:{}", free_port());
    let started = Instant::now();
    let err = within(10, "connect to a closed port", RedisInbox::connect(&closed))
        .await
        .unwrap_err();
    assert!(matches!(err, InboxError::Unavailable(_)), "{err:?}");
    assert_eq!(err.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(err.retry_after().is_some());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );

    let (server, engine) = private_engine("outage").await;
    let port = server.port();
    assert_eq!(
        engine.accept(&record("before"), None).await.unwrap(),
        Accepted::Stored
    );
    drop(server); // killed
    let lease = Duration::from_secs(30);
    let err = within(10, "accept", engine.accept(&record("during"), None))
        .await
        .unwrap_err();
    assert!(matches!(err, InboxError::Unavailable(_)), "{err:?}");
    assert_eq!(err.status(), StatusCode::SERVICE_UNAVAILABLE);
    // Concurrent accepts (grouped into shared script calls) all learn it too, quickly.
    let started = Instant::now();
    let results = within(
        10,
        "concurrent accepts",
        futures_util::future::join_all((0..16).map(|i| {
            let engine = engine.clone();
            async move { engine.accept(&record(&format!("during{i}")), None).await }
        })),
    )
    .await;
    for result in &results {
        assert!(
            matches!(result, Err(InboxError::Unavailable(_))),
            "{result:?}"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "16 accepts in groups took {:?}",
        started.elapsed()
    );
    let err = within(10, "lease", engine.lease(lease)).await.unwrap_err();
    assert!(matches!(err, InboxError::Unavailable(_)), "{err:?}");
    let err = within(10, "done", engine.done("before", LeaseToken::random()))
        .await
        .unwrap_err();
    assert!(matches!(err, InboxError::Unavailable(_)), "{err:?}");
    let err = within(10, "counts", engine.counts()).await.unwrap_err();
    assert!(matches!(err, InboxError::Unavailable(_)), "{err:?}");
    let shown = format!("{err:?} {err}");
    assert!(!shown.contains("during"), "{shown}");

    // The server comes back (empty: the test server keeps nothing on disk): the same engine
    // reconnects on its own, and the ready stream and its group are created again.
    let _server = RedisServer::start_on(port);
    let deadline = Instant::now() + Duration::from_secs(30);
    let accepted = loop {
        match within(
            10,
            "accept after the restart",
            engine.accept(&record("after"), None),
        )
        .await
        {
            Ok(accepted) => break accepted,
            Err(InboxError::Unavailable(_)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("no reconnection within 30 s: {e:?}"),
        }
    };
    assert_eq!(accepted, Accepted::Stored);
    let leased = engine.lease(lease).await.unwrap().expect("the new record");
    assert_eq!(leased.record.meta.key, "after");
    assert!(engine.done("after", leased.token).await.unwrap());
}

/// Two prefixes on one server are two inboxes: neither sees, leases or counts the other's
/// records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefixes_separate_inboxes() {
    let one = engine(&unique_prefix("one")).await;
    let two = engine(&unique_prefix("two")).await;
    assert_eq!(
        one.accept(&record("k"), None).await.unwrap(),
        Accepted::Stored
    );
    assert!(two.get("k").await.unwrap().is_none());
    assert!(two.lease(Duration::from_secs(30)).await.unwrap().is_none());
    assert_eq!(two.counts().await.unwrap().pending, 0);
    assert_eq!(
        two.accept(&record("k"), None).await.unwrap(),
        Accepted::Stored
    );
    let leased = one.lease(Duration::from_secs(30)).await.unwrap().unwrap();
    assert!(
        !two.done("k", leased.token).await.unwrap(),
        "another inbox's token"
    );
    assert!(one.done("k", leased.token).await.unwrap());
    assert_eq!(
        two.get("k").await.unwrap().unwrap().meta.status,
        Status::Pending
    );
    for bad in ["", "has space", "tab\t", "nl\n"] {
        assert!(
            RedisInbox::new(redis::Client::open("redis://127.0.0.1:1").unwrap())
                .with_prefix(bad)
                .is_err(),
            "{bad:?}"
        );
    }
}

/// Concurrent bounded accepts over the bound, on two engines. 48 new keys at once, bound 20:
/// exactly 20 stored, the rest refused. Then each key twice at once: a key is stored once;
/// every key answered 200 (stored or duplicate) has its record and a key only refused has
/// none — also when a duplicate is answered while its original, over the bound, is being
/// taken back; the bound counts each record once. And records of one ordering key are parked
/// behind its head.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_bounded_accepts_lose_nothing_and_keep_the_bound_and_parking() {
    let mut over = 0;
    for round in 0..10 {
        let prefix = unique_prefix("grouped");
        let first = engine(&prefix).await;
        let second = engine(&prefix).await;
        let accept_all = |copies: usize| {
            futures_util::future::join_all((0..48 * copies).map(|i| {
                let engine = if i % 2 == 0 {
                    first.clone()
                } else {
                    second.clone()
                };
                let key = format!("k{:02}", i % 48);
                async move {
                    let answer = engine.accept(&record(&key), Some(20)).await;
                    (key, answer)
                }
            }))
        };
        let answers = |results: Vec<(String, Result<Accepted, InboxError>)>| {
            let mut answered: HashMap<String, Vec<&'static str>> = HashMap::new();
            for (key, answer) in results {
                answered.entry(key.clone()).or_default().push(match answer {
                    Ok(Accepted::Stored) => "stored",
                    Ok(Accepted::Duplicate) => "duplicate",
                    Err(InboxError::Full { limit: 20 }) => "full",
                    other => panic!("round {round}: {key}: {other:?}"),
                });
            }
            answered
        };
        let once = answers(accept_all(1).await);
        let mut stored: Vec<String> = once
            .iter()
            .filter(|(_, a)| a[..] == ["stored"])
            .map(|(k, _)| k.clone())
            .collect();
        stored.sort();
        assert_eq!(stored.len(), 20, "round {round}: {once:?}");
        assert_eq!(first.counts().await.unwrap().pending, 20);
        assert_eq!(counted(&first).await, stored, "round {round}");

        let twice = answers(accept_all(2).await);
        let mut kept = Vec::new();
        for (key, answers) in &twice {
            let was_stored = stored.contains(key);
            if was_stored {
                assert_eq!(answers[..], ["duplicate"; 2], "round {round}: {key}");
            }
            let now_stored = answers.iter().filter(|a| **a == "stored").count();
            assert!(
                now_stored <= 1,
                "round {round}: {key} stored twice: {answers:?}"
            );
            let has = first.get(key).await.unwrap().is_some();
            assert_eq!(
                has,
                answers.iter().any(|a| *a != "full"),
                "round {round}: {key} answered {answers:?} (before: {:?})",
                once[key]
            );
            if has {
                kept.push(key.clone());
            }
        }
        kept.sort();
        assert!(kept.len() >= 20, "round {round}: {twice:?}");
        over += kept.len() - 20;
        assert_eq!(first.counts().await.unwrap().pending, kept.len() as u64);
        assert_eq!(counted(&first).await, kept, "round {round}");
    }
    eprintln!("records kept over the bound, pinned by a duplicate: {over}");

    // Unbounded, with ordering keys: every record is stored with its own body, and the
    // records of one ordering key run in the order they were accepted.
    let prefix = unique_prefix("grouped_order");
    let engine = engine(&prefix).await;
    let results = futures_util::future::join_all((0..64).map(|i| {
        let engine = engine.clone();
        async move {
            let record = NewRecord::new(
                format!("o{i:02}"),
                "billing",
                "stripe",
                format!("{{\"n\":{i}}}").into_bytes(),
            )
            .with_ordering_key(format!("customer_{}", i % 4));
            engine.accept(&record, None).await
        }
    }))
    .await;
    assert!(
        results.iter().all(|r| matches!(r, Ok(Accepted::Stored))),
        "{results:?}"
    );
    // One record per ordering key is due at a time: the others were parked, also when they
    // were written in one call with the head of their key.
    let mut seen = std::collections::HashSet::new();
    for round in 0..16 {
        let mut due = Vec::new();
        while let Some(leased) = engine.lease(Duration::from_secs(30)).await.unwrap() {
            due.push(leased);
        }
        let keys: std::collections::HashSet<_> = due
            .iter()
            .map(|l| l.record.meta.ordering_key.clone().unwrap())
            .collect();
        assert_eq!((due.len(), keys.len()), (4, 4), "round {round}");
        for leased in due {
            let n: u64 = leased.record.meta.key[1..].parse().unwrap();
            assert_eq!(leased.record.body, format!("{{\"n\":{n}}}").as_bytes());
            assert!(seen.insert(n), "o{n:02} ran twice");
            assert!(
                engine
                    .done(&leased.record.meta.key, leased.token)
                    .await
                    .unwrap()
            );
        }
    }
    assert_eq!(seen.len(), 64);
}

/// Unbounded accepts are written without a script (a `SET NX` of the packed record and an
/// `XADD` announcing it): a duplicate of a record no worker has seen yet, also two sent at
/// once, is answered `Duplicate` and runs once; its extra announcements are dropped; the
/// fresh record reads back whole before any worker turns it into its hash; after its
/// retention it is a new record again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_of_fresh_records_run_once_and_leave_nothing_behind() {
    let (engine, clock) = manual_engine("fresh-dups").await;
    let mut headers = http::HeaderMap::new();
    headers.insert("x-event-type", "invoice.paid".parse().unwrap());
    let record = NewRecord::new("k\0ключ", "billing", "stripe", &b"{\"n\":1}"[..])
        .with_event_id("evt_1")
        .with_signed_at(1_767_225_599)
        .with_key_label("2026-11")
        .with_ordering_key("cus_1")
        .with_headers(headers.clone())
        .with_retain(Duration::from_secs(60));
    assert_eq!(
        engine.accept(&record, None).await.unwrap(),
        Accepted::Stored
    );
    let again = futures_util::future::join_all((0..2).map(|_| engine.accept(&record, None))).await;
    for answer in again {
        assert_eq!(answer.unwrap(), Accepted::Duplicate);
    }
    let fresh = engine.get(&record.key).await.unwrap().unwrap();
    assert_eq!(fresh.body, record.body);
    assert_eq!(fresh.headers, headers);
    let meta = &fresh.meta;
    assert_eq!(
        (meta.status, meta.attempts, meta.body_len),
        (Status::Pending, 0, 7)
    );
    assert_eq!(meta.event_id.as_deref(), Some("evt_1"));
    assert_eq!(meta.signed_at, Some(1_767_225_599));
    assert_eq!(meta.key_label.as_deref(), Some("2026-11"));
    assert_eq!(meta.ordering_key.as_deref(), Some("cus_1"));
    assert_eq!(meta.retain, Duration::from_secs(60));
    assert_eq!(meta.received_at.unix_timestamp(), 1_767_225_600);
    assert_eq!(meta.run_at, Some(meta.received_at));

    let lease = Duration::from_secs(30);
    let leased = engine.lease(lease).await.unwrap().unwrap();
    assert_eq!(leased.record.meta.key, record.key);
    assert_eq!(leased.record.body, record.body);
    assert_eq!(leased.record.meta.received_at, meta.received_at);
    assert!(
        engine.lease(lease).await.unwrap().is_none(),
        "a duplicate's announcement leased the record twice"
    );
    assert!(engine.done(&record.key, leased.token).await.unwrap());
    assert!(xrange(&engine, &engine.ready_stream()).await.is_empty());
    assert_eq!(pending_entries(&engine).await, 0);
    assert_eq!(
        engine.accept(&record, None).await.unwrap(),
        Accepted::Duplicate,
        "a done record inside its retention"
    );
    assert!(engine.lease(lease).await.unwrap().is_none());

    clock.advance(Duration::from_secs(61));
    assert_eq!(
        engine.accept(&record, None).await.unwrap(),
        Accepted::Stored,
        "a done record past its retention is replaced, purged or not"
    );
    let second = engine.lease(lease).await.unwrap().unwrap();
    assert_eq!(second.record.meta.attempts, 1);
    assert!(engine.done(&record.key, second.token).await.unwrap());
    assert!(engine.lease(lease).await.unwrap().is_none());
    let counts = engine.counts().await.unwrap();
    assert_eq!((counts.pending, counts.running, counts.done), (0, 0, 1));
    clock.advance(Duration::from_secs(61));
    assert_eq!(engine.purge().await.unwrap(), 1);
    assert!(engine.get(&record.key).await.unwrap().is_none());
    assert_eq!(
        get_raw::<String>(&engine, &format!("n:{}", record.key)).await,
        None,
        "purge drops the key's marker with its record"
    );
}

/// `counts` and `list` see records no worker has read yet, past one batch of announcements;
/// leases take them exactly once, in the order they were accepted; the bound counts every
/// unfinished record once, and none once they are done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_records_are_counted_listed_and_leased_in_order() {
    let engine = engine(&unique_prefix("fresh-order")).await;
    for i in 0..1200 {
        let record = record(&format!("r{i:04}"));
        assert_eq!(
            engine.accept(&record, None).await.unwrap(),
            Accepted::Stored
        );
    }
    let counts = engine.counts().await.unwrap();
    assert_eq!(counts.pending, 1200);
    assert!(counts.oldest_pending.is_some());
    let listed = engine
        .list(&ListQuery::new(Status::Pending).limit(2000))
        .await
        .unwrap();
    let keys: Vec<String> = listed.into_iter().map(|m| m.key).collect();
    let expected: Vec<String> = (0..1200).map(|i| format!("r{i:04}")).collect();
    assert_eq!(keys, expected);
    for i in 1200..1300 {
        assert_eq!(
            engine
                .accept(&record(&format!("r{i:04}")), Some(10_000))
                .await
                .unwrap(),
            Accepted::Stored
        );
    }
    // The 1200 that `counts` turned into hashes; the 100 bounded ones are not turned yet (the
    // bound's estimate is far below it).
    assert_eq!(counted(&engine).await.len(), 1200);
    let mut order = Vec::new();
    for _ in 0..1400 {
        let Some(leased) = engine.lease(Duration::from_secs(30)).await.unwrap() else {
            break;
        };
        assert!(
            engine
                .done(&leased.record.meta.key, leased.token)
                .await
                .unwrap()
        );
        order.push(leased.record.meta.key);
    }
    let expected: Vec<String> = (0..1300).map(|i| format!("r{i:04}")).collect();
    assert_eq!(order, expected);
    assert_eq!(counted(&engine).await, Vec::<String>::new());
    assert_eq!(engine.counts().await.unwrap().done, 1300);
}

/// A `redis-server` of the test's own (which it may reconfigure or disturb), and an engine on
/// it.
async fn private_engine(test: &str) -> (RedisServer, RedisInbox) {
    let server = RedisServer::start();
    let engine = within(10, "connect", RedisInbox::connect(&server.url()))
        .await
        .unwrap()
        .with_prefix(&unique_prefix(test))
        .unwrap();
    (server, engine)
}

/// A Redis that is full (`maxmemory` under `noeviction`) refuses an accept: 503 — the same
/// record sent again once there is room is answered 200 (stored, or a duplicate of a record
/// whose announcement the full Redis refused, then announced again) and runs, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_redis_refuses_accepts_and_loses_nothing() {
    let (_server, engine) = private_engine("oom").await;
    let mut conn = raw(&engine).await;
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(&mut conn)
        .await
        .unwrap();
    let used: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let config = conn.clone();
    let set_max = |max: u64| {
        let mut conn = config.clone();
        async move {
            redis::cmd("CONFIG")
                .arg("SET")
                .arg("maxmemory")
                .arg(max)
                .query_async::<()>(&mut conn)
                .await
                .unwrap();
        }
    };
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory-policy")
        .arg("noeviction")
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    set_max(used + 4 * 1024 * 1024).await;
    let body = vec![b'x'; 64 * 1024];
    let record = |i: usize| NewRecord::new(format!("big{i}"), "e", "p", body.clone());
    let mut stored = Vec::new();
    let mut refused = None;
    for i in 0..1000 {
        match engine.accept(&record(i), None).await {
            Ok(Accepted::Stored) => stored.push(i),
            Ok(other) => panic!("record {i}: {other:?}"),
            Err(e) => {
                assert!(matches!(e, InboxError::Unavailable(_)), "{e:?}");
                assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
                refused = Some(i);
                break;
            }
        }
    }
    let refused = refused.expect("a 4 MiB Redis took 64 MiB");
    set_max(0).await;
    let again = engine.accept(&record(refused), None).await.unwrap();
    assert!(
        matches!(again, Accepted::Stored | Accepted::Duplicate),
        "{again:?}"
    );
    stored.push(refused);
    let ran = drain_all(&engine, 1100).await;
    let expected: Vec<String> = stored.iter().map(|i| format!("big{i}")).collect();
    assert_eq!(ran, expected);
}

/// Accepts while every client connection is killed again and again (`CLIENT KILL`, every
/// 2 ms): each accept is retried until it is answered 200, as a sender does after a 503, and
/// then sent once more (a duplicate). Once the killing stops, every key runs exactly once and
/// nothing stays pending. (A connection dying between the two commands of one accept's
/// pipeline is rare here — both go out in one write;
/// `a_record_whose_announcement_was_lost_runs_after_the_retry` builds that state by hand.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepts_under_killed_connections_each_run_once() {
    let (server, engine) = private_engine("killed").await;
    let killer_conn = within(
        10,
        "connect",
        redis::aio::ConnectionManager::new(redis::Client::open(server.url()).unwrap()),
    )
    .await
    .unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let killer = tokio::spawn({
        let (stop, mut conn) = (Arc::clone(&stop), killer_conn);
        async move {
            let mut kills = 0u64;
            // Bounded: stopped once the accepts are through (at most 60 s, see below).
            for _ in 0..30_000 {
                if stop.load(SeqCst) {
                    break;
                }
                let killed: redis::RedisResult<u64> = redis::cmd("CLIENT")
                    .arg("KILL")
                    .arg("TYPE")
                    .arg("normal")
                    .arg("SKIPME")
                    .arg("yes")
                    .query_async(&mut conn)
                    .await;
                kills += killed.unwrap_or(0);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            kills
        }
    });
    let errors = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..8)
        .map(|task| {
            let (engine, errors) = (engine.clone(), Arc::clone(&errors));
            tokio::spawn(async move {
                for i in 0..50 {
                    let record = record(&format!("k{task}-{i}"));
                    for send in 0..2 {
                        let mut tries = 0;
                        // A sender retrying after 503s, boundedly.
                        loop {
                            match engine.accept(&record, None).await {
                                Ok(answer) => {
                                    if send == 1 {
                                        assert_eq!(answer, Accepted::Duplicate, "{}", record.key);
                                    }
                                    break;
                                }
                                Err(InboxError::Unavailable(_)) if tries < 500 => {
                                    tries += 1;
                                    errors.fetch_add(1, SeqCst);
                                    tokio::time::sleep(Duration::from_millis(1)).await;
                                }
                                Err(e) => panic!("{}: {e:?} after {tries} tries", record.key),
                            }
                        }
                    }
                }
            })
        })
        .collect();
    within(60, "accepts", async {
        for task in tasks {
            task.await.unwrap();
        }
    })
    .await;
    stop.store(true, SeqCst);
    let kills = killer.await.unwrap();
    assert!(
        kills > 0 && errors.load(SeqCst) > 0,
        "no connection was killed during the accepts ({kills} kills, {} errors)",
        errors.load(SeqCst)
    );

    eprintln!(
        "{kills} connections killed, {} accepts refused",
        errors.load(SeqCst)
    );
    // The connection killed last is noticed by the next call, which fails: a few at most.
    for _ in 0..20 {
        if engine.counts().await.is_ok() {
            break;
        }
    }
    let mut ran = HashMap::<String, usize>::new();
    for key in drain_all(&engine, 1000).await {
        *ran.entry(key).or_default() += 1;
    }
    assert_eq!(ran.len(), 400, "every key answered 200 runs");
    assert!(ran.values().all(|&n| n == 1), "a key ran twice: {ran:?}");
    let counts = engine.counts().await.unwrap();
    assert_eq!((counts.pending, counts.running, counts.done), (0, 0, 400));
}

// ---------------------------------------------------------------------------------------------
// The fresh-record path. The tests of the next four sections failed against its first
// version (leftover announcements, a refused accept, a markerless hash, the bound's counter).
// ---------------------------------------------------------------------------------------------

const LEASE: Duration = Duration::from_secs(30);

/// A record whose accept stored it but never ran its `XADD` (the connection lost between the
/// two commands of its pipeline, or a full Redis refusing the `XADD`: that accept answered
/// 503) is not lost: the sender's retry answers `Duplicate`, announces it again — and counts
/// it at once when bounded — and it runs, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_whose_announcement_was_lost_runs_after_the_retry() {
    let engine = engine(&unique_prefix("lost-xadd")).await;
    for (key, bound) in [("plain", None), ("bounded", Some(100))] {
        let record = record(key);
        assert_eq!(
            engine.accept(&record, bound).await.unwrap(),
            Accepted::Stored
        );
        // What the lost `XADD` leaves: the record, and no entry for it in the ready stream.
        let mut conn = raw(&engine).await;
        redis::cmd("XTRIM")
            .arg(engine.ready_stream())
            .arg("MAXLEN")
            .arg(0)
            .query_async::<()>(&mut conn)
            .await
            .unwrap();
        assert!(engine.lease(LEASE).await.unwrap().is_none(), "{key}");
        assert_eq!(
            engine.accept(&record, bound).await.unwrap(),
            Accepted::Duplicate,
            "{key}"
        );
        if bound.is_some() {
            assert_eq!(
                counted(&engine).await,
                vec![key.to_owned()],
                "the bound counts the record announced again"
            );
        }
        let leased = engine.lease(LEASE).await.unwrap().expect("announced again");
        assert_eq!(leased.record.meta.key, key);
        assert!(engine.done(key, leased.token).await.unwrap());
        assert!(
            engine.lease(LEASE).await.unwrap().is_none(),
            "{key} ran twice"
        );
    }
}

async fn set_raw(engine: &RedisInbox, suffix: &str, value: &[u8]) {
    let mut conn = raw(engine).await;
    redis::cmd("SET")
        .arg(format!("{}{suffix}", engine.prefix()))
        .arg(value)
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
}

async fn del_raw(engine: &RedisInbox, suffix: &str) {
    let mut conn = raw(engine).await;
    redis::cmd("DEL")
        .arg(format!("{}{suffix}", engine.prefix()))
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
}

/// Leases and finishes everything (at most `max`), returning the keys in lease order.
async fn drain_all(engine: &RedisInbox, max: usize) -> Vec<String> {
    let mut order = Vec::new();
    for _ in 0..max {
        let Some(leased) = within(10, "lease", engine.lease(LEASE)).await.unwrap() else {
            break;
        };
        assert!(
            engine
                .done(&leased.record.meta.key, leased.token)
                .await
                .unwrap()
        );
        order.push(leased.record.meta.key);
    }
    order
}

// ---------------------------------------------------------------------------------------------
// Ordering keys and duplicates' leftover announcements.
// ---------------------------------------------------------------------------------------------

/// Records of one ordering key run in received order: `j` is accepted one second before the
/// expired done record `k` is replaced, both with the ordering key `O`, so `j` runs first.
/// Guards against a duplicate's leftover announcement (its transaction `XADD`s before the
/// script answers `Duplicate`) turning a *later* record of the key into its hash first, ahead
/// of `j`: a record is turned into its hash only at an announcement carrying its own nonce.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_s_leftover_announcement_never_reorders_an_ordering_key() {
    let (engine, clock) = manual_engine("stale-ann-order").await;
    let k = record("k")
        .with_ordering_key("O")
        .with_retain(Duration::from_secs(60));
    assert_eq!(engine.accept(&k, None).await.unwrap(), Accepted::Stored);
    let leased = engine.lease(LEASE).await.unwrap().unwrap();
    assert!(engine.done("k", leased.token).await.unwrap());
    // A duplicate inside the retention: nothing changes (but an announcement is left behind).
    assert_eq!(engine.accept(&k, None).await.unwrap(), Accepted::Duplicate);

    clock.advance(Duration::from_secs(61));
    let j = record("j").with_ordering_key("O");
    assert_eq!(engine.accept(&j, None).await.unwrap(), Accepted::Stored);
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        engine.accept(&k, None).await.unwrap(),
        Accepted::Stored,
        "k is past its retention: replaced"
    );
    let order = drain_all(&engine, 10).await;
    assert_eq!(
        order,
        vec!["j".to_owned(), "k".to_owned()],
        "j was accepted before the new k, with the same ordering key"
    );
}

/// Same as above, but the done record was purged before the key came back ("after purge a
/// key is new again"), and the fresh records are counted before any lease (`counts` turns
/// them into hashes, walking the stream from the group's position).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purged_key_accepted_again_runs_after_older_records_of_its_ordering_key() {
    let (engine, clock) = manual_engine("stale-ann-purge").await;
    let k = record("k")
        .with_ordering_key("O")
        .with_retain(Duration::from_secs(60));
    assert_eq!(engine.accept(&k, None).await.unwrap(), Accepted::Stored);
    let leased = engine.lease(LEASE).await.unwrap().unwrap();
    assert!(engine.done("k", leased.token).await.unwrap());
    assert_eq!(engine.accept(&k, None).await.unwrap(), Accepted::Duplicate);
    clock.advance(Duration::from_secs(61));
    assert_eq!(engine.purge().await.unwrap(), 1);
    assert!(engine.get("k").await.unwrap().is_none());

    let j = record("j").with_ordering_key("O");
    assert_eq!(engine.accept(&j, None).await.unwrap(), Accepted::Stored);
    clock.advance(Duration::from_secs(1));
    assert_eq!(engine.accept(&k, None).await.unwrap(), Accepted::Stored);
    let counts = engine.counts().await.unwrap();
    assert_eq!(counts.pending, 2);
    let order = drain_all(&engine, 10).await;
    assert_eq!(order, vec!["j".to_owned(), "k".to_owned()]);
}

// ---------------------------------------------------------------------------------------------
// lease() answers None while a record is eligible, behind duplicates' announcements.
// ---------------------------------------------------------------------------------------------

/// `lease` leases the first eligible record, if any: `x` is due behind 70 announcements of
/// duplicates. Guards against a lease call that dropped its 64 entries answering `None` (a
/// worker would then sleep its poll interval); it now says "more" and is called again, and
/// the accept script deletes a duplicate's announcement at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_finds_a_due_record_behind_many_duplicate_announcements() {
    let engine = engine(&unique_prefix("dup-flood")).await;
    assert_eq!(
        engine.accept(&record("k"), None).await.unwrap(),
        Accepted::Stored
    );
    let leased = engine.lease(LEASE).await.unwrap().unwrap();
    assert!(engine.done("k", leased.token).await.unwrap());
    for _ in 0..70 {
        assert_eq!(
            engine.accept(&record("k"), None).await.unwrap(),
            Accepted::Duplicate
        );
    }
    assert_eq!(
        engine.accept(&record("x"), None).await.unwrap(),
        Accepted::Stored
    );
    let leased = within(10, "lease", engine.lease(LEASE)).await.unwrap();
    assert_eq!(
        leased.map(|l| l.record.meta.key),
        Some("x".to_owned()),
        "x is pending and due, but lease answered None"
    );
}

// ---------------------------------------------------------------------------------------------
// A refused (Full) accept changes nothing.
// ---------------------------------------------------------------------------------------------

/// An accept refused with `Full` changes nothing: the done record `k` past its retention is
/// still there for `get`, `counts` and `purge` (only `purge`, or an accept that *replaces*
/// it, removes it). Guards against the full branch's duplicate check removing it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_accept_does_not_remove_the_done_record() {
    let (engine, clock) = manual_engine("full-removes").await;
    let k = record("k").with_retain(Duration::from_secs(10));
    assert_eq!(engine.accept(&k, Some(1)).await.unwrap(), Accepted::Stored);
    let leased = engine.lease(LEASE).await.unwrap().unwrap();
    assert!(engine.done("k", leased.token).await.unwrap());
    clock.advance(Duration::from_secs(11));
    assert_eq!(
        engine.accept(&record("x"), Some(1)).await.unwrap(),
        Accepted::Stored
    );
    assert!(matches!(
        engine.accept(&k, Some(1)).await,
        Err(InboxError::Full { .. })
    ));
    assert!(
        engine.get("k").await.unwrap().is_some(),
        "a refused accept removed the done record"
    );
    assert_eq!(engine.counts().await.unwrap().done, 1);
    assert_eq!(engine.purge().await.unwrap(), 1);
    assert_eq!(
        get_raw::<String>(&engine, "n:k").await,
        None,
        "orphaned marker"
    );
}

// ---------------------------------------------------------------------------------------------
// A hash without its marker (r:<key> without n:<key>).
// ---------------------------------------------------------------------------------------------

/// A hash without its `n:<key>` marker (the layout before unbounded accepts skipped the
/// script, reproduced by deleting the marker) that is done and past its retention: an accept
/// replaces it and the new record runs — it was answered `Stored`, so it must not be lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_markerless_expired_record_is_replaced_not_lost() {
    let (engine, clock) = manual_engine("upgrade-expired").await;
    let k = record("k").with_retain(Duration::from_secs(10));
    assert_eq!(engine.accept(&k, None).await.unwrap(), Accepted::Stored);
    let leased = engine.lease(LEASE).await.unwrap().unwrap();
    assert!(engine.done("k", leased.token).await.unwrap());
    del_raw(&engine, "n:k").await; // as the previous version left it
    clock.advance(Duration::from_secs(11));
    let new_k = NewRecord::new("k", "test", "test-provider", &b"second"[..]);
    assert_eq!(engine.accept(&new_k, None).await.unwrap(), Accepted::Stored);
    let leased = within(10, "lease", engine.lease(LEASE)).await.unwrap();
    let leased = leased.expect("the accepted (Stored) record never runs: lost");
    assert_eq!(&leased.record.body[..], b"second");
}

/// A hash without its marker, still pending. An unbounded
/// accept cannot see a hash without its marker, so the duplicate is answered `Stored`; but it
/// must not run a second time, and once a worker has seen it the key is marked: the next
/// duplicate is answered `Duplicate`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_of_a_markerless_record_runs_once() {
    let engine = engine(&unique_prefix("upgrade-dup")).await;
    assert_eq!(
        engine.accept(&record("k"), None).await.unwrap(),
        Accepted::Stored
    );
    engine.counts().await.unwrap(); // materialized: r:k exists, n:k = m
    del_raw(&engine, "n:k").await; // as the previous layout left it
    engine.accept(&record("k"), None).await.unwrap();
    assert_eq!(
        drain_all(&engine, 10).await,
        ["k"],
        "the duplicate ran again"
    );
    assert_eq!(
        engine.accept(&record("k"), None).await.unwrap(),
        Accepted::Duplicate
    );
}

// ---------------------------------------------------------------------------------------------
// The bound's count and a corrupted bounded record.
// ---------------------------------------------------------------------------------------------

/// The bound's count never drifts, also for a bounded record corrupted by hand (which is never
/// turned into its hash, so never counted): every reader of one of its announcements
/// (`counts`, leases, duplicates' announcements, bounded or not) leaves the count alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_bounded_record_leaves_the_count_alone() {
    let engine = engine(&unique_prefix("corrupt-counted")).await;
    assert_eq!(
        engine.accept(&record("k"), Some(100)).await.unwrap(),
        Accepted::Stored
    );
    assert_eq!(counted(&engine).await, Vec::<String>::new());
    set_raw(&engine, "n:k", b"Cgarbage").await;
    assert!(matches!(
        engine.get("k").await,
        Err(InboxError::Corrupt { .. })
    ));
    let _ = within(10, "counts", engine.counts()).await;
    for _ in 0..3 {
        let _ = within(10, "lease", engine.lease(LEASE)).await;
    }
    // Duplicates of the corrupted key leave announcements that are read again.
    for _ in 0..3 {
        let _ = engine.accept(&record("k"), None).await;
    }
    for _ in 0..5 {
        let _ = within(10, "lease", engine.lease(LEASE)).await;
    }
    // Bounded duplicates too: their transactions add the key again, to a set.
    for _ in 0..3 {
        let _ = engine.accept(&record("k"), Some(100)).await;
    }
    for _ in 0..5 {
        let _ = within(10, "lease", engine.lease(LEASE)).await;
    }
    assert_eq!(
        counted(&engine).await,
        Vec::<String>::new(),
        "the bound's count drifted"
    );
}

// ---------------------------------------------------------------------------------------------
// Fresh records: reading back, races, a destroyed group, hand-corrupted values.
// ---------------------------------------------------------------------------------------------

/// `get()` of a fresh record equals `get()` of the same record once materialized, for every
/// optional field and awkward bodies/keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_record_reads_back_as_its_hash_does() {
    let (engine, _) = manual_engine("get-eq").await;
    let mut headers = http::HeaderMap::new();
    headers.insert("x-a", "1".parse().unwrap());
    headers.append("x-a", "2".parse().unwrap());
    headers.insert(
        "x-bin",
        http::HeaderValue::from_bytes(b"\x80\xff:x").unwrap(),
    );
    headers.insert("x-empty", http::HeaderValue::from_static(""));
    let big = vec![0u8; 3 * 1024 * 1024];
    let records = vec![
        record("plain"),
        NewRecord::new("k:with:colons\0nul ключ", "e:p", "p", &b""[..]),
        NewRecord::new("all", "ep", "prov", &b"\0\xff binary x 3:abc"[..])
            .with_event_id("x")
            .with_signed_at(-5)
            .with_key_label("")
            .with_ordering_key("ord:1 ü")
            .with_headers(headers.clone())
            .with_retain(Duration::ZERO),
        NewRecord::new("big", "ep", "prov", big.clone()).with_event_id("3:abc"),
        NewRecord::new("x", "x", "x", &b"x"[..])
            .with_event_id("x")
            .with_key_label("x")
            .with_ordering_key("x2"),
    ];
    for (i, r) in records.iter().enumerate() {
        let bound = if i % 2 == 0 { None } else { Some(1000) };
        assert_eq!(engine.accept(r, bound).await.unwrap(), Accepted::Stored);
    }
    let mut before = Vec::new();
    for r in &records {
        let got = engine.get(&r.key).await.unwrap().unwrap();
        assert_eq!(got.body, r.body, "{}", r.key);
        before.push(got);
    }
    engine.counts().await.unwrap();
    for (r, b) in records.iter().zip(&before) {
        let after = engine.get(&r.key).await.unwrap().unwrap();
        assert_eq!(
            format!("{:?}", after.meta),
            format!("{:?}", b.meta),
            "{}",
            r.key
        );
        assert_eq!(after.headers, b.headers, "{}", r.key);
        assert_eq!(after.body, b.body, "{}", r.key);
    }
    let mut keys: Vec<String> = records.iter().map(|r| r.key.clone()).collect();
    keys.sort();
    assert_eq!(counted(&engine).await, keys);
}

/// Many concurrent accepts of one key through two engine instances, bounded and unbounded:
/// exactly one Stored, the handler runs once, the bound counts nothing once all are done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_duplicates_on_two_instances_store_once() {
    let prefix = unique_prefix("race");
    let a = engine(&prefix).await;
    let b = engine(&prefix).await;
    for round in 0..20 {
        let key = format!("k{round}");
        let mut futs = Vec::new();
        for i in 0..16 {
            let e = if i % 2 == 0 { a.clone() } else { b.clone() };
            let r = record(&key);
            let bound = if i % 3 == 0 { Some(10_000) } else { None };
            futs.push(tokio::spawn(async move { e.accept(&r, bound).await }));
        }
        let mut stored = 0;
        for f in futs {
            if f.await.unwrap().unwrap() == Accepted::Stored {
                stored += 1;
            }
        }
        assert_eq!(stored, 1, "round {round}");
    }
    let order = drain_all(&a, 1000).await;
    let set: std::collections::HashSet<_> = order.iter().cloned().collect();
    assert_eq!(order.len(), 20);
    assert_eq!(set.len(), 20);
    assert_eq!(counted(&a).await, Vec::<String>::new());
}

/// The consumer group destroyed by hand while fresh records wait (some counted ahead):
/// every record runs once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destroyed_group_loses_no_fresh_record() {
    let engine = engine(&unique_prefix("destroy")).await;
    for i in 0..5 {
        engine
            .accept(&record(&format!("a{i}")), None)
            .await
            .unwrap();
    }
    let first = engine.lease(LEASE).await.unwrap().unwrap();
    engine.counts().await.unwrap();
    for i in 5..10 {
        engine
            .accept(&record(&format!("a{i}")), Some(100))
            .await
            .unwrap();
    }
    destroy_group(&engine).await;
    assert_eq!(engine.counts().await.unwrap().pending, 9);
    assert!(
        engine
            .done(&first.record.meta.key, first.token)
            .await
            .unwrap()
    );
    let order = drain_all(&engine, 100).await;
    let expected: Vec<String> = (1..10).map(|i| format!("a{i}")).collect();
    assert_eq!(order, expected);
    let c = engine.counts().await.unwrap();
    assert_eq!((c.pending, c.running, c.done), (0, 0, 10));
    assert_eq!(counted(&engine).await, Vec::<String>::new());
}

/// Hand-corrupted fresh records (random mutations of a real packed record, in both `F` and
/// `C` forms): `get` gives a record or an error (never a panic), `lease`/`counts` return
/// within a bounded time, and a healthy record accepted afterwards still runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_fresh_records_never_panic_or_hang() {
    let (engine, _) = manual_engine("corrupt-fuzz").await;
    let mut headers = http::HeaderMap::new();
    headers.insert("x-a", "1".parse().unwrap());
    let base = NewRecord::new("seed", "ep", "prov", &b"body"[..])
        .with_event_id("e")
        .with_signed_at(5)
        .with_ordering_key("o")
        .with_headers(headers);
    engine.accept(&base, None).await.unwrap();
    let packed = get_raw::<Vec<u8>>(&engine, "n:seed").await.unwrap();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet = b"x:0123456789-FCm\0\xff";
    for i in 0..150 {
        let key = format!("c{i}");
        let bound = if i % 2 == 0 { None } else { Some(10_000) };
        engine.accept(&record(&key), bound).await.unwrap();
        let mut bytes = packed.clone();
        if i % 2 == 1 {
            bytes[0] = b'C';
        }
        for _ in 0..(1 + next() % 3) {
            let pos = 1 + (next() as usize) % (bytes.len() - 1);
            match next() % 3 {
                0 => bytes[pos] = alphabet[(next() as usize) % alphabet.len()],
                1 => {
                    bytes.remove(pos);
                }
                _ => bytes.insert(pos, alphabet[(next() as usize) % alphabet.len()]),
            }
        }
        set_raw(&engine, &format!("n:{key}"), &bytes).await;
        let _ = within(10, "get", engine.get(&key)).await;
    }
    for _ in 0..3 {
        let _ = within(10, "counts", engine.counts()).await;
    }
    engine.accept(&record("healthy"), None).await.unwrap();
    let mut seen_healthy = false;
    for _ in 0..400 {
        match within(10, "lease", engine.lease(LEASE)).await {
            Ok(Some(l)) => {
                if l.record.meta.key == "healthy" {
                    seen_healthy = true;
                }
                let _ = within(10, "done", engine.done(&l.record.meta.key, l.token)).await;
            }
            Ok(None) => {
                if seen_healthy {
                    break;
                }
            }
            Err(e) => eprintln!("lease error: {e}"),
        }
    }
    assert!(
        seen_healthy,
        "a healthy record never ran after corrupted ones"
    );
}

fn replace_once(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let at = haystack
        .windows(from.len())
        .position(|w| w == from)
        .expect("pattern in packed record");
    let mut out = haystack[..at].to_vec();
    out.extend_from_slice(to);
    out.extend_from_slice(&haystack[at + from.len()..]);
    out
}

/// A fresh record corrupted by hand so that its retention is not a number (`8:abcdefgh`):
/// `get` reports it as corrupt, and it does not take the rest of its ordering key down with
/// it — `j`, accepted after it with the same ordering key, runs. Guards against the scripts'
/// parser accepting what the engine's cannot read (the record would be leased, fail to
/// decode, and be taken over again after every lease, heading its ordering key forever).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_fresh_record_does_not_block_its_ordering_key_forever() {
    let (engine, clock) = manual_engine("corrupt-retain").await;
    let k = record("k").with_ordering_key("O");
    assert_eq!(engine.accept(&k, None).await.unwrap(), Accepted::Stored);
    let packed = get_raw::<Vec<u8>>(&engine, "n:k").await.unwrap();
    let bad = replace_once(&packed, b"8:86400000", b"8:abcdefgh");
    set_raw(&engine, "n:k", &bad).await;
    assert!(matches!(
        engine.get("k").await,
        Err(InboxError::Corrupt { .. })
    ));
    let j = record("j").with_ordering_key("O");
    assert_eq!(engine.accept(&j, None).await.unwrap(), Accepted::Stored);

    let mut ran_j = false;
    for _ in 0..20 {
        match within(10, "lease", engine.lease(LEASE)).await {
            Ok(Some(l)) => {
                let key = l.record.meta.key.clone();
                if key == "j" {
                    ran_j = true;
                    break;
                }
                let r = within(10, "done", engine.done(&key, l.token)).await;
                eprintln!("leased {key}; done -> {r:?}");
            }
            Ok(None) => {}
            Err(e) => eprintln!("lease error: {e}"),
        }
        clock.advance(LEASE + Duration::from_secs(1));
    }
    let counts = engine.counts().await.unwrap();
    eprintln!("counts: {counts:?}");
    assert!(
        ran_j,
        "j never ran: its ordering key is blocked by the corrupted record (counts {counts:?})"
    );
}

/// A record changed by hand so that it cannot be read back (here its hash, once a worker has
/// seen it) is made dead when it is leased.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_that_cannot_be_read_is_dead_not_leased_forever() {
    let (engine, clock) = manual_engine("corrupt-hash").await;
    inbox_scenarios::an_unreadable_record_is_dead_not_leased_forever(&engine, &clock, || async {
        engine.counts().await.unwrap(); // both are hashes now
        let mut conn = raw(&engine).await;
        redis::cmd("HSET")
            .arg(format!("{}r:bad", engine.prefix()))
            .arg("headers")
            .arg(&b"\xff\xfe"[..])
            .query_async::<()>(&mut conn)
            .await
            .unwrap();
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Over the bound: what happens between a bounded accept's transaction and its script.
// ---------------------------------------------------------------------------------------------

/// Holds the next `holding` script calls (`EVALSHA`) of a [`Gated`] connection before they
/// are sent, until released; then, the next `after` ones once they ran, their replies
/// withheld until released.
struct Gate {
    holding: AtomicUsize,
    arrived: AtomicUsize,
    open: tokio::sync::Semaphore,
    after: AtomicUsize,
    ran: AtomicUsize,
    reply: tokio::sync::Semaphore,
}

impl Gate {
    fn holding(calls: usize) -> Self {
        Self {
            holding: calls.into(),
            arrived: 0.into(),
            open: tokio::sync::Semaphore::new(0),
            after: 0.into(),
            ran: 0.into(),
            reply: tokio::sync::Semaphore::new(0),
        }
    }

    async fn until(count: &AtomicUsize, calls: usize) {
        within(10, "the accepts' script calls", async {
            while count.load(SeqCst) < calls {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
    }

    /// Waits until `calls` script calls are held (their accepts' transactions have run).
    async fn held(&self, calls: usize) {
        Self::until(&self.arrived, calls).await;
    }

    /// Lets every held script call (and all later ones) through.
    fn release(&self) {
        self.open.add_permits(1 << 20);
    }
}

/// Takes one from `count` if it is not zero.
fn take_one(count: &AtomicUsize) -> bool {
    count
        .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

/// A connection whose next script call waits at its [`Gate`] once the gate is closed.
#[derive(Clone)]
struct Gated {
    inner: redis::aio::ConnectionManager,
    gate: Arc<Gate>,
}

impl redis::aio::ConnectionLike for Gated {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        Box::pin(async move {
            let script = matches!(
                cmd.args_iter().next(),
                Some(redis::Arg::Simple(name)) if name.eq_ignore_ascii_case(b"EVALSHA")
            );
            if script && take_one(&self.gate.holding) {
                self.gate.arrived.fetch_add(1, SeqCst);
                // Never closed: held until released.
                let _ = self.gate.open.acquire().await.map(|p| p.forget());
                return self.inner.req_packed_command(cmd).await;
            }
            let withheld = script && take_one(&self.gate.after);
            let reply = self.inner.req_packed_command(cmd).await;
            if withheld {
                self.gate.ran.fetch_add(1, SeqCst);
                let _ = self.gate.reply.acquire().await.map(|p| p.forget());
            }
            reply
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        self.inner.req_packed_commands(pipeline, offset, count)
    }

    fn get_db(&self) -> i64 {
        self.inner.get_db()
    }
}

/// An engine under `prefix` whose next `calls` script calls are held, and another one, plain,
/// on one manual clock.
async fn held_and_plain(
    prefix: &str,
    clock: &ManualClock,
    calls: usize,
) -> (RedisInbox<Gated>, Arc<Gate>, RedisInbox) {
    let plain = engine(prefix).await.with_clock(clock.clone());
    let gate = Arc::new(Gate::holding(calls));
    let gated = Gated {
        inner: raw(&plain).await,
        gate: Arc::clone(&gate),
    };
    let held = RedisInbox::new(gated)
        .with_prefix(prefix)
        .unwrap()
        .with_clock(clock.clone());
    (held, gate, plain)
}

/// An accept running in a task.
type AcceptTask = tokio::task::JoinHandle<Result<Accepted, InboxError>>;

/// A bounded accept stores `key` over the bound (the inbox holds `full_with`, bound 1); its
/// script is held until the returned gate is released. Returns the accept waiting for its
/// script, the gate, another engine of the inbox, and their clock.
async fn over_the_bound(
    test: &str,
    full_with: NewRecord,
    key: NewRecord,
) -> (AcceptTask, Arc<Gate>, RedisInbox, ManualClock) {
    let clock = ManualClock::at_unix(1_767_225_600);
    let (held, gate, plain) = held_and_plain(&unique_prefix(test), &clock, 1).await;
    assert_eq!(
        plain.accept(&full_with, Some(1)).await.unwrap(),
        Accepted::Stored
    );
    let accept = tokio::spawn(async move { held.accept(&key, Some(1)).await });
    gate.held(1).await;
    (accept, gate, plain, clock)
}

/// A duplicate answered (200) while its original is over the bound, before the original's
/// script has looked again, pins the record — fresh, or already turned into its hash by
/// `counts`: the original is answered Stored, never taken back, for the sender of the
/// duplicate will not retry. While the inbox is over its bound, the younger of its records
/// wait a moment before they run; the pinned one does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_answered_while_its_original_is_over_the_bound_keeps_it() {
    for (duplicate_bound, counted_first) in [(Some(1), false), (None, false), (Some(1), true)] {
        let (accept, gate, plain, clock) =
            over_the_bound("over-dup", record("a"), record("k")).await;
        if counted_first {
            assert_eq!(plain.counts().await.unwrap().pending, 2);
        }
        assert_eq!(
            plain.accept(&record("k"), duplicate_bound).await.unwrap(),
            Accepted::Duplicate,
            "{duplicate_bound:?}"
        );
        gate.release();
        assert_eq!(
            within(10, "accept", accept).await.unwrap().unwrap(),
            Accepted::Stored,
            "{duplicate_bound:?}"
        );
        assert_eq!(counted(&plain).await, ["a", "k"]);
        assert_eq!(
            drain_all(&plain, 10).await,
            ["k"],
            "a waits: the inbox is over"
        );
        clock.advance(Duration::from_millis(100));
        assert_eq!(drain_all(&plain, 10).await, ["a"]);
        assert_eq!(counted(&plain).await, Vec::<String>::new());
    }
}

/// A worker does not take a young record while the inbox is over its bound (its accept may
/// take it back). One it took anyway — the accept's script came too late — stays (answered
/// Stored), also if the worker handed it back (shutting down) before the script looked
/// again: it runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_over_bound_record_a_worker_took_stays() {
    for released in [false, true] {
        let (accept, gate, plain, clock) =
            over_the_bound("over-leased", record("a"), record("k")).await;
        let a = plain.lease(LEASE).await.unwrap().unwrap();
        assert_eq!(a.record.meta.key, "a");
        assert!(plain.lease(LEASE).await.unwrap().is_none(), "k waits");
        clock.advance(Duration::from_secs(3));
        let mut k = plain.lease(LEASE).await.unwrap().unwrap();
        assert_eq!(k.record.meta.key, "k");
        if released {
            assert!(plain.release("k", k.token).await.unwrap());
        }
        gate.release();
        assert_eq!(
            within(10, "accept", accept).await.unwrap().unwrap(),
            Accepted::Stored,
            "{released}"
        );
        if released {
            k = plain.lease(LEASE).await.unwrap().unwrap();
        }
        assert_eq!(
            plain.get("k").await.unwrap().unwrap().meta.status,
            Status::Running
        );
        assert!(plain.done("k", k.token).await.unwrap());
        assert!(plain.done("a", a.token).await.unwrap());
        assert_eq!(counted(&plain).await, Vec::<String>::new());
    }
}

/// A record over the bound that `counts` turned into its hash is still taken back whole —
/// also one a worker parked behind a running record of its ordering key, and one queued again
/// when that record finished, with a later record of its key parked behind it: refused (503),
/// gone from every set and from its ordering key, whose next record runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_over_bound_record_counted_or_parked_is_taken_back_whole() {
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Seen {
        Counted,
        Parked,
        QueuedAgain,
    }
    for seen in [Seen::Counted, Seen::Parked, Seen::QueuedAgain] {
        let ordered = |key: &str| record(key).with_ordering_key("o");
        let (accept, gate, plain, clock) =
            over_the_bound("over-back", ordered("a"), ordered("k")).await;
        let mut a = None;
        if seen != Seen::Counted {
            // Past the moment young records wait while the inbox is over its bound.
            clock.advance(Duration::from_secs(3));
            a = Some(plain.lease(LEASE).await.unwrap().unwrap());
        }
        if seen == Seen::QueuedAgain {
            assert_eq!(
                plain.accept(&ordered("b"), None).await.unwrap(),
                Accepted::Stored
            );
        }
        let c = plain.counts().await.unwrap();
        assert!(c.pending + c.running >= 2, "{seen:?}: {c:?}");
        if seen != Seen::Counted {
            assert!(plain.lease(LEASE).await.unwrap().is_none(), "k is parked");
        }
        if seen == Seen::QueuedAgain {
            let a = a.take().unwrap();
            assert!(plain.done("a", a.token).await.unwrap());
        }
        gate.release();
        assert!(
            matches!(
                within(10, "accept", accept).await.unwrap(),
                Err(InboxError::Full { limit: 1 })
            ),
            "{seen:?}"
        );
        assert!(plain.get("k").await.unwrap().is_none(), "{seen:?}");
        let c = plain.counts().await.unwrap();
        assert_eq!(c.pending + c.running, 1, "{seen:?}: {c:?}");
        let left = if seen == Seen::QueuedAgain { "b" } else { "a" };
        assert_eq!(counted(&plain).await, [left], "{seen:?}");
        assert!(
            plain
                .list(&ListQuery::new(Status::Pending))
                .await
                .unwrap()
                .iter()
                .all(|m| m.key != "k")
        );
        if let Some(a) = a {
            assert!(plain.done("a", a.token).await.unwrap());
        }
        if seen != Seen::QueuedAgain {
            assert_eq!(
                plain.accept(&ordered("b"), None).await.unwrap(),
                Accepted::Stored
            );
        }
        let order = drain_all(&plain, 10).await;
        let expected: &[&str] = if seen == Seen::Counted {
            &["a", "b"]
        } else {
            &["b"]
        };
        assert_eq!(order, expected, "{seen:?}");
        assert_eq!(pending_entries(&plain).await, 0);
        assert_eq!(
            xrange(&plain, &plain.ready_stream()).await.len(),
            0,
            "{seen:?}"
        );
    }
}

/// The bound counts the records of receivers without a bound too (announced, not yet turned
/// into hashes), exactly: past the transaction's estimate the accept script turns them all
/// and counts. More than 1 024 of them waiting are not counted in one call: a bounded accept
/// past the estimate is then refused, never stored past the bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bound_counts_every_receiver_s_records_exactly() {
    /// `n` records accepted without a bound, then one with the bound at `n`: refused.
    async fn full_after(test: &str, n: u64) -> RedisInbox {
        let engine = engine(&unique_prefix(test)).await;
        for i in 0..n {
            let answer = engine.accept(&record(&format!("u{i}")), None).await;
            assert_eq!(answer.unwrap(), Accepted::Stored);
        }
        let answer = engine.accept(&record("b1"), Some(n)).await;
        assert!(
            matches!(answer, Err(InboxError::Full { limit }) if limit == n),
            "{answer:?}"
        );
        assert!(engine.get("b1").await.unwrap().is_none());
        engine
    }
    let engine = full_after("mixed", 30).await;
    // The 30 are now turned into hashes and still announced: the estimate counts them
    // twice, the script once.
    assert_eq!(
        engine.accept(&record("b1"), Some(31)).await.unwrap(),
        Accepted::Stored
    );
    assert_eq!(engine.counts().await.unwrap().pending, 31);

    let engine = full_after("mixed-many", 1100).await;
    assert_eq!(engine.counts().await.unwrap().pending, 1100);
    assert_eq!(
        engine.accept(&record("b1"), Some(1101)).await.unwrap(),
        Accepted::Stored
    );
    assert!(matches!(
        engine.accept(&record("b2"), Some(1101)).await,
        Err(InboxError::Full { limit: 1101 })
    ));
    assert_eq!(drain_all(&engine, 2000).await.len(), 1101);
    assert_eq!(counted(&engine).await, Vec::<String>::new());
}

/// Bounded accepts of keys whose records are done and past their retention (so the accept
/// script replaces them), sixteen in one script call: the bound holds across the records of
/// a call — each one stored is counted before the next is decided.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounded_accepts_replacing_expired_records_in_one_call_keep_the_bound() {
    let clock = ManualClock::at_unix(1_767_225_600);
    // The four script calls an engine runs at once are held (duplicates), so that the sixteen
    // accepts behind them queue up and go in one call.
    let (held, gate, plain) = held_and_plain(&unique_prefix("replace-bound"), &clock, 4).await;
    let expired: Vec<NewRecord> = (0..16)
        .map(|i| record(&format!("x{i}")).with_retain(Duration::ZERO))
        .collect();
    for r in &expired {
        assert_eq!(plain.accept(r, None).await.unwrap(), Accepted::Stored);
    }
    assert_eq!(drain_all(&plain, 100).await.len(), 16);
    let mut duplicates = Vec::new();
    for i in 0..4 {
        let key = format!("d{i}");
        assert_eq!(
            plain.accept(&record(&key), None).await.unwrap(),
            Accepted::Stored
        );
        let held = held.clone();
        duplicates.push(tokio::spawn(async move {
            held.accept(&record(&key), Some(6)).await
        }));
        gate.held(i + 1).await;
    }
    let before = xlen(&plain).await;
    let again = {
        let held = held.clone();
        tokio::spawn(async move {
            let accepts = expired.iter().map(|r| held.accept(r, Some(6)));
            futures_util::future::join_all(accepts).await
        })
    };
    // Their transactions run; their script calls queue behind the held ones.
    stream_reaches(&plain, before + 16).await;
    gate.release();
    for d in duplicates {
        assert_eq!(d.await.unwrap().unwrap(), Accepted::Duplicate);
    }
    let results = within(10, "accepts", again).await.unwrap();
    let stored = results
        .iter()
        .filter(|r| matches!(r, Ok(Accepted::Stored)))
        .count();
    let full = results
        .iter()
        .filter(|r| matches!(r, Err(InboxError::Full { limit: 6 })))
        .count();
    assert_eq!((stored, full), (2, 14), "{results:?}");
    assert_eq!(plain.counts().await.unwrap().pending, 6);
}

// Found by review: an accept script run again (after a reply was lost or a group failed on
// another record), and records a script call stores before bounded ones of the same call.

/// Waits until an accept's transaction ran (the stream grew to `len`), then a moment for its
/// script call to queue.
async fn stream_reaches(engine: &RedisInbox, len: u64) {
    within(10, "the accept's transaction", async {
        while xlen(engine).await < len {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// Occupies the four script turns of `held`'s engine with duplicates of `of` (one at a time,
/// so that each is a call of its own), held before they are sent: the accepts after them
/// queue up and go in one call.
async fn busy_turns(held: &RedisInbox<Gated>, gate: &Gate, of: &str) -> Vec<AcceptTask> {
    gate.holding.store(4, SeqCst);
    let mut duplicates = Vec::new();
    for i in 0..4 {
        let (held, key) = (held.clone(), of.to_owned());
        duplicates.push(tokio::spawn(async move {
            held.accept(&record(&key), None).await
        }));
        gate.held(i + 1).await;
    }
    duplicates
}

/// Accepts `record` on `held` in a task, once its transaction ran.
async fn accept_queued(
    held: &RedisInbox<Gated>,
    plain: &RedisInbox,
    record: NewRecord,
    bound: Option<u64>,
) -> AcceptTask {
    let before = xlen(plain).await;
    let task = {
        let held = held.clone();
        tokio::spawn(async move { held.accept(&record, bound).await })
    };
    stream_reaches(plain, before + 1).await;
    task
}

/// An inbox bounded at 5 that holds 5 records (`a`, `d0`…`d3`), whose `held` engine's four
/// script turns are taken by held duplicates of `a`.
async fn five_and_busy_turns(
    test: &str,
) -> (RedisInbox<Gated>, Arc<Gate>, RedisInbox, Vec<AcceptTask>) {
    let clock = ManualClock::at_unix(1_767_225_600);
    let (held, gate, plain) = held_and_plain(&unique_prefix(test), &clock, 0).await;
    for key in ["a", "d0", "d1", "d2", "d3"] {
        assert_eq!(
            plain.accept(&record(key), None).await.unwrap(),
            Accepted::Stored
        );
    }
    let duplicates = busy_turns(&held, &gate, "a").await;
    (held, gate, plain, duplicates)
}

/// Two accepts over the bound share a script call that takes both back; the caller leading
/// it goes away before the reply, so the other's record is written again alone: it must not
/// be answered Stored, for its record is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accept_written_again_after_its_group_took_it_back_is_not_answered_stored() {
    let (held, gate, plain, duplicates) = five_and_busy_turns("rerun").await;
    gate.after.store(1, SeqCst);
    let x = accept_queued(&held, &plain, record("x"), Some(5)).await;
    let y = accept_queued(&held, &plain, record("y"), Some(5)).await;
    gate.release();
    Gate::until(&gate.ran, 1).await;
    x.abort();
    let _ = x.await;
    gate.reply.add_permits(1 << 20);
    let y = within(10, "y's accept", y).await.unwrap();
    for d in duplicates {
        assert_eq!(d.await.unwrap().unwrap(), Accepted::Duplicate);
    }
    assert!(
        matches!(y, Err(InboxError::Full { limit: 5 })),
        "y: {y:?}, its record: {:?}",
        plain.get("y").await.unwrap().map(|r| r.meta.status)
    );
    assert_eq!(plain.counts().await.unwrap().pending, 5);
}

/// A record over the bound shares a script call with one whose key holds a record damaged by
/// hand (the call fails on it, after taking the first back): written again alone, the first
/// is refused, not answered Stored; the damaged one is an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_failing_on_another_record_never_answers_a_taken_back_one_stored() {
    let (held, gate, plain, duplicates) = five_and_busy_turns("rerun-err").await;
    set_raw(&plain, "n:z", b"m").await;
    set_raw(&plain, "r:z", b"not a hash").await;
    let x = accept_queued(&held, &plain, record("x"), Some(5)).await;
    let z = accept_queued(&held, &plain, record("z"), Some(5)).await;
    gate.release();
    let x = within(10, "x's accept", x).await.unwrap();
    let z = within(10, "z's accept", z).await.unwrap();
    for d in duplicates {
        assert_eq!(d.await.unwrap().unwrap(), Accepted::Duplicate);
    }
    assert!(z.is_err(), "{z:?}");
    assert!(
        matches!(x, Err(InboxError::Full { limit: 5 })),
        "x: {x:?}, its record: {:?}",
        plain.get("x").await.unwrap().map(|r| r.meta.status)
    );
}

/// A record stored by a script call (replacing an expired one) before a bounded record of the
/// same call is counted for it, and keeps its place in received order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_a_script_call_stores_counts_and_keeps_its_order_for_the_next() {
    for ordered in [false, true] {
        let clock = ManualClock::at_unix(1_767_225_600);
        let (held, gate, plain) = held_and_plain(&unique_prefix("same-call"), &clock, 0).await;
        let make = |key: &str| {
            let r = record(key).with_retain(Duration::ZERO);
            if ordered { r.with_ordering_key("o") } else { r }
        };
        for key in ["u", "b"] {
            assert_eq!(
                plain.accept(&make(key), None).await.unwrap(),
                Accepted::Stored
            );
        }
        assert_eq!(drain_all(&plain, 10).await.len(), 2);
        assert_eq!(
            plain.accept(&make("a"), None).await.unwrap(),
            Accepted::Stored
        );
        let duplicates = busy_turns(&held, &gate, "a").await;
        let bound = if ordered { 100 } else { 2 };
        let u = accept_queued(&held, &plain, make("u"), None).await;
        let b = accept_queued(&held, &plain, make("b"), Some(bound)).await;
        gate.release();
        let u = within(10, "u's accept", u).await.unwrap();
        let b = within(10, "b's accept", b).await.unwrap();
        for d in duplicates {
            assert_eq!(d.await.unwrap().unwrap(), Accepted::Duplicate);
        }
        assert_eq!(u.unwrap(), Accepted::Stored);
        if ordered {
            assert_eq!(b.unwrap(), Accepted::Stored);
            assert_eq!(drain_all(&plain, 10).await, ["a", "u", "b"]);
        } else {
            assert!(matches!(b, Err(InboxError::Full { limit: 2 })), "b: {b:?}");
            assert_eq!(plain.counts().await.unwrap().pending, 2);
        }
    }
}
