//! Requests per second of an axum route wrapped by `WebhookLayer` against the same route
//! unwrapped (a handler that only reads the body), 1 KiB bodies, loopback, same client and
//! concurrency, interleaved rounds in the same run. Every wrapped request is a new event (a
//! distinct id, signed beforehand), so each one is verified, claimed and completed.
//!
//! A second pair does the same with a handler that awaits once (as any handler doing I/O does):
//! the layer then runs the delivery on a task of its own, which the first pair never needs.
//!
//! Each ratio is printed twice: of the medians, and the median of the per-round ratios (each
//! round runs both routes back to back, so a machine whose load changes between rounds skews
//! it less).
//!
//! Run: `cargo bench --bench http`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::routing::post;
use http::HeaderMap;
use webhook_receiver::axum::WebhookLayer;
use webhook_receiver::dedup::MemoryStore;
use webhook_receiver::providers::StandardWebhooks;
use webhook_receiver::testing::Signer;
use webhook_receiver::{Receiver, Verifier};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const BODY: usize = 1024;
const CONCURRENCY: usize = 32;
const PER_ROUND: usize = 8_000;
const ROUNDS: usize = 10;

async fn handler(body: Bytes) -> StatusCode {
    std::hint::black_box(body.len());
    StatusCode::OK
}

async fn awaiting_handler(body: Bytes) -> StatusCode {
    tokio::task::yield_now().await;
    std::hint::black_box(body.len());
    StatusCode::OK
}

async fn run_round(
    client: &reqwest::Client,
    url: &str,
    body: &Bytes,
    requests: Arc<Vec<HeaderMap>>,
) -> f64 {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..CONCURRENCY {
        let (client, url, body, requests) = (
            client.clone(),
            url.to_owned(),
            body.clone(),
            Arc::clone(&requests),
        );
        tasks.push(tokio::spawn(async move {
            let mut i = worker;
            while i < requests.len() {
                let response = client
                    .post(&url)
                    .headers(requests[i].clone())
                    .body(body.clone())
                    .send()
                    .await
                    .expect("loopback request");
                assert_eq!(response.status(), 200);
                i += CONCURRENCY;
            }
        }));
    }
    for task in tasks {
        task.await.expect("worker");
    }
    requests.len() as f64 / start.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Requests per second of each round, for one route.
#[derive(Default)]
struct Series(Vec<f64>);

/// Prints a pair of series and their ratios.
fn report(what: &str, plain: &Series, wrapped: &Series) {
    let (p, w) = (median(plain.0.clone()), median(wrapped.0.clone()));
    let paired = median(plain.0.iter().zip(&wrapped.0).map(|(p, w)| w / p).collect());
    println!("{what}");
    println!("  unwrapped route : {:.0?} req/s, median {p:.0}", plain.0);
    println!("  wrapped (layer) : {:.0?} req/s, median {w:.0}", wrapped.0);
    println!(
        "  ratio wrapped/unwrapped: {:.3} of medians, {paired:.3} median of rounds (target >= 0.90)",
        w / p
    );
}

#[tokio::main]
async fn main() {
    let receiver = || {
        let verifier = Verifier::builder(StandardWebhooks::new())
            .secret(SECRET)
            .build()
            .expect("valid secret");
        Receiver::new(verifier, MemoryStore::new())
    };
    let app = Router::new()
        .route("/plain", post(handler))
        .route(
            "/wrapped",
            post(handler).layer(WebhookLayer::new(receiver())),
        )
        .route("/plain_await", post(awaiting_handler))
        .route(
            "/wrapped_await",
            post(awaiting_handler).layer(WebhookLayer::new(receiver())),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("bound");
    tokio::spawn(async move { axum::serve(listener, app).await });

    let body = Bytes::from(vec![b'x'; BODY]);
    let signer = Signer::new(StandardWebhooks::new(), SECRET).expect("valid secret");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()
        .expect("client");
    let routes = ["plain", "wrapped", "plain_await", "wrapped_await"];
    let urls = routes.map(|route| format!("http://{addr}/{route}"));

    // Warm up every route and the connection pool.
    let warm: Arc<Vec<HeaderMap>> = Arc::new(
        (0..CONCURRENCY * 4)
            .map(|i| {
                signer
                    .clone()
                    .id(format!("warm_{i}"))
                    .sign(&body)
                    .expect("sign")
            })
            .collect(),
    );
    for url in &urls {
        run_round(&client, url, &body, Arc::clone(&warm)).await;
    }

    // HTTP_BENCH_ONLY=plain|wrapped|plain_await|wrapped_await runs one route only (to profile it).
    let only = std::env::var("HTTP_BENCH_ONLY").unwrap_or_default();
    let mut series: [Series; 4] = Default::default();
    for round in 0..ROUNDS {
        // Fresh events every round, signed now so they are inside the tolerance window. The same
        // signed headers go to every route (each wrapped route has its own store), so the client
        // and hyper do the same work; the unwrapped routes ignore them.
        let signed: Arc<Vec<HeaderMap>> = Arc::new(
            (0..PER_ROUND)
                .map(|i| {
                    signer
                        .clone()
                        .id(format!("evt_{round}_{i}"))
                        .sign(&body)
                        .expect("sign")
                })
                .collect(),
        );
        // Each pair back to back; alternate which route of a pair goes first, so neither always
        // runs on a warmer machine.
        for pair in [[0, 1], [2, 3]] {
            let order = if round % 2 == 0 {
                pair
            } else {
                [pair[1], pair[0]]
            };
            for i in order {
                let rate = if only.is_empty() || only == routes[i] {
                    run_round(&client, &urls[i], &body, Arc::clone(&signed)).await
                } else {
                    f64::NAN
                };
                series[i].0.push(rate);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "http: {BODY} B bodies, {CONCURRENCY} concurrent connections, {PER_ROUND} requests per round, {ROUNDS} interleaved rounds"
    );
    report("handler answers at once:", &series[0], &series[1]);
    report(
        "handler awaits once (the delivery runs on a task of its own):",
        &series[2],
        &series[3],
    );
}
