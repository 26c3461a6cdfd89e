//! Requests per second of an axum route wrapped by `WebhookLayer` against the same route
//! unwrapped (a handler that only reads the body), 1 KiB bodies, loopback, same client and
//! concurrency, interleaved rounds in the same run. Every wrapped request is a new event (a
//! distinct id, signed beforehand), so each one is verified, claimed and completed.
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

#[tokio::main]
async fn main() {
    let verifier = Verifier::builder(StandardWebhooks::new())
        .secret(SECRET)
        .build()
        .expect("valid secret");
    let receiver = Receiver::new(verifier, MemoryStore::new());
    let app = Router::new()
        .route("/plain", post(handler))
        .route("/wrapped", post(handler).layer(WebhookLayer::new(receiver)));
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
    let plain_url = format!("http://{addr}/plain");
    let wrapped_url = format!("http://{addr}/wrapped");

    // Warm up both routes and the connection pool.
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
    run_round(&client, &plain_url, &body, Arc::clone(&warm)).await;
    run_round(&client, &wrapped_url, &body, warm).await;

    let (mut plain, mut wrapped) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        // Fresh events every round, signed now so they are inside the tolerance window.
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
        // The same signed headers go to both routes, so the client and hyper do the same work;
        // the unwrapped route ignores them.
        // Alternate which route goes first, so neither always runs on a warmer machine.
        // HTTP_BENCH_ONLY=plain|wrapped runs one route only (to profile it).
        let only = std::env::var("HTTP_BENCH_ONLY").unwrap_or_default();
        if only == "plain" {
            plain.push(run_round(&client, &plain_url, &body, signed).await);
            wrapped.push(f64::NAN);
        } else if only == "wrapped" {
            wrapped.push(run_round(&client, &wrapped_url, &body, signed).await);
            plain.push(f64::NAN);
        } else if round % 2 == 0 {
            plain.push(run_round(&client, &plain_url, &body, Arc::clone(&signed)).await);
            wrapped.push(run_round(&client, &wrapped_url, &body, signed).await);
        } else {
            wrapped.push(run_round(&client, &wrapped_url, &body, Arc::clone(&signed)).await);
            plain.push(run_round(&client, &plain_url, &body, signed).await);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (p, w) = (median(plain.clone()), median(wrapped.clone()));
    println!(
        "http: {BODY} B bodies, {CONCURRENCY} concurrent connections, {PER_ROUND} requests per round, {ROUNDS} interleaved rounds"
    );
    println!("  unwrapped route : {plain:.0?} req/s, median {p:.0}");
    println!("  wrapped (layer) : {wrapped:.0?} req/s, median {w:.0}");
    println!("  ratio wrapped/unwrapped: {:.3} (target >= 0.90)", w / p);
}
