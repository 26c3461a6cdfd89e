//! Mailgun: HMAC-SHA256 (hex) over `{timestamp}{token}`, carried in the body; the event data is
//! not signed.

use std::time::Duration;

use http::HeaderMap;
use webhook_receiver::providers::Mailgun;
use webhook_receiver::testing::Signer;
use webhook_receiver::{DedupKey, Verifier, VerifyError};

use super::{at, headers, verifier};

// mailgun/mailgun-php tests/Api/WebhookTest.php @5024827b (`testVerifyWebhookGood`,
// `testVerifyWebhookBad`).
const PHP_KEY: &str = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0";
const PHP_TS: i64 = 1403645220;
const PHP_TOKEN: &str = "5egbgr1vjgqxtrnp65xfznchgdccwh5d6i09vijqi3whgowmn6";
const PHP_SIG: &str = "9cfc5c41582e51246e73c88d34db3af0a3a2692a76fbab81492842f000256d33";

fn json_body(timestamp: &str, token: &str, signature: &str, event_data: &str) -> Vec<u8> {
    format!(
        r#"{{"signature":{{"timestamp":{timestamp},"token":"{token}","signature":"{signature}"}},"event-data":{event_data}}}"#
    )
    .into_bytes()
}

fn json() -> HeaderMap {
    headers(&[("content-type", "application/json")])
}

fn form() -> HeaderMap {
    headers(&[("content-type", "application/x-www-form-urlencoded")])
}

fn check(
    v: &Verifier,
    h: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<DedupKey<'static>, VerifyError> {
    v.verify_at(h, body, at(now))
        .map(|ok| ok.dedup_key().into_owned())
}

