//! SendGrid Event Webhook: ECDSA P-256 / SHA-256 over `{timestamp}{body}`.

use http::{HeaderMap, HeaderValue};
use sha2::{Digest, Sha256};
use webhook_receiver::providers::SendGrid;
use webhook_receiver::testing::Signer;
use webhook_receiver::{ConfigError, DedupKey, Verifier, VerifyError};

use super::{at, headers};

// sendgrid/sendgrid-nodejs packages/eventwebhook/src/eventwebhook.spec.js @498e232 (the same
// values are in sendgrid/sendgrid-python test/unit/test_eventwebhook.py @76788e7): the
// single-event case. The payload is the spec's `JSON.stringify([...]) + '\r\n'`.
const KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g==";
const SIG: &str = "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM=";
const TS: i64 = 1_600_112_502;
const PAYLOAD: &[u8] = b"[{\"email\":\"hello@world.com\",\"event\":\"dropped\",\"reason\":\"Bounced Address\",\"sg_event_id\":\"ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA\",\"sg_message_id\":\"LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0\",\"smtp-id\":\"<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>\",\"timestamp\":1600112492}]\r\n";
// The spec's "should reject for invalid key" key.
const OTHER_KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqTxd43gyp8IOEto2LdIfjRQrIbsd4SXZkLW6jDutdhXSJCWHw8REntlo7aNDthvj+y7GjUuFDb/R1NGe1OPzpA==";

fn sg_headers(signature: &str, timestamp: &str) -> HeaderMap {
    headers(&[
        ("x-twilio-email-event-webhook-signature", signature),
        ("x-twilio-email-event-webhook-timestamp", timestamp),
    ])
}

fn verifier(key: &str) -> Verifier {
    Verifier::builder(SendGrid::new())
        .public_key(key)
        .build()
        .unwrap()
}

#[test]
fn official_single_event_vector() {
    let v = verifier(KEY);
    let h = sg_headers(SIG, "1600112502");
    let ok = v.verify_at(&h, PAYLOAD, at(TS)).unwrap();
    assert_eq!(ok.scheme(), "sendgrid");
    assert_eq!(ok.unix_timestamp(), Some(TS));
    // A batch has no signed delivery id.
    assert_eq!(ok.event_id(), None);
}

