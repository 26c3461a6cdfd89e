//! `PostgresInbox` against a real PostgreSQL: the inbox contract on a manual clock and on real
//! time, two instances draining thousands of records, the exact bound under racing accepts,
//! the transactional handler mode (exactly-once effects), killed workers, long and NUL keys,
//! NULs in text fields, long ordering keys, deadlocks (injected by triggers), and an
//! unreachable server.
//!
//! Runs against PostgreSQL at `DATABASE_URL`, or, when it is unset, a private cluster that this
//! test binary creates and starts (see `servers/mod.rs`). Missing PostgreSQL programs fail the
//! tests with what to install; they never skip them. Each test works in its own tables.

mod inbox_scenarios;
mod servers;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio::sync::{Notify, oneshot};
use webhook_receiver::ManualClock;
use webhook_receiver::dedup::LeaseToken;
use webhook_receiver::inbox::{
    Accepted, AttemptOutcome, HandlerError, Inbox, InboxEngine, InboxError, InboxTransaction, Job,
    ListQuery, NewRecord, PostgresInbox, RetryPolicy, Status,
};
use webhook_receiver::testing::{InboxContractConfig, inbox_contract};

/// A pool on the test database (`DATABASE_URL`, or this binary's own cluster), or a loud
/// failure. Each call is a separate pool: a separate "instance" of a fleet.
async fn pool() -> PgPool {
    servers::pg_pool(24).await
}

/// A table name no other test or run uses.
fn unique_table(what: &str) -> String {
    format!(
        "wr_inbox_{what}_{:012x}",
        LeaseToken::random().get() as u64 & 0xffff_ffff_ffff
    )
}

/// A migrated engine in a fresh table.
async fn engine(what: &str) -> PostgresInbox {
    let engine = PostgresInbox::new(pool().await)
        .with_table(&unique_table(what))
        .unwrap();
    engine.migrate().await.expect("migrate");
    engine
}

/// Runs each statement, in order; any failure fails the test.
async fn execute_all(pool: &PgPool, statements: impl IntoIterator<Item = String>) {
    for statement in statements {
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(pool)
            .await
            .unwrap();
    }
}

async fn drop_tables(pool: &PgPool, tables: &[&str]) {
    for table in tables {
        execute_all(
            pool,
            [
                format!("DROP TABLE IF EXISTS \"{table}\""),
                // What `PostgresInbox::migrate` makes beside an inbox table.
                format!("DROP TABLE IF EXISTS \"{table}_bound\""),
                format!("DROP FUNCTION IF EXISTS \"{table}_accept_bounded\""),
            ],
        )
        .await;
    }
}

/// A table for a handler's effects: one row per record key, at most.
async fn effects_table(pool: &PgPool, name: &str) {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE \"{name}\" (key text PRIMARY KEY, attempt int NOT NULL)"
    )))
    .execute(pool)
    .await
    .unwrap();
}

async fn effects(pool: &PgPool, table: &str) -> Vec<(String, i32)> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT key, attempt FROM \"{table}\" ORDER BY key"
    )))
    .fetch_all(pool)
    .await
    .unwrap()
}

