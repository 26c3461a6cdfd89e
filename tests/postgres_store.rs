//! `PostgresStore` against a real PostgreSQL: migration, the store contract, a thousand
//! concurrent claims, purging, typed errors, and a lease handed over to a second receiver
//! instance with its own pool.
//!
//! Runs against PostgreSQL at `DATABASE_URL`, or, when it is unset, a private cluster that this
//! test binary creates and starts (see `servers/mod.rs`). Missing PostgreSQL programs fail the
//! tests with what to install; they never skip them. Each test works in its own table.

mod servers;

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use servers::{PostgresCluster, process_gone};
use sqlx::PgPool;
use webhook_receiver::dedup::{
    Claim, DedupStore, DynDedupStore, LeaseToken, PostgresStore, StoreError,
};
use webhook_receiver::providers::StandardWebhooks;
use webhook_receiver::testing::{ContractConfig, Signer, store_contract};
use webhook_receiver::{ConfigError, Outcome, Receiver, Verifier};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const BODY: &[u8] = br#"{"type":"invoice.paid"}"#;

/// A pool on the test database (`DATABASE_URL`, or this binary's own cluster), or a loud
/// failure.
async fn pool() -> PgPool {
    servers::pg_pool(16).await
}

/// A table name no other test or run uses.
fn unique_table() -> String {
    format!("wr_test_{:016x}", LeaseToken::random().get() as u64)
}

/// A migrated store in a fresh table.
async fn store() -> PostgresStore {
    let store = PostgresStore::new(pool().await)
        .with_table(&unique_table())
        .unwrap();
    store.migrate().await.expect("migrate");
    store
}

async fn drop_table(store: &PostgresStore) {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP TABLE IF EXISTS \"{}\"",
        store.table()
    )))
    .execute(store.pool())
    .await
    .unwrap();
}

async fn keys(store: &PostgresStore) -> BTreeSet<String> {
    sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(format!(
        "SELECT key FROM \"{}\"",
        store.table()
    )))
    .fetch_all(store.pool())
    .await
    .unwrap()
    .into_iter()
    .collect()
}

fn verifier() -> Verifier {
    Verifier::builder(StandardWebhooks::new())
        .secret(SECRET)
        .build()
        .unwrap()
}

fn signed(id: &str) -> http::HeaderMap {
    Signer::new(StandardWebhooks::new(), SECRET)
        .unwrap()
        .id(id)
        .sign(BODY)
        .unwrap()
}

async fn within<F: std::future::Future>(secs: u64, what: &str, future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(secs), future)
        .await
        .unwrap_or_else(|_| panic!("{what} took longer than {secs} s"))
}

#[tokio::test]
async fn postgres_store_passes_the_contract() {
    let store = store().await;
    // Migrating again (every receiver does at start-up) changes nothing.
    store.migrate().await.unwrap();
    store_contract(&store, ContractConfig::real_time()).await;

    // Through the dyn-compatible mirror, with a purge started by every claim and a grace just
    // long enough for the contract's late completion (1.5 leases).
    let busy = store
        .clone()
        .with_purge_every(1)
        .with_completion_grace(Duration::from_millis(600));
    let dynamic: Arc<dyn DynDedupStore> = Arc::new(busy);
    store_contract(&dynamic, ContractConfig::real_time()).await;
    drop_table(&store).await;
}

#[tokio::test]
async fn the_default_table_works_too() {
    let store = PostgresStore::new(pool().await);
    assert_eq!(store.table(), "webhook_receiver_dedup");
    store.migrate().await.unwrap();
    // The contract's keys are random: reruns and other users of the table do not collide.
    store_contract(&store, ContractConfig::real_time()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn a_thousand_concurrent_claims_acquire_once() {
    let first = store().await;
    // A second receiver instance: its own pool, the same table.
    let second = PostgresStore::new(pool().await)
        .with_table(first.table())
        .unwrap();
    let lease = Duration::from_secs(30);
    let acquired = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..1000 {
        let store = if i % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        let acquired = Arc::clone(&acquired);
        tasks.push(tokio::spawn(async move {
            match store.claim("evt_race", lease).await.unwrap() {
                Claim::Acquired(_) => {
                    acquired.fetch_add(1, Ordering::SeqCst);
                }
                Claim::InFlight { retry_after } => {
                    assert!(retry_after.is_none_or(|r| r <= lease), "{retry_after:?}");
                }
                Claim::Completed => panic!("nobody completed the key"),
            }
        }));
    }
    within(60, "1000 concurrent claims", async {
        for task in tasks {
            task.await.unwrap();
        }
    })
    .await;
    assert_eq!(acquired.load(Ordering::SeqCst), 1);
    assert_eq!(keys(&first).await, BTreeSet::from(["evt_race".to_owned()]));
    drop_table(&first).await;
}

#[tokio::test]
async fn in_flight_reports_the_remaining_lease_from_the_server_clock() {
    let store = store().await.with_purge_every(0);
    let lease = Duration::from_secs(30);
    let Claim::Acquired(token) = store.claim("evt", lease).await.unwrap() else {
        panic!("acquired");
    };
    let Claim::InFlight {
        retry_after: Some(left),
    } = store.claim("evt", lease).await.unwrap()
    else {
        panic!("in flight with the remaining lease");
    };
    assert!(
        left <= lease && left > lease - Duration::from_secs(5),
        "{left:?}"
    );
    // The token is stored as 16 bytes.
    let stored: Vec<u8> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT token FROM \"{}\" WHERE key = 'evt'",
        store.table()
    )))
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(stored, token.get().to_be_bytes());
    drop_table(&store).await;
}

