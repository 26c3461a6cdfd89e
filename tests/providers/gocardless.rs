//! GoCardless: HMAC-SHA256 of the body in `Webhook-Signature`, 498 for bad signatures, batches
//! deduplicated as one delivery.

use http::StatusCode;
use webhook_receiver::providers::{GoCardless, Scheme, StandardWebhooks};
use webhook_receiver::testing::Signer;
use webhook_receiver::{DedupKey, Verifier, VerifyError};

use super::body_hmac::{assert_malformed, common_checks};
use super::{headers, verifier};

// gocardless/gocardless-pro-python tests/webhooks_test.py @d5c83f3: `fixture_signature`, `key`,
// and tests/fixtures/webhook_body.json read with `.strip()` (so without its final newline).
const KEY: &str = "ED7D658C-D8EB-4941-948B-3973214F2D49";
const SIG: &str = "2693754819d3e32d7e8fcb13c729631f316c6de8dc1cf634d6527f1c07276e7e";
const BODY: &str = r#"{"events":[{"id":"EV00BD05S5VM2T","created_at":"2018-07-05T09:13:51.404Z","resource_type":"subscriptions","action":"created","links":{"subscription":"SB0003JJQ2MR06"},"details":{"origin":"api","cause":"subscription_created","description":"Subscription created via the API."},"metadata":{}},{"id":"EV00BD05TB8K63","created_at":"2018-07-05T09:13:56.893Z","resource_type":"mandates","action":"created","links":{"mandate":"MD000AMA19XGEC"},"details":{"origin":"api","cause":"mandate_created","description":"Mandate created via the API."},"metadata":{}}]}"#;
const HEADER: &str = "webhook-signature";

#[test]
fn sdk_fixture() {
    let h = headers(&[(HEADER, SIG)]);
    let checker = verifier(GoCardless::new(), KEY);
    let ok = checker.verify(&h, BODY.as_bytes()).unwrap();
    assert_eq!(ok.scheme(), "gocardless");
    // Two events, one delivery: keyed by the MAC, never by one event's id.
    assert_eq!(ok.event_id(), None);
    assert!(matches!(ok.dedup_key(), DedupKey::Digest(_)));
    common_checks(GoCardless::new(), KEY, BODY.as_bytes(), &h, HEADER);
    // The SDK's `test_it_raises_with_invalid_signature`.
    assert_eq!(
        verifier(GoCardless::new(), "anotherkey")
            .verify(&h, BODY.as_bytes())
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // The fixture file as stored, with its final newline, is other bytes.
    let with_newline = format!("{BODY}\n");
    assert_eq!(
        verifier(GoCardless::new(), KEY)
            .verify(&h, with_newline.as_bytes())
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn bad_signatures_get_498() {
    let scheme = GoCardless::new();
    let token_invalid = StatusCode::from_u16(498).unwrap();
    for error in [
        VerifyError::SignatureMismatch,
        VerifyError::MissingHeader {
            name: "webhook-signature".into(),
        },
        VerifyError::MalformedHeader {
            name: "webhook-signature".into(),
            reason: "not 64 lowercase hex digits",
        },
        VerifyError::MalformedBody { reason: "x" },
    ] {
        assert_eq!(scheme.reject_status(&error), token_invalid, "{error}");
    }
    assert_eq!(
        scheme.reject_status(&VerifyError::BodyTooLarge { limit: 1 }),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    // Through a verifier: each failure's error maps to 498.
    let v = verifier(GoCardless::new(), KEY);
    let wrong = headers(&[(HEADER, &"0".repeat(64))]);
    let err = v.verify(&wrong, BODY.as_bytes()).unwrap_err();
    assert_eq!(v.scheme().reject_status(&err), token_invalid);
    let err = v.verify(&headers(&[]), BODY.as_bytes()).unwrap_err();
    assert_eq!(v.scheme().reject_status(&err), token_invalid);
    let small = Verifier::builder(GoCardless::new())
        .secret(KEY)
        .body_limit(16)
        .build()
        .unwrap();
    let err = small
        .verify(&headers(&[(HEADER, SIG)]), BODY.as_bytes())
        .unwrap_err();
    assert_eq!(
        small.scheme().reject_status(&err),
        StatusCode::PAYLOAD_TOO_LARGE
    );
}

#[test]
fn python_sdk_strictness() {
    // The Python SDK compares the header with `hexdigest()` as text; the Node SDK decodes it
    // first (PROVIDERS.md §20.47). The stricter one wins.
    for value in [
        SIG.to_uppercase(),
        format!("{SIG}00"),
        format!("{SIG}zz"),
        SIG[..63].to_owned(),
        format!("sha256={SIG}"),
        format!("v1,{SIG}"),
        "Jpt1SBnT4y1+j8sTxykxbzFsbejcHPY01lJ/HAcnbn4=".to_owned(),
    ] {
        assert_malformed(GoCardless::new(), KEY, BODY.as_bytes(), HEADER, &value);
    }
}

#[test]
fn batches_and_redeliveries() {
    let signer = Signer::new(GoCardless::new(), KEY).unwrap();
    let v = verifier(GoCardless::new(), KEY);
    let first = v
        .verify(&signer.sign(BODY.as_bytes()).unwrap(), BODY.as_bytes())
        .unwrap()
        .dedup_key()
        .into_owned();
    // A resend of the same webhook (same body) is a duplicate ...
    let again = v
        .verify(&headers(&[(HEADER, SIG)]), BODY.as_bytes())
        .unwrap()
        .dedup_key()
        .into_owned();
    assert_eq!(first, again);
    // ... a webhook holding one of the same events with another is not.
    let other = r#"{"events":[{"id":"EV00BD05S5VM2T","created_at":"2018-07-05T09:13:51.404Z","resource_type":"subscriptions","action":"created","links":{"subscription":"SB0003JJQ2MR06"},"details":{"origin":"api","cause":"subscription_created","description":"Subscription created via the API."},"metadata":{}}],"meta":{"webhook_id":"WB00001"}}"#;
    let k = v
        .verify(&signer.sign(other.as_bytes()).unwrap(), other.as_bytes())
        .unwrap()
        .dedup_key()
        .into_owned();
    assert_ne!(first, k);
    // An unsigned header changes nothing.
    let mut h = headers(&[(HEADER, SIG)]);
    h.insert(
        "origin",
        "https://api-sandbox.gocardless.com".parse().unwrap(),
    );
    assert_eq!(
        v.verify(&h, BODY.as_bytes())
            .unwrap()
            .dedup_key()
            .into_owned(),
        first
    );
}

#[test]
fn standard_webhooks_header_name_trap() {
    // The same header name as Standard Webhooks, with bare hex and no id or timestamp.
    let h = headers(&[(HEADER, SIG)]);
    assert_eq!(
        verifier(
            StandardWebhooks::new(),
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        )
        .verify(&h, BODY.as_bytes())
        .unwrap_err(),
        VerifyError::MissingHeader {
            name: "webhook-id".into()
        }
    );
}