/// Writes the job's key and attempt into `table` through the transaction.
async fn write_effect(
    table: &str,
    job: &Job,
    tx: &mut InboxTransaction,
) -> Result<(), HandlerError> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO \"{table}\" (key, attempt) VALUES ($1, $2)"
    )))
    .bind(job.key())
    .bind(i32::try_from(job.attempt()).unwrap())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn record(key: &str) -> NewRecord {
    NewRecord::new(key, "billing", "stripe", &br#"{"type":"invoice.paid"}"#[..])
}

/// How many of `results` stored their record.
fn count_stored(results: &[Result<Accepted, InboxError>]) -> usize {
    results
        .iter()
        .filter(|r| matches!(r, Ok(Accepted::Stored)))
        .count()
}

/// Polls `done` every 20 ms until it holds, for at most `within`.
async fn eventually<F, Fut>(within: Duration, what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !done().await {
        assert!(
            start.elapsed() < within,
            "timed out after {within:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_passes_the_contract_on_a_manual_clock() {
    let clock = ManualClock::at_unix(1_767_225_600);
    let engine = engine("contract_manual").await.with_clock(clock.clone());
    inbox_contract(engine.clone(), InboxContractConfig::manual(&clock)).await;
    drop_tables(engine.pool(), &[engine.table()]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_passes_the_contract_on_real_time() {
    let engine = engine("contract_real").await;
    inbox_contract(engine.clone(), InboxContractConfig::real_time()).await;
    drop_tables(engine.pool(), &[engine.table()]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_is_idempotent_and_tables_are_validated() {
    let engine = engine("migrate").await;
    let other = PostgresInbox::new(pool().await)
        .with_table(engine.table())
        .unwrap();
    let (a, b) = tokio::join!(engine.migrate(), other.migrate());
    a.unwrap();
    b.unwrap();
    assert!(
        PostgresInbox::new(engine.pool().clone())
            .with_table("drop table")
            .is_err()
    );
    let debug = format!("{engine:?}");
    assert!(
        debug.contains(engine.table()) && !debug.contains("postgres://"),
        "{debug}"
    );
    drop_tables(engine.pool(), &[engine.table()]).await;
}

/// Two instances (separate pools, as two hosts would have), eight workers each, drain 2 000
/// records accepted through both: every record is done, and every handler ran exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_drain_2000_records_each_exactly_once() {
    const RECORDS: usize = 2000;
    let first = engine("drain").await;
    let second = PostgresInbox::new(pool().await)
        .with_table(first.table())
        .unwrap();
    let inboxes = [Inbox::new(first.clone()), Inbox::new(second.clone())];

    let runs: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut workers = Vec::new();
    for inbox in &inboxes {
        let runs = Arc::clone(&runs);
        let mut stopped = stopped.clone();
        let worker = inbox
            .worker(move |job: Job| {
                *runs
                    .lock()
                    .unwrap()
                    .entry(job.key().to_owned())
                    .or_default() += 1;
                async { Ok::<(), HandlerError>(()) }
            })
            .concurrency(8)
            .poll_interval(Duration::from_millis(20));
        workers.push(tokio::spawn(worker.run(async move {
            let _ = stopped.wait_for(|s| *s).await;
        })));
    }

    let started = Instant::now();
    let accepts = (0..RECORDS).map(|i| {
        let inbox = inboxes[i % 2].clone();
        async move { inbox.accept(&record(&format!("billing:evt_{i:05}"))).await }
    });
    // Accept in waves of 50 concurrent requests, as a busy endpoint would.
    let mut accepts = accepts.collect::<Vec<_>>();
    while !accepts.is_empty() {
        let wave: Vec<_> = accepts.drain(..accepts.len().min(50)).collect();
        for accepted in futures_util::future::join_all(wave).await {
            assert_eq!(accepted.unwrap(), Accepted::Stored);
        }
    }
    eventually(Duration::from_secs(120), "2000 records done", || async {
        inboxes[0].counts().await.unwrap().done == RECORDS as u64
    })
    .await;
    let elapsed = started.elapsed();
    stop.send(true).unwrap();
    let mut done = 0;
    let mut per_instance = Vec::new();
    for worker in workers {
        let report = worker.await.unwrap().unwrap();
        assert_eq!(
            (report.lost, report.unsettled, report.retried, report.dead),
            (0, 0, 0, 0)
        );
        done += report.done;
        per_instance.push(report.done);
    }
    assert_eq!(done, RECORDS as u64);
    {
        let runs = runs.lock().unwrap();
        assert_eq!(runs.len(), RECORDS);
        assert!(runs.values().all(|n| *n == 1), "a record ran twice");
    }
    eprintln!(
        "drained {RECORDS} records through 2 instances x 8 workers in {elapsed:?} \
         (done per instance: {per_instance:?})"
    );
    drop_tables(first.pool(), &[first.table()]).await;
}

/// Records under a few ordering keys, drained by two instances with eight workers each: per
/// ordering key, never two at once, and always in received order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordering_keys_hold_across_instances() {
    const RECORDS: usize = 300;
    const KEYS: usize = 5;
    let first = engine("ordering").await;
    let second = PostgresInbox::new(pool().await)
        .with_table(first.table())
        .unwrap();
    let inboxes = [Inbox::new(first.clone()), Inbox::new(second.clone())];
    // Sequential accepts: received order is the index order.
    for i in 0..RECORDS {
        let record = record(&format!("billing:evt_{i:05}"))
            .with_ordering_key(format!("customer_{}", i % KEYS));
        assert_eq!(
            inboxes[i % 2].accept(&record).await.unwrap(),
            Accepted::Stored
        );
    }

    #[derive(Default)]
    struct Seen {
        running: std::collections::HashSet<String>,
        order: HashMap<String, Vec<usize>>,
        overlaps: usize,
    }
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut workers = Vec::new();
    for inbox in &inboxes {
        let seen = Arc::clone(&seen);
        let mut stopped = stopped.clone();
        let worker = inbox
            .worker(move |job: Job| {
                let seen = Arc::clone(&seen);
                async move {
                    let ordering = job.meta().ordering_key.clone().unwrap();
                    let index: usize = job.key()["billing:evt_".len()..].parse().unwrap();
                    {
                        let mut seen = seen.lock().unwrap();
                        if !seen.running.insert(ordering.clone()) {
                            seen.overlaps += 1;
                        }
                        seen.order.entry(ordering.clone()).or_default().push(index);
                    }
                    // Give another worker the chance to (wrongly) start the next one.
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    seen.lock().unwrap().running.remove(&ordering);
                    Ok::<(), HandlerError>(())
                }
            })
            .concurrency(8)
            .poll_interval(Duration::from_millis(10));
        workers.push(tokio::spawn(worker.run(async move {
            let _ = stopped.wait_for(|s| *s).await;
        })));
    }
    eventually(
        Duration::from_secs(120),
        "300 ordered records done",
        || async { inboxes[0].counts().await.unwrap().done == RECORDS as u64 },
    )
    .await;
    stop.send(true).unwrap();
    for worker in workers {
        worker.await.unwrap().unwrap();
    }
    {
        let seen = seen.lock().unwrap();
        assert_eq!(
            seen.overlaps, 0,
            "two records of one ordering key ran at once"
        );
        assert_eq!(seen.order.len(), KEYS);
        for (key, order) in &seen.order {
            assert_eq!(order.len(), RECORDS / KEYS, "{key}");
            assert!(
                order.windows(2).all(|w| w[0] < w[1]),
                "{key} ran out of received order: {order:?}"
            );
        }
    }
    drop_tables(first.pool(), &[first.table()]).await;
}

/// 64 accepts of new keys race through two instances into an inbox bounded at 10: exactly
/// 10 are stored, the rest are refused as full.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_accepts_never_exceed_the_bound() {
    let first = engine("bound").await;
    let second = PostgresInbox::new(pool().await)
        .with_table(first.table())
        .unwrap();
    let results = futures_util::future::join_all((0..64).map(|i| {
        let engine = if i % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        async move { engine.accept(&record(&format!("k{i}")), Some(10)).await }
    }))
    .await;
    let stored = count_stored(&results);
    let full = results
        .iter()
        .filter(|r| matches!(r, Err(InboxError::Full { limit: 10 })))
        .count();
    assert_eq!((stored, full), (10, 54), "{results:?}");
    assert_eq!(first.counts().await.unwrap().pending, 10);

    // One accept per engine instance: no grouping, each a single round trip through the
    // table's accept function, racing the others.
    let pool = pool().await;
    let results = futures_util::future::join_all((0..40).map(|i| {
        let engine = PostgresInbox::new(pool.clone())
            .with_table(first.table())
            .unwrap();
        async move { engine.accept(&record(&format!("alone{i}")), Some(20)).await }
    }))
    .await;
    let stored = count_stored(&results);
    assert_eq!(stored, 10, "10 more fit under a bound of 20: {results:?}");
    assert_eq!(first.counts().await.unwrap().pending, 20);
    drop_tables(first.pool(), &[first.table()]).await;
}

/// The bound counts the unfinished records only when its estimate (the last count plus the
/// bounded accepts since) reaches the bound. The estimate never lets it be exceeded: records
/// that finish are found by counting again, records already in the table before the first
/// bounded accept are counted, and replayed records make the next accept count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bound_counts_again_whenever_its_estimate_could_be_wrong() {
    let engine = engine("estimate").await;
    let lease = Duration::from_secs(60);
    // Three records from before any bounded accept (e.g. an unbounded receiver).
    for i in 0..3 {
        let record = record(&format!("before{i}"));
        assert_eq!(
            engine.accept(&record, None).await.unwrap(),
            Accepted::Stored
        );
    }
    let bounded = |key: String| {
        let engine = engine.clone();
        async move { engine.accept(&record(&key), Some(5)).await }
    };
    for i in 0..2 {
        assert_eq!(bounded(format!("a{i}")).await.unwrap(), Accepted::Stored);
    }
    assert!(
        matches!(
            bounded("a2".into()).await,
            Err(InboxError::Full { limit: 5 })
        ),
        "3 + 2 unfinished: full"
    );
    assert_eq!(
        bounded("a0".into()).await.unwrap(),
        Accepted::Duplicate,
        "a live key is a duplicate even when full"
    );
    // Two records die: room for two more, found by counting again.
    for _ in 0..2 {
        let leased = engine.lease(lease).await.unwrap().unwrap();
        assert!(
            engine
                .dead(&leased.record.meta.key, leased.token, "poison")
                .await
                .unwrap()
        );
    }
    for i in 0..2 {
        assert_eq!(bounded(format!("b{i}")).await.unwrap(), Accepted::Stored);
    }
    assert!(matches!(
        bounded("b2".into()).await,
        Err(InboxError::Full { .. })
    ));
    // Three finish: an accept counts again (2 unfinished) and stores, leaving the estimate at
    // 3. Replaying the two dead ones makes 5 without an accept: the next accept must count.
    for _ in 0..3 {
        let leased = engine.lease(lease).await.unwrap().unwrap();
        assert!(
            engine
                .done(&leased.record.meta.key, leased.token)
                .await
                .unwrap()
        );
    }
    assert_eq!(bounded("c0".into()).await.unwrap(), Accepted::Stored);
    let since = time::OffsetDateTime::UNIX_EPOCH;
    assert_eq!(engine.replay_dead_since(since).await.unwrap(), 2);
    assert_eq!(engine.counts().await.unwrap().unfinished(), 5);
    assert!(
        matches!(bounded("c1".into()).await, Err(InboxError::Full { .. })),
        "the replayed records count"
    );
    // A replay of one record, then a group of concurrent accepts (the transaction path).
    let leased = engine.lease(lease).await.unwrap().unwrap();
    assert!(
        engine
            .dead(&leased.record.meta.key, leased.token, "poison")
            .await
            .unwrap()
    );
    let results = futures_util::future::join_all((0..8).map(|i| bounded(format!("d{i}")))).await;
    let stored = count_stored(&results);
    assert_eq!(
        stored, 1,
        "4 unfinished after one died: room for 1 ({results:?})"
    );
    assert!(engine.replay(&leased.record.meta.key).await.unwrap());
    let results = futures_util::future::join_all((0..8).map(|i| bounded(format!("e{i}")))).await;
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Err(InboxError::Full { .. }))),
        "6 unfinished after the replay: {results:?}"
    );
    assert_eq!(engine.counts().await.unwrap().unfinished(), 6);
    drop_tables(engine.pool(), &[engine.table()]).await;
}

