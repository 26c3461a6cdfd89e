//! Known-answer tests from each provider's published examples (source cited per test), plus the
//! negative cases every scheme must refuse.

use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};
use time::OffsetDateTime;
use webhook_receiver::providers::{
    Custom, CustomConfig, GitHub, Scheme, Shopify, Slack, StandardWebhooks, Stripe,
};
use webhook_receiver::testing::Signer;
use webhook_receiver::{Algorithm, DedupKey, Encoding, Verifier, VerifyError};

fn at(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).unwrap()
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

fn verifier(scheme: impl Scheme, secret: &str) -> Verifier {
    Verifier::builder(scheme).secret(secret).build().unwrap()
}

// ---------------------------------------------------------------- Standard Webhooks / Svix

// standard-webhooks/standard-webhooks libraries/python/standardwebhooks/tests.py
// `test_sign_function`; also the Svix documentation values (svix-webhooks server test).
const SW_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SW_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const SW_TS: i64 = 1614265330;
const SW_BODY: &[u8] = br#"{"test": 2432232314}"#;
const SW_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

fn sw_headers(sig: &str) -> HeaderMap {
    headers(&[
        ("webhook-id", SW_ID),
        ("webhook-timestamp", "1614265330"),
        ("webhook-signature", sig),
    ])
}

#[test]
fn standard_webhooks_python_vector() {
    let v = verifier(StandardWebhooks::new(), SW_SECRET);
    let h = sw_headers(SW_SIG);
    let ok = v.verify_at(&h, SW_BODY, at(SW_TS)).unwrap();
    assert_eq!(ok.scheme(), "standard-webhooks");
    assert_eq!(ok.event_id().as_deref(), Some(SW_ID));
    assert_eq!(ok.unix_timestamp(), Some(SW_TS));
    assert_eq!(ok.dedup_key(), DedupKey::EventId(SW_ID.into()));
    // The signer reproduces the official signature.
    let signed = Signer::new(StandardWebhooks::new(), SW_SECRET)
        .unwrap()
        .id(SW_ID)
        .timestamp(SW_TS)
        .sign(SW_BODY)
        .unwrap();
    assert_eq!(signed["webhook-signature"], SW_SIG);
}

#[test]
fn standard_webhooks_rust_vector() {
    // standard-webhooks libraries/rust/src/lib.rs `test_sign`.
    let v = verifier(
        StandardWebhooks::new(),
        "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
    );
    let h = headers(&[
        ("webhook-id", "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk"),
        ("webhook-timestamp", "1649367553"),
        (
            "webhook-signature",
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
        ),
    ]);
    let body = br#"{"email":"test@example.com","username":"test_user"}"#;
    assert!(v.verify_at(&h, body, at(1649367553)).is_ok());
}

