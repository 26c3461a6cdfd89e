//! WooCommerce: `X-WC-Webhook-Signature` (base64 HMAC of the body, SHA-256 unless the site
//! changed it), keyed with the secret decoded like `wp_specialchars_decode`; the unsigned ping.
//!
//! WooCommerce's only published vector — `woocommerce/woocommerce`
//! `plugins/woocommerce/tests/legacy/unit-tests/webhooks/crud.php` @6147c5e,
//! `test_generate_signature`: `generate_signature('secret')` of a new webhook is
//! `GBDo00G55h6IiV+6CxqivQPLbI//KzaOZm747971tPs=` — is made with the **empty** default secret
//! (it is HMAC-SHA256 of `secret` under an empty key), which this crate refuses (see
//! `empty_secret_is_refused`). The other vectors follow `WC_Webhook::generate_signature`
//! (`base64_encode(hash_hmac($algo, $body, wp_specialchars_decode($secret, ENT_QUOTES), true))`)
//! and were computed with Python's `hmac` and `base64` modules.

use http::{HeaderMap, HeaderValue};
use webhook_receiver::providers::WooCommerce;
use webhook_receiver::testing::Signer;
use webhook_receiver::{Algorithm, ConfigError, DedupKey, Secret, Verifier, VerifyError};

use super::{headers, verifier};

/// The secret as stored and returned by the REST API; WooCommerce keys the MAC with
/// `wc&s3cret<x'`.
const STORED: &str = "wc&amp;s3cret&lt;x&#039;";
const DECODED: &str = "wc&s3cret<x'";
const BODY: &[u8] = br#"{"id":727,"parent_id":0,"status":"processing","currency":"USD","date_created":"2026-03-01T10:12:56","date_modified":"2026-03-01T10:12:56","total":"29.35","customer_id":0,"order_key":"wc_order_58d2d042d1d"}"#;
const SIG: &str = "DFMTq2CA0O97qkBFGoX+D4qgSH68df+08dSknKHMe5s=";

fn signed(value: &str) -> HeaderMap {
    headers(&[
        ("x-wc-webhook-signature", value),
        ("x-wc-webhook-topic", "order.created"),
        ("x-wc-webhook-delivery-id", "a1b2c3"),
    ])
}

