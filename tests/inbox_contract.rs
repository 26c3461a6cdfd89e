//! The inbox contract suite on the SQLite engine, on a manual clock and on real time.

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_passes_the_contract_on_a_manual_clock() {
    let dir = TempDir::new("contract-manual");
    let clock = ManualClock::at_unix(1_767_225_600);
    let engine = SqliteInbox::builder(dir.0.join("inbox.db"))
        .clock(clock.clone())
        .open()
        .await
        .unwrap();
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
    let clock = ManualClock::at_unix(1_767_225_600);
    let engine = SqliteInbox::builder(dir.0.join("inbox.db"))
        .clock(clock.clone())
        .open()
        .await
        .unwrap();
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

/// A record changed by hand so that it cannot be read back is made dead when it is leased,
/// with its last error saying why: it is not leased again after every lease expiry, and the
/// record behind it with the same ordering key runs.
#[tokio::test]
async fn a_record_that_cannot_be_read_is_dead_not_leased_forever() {
    use std::time::Duration;
    use webhook_receiver::inbox::{InboxEngine, InboxError, ListQuery, NewRecord, Status};

    let dir = TempDir::new("corrupt");
    let clock = ManualClock::at_unix(1_767_225_600);
    let engine = SqliteInbox::builder(dir.0.join("inbox.db"))
        .clock(clock.clone())
        .open()
        .await
        .unwrap();
    for key in ["bad", "next"] {
        let record = NewRecord::new(key, "e", "p", &b"{}"[..]).with_ordering_key("O");
        engine.accept(&record, None).await.unwrap();
    }
    sqlx::query("UPDATE webhook_inbox SET headers = X'FFFE' WHERE key = 'bad'")
        .execute(engine.pool())
        .await
        .unwrap();
    let lease = Duration::from_secs(30);
    let err = engine.lease(lease).await.unwrap_err();
    assert!(
        matches!(err, InboxError::Corrupt { ref key, .. } if key == "bad"),
        "{err:?}"
    );
    let dead = engine.list(&ListQuery::new(Status::Dead)).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert!(
        dead[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("cannot be read"),
        "{:?}",
        dead[0].last_error
    );
    let next = engine.lease(lease).await.unwrap().expect("next runs");
    assert_eq!(next.record.meta.key, "next");
    assert!(engine.done("next", next.token).await.unwrap());
    clock.advance(lease * 3);
    assert!(engine.lease(lease).await.unwrap().is_none(), "leased again");
    engine.close().await;
}
