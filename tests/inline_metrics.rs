//! Feature `metrics`, inline mode: a body over the limit, refused by the axum layer or the
//! actix-web middleware before the receiver saw it, is counted like the receiver's own
//! refusals (`webhook_receiver_rejected_total{reason="body_too_large"}`).

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use tower::ServiceExt;
use webhook_receiver::dedup::MemoryStore;
use webhook_receiver::providers::Stripe;
use webhook_receiver::testing::Signer;
use webhook_receiver::{Receiver, Verifier};

const SECRET: &str = "whsec_test_secret";
const LIMIT: usize = 64;

fn receiver() -> Receiver<MemoryStore> {
    let verifier = Verifier::builder(Stripe::new())
        .secret(SECRET)
        .body_limit(LIMIT)
        .build()
        .unwrap();
    Receiver::builder(verifier, MemoryStore::new())
        .namespace("billing")
        .build()
        .unwrap()
}

/// The value of the counter `name` with exactly these labels.
fn counter(snapshotter: &Snapshotter, name: &str, labels: &str) -> Option<DebugValue> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .find_map(|(key, _, _, value)| {
            let key = key.key();
            let found: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            (key.name() == name && found.join(",") == labels).then_some(value)
        })
}

#[test]
fn oversized_bodies_refused_by_the_inline_adapters_are_counted() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let mut body = br#"{"id":"evt_big"}"#.to_vec();
    body.extend(std::iter::repeat_n(b' ', 4 * LIMIT));
    let headers = Signer::new(Stripe::new(), SECRET)
        .unwrap()
        .sign(&body)
        .unwrap();
    metrics::with_local_recorder(&recorder, || {
        actix_web::rt::System::new().block_on(async {
            // axum: declared too long, then too long without a declared length.
            let app = axum::Router::new()
                .route("/hook", axum::routing::post(|| async { "ok" }))
                .layer(webhook_receiver::axum::WebhookLayer::new(receiver()));
            for declared in [true, false] {
                let mut request = http::Request::post("/hook")
                    .body(axum::body::Body::from(body.clone()))
                    .unwrap();
                *request.headers_mut() = headers.clone();
                if declared {
                    request
                        .headers_mut()
                        .insert("content-length", body.len().into());
                }
                let response = app.clone().oneshot(request).await.unwrap();
                assert_eq!(response.status(), 413);
            }
            // actix-web.
            let app = actix_web::test::init_service(
                actix_web::App::new().service(
                    actix_web::web::resource("/hook")
                        .wrap(webhook_receiver::actix::WebhookMiddleware::new(receiver()))
                        .route(actix_web::web::post().to(|| async { "ok" })),
                ),
            )
            .await;
            let mut request = actix_web::test::TestRequest::post().uri("/hook");
            for (name, value) in &headers {
                request = request.insert_header((name.as_str(), value.to_str().unwrap()));
            }
            let response =
                actix_web::test::call_service(&app, request.set_payload(body.clone()).to_request())
                    .await;
            assert_eq!(response.status().as_u16(), 413);
        });
    });
    assert_eq!(
        counter(
            &snapshotter,
            "webhook_receiver_rejected_total",
            "endpoint=billing,provider=stripe,reason=body_too_large"
        ),
        Some(DebugValue::Counter(3))
    );
}