#[test]
fn svix_header_names_and_precedence() {
    let v = verifier(StandardWebhooks::new(), SW_SECRET);
    let h = headers(&[
        ("svix-id", SW_ID),
        ("svix-timestamp", "1614265330"),
        ("svix-signature", SW_SIG),
    ]);
    assert!(v.verify_at(&h, SW_BODY, at(SW_TS)).is_ok());
    // svix-* wins over webhook-*: a wrong webhook-signature beside a right svix one passes,
    // and a wrong svix one beside a right webhook one fails.
    let mut h2 = h.clone();
    h2.insert("webhook-signature", HeaderValue::from_static("v1,AAAA"));
    assert!(v.verify_at(&h2, SW_BODY, at(SW_TS)).is_ok());
    let mut h3 = sw_headers(SW_SIG);
    h3.insert(
        "svix-signature",
        HeaderValue::from_static("v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="),
    );
    assert_eq!(
        v.verify_at(&h3, SW_BODY, at(SW_TS)).unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn standard_webhooks_multiple_signatures_second_valid() {
    let v = verifier(StandardWebhooks::new(), SW_SECRET);
    let sig = format!(
        "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg== {SW_SIG}  v2,xyz nocomma"
    );
    assert!(v.verify_at(&sw_headers(&sig), SW_BODY, at(SW_TS)).is_ok());
    // An empty entry beside a valid one is skipped, as the reference libraries do (Go
    // `webhook.go` and JavaScript `index.ts` of standard-webhooks skip to the next entry).
    let sig = format!("v1, v1a, {SW_SIG}");
    assert!(v.verify_at(&sw_headers(&sig), SW_BODY, at(SW_TS)).is_ok());
    // Only invalid entries: mismatch.
    let bad = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    assert_eq!(
        v.verify_at(&sw_headers(bad), SW_BODY, at(SW_TS))
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn standard_webhooks_signature_header_shapes() {
    let v = verifier(StandardWebhooks::new(), SW_SECRET);
    let unpadded = SW_SIG.trim_end_matches('=');
    assert!(
        v.verify_at(&sw_headers(unpadded), SW_BODY, at(SW_TS))
            .is_ok(),
        "unpadded base64"
    );
    for (sig, what) in [
        ("v1,", "empty v1"),
        ("v1a,abc", "no v1"),
        ("nocomma", "no v1"),
        ("v1,not*base64*at*all", "garbage"),
        ("v1,AAAA", "too short"),
        (
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=AAAA",
            "too long",
        ),
    ] {
        let err = v
            .verify_at(&sw_headers(sig), SW_BODY, at(SW_TS))
            .unwrap_err();
        assert!(
            matches!(err, VerifyError::MalformedHeader { .. }),
            "{what}: {err:?}"
        );
        assert_eq!(err.status(), 400);
    }
    let too_many = vec![SW_SIG; 17].join(" ");
    assert!(matches!(
        v.verify_at(&sw_headers(&too_many), SW_BODY, at(SW_TS)),
        Err(VerifyError::MalformedHeader { .. })
    ));
}

#[test]
fn standard_webhooks_tolerance_both_directions() {
    let v = verifier(StandardWebhooks::new(), SW_SECRET);
    let h = sw_headers(SW_SIG);
    assert!(v.verify_at(&h, SW_BODY, at(SW_TS + 300)).is_ok());
    assert!(v.verify_at(&h, SW_BODY, at(SW_TS - 300)).is_ok());
    assert_eq!(
        v.verify_at(&h, SW_BODY, at(SW_TS + 301)).unwrap_err(),
        VerifyError::TimestampTooOld {
            age_secs: 301,
            tolerance_secs: 300
        }
    );
    assert_eq!(
        v.verify_at(&h, SW_BODY, at(SW_TS - 301)).unwrap_err(),
        VerifyError::TimestampInFuture {
            ahead_secs: 301,
            tolerance_secs: 300
        }
    );
    let asym = Verifier::builder(StandardWebhooks::new())
        .secret(SW_SECRET)
        .tolerance_past(Duration::from_secs(10))
        .tolerance_future(Duration::from_secs(1000))
        .build()
        .unwrap();
    assert!(asym.verify_at(&h, SW_BODY, at(SW_TS + 11)).is_err());
    assert!(asym.verify_at(&h, SW_BODY, at(SW_TS - 999)).is_ok());
}

#[test]
fn standard_webhooks_timestamp_shapes() {
    let v = verifier(StandardWebhooks::new(), SW_SECRET);
    for ts in [
        "-1614265330",
        "+1614265330",
        "1614265330.0",
        "1.6e9",
        "",
        "99999999999999999999999",
        "0x10",
        "１２",
    ] {
        let mut h = sw_headers(SW_SIG);
        match HeaderValue::from_str(ts) {
            Ok(value) => {
                h.insert("webhook-timestamp", value);
            }
            Err(_) => continue,
        }
        let err = v.verify_at(&h, SW_BODY, at(SW_TS)).unwrap_err();
        assert!(
            matches!(err, VerifyError::MalformedHeader { .. }),
            "{ts:?}: {err:?}"
        );
    }
    // A huge but parseable timestamp (15 digits, the most accepted) is simply in the future; no
    // overflow. 16 digits are malformed.
    let mut h = sw_headers(SW_SIG);
    h.insert(
        "webhook-timestamp",
        HeaderValue::from_static("1000000000000000"),
    );
    assert!(matches!(
        v.verify_at(&h, SW_BODY, at(SW_TS)),
        Err(VerifyError::MalformedHeader { .. })
    ));
    h.insert(
        "webhook-timestamp",
        HeaderValue::from_static("999999999999999"),
    );
    assert!(matches!(
        v.verify_at(&h, SW_BODY, at(SW_TS)),
        Err(VerifyError::TimestampInFuture { .. })
    ));
    h.insert("webhook-timestamp", HeaderValue::from_static("0"));
    assert!(matches!(
        v.verify_at(&h, SW_BODY, at(i64::MAX / 1_000_000_000 - 1)),
        Err(VerifyError::TimestampTooOld { .. })
    ));
}

#[test]
fn missing_repeated_and_non_utf8_headers() {
    let v = verifier(StandardWebhooks::new(), SW_SECRET);
    for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        let mut h = sw_headers(SW_SIG);
        h.remove(name);
        let err = v.verify_at(&h, SW_BODY, at(SW_TS)).unwrap_err();
        assert_eq!(
            err,
            VerifyError::MissingHeader {
                name: name.to_owned().into()
            }
        );
        let mut h = sw_headers(SW_SIG);
        h.append(name, HeaderValue::from_static("x"));
        assert!(matches!(
            v.verify_at(&h, SW_BODY, at(SW_TS)),
            Err(VerifyError::MalformedHeader { .. })
        ));
        let mut h = sw_headers(SW_SIG);
        h.insert(name, HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap());
        assert!(matches!(
            v.verify_at(&h, SW_BODY, at(SW_TS)),
            Err(VerifyError::MalformedHeader { .. })
        ));
    }
    // Very long header value: a clean error.
    let mut h = sw_headers(SW_SIG);
    h.insert(
        "webhook-signature",
        HeaderValue::from_str(&format!("v1,{}", "A".repeat(64 * 1024))).unwrap(),
    );
    assert!(matches!(
        v.verify_at(&h, SW_BODY, at(SW_TS)),
        Err(VerifyError::MalformedHeader { .. })
    ));
}

#[test]
fn tampered_body_and_id_and_wrong_secret() {
    let v = verifier(StandardWebhooks::new(), SW_SECRET);
    assert_eq!(
        v.verify_at(&sw_headers(SW_SIG), br#"{"test": 2432232315}"#, at(SW_TS))
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    let mut h = sw_headers(SW_SIG);
    h.insert("webhook-id", HeaderValue::from_static("msg_other"));
    assert_eq!(
        v.verify_at(&h, SW_BODY, at(SW_TS)).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    let wrong = verifier(
        StandardWebhooks::new(),
        "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
    );
    let err = wrong
        .verify_at(&sw_headers(SW_SIG), SW_BODY, at(SW_TS))
        .unwrap_err();
    assert_eq!(err, VerifyError::SignatureMismatch);
    assert_eq!(err.status(), 401);
}

#[test]
fn rotation_reports_the_matching_label() {
    let v = Verifier::builder(StandardWebhooks::new())
        .labeled_secret("new", "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")
        .labeled_secret("old", SW_SECRET)
        .build()
        .unwrap();
    let h = sw_headers(SW_SIG);
    let ok = v.verify_at(&h, SW_BODY, at(SW_TS)).unwrap();
    assert_eq!(ok.key_label(), Some("old"));
    assert_eq!(ok.key_index(), 1);

    let signed = Signer::new(
        StandardWebhooks::new(),
        "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
    )
    .unwrap()
    .timestamp(SW_TS)
    .sign(SW_BODY)
    .unwrap();
    let ok = v.verify_at(&signed, SW_BODY, at(SW_TS)).unwrap();
    assert_eq!(ok.key_label(), Some("new"));
    assert_eq!(ok.key_index(), 0);
}

#[test]
fn body_limit() {
    let v = Verifier::builder(StandardWebhooks::new())
        .secret(SW_SECRET)
        .body_limit(SW_BODY.len())
        .build()
        .unwrap();
    assert!(v.verify_at(&sw_headers(SW_SIG), SW_BODY, at(SW_TS)).is_ok());
    let mut big = SW_BODY.to_vec();
    big.push(b' ');
    let err = v
        .verify_at(&sw_headers(SW_SIG), &big, at(SW_TS))
        .unwrap_err();
    assert_eq!(
        err,
        VerifyError::BodyTooLarge {
            limit: SW_BODY.len()
        }
    );
    assert_eq!(err.status(), 413);
}

// ---------------------------------------------------------------- the whsec_ trap

#[test]
fn whsec_trap_both_directions() {
    // Stripe's secret is raw bytes; decoding it as Standard Webhooks does must not verify.
    let stripe_secret = "whsec_test_secret";
    let body = br#"{"id":"evt_1"}"#;
    let stripe_headers = Signer::new(Stripe::new(), stripe_secret)
        .unwrap()
        .timestamp(SW_TS)
        .sign(body)
        .unwrap();
    assert!(
        verifier(Stripe::new(), stripe_secret)
            .verify_at(&stripe_headers, body, at(SW_TS))
            .is_ok()
    );
    // A scheme that base64-decodes `whsec_test_secret` keys with different bytes.
    let mut cfg = CustomConfig::new("stripe-decoded", "stripe-signature", Encoding::Hex);
    cfg.key_format = webhook_receiver::KeyFormat::Whsec;
    cfg.signature_prefix = "v1=".into();
    cfg.signature_separator = Some(',');
    cfg.timestamp_header = None;
    // `whsec_test_secret` is not even valid base64 → a configuration error, not a silent pass.
    assert!(
        Verifier::builder(Custom::new(cfg).unwrap())
            .secret(stripe_secret)
            .build()
            .is_err()
    );

    // A Svix/Standard Webhooks secret used raw (as Stripe would) must not verify SW requests.
    let mut raw_sw = CustomConfig::new("sw-raw", "webhook-signature", Encoding::Base64);
    raw_sw.signature_prefix = "v1,".into();
    raw_sw.signature_separator = Some(' ');
    raw_sw.id_header = Some("webhook-id".into());
    raw_sw.timestamp_header = Some("webhook-timestamp".into());
    raw_sw.template = "{id}.{timestamp}.{body}".into();
    let raw = verifier(Custom::new(raw_sw.clone()).unwrap(), SW_SECRET);
    assert_eq!(
        raw.verify_at(&sw_headers(SW_SIG), SW_BODY, at(SW_TS))
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // The same custom scheme with the decoded format is exactly Standard Webhooks.
    raw_sw.key_format = webhook_receiver::KeyFormat::Whsec;
    let decoded = verifier(Custom::new(raw_sw).unwrap(), SW_SECRET);
    assert!(
        decoded
            .verify_at(&sw_headers(SW_SIG), SW_BODY, at(SW_TS))
            .is_ok()
    );
}

// ---------------------------------------------------------------- Stripe

// stripe/stripe-python tests/test_webhook.py: DUMMY_WEBHOOK_SECRET and DUMMY_WEBHOOK_PAYLOAD,
// signed at t = 1767225600 (the SDK's tests sign at time.time(); the MAC below was computed with
// Python's hmac module over "%d.%s" % (t, payload), as `_compute_signature` does).
const STRIPE_SECRET: &str = "whsec_test_secret";
const STRIPE_PAYLOAD: &str = "{\n  \"id\": \"evt_test_webhook\",\n  \"object\": \"event\",\n  \"data\": { \"object\": { \"id\": \"rdr_123\", \"object\": \"terminal.reader\" } }\n}";
const STRIPE_T: i64 = 1767225600;
const STRIPE_V1: &str = "1a46d967a93c33e30ef3e9ec4a15f29154d5dd8f0a2d8c242393439bf95bf643";

#[test]
fn stripe_fixture() {
    let v = verifier(Stripe::new(), STRIPE_SECRET);
    let h = headers(&[("stripe-signature", &format!("t={STRIPE_T},v1={STRIPE_V1}"))]);
    let ok = v
        .verify_at(&h, STRIPE_PAYLOAD.as_bytes(), at(STRIPE_T))
        .unwrap();
    assert_eq!(ok.event_id().as_deref(), Some("evt_test_webhook"));
    assert_eq!(ok.dedup_key().to_string(), "id:evt_test_webhook");
    let signed = Signer::new(Stripe::new(), STRIPE_SECRET)
        .unwrap()
        .timestamp(STRIPE_T)
        .sign(STRIPE_PAYLOAD.as_bytes())
        .unwrap();
    assert_eq!(
        signed["stripe-signature"],
        format!("t={STRIPE_T},v1={STRIPE_V1}")
    );
}

#[test]
fn stripe_header_variants() {
    let v = verifier(Stripe::new(), STRIPE_SECRET);
    let body = STRIPE_PAYLOAD.as_bytes();
    let ok = |value: &str| {
        v.verify_at(&headers(&[("stripe-signature", value)]), body, at(STRIPE_T))
            .map(|_| ())
    };
    // stripe-python `tests/test_webhook.py::test_header_contains_valid_signature`: a bad v1
    // beside a good one verifies (the SDK compares each as text; a bad one never matches).
    assert!(
        ok(&format!("t={STRIPE_T},v1={STRIPE_V1},v1=bad_signature")).is_ok(),
        "a bad candidate beside the valid one is skipped"
    );
    // With no valid-looking candidate at all, the header is malformed (400), not a mismatch.
    assert!(matches!(
        ok(&format!("t={STRIPE_T},v1=bad_signature")),
        Err(VerifyError::MalformedHeader { .. })
    ));
    let other = "5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd";
    assert!(ok(&format!("t={STRIPE_T},v1={other},v1={STRIPE_V1},v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39")).is_ok());
    assert!(
        ok(&format!("t={STRIPE_T}, v1={STRIPE_V1}")).is_ok(),
        "space after comma"
    );
    assert!(
        ok(&format!("t={STRIPE_T},v1={}", STRIPE_V1.to_uppercase())).is_ok(),
        "uppercase hex"
    );
    // Stripe's SDKs re-format the integer, so `t=0…` would verify there; leading zeros are
    // refused everywhere here, since in schemes that sign the text they let digits move
    // between signed fields.
    assert!(
        matches!(
            ok(&format!("t=0{STRIPE_T},v1={STRIPE_V1}")),
            Err(VerifyError::MalformedHeader { .. })
        ),
        "a leading zero is malformed"
    );
    // test_raise_on_no_signatures_with_expected_scheme: v0 only is not enough (no downgrade).
    assert!(matches!(
        ok(&format!("t={STRIPE_T},v0={STRIPE_V1}")),
        Err(VerifyError::MalformedHeader { .. })
    ));
    // test_raise_on_malformed_header.
    assert!(matches!(
        ok("i'm not even a real signature header"),
        Err(VerifyError::MalformedHeader { .. })
    ));
    assert!(matches!(
        ok(&format!("v1={STRIPE_V1}")),
        Err(VerifyError::MalformedHeader { .. })
    ));
    assert!(matches!(
        ok(&format!("t={STRIPE_T},t={STRIPE_T},v1={STRIPE_V1}")),
        Err(VerifyError::MalformedHeader { .. })
    ));
    assert!(matches!(
        ok(&format!("t=-5,v1={STRIPE_V1}")),
        Err(VerifyError::MalformedHeader { .. })
    ));
    assert!(matches!(
        ok(&format!("t={STRIPE_T},v1={other}")),
        Err(VerifyError::SignatureMismatch)
    ));
    // Too old, and (unlike Stripe's SDKs, on purpose) too far in the future.
    let h = headers(&[("stripe-signature", &format!("t={STRIPE_T},v1={STRIPE_V1}"))]);
    assert!(matches!(
        v.verify_at(&h, body, at(STRIPE_T + 301)),
        Err(VerifyError::TimestampTooOld { .. })
    ));
    assert!(matches!(
        v.verify_at(&h, body, at(STRIPE_T - 301)),
        Err(VerifyError::TimestampInFuture { .. })
    ));
}

#[test]
fn stripe_without_event_id_uses_the_mac() {
    let v = verifier(Stripe::new(), STRIPE_SECRET);
    let body = b"this is not valid JSON";
    let h = Signer::new(Stripe::new(), STRIPE_SECRET)
        .unwrap()
        .timestamp(STRIPE_T)
        .sign(body)
        .unwrap();
    let ok = v.verify_at(&h, body, at(STRIPE_T)).unwrap();
    assert_eq!(ok.event_id().as_deref(), None);
    assert!(matches!(ok.dedup_key(), DedupKey::Digest(_)));
}

// ---------------------------------------------------------------- GitHub

#[test]
fn github_docs_vector() {
    // github/docs content/webhooks/using-webhooks/validating-webhook-deliveries.md
    let v = verifier(GitHub::new(), "It's a Secret to Everybody");
    let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    let h = headers(&[
        ("x-hub-signature-256", sig),
        ("x-github-delivery", "72d3162e"),
    ]);
    let ok = v.verify(&h, b"Hello, World!").unwrap();
    assert_eq!(
        ok.event_id().as_deref(),
        None,
        "X-GitHub-Delivery is not signed"
    );
    assert!(matches!(ok.dedup_key(), DedupKey::Digest(_)));
    assert_eq!(ok.unix_timestamp(), None);
    // Uppercase hex is accepted (documented).
    let h = headers(&[("x-hub-signature-256", &sig.replace("757107ea", "757107EA"))]);
    assert!(v.verify(&h, b"Hello, World!").is_ok());
    assert_eq!(
        v.verify(&h, b"Hello, World?").unwrap_err(),
        VerifyError::SignatureMismatch
    );
    let h = headers(&[(
        "x-hub-signature-256",
        "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
    )]);
    assert!(matches!(
        v.verify(&h, b"Hello, World!"),
        Err(VerifyError::MalformedHeader { .. })
    ));
}

#[test]
fn github_octokit_vector() {
    // octokit/webhooks-methods.js test/verify.test.ts
    let v = verifier(GitHub::new(), "mysecret");
    let h = headers(&[(
        "x-hub-signature-256",
        "sha256=4864d2759938a15468b5df9ade20bf161da9b4f737ea61794142f3484236bda3",
    )]);
    assert!(v.verify(&h, br#"{"foo":"bar"}"#).is_ok());
}

#[test]
fn github_legacy_sha1_only_when_enabled() {
    // SHA-1 of the docs inputs (computed; GitHub documents the header, not this value).
    let sha1 = headers(&[(
        "x-hub-signature",
        "sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59",
    )]);
    let modern = verifier(GitHub::new(), "It's a Secret to Everybody");
    assert!(matches!(
        modern.verify(&sha1, b"Hello, World!"),
        Err(VerifyError::MissingHeader { .. })
    ));
    let legacy = verifier(
        GitHub::new().with_legacy_sha1(),
        "It's a Secret to Everybody",
    );
    assert!(legacy.verify(&sha1, b"Hello, World!").is_ok());
    // With both headers the SHA-256 one decides (no downgrade).
    let mut both = sha1.clone();
    both.insert(
        "x-hub-signature-256",
        HeaderValue::from_static(
            "sha256=0000000000000000000000000000000000000000000000000000000000000000",
        ),
    );
    assert_eq!(
        legacy.verify(&both, b"Hello, World!").unwrap_err(),
        VerifyError::SignatureMismatch
    );
    let signed = Signer::new(
        GitHub::new().with_legacy_sha1(),
        "It's a Secret to Everybody",
    )
    .unwrap()
    .algorithm(Algorithm::HmacSha1)
    .sign(b"Hello, World!")
    .unwrap();
    assert_eq!(
        signed["x-hub-signature"],
        "sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59"
    );
}

// ---------------------------------------------------------------- Slack

#[test]
fn slack_docs_vector() {
    // docs.slack.dev/authentication/verifying-requests-from-slack; the same values are in
    // slackapi/python-slack-sdk tests/slack_sdk/signature/test_signature_verifier.py.
    let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    let v = verifier(Slack::new(), "8f742231b10e8888abcd99yyyzzz85a5");
    let h = headers(&[
        ("x-slack-request-timestamp", "1531420618"),
        (
            "x-slack-signature",
            "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
        ),
    ]);
    let ok = v.verify_at(&h, body, at(1531420618)).unwrap();
    assert_eq!(
        ok.event_id().as_deref(),
        None,
        "slash commands carry no event_id"
    );
    assert!(matches!(
        v.verify_at(&h, body, at(1531420618 + 301)),
        Err(VerifyError::TimestampTooOld { .. })
    ));
    assert!(matches!(
        v.verify_at(&h, body, at(1531420618 - 301)),
        Err(VerifyError::TimestampInFuture { .. })
    ));
    assert_eq!(
        v.verify_at(&h, &body[1..], at(1531420618)).unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn slack_events_api_event_id() {
    let body = br#"{"token":"x","team_id":"T1","event":{"type":"app_mention"},"type":"event_callback","event_id":"Ev08MFMKH6","event_time":1234567890}"#;
    let h = Signer::new(Slack::new(), "s3cret")
        .unwrap()
        .timestamp(1531420618)
        .sign(body)
        .unwrap();
    let v = verifier(Slack::new(), "s3cret");
    let ok = v.verify_at(&h, body, at(1531420618)).unwrap();
    assert_eq!(ok.event_id().as_deref(), Some("Ev08MFMKH6"));
}

// ---------------------------------------------------------------- Shopify

#[test]
fn shopify_base64_over_body() {
    // Shopify publishes no fixed vector; this MAC was computed with Python's hmac module
    // (base64(HMAC-SHA256("hush", body))), as shopify-api-js `createSHA256HMAC(..., Base64)` does.
    let body = br#"{"id":820982911946154508,"email":"jon@doe.ca"}"#;
    let v = verifier(Shopify::new(), "hush");
    let h = headers(&[
        (
            "x-shopify-hmac-sha256",
            "fp5HwmAHEVGQQwJU1KRpk57Ts2YHF6/TLOCczCtB5bs=",
        ),
        ("x-shopify-event-id", "98880550-7158-44d4-b7cd-2c97c8a091b5"),
    ]);
    let ok = v.verify(&h, body).unwrap();
    assert_eq!(
        ok.event_id().as_deref(),
        None,
        "X-Shopify-Event-Id is not signed"
    );
    let events = headers(&[(
        "shopify-hmac-sha256",
        "fp5HwmAHEVGQQwJU1KRpk57Ts2YHF6/TLOCczCtB5bs=",
    )]);
    assert!(v.verify(&events, body).is_ok());
    // Hex is not Shopify's encoding.
    let hex = headers(&[("x-shopify-hmac-sha256", "7e9e47c2600711519043025...")]);
    assert!(matches!(
        v.verify(&hex, body),
        Err(VerifyError::MalformedHeader { .. })
    ));
}

// ---------------------------------------------------------------- custom

#[test]
fn custom_reproduces_slack() {
    let mut cfg = CustomConfig::new("slack-like", "x-slack-signature", Encoding::Hex);
    cfg.signature_prefix = "v0=".into();
    cfg.timestamp_header = Some("x-slack-request-timestamp".into());
    cfg.template = "v0:{timestamp}:{body}".into();
    let custom = verifier(Custom::new(cfg).unwrap(), "s3cret");
    let body = b"payload";
    let h = Signer::new(Slack::new(), "s3cret")
        .unwrap()
        .timestamp(1531420618)
        .sign(body)
        .unwrap();
    let ok = custom.verify_at(&h, body, at(1531420618)).unwrap();
    assert_eq!(ok.scheme(), "slack-like");
    assert!(matches!(
        custom.verify_at(&h, body, at(1531420618 + 400)),
        Err(VerifyError::TimestampTooOld { .. })
    ));
}

#[test]
fn custom_sha512_with_id_and_separator() {
    let mut cfg = CustomConfig::new("acme", "x-acme-signature", Encoding::Base64);
    cfg.algorithm = Algorithm::HmacSha512;
    cfg.id_header = Some("x-acme-id".into());
    cfg.signature_prefix = "s=".into();
    cfg.signature_separator = Some(';');
    cfg.template = "{id}|{body}".into();
    let scheme = Custom::new(cfg).unwrap();
    let signed = Signer::new(scheme.clone(), "k")
        .unwrap()
        .id("evt-9")
        .sign(b"hello")
        .unwrap();
    let sig = signed["x-acme-signature"].to_str().unwrap().to_owned();
    let mut h = signed.clone();
    h.insert(
        "x-acme-signature",
        HeaderValue::from_str(&format!("s=AAAA; other=1; {sig}")).unwrap(),
    );
    let v = verifier(scheme, "k");
    // `s=AAAA` is not a SHA-512 MAC: skipped; the valid candidate beside it verifies.
    assert!(v.verify(&h, b"hello").is_ok());
    h.insert(
        "x-acme-signature",
        HeaderValue::from_str("s=AAAA; other=1").unwrap(),
    );
    assert!(matches!(
        v.verify(&h, b"hello"),
        Err(VerifyError::MalformedHeader { .. })
    ));
    h.insert(
        "x-acme-signature",
        HeaderValue::from_str(&format!("other=1; {sig}")).unwrap(),
    );
    let ok = v.verify(&h, b"hello").unwrap();
    assert_eq!(ok.event_id().as_deref(), Some("evt-9"));
    h.insert("x-acme-id", HeaderValue::from_static("evt-10"));
    assert_eq!(
        v.verify(&h, b"hello").unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

// ---------------------------------------------------------------- configuration

#[test]
fn configuration_errors() {
    use webhook_receiver::ConfigError;
    assert_eq!(
        Verifier::builder(Stripe::new()).build().unwrap_err(),
        ConfigError::NoSecret
    );
    assert!(matches!(
        Verifier::builder(GitHub::new()).labeled_secret("primary", "").build().unwrap_err(),
        ConfigError::EmptySecret { label: Some(l) } if l == "primary"
    ));
    // Only whitespace (an empty line read from the environment or a file) is no secret either,
    // for raw secrets (GitHub) and for ones that may be raw (Standard Webhooks-like OpenAI).
    for blank in [" ", "\n", "\t \r\n"] {
        let github = Verifier::builder(GitHub::new()).secret(blank).build();
        let openai = Verifier::builder(webhook_receiver::providers::OpenAi::new())
            .secret(blank)
            .build();
        for built in [github.map(|_| ()), openai.map(|_| ())] {
            assert!(
                matches!(built, Err(ConfigError::EmptySecret { .. })),
                "{blank:?}: {built:?}"
            );
        }
    }
    // A raw secret is otherwise used as written, spaces included.
    assert!(
        Verifier::builder(GitHub::new())
            .secret(" s ")
            .build()
            .is_ok()
    );
    let err = Verifier::builder(StandardWebhooks::new())
        .labeled_secret("k1", "whsec_%%%supersecret%%%")
        .build()
        .unwrap_err();
    assert!(matches!(err, ConfigError::InvalidSecret { .. }));
    assert!(!err.to_string().contains("supersecret"), "{err}");
    assert!(
        Verifier::builder(Stripe::new())
            .secret("x")
            .body_limit(0)
            .build()
            .is_err()
    );
}

#[test]
fn secrets_never_in_debug_or_errors() {
    let secret = "whsec_test_secret_DO_NOT_PRINT";
    let v = Verifier::builder(Stripe::new())
        .labeled_secret("current", secret)
        .build()
        .unwrap();
    let shown = format!("{v:?} {v:#?}");
    assert!(!shown.contains("DO_NOT_PRINT"), "{shown}");
    assert!(shown.contains("current"));
    let signer = Signer::new(Stripe::new(), secret).unwrap();
    assert!(!format!("{signer:?}").contains("DO_NOT_PRINT"));
    // The expected signature never appears in an error either.
    let body = b"{}";
    let good = signer.timestamp(STRIPE_T).sign(body).unwrap();
    let good_sig = good["stripe-signature"]
        .to_str()
        .unwrap()
        .split("v1=")
        .nth(1)
        .unwrap()
        .to_owned();
    let h = headers(&[(
        "stripe-signature",
        &format!("t={STRIPE_T},v1={}", "0".repeat(64)),
    )]);
    let err = v.verify_at(&h, body, at(STRIPE_T)).unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(
        !text.contains(&good_sig) && !text.contains("DO_NOT_PRINT"),
        "{text}"
    );
}

// ---------------------------------------------------------------- Standard Webhooks v1a

// svix/svix-webhooks server/svix-server/src/worker.rs `test_asymmetric_key_signing` (and the
// README's "Asymmetric signatures"): the Python vector's id, timestamp and body, signed with
// Ed25519; verified here with the public key only.
const SW_V1A_PUBLIC: &str = "whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4=";
const SW_V1A_SIG: &str =
    "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg==";

#[test]
fn standard_webhooks_v1a_svix_vector() {
    let v = Verifier::builder(StandardWebhooks::new())
        .public_key(SW_V1A_PUBLIC)
        .build()
        .unwrap();
    let h = sw_headers(SW_V1A_SIG);
    let ok = v.verify_at(&h, SW_BODY, at(SW_TS)).unwrap();
    assert_eq!(ok.dedup_key(), DedupKey::EventId(SW_ID.into()));
    // Tampered body, id or timestamp: refused.
    assert_eq!(
        v.verify_at(
            &sw_headers(SW_V1A_SIG),
            br#"{"test": 2432232315}"#,
            at(SW_TS)
        )
        .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    let mut other_id = sw_headers(SW_V1A_SIG);
    other_id.insert("webhook-id", HeaderValue::from_static("msg_other"));
    assert_eq!(
        v.verify_at(&other_id, SW_BODY, at(SW_TS)).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // A `v1` HMAC entry is not checked by a public key, and vice versa.
    assert_eq!(
        v.verify_at(&sw_headers(SW_SIG), SW_BODY, at(SW_TS))
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    let hmac_only = verifier(StandardWebhooks::new(), SW_SECRET);
    assert_eq!(
        hmac_only
            .verify_at(&sw_headers(SW_V1A_SIG), SW_BODY, at(SW_TS))
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn standard_webhooks_mixed_keyring_and_header() {
    // The spec's header shape: one `v1` and one `v1a` entry; a keyring holding a secret and a
    // public key reports which one matched.
    let v = Verifier::builder(StandardWebhooks::new())
        .labeled_secret("hmac", SW_SECRET)
        .labeled_secret("ed25519", SW_V1A_PUBLIC)
        .build()
        .unwrap();
    let both = format!("v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= {SW_V1A_SIG}");
    let h = sw_headers(&both);
    let ok = v.verify_at(&h, SW_BODY, at(SW_TS)).unwrap();
    assert_eq!(ok.key_label(), Some("ed25519"));
    let both = format!("{SW_SIG} {SW_V1A_SIG}");
    let h = sw_headers(&both);
    let ok = v.verify_at(&h, SW_BODY, at(SW_TS)).unwrap();
    assert_eq!(ok.key_label(), Some("hmac"));
    // A v1a entry of the wrong length is malformed, like a v1 one.
    assert!(matches!(
        v.verify_at(&sw_headers("v1a,AAAA"), SW_BODY, at(SW_TS)),
        Err(VerifyError::MalformedHeader { .. })
    ));
    // A public key refuses to be used where the scheme has no public-key algorithm.
    assert!(
        Verifier::builder(Stripe::new())
            .key(
                None,
                webhook_receiver::Key::parse(webhook_receiver::KeyFormat::Whsec, SW_V1A_PUBLIC)
                    .unwrap()
            )
            .build()
            .is_err()
    );
}

#[test]
fn standard_webhooks_v1a_signer_round_trip_and_rotation() {
    let (old, old_public) = Signer::generate(StandardWebhooks::new()).unwrap();
    let (new, new_public) = Signer::generate(StandardWebhooks::new()).unwrap();
    assert!(new_public.starts_with("whpk_"));
    let v = Verifier::builder(StandardWebhooks::new())
        .labeled_secret("new", &new_public)
        .labeled_secret("old", &old_public)
        .build()
        .unwrap();
    let body = br#"{"type":"user.created"}"#;
    for (signer, label) in [(new, "new"), (old, "old")] {
        let headers = signer.id("msg_rot").timestamp(SW_TS).sign(body).unwrap();
        assert!(
            headers["webhook-signature"]
                .to_str()
                .unwrap()
                .starts_with("v1a,")
        );
        let ok = v.verify_at(&headers, body, at(SW_TS)).unwrap();
        assert_eq!(ok.key_label(), Some(label));
        assert_eq!(ok.event_id().as_deref(), Some("msg_rot"));
        // Expired and future timestamps are refused as for v1.
        assert!(matches!(
            v.verify_at(&headers, body, at(SW_TS + 301)),
            Err(VerifyError::TimestampTooOld { .. })
        ));
        assert!(matches!(
            v.verify_at(&headers, body, at(SW_TS - 301)),
            Err(VerifyError::TimestampInFuture { .. })
        ));
    }
    // A `whsk_` private key as Svix shows it signs too.
    let seed = [7u8; 32];
    let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
    let mut whsk = seed.to_vec();
    whsk.extend_from_slice(public.as_bytes());
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let signer = Signer::new(
        StandardWebhooks::new(),
        &format!("whsk_{}", b64.encode(&whsk)),
    )
    .unwrap();
    assert_eq!(
        signer.public_key().unwrap(),
        format!("whpk_{}", b64.encode(public.as_bytes()))
    );
}

#[path = "providers/adyen.rs"]
mod adyen;
#[path = "providers/airwallex.rs"]
mod airwallex;
#[path = "providers/alchemy.rs"]
mod alchemy;
#[path = "providers/asana.rs"]
mod asana;
#[path = "providers/bitbucket.rs"]
mod bitbucket;
#[path = "providers/body_hmac.rs"]
mod body_hmac;
#[path = "providers/box_com.rs"]
mod box_com;
#[path = "providers/buildkite.rs"]
mod buildkite;
#[path = "providers/calendly.rs"]
mod calendly;
#[path = "providers/checkout_com.rs"]
mod checkout_com;
#[path = "providers/circleci.rs"]
mod circleci;
#[path = "providers/coinbase_commerce.rs"]
mod coinbase_commerce;
#[path = "providers/discord.rs"]
mod discord;
#[path = "providers/docusign.rs"]
mod docusign;
#[path = "providers/dropbox.rs"]
mod dropbox;
#[path = "providers/easypost.rs"]
mod easypost;
#[path = "providers/gitea.rs"]
mod gitea;
#[path = "providers/gitlab.rs"]
mod gitlab;
#[path = "providers/gocardless.rs"]
mod gocardless;
#[path = "providers/hubspot.rs"]
mod hubspot;
#[path = "providers/intercom.rs"]
mod intercom;
#[path = "providers/lemon_squeezy.rs"]
mod lemon_squeezy;
#[path = "providers/line.rs"]
mod line;
#[path = "providers/linear.rs"]
mod linear;
#[path = "providers/mailgun.rs"]
mod mailgun;
#[path = "providers/mandrill.rs"]
mod mandrill;
#[path = "providers/meta.rs"]
mod meta;
#[path = "providers/notion.rs"]
mod notion;
#[path = "providers/okta.rs"]
mod okta;
#[path = "providers/paddle.rs"]
mod paddle;
#[path = "providers/pagerduty.rs"]
mod pagerduty;
#[path = "providers/paypal.rs"]
mod paypal;
#[path = "providers/plaid.rs"]
mod plaid;
#[path = "providers/postmark.rs"]
mod postmark;
#[path = "providers/quickbooks.rs"]
mod quickbooks;
#[path = "providers/razorpay.rs"]
mod razorpay;
#[path = "providers/recurly.rs"]
mod recurly;
#[path = "providers/segment.rs"]
mod segment;
#[path = "providers/sendgrid.rs"]
mod sendgrid;
#[path = "providers/sentry.rs"]
mod sentry;
#[path = "providers/sns.rs"]
mod sns;
#[path = "providers/square.rs"]
mod square;
#[path = "providers/svix_family.rs"]
mod svix_family;
#[path = "providers/telnyx.rs"]
mod telnyx;
#[path = "providers/twilio.rs"]
mod twilio;
#[path = "providers/twitch.rs"]
mod twitch;
#[path = "providers/typeform.rs"]
mod typeform;
#[path = "providers/veriff.rs"]
mod veriff;
#[path = "providers/webflow.rs"]
mod webflow;
#[path = "providers/woocommerce.rs"]
mod woocommerce;
#[path = "providers/xero.rs"]
mod xero;
#[path = "providers/zendesk.rs"]
mod zendesk;
#[path = "providers/zoom.rs"]
mod zoom;
