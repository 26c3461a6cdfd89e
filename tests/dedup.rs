//! Deduplication: the store contract on `MemoryStore`, and the receiver's exactly-once behaviour
//! under concurrency, handler failure, dropped deliveries, replays and a full store.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

mod common;

use common::DownStore;
use webhook_receiver::dedup::{Claim, DedupStore, DynDedupStore, MemoryStore, StoreError};
use webhook_receiver::providers::{GitHub, StandardWebhooks};
use webhook_receiver::testing::{ContractConfig, Signer, store_contract};
use webhook_receiver::{
    ManualClock, Outcome, ReceiveError, Receiver, UNTIMESTAMPED_RETENTION, Verifier, VerifyError,
};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const T0: i64 = 1_767_225_600;

fn setup(capacity: usize) -> (ManualClock, Receiver<MemoryStore>, Signer) {
    let clock = ManualClock::at_unix(T0);
    let verifier = Verifier::builder(StandardWebhooks::new())
        .secret(SECRET)
        .clock(clock.clone())
        .build()
        .unwrap();
    let store = MemoryStore::builder()
        .capacity(capacity)
        .clock(clock.clone())
        .build();
    let receiver = Receiver::new(verifier, store);
    let signer = Signer::new(StandardWebhooks::new(), SECRET).unwrap();
    (clock, receiver, signer)
}

#[tokio::test]
async fn memory_store_passes_the_contract() {
    let clock = ManualClock::at_unix(T0);
    let store = MemoryStore::builder().clock(clock.clone()).build();
    store_contract(&store, ContractConfig::manual(&clock)).await;

    // Small capacity: a single shard.
    let store = MemoryStore::builder()
        .capacity(100)
        .clock(clock.clone())
        .build();
    store_contract(&store, ContractConfig::manual(&clock)).await;

    // Through the dyn-compatible mirror.
    let dynamic: Arc<dyn DynDedupStore> =
        Arc::new(MemoryStore::builder().clock(clock.clone()).build());
    store_contract(&dynamic, ContractConfig::manual(&clock)).await;
}

#[test]
fn memory_store_threads_race_for_one_key() {
    let store = MemoryStore::new();
    for round in 0..50 {
        let key = format!("race-{round}");
        let acquired = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    let claim = futures_ready(store.claim(&key, Duration::from_secs(30)));
                    if matches!(claim, Ok(Claim::Acquired(_))) {
                        acquired.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
        });
        assert_eq!(acquired.into_inner(), 1, "round {round}");
    }
}

