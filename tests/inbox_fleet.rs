//! A fleet on the inbox, over real HTTP: two axum receivers (`axum::InboxService`) on loopback,
//! each with its own connection to one shared engine — PostgreSQL, then Redis — and four
//! workers (two per instance) draining it while the deliveries arrive.
//!
//! 10 000 signed Standard Webhooks deliveries: 7 000 distinct events and 3 000 resends of them
//! (30 %), shuffled, spread over both receivers, 32 in flight. Every request is answered 200,
//! each distinct event is stored once (exactly 7 000 answers say "accepted"), and every event is
//! handled. On PostgreSQL the handler runs in the transactional mode and writes one effect row
//! through the worker's transaction: exactly 7 000 rows, one per event. On Redis the handler
//! counts its runs: one per event.
//!
//! Runs against `DATABASE_URL` / `REDIS_URL`, or private servers this binary starts (see
//! `servers/mod.rs`); a missing server program fails the tests, it never skips them.

mod servers;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderValue};
use webhook_receiver::Verifier;
use webhook_receiver::axum::InboxService;
use webhook_receiver::dedup::LeaseToken;
use webhook_receiver::inbox::{
    Handler, HandlerError, Inbox, InboxEngine, InboxTransaction, Job, PostgresInbox, RedisInbox,
    WorkerReport,
};
use webhook_receiver::providers::StandardWebhooks;
use webhook_receiver::testing::Signer;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const DISTINCT: usize = 7_000;
const RESENDS: usize = 3_000;
const IN_FLIGHT: usize = 32;
/// Every phase ends within this, or the test fails.
const BOUND: Duration = Duration::from_secs(300);

/// One signed delivery: its event id, headers and body.
struct Delivery {
    id: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// The 10 000 requests: each distinct event once, plus resends of 3 000 of them (the same
/// headers and body, as a sender's retry), shuffled with a fixed seed.
fn deliveries() -> Vec<Arc<Delivery>> {
    let signer = Signer::new(StandardWebhooks::new(), SECRET).unwrap();
    let distinct: Vec<Arc<Delivery>> = (0..DISTINCT)
        .map(|i| {
            let id = format!("msg_fleet_{i:05}");
            let body = format!(r#"{{"type":"invoice.paid","data":{{"n":{i}}}}}"#).into_bytes();
            let mut headers = signer.clone().id(&id).sign(&body).unwrap();
            headers.insert("content-type", HeaderValue::from_static("application/json"));
            Arc::new(Delivery { id, headers, body })
        })
        .collect();
    let mut all = distinct.clone();
    all.extend((0..RESENDS).map(|i| Arc::clone(&distinct[(i * 7 + 3) % DISTINCT])));
    // Fisher–Yates with a small LCG: the same order every run.
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    for i in (1..all.len()).rev() {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        let j = (state >> 33) as usize % (i + 1);
        all.swap(i, j);
    }
    all
}

/// Serves `inbox`'s endpoint at `/hooks` on a loopback port.
fn serve<E: InboxEngine + Clone>(inbox: &Inbox<E>) -> SocketAddr {
    let verifier = Verifier::builder(StandardWebhooks::new())
        .secret(SECRET)
        .build()
        .unwrap();
    let endpoint = inbox.endpoint(verifier).namespace("fleet").build().unwrap();
    let app = axum::Router::new().route(
        "/hooks",
        axum::routing::post_service(InboxService::new(endpoint)),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// What the senders saw.
#[derive(Debug, Default)]
struct Sent {
    accepted: usize,
    already: usize,
    other: Vec<(u16, String)>,
}

/// Sends every delivery, `IN_FLIGHT` at a time, each to one of `receivers` (chosen by a fixed
/// pseudo-random sequence, so an event and its resend often reach different instances).
async fn send_all(receivers: [SocketAddr; 2], deliveries: Vec<Arc<Delivery>>) -> Sent {
    let deliveries = Arc::new(deliveries);
    let next = Arc::new(AtomicUsize::new(0));
    let sent = Arc::new(Mutex::new(Sent::default()));
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..IN_FLIGHT {
        let (deliveries, next, sent, client) = (
            Arc::clone(&deliveries),
            Arc::clone(&next),
            Arc::clone(&sent),
            client.clone(),
        );
        senders.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(delivery) = deliveries.get(i) else {
                    return;
                };
                let addr = receivers[(i.wrapping_mul(2_654_435_761) >> 7) % 2];
                let answer = client
                    .post(format!("http://{addr}/hooks"))
                    .headers(delivery.headers.clone())
                    .body(delivery.body.clone())
                    .timeout(Duration::from_secs(30))
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("sending {}: {e}", delivery.id));
                let status = answer.status().as_u16();
                let text = answer.text().await.unwrap_or_default();
                let mut sent = sent.lock().unwrap();
                match (status, text.trim()) {
                    (200, "accepted") => sent.accepted += 1,
                    (200, "already accepted") => sent.already += 1,
                    _ => sent.other.push((status, text)),
                }
            }
        });
    }
    tokio::time::timeout(BOUND, async {
        while let Some(joined) = senders.join_next().await {
            joined.unwrap();
        }
    })
    .await
    .expect("the senders finished in time");
    Arc::try_unwrap(sent).unwrap().into_inner().unwrap()
}

