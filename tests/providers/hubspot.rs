//! HubSpot v3: base64 HMAC-SHA256 over `{method}{uri}{body}{ms timestamp}`, with the URI's
//! listed percent-escapes decoded.

use http::{HeaderMap, HeaderValue, StatusCode};
use webhook_receiver::providers::{HubSpot, Request};
use webhook_receiver::testing::Signer;
use webhook_receiver::{ConfigError, DedupKey, Verifier, VerifyError};

use super::{headers, verifier};

// HubSpot/hubspot-api-python tests/spec/utils/test_signature.py `TEST_DATA` and
// `test_get_signature__v3` @a2a528a97f4c1131d7f65d0303bfbd2e523a8eba (the body's single quotes
// are part of it).
const SECRET: &str = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy";
const URL: &str = "https://www.example.com/webhook_uri";
const BODY: &[u8] = b"{'example_field':'example_value'}";
const TS: i64 = 1_693_657_560_000;
const SIG: &str = "K36dawei4A+QBNolUOqo7s91KQDWQ5MXZ/QufNYuk/Y=";

fn at_ms(ms: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap()
}

fn hs(sig: &str, ts: &str) -> HeaderMap {
    headers(&[
        ("x-hubspot-signature-v3", sig),
        ("x-hubspot-request-timestamp", ts),
    ])
}

fn verify<'a>(
    v: &'a Verifier,
    h: &'a HeaderMap,
    body: &'a [u8],
    method: &'a str,
    url: &'a str,
    now: i64,
) -> Result<webhook_receiver::Verified<'a>, VerifyError> {
    v.verify_request_at(&Request::new(h, body).method(method).url(url), at_ms(now))
}

#[test]
fn python_sdk_vector() {
    let v = verifier(HubSpot::new(), SECRET);
    let h = hs(SIG, "1693657560000");
    let ok = verify(&v, &h, BODY, "POST", URL, TS).unwrap();
    assert_eq!(ok.scheme(), "hubspot");
    assert_eq!(ok.unix_timestamp_millis(), Some(TS));
    assert!(matches!(ok.dedup_key(), DedupKey::Digest(_)));
    let signed = Signer::new(HubSpot::new(), SECRET)
        .unwrap()
        .url(URL)
        .timestamp_millis(TS)
        .sign(BODY)
        .unwrap();
    assert_eq!(signed["x-hubspot-signature-v3"], SIG);
    assert_eq!(signed["x-hubspot-request-timestamp"], "1693657560000");
}

#[test]
fn method_and_url_are_signed() {
    let v = verifier(HubSpot::new(), SECRET);
    let h = hs(SIG, "1693657560000");
    assert_eq!(
        verify(&v, &h, BODY, "GET", URL, TS).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    for other in [
        "https://www.example.com/webhook_uri/",
        "http://www.example.com/webhook_uri",
        "https://www.example.com/webhook_uri?x=1",
    ] {
        assert_eq!(
            verify(&v, &h, BODY, "POST", other, TS).unwrap_err(),
            VerifyError::SignatureMismatch,
            "{other}"
        );
    }
    // A GET with no body (CRM cards), computed with the SDK's algorithm in Python.
    let get = hs(
        "Mqfg0iEbI6BJOwPPIPxI7vbp34DKJ0Uy9z4GLEMmRtk=",
        "1693657560000",
    );
    assert!(verify(&v, &get, b"", "GET", URL, TS).is_ok());
    // No public URL configured: a 500, naming what to configure.
    let err = v.verify_at(&h, BODY, at_ms(TS)).unwrap_err();
    assert_eq!(err, VerifyError::NoPublicUrl);
    assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        verify(&v, &h, BODY, "POST", "", TS).unwrap_err(),
        VerifyError::NoPublicUrl
    );
}

