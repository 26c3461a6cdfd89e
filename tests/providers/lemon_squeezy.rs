//! Lemon Squeezy: HMAC-SHA256 of the body in `X-Signature`, no event id.
//!
//! Lemon Squeezy publishes no signature example. The body follows the `order_created` example
//! of docs.lemonsqueezy.com/api/webhooks (shortened); the secret is one you would type when
//! creating the webhook; the signatures were computed with Python's `hmac`
//! (`hmac.new(secret, body, hashlib.sha256).hexdigest()`), as "Signing requests" describes.

use webhook_receiver::DedupKey;
use webhook_receiver::providers::LemonSqueezy;

use super::body_hmac::{assert_malformed, common_checks};
use super::{headers, verifier};

const SECRET: &str = "lemon-signing-secret";
const CREATED: &str = r#"{"meta":{"event_name":"order_created","custom_data":{"customer_id":25}},"data":{"type":"orders","id":"1","attributes":{"store_id":1,"identifier":"636f855c-1fb9-4c07-b75c-3a10afef010a","order_number":1,"user_name":"Darlene Daugherty","user_email":"gernser@yahoo.com","currency":"USD","total":1199,"status":"paid"}}}"#;
const CREATED_SIG: &str = "cde6682a314f1cde8eade3dade7208b338c1f265163de086b7a676ca96e6c093";
const REFUNDED: &str = r#"{"meta":{"event_name":"order_refunded","custom_data":{"customer_id":25}},"data":{"type":"orders","id":"1","attributes":{"store_id":1,"identifier":"636f855c-1fb9-4c07-b75c-3a10afef010a","order_number":1,"user_name":"Darlene Daugherty","user_email":"gernser@yahoo.com","currency":"USD","total":1199,"status":"refunded"}}}"#;
const REFUNDED_SIG: &str = "34cf2354933857aa009973d4975f9fc49ab970ef6d759139bf544167eedb4358";
const HEADER: &str = "x-signature";

#[test]
fn computed_vector_and_common_checks() {
    let h = headers(&[(HEADER, CREATED_SIG), ("x-event-name", "order_created")]);
    let checker = verifier(LemonSqueezy::new(), SECRET);
    let ok = checker.verify(&h, CREATED.as_bytes()).unwrap();
    assert_eq!(ok.scheme(), "lemon-squeezy");
    assert_eq!(ok.event_id(), None);
    common_checks(LemonSqueezy::new(), SECRET, CREATED.as_bytes(), &h, HEADER);
}

#[test]
fn two_events_of_one_order_are_two_deliveries() {
    // `data.id` names the order: keying on it would drop the refund as a duplicate.
    let v = verifier(LemonSqueezy::new(), SECRET);
    let created = v
        .verify(&headers(&[(HEADER, CREATED_SIG)]), CREATED.as_bytes())
        .unwrap()
        .dedup_key()
        .into_owned();
    let refunded = v
        .verify(&headers(&[(HEADER, REFUNDED_SIG)]), REFUNDED.as_bytes())
        .unwrap()
        .dedup_key()
        .into_owned();
    assert!(matches!(created, DedupKey::Digest(_)));
    assert_ne!(created, refunded);
    // The unsigned X-Event-Name changes nothing.
    let renamed = v
        .verify(
            &headers(&[(HEADER, CREATED_SIG), ("x-event-name", "order_refunded")]),
            CREATED.as_bytes(),
        )
        .unwrap()
        .dedup_key()
        .into_owned();
    assert_eq!(renamed, created);
}

#[test]
fn malformed_signatures() {
    for value in [
        "sha256=cde6682a314f1cde8eade3dade7208b338c1f265163de086b7a676ca96e6c093",
        // A Segment-length (SHA-1) signature under the same header name.
        "5099cab379b3be52908387457007040cc934ef86",
        "cde6682a314f1cde8eade3dade7208b338c1f265163de086b7a676ca96e6c09",
    ] {
        assert_malformed(
            LemonSqueezy::new(),
            SECRET,
            CREATED.as_bytes(),
            HEADER,
            value,
        );
    }
}
