//! Razorpay: HMAC-SHA256 of the body in `X-Razorpay-Signature`, dedup by a digest, and the
//! rotation trap (retries of older events keep the old secret).

use webhook_receiver::providers::Razorpay;
use webhook_receiver::testing::Signer;
use webhook_receiver::{DedupKey, Verifier, VerifyError};

use super::body_hmac::{assert_malformed, common_checks};
use super::{headers, verifier};

const HEADER: &str = "x-razorpay-signature";

// razorpay/razorpay-node test/utils/razorpay-utils.spec.js @9737ef1 ("validateWebhookSignature").
const NODE_SECRET: &str = "123456";
const NODE_BODY: &[u8] = br#"{"a":1,"b":2,"c":{"d":3}}"#;
const NODE_SIG: &str = "2fe04e22977002e6c7cb553adab8b460cb9e2a4970d5953cb27a8472752e3bbc";

// razorpay/razorpay-python tests/test_client_utility.py @b56ac01 `test_verify_webhook_signature`:
// the client's `key_secret`, and tests/mocks/fake_payment_authorized_webhook.json read as is
// (pretty-printed, with its final newline).
const PY_SECRET: &str = "key_secret";
const PY_BODY: &str = r#"{
  "event": "payment.authorized",
  "entity": "event",
  "contains": [
    "payment"
  ],
  "payload": {
    "payment": {
      "entity": {
        "id": "pay_6koWN7bvxujzxM",
        "entity": "payment",
        "amount": 1000000,
        "currency": "INR",
        "status": "captured",
        "order_id": "order_100000000order",
        "international": false,
        "method": "card",
        "amount_refunded": 0,
        "refund_status": null,
        "captured": true,
        "description": "random description",
        "card_id": "card_6koWNAT6LASUqy",
        "bank": null,
        "wallet": null,
        "vpa": null,
        "email": "a@b.com",
        "contact": "+919999999999",
        "notes": {
          "merchant_order_id": "random order id"
        },
        "fee": 23000,
        "service_tax": 3000,
        "error_code": null,
        "error_description": null,
        "created_at": 1479978483
      }
    }
  },
  "created_at": 1400826760
}
"#;
const PY_SIG: &str = "d60e67fd884556c045e9be7dad57903e33efc7172c17c6e3ef77db42d2b366e9";

#[test]
fn sdk_vectors() {
    let h = headers(&[(HEADER, NODE_SIG)]);
    let checker = verifier(Razorpay::new(), NODE_SECRET);
    let ok = checker.verify(&h, NODE_BODY).unwrap();
    assert_eq!(ok.scheme(), "razorpay");
    assert!(matches!(ok.dedup_key(), DedupKey::Digest(_)));
    common_checks(Razorpay::new(), NODE_SECRET, NODE_BODY, &h, HEADER);
    // The Node test's wrong signature is not hex: malformed, not a mismatch.
    assert_malformed(Razorpay::new(), NODE_SECRET, NODE_BODY, HEADER, "sdfafds");

    let h = headers(&[(HEADER, PY_SIG)]);
    let v = verifier(Razorpay::new(), PY_SECRET);
    assert!(v.verify(&h, PY_BODY.as_bytes()).is_ok());
    common_checks(Razorpay::new(), PY_SECRET, PY_BODY.as_bytes(), &h, HEADER);
    // Pretty-printed JSON is signed as sent: trimming or compacting it breaks the MAC.
    assert_eq!(
        v.verify(&h, PY_BODY.trim_end().as_bytes()).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    let compact: String = PY_BODY.split_whitespace().collect();
    assert_eq!(
        v.verify(&h, compact.as_bytes()).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // The Python test's `test_verify_webhook_signature_with_exception`: empty body, junk signature.
    assert_malformed(Razorpay::new(), PY_SECRET, b"", HEADER, "test_signature");
    // The webhook secret, not the API key secret, keys webhooks.
    assert_eq!(
        verifier(Razorpay::new(), "rzp_test_key_secret")
            .verify(&h, PY_BODY.as_bytes())
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn retries_of_old_events_keep_the_old_secret() {
    // After a secret change, a retry of an event created before it arrives signed with the old
    // secret: keep both for the 24-hour retry window and watch the label.
    let body = br#"{"entity":"event","account_id":"acc_BFQ7uQEaa7j2z7","event":"payment.captured","contains":["payment"],"payload":{"payment":{"entity":{"id":"pay_DESlfW9H8K9uqM","amount":100}}},"created_at":1567674606}"#;
    let old = Signer::new(Razorpay::new(), "old-webhook-secret").unwrap();
    let new = Signer::new(Razorpay::new(), "new-webhook-secret").unwrap();
    let v = Verifier::builder(Razorpay::new())
        .labeled_secret("current", "new-webhook-secret")
        .labeled_secret("previous", "old-webhook-secret")
        .build()
        .unwrap();
    let old_signed = old.sign(body).unwrap();
    let retry = v.verify(&old_signed, body).unwrap();
    assert_eq!(
        (retry.key_index(), retry.key_label()),
        (1, Some("previous"))
    );
    let new_signed = new.sign(body).unwrap();
    let fresh = v.verify(&new_signed, body).unwrap();
    assert_eq!((fresh.key_index(), fresh.key_label()), (0, Some("current")));
    // Without the previous secret, those retries are refused.
    assert_eq!(
        verifier(Razorpay::new(), "new-webhook-secret")
            .verify(&old.sign(body).unwrap(), body)
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn the_event_id_header_is_not_trusted() {
    let v = verifier(Razorpay::new(), NODE_SECRET);
    let mut h = headers(&[
        (HEADER, NODE_SIG),
        ("x-razorpay-event-id", "HdJFqDnqQ8x5Ot"),
    ]);
    let a = v.verify(&h, NODE_BODY).unwrap().dedup_key().into_owned();
    h.insert("x-razorpay-event-id", "someone-else".parse().unwrap());
    let b = v.verify(&h, NODE_BODY).unwrap().dedup_key().into_owned();
    assert_eq!(a, b);
    assert!(matches!(a, DedupKey::Digest(_)));
}
