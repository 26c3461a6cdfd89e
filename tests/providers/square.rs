//! Square: HMAC-SHA256 (base64) over the notification URL followed by the raw body.

use http::{HeaderMap, HeaderValue, StatusCode};
use webhook_receiver::providers::Square;
use webhook_receiver::testing::Signer;
use webhook_receiver::{ConfigError, DedupKey, Request, Verifier, VerifyError};

use super::{headers, verifier};

// square/square-python-sdk tests/integration/test_webhooks_helper.py @24302bac.
const REQUEST_BODY: &[u8] = br#"{"merchant_id":"MLEFBHHSJGVHD","type":"webhooks.test_notification","event_id":"ac3ac95b-f97d-458c-a6e6-18981597e05f","created_at":"2022-07-13T20:30:59.037339943Z","data":{"type":"webhooks","id":"bc368e64-01aa-407e-b46e-3231809b1129"}}"#;
const SIGNATURE_HEADER: &str = "GF4YkrJgGBDZ9NIYbNXBnMzqb2HoL4RW/S6vkZ9/2N4=";
const SIGNATURE_KEY: &str = "Ibxx_5AKakO-3qeNVR61Dw";
const NOTIFICATION_URL: &str = "https://webhook.site/679a4f3a-dcfa-49ee-bac5-9d0edad886b9";

fn signed(signature: &str) -> HeaderMap {
    headers(&[
        ("x-square-hmacsha256-signature", signature),
        ("content-type", "application/json"),
    ])
}

fn check(
    v: &Verifier,
    url: &str,
    h: &HeaderMap,
    body: &[u8],
) -> Result<DedupKey<'static>, VerifyError> {
    v.verify_request(&Request::new(h, body).url(url))
        .map(|ok| ok.dedup_key().into_owned())
}

#[test]
fn square_sdk_vectors() {
    let v = verifier(Square::new(), SIGNATURE_KEY);
    // `test_signature_validation_pass`; the key is used as text, not base64url-decoded.
    let key = check(
        &v,
        NOTIFICATION_URL,
        &signed(SIGNATURE_HEADER),
        REQUEST_BODY,
    )
    .unwrap();
    assert_eq!(
        key,
        DedupKey::EventId("ac3ac95b-f97d-458c-a6e6-18981597e05f".into())
    );
    // `test_signature_validation_escaped_pass`: `>` and `<` as sent, no JSON escaping.
    let escaped = br#"{"data":{"type":"webhooks","id":">id<"}}"#;
    let v2 = verifier(Square::new(), "signature-key");
    let key = check(
        &v2,
        "https://webhook.site/webhooks",
        &signed("Cxt7+aTi4rKgcA0bC4g9EHdVtLSDWdqccmL5MvihU4U="),
        escaped,
    )
    .unwrap();
    // No `event_id` in that body: the MAC is the key.
    assert!(matches!(key, DedupKey::Digest(_)), "{key:?}");
}

