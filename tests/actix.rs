//! End-to-end over real loopback HTTP for the actix-web middleware: a server bound to
//! 127.0.0.1:0, a reqwest client. One test per row of the DESIGN §3 table, plus the body-limit
//! edge cases, a slow handler with a concurrent duplicate, a panicking handler, and
//! cross-provider routes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use http::HeaderMap;
use webhook_receiver::actix::{Rejection, WebhookJson, WebhookMiddleware};
use webhook_receiver::dedup::{DedupStore, MemoryStore};
use webhook_receiver::providers::{GitHub, StandardWebhooks, Stripe};
use webhook_receiver::testing::Signer;
use webhook_receiver::{Receiver, Verified, Verifier};

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
    handler: web::Data<Handler>,
    verified: Verified<'static>,
    WebhookJson(payload): WebhookJson<Payload>,
) -> HttpResponse {
    handler.runs.fetch_add(1, Ordering::SeqCst);
    if handler.slow.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    if handler.panic_next.swap(false, Ordering::SeqCst) {
        panic!("handler panicked on purpose");
    }
    if handler.fail_next.swap(false, Ordering::SeqCst) {
        return HttpResponse::InternalServerError().body("handler failed");
    }
    HttpResponse::Ok().body(format!("{} {}", verified.scheme(), payload.n))
}

struct Server {
    addr: SocketAddr,
    handler: web::Data<Handler>,
    client: reqwest::Client,
}

impl Server {
    fn start<St: DedupStore + Clone>(store: St) -> Self {
        Self::start_with(store, |m| m)
    }

