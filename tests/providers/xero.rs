//! Xero: base64 HMAC-SHA256 of the body, 401 for every bad signature, Intent to Receive.
//!
//! Xero's docs give the algorithm but no example, and its sample receiver
//! (`XeroAPI/XeroWebhooksReceiver` `XeroWebhooksReceiver/Helpers/SignatureVerifier.cs`,
//! `XeroWebhooksReceiverUnit.Tests/WebhooksControllerTests.cs`) mocks the signature; the vectors
//! below were computed with that `SignatureVerifier` algorithm (HMAC-SHA256 of the UTF-8 body,
//! base64) in Python, over the payload shapes in Xero's "Configuring your server" page.

use http::{HeaderMap, HeaderValue, StatusCode};
use webhook_receiver::providers::{Scheme, Xero};
use webhook_receiver::testing::Signer;
use webhook_receiver::{DedupKey, Verifier, VerifyError};

use super::{headers, verifier};

const KEY: &str = "xero-webhooks-key";
const BODY: &[u8] = br#"{"events":[{"resourceUrl":"https://api.xero.com/api.xro/2.0/Contacts/717f2bfc-c6d4-41fd-b238-3f2f0c0cf777","resourceId":"717f2bfc-c6d4-41fd-b238-3f2f0c0cf777","eventDateUtc":"2017-06-21T01:15:39.902","eventType":"Update","eventCategory":"CONTACT","tenantId":"c2cc9b6e-9458-4c7d-93cc-f02b81b0594f","tenantType":"ORGANISATION"}],"lastEventSequence":1,"firstEventSequence":1,"entropy":"S0m3r4Nd0mt3xt"}"#;
const SIG: &str = "Zss7YMPdRUxdewQ9pydBpqwhsKAaA3znaHQr4iZkKAE=";
const ITR: &[u8] =
    br#"{"events":[],"firstEventSequence":0,"lastEventSequence":0,"entropy":"ZZZZZZZZZZZZZZZZZZZZ"}"#;
const ITR_SIG: &str = "NU1Sjo5+KfsTS5BbBvm5ndW+JESzjMcgBjXD0F0kR6E=";

fn xero(value: &str) -> HeaderMap {
    headers(&[("x-xero-signature", value)])
}

#[test]
fn computed_vector_and_signer() {
    let v = verifier(Xero::new(), KEY);
    let sent = xero(SIG);
    let ok = v.verify(&sent, BODY).unwrap();
    assert_eq!(ok.scheme(), "xero");
    assert_eq!(ok.event_id(), None);
    assert!(matches!(ok.dedup_key(), DedupKey::Digest(_)));
    assert!(!Xero::is_intent_to_receive(BODY));
    let signed = Signer::new(Xero::new(), KEY).unwrap().sign(BODY).unwrap();
    assert_eq!(signed["x-xero-signature"], SIG);
}

#[test]
fn intent_to_receive_answers_200_and_401() {
    // Xero's validation series: a correctly signed one is verified (then answered an empty 200),
    // an incorrectly signed one is refused with 401.
    let v = verifier(Xero::new(), KEY);
    assert!(v.verify(&xero(ITR_SIG), ITR).is_ok());
    assert!(Xero::is_intent_to_receive(ITR));
    let sent2 = xero(SIG);
    let err = v.verify(&sent2, ITR).unwrap_err();
    assert_eq!(err, VerifyError::SignatureMismatch);
    assert_eq!(Xero::new().reject_status(&err), StatusCode::UNAUTHORIZED);
    // Each validation request has its own entropy, hence its own dedup key.
    let other = br#"{"events":[],"firstEventSequence":0,"lastEventSequence":0,"entropy":"YYYYYYYYYYYYYYYYYYYY"}"#;
    let signed = Signer::new(Xero::new(), KEY).unwrap().sign(other).unwrap();
    assert_ne!(
        v.verify(&signed, other).unwrap().dedup_key(),
        v.verify(&xero(ITR_SIG), ITR).unwrap().dedup_key()
    );
    // Not intent-to-receive: events present, not JSON, an array, `events` not an array.
    for body in [
        BODY,
        b"not json".as_slice(),
        br#"[{"events":[]}]"#,
        br#"{"events":{}}"#,
        br#"{"firstEventSequence":0}"#,
        br#"{"events":[],"events":[]}"#,
    ] {
        assert!(!Xero::is_intent_to_receive(body), "{body:?}");
    }
}

#[test]
fn every_verification_failure_is_401() {
    let v = verifier(Xero::new(), KEY);
    let scheme = Xero::new();
    let mut repeated = xero(SIG);
    repeated.append("x-xero-signature", HeaderValue::from_static(SIG));
    for (h, body) in [
        (xero(SIG), b"{}".as_slice()), // tampered body
        (HeaderMap::new(), BODY),      // missing header
        (xero("not base64!"), BODY),   // malformed
        (xero("AAAA"), BODY),          // wrong length
        (repeated, BODY),              // repeated
    ] {
        let err = v.verify(&h, body).unwrap_err();
        assert_eq!(
            scheme.reject_status(&err),
            StatusCode::UNAUTHORIZED,
            "{err:?}"
        );
    }
    assert_eq!(
        v.verify(&HeaderMap::new(), BODY).unwrap_err(),
        VerifyError::MissingHeader {
            name: "x-xero-signature".into()
        }
    );
    // A body over the limit is still 413.
    let small = Verifier::builder(Xero::new())
        .secret(KEY)
        .body_limit(8)
        .build()
        .unwrap();
    let sent3 = xero(SIG);
    let err = small.verify(&sent3, BODY).unwrap_err();
    assert_eq!(scheme.reject_status(&err), StatusCode::PAYLOAD_TOO_LARGE);
    // Wrong key.
    assert_eq!(
        verifier(Xero::new(), "other-key")
            .verify(&xero(SIG), BODY)
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn rotation_and_unsigned_headers() {
    let v = Verifier::builder(Xero::new())
        .labeled_secret("new", "new-key")
        .labeled_secret("old", KEY)
        .build()
        .unwrap();
    let sent4 = xero(SIG);
    let ok = v.verify(&sent4, BODY).unwrap();
    assert_eq!((ok.key_index(), ok.key_label()), (1, Some("old")));
    let key = ok.dedup_key().into_owned();
    let mut h = xero(SIG);
    h.insert("x-request-id", HeaderValue::from_static("whatever"));
    assert_eq!(v.verify(&h, BODY).unwrap().dedup_key(), key);
}
