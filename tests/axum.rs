//! End-to-end over real loopback HTTP: an axum server bound to 127.0.0.1:0 with the layer, a
//! reqwest client. One test per row of the DESIGN §3 table, plus the body-limit edge cases, a
//! slow handler with a concurrent duplicate, a panicking handler, and cross-provider routes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::post;
use http::{HeaderMap, StatusCode};
use webhook_receiver::axum::{WebhookJson, WebhookLayer};
use webhook_receiver::dedup::{DedupStore, MemoryStore};
use webhook_receiver::providers::{GitHub, StandardWebhooks, Stripe};
use webhook_receiver::testing::Signer;
use webhook_receiver::{Receiver, Rejection, Verified, Verifier};

mod common;

use common::{
    DownStore, STRIPE_SECRET, SW_SECRET, chunked_request, lying_content_length_request, raw_status,
    sw,
};

const LIMIT: usize = 4096;

#[derive(Default)]
struct Handler {
    runs: AtomicUsize,
    fail_next: AtomicBool,
    panic_next: AtomicBool,
    slow: AtomicBool,
}

#[derive(serde::Deserialize)]
struct Payload {
    #[serde(default)]
    n: u64,
}

async fn handle(
    handler: Arc<Handler>,
    verified: Verified<'static>,
    WebhookJson(payload): WebhookJson<Payload>,
) -> axum::response::Response {
    handler.runs.fetch_add(1, Ordering::SeqCst);
    if handler.slow.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    if handler.panic_next.swap(false, Ordering::SeqCst) {
        panic!("handler panicked on purpose");
    }
    if handler.fail_next.swap(false, Ordering::SeqCst) {
        return (StatusCode::INTERNAL_SERVER_ERROR, "handler failed").into_response();
    }
    format!("{} {}", verified.scheme(), payload.n).into_response()
}

struct Server {
    addr: SocketAddr,
    handler: Arc<Handler>,
    client: reqwest::Client,
}

impl Server {
    async fn start<St: DedupStore + Clone>(store: St) -> Self {
        let handler = Arc::new(Handler::default());
        let sw = Receiver::new(
            Verifier::builder(StandardWebhooks::new())
                .secret(SW_SECRET)
                .body_limit(LIMIT)
                .build()
                .unwrap(),
            store.clone(),
        );
        let stripe = Receiver::new(
            Verifier::builder(Stripe::new())
                .secret(STRIPE_SECRET)
                .build()
                .unwrap(),
            store,
        );
        let h = Arc::clone(&handler);
        let h2 = Arc::clone(&handler);
        let app = Router::new()
            .route(
                "/sw",
                post(move |v, j| handle(Arc::clone(&h), v, j)).layer(WebhookLayer::new(sw)),
            )
            .route(
                "/stripe",
                post(move |v, j| handle(Arc::clone(&h2), v, j)).layer(WebhookLayer::new(stripe)),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            addr,
            handler,
            client: reqwest::Client::new(),
        }
    }

    async fn post(&self, path: &str, headers: HeaderMap, body: &[u8]) -> reqwest::Response {
        self.client
            .post(format!("http://{}{path}", self.addr))
            .headers(headers)
            .body(body.to_vec())
            .send()
            .await
            .unwrap()
    }

    fn runs(&self) -> usize {
        self.handler.runs.load(Ordering::SeqCst)
    }
}

// ------------------------------------------------------------------ DESIGN §3, row by row

