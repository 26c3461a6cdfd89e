//! End-to-end over real loopback HTTP for the actix-web middleware: a server bound to
//! 127.0.0.1:0, a reqwest client, the shared scenarios of `common::scenarios` (one per row of the
//! README's status table, the body-limit edge cases, a slow handler with a concurrent duplicate, a
//! panicking handler, senders that hang up, cross-provider routes), and what only actix-web has.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use http::HeaderMap;
use webhook_receiver::Verified;
use webhook_receiver::actix::{Rejection, WebhookJson, WebhookMiddleware};
use webhook_receiver::dedup::{DedupStore, MemoryStore};

mod common;

use common::scenarios::{self, Handler, Payload, TestServer};
use common::{DownStore, SlowComplete};

async fn handle(
    handler: web::Data<Handler>,
    verified: Verified<'static>,
    WebhookJson(payload): WebhookJson<Payload>,
) -> HttpResponse {
    match handler.run(verified.scheme(), &payload).await {
        Ok(body) => HttpResponse::Ok().body(body),
        Err(()) => HttpResponse::InternalServerError().body("handler failed"),
    }
}

fn start<St: DedupStore + Clone>(store: St) -> TestServer {
    start_with(store, |m| m)
}

fn start_with<St: DedupStore + Clone>(
    store: St,
    customise: fn(WebhookMiddleware<St>) -> WebhookMiddleware<St>,
) -> TestServer {
    let handler = Arc::new(Handler::default());
    let data = web::Data::from(Arc::clone(&handler));
    let (sw, stripe) = scenarios::receivers(store);
    let providers = scenarios::provider_receivers();
    let server = HttpServer::new(move || {
        let mut app = App::new().app_data(data.clone());
        for (path, receiver) in &providers {
            app = app.service(
                web::resource(*path)
                    .wrap(WebhookMiddleware::new(receiver.clone()))
                    .route(web::post().to(handle)),
            );
        }
        app.service(
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
    // A sender that hangs up aborts the handling of its connection, as with hyper (axum): the
    // hang-up scenarios then prove the handler and its completion run to the end anyway.
    .h1_allow_half_closed(false)
    .disable_signals()
    .bind(("127.0.0.1", 0))
    .unwrap();
    let addr = server.addrs()[0];
    actix_web::rt::spawn(server.run());
    TestServer::new(addr, handler)
}

#[actix_web::test]
async fn new_delivery_handler_2xx_is_answered_and_completed() {
    scenarios::new_delivery_handler_2xx_is_answered_and_completed(start(MemoryStore::new())).await;
}

#[actix_web::test]
async fn new_delivery_handler_failure_is_answered_and_released() {
    scenarios::new_delivery_handler_failure_is_answered_and_released(start(MemoryStore::new()))
        .await;
}

#[actix_web::test]
async fn duplicate_already_completed_is_200_without_the_handler() {
    scenarios::duplicate_already_completed_is_200_without_the_handler(start(MemoryStore::new()))
        .await;
}

#[actix_web::test]
async fn duplicate_in_flight_is_409_with_retry_after_then_200() {
    scenarios::duplicate_in_flight_is_409_with_retry_after_then_200(start(MemoryStore::new()))
        .await;
}

#[actix_web::test]
async fn missing_or_malformed_headers_are_400() {
    scenarios::missing_or_malformed_headers_are_400(start(MemoryStore::new())).await;
}

#[actix_web::test]
async fn bad_signature_or_timestamp_outside_tolerance_is_401() {
    scenarios::bad_signature_or_timestamp_outside_tolerance_is_401(start(MemoryStore::new())).await;
}

#[actix_web::test]
async fn body_over_the_limit_is_413() {
    scenarios::body_over_the_limit_is_413(start(MemoryStore::new())).await;
}

#[actix_web::test]
async fn a_declared_content_length_over_the_limit_is_refused_before_reading() {
    scenarios::a_declared_content_length_over_the_limit_is_refused_before_reading(start(
        MemoryStore::new(),
    ))
    .await;
}

#[actix_web::test]
async fn a_chunked_body_over_the_limit_is_413() {
    scenarios::a_chunked_body_over_the_limit_is_413(start(MemoryStore::new())).await;
}

#[actix_web::test]
async fn a_panicking_handler_releases_and_the_retry_is_processed() {
    scenarios::a_panicking_handler_releases_and_the_retry_is_processed(start(MemoryStore::new()))
        .await;
}

#[actix_web::test]
async fn a_sender_hanging_up_mid_handler_does_not_cancel_it() {
    scenarios::a_sender_hanging_up_mid_handler_does_not_cancel_it(start(MemoryStore::new())).await;
}

#[actix_web::test]
async fn a_sender_hanging_up_during_the_completion_loses_nothing() {
    let store = SlowComplete::new(MemoryStore::new(), Duration::from_millis(500));
    scenarios::a_sender_hanging_up_during_the_completion_loses_nothing(start(store.clone()), store)
        .await;
}

#[actix_web::test]
async fn a_sender_hanging_up_at_once_loses_nothing() {
    let store = SlowComplete::new(MemoryStore::new(), Duration::from_millis(200));
    scenarios::a_sender_hanging_up_at_once_loses_nothing(start(store)).await;
}

#[actix_web::test]
async fn a_route_for_one_provider_rejects_another_providers_signature() {
    scenarios::a_route_for_one_provider_rejects_another_providers_signature(start(
        MemoryStore::new(),
    ))
    .await;
}

#[actix_web::test]
async fn store_unavailable_is_503_with_retry_after() {
    scenarios::store_unavailable_is_503_with_retry_after(start(DownStore)).await;
}

#[actix_web::test]
async fn rejection_responses_can_be_customised() {
    let s = start_with(MemoryStore::new(), |m| {
        m.on_rejection(|r: &Rejection| {
            HttpResponse::build(actix_web::http::StatusCode::from_u16(r.status().as_u16()).unwrap())
                .json(serde_json::json!({"error": r.status().as_u16()}))
        })
    });
    let r = s.post("/sw", HeaderMap::new(), b"{}").await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.text().await.unwrap(), r#"{"error":400}"#);
}

#[actix_web::test]
async fn extractors_without_the_middleware_answer_500_and_never_parse_the_body() {
    use actix_web::{App, test};
    use webhook_receiver::actix::VerifiedBody;
    let app = test::init_service(
        App::new()
            .route(
                "/json",
                web::post().to(|_: WebhookJson<Payload>| async { "parsed" }),
            )
            .route("/body", web::post().to(|_: VerifiedBody| async { "read" }))
            .route(
                "/verified",
                web::post().to(|_: Verified<'static>| async { "verified" }),
            ),
    )
    .await;
    for path in ["/json", "/body", "/verified"] {
        let req = test::TestRequest::post()
            .uri(path)
            .set_payload(r#"{"n":1}"#)
            .to_request();
        let res = test::call_service(&app, req).await;
        assert_eq!(res.status().as_u16(), 500, "{path}");
        assert_eq!(
            &test::read_body(res).await[..],
            b"webhook layer missing",
            "{path}"
        );
    }
}

#[actix_web::test]
async fn provider_urls_and_statuses() {
    scenarios::provider_urls_and_statuses(start(MemoryStore::new())).await;
}