/// Runs the fleet: two receivers on `instances`, two workers per instance running `handler`
/// (each handling two records at a time) while all deliveries are sent, until every distinct
/// event is done. Returns what the senders saw and the workers' reports.
async fn run_fleet<E, H>(instances: [Inbox<E>; 2], handler: H) -> (Sent, Vec<WorkerReport>)
where
    E: InboxEngine + Clone,
    H: Handler + Clone,
{
    let receivers = [serve(&instances[0]), serve(&instances[1])];
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut workers = Vec::new();
    for inbox in instances
        .iter()
        .flat_map(|inbox| [inbox.clone(), inbox.clone()])
    {
        let mut stopped = stopped.clone();
        let worker = inbox
            .worker(handler.clone())
            .concurrency(2)
            .poll_interval(Duration::from_millis(20))
            .run(async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            });
        workers.push(tokio::spawn(worker));
    }
    let started = Instant::now();
    let sent = send_all(receivers, deliveries()).await;
    let sending = started.elapsed();
    let deadline = Instant::now() + BOUND;
    loop {
        let counts = instances[0].counts().await.unwrap();
        if counts.done == DISTINCT as u64 {
            assert_eq!(
                (counts.pending, counts.running, counts.dead),
                (0, 0, 0),
                "{counts:?}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the workers did not finish: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "fleet: {} requests sent in {sending:?}, all {DISTINCT} events done after {:?}",
        DISTINCT + RESENDS,
        started.elapsed()
    );
    stop.send(true).unwrap();
    let mut reports = Vec::new();
    for worker in workers {
        reports.push(worker.await.unwrap().unwrap());
    }
    (sent, reports)
}

/// What every fleet must show, whatever the engine.
fn check(sent: &Sent, reports: &[WorkerReport]) {
    assert!(
        sent.other.is_empty(),
        "every request is answered 200: {:?}",
        &sent.other[..sent.other.len().min(5)]
    );
    assert_eq!(sent.accepted, DISTINCT, "each event stored exactly once");
    assert_eq!(sent.already, RESENDS, "every resend recognised");
    let done: u64 = reports.iter().map(|r| r.done).sum();
    assert_eq!(done, DISTINCT as u64, "{reports:?}");
    assert!(
        reports.iter().filter(|r| r.done > 0).count() >= 2,
        "work spread over the workers: {reports:?}"
    );
    for report in reports {
        assert_eq!(
            (report.retried, report.dead, report.lost, report.unsettled),
            (0, 0, 0, 0),
            "{report:?}"
        );
    }
}

fn unique(what: &str) -> String {
    format!(
        "{what}_{:012x}",
        LeaseToken::random().get() as u64 & 0xffff_ffff_ffff
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_receivers_sharing_postgres_store_every_event_once_and_write_its_effect_once() {
    let pool = || servers::pg_pool(16);
    let table = unique("wr_fleet_inbox");
    let effects = unique("wr_fleet_effects");
    let (pool_a, pool_b) = (pool().await, pool().await);
    // No unique constraint: a second write of one event's effect would show as a second row.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE \"{effects}\" (key text NOT NULL, event_id text NOT NULL)"
    )))
    .execute(&pool_a)
    .await
    .unwrap();
    let engine_a = PostgresInbox::new(pool_a.clone())
        .with_table(&table)
        .unwrap();
    let engine_b = PostgresInbox::new(pool_b).with_table(&table).unwrap();
    engine_a.migrate().await.unwrap();
    engine_b.migrate().await.unwrap();

    let insert: Arc<str> =
        format!("INSERT INTO \"{effects}\" (key, event_id) VALUES ($1, $2)").into();
    let handler = engine_a.transactional(move |job: Job, mut tx: InboxTransaction| {
        let insert = Arc::clone(&insert);
        async move {
            let event_id = job.meta().event_id.clone().unwrap_or_default();
            sqlx::query(sqlx::AssertSqlSafe(insert))
                .bind(job.key().to_owned())
                .bind(event_id)
                .execute(&mut *tx)
                .await?;
            Ok::<(), HandlerError>(())
        }
    });
    let instances = [Inbox::new(engine_a.clone()), Inbox::new(engine_b.clone())];
    let (sent, reports) = run_fleet(instances, handler).await;
    check(&sent, &reports);

    let (rows, events): (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT count(*), count(DISTINCT event_id) FROM \"{effects}\""
    )))
    .fetch_one(&pool_a)
    .await
    .unwrap();
    assert_eq!(
        (rows, events),
        (DISTINCT as i64, DISTINCT as i64),
        "one effect row per event, none twice"
    );
    for name in [&table, &effects] {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE \"{name}\"")))
            .execute(&pool_a)
            .await
            .unwrap();
    }
}