#[tokio::test]
async fn purge_deletes_only_rows_past_their_deadline_and_grace() {
    let store = store()
        .await
        .with_purge_every(0)
        .with_completion_grace(Duration::ZERO);
    let short = Duration::from_millis(100);
    let long = Duration::from_secs(60);
    // Expired lease, live lease, expired retention, live retention.
    store.claim("lease_expired", short).await.unwrap();
    store.claim("lease_live", long).await.unwrap();
    let Claim::Acquired(t) = store.claim("done_expired", long).await.unwrap() else {
        panic!()
    };
    assert!(store.complete("done_expired", t, short).await.unwrap());
    let Claim::Acquired(t) = store.claim("done_live", long).await.unwrap() else {
        panic!()
    };
    assert!(store.complete("done_live", t, long).await.unwrap());
    tokio::time::sleep(short + Duration::from_millis(100)).await;

    // With a grace, nothing is old enough yet.
    let graceful = store.clone().with_completion_grace(Duration::from_secs(60));
    assert_eq!(graceful.purge().await.unwrap(), 0);
    assert_eq!(store.purge().await.unwrap(), 2);
    assert_eq!(
        keys(&store).await,
        BTreeSet::from(["done_live".to_owned(), "lease_live".to_owned()])
    );
    assert_eq!(store.purge().await.unwrap(), 0);

    // The background purge: every 2nd claim starts one; it removes expired rows by itself.
    let background = store.clone().with_purge_every(2);
    for i in 0..10 {
        background
            .claim(&format!("short_{i}"), Duration::from_millis(50))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut round = 0;
    loop {
        background
            .claim(&format!("trigger_{round}"), long)
            .await
            .unwrap();
        round += 1;
        let left = keys(&store)
            .await
            .into_iter()
            .filter(|k| k.starts_with("short_"))
            .count();
        if left == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the background purge left {left} expired rows after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Live rows survive it.
    assert!(keys(&store).await.contains("lease_live"));
    drop_table(&store).await;
}

#[tokio::test]
async fn errors_are_typed_and_never_show_the_password() {
    // Nothing listens: unavailable.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(1))
        .connect_lazy(&format!(
            "postgres://postgres:hunter2@127.0.0.1:{port}/test"
        ))
        .unwrap();
    let store = PostgresStore::new(dead);
    let debug = format!("{store:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(debug.contains("webhook_receiver_dedup"), "{debug}");
    let lease = Duration::from_secs(5);
    let err = within(10, "claim", store.claim("k", lease))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(!format!("{err:?} {err}").contains("hunter2"), "{err:?}");
    let err = within(
        10,
        "complete",
        store.complete("k", LeaseToken::random(), lease),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    let err = within(10, "release", store.release("k", LeaseToken::random()))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    let err = within(10, "migrate", store.migrate()).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    let err = within(10, "purge", store.purge()).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");

    // A table that was never migrated: the database's error is a backend error.
    let unmigrated = PostgresStore::new(pool().await)
        .with_table(&unique_table())
        .unwrap();
    let err = unmigrated.claim("k", lease).await.unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    let err = unmigrated
        .complete("k", LeaseToken::random(), lease)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");

    // Table names are plain identifiers, nothing else.
    for bad in [
        "",
        "Dedup",
        "1dedup",
        "dedup; DROP TABLE users",
        "de\"dup",
        "public.dedup",
        "dédup",
        &"x".repeat(49),
    ] {
        let err = PostgresStore::new(unmigrated.pool().clone())
            .with_table(bad)
            .unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::Invalid {
                    setting: "table",
                    ..
                }
            ),
            "{bad:?}: {err:?}"
        );
    }
    let ok = PostgresStore::new(unmigrated.pool().clone())
        .with_table(&"_9".repeat(24))
        .unwrap();
    assert_eq!(ok.table().len(), 48);
}

#[tokio::test]
async fn an_expired_lease_lets_another_instance_process_the_retry() {
    let lease = Duration::from_millis(300);
    let first = store().await;
    // Another receiver instance: its own pool, the same table.
    let second = PostgresStore::new(pool().await)
        .with_table(first.table())
        .unwrap();
    let build = |store| {
        Receiver::builder(verifier(), store)
            .lease(lease)
            .build()
            .unwrap()
    };
    let instance_a = build(first.clone());
    let instance_b = build(second.clone());
    let headers = signed("msg_handover");

    let Outcome::New(crashed) = instance_a.receive(&headers, BODY).await.unwrap() else {
        panic!("new on instance A");
    };
    // A's handler hangs (or its process died); the retry reaches B while the lease is live.
    assert!(matches!(
        instance_b.receive(&headers, BODY).await.unwrap(),
        Outcome::InFlight { .. }
    ));
    let key = instance_b.store_key(&verifier().verify(&headers, BODY).unwrap());
    let Claim::InFlight {
        retry_after: Some(left),
    } = second.claim(&key, lease).await.unwrap()
    else {
        panic!("in flight");
    };
    assert!(left <= lease, "{left:?}");

    tokio::time::sleep(lease + Duration::from_millis(100)).await;
    let Outcome::New(taken_over) = instance_b.receive(&headers, BODY).await.unwrap() else {
        panic!("after the lease the retry is processed by instance B");
    };
    assert!(taken_over.complete().await.unwrap());
    assert!(
        !crashed.complete().await.unwrap(),
        "A's lease was taken over"
    );
    for instance in [&instance_a, &instance_b] {
        assert!(matches!(
            instance.receive(&headers, BODY).await.unwrap(),
            Outcome::Duplicate(_)
        ));
    }
    drop_table(&first).await;
}

/// A private cluster serves the URL it reports, and leaves nothing behind when dropped:
/// stopped, its directory deleted, before `drop` returns.
#[tokio::test]
async fn a_private_cluster_serves_its_url_and_is_deleted_when_dropped() {
    let cluster = PostgresCluster::start();
    let (pid, dir) = (cluster.postmaster(), cluster.dir().to_owned());
    let pool = within(30, "connect", PgPool::connect(cluster.url()))
        .await
        .expect("connect to the private cluster");
    let user: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(user, "postgres");
    pool.close().await;
    assert!(
        dir.is_dir() && !process_gone(pid),
        "running in {}",
        dir.display()
    );
    drop(cluster);
    assert!(process_gone(pid), "postmaster {pid} still runs");
    assert!(!dir.exists(), "{} is still there", dir.display());
}

/// A private cluster leaves nothing behind when its test process dies without a chance to
/// clean up (`kill -9`): the watchdog stops it and deletes its directory.
#[test]
fn a_private_cluster_is_stopped_and_deleted_when_its_test_process_is_killed() {
    if servers::is_killed_child() {
        let cluster = PostgresCluster::start();
        servers::report_and_die(&format!(
            "{} {}",
            cluster.postmaster(),
            cluster.dir().display()
        ));
    }
    let report = servers::run_killed_child(
        "a_private_cluster_is_stopped_and_deleted_when_its_test_process_is_killed",
    );
    let (pid, dir) = report.split_once(' ').expect("<pid> <dir>");
    let (pid, dir): (u32, &std::path::Path) = (pid.parse().unwrap(), dir.as_ref());
    servers::wait_until(
        Duration::from_secs(60),
        "the killed test's postmaster stopped and its directory deleted",
        || process_gone(pid) && !dir.exists(),
    );
}

/// A key spelled like another key's stored digest (`sha256:<hex>`) is a different key: the
/// store hashes it too instead of taking it for the long key whose digest it looks like.
#[tokio::test]
async fn a_key_spelled_like_a_digest_is_not_taken_for_another_key() {
    use sha2::Digest as _;
    let store = store().await;
    let long = format!("ns:id:{}", "x".repeat(600));
    let spelled = format!(
        "sha256:{}",
        hex::encode(sha2::Sha256::digest(long.as_bytes()))
    );
    let lease = Duration::from_secs(30);
    assert!(matches!(
        store.claim(&long, lease).await.unwrap(),
        Claim::Acquired(_)
    ));
    assert!(
        matches!(
            store.claim(&spelled, lease).await.unwrap(),
            Claim::Acquired(_)
        ),
        "a different key, claimed on its own"
    );
    drop_table(&store).await;
}