/// A replay racing two leases never lets two records of one ordering key run at once: the
/// replayed record (older) and the next one (newer, due because the older one was dead). The
/// replay locks the active records of its ordering key, so a lease deciding on a snapshot where
/// the replayed record was still dead either commits first or skips them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_racing_leases_never_runs_two_records_of_one_ordering_key() {
    const ROUNDS: usize = 150;
    let first = engine("replay_race").await;
    let second = PostgresInbox::new(pool().await)
        .with_table(first.table())
        .unwrap();
    let lease = Duration::from_secs(60);
    let mut overlaps = Vec::new();
    for round in 0..ROUNDS {
        let ordering = format!("customer_{round}");
        let older = format!("r{round}:a");
        let newer = format!("r{round}:b");
        for key in [&older, &newer] {
            let record = record(key).with_ordering_key(ordering.clone());
            assert_eq!(first.accept(&record, None).await.unwrap(), Accepted::Stored);
        }
        // The older record runs and dies; the newer one becomes due.
        let leased = first.lease(lease).await.unwrap().unwrap();
        assert_eq!(leased.record.meta.key, older);
        assert!(first.dead(&older, leased.token, "poison").await.unwrap());

        let (replayed, a, b) = tokio::join!(
            second.replay(&older),
            first.lease(lease),
            second.lease(lease),
        );
        assert!(
            replayed.unwrap(),
            "round {round}: the dead record is replayed"
        );
        let leased: Vec<_> = [a.unwrap(), b.unwrap()]
            .into_iter()
            .flatten()
            .map(|l| (l.record.meta.key.clone(), l.token))
            .collect();
        if leased.len() > 1 {
            overlaps.push((round, leased.clone()));
        }
        // Finish the round: whatever runs is done, then the rest, one at a time.
        let mut running = leased;
        for _ in 0..4 {
            for (key, token) in running.drain(..) {
                assert!(
                    first.done(&key, token).await.unwrap(),
                    "round {round}: {key}"
                );
            }
            if let Some(next) = first.lease(lease).await.unwrap() {
                running.push((next.record.meta.key.clone(), next.token));
            }
        }
        assert!(running.is_empty(), "round {round}: the inbox drains");
        let counts = first.counts().await.unwrap();
        assert_eq!((counts.pending, counts.running), (0, 0), "round {round}");
    }
    assert!(
        overlaps.is_empty(),
        "two records of one ordering key ran at once: {overlaps:?}"
    );
    drop_tables(first.pool(), &[first.table()]).await;
}

