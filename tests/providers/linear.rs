//! Linear: HMAC-SHA256 of the body, timestamp in the signed body (`webhookTimestamp`, ms).
//!
//! Linear publishes no fixed example; its SDK tests sign a sample body with the secret
//! `"SECRET"` and the current time, so the vector here fixes the time and is computed with the
//! SDK's algorithm (Node `crypto.createHmac("sha256", secret).update(rawBody).digest("hex")`).

use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, HeaderValue};
use sha2::Sha256;
use webhook_receiver::providers::{Linear, Scheme, Tolerance};
use webhook_receiver::testing::Signer;
use webhook_receiver::{DedupKey, Verifier, VerifyError};

use super::{at, headers};

// linear/linear packages/sdk/src/_tests/LinearWebhooks.test.ts @8335e09a: the test's request
// body, with `webhookTimestamp` fixed at 1700000000000, as `JSON.stringify` writes it.
const BODY: &[u8] = br#"{"action":"create","data":{"id":"2174add1-f7c8-44e3-bbf3-2d60b5ea8bc9","createdAt":"2020-01-23T12:53:18.084Z","updatedAt":"2020-01-23T12:53:18.084Z","archivedAt":null,"body":"Indeed, I think this is definitely an improvement over the previous version.","edited":false,"issueId":"539068e2-ae88-4d09-bd75-22eb4a59612f","userId":"aacdca22-6266-4c0a-ab3c-8fa70a26765c"},"type":"Comment","url":"https://linear.app/issue/LIN-1778/foo-bar#comment-77217de3-fb52-4dad-bb9a-b356beb93de8","createdAt":"2020-01-23T12:53:18.084Z","webhookTimestamp":1700000000000}"#;
const SECRET: &str = "SECRET";
const SIG: &str = "9c34e3128d6cd5e6599e7f719eb87d4f6003c713d153ba2bb2e35ae13a654459";
const TS: i64 = 1_700_000_000;

/// Signs `body` as Linear does, whatever it holds.
fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn linear_headers(signature: &str) -> HeaderMap {
    headers(&[
        ("linear-signature", signature),
        ("linear-delivery", "234d1a4e-b617-4388-90fe-adc3633d6b72"),
        ("linear-event", "Comment"),
    ])
}

fn verifier(secret: &str) -> Verifier {
    Verifier::builder(Linear::new())
        .secret(secret)
        .build()
        .unwrap()
}

#[test]
fn sdk_algorithm_vector() {
    assert_eq!(sign(SECRET, BODY), SIG, "the helper agrees with Node");
    let v = verifier(SECRET);
    let h = linear_headers(SIG);
    let ok = v.verify_at(&h, BODY, at(TS)).unwrap();
    assert_eq!(ok.scheme(), "linear");
    assert_eq!(ok.unix_timestamp_millis(), Some(1_700_000_000_000));
    assert_eq!(ok.event_id(), None);
    // Uppercase hex is the same signature (the SDK would compare the text and refuse it).
    assert!(
        v.verify_at(&linear_headers(&SIG.to_uppercase()), BODY, at(TS))
            .is_ok()
    );
}

#[test]
fn signer_adds_the_timestamp_to_the_body() {
    let signer = Signer::new(Linear::new(), SECRET)
        .unwrap()
        .timestamp_millis(1_700_000_000_123);
    let v = verifier(SECRET);
    for (body, expected) in [
        (
            &br#"{"action":"create","type":"Issue","data":{"id":"i1"}}"#[..],
            &br#"{"action":"create","type":"Issue","data":{"id":"i1"},"webhookTimestamp":1700000000123}"#[..],
        ),
        (b"{}", br#"{"webhookTimestamp":1700000000123}"#),
        (b" { \"a\" : 1 }\n", b" { \"a\" : 1 ,\"webhookTimestamp\":1700000000123}\n"),
        // A body that has one is signed as it is.
        (BODY, BODY),
    ] {
        let signed = signer.sign_request(body).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&signed.body),
            String::from_utf8_lossy(expected)
        );
        assert_eq!(signed.headers["linear-signature"], sign(SECRET, expected));
        let now = if body == BODY { at(TS) } else { at(TS) + time::Duration::milliseconds(123) };
        assert!(v.verify_at(&signed.headers, &signed.body, now).is_ok());
    }
    // Without a set time the signer uses the current one.
    let signed = Signer::new(Linear::new(), SECRET)
        .unwrap()
        .sign_request(br#"{"type":"Issue"}"#)
        .unwrap();
    assert!(v.verify(&signed.headers, &signed.body).is_ok());
}

