//! Inbox benchmarks on the SQLite engine, each against a baseline measured in the same run:
//!
//! * accept throughput: `Inbox::accept` against a raw `INSERT` loop with the same sqlx client and
//!   the same file settings (WAL; `synchronous` FULL and NORMAL), sequential and 16 at once;
//!   every accept comparison alternates the two for several rounds and compares medians;
//! * accept latency (p50/p99) of `InboxEndpoint::receive` (verify + accept) at concurrency
//!   1/16/64, against the verifier alone;
//! * drain throughput with 1/4/16 workers and a no-op handler (also on Redis and PostgreSQL
//!   with their features);
//! * with the feature `axum`: accept latency (p50/p99) over loopback HTTP of an axum
//!   `InboxService` route at concurrency 1/16/64, against a route on the same server answering
//!   200 without the inbox — on SQLite, and on PostgreSQL and Redis with their features;
//! * with the feature `postgres`: accept into `PostgresInbox` (unbounded, and bounded: an
//!   advisory-locked transaction) against a raw `INSERT` of the same row into an identical
//!   table, sequential and 16 at once, on loopback. PostgreSQL is `DATABASE_URL`, or a private
//!   cluster (`tests/servers/mod.rs`).
//!
//! With the `redis` feature too (`cargo bench --bench inbox --features sqlite,redis`): accept
//! throughput of `RedisInbox` against a raw `XADD` of the same fields over the same connection,
//! on `REDIS_URL` or a private `redis-server` (`tests/servers/mod.rs`).
//!
//! Run: `cargo bench --bench inbox` (a few minutes; `INBOX_BENCH=redis,drain` runs only those
//! parts: sqlite, redis, receive, http, drain, postgres). Numbers vary with the disk: FULL waits
//! for an fsync per commit.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::HeaderMap;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use webhook_receiver::Verifier;
use webhook_receiver::inbox::{HandlerError, Inbox, InboxEngine, Job, NewRecord, SqliteInbox};
use webhook_receiver::providers::StandardWebhooks;
use webhook_receiver::testing::Signer;

#[cfg(any(feature = "redis", feature = "postgres"))]
#[path = "../tests/servers/mod.rs"]
mod servers;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn body(n: usize) -> Bytes {
    Bytes::from(format!(
        r#"{{"type":"invoice.paid","data":{{"id":"in_{n}","amount":4200,"currency":"eur","lines":[1,2,3]}}}}"#
    ))
}

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("webhook-inbox-bench-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn engine(path: &Path, full: bool) -> SqliteInbox {
    let builder = SqliteInbox::builder(path);
    let builder = if full {
        builder
    } else {
        builder.synchronous_normal()
    };
    builder.open().await.unwrap()
}

/// Records per second of `n` calls of `one(i)`, `concurrency` at a time.
async fn throughput<F, Fut>(n: usize, concurrency: usize, one: F) -> f64
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let one = Arc::new(one);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (one, next) = (Arc::clone(&one), Arc::clone(&next));
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                one(i).await;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    n as f64 / started.elapsed().as_secs_f64()
}

/// Rounds of each accept comparison: the inbox and its raw baseline alternate, and the medians
/// are compared, so that a slow moment of the machine hits both alike.
const ROUNDS: usize = 9;

/// The medians of the inbox's and the baseline's rates, and the range of the rounds' ratios,
/// as printed: `inbox raw ratio (low–high)`.
fn compared(mut inbox: Vec<f64>, mut raw: Vec<f64>) -> String {
    let ratios: Vec<f64> = inbox.iter().zip(&raw).map(|(a, b)| a / b).collect();
    let low = ratios.iter().copied().fold(f64::MAX, f64::min);
    let high = ratios.iter().copied().fold(0.0, f64::max);
    let median = |rates: &mut Vec<f64>| {
        rates.sort_by(f64::total_cmp);
        rates[rates.len() / 2]
    };
    let (inbox, raw) = (median(&mut inbox), median(&mut raw));
    format!(
        "{inbox:>12.0} {raw:>12.0}   {:>5.2} ({low:.2}–{high:.2})",
        inbox / raw
    )
}

