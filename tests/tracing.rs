//! Feature `tracing`: one span per delivery with provider, event id and outcome — and never a
//! secret or the body.

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::post;
use tracing_subscriber::fmt::MakeWriter;
use webhook_receiver::axum::WebhookLayer;
use webhook_receiver::dedup::MemoryStore;
use webhook_receiver::providers::StandardWebhooks;
use webhook_receiver::testing::Signer;
use webhook_receiver::{Receiver, Verifier};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const BODY_MARKER: &str = "TOP-SECRET-CARD-NUMBER-4242";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[test]
fn one_span_per_delivery_without_secrets_or_body() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // A current-thread runtime: the server's tasks run on this thread, under this subscriber.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let verifier = Verifier::builder(StandardWebhooks::new())
            .labeled_secret("current", SECRET)
            .build()
            .unwrap();
        let receiver = Receiver::new(verifier, MemoryStore::new());
        let app = Router::new().route(
            "/",
            post(|| async { "ok" }).layer(WebhookLayer::new(receiver)),
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
        let client = reqwest::Client::new();
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

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains(r#"webhook{provider="standard-webhooks""#),
        "{logs}"
    );
    assert!(logs.contains(r#"event_id="msg_traced""#), "{logs}");
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
