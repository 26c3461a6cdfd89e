//! The HTTP scenarios both adapters must pass, one per row of the status table (README) plus the
//! body-limit edge cases, a slow handler with a concurrent duplicate, a panicking handler,
//! senders that hang up (during the handler, during the completion, at once) and cross-provider
//! routes. Each framework's test file starts a [`TestServer`] its own way and runs these.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use http::HeaderMap;
use webhook_receiver::dedup::DedupStore;
use webhook_receiver::dedup::MemoryStore;
use webhook_receiver::providers::{GitHub, GoCardless, Square, StandardWebhooks, Stripe};
use webhook_receiver::testing::Signer;
use webhook_receiver::{PublicUrl, Receiver, Verifier};

use super::{
    STRIPE_SECRET, SW_SECRET, SlowComplete, chunked_request, lying_content_length_request,
    raw_request, raw_status, send_and_keep_open, sw, wait_until,
};

/// The body limit of the `/sw` route.
pub(crate) const LIMIT: usize = 4096;

/// What the test handler does, whatever the framework.
#[derive(Default)]
pub(crate) struct Handler {
    runs: AtomicUsize,
    finished: AtomicUsize,
    fail_next: AtomicBool,
    panic_next: AtomicBool,
    slow: AtomicBool,
}

/// The payload the test handler deserializes.
#[derive(serde::Deserialize)]
pub(crate) struct Payload {
    #[serde(default)]
    pub(crate) n: u64,
}

impl Handler {
    /// Counts the run, then: sleeps if slow, counts the run as finished, panics or fails once if
    /// told to; `Ok(body)` is a 200 answer, `Err(())` a 500.
    pub(crate) async fn run(&self, scheme: &str, payload: &Payload) -> Result<String, ()> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        if self.slow.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(1500)).await;
        }
        self.finished.fetch_add(1, Ordering::SeqCst);
        if self.panic_next.swap(false, Ordering::SeqCst) {
            panic!("handler panicked on purpose");
        }
        if self.fail_next.swap(false, Ordering::SeqCst) {
            return Err(());
        }
        Ok(format!("{scheme} {}", payload.n))
    }
}

/// The receivers of a test server: `/sw` (Standard Webhooks, body limit [`LIMIT`]) and
/// `/stripe`, both on `store`.
pub(crate) fn receivers<St: DedupStore + Clone>(store: St) -> (Receiver<St>, Receiver<St>) {
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
    (sw, stripe)
}

/// The public base URL the provider routes are configured with.
pub(crate) const PUBLIC_BASE: &str = "https://hooks.example.com";
const SQUARE_KEY: &str = "square signature key";
const GOCARDLESS_SECRET: &str = "gocardless endpoint secret";

/// Routes for providers that sign the URL or expect their own statuses: `/square` (Square, with
/// a public base URL), `/square-unconfigured` (Square without one) and `/gocardless`.
pub(crate) fn provider_receivers() -> Vec<(&'static str, Receiver<MemoryStore>)> {
    let square = || {
        Verifier::builder(Square::new())
            .secret(SQUARE_KEY)
            .build()
            .unwrap()
    };
    vec![
        (
            "/square",
            Receiver::builder(square(), MemoryStore::new())
                .public_url(PublicUrl::Base(PUBLIC_BASE.into()))
                .build()
                .unwrap(),
        ),
        (
            "/square-unconfigured",
            Receiver::new(square(), MemoryStore::new()),
        ),
        (
            "/gocardless",
            Receiver::new(
                Verifier::builder(GoCardless::new())
                    .secret(GOCARDLESS_SECRET)
                    .build()
                    .unwrap(),
                MemoryStore::new(),
            ),
        ),
    ]
}

/// A running server with the `/sw` and `/stripe` routes (and those of [`provider_receivers`])
/// wrapped by the adapter under test.
#[derive(Clone)]
pub(crate) struct TestServer {
    pub(crate) addr: SocketAddr,
    pub(crate) handler: Arc<Handler>,
    pub(crate) client: reqwest::Client,
}

impl TestServer {
    pub(crate) fn new(addr: SocketAddr, handler: Arc<Handler>) -> Self {
        Self {
            addr,
            handler,
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
        }
    }