async fn accept_throughput(full: bool, n: usize, concurrency: usize) {
    let dir = Dir::new(&format!("accept-{full}-{concurrency}"));
    let inbox = Inbox::new(engine(&dir.0.join("inbox.db"), full).await);
    let bodies: Arc<Vec<Bytes>> = Arc::new((0..n).map(body).collect());

    // The baseline: the same client, file settings and one writer connection (no ping before
    // each statement, as the engine's), one INSERT.
    let options = SqliteConnectOptions::new()
        .filename(dir.0.join("raw.db"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(if full {
            SqliteSynchronous::Full
        } else {
            SqliteSynchronous::Normal
        });
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .test_before_acquire(false)
        .connect_with(options)
        .await
        .unwrap();
    sqlx::query(
        "CREATE TABLE raw (seq INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, body BLOB NOT NULL)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let (mut inbox_rates, mut raw_rates) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        inbox_rates.push({
            let (inbox, bodies) = (inbox.clone(), Arc::clone(&bodies));
            throughput(n, concurrency, move |i| {
                let (inbox, bodies) = (inbox.clone(), Arc::clone(&bodies));
                async move {
                    let key = format!("bench:id:{round}:{i}");
                    let record = NewRecord::new(key, "bench", "bench", bodies[i].clone());
                    inbox.accept(&record).await.unwrap();
                }
            })
            .await
        });
        raw_rates.push({
            let (pool, bodies) = (pool.clone(), Arc::clone(&bodies));
            throughput(n, concurrency, move |i| {
                let (pool, bodies) = (pool.clone(), Arc::clone(&bodies));
                async move {
                    sqlx::query("INSERT INTO raw (key, body) VALUES (?1, ?2)")
                        .bind(format!("bench:id:{round}:{i}"))
                        .bind(bodies[i].to_vec())
                        .execute(&pool)
                        .await
                        .unwrap();
                }
            })
            .await
        });
    }
    println!(
        "  {:<8} {:>4}   {}",
        if full { "FULL" } else { "NORMAL" },
        concurrency,
        compared(inbox_rates, raw_rates)
    );
    pool.close().await;
    inbox.engine().close().await;
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

async fn latencies<F, Fut>(n: usize, concurrency: usize, one: F) -> (Duration, Duration)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let samples = Arc::new(std::sync::Mutex::new(Vec::with_capacity(n)));
    let timed = {
        let samples = Arc::clone(&samples);
        move |i| {
            let samples = Arc::clone(&samples);
            let call = one(i);
            async move {
                let started = Instant::now();
                call.await;
                samples.lock().unwrap().push(started.elapsed());
            }
        }
    };
    throughput(n, concurrency, timed).await;
    let mut samples = samples.lock().unwrap().clone();
    samples.sort();
    (percentile(&samples, 0.5), percentile(&samples, 0.99))
}

async fn receive_latency(concurrency: usize) {
    let dir = Dir::new(&format!("latency-{concurrency}"));
    let inbox = Inbox::new(engine(&dir.0.join("inbox.db"), true).await);
    let verifier = || {
        Verifier::builder(StandardWebhooks::new())
            .secret(SECRET)
            .build()
            .unwrap()
    };
    let endpoint = inbox.endpoint(verifier()).build().unwrap();
    let n = 300 + concurrency * 10;
    let signer = Signer::new(StandardWebhooks::new(), SECRET).unwrap();
    let requests: Arc<Vec<(HeaderMap, Bytes)>> = Arc::new(
        (0..n)
            .map(|i| {
                let body = body(i);
                (
                    signer.clone().id(format!("msg_{i}")).sign(&body).unwrap(),
                    body,
                )
            })
            .collect(),
    );
    let (inbox_p50, inbox_p99) = {
        let requests = Arc::clone(&requests);
        latencies(n, concurrency, move |i| {
            let (endpoint, requests) = (endpoint.clone(), Arc::clone(&requests));
            async move {
                let (headers, body) = &requests[i];
                endpoint.receive(headers, body.clone()).await.unwrap();
            }
        })
        .await
    };
    let verifier = Arc::new(verifier());
    let (base_p50, base_p99) = latencies(n, concurrency, move |i| {
        let (verifier, requests) = (Arc::clone(&verifier), Arc::clone(&requests));
        async move {
            let (headers, body) = &requests[i];
            verifier.verify(headers, body).unwrap();
        }
    })
    .await;
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "  {:>4}   {:>9.0} {:>9.0}   {:>9.1} {:>9.1}",
        concurrency,
        us(inbox_p50),
        us(inbox_p99),
        us(base_p50),
        us(base_p99)
    );
    inbox.engine().close().await;
}

