//! CircleCI: HMAC-SHA256 of the body in `circleci-signature: v1=…`, dedup by the body `id`.
//!
//! CircleCI publishes no signature example. The body is the `workflow-completed` sample of
//! circleci.com/docs "Webhooks reference" (shortened); the signatures were computed with
//! Python's `hmac` (`hmac.new(secret, body, hashlib.sha256).hexdigest()`), as the staff answer
//! on discuss.circleci.com/t/40979 describes.

use webhook_receiver::providers::CircleCi;
use webhook_receiver::testing::Signer;
use webhook_receiver::{DedupKey, VerifyError};

use super::body_hmac::{assert_malformed, common_checks};
use super::{headers, verifier};

const SECRET: &str = "circleci-signing-secret";
const BODY: &str = r#"{"type":"workflow-completed","id":"3888f21b-eaa7-38e3-8f3d-75a63bba8895","happened_at":"2021-09-01T22:49:34.317Z","webhook":{"id":"cf8c4fdd-0587-4da1-b4ca-4846e9640af9","name":"Sample Webhook"},"workflow":{"id":"fda08377-fe7e-46b1-8992-3a7aaecac9c3","name":"build-test-deploy","status":"success","created_at":"2021-09-01T22:49:03.616Z","stopped_at":"2021-09-01T22:49:34.170Z","url":"https://app.circleci.com/pipelines/github/CircleCI-Public/webhook-sample-test/1/workflows/fda08377-fe7e-46b1-8992-3a7aaecac9c3"}}"#;
const HEX: &str = "8c6cf27b951f940ea9740d87737e726f2fe2af696a8b1a759ba3c703c7112340";
const HEADER: &str = "circleci-signature";

#[test]
fn computed_vector_and_common_checks() {
    let value = format!("v1={HEX}");
    let h = headers(&[
        (HEADER, &value),
        ("circleci-event-type", "workflow-completed"),
    ]);
    let checker = verifier(CircleCi::new(), SECRET);
    let ok = checker.verify(&h, BODY.as_bytes()).unwrap();
    assert_eq!(ok.scheme(), "circleci");
    // The event id, not the webhook's or the workflow's.
    assert_eq!(
        ok.dedup_key(),
        DedupKey::EventId("3888f21b-eaa7-38e3-8f3d-75a63bba8895".into())
    );
    common_checks(CircleCi::new(), SECRET, BODY.as_bytes(), &h, HEADER);
}

#[test]
fn versioned_list() {
    let v = verifier(CircleCi::new(), SECRET);
    let other = "0".repeat(64);
    // Any v1 item may match; other versions are ignored, in any order, spaces tolerated.
    for value in [
        format!("v1={other},v1={HEX}"),
        format!("v2={other},v1={HEX}"),
        format!("v1={HEX}, v2=anything"),
        format!(" v1={HEX} "),
        format!("v1={},v1={HEX}", HEX.to_uppercase()),
    ] {
        assert!(
            v.verify(&headers(&[(HEADER, &value)]), BODY.as_bytes())
                .is_ok(),
            "{value}"
        );
    }
    // Only wrong v1 items: a mismatch.
    assert_eq!(
        v.verify(
            &headers(&[(HEADER, &format!("v1={other}"))]),
            BODY.as_bytes()
        )
        .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // No usable v1 item, or an item that is not key=value: malformed.
    for value in [
        HEX.to_owned(),
        format!("v2={HEX}"),
        format!("v1={}", &HEX[..40]),
        format!("V1={HEX}"),
        format!("v1={HEX},garbage"),
        "v1=".to_owned(),
        ",,,".to_owned(),
    ] {
        assert_malformed(CircleCi::new(), SECRET, BODY.as_bytes(), HEADER, &value);
    }
    let many = vec![format!("v1={other}"); 9].join(",");
    assert_malformed(CircleCi::new(), SECRET, BODY.as_bytes(), HEADER, &many);
}

#[test]
fn duplicates_share_the_signed_id() {
    // CircleCI: "webhook requests may be duplicated ... use the id".
    let signer = Signer::new(CircleCi::new(), SECRET).unwrap();
    let v = verifier(CircleCi::new(), SECRET);
    let a = v
        .verify(&signer.sign(BODY.as_bytes()).unwrap(), BODY.as_bytes())
        .unwrap()
        .dedup_key()
        .into_owned();
    let b = v
        .verify(&headers(&[(HEADER, &format!("v1={HEX}"))]), BODY.as_bytes())
        .unwrap()
        .dedup_key()
        .into_owned();
    assert_eq!(a, b);
    let ping = br#"{"type":"ping","webhook":{"id":"cf8c4fdd"}}"#;
    let h = signer.sign(ping).unwrap();
    assert!(matches!(
        v.verify(&h, ping).unwrap().dedup_key(),
        DedupKey::Digest(_)
    ));
}
