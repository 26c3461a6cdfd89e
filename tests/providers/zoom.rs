//! Zoom: HMAC-SHA256 (hex) over `v0:{timestamp}:{body}`, and the endpoint validation answer.

use http::{HeaderMap, HeaderValue};
use webhook_receiver::providers::{Slack, Zoom};
use webhook_receiver::testing::Signer;
use webhook_receiver::{DedupKey, Verifier, VerifyError};

use super::{at, headers, verifier};

// Zoom publishes no signature vector. These are computed with the algorithm of
// zoom/rivet-javascript meetings/meetings.mjs @7309ea34 (`isEventVerified`) and
// zoom/webhook-sample index.js @e4d48a77: hex HMAC-SHA256 of `v0:{ts}:{body}`.
const SECRET: &str = "zoom_webhook_secret_token";
const TS: i64 = 1626230691;
const BODY: &[u8] = br#"{"event":"meeting.started","payload":{"account_id":"o8KK_AAACq6BBEyA70CA","object":{"uuid":"czLF6FFFoQOKgAB99DlDb9g==","id":"111111111","host_id":"uLoRgfbbTayCX6r2Q_qQsQ","topic":"My Meeting","type":2,"start_time":"2019-07-09T17:00:00Z","duration":60,"timezone":"America/Los_Angeles"}},"event_ts":1626230691572}"#;
const SIG: &str = "v0=0e520bfe36695c129459354d7e3d6495ae94a5b70ee2f19321a821477d76e8ed";

// The challenge body from developers.zoom.us/docs/api/webhooks ("Validate your webhook
// endpoint"), signed the same way at its `event_ts`.
const VALIDATION: &[u8] = br#"{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}"#;
const VALIDATION_TS: i64 = 1654503849;
const VALIDATION_SIG: &str = "v0=2114b1162cae2885cab59e3e8360d68832c1fae7d440e016fd2f32fc642db0ec";