/// Concurrent bounded accepts are written together (one transaction per turn): a record the
/// server refuses (here by a trigger) fails alone, and the records it was grouped with are
/// stored; duplicates in one group are stored once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_record_in_a_group_of_bounded_accepts_fails_alone() {
    let engine = engine("group").await;
    let refuse = format!("{}_refuse", engine.table());
    execute_all(
        engine.pool(),
        [
            format!(
                "CREATE FUNCTION \"{refuse}\"() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             IF NEW.event_id = 'evt_refused' THEN RAISE EXCEPTION 'refused by the test'; END IF; \
             RETURN NEW; END $$"
            ),
            format!(
                "CREATE TRIGGER refuse BEFORE INSERT ON \"{}\" FOR EACH ROW \
             EXECUTE FUNCTION \"{refuse}\"()",
                engine.table()
            ),
        ],
    )
    .await;
    let results = futures_util::future::join_all((0..48).map(|i| {
        let engine = engine.clone();
        async move {
            let mut record = record(&format!("k{}", i % 24));
            if i == 5 {
                record.event_id = Some("evt_refused".to_owned());
            }
            (i, engine.accept(&record, Some(1000)).await)
        }
    }))
    .await;
    for (i, result) in &results {
        match (i, result) {
            (5, Err(InboxError::Backend(_))) => {}
            (5, other) => panic!("the refused record must fail: {other:?}"),
            (_, Ok(_)) => {}
            (i, Err(e)) => panic!("record {i} failed with another record's error: {e:?}"),
        }
    }
    let stored = results
        .iter()
        .filter(|(_, r)| matches!(r, Ok(Accepted::Stored)))
        .count();
    // 24 keys, each sent twice; key k5 is stored by its good twin (i = 29).
    assert_eq!(stored, 24, "{results:?}");
    assert_eq!(engine.counts().await.unwrap().pending, 24);
    drop_tables(engine.pool(), &[engine.table()]).await;
    execute_all(engine.pool(), [format!("DROP FUNCTION \"{refuse}\"")]).await;
}