/// Polls a future that must be ready at once (MemoryStore needs no runtime).
fn futures_ready<F: std::future::Future>(f: F) -> F::Output {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("MemoryStore futures are ready at once"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_deliveries_run_the_handler_once() {
    let (_clock, receiver, signer) = setup(10_000);
    let body: &'static [u8] = br#"{"type":"invoice.paid"}"#;
    let headers = Arc::new(
        signer
            .clone()
            .id("msg_concurrent")
            .timestamp(T0)
            .sign(body)
            .unwrap(),
    );
    let runs = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..1000 {
        let (receiver, headers, runs) = (receiver.clone(), Arc::clone(&headers), Arc::clone(&runs));
        tasks.push(tokio::spawn(async move {
            match receiver.receive(&headers, body).await.unwrap() {
                Outcome::New(delivery) => {
                    runs.fetch_add(1, Ordering::SeqCst);
                    tokio::task::yield_now().await;
                    assert!(delivery.complete().await.unwrap());
                    "new"
                }
                Outcome::Duplicate(_) => "duplicate",
                Outcome::InFlight { retry_after, .. } => {
                    assert!(retry_after >= Duration::from_secs(1));
                    "in-flight"
                }
            }
        }));
    }
    let mut new = 0;
    for task in tasks {
        if task.await.unwrap() == "new" {
            new += 1;
        }
    }
    assert_eq!(new, 1);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    // Afterwards every copy is a duplicate.
    assert!(matches!(
        receiver.receive(&headers, body).await.unwrap(),
        Outcome::Duplicate(_)
    ));
}

#[tokio::test]
async fn handler_failure_releases_and_the_retry_is_processed() {
    let (_clock, receiver, signer) = setup(100);
    let body = b"{}";
    let headers = signer
        .clone()
        .id("msg_fail")
        .timestamp(T0)
        .sign(body)
        .unwrap();
    let Outcome::New(first) = receiver.receive(&headers, body).await.unwrap() else {
        panic!("first delivery must be new");
    };
    // The handler fails: release.
    assert!(first.release().await.unwrap());
    // The sender retries (re-signed later, same id): processed.
    let retry = signer
        .clone()
        .id("msg_fail")
        .timestamp(T0 + 30)
        .sign(body)
        .unwrap();
    let Outcome::New(second) = receiver.receive(&retry, body).await.unwrap() else {
        panic!("the retry after a release must be new");
    };
    assert!(second.complete().await.unwrap());
    assert!(matches!(
        receiver.receive(&retry, body).await.unwrap(),
        Outcome::Duplicate(_)
    ));
}

#[tokio::test]
async fn a_dropped_delivery_is_retried_after_its_lease() {
    let (clock, receiver, signer) = setup(100);
    let body = b"{}";
    let headers = signer
        .clone()
        .id("msg_crash")
        .timestamp(T0)
        .sign(body)
        .unwrap();
    let Outcome::New(delivery) = receiver.receive(&headers, body).await.unwrap() else {
        panic!("new");
    };
    drop(delivery); // the process "died" mid-handler
    let Outcome::InFlight { retry_after, .. } = receiver.receive(&headers, body).await.unwrap()
    else {
        panic!("while the lease runs, a retry is in flight");
    };
    assert!(retry_after <= receiver.lease());
    clock.advance(receiver.lease() + Duration::from_secs(1));
    let Outcome::New(delivery) = receiver.receive(&headers, body).await.unwrap() else {
        panic!("after the lease the retry is processed");
    };
    assert!(delivery.complete().await.unwrap());
}

#[tokio::test]
async fn replays_inside_the_window_are_duplicates_and_after_it_are_refused() {
    let (clock, receiver, signer) = setup(100);
    let body = b"{}";
    let headers = signer
        .clone()
        .id("msg_replay")
        .timestamp(T0)
        .sign(body)
        .unwrap();
    let Outcome::New(d) = receiver.receive(&headers, body).await.unwrap() else {
        panic!("new");
    };
    assert!(d.complete().await.unwrap());
    // Replayed at the edge of the window: the key is still known.
    clock.advance(Duration::from_secs(300));
    assert!(matches!(
        receiver.receive(&headers, body).await.unwrap(),
        Outcome::Duplicate(_)
    ));
    // One second later the timestamp check refuses it.
    clock.advance(Duration::from_secs(1));
    match receiver.receive(&headers, body).await {
        Err(ReceiveError::Verify(VerifyError::TimestampTooOld { .. })) => {}
        other => panic!("expected a timestamp error, got {other:?}"),
    }
    // The retention covers the whole window plus the margin.
    assert_eq!(receiver.retain(), Duration::from_secs(600 + 60));
}

#[tokio::test]
async fn full_store_refuses_clearly_and_evicts_only_expired_entries() {
    let (clock, receiver, signer) = setup(3);
    let body = b"{}";
    let mut ids = Vec::new();
    for i in 0..3 {
        let id = format!("msg_full_{i}");
        let h = signer
            .clone()
            .id(id.clone())
            .timestamp(T0)
            .sign(body)
            .unwrap();
        let Outcome::New(d) = receiver.receive(&h, body).await.unwrap() else {
            panic!("new");
        };
        assert!(d.complete().await.unwrap());
        ids.push(h);
    }
    let extra = signer
        .clone()
        .id("msg_full_extra")
        .timestamp(T0)
        .sign(body)
        .unwrap();
    let err = receiver.receive(&extra, body).await.unwrap_err();
    assert!(
        matches!(err, ReceiveError::Store(StoreError::Full { capacity: 3 })),
        "{err:?}"
    );
    assert_eq!(err.status(), 503);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(5)));
    assert!(err.to_string().contains("full"), "{err}");
    // The completed entries are still protected: duplicates, not new.
    assert!(matches!(
        receiver.receive(&ids[0], body).await.unwrap(),
        Outcome::Duplicate(_)
    ));
    // Once they are past their retention they are evicted to make room.
    clock.advance(receiver.retain() + Duration::from_secs(1));
    let fresh = signer
        .id("msg_full_extra")
        .timestamp(T0 + receiver.retain().as_secs() as i64)
        .sign(body)
        .unwrap();
    assert!(matches!(
        receiver.receive(&fresh, body).await.unwrap(),
        Outcome::New(_)
    ));
}

