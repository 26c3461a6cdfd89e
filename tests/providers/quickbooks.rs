//! Intuit QuickBooks Online: base64 HMAC-SHA256 of the body under the Verifier Token.

use http::{HeaderMap, HeaderValue};
use webhook_receiver::providers::QuickBooks;
use webhook_receiver::testing::Signer;
use webhook_receiver::{DedupKey, Verifier, VerifyError};

use super::{headers, verifier};

// intuit/QuickBooks-V3-Java-SDK
// ipp-v3-java-devkit/src/test/java/com/intuit/ipp/services/WebhooksServiceTest.java
// (`verifierToken`, `intuitSignature`, `payload`, `testVerifyPayload`)
// @79b5a3c125b2c1c4828f89142039789b61b47ea4.
const TOKEN: &str = "b5771f19b12ddb4bcdb9f08bdc50bc63878a";
const SIG: &str = "JC2GUwciPmRBwEO7WvrRmKqu9tGOKL8FFallocTFi8Q=";
const BODY: &[u8] = br#"{"eventNotifications":[{"realmId":"1185883450","dataChangeEvent":{"entities":[{"name":"Customer","id":"1","operation":"Create","lastUpdated":"2015-10-05T14:42:19-0700"}]}}]}"#;

fn intuit(value: &str) -> HeaderMap {
    headers(&[("intuit-signature", value)])
}

#[test]
fn java_sdk_vector() {
    let v = verifier(QuickBooks::new(), TOKEN);
    let sent = intuit(SIG);
    let ok = v.verify(&sent, BODY).unwrap();
    assert_eq!(ok.scheme(), "quickbooks");
    assert_eq!(ok.event_id(), None);
    assert!(matches!(ok.dedup_key(), DedupKey::Digest(_)));
    // `verifyPayload("1234", payload)` is false: here a malformed signature.
    assert!(matches!(
        v.verify(&intuit("1234"), BODY),
        Err(VerifyError::MalformedHeader { .. })
    ));
    let signed = Signer::new(QuickBooks::new(), TOKEN)
        .unwrap()
        .sign(BODY)
        .unwrap();
    assert_eq!(signed["intuit-signature"], SIG);
}

#[test]
fn tampered_wrong_key_missing_and_repeated() {
    let v = verifier(QuickBooks::new(), TOKEN);
    let mut tampered = BODY.to_vec();
    tampered[30] ^= 1;
    assert_eq!(
        v.verify(&intuit(SIG), &tampered).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // The OAuth client secret is not the key.
    assert_eq!(
        verifier(QuickBooks::new(), "client-secret-not-the-verifier-token")
            .verify(&intuit(SIG), BODY)
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    assert_eq!(
        v.verify(&HeaderMap::new(), BODY).unwrap_err(),
        VerifyError::MissingHeader {
            name: "intuit-signature".into()
        }
    );
    let mut h = intuit(SIG);
    h.append("intuit-signature", HeaderValue::from_static(SIG));
    assert!(matches!(
        v.verify(&h, BODY),
        Err(VerifyError::MalformedHeader { .. })
    ));
    // Surrounding spaces are harmless, unpadded base64 too.
    assert!(v.verify(&intuit(&format!("  {SIG} ")), BODY).is_ok());
    assert!(v.verify(&intuit(SIG.trim_end_matches('=')), BODY).is_ok());
}

#[test]
fn rotation_and_dedup_by_digest() {
    let v = Verifier::builder(QuickBooks::new())
        .labeled_secret("new", "new-verifier-token")
        .labeled_secret("old", TOKEN)
        .build()
        .unwrap();
    let sent2 = intuit(SIG);
    let ok = v.verify(&sent2, BODY).unwrap();
    assert_eq!((ok.key_index(), ok.key_label()), (1, Some("old")));
    let key = ok.dedup_key().into_owned();
    // The same delivery is the same key, whatever unsigned header comes with it.
    let mut h = intuit(SIG);
    h.insert("intuit-t-id", HeaderValue::from_static("abc"));
    assert_eq!(v.verify(&h, BODY).unwrap().dedup_key(), key);
    let signed = Signer::new(QuickBooks::new(), "new-verifier-token")
        .unwrap()
        .sign(BODY)
        .unwrap();
    let ok = v.verify(&signed, BODY).unwrap();
    assert_eq!(ok.key_label(), Some("new"));
}