#[test]
fn mailgun_php_vectors() {
    let v = verifier(Mailgun::new(), PHP_KEY);
    // As a JSON webhook (the signature block as Mailgun's docs show it, timestamp a string).
    let body = json_body(
        &format!("\"{PHP_TS}\""),
        PHP_TOKEN,
        PHP_SIG,
        r#"{"event":"delivered","id":"DACSsAdVSeGpLid7TN03WA"}"#,
    );
    let h = json();
    let ok = v.verify_at(&h, &body, at(PHP_TS)).unwrap();
    assert_eq!(ok.scheme(), "mailgun");
    assert_eq!(ok.unix_timestamp(), Some(PHP_TS));
    assert_eq!(ok.event_id().as_deref(), Some(PHP_TOKEN));
    assert_eq!(ok.dedup_key(), DedupKey::EventId(PHP_TOKEN.into()));
    // A numeric timestamp is the same text.
    let numeric = json_body(&PHP_TS.to_string(), PHP_TOKEN, PHP_SIG, "{}");
    assert!(check(&v, &json(), &numeric, PHP_TS).is_ok());
    // As legacy form fields.
    let form_body =
        format!("timestamp={PHP_TS}&token={PHP_TOKEN}&signature={PHP_SIG}&event=delivered");
    assert_eq!(
        check(&v, &form(), form_body.as_bytes(), PHP_TS).unwrap(),
        DedupKey::EventId(PHP_TOKEN.into())
    );
    // `testVerifyWebhookBad`: another token with the same signature.
    let bad = json_body(
        &format!("\"{PHP_TS}\""),
        "owyldpe6nxhmrn78epljl6bj0orrki1u3d2v5e6cnlmmuox8jr",
        PHP_SIG,
        "{}",
    );
    assert_eq!(
        check(&v, &json(), &bad, PHP_TS).unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn mailgun_go_vector() {
    // mailgun/mailgun-go webhooks_test.go @d7f2dd43 (`TestVerifyWebhookSignature`,
    // `getSignatureFields`): key `WEBHOOK_SIGNING_KEY` (domains_test.go), timestamp
    // `123456789`, token `token`; the signature is the SDK's HMAC of those fields.
    let v = verifier(Mailgun::new(), "WEBHOOK_SIGNING_KEY");
    let sig = "be636525fcbffba547491ce8a6ff04cbfbf0811aa7031db14147de41be62ffe0";
    let body = json_body("\"123456789\"", "token", sig, "{}");
    assert!(check(&v, &json(), &body, 123456789).is_ok());
    // The unsigned case: `hex("badsignature")` is not even a SHA-256 MAC.
    let bad = json_body("\"123456789\"", "token", "6261647369676e6174757265", "{}");
    assert!(matches!(
        check(&v, &json(), &bad, 123456789),
        Err(VerifyError::MalformedBody { .. })
    ));
}

#[test]
fn signer_round_trip() {
    let signer = Signer::new(Mailgun::new(), PHP_KEY)
        .unwrap()
        .id(PHP_TOKEN)
        .timestamp(PHP_TS);
    let event = br#"{"event":"opened","id":"DACSsAdVSeGpLid7TN03WA"}"#;
    let signed = signer.sign_request(event).unwrap();
    // The signer reproduces the official signature and wraps the event data.
    let text = std::str::from_utf8(&signed.body).unwrap();
    assert!(text.contains(PHP_SIG), "{text}");
    assert!(text.ends_with(r#""event-data":{"event":"opened","id":"DACSsAdVSeGpLid7TN03WA"}}"#));
    assert_eq!(signed.headers["content-type"], "application/json");
    let v = verifier(Mailgun::new(), PHP_KEY);
    assert_eq!(
        check(&v, &signed.headers, &signed.body, PHP_TS).unwrap(),
        DedupKey::EventId(PHP_TOKEN.into())
    );
    // The event data must be JSON; the token cannot be empty.
    assert!(signer.sign_request(b"not json").is_err());
    assert!(signer.clone().id("").sign_request(event).is_err());
}

#[test]
fn event_data_is_not_signed() {
    // The documented trap: altered event data still verifies, under the same dedup key, so a
    // tampered copy of a processed delivery is a duplicate.
    let v = verifier(Mailgun::new(), PHP_KEY);
    let ts = format!("\"{PHP_TS}\"");
    let original = json_body(&ts, PHP_TOKEN, PHP_SIG, r#"{"event":"delivered","id":"A"}"#);
    let altered = json_body(&ts, PHP_TOKEN, PHP_SIG, r#"{"event":"failed","id":"B"}"#);
    let k1 = check(&v, &json(), &original, PHP_TS).unwrap();
    let k2 = check(&v, &json(), &altered, PHP_TS).unwrap();
    assert_eq!(k1, k2);
    assert_eq!(k1, DedupKey::EventId(PHP_TOKEN.into()));
}

#[test]
fn tampered_fields_and_wrong_key() {
    let v = verifier(Mailgun::new(), PHP_KEY);
    for (ts, token) in [
        (PHP_TS + 1, PHP_TOKEN),
        (PHP_TS, "5egbgr1vjgqxtrnp65xfznchgdccwh5d6i09vijqi3whgowmn7"),
    ] {
        let body = json_body(&format!("\"{ts}\""), token, PHP_SIG, "{}");
        assert_eq!(
            check(&v, &json(), &body, PHP_TS).unwrap_err(),
            VerifyError::SignatureMismatch
        );
    }
    let wrong = verifier(Mailgun::new(), "key-another");
    let body = json_body(&format!("\"{PHP_TS}\""), PHP_TOKEN, PHP_SIG, "{}");
    assert_eq!(
        check(&wrong, &json(), &body, PHP_TS).unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn tolerance_covers_mailgun_retries() {
    let v = verifier(Mailgun::new(), PHP_KEY);
    assert_eq!(v.tolerance_past(), Duration::from_secs(9 * 3600));
    assert_eq!(v.tolerance_future(), Duration::from_secs(300));
    let body = json_body(&format!("\"{PHP_TS}\""), PHP_TOKEN, PHP_SIG, "{}");
    // The last retry comes about 8 hours after the first attempt, with its signature.
    assert!(check(&v, &json(), &body, PHP_TS + 8 * 3600 + 300).is_ok());
    assert!(matches!(
        check(&v, &json(), &body, PHP_TS + 9 * 3600 + 1),
        Err(VerifyError::TimestampTooOld { .. })
    ));
    assert!(check(&v, &json(), &body, PHP_TS - 300).is_ok());
    assert!(matches!(
        check(&v, &json(), &body, PHP_TS - 301),
        Err(VerifyError::TimestampInFuture { .. })
    ));
    // A narrower window is the user's choice.
    let strict = Verifier::builder(Mailgun::new())
        .secret(PHP_KEY)
        .tolerance(Duration::from_secs(300))
        .build()
        .unwrap();
    assert!(matches!(
        check(&strict, &json(), &body, PHP_TS + 301),
        Err(VerifyError::TimestampTooOld { .. })
    ));
}

#[test]
fn malformed_bodies() {
    let v = verifier(Mailgun::new(), PHP_KEY);
    let ts = format!("\"{PHP_TS}\"");
    let bodies: Vec<Vec<u8>> = vec![
        br#"{"event-data":{}}"#.to_vec(),
        br#"{"signature":{"timestamp":"1403645220","token":"abc"},"event-data":{}}"#.to_vec(),
        br#"{"signature":"9cfc5c41","event-data":{}}"#.to_vec(),
        json_body(&ts, "", PHP_SIG, "{}"),
        json_body("\"01403645220\"", PHP_TOKEN, PHP_SIG, "{}"),
        json_body("\"1403645220.5\"", PHP_TOKEN, PHP_SIG, "{}"),
        json_body("1403645220.5", PHP_TOKEN, PHP_SIG, "{}"),
        json_body("\"-1403645220\"", PHP_TOKEN, PHP_SIG, "{}"),
        json_body("\" 1403645220\"", PHP_TOKEN, PHP_SIG, "{}"),
        json_body("null", PHP_TOKEN, PHP_SIG, "{}"),
        json_body(&ts, PHP_TOKEN, "not-hex", "{}"),
        json_body(&ts, PHP_TOKEN, &PHP_SIG[..62], "{}"),
        json_body(&ts, PHP_TOKEN, &format!("{PHP_SIG}00"), "{}"),
        b"timestamp=1403645220&token=abc".to_vec(),
        b"".to_vec(),
        b"not a form or json".to_vec(),
    ];
    for body in &bodies {
        let err = check(&v, &json(), body, PHP_TS).unwrap_err();
        assert!(
            matches!(err, VerifyError::MalformedBody { .. }),
            "{}: {err:?}",
            String::from_utf8_lossy(body)
        );
    }
    // Multipart posts are refused with a clear reason.
    let multipart = headers(&[("content-type", "multipart/form-data; boundary=xyz")]);
    let err = check(&v, &multipart, b"--xyz\r\n", PHP_TS).unwrap_err();
    assert!(err.to_string().contains("multipart"), "{err}");
    // A malformed `parent-signature` is refused too.
    let body = format!(
        r#"{{"signature":{{"timestamp":"{PHP_TS}","token":"{PHP_TOKEN}","signature":"{PHP_SIG}","parent-signature":"xyz"}}}}"#
    );
    assert!(matches!(
        check(&v, &json(), body.as_bytes(), PHP_TS),
        Err(VerifyError::MalformedBody { .. })
    ));
}

#[test]
fn subaccount_parent_signature() {
    // A subaccount's event carries its own signature and the primary account's; the primary
    // account's key verifies it.
    let parent_sig = "6d9bcb7f627062a688448a0cc40c6ebf7f17fd04a901eee744041dac678ab071";
    let body = format!(
        r#"{{"signature":{{"timestamp":"1767225600","token":"tok_0123456789","signature":"{}","parent-signature":"{parent_sig}"}},"event-data":{{}}}}"#,
        "0".repeat(64)
    );
    let v = verifier(Mailgun::new(), "parent-key");
    assert_eq!(
        check(&v, &json(), body.as_bytes(), 1767225600).unwrap(),
        DedupKey::EventId("tok_0123456789".into())
    );
}

#[test]
fn rotation_reports_the_matching_key() {
    let v = Verifier::builder(Mailgun::new())
        .labeled_secret("old", "key-old")
        .labeled_secret("new", PHP_KEY)
        .build()
        .unwrap();
    let body = json_body(&format!("\"{PHP_TS}\""), PHP_TOKEN, PHP_SIG, "{}");
    let h = json();
    let ok = v.verify_at(&h, &body, at(PHP_TS)).unwrap();
    assert_eq!(ok.key_index(), 1);
    assert_eq!(ok.key_label(), Some("new"));
}

#[test]
fn dedup_key_is_the_token_not_the_event_id() {
    let v = verifier(Mailgun::new(), PHP_KEY);
    let ts = format!("\"{PHP_TS}\"");
    let a = json_body(&ts, PHP_TOKEN, PHP_SIG, r#"{"id":"first-unsigned-id"}"#);
    let b = json_body(&ts, PHP_TOKEN, PHP_SIG, r#"{"id":"second-unsigned-id"}"#);
    // Neither `event-data.id` nor a header takes part.
    let mut h = json();
    h.insert("x-mailgun-sid", "WyIxMjM0NTYiXQ==".parse().unwrap());
    assert_eq!(
        check(&v, &json(), &a, PHP_TS).unwrap(),
        check(&v, &h, &b, PHP_TS).unwrap()
    );
    // Two signed deliveries have two tokens.
    let signer = Signer::new(Mailgun::new(), PHP_KEY)
        .unwrap()
        .timestamp(PHP_TS);
    let one = signer.sign_request(b"{}").unwrap();
    let two = signer.sign_request(b"{}").unwrap();
    assert_ne!(
        check(&v, &one.headers, &one.body, PHP_TS).unwrap(),
        check(&v, &two.headers, &two.body, PHP_TS).unwrap()
    );
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any body, as JSON or a form: an answer, never a panic.
        #[test]
        fn arbitrary_bodies_never_panic(
            body in proptest::collection::vec(any::<u8>(), 0..200),
            timestamp in "[ -~]{0,20}",
            token in "[ -~é]{0,60}",
            signature in "[0-9a-fA-Fx]{0,70}",
        ) {
            let v = verifier(Mailgun::new(), PHP_KEY);
            let _ = check(&v, &json(), &body, PHP_TS);
            let _ = check(&v, &form(), &body, PHP_TS);
            let shaped = serde_json::json!({
                "signature": {"timestamp": timestamp, "token": token, "signature": signature},
                "event-data": {}
            });
            let _ = check(&v, &json(), shaped.to_string().as_bytes(), PHP_TS);
        }
    }
}
