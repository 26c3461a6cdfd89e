//! Feature `tracing`: one span per delivery with provider, event id and outcome — and never a
//! secret or the body, not even when the body does not match the handler's type.

mod captured;
mod common;

use captured::Captured;

use axum::Router;
use axum::routing::post;
use webhook_receiver::axum::{WebhookJson, WebhookLayer};
use webhook_receiver::dedup::MemoryStore;
use webhook_receiver::providers::StandardWebhooks;
use webhook_receiver::testing::Signer;
use webhook_receiver::{Receiver, Verifier};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const BODY_MARKER: &str = "TOP-SECRET-CARD-NUMBER-4242";

fn receiver() -> Receiver {
    let verifier = Verifier::builder(StandardWebhooks::new())
        .labeled_secret("current", SECRET)
        .build()
        .unwrap();
    Receiver::new(verifier, MemoryStore::new())
}

/// An authentic body whose `n` is an email address where the handler expects a number: serde's
/// message would quote it.
const MISMATCHED_BODY: &str = r#"{"n":"alice.personal@example.com"}"#;
const MISMATCHED_VALUE: &str = "alice.personal@example.com";

#[derive(serde::Deserialize)]
#[allow(dead_code)] // Only deserialized.
struct Typed {
    n: u64,
}

fn signed_mismatch() -> http::HeaderMap {
    Signer::new(StandardWebhooks::new(), SECRET)
        .unwrap()
        .id("msg_mismatch")
        .sign(MISMATCHED_BODY.as_bytes())
        .unwrap()
}

/// The logs say that and where the payload did not match — never what it contained.
fn assert_mismatch_logged_without_the_body(logs: &str) {
    assert!(logs.contains("does not match"), "{logs}");
    assert!(logs.contains("line 1"), "{logs}");
    assert!(
        !logs.contains(MISMATCHED_VALUE),
        "the body leaked into the logs:\n{logs}"
    );
}

/// What `run` logs, run to its end on a current-thread Tokio runtime on this thread: the
/// server's tasks and the handlers run under the capturing subscriber.
fn logs_of(run: impl std::future::Future<Output = ()>) -> String {
    let captured = Captured::default();
    let _guard = captured.on_this_thread();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(run);
    captured.text()
}

#[test]
fn axum_a_payload_mismatch_is_logged_without_the_body() {
    let logs = logs_of(async {
        let app = Router::new().route(
            "/",
            post(|_: WebhookJson<Typed>| async { "ok" }).layer(WebhookLayer::new(receiver())),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let r = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .post(format!("http://{addr}/"))
            .headers(signed_mismatch())
            .body(MISMATCHED_BODY)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422);
        assert!(!r.text().await.unwrap().contains(MISMATCHED_VALUE));
    });
    assert_mismatch_logged_without_the_body(&logs);
}

#[test]
fn actix_a_payload_mismatch_is_logged_without_the_body() {
    use actix_web::{App, test, web};
    use webhook_receiver::actix::{WebhookJson, WebhookMiddleware};

    let captured = Captured::default();
    let _guard = captured.on_this_thread();
    // actix's test service runs on this thread, under this subscriber.
    actix_web::rt::System::new().block_on(async {
        let app = test::init_service(
            App::new().service(
                web::resource("/")
                    .wrap(WebhookMiddleware::new(receiver()))
                    .route(web::post().to(|_: WebhookJson<Typed>| async { "ok" })),
            ),
        )
        .await;
        let mut req = test::TestRequest::post().uri("/");
        for (name, value) in &signed_mismatch() {
            req = req.insert_header((name.as_str(), value.to_str().unwrap()));
        }
        let r = test::call_service(&app, req.set_payload(MISMATCHED_BODY).to_request()).await;
        assert_eq!(r.status().as_u16(), 422);
        let body = test::read_body(r).await;
        assert!(!String::from_utf8_lossy(&body).contains(MISMATCHED_VALUE));
    });
    assert_mismatch_logged_without_the_body(&captured.text());
}