fn zoom_headers(ts: &str, sig: &str) -> HeaderMap {
    headers(&[
        ("x-zm-request-timestamp", ts),
        ("x-zm-signature", sig),
        ("content-type", "application/json"),
    ])
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
fn zoom_computed_vector() {
    let v = verifier(Zoom::new(), SECRET);
    let h = zoom_headers("1626230691", SIG);
    let ok = v.verify_at(&h, BODY, at(TS)).unwrap();
    assert_eq!(ok.scheme(), "zoom");
    assert_eq!(ok.unix_timestamp(), Some(TS));
    assert_eq!(ok.event_id(), None);
    assert!(matches!(ok.dedup_key(), DedupKey::Digest(_)));
    // The signer reproduces it.
    let signed = Signer::new(Zoom::new(), SECRET)
        .unwrap()
        .timestamp(TS)
        .sign(BODY)
        .unwrap();
    assert_eq!(signed["x-zm-signature"], SIG);
    assert_eq!(signed["x-zm-request-timestamp"], "1626230691");
}

#[test]
fn url_validation_answer() {
    let v = verifier(Zoom::new(), SECRET);
    let h = zoom_headers("1654503849", VALIDATION_SIG);
    let ok = v.verify_at(&h, VALIDATION, at(VALIDATION_TS)).unwrap();
    assert_eq!(
        Zoom::url_validation_response(&v, &ok, VALIDATION).as_deref(),
        Some(
            r#"{"plainToken":"qgg8vlvZRS6UYooatFL8Aw","encryptedToken":"b69d7951c802f2f5b3445316790e9c937e8e201b2d8a5583d2fbaaafbb2e432b"}"#
        )
    );
    // Cross-check with a third party's fixture (elastic/beats
    // x-pack/filebeat/input/http_endpoint/handler_test.go, `validate_CRC_request`).
    let beats = verifier(Zoom::new(), "secretValueTest");
    let signed = Signer::new(Zoom::new(), "secretValueTest")
        .unwrap()
        .timestamp(VALIDATION_TS)
        .sign(VALIDATION)
        .unwrap();
    let ok = beats
        .verify_at(&signed, VALIDATION, at(VALIDATION_TS))
        .unwrap();
    let answer = Zoom::url_validation_response(&beats, &ok, VALIDATION).unwrap();
    assert!(
        answer.contains("70c1f2e2e6ca2d39297490d1f9142c7d701415ea8e6151f6562a08fa657a40ff"),
        "{answer}"
    );
    // The answer uses the key that verified the request.
    let rotated = Verifier::builder(Zoom::new())
        .secret("old-secret")
        .secret(SECRET)
        .build()
        .unwrap();
    let ok = rotated
        .verify_at(&h, VALIDATION, at(VALIDATION_TS))
        .unwrap();
    assert_eq!(ok.key_index(), 1);
    assert!(
        Zoom::url_validation_response(&rotated, &ok, VALIDATION)
            .unwrap()
            .contains("b69d7951c802f2f5")
    );
}

#[test]
fn url_validation_answer_only_for_validation_events() {
    let v = verifier(Zoom::new(), SECRET);
    let h = zoom_headers("1626230691", SIG);
    let ok = v.verify_at(&h, BODY, at(TS)).unwrap();
    assert_eq!(Zoom::url_validation_response(&v, &ok, BODY), None);
    let signer = Signer::new(Zoom::new(), SECRET).unwrap().timestamp(TS);
    for body in [
        &br#"{"event":"endpoint.url_validation","payload":{}}"#[..],
        br#"{"event":"endpoint.url_validation","payload":{"plainToken":""}}"#,
        br#"{"event":"endpoint.url_validation","payload":{"plainToken":5}}"#,
        b"[]",
    ] {
        let h = signer.sign(body).unwrap();
        let ok = v.verify_at(&h, body, at(TS)).unwrap();
        assert_eq!(Zoom::url_validation_response(&v, &ok, body), None);
    }
    // A verification by another scheme is never answered.
    let slack = verifier(Slack::new(), SECRET);
    let h = Signer::new(Slack::new(), SECRET)
        .unwrap()
        .timestamp(TS)
        .sign(VALIDATION)
        .unwrap();
    let ok = slack.verify_at(&h, VALIDATION, at(TS)).unwrap();
    assert_eq!(Zoom::url_validation_response(&slack, &ok, VALIDATION), None);
    assert_eq!(Zoom::url_validation_response(&v, &ok, VALIDATION), None);
}

#[test]
fn tampered_body_and_wrong_key() {
    let v = verifier(Zoom::new(), SECRET);
    let h = zoom_headers("1626230691", SIG);
    let mut tampered = BODY.to_vec();
    tampered[30] ^= 1;
    assert_eq!(
        check(&v, &h, &tampered, TS).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // A timestamp changed in the header is not the signed one.
    assert_eq!(
        check(&v, &zoom_headers("1626230692", SIG), BODY, TS).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    let wrong = verifier(Zoom::new(), "another_secret");
    assert_eq!(
        check(&wrong, &h, BODY, TS).unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn tolerance_both_directions() {
    let v = verifier(Zoom::new(), SECRET);
    let h = zoom_headers("1626230691", SIG);
    assert!(check(&v, &h, BODY, TS + 300).is_ok());
    assert!(matches!(
        check(&v, &h, BODY, TS + 301),
        Err(VerifyError::TimestampTooOld { .. })
    ));
    assert!(check(&v, &h, BODY, TS - 300).is_ok());
    assert!(matches!(
        check(&v, &h, BODY, TS - 301),
        Err(VerifyError::TimestampInFuture { .. })
    ));
    // Milliseconds read as seconds land far in the future.
    let signer = Signer::new(Zoom::new(), SECRET)
        .unwrap()
        .timestamp(TS * 1000);
    assert!(matches!(
        check(&v, &signer.sign(BODY).unwrap(), BODY, TS),
        Err(VerifyError::TimestampInFuture { .. })
    ));
}

#[test]
fn malformed_and_missing_headers() {
    let v = verifier(Zoom::new(), SECRET);
    let hex = &SIG[3..];
    for (ts, sig) in [
        ("1626230691", hex),
        ("1626230691", "v1=0e520bfe"),
        ("1626230691", "v0=not-hex"),
        ("1626230691", "v0="),
        ("01626230691", SIG),
        ("1626230691.0", SIG),
        ("-1626230691", SIG),
        ("now", SIG),
        ("1e9", SIG),
    ] {
        assert!(
            matches!(
                check(&v, &zoom_headers(ts, sig), BODY, TS),
                Err(VerifyError::MalformedHeader { .. })
            ),
            "{ts} {sig}"
        );
    }
    assert!(matches!(
        check(&v, &headers(&[("x-zm-signature", SIG)]), BODY, TS),
        Err(VerifyError::MissingHeader { .. })
    ));
    assert!(matches!(
        check(
            &v,
            &headers(&[("x-zm-request-timestamp", "1626230691")]),
            BODY,
            TS
        ),
        Err(VerifyError::MissingHeader { .. })
    ));
    let mut repeated = zoom_headers("1626230691", SIG);
    repeated.append("x-zm-signature", HeaderValue::from_static(SIG));
    assert!(matches!(
        check(&v, &repeated, BODY, TS),
        Err(VerifyError::MalformedHeader { .. })
    ));
}

#[test]
fn rotation_reports_the_matching_key() {
    let v = Verifier::builder(Zoom::new())
        .labeled_secret("previous", "old_secret_token")
        .labeled_secret("current", SECRET)
        .build()
        .unwrap();
    let h = zoom_headers("1626230691", SIG);
    let ok = v.verify_at(&h, BODY, at(TS)).unwrap();
    assert_eq!(ok.key_index(), 1);
    assert_eq!(ok.key_label(), Some("current"));
}

#[test]
fn dedup_key_is_a_digest_of_the_signed_content() {
    let v = verifier(Zoom::new(), SECRET);
    let key = check(&v, &zoom_headers("1626230691", SIG), BODY, TS).unwrap();
    // The unsigned tracking id changes nothing.
    let mut h = zoom_headers("1626230691", SIG);
    h.insert(
        "x-zm-trackingid",
        HeaderValue::from_static("v=2.0;clid=aw1;rid=WEB_1"),
    );
    assert_eq!(check(&v, &h, BODY, TS).unwrap(), key);
    // A delivery re-signed later is another key (Zoom documents no event id).
    let resigned = Signer::new(Zoom::new(), SECRET)
        .unwrap()
        .timestamp(TS + 60)
        .sign(BODY)
        .unwrap();
    assert_ne!(check(&v, &resigned, BODY, TS + 60).unwrap(), key);
}

#[test]
fn raw_body_not_reserialised_json() {
    // Zoom's samples hash `JSON.stringify(req.body)`; the raw bytes are what is signed, so a
    // pretty-printed copy of the same JSON does not verify.
    let v = verifier(Zoom::new(), SECRET);
    let value: serde_json::Value = serde_json::from_slice(BODY).unwrap();
    let pretty = serde_json::to_vec_pretty(&value).unwrap();
    assert_eq!(
        check(&v, &zoom_headers("1626230691", SIG), &pretty, TS).unwrap_err(),
        VerifyError::SignatureMismatch
    );
}
