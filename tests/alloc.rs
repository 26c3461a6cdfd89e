//! Verifying an HMAC request performs zero heap allocations.
//!
//! `allocation-counter` installs a counting global allocator that counts what the current thread
//! allocates inside `measure`.

use http::HeaderMap;
use time::OffsetDateTime;
use webhook_receiver::providers::{
    Discord, GitHub, GitLab, Intercom, Linear, Paddle, PagerDuty, Scheme, SendGrid, Shopify, Slack,
    Square, StandardWebhooks, Stripe, Twitch, Zoom,
};
use webhook_receiver::testing::Signer;
use webhook_receiver::{Request, Verifier};

const URL: &str = "https://hooks.example.com/square";

fn allocations<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let mut out = None;
    let info = allocation_counter::measure(|| out = Some(f()));
    (out.expect("closure ran"), info.count_total)
}

fn check(scheme: impl Scheme + Clone, other: &str, secret: &str, body: &[u8]) {
    let signer = Signer::new(scheme.clone(), secret).unwrap();
    measure(scheme, other, secret, signer, body);
}

/// Like [`check`], for schemes that verify with a public key.
fn check_public(scheme: impl Scheme + Clone, body: &[u8]) {
    let (signer, public) = Signer::generate(scheme.clone()).unwrap();
    let (_, other) = Signer::generate(scheme.clone()).unwrap();
    measure(scheme, &other, &public, signer, body);
}

fn measure(scheme: impl Scheme + Clone, other: &str, key: &str, signer: Signer, body: &[u8]) {
    let ts = 1_700_000_000;
    let verifier = Verifier::builder(scheme)
        .secret(other)
        .secret(key)
        .build()
        .unwrap();
    let signed = signer
        .id("msg_2Lh9KRb0pHnHkWmJGTr3q")
        .timestamp(ts)
        .url(URL)
        .sign_request(body)
        .unwrap();
    let (headers, body): (HeaderMap, &[u8]) = (signed.headers, &signed.body);
    let now = OffsetDateTime::from_unix_timestamp(ts).unwrap();
    let request = Request::new(&headers, body).url(URL);
    let (verified, n) = allocations(|| {
        verifier
            .verify_request_at(&request, now)
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
            .verify_request_at(&request, now)
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
    check(
        Paddle::new(),
        old,
        "pdl_ntfset_01hs0t3tw21j988db1pam5xg8m_secret",
        body,
    );
    check(PagerDuty::new(), old, "pagerduty secret", body);
    check(Intercom::new(), old, "intercom client secret", body);
    check(Zoom::new(), old, "zoom secret token", body);
    check(Twitch::new(), old, "twitch secret of some length", body);
    check(Square::new(), old, "square signature key", body);
    check(GitLab::new(), old, "gitlab-token", body);
    check_public(Discord::new(), body);
    check_public(SendGrid::new(), body);
    check_public(StandardWebhooks::new(), body);
    // Linear's timestamp is in the body, read without allocating.
    let linear =
        br#"{"action":"create","type":"Issue","data":{"id":"x"},"webhookTimestamp":1700000000000}"#;
    check(Linear::new(), old, "linear signing secret", linear);
}
