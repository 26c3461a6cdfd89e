//! What a flood of unsigned 1 MiB bodies costs the server, with and without a rate limiter in
//! front of the webhook layer.
//!
//! One axum server on loopback (its own Tokio runtime, threads named `flood-server`), one
//! client (another runtime) posting 1 MiB bodies with a syntactically valid but forged GitHub
//! signature — the costly kind of junk: the layer reads the whole body and computes an
//! HMAC-SHA256 over it before answering 401 — from `CONCURRENCY` connections as fast as it can,
//! for `PHASE` per route, in interleaved rounds:
//!
//! - `open`: `WebhookLayer` alone;
//! - `limited`: `EdgeLayer` (client address from the connection) → `tower_governor`, keyed by
//!   the resolved client (10 requests/s, burst 10) → `WebhookLayer`.
//!
//! Printed per route: requests answered per second (by status; "closed" counts requests the
//! server answered 429 without reading their body, whose connection then closed under the
//! client's upload), verifications per second, and the server's CPU time — per request and in
//! cores busy — read from `/proc/self/task/*/stat` (Linux; 10 ms clock ticks) for the server's
//! threads only. The ratios at the end are what the limiter saves.
//!
//! Run: `cargo bench --bench flood`.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::Request;
use axum::middleware::{Next, from_fn};
use axum::routing::post;
use http::HeaderMap;
use tower_governor::GovernorLayer;
use tower_governor::governor::GovernorConfigBuilder;
use tower_governor::key_extractor::KeyExtractor;
use webhook_receiver::axum::{EdgeLayer, VerifiedBody, WebhookLayer};
use webhook_receiver::dedup::MemoryStore;
use webhook_receiver::edge::{ClientIp, EdgePolicy};
use webhook_receiver::providers::GitHub;
use webhook_receiver::{Receiver, Verifier};

const BODY: usize = 1 << 20;
const CONCURRENCY: usize = 8;
const PHASE: Duration = Duration::from_secs(3);
const ROUNDS: usize = 3;
const SERVER_THREADS: &str = "flood-server";

#[derive(Clone)]
struct ByClientIp;

impl KeyExtractor for ByClientIp {
    type Key = IpAddr;

    fn extract<T>(&self, req: &http::Request<T>) -> Result<IpAddr, tower_governor::GovernorError> {
        req.extensions()
            .get::<ClientIp>()
            .map(ClientIp::limit_key)
            .ok_or(tower_governor::GovernorError::UnableToExtractKey)
    }
}

fn receiver() -> Receiver {
    let verifier = Verifier::builder(GitHub::new())
        .secret("flood bench secret")
        .body_limit(BODY)
        .build()
        .expect("valid config");
    Receiver::new(verifier, MemoryStore::new())
}

/// Requests that reached a webhook layer (and so were verified).
static VERIFIED: AtomicUsize = AtomicUsize::new(0);

async fn count(req: Request, next: Next) -> axum::response::Response {
    VERIFIED.fetch_add(1, Ordering::Relaxed);
    next.run(req).await
}

fn app() -> Router {
    let handler = |_: VerifiedBody| async { "ok" };
    let governor = GovernorConfigBuilder::default()
        .key_extractor(ByClientIp)
        .per_millisecond(100)
        .burst_size(10)
        .finish()
        .expect("valid governor config");
    let limiter = Arc::new(governor);
    let cleanup = Arc::clone(&limiter);
    // Forget idle keys now and then, as tower_governor recommends.
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(60)).await;
            cleanup.limiter().retain_recent();
        }
    });
    Router::new()
        .route(
            "/open",
            post(handler).layer(
                tower::ServiceBuilder::new()
                    .layer(from_fn(count))
                    .layer(WebhookLayer::new(receiver())),
            ),
        )
        .route(
            "/limited",
            post(handler).layer(
                tower::ServiceBuilder::new()
                    .layer(EdgeLayer::new(EdgePolicy::default()))
                    .layer(GovernorLayer::new(limiter))
                    .layer(from_fn(count))
                    .layer(WebhookLayer::new(receiver())),
            ),
        )
}

/// CPU time (user + system) of this process's threads whose name starts with `prefix`, or
/// `None` where `/proc` is not there.
fn cpu_of_threads(prefix: &str) -> Option<Duration> {
    const TICK: Duration = Duration::from_millis(10); // USER_HZ is 100 on Linux
    let mut ticks = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let Ok(stat) = std::fs::read_to_string(task.ok()?.path().join("stat")) else {
            continue; // the thread ended
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if !stat[open + 1..close].starts_with(prefix) {
            continue;
        }
        // After the name: state, ppid, … utime is the 12th field, stime the 13th.
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        let utime: u64 = fields.get(11)?.parse().ok()?;
        let stime: u64 = fields.get(12)?.parse().ok()?;
        ticks += utime + stime;
    }
    Some(TICK * u32::try_from(ticks).ok()?)
}

#[derive(Default, Clone)]
struct Phase {
    wall: Duration,
    server_cpu: Option<Duration>,
    verified: usize,
    /// Status code (0: the connection closed before an answer was read) → count.
    outcomes: BTreeMap<u16, usize>,
}

impl Phase {
    fn requests(&self) -> usize {
        self.outcomes.values().sum()
    }

    fn per_second(&self, n: usize) -> f64 {
        n as f64 / self.wall.as_secs_f64()
    }

