//! Box: primary/secondary base64 HMAC-SHA256 over `{body}{BOX-DELIVERY-TIMESTAMP}`.

use std::time::Duration;

use http::{HeaderMap, HeaderValue};
use webhook_receiver::providers::{BoxCom, Scheme, Tolerance};
use webhook_receiver::testing::Signer;
use webhook_receiver::{DedupKey, Verifier, VerifyError};

use super::{at, headers, verifier};

// box/box-python-sdk test/webhooks.py `testWebhookValidation` (keys, bodies, headers and
// signatures) @656e9bbb24de3384c766aa77d8182a5114b19d0d.
const PRIMARY_KEY: &str = "SamplePrimaryKey";
const SECONDARY_KEY: &str = "SampleSecondaryKey";
const BODY: &[u8] = br#"{"type":"webhook_event","webhook":{"id":"1234567890"},"trigger":"FILE.UPLOADED","source":{"id":"1234567890","type":"file","name":"Test.txt"}}"#;
const TS_TEXT: &str = "2020-01-01T00:00:00-07:00";
const TS: i64 = 1_577_862_000;
const PRIMARY: &str = "6TfeAW3A1PASkgboxxA5yqHNKOwFyMWuEXny/FPD5hI=";
const SECONDARY: &str = "v+1CD1Jdo3muIcbpv5lxxgPglOqMfsNHPV899xWYydo=";
// `body_with_japanese` and `body_with_emoji` as Box sends them: ASCII JSON with `\u` escapes
// (the SDK test derives those bytes from the decoded text with `escape_unicode`).
const BODY_JP: &[u8] = br#"{"webhook":{"id":"1234567890"},"trigger":"FILE.UPLOADED","source":{"id":"1234567890","type":"file","name":"\u30b9\u30af\u30ea\u30fc\u30f3\u30b7\u30e7\u30c3\u30c8 2020-08-05.txt"}}"#;
const SIG_JP: &str = "LV2uCu+5NJtIHrCXDYgZ0v/PP5THGRuegw3RtdnEyuE=";
const BODY_EMOJI: &[u8] = br#"{"webhook":{"id":"1234567890"},"trigger":"FILE.UPLOADED","source":{"id":"1234567890","type":"file","name":"\ud83d\ude00 2020-08-05.txt"}}"#;
const SIG_EMOJI: &str = "xF/SDZosX4le+v4A0Qn59sZhuD1RqY5KRUKzVMSbh0E=";

fn box_headers(primary: Option<&str>, secondary: Option<&str>, ts: &str) -> HeaderMap {
    let mut h = headers(&[
        ("box-delivery-id", "f96bb54b-ee16-4fc5-aa65-8c2d9e5b546f"),
        ("box-delivery-timestamp", ts),
        ("box-signature-algorithm", "HmacSHA256"),
        ("box-signature-version", "1"),
    ]);
    if let Some(p) = primary {
        h.insert("box-signature-primary", HeaderValue::from_str(p).unwrap());
    }
    if let Some(s) = secondary {
        h.insert("box-signature-secondary", HeaderValue::from_str(s).unwrap());
    }
    h
}

fn keys() -> Verifier {
    Verifier::builder(BoxCom::new())
        .labeled_secret("primary", PRIMARY_KEY)
        .labeled_secret("secondary", SECONDARY_KEY)
        .build()
        .unwrap()
}