#[test]
fn listed_escapes_are_decoded_others_kept() {
    // Computed with the SDKs' algorithm (Python) over the URI HubSpot signs — with `@`, `/` and
    // `:` decoded and `%20` kept — while the request line carries them encoded.
    let v = verifier(HubSpot::new(), SECRET);
    let h = hs(
        "HFaTBzVhhsikFswuy9K04G+SViowIusESV3UGG1LcFw=",
        "1693657560000",
    );
    let sent =
        "https://www.example.com/webhook_uri?email=a%40b.com&path=%2Fx%3Ay&name=hello%20world";
    assert!(verify(&v, &h, b"[]", "POST", sent, TS).is_ok());
    // Lowercase escapes are the same characters.
    let lower =
        "https://www.example.com/webhook_uri?email=a%40b.com&path=%2fx%3ay&name=hello%20world";
    assert!(verify(&v, &h, b"[]", "POST", lower, TS).is_ok());
    // Already decoded, it is the same URI.
    let plain = "https://www.example.com/webhook_uri?email=a@b.com&path=/x:y&name=hello%20world";
    assert!(verify(&v, &h, b"[]", "POST", plain, TS).is_ok());
    // `%20` is not in HubSpot's list: decoding it too (a full URL-decode) does not verify.
    let over = "https://www.example.com/webhook_uri?email=a@b.com&path=/x:y&name=hello world";
    assert_eq!(
        verify(&v, &h, b"[]", "POST", over, TS).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // The signer decodes the same way, so signing the encoded URL round-trips.
    let signed = Signer::new(HubSpot::new(), SECRET)
        .unwrap()
        .url(sent)
        .timestamp_millis(TS)
        .sign(b"[]")
        .unwrap();
    assert_eq!(
        signed["x-hubspot-signature-v3"],
        "HFaTBzVhhsikFswuy9K04G+SViowIusESV3UGG1LcFw="
    );
}

#[test]
fn milliseconds_past_tolerance_and_future_policy() {
    let v = verifier(HubSpot::new(), SECRET);
    let h = hs(SIG, "1693657560000");
    // Node SDK: refused when now - ts > 300000 ms.
    assert!(verify(&v, &h, BODY, "POST", URL, TS + 300_000).is_ok());
    assert!(matches!(
        verify(&v, &h, BODY, "POST", URL, TS + 300_001),
        Err(VerifyError::TimestampTooOld { .. })
    ));
    // The SDKs accept any future timestamp; this crate refuses more than 5 minutes ahead.
    assert!(verify(&v, &h, BODY, "POST", URL, TS - 300_000).is_ok());
    assert!(matches!(
        verify(&v, &h, BODY, "POST", URL, TS - 300_001),
        Err(VerifyError::TimestampInFuture { .. })
    ));
    // Seconds instead of milliseconds are a different signed text, and far too old.
    assert!(verify(&v, &hs(SIG, "1693657560"), BODY, "POST", URL, TS).is_err());
}

#[test]
fn tampered_wrong_key_missing_malformed() {
    let v = verifier(HubSpot::new(), SECRET);
    let h = hs(SIG, "1693657560000");
    assert_eq!(
        verify(
            &v,
            &h,
            b"{'example_field':'example_valuE'}",
            "POST",
            URL,
            TS
        )
        .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    assert_eq!(
        verify(&v, &hs(SIG, "1693657560001"), BODY, "POST", URL, TS).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    assert_eq!(
        verify(
            &verifier(HubSpot::new(), "zzzzzzzz"),
            &h,
            BODY,
            "POST",
            URL,
            TS
        )
        .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    for name in ["x-hubspot-signature-v3", "x-hubspot-request-timestamp"] {
        let mut h = hs(SIG, "1693657560000");
        h.remove(name);
        assert_eq!(
            verify(&v, &h, BODY, "POST", URL, TS).unwrap_err(),
            VerifyError::MissingHeader { name: name.into() }
        );
    }
    for ts in ["", "01693657560000", "1693657560000.0", "-1", "1.69e12"] {
        let Ok(value) = HeaderValue::from_str(ts) else {
            continue;
        };
        let mut h = hs(SIG, "1693657560000");
        h.insert("x-hubspot-request-timestamp", value);
        assert!(
            matches!(
                verify(&v, &h, BODY, "POST", URL, TS),
                Err(VerifyError::MalformedHeader { .. })
            ),
            "{ts}"
        );
    }
    assert!(matches!(
        verify(&v, &hs("%%%", "1693657560000"), BODY, "POST", URL, TS),
        Err(VerifyError::MalformedHeader { .. })
    ));
}

#[test]
fn legacy_v1_header_alone_is_not_accepted() {
    // hubspot-api-nodejs test/unit/signature.spec.ts "Validates v1" @395cd9b: a v1 delivery
    // (plain SHA-256 of secret + body) carries no v3 signature, and is refused.
    let body = br#"[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM","changeFlag":"NEW","appId":54321}]"#;
    let h = headers(&[
        (
            "x-hubspot-signature",
            "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de",
        ),
        ("x-hubspot-signature-version", "v1"),
    ]);
    let v = verifier(HubSpot::new(), SECRET);
    assert_eq!(
        verify(&v, &h, body, "POST", URL, TS).unwrap_err(),
        VerifyError::MissingHeader {
            name: "x-hubspot-signature-v3".into()
        }
    );
    // Beside a valid v3 signature, a wrong legacy one is simply ignored.
    let mut both = hs(SIG, "1693657560000");
    both.insert("x-hubspot-signature", HeaderValue::from_static("00"));
    both.insert(
        "x-hubspot-signature-version",
        HeaderValue::from_static("v1"),
    );
    assert!(verify(&v, &both, BODY, "POST", URL, TS).is_ok());
}

#[test]
fn signer_needs_the_url() {
    assert!(matches!(
        Signer::new(HubSpot::new(), SECRET).unwrap().sign(BODY),
        Err(ConfigError::Invalid { setting: "url", .. })
    ));
}

#[test]
fn rotation_and_batch_dedup() {
    let v = Verifier::builder(HubSpot::new())
        .labeled_secret("new", "new-client-secret")
        .labeled_secret("old", SECRET)
        .build()
        .unwrap();
    let h = hs(SIG, "1693657560000");
    let ok = verify(&v, &h, BODY, "POST", URL, TS).unwrap();
    assert_eq!((ok.key_index(), ok.key_label()), (1, Some("old")));
    // One delivery, a batch of events: the delivery is the dedup unit; a retry (new timestamp,
    // higher attemptNumber) is a new key, so handlers deduplicate on `eventId`.
    let first = br#"[{"eventId":100,"subscriptionId":1,"portalId":2,"attemptNumber":0}]"#;
    let retry = br#"[{"eventId":100,"subscriptionId":1,"portalId":2,"attemptNumber":1}]"#;
    let sign = |body: &[u8], ts: i64| {
        Signer::new(HubSpot::new(), "new-client-secret")
            .unwrap()
            .url(URL)
            .timestamp_millis(ts)
            .sign(body)
            .unwrap()
    };
    let (h1, h2) = (sign(first, TS), sign(retry, TS + 60_000));
    let a = verify(&v, &h1, first, "POST", URL, TS).unwrap();
    let b = verify(&v, &h2, retry, "POST", URL, TS + 60_000).unwrap();
    assert_eq!(a.key_label(), Some("new"));
    assert_eq!(a.event_id(), None);
    assert_ne!(a.dedup_key(), b.dedup_key());
    let mut h3 = h1.clone();
    h3.insert("x-hubspot-correlation-id", HeaderValue::from_static("c"));
    assert_eq!(
        verify(&v, &h3, first, "POST", URL, TS).unwrap().dedup_key(),
        a.dedup_key()
    );
}
