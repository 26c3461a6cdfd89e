//! Segment Webhooks destinations: HMAC-SHA1 of the body in `X-Signature`.
//!
//! Segment publishes no fixed signature. The first vector uses the inputs of
//! `segmentio/action-destinations`
//! `packages/destination-actions/src/destinations/webhook/__test__/webhook.test.ts` @970a17e
//! ("supports request signing": shared secret `abc123`, data `{"cool":true}` as
//! `JSON.stringify` writes it); its signature, and the others below, were computed with Python's
//! `hmac` module (`hmac.new(key, body, hashlib.sha1).hexdigest()`).

use webhook_receiver::providers::{LemonSqueezy, Segment};
use webhook_receiver::testing::Signer;
use webhook_receiver::{Algorithm, DedupKey, VerifyError};

use super::body_hmac::{assert_malformed, common_checks};
use super::{headers, verifier};

const SECRET: &str = "abc123";
const BODY: &[u8] = br#"{"cool":true}"#;
const SIG: &str = "5099cab379b3be52908387457007040cc934ef86";

#[test]
fn action_destinations_test_inputs() {
    let h = headers(&[("x-signature", SIG)]);
    let checker = verifier(Segment::new(), SECRET);
    let ok = checker.verify(&h, BODY).unwrap();
    assert_eq!(ok.scheme(), "segment");
    // A mapped payload without `messageId`: the delivery is keyed by its MAC.
    assert!(matches!(ok.dedup_key(), DedupKey::Digest(_)));
    common_checks(Segment::new(), SECRET, BODY, &h, "x-signature");
    let signed = Signer::new(Segment::new(), SECRET)
        .unwrap()
        .sign(BODY)
        .unwrap();
    assert_eq!(signed["x-signature"], SIG);
    assert_eq!(
        webhook_receiver::providers::Scheme::algorithms(&Segment::new()),
        [Algorithm::HmacSha1]
    );
}

#[test]
fn dedup_by_the_signed_message_id() {
    let signer = Signer::new(Segment::new(), SECRET).unwrap();
    let v = verifier(Segment::new(), SECRET);
    let event = br#"{"type":"track","event":"Item Purchased","messageId":"ajs-f8ca1e4de5024d9430b3928bd8ac6b96","properties":{"revenue":19.99},"userId":"AiUGstSDIg"}"#;
    let h = signer.sign(event).unwrap();
    let ok = v.verify(&h, event).unwrap();
    assert_eq!(
        ok.dedup_key(),
        DedupKey::EventId("ajs-f8ca1e4de5024d9430b3928bd8ac6b96".into())
    );
    // An unsigned header changes nothing.
    let mut h2 = h.clone();
    h2.insert("x-segment-message-id", "other".parse().unwrap());
    assert_eq!(v.verify(&h2, event).unwrap().dedup_key(), ok.dedup_key());
}

#[test]
fn batched_deliveries_are_refused() {
    // webhook/index.ts `extendRequest` signs `payload[0].data` only while `performBatch` sends
    // every event's data as a JSON array (the test "supports request signing with batched
    // events" checks the header against `JSON.stringify(body[0])`). The signature authenticates
    // the first event alone, so the delivery is refused.
    let batch = br#"[{"cool":false},{"cool":true}]"#;
    let segment_sends = headers(&[("x-signature", "c702b94a2569dd8d2f7185ce0ae951021bef4706")]);
    let v = verifier(Segment::new(), SECRET);
    assert_eq!(
        v.verify(&segment_sends, batch).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // Only a MAC over the whole array (which Segment does not send) would pass.
    let whole = headers(&[("x-signature", "685cf04ec172d3adcac0b8f25c923bb4d56ed1eb")]);
    assert!(matches!(
        v.verify(&whole, batch).unwrap().dedup_key(),
        DedupKey::Digest(_)
    ));
}

#[test]
fn malformed_and_the_shared_header_name() {
    for value in [
        "",
        "sha1=5099cab379b3be52908387457007040cc934ef86",
        "5099cab379b3be52908387457007040cc934ef",
        "zz99cab379b3be52908387457007040cc934ef86",
        "5099cab379b3be52908387457007040cc934ef8600",
    ] {
        if value.is_empty() {
            continue;
        }
        assert_malformed(Segment::new(), SECRET, BODY, "x-signature", value);
    }
    // Uppercase hex decodes to the same MAC.
    let upper = headers(&[("x-signature", &SIG.to_uppercase())]);
    assert!(
        verifier(Segment::new(), SECRET)
            .verify(&upper, BODY)
            .is_ok()
    );
    // Lemon Squeezy sends HMAC-SHA256 under the same name: each refuses the other's length.
    let lemon = Signer::new(LemonSqueezy::new(), SECRET)
        .unwrap()
        .sign(BODY)
        .unwrap();
    assert!(matches!(
        verifier(Segment::new(), SECRET).verify(&lemon, BODY),
        Err(VerifyError::MalformedHeader { .. })
    ));
    assert!(matches!(
        verifier(LemonSqueezy::new(), SECRET).verify(&headers(&[("x-signature", SIG)]), BODY),
        Err(VerifyError::MalformedHeader { .. })
    ));
}
