//! Twitch EventSub (webhook transport): HMAC-SHA256 over `{message id}{timestamp}{body}`.
//!
//! Twitch publishes no fixed example with a real signature (the docs' sample headers carry a
//! shortened one), so the vectors here use the docs' sample id, timestamp and challenge body and
//! are computed with the docs' algorithm (Node `crypto.createHmac`, cross-checked with
//! `openssl dgst -sha256 -hmac`).

use http::{HeaderMap, HeaderValue};
use time::OffsetDateTime;
use webhook_receiver::providers::{Scheme, Tolerance, Twitch};
use webhook_receiver::testing::Signer;
use webhook_receiver::{ConfigError, DedupKey, Verifier, VerifyError};

use super::{at, headers};

const SECRET: &str = "this-is-my-eventsub-secret";
// dev.twitch.tv/docs/eventsub/handling-webhook-events, "Responding to a challenge request":
// the sample message id, timestamp and body (the body as `JSON.stringify` writes it).
const ID: &str = "e76c6bd4-55c9-4987-8304-da1588d8988b";
const TS: &str = "2019-11-16T10:11:12.634234626Z";
const BODY: &[u8] = br#"{"challenge":"pogchamp-kappa-360noscope-vohiyo","subscription":{"id":"f1c2a387-161a-49f9-a165-0f21d7a4e1c4","status":"webhook_callback_verification_pending","type":"channel.follow","version":"1","cost":1,"condition":{"broadcaster_user_id":"12826"},"transport":{"method":"webhook","callback":"https://example.com/webhooks/callback"},"created_at":"2019-11-16T10:11:12.634234626Z"}}"#;
// HMAC-SHA256(SECRET, ID + TS + BODY), hex.
const SIG: &str = "sha256=ace7ad47de67bc4d91e3ed2d4488ce1e2609703acf0cdb02237d443c1f2dcc86";

/// The instant of `TS`, to the nanosecond.
fn ts_at() -> OffsetDateTime {
    OffsetDateTime::parse(TS, &time::format_description::well_known::Rfc3339).unwrap()
}

fn twitch_headers(id: &str, timestamp: &str, signature: &str) -> HeaderMap {
    headers(&[
        ("twitch-eventsub-message-id", id),
        ("twitch-eventsub-message-timestamp", timestamp),
        ("twitch-eventsub-message-signature", signature),
        (
            "twitch-eventsub-message-type",
            "webhook_callback_verification",
        ),
        ("twitch-eventsub-message-retry", "0"),
        ("twitch-eventsub-subscription-type", "channel.follow"),
        ("twitch-eventsub-subscription-version", "1"),
    ])
}

fn verifier(secret: &str) -> Verifier {
    Verifier::builder(Twitch::new())
        .secret(secret)
        .build()
        .unwrap()
}

#[test]
fn docs_algorithm_vector() {
    let v = verifier(SECRET);
    let h = twitch_headers(ID, TS, SIG);
    let ok = v.verify_at(&h, BODY, ts_at()).unwrap();
    assert_eq!(ok.scheme(), "twitch");
    assert_eq!(ok.event_id().as_deref(), Some(ID));
    assert_eq!(ok.dedup_key(), DedupKey::EventId(ID.into()));
    assert_eq!(ok.unix_timestamp_millis(), Some(1_573_899_072_634));
    // The challenge to echo.
    assert_eq!(
        Twitch::challenge(&h, BODY).as_deref(),
        Some("pogchamp-kappa-360noscope-vohiyo")
    );
    assert_eq!(Twitch::message_type(&h), Some(Twitch::VERIFICATION));
    // Uppercase hex is the same signature.
    let upper = twitch_headers(ID, TS, &format!("sha256={}", SIG[7..].to_uppercase()));
    assert!(v.verify_at(&upper, BODY, ts_at()).is_ok());
}

#[test]
fn the_nanosecond_text_is_signed_verbatim() {
    let v = verifier(SECRET);
    // The same instant written with less precision, or in another offset, is other signed text.
    for other in [
        "2019-11-16T10:11:12.634Z",
        "2019-11-16T10:11:12.6342346Z",
        "2019-11-16T11:11:12.634234626+01:00",
    ] {
        assert_eq!(
            v.verify_at(&twitch_headers(ID, other, SIG), BODY, ts_at())
                .unwrap_err(),
            VerifyError::SignatureMismatch,
            "{other}"
        );
    }
}

