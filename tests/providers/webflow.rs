//! Webflow: hex HMAC-SHA256 over `{ms timestamp}:{body}`.
//!
//! Webflow's docs show headers (`X-Webflow-Timestamp: 1663849649733`) but not the secret and
//! body behind their signature, and `webflow/js-webflow-api` has no test of `verifySignature`;
//! the vector below was computed with the SDK's algorithm (`${timestamp}:${body}`, hex) in
//! Python, at the docs' timestamp, over the docs' form-submission example payload.

use std::time::Duration;

use http::{HeaderMap, HeaderValue};
use webhook_receiver::providers::{Scheme, Tolerance, Webflow};
use webhook_receiver::testing::Signer;
use webhook_receiver::{DedupKey, Verifier, VerifyError};

use super::{headers, verifier};

const SECRET: &str = "webflow_client_secret";
const TS: i64 = 1_663_849_649_733;
const BODY: &[u8] = br#"{"triggerType":"form_submission","payload":{"name":"Contact Us","siteId":"65427cf400e02b306eaa049c","data":{"First Name":"Zaphod","Last Name":"Beeblebrox","email":"zaphod@heartofgold.ai","Phone Number":15550000000},"submittedAt":"2022-09-14T12:35:16.117Z","id":"6321ca84df3949bfc6752327"}}"#;
const SIG: &str = "3b556e3eff57d87fbf9a41b8c1b84902a82d9f2182cf1bc4d25c91e6c38bbf03";

fn at_ms(ms: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap()
}

fn wf(sig: &str, ts: &str) -> HeaderMap {
    headers(&[("x-webflow-signature", sig), ("x-webflow-timestamp", ts)])
}

#[test]
fn computed_vector_and_signer() {
    let v = verifier(Webflow::new(), SECRET);
    let sent = wf(SIG, "1663849649733");
    let ok = v.verify_at(&sent, BODY, at_ms(TS)).unwrap();
    assert_eq!(ok.scheme(), "webflow");
    assert_eq!(ok.unix_timestamp_millis(), Some(TS));
    assert_eq!(ok.event_id(), None);
    assert!(matches!(ok.dedup_key(), DedupKey::Digest(_)));
    let signed = Signer::new(Webflow::new(), SECRET)
        .unwrap()
        .timestamp_millis(TS)
        .sign(BODY)
        .unwrap();
    assert_eq!(signed["x-webflow-signature"], SIG);
    assert_eq!(signed["x-webflow-timestamp"], "1663849649733");
    // Without a timestamp the signer uses the current time, which verifies now.
    let now = Signer::new(Webflow::new(), SECRET)
        .unwrap()
        .sign(BODY)
        .unwrap();
    assert!(v.verify(&now, BODY).is_ok());
}

#[test]
fn colon_separator_and_millisecond_trap() {
    let v = verifier(Webflow::new(), SECRET);
    // The timestamp is signed as milliseconds: the same instant in seconds does not verify.
    assert!(matches!(
        v.verify_at(&wf(SIG, "1663849649"), BODY, at_ms(TS)),
        Err(VerifyError::TimestampTooOld { .. })
    ));
    // A Stripe-style `{ts}.{body}` signature with the same key is not Webflow's.
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(b"1663849649733.");
    mac.update(BODY);
    let dot = hex::encode(mac.finalize().into_bytes());
    assert_eq!(
        v.verify_at(&wf(&dot, "1663849649733"), BODY, at_ms(TS))
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn tolerance_five_minutes_each_way() {
    assert_eq!(
        Webflow::new().default_tolerance(),
        Tolerance::symmetric(Duration::from_secs(300))
    );
    let v = verifier(Webflow::new(), SECRET);
    let h = wf(SIG, "1663849649733");
    assert!(v.verify_at(&h, BODY, at_ms(TS + 300_000)).is_ok());
    assert!(matches!(
        v.verify_at(&h, BODY, at_ms(TS + 300_001)),
        Err(VerifyError::TimestampTooOld { .. })
    ));
    assert!(v.verify_at(&h, BODY, at_ms(TS - 300_000)).is_ok());
    assert!(matches!(
        v.verify_at(&h, BODY, at_ms(TS - 300_001)),
        Err(VerifyError::TimestampInFuture { .. })
    ));
}

#[test]
fn tampered_wrong_key_and_malformed() {
    let v = verifier(Webflow::new(), SECRET);
    let mut tampered = BODY.to_vec();
    tampered[20] ^= 1;
    assert_eq!(
        v.verify_at(&wf(SIG, "1663849649733"), &tampered, at_ms(TS))
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    assert_eq!(
        v.verify_at(&wf(SIG, "1663849649734"), BODY, at_ms(TS))
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    assert_eq!(
        verifier(Webflow::new(), "other")
            .verify_at(&wf(SIG, "1663849649733"), BODY, at_ms(TS))
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    for (name, missing) in [
        (
            "x-webflow-signature",
            headers(&[("x-webflow-timestamp", "1663849649733")]),
        ),
        (
            "x-webflow-timestamp",
            headers(&[("x-webflow-signature", SIG)]),
        ),
    ] {
        assert_eq!(
            v.verify_at(&missing, BODY, at_ms(TS)).unwrap_err(),
            VerifyError::MissingHeader { name: name.into() }
        );
    }
    for ts in [
        "01663849649733",
        "-1663849649733",
        "1663849649733.0",
        "1.6e12",
        "abc",
    ] {
        assert!(
            matches!(
                v.verify_at(&wf(SIG, ts), BODY, at_ms(TS)),
                Err(VerifyError::MalformedHeader { .. })
            ),
            "{ts}"
        );
    }
    for sig in ["zz", &SIG[..60]] {
        assert!(matches!(
            v.verify_at(&wf(sig, "1663849649733"), BODY, at_ms(TS)),
            Err(VerifyError::MalformedHeader { .. })
        ));
    }
}

#[test]
fn rotation_and_dedup() {
    let v = Verifier::builder(Webflow::new())
        .labeled_secret("new", "new-secret")
        .labeled_secret("old", SECRET)
        .build()
        .unwrap();
    let sent2 = wf(SIG, "1663849649733");
    let ok = v.verify_at(&sent2, BODY, at_ms(TS)).unwrap();
    assert_eq!((ok.key_index(), ok.key_label()), (1, Some("old")));
    let key = ok.dedup_key().into_owned();
    let mut h = wf(SIG, "1663849649733");
    h.insert("x-request-id", HeaderValue::from_static("x"));
    assert_eq!(v.verify_at(&h, BODY, at_ms(TS)).unwrap().dedup_key(), key);
    // A retry is signed anew at another time: a new key.
    let retry = Signer::new(Webflow::new(), SECRET)
        .unwrap()
        .timestamp_millis(TS + 60_000)
        .sign(BODY)
        .unwrap();
    assert_ne!(
        v.verify_at(&retry, BODY, at_ms(TS + 60_000))
            .unwrap()
            .dedup_key(),
        key
    );
}