/// Records per second that `workers` workers of `inbox` process with a no-op handler, from a
/// backlog of `n` accepted records until the last is done.
async fn drain_inbox<E: InboxEngine + Clone>(inbox: Inbox<E>, workers: usize, n: usize) -> f64 {
    for i in 0..n {
        let record = NewRecord::new(format!("bench:id:{i}"), "bench", "bench", body(i));
        inbox.accept(&record).await.unwrap();
    }
    let handled = Arc::new(AtomicUsize::new(0));
    let all = Arc::new(tokio::sync::Notify::new());
    let handler = {
        let (handled, all) = (Arc::clone(&handled), Arc::clone(&all));
        move |_job: Job| {
            if handled.fetch_add(1, Ordering::SeqCst) + 1 == n {
                all.notify_one();
            }
            async { Ok::<(), HandlerError>(()) }
        }
    };
    let started = Instant::now();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(inbox.worker(handler).concurrency(workers).run(async {
        let _ = stopped.await;
    }));
    tokio::time::timeout(Duration::from_secs(300), all.notified())
        .await
        .expect("drained");
    // Done is written after the handler returns: wait for the last transitions too.
    while inbox.counts().await.unwrap().done < n as u64 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    stop.send(()).unwrap();
    worker.await.unwrap().unwrap();
    rate
}

/// Drain throughput of a SQLite inbox (`synchronous = NORMAL`).
async fn drain(workers: usize, n: usize) -> f64 {
    let dir = Dir::new(&format!("drain-{workers}"));
    let inbox = Inbox::new(engine(&dir.0.join("inbox.db"), false).await);
    let rate = drain_inbox(inbox.clone(), workers, n).await;
    inbox.engine().close().await;
    rate
}

/// Drain throughput of a Redis inbox.
#[cfg(feature = "redis")]
async fn redis_drain(workers: usize, n: usize) -> f64 {
    use webhook_receiver::inbox::RedisInbox;
    let prefix = format!("wr-bench-drain:{}:{workers}:", std::process::id());
    let engine = RedisInbox::connect(&servers::redis_url())
        .await
        .unwrap()
        .with_prefix(&prefix)
        .unwrap();
    let rate = drain_inbox(Inbox::new(engine.clone()), workers, n).await;
    redis_delete(&mut engine.connection().clone(), &prefix).await;
    rate
}

/// Drain throughput of a PostgreSQL inbox.
#[cfg(feature = "postgres")]
async fn postgres_drain(workers: usize, n: usize) -> f64 {
    use webhook_receiver::inbox::PostgresInbox;
    let pool = servers::pg_pool(20).await;
    let engine = PostgresInbox::new(pool.clone())
        .with_table(&format!("bench_drain_{workers}_{}", std::process::id()))
        .unwrap();
    engine.migrate().await.unwrap();
    let rate = drain_inbox(Inbox::new(engine.clone()), workers, n).await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP TABLE \"{}\"",
        engine.table()
    )))
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    rate
}

/// Prints drain throughput at 1, 4 and 16 workers for one engine.
async fn drain_row<F, Fut>(name: &str, n: usize, drain: F)
where
    F: Fn(usize, usize) -> Fut,
    Fut: std::future::Future<Output = f64>,
{
    let one = drain(1, n).await;
    let four = drain(4, n).await;
    let sixteen = drain(16, n).await;
    println!(
        "  {name:<10} {one:>9.0} {four:>9.0} ({:.2}×) {sixteen:>9.0} ({:.2}×)",
        four / one,
        sixteen / one
    );
}