#[test]
fn official_multi_event_vector() {
    // eventwebhook.spec.js @498e232, "should verify a valid multi event signature": the events
    // are separated by `},\r\n{` and the body ends in `\r\n`.
    let key = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEQ4LIFtWztlsF7skFqOncjD1lun4H5w8XOhyOArHW9RcIx/FfEzx6cikC/yPfUvwaX/JScE7Fc9CJD2afQ9Ok3Q==";
    let signature = "MEYCIQC/I4o6vCgqRYrTljjoVWB/GRWNtxeePlLMHr3x9ETeRQIhAIpV+03nREPTTHWSW0wIOA0EoMPdcNgXa70yCaqDJlu5";
    let body = b"[{\"email\":\"invalid@gmail.com\",\"event\":\"processed\",\"send_at\":0,\"sg_event_id\":\"cHJvY2Vzc2VkLTE5OTQyMTEyLXFOd0JMZ1BRUWpXNkRKdktRd1NBYnctMA\",\"sg_message_id\":\"qNwBLgPQQjW6DJvKQwSAbw.filterdrecv-canary-547b64655b-cw6zx-1-6089EA4A-56.0\",\"smtp-id\":\"<qNwBLgPQQjW6DJvKQwSAbw@ismtpd0178p1mdw1.sendgrid.net>\",\"timestamp\":1619651146},\r\n{\"email\":\"invalid@gmail.com\",\"event\":\"bounce\",\"ip\":\"167.89.101.76\",\"reason\":\"552 5.2.2 The email account that you tried to reach is over quota and inactive. Please direct the recipient to https://support.google.com/mail/?p=OverQuotaPerm c17si1130468pgv.34 - gsmtp\",\"sg_event_id\":\"Ym91bmNlLTAtMTk5NDIxMTItcU53QkxnUFFRalc2REp2S1F3U0Fidy0w\",\"sg_message_id\":\"qNwBLgPQQjW6DJvKQwSAbw.filterdrecv-canary-547b64655b-cw6zx-1-6089EA4A-56.0\",\"smtp-id\":\"<qNwBLgPQQjW6DJvKQwSAbw@ismtpd0178p1mdw1.sendgrid.net>\",\"status\":\"5.2.2\",\"timestamp\":1619651147,\"tls\":1,\"type\":\"blocked\"}]\r\n";
    let v = verifier(key);
    let h = sg_headers(signature, "1619651159");
    assert!(v.verify_at(&h, body, at(1_619_651_159)).is_ok());
    // The CRLF trap: the same events with `\n` line endings are other bytes.
    let lf: Vec<u8> = String::from_utf8_lossy(body)
        .replace("\r\n", "\n")
        .into_bytes();
    assert_eq!(
        v.verify_at(&h, &lf, at(1_619_651_159)).unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn official_2020_vector() {
    // sendgrid-nodejs eventwebhook.spec.js @865f09d: a JSON object body, no line ending.
    let key = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA==";
    let signature = "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH2j/0=";
    let body = br#"{"category":"example_payload","event":"test_event","message_id":"message_id"}"#;
    let v = verifier(key);
    assert!(
        v.verify_at(
            &sg_headers(signature, "1588788367"),
            body,
            at(1_588_788_367)
        )
        .is_ok()
    );
    // The same spec's "bad signature": one bit of `s` changed.
    let bad = "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH3j/0=";
    assert_eq!(
        v.verify_at(&sg_headers(bad, "1588788367"), body, at(1_588_788_367))
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn official_negatives() {
    // eventwebhook.spec.js @498e232: invalid key, bad payload, bad signature, bad timestamp.
    let h = sg_headers(SIG, "1600112502");
    assert_eq!(
        verifier(OTHER_KEY)
            .verify_at(&h, PAYLOAD, at(TS))
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    let v = verifier(KEY);
    assert_eq!(
        v.verify_at(&h, b"payload", at(TS)).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    let bad = "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH3j/0=";
    let err = v
        .verify_at(&sg_headers(bad, "1600112502"), PAYLOAD, at(TS))
        .unwrap_err();
    assert_eq!(err, VerifyError::SignatureMismatch);
    assert_eq!(err.status(), 401);
    // The SDK merely fails to verify "timestamp"; here it is a malformed header, before any
    // signature work.
    assert!(matches!(
        v.verify_at(&sg_headers(SIG, "timestamp"), PAYLOAD, at(TS)),
        Err(VerifyError::MalformedHeader { ref name, .. })
            if name == "x-twilio-email-event-webhook-timestamp"
    ));
    // The trailing CRLF is signed.
    assert_eq!(
        v.verify_at(&h, &PAYLOAD[..PAYLOAD.len() - 2], at(TS))
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn both_ecdsa_s_values_verify_as_in_the_sdks() {
    // The official signature has a "high" s; the same signature with s replaced by n − s
    // (computed with Python `cryptography`) verifies too, in every SendGrid SDK and here.
    let low_s = "MEQCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiA352jxkzMFHWEakvZHkFpGvMu+Ix+PzzgcJOUKQR6+fg==";
    let v = verifier(KEY);
    assert!(
        v.verify_at(&sg_headers(low_s, "1600112502"), PAYLOAD, at(TS))
            .is_ok()
    );
}

#[test]
fn signer_round_trip_and_wrong_key() {
    let (signer, public_key) = Signer::generate(SendGrid::new()).unwrap();
    let v = verifier(&public_key);
    let body =
        b"[{\"email\":\"a@example.com\",\"event\":\"delivered\",\"sg_event_id\":\"e1\"}]\r\n";
    let h = signer.clone().timestamp(TS).sign(body).unwrap();
    assert_eq!(h["x-twilio-email-event-webhook-timestamp"], "1600112502");
    assert!(v.verify_at(&h, body, at(TS)).is_ok());
    // Tampered body, and the official key does not verify the signer's signature.
    let mut tampered = body.to_vec();
    tampered[10] ^= 1;
    assert_eq!(
        v.verify_at(&h, &tampered, at(TS)).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    assert_eq!(
        verifier(KEY).verify_at(&h, body, at(TS)).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // The timestamp is signed.
    let mut moved = h.clone();
    moved.insert(
        "x-twilio-email-event-webhook-timestamp",
        HeaderValue::from_static("1600112503"),
    );
    assert_eq!(
        v.verify_at(&moved, body, at(TS)).unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn expired_and_future_timestamps() {
    // SendGrid documents no tolerance: 5 minutes each way is this crate's policy.
    let v = verifier(KEY);
    let h = sg_headers(SIG, "1600112502");
    assert!(v.verify_at(&h, PAYLOAD, at(TS + 300)).is_ok());
    assert!(v.verify_at(&h, PAYLOAD, at(TS - 300)).is_ok());
    assert!(matches!(
        v.verify_at(&h, PAYLOAD, at(TS + 301)),
        Err(VerifyError::TimestampTooOld { age_secs: 301, .. })
    ));
    assert!(matches!(
        v.verify_at(&h, PAYLOAD, at(TS - 301)),
        Err(VerifyError::TimestampInFuture {
            ahead_secs: 301,
            ..
        })
    ));
}

#[test]
fn missing_and_malformed_headers() {
    let v = verifier(KEY);
    for name in [
        "x-twilio-email-event-webhook-signature",
        "x-twilio-email-event-webhook-timestamp",
    ] {
        let mut h = sg_headers(SIG, "1600112502");
        h.remove(name);
        assert_eq!(
            v.verify_at(&h, PAYLOAD, at(TS)).unwrap_err(),
            VerifyError::MissingHeader {
                name: name.to_owned().into()
            }
        );
        let mut h = sg_headers(SIG, "1600112502");
        h.append(name, HeaderValue::from_static("x"));
        assert!(matches!(
            v.verify_at(&h, PAYLOAD, at(TS)),
            Err(VerifyError::MalformedHeader { .. })
        ));
    }
    for signature in ["not*base64", "AAAA", &"A".repeat(200)] {
        let err = v
            .verify_at(&sg_headers(signature, "1600112502"), PAYLOAD, at(TS))
            .unwrap_err();
        assert!(
            matches!(err, VerifyError::MalformedHeader { .. }),
            "{signature}: {err:?}"
        );
        assert_eq!(err.status(), 400);
    }
    // Base64 of bytes that are not a DER signature: nothing to verify, so no match.
    assert_eq!(
        v.verify_at(
            &sg_headers("AAECAwQFBgcICQoLDA0ODw==", "1600112502"),
            PAYLOAD,
            at(TS)
        )
        .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    for timestamp in ["01600112502", "1600112502.0", "-1", "2020-09-14T19:41:42Z"] {
        assert!(
            matches!(
                v.verify_at(&sg_headers(SIG, timestamp), PAYLOAD, at(TS)),
                Err(VerifyError::MalformedHeader { .. })
            ),
            "{timestamp}"
        );
    }
}

#[test]
fn rotation_reports_the_matching_key() {
    let v = Verifier::builder(SendGrid::new())
        .labeled_secret("previous", OTHER_KEY)
        .labeled_secret("current", KEY)
        .build()
        .unwrap();
    let h = sg_headers(SIG, "1600112502");
    let ok = v.verify_at(&h, PAYLOAD, at(TS)).unwrap();
    assert_eq!(ok.key_index(), 1);
    assert_eq!(ok.key_label(), Some("current"));
}

#[test]
fn dedup_key_is_the_digest_of_the_signed_delivery() {
    let v = verifier(KEY);
    let mut h = sg_headers(SIG, "1600112502");
    let key = v
        .verify_at(&h, PAYLOAD, at(TS))
        .unwrap()
        .dedup_key()
        .into_owned();
    let mut content = b"1600112502".to_vec();
    content.extend_from_slice(PAYLOAD);
    let DedupKey::Digest(digest) = &key else {
        panic!("expected a digest, got {key:?}");
    };
    assert_eq!(digest.as_bytes(), Sha256::digest(&content).as_slice());
    // Unsigned headers change nothing; per-event ids (`sg_event_id`) are the user's to use.
    h.insert(
        "x-message-id",
        HeaderValue::from_static("ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA"),
    );
    assert_eq!(v.verify_at(&h, PAYLOAD, at(TS)).unwrap().dedup_key(), key);
}

#[test]
fn keys_as_mail_settings_shows_them() {
    // Base64 DER without armour (as shown), with stray whitespace, or as PEM: on one line as
    // sendgrid-python's `convert_public_key_to_ecdsa` builds it, or wrapped at 64 columns.
    let pem = format!("-----BEGIN PUBLIC KEY-----\n{KEY}\n-----END PUBLIC KEY-----\n");
    let wrapped = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n{}\n-----END PUBLIC KEY-----",
        &KEY[..64],
        &KEY[64..]
    );
    for key in [KEY.to_owned(), format!("  {KEY}\n"), pem, wrapped] {
        let v = verifier(&key);
        assert!(
            v.verify_at(&sg_headers(SIG, "1600112502"), PAYLOAD, at(TS))
                .is_ok()
        );
    }
    for bad in ["", "not base64!", "AAAA", &KEY[..60]] {
        let err = Verifier::builder(SendGrid::new())
            .public_key(bad)
            .build()
            .unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::InvalidSecret { .. } | ConfigError::EmptySecret { .. }
            ),
            "{bad:?}: {err:?}"
        );
    }
}