/// A completion whose retention is shorter than the lease it ends moves the entry's deadline
/// earlier; a full store must still see that the entry is past it and drop it for a new key.
#[tokio::test]
async fn a_full_store_drops_an_entry_completed_with_a_retention_shorter_than_its_lease() {
    let clock = ManualClock::at_unix(T0);
    let store = MemoryStore::builder()
        .capacity(2)
        .clock(clock.clone())
        .build();
    let acquired = |claim: Claim| match claim {
        Claim::Acquired(token) => token,
        other => panic!("expected a new claim, got {other:?}"),
    };
    let _long = acquired(store.claim("long", Duration::from_secs(100)).await.unwrap());
    let _short = acquired(store.claim("short", Duration::from_secs(1)).await.unwrap());
    clock.advance(Duration::from_secs(2));
    // Full: the claim sweeps `short` away and keeps `long`.
    let done = acquired(store.claim("done", Duration::from_secs(100)).await.unwrap());
    assert!(
        store
            .complete("done", done, Duration::from_secs(1))
            .await
            .unwrap()
    );
    clock.advance(Duration::from_secs(5));
    // `done` is past its retention: a new key takes its place.
    assert!(matches!(
        store.claim("new", Duration::from_secs(100)).await,
        Ok(Claim::Acquired(_))
    ));
}

#[tokio::test]
async fn untimestamped_schemes_keep_keys_longer_and_bind_to_the_mac() {
    let verifier = Verifier::builder(GitHub::new())
        .secret("s")
        .build()
        .unwrap();
    let receiver = Receiver::new(verifier, MemoryStore::new());
    assert_eq!(receiver.retain(), UNTIMESTAMPED_RETENTION);
    let body = br#"{"action":"opened"}"#;
    let mut headers = Signer::new(GitHub::new(), "s").unwrap().sign(body).unwrap();
    headers.insert("x-github-delivery", "d1".parse().unwrap());
    let Outcome::New(d) = receiver.receive(&headers, body).await.unwrap() else {
        panic!("new");
    };
    let namespace = format!("github-{}", receiver.verifier().key_fingerprint());
    assert!(
        d.key().starts_with(&format!("{namespace}:digest:")),
        "{}",
        d.key()
    );
    assert!(d.complete().await.unwrap());
    // Changing the unsigned delivery header does not bypass dedup.
    headers.insert("x-github-delivery", "d2".parse().unwrap());
    assert!(matches!(
        receiver.receive(&headers, body).await.unwrap(),
        Outcome::Duplicate(_)
    ));
}

#[tokio::test]
async fn configuration_is_checked() {
    let verifier = || {
        Verifier::builder(StandardWebhooks::new())
            .secret(SECRET)
            .build()
            .unwrap()
    };
    assert!(
        Receiver::builder(verifier(), MemoryStore::new())
            .retain(Duration::from_secs(60))
            .build()
            .is_err(),
        "retention shorter than the replay window"
    );
    assert!(
        Receiver::builder(verifier(), MemoryStore::new())
            .lease(Duration::ZERO)
            .build()
            .is_err()
    );
    let r = Receiver::builder(verifier(), MemoryStore::new())
        .retain(Duration::from_secs(3 * 86_400))
        .namespace("acct-1")
        .build()
        .unwrap();
    assert_eq!(r.namespace(), "acct-1");
}

#[tokio::test]
async fn store_failure_fails_closed_unless_told_otherwise() {
    let verifier = || {
        Verifier::builder(StandardWebhooks::new())
            .secret(SECRET)
            .build()
            .unwrap()
    };
    let signer = Signer::new(StandardWebhooks::new(), SECRET).unwrap();
    let body = b"{}";
    let headers = signer.sign(body).unwrap();
    let closed = Receiver::new(verifier(), DownStore);
    let err = closed.receive(&headers, body).await.unwrap_err();
    assert_eq!(err.status(), 503);
    let open = Receiver::builder(verifier(), DownStore)
        .insecure_fail_open_on_store_error(true)
        .build()
        .unwrap();
    let Outcome::New(d) = open.receive(&headers, body).await.unwrap() else {
        panic!("fail-open processes the delivery");
    };
    assert!(!d.is_claimed());
    assert!(!d.complete().await.unwrap());
}