/// `RedisInbox::accept` — unbounded (the default: a `SET NX` and an `XADD` per record in one
/// transaction) or bounded (the same with `SCARD` and `XLEN`) — against a raw `XADD` of the same fields over the same
/// connection; with the Redis server's CPU time per record of each (from `INFO cpu`), which
/// shows whether the server is what limits the rate. The two alternate for `ROUNDS` rounds
/// and the medians are compared, so that a slow moment of the machine hits both alike.
#[cfg(feature = "redis")]
async fn redis_accept_throughput(n: usize, concurrency: usize, bounded: bool) {
    use webhook_receiver::inbox::RedisInbox;

    let url = servers::redis_url();
    let prefix = format!(
        "wr-bench-inbox:{}:{concurrency}:{bounded}:",
        std::process::id()
    );
    let engine = RedisInbox::connect(&url)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "cannot reach Redis at {}: {e}",
                servers::without_password(&url)
            )
        })
        .with_prefix(&prefix)
        .unwrap();
    let builder = Inbox::builder(engine.clone());
    let builder = if bounded {
        builder.max_pending(1_000_000)
    } else {
        builder
    };
    let inbox = builder.build().unwrap();
    let bodies: Arc<Vec<Bytes>> = Arc::new((0..n).map(body).collect());
    let mut info = engine.connection().clone();
    let conn = engine.connection().clone();
    let raw_stream = format!("{prefix}raw");
    let (mut inbox_rates, mut raw_rates) = (Vec::new(), Vec::new());
    let (mut cpu_inbox, mut cpu_raw) = (0.0, 0.0);
    let (mut client_inbox, mut client_raw) = (0.0, 0.0);
    for round in 0..ROUNDS {
        let before = redis_server_cpu(&mut info).await;
        let client_before = own_cpu();
        inbox_rates.push({
            let (inbox, bodies) = (inbox.clone(), Arc::clone(&bodies));
            throughput(n, concurrency, move |i| {
                let (inbox, bodies) = (inbox.clone(), Arc::clone(&bodies));
                async move {
                    let record = NewRecord::new(
                        format!("bench:id:{round}:{i}"),
                        "bench",
                        "bench",
                        bodies[i].clone(),
                    );
                    inbox.accept(&record).await.unwrap();
                }
            })
            .await
        });
        let middle = redis_server_cpu(&mut info).await;
        let client_middle = own_cpu();
        raw_rates.push({
            let (conn, bodies, stream) = (conn.clone(), Arc::clone(&bodies), raw_stream.clone());
            throughput(n, concurrency, move |i| {
                let (mut conn, bodies, stream) =
                    (conn.clone(), Arc::clone(&bodies), stream.clone());
                async move {
                    redis::cmd("XADD")
                        .arg(&stream)
                        .arg("*")
                        .arg("key")
                        .arg(format!("bench:id:{round}:{i}"))
                        .arg("endpoint")
                        .arg("bench")
                        .arg("provider")
                        .arg("bench")
                        .arg("headers")
                        .arg("")
                        .arg("body")
                        .arg(&bodies[i][..])
                        .query_async::<String>(&mut conn)
                        .await
                        .unwrap();
                }
            })
            .await
        });
        let after = redis_server_cpu(&mut info).await;
        let client_after = own_cpu();
        cpu_inbox += middle - before;
        cpu_raw += after - middle;
        client_inbox += client_middle - client_before;
        client_raw += client_after - client_middle;
    }
    let per_record = |seconds: f64| seconds * 1e6 / (n * ROUNDS) as f64;
    println!(
        "  {:<9} {:>4}   {}   {:>7.1} {:>7.1}   {:>7.1} {:>7.1}",
        if bounded { "1000000" } else { "none" },
        concurrency,
        compared(inbox_rates, raw_rates),
        per_record(cpu_inbox),
        per_record(cpu_raw),
        per_record(client_inbox),
        per_record(client_raw),
    );
    redis_delete(&mut engine.connection().clone(), &prefix).await;
}

