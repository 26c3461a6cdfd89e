//! Telnyx: Ed25519 over `{telnyx-timestamp}|{body}`, base64 key and signature.
//!
//! Telnyx's SDK tests generate a key per run (`team-telnyx/telnyx-python`, the former
//! `tests/test_webhook.py` fixtures) and its docs publish no fixed example, so the fixed vector
//! below uses the RFC 8032 §7.1 TEST 1 key pair: the signature was computed with Python
//! `cryptography` over `1700000000|` + a `call.initiated` v2 payload, exactly as
//! `telnyx/lib/webhook_verification.py` (@6d68c8ca0036ba28c3406cca742f3d4939a4e58c) builds the
//! signed payload, and is reproduced by the crate's signer (Ed25519 is deterministic).

use http::{HeaderMap, HeaderValue};
use webhook_receiver::providers::Telnyx;
use webhook_receiver::testing::Signer;
use webhook_receiver::{ConfigError, DedupKey, Verifier, VerifyError};

use super::{at, headers};

const RFC_SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const PUBLIC_KEY: &str = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
const TS: i64 = 1_700_000_000;
const BODY: &[u8] = br#"{"data":{"event_type":"call.initiated","id":"0ccc7b54-4df3-4bca-a65a-3da1ecc777f0","occurred_at":"2018-02-02T22:25:27.521992Z","payload":{"call_control_id":"v2:T02llQxIyaRkhfRKxgAP8nY511EhFLizdvdUKJiSw8d6A9BborherQ","direction":"incoming","state":"parked"},"record_type":"event"},"meta":{"attempt":1,"delivered_to":"https://example.com/webhooks"}}"#;
const SIG: &str =
    "mBRWwyBJiyou9Xqz5LSSuhbigyWA96nFq0/XBKJlPA/ZzyEgHH20tcWeoZVoR7ve6dQtrgCoBzMjtW74Ww7mDw==";

fn tx(sig: &str, ts: &str) -> HeaderMap {
    headers(&[("telnyx-signature-ed25519", sig), ("telnyx-timestamp", ts)])
}

fn verifier(key: &str) -> Verifier {
    Verifier::builder(Telnyx::new())
        .public_key(key)
        .build()
        .unwrap()
}

#[test]
fn fixed_vector_with_the_rfc8032_key() {
    let v = verifier(PUBLIC_KEY);
    let sent = tx(SIG, "1700000000");
    let ok = v.verify_at(&sent, BODY, at(TS)).unwrap();
    assert_eq!(ok.scheme(), "telnyx");
    assert_eq!(ok.unix_timestamp(), Some(TS));
    assert_eq!(
        ok.dedup_key(),
        DedupKey::EventId("0ccc7b54-4df3-4bca-a65a-3da1ecc777f0".into())
    );
    let signer = Signer::new(Telnyx::new(), RFC_SEED).unwrap().timestamp(TS);
    assert_eq!(signer.public_key().as_deref(), Some(PUBLIC_KEY));
    let signed = signer.sign(BODY).unwrap();
    assert_eq!(signed["telnyx-signature-ed25519"], SIG);
    assert_eq!(signed["telnyx-timestamp"], "1700000000");
}

#[test]
fn generated_key_round_trip() {
    let (signer, public_key) = Signer::generate(Telnyx::new()).unwrap();
    let v = verifier(&public_key);
    let h = signer.clone().timestamp(TS).sign(BODY).unwrap();
    assert!(v.verify_at(&h, BODY, at(TS)).is_ok());
    assert!(v.verify(&signer.sign(BODY).unwrap(), BODY).is_ok());
}

