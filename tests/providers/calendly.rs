//! Calendly: `t=<unix>,v1=<hex>` over `{t}.{body}`.
//!
//! Calendly's webhook-signatures page gives the algorithm but no fixed signature; the vector
//! below was computed with it (Python `hmac`, hex) using the example signing key of Calendly's
//! subscription-creation docs and an `invitee.created` payload.

use http::{HeaderMap, HeaderValue};
use webhook_receiver::providers::Calendly;
use webhook_receiver::testing::Signer;
use webhook_receiver::{DedupKey, Verifier, VerifyError};

use super::{at, headers, verifier};

const KEY: &str = "3fQ8s9D-K58VuwXyAZsHykp7zBGD45JhZaLqk5h6j1M";
const TS: i64 = 1_716_371_115;
const BODY: &[u8] = br#"{"created_at":"2024-05-22T09:45:15.000000Z","created_by":"https://api.calendly.com/users/abc123","event":"invitee.created","payload":{"email":"test@example.com","name":"Test User","uri":"https://api.calendly.com/scheduled_events/EVENT_UUID/invitees/INVITEE_UUID"}}"#;
const V1: &str = "baec90ccd350018f3850dd816f683fa19306ef744fb3624133c69b8917ba575c";

fn cal(value: &str) -> HeaderMap {
    headers(&[("calendly-webhook-signature", value)])
}

#[test]
fn computed_vector_and_signer() {
    let v = verifier(Calendly::new(), KEY);
    let sent = cal(&format!("t={TS},v1={V1}"));
    let ok = v.verify_at(&sent, BODY, at(TS)).unwrap();
    assert_eq!(ok.scheme(), "calendly");
    assert_eq!(ok.unix_timestamp(), Some(TS));
    assert_eq!(ok.event_id(), None);
    assert!(matches!(ok.dedup_key(), DedupKey::Digest(_)));
    let signed = Signer::new(Calendly::new(), KEY)
        .unwrap()
        .timestamp(TS)
        .sign(BODY)
        .unwrap();
    assert_eq!(
        signed["calendly-webhook-signature"],
        format!("t={TS},v1={V1}").as_str()
    );
}

#[test]
fn rejection_statuses_are_never_410() {
    // Calendly deletes a subscription answered 410: this crate's rejections never are.
    let v = verifier(Calendly::new(), KEY);
    for (h, body, now) in [
        (cal(&format!("t={TS},v1={V1}")), b"{}".as_slice(), at(TS)),
        (cal(&format!("t={TS},v1={V1}")), BODY, at(TS + 3600)),
        (cal("garbage"), BODY, at(TS)),
        (HeaderMap::new(), BODY, at(TS)),
    ] {
        let err = v.verify_at(&h, body, now).unwrap_err();
        assert_ne!(err.status(), http::StatusCode::GONE);
        assert!([400, 401].contains(&err.status().as_u16()), "{err:?}");
    }
}

#[test]
fn expired_and_future() {
    let v = verifier(Calendly::new(), KEY);
    let h = cal(&format!("t={TS},v1={V1}"));
    assert!(v.verify_at(&h, BODY, at(TS + 300)).is_ok());
    assert!(matches!(
        v.verify_at(&h, BODY, at(TS + 301)),
        Err(VerifyError::TimestampTooOld { .. })
    ));
    assert!(v.verify_at(&h, BODY, at(TS - 300)).is_ok());
    assert!(matches!(
        v.verify_at(&h, BODY, at(TS - 301)),
        Err(VerifyError::TimestampInFuture { .. })
    ));
}

#[test]
fn tampered_wrong_key_and_header_shapes() {
    let v = verifier(Calendly::new(), KEY);
    let mut tampered = BODY.to_vec();
    tampered[3] ^= 1;
    assert_eq!(
        v.verify_at(&cal(&format!("t={TS},v1={V1}")), &tampered, at(TS))
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    assert_eq!(
        v.verify_at(&cal(&format!("t={},v1={V1}", TS + 1)), BODY, at(TS))
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    assert_eq!(
        verifier(Calendly::new(), "another-signing-key")
            .verify_at(&cal(&format!("t={TS},v1={V1}")), BODY, at(TS))
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    for ok in [
        format!("v1={V1},t={TS}"),
        format!("t={TS}, v1={V1}"),
        format!("t={TS},v0=abc,v1={}", V1.to_uppercase()),
        format!("t={TS},v1={},v1={V1}", "0".repeat(64)),
    ] {
        assert!(v.verify_at(&cal(&ok), BODY, at(TS)).is_ok(), "{ok}");
    }
    for bad in [
        format!("v1={V1}"),
        format!("t={TS}"),
        format!("t={TS},t={TS},v1={V1}"),
        format!("t={TS},v1="),
        format!("t=0{TS},v1={V1}"),
        format!("t={TS},v1=zz"),
        format!("t={TS},{V1}"),
    ] {
        assert!(
            matches!(
                v.verify_at(&cal(&bad), BODY, at(TS)),
                Err(VerifyError::MalformedHeader { .. })
            ),
            "{bad}"
        );
    }
    assert_eq!(
        v.verify_at(&HeaderMap::new(), BODY, at(TS)).unwrap_err(),
        VerifyError::MissingHeader {
            name: "calendly-webhook-signature".into()
        }
    );
}

#[test]
fn rotation_and_dedup() {
    let v = Verifier::builder(Calendly::new())
        .labeled_secret("new", "new-signing-key")
        .labeled_secret("old", KEY)
        .build()
        .unwrap();
    let sent2 = cal(&format!("t={TS},v1={V1}"));
    let ok = v.verify_at(&sent2, BODY, at(TS)).unwrap();
    assert_eq!((ok.key_index(), ok.key_label()), (1, Some("old")));
    let key = ok.dedup_key().into_owned();
    let mut h = cal(&format!("t={TS},v1={V1}"));
    h.insert("x-request-id", HeaderValue::from_static("other"));
    assert_eq!(v.verify_at(&h, BODY, at(TS)).unwrap().dedup_key(), key);
}
