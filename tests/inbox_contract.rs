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
    let panic = suite.await.unwrap_err().into_panic();
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
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