#[test]
fn computed_vector_with_an_entity_encoded_secret() {
    for secret in [STORED, DECODED] {
        let v = verifier(WooCommerce::new(), secret);
        let h = signed(SIG);
        let ok = v.verify(&h, BODY).unwrap();
        assert_eq!(ok.scheme(), "woocommerce");
        assert_eq!(ok.unix_timestamp(), None);
        assert_eq!(ok.event_id(), None);
        let h = Signer::new(WooCommerce::new(), secret)
            .unwrap()
            .sign(BODY)
            .unwrap();
        assert_eq!(h["x-wc-webhook-signature"], SIG, "{secret}");
    }
    // The stored text used as is (no decoding): Python's MAC under those raw bytes.
    let raw = Verifier::builder(WooCommerce::new())
        .raw_secret(None, Secret::from_bytes(STORED.as_bytes()).unwrap())
        .build()
        .unwrap();
    assert_eq!(
        raw.verify(&signed(SIG), BODY).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    assert!(
        raw.verify(
            &signed("URXugJdQXKMGKCBymmeC56idyVFXKlbA1vowIEV221Y="),
            BODY
        )
        .is_ok()
    );
}

#[test]
fn empty_secret_is_refused() {
    // WooCommerce's own test signs with an empty secret, which anyone can reproduce.
    assert!(matches!(
        Verifier::builder(WooCommerce::new()).secret("").build(),
        Err(ConfigError::EmptySecret { .. })
    ));
    assert!(Signer::new(WooCommerce::new(), "").is_err());
}

#[test]
fn a_site_may_change_the_hash() {
    for (algorithm, sig) in [
        (Algorithm::HmacSha1, "3qcGZ5sg23Q9wd0AFC6jzSpup20="),
        (
            Algorithm::HmacSha512,
            "sh8U027YfSJEN0SB6Rf1JDjaVKiaSfoelVPO8oZ1zFdmVQIpUvY/Flox0SIv4VGROG80tJ9Nn6mjrPbLZkVyww==",
        ),
        (Algorithm::HmacSha256, SIG),
    ] {
        let scheme = WooCommerce::with_hash(algorithm).unwrap();
        assert!(
            verifier(scheme, STORED).verify(&signed(sig), BODY).is_ok(),
            "{algorithm:?}"
        );
        let h = Signer::new(scheme, STORED).unwrap().sign(BODY).unwrap();
        assert_eq!(h["x-wc-webhook-signature"], sig);
        // The default (SHA-256) scheme does not take another hash's MAC.
        if algorithm != Algorithm::HmacSha256 {
            assert!(matches!(
                verifier(WooCommerce::new(), STORED).verify(&signed(sig), BODY),
                Err(VerifyError::MalformedHeader { .. })
            ));
        }
    }
    for algorithm in [Algorithm::Ed25519, Algorithm::Token] {
        assert!(WooCommerce::with_hash(algorithm).is_err());
    }
}

#[test]
fn tampered_body_and_wrong_key() {
    let v = verifier(WooCommerce::new(), STORED);
    let tampered = String::from_utf8(BODY.to_vec())
        .unwrap()
        .replace("29.35", "0.01");
    assert_eq!(
        v.verify(&signed(SIG), tampered.as_bytes()).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // A trailing newline is another body (WooCommerce trims its JSON).
    let mut newline = BODY.to_vec();
    newline.push(b'\n');
    assert_eq!(
        v.verify(&signed(SIG), &newline).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    assert_eq!(
        verifier(WooCommerce::new(), "wc&s3cret<x")
            .verify(&signed(SIG), BODY)
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn malformed_and_missing_signatures() {
    let v = verifier(WooCommerce::new(), STORED);
    for value in [
        format!("sha256={SIG}"),
        "0c5313ab6080d0ef7baa40451a85fe0f8aa0487ebc75ffb4f1d4a49ca1cc7b9b".to_owned(),
        SIG[..20].to_owned(),
        "!!".to_owned(),
        format!("{SIG},{SIG}"),
    ] {
        assert!(
            matches!(
                v.verify(&signed(&value), BODY),
                Err(VerifyError::MalformedHeader { .. })
            ),
            "{value}"
        );
    }
    // Unpadded base64 is the same signature.
    assert!(v.verify(&signed(SIG.trim_end_matches('=')), BODY).is_ok());
    assert_eq!(
        v.verify(&HeaderMap::new(), BODY).unwrap_err(),
        VerifyError::MissingHeader {
            name: "x-wc-webhook-signature".into()
        }
    );
    let mut twice = signed(SIG);
    twice.append("x-wc-webhook-signature", HeaderValue::from_static(SIG));
    assert!(matches!(
        v.verify(&twice, BODY),
        Err(VerifyError::MalformedHeader { .. })
    ));
}

#[test]
fn rotation_reports_the_matching_key() {
    let v = Verifier::builder(WooCommerce::new())
        .labeled_secret("old", STORED)
        .labeled_secret("new", "rotated")
        .build()
        .unwrap();
    let h = signed("eGLEA1V2OTNbn7dESbqvK1zvcU+2QeMVCCrUBShWVbs=");
    let ok = v.verify(&h, BODY).unwrap();
    assert_eq!((ok.key_index(), ok.key_label()), (1, Some("new")));
}

#[test]
fn dedup_ignores_the_unsigned_delivery_id() {
    let v = verifier(WooCommerce::new(), STORED);
    let a = v
        .verify(&signed(SIG), BODY)
        .unwrap()
        .dedup_key()
        .into_owned();
    assert!(matches!(a, DedupKey::Digest(_)));
    let mut other = signed(SIG);
    other.insert("x-wc-webhook-delivery-id", HeaderValue::from_static("z9"));
    other.insert("x-wc-webhook-id", HeaderValue::from_static("99"));
    assert_eq!(v.verify(&other, BODY).unwrap().dedup_key(), a);
    // Another modification of the order is another body, another key.
    let modified = String::from_utf8(BODY.to_vec())
        .unwrap()
        .replace("10:12:56\",\"total", "10:13:40\",\"total");
    let h = Signer::new(WooCommerce::new(), STORED)
        .unwrap()
        .sign(modified.as_bytes())
        .unwrap();
    assert_ne!(v.verify(&h, modified.as_bytes()).unwrap().dedup_key(), a);
}

#[test]
fn the_unsigned_ping_is_answered_before_verification() {
    let none = HeaderMap::new();
    assert_eq!(
        WooCommerce::ping_webhook_id(&none, b"webhook_id=42"),
        Some(42)
    );
    for body in [
        &b"webhook_id="[..],
        b"webhook_id=4x",
        b"webhook_id=42&x=1",
        b"webhook_id=-1",
        b"webhook_id=99999999999999999999",
        b"x=1&webhook_id=42",
        b"",
        BODY,
    ] {
        assert_eq!(WooCommerce::ping_webhook_id(&none, body), None);
    }
    // A signed request is never a ping.
    assert_eq!(
        WooCommerce::ping_webhook_id(&signed(SIG), b"webhook_id=42"),
        None
    );
    // The ping carries no signature: verifying it fails, so it must be routed first.
    assert_eq!(
        verifier(WooCommerce::new(), STORED)
            .verify(&none, b"webhook_id=42")
            .unwrap_err(),
        VerifyError::MissingHeader {
            name: "x-wc-webhook-signature".into()
        }
    );
}
