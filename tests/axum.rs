//! End-to-end over real loopback HTTP for the axum layer: a server bound to 127.0.0.1:0, a
//! reqwest client, the shared scenarios of `common::scenarios` (one per row of the README's status
//! table, the body-limit edge cases, a slow handler with a concurrent duplicate, a panicking
//! handler, senders that hang up, cross-provider routes), and what only axum has.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::post;
use http::StatusCode;
use webhook_receiver::axum::{WebhookJson, WebhookLayer};
use webhook_receiver::dedup::{DedupStore, MemoryStore};
use webhook_receiver::providers::StandardWebhooks;
use webhook_receiver::{Receiver, Rejection, Verified, Verifier};

mod common;

use common::scenarios::{self, Handler, Payload, TestServer};
use common::{DownStore, SW_SECRET, SlowComplete, sw};

async fn handle(
    handler: Arc<Handler>,
    verified: Verified<'static>,
    WebhookJson(payload): WebhookJson<Payload>,
) -> axum::response::Response {
    match handler.run(verified.scheme(), &payload).await {
        Ok(body) => body.into_response(),
        Err(()) => (StatusCode::INTERNAL_SERVER_ERROR, "handler failed").into_response(),
    }
}

async fn start<St: DedupStore + Clone>(store: St) -> TestServer {
    let handler = Arc::new(Handler::default());
    let (sw, stripe) = scenarios::receivers(store);
    let (h1, h2) = (Arc::clone(&handler), Arc::clone(&handler));
    let mut app = Router::new();
    for (path, receiver) in scenarios::provider_receivers() {
        let h = Arc::clone(&handler);
        app = app.route(
            path,
            post(move |v, j| handle(Arc::clone(&h), v, j)).layer(WebhookLayer::new(receiver)),
        );
    }
    let app = app
        .route(
            "/sw",
            post(move |v, j| handle(Arc::clone(&h1), v, j)).layer(WebhookLayer::new(sw)),
        )
        .route(
            "/stripe",
            post(move |v, j| handle(Arc::clone(&h2), v, j)).layer(WebhookLayer::new(stripe)),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    TestServer::new(addr, handler)
}

#[tokio::test]
async fn new_delivery_handler_2xx_is_answered_and_completed() {
    scenarios::new_delivery_handler_2xx_is_answered_and_completed(start(MemoryStore::new()).await)
        .await;
}

#[tokio::test]
async fn new_delivery_handler_failure_is_answered_and_released() {
    scenarios::new_delivery_handler_failure_is_answered_and_released(
        start(MemoryStore::new()).await,
    )
    .await;
}

#[tokio::test]
async fn duplicate_already_completed_is_200_without_the_handler() {
    scenarios::duplicate_already_completed_is_200_without_the_handler(
        start(MemoryStore::new()).await,
    )
    .await;
}

#[tokio::test]
async fn duplicate_in_flight_is_409_with_retry_after_then_200() {
    scenarios::duplicate_in_flight_is_409_with_retry_after_then_200(
        start(MemoryStore::new()).await,
    )
    .await;
}

#[tokio::test]
async fn missing_or_malformed_headers_are_400() {
    scenarios::missing_or_malformed_headers_are_400(start(MemoryStore::new()).await).await;
}

#[tokio::test]
async fn bad_signature_or_timestamp_outside_tolerance_is_401() {
    scenarios::bad_signature_or_timestamp_outside_tolerance_is_401(start(MemoryStore::new()).await)
        .await;
}

#[tokio::test]
async fn body_over_the_limit_is_413() {
    scenarios::body_over_the_limit_is_413(start(MemoryStore::new()).await).await;
}

#[tokio::test]
async fn a_declared_content_length_over_the_limit_is_refused_before_reading() {
    scenarios::a_declared_content_length_over_the_limit_is_refused_before_reading(
        start(MemoryStore::new()).await,
    )
    .await;
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_413() {
    scenarios::a_chunked_body_over_the_limit_is_413(start(MemoryStore::new()).await).await;
}

#[tokio::test]
async fn a_panicking_handler_releases_and_the_retry_is_processed() {
    scenarios::a_panicking_handler_releases_and_the_retry_is_processed(
        start(MemoryStore::new()).await,
    )
    .await;
}

#[tokio::test]
async fn a_sender_hanging_up_mid_handler_does_not_cancel_it() {
    scenarios::a_sender_hanging_up_mid_handler_does_not_cancel_it(start(MemoryStore::new()).await)
        .await;
}

#[tokio::test]
async fn a_sender_hanging_up_during_the_completion_loses_nothing() {
    let store = SlowComplete::new(MemoryStore::new(), Duration::from_millis(500));
    scenarios::a_sender_hanging_up_during_the_completion_loses_nothing(
        start(store.clone()).await,
        store,
    )
    .await;
}

#[tokio::test]
async fn a_sender_hanging_up_at_once_loses_nothing() {
    let store = SlowComplete::new(MemoryStore::new(), Duration::from_millis(200));
    scenarios::a_sender_hanging_up_at_once_loses_nothing(start(store).await).await;
}

#[tokio::test]
async fn a_route_for_one_provider_rejects_another_providers_signature() {
    scenarios::a_route_for_one_provider_rejects_another_providers_signature(
        start(MemoryStore::new()).await,
    )
    .await;
}

#[tokio::test]
async fn store_unavailable_is_503_with_retry_after() {
    scenarios::store_unavailable_is_503_with_retry_after(start(DownStore).await).await;
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
    let r = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
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

#[tokio::test]
async fn extractors_without_the_layer_answer_500_and_never_parse_the_body() {
    use tower::ServiceExt;
    use webhook_receiver::axum::{ExtractError, VerifiedBody};
    let app = Router::new()
        .route("/json", post(|_: WebhookJson<Payload>| async { "parsed" }))
        .route("/body", post(|_: VerifiedBody| async { "read" }))
        .route(
            "/verified",
            post(|_: Verified<'static>| async { "verified" }),
        )
        .route(
            "/typed",
            post(|r: Result<WebhookJson<Payload>, ExtractError>| async move {
                match r {
                    Err(ExtractError::MissingLayer) => "missing layer",
                    _ => "unexpected",
                }
            }),
        );
    for path in ["/json", "/body", "/verified"] {
        let req = http::Request::post(path)
            .body(axum::body::Body::from(r#"{"n":1}"#))
            .unwrap();
        let res = app.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), 500, "{path}");
        let body = axum::body::to_bytes(res.into_body(), 1024).await.unwrap();
        assert_eq!(&body[..], b"webhook layer missing", "{path}");
    }
    let req = http::Request::post("/typed")
        .body(axum::body::Body::from(r#"{"n":1}"#))
        .unwrap();
    let res = app.oneshot(req).await.unwrap();
    let body = axum::body::to_bytes(res.into_body(), 1024).await.unwrap();
    assert_eq!(&body[..], b"missing layer");
}

#[tokio::test]
async fn provider_urls_and_statuses() {
    scenarios::provider_urls_and_statuses(start(MemoryStore::new()).await).await;
}

/// A receiver of Square (keyed `square key`) behind `public_url`, and a `/square` route
/// answering `handled` through it.
fn square_route(public_url: webhook_receiver::PublicUrl) -> (Receiver, Router) {
    let verifier = Verifier::builder(webhook_receiver::providers::Square::new())
        .secret("square key")
        .build()
        .unwrap();
    let receiver = Receiver::builder(verifier, MemoryStore::new())
        .public_url(public_url)
        .build()
        .unwrap();
    let route = Router::new().route(
        "/square",
        post(|| async { "handled" }).layer(WebhookLayer::new(receiver.clone())),
    );
    (receiver, route)
}

/// Under `Router::nest`, axum strips the prefix from the URI the inner routes see; a scheme
/// that signs the URL (Square) is verified against the URL the sender called, prefix
/// included.
#[tokio::test]
async fn a_nested_route_verifies_the_url_the_sender_called() {
    use webhook_receiver::PublicUrl;
    use webhook_receiver::providers::Square;
    use webhook_receiver::testing::Signer;

    let (_, inner) = square_route(PublicUrl::Base("https://hooks.example.com".into()));
    let app = Router::new().nest("/hooks", inner);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let body = br#"{"event_id":"e-nested-1"}"#;
    let signed_for = |url: &str| {
        Signer::new(Square::new(), "square key")
            .unwrap()
            .url(url)
            .sign(body)
            .unwrap()
    };
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let post_signed = |headers: http::HeaderMap| {
        client
            .post(format!("http://{addr}/hooks/square"))
            .headers(headers)
            .body(&body[..])
            .send()
    };
    let r = post_signed(signed_for("https://hooks.example.com/hooks/square"))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "handled");
    // The URL without the prefix is not what the sender called.
    let r = post_signed(signed_for("https://hooks.example.com/square"))
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

/// With `PublicUrl::FromHost`, a request without a `Host` (HTTP/1.0, or an HTTP/1.1 client
/// that left it out) to a scheme that signs the URL is the sender's mistake: 400 naming the
/// header, not the 500 of a configuration mistake. With its `Host`, it verifies.
#[tokio::test]
async fn from_host_without_a_host_is_400() {
    use tower::ServiceExt;
    use webhook_receiver::PublicUrl;
    use webhook_receiver::providers::Square;
    use webhook_receiver::testing::Signer;

    let (receiver, app) = square_route(PublicUrl::FromHost);
    let body = br#"{"event_id":"e-no-host-1"}"#;
    let signed = Signer::new(Square::new(), "square key")
        .unwrap()
        .url("https://hooks.example.com/square")
        .sign(body)
        .unwrap();
    let request = |host: Option<&'static [u8]>| {
        let mut request = http::Request::post("/square")
            .body(axum::body::Body::from(&body[..]))
            .unwrap();
        *request.headers_mut() = signed.clone();
        if let Some(host) = host {
            request
                .headers_mut()
                .insert("host", http::HeaderValue::from_bytes(host).unwrap());
        }
        request
    };
    for (host, status) in [
        (None, 400),
        (Some(&b"hooks.\xe9xample.com"[..]), 400),
        (Some(&b"hooks.example.com"[..]), 200),
    ] {
        let response = app.clone().oneshot(request(host)).await.unwrap();
        assert_eq!(response.status(), status, "{host:?}");
    }
    // The same for a caller of the receiver itself; one that has the `Host` but passed no URL
    // made a configuration mistake: still 500.
    let mut with_host = signed.clone();
    with_host.insert("host", http::HeaderValue::from_static("hooks.example.com"));
    for (headers, status) in [(&signed, 400), (&with_host, 500)] {
        let direct = receiver
            .receive_request(&webhook_receiver::Request::new(headers, body))
            .await;
        let Err(webhook_receiver::ReceiveError::Verify(error)) = direct else {
            panic!("{direct:?}");
        };
        let expected = if status == 400 {
            matches!(error, webhook_receiver::VerifyError::MissingHeader { .. })
        } else {
            matches!(error, webhook_receiver::VerifyError::NoPublicUrl)
        };
        assert!(expected, "{error:?}");
        assert_eq!(error.status(), status, "{error:?}");
    }
}
