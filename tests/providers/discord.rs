//! Discord: Ed25519 over `{X-Signature-Timestamp}{body}`.
//!
//! Discord publishes no fixed example and `discord-interactions-js` generates a key per test run,
//! so the fixed vector below uses the RFC 8032 §7.1 TEST 1 key pair and the library's PING body.

use http::{HeaderMap, HeaderValue};
use webhook_receiver::providers::{Discord, Scheme};
use webhook_receiver::testing::Signer;
use webhook_receiver::{ConfigError, DedupKey, Secret, Verifier, VerifyError};

use super::{at, headers};

// RFC 8032 §7.1, TEST 1: the secret key (seed) and the public key derived from it.
const RFC_SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const RFC_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

const TS: i64 = 1_700_000_000;
// discord/discord-interactions-js src/__tests__/utils/SharedTestUtils.ts `pingRequestBody`
// (@ed17947), as `JSON.stringify` writes it.
const PING: &[u8] =
    br#"{"id":"787053080478613555","token":"ThisIsATokenFromDiscordThatIsVeryLong","type":1,"version":1}"#;
// Ed25519 over "1700000000" + PING with the RFC 8032 TEST 1 key, computed with Node's WebCrypto
// exactly as SharedTestUtils' `signRequestWithKeyPair` signs (and verified by the library's
// `verifyKey` code path), cross-checked with Python `cryptography`.
const PING_SIG: &str = "f0bd878adcef1f6d475c9644421905bd02b5de38e0d3ecfc6f58a711962c69ccc8dd7c9db312f9bdf08b1e1b8182e27a844da728c5e0dbb5507bf9931c1ed80b";

fn discord_headers(signature: &str, timestamp: &str) -> HeaderMap {
    headers(&[
        ("x-signature-ed25519", signature),
        ("x-signature-timestamp", timestamp),
    ])
}

fn verifier(public_key: &str) -> Verifier {
    Verifier::builder(Discord::new())
        .public_key(public_key)
        .build()
        .unwrap()
}

#[test]
fn fixed_vector_with_the_rfc8032_key() {
    let v = verifier(RFC_PUBLIC);
    let h = discord_headers(PING_SIG, "1700000000");
    let ok = v.verify_at(&h, PING, at(TS)).unwrap();
    assert_eq!(ok.scheme(), "discord");
    assert_eq!(ok.unix_timestamp(), Some(TS));
    assert_eq!(ok.event_id().as_deref(), Some("787053080478613555"));
    assert_eq!(
        ok.dedup_key(),
        DedupKey::EventId("787053080478613555".into())
    );

    // The primitive: the signer derives RFC 8032's public key from its seed, and Ed25519 being
    // deterministic, reproduces the signature byte for byte.
    let signer = Signer::new(Discord::new(), RFC_SEED).unwrap().timestamp(TS);
    assert_eq!(signer.public_key().as_deref(), Some(RFC_PUBLIC));
    let signed = signer.sign(PING).unwrap();
    assert_eq!(signed["x-signature-ed25519"], PING_SIG);
    assert_eq!(signed["x-signature-timestamp"], "1700000000");
    // Uppercase hex is the same signature.
    let upper = discord_headers(&PING_SIG.to_uppercase(), "1700000000");
    assert!(v.verify_at(&upper, PING, at(TS)).is_ok());
}

#[test]
fn signer_round_trip() {
    let (signer, public_key) = Signer::generate(Discord::new()).unwrap();
    assert_eq!(public_key.len(), 64, "hex of 32 bytes");
    let v = verifier(&public_key);
    let body = br#"{"id":"1","token":"t","type":2,"data":{"name":"hello"}}"#;
    let h = signer.clone().timestamp(TS).sign(body).unwrap();
    let ok = v.verify_at(&h, body, at(TS)).unwrap();
    assert_eq!(ok.event_id().as_deref(), Some("1"));
    // Without a timestamp the signer uses the current time.
    let h = signer.sign(body).unwrap();
    assert!(v.verify(&h, body).is_ok());
}

