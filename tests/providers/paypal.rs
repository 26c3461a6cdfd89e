//! PayPal, verified offline: RSA-SHA256 over `{id}|{time}|{webhook id}|{crc32(body)}` with the
//! certificate at `PAYPAL-CERT-URL`, fetched through a key source (no network: local test
//! certificates). The scheme itself was checked against the `ValidateCertTest` vector of
//! PayPal's own Java SDK (a real sandbox certificate, body and signature); that certificate is
//! not committed here.

use std::sync::LazyLock;

use http::{HeaderMap, HeaderValue};
use webhook_receiver::dedup::MemoryStore;
use webhook_receiver::keysource::{KeyCache, KeyError, KeyVerifyError};
use webhook_receiver::providers::PayPal;
use webhook_receiver::testing::{LocalKeys, Signer};
use webhook_receiver::{
    Algorithm, ConfigError, DedupKey, ManualClock, Outcome, Receiver, Request, Verifier,
    VerifyError,
};

use super::sns::{KEY_A, KEY_B, NOW, rsa_sign};
use super::{at, headers};

const CERT: &str = include_str!("../fixtures/keys/paypal-a.cert.pem");
const CERT_OTHER_CN: &str = include_str!("../fixtures/keys/other-cn-a.cert.pem");
const CERT_P256: &str = include_str!("../fixtures/keys/paypal-p256.cert.pem");
const CERT_URL: &str =
    "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77";
const WEBHOOK_ID: &str = "9XL90610J3647323C";
const TRANSMISSION_ID: &str = "d938e770-8046-11e6-8103-6b62a8a99ac4";
/// NOW, 2026-11-30T12:00:00Z.
const TIME: &str = "2026-11-30T12:00:00Z";
const BODY: &[u8] = br#"{"id":"WH-9UG43882HX7271132-6E0871324L7949614","event_version":"1.0","create_time":"2026-11-30T12:00:00Z","resource_type":"sale","event_type":"PAYMENT.SALE.COMPLETED","summary":"Payment completed for $ 21.0 USD","resource":{"id":"80F85758S3080410K","state":"completed","amount":{"total":"21.00","currency":"USD"}}}"#;

/// The headers PayPal sends for `body`, signed with `key` for `webhook_id`.
fn signed(key: &str, webhook_id: &str, id: &str, time: &str, body: &[u8]) -> HeaderMap {
    let message = format!("{id}|{time}|{webhook_id}|{}", crc32(body));
    let signature = rsa_sign(key, message.as_bytes(), false);
    headers(&[
        ("paypal-transmission-id", id),
        ("paypal-transmission-time", time),
        ("paypal-transmission-sig", &signature),
        ("paypal-cert-url", CERT_URL),
        ("paypal-auth-algo", "SHA256withRSA"),
    ])
}

/// CRC-32 (IEEE, reflected), written here independently of the crate.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Four bytes that, appended to `prefix`, give a body whose CRC-32 is `target`: CRC-32 is a
/// checksum, not a hash, and anyone can forge a body with a chosen one (the classic method: run
/// the register backwards from the target through the register's state after `prefix`).
fn forge_crc32(prefix: &[u8], target: u32) -> [u8; 4] {
    let table: Vec<u32> = (0..256u32)
        .map(|i| {
            (0..8).fold(i, |c, _| {
                if c & 1 == 1 {
                    (c >> 1) ^ 0xEDB8_8320
                } else {
                    c >> 1
                }
            })
        })
        .collect();
    // The top bytes of the table's entries are all distinct: each names its index.
    let mut reverse = [0u32; 256];
    for (i, t) in table.iter().enumerate() {
        reverse[(t >> 24) as usize] = (t << 8) ^ i as u32;
    }
    let mut backward = !target;
    for byte in (!crc32(prefix)).to_be_bytes() {
        backward = (backward << 8) ^ reverse[(backward >> 24) as usize] ^ u32::from(byte);
    }
    backward.to_le_bytes()
}

fn verifier() -> Verifier {
    Verifier::builder(PayPal::new(WEBHOOK_ID).unwrap())
        .build()
        .unwrap()
}

async fn verify(
    source: &LocalKeys,
    verifier: &Verifier,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<DedupKey<'static>, KeyVerifyError> {
    KeyCache::new(source.clone())
        .verify_request_at(verifier, &Request::new(headers, body), at(now))
        .await
        .map(|v| v.dedup_key().into_owned())
}