    fn start_with<St: DedupStore + Clone>(
        store: St,
        customise: fn(WebhookMiddleware<St>) -> WebhookMiddleware<St>,
    ) -> Self {
        let handler = web::Data::new(Handler::default());
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
        let data = handler.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .service(
                    web::resource("/sw")
                        .wrap(customise(WebhookMiddleware::new(sw.clone())))
                        .route(web::post().to(handle)),
                )
                .service(
                    web::resource("/stripe")
                        .wrap(WebhookMiddleware::new(stripe.clone()))
                        .route(web::post().to(handle)),
                )
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .unwrap();
        let addr = server.addrs()[0];
        actix_web::rt::spawn(server.run());
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

#[actix_web::test]
async fn new_delivery_handler_2xx_is_answered_and_completed() {
    let s = Server::start(MemoryStore::new());
    let body = br#"{"n":1}"#;
    let r = s.post("/sw", sw("msg_ok", 0, body), body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "standard-webhooks 1");
    assert_eq!(s.runs(), 1);
}

#[actix_web::test]
async fn new_delivery_handler_failure_is_answered_and_released() {
    let s = Server::start(MemoryStore::new());
    let body = br#"{"n":2}"#;
    s.handler.fail_next.store(true, Ordering::SeqCst);
    assert_eq!(
        s.post("/sw", sw("msg_fail", 0, body), body).await.status(),
        500
    );
    assert_eq!(
        s.post("/sw", sw("msg_fail", 5, body), body).await.status(),
        200
    );
    assert_eq!(s.runs(), 2);
}

#[actix_web::test]
async fn duplicate_already_completed_is_200_without_the_handler() {
    let s = Server::start(MemoryStore::new());
    let body = br#"{"n":3}"#;
    let headers = sw("msg_dup", 0, body);
    assert_eq!(s.post("/sw", headers.clone(), body).await.status(), 200);
    let r = s.post("/sw", headers, body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "already processed");
    assert_eq!(s.runs(), 1);
}

#[actix_web::test]
async fn duplicate_in_flight_is_409_with_retry_after_then_200_after_completion() {
    let s = Arc::new(Server::start(MemoryStore::new()));
    s.handler.slow.store(true, Ordering::SeqCst);
    let body = br#"{"n":4}"#;
    let headers = sw("msg_slow", 0, body);
    let first = {
        let (s, headers) = (Arc::clone(&s), headers.clone());
        actix_web::rt::spawn(async move { s.post("/sw", headers, body).await.status() })
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
    assert_eq!(s.post("/sw", headers, body).await.status(), 200);
    assert_eq!(s.runs(), 1);
}

#[actix_web::test]
async fn missing_or_malformed_headers_are_400() {
    let s = Server::start(MemoryStore::new());
    let body = br#"{"n":5}"#;
    let mut h = sw("msg_400", 0, body);
    h.remove("webhook-id");
    let r = s.post("/sw", h, body).await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.text().await.unwrap(), "bad webhook request");
    let mut h = sw("msg_400", 0, body);
    h.insert("webhook-signature", "v1,not-base64!".parse().unwrap());
    assert_eq!(s.post("/sw", h, body).await.status(), 400);
    assert_eq!(s.runs(), 0);
}

#[actix_web::test]
async fn bad_signature_or_timestamp_outside_tolerance_is_401() {
    let s = Server::start(MemoryStore::new());
    let body = br#"{"n":6}"#;
    let r = s.post("/sw", sw("msg_401", 0, body), br#"{"n":7}"#).await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.text().await.unwrap(), "invalid webhook signature");
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

#[actix_web::test]
async fn body_over_the_limit_is_413() {
    let s = Server::start(MemoryStore::new());
    let body = vec![b' '; LIMIT + 1];
    assert_eq!(
        s.post("/sw", sw("msg_big", 0, &body), &body).await.status(),
        413
    );
    assert_eq!(s.runs(), 0);
}

#[actix_web::test]
async fn a_declared_content_length_over_the_limit_is_refused_before_reading() {
    let s = Server::start(MemoryStore::new());
    assert_eq!(
        raw_status(s.addr, &lying_content_length_request("/sw")).await,
        413
    );
    assert_eq!(s.runs(), 0);
}

#[actix_web::test]
async fn a_chunked_body_over_the_limit_is_413() {
    let s = Server::start(MemoryStore::new());
    assert_eq!(raw_status(s.addr, &chunked_request("/sw")).await, 413);
    assert_eq!(s.runs(), 0);
}

#[actix_web::test]
async fn store_unavailable_is_503_with_retry_after() {
    let s = Server::start(DownStore);
    let body = br#"{"n":10}"#;
    let r = s.post("/sw", sw("msg_503", 0, body), body).await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "5");
    assert_eq!(s.runs(), 0);
}

#[actix_web::test]
async fn a_panicking_handler_releases_and_the_retry_is_processed() {
    let s = Server::start(MemoryStore::new());
    let body = br#"{"n":11}"#;
    s.handler.panic_next.store(true, Ordering::SeqCst);
    let first = s
        .client
        .post(format!("http://{}/sw", s.addr))
        .headers(sw("msg_panic", 0, body))
        .body(body.to_vec())
        .send()
        .await;
    assert!(first.is_err() || !first.unwrap().status().is_success());
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

#[actix_web::test]
async fn a_route_for_one_provider_rejects_another_providers_signature() {
    let s = Server::start(MemoryStore::new());
    let body = br#"{"id":"evt_1","n":12}"#;
    assert_eq!(
        s.post("/stripe", sw("msg_x", 0, body), body).await.status(),
        400
    );
    let forged = Signer::new(Stripe::new(), SW_SECRET)
        .unwrap()
        .sign(body)
        .unwrap();
    assert_eq!(s.post("/stripe", forged, body).await.status(), 401);
    let gh = Signer::new(GitHub::new(), STRIPE_SECRET)
        .unwrap()
        .sign(body)
        .unwrap();
    assert_eq!(s.post("/sw", gh, body).await.status(), 400);
    let ok = Signer::new(Stripe::new(), STRIPE_SECRET)
        .unwrap()
        .sign(body)
        .unwrap();
    let r = s.post("/stripe", ok, body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "stripe 12");
    assert_eq!(s.runs(), 1);
}

#[actix_web::test]
async fn rejection_responses_can_be_customised() {
    let s = Server::start_with(MemoryStore::new(), |m| {
        m.on_rejection(|r: &Rejection| {
            HttpResponse::build(actix_web::http::StatusCode::from_u16(r.status().as_u16()).unwrap())
                .json(serde_json::json!({"error": r.status().as_u16()}))
        })
    });
    let r = s.post("/sw", HeaderMap::new(), b"{}").await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.text().await.unwrap(), r#"{"error":400}"#);
}