/// Deletes every key under `prefix`: nothing is left behind on a shared server. `DEL`, not
/// `UNLINK`, so that no background freeing competes with the next measurement.
#[cfg(feature = "redis")]
async fn redis_delete(conn: &mut redis::aio::ConnectionManager, prefix: &str) {
    let mut cursor = 0u64;
    for _ in 0..100_000 {
        let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await
            .unwrap();
        if !keys.is_empty() {
            redis::cmd("DEL")
                .arg(keys)
                .query_async::<()>(conn)
                .await
                .unwrap();
        }
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
}

/// This process's CPU time so far, user plus system, in seconds (`/proc/self/stat`; 0 where
/// there is no `/proc`).
#[cfg(feature = "redis")]
fn own_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime and stime are the 12th
    // and 13th, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// The Redis server's CPU time so far, user plus system, in seconds (`INFO cpu`).
#[cfg(feature = "redis")]
async fn redis_server_cpu(conn: &mut redis::aio::ConnectionManager) -> f64 {
    let info: String = redis::cmd("INFO")
        .arg("cpu")
        .query_async(conn)
        .await
        .unwrap();
    info.lines()
        .filter_map(|line| line.split_once(':'))
        .filter(|(name, _)| matches!(*name, "used_cpu_user" | "used_cpu_sys"))
        .map(|(_, seconds)| seconds.trim().parse::<f64>().unwrap())
        .sum()
}

/// Accepts per second into `PostgresInbox` (bounded or not) and of a raw `INSERT` of the same
/// row into an identical table (same columns and indexes), `concurrency` at a time.
#[cfg(feature = "postgres")]
async fn postgres_accept_throughput(n: usize, concurrency: usize, bounded: bool) {
    use webhook_receiver::inbox::{PostgresInbox, encode_headers};
    let pool = servers::pg_pool(20).await;
    let suffix = format!("{}_{}_{}", concurrency, bounded, std::process::id());
    let engine = PostgresInbox::new(pool.clone())
        .with_table(&format!("bench_inbox_{suffix}"))
        .unwrap();
    let raw = PostgresInbox::new(pool.clone())
        .with_table(&format!("bench_raw_{suffix}"))
        .unwrap();
    engine.migrate().await.unwrap();
    raw.migrate().await.unwrap();
    let bodies: Arc<Vec<Bytes>> = Arc::new((0..n).map(body).collect());
    let max = bounded.then_some((n * ROUNDS) as u64 * 2);
    let insert: Arc<str> = format!(
        "INSERT INTO \"{}\" (id, key, endpoint, provider, event_id, signed_at, key_label, \
         ordering_key, headers, body, status, attempts, deadline, received_at, updated_at, \
         retain_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending', 0, $11, $11, \
         $11, $12)",
        raw.table()
    )
    .into();
    let (mut inbox_rates, mut raw_rates) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        inbox_rates.push({
            let (engine, bodies) = (engine.clone(), Arc::clone(&bodies));
            throughput(n, concurrency, move |i| {
                let (engine, bodies) = (engine.clone(), Arc::clone(&bodies));
                async move {
                    let key = format!("bench:id:{round}:{i}");
                    let record = NewRecord::new(key, "bench", "bench", bodies[i].clone());
                    engine.accept(&record, max).await.unwrap();
                }
            })
            .await
        });
        raw_rates.push({
            let (pool, bodies) = (pool.clone(), Arc::clone(&bodies));
            let insert = Arc::clone(&insert);
            throughput(n, concurrency, move |i| {
                let (pool, bodies, insert) =
                    (pool.clone(), Arc::clone(&bodies), Arc::clone(&insert));
                async move {
                    let key = format!("bench:id:{round}:{i}");
                    sqlx::query(sqlx::AssertSqlSafe(insert))
                        .bind(key.clone())
                        .bind(key.into_bytes())
                        .bind("bench")
                        .bind("bench")
                        .bind(None::<String>)
                        .bind(None::<i64>)
                        .bind(None::<String>)
                        .bind(None::<String>)
                        .bind(encode_headers(&HeaderMap::new()))
                        .bind(bodies[i].to_vec())
                        .bind(1_767_225_600_000_i64)
                        .bind(86_400_000_i64)
                        .execute(&pool)
                        .await
                        .unwrap();
                }
            })
            .await
        });
    }
    println!(
        "  {:<9} {:>4}   {}",
        if bounded { "bounded" } else { "unbounded" },
        concurrency,
        compared(inbox_rates, raw_rates)
    );
    for table in [engine.table(), raw.table()] {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE \"{table}\"")))
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
}