/// A deadlock or a serialization failure is transient: an accept meeting one is
/// `Unavailable` (503 + Retry-After, the sender tries again), bounded or not, and a worker's
/// transition meeting one is tried again by the worker rather than left to its lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadlocks_and_serialization_failures_are_transient() {
    let engine = engine("rollback").await;
    let (table, fault) = (engine.table(), format!("{}_fault", engine.table()));
    execute_all(
        engine.pool(),
        [
            // `nextval` is not rolled back with the failed statement: the first `done` fails.
            format!("CREATE SEQUENCE \"{fault}_n\""),
            format!(
                "CREATE FUNCTION \"{fault}\"() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             IF TG_OP = 'INSERT' AND NEW.event_id = 'evt_deadlock' THEN \
               RAISE EXCEPTION 'injected' USING ERRCODE = 'deadlock_detected'; END IF; \
             IF TG_OP = 'UPDATE' AND NEW.status = 'done' AND nextval('\"{fault}_n\"') = 1 THEN \
               RAISE EXCEPTION 'injected' USING ERRCODE = 'serialization_failure'; END IF; \
             RETURN NEW; END $$"
            ),
            format!(
                "CREATE TRIGGER fault BEFORE INSERT OR UPDATE ON \"{table}\" FOR EACH ROW \
             EXECUTE FUNCTION \"{fault}\"()"
            ),
        ],
    )
    .await;
    for bound in [None, Some(100)] {
        let mut deadlocked = record("billing:evt_deadlock");
        deadlocked.event_id = Some("evt_deadlock".to_owned());
        let error = engine.accept(&deadlocked, bound).await.unwrap_err();
        assert!(
            matches!(error, InboxError::Unavailable(_)) && error.status() == 503,
            "{bound:?}: {error:?}"
        );
    }
    // Grouped bounded accepts: the group that met the deadlock is written again record by
    // record, so only the deadlocked record is refused.
    let results = futures_util::future::join_all((0..32).map(|i| {
        let engine = engine.clone();
        async move {
            let mut record = record(&format!("k{i}"));
            if i == 5 {
                record.event_id = Some("evt_deadlock".to_owned());
            }
            (i, engine.accept(&record, Some(1000)).await)
        }
    }))
    .await;
    for (i, result) in &results {
        match (i, result) {
            (5, Err(InboxError::Unavailable(_))) | (_, Ok(Accepted::Stored)) => {}
            (i, other) => panic!("record {i}: {other:?}"),
        }
    }
    assert_eq!(engine.counts().await.unwrap().pending, 31);
    execute_all(engine.pool(), [format!("DELETE FROM \"{table}\"")]).await;
    engine.accept(&record("billing:evt_1"), None).await.unwrap();
    let leased = engine
        .lease(Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    let error = engine
        .done(&leased.record.meta.key, leased.token)
        .await
        .unwrap_err();
    assert!(error.is_transient(), "{error:?}");
    assert!(
        engine
            .done(&leased.record.meta.key, leased.token)
            .await
            .unwrap()
    );
    drop_tables(engine.pool(), &[table]).await;
    execute_all(
        engine.pool(),
        [
            format!("DROP FUNCTION \"{fault}\""),
            format!("DROP SEQUENCE \"{fault}_n\""),
        ],
    )
    .await;
}

/// PostgreSQL `text` cannot hold a NUL, but a signed event id can (a JSON `\u0000`), and so
/// can a secret label, an ordering key or a handler's error: the record is still accepted, on
/// the unbounded and the bounded path, those NULs read back as U+FFFD (the ordering key as its
/// digest), the key and body stay exact, and the record runs and dies like any other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_in_text_fields_is_stored_as_a_replacement_character() {
    use sha2::Digest as _;
    let engine = engine("nul_text").await;
    for (key, bound) in [("billing:evt_\0a", None), ("billing:evt_\0b", Some(100))] {
        let mut nul = record(key);
        nul.event_id = Some(key["billing:".len()..].to_owned());
        nul.key_label = Some("current\0".to_owned());
        nul.ordering_key = Some("cus_\0_1".to_owned());
        nul.body = bytes::Bytes::from_static(b"{\"id\":\"evt_\\u0000\"}\0");
        assert_eq!(
            engine.accept(&nul, bound).await.unwrap(),
            Accepted::Stored,
            "{bound:?}"
        );
        assert_eq!(
            engine.accept(&nul, bound).await.unwrap(),
            Accepted::Duplicate,
            "{bound:?}"
        );
        let stored = engine.get(key).await.unwrap().expect("stored");
        assert_eq!(stored.meta.key, key);
        assert_eq!(
            stored.meta.event_id.as_deref(),
            Some(key["billing:".len()..].replace('\0', "\u{fffd}").as_str())
        );
        assert_eq!(stored.meta.key_label.as_deref(), Some("current\u{fffd}"));
        let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest("cus_\0_1")));
        assert_eq!(stored.meta.ordering_key.as_deref(), Some(digest.as_str()));
        assert_eq!(stored.body, nul.body);
    }
    // Both records share the ordering key: they run one after the other.
    let first = engine
        .lease(Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.record.meta.key, "billing:evt_\0a");
    assert!(
        engine
            .lease(Duration::from_secs(30))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        engine
            .dead(
                &first.record.meta.key,
                first.token,
                "bad byte \0 in the payload"
            )
            .await
            .unwrap()
    );
    let dead = engine.get("billing:evt_\0a").await.unwrap().unwrap();
    assert_eq!(dead.meta.status, Status::Dead);
    assert_eq!(
        dead.meta.last_error.as_deref(),
        Some("bad byte \u{fffd} in the payload")
    );
    let second = engine
        .lease(Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.record.meta.key, "billing:evt_\0b");
    assert!(
        engine
            .done(&second.record.meta.key, second.token)
            .await
            .unwrap()
    );
    drop_tables(engine.pool(), &[engine.table()]).await;
}