    fn cpu_per_request(&self) -> Option<Duration> {
        Some(self.server_cpu? / u32::try_from(self.requests().max(1)).ok()?)
    }
}

async fn flood(client: &reqwest::Client, url: &str, body: &Bytes, forged: &HeaderMap) -> Phase {
    let verified_before = VERIFIED.load(Ordering::Relaxed);
    let cpu_before = cpu_of_threads(SERVER_THREADS);
    let start = Instant::now();
    let deadline = start + PHASE;
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let (client, url, body, forged) =
            (client.clone(), url.to_owned(), body.clone(), forged.clone());
        tasks.push(tokio::spawn(async move {
            let mut outcomes = BTreeMap::<u16, usize>::new();
            while Instant::now() < deadline {
                let sent = client
                    .post(&url)
                    .headers(forged.clone())
                    .body(body.clone())
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await;
                let status = match sent {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let _ = response.bytes().await;
                        status
                    }
                    Err(_) => 0,
                };
                *outcomes.entry(status).or_default() += 1;
            }
            outcomes
        }));
    }
    let mut phase = Phase::default();
    for task in tasks {
        for (status, n) in task.await.expect("client task") {
            *phase.outcomes.entry(status).or_default() += n;
        }
    }
    phase.wall = start.elapsed();
    phase.verified = VERIFIED.load(Ordering::Relaxed) - verified_before;
    phase.server_cpu = match (cpu_before, cpu_of_threads(SERVER_THREADS)) {
        (Some(before), Some(after)) => Some(after.saturating_sub(before)),
        _ => None,
    };
    phase
}

fn sum(phases: &[Phase]) -> Phase {
    let mut total = Phase::default();
    for p in phases {
        total.wall += p.wall;
        total.verified += p.verified;
        total.server_cpu = match (total.server_cpu.or(Some(Duration::ZERO)), p.server_cpu) {
            (Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
        for (status, n) in &p.outcomes {
            *total.outcomes.entry(*status).or_default() += n;
        }
    }
    total
}

fn describe(name: &str, p: &Phase) {
    let outcomes: Vec<String> = p
        .outcomes
        .iter()
        .map(|(status, n)| {
            let label = if *status == 0 {
                "closed".to_owned()
            } else {
                status.to_string()
            };
            format!("{label}: {:.0}/s", p.per_second(*n))
        })
        .collect();
    println!(
        "  {name:<8} {:>7.1} req/s answered ({}), {:>6.1} verifications/s",
        p.per_second(p.requests()),
        outcomes.join(", "),
        p.per_second(p.verified),
    );
    match (p.server_cpu, p.cpu_per_request()) {
        (Some(cpu), Some(per)) => println!(
            "           server CPU {:.2} s over {:.1} s: {:.2} cores busy, {:.0} µs per request",
            cpu.as_secs_f64(),
            p.wall.as_secs_f64(),
            cpu.as_secs_f64() / p.wall.as_secs_f64(),
            per.as_secs_f64() * 1e6,
        ),
        _ => println!("           server CPU: n/a (no /proc)"),
    }
}

fn main() {
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(SERVER_THREADS)
        .enable_all()
        .build()
        .expect("server runtime");
    let addr: SocketAddr = server.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("bound");
        let service = app().into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, service).await });
        addr
    });

    let client_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("flood-client")
        .enable_all()
        .build()
        .expect("client runtime");
    client_runtime.block_on(async {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(CONCURRENCY)
            .build()
            .expect("client");
        let body = Bytes::from(vec![b'x'; BODY]);
        let mut forged = HeaderMap::new();
        let signature = format!("sha256={}", "0".repeat(64));
        forged.insert("x-hub-signature-256", signature.parse().expect("header"));
        let urls = ["open", "limited"].map(|route| format!("http://{addr}/{route}"));

        let (mut open, mut limited) = (Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            // Alternate the order, so neither route always runs on a warmer machine.
            let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for i in order {
                let phase = flood(&client, &urls[i], &body, &forged).await;
                if i == 0 {
                    open.push(phase);
                } else {
                    limited.push(phase);
                }
                // Let the limiter refill between phases (10 tokens at 10/s).
                tokio::time::sleep(Duration::from_millis(1100)).await;
            }
        }
        println!(
            "flood: unsigned (forged-signature) {BODY} B bodies, {CONCURRENCY} connections from one client, {ROUNDS} interleaved rounds of {PHASE:?} per route"
        );
        let (open, limited) = (sum(&open), sum(&limited));
        describe("open", &open);
        describe("limited", &limited);
        let verifications = open.per_second(open.verified) / limited.per_second(limited.verified).max(f64::MIN_POSITIVE);
        println!("  verifications/s, open / limited: {verifications:.0}x");
        if let (Some(o), Some(l)) = (open.cpu_per_request(), limited.cpu_per_request()) {
            println!(
                "  server CPU per request, open / limited: {:.1}x; cores busy, open / limited: {:.1}x",
                o.as_secs_f64() / l.as_secs_f64().max(f64::MIN_POSITIVE),
                (open.server_cpu.unwrap_or_default().as_secs_f64() / open.wall.as_secs_f64())
                    / (limited.server_cpu.unwrap_or_default().as_secs_f64()
                        / limited.wall.as_secs_f64())
                    .max(f64::MIN_POSITIVE),
            );
        }
    });
    drop(server);
}
