//! The inbox routes over real loopback HTTP, for axum (`axum::InboxService`) and actix-web
//! (`actix::InboxHandler`), on SQLite: verify, store once, answer at once — and never a 2xx for
//! a delivery that is not durably stored. Every scenario runs on both frameworks. (Their logs
//! are checked in `inbox_http_logs.rs`: a binary of their own, where every test captures.)

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderValue, StatusCode};
use time::OffsetDateTime;
use tokio::io::AsyncWriteExt;
use tokio::sync::Semaphore;
use webhook_receiver::dedup::LeaseToken;
use webhook_receiver::inbox::{
    Accepted, Counts, Inbox, InboxEndpoint, InboxEngine, InboxError, Leased, ListQuery, NewRecord,
    Record, RecordMeta, SqliteInbox, Status,
};
use webhook_receiver::providers::{GoCardless, Stripe, Twilio};
use webhook_receiver::testing::Signer;
use webhook_receiver::{PublicUrl, Verifier};

const STRIPE_SECRET: &str = "whsec_test_secret";
const TWILIO_TOKEN: &str = "12345";
const GOCARDLESS_SECRET: &str = "ElCbUYaSGCL1WZDy0rDl1XhwkXF3bX2PXwcv0mNK";
const BODY_LIMIT: usize = 1024;

// ---- an engine we can slow down or break, around SQLite.

/// SQLite, with an `accept` that can be held at a gate or made to fail.
struct Wrapped {
    inner: SqliteInbox,
    /// When set, `accept` waits for a permit first.
    gated: AtomicBool,
    gate: Semaphore,
    /// When set, `accept` fails with a backend error (answered 500).
    broken: AtomicBool,
    /// 1: `accept` panics at once, on its first poll; 2: after yielding once.
    panicking: AtomicU8,
    started: AtomicUsize,
    finished: AtomicUsize,
}

impl Wrapped {
    fn new(inner: SqliteInbox) -> Self {
        Self {
            inner,
            gated: AtomicBool::new(false),
            gate: Semaphore::new(0),
            broken: AtomicBool::new(false),
            panicking: AtomicU8::new(0),
            started: AtomicUsize::new(0),
            finished: AtomicUsize::new(0),
        }
    }
}

impl InboxEngine for Wrapped {
    async fn accept(
        &self,
        record: &NewRecord,
        max_unfinished: Option<u64>,
    ) -> Result<Accepted, InboxError> {
        self.started.fetch_add(1, Ordering::SeqCst);
        match self.panicking.load(Ordering::SeqCst) {
            0 => {}
            1 => panic!("an engine bug"),
            _ => {
                tokio::task::yield_now().await;
                panic!("an engine bug");
            }
        }
        if self.gated.load(Ordering::SeqCst) {
            self.gate.acquire().await.expect("never closed").forget();
        }
        let result = if self.broken.load(Ordering::SeqCst) {
            Err(InboxError::backend("the engine answered nonsense"))
        } else {
            self.inner.accept(record, max_unfinished).await
        };
        self.finished.fetch_add(1, Ordering::SeqCst);
        result
    }
    async fn lease(&self, lease: Duration) -> Result<Option<Leased>, InboxError> {
        self.inner.lease(lease).await
    }
    async fn heartbeat(
        &self,
        key: &str,
        token: LeaseToken,
        lease: Duration,
    ) -> Result<bool, InboxError> {
        self.inner.heartbeat(key, token, lease).await
    }
    async fn done(&self, key: &str, token: LeaseToken) -> Result<bool, InboxError> {
        self.inner.done(key, token).await
    }
    async fn retry(
        &self,
        key: &str,
        token: LeaseToken,
        delay: Duration,
        error: &str,
    ) -> Result<bool, InboxError> {
        self.inner.retry(key, token, delay, error).await
    }
    async fn dead(&self, key: &str, token: LeaseToken, error: &str) -> Result<bool, InboxError> {
        self.inner.dead(key, token, error).await
    }
    async fn release(&self, key: &str, token: LeaseToken) -> Result<bool, InboxError> {
        self.inner.release(key, token).await
    }
    async fn get(&self, key: &str) -> Result<Option<Record>, InboxError> {
        self.inner.get(key).await
    }
    async fn list(&self, query: &ListQuery) -> Result<Vec<RecordMeta>, InboxError> {
        self.inner.list(query).await
    }
    async fn counts(&self) -> Result<Counts, InboxError> {
        self.inner.counts().await
    }
    async fn replay(&self, key: &str) -> Result<bool, InboxError> {
        self.inner.replay(key).await
    }
    async fn replay_dead_since(&self, since: OffsetDateTime) -> Result<u64, InboxError> {
        self.inner.replay_dead_since(since).await
    }
    async fn purge(&self) -> Result<u64, InboxError> {
        self.inner.purge().await
    }
}