/// The handler's write commits with `done`, in one transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactional_effects_commit_with_done() {
    let engine = engine("tx_commit").await;
    let fx = format!("{}_fx", engine.table());
    effects_table(engine.pool(), &fx).await;
    let inbox = Inbox::new(engine.clone());
    inbox.accept(&record("k1")).await.unwrap();

    let handler = engine.transactional({
        let fx = fx.clone();
        move |job: Job, mut tx: InboxTransaction| {
            let fx = fx.clone();
            async move { write_effect(&fx, &job, &mut tx).await }
        }
    });
    let attempt = inbox.process_next(handler).await.unwrap().unwrap();
    assert_eq!(attempt.outcome, AttemptOutcome::Done);
    assert_eq!(effects(engine.pool(), &fx).await, [("k1".to_owned(), 1)]);
    assert_eq!(
        inbox.inspect("k1").await.unwrap().unwrap().meta.status,
        Status::Done
    );
    drop_tables(engine.pool(), &[engine.table(), &fx]).await;
}

/// A failing handler's writes are rolled back; the retry's writes commit, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactional_effects_roll_back_on_error_and_commit_once_after_a_retry() {
    let clock = ManualClock::at_unix(1_767_225_600);
    let engine = engine("tx_error").await.with_clock(clock.clone());
    let fx = format!("{}_fx", engine.table());
    effects_table(engine.pool(), &fx).await;
    let inbox = Inbox::builder(engine.clone())
        .retry(RetryPolicy::new().base(Duration::from_secs(10)).jitter(0.0))
        .build()
        .unwrap();
    inbox.accept(&record("k1")).await.unwrap();

    let handler = engine.transactional({
        let fx = fx.clone();
        move |job: Job, mut tx: InboxTransaction| {
            let fx = fx.clone();
            async move {
                write_effect(&fx, &job, &mut tx).await?;
                if job.attempt() == 1 {
                    return Err(HandlerError::retry("downstream refused"));
                }
                Ok(())
            }
        }
    });
    let first = inbox.process_next(handler.clone()).await.unwrap().unwrap();
    assert_eq!(
        first.outcome,
        AttemptOutcome::Retry {
            delay: Duration::from_secs(10)
        }
    );
    assert!(effects(engine.pool(), &fx).await.is_empty(), "rolled back");
    let meta = inbox.inspect("k1").await.unwrap().unwrap().meta;
    assert_eq!(meta.status, Status::Pending);
    assert_eq!(meta.last_error.as_deref(), Some("downstream refused"));

    clock.advance(Duration::from_secs(11));
    let second = inbox.process_next(handler.clone()).await.unwrap().unwrap();
    assert_eq!(second.outcome, AttemptOutcome::Done);
    assert_eq!(effects(engine.pool(), &fx).await, [("k1".to_owned(), 2)]);
    assert!(inbox.process_next(handler).await.unwrap().is_none());
    drop_tables(engine.pool(), &[engine.table(), &fx]).await;
}