#[test]
fn tampered_body_and_wrong_secret() {
    let v = verifier(SECRET);
    let tampered = String::from_utf8_lossy(BODY).replace("create", "remove");
    assert_eq!(
        v.verify_at(&linear_headers(SIG), tampered.as_bytes(), at(TS))
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // A forged body with a fresh timestamp is refused on its signature, not its time.
    let fresh = String::from_utf8_lossy(BODY).replace("1700000000000", "1700000099000");
    assert_eq!(
        v.verify_at(&linear_headers(SIG), fresh.as_bytes(), at(TS + 99))
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    let err = verifier("WRONG_SECRET")
        .verify_at(&linear_headers(SIG), BODY, at(TS))
        .unwrap_err();
    assert_eq!(err, VerifyError::SignatureMismatch);
    assert_eq!(err.status(), 401);
}

#[test]
fn sixty_seconds_each_way_against_the_body_timestamp() {
    assert_eq!(
        Linear::new().default_tolerance(),
        Tolerance::symmetric(std::time::Duration::from_secs(60))
    );
    let v = verifier(SECRET);
    let h = linear_headers(SIG);
    assert!(v.verify_at(&h, BODY, at(TS + 60)).is_ok());
    assert!(v.verify_at(&h, BODY, at(TS - 60)).is_ok());
    assert_eq!(
        v.verify_at(&h, BODY, at(TS + 61)).unwrap_err(),
        VerifyError::TimestampTooOld {
            age_secs: 61,
            tolerance_secs: 60
        }
    );
    assert_eq!(
        v.verify_at(&h, BODY, at(TS - 61)).unwrap_err(),
        VerifyError::TimestampInFuture {
            ahead_secs: 61,
            tolerance_secs: 60
        }
    );
}

#[test]
fn the_body_must_carry_its_timestamp() {
    let v = verifier(SECRET);
    // Stricter than the SDK, which skips the check when the field is absent or 0.
    for body in [
        &br#"{"action":"create","type":"Issue"}"#[..],
        br#"{"data":{"webhookTimestamp":1700000000000}}"#,
        br#"{"webhookTimestamp":null}"#,
        br#"{"webhookTimestamp":"1700000000000"}"#,
        br#"{"webhookTimestamp":1700000000000,"webhookTimestamp":1700000000000}"#,
        br#"[{"webhookTimestamp":1700000000000}]"#,
        br#"{"webhookTimestamp":1e400}"#,
        b"webhookTimestamp=1700000000000",
        b"",
    ] {
        let err = v
            .verify_at(&linear_headers(&sign(SECRET, body)), body, at(TS))
            .unwrap_err();
        assert!(
            matches!(err, VerifyError::MalformedBody { .. }),
            "{}: {err:?}",
            String::from_utf8_lossy(body)
        );
        assert_eq!(err.status(), 400);
    }
    // 0 and negative times are simply too old.
    for body in [
        &br#"{"webhookTimestamp":0}"#[..],
        br#"{"webhookTimestamp":-5}"#,
    ] {
        assert!(matches!(
            v.verify_at(&linear_headers(&sign(SECRET, body)), body, at(TS)),
            Err(VerifyError::TimestampTooOld { .. })
        ));
    }
    // A GraphQL `Float` with a fraction is read to the millisecond.
    let body = br#"{"webhookTimestamp":1700000000000.9}"#;
    let h = linear_headers(&sign(SECRET, body));
    let ok = v.verify_at(&h, body, at(TS)).unwrap();
    assert_eq!(ok.unix_timestamp_millis(), Some(1_700_000_000_000));
    let body = br#"{"webhookTimestamp":1.7e12}"#;
    assert!(
        v.verify_at(&linear_headers(&sign(SECRET, body)), body, at(TS))
            .is_ok()
    );
}

#[test]
fn the_unsigned_timestamp_header_is_ignored() {
    // The SDK falls back to `Linear-Timestamp` when the body has no time; it is not signed, so an
    // attacker replaying an old body could set it to now.
    let v = verifier(SECRET);
    let body = br#"{"action":"create","type":"Issue"}"#;
    let mut h = linear_headers(&sign(SECRET, body));
    h.insert(
        "linear-timestamp",
        HeaderValue::from_static("1700000000000"),
    );
    assert!(matches!(
        v.verify_at(&h, body, at(TS)),
        Err(VerifyError::MalformedBody { .. })
    ));
    // And it cannot move a signed body time either.
    let mut h = linear_headers(SIG);
    h.insert(
        "linear-timestamp",
        HeaderValue::from_static("1700000500000"),
    );
    assert!(matches!(
        v.verify_at(&h, BODY, at(TS + 500)),
        Err(VerifyError::TimestampTooOld { .. })
    ));
}

#[test]
fn missing_and_malformed_headers() {
    let v = verifier(SECRET);
    let err = v.verify_at(&HeaderMap::new(), BODY, at(TS)).unwrap_err();
    assert_eq!(
        err,
        VerifyError::MissingHeader {
            name: "linear-signature".into()
        }
    );
    assert_eq!(err.status(), 400);
    for signature in [
        "not hex",
        &SIG[..62],
        &format!("{SIG}00"),
        &format!("sha256={SIG}"),
        "",
    ] {
        let mut h = linear_headers(SIG);
        h.insert(
            "linear-signature",
            HeaderValue::from_str(signature).unwrap(),
        );
        assert!(
            matches!(
                v.verify_at(&h, BODY, at(TS)),
                Err(VerifyError::MalformedHeader { .. })
            ),
            "{signature:?}"
        );
    }
    let mut h = linear_headers(SIG);
    h.append("linear-signature", HeaderValue::from_static(SIG));
    assert!(matches!(
        v.verify_at(&h, BODY, at(TS)),
        Err(VerifyError::MalformedHeader { .. })
    ));
}

#[test]
fn rotation_reports_the_matching_secret() {
    let v = Verifier::builder(Linear::new())
        .labeled_secret("next", "lin_wh_next")
        .labeled_secret("current", SECRET)
        .build()
        .unwrap();
    let h = linear_headers(SIG);
    let ok = v.verify_at(&h, BODY, at(TS)).unwrap();
    assert_eq!(ok.key_index(), 1);
    assert_eq!(ok.key_label(), Some("current"));
}

#[test]
fn dedup_key_is_the_mac_not_linear_delivery() {
    let v = verifier(SECRET);
    let mut h = linear_headers(SIG);
    let key = v
        .verify_at(&h, BODY, at(TS))
        .unwrap()
        .dedup_key()
        .into_owned();
    let DedupKey::Digest(digest) = &key else {
        panic!("expected a digest, got {key:?}");
    };
    assert_eq!(hex::encode(digest.as_bytes()), SIG);
    // `Linear-Delivery` is not signed: changing it must not give the delivery a new key.
    h.insert(
        "linear-delivery",
        HeaderValue::from_static("00000000-0000-0000-0000-000000000000"),
    );
    assert_eq!(v.verify_at(&h, BODY, at(TS)).unwrap().dedup_key(), key);
}