#[test]
fn tampered_body_timestamp_and_wrong_key() {
    let v = verifier(RFC_PUBLIC);
    let mut tampered = PING.to_vec();
    tampered[7] = b'9';
    assert_eq!(
        v.verify_at(&discord_headers(PING_SIG, "1700000000"), &tampered, at(TS))
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // The timestamp is signed: moving it breaks the signature even inside the window.
    assert_eq!(
        v.verify_at(&discord_headers(PING_SIG, "1700000001"), PING, at(TS))
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    let (_, other) = Signer::generate(Discord::new()).unwrap();
    let err = verifier(&other)
        .verify_at(&discord_headers(PING_SIG, "1700000000"), PING, at(TS))
        .unwrap_err();
    assert_eq!(err, VerifyError::SignatureMismatch);
    assert_eq!(err.status(), 401);
}

#[test]
fn discords_deliberately_invalid_signatures_get_401() {
    // Discord probes endpoints with well-formed signatures that do not verify, and expects 401.
    let v = verifier(RFC_PUBLIC);
    for signature in [
        "00".repeat(64),
        "ff".repeat(64),
        // A valid signature of another message under the same key (RFC 8032 TEST 1, empty).
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b".to_owned(),
    ] {
        let err = v
            .verify_at(&discord_headers(&signature, "1700000000"), PING, at(TS))
            .unwrap_err();
        assert_eq!(err, VerifyError::SignatureMismatch, "{signature}");
        assert_eq!(err.status(), 401);
    }
}

#[test]
fn expired_and_future_timestamps() {
    // Discord documents no tolerance: 5 minutes each way is this crate's policy.
    let v = verifier(RFC_PUBLIC);
    let h = discord_headers(PING_SIG, "1700000000");
    assert!(v.verify_at(&h, PING, at(TS + 300)).is_ok());
    assert!(v.verify_at(&h, PING, at(TS - 300)).is_ok());
    assert_eq!(
        v.verify_at(&h, PING, at(TS + 301)).unwrap_err(),
        VerifyError::TimestampTooOld {
            age_secs: 301,
            tolerance_secs: 300
        }
    );
    assert_eq!(
        v.verify_at(&h, PING, at(TS - 301)).unwrap_err(),
        VerifyError::TimestampInFuture {
            ahead_secs: 301,
            tolerance_secs: 300
        }
    );
    assert_eq!(
        Discord::new().default_tolerance(),
        webhook_receiver::providers::Tolerance::symmetric(std::time::Duration::from_secs(300))
    );
}

#[test]
fn missing_and_malformed_headers() {
    let v = verifier(RFC_PUBLIC);
    for name in ["x-signature-ed25519", "x-signature-timestamp"] {
        let mut h = discord_headers(PING_SIG, "1700000000");
        h.remove(name);
        let err = v.verify_at(&h, PING, at(TS)).unwrap_err();
        assert_eq!(
            err,
            VerifyError::MissingHeader {
                name: name.to_owned().into()
            }
        );
        assert_eq!(err.status(), 400);
        let mut h = discord_headers(PING_SIG, "1700000000");
        h.append(name, HeaderValue::from_static("x"));
        assert!(matches!(
            v.verify_at(&h, PING, at(TS)),
            Err(VerifyError::MalformedHeader { .. })
        ));
    }
    for signature in [
        "not hex at all",
        &PING_SIG[..126],
        &format!("{PING_SIG}00"),
        &format!("0x{}", &PING_SIG[2..]),
        "zz",
    ] {
        let err = v
            .verify_at(&discord_headers(signature, "1700000000"), PING, at(TS))
            .unwrap_err();
        assert!(
            matches!(err, VerifyError::MalformedHeader { ref name, .. } if name == "x-signature-ed25519"),
            "{signature}: {err:?}"
        );
    }
    for timestamp in ["01700000000", "1700000000.0", "-1700000000", "1.7e9", "now"] {
        let err = v
            .verify_at(&discord_headers(PING_SIG, timestamp), PING, at(TS))
            .unwrap_err();
        assert!(
            matches!(err, VerifyError::MalformedHeader { ref name, .. } if name == "x-signature-timestamp"),
            "{timestamp}: {err:?}"
        );
    }
}

#[test]
fn rotation_reports_the_matching_key() {
    let (_, old) = Signer::generate(Discord::new()).unwrap();
    let v = Verifier::builder(Discord::new())
        .labeled_secret("old", &old)
        .labeled_secret("current", RFC_PUBLIC)
        .build()
        .unwrap();
    let h = discord_headers(PING_SIG, "1700000000");
    let ok = v.verify_at(&h, PING, at(TS)).unwrap();
    assert_eq!(ok.key_index(), 1);
    assert_eq!(ok.key_label(), Some("current"));
}

#[test]
fn dedup_key_is_the_signed_interaction_id() {
    let v = verifier(RFC_PUBLIC);
    let mut h = discord_headers(PING_SIG, "1700000000");
    let key = v
        .verify_at(&h, PING, at(TS))
        .unwrap()
        .dedup_key()
        .into_owned();
    assert_eq!(key, DedupKey::EventId("787053080478613555".into()));
    // Headers outside the signature change nothing.
    h.insert(
        "x-request-id",
        HeaderValue::from_static("787053080478613556"),
    );
    h.insert("id", HeaderValue::from_static("other"));
    assert_eq!(v.verify_at(&h, PING, at(TS)).unwrap().dedup_key(), key);

    // A webhook-event body has no top-level id: its key is a digest of the signed content, the
    // same for the same request and different for another timestamp.
    let signer = Signer::new(Discord::new(), RFC_SEED).unwrap();
    let event = br#"{"version":1,"application_id":"1234560123453231555","type":1,"event":{"type":"APPLICATION_AUTHORIZED","timestamp":"2024-10-18T14:42:53.064834","data":{"integration_type":1}}}"#;
    let first = signer.clone().timestamp(TS).sign(event).unwrap();
    let again = signer.clone().timestamp(TS).sign(event).unwrap();
    let later = signer.timestamp(TS + 1).sign(event).unwrap();
    let k1 = v
        .verify_at(&first, event, at(TS))
        .unwrap()
        .dedup_key()
        .into_owned();
    let k2 = v
        .verify_at(&again, event, at(TS))
        .unwrap()
        .dedup_key()
        .into_owned();
    let k3 = v
        .verify_at(&later, event, at(TS))
        .unwrap()
        .dedup_key()
        .into_owned();
    assert!(matches!(k1, DedupKey::Digest(_)), "{k1:?}");
    assert_eq!(k1, k2);
    assert_ne!(k1, k3);
}

#[test]
fn ping_answers() {
    // Interaction PING: type 1 with a token.
    assert_eq!(Discord::ping_response(PING), Some(r#"{"type":1}"#));
    assert_eq!(
        Discord::ping_response(b" \n{\"type\":1,\"token\":\"t\",\"id\":\"1\"}"),
        Some(r#"{"type":1}"#)
    );
    // A webhook event (type 1 is EVENT there) must never be answered as a PING.
    let event = br#"{"version":1,"application_id":"1","type":1,"event":{"type":"ENTITLEMENT_CREATE","data":{}}}"#;
    assert_eq!(Discord::ping_response(event), None);
    assert!(!Discord::is_webhook_event_ping(event));
    // Other interactions.
    for body in [
        &br#"{"id":"1","token":"t","type":2,"data":{"type":1}}"#[..],
        br#"{"id":"1","token":"t","type":"1"}"#,
        br#"{"id":"1","token":"t","type":1.0}"#,
        br#"[{"type":1,"token":"t"}]"#,
        br#"{"type":1,"token":"t","type":1}"#,
        b"not json",
        b"",
    ] {
        assert_eq!(Discord::ping_response(body), None, "{body:?}");
    }
    // Webhook-event PING: type 0, answered 204.
    assert!(Discord::is_webhook_event_ping(
        br#"{"version":1,"application_id":"1","type":0}"#
    ));
    assert!(!Discord::is_webhook_event_ping(PING));
    assert!(!Discord::is_webhook_event_ping(b"[0]"));
}

#[test]
fn keys_are_the_portals_hex_public_key() {
    // Surrounding whitespace from a copy-paste is ignored.
    assert!(
        Verifier::builder(Discord::new())
            .public_key(&format!(" {RFC_PUBLIC}\n"))
            .build()
            .is_ok()
    );
    for bad in [
        "",
        "zz",
        &RFC_PUBLIC[..62],
        // The base64 form of a key is not what the portal shows.
        "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
        // The identity point: a weak key under which forgeries are trivial.
        "0100000000000000000000000000000000000000000000000000000000000000",
    ] {
        let err = Verifier::builder(Discord::new())
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
    // A shared secret cannot verify an Ed25519 scheme.
    let err = Verifier::builder(Discord::new())
        .raw_secret(None, Secret::from_bytes(b"secret".to_vec()).unwrap())
        .build()
        .unwrap_err();
    assert!(matches!(err, ConfigError::InvalidSecret { .. }), "{err:?}");
}

/// Discord probes endpoints with invalid signatures and expects 401 for each: a malformed or
/// missing signature header is answered 401 too, not 400.
#[test]
fn every_verification_failure_is_answered_401() {
    use webhook_receiver::providers::Scheme as _;
    let scheme = webhook_receiver::providers::Discord::new();
    for error in [
        webhook_receiver::VerifyError::SignatureMismatch,
        webhook_receiver::VerifyError::MissingHeader {
            name: "x-signature-ed25519".into(),
        },
        webhook_receiver::VerifyError::MalformedHeader {
            name: "x-signature-ed25519".into(),
            reason: "bad",
        },
    ] {
        assert_eq!(
            scheme.reject_status(&error),
            http::StatusCode::UNAUTHORIZED,
            "{error}"
        );
    }
    assert_eq!(
        scheme.reject_status(&webhook_receiver::VerifyError::BodyTooLarge { limit: 1 }),
        http::StatusCode::PAYLOAD_TOO_LARGE
    );
}