#[test]
fn what_the_twitch_cli_signs() {
    // twitchdev/twitch-cli internal/events/trigger/forward_event.go @fd7dac6 sends the
    // `--timestamp` text as the header but signs Go's `time.RFC3339Nano` rendering of it, which
    // drops the fraction's trailing zeros: here `…634234600Z` is sent and `…6342346Z` signed.
    // HMAC-SHA256(SECRET, ID + "2019-11-16T10:11:12.6342346Z" + BODY), computed with Node.
    let cli = "sha256=55b0bb689f651a2e4b2856e4057b356d06390ba55fe5f0faa02bd98340f74134";
    let sent = "2019-11-16T10:11:12.634234600Z";
    let v = verifier(SECRET);
    let h = twitch_headers(ID, sent, cli);
    let ok = v.verify_at(&h, BODY, ts_at()).unwrap();
    assert_eq!(ok.event_id().as_deref(), Some(ID));
    // Likewise a zero offset written `+00:00`, which Go renders `Z`: the docs' signature (over
    // `…Z`) verifies with the header `…+00:00`.
    let offset = twitch_headers(ID, "2019-11-16T10:11:12.634234626+00:00", SIG);
    assert!(v.verify_at(&offset, BODY, ts_at()).is_ok());
    // The header text itself still verifies when it is what was signed.
    let signer = Signer::new(Twitch::new(), SECRET).unwrap();
    let signed = signer
        .id(ID)
        .timestamp_millis(1_573_899_072_634)
        .sign(BODY)
        .unwrap();
    assert_eq!(
        signed["twitch-eventsub-message-timestamp"],
        "2019-11-16T10:11:12.634Z"
    );
    assert!(v.verify_at(&signed, BODY, ts_at()).is_ok());
    // Another instant in the header does not match the CLI's signature.
    let moved = twitch_headers(ID, "2019-11-16T10:11:12.634234700Z", cli);
    assert_eq!(
        v.verify_at(&moved, BODY, ts_at()).unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn signer_round_trip_tampering_and_wrong_secret() {
    let signer = Signer::new(Twitch::new(), SECRET).unwrap().id("msg-1");
    let body =
        br#"{"subscription":{"type":"stream.online"},"event":{"broadcaster_user_id":"1337"}}"#;
    let h = signer.clone().timestamp(1_700_000_000).sign(body).unwrap();
    assert_eq!(
        h["twitch-eventsub-message-timestamp"],
        "2023-11-14T22:13:20Z"
    );
    assert_eq!(h["twitch-eventsub-message-type"], Twitch::NOTIFICATION);
    let v = verifier(SECRET);
    assert!(v.verify_at(&h, body, at(1_700_000_000)).is_ok());
    assert!(v.verify(&signer.sign(body).unwrap(), body).is_ok());

    let mut tampered = body.to_vec();
    tampered[5] ^= 1;
    assert_eq!(
        v.verify_at(&h, &tampered, at(1_700_000_000)).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // The message id is signed: changing it breaks the signature (so it can key dedup).
    let mut other_id = h.clone();
    other_id.insert(
        "twitch-eventsub-message-id",
        HeaderValue::from_static("msg-2"),
    );
    assert_eq!(
        v.verify_at(&other_id, body, at(1_700_000_000)).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    let err = verifier("another-secret-of-some-length")
        .verify_at(&h, body, at(1_700_000_000))
        .unwrap_err();
    assert_eq!(err, VerifyError::SignatureMismatch);
    assert_eq!(err.status(), 401);
}

#[test]
fn ten_minutes_past_five_minutes_future() {
    assert_eq!(
        Twitch::new().default_tolerance(),
        Tolerance::new(
            std::time::Duration::from_secs(600),
            std::time::Duration::from_secs(300)
        )
    );
    let t = 1_700_000_000;
    let h = Signer::new(Twitch::new(), SECRET)
        .unwrap()
        .timestamp(t)
        .sign(b"{}")
        .unwrap();
    let v = verifier(SECRET);
    assert!(v.verify_at(&h, b"{}", at(t + 600)).is_ok());
    assert!(v.verify_at(&h, b"{}", at(t - 300)).is_ok());
    assert_eq!(
        v.verify_at(&h, b"{}", at(t + 601)).unwrap_err(),
        VerifyError::TimestampTooOld {
            age_secs: 601,
            tolerance_secs: 600
        }
    );
    assert_eq!(
        v.verify_at(&h, b"{}", at(t - 301)).unwrap_err(),
        VerifyError::TimestampInFuture {
            ahead_secs: 301,
            tolerance_secs: 300
        }
    );
    // The nanosecond vector is refused 10 minutes and 1 ms after its instant.
    let late = ts_at() + time::Duration::milliseconds(600_001);
    assert!(matches!(
        verifier(SECRET).verify_at(&twitch_headers(ID, TS, SIG), BODY, late),
        Err(VerifyError::TimestampTooOld { .. })
    ));
}

#[test]
fn missing_and_malformed_headers() {
    let v = verifier(SECRET);
    for name in [
        "twitch-eventsub-message-id",
        "twitch-eventsub-message-timestamp",
        "twitch-eventsub-message-signature",
    ] {
        let mut h = twitch_headers(ID, TS, SIG);
        h.remove(name);
        let err = v.verify_at(&h, BODY, ts_at()).unwrap_err();
        assert_eq!(
            err,
            VerifyError::MissingHeader {
                name: name.to_owned().into()
            }
        );
        assert_eq!(err.status(), 400);
        let mut h = twitch_headers(ID, TS, SIG);
        h.append(name, HeaderValue::from_static("x"));
        assert!(matches!(
            v.verify_at(&h, BODY, ts_at()),
            Err(VerifyError::MalformedHeader { .. })
        ));
    }
    for signature in [
        &SIG[7..],
        "sha1=ace7ad47de67bc4d91e3ed2d4488ce1e2609703a",
        "SHA256=ace7ad47de67bc4d91e3ed2d4488ce1e2609703acf0cdb02237d443c1f2dcc86",
        "sha256=",
        "sha256=xyz",
        "sha256=ace7ad47de67bc4d91e3ed2d4488ce1e2609703acf0cdb02237d443c1f2dcc",
    ] {
        let err = v
            .verify_at(&twitch_headers(ID, TS, signature), BODY, ts_at())
            .unwrap_err();
        assert!(
            matches!(err, VerifyError::MalformedHeader { ref name, .. } if name == "twitch-eventsub-message-signature"),
            "{signature}: {err:?}"
        );
    }
    for timestamp in [
        "1573899072",
        "2019-11-16",
        "2019-11-16T10:11:12.634234626",
        "2019-11-16T25:11:12Z",
        "yesterday",
    ] {
        let err = v
            .verify_at(&twitch_headers(ID, timestamp, SIG), BODY, ts_at())
            .unwrap_err();
        assert!(
            matches!(err, VerifyError::MalformedHeader { ref name, .. } if name == "twitch-eventsub-message-timestamp"),
            "{timestamp}: {err:?}"
        );
    }
}

#[test]
fn rotation_reports_the_matching_secret() {
    let v = Verifier::builder(Twitch::new())
        .labeled_secret("new", "the-new-secret-not-used-yet")
        .labeled_secret("old", SECRET)
        .build()
        .unwrap();
    let h = twitch_headers(ID, TS, SIG);
    let ok = v.verify_at(&h, BODY, ts_at()).unwrap();
    assert_eq!(ok.key_index(), 1);
    assert_eq!(ok.key_label(), Some("old"));
}

#[test]
fn unsigned_headers_do_not_change_the_dedup_key() {
    let v = verifier(SECRET);
    let mut h = twitch_headers(ID, TS, SIG);
    let key = v
        .verify_at(&h, BODY, ts_at())
        .unwrap()
        .dedup_key()
        .into_owned();
    h.insert(
        "twitch-eventsub-message-retry",
        HeaderValue::from_static("3"),
    );
    h.insert(
        "twitch-eventsub-message-type",
        HeaderValue::from_static("notification"),
    );
    h.remove("twitch-eventsub-subscription-type");
    assert_eq!(v.verify_at(&h, BODY, ts_at()).unwrap().dedup_key(), key);
}

#[test]
fn secrets_are_ten_to_a_hundred_ascii_characters() {
    for ok in ["0123456789", &"x".repeat(100)] {
        assert!(Verifier::builder(Twitch::new()).secret(ok).build().is_ok());
        assert!(Signer::new(Twitch::new(), ok).is_ok());
    }
    for bad in ["", "123456789", &"x".repeat(101), "sécret-with-accent"] {
        let err = Verifier::builder(Twitch::new())
            .labeled_secret("eventsub", bad)
            .build()
            .unwrap_err();
        assert_eq!(
            err,
            ConfigError::InvalidSecret {
                label: Some("eventsub".into()),
                reason: "a Twitch EventSub secret is 10 to 100 ASCII characters"
            },
            "{bad:?}"
        );
        assert!(bad.is_empty() || !err.to_string().contains(bad));
        assert!(Signer::new(Twitch::new(), bad).is_err());
    }
}

#[test]
fn challenge_only_for_verification_messages() {
    let h = twitch_headers(ID, TS, SIG);
    let mut notification = h.clone();
    notification.insert(
        "twitch-eventsub-message-type",
        HeaderValue::from_static(Twitch::NOTIFICATION),
    );
    assert_eq!(Twitch::challenge(&notification, BODY), None);
    assert_eq!(Twitch::message_type(&notification), Some("notification"));
    let mut untyped = h.clone();
    untyped.remove("twitch-eventsub-message-type");
    assert_eq!(Twitch::challenge(&untyped, BODY), None);
    assert_eq!(Twitch::message_type(&untyped), None);
    // A verification message whose body has no challenge string.
    assert_eq!(Twitch::challenge(&h, br#"{"subscription":{}}"#), None);
    assert_eq!(Twitch::challenge(&h, br#"{"challenge":42}"#), None);
    assert_eq!(Twitch::challenge(&h, b"not json"), None);
    assert_eq!(
        Twitch::challenge(&h, br#"{"challenge":"a\"b"}"#).as_deref(),
        Some("a\"b")
    );
}
