//! Typeform: `sha256=` + **base64** over the raw body.
//!
//! Typeform publishes the algorithm (typeform.com/developers/webhooks/secure-your-webhooks, the
//! Ruby `Base64.strict_encode64(OpenSSL::HMAC.digest('sha256', secret, body))` example) but no
//! fixed example; the vector below was computed with that algorithm (Python `hmac` + `base64`)
//! over a payload shaped like typeform.com/developers/webhooks/example-payload.

use http::{HeaderMap, HeaderValue};
use webhook_receiver::providers::{GitHub, Typeform};
use webhook_receiver::testing::Signer;
use webhook_receiver::{DedupKey, Verifier, VerifyError};

use super::{headers, verifier};

const SECRET: &str = "b2dfe4a9bd5a6e1e7bd5a2f7d1f2c0b3a1c2d3e4";
const BODY: &[u8] = br#"{"event_id":"01H4DK2HQ0GRNP7GP52VWE9SJF","event_type":"form_response","form_response":{"form_id":"lT4Z3j","token":"a3a12ec67a1365927098a606107fac15","submitted_at":"2018-01-18T18:17:02Z"}}"#;
const SIG: &str = "sha256=DhSefhJMyLgXTFmMZcBLO8GWycawa8JEugrGZLXPRws=";

fn tf(value: &str) -> HeaderMap {
    headers(&[("typeform-signature", value)])
}

#[test]
fn computed_vector_and_signer() {
    let v = verifier(Typeform::new(), SECRET);
    let sent = tf(SIG);
    let ok = v.verify(&sent, BODY).unwrap();
    assert_eq!(ok.scheme(), "typeform");
    assert_eq!(ok.unix_timestamp(), None);
    assert_eq!(
        ok.dedup_key(),
        DedupKey::EventId("01H4DK2HQ0GRNP7GP52VWE9SJF".into())
    );
    let signed = Signer::new(Typeform::new(), SECRET)
        .unwrap()
        .sign(BODY)
        .unwrap();
    assert_eq!(signed["typeform-signature"], SIG);
    // Unpadded base64 is the same signature.
    assert!(v.verify(&tf(SIG.trim_end_matches('=')), BODY).is_ok());
}

#[test]
fn tampered_body_and_wrong_key() {
    let v = verifier(Typeform::new(), SECRET);
    let mut tampered = BODY.to_vec();
    tampered[15] ^= 1;
    assert_eq!(
        v.verify(&tf(SIG), &tampered).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    let sent2 = tf(SIG);
    let err = verifier(Typeform::new(), "another-secret")
        .verify(&sent2, BODY)
        .unwrap_err();
    assert_eq!(err, VerifyError::SignatureMismatch);
    assert_eq!(err.status(), 401);
}

#[test]
fn hex_after_the_prefix_is_the_github_trap() {
    // The same MAC written GitHub's way (`sha256=<hex>`) is not a Typeform signature.
    let github = Signer::new(GitHub::new(), SECRET)
        .unwrap()
        .sign(BODY)
        .unwrap();
    let hex = github["x-hub-signature-256"].to_str().unwrap();
    assert!(hex.starts_with("sha256="));
    let v = verifier(Typeform::new(), SECRET);
    assert!(matches!(
        v.verify(&tf(hex), BODY),
        Err(VerifyError::MalformedHeader { .. })
    ));
}

#[test]
fn malformed_and_missing_headers() {
    let v = verifier(Typeform::new(), SECRET);
    assert_eq!(
        v.verify(&HeaderMap::new(), BODY).unwrap_err(),
        VerifyError::MissingHeader {
            name: "typeform-signature".into()
        }
    );
    for bad in [
        "DhSefhJMyLgXTFmMZcBLO8GWycawa8JEugrGZLXPRws=", // no prefix
        "sha1=DhSefhJMyLgXTFmMZcBLO8GWycawa8JEugrGZLXPRws=",
        "sha256=",
        "sha256=!!!!",
        "sha256=AAAA",
    ] {
        let sent3 = tf(bad);
        let err = v.verify(&sent3, BODY).unwrap_err();
        assert!(
            matches!(err, VerifyError::MalformedHeader { .. }),
            "{bad}: {err:?}"
        );
        assert_eq!(err.status(), 400);
    }
    let mut h = tf(SIG);
    h.append("typeform-signature", HeaderValue::from_static(SIG));
    assert!(matches!(
        v.verify(&h, BODY),
        Err(VerifyError::MalformedHeader { .. })
    ));
}

#[test]
fn rotation_and_dedup() {
    let v = Verifier::builder(Typeform::new())
        .labeled_secret("new", "new-secret")
        .labeled_secret("old", SECRET)
        .build()
        .unwrap();
    let sent4 = tf(SIG);
    let ok = v.verify(&sent4, BODY).unwrap();
    assert_eq!((ok.key_index(), ok.key_label()), (1, Some("old")));
    let signed = Signer::new(Typeform::new(), "new-secret")
        .unwrap()
        .sign(BODY)
        .unwrap();
    let ok = v.verify(&signed, BODY).unwrap();
    assert_eq!((ok.key_index(), ok.key_label()), (0, Some("new")));
    // A body without `event_id` is deduplicated by its MAC; an unsigned header changes nothing.
    let body = br#"{"form_response":{"token":"x"}}"#;
    let mut h = Signer::new(Typeform::new(), SECRET)
        .unwrap()
        .sign(body)
        .unwrap();
    let v = verifier(Typeform::new(), SECRET);
    let first = v.verify(&h, body).unwrap().dedup_key().into_owned();
    assert!(matches!(first, DedupKey::Digest(_)));
    h.insert("x-request-id", HeaderValue::from_static("other"));
    assert_eq!(v.verify(&h, body).unwrap().dedup_key(), first);
}