#[tokio::test]
async fn verifies_with_the_fetched_certificate_and_dedups_by_transmission() {
    let source = LocalKeys::new().with(CERT_URL, CERT);
    let h = signed(KEY_A, WEBHOOK_ID, TRANSMISSION_ID, TIME, BODY);
    let key = verify(&source, &verifier(), &h, BODY, NOW).await.unwrap();
    assert_eq!(key, DedupKey::EventId(TRANSMISSION_ID.into()));
    assert_eq!(source.fetches(), 1);
    // Every signed piece matters.
    let cases: [(&str, &str, &str, &[u8]); 4] = [
        ("WRONGWEBHOOKID0", TRANSMISSION_ID, TIME, BODY),
        (WEBHOOK_ID, "other-id", TIME, BODY),
        (WEBHOOK_ID, TRANSMISSION_ID, "2026-11-30T12:00:01Z", BODY),
        (WEBHOOK_ID, TRANSMISSION_ID, TIME, b"{}"),
    ];
    for (webhook_id, id, time, body) in cases {
        let mut tampered = signed(KEY_A, webhook_id, id, time, body);
        // Sent with the original delivery's pieces.
        tampered.insert(
            "paypal-transmission-id",
            HeaderValue::from_static(TRANSMISSION_ID),
        );
        tampered.insert("paypal-transmission-time", HeaderValue::from_static(TIME));
        let result = verify(&source, &verifier(), &tampered, BODY, NOW).await;
        assert!(
            matches!(
                result,
                Err(KeyVerifyError::Verify(VerifyError::SignatureMismatch))
            ),
            "{webhook_id} {id} {time}: {result:?}"
        );
    }
    // Another key.
    let h = signed(KEY_B, WEBHOOK_ID, TRANSMISSION_ID, TIME, BODY);
    assert!(matches!(
        verify(&source, &verifier(), &h, BODY, NOW).await,
        Err(KeyVerifyError::Verify(VerifyError::SignatureMismatch))
    ));
}

#[tokio::test]
async fn a_body_with_the_same_crc32_verifies_but_is_the_same_delivery() {
    // The documented weakness: the signature covers a CRC-32 of the body, which anyone can
    // match. The forged body verifies — and has the original's dedup key, so once the original
    // was processed the forgery is a duplicate.
    let original = crc32(BODY);
    let mut forged = br#"{"id":"WH-FORGED","event_type":"PAYMENT.SALE.COMPLETED","resource":{"amount":{"total":"9999.00"}}}"#.to_vec();
    let patch = forge_crc32(&forged, original);
    forged.extend_from_slice(&patch);
    assert_eq!(
        crc32(&forged),
        original,
        "the forged body has the same CRC-32"
    );

    let source = LocalKeys::new().with(CERT_URL, CERT);
    let clock = ManualClock::at_unix(NOW);
    let v = Verifier::builder(PayPal::new(WEBHOOK_ID).unwrap())
        .clock(clock)
        .build()
        .unwrap();
    let receiver = Receiver::builder(v, MemoryStore::new())
        .key_cache(KeyCache::new(source.clone()))
        .build()
        .unwrap();
    let h = signed(KEY_A, WEBHOOK_ID, TRANSMISSION_ID, TIME, BODY);
    let Outcome::New(delivery) = receiver.receive(&h, BODY).await.unwrap() else {
        panic!("new");
    };
    assert!(delivery.complete().await.unwrap());
    assert!(matches!(
        receiver.receive(&h, &forged).await.unwrap(),
        Outcome::Duplicate(_)
    ));
}