#[test]
fn pipe_separator_and_signed_timestamp() {
    let v = verifier(PUBLIC_KEY);
    // Moving the timestamp breaks the signature.
    assert_eq!(
        v.verify_at(&tx(SIG, "1700000001"), BODY, at(TS))
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // Discord's layout (no separator) with the same key is not Telnyx's.
    use ed25519_dalek::Signer as _;
    let key =
        ed25519_dalek::SigningKey::from_bytes(&hex::decode(RFC_SEED).unwrap().try_into().unwrap());
    let mut message = b"1700000000".to_vec();
    message.extend_from_slice(BODY);
    use base64::Engine as _;
    let no_pipe = base64::engine::general_purpose::STANDARD.encode(key.sign(&message).to_bytes());
    assert_eq!(
        v.verify_at(&tx(&no_pipe, "1700000000"), BODY, at(TS))
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn five_minutes_each_way() {
    let v = verifier(PUBLIC_KEY);
    let h = tx(SIG, "1700000000");
    assert!(v.verify_at(&h, BODY, at(TS + 300)).is_ok());
    assert!(matches!(
        v.verify_at(&h, BODY, at(TS + 301)),
        Err(VerifyError::TimestampTooOld { .. })
    ));
    assert!(v.verify_at(&h, BODY, at(TS - 300)).is_ok());
    assert!(matches!(
        v.verify_at(&h, BODY, at(TS - 301)),
        Err(VerifyError::TimestampInFuture { .. })
    ));
}

#[test]
fn tampered_wrong_key_malformed_missing() {
    let v = verifier(PUBLIC_KEY);
    let mut tampered = BODY.to_vec();
    tampered[12] ^= 1;
    assert_eq!(
        v.verify_at(&tx(SIG, "1700000000"), &tampered, at(TS))
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    let (_, other) = Signer::generate(Telnyx::new()).unwrap();
    assert_eq!(
        verifier(&other)
            .verify_at(&tx(SIG, "1700000000"), BODY, at(TS))
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // Timestamps the Python SDK's `int()` would take are refused.
    for ts in [
        "+1700000000",
        "1_700_000_000",
        "1700000000.0",
        "01700000000",
    ] {
        assert!(
            matches!(
                v.verify_at(&tx(SIG, ts), BODY, at(TS)),
                Err(VerifyError::MalformedHeader { .. })
            ),
            "{ts}"
        );
    }
    // Hex, base64url and short signatures are malformed.
    let url_safe = SIG.replace('/', "_").replace('+', "-");
    for sig in [hex::encode([1u8; 64]).as_str(), &url_safe, "AAAA"] {
        assert!(matches!(
            v.verify_at(&tx(sig, "1700000000"), BODY, at(TS)),
            Err(VerifyError::MalformedHeader { .. })
        ));
    }
    for name in ["telnyx-signature-ed25519", "telnyx-timestamp"] {
        let mut h = tx(SIG, "1700000000");
        h.remove(name);
        assert_eq!(
            v.verify_at(&h, BODY, at(TS)).unwrap_err(),
            VerifyError::MissingHeader { name: name.into() }
        );
    }
}

#[test]
fn key_formats() {
    // The portal's base64 public key; a hex one, a shared secret or garbage is refused.
    for bad in [
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "not base64!",
        "AAAA",
        "",
    ] {
        assert!(
            matches!(
                Verifier::builder(Telnyx::new()).public_key(bad).build(),
                Err(ConfigError::InvalidSecret { .. } | ConfigError::EmptySecret { .. })
            ),
            "{bad}"
        );
    }
    // A weak (small-order) key: the identity point.
    use base64::Engine as _;
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let weak = base64::engine::general_purpose::STANDARD.encode(identity);
    assert!(
        Verifier::builder(Telnyx::new())
            .public_key(&weak)
            .build()
            .is_err()
    );
}

#[test]
fn rotation_and_dedup_across_attempts() {
    let (new_signer, new_key) = Signer::generate(Telnyx::new()).unwrap();
    let v = Verifier::builder(Telnyx::new())
        .labeled_secret("new", &new_key)
        .labeled_secret("old", PUBLIC_KEY)
        .build()
        .unwrap();
    let sent2 = tx(SIG, "1700000000");
    let ok = v.verify_at(&sent2, BODY, at(TS)).unwrap();
    assert_eq!((ok.key_index(), ok.key_label()), (1, Some("old")));
    // A retry: new timestamp, `meta.attempt` 2, same `data.id` — the same dedup key.
    let retry_body = String::from_utf8(BODY.to_vec())
        .unwrap()
        .replace("\"attempt\":1", "\"attempt\":2");
    let h = new_signer
        .timestamp(TS + 60)
        .sign(retry_body.as_bytes())
        .unwrap();
    let again = v.verify_at(&h, retry_body.as_bytes(), at(TS + 60)).unwrap();
    assert_eq!(again.key_label(), Some("new"));
    assert_eq!(again.dedup_key(), ok.dedup_key());
    let mut h = tx(SIG, "1700000000");
    h.insert("telnyx-event-id", HeaderValue::from_static("other"));
    assert_eq!(
        v.verify_at(&h, BODY, at(TS)).unwrap().dedup_key(),
        ok.dedup_key()
    );
}