/// The handler outlives its lease and another instance takes the record over: the first
/// handler's `done` matches no row, its writes roll back, and the attempt is `Lost`. The
/// take-over's attempt then commits its writes, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactional_effects_roll_back_when_the_lease_was_taken_over() {
    let clock = ManualClock::at_unix(1_767_225_600);
    let first = engine("tx_stolen").await.with_clock(clock.clone());
    let second = PostgresInbox::new(pool().await)
        .with_table(first.table())
        .unwrap()
        .with_clock(clock.clone());
    let fx = format!("{}_fx", first.table());
    effects_table(first.pool(), &fx).await;
    // A long lease (heartbeats every 40 s of real time: none during the test); the manual
    // clock makes it expire.
    let lease = Duration::from_secs(120);
    let inbox = Inbox::builder(first.clone()).lease(lease).build().unwrap();
    let other = Inbox::builder(second.clone()).lease(lease).build().unwrap();
    inbox.accept(&record("k1")).await.unwrap();

    let (written_tx, written) = oneshot::channel::<()>();
    let written_tx = Arc::new(Mutex::new(Some(written_tx)));
    let proceed = Arc::new(Notify::new());
    let slow = first.transactional({
        let (fx, proceed) = (fx.clone(), Arc::clone(&proceed));
        move |job: Job, mut tx: InboxTransaction| {
            let (fx, proceed, written_tx) =
                (fx.clone(), Arc::clone(&proceed), Arc::clone(&written_tx));
            async move {
                write_effect(&fx, &job, &mut tx).await?;
                if let Some(written) = written_tx.lock().unwrap().take() {
                    let _ = written.send(());
                }
                proceed.notified().await;
                Ok(())
            }
        }
    });
    let attempt = tokio::spawn({
        let inbox = inbox.clone();
        async move { inbox.process_next(slow).await }
    });
    tokio::time::timeout(Duration::from_secs(30), written)
        .await
        .expect("the handler wrote")
        .unwrap();

    // The lease expires; the other instance takes the record over.
    clock.advance(lease + Duration::from_secs(1));
    let taken = second
        .lease(lease)
        .await
        .unwrap()
        .expect("an expired lease is taken over");
    assert_eq!(taken.record.meta.attempts, 2);
    proceed.notify_one();
    let attempt = tokio::time::timeout(Duration::from_secs(30), attempt)
        .await
        .expect("the first attempt ends")
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(attempt.outcome, AttemptOutcome::Lost);
    assert!(
        effects(first.pool(), &fx).await.is_empty(),
        "the first attempt's writes must be rolled back"
    );
    let meta = inbox.inspect("k1").await.unwrap().unwrap().meta;
    assert_eq!((meta.status, meta.attempts), (Status::Running, 2));

    // The second instance's attempt (handed back, then run through its inbox) commits once.
    assert!(second.release("k1", taken.token).await.unwrap());
    let fast = second.transactional({
        let fx = fx.clone();
        move |job: Job, mut tx: InboxTransaction| {
            let fx = fx.clone();
            async move { write_effect(&fx, &job, &mut tx).await }
        }
    });
    let retried = other.process_next(fast).await.unwrap().unwrap();
    assert_eq!(retried.outcome, AttemptOutcome::Done);
    assert_eq!(effects(first.pool(), &fx).await, [("k1".to_owned(), 2)]);
    drop_tables(first.pool(), &[first.table(), &fx]).await;
}

/// A worker killed mid-handler (its task aborted) leaves its lease to expire: the record runs
/// again on another worker, and only that run's writes persist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_leaves_the_record_to_run_again_after_its_lease() {
    let clock = ManualClock::at_unix(1_767_225_600);
    let engine = engine("killed").await.with_clock(clock.clone());
    let fx = format!("{}_fx", engine.table());
    effects_table(engine.pool(), &fx).await;
    let lease = Duration::from_secs(120);
    let inbox = Inbox::builder(engine.clone()).lease(lease).build().unwrap();
    inbox.accept(&record("k1")).await.unwrap();

    let calls = Arc::new(Mutex::new(0u32));
    let started = Arc::new(Notify::new());
    let handler = engine.transactional({
        let (fx, calls, started) = (fx.clone(), Arc::clone(&calls), Arc::clone(&started));
        move |job: Job, mut tx: InboxTransaction| {
            let (fx, calls, started) = (fx.clone(), Arc::clone(&calls), Arc::clone(&started));
            async move {
                *calls.lock().unwrap() += 1;
                write_effect(&fx, &job, &mut tx).await?;
                if job.attempt() == 1 {
                    started.notify_one();
                    // Hangs until the worker is killed.
                    std::future::pending::<()>().await;
                }
                Ok(())
            }
        }
    });
    let worker = tokio::spawn(
        inbox
            .worker(handler.clone())
            .run(std::future::pending::<()>()),
    );
    tokio::time::timeout(Duration::from_secs(30), started.notified())
        .await
        .expect("the first attempt started");
    worker.abort();
    assert!(worker.await.unwrap_err().is_cancelled());
    assert!(effects(engine.pool(), &fx).await.is_empty());
    assert!(
        inbox.process_next(handler.clone()).await.unwrap().is_none(),
        "the record stays leased until its lease expires"
    );

    clock.advance(lease + Duration::from_secs(1));
    // The killed attempt's transaction is rolled back when its connection returns to the
    // pool; until then the second attempt's insert waits for its row lock (bounded here).
    let attempt = tokio::time::timeout(Duration::from_secs(30), inbox.process_next(handler))
        .await
        .expect("the second attempt is not blocked by the killed one")
        .unwrap()
        .unwrap();
    assert_eq!(
        (attempt.outcome, attempt.attempt),
        (AttemptOutcome::Done, 2)
    );
    assert_eq!(*calls.lock().unwrap(), 2);
    assert_eq!(effects(engine.pool(), &fx).await, [("k1".to_owned(), 2)]);
    drop_tables(engine.pool(), &[engine.table(), &fx]).await;
}

