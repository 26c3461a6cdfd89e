//! Feature `tracing`: the inbox routes (`axum::InboxService`, `actix::InboxHandler`) log one
//! span per delivery with provider, event id and outcome — never the body nor a secret.
//!
//! A binary of its own, where every test logs under a subscriber: tracing caches per call site
//! whether anyone listens, and tests without a subscriber running alongside race with that cache.

mod captured;

use captured::Captured;

use http::{HeaderMap, HeaderValue};
use webhook_receiver::Verifier;
use webhook_receiver::inbox::{Inbox, InboxEndpoint, SqliteInbox};
use webhook_receiver::providers::Stripe;
use webhook_receiver::testing::Signer;

const STRIPE_SECRET: &str = "whsec_test_secret";
const BODY_MARKER: &str = "TOP-SECRET-CARD-NUMBER-4242";

/// A fresh directory, removed when dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "webhook-inbox-http-logs-{name}-{}-{:x}",
            std::process::id(),
            webhook_receiver::dedup::LeaseToken::random().get() as u64
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

/// A Stripe endpoint on an inbox that holds one unfinished record at most.
async fn endpoint(dir: &TempDir) -> InboxEndpoint<SqliteInbox> {
    let engine = SqliteInbox::open(dir.0.join("inbox.db")).await.unwrap();
    let inbox = Inbox::builder(engine).max_pending(1).build().unwrap();
    let verifier = Verifier::builder(Stripe::new())
        .secret(STRIPE_SECRET)
        .build()
        .unwrap();
    inbox
        .endpoint(verifier)
        .namespace("stripe")
        .build()
        .unwrap()
}

fn signed(body: &[u8]) -> HeaderMap {
    let mut headers = Signer::new(Stripe::new(), STRIPE_SECRET)
        .unwrap()
        .sign(body)
        .unwrap();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers
}

fn marked_body(id: &str) -> Vec<u8> {
    format!(r#"{{"id":"{id}","card":"{BODY_MARKER}"}}"#).into_bytes()
}

/// Stored, duplicate, forged, full — and the statuses they must get.
fn requests() -> Vec<(HeaderMap, Vec<u8>, u16)> {
    let stored = marked_body("evt_logged");
    let forged = marked_body("evt_forged");
    let full = marked_body("evt_full");
    vec![
        (signed(&stored), stored.clone(), 200),
        (signed(&stored), stored.clone(), 200),
        (signed(&stored), forged, 401),
        (signed(&full), full, 503),
    ]
}

/// What each request logged, in its span; nothing of the body or the secret.
fn assert_logged_without_body_or_secret(logs: &str) {
    let accepted = r#"webhook{provider="stripe" event_id="evt_logged" outcome="accepted"}"#;
    assert!(logs.contains(accepted), "{logs}");
    let duplicate = r#"webhook{provider="stripe" event_id="evt_logged" outcome="duplicate"}"#;
    assert!(logs.contains(duplicate), "{logs}");
    assert!(
        logs.lines().any(|l| l.contains(r#"outcome="rejected""#)
            && l.contains("status=401")
            && l.contains("signature mismatch")),
        "{logs}"
    );
    assert!(
        logs.lines().any(|l| l.contains(r#"outcome="rejected""#)
            && l.contains("status=503")
            && l.contains("inbox full")),
        "{logs}"
    );
    assert!(
        !logs.contains(BODY_MARKER),
        "the body leaked into the logs:\n{logs}"
    );
    assert!(!logs.contains(STRIPE_SECRET), "a secret leaked:\n{logs}");
    assert!(!logs.contains("v1="), "a signature leaked:\n{logs}");
}

#[test]
fn axum_route_logs_without_body_or_secret() {
    use webhook_receiver::axum::InboxService;

    let captured = Captured::default();
    let _guard = captured.on_this_thread();
    // A current-thread runtime: the server's tasks run on this thread, under this subscriber.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = TempDir::new("axum");
        let app = axum::Router::new().route(
            "/stripe",
            axum::routing::post_service(InboxService::new(endpoint(&dir).await)),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        for (headers, body, status) in requests() {
            let r = client
                .post(format!("http://{addr}/stripe"))
                .headers(headers)
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), status);
        }
    });
    assert_logged_without_body_or_secret(&captured.text());
}

#[test]
fn actix_handler_logs_without_body_or_secret() {
    use actix_web::{App, test, web};
    use webhook_receiver::actix::InboxHandler;

    let captured = Captured::default();
    let _guard = captured.on_this_thread();
    // actix's test service runs on this thread, under this subscriber.
    actix_web::rt::System::new().block_on(async {
        let dir = TempDir::new("actix");
        let handler = InboxHandler::new(endpoint(&dir).await);
        let app =
            test::init_service(App::new().service(web::resource("/stripe").route(handler.route())))
                .await;
        for (headers, body, status) in requests() {
            let mut req = test::TestRequest::post().uri("/stripe");
            for (name, value) in &headers {
                req = req.insert_header((name.as_str(), value.to_str().unwrap()));
            }
            let r = test::call_service(&app, req.set_payload(body).to_request()).await;
            assert_eq!(r.status().as_u16(), status);
        }
    });
    assert_logged_without_body_or_secret(&captured.text());
}
