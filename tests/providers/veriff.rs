//! Veriff: `X-HMAC-SIGNATURE`, hex HMAC-SHA256 of the body under the shared secret key.
//!
//! Veriff publishes the algorithm in its integration demo (`Veriff/js-integration-demo`
//! `app.js` `generateSignature` / `isSignatureValid` @fa4c3a50cd49c06fd851b6639d7ab919746c6887)
//! but no fixed signature; the vector below was computed with that algorithm (Python `hmac`,
//! hex) over an event-webhook payload shaped like devdocs.veriff.com's `/webhooks-guide`.

use http::{HeaderMap, HeaderValue};
use sha2::Digest as _;
use webhook_receiver::providers::Veriff;
use webhook_receiver::testing::Signer;
use webhook_receiver::{DedupKey, Verifier, VerifyError};

use super::{headers, verifier};

const SECRET: &str = "abcdef12-abcd-abcd-abcd-abcdef012345";
const BODY: &[u8] = br#"{"id":"f04bdb47-d3be-4b28-b028-a652feb060b5","attemptId":"e30122d1-740b-4764-853f-470374a7abf4","feature":"selfid","code":7002,"action":"submitted","vendorData":"12345678","endUserId":"a1b2c35d-e8f7-6d5e-3cd2-a1b2c35db3d4"}"#;
const SIG: &str = "12d28cd7aa0f418dbb88ad72ed90aba69ce80fdee6f0979b33f032ed01d3de1a";

fn veriff(value: &str) -> HeaderMap {
    headers(&[
        ("x-auth-client", "api-key-not-a-signature"),
        ("x-hmac-signature", value),
    ])
}

#[test]
fn computed_vector_and_signer() {
    let v = verifier(Veriff::new(), SECRET);
    let sent = veriff(SIG);
    let ok = v.verify(&sent, BODY).unwrap();
    assert_eq!(ok.scheme(), "veriff");
    // The session id is shared by several webhooks of one session: not a dedup key.
    assert_eq!(ok.event_id(), None);
    assert!(matches!(ok.dedup_key(), DedupKey::Digest(_)));
    // Uppercase hex, as the demo lowercases the header before comparing.
    assert!(v.verify(&veriff(&SIG.to_uppercase()), BODY).is_ok());
    let signed = Signer::new(Veriff::new(), SECRET)
        .unwrap()
        .sign(BODY)
        .unwrap();
    assert_eq!(signed["x-hmac-signature"], SIG);
}

#[test]
fn legacy_plain_sha256_is_not_accepted() {
    // The pre-HMAC `X-Signature`: SHA-256 of the payload followed by the secret.
    let mut legacy = sha2::Sha256::new();
    legacy.update(BODY);
    legacy.update(SECRET.as_bytes());
    let legacy = hex::encode(legacy.finalize());
    let v = verifier(Veriff::new(), SECRET);
    assert_eq!(
        v.verify(&veriff(&legacy), BODY).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // Sent under its own header name, it is not even looked at.
    let h = headers(&[("x-signature", &legacy)]);
    assert_eq!(
        v.verify(&h, BODY).unwrap_err(),
        VerifyError::MissingHeader {
            name: "x-hmac-signature".into()
        }
    );
}

#[test]
fn tampered_wrong_key_malformed() {
    let v = verifier(Veriff::new(), SECRET);
    let mut tampered = BODY.to_vec();
    tampered[10] ^= 1;
    assert_eq!(
        v.verify(&veriff(SIG), &tampered).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    assert_eq!(
        verifier(Veriff::new(), "00000000-abcd-abcd-abcd-abcdef012345")
            .verify(&veriff(SIG), BODY)
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    for bad in ["zz", &SIG[..62], &format!("{SIG}00"), "sha256=abc"] {
        assert!(
            matches!(
                v.verify(&veriff(bad), BODY),
                Err(VerifyError::MalformedHeader { .. })
            ),
            "{bad}"
        );
    }
}

#[test]
fn rotation_and_unsigned_headers() {
    let v = Verifier::builder(Veriff::new())
        .labeled_secret("new", "new-shared-secret")
        .labeled_secret("old", SECRET)
        .build()
        .unwrap();
    let sent2 = veriff(SIG);
    let ok = v.verify(&sent2, BODY).unwrap();
    assert_eq!((ok.key_index(), ok.key_label()), (1, Some("old")));
    let key = ok.dedup_key().into_owned();
    let mut h = veriff(SIG);
    h.insert("x-auth-client", HeaderValue::from_static("another-api-key"));
    assert_eq!(v.verify(&h, BODY).unwrap().dedup_key(), key);
}
