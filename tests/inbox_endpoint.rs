//! The inbox's request path over SQLite: verify, keep safe headers, accept once; full and
//! down answer 503; records survive a restart; metrics carry no secrets or bodies.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use webhook_receiver::inbox::{
    Accepted, HandlerError, Inbox, InboxEngine, InboxError, InboxReceiveError, Job, NewRecord,
    SqliteInbox, Status,
};
use webhook_receiver::providers::{Custom, CustomConfig, GitHub, Stripe};
use webhook_receiver::testing::Signer;
use webhook_receiver::{Encoding, Verifier};

const STRIPE_SECRET: &str = "whsec_test_secret";

/// A fresh directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "webhook-inbox-{name}-{}-{:x}",
            std::process::id(),
            webhook_receiver::dedup::LeaseToken::random().get() as u64
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn db(&self) -> PathBuf {
        self.0.join("inbox.db")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn stripe() -> Verifier {
    Verifier::builder(Stripe::new())
        .labeled_secret("2026-05", STRIPE_SECRET)
        .build()
        .unwrap()
}

fn stripe_delivery(id: &str) -> (HeaderMap, Bytes) {
    let body = format!(r#"{{"id":"{id}","type":"invoice.paid","data":{{"amount":42}}}}"#);
    let mut headers = Signer::new(Stripe::new(), STRIPE_SECRET)
        .unwrap()
        .sign(body.as_bytes())
        .unwrap();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers.insert("user-agent", HeaderValue::from_static("Stripe/1.0"));
    headers.insert("x-request-trace", HeaderValue::from_static("trace-1"));
    headers.insert(
        "authorization",
        HeaderValue::from_static("Bearer sk_live_x"),
    );
    (headers, Bytes::from(body))
}

#[tokio::test]
async fn a_verified_delivery_is_stored_once_with_its_metadata_and_safe_headers() {
    let dir = TempDir::new("endpoint");
    let inbox = Inbox::new(SqliteInbox::open(dir.db()).await.unwrap());
    let endpoint = inbox
        .endpoint(stripe())
        .namespace("billing")
        .keep_header("x-request-trace")
        .build()
        .unwrap();
    let (headers, body) = stripe_delivery("evt_1");

    let receipt = endpoint.receive(&headers, body.clone()).await.unwrap();
    assert_eq!(receipt.key(), "billing:id:evt_1");
    assert_eq!(receipt.accepted(), Accepted::Stored);
    let again = endpoint.receive(&headers, body.clone()).await.unwrap();
    assert!(again.is_duplicate());

    let record = inbox.inspect("billing:id:evt_1").await.unwrap().unwrap();
    assert_eq!(record.body, body);
    let meta = &record.meta;
    assert_eq!(meta.endpoint, "billing");
    assert_eq!(meta.provider, "stripe");
    assert_eq!(meta.event_id.as_deref(), Some("evt_1"));
    assert!(meta.signed_at.is_some());
    assert_eq!(meta.key_label.as_deref(), Some("2026-05"));
    assert_eq!(meta.status, Status::Pending);
    // The default retention: the replay window plus a margin.
    assert_eq!(meta.retain, Duration::from_secs(600 + 60));
    let kept: Vec<_> = record.headers.keys().map(|n| n.as_str()).collect();
    assert_eq!(kept.len(), 3, "{kept:?}");
    for name in ["content-type", "user-agent", "x-request-trace"] {
        assert!(
            record.headers.contains_key(name),
            "{name} is kept: {kept:?}"
        );
    }
    // Never the signature, never credentials.
    assert!(!record.headers.contains_key("stripe-signature"));
    assert!(!record.headers.contains_key("authorization"));
    assert_eq!(inbox.counts().await.unwrap().pending, 1);
}

#[tokio::test]
async fn credential_headers_cannot_be_kept_and_the_scheme_s_signature_header_never_is() {
    let dir = TempDir::new("endpoint-headers");
    let inbox = Inbox::new(SqliteInbox::open(dir.db()).await.unwrap());
    for name in [
        "x-hub-signature-256",
        "x-gitlab-token",
        "authorization",
        "x-shopify-hmac-sha256",
        "cookie",
        "x-api-key",
        // Credentials named by a whole part of the name.
        "ocp-apim-subscription-key",
        "x-functions-key",
        "x-api_key",
        "paypal-transmission-sig",
        "plaid-verification",
        "x-webhook.jwt",
        "bad header",
    ] {
        let built = inbox
            .endpoint(stripe())
            .keep_header(name)
            .build()
            .map(|_| ());
        assert!(built.is_err(), "`{name}` must be refused");
    }
    // A part of a word is not a part of the name.
    for name in ["x-keyword", "x-design", "x-monkey-id"] {
        let built = inbox.endpoint(stripe()).keep_header(name).build();
        assert!(built.is_ok(), "`{name}` is no credential");
    }

    // A custom scheme whose signature header looks harmless: allowed in the configuration,
    // still never stored.
    let mut config = CustomConfig::new("acme", "x-acme-mac", Encoding::Hex);
    config.id_header = Some("x-acme-id".into());
    config.template = "{id}.{body}".into();
    let verifier = Verifier::builder(Custom::new(config.clone()).unwrap())
        .secret("acme secret")
        .build()
        .unwrap();
    let endpoint = inbox
        .endpoint(verifier)
        .keep_header("x-acme-mac")
        .keep_header("x-acme-id")
        .build()
        .unwrap();
    let body = Bytes::from_static(b"{}");
    let headers = Signer::new(Custom::new(config).unwrap(), "acme secret")
        .unwrap()
        .id("a-1")
        .sign(&body)
        .unwrap();
    let receipt = endpoint.receive(&headers, body).await.unwrap();
    let record = inbox.inspect(receipt.key()).await.unwrap().unwrap();
    assert!(record.headers.contains_key("x-acme-id"));
    assert!(!record.headers.contains_key("x-acme-mac"));
}

#[tokio::test]
async fn requests_that_fail_verification_store_nothing() {
    let dir = TempDir::new("endpoint-verify");
    let inbox = Inbox::new(SqliteInbox::open(dir.db()).await.unwrap());
    let endpoint = inbox.endpoint(stripe()).build().unwrap();
    let (headers, _) = stripe_delivery("evt_1");
    let error = endpoint
        .receive(
            &headers,
            Bytes::from_static(br#"{"id":"evt_1","tampered":true}"#),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, InboxReceiveError::Verify(_)));
    assert_eq!(error.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error.retry_after(), None);
    let error = endpoint
        .receive(&HeaderMap::new(), Bytes::from_static(b"{}"))
        .await
        .unwrap_err();
    assert_eq!(error.status(), StatusCode::BAD_REQUEST);
    assert_eq!(inbox.counts().await.unwrap(), Default::default());
}

#[tokio::test]
async fn endpoints_sharing_an_inbox_are_namespaced() {
    let dir = TempDir::new("endpoint-namespaces");
    let inbox = Inbox::new(SqliteInbox::open(dir.db()).await.unwrap());
    let eu = inbox
        .endpoint(stripe())
        .namespace("stripe-eu")
        .build()
        .unwrap();
    let us = inbox
        .endpoint(stripe())
        .namespace("stripe-us")
        .build()
        .unwrap();
    let (headers, body) = stripe_delivery("evt_same");
    assert!(
        !eu.receive(&headers, body.clone())
            .await
            .unwrap()
            .is_duplicate()
    );
    assert!(!us.receive(&headers, body).await.unwrap().is_duplicate());
    assert_eq!(inbox.counts().await.unwrap().pending, 2);

    for bad in ["", "a:b"] {
        assert!(inbox.endpoint(stripe()).namespace(bad).build().is_err());
    }
    assert!(
        inbox
            .endpoint(stripe())
            .retain(Duration::from_secs(10))
            .build()
            .is_err(),
        "a retention shorter than the replay window lets replays in"
    );
    assert!(
        inbox
            .endpoint(stripe())
            .retain(Duration::ZERO)
            .build()
            .is_err()
    );
    // GitHub signs no timestamp: three days by default.
    let github = Verifier::builder(GitHub::new())
        .secret("s")
        .build()
        .unwrap();
    let endpoint = inbox.endpoint(github).build().unwrap();
    assert_eq!(endpoint.retain(), Duration::from_secs(72 * 3600));
    // The default namespace separates endpoints by key: the scheme and the key's fingerprint.
    assert!(
        endpoint.namespace().starts_with("github-"),
        "{}",
        endpoint.namespace()
    );
}

#[tokio::test]
async fn an_ordering_key_is_derived_from_the_verified_delivery() {
    let dir = TempDir::new("endpoint-ordering");
    let inbox = Inbox::new(SqliteInbox::open(dir.db()).await.unwrap());
    let endpoint = inbox
        .endpoint(stripe())
        .ordering_key(|verified, _headers, body| {
            let event: serde_json::Value = serde_json::from_slice(body).ok()?;
            Some(format!(
                "{}:{}",
                verified.scheme(),
                event["data"]["amount"].as_u64()?
            ))
        })
        .build()
        .unwrap();
    let (headers, body) = stripe_delivery("evt_ordered");
    let receipt = endpoint.receive(&headers, body).await.unwrap();
    let meta = inbox.inspect(receipt.key()).await.unwrap().unwrap().meta;
    assert_eq!(meta.ordering_key.as_deref(), Some("stripe:42"));
}

#[tokio::test]
async fn a_full_inbox_answers_503_but_still_recognises_duplicates() {
    let dir = TempDir::new("endpoint-full");
    let inbox = Inbox::builder(SqliteInbox::open(dir.db()).await.unwrap())
        .max_pending(2)
        .build()
        .unwrap();
    let endpoint = inbox.endpoint(stripe()).build().unwrap();
    for id in ["evt_1", "evt_2"] {
        let (headers, body) = stripe_delivery(id);
        endpoint.receive(&headers, body).await.unwrap();
    }
    let (headers, body) = stripe_delivery("evt_3");
    let error = endpoint.receive(&headers, body).await.unwrap_err();
    assert!(matches!(
        error,
        InboxReceiveError::Inbox(InboxError::Full { limit: 2 })
    ));
    assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(error.retry_after(), Some(Duration::from_secs(5)));
    let (headers, body) = stripe_delivery("evt_1");
    assert!(
        endpoint
            .receive(&headers, body)
            .await
            .unwrap()
            .is_duplicate()
    );

    // Processing one makes room.
    let ok = |_job: Job| async { Ok::<(), HandlerError>(()) };
    assert!(inbox.process_next(ok).await.unwrap().unwrap().is_done());
    let (headers, body) = stripe_delivery("evt_3");
    assert!(
        !endpoint
            .receive(&headers, body)
            .await
            .unwrap()
            .is_duplicate()
    );
}

#[tokio::test]
async fn an_engine_that_is_down_answers_503_and_loses_nothing_once_back() {
    let dir = TempDir::new("endpoint-down");
    let engine = SqliteInbox::open(dir.db()).await.unwrap();
    let inbox = Inbox::new(engine.clone());
    let endpoint = inbox
        .endpoint(stripe())
        .namespace("stripe")
        .build()
        .unwrap();
    let (headers, body) = stripe_delivery("evt_before");
    endpoint.receive(&headers, body).await.unwrap();

    engine.close().await;
    let (headers, body) = stripe_delivery("evt_during");
    let error = endpoint.receive(&headers, body.clone()).await.unwrap_err();
    assert!(
        matches!(error, InboxReceiveError::Inbox(InboxError::Unavailable(_))),
        "{error:?}"
    );
    assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(error.retry_after().is_some());
    assert!(matches!(
        inbox.counts().await,
        Err(InboxError::Unavailable(_))
    ));

    // The engine is back; the sender retries the refused delivery.
    let inbox = Inbox::new(SqliteInbox::open(dir.db()).await.unwrap());
    let endpoint = inbox
        .endpoint(stripe())
        .namespace("stripe")
        .build()
        .unwrap();
    endpoint.receive(&headers, body).await.unwrap();
    for key in ["stripe:id:evt_before", "stripe:id:evt_during"] {
        assert!(inbox.inspect(key).await.unwrap().is_some(), "{key}");
    }
}

#[tokio::test]
async fn a_sqlite_inbox_survives_a_restart_with_its_records_intact() {
    let dir = TempDir::new("restart");
    let mut bodies = Vec::new();
    {
        let engine = SqliteInbox::open(dir.db()).await.unwrap();
        let inbox = Inbox::builder(engine.clone())
            .lease(Duration::from_millis(200))
            .build()
            .unwrap();
        let endpoint = inbox
            .endpoint(stripe())
            .namespace("stripe")
            .build()
            .unwrap();
        for id in ["evt_a", "evt_b", "evt_c"] {
            let (headers, body) = stripe_delivery(id);
            endpoint.receive(&headers, body.clone()).await.unwrap();
            bodies.push((format!("stripe:id:{id}"), body));
        }
        // One is mid-processing when the process "stops".
        let leased = engine
            .lease(Duration::from_millis(200))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(leased.record.meta.key, "stripe:id:evt_a");
        engine.close().await;
    }

    let inbox = Inbox::new(SqliteInbox::open(dir.db()).await.unwrap());
    let counts = inbox.counts().await.unwrap();
    assert_eq!((counts.pending, counts.running), (2, 1));
    for (key, body) in &bodies {
        let record = inbox.inspect(key).await.unwrap().unwrap();
        assert_eq!(&record.body, body, "{key}");
        assert!(record.headers.contains_key("content-type"));
    }
    // Everything is processed, the interrupted one once its lease has expired.
    let ok = |_job: Job| async { Ok::<(), HandlerError>(()) };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while inbox.counts().await.unwrap().done < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "records left behind"
        );
        if inbox.process_next(ok).await.unwrap().is_none() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let a = inbox
        .inspect("stripe:id:evt_a")
        .await
        .unwrap()
        .unwrap()
        .meta;
    assert_eq!((a.status, a.attempts), (Status::Done, 2));
}

#[test]
fn metrics_name_the_endpoint_and_outcome_never_the_body_or_a_secret() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let dir = TempDir::new("metrics");
    metrics::with_local_recorder(&recorder, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let inbox = Inbox::new(SqliteInbox::open(dir.db()).await.unwrap());
                let endpoint = inbox
                    .endpoint(stripe())
                    .namespace("billing")
                    .build()
                    .unwrap();
                let (headers, body) = stripe_delivery("evt_m");
                endpoint.receive(&headers, body.clone()).await.unwrap();
                endpoint.receive(&headers, body).await.unwrap();
                let _ = endpoint
                    .receive(&headers, Bytes::from_static(b"tampered"))
                    .await;
                let fail = |_job: Job| async { Err::<(), _>(HandlerError::permanent("no")) };
                inbox.process_next(fail).await.unwrap();
                inbox.counts().await.unwrap();
                // A second inbox in the process keeps its own queue gauges.
                let refunds =
                    Inbox::builder(SqliteInbox::open(dir.0.join("refunds.db")).await.unwrap())
                        .name("refunds")
                        .build()
                        .unwrap();
                let record = NewRecord::new("refunds:id:1", "refunds", "stripe", &b"{}"[..]);
                refunds.accept(&record).await.unwrap();
                refunds.counts().await.unwrap();
            });
    });

    let metrics = snapshotter.snapshot().into_vec();
    let mut seen = std::collections::BTreeMap::new();
    for (key, _unit, _description, value) in &metrics {
        let key = key.key();
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        let text = format!("{} {}", key.name(), labels.join(","));
        assert!(!text.contains("amount"), "no body in metrics: {text}");
        assert!(
            !text.contains(STRIPE_SECRET),
            "no secret in metrics: {text}"
        );
        assert!(key.name().starts_with("webhook_receiver_inbox_"), "{text}");
        let value = match value {
            DebugValue::Counter(n) => *n as f64,
            DebugValue::Gauge(g) => g.into_inner(),
            DebugValue::Histogram(h) => h.len() as f64,
        };
        seen.insert(text, value);
    }
    let get = |name: &str| {
        *seen
            .get(name)
            .unwrap_or_else(|| panic!("missing {name}; have {:#?}", seen.keys()))
    };
    assert_eq!(
        get(
            "webhook_receiver_inbox_received_total endpoint=billing,provider=stripe,key_label=2026-05,outcome=stored"
        ),
        1.0
    );
    assert_eq!(
        get(
            "webhook_receiver_inbox_received_total endpoint=billing,provider=stripe,key_label=2026-05,outcome=duplicate"
        ),
        1.0
    );
    assert_eq!(
        get(
            "webhook_receiver_inbox_rejected_total endpoint=billing,provider=stripe,reason=signature"
        ),
        1.0
    );
    assert_eq!(
        get("webhook_receiver_inbox_accept_seconds endpoint=billing"),
        2.0
    );
    assert_eq!(
        get("webhook_receiver_inbox_attempts_total endpoint=billing,outcome=dead"),
        1.0
    );
    assert_eq!(
        get("webhook_receiver_inbox_dead_letters_total endpoint=billing"),
        1.0
    );
    assert_eq!(
        get("webhook_receiver_inbox_records inbox=default,status=dead"),
        1.0
    );
    assert_eq!(
        get("webhook_receiver_inbox_records inbox=default,status=pending"),
        0.0
    );
    assert_eq!(
        get("webhook_receiver_inbox_oldest_pending_seconds inbox=default"),
        0.0
    );
    assert_eq!(
        get("webhook_receiver_inbox_records inbox=refunds,status=pending"),
        1.0
    );
    assert_eq!(
        get("webhook_receiver_inbox_records inbox=refunds,status=dead"),
        0.0
    );
}