/// p50/p99 latency of a POST over loopback HTTP (reqwest, keep-alive) to an axum
/// `InboxService` route on `inbox` — verify + durable accept + 200 — against a route on the same
/// server that reads the body and answers 200, `concurrency` requests in flight.
#[cfg(feature = "axum")]
async fn http_latency<E: webhook_receiver::inbox::InboxEngine + Clone>(
    engine: &str,
    inbox: Inbox<E>,
    concurrency: usize,
    n: usize,
) {
    use webhook_receiver::axum::InboxService;
    let verifier = Verifier::builder(StandardWebhooks::new())
        .secret(SECRET)
        .build()
        .unwrap();
    let endpoint = inbox.endpoint(verifier).namespace("bench").build().unwrap();
    let app = axum::Router::new()
        .route(
            "/inbox",
            axum::routing::post_service(InboxService::new(endpoint)),
        )
        .route(
            "/bare",
            axum::routing::post(|body: Bytes| async move {
                std::hint::black_box(body.len());
                http::StatusCode::OK
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let run = std::process::id() as usize * 1000 + concurrency;
    let signer = Signer::new(StandardWebhooks::new(), SECRET).unwrap();
    let requests: Arc<Vec<(HeaderMap, Bytes)>> = Arc::new(
        (0..n)
            .map(|i| {
                let body = body(i);
                let id = format!("msg_http_{engine}_{run}_{i}");
                (signer.clone().id(id).sign(&body).unwrap(), body)
            })
            .collect(),
    );
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let post = |path: &'static str| {
        let (client, requests) = (client.clone(), Arc::clone(&requests));
        move |i: usize| {
            let (client, requests) = (client.clone(), Arc::clone(&requests));
            async move {
                let (headers, body) = &requests[i];
                let answer = client
                    .post(format!("http://{addr}{path}"))
                    .headers(headers.clone())
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(answer.status(), 200, "{path}");
            }
        }
    };
    // Warm both routes' connections.
    latencies(concurrency.min(n), concurrency, post("/bare")).await;
    let (bare_p50, bare_p99) = latencies(n, concurrency, post("/bare")).await;
    let (inbox_p50, inbox_p99) = latencies(n, concurrency, post("/inbox")).await;
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "  {engine:<9} {concurrency:>4}   {:>9.0} {:>9.0}   {:>9.0} {:>9.0}   {:>5.2}",
        us(inbox_p50),
        us(inbox_p99),
        us(bare_p50),
        us(bare_p99),
        us(inbox_p50) / us(bare_p50)
    );
    server.abort();
}

/// [`http_latency`] on each engine this build has, at concurrency 1, 16 and 64.
#[cfg(feature = "axum")]
async fn http_latencies(scale: usize) {
    println!(
        "\naccept latency over HTTP (µs), axum InboxService (verify + durable accept) vs a route answering 200:"
    );
    println!(
        "  {:<9} {:>4}   {:>9} {:>9}   {:>9} {:>9}   {:>5}",
        "engine", "conc", "p50", "p99", "bare p50", "p99", "p50 ×"
    );
    for concurrency in [1, 16, 64] {
        let n = (400 + concurrency * 20) / scale.min(10);
        let dir = Dir::new(&format!("http-{concurrency}"));
        let inbox = Inbox::new(engine(&dir.0.join("inbox.db"), true).await);
        http_latency("sqlite", inbox.clone(), concurrency, n).await;
        inbox.engine().close().await;
        #[cfg(feature = "postgres")]
        {
            use webhook_receiver::inbox::PostgresInbox;
            let pool = servers::pg_pool(70).await;
            let table = format!("bench_http_{concurrency}_{}", std::process::id());
            let engine = PostgresInbox::new(pool.clone()).with_table(&table).unwrap();
            engine.migrate().await.unwrap();
            http_latency("postgres", Inbox::new(engine), concurrency, n).await;
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE \"{table}\"")))
                .execute(&pool)
                .await
                .unwrap();
        }
        #[cfg(feature = "redis")]
        {
            use webhook_receiver::inbox::RedisInbox;
            let prefix = format!("wr-bench-http:{}:{concurrency}:", std::process::id());
            let engine = RedisInbox::connect(&servers::redis_url())
                .await
                .unwrap()
                .with_prefix(&prefix)
                .unwrap();
            http_latency("redis", Inbox::new(engine.clone()), concurrency, n).await;
            let mut conn = engine.connection().clone();
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(format!("{prefix}*"))
                .query_async(&mut conn)
                .await
                .unwrap();
            for chunk in keys.chunks(500) {
                let _: () = redis::cmd("DEL")
                    .arg(chunk)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
            }
        }
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run a tiny smoke.
    let quick = !std::env::args().any(|a| a == "--bench");
    let scale = if quick { 20 } else { 1 };
    // `INBOX_BENCH=redis,postgres` runs only those parts (sqlite, redis, receive, http, drain,
    // postgres); unset runs all.
    let only = std::env::var("INBOX_BENCH").ok();
    let part = |name: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|p| p.trim() == name))
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        if part("sqlite") {
        println!("accept throughput (records/s), SQLite file, inbox accept vs raw INSERT, same client:");
        println!("  (medians of {ROUNDS} alternating rounds; the ratio's range over the rounds)");
        println!("  {:<8} {:>4}   {:>12} {:>12}   {:>17}", "sync", "conc", "inbox", "raw INSERT", "ratio");
        accept_throughput(true, 1000 / scale, 1).await;
        accept_throughput(true, 1000 / scale, 16).await;
        accept_throughput(false, 5000 / scale, 1).await;
        accept_throughput(false, 5000 / scale, 16).await;
        }
        #[cfg(feature = "redis")]
        if part("redis") {
            println!("\naccept throughput (records/s), RedisInbox accept vs raw XADD of the same fields, same connection:");
            println!("  (medians of {ROUNDS} alternating rounds; the ratio's range over the rounds)");
            println!(
                "  {:<9} {:>4}   {:>12} {:>12}   {:>17}   {:>15}   {:>15}",
                "bound", "conc", "inbox", "raw XADD", "ratio", "server µs/rec", "client µs/rec"
            );
            println!("  {:<9} {:>4}   {:>12} {:>12}   {:>17}   {:>7} {:>7}   {:>7} {:>7}", "", "", "", "", "", "inbox", "raw", "inbox", "raw");
            for bounded in [false, true] {
                redis_accept_throughput(8000 / scale, 1, bounded).await;
                redis_accept_throughput(50000 / scale, 16, bounded).await;
            }
        }
        if part("receive") {
        println!("\naccept latency (µs), InboxEndpoint::receive (verify + durable accept, FULL) vs verify alone:");
        println!("  {:>4}   {:>9} {:>9}   {:>9} {:>9}", "conc", "p50", "p99", "verify p50", "p99");
        for concurrency in [1, 16, 64] {
            receive_latency(concurrency).await;
        }
        }
        #[cfg(feature = "axum")]
        if part("http") {
            http_latencies(scale).await;
        }
        if part("drain") {
            println!("\ndrain throughput (records/s), no-op handler (SQLite: synchronous NORMAL):");
            println!("  {:<10} {:>9} {:>18} {:>18}", "engine", "1 worker", "4 workers", "16 workers");
            let n = 3000 / scale;
            drain_row("sqlite", n, drain).await;
            #[cfg(feature = "redis")]
            drain_row("redis", n, redis_drain).await;
            #[cfg(feature = "postgres")]
            drain_row("postgres", n, postgres_drain).await;
        }
        #[cfg(feature = "postgres")]
        if part("postgres") {
            println!("\naccept throughput (records/s), PostgresInbox accept vs raw INSERT of the same row:");
            println!("  (medians of {ROUNDS} alternating rounds; the ratio's range over the rounds)");
            println!("  {:<9} {:>4}   {:>12} {:>12}   {:>17}", "bound", "conc", "inbox", "raw INSERT", "ratio");
            for bounded in [false, true] {
                postgres_accept_throughput(2000 / scale, 1, bounded).await;
                postgres_accept_throughput(4000 / scale, 16, bounded).await;
            }
        }
    });
}