// ---- fixtures.

/// A fresh directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "webhook-inbox-http-{name}-{}-{:x}",
            std::process::id(),
            LeaseToken::random().get() as u64
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An inbox on a fresh SQLite file, with at most `max_pending` unfinished records.
async fn inbox(dir: &TempDir, max_pending: Option<u64>) -> Inbox<Wrapped> {
    let engine = SqliteInbox::open(dir.0.join("inbox.db")).await.unwrap();
    let mut builder = Inbox::builder(Wrapped::new(engine));
    if let Some(max) = max_pending {
        builder = builder.max_pending(max);
    }
    builder.build().unwrap()
}

fn stripe_endpoint(inbox: &Inbox<Wrapped>) -> InboxEndpoint<Wrapped> {
    let verifier = Verifier::builder(Stripe::new())
        .secret(STRIPE_SECRET)
        .body_limit(BODY_LIMIT)
        .build()
        .unwrap();
    inbox
        .endpoint(verifier)
        .namespace("stripe")
        .build()
        .unwrap()
}

fn stripe_body(id: &str) -> Vec<u8> {
    format!(r#"{{"id":"{id}","type":"invoice.paid"}}"#).into_bytes()
}

fn stripe_signed(body: &[u8]) -> HeaderMap {
    let mut headers = Signer::new(Stripe::new(), STRIPE_SECRET)
        .unwrap()
        .sign(body)
        .unwrap();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers
}

// ---- the servers.

#[derive(Debug, Clone, Copy)]
enum Framework {
    Axum,
    Actix,
}

/// One route: a path, its endpoint, and the success status (default if `None`).
struct Route {
    path: &'static str,
    endpoint: InboxEndpoint<Wrapped>,
    success: Option<StatusCode>,
}

fn route(path: &'static str, endpoint: InboxEndpoint<Wrapped>) -> Route {
    Route {
        path,
        endpoint,
        success: None,
    }
}

/// Serves `routes` on a loopback port with `framework`, on the current runtime (an actix
/// system: actix-web needs one, and axum runs on its Tokio runtime).
fn serve(framework: Framework, routes: Vec<Route>) -> SocketAddr {
    match framework {
        Framework::Axum => {
            use webhook_receiver::axum::InboxService;
            let mut app = axum::Router::new();
            for r in routes {
                let mut service = InboxService::new(r.endpoint);
                if let Some(status) = r.success {
                    service = service.success_status(status).unwrap();
                }
                app = app.route(r.path, axum::routing::post_service(service));
            }
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.set_nonblocking(true).unwrap();
            let addr = listener.local_addr().unwrap();
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
            addr
        }
        Framework::Actix => {
            use webhook_receiver::actix::InboxHandler;
            let handlers: Vec<(&'static str, InboxHandler<Wrapped>)> = routes
                .into_iter()
                .map(|r| {
                    let mut handler = InboxHandler::new(r.endpoint);
                    if let Some(status) = r.success {
                        handler = handler.success_status(status).unwrap();
                    }
                    (r.path, handler)
                })
                .collect();
            let server = actix_web::HttpServer::new(move || {
                let mut app = actix_web::App::new();
                for (path, handler) in &handlers {
                    app =
                        app.service(actix_web::web::resource(*path).route(handler.clone().route()));
                }
                app
            })
            .workers(1)
            // A sender that hangs up aborts the handling of its connection, as with hyper.
            .h1_allow_half_closed(false)
            .disable_signals()
            .bind(("127.0.0.1", 0))
            .unwrap();
            let addr = server.addrs()[0];
            actix_web::rt::spawn(server.run());
            addr
        }
    }
}

struct Answer {
    status: u16,
    retry_after: Option<String>,
    text: String,
}

async fn post(addr: SocketAddr, path: &str, headers: HeaderMap, body: &[u8]) -> Answer {
    let r = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("http://{addr}{path}"))
        .headers(headers)
        .body(body.to_vec())
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let retry_after = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = r.text().await.unwrap();
    Answer {
        status,
        retry_after,
        text,
    }
}

/// Writes a raw HTTP/1.1 request and keeps the connection open (without reading).
async fn send_and_keep_open(addr: SocketAddr, request: &[u8]) -> tokio::net::TcpStream {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    stream.flush().await.unwrap();
    stream
}

fn raw_request(path: &str, headers: &HeaderMap, body: &[u8]) -> Vec<u8> {
    let mut request = format!("POST {path} HTTP/1.1\r\nhost: localhost\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap()));
    }
    request.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    let mut request = request.into_bytes();
    request.extend_from_slice(body);
    request
}

/// Waits (at most 10 s) until `done` holds.
async fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn counts(inbox: &Inbox<Wrapped>) -> Counts {
    inbox.counts().await.unwrap()
}

// ---- the scenarios, each run on both frameworks.

/// A signed delivery is answered 200 once stored; the same delivery again is answered 200 and
/// stored once; the stored record has the exact body and no signature header.
async fn a_signed_delivery_is_stored_once(framework: Framework) {
    let dir = TempDir::new("stored");
    let inbox = inbox(&dir, None).await;
    let addr = serve(framework, vec![route("/stripe", stripe_endpoint(&inbox))]);
    let body = stripe_body("evt_1");
    let headers = stripe_signed(&body);

    let first = post(addr, "/stripe", headers.clone(), &body).await;
    assert_eq!((first.status, first.text.as_str()), (200, "accepted"));
    let record = inbox
        .inspect("stripe:id:evt_1")
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(record.meta.status, Status::Pending);
    assert_eq!(&record.body[..], &body[..]);
    assert!(record.headers.get("stripe-signature").is_none());
    assert_eq!(record.headers["content-type"], "application/json");

    let again = post(addr, "/stripe", headers, &body).await;
    assert_eq!(
        (again.status, again.text.as_str()),
        (200, "already accepted")
    );
    assert_eq!(counts(&inbox).await.pending, 1, "stored once");
}

/// Ten copies of one delivery at once: every copy is answered 200 (each once the record is
/// stored), and the record is stored once.
async fn concurrent_copies_are_stored_once(framework: Framework) {
    let dir = TempDir::new("burst");
    let inbox = inbox(&dir, None).await;
    let addr = serve(framework, vec![route("/stripe", stripe_endpoint(&inbox))]);
    let body = stripe_body("evt_burst");
    let headers = stripe_signed(&body);
    let sends: Vec<_> = (0..10)
        .map(|_| {
            let (headers, body) = (headers.clone(), body.clone());
            tokio::spawn(async move { post(addr, "/stripe", headers, &body).await })
        })
        .collect();
    let mut texts = Vec::new();
    for send in sends {
        let answer = send.await.unwrap();
        assert_eq!(answer.status, 200);
        texts.push(answer.text);
    }
    assert_eq!(
        texts.iter().filter(|t| *t == "accepted").count(),
        1,
        "{texts:?}"
    );
    assert_eq!(counts(&inbox).await.pending, 1);
    assert_eq!(inbox.engine().started.load(Ordering::SeqCst), 10);
}

/// A bad signature is answered 401, a missing header 400, and nothing is stored.
async fn a_bad_signature_is_401_and_stores_nothing(framework: Framework) {
    let dir = TempDir::new("forged");
    let inbox = inbox(&dir, None).await;
    let addr = serve(framework, vec![route("/stripe", stripe_endpoint(&inbox))]);
    let body = stripe_body("evt_forged");
    let headers = stripe_signed(&body);

    let tampered = stripe_body("evt_tampered");
    let r = post(addr, "/stripe", headers, &tampered).await;
    assert_eq!(
        (r.status, r.text.as_str()),
        (401, "invalid webhook signature")
    );
    let r = post(addr, "/stripe", HeaderMap::new(), &body).await;
    assert_eq!(r.status, 400);
    let c = counts(&inbox).await;
    assert_eq!((c.pending, c.running, c.done, c.dead), (0, 0, 0, 0));
    assert_eq!(inbox.engine().started.load(Ordering::SeqCst), 0);
}

/// A scheme's own rejection status is kept: GoCardless answers 498 to a bad signature.
async fn a_scheme_s_own_rejection_status_is_kept(framework: Framework) {
    let dir = TempDir::new("gocardless");
    let inbox = inbox(&dir, None).await;
    let verifier = Verifier::builder(GoCardless::new())
        .secret(GOCARDLESS_SECRET)
        .build()
        .unwrap();
    let endpoint = inbox.endpoint(verifier).namespace("gc").build().unwrap();
    let addr = serve(framework, vec![route("/gc", endpoint)]);
    let body = br#"{"events":[{"id":"EV1"}]}"#;
    let headers = Signer::new(GoCardless::new(), GOCARDLESS_SECRET)
        .unwrap()
        .sign(body)
        .unwrap();
    assert_eq!(post(addr, "/gc", headers.clone(), body).await.status, 200);
    let r = post(addr, "/gc", headers, br#"{"events":[{"id":"EV2"}]}"#).await;
    assert_eq!(r.status, 498);
    assert_eq!(counts(&inbox).await.pending, 1);
}

/// A body over the limit is answered 413 — declared in `Content-Length` or sent chunked — and
/// not stored.
async fn an_oversized_body_is_413(framework: Framework) {
    let dir = TempDir::new("oversized");
    let inbox = inbox(&dir, None).await;
    let addr = serve(framework, vec![route("/stripe", stripe_endpoint(&inbox))]);
    let mut body = stripe_body("evt_big");
    body.truncate(body.len() - 1);
    body.extend(format!(r#","pad":"{}"}}"#, "x".repeat(BODY_LIMIT)).bytes());
    let headers = stripe_signed(&body);
    let r = post(addr, "/stripe", headers.clone(), &body).await;
    assert_eq!((r.status, r.text.as_str()), (413, "payload too large"));

    // Chunked: no length to refuse at once; the limit stops the read.
    let mut request = String::from("POST /stripe HTTP/1.1\r\nhost: localhost\r\n");
    for (name, value) in &headers {
        request.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap()));
    }
    request.push_str("transfer-encoding: chunked\r\nconnection: close\r\n\r\n");
    let mut request = request.into_bytes();
    for chunk in body.chunks(300) {
        request.extend(format!("{:x}\r\n", chunk.len()).bytes());
        request.extend_from_slice(chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let mut stream = send_and_keep_open(addr, &request).await;
    let mut response = Vec::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut response),
    )
    .await
    .expect("answered in time")
    .ok();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert_eq!(counts(&inbox).await.pending, 0);
}

/// The inbox holds its `max_pending`: a new delivery is answered 503 + `Retry-After` and not
/// stored; a duplicate of a stored one is still 200.
async fn a_full_inbox_is_503_with_retry_after(framework: Framework) {
    let dir = TempDir::new("full");
    let inbox = inbox(&dir, Some(1)).await;
    let addr = serve(framework, vec![route("/stripe", stripe_endpoint(&inbox))]);
    let first = stripe_body("evt_first");
    assert_eq!(
        post(addr, "/stripe", stripe_signed(&first), &first)
            .await
            .status,
        200
    );
    let second = stripe_body("evt_second");
    let r = post(addr, "/stripe", stripe_signed(&second), &second).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.retry_after.as_deref(), Some("5"));
    assert_eq!(r.text, "temporarily unavailable, retry later");
    assert!(
        inbox
            .inspect("stripe:id:evt_second")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        post(addr, "/stripe", stripe_signed(&first), &first)
            .await
            .status,
        200,
        "a duplicate is stored already"
    );
    assert_eq!(counts(&inbox).await.pending, 1);
}

/// An engine that is down (SQLite closed) is answered 503 + `Retry-After`; one that answers
/// nonsense, 500. Never a 2xx.
async fn an_engine_down_is_503(framework: Framework) {
    let dir = TempDir::new("down");
    let inbox = inbox(&dir, None).await;
    let broken_dir = TempDir::new("broken");
    let broken = self::inbox(&broken_dir, None).await;
    broken.engine().broken.store(true, Ordering::SeqCst);
    let addr = serve(
        framework,
        vec![
            route("/stripe", stripe_endpoint(&inbox)),
            route("/broken", stripe_endpoint(&broken)),
        ],
    );
    let body = stripe_body("evt_down");
    let r = post(addr, "/broken", stripe_signed(&body), &body).await;
    assert_eq!(r.status, 500);
    assert_eq!(r.retry_after, None);
    assert!(!r.text.contains("nonsense"), "{}", r.text);

    inbox.engine().inner.close().await;
    let r = post(addr, "/stripe", stripe_signed(&body), &body).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.retry_after.as_deref(), Some("5"));
    assert_eq!(inbox.engine().finished.load(Ordering::SeqCst), 1);
}