#[test]
fn python_sdk_vectors() {
    let h = box_headers(Some(PRIMARY), Some(SECONDARY), TS_TEXT);
    let both_keys = keys();
    let ok = both_keys.verify_at(&h, BODY, at(TS)).unwrap();
    assert_eq!(ok.scheme(), "box");
    assert_eq!(ok.unix_timestamp(), Some(TS));
    assert_eq!(ok.key_label(), Some("primary"));
    // validate_message(primary=incorrect, secondary=correct) and (primary=correct,
    // secondary=incorrect) are both valid; (incorrect, incorrect) is not.
    let secondary_only = Verifier::builder(BoxCom::new())
        .labeled_secret("primary", "IncorrectKey")
        .labeled_secret("secondary", SECONDARY_KEY)
        .build()
        .unwrap();
    assert_eq!(
        secondary_only
            .verify_at(&h, BODY, at(TS))
            .unwrap()
            .key_label(),
        Some("secondary")
    );
    assert!(
        verifier(BoxCom::new(), PRIMARY_KEY)
            .verify_at(&h, BODY, at(TS))
            .is_ok()
    );
    assert_eq!(
        verifier(BoxCom::new(), "IncorrectKey")
            .verify_at(&h, BODY, at(TS))
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // An empty signature header is skipped, as the SDK's `validate_message` does (`if
    // primary_signature_key and headers.get(...)`): the other one still verifies. Both empty
    // is a missing signature.
    for (primary, secondary) in [(PRIMARY, ""), ("", SECONDARY)] {
        let h = box_headers(Some(primary), Some(secondary), TS_TEXT);
        assert!(
            keys().verify_at(&h, BODY, at(TS)).is_ok(),
            "{primary:?} {secondary:?}"
        );
    }
    let h = box_headers(Some(""), Some(" "), TS_TEXT);
    assert!(matches!(
        keys().verify_at(&h, BODY, at(TS)),
        Err(VerifyError::MissingHeader { .. })
    ));
    // The non-ASCII fixtures, as sent on the wire.
    for (body, sig) in [(BODY_JP, SIG_JP), (BODY_EMOJI, SIG_EMOJI)] {
        let h = box_headers(Some(sig), None, TS_TEXT);
        assert!(keys().verify_at(&h, body, at(TS)).is_ok());
    }
    // The signer reproduces the primary signature.
    let signed = Signer::new(BoxCom::new(), PRIMARY_KEY)
        .unwrap()
        .timestamp(TS)
        .sign(BODY)
        .unwrap();
    assert!(keys().verify_at(&signed, BODY, at(TS)).is_ok());
    assert_eq!(signed["box-signature-version"], "1");
    assert_eq!(signed["box-signature-algorithm"], "HmacSHA256");
}

#[test]
fn body_first_then_timestamp() {
    // The reverse order (most providers') does not verify.
    use base64::Engine as _;
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(PRIMARY_KEY.as_bytes()).unwrap();
    mac.update(TS_TEXT.as_bytes());
    mac.update(BODY);
    let reversed = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    assert_eq!(
        keys()
            .verify_at(&box_headers(Some(&reversed), None, TS_TEXT), BODY, at(TS))
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // The same instant written in UTC is different signed text.
    assert_eq!(
        keys()
            .verify_at(
                &box_headers(Some(PRIMARY), None, "2020-01-01T07:00:00Z"),
                BODY,
                at(TS)
            )
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn raw_body_only_no_escaped_retry() {
    // Box's SDK would also try the Japanese body re-escaped; here the decoded (UTF-8) body with
    // the escaped body's signature is refused: only the bytes Box sent verify.
    let decoded = r#"{"webhook":{"id":"1234567890"},"trigger":"FILE.UPLOADED","source":{"id":"1234567890","type":"file","name":"スクリーンショット 2020-08-05.txt"}}"#;
    assert_eq!(
        keys()
            .verify_at(
                &box_headers(Some(SIG_JP), None, TS_TEXT),
                decoded.as_bytes(),
                at(TS)
            )
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn ten_minutes_past_none_in_the_future() {
    assert_eq!(
        BoxCom::new().default_tolerance(),
        Tolerance::new(Duration::from_secs(600), Duration::ZERO)
    );
    let h = box_headers(Some(PRIMARY), Some(SECONDARY), TS_TEXT);
    let v = keys();
    assert!(v.verify_at(&h, BODY, at(TS + 600)).is_ok());
    assert!(matches!(
        v.verify_at(&h, BODY, at(TS + 601)),
        Err(VerifyError::TimestampTooOld { .. })
    ));
    // Exactly now passes; one second ahead is refused, as the SDK refuses any future second.
    assert!(v.verify_at(&h, BODY, at(TS)).is_ok());
    assert!(matches!(
        v.verify_at(&h, BODY, at(TS - 1)),
        Err(VerifyError::TimestampInFuture { .. })
    ));
    // The SDK tests' ±1200 s cases.
    assert!(v.verify_at(&h, BODY, at(TS + 1200)).is_err());
    assert!(v.verify_at(&h, BODY, at(TS - 1200)).is_err());
    // Skew can be allowed explicitly.
    let skew = Verifier::builder(BoxCom::new())
        .secret(PRIMARY_KEY)
        .tolerance_future(Duration::from_secs(5))
        .build()
        .unwrap();
    assert!(skew.verify_at(&h, BODY, at(TS - 5)).is_ok());
}

#[test]
fn version_and_algorithm_headers() {
    let v = keys();
    // The SDK's `headers_with_wrong_signature_version` / `_algorithm` cases.
    for (name, value) in [
        ("box-signature-version", "2"),
        ("box-signature-algorithm", "HmacSHA1"),
        ("box-signature-algorithm", "hmacsha256"),
    ] {
        let mut h = box_headers(Some(PRIMARY), Some(SECONDARY), TS_TEXT);
        h.insert(name, HeaderValue::from_static(value));
        let err = v.verify_at(&h, BODY, at(TS)).unwrap_err();
        assert!(
            matches!(err, VerifyError::MalformedHeader { .. }),
            "{value}"
        );
        assert_eq!(err.status(), 400);
    }
    for name in [
        "box-signature-version",
        "box-signature-algorithm",
        "box-delivery-timestamp",
    ] {
        let mut h = box_headers(Some(PRIMARY), Some(SECONDARY), TS_TEXT);
        h.remove(name);
        assert_eq!(
            v.verify_at(&h, BODY, at(TS)).unwrap_err(),
            VerifyError::MissingHeader { name: name.into() }
        );
    }
    assert_eq!(
        v.verify_at(&box_headers(None, None, TS_TEXT), BODY, at(TS))
            .unwrap_err(),
        VerifyError::MissingHeader {
            name: "box-signature-primary".into()
        }
    );
    // Secondary alone is enough.
    assert!(
        v.verify_at(&box_headers(None, Some(SECONDARY), TS_TEXT), BODY, at(TS))
            .is_ok()
    );
    for ts in ["2020-01-01", "1577862000", "not a date"] {
        assert!(matches!(
            v.verify_at(&box_headers(Some(PRIMARY), None, ts), BODY, at(TS)),
            Err(VerifyError::MalformedHeader { .. })
        ));
    }
    assert!(matches!(
        v.verify_at(&box_headers(Some("!!"), None, TS_TEXT), BODY, at(TS)),
        Err(VerifyError::MalformedHeader { .. })
    ));
}

#[test]
fn tampered_body_and_dedup_by_signed_id() {
    let v = keys();
    let h = box_headers(Some(PRIMARY), Some(SECONDARY), TS_TEXT);
    let mut tampered = BODY.to_vec();
    tampered[10] ^= 1;
    assert_eq!(
        v.verify_at(&h, &tampered, at(TS)).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // The SDK fixture has no top-level `id`: deduplicated by the MAC.
    assert!(matches!(
        v.verify_at(&h, BODY, at(TS)).unwrap().dedup_key(),
        DedupKey::Digest(_)
    ));
    // A real payload's `id` is the key; BOX-DELIVERY-ID (new on every retry, unsigned) is not.
    let body = br#"{"type":"webhook_event","id":"eac7d05a-1b21-4e3b-9c12-a8e5b6a4f0b1","created_at":"2024-01-01T00:00:00-08:00","trigger":"FILE.UPLOADED","webhook":{"id":"1234567890"}}"#;
    let first = Signer::new(BoxCom::new(), PRIMARY_KEY)
        .unwrap()
        .timestamp(TS)
        .sign(body)
        .unwrap();
    let mut retry = Signer::new(BoxCom::new(), SECONDARY_KEY)
        .unwrap()
        .timestamp(TS + 120)
        .sign(body)
        .unwrap();
    retry.insert(
        "box-delivery-id",
        HeaderValue::from_static("another-delivery"),
    );
    let a = v.verify_at(&first, body, at(TS)).unwrap();
    let b = v.verify_at(&retry, body, at(TS + 120)).unwrap();
    assert_eq!(
        a.dedup_key(),
        DedupKey::EventId("eac7d05a-1b21-4e3b-9c12-a8e5b6a4f0b1".into())
    );
    assert_eq!(a.dedup_key(), b.dedup_key());
    assert_eq!(b.key_label(), Some("secondary"));
}