#[tokio::test]
async fn new_delivery_handler_2xx_is_answered_and_completed() {
    let s = Server::start(MemoryStore::new()).await;
    let body = br#"{"n":1}"#;
    let r = s.post("/sw", sw("msg_ok", 0, body), body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "standard-webhooks 1");
    assert_eq!(s.runs(), 1);
    // Completed: the same event again is a duplicate.
    let r = s.post("/sw", sw("msg_ok", 1, body), body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(s.runs(), 1);
}

#[tokio::test]
async fn new_delivery_handler_failure_is_answered_and_released() {
    let s = Server::start(MemoryStore::new()).await;
    let body = br#"{"n":2}"#;
    s.handler.fail_next.store(true, Ordering::SeqCst);
    let r = s.post("/sw", sw("msg_fail", 0, body), body).await;
    assert_eq!(r.status(), 500);
    assert_eq!(s.runs(), 1);
    // Released: the sender's retry runs the handler.
    let r = s.post("/sw", sw("msg_fail", 5, body), body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(s.runs(), 2);
    let r = s.post("/sw", sw("msg_fail", 6, body), body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(s.runs(), 2);
}

#[tokio::test]
async fn duplicate_already_completed_is_200_without_the_handler() {
    let s = Server::start(MemoryStore::new()).await;
    let body = br#"{"n":3}"#;
    let headers = sw("msg_dup", 0, body);
    assert_eq!(s.post("/sw", headers.clone(), body).await.status(), 200);
    let r = s.post("/sw", headers, body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "already processed");
    assert_eq!(s.runs(), 1);
}

#[tokio::test]
async fn duplicate_in_flight_is_409_with_retry_after_then_200_after_completion() {
    let s = Arc::new(Server::start(MemoryStore::new()).await);
    s.handler.slow.store(true, Ordering::SeqCst);
    let body = br#"{"n":4}"#;
    let headers = sw("msg_slow", 0, body);
    let first = {
        let (s, headers) = (Arc::clone(&s), headers.clone());
        tokio::spawn(async move { s.post("/sw", headers, body).await.status() })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    let r = s.post("/sw", headers.clone(), body).await;
    assert_eq!(r.status(), 409);
    let retry_after: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry_after), "{retry_after}");
    assert_eq!(first.await.unwrap(), 200);
    // The duplicate's retry, after completion: 200 without running the handler.
    let r = s.post("/sw", headers, body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(s.runs(), 1);
}

#[tokio::test]
async fn missing_or_malformed_headers_are_400() {
    let s = Server::start(MemoryStore::new()).await;
    let body = br#"{"n":5}"#;
    let mut h = sw("msg_400", 0, body);
    h.remove("webhook-signature");
    let r = s.post("/sw", h, body).await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.text().await.unwrap(), "bad webhook request");
    let mut h = sw("msg_400", 0, body);
    h.insert("webhook-timestamp", "yesterday".parse().unwrap());
    assert_eq!(s.post("/sw", h, body).await.status(), 400);
    assert_eq!(s.runs(), 0);
}

#[tokio::test]
async fn bad_signature_or_timestamp_outside_tolerance_is_401() {
    let s = Server::start(MemoryStore::new()).await;
    let body = br#"{"n":6}"#;
    // Tampered body.
    let r = s.post("/sw", sw("msg_401", 0, body), br#"{"n":7}"#).await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.text().await.unwrap(), "invalid webhook signature");
    // Wrong secret.
    let wrong = Signer::new(
        StandardWebhooks::new(),
        "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
    )
    .unwrap()
    .sign(body)
    .unwrap();
    assert_eq!(s.post("/sw", wrong, body).await.status(), 401);
    // Expired and future.
    assert_eq!(
        s.post("/sw", sw("msg_old", -3600, body), body)
            .await
            .status(),
        401
    );
    assert_eq!(
        s.post("/sw", sw("msg_new", 3600, body), body)
            .await
            .status(),
        401
    );
    assert_eq!(s.runs(), 0);
}

#[tokio::test]
async fn body_over_the_limit_is_413() {
    let s = Server::start(MemoryStore::new()).await;
    let body = vec![b' '; LIMIT + 1];
    assert_eq!(
        s.post("/sw", sw("msg_big", 0, &body), &body).await.status(),
        413
    );
    // Exactly at the limit is fine (it fails later, on the payload type, not the size).
    let mut at_limit = br#"{"n":8}"#.to_vec();
    at_limit.resize(LIMIT, b' ');
    assert_eq!(
        s.post("/sw", sw("msg_edge", 0, &at_limit), &at_limit)
            .await
            .status(),
        200
    );
    assert_eq!(s.runs(), 1);
}

#[tokio::test]
async fn a_declared_content_length_over_the_limit_is_refused_before_reading() {
    let s = Server::start(MemoryStore::new()).await;
    assert_eq!(
        raw_status(s.addr, &lying_content_length_request("/sw")).await,
        413
    );
    assert_eq!(s.runs(), 0);
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_413() {
    let s = Server::start(MemoryStore::new()).await;
    assert_eq!(raw_status(s.addr, &chunked_request("/sw")).await, 413);
    assert_eq!(s.runs(), 0);
}

#[tokio::test]
async fn store_unavailable_is_503_with_retry_after() {
    let s = Server::start(DownStore).await;
    let body = br#"{"n":10}"#;
    let r = s.post("/sw", sw("msg_503", 0, body), body).await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "5");
    assert_eq!(s.runs(), 0, "fail closed: the handler does not run");
}

// ------------------------------------------------------------------ beyond the table

#[tokio::test]
async fn a_panicking_handler_releases_and_the_retry_is_processed() {
    let s = Server::start(MemoryStore::new()).await;
    let body = br#"{"n":11}"#;
    s.handler.panic_next.store(true, Ordering::SeqCst);
    // The connection dies with the handler; the client sees an error, not a 2xx.
    let first = s
        .client
        .post(format!("http://{}/sw", s.addr))
        .headers(sw("msg_panic", 0, body))
        .body(body.to_vec())
        .send()
        .await;
    assert!(first.is_err() || !first.unwrap().status().is_success());
    // The claim is released (not only after the lease): the retry goes through promptly.
    let mut status = 0;
    for _ in 0..50 {
        status = s
            .post("/sw", sw("msg_panic", 1, body), body)
            .await
            .status()
            .as_u16();
        if status != 409 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, 200);
    assert_eq!(s.runs(), 2);
}

#[tokio::test]
async fn a_route_for_one_provider_rejects_another_providers_signature() {
    let s = Server::start(MemoryStore::new()).await;
    let body = br#"{"id":"evt_1","n":12}"#;
    // A Standard Webhooks request on the Stripe route: no Stripe-Signature header.
    assert_eq!(
        s.post("/stripe", sw("msg_x", 0, body), body).await.status(),
        400
    );
    // A Stripe-shaped header made with another provider's secret: bad signature.
    let forged = Signer::new(Stripe::new(), SW_SECRET)
        .unwrap()
        .sign(body)
        .unwrap();
    assert_eq!(s.post("/stripe", forged, body).await.status(), 401);
    // A GitHub request on the Standard Webhooks route.
    let gh = Signer::new(GitHub::new(), STRIPE_SECRET)
        .unwrap()
        .sign(body)
        .unwrap();
    assert_eq!(s.post("/sw", gh, body).await.status(), 400);
    // And the Stripe route does take Stripe requests.
    let ok = Signer::new(Stripe::new(), STRIPE_SECRET)
        .unwrap()
        .sign(body)
        .unwrap();
    let r = s.post("/stripe", ok, body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "stripe 12");
    assert_eq!(s.runs(), 1);
}

#[tokio::test]
async fn rejection_responses_can_be_customised() {
    let receiver = Receiver::new(
        Verifier::builder(StandardWebhooks::new())
            .secret(SW_SECRET)
            .build()
            .unwrap(),
        MemoryStore::new(),
    );
    let layer = WebhookLayer::new(receiver).on_rejection(|r: &Rejection| {
        (
            r.status(),
            axum::Json(serde_json::json!({"error": r.status().as_u16()})),
        )
            .into_response()
    });
    let app = Router::new().route("/", post(|| async { "ok" }).layer(layer));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let r = reqwest::Client::new()
        .post(format!("http://{addr}/"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.text().await.unwrap(), r#"{"error":400}"#);
}

#[tokio::test]
async fn the_layer_wraps_a_whole_router_with_tower_oneshot() {
    use tower::ServiceExt;
    let receiver = Receiver::new(
        Verifier::builder(StandardWebhooks::new())
            .secret(SW_SECRET)
            .build()
            .unwrap(),
        MemoryStore::new(),
    );
    let app = Router::new()
        .route(
            "/a",
            post(|v: Verified<'static>| async move { v.scheme().to_owned() }),
        )
        .layer(WebhookLayer::new(receiver));
    let body = br#"{}"#;
    let mut req = http::Request::post("/a")
        .body(axum::body::Body::from(&body[..]))
        .unwrap();
    *req.headers_mut() = sw("msg_router", 0, body);
    let res = app.oneshot(req).await.unwrap();
    assert_eq!(res.status(), 200);
}
