//! Coinbase Commerce: HMAC-SHA256 of the body in `X-CC-Webhook-Signature`, dedup by
//! `event.id`.

use webhook_receiver::providers::CoinbaseCommerce;
use webhook_receiver::testing::Signer;
use webhook_receiver::{DedupKey, VerifyError};

use super::body_hmac::{assert_malformed, common_checks};
use super::{headers, verifier};

// coinbase/coinbase-commerce-node test/testWebhook.spec.js @d46c596 ("should successfully verify
// signature and return event", and the invalid-secret and no-`event` cases).
const SECRET: &str = "30291a20-0bd1-4267-9b0f-e6e7b123c0bf";
const BODY: &str = r#"{"id":1,"scheduled_for":"2017-01-31T20:50:02Z","attempt_number":1,"event":{"id":"24934862-d980-46cb-9402-43c81b0cdba6","type":"charge:created","api_version":"2018-03-22","created_at":"2017-01-31T20:49:02Z","data":{"code":"66BEOV2A","name":"The Sovereign Individual","description":"Mastering the Transition to the Information Age","hosted_url":"https://commerce.coinbase.com/charges/66BEOV2A","created_at":"2017-01-31T20:49:02Z","expires_at":"2017-01-31T21:04:02Z","timeline":[{"time":"2017-01-31T20:49:02Z","status":"NEW"}],"metadata":{},"pricing_type":"no_price","payments":[],"addresses":{"bitcoin":"0000000000000000000000000000000000","ethereum":"0x0000000000000000000000000000000000000000","litecoin":"3000000000000000000000000000000000","bitcoincash":"bitcoincash:000000000000000000000000000000000000000000"}}}}"#;
const SIG: &str = "8be7742c7d372f08a6a3224edadf18a22b65fa9e28f3f2de97376cdaa092590d";
const HEADER: &str = "x-cc-webhook-signature";

#[test]
fn sdk_vector() {
    let h = headers(&[(HEADER, SIG)]);
    let checker = verifier(CoinbaseCommerce::new(), SECRET);
    let ok = checker.verify(&h, BODY.as_bytes()).unwrap();
    assert_eq!(ok.scheme(), "coinbase-commerce");
    // The event id, not the top-level delivery id (1).
    assert_eq!(
        ok.dedup_key(),
        DedupKey::EventId("24934862-d980-46cb-9402-43c81b0cdba6".into())
    );
    common_checks(CoinbaseCommerce::new(), SECRET, BODY.as_bytes(), &h, HEADER);
    // The SDK's invalid-secret case: the last digit changed.
    assert_eq!(
        verifier(
            CoinbaseCommerce::new(),
            "30291a20-0bd1-4267-9b0f-e6e7b123c0bg"
        )
        .verify(&h, BODY.as_bytes())
        .unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn a_body_without_an_event_is_malformed() {
    // The SDK's "Not json" and "event is not in response" cases (checked before the signature).
    let v = verifier(CoinbaseCommerce::new(), SECRET);
    let h = headers(&[(HEADER, SIG)]);
    for body in [
        &b"Not json"[..],
        br#"{"id":1,"scheduled_for":"2017-01-31T20:50:02Z","attempt_number":1}"#,
        br#"{"id":1,"event":"charge:created"}"#,
        br#"[{"event":{"id":"e"}}]"#,
        b"",
    ] {
        assert!(
            matches!(v.verify(&h, body), Err(VerifyError::MalformedBody { .. })),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn retries_share_the_event_id() {
    // A retry carries a higher `attempt_number`: another body and MAC, the same event.
    let retry = BODY.replace(r#""attempt_number":1"#, r#""attempt_number":2"#);
    let signer = Signer::new(CoinbaseCommerce::new(), SECRET).unwrap();
    let v = verifier(CoinbaseCommerce::new(), SECRET);
    let h = signer.sign(retry.as_bytes()).unwrap();
    assert_ne!(h[HEADER], SIG);
    let first = v
        .verify(&headers(&[(HEADER, SIG)]), BODY.as_bytes())
        .unwrap()
        .dedup_key()
        .into_owned();
    let again = v
        .verify(&h, retry.as_bytes())
        .unwrap()
        .dedup_key()
        .into_owned();
    assert_eq!(first, again);
}

#[test]
fn malformed_signatures() {
    for value in [
        "sha256=8be7742c7d372f08a6a3224edadf18a22b65fa9e28f3f2de97376cdaa092590d",
        "8be7742c",
        "not hex at all",
    ] {
        assert_malformed(
            CoinbaseCommerce::new(),
            SECRET,
            BODY.as_bytes(),
            HEADER,
            value,
        );
    }
}