#[test]
fn square_sdk_negative_vectors() {
    let v = verifier(Square::new(), SIGNATURE_KEY);
    let sig = signed(SIGNATURE_HEADER);
    // `test_signature_validation_url_mismatch`.
    assert_eq!(
        check(
            &v,
            "https://webhook.site/79a4f3a-dcfa-49ee-bac5-9d0edad886b9",
            &sig,
            REQUEST_BODY
        )
        .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // `test_signature_validation_invalid_signature_key`.
    let wrong = verifier(Square::new(), "MCmhFRxGX82xMwg5FsaoQA");
    assert_eq!(
        check(&wrong, NOTIFICATION_URL, &sig, REQUEST_BODY).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // `test_signature_validation_invalid_signature_header`: a 20-byte value cannot be an
    // HMAC-SHA256, so it is refused before any MAC is computed.
    assert!(matches!(
        check(
            &v,
            NOTIFICATION_URL,
            &signed("1z2n3DEJJiUPKcPzQo1ftvbxGdw="),
            REQUEST_BODY
        ),
        Err(VerifyError::MalformedHeader { .. })
    ));
    // `test_signature_validation_body_mismatch` and `_body_formatted`: a re-formatted body,
    // and one with another `created_at`.
    for body in [
        &b"\n        {\n            \"merchant_id\": \"MLEFBHHSJGVHD\",\n            \"type\": \"webhooks.test_notification\",\n            \"event_id\": \"ac3ac95b-f97d-458c-a6e6-18981597e05f\",\n            \"created_at\": \"2022-06-13T20:30:59.037339943Z\",\n            \"data\": {\"type\": \"webhooks\", \"id\": \"bc368e64-01aa-407e-b46e-3231809b1129\"}\n        }\n    "[..],
        br#"{"merchant_id":"MLEFBHHSJGVHD","type":"webhooks.test_notification","event_id":"ac3ac95b-f97d-458c-a6e6-18981597e05f","created_at":"2022-07-13T20:30:59.037339943Z","data":{"type":"webhooks","id":"bc368e64-01aa-407e-b46e-3231809b1129"}} "#,
    ] {
        assert_eq!(
            check(&v, NOTIFICATION_URL, &sig, body).unwrap_err(),
            VerifyError::SignatureMismatch
        );
    }
    // `test_signature_validation_empty_signature_key`: refused when the verifier is built.
    assert!(matches!(
        Verifier::builder(Square::new()).secret("").build(),
        Err(ConfigError::EmptySecret { .. })
    ));
    // `test_signature_validation_empty_notification_url`: a configuration error (500).
    assert_eq!(
        check(&v, "", &sig, REQUEST_BODY).unwrap_err(),
        VerifyError::NoPublicUrl
    );
    let err = v.verify(&sig, REQUEST_BODY).unwrap_err();
    assert_eq!(err, VerifyError::NoPublicUrl);
    assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
    // An empty body is refused, as the SDK does.
    assert!(matches!(
        check(&v, NOTIFICATION_URL, &sig, b""),
        Err(VerifyError::MalformedBody { .. })
    ));
}

#[test]
fn signer_round_trip() {
    let signer = Signer::new(Square::new(), SIGNATURE_KEY)
        .unwrap()
        .url(NOTIFICATION_URL);
    let h = signer.sign(REQUEST_BODY).unwrap();
    // The signer reproduces the SDK's vector.
    assert_eq!(h["x-square-hmacsha256-signature"], SIGNATURE_HEADER);
    let v = verifier(Square::new(), SIGNATURE_KEY);
    assert!(check(&v, NOTIFICATION_URL, &h, REQUEST_BODY).is_ok());
    // Without a URL the signer cannot sign.
    let no_url = Signer::new(Square::new(), SIGNATURE_KEY).unwrap();
    assert!(no_url.sign(REQUEST_BODY).is_err());
    assert!(no_url.url("").sign(REQUEST_BODY).is_err());
}

#[test]
fn malformed_and_missing_headers() {
    let v = verifier(Square::new(), SIGNATURE_KEY);
    assert!(matches!(
        check(&v, NOTIFICATION_URL, &HeaderMap::new(), REQUEST_BODY),
        Err(VerifyError::MissingHeader { .. })
    ));
    // The legacy SHA-1 header alone is not accepted.
    let legacy = headers(&[("x-square-signature", "1z2n3DEJJiUPKcPzQo1ftvbxGdw=")]);
    assert!(matches!(
        check(&v, NOTIFICATION_URL, &legacy, REQUEST_BODY),
        Err(VerifyError::MissingHeader { .. })
    ));
    let mut repeated = signed(SIGNATURE_HEADER);
    repeated.append(
        "x-square-hmacsha256-signature",
        HeaderValue::from_static(SIGNATURE_HEADER),
    );
    assert!(matches!(
        check(&v, NOTIFICATION_URL, &repeated, REQUEST_BODY),
        Err(VerifyError::MalformedHeader { .. })
    ));
    for bad in ["", "not base64!", "GF4YkrJgGBDZ9NIYbNXBnMzqb2HoL4RW"] {
        let mut h = HeaderMap::new();
        h.insert(
            "x-square-hmacsha256-signature",
            HeaderValue::from_str(bad).unwrap(),
        );
        assert!(
            matches!(
                check(&v, NOTIFICATION_URL, &h, REQUEST_BODY),
                Err(VerifyError::MalformedHeader { .. })
            ),
            "{bad:?}"
        );
    }
    // Unpadded base64 of the right MAC is the same signature.
    let unpadded = SIGNATURE_HEADER.trim_end_matches('=');
    assert!(check(&v, NOTIFICATION_URL, &signed(unpadded), REQUEST_BODY).is_ok());
}

#[test]
fn rotation_reports_the_matching_key() {
    let v = Verifier::builder(Square::new())
        .labeled_secret("old", "MCmhFRxGX82xMwg5FsaoQA")
        .labeled_secret("current", SIGNATURE_KEY)
        .build()
        .unwrap();
    let h = signed(SIGNATURE_HEADER);
    let ok = v
        .verify_request(&Request::new(&h, REQUEST_BODY).url(NOTIFICATION_URL))
        .unwrap();
    assert_eq!(ok.key_index(), 1);
    assert_eq!(ok.key_label(), Some("current"));
    assert_eq!(ok.scheme(), "square");
    assert_eq!(ok.timestamp(), None);
}

#[test]
fn dedup_key_is_the_signed_event_id() {
    let v = verifier(Square::new(), SIGNATURE_KEY);
    let mut h = signed(SIGNATURE_HEADER);
    // Square's delivery headers are not signed and change nothing.
    h.insert("square-retry-number", HeaderValue::from_static("2"));
    h.insert("square-environment", HeaderValue::from_static("Sandbox"));
    assert_eq!(
        check(&v, NOTIFICATION_URL, &h, REQUEST_BODY).unwrap(),
        DedupKey::EventId("ac3ac95b-f97d-458c-a6e6-18981597e05f".into())
    );
}

#[test]
fn square_traps() {
    let v = verifier(Square::new(), SIGNATURE_KEY);
    let sig = signed(SIGNATURE_HEADER);
    // The URL is signed byte for byte: no port, slash or case variants are tried.
    for url in [
        "https://webhook.site/679a4f3a-dcfa-49ee-bac5-9d0edad886b9/",
        "https://webhook.site:443/679a4f3a-dcfa-49ee-bac5-9d0edad886b9",
        "https://WEBHOOK.site/679a4f3a-dcfa-49ee-bac5-9d0edad886b9",
        "http://webhook.site/679a4f3a-dcfa-49ee-bac5-9d0edad886b9",
    ] {
        assert_eq!(
            check(&v, url, &sig, REQUEST_BODY).unwrap_err(),
            VerifyError::SignatureMismatch,
            "{url}"
        );
    }
    // The key looks like base64url but is text: decoded, it does not verify.
    let decoded = verifier(Square::new(), "Ibxx/5AKakO+3qeNVR61Dw==");
    assert_eq!(
        check(&decoded, NOTIFICATION_URL, &sig, REQUEST_BODY).unwrap_err(),
        VerifyError::SignatureMismatch
    );
}
