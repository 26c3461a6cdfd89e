//! Asana: `X-Hook-Signature` (hex HMAC-SHA256 of the body) keyed with the handshake's
//! `X-Hook-Secret`, used raw; the handshake helpers.
//!
//! Asana publishes no signed example. The secret is the one its docs show in the handshake
//! example (developers.asana.com "Establish a webhook"; `Asana/developer-docs`); the body
//! follows the event schema of its API reference; every MAC below was computed with Python's
//! `hmac` module (`hmac.new(secret, body, hashlib.sha256).hexdigest()`), the algorithm of
//! Asana's sample receivers (`Asana/devrel-examples` @7f18334,
//! `python/webhooks/webhook_inspector.py`, `javascript/webhooks-nodejs/index.js`).

use http::{HeaderMap, HeaderValue};
use webhook_receiver::providers::Asana;
use webhook_receiver::testing::Signer;
use webhook_receiver::{DedupKey, Verifier, VerifyError};

use super::{headers, verifier};

const SECRET: &str = "b537207f20cbfa02357cf448134da559e8bd39d61597dcd5631b8012eae53e81";
const BODY: &[u8] = br#"{"events":[{"user":{"gid":"1513","resource_type":"user"},"created_at":"2026-02-22T02:06:58.147Z","action":"changed","resource":{"gid":"1337","resource_type":"task","resource_subtype":"default_task"},"parent":null,"change":{"field":"name","action":"changed"}}]}"#;
const SIG: &str = "28d4dec8da7110975258cb22dfb44bf1801f19711d9ad859e7cd4eaacd57b3a4";

fn signed(value: &str) -> HeaderMap {
    headers(&[("x-hook-signature", value)])
}

#[test]
fn computed_vector_and_signer() {
    let v = verifier(Asana::new(), SECRET);
    let h = signed(SIG);
    let ok = v.verify(&h, BODY).unwrap();
    assert_eq!(ok.scheme(), "asana");
    assert_eq!(ok.unix_timestamp(), None);
    assert_eq!(ok.event_id(), None);
    assert!(matches!(ok.dedup_key(), DedupKey::Digest(_)));
    let h = Signer::new(Asana::new(), SECRET)
        .unwrap()
        .sign(BODY)
        .unwrap();
    assert_eq!(h["x-hook-signature"], SIG);
}

#[test]
fn the_secret_is_not_hex_decoded() {
    // The MAC under the hex-decoded secret (Python's `bytes.fromhex`): Asana does not do that.
    let decoded = "99bb0c6323cfbde0572ee56aa9a9e4dd5e070a63f6d5e9ec73830d4ff7c73ff8";
    assert_eq!(
        verifier(Asana::new(), SECRET)
            .verify(&signed(decoded), BODY)
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn tampered_body_and_wrong_key() {
    let v = verifier(Asana::new(), SECRET);
    let tampered = String::from_utf8(BODY.to_vec())
        .unwrap()
        .replace("\"1337\"", "\"1338\"");
    assert_eq!(
        v.verify(&signed(SIG), tampered.as_bytes()).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    assert_eq!(
        verifier(Asana::new(), "another-secret")
            .verify(&signed(SIG), BODY)
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn malformed_and_missing_signatures() {
    let v = verifier(Asana::new(), SECRET);
    for value in [
        format!("sha256={SIG}"),
        SIG[..63].to_owned(),
        format!("{SIG}00"),
        "z".repeat(64),
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
    assert!(v.verify(&signed(&SIG.to_uppercase()), BODY).is_ok());
    assert_eq!(
        v.verify(&HeaderMap::new(), BODY).unwrap_err(),
        VerifyError::MissingHeader {
            name: "x-hook-signature".into()
        }
    );
    let mut twice = signed(SIG);
    twice.append("x-hook-signature", HeaderValue::from_static(SIG));
    assert!(matches!(
        v.verify(&twice, BODY),
        Err(VerifyError::MalformedHeader { .. })
    ));
}

#[test]
fn two_webhooks_two_secrets() {
    let v = Verifier::builder(Asana::new())
        .labeled_secret("project-webhook", SECRET)
        .labeled_secret("task-webhook", "second-webhook-secret")
        .build()
        .unwrap();
    let h = signed("848ccd80e856ba001e9f0a0794270abd82de1dfd3ea3fc46a56983be2f5e77c8");
    let ok = v.verify(&h, BODY).unwrap();
    assert_eq!((ok.key_index(), ok.key_label()), (1, Some("task-webhook")));
}

#[test]
fn retries_and_heartbeats_share_a_digest() {
    let v = verifier(Asana::new(), SECRET);
    let heartbeat = br#"{"events":[]}"#;
    let h = signed("10468027b67df18c739cc4794c6fc2d2806dcaaf2259fc3e1ed9d26433659853");
    let first = v.verify(&h, heartbeat).unwrap().dedup_key().into_owned();
    let mut again = h.clone();
    // Unsigned headers change nothing.
    again.insert("x-request-id", HeaderValue::from_static("another"));
    assert_eq!(v.verify(&again, heartbeat).unwrap().dedup_key(), first);
    assert_ne!(v.verify(&signed(SIG), BODY).unwrap().dedup_key(), first);
}

#[test]
fn handshake_is_answered_before_verification() {
    let handshake = headers(&[("x-hook-secret", SECRET)]);
    assert_eq!(Asana::handshake_secret(&handshake), Some(SECRET));
    let answer = Asana::handshake_response(&handshake).unwrap();
    assert_eq!(answer["x-hook-secret"], SECRET);
    assert_eq!(answer.len(), 1);
    // It carries no signature: verifying it fails, so it must be routed first.
    assert_eq!(
        verifier(Asana::new(), SECRET)
            .verify(&handshake, b"")
            .unwrap_err(),
        VerifyError::MissingHeader {
            name: "x-hook-signature".into()
        }
    );
    // Not handshakes: an event, nothing, a repeated or empty secret, a signed request.
    assert_eq!(Asana::handshake_secret(&signed(SIG)), None);
    assert_eq!(Asana::handshake_secret(&HeaderMap::new()), None);
    let mut twice = handshake.clone();
    twice.append("x-hook-secret", HeaderValue::from_static("other"));
    assert_eq!(Asana::handshake_secret(&twice), None);
    assert_eq!(
        Asana::handshake_secret(&headers(&[("x-hook-secret", " ")])),
        None
    );
    let both = headers(&[("x-hook-secret", SECRET), ("x-hook-signature", SIG)]);
    assert_eq!(Asana::handshake_secret(&both), None);
    assert!(Asana::handshake_response(&both).is_none());
}