/// An engine that panics — on the accept's first poll, or once it has waited — is answered
/// 503 + `Retry-After`, like one that is down: nothing was acknowledged, the sender retries,
/// and the route goes on serving.
async fn an_engine_that_panics_is_503(framework: Framework) {
    let dir = TempDir::new("panics");
    let inbox = inbox(&dir, None).await;
    let addr = serve(framework, vec![route("/stripe", stripe_endpoint(&inbox))]);
    let body = stripe_body("evt_panics");
    for mode in [1, 2] {
        inbox.engine().panicking.store(mode, Ordering::SeqCst);
        let r = post(addr, "/stripe", stripe_signed(&body), &body).await;
        assert_eq!(r.status, 503, "mode {mode}");
        assert_eq!(r.retry_after.as_deref(), Some("5"), "mode {mode}");
        assert!(!r.text.contains("engine bug"), "{}", r.text);
    }
    inbox.engine().panicking.store(0, Ordering::SeqCst);
    let r = post(addr, "/stripe", stripe_signed(&body), &body).await;
    assert_eq!(r.status, 200);
    assert_eq!(counts(&inbox).await.pending, 1);
}

/// A sender that hangs up while the engine is still accepting: the accept goes on, the record
/// is stored, and the sender's retry is answered 200 as a duplicate.
async fn a_sender_hanging_up_mid_accept_loses_nothing(framework: Framework) {
    let dir = TempDir::new("hangup");
    let inbox = inbox(&dir, None).await;
    inbox.engine().gated.store(true, Ordering::SeqCst);
    let addr = serve(framework, vec![route("/stripe", stripe_endpoint(&inbox))]);
    let body = stripe_body("evt_hangup");
    let headers = stripe_signed(&body);

    let connection = send_and_keep_open(addr, &raw_request("/stripe", &headers, &body)).await;
    let engine = inbox.engine();
    wait_until("the accept started", || {
        engine.started.load(Ordering::SeqCst) == 1
    })
    .await;
    drop(connection);
    // Let the server notice the hang-up before the engine goes on.
    tokio::time::sleep(Duration::from_millis(100)).await;
    engine.gate.add_permits(1);
    wait_until("the accept finished (a hang-up must not cancel it)", || {
        engine.finished.load(Ordering::SeqCst) == 1
    })
    .await;
    let record = inbox.inspect("stripe:id:evt_hangup").await.unwrap();
    assert_eq!(record.expect("stored").meta.status, Status::Pending);

    inbox.engine().gated.store(false, Ordering::SeqCst);
    let r = post(addr, "/stripe", headers, &body).await;
    assert_eq!((r.status, r.text.as_str()), (200, "already accepted"));
    assert_eq!(counts(&inbox).await.pending, 1);
}