/// Keys longer than a B-tree entry, keys with a NUL, and a key spelled like another key's
/// digest are stored whole and stay distinct.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_and_nul_keys_are_stored_whole_and_distinct() {
    use sha2::Digest as _;
    let engine = engine("keys").await;
    let long = format!("billing:{}", "k".repeat(100_000));
    let digest_lookalike = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&long)));
    let keys = [
        long.clone(),
        "billing:a\0b".to_owned(),
        "billing:a\0c".to_owned(),
        digest_lookalike,
        "x".repeat(512),
        "x".repeat(513),
        "billing:ünïcødé ✓".to_owned(),
    ];
    for key in &keys {
        assert_eq!(
            engine.accept(&record(key), None).await.unwrap(),
            Accepted::Stored,
            "{}",
            key.len()
        );
    }
    for key in &keys {
        assert_eq!(
            engine.accept(&record(key), Some(100)).await.unwrap(),
            Accepted::Duplicate
        );
        let stored = engine.get(key).await.unwrap().expect("stored");
        assert_eq!(&stored.meta.key, key);
    }
    let listed = engine.list(&ListQuery::new(Status::Pending)).await.unwrap();
    let mut expected: Vec<_> = keys.to_vec();
    expected.sort();
    let mut got: Vec<_> = listed.into_iter().map(|m| m.key).collect();
    got.sort();
    assert_eq!(got, expected);
    let mut leased = Vec::new();
    while let Some(l) = engine.lease(Duration::from_secs(30)).await.unwrap() {
        assert!(engine.done(&l.record.meta.key, l.token).await.unwrap());
        leased.push(l.record.meta.key);
    }
    leased.sort();
    assert_eq!(leased, expected);
    assert_eq!(engine.counts().await.unwrap().done, keys.len() as u64);
    drop_tables(engine.pool(), &[engine.table()]).await;
}

/// Ordering keys longer than an index entry can hold are accepted (as their digest) and still
/// order their records: a 10 KB key of random text, and two long keys that differ only at the
/// end, which must stay apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_ordering_keys_are_accepted_and_order_exactly() {
    let engine = engine("long_ordering").await;
    let random: String = (0..10_000)
        .map(|_| char::from(b'!' + (LeaseToken::random().get() % 90) as u8))
        .collect();
    let (a, b) = (format!("{random}a"), format!("{random}b"));
    for (key, ordering, bound) in [("k1", &a, None), ("k2", &a, Some(100)), ("k3", &b, None)] {
        let mut long = record(key);
        long.ordering_key = Some(ordering.clone());
        assert_eq!(
            engine.accept(&long, bound).await.unwrap(),
            Accepted::Stored,
            "{key}"
        );
    }
    // k1 and k3 have different keys: both run; k2 waits behind k1.
    let first = engine
        .lease(Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    let second = engine
        .lease(Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            first.record.meta.key.as_str(),
            second.record.meta.key.as_str()
        ),
        ("k1", "k3")
    );
    assert!(
        engine
            .lease(Duration::from_secs(30))
            .await
            .unwrap()
            .is_none()
    );
    assert!(engine.done("k1", first.token).await.unwrap());
    let third = engine
        .lease(Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(third.record.meta.key, "k2");
    drop_tables(engine.pool(), &[engine.table()]).await;
}

/// A server that cannot be reached makes accept `Unavailable` (503 + Retry-After), in bounded
/// time, never a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_unavailable() {
    let port = servers::free_port();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(2))
        .connect_lazy(&format!("postgres://postgres@127.0.0.1:{port}/test"))
        .unwrap();
    let engine = PostgresInbox::new(pool);
    let inbox = Inbox::builder(engine.clone())
        .max_pending(10)
        .build()
        .unwrap();
    let started = Instant::now();
    for bound in [None, Some(10)] {
        let error = engine.accept(&record("k"), bound).await.unwrap_err();
        assert!(matches!(error, InboxError::Unavailable(_)), "{error:?}");
        assert_eq!(error.status(), http::StatusCode::SERVICE_UNAVAILABLE);
    }
    let error = inbox.accept(&record("k")).await.unwrap_err();
    assert!(error.retry_after().is_some());
    assert!(matches!(
        engine.lease(Duration::from_secs(1)).await,
        Err(InboxError::Unavailable(_))
    ));
    assert!(started.elapsed() < Duration::from_secs(30));
}

/// A record changed by hand so that it cannot be read back is made dead when it is leased.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_that_cannot_be_read_is_dead_not_leased_forever() {
    let clock = ManualClock::at_unix(1_767_225_600);
    let engine = engine("corrupt").await.with_clock(clock.clone());
    inbox_scenarios::an_unreadable_record_is_dead_not_leased_forever(&engine, &clock, || {
        let statement = format!(
            "UPDATE \"{}\" SET headers = '\\xfffe'::bytea WHERE id = 'bad'",
            engine.table()
        );
        execute_all(engine.pool(), [statement])
    })
    .await;
    drop_tables(engine.pool(), &[engine.table()]).await;
}