    pub(crate) async fn post(
        &self,
        path: &str,
        headers: HeaderMap,
        body: &[u8],
    ) -> reqwest::Response {
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

    fn finished(&self) -> usize {
        self.handler.finished.load(Ordering::SeqCst)
    }

    /// Posts `body` as event `id` (signed anew each time, as a sender's retry is) until the
    /// answer is not 409 (a bounded number of times); returns the last status and body.
    async fn retry_while_in_flight(&self, id: &str, body: &[u8]) -> (u16, String) {
        for attempt in 1..=500 {
            let r = self.post("/sw", sw(id, attempt % 60, body), body).await;
            let status = r.status().as_u16();
            if status != 409 || attempt == 500 {
                return (status, r.text().await.unwrap());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        unreachable!()
    }
}

pub(crate) async fn new_delivery_handler_2xx_is_answered_and_completed(s: TestServer) {
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

pub(crate) async fn new_delivery_handler_failure_is_answered_and_released(s: TestServer) {
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

pub(crate) async fn duplicate_already_completed_is_200_without_the_handler(s: TestServer) {
    let body = br#"{"n":3}"#;
    let headers = sw("msg_dup", 0, body);
    assert_eq!(s.post("/sw", headers.clone(), body).await.status(), 200);
    let r = s.post("/sw", headers, body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "already processed");
    assert_eq!(s.runs(), 1);
}

pub(crate) async fn duplicate_in_flight_is_409_with_retry_after_then_200(s: TestServer) {
    s.handler.slow.store(true, Ordering::SeqCst);
    let body = br#"{"n":4}"#;
    let headers = sw("msg_slow", 0, body);
    let first = {
        let (s, headers) = (s.clone(), headers.clone());
        tokio::spawn(async move { s.post("/sw", headers, body).await.status() })
    };
    // Wait (bounded) until the first attempt is inside the handler.
    for _ in 0..500 {
        if s.runs() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(s.runs(), 1, "the first attempt reached the handler");
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

pub(crate) async fn missing_or_malformed_headers_are_400(s: TestServer) {
    let body = br#"{"n":5}"#;
    let mut h = sw("msg_400", 0, body);
    h.remove("webhook-signature");
    let r = s.post("/sw", h, body).await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.text().await.unwrap(), "bad webhook request");
    let mut h = sw("msg_400", 0, body);
    h.insert("webhook-timestamp", "yesterday".parse().unwrap());
    assert_eq!(s.post("/sw", h, body).await.status(), 400);
    let mut h = sw("msg_400", 0, body);
    h.insert("webhook-signature", "v1,not-base64!".parse().unwrap());
    assert_eq!(s.post("/sw", h, body).await.status(), 400);
    assert_eq!(s.runs(), 0);
}

pub(crate) async fn bad_signature_or_timestamp_outside_tolerance_is_401(s: TestServer) {
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

pub(crate) async fn body_over_the_limit_is_413(s: TestServer) {
    let body = vec![b' '; LIMIT + 1];
    assert_eq!(
        s.post("/sw", sw("msg_big", 0, &body), &body).await.status(),
        413
    );
    // Exactly at the limit is fine.
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

pub(crate) async fn a_declared_content_length_over_the_limit_is_refused_before_reading(
    s: TestServer,
) {
    assert_eq!(
        raw_status(s.addr, &lying_content_length_request("/sw")).await,
        413
    );
    assert_eq!(s.runs(), 0);
}

pub(crate) async fn a_chunked_body_over_the_limit_is_413(s: TestServer) {
    assert_eq!(raw_status(s.addr, &chunked_request("/sw")).await, 413);
    assert_eq!(s.runs(), 0);
}

/// Run on a server whose store is down.
pub(crate) async fn store_unavailable_is_503_with_retry_after(s: TestServer) {
    let body = br#"{"n":10}"#;
    let r = s.post("/sw", sw("msg_503", 0, body), body).await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "5");
    assert_eq!(s.runs(), 0, "fail closed: the handler does not run");
}

pub(crate) async fn a_panicking_handler_releases_and_the_retry_is_processed(s: TestServer) {
    let body = br#"{"n":11}"#;
    s.handler.panic_next.store(true, Ordering::SeqCst);
    let r = s.post("/sw", sw("msg_panic", 0, body), body).await;
    assert_eq!(r.status(), 500, "a panicking handler is answered 500");
    // Released before the 500 was sent: the retry is processed at once, not after the lease.
    let r = s.post("/sw", sw("msg_panic", 1, body), body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "standard-webhooks 11");
    assert_eq!(s.runs(), 2);
    // And the server still serves.
    let r = s.post("/sw", sw("msg_panic", 2, body), body).await;
    assert_eq!(r.text().await.unwrap(), "already processed");
}

/// A sender that times out (GitHub after about 10 s, Shopify after 5) hangs up while the handler
/// runs: the handler still runs to its end, once, and the claim ends completed — a retry meanwhile
/// is told 409, a retry after it 200 without the handler.
pub(crate) async fn a_sender_hanging_up_mid_handler_does_not_cancel_it(s: TestServer) {
    let body = br#"{"n":13}"#;
    s.handler.slow.store(true, Ordering::SeqCst);
    let request = raw_request("/sw", &sw("msg_timeout", 0, body), body);
    let connection = send_and_keep_open(s.addr, &request).await;
    wait_until("the handler started", || s.runs() == 1).await;
    drop(connection);
    let (status, text) = s.retry_while_in_flight("msg_timeout", body).await;
    assert_eq!((status, text.as_str()), (200, "already processed"));
    assert_eq!(s.runs(), 1, "the handler ran once");
    assert_eq!(s.finished(), 1, "and to its end");
}

/// The sender hangs up while the store is completing the claim (run on a server whose store is
/// `completion`): the completion still lands, so the retry is a duplicate (200 without the
/// handler), not a 409 until the lease ends followed by a second run.
pub(crate) async fn a_sender_hanging_up_during_the_completion_loses_nothing<St>(
    s: TestServer,
    completion: SlowComplete<St>,
) {
    let body = br#"{"n":14}"#;
    let request = raw_request("/sw", &sw("msg_hangup", 0, body), body);
    let connection = send_and_keep_open(s.addr, &request).await;
    wait_until("the completion started", || completion.started() == 1).await;
    drop(connection);
    wait_until("the completion finished", || completion.finished() == 1).await;
    let (status, text) = s.retry_while_in_flight("msg_hangup", body).await;
    assert_eq!((status, text.as_str()), (200, "already processed"));
    assert_eq!(s.runs(), 1);
}

/// A sender that writes its request and hangs up at once: whatever the server had read, the
/// event ends processed exactly once.
pub(crate) async fn a_sender_hanging_up_at_once_loses_nothing(s: TestServer) {
    let body = br#"{"n":15}"#;
    let request = raw_request("/sw", &sw("msg_gone", 0, body), body);
    drop(send_and_keep_open(s.addr, &request).await);
    // Give the server a moment to read it (not needed for correctness: either way it ends once).
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, _) = s.retry_while_in_flight("msg_gone", body).await;
    assert_eq!(status, 200);
    let (status, text) = s.retry_while_in_flight("msg_gone", body).await;
    assert_eq!((status, text.as_str()), (200, "already processed"));
    assert_eq!(s.runs(), 1);
    assert_eq!(s.finished(), 1);
}

pub(crate) async fn a_route_for_one_provider_rejects_another_providers_signature(s: TestServer) {
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

/// Providers that sign the URL verify through the adapter with the configured public URL (and
/// answer 500, a configuration mistake, without one); a provider's documented rejection status
/// (GoCardless: 498) is what the adapter answers.
pub(crate) async fn provider_urls_and_statuses(s: TestServer) {
    let body = br#"{"event_id":"e-square-1","n":31}"#;
    let url = format!("{PUBLIC_BASE}/square");
    let headers = Signer::new(Square::new(), SQUARE_KEY)
        .unwrap()
        .url(url)
        .sign(body)
        .unwrap();
    let r = s.post("/square", headers.clone(), body).await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    assert_eq!(s.post("/square", headers.clone(), body).await.status(), 200);
    assert_eq!(s.runs(), 1, "the duplicate did not run the handler");
    // Signed for another URL: refused.
    let other = Signer::new(Square::new(), SQUARE_KEY)
        .unwrap()
        .url(format!("{PUBLIC_BASE}/elsewhere"))
        .sign(body)
        .unwrap();
    assert_eq!(s.post("/square", other, body).await.status(), 401);
    // No public URL configured: the receiver's mistake, not the sender's.
    let r = s.post("/square-unconfigured", headers, body).await;
    assert_eq!(r.status(), 500);

    let body = br#"{"events":[{"id":"EV1"}],"n":32}"#;
    let headers = Signer::new(GoCardless::new(), GOCARDLESS_SECRET)
        .unwrap()
        .sign(body)
        .unwrap();
    assert_eq!(
        s.post("/gocardless", headers.clone(), body).await.status(),
        200
    );
    let r = s
        .post("/gocardless", headers, br#"{"events":[],"n":33}"#)
        .await;
    assert_eq!(
        r.status().as_u16(),
        498,
        "GoCardless expects 498 for a bad signature"
    );
}