/// Twilio signs the URL it calls: behind a configured public URL the route verifies it; a
/// request signed for another URL is 401; without a public URL the route answers 500 (a
/// configuration mistake), storing nothing.
async fn a_url_signing_provider_verifies_behind_a_public_url(framework: Framework) {
    let dir = TempDir::new("twilio");
    let inbox = inbox(&dir, None).await;
    let verifier = || {
        Verifier::builder(Twilio::new())
            .secret(TWILIO_TOKEN)
            .build()
            .unwrap()
    };
    let configured = inbox
        .endpoint(verifier())
        .namespace("twilio")
        .public_url(PublicUrl::Base("https://hooks.example.com/base".into()))
        .build()
        .unwrap();
    assert_eq!(
        configured
            .request_url(Some("ignored"), "/twilio?a=1")
            .as_deref(),
        Some("https://hooks.example.com/base/twilio?a=1")
    );
    let unconfigured = inbox
        .endpoint(verifier())
        .namespace("bare")
        .build()
        .unwrap();
    let addr = serve(
        framework,
        vec![route("/twilio", configured), route("/bare", unconfigured)],
    );
    let body = b"CallSid=CA1234567890ABCDE&Caller=%2B14158675310&Digits=1234";
    let signed_for = |url: &str| {
        let mut headers = Signer::new(Twilio::new(), TWILIO_TOKEN)
            .unwrap()
            .url(url)
            .sign(body)
            .unwrap();
        headers.insert(
            "content-type",
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        headers
    };
    let r = post(
        addr,
        "/twilio?a=1",
        signed_for("https://hooks.example.com/base/twilio?a=1"),
        body,
    )
    .await;
    assert_eq!((r.status, r.text.as_str()), (200, "accepted"));
    assert_eq!(counts(&inbox).await.pending, 1);

    let r = post(
        addr,
        "/twilio?a=1",
        signed_for("https://elsewhere.example.com/base/twilio?a=1"),
        body,
    )
    .await;
    assert_eq!(r.status, 401);
    let r = post(
        addr,
        "/bare",
        signed_for("https://hooks.example.com/base/bare"),
        body,
    )
    .await;
    assert_eq!(r.status, 500);
    assert_eq!(counts(&inbox).await.pending, 1);
    // With `PublicUrl::FromHost`, a request with no `Host` is the sender's mistake (400), not a
    // configuration one: here through the endpoint itself (HTTP clients always send a `Host`).
    let from_host = inbox
        .endpoint(verifier())
        .namespace("from-host")
        .public_url(PublicUrl::FromHost)
        .build()
        .unwrap();
    let refused = from_host
        .receive_request(
            "POST",
            None,
            &signed_for("https://hooks.example.com/twilio"),
            bytes::Bytes::from_static(body),
        )
        .await;
    match refused {
        Err(webhook_receiver::inbox::InboxReceiveError::Verify(e)) => assert_eq!(e.status(), 400),
        other => panic!("{:?}", other.map(|r| r.is_duplicate())),
    }
    assert_eq!(counts(&inbox).await.pending, 1);
}

/// The success status is configurable (202, 204 without a body); a non-2xx one is refused.
async fn the_success_status_is_configurable(framework: Framework) {
    let dir = TempDir::new("status");
    let inbox = inbox(&dir, None).await;
    let endpoint = stripe_endpoint(&inbox);
    assert!(
        webhook_receiver::axum::InboxService::new(endpoint.clone())
            .success_status(StatusCode::FOUND)
            .is_err()
    );
    assert!(
        webhook_receiver::actix::InboxHandler::new(endpoint.clone())
            .success_status(StatusCode::INTERNAL_SERVER_ERROR)
            .is_err()
    );
    let debug = format!(
        "{:?} {:?}",
        webhook_receiver::axum::InboxService::new(endpoint.clone()),
        webhook_receiver::actix::InboxHandler::new(endpoint.clone())
    );
    assert!(debug.contains("success_status: 200"), "{debug}");
    assert!(!debug.contains(STRIPE_SECRET), "a secret in Debug: {debug}");
    let addr = serve(
        framework,
        vec![
            Route {
                path: "/accepted",
                endpoint: endpoint.clone(),
                success: Some(StatusCode::ACCEPTED),
            },
            Route {
                path: "/empty",
                endpoint,
                success: Some(StatusCode::NO_CONTENT),
            },
        ],
    );
    let body = stripe_body("evt_202");
    let r = post(addr, "/accepted", stripe_signed(&body), &body).await;
    assert_eq!((r.status, r.text.as_str()), (202, "accepted"));
    let r = post(addr, "/accepted", stripe_signed(&body), &body).await;
    assert_eq!((r.status, r.text.as_str()), (202, "already accepted"));
    let body = stripe_body("evt_204");
    let r = post(addr, "/empty", stripe_signed(&body), &body).await;
    assert_eq!((r.status, r.text.as_str()), (204, ""));
    assert_eq!(counts(&inbox).await.pending, 2);
}

macro_rules! on_both_frameworks {
    ($($scenario:ident),* $(,)?) => {
        mod axum_route {
            $(
                #[actix_web::test]
                async fn $scenario() {
                    super::$scenario(super::Framework::Axum).await;
                }
            )*
        }
        mod actix_handler {
            $(
                #[actix_web::test]
                async fn $scenario() {
                    super::$scenario(super::Framework::Actix).await;
                }
            )*
        }
    };
}

on_both_frameworks!(
    a_signed_delivery_is_stored_once,
    concurrent_copies_are_stored_once,
    a_bad_signature_is_401_and_stores_nothing,
    a_scheme_s_own_rejection_status_is_kept,
    an_oversized_body_is_413,
    a_full_inbox_is_503_with_retry_after,
    an_engine_down_is_503,
    an_engine_that_panics_is_503,
    a_sender_hanging_up_mid_accept_loses_nothing,
    a_url_signing_provider_verifies_behind_a_public_url,
    the_success_status_is_configurable,
);

/// Feature `metrics`: a body over the limit, refused by the route before the endpoint saw it,
/// is counted like the endpoint's own refusals.
#[cfg(feature = "metrics")]
#[test]
fn oversized_bodies_are_counted_in_the_endpoint_s_metrics() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use tower::ServiceExt;

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let dir = TempDir::new("metrics");
    let mut body = stripe_body("evt_big");
    body.extend(std::iter::repeat_n(b' ', BODY_LIMIT));
    let headers = stripe_signed(&body);
    metrics::with_local_recorder(&recorder, || {
        actix_web::rt::System::new().block_on(async {
            let inbox = inbox(&dir, None).await;
            // axum: declared too long, then too long without a declared length.
            let service = webhook_receiver::axum::InboxService::new(stripe_endpoint(&inbox));
            for declared in [true, false] {
                let mut request = http::Request::post("/stripe")
                    .body(axum::body::Body::from(body.clone()))
                    .unwrap();
                *request.headers_mut() = headers.clone();
                if declared {
                    request
                        .headers_mut()
                        .insert("content-length", body.len().into());
                }
                let response = service.clone().oneshot(request).await.unwrap();
                assert_eq!(response.status(), 413);
            }
            // actix-web.
            let handler = webhook_receiver::actix::InboxHandler::new(stripe_endpoint(&inbox));
            let app = actix_web::test::init_service(
                actix_web::App::new()
                    .service(actix_web::web::resource("/stripe").route(handler.route())),
            )
            .await;
            let mut request = actix_web::test::TestRequest::post().uri("/stripe");
            for (name, value) in &headers {
                request = request.insert_header((name.as_str(), value.to_str().unwrap()));
            }
            let request = request.set_payload(body.clone()).to_request();
            let response = actix_web::test::call_service(&app, request).await;
            assert_eq!(response.status().as_u16(), 413);
            assert_eq!(counts(&inbox).await.pending, 0);
        });
    });
    let counted = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .find_map(|(key, _, _, value)| {
            let key = key.key();
            let labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            let reason = "endpoint=stripe,provider=stripe,reason=body_too_large";
            (key.name() == "webhook_receiver_inbox_rejected_total" && labels.join(",") == reason)
                .then_some(value)
        });
    assert_eq!(counted, Some(DebugValue::Counter(3)));
}