#[tokio::test]
async fn headers_are_checked_before_any_fetch() {
    let source = LocalKeys::new().with(CERT_URL, CERT);
    let good = signed(KEY_A, WEBHOOK_ID, TRANSMISSION_ID, TIME, BODY);
    for name in [
        "paypal-transmission-id",
        "paypal-transmission-time",
        "paypal-transmission-sig",
        "paypal-cert-url",
        "paypal-auth-algo",
    ] {
        let mut h = good.clone();
        h.remove(name);
        assert!(matches!(
            verify(&source, &verifier(), &h, BODY, NOW).await,
            Err(KeyVerifyError::Verify(VerifyError::MissingHeader { .. }))
        ));
    }
    for (name, value) in [
        ("paypal-auth-algo", "SHA1withRSA"),
        ("paypal-transmission-time", "yesterday"),
        ("paypal-transmission-sig", "not*base64"),
        ("paypal-transmission-sig", "AAAA"),
        ("paypal-transmission-id", "a|b"),
        (
            "paypal-cert-url",
            "https://evil.example/v1/notifications/certs/CERT-1",
        ),
        (
            "paypal-cert-url",
            "http://api.paypal.com/v1/notifications/certs/CERT-1",
        ),
        ("paypal-cert-url", "https://api.paypal.com/v1/oauth2/token"),
    ] {
        let mut h = good.clone();
        h.insert(name, HeaderValue::from_str(value).unwrap());
        let result = verify(&source, &verifier(), &h, BODY, NOW).await;
        assert!(
            matches!(
                result,
                Err(KeyVerifyError::Verify(VerifyError::MalformedHeader { .. }))
            ),
            "{name}: {value}: {result:?}"
        );
    }
    // Three days of retries pass; past 73 hours, or 5 minutes ahead, the time refuses.
    assert!(
        verify(&source, &verifier(), &good, BODY, NOW + 72 * 3600)
            .await
            .is_ok()
    );
    let fetched = source.fetches();
    assert!(matches!(
        verify(&source, &verifier(), &good, BODY, NOW + 73 * 3600 + 1).await,
        Err(KeyVerifyError::Verify(VerifyError::TimestampTooOld { .. }))
    ));
    assert!(matches!(
        verify(&source, &verifier(), &good, BODY, NOW - 301).await,
        Err(KeyVerifyError::Verify(
            VerifyError::TimestampInFuture { .. }
        ))
    ));
    assert_eq!(
        source.fetches(),
        fetched,
        "refused requests fetched nothing"
    );
}

#[tokio::test]
async fn only_paypals_rsa_certificate_is_accepted() {
    let h = signed(KEY_A, WEBHOOK_ID, TRANSMISSION_ID, TIME, BODY);
    // The same key under another subject: not PayPal's message-verification certificate.
    let source = LocalKeys::new().with(CERT_URL, CERT_OTHER_CN);
    let result = verify(&source, &verifier(), &h, BODY, NOW).await;
    assert!(
        matches!(result, Err(KeyVerifyError::Key(KeyError::Invalid { .. }))),
        "{result:?}"
    );
    let source = LocalKeys::new().with(CERT_URL, CERT_P256);
    let result = verify(&source, &verifier(), &h, BODY, NOW).await;
    assert!(
        matches!(result, Err(KeyVerifyError::Key(KeyError::Invalid { .. }))),
        "{result:?}"
    );
    // Outside the certificate's validity (2020–2040).
    let source = LocalKeys::new().with(CERT_URL, CERT);
    let old = signed(
        KEY_A,
        WEBHOOK_ID,
        TRANSMISSION_ID,
        "2019-06-01T00:00:00Z",
        BODY,
    );
    let result = verify(&source, &verifier(), &old, BODY, 1_559_347_200).await;
    assert!(
        matches!(result, Err(KeyVerifyError::Key(KeyError::Expired))),
        "{result:?}"
    );
}

#[test]
fn pinned_certificate_and_configuration() {
    let v = Verifier::builder(PayPal::new(WEBHOOK_ID).unwrap())
        .public_key(CERT)
        .build()
        .unwrap();
    let h = signed(KEY_A, WEBHOOK_ID, TRANSMISSION_ID, TIME, BODY);
    let ok = v.verify_at(&h, BODY, at(NOW)).unwrap();
    assert_eq!(ok.event_id().as_deref(), Some(TRANSMISSION_ID));
    assert!(PayPal::new("not an id!").is_err());
    // A P-256 certificate cannot be pinned: the scheme verifies RSA only.
    assert!(
        Verifier::builder(PayPal::new(WEBHOOK_ID).unwrap())
            .public_key(CERT_P256)
            .build()
            .is_err()
    );
}

// ---------------------------------------------------------------- testing::Signer

/// A generated PayPal signer and its certificate, made once (RSA key generation takes a moment
/// in a debug build), and another pair.
static GENERATED: LazyLock<(Signer, String)> =
    LazyLock::new(|| Signer::generate(PayPal::new(WEBHOOK_ID).unwrap()).unwrap());
