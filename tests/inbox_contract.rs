//! The inbox contract suite on the SQLite engine, on a manual clock and on real time.

mod inbox_scenarios;

use std::path::PathBuf;

use webhook_receiver::ManualClock;
use webhook_receiver::inbox::SqliteInbox;
use webhook_receiver::testing::{InboxContractConfig, inbox_contract};

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
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What a panic said (`panic!` with arguments gives a `String`, without a `&str`).
fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(message) => *message,
        Err(payload) => payload
            .downcast_ref::<&str>()
            .map_or_else(|| "(not a text panic)".to_owned(), |m| (*m).to_owned()),
    }
}

/// An engine in `dir` on a manual clock (2026-01-01), and the clock.
async fn manual_engine(dir: &TempDir) -> (SqliteInbox, ManualClock) {
    let clock = ManualClock::at_unix(1_767_225_600);
    let engine = SqliteInbox::builder(dir.0.join("inbox.db"))
        .clock(clock.clone())
        .open()
        .await
        .unwrap();
    (engine, clock)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_passes_the_contract_on_a_manual_clock() {
    let dir = TempDir::new("contract-manual");
    let (engine, clock) = manual_engine(&dir).await;
    inbox_contract(engine.clone(), InboxContractConfig::manual(&clock)).await;
    engine.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_passes_the_contract_on_real_time() {
    let dir = TempDir::new("contract-real");
    let engine = SqliteInbox::builder(dir.0.join("inbox.db"))
        .table("contract_real")
        .unwrap()
        .open()
        .await
        .unwrap();
    inbox_contract(engine.clone(), InboxContractConfig::real_time()).await;
    engine.close().await;
}

#[tokio::test]
async fn the_contract_refuses_an_engine_that_is_not_empty() {
    let dir = TempDir::new("contract-not-empty");
    let (engine, clock) = manual_engine(&dir).await;
    let record = webhook_receiver::inbox::NewRecord::new("k", "e", "p", &b"{}"[..]);
    webhook_receiver::inbox::InboxEngine::accept(&engine, &record, None)
        .await
        .unwrap();
    let suite = tokio::spawn(async move {
        let clock = clock;
        inbox_contract(engine, InboxContractConfig::manual(&clock)).await;
    });
    let message = panic_message(suite.await.unwrap_err().into_panic());
    assert!(message.contains("must be empty"), "{message}");
}

/// A record changed by hand so that it cannot be read back is made dead when it is leased.
#[tokio::test]
async fn a_record_that_cannot_be_read_is_dead_not_leased_forever() {
    let dir = TempDir::new("corrupt");
    let (engine, clock) = manual_engine(&dir).await;
    inbox_scenarios::an_unreadable_record_is_dead_not_leased_forever(&engine, &clock, || async {
        sqlx::query("UPDATE webhook_inbox SET headers = X'FFFE' WHERE key = 'bad'")
            .execute(engine.pool())
            .await
            .unwrap();
    })
    .await;
    engine.close().await;
}

/// "However long it takes" is a valid busy timeout: `Duration::MAX` opens (SQLite waits at
/// most `i32::MAX` ms) rather than panicking on the overflow, and the inbox works.
#[tokio::test]
async fn an_unbounded_busy_timeout_opens() {
    use webhook_receiver::inbox::{Accepted, InboxEngine, NewRecord};
    let dir = TempDir::new("busy-max");
    let engine = SqliteInbox::builder(dir.0.join("inbox.db"))
        .busy_timeout(std::time::Duration::MAX)
        .open()
        .await
        .unwrap();
    let record = NewRecord::new("k:1", "ep", "prov", &b"{}"[..]);
    assert_eq!(
        engine.accept(&record, None).await.unwrap(),
        Accepted::Stored
    );
    assert_eq!(engine.counts().await.unwrap().pending, 1);
}

/// Concurrent accepts are committed together: 100 keys, each accepted twice at once by 200
/// tasks, are stored once each and answered `Stored` once and `Duplicate` once; under a bound
/// of 50, exactly 50 are stored and the rest refused (`Full`) — and what was answered stored is
/// in the file when it is opened again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_accepts_share_commits_and_each_is_settled_as_if_alone() {
    use webhook_receiver::inbox::{Accepted, InboxEngine, InboxError, NewRecord};
    for bound in [None, Some(50u64)] {
        let dir = TempDir::new("group-commit");
        let path = dir.0.join("inbox.db");
        let engine = SqliteInbox::open(&path).await.unwrap();
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let engine = engine.clone();
                tokio::spawn(async move {
                    let record = NewRecord::new(format!("k{}", i % 100), "e", "p", &b"{}"[..]);
                    (i % 100, engine.accept(&record, bound).await)
                })
            })
            .collect();
        let mut stored = std::collections::HashMap::<usize, usize>::new();
        let (mut duplicates, mut full) = (0, 0);
        for task in tasks {
            match task.await.unwrap() {
                (key, Ok(Accepted::Stored)) => *stored.entry(key).or_default() += 1,
                (_, Ok(Accepted::Duplicate)) => duplicates += 1,
                (_, Err(InboxError::Full { limit: 50 })) => full += 1,
                (key, other) => panic!("k{key}: {other:?}"),
            }
        }
        assert!(stored.values().all(|&n| n == 1), "{bound:?}: {stored:?}");
        let expected = bound.map_or(100, |b| b as usize);
        assert_eq!(stored.len(), expected, "{bound:?}");
        // A stored key's other accept is its duplicate, also once the inbox is full; a key
        // refused is refused both times.
        assert_eq!(
            (duplicates, full),
            (expected, 200 - 2 * expected),
            "{bound:?}"
        );
        engine.close().await;
        let reopened = SqliteInbox::open(&path).await.unwrap();
        assert_eq!(
            reopened.counts().await.unwrap().pending,
            expected as u64,
            "{bound:?}"
        );
        for key in stored.keys() {
            assert!(reopened.get(&format!("k{key}")).await.unwrap().is_some());
        }
        reopened.close().await;
    }
}

/// A lease the suite cannot multiply is refused with a message, not an arithmetic overflow.
#[tokio::test]
async fn the_contract_refuses_a_lease_it_cannot_use() {
    let dir = TempDir::new("contract-lease");
    let (engine, clock) = manual_engine(&dir).await;
    let suite = tokio::spawn(async move {
        let mut config = InboxContractConfig::manual(&clock);
        config.lease = std::time::Duration::MAX;
        inbox_contract(engine, config).await;
    });
    let message = panic_message(suite.await.unwrap_err().into_panic());
    assert!(
        message.contains("the lease must be from 1 ms to one day"),
        "{message}"
    );
}