#[test]
fn one_span_per_delivery_without_secrets_or_body() {
    let logs = logs_of(async {
        let app = Router::new().route(
            "/",
            post(|| async {
                // Awaiting hands the handler to a task of its own: it stays in the span.
                tokio::task::yield_now().await;
                tracing::info!("handler done");
                "ok"
            })
            .layer(WebhookLayer::new(receiver())),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

        let body = format!(r#"{{"card":"{BODY_MARKER}"}}"#);
        let headers = Signer::new(StandardWebhooks::new(), SECRET)
            .unwrap()
            .id("msg_traced")
            .sign(body.as_bytes())
            .unwrap();
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let url = format!("http://{addr}/");
        for (headers, expected) in [
            (headers.clone(), 200),
            (headers.clone(), 200),
            (http::HeaderMap::new(), 400),
        ] {
            let r = client
                .post(&url)
                .headers(headers)
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), expected);
        }
        // A bad signature, whose expected value must not be logged either.
        let wrong = Signer::new(
            StandardWebhooks::new(),
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
        )
        .unwrap()
        .id("msg_forged")
        .sign(body.as_bytes())
        .unwrap();
        let r = client
            .post(&url)
            .headers(wrong)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    });

    assert!(
        logs.contains(r#"webhook{provider="standard-webhooks""#),
        "{logs}"
    );
    assert!(logs.contains(r#"event_id="msg_traced""#), "{logs}");
    assert!(
        logs.lines()
            .any(|l| l.contains(r#"event_id="msg_traced""#) && l.contains("handler done")),
        "the handler's own events are in the delivery's span:\n{logs}"
    );
    assert!(logs.contains("outcome=\"duplicate\""), "{logs}");
    assert!(logs.contains("outcome=\"rejected\""), "{logs}");
    assert!(logs.contains("status=401"), "{logs}");
    assert!(logs.contains("signature mismatch"), "{logs}");
    assert!(
        !logs.contains(BODY_MARKER),
        "the body leaked into the logs:\n{logs}"
    );
    assert!(
        !logs.contains("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        "a secret leaked:\n{logs}"
    );
    assert!(
        !logs.contains("C2FVsBQIhrscChlQIMV"),
        "a secret leaked:\n{logs}"
    );
}

/// Failing open, the log says the handler ran without deduplication — not that a lease
/// expired, which there never was.
#[test]
fn failing_open_is_logged_as_unguarded_not_as_a_lost_lease() {
    use tower::ServiceExt;

    let logs = logs_of(async {
        let verifier = Verifier::builder(StandardWebhooks::new())
            .secret(SECRET)
            .build()
            .unwrap();
        let receiver = Receiver::builder(verifier, common::DownStore)
            .insecure_fail_open_on_store_error(true)
            .build()
            .unwrap();
        let app: Router = Router::new().route(
            "/",
            post(|| async { "ok" }).layer(WebhookLayer::new(receiver)),
        );
        let body = r#"{"type":"ping"}"#;
        let mut request = http::Request::post("/")
            .body(axum::body::Body::from(body))
            .unwrap();
        *request.headers_mut() = Signer::new(StandardWebhooks::new(), SECRET)
            .unwrap()
            .id("msg_unguarded")
            .sign(body.as_bytes())
            .unwrap();
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(response.status(), 200);
    });
    assert!(logs.contains("without deduplication"), "{logs}");
    assert!(!logs.contains("lease expired"), "{logs}");
}

/// A held key used because fetching it again failed is not silent: the provider's key
/// endpoint is failing, and the key is used on for up to `stale_if_error`.
#[test]
fn a_held_key_used_because_its_refresh_failed_is_logged() {
    use std::time::Duration;
    use webhook_receiver::keysource::{KeyCache, KeyKind, KeyRef};
    use webhook_receiver::providers::Sns;
    use webhook_receiver::testing::LocalKeys;

    const URL: &str = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-1.pem";
    // 2030-01-01, inside the fixture certificate's validity.
    let at = |t: i64| time::OffsetDateTime::from_unix_timestamp(1_893_456_000 + t).unwrap();
    let keys = LocalKeys::new().with(URL, include_str!("fixtures/keys/sns-a.cert.pem"));
    let cache = KeyCache::builder(keys.clone())
        .ttl(Duration::from_secs(60))
        .build()
        .unwrap();
    let scheme = Sns::new("arn:aws:sns:us-east-1:123456789012:orders").unwrap();
    let key = KeyRef::new("aws-sns", KeyKind::CertificateUrl, URL);
    let logs = logs_of(async {
        cache.resolve(&scheme, &key, at(0)).await.unwrap();
        keys.unavailable(URL);
        cache.resolve(&scheme, &key, at(61)).await.unwrap();
    });
    assert!(logs.contains("fetching a held key again failed"), "{logs}");
    assert!(logs.contains("stale=true"), "{logs}");
    assert_eq!(keys.fetches(), 2);
}