/// A handler that counts its runs per event id.
#[derive(Clone, Default)]
struct Counting(Arc<Mutex<HashMap<String, usize>>>);

impl Handler for Counting {
    fn handle(&self, job: Job) -> impl Future<Output = Result<(), HandlerError>> + Send + 'static {
        let runs = Arc::clone(&self.0);
        async move {
            let id = job.meta().event_id.clone().unwrap_or_default();
            *runs.lock().unwrap().entry(id).or_default() += 1;
            Ok(())
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_receivers_sharing_redis_store_every_event_once_and_handle_it_once() {
    let url = servers::redis_url();
    let prefix = format!("{}:", unique("wr-fleet-inbox"));
    let connect = || async {
        RedisInbox::connect(&url)
            .await
            .unwrap_or_else(|e| servers::redis_unreachable(&url, &e))
            .with_prefix(&prefix)
            .unwrap()
    };
    let (engine_a, engine_b) = (connect().await, connect().await);
    let counting = Counting::default();
    let instances = [Inbox::new(engine_a), Inbox::new(engine_b)];
    let (sent, reports) = run_fleet(instances, counting.clone()).await;
    check(&sent, &reports);

    let runs = counting.0.lock().unwrap();
    assert_eq!(runs.len(), DISTINCT, "every distinct event handled");
    let twice: Vec<_> = runs.iter().filter(|(_, n)| **n != 1).take(5).collect();
    assert!(twice.is_empty(), "handled more than once: {twice:?}");
    for i in [0, DISTINCT / 2, DISTINCT - 1] {
        assert!(runs.contains_key(&format!("msg_fleet_{i:05}")));
    }
}
