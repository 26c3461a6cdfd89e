//! Checkout.com: HMAC-SHA256 of the body in `Cko-Signature`, dedup by the body `id`.
//!
//! Checkout.com publishes no signature example. The body follows the `payment_approved` event
//! of its API reference; the key is one you would type in the workflow action; the signature
//! was computed with Python's `hmac` (`hmac.new(key, body, hashlib.sha256).hexdigest()`), as
//! "Set up your webhook receiver" describes.

use webhook_receiver::providers::CheckoutCom;
use webhook_receiver::testing::Signer;
use webhook_receiver::{DedupKey, VerifyError};

use super::body_hmac::{assert_malformed, common_checks};
use super::{headers, verifier};

const KEY: &str = "checkout-signature-key";
const BODY: &str = r#"{"id":"evt_az5sblvku4ge3dwpztvyizgcau","type":"payment_approved","version":"1.0.33","created_on":"2019-08-24T14:15:22Z","data":{"id":"pay_mbabizu24mvu3mela5njyhpit4","action_id":"act_y3oqhf46pyzuxjbcn2giaqnb44","amount":6540,"currency":"USD","approved":true,"status":"Authorized","response_code":"10000","processed_on":"2019-08-24T14:15:22Z"},"_links":{"self":{"href":"https://api.checkout.com/workflows/events/evt_az5sblvku4ge3dwpztvyizgcau"}}}"#;
const SIG: &str = "8ff713e2fd60856ed6629b38a83b869bc32be7f7d332217c628995c769ecf8c0";
const HEADER: &str = "cko-signature";

#[test]
fn computed_vector_and_common_checks() {
    let h = headers(&[(HEADER, SIG)]);
    let checker = verifier(CheckoutCom::new(), KEY);
    let ok = checker.verify(&h, BODY.as_bytes()).unwrap();
    assert_eq!(ok.scheme(), "checkout-com");
    // The event id, not the payment's `data.id`.
    assert_eq!(
        ok.dedup_key(),
        DedupKey::EventId("evt_az5sblvku4ge3dwpztvyizgcau".into())
    );
    common_checks(CheckoutCom::new(), KEY, BODY.as_bytes(), &h, HEADER);
}

#[test]
fn re_serialised_json_does_not_verify() {
    // Checkout.com's warning: deserialising and serialising again changes the bytes.
    let v = verifier(CheckoutCom::new(), KEY);
    let h = headers(&[(HEADER, SIG)]);
    let pretty = BODY.replace(',', ", ");
    assert_eq!(
        v.verify(&h, pretty.as_bytes()).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    let amount = BODY.replace("6540", "6540.0");
    assert_eq!(
        v.verify(&h, amount.as_bytes()).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // Non-ASCII bytes are signed as sent.
    let signer = Signer::new(CheckoutCom::new(), KEY).unwrap();
    let body = r#"{"id":"evt_1","type":"payment_approved","data":{"reference":"Café ©®™"}}"#;
    let signed = signer.sign(body.as_bytes()).unwrap();
    assert!(v.verify(&signed, body.as_bytes()).is_ok());
    let escaped = r#"{"id":"evt_1","type":"payment_approved","data":{"reference":"Caf\u00e9 \u00a9\u00ae\u2122"}}"#;
    assert_eq!(
        v.verify(&signed, escaped.as_bytes()).unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn unsigned_headers_do_not_change_the_key() {
    let v = verifier(CheckoutCom::new(), KEY);
    let mut h = headers(&[(HEADER, SIG)]);
    let a = v
        .verify(&h, BODY.as_bytes())
        .unwrap()
        .dedup_key()
        .into_owned();
    h.insert("authorization", "Bearer workflow-header".parse().unwrap());
    h.insert("cko-event-id", "evt_other".parse().unwrap());
    assert_eq!(
        v.verify(&h, BODY.as_bytes())
            .unwrap()
            .dedup_key()
            .into_owned(),
        a
    );
}

#[test]
fn malformed_signatures() {
    for value in [
        "sha256=8ff713e2fd60856ed6629b38a83b869bc32be7f7d332217c628995c769ecf8c0",
        "j/cT4v1ghW7WYps4qDuGnDK+e/fTMiF8YomVxWnsyMA=",
        "8ff713e2fd",
    ] {
        assert_malformed(CheckoutCom::new(), KEY, BODY.as_bytes(), HEADER, value);
    }
}
