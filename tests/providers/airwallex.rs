//! Airwallex: hex HMAC-SHA256 over `{x-timestamp}{body}` (no separator), milliseconds.
//!
//! Airwallex documents the algorithm (listen-for-webhook-events and its Java code example:
//! `hmacHex(timestamp + payload)`) but publishes no fixed signature; the vector below was
//! computed with it in Python at a millisecond timestamp shaped like the docs'
//! `1357872222592`, over a `payment_intent.succeeded` payload.

use http::{HeaderMap, HeaderValue};
use webhook_receiver::providers::Airwallex;
use webhook_receiver::testing::Signer;
use webhook_receiver::{DedupKey, Verifier, VerifyError};

use super::{headers, verifier};

const SECRET: &str = "whsec_airwallex_endpoint_secret";
const TS: i64 = 1_679_892_299_594;
const BODY: &[u8] = br#"{"id":"evt_hkdmr7v9rg1j58ky8re_9ptpfj","name":"payment_intent.succeeded","account_id":"acct_6ACzMyu2P0y-1j3dk8MtOA","data":{"object":{"id":"int_hkdmr7v9rg1j5g8l3c6","amount":100,"currency":"USD","status":"SUCCEEDED"}},"created_at":"2023-03-27T04:44:59+0000","version":"2022-11-11"}"#;
const SIG: &str = "1cf172ebc46f9e788b97b50059dd715bb22200878dc10c531972ad7885b87f2d";

fn at_ms(ms: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap()
}

fn aw(sig: &str, ts: &str) -> HeaderMap {
    headers(&[("x-signature", sig), ("x-timestamp", ts)])
}

#[test]
fn computed_vector_and_signer() {
    let v = verifier(Airwallex::new(), SECRET);
    let sent = aw(SIG, "1679892299594");
    let ok = v.verify_at(&sent, BODY, at_ms(TS)).unwrap();
    assert_eq!(ok.scheme(), "airwallex");
    assert_eq!(ok.unix_timestamp_millis(), Some(TS));
    assert_eq!(
        ok.dedup_key(),
        DedupKey::EventId("evt_hkdmr7v9rg1j58ky8re_9ptpfj".into())
    );
    let signed = Signer::new(Airwallex::new(), SECRET)
        .unwrap()
        .timestamp_millis(TS)
        .sign(BODY)
        .unwrap();
    assert_eq!(signed["x-signature"], SIG);
    assert_eq!(signed["x-timestamp"], "1679892299594");
    // The `whsec_`-looking secret is raw text: nothing is decoded.
    assert!(Signer::new(Airwallex::new(), "whsec_!!").is_ok());
}

#[test]
fn no_separator_and_timestamp_is_signed() {
    let v = verifier(Airwallex::new(), SECRET);
    // Moving the timestamp breaks the signature even inside the window.
    assert_eq!(
        v.verify_at(&aw(SIG, "1679892299595"), BODY, at_ms(TS))
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // A `{ts}.{body}` signature (Stripe's layout) is not Airwallex's.
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(b"1679892299594.");
    mac.update(BODY);
    let dotted = hex::encode(mac.finalize().into_bytes());
    assert_eq!(
        v.verify_at(&aw(&dotted, "1679892299594"), BODY, at_ms(TS))
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn expired_and_future() {
    let v = verifier(Airwallex::new(), SECRET);
    let h = aw(SIG, "1679892299594");
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
    // A receiver that must accept re-triggered events widens the past window.
    let wide = Verifier::builder(Airwallex::new())
        .secret(SECRET)
        .tolerance_past(std::time::Duration::from_secs(3 * 24 * 3600))
        .build()
        .unwrap();
    assert!(
        wide.verify_at(&h, BODY, at_ms(TS + 2 * 24 * 3600 * 1000))
            .is_ok()
    );
}

#[test]
fn tampered_wrong_key_malformed_missing() {
    let v = verifier(Airwallex::new(), SECRET);
    let mut tampered = BODY.to_vec();
    tampered[8] ^= 1;
    assert_eq!(
        v.verify_at(&aw(SIG, "1679892299594"), &tampered, at_ms(TS))
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    assert_eq!(
        verifier(Airwallex::new(), "another endpoint")
            .verify_at(&aw(SIG, "1679892299594"), BODY, at_ms(TS))
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    assert_eq!(
        v.verify_at(
            &headers(&[("x-timestamp", "1679892299594")]),
            BODY,
            at_ms(TS)
        )
        .unwrap_err(),
        VerifyError::MissingHeader {
            name: "x-signature".into()
        }
    );
    assert_eq!(
        v.verify_at(&headers(&[("x-signature", SIG)]), BODY, at_ms(TS))
            .unwrap_err(),
        VerifyError::MissingHeader {
            name: "x-timestamp".into()
        }
    );
    for (sig, ts) in [
        (SIG, "1679892299594 1"),
        (SIG, "+1679892299594"),
        ("xyz", "1679892299594"),
    ] {
        assert!(matches!(
            v.verify_at(&aw(sig, ts), BODY, at_ms(TS)),
            Err(VerifyError::MalformedHeader { .. })
        ));
    }
}

#[test]
fn rotation_and_dedup_by_signed_id() {
    let v = Verifier::builder(Airwallex::new())
        .labeled_secret("new", "new-endpoint-secret")
        .labeled_secret("old", SECRET)
        .build()
        .unwrap();
    let sent2 = aw(SIG, "1679892299594");
    let ok = v.verify_at(&sent2, BODY, at_ms(TS)).unwrap();
    assert_eq!((ok.key_index(), ok.key_label()), (1, Some("old")));
    // A retry, signed later with the new secret, keeps the event id and so the dedup key.
    let retry = Signer::new(Airwallex::new(), "new-endpoint-secret")
        .unwrap()
        .timestamp_millis(TS + 90_000)
        .sign(BODY)
        .unwrap();
    let again = v.verify_at(&retry, BODY, at_ms(TS + 90_000)).unwrap();
    assert_eq!(again.key_label(), Some("new"));
    assert_eq!(again.dedup_key(), ok.dedup_key());
    // An unsigned header does not change it either.
    let mut h = aw(SIG, "1679892299594");
    h.insert("x-event-id", HeaderValue::from_static("evt_other"));
    assert_eq!(
        v.verify_at(&h, BODY, at_ms(TS)).unwrap().dedup_key(),
        ok.dedup_key()
    );
}
