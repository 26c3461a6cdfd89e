//! Scenarios each inbox engine's test file runs with its own way of reaching into storage.

use std::future::Future;
use std::time::Duration;

use webhook_receiver::ManualClock;
use webhook_receiver::inbox::{InboxEngine, InboxError, ListQuery, NewRecord, Status};

/// Two records of one ordering key, `bad` then `next`; `corrupt` changes `bad` in storage so
/// that it cannot be read back. Then: leasing it fails with `Corrupt` and makes it dead, its
/// last error saying why; `next` runs; and once every lease could have expired, nothing is
/// leased again.
pub(crate) async fn an_unreadable_record_is_dead_not_leased_forever<E, F, Fut>(
    engine: &E,
    clock: &ManualClock,
    corrupt: F,
) where
    E: InboxEngine,
    F: FnOnce() -> Fut,
    Fut: Future<Output = ()>,
{
    for key in ["bad", "next"] {
        let record = NewRecord::new(key, "e", "p", &b"{}"[..]).with_ordering_key("O");
        engine.accept(&record, None).await.unwrap();
    }
    corrupt().await;
    let lease = Duration::from_secs(30);
    let err = engine.lease(lease).await.unwrap_err();
    assert!(
        matches!(err, InboxError::Corrupt { ref key, .. } if key == "bad"),
        "{err:?}"
    );
    let dead = engine.list(&ListQuery::new(Status::Dead)).await.unwrap();
    assert_eq!(dead.len(), 1);
    let last_error = dead[0].last_error.as_deref().unwrap_or_default();
    assert!(last_error.contains("cannot be read"), "{last_error}");
    let next = engine.lease(lease).await.unwrap().expect("next runs");
    assert_eq!(next.record.meta.key, "next");
    assert!(engine.done("next", next.token).await.unwrap());
    clock.advance(lease * 3);
    assert!(engine.lease(lease).await.unwrap().is_none(), "leased again");
}
