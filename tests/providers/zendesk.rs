//! Zendesk: base64 HMAC-SHA256 over `{RFC 3339 timestamp}{body}`, and the old page's
//! contradicting order.

use http::{HeaderMap, HeaderValue};
use webhook_receiver::providers::Zendesk;
use webhook_receiver::testing::Signer;
use webhook_receiver::{DedupKey, Verifier, VerifyError};

use super::{at, headers, verifier};

// developer.zendesk.com/documentation/webhooks/verifying/ gives the algorithm
// (`base64(HMACSHA256(TIMESTAMP + BODY))`) and the test secret of its Node example, but no
// fixed signature: this vector was computed with that algorithm (Python `hmac` + `base64`), at
// the timestamp the anatomy page shows, over an event-webhook payload.
const SECRET: &str = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ==";
const TS_TEXT: &str = "2021-03-25T05:09:27Z";
const TS: i64 = 1_616_648_967;
const BODY: &[u8] = br#"{"type":"zen:event-type:ticket.created","account_id":12514403,"id":"2b24ef10-19d4-4740-93cf-8f98ec4776c0","time":"2021-03-25T05:09:27Z","zendesk_event_version":"2022-06-20","subject":"zen:ticket:123","detail":{"id":"123"}}"#;
const SIG: &str = "pYl070q/YT1zqLn1+00tVdOGizOlCIsq1ZMD90//cUc=";
// The same secret and timestamp, no body (GET or DELETE trigger webhooks).
const EMPTY_SIG: &str = "wCdBvXaHttn0wRVIYctzZ9O6O0bnqWakJMEKZ9VoRWw=";

fn zd(sig: &str, ts: &str) -> HeaderMap {
    headers(&[
        ("x-zendesk-webhook-signature", sig),
        ("x-zendesk-webhook-signature-timestamp", ts),
        ("x-zendesk-webhook-id", "01F1W0GPHSSPNW0HFSEKEV5F0T"),
        ("x-zendesk-webhook-invocation-id", "8350205582"),
    ])
}

#[test]
fn computed_vector_and_signer() {
    let v = verifier(Zendesk::new(), SECRET);
    let sent = zd(SIG, TS_TEXT);
    let ok = v.verify_at(&sent, BODY, at(TS)).unwrap();
    assert_eq!(ok.scheme(), "zendesk");
    assert_eq!(ok.unix_timestamp(), Some(TS));
    assert_eq!(ok.event_id(), None);
    assert!(matches!(ok.dedup_key(), DedupKey::Digest(_)));
    let signed = Signer::new(Zendesk::new(), SECRET)
        .unwrap()
        .timestamp(TS)
        .sign(BODY)
        .unwrap();
    assert_eq!(signed["x-zendesk-webhook-signature-timestamp"], TS_TEXT);
    assert_eq!(signed["x-zendesk-webhook-signature"], SIG);
    // No body: the timestamp alone is signed.
    assert!(v.verify_at(&zd(EMPTY_SIG, TS_TEXT), b"", at(TS)).is_ok());
}

#[test]
fn the_old_body_then_timestamp_example_does_not_verify() {
    // developer.zendesk.com/documentation/event-connectors/webhooks/verifying/ (the older page):
    // secret, body, timestamp and signature of its Node example. That signature is
    // HMAC(body + timestamp) — the order the old page states and the current one contradicts.
    let secret = "HRkRd4BeOAoUkfZr-mhauJT64rvBASlJRoIyPsd3zeA=";
    let body = br#"{"say": "hello"}"#;
    let ts = "2021-07-25T10:00:00Z";
    let old = "tRDSF7URY8BLCDlaBcQ7FHu051Zk+aAB0NKMP53teMw=";
    let v = verifier(Zendesk::new(), secret);
    let now = at(1_627_207_200);
    assert_eq!(
        v.verify_at(&zd(old, ts), body, now).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // It is body-then-timestamp indeed (so the vector is what the page says it is)…
    use base64::Engine as _;
    use hmac::{Hmac, KeyInit, Mac};
    let mac = |first: &[u8], second: &[u8]| {
        let mut m = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
        m.update(first);
        m.update(second);
        base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes())
    };
    assert_eq!(mac(body, ts.as_bytes()), old);
    // …and the current order verifies: the secret is used raw although it looks like base64.
    let current = mac(ts.as_bytes(), body);
    assert!(v.verify_at(&zd(&current, ts), body, now).is_ok());
}

#[test]
fn expired_future_and_timestamp_shapes() {
    let v = verifier(Zendesk::new(), SECRET);
    let h = zd(SIG, TS_TEXT);
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
    // The same instant written otherwise is different signed text.
    assert_eq!(
        v.verify_at(&zd(SIG, "2021-03-25T05:09:27+00:00"), BODY, at(TS))
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    for ts in [
        "1616648967",
        "2021-03-25",
        "2021-03-25 05:09:27",
        "yesterday",
    ] {
        assert!(
            matches!(
                v.verify_at(&zd(SIG, ts), BODY, at(TS)),
                Err(VerifyError::MalformedHeader { .. })
            ),
            "{ts}"
        );
    }
}

#[test]
fn tampered_wrong_key_missing() {
    let v = verifier(Zendesk::new(), SECRET);
    let mut tampered = BODY.to_vec();
    tampered[9] ^= 1;
    assert_eq!(
        v.verify_at(&zd(SIG, TS_TEXT), &tampered, at(TS))
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // The secret decoded from base64 is not the key.
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(SECRET)
        .unwrap();
    let decoded = String::from_utf8(decoded).unwrap();
    assert_eq!(
        verifier(Zendesk::new(), &decoded)
            .verify_at(&zd(SIG, TS_TEXT), BODY, at(TS))
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    for name in [
        "x-zendesk-webhook-signature",
        "x-zendesk-webhook-signature-timestamp",
    ] {
        let mut h = zd(SIG, TS_TEXT);
        h.remove(name);
        assert_eq!(
            v.verify_at(&h, BODY, at(TS)).unwrap_err(),
            VerifyError::MissingHeader { name: name.into() }
        );
    }
}

#[test]
fn rotation_and_unsigned_invocation_id() {
    let v = Verifier::builder(Zendesk::new())
        .labeled_secret("new", "new-signing-secret")
        .labeled_secret("old", SECRET)
        .build()
        .unwrap();
    let sent2 = zd(SIG, TS_TEXT);
    let ok = v.verify_at(&sent2, BODY, at(TS)).unwrap();
    assert_eq!((ok.key_index(), ok.key_label()), (1, Some("old")));
    // The invocation id is not signed: changing it changes neither validity nor the key.
    let key = ok.dedup_key().into_owned();
    let mut h = zd(SIG, TS_TEXT);
    h.insert(
        "x-zendesk-webhook-invocation-id",
        HeaderValue::from_static("999"),
    );
    assert_eq!(v.verify_at(&h, BODY, at(TS)).unwrap().dedup_key(), key);
}
