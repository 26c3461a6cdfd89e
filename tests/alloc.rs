//! Verifying an HMAC request performs zero heap allocations.
//!
//! `allocation-counter` installs a counting global allocator that counts what the current thread
//! allocates inside `measure`.

use http::HeaderMap;
use time::OffsetDateTime;
use webhook_receiver::Verifier;
use webhook_receiver::providers::{GitHub, Scheme, Shopify, Slack, StandardWebhooks, Stripe};
use webhook_receiver::testing::Signer;

fn allocations<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let mut out = None;
    let info = allocation_counter::measure(|| out = Some(f()));
    (out.expect("closure ran"), info.count_total)
}

fn check(scheme: impl Scheme + Clone, other: &str, secret: &str, body: &[u8]) {
    let ts = 1_700_000_000;
    let verifier = Verifier::builder(scheme.clone())
        .secret(other)
        .secret(secret)
        .build()
        .unwrap();
    let headers: HeaderMap = Signer::new(scheme, secret)
        .unwrap()
        .id("msg_2Lh9KRb0pHnHkWmJGTr3q")
        .timestamp(ts)
        .sign(body)
        .unwrap();
    let now = OffsetDateTime::from_unix_timestamp(ts).unwrap();
    let (verified, n) = allocations(|| {
        verifier
            .verify_at(&headers, body, now)
            .map(|v| v.key_index())
    });
    assert_eq!(verified, Ok(1), "{}", verifier.scheme().name());
    assert_eq!(
        n,
        0,
        "{} verification allocated {n} times",
        verifier.scheme().name()
    );
    // The counter works: building an owned copy does allocate.
    let (_, n) = allocations(|| {
        verifier
            .verify_at(&headers, body, now)
            .unwrap()
            .into_owned()
    });
    assert!(n > 0, "the counting allocator did not count");
}

#[test]
fn verifying_allocates_nothing() {
    let body = br#"{"id":"evt_1NG8Du2eZvKYlo2CUI1Azl9Q","object":"event","event_id":"Ev1","data":{"object":{"amount":2000,"tags":["a","b"],"nested":{"deep":[1,2,{"x":null}]}}}}"#;
    let old = "an older secret that no longer matches";
    let old_sw = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    check(
        StandardWebhooks::new(),
        old_sw,
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        body,
    );
    check(Stripe::new(), old, "whsec_test_secret", body);
    check(GitHub::new(), old, "It's a Secret to Everybody", body);
    check(Slack::new(), old, "8f742231b10e8888abcd99yyyzzz85a5", body);
    check(Shopify::new(), old, "hush", body);
}
