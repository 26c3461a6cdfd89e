//! LINE Messaging API: base64 HMAC-SHA256 of the body under the channel secret.

use http::{HeaderMap, HeaderValue};
use webhook_receiver::providers::Line;
use webhook_receiver::testing::Signer;
use webhook_receiver::{DedupKey, Verifier, VerifyError};

use super::{headers, verifier};

// line/line-bot-sdk-python tests/v3/test_webhook.py `TestSignatureValidator.test_validate`
// @e1fa9338a3230ef4912aa387778641a505cf7372.
const SECRET: &str = "channel_secret";
const BODY: &[u8] = b"bodybodybodybody";
const SIG: &str = "/gg9a+LvFevTH1sd7XCQycD7tsWclCsInj7MhBHxN7k=";

fn line(value: &str) -> HeaderMap {
    headers(&[("x-line-signature", value)])
}

#[test]
fn python_sdk_vector() {
    let v = verifier(Line::new(), SECRET);
    let sent = line(SIG);
    let ok = v.verify(&sent, BODY).unwrap();
    assert_eq!(ok.scheme(), "line");
    assert_eq!(ok.unix_timestamp(), None);
    assert!(matches!(ok.dedup_key(), DedupKey::Digest(_)));
    // `validate('bodybodybodybody', 'invalid_signature')` is false: here malformed.
    assert!(matches!(
        v.verify(&line("invalid_signature"), BODY),
        Err(VerifyError::MalformedHeader { .. })
    ));
    let signed = Signer::new(Line::new(), SECRET)
        .unwrap()
        .sign(BODY)
        .unwrap();
    assert_eq!(signed["x-line-signature"], SIG);
}

#[test]
fn strict_base64_like_the_python_sdk() {
    // The Node SDK decodes leniently (base64url, trailing junk); here only standard base64.
    let v = verifier(Line::new(), SECRET);
    let url_safe = SIG.replace('/', "_");
    for bad in [
        url_safe.as_str(),
        &format!("{SIG}junk"),
        &format!("{SIG}AAAA"),
    ] {
        assert!(
            matches!(
                v.verify(&line(bad), BODY),
                Err(VerifyError::MalformedHeader { .. })
            ),
            "{bad}"
        );
    }
}

#[test]
fn tampered_wrong_key_missing() {
    let v = verifier(Line::new(), SECRET);
    assert_eq!(
        v.verify(&line(SIG), b"bodybodybodybodX").unwrap_err(),
        VerifyError::SignatureMismatch
    );
    assert_eq!(
        verifier(Line::new(), "reissued_secret")
            .verify(&line(SIG), BODY)
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    assert_eq!(
        v.verify(&HeaderMap::new(), BODY).unwrap_err(),
        VerifyError::MissingHeader {
            name: "x-line-signature".into()
        }
    );
}

#[test]
fn swap_with_both_secrets_and_batch_dedup() {
    // LINE's reissue has no overlap: both secrets configured for the moment of the swap.
    let v = Verifier::builder(Line::new())
        .labeled_secret("reissued", "reissued_secret")
        .labeled_secret("previous", SECRET)
        .build()
        .unwrap();
    let sent2 = line(SIG);
    let ok = v.verify(&sent2, BODY).unwrap();
    assert_eq!((ok.key_index(), ok.key_label()), (1, Some("previous")));
    // A batch is one delivery: its signed per-event ids do not become the dedup key, and a
    // redelivery (isRedelivery: true) is a different body, hence a different key.
    let first = br#"{"destination":"U1","events":[{"type":"message","webhookEventId":"01FZ74A0TDDPYRVKNK77XKC3ZR","deliveryContext":{"isRedelivery":false},"timestamp":1625665242211}]}"#;
    let again = br#"{"destination":"U1","events":[{"type":"message","webhookEventId":"01FZ74A0TDDPYRVKNK77XKC3ZR","deliveryContext":{"isRedelivery":true},"timestamp":1625665242211}]}"#;
    let sign = |body: &[u8]| {
        Signer::new(Line::new(), "reissued_secret")
            .unwrap()
            .sign(body)
            .unwrap()
    };
    let sent3 = sign(first);
    let a = v.verify(&sent3, first).unwrap();
    let sent4 = sign(again);
    let b = v.verify(&sent4, again).unwrap();
    assert_eq!(a.event_id(), None);
    assert_ne!(a.dedup_key(), b.dedup_key());
    // An unsigned header does not change the key.
    let mut h = sign(first);
    h.insert("x-line-request-id", HeaderValue::from_static("r"));
    assert_eq!(v.verify(&h, first).unwrap().dedup_key(), a.dedup_key());
}
