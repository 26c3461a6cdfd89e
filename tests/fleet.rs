//! A fleet: two axum receivers on loopback sharing one Redis (then one PostgreSQL). 1000
//! deliveries of 100 distinct events spread over both, with duplicates and concurrency, as a
//! sender that retries on 409 would send them: every event's handler runs exactly once. And a
//! lease that expires on one instance (its handler hangs, as if the process died) lets the other
//! instance process the retry.
//!
//! Runs against Redis at `REDIS_URL` and PostgreSQL at `DATABASE_URL`, or, for each that is
//! unset, a private server this test binary starts (see `servers/mod.rs`). A missing server
//! program fails the tests with what to install; it never skips them.

mod servers;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use http::HeaderMap;
use servers::{redis_url, without_password};
use webhook_receiver::axum::{VerifiedBody, WebhookLayer};
use webhook_receiver::dedup::{DedupStore, LeaseToken, PostgresStore, RedisStore};
use webhook_receiver::providers::StandardWebhooks;
use webhook_receiver::testing::Signer;
use webhook_receiver::{Receiver, Verifier};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Handler runs per event id, across every instance of the fleet.
#[derive(Default)]
struct Ledger {
    runs: Mutex<HashMap<String, usize>>,
}

/// Starts one receiver instance on loopback. If `hangs`, its handler never finishes (a worker
/// that died mid-handler, its connection still open); otherwise it takes a few milliseconds, so
/// that duplicates overlap.
async fn instance<St: DedupStore>(
    store: St,
    ledger: Arc<Ledger>,
    lease: Duration,
    hangs: bool,
) -> SocketAddr {
    let verifier = Verifier::builder(StandardWebhooks::new())
        .secret(SECRET)
        .build()
        .unwrap();
    let receiver = Receiver::builder(verifier, store)
        .lease(lease)
        .build()
        .unwrap();
    let handler = move |body: VerifiedBody| {
        let ledger = Arc::clone(&ledger);
        async move {
            let id = body.verified.event_id().unwrap().into_owned();
            *ledger.runs.lock().unwrap().entry(id).or_default() += 1;
            if hangs {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
            StatusCode::OK
        }
    };
    let app = Router::new().route("/hook", post(handler).layer(WebhookLayer::new(receiver)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A sender: posts the delivery, and on 409 waits and retries (bounded), as providers do.
async fn deliver(
    client: &reqwest::Client,
    addr: SocketAddr,
    headers: &HeaderMap,
    body: &[u8],
) -> u16 {
    for _ in 0..200 {
        let status = client
            .post(format!("http://{addr}/hook"))
            .headers(headers.clone())
            .body(body.to_vec())
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        if status != 409 {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    409
}

async fn thousand_deliveries_of_a_hundred_events(
    a: SocketAddr,
    b: SocketAddr,
    ledger: &Ledger,
    run: &str,
) {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let signer = Signer::new(StandardWebhooks::new(), SECRET).unwrap();
    let mut deliveries = Vec::new();
    for event in 0..100 {
        let id = format!("msg_{run}_{event}");
        let body = format!(r#"{{"event":{event}}}"#).into_bytes();
        for copy in 0..10 {
            // Each copy is a fresh signature (a sender's retry), same id.
            let headers = signer.clone().id(id.clone()).sign(&body).unwrap();
            let addr = if (event + copy) % 2 == 0 { a } else { b };
            deliveries.push((addr, headers, body.clone()));
        }
    }
    // Interleave events so copies of one event run concurrently on both instances.
    deliveries.sort_by_key(|(_, h, _)| h["webhook-signature"].as_bytes().to_vec());
    let deliveries = Arc::new(deliveries);
    let mut tasks = Vec::new();
    for worker in 0..50 {
        let (client, deliveries) = (client.clone(), Arc::clone(&deliveries));
        tasks.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            let mut i = worker;
            while i < deliveries.len() {
                let (addr, headers, body) = &deliveries[i];
                statuses.push(deliver(&client, *addr, headers, body).await);
                i += 50;
            }
            statuses
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.extend(task.await.unwrap());
    }
    assert_eq!(statuses.len(), 1000);
    assert!(
        statuses.iter().all(|&s| s == 200),
        "every delivery ends in 200: {statuses:?}"
    );
    let runs = ledger.runs.lock().unwrap();
    let ours: Vec<_> = runs.iter().filter(|(k, _)| k.contains(run)).collect();
    assert_eq!(ours.len(), 100, "every event was processed");
    for (id, n) in ours {
        assert_eq!(*n, 1, "event {id} ran {n} times");
    }
}

fn run_id() -> String {
    format!("{:016x}", LeaseToken::random().get() as u64)
}

/// A store on the shared Redis under `prefix`, or a loud failure.
async fn redis_store(prefix: &str) -> RedisStore {
    let url = redis_url();
    let connect = tokio::time::timeout(Duration::from_secs(30), RedisStore::connect(&url));
    match connect.await {
        Ok(Ok(store)) => store.with_prefix(prefix),
        Ok(Err(e)) => panic!("cannot reach Redis at {}: {e:?}", without_password(&url)),
        Err(_) => panic!("cannot reach Redis at {}: 30 s", without_password(&url)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_sharing_redis_process_each_event_once() {
    let prefix = format!("fleet-test:{}:", run_id());
    let connect = || redis_store(&prefix);
    let ledger = Arc::new(Ledger::default());
    let lease = Duration::from_secs(30);
    let a = instance(connect().await, Arc::clone(&ledger), lease, false).await;
    let b = instance(connect().await, Arc::clone(&ledger), lease, false).await;
    thousand_deliveries_of_a_hundred_events(a, b, &ledger, &run_id()).await;
}

async fn postgres_store(table: &str) -> PostgresStore {
    let pool = servers::pg_pool(8).await;
    let store = PostgresStore::new(pool).with_table(table).unwrap();
    store.migrate().await.unwrap();
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_sharing_postgres_process_each_event_once() {
    let table = format!("fleet_test_{}", run_id());
    let ledger = Arc::new(Ledger::default());
    let lease = Duration::from_secs(30);
    let store_a = postgres_store(&table).await;
    let a = instance(store_a.clone(), Arc::clone(&ledger), lease, false).await;
    let b = instance(
        postgres_store(&table).await,
        Arc::clone(&ledger),
        lease,
        false,
    )
    .await;
    thousand_deliveries_of_a_hundred_events(a, b, &ledger, &run_id()).await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP TABLE IF EXISTS \"{table}\""
    )))
    .execute(store_a.pool())
    .await
    .unwrap();
}

async fn lease_handover<St: DedupStore>(a_store: St, b_store: St) {
    let ledger = Arc::new(Ledger::default());
    let lease = Duration::from_millis(800);
    let a = instance(a_store, Arc::clone(&ledger), lease, true).await;
    let b = instance(b_store, Arc::clone(&ledger), lease, false).await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let id = format!("msg_hang_{}", run_id());
    let body = br#"{"mode":"hang"}"#;
    let signer = Signer::new(StandardWebhooks::new(), SECRET)
        .unwrap()
        .id(id.clone());
    // Instance A takes the delivery and never finishes; its connection stays open.
    let stuck = {
        let (client, headers) = (client.clone(), signer.clone().sign(body).unwrap());
        tokio::spawn(async move {
            client
                .post(format!("http://{a}/hook"))
                .headers(headers)
                .body(body.to_vec())
                .send()
                .await
        })
    };
    for _ in 0..500 {
        if ledger.runs.lock().unwrap().contains_key(&id) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        ledger.runs.lock().unwrap().contains_key(&id),
        "instance A's handler started"
    );
    // While A's lease runs, B answers 409.
    let early = client
        .post(format!("http://{b}/hook"))
        .headers(signer.clone().sign(body).unwrap())
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(early.status(), 409);
    // After the lease, B processes the sender's retry.
    tokio::time::sleep(lease + Duration::from_millis(200)).await;
    let retry = client
        .post(format!("http://{b}/hook"))
        .headers(signer.sign(body).unwrap())
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(retry.status(), 200);
    assert_eq!(
        ledger.runs.lock().unwrap().get(&id).copied(),
        Some(2),
        "A ran it and hung; after A's lease expired, B processed the retry"
    );
    assert!(!stuck.is_finished(), "A's handler is still hanging");
    stuck.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_expiring_on_one_redis_instance_lets_the_other_process_the_retry() {
    let prefix = format!("fleet-lease:{}:", run_id());
    lease_handover(redis_store(&prefix).await, redis_store(&prefix).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_expiring_on_one_postgres_instance_lets_the_other_process_the_retry() {
    let table = format!("fleet_lease_{}", run_id());
    let a = postgres_store(&table).await;
    let b = postgres_store(&table).await;
    let pool = a.pool().clone();
    lease_handover(a, b).await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP TABLE IF EXISTS \"{table}\""
    )))
    .execute(&pool)
    .await
    .unwrap();
}