static OTHER: LazyLock<(Signer, String)> =
    LazyLock::new(|| Signer::generate(PayPal::new(WEBHOOK_ID).unwrap()).unwrap());

fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[tokio::test]
async fn a_generated_signer_signs_as_paypal() {
    let (signer, certificate) = GENERATED.clone();
    let url = signer.remote_key_id().unwrap().to_owned();
    assert!(
        url.starts_with("https://api.paypal.com/v1/notifications/certs/CERT-"),
        "{url}"
    );
    let source = LocalKeys::new().with(&url, &certificate);
    let h = signer.clone().id(TRANSMISSION_ID).sign(BODY).unwrap();
    assert_eq!(h["paypal-auth-algo"], "SHA256withRSA");
    assert_eq!(h["paypal-cert-url"], url.as_str());
    assert_eq!(h["paypal-transmission-id"], TRANSMISSION_ID);
    let time = h["paypal-transmission-time"].to_str().unwrap();
    assert!(
        time.ends_with('Z') && !time.contains('.'),
        "RFC 3339 to the second: {time}"
    );
    // The certificate passes PayPal's subject check, and its key verifies.
    let key = verify(&source, &verifier(), &h, BODY, unix_now())
        .await
        .unwrap();
    assert_eq!(key, DedupKey::EventId(TRANSMISSION_ID.into()));
    // Another body under these headers.
    assert!(matches!(
        verify(&source, &verifier(), &h, b"{}", unix_now()).await,
        Err(KeyVerifyError::Verify(VerifyError::SignatureMismatch))
    ));
    // Another webhook id.
    let other_webhook = Verifier::builder(PayPal::new("OTHERWEBHOOK1").unwrap())
        .build()
        .unwrap();
    assert!(matches!(
        verify(&source, &other_webhook, &h, BODY, unix_now()).await,
        Err(KeyVerifyError::Verify(VerifyError::SignatureMismatch))
    ));
    // Another generated key, naming this certificate.
    let (other, _) = OTHER.clone();
    assert_ne!(other.remote_key_id(), Some(url.as_str()));
    let forged = other.key_id(&url).sign(BODY).unwrap();
    assert!(matches!(
        verify(&source, &verifier(), &forged, BODY, unix_now()).await,
        Err(KeyVerifyError::Verify(VerifyError::SignatureMismatch))
    ));
    // A transmission older than PayPal's three days of retries.
    let old = signer.timestamp(unix_now() - 74 * 3600).sign(BODY).unwrap();
    assert!(matches!(
        verify(&source, &verifier(), &old, BODY, unix_now()).await,
        Err(KeyVerifyError::Verify(VerifyError::TimestampTooOld { .. }))
    ));
}

/// The signer's headers for a fixed key, id and time are those of the hand-made `signed`.
#[test]
fn the_signer_matches_the_hand_made_signature() {
    let signer = Signer::new(PayPal::new(WEBHOOK_ID).unwrap(), KEY_A)
        .unwrap()
        .id(TRANSMISSION_ID)
        .timestamp(NOW)
        .key_id(CERT_URL);
    assert_eq!(
        signer.sign(BODY).unwrap(),
        signed(KEY_A, WEBHOOK_ID, TRANSMISSION_ID, TIME, BODY)
    );
    // The time is written to the second, as PayPal does.
    let h = signer
        .timestamp_millis(NOW * 1000 + 999)
        .sign(BODY)
        .unwrap();
    assert_eq!(h["paypal-transmission-time"], TIME);
}

#[test]
fn the_signer_refuses_bad_keys_and_algorithms() {
    for key in ["", "not a key", CERT, CERT_P256, &KEY_A[..200]] {
        assert!(
            matches!(
                Signer::new(PayPal::new(WEBHOOK_ID).unwrap(), key),
                Err(ConfigError::InvalidSecret { .. })
            ),
            "{key:?}"
        );
    }
    let signer = Signer::new(PayPal::new(WEBHOOK_ID).unwrap(), KEY_A).unwrap();
    assert!(
        signer
            .clone()
            .algorithm(Algorithm::RsaSha1)
            .sign(BODY)
            .is_err()
    );
    // A transmission id PayPal's signed message could not hold.
    assert!(signer.id("a|b").sign(BODY).is_err());
}
