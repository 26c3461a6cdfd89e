//! AWS SNS: RSA signatures inside the JSON body, the certificate fetched through a key source.
//! No network: the key source serves locally generated certificates (tests/fixtures/keys).

use std::sync::LazyLock;

use base64::Engine as _;
use http::HeaderMap;
use serde_json::{Value, json};
use webhook_receiver::dedup::MemoryStore;
use webhook_receiver::keysource::{KeyCache, KeyError, KeyVerifyError};
use webhook_receiver::providers::{Sns, SnsMessageType};
use webhook_receiver::testing::{LocalKeys, Signer};
use webhook_receiver::{
    Algorithm, DedupKey, Outcome, ReceiveError, Receiver, Request, Verifier, VerifyError,
};

use super::at;

pub(crate) const KEY_A: &str = include_str!("../fixtures/keys/rsa-a.key.pem");
pub(crate) const KEY_B: &str = include_str!("../fixtures/keys/rsa-b.key.pem");
pub(crate) const CERT_A: &str = include_str!("../fixtures/keys/sns-a.cert.pem");
const CERT_B: &str = include_str!("../fixtures/keys/sns-b.cert.pem");
const CERT_A_EXPIRED: &str = include_str!("../fixtures/keys/sns-a-expired.cert.pem");

/// `sha256:` and the first 16 hex digits of `sha256sum tests/fixtures/keys/sns-a.cert.pem`.
const CERT_A_LABEL: &str = "sha256:dcad808e39b8ce4b";
pub(crate) const CERT_URL: &str = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000000000000000000000000000000a.pem";
const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:orders";
/// 2026-11-30T12:00:00Z.
pub(crate) const NOW: i64 = 1_796_040_000;
const TIMESTAMP: &str = "2026-11-30T12:00:00.000Z";

/// Base64 of the RSASSA-PKCS1-v1_5 signature of `message` with the PEM private key.
pub(crate) fn rsa_sign(key_pem: &str, message: &[u8], sha1: bool) -> String {
    use rsa::pkcs8::DecodePrivateKey as _;
    use rsa::signature::{SignatureEncoding as _, Signer as _};
    let key = rsa::PrivateKey::from_pkcs8_pem(key_pem).unwrap();
    let bytes = if sha1 {
        rsa::pkcs1v15::SigningKey::<sha1::Sha1>::new(key)
            .sign(message)
            .to_vec()
    } else {
        rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key)
            .sign(message)
            .to_vec()
    };
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// AWS's string to sign, written independently of the crate: `name\nvalue\n` for each field of
/// `names` present in `message`.
fn string_to_sign(message: &Value, names: &[&str]) -> Vec<u8> {
    let mut out = String::new();
    for name in names {
        if let Some(Value::String(value)) = message.get(*name) {
            out.push_str(&format!("{name}\n{value}\n"));
        }
    }
    out.into_bytes()
}

const NOTIFICATION_FIELDS: &[&str] = &[
    "Message",
    "MessageId",
    "Subject",
    "Timestamp",
    "TopicArn",
    "Type",
];
const CONFIRMATION_FIELDS: &[&str] = &[
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
];

/// Signs `message` in place (version 1 = SHA-1, 2 = SHA-256) over `fields`.
fn sign_with(message: &mut Value, key: &str, version: u8, fields: &[&str]) {
    message["SignatureVersion"] = json!(version.to_string());
    message["SigningCertURL"] = json!(CERT_URL);
    let signature = rsa_sign(key, &string_to_sign(message, fields), version == 1);
    message["Signature"] = json!(signature);
}

fn notification() -> Value {
    json!({
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": TOPIC,
        "Subject": "My First Message",
        // The message is JSON itself: its escapes are decoded before signing.
        "Message": "{\"order\":\"o_1\",\"note\":\"caf\\u00e9 \\\"quoted\\\"\"}\nline two",
        "Timestamp": TIMESTAMP,
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=x",
        "MessageAttributes": {"k": {"Type": "String", "Value": "v"}},
    })
}

fn signed_notification(version: u8) -> Vec<u8> {
    let mut message = notification();
    sign_with(&mut message, KEY_A, version, NOTIFICATION_FIELDS);
    serde_json::to_vec(&message).unwrap()
}

fn confirmation(kind: &str) -> Value {
    json!({
        "Type": kind,
        "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3beb71854e285d6ad02428b09ceece29417f1f02d609c582afbacc99c583a916b9981dd2728f4ae6fdb82efd087cc3b7849e05798d2d2785c03b0879594eeac82c01f235d0e717736",
        "TopicArn": TOPIC,
        "Message": "You have chosen to subscribe to the topic arn:aws:sns:us-east-1:123456789012:orders.\nTo confirm the subscription, visit the SubscribeURL included in this message.",
        "SubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-east-1:123456789012:orders&Token=2336412f37",
        "Timestamp": TIMESTAMP,
    })
}

fn verifier() -> Verifier {
    Verifier::builder(Sns::new(TOPIC).unwrap()).build().unwrap()
}

fn cache(source: &LocalKeys) -> KeyCache {
    KeyCache::new(source.clone())
}

async fn verify(
    cache: &KeyCache,
    verifier: &Verifier,
    body: &[u8],
    now: i64,
) -> Result<(Option<String>, Option<String>, DedupKey<'static>), KeyVerifyError> {
    let headers = HeaderMap::new();
    let verified = cache
        .verify_request_at(verifier, &Request::new(&headers, body), at(now))
        .await?;
    Ok((
        verified.event_id().map(|id| id.into_owned()),
        verified.key_label().map(str::to_owned),
        verified.dedup_key().into_owned(),
    ))
}

fn mismatch(result: Result<impl std::fmt::Debug, KeyVerifyError>) {
    assert!(
        matches!(
            result,
            Err(KeyVerifyError::Verify(VerifyError::SignatureMismatch))
        ),
        "{result:?}"
    );
}

fn malformed(result: Result<impl std::fmt::Debug, KeyVerifyError>) {
    assert!(
        matches!(
            result,
            Err(KeyVerifyError::Verify(VerifyError::MalformedBody { .. }))
        ),
        "{result:?}"
    );
}

#[tokio::test]
async fn notification_v1_and_v2_with_a_fetched_certificate() {
    let source = LocalKeys::new().with(CERT_URL, CERT_A);
    let cache = cache(&source);
    let v = verifier();
    assert!(v.fetches_keys());
    for version in [2, 1] {
        let body = signed_notification(version);
        let (id, label, key) = verify(&cache, &v, &body, NOW).await.unwrap();
        assert_eq!(id.as_deref(), Some("22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324"));
        assert_eq!(
            label.as_deref(),
            Some(CERT_A_LABEL),
            "labelled with its certificate's fingerprint"
        );
        assert_eq!(
            key,
            DedupKey::EventId("22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324".into())
        );
    }
    // One fetch: the second message found the certificate in the cache.
    assert_eq!(source.fetches(), 1);
    assert_eq!(cache.len(), 1);
    // `SigningCertURL` is not signed: a replay naming another URL that serves the same
    // certificate verifies, and is labelled the same — the label (a metrics label, a stored
    // field) stays one per real key, not one per URL a request names.
    let other_url = CERT_URL.replace("0a.pem", "0b.pem");
    source.serve(other_url.as_str(), CERT_A);
    let mut moved: Value = serde_json::from_slice(&signed_notification(2)).unwrap();
    moved["SigningCertURL"] = json!(other_url);
    let body = serde_json::to_vec(&moved).unwrap();
    let (_, label, _) = verify(&cache, &v, &body, NOW).await.unwrap();
    assert_eq!(label.as_deref(), Some(CERT_A_LABEL));
    assert_eq!(source.fetches(), 2);
    // The same verifier alone has no key: it verifies nothing, and never fetches.
    let headers = HeaderMap::new();
    let body = signed_notification(2);
    assert_eq!(
        v.verify_at(&headers, &body, at(NOW)).unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[tokio::test]
async fn every_signed_field_is_covered_and_unsigned_ones_are_not() {
    let source = LocalKeys::new().with(CERT_URL, CERT_A);
    let (cache, v) = (cache(&source), verifier());
    let mut message = notification();
    sign_with(&mut message, KEY_A, 2, NOTIFICATION_FIELDS);
    for (field, value) in [
        ("Message", "{\"order\":\"o_2\"}"),
        ("MessageId", "00000000-fdea-4c2c-8f9d-bdfb0c7bf324"),
        ("Subject", "Another subject"),
        ("Timestamp", "2026-11-30T12:00:01.000Z"),
        ("Type", "UnsubscribeConfirmation"),
    ] {
        let mut tampered = message.clone();
        tampered[field] = json!(value);
        if field == "Type" {
            // A confirmation needs its own fields to be read at all.
            tampered["Token"] = json!("t");
            tampered["SubscribeURL"] = json!("https://sns.us-east-1.amazonaws.com/?x");
        }
        let body = serde_json::to_vec(&tampered).unwrap();
        mismatch(verify(&cache, &v, &body, NOW).await);
    }
    // Removing the subject changes the signed string too.
    let mut no_subject = message.clone();
    no_subject.as_object_mut().unwrap().remove("Subject");
    mismatch(verify(&cache, &v, &serde_json::to_vec(&no_subject).unwrap(), NOW).await);
    // ... but moving it into the `MessageId` keeps the signed string byte for byte
    // (`MessageId\n<id>\nSubject\n<s>\n`): AWS's scheme has no escaping, so a replay would
    // get a new id — a new dedup key — and run again. A `MessageId` with a control character
    // is refused.
    let mut shifted = no_subject.clone();
    shifted["MessageId"] = json!(format!(
        "{}\nSubject\n{}",
        message["MessageId"].as_str().unwrap(),
        message["Subject"].as_str().unwrap()
    ));
    malformed(verify(&cache, &v, &serde_json::to_vec(&shifted).unwrap(), NOW).await);
    // AWS refuses subjects with line breaks or control characters; so does the verifier.
    let mut subject = message.clone();
    subject["Subject"] = json!("two\nlines");
    malformed(verify(&cache, &v, &serde_json::to_vec(&subject).unwrap(), NOW).await);
    // A signature of the SHA-1 version announced as version 2 (and the reverse) fails.
    let mut version = message.clone();
    version["SignatureVersion"] = json!("1");
    mismatch(verify(&cache, &v, &serde_json::to_vec(&version).unwrap(), NOW).await);
    // Unsigned fields can change: they are not part of the message's authenticity.
    let mut unsigned = message.clone();
    unsigned["UnsubscribeURL"] = json!("https://example.com/");
    unsigned["MessageAttributes"] = json!({});
    assert!(
        verify(&cache, &v, &serde_json::to_vec(&unsigned).unwrap(), NOW)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn subject_absent_or_null_is_not_signed() {
    let source = LocalKeys::new().with(CERT_URL, CERT_A);
    let (cache, v) = (cache(&source), verifier());
    let mut message = notification();
    message.as_object_mut().unwrap().remove("Subject");
    sign_with(&mut message, KEY_A, 2, NOTIFICATION_FIELDS);
    assert!(
        verify(&cache, &v, &serde_json::to_vec(&message).unwrap(), NOW)
            .await
            .is_ok()
    );
    // Lambda's shape writes a missing subject as null: the same signed string.
    message["Subject"] = Value::Null;
    assert!(
        verify(&cache, &v, &serde_json::to_vec(&message).unwrap(), NOW)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn confirmations_sign_their_own_field_list() {
    let source = LocalKeys::new().with(CERT_URL, CERT_A);
    let (cache, v) = (cache(&source), verifier());
    for kind in ["SubscriptionConfirmation", "UnsubscribeConfirmation"] {
        let mut message = confirmation(kind);
        sign_with(&mut message, KEY_A, 2, CONFIRMATION_FIELDS);
        let body = serde_json::to_vec(&message).unwrap();
        assert!(verify(&cache, &v, &body, NOW).await.is_ok(), "{kind}");
        // The token is signed: changing it fails.
        let mut tampered = message.clone();
        tampered["Token"] = json!("0000");
        mismatch(verify(&cache, &v, &serde_json::to_vec(&tampered).unwrap(), NOW).await);
        // A signature over the notification list (what the sns-validator package checks an
        // UnsubscribeConfirmation with) is not AWS's: it leaves the token out.
        let mut notification_list = message.clone();
        sign_with(&mut notification_list, KEY_A, 2, NOTIFICATION_FIELDS);
        mismatch(
            verify(
                &cache,
                &v,
                &serde_json::to_vec(&notification_list).unwrap(),
                NOW,
            )
            .await,
        );
        // Confirmations without their token or URL are malformed.
        let mut missing = message.clone();
        missing.as_object_mut().unwrap().remove("Token");
        malformed(verify(&cache, &v, &serde_json::to_vec(&missing).unwrap(), NOW).await);
    }
    // The helpers, on a verified body.
    let mut message = confirmation("SubscriptionConfirmation");
    sign_with(&mut message, KEY_A, 2, CONFIRMATION_FIELDS);
    let body = serde_json::to_vec(&message).unwrap();
    assert_eq!(
        Sns::message_type(&body),
        Some(SnsMessageType::SubscriptionConfirmation)
    );
    assert_eq!(
        Sns::subscribe_url(&body).as_deref(),
        Some(
            "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-east-1:123456789012:orders&Token=2336412f37"
        )
    );
    assert_eq!(Sns::subscribe_url(&signed_notification(2)), None);
    assert_eq!(
        Sns::message_type(&signed_notification(2)),
        Some(SnsMessageType::Notification)
    );
    // A SubscribeURL off SNS's hosts is not handed out.
    message["SubscribeURL"] = json!("https://evil.example/?Action=ConfirmSubscription");
    assert_eq!(
        Sns::subscribe_url(&serde_json::to_vec(&message).unwrap()),
        None
    );
}

#[tokio::test]
async fn topic_url_and_time_are_checked_before_any_fetch() {
    let source = LocalKeys::new().with(CERT_URL, CERT_A);
    let (cache, v) = (cache(&source), verifier());
    // Another topic, validly signed by SNS: refused, and nothing is fetched.
    let mut other = notification();
    other["TopicArn"] = json!("arn:aws:sns:us-east-1:999999999999:attacker");
    sign_with(&mut other, KEY_A, 2, NOTIFICATION_FIELDS);
    let other = serde_json::to_vec(&other).unwrap();
    malformed(verify(&cache, &v, &other, NOW).await);
    // Certificate URLs off SNS's hosts.
    for url in [
        "http://sns.us-east-1.amazonaws.com/a.pem",
        "https://sns.us-east-1.amazonaws.com.evil.com/a.pem",
        "https://evil.com/sns.us-east-1.amazonaws.com/a.pem",
        "https://sns.us-east-1.amazonaws.com/a.pem?.pem",
        "https://sns.us-east-1.amazonaws.com:8443/a.pem",
        "https://sns.us-east-1.amazonaws.com/a.crt",
    ] {
        let mut message = notification();
        sign_with(&mut message, KEY_A, 2, NOTIFICATION_FIELDS);
        message["SigningCertURL"] = json!(url);
        malformed(verify(&cache, &v, &serde_json::to_vec(&message).unwrap(), NOW).await);
    }
    // Outside the window: 65 minutes past, 5 minutes future.
    let body = signed_notification(2);
    assert!(matches!(
        verify(&cache, &v, &body, NOW + 65 * 60 + 1).await,
        Err(KeyVerifyError::Verify(VerifyError::TimestampTooOld { .. }))
    ));
    assert!(matches!(
        verify(&cache, &v, &body, NOW - 301).await,
        Err(KeyVerifyError::Verify(
            VerifyError::TimestampInFuture { .. }
        ))
    ));
    assert_eq!(source.fetches(), 0, "no refused message caused a fetch");
    // Inside it, a retry an hour later still verifies.
    assert!(verify(&cache, &v, &body, NOW + 3600).await.is_ok());
    // Any topic, for those who check it themselves.
    let any = Verifier::builder(Sns::insecure_any_topic())
        .build()
        .unwrap();
    assert!(verify(&cache, &any, &other, NOW).await.is_ok());
    // Several topics.
    let two = Verifier::builder(
        Sns::new(TOPIC)
            .unwrap()
            .topic("arn:aws:sns:us-east-1:999999999999:attacker")
            .unwrap(),
    )
    .build()
    .unwrap();
    assert!(verify(&cache, &two, &other, NOW).await.is_ok());
}

#[tokio::test]
async fn key_failures() {
    let body = signed_notification(2);
    let v = verifier();
    // Another key's certificate at the URL: the signature does not verify.
    let source = LocalKeys::new().with(CERT_URL, CERT_B);
    mismatch(verify(&cache(&source), &v, &body, NOW).await);
    // An expired certificate.
    let source = LocalKeys::new().with(CERT_URL, CERT_A_EXPIRED);
    let result = verify(&cache(&source), &v, &body, NOW).await;
    assert!(
        matches!(result, Err(KeyVerifyError::Key(KeyError::Expired))),
        "{result:?}"
    );
    // Unknown, unusable, unreachable.
    let source = LocalKeys::new();
    let err = verify(&cache(&source), &v, &body, NOW).await.unwrap_err();
    assert!(matches!(err, KeyVerifyError::Key(KeyError::NotFound)));
    assert_eq!(err.status(), 401);
    source.serve(
        CERT_URL,
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    );
    let err = verify(&cache(&source), &v, &body, NOW).await.unwrap_err();
    assert!(
        matches!(err, KeyVerifyError::Key(KeyError::Invalid { .. })),
        "{err:?}"
    );
    source.serve(CERT_URL, vec![b'A'; 70 * 1024]);
    let err = verify(&cache(&source), &v, &body, NOW).await.unwrap_err();
    assert!(
        matches!(err, KeyVerifyError::Key(KeyError::Invalid { .. })),
        "{err:?}"
    );
    source.unavailable(CERT_URL);
    let err = verify(&cache(&source), &v, &body, NOW).await.unwrap_err();
    assert_eq!(err.status(), 503);
    assert!(err.retry_after().is_some());
    // The failures were not cached: once the source serves the certificate, it verifies.
    let cache = cache(&source);
    assert!(verify(&cache, &v, &body, NOW).await.is_err());
    source.serve(CERT_URL, CERT_A);
    assert!(verify(&cache, &v, &body, NOW).await.is_ok());
}

#[test]
fn a_pinned_certificate_verifies_offline() {
    let v = Verifier::builder(Sns::new(TOPIC).unwrap())
        .labeled_secret("aws-2026", CERT_A)
        .build()
        .unwrap();
    assert!(!v.fetches_keys());
    let headers = HeaderMap::new();
    let body = signed_notification(2);
    let ok = v.verify_at(&headers, &body, at(NOW)).unwrap();
    assert_eq!(ok.key_label(), Some("aws-2026"));
    let other = Verifier::builder(Sns::new(TOPIC).unwrap())
        .public_key(CERT_B)
        .build()
        .unwrap();
    assert_eq!(
        other.verify_at(&headers, &body, at(NOW)).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // Not a certificate: a configuration error.
    assert!(
        Verifier::builder(Sns::new(TOPIC).unwrap())
            .public_key("not a certificate")
            .build()
            .is_err()
    );
}

#[tokio::test]
async fn malformed_messages_are_refused_without_panicking() {
    let source = LocalKeys::new().with(CERT_URL, CERT_A);
    let (cache, v) = (cache(&source), verifier());
    let good: Value = serde_json::from_slice(&signed_notification(2)).unwrap();
    let mut cases: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"not json".to_vec(),
        b"[1,2]".to_vec(),
        b"{".to_vec(),
        br#"{"Type":"Notification","Type":"Notification"}"#.to_vec(),
    ];
    for (field, value) in [
        ("Type", json!("Other")),
        ("Type", json!(5)),
        ("SignatureVersion", json!("3")),
        ("SignatureVersion", json!(2)),
        ("Signature", json!("not base64!")),
        ("Signature", json!("AAAA")),
        ("Timestamp", json!("yesterday")),
        ("MessageId", json!("")),
        ("Message", Value::Null),
    ] {
        let mut message = good.clone();
        message[field] = value;
        cases.push(serde_json::to_vec(&message).unwrap());
    }
    for field in [
        "Signature",
        "SigningCertURL",
        "SignatureVersion",
        "TopicArn",
        "MessageId",
    ] {
        let mut message = good.clone();
        message.as_object_mut().unwrap().remove(field);
        cases.push(serde_json::to_vec(&message).unwrap());
    }
    // A duplicated signed field is refused rather than read either way.
    let text = String::from_utf8(signed_notification(2)).unwrap();
    cases.push(text.replacen('{', r#"{"Message":"other","#, 1).into_bytes());
    for body in cases {
        let result = verify(&cache, &v, &body, NOW).await;
        malformed(result);
    }
    assert_eq!(source.fetches(), 0);
}

#[tokio::test]
async fn receiver_resolves_keys_and_deduplicates_by_message_id() {
    let source = LocalKeys::new().with(CERT_URL, CERT_A);
    let clock = webhook_receiver::ManualClock::at_unix(NOW);
    let verifier = Verifier::builder(Sns::new(TOPIC).unwrap())
        .clock(clock.clone())
        .build()
        .unwrap();
    let receiver = Receiver::builder(verifier, MemoryStore::new())
        .key_cache(KeyCache::new(source.clone()))
        .build()
        .unwrap();
    let headers = HeaderMap::new();
    let body = signed_notification(2);
    let Outcome::New(delivery) = receiver.receive(&headers, &body).await.unwrap() else {
        panic!("a new delivery");
    };
    assert_eq!(
        delivery.key(),
        "aws-sns-0000000000000000:id:22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324"
    );
    assert!(delivery.complete().await.unwrap());
    // SNS retries with the same message (and signature): a duplicate.
    assert!(matches!(
        receiver.receive(&headers, &body).await.unwrap(),
        Outcome::Duplicate(_)
    ));
    assert_eq!(source.fetches(), 1);

    // The key source down: 503 + Retry-After, nothing acknowledged.
    let down = LocalKeys::new();
    down.unavailable(CERT_URL);
    let verifier = Verifier::builder(Sns::new(TOPIC).unwrap())
        .clock(clock.clone())
        .build()
        .unwrap();
    let receiver = Receiver::builder(verifier, MemoryStore::new())
        .key_cache(KeyCache::new(down))
        .build()
        .unwrap();
    let err = receiver.receive(&headers, &body).await.unwrap_err();
    assert!(matches!(err, ReceiveError::Key(KeyError::Unavailable(_))));
    assert_eq!(receiver.reject_status(&err), 503);
    assert!(err.retry_after().is_some());

    // No key cache for a scheme that fetches its keys: a configuration mistake, 500.
    let verifier = Verifier::builder(Sns::new(TOPIC).unwrap())
        .clock(clock)
        .build()
        .unwrap();
    let receiver = Receiver::new(verifier, MemoryStore::new());
    let err = receiver.receive(&headers, &body).await.unwrap_err();
    assert!(
        matches!(err, ReceiveError::Key(KeyError::NoSource)),
        "{err:?}"
    );
    assert_eq!(receiver.reject_status(&err), 500);
}

/// The inbox endpoint resolves keys through its cache like a receiver: stored once per message,
/// 503 + Retry-After with nothing stored when the key source is down, 500 without a cache.
#[cfg(feature = "sqlite")]
#[tokio::test]
async fn inbox_endpoint_resolves_keys_through_its_cache() {
    use webhook_receiver::inbox::{Inbox, InboxReceiveError, SqliteInbox};

    let dir = std::env::temp_dir().join(format!(
        "webhook-sns-inbox-{}-{:x}",
        std::process::id(),
        webhook_receiver::dedup::LeaseToken::random().get() as u64
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let inbox = Inbox::new(SqliteInbox::open(dir.join("inbox.db")).await.unwrap());
    let clock = webhook_receiver::ManualClock::at_unix(NOW);
    let verifier = || {
        Verifier::builder(Sns::new(TOPIC).unwrap())
            .clock(clock.clone())
            .build()
            .unwrap()
    };
    let headers = HeaderMap::new();
    let body = bytes::Bytes::from(signed_notification(2));

    let source = LocalKeys::new().with(CERT_URL, CERT_A);
    let endpoint = inbox
        .endpoint(verifier())
        .key_cache(KeyCache::new(source.clone()))
        .build()
        .unwrap();
    let receipt = endpoint.receive(&headers, body.clone()).await.unwrap();
    assert_eq!(
        receipt.key(),
        "aws-sns-0000000000000000:id:22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324"
    );
    assert!(!receipt.is_duplicate());
    assert!(
        endpoint
            .receive(&headers, body.clone())
            .await
            .unwrap()
            .is_duplicate()
    );
    assert_eq!(source.fetches(), 1);
    // A tampered message is refused after the key was had; nothing stored.
    let tampered = bytes::Bytes::from(
        String::from_utf8(body.to_vec())
            .unwrap()
            .replace("\"Message\":\"", "\"Message\":\"x"),
    );
    assert_ne!(tampered, body);
    let err = endpoint.receive(&headers, tampered).await.unwrap_err();
    assert!(matches!(err, InboxReceiveError::Verify(_)), "{err:?}");

    let down = LocalKeys::new();
    down.unavailable(CERT_URL);
    let endpoint = inbox
        .endpoint(verifier())
        .namespace("down")
        .key_cache(KeyCache::new(down))
        .build()
        .unwrap();
    let err = endpoint.receive(&headers, body.clone()).await.unwrap_err();
    assert!(
        matches!(err, InboxReceiveError::Key(KeyError::Unavailable(_))),
        "{err:?}"
    );
    assert_eq!(err.status(), 503);
    assert!(err.retry_after().is_some());

    let endpoint = inbox
        .endpoint(verifier())
        .namespace("none")
        .build()
        .unwrap();
    let err = endpoint.receive(&headers, body).await.unwrap_err();
    assert!(
        matches!(err, InboxReceiveError::Key(KeyError::NoSource)),
        "{err:?}"
    );
    assert_eq!(err.status(), 500);
    assert_eq!(
        inbox.counts().await.unwrap().pending,
        1,
        "only the first stored"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------- testing::Signer

/// A generated signer and its certificate, made once for the tests below (RSA key generation
/// takes a moment in a debug build).
static GENERATED: LazyLock<(Signer, String)> =
    LazyLock::new(|| Signer::generate(Sns::new(TOPIC).unwrap()).unwrap());
/// Another generated pair.
static OTHER: LazyLock<(Signer, String)> =
    LazyLock::new(|| Signer::generate(Sns::new(TOPIC).unwrap()).unwrap());

fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn generated_cache() -> (Signer, LocalKeys, KeyCache) {
    let (signer, certificate) = GENERATED.clone();
    let keys = LocalKeys::new().with(signer.remote_key_id().unwrap(), certificate);
    (signer, keys.clone(), KeyCache::new(keys))
}

#[tokio::test]
async fn a_generated_signer_signs_notifications_v1_and_v2() {
    let (signer, keys, cache) = generated_cache();
    let url = signer.remote_key_id().unwrap().to_owned();
    assert!(
        url.starts_with("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-")
            && url.ends_with(".pem"),
        "{url}"
    );
    for (algorithm, version) in [(None, "2"), (Some(Algorithm::RsaSha1), "1")] {
        let mut signer = signer.clone().id(format!("id-v{version}"));
        if let Some(algorithm) = algorithm {
            signer = signer.algorithm(algorithm);
        }
        let signed = signer
            .sign_request(
                br#"{"Type":"Notification","Subject":"s","Message":"{\"order\":\"o_1\"}"}"#,
            )
            .unwrap();
        let message: Value = serde_json::from_slice(&signed.body).unwrap();
        assert_eq!(message["SignatureVersion"], version, "version 2 by default");
        assert_eq!(message["SigningCertURL"], url.as_str());
        assert_eq!(message["TopicArn"], TOPIC, "the scheme's topic by default");
        assert_eq!(message["MessageId"], format!("id-v{version}"));
        assert_eq!(signed.headers["x-amz-sns-message-type"], "Notification");
        assert_eq!(
            signed.headers["x-amz-sns-message-id"],
            format!("id-v{version}")
        );
        assert_eq!(signed.headers["x-amz-sns-topic-arn"], TOPIC);
        let (id, label, _) = verify(&cache, &verifier(), &signed.body, unix_now())
            .await
            .unwrap();
        assert_eq!(id.as_deref(), Some(format!("id-v{version}").as_str()));
        assert!(
            label
                .as_deref()
                .is_some_and(|l| l.starts_with("sha256:") && l.len() == 23),
            "{label:?} (from {url})"
        );
        // Any signed field changed: the signature no longer matches.
        for (field, value) in [("Message", "{\"order\":\"o_2\"}"), ("Subject", "t")] {
            let mut tampered = message.clone();
            tampered[field] = json!(value);
            let body = serde_json::to_vec(&tampered).unwrap();
            mismatch(verify(&cache, &verifier(), &body, unix_now()).await);
        }
    }
    assert_eq!(keys.fetches(), 1, "one certificate, fetched once");
}

#[tokio::test]
async fn a_generated_signer_signs_confirmations() {
    let (signer, _, cache) = generated_cache();
    for kind in ["SubscriptionConfirmation", "UnsubscribeConfirmation"] {
        let mut message = confirmation(kind);
        let object = message.as_object_mut().unwrap();
        object.remove("MessageId");
        object.remove("Timestamp");
        let signed = signer
            .sign_request(&serde_json::to_vec(&message).unwrap())
            .unwrap();
        assert!(
            verify(&cache, &verifier(), &signed.body, unix_now())
                .await
                .is_ok(),
            "{kind}"
        );
        let mut tampered: Value = serde_json::from_slice(&signed.body).unwrap();
        tampered["Token"] = json!("0000");
        mismatch(
            verify(
                &cache,
                &verifier(),
                &serde_json::to_vec(&tampered).unwrap(),
                unix_now(),
            )
            .await,
        );
        if kind == "SubscriptionConfirmation" {
            assert!(Sns::subscribe_url(&signed.body).is_some());
        }
    }
}

#[tokio::test]
async fn another_key_or_an_old_timestamp_is_refused() {
    let (signer, _, cache) = generated_cache();
    let (other, other_certificate) = OTHER.clone();
    assert_ne!(
        other.remote_key_id(),
        signer.remote_key_id(),
        "each key has its own URL"
    );
    // The other key, naming the first key's certificate.
    let forged = other
        .key_id(signer.remote_key_id().unwrap())
        .sign_request(br#"{"Message":"hello"}"#)
        .unwrap();
    mismatch(verify(&cache, &verifier(), &forged.body, unix_now()).await);
    // The first key, its certificate at the other's URL.
    let swapped = LocalKeys::new().with(signer.remote_key_id().unwrap(), other_certificate);
    let body = signer.sign_request(br#"{"Message":"hello"}"#).unwrap().body;
    mismatch(verify(&KeyCache::new(swapped), &verifier(), &body, unix_now()).await);
    // Published more than 65 minutes ago.
    let old = signer
        .clone()
        .timestamp(unix_now() - 66 * 60)
        .sign_request(br#"{"Message":"hello"}"#)
        .unwrap();
    let result = verify(&cache, &verifier(), &old.body, unix_now()).await;
    assert!(
        matches!(
            result,
            Err(KeyVerifyError::Verify(VerifyError::TimestampTooOld { .. }))
        ),
        "{result:?}"
    );
    // A certificate URL off SNS's hosts is signed as given, and refused before any fetch.
    let off = signer
        .clone()
        .key_id("https://evil.example/cert.pem")
        .sign_request(br#"{"Message":"hello"}"#)
        .unwrap();
    malformed(verify(&cache, &verifier(), &off.body, unix_now()).await);
}

/// The signer's output for a fixed key, id and time is the hand-made signature of the tests
/// above, which follows AWS's documented string to sign.
#[test]
fn the_signer_matches_the_hand_made_signatures() {
    use rsa::pkcs1::EncodeRsaPrivateKey as _;
    use rsa::pkcs8::DecodePrivateKey as _;
    let pkcs1 = rsa::PrivateKey::from_pkcs8_pem(KEY_A)
        .unwrap()
        .to_pkcs1_pem(rsa::pkcs1::LineEnding::LF)
        .unwrap();
    for key in [KEY_A, pkcs1.as_str()] {
        let signer = Signer::new(Sns::new(TOPIC).unwrap(), key)
            .unwrap()
            .key_id(CERT_URL)
            .timestamp(NOW);
        for (version, algorithm) in [(2, Algorithm::RsaSha256), (1, Algorithm::RsaSha1)] {
            // The message without its id and time: the signer fills them in.
            let mut draft = notification();
            let id = draft["MessageId"].as_str().unwrap().to_owned();
            draft.as_object_mut().unwrap().remove("MessageId");
            draft.as_object_mut().unwrap().remove("Timestamp");
            let signed = signer
                .clone()
                .id(id)
                .algorithm(algorithm)
                .sign_request(&serde_json::to_vec(&draft).unwrap())
                .unwrap();
            let body: Value = serde_json::from_slice(&signed.body).unwrap();
            assert_eq!(body["Timestamp"], TIMESTAMP, "ISO 8601 with milliseconds");
            let expected: Value = serde_json::from_slice(&signed_notification(version)).unwrap();
            assert_eq!(body, expected, "version {version}");
            let mut confirmation = confirmation("SubscriptionConfirmation");
            let signed = signer
                .clone()
                .algorithm(algorithm)
                .sign_request(&serde_json::to_vec(&confirmation).unwrap())
                .unwrap();
            sign_with(&mut confirmation, KEY_A, version, CONFIRMATION_FIELDS);
            let body: Value = serde_json::from_slice(&signed.body).unwrap();
            assert_eq!(body, confirmation, "version {version}");
        }
    }
}

#[test]
fn the_signer_refuses_bad_keys_and_bodies() {
    use p256::pkcs8::EncodePrivateKey as _;
    let p256 = p256::ecdsa::SigningKey::from_slice(&[7u8; 32])
        .unwrap()
        .to_pkcs8_pem(p256::pkcs8::LineEnding::LF)
        .unwrap();
    let truncated = &KEY_A[..KEY_A.len() / 2];
    for key in [
        "",
        "not a key",
        CERT_A,
        truncated,
        &p256,
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
    ] {
        let err = Signer::new(Sns::new(TOPIC).unwrap(), key).unwrap_err();
        assert!(
            matches!(err, webhook_receiver::ConfigError::InvalidSecret { .. }),
            "{err:?}"
        );
        let text = err.to_string();
        // The error names the problem, never the key.
        assert!(key.len() < 60 || !text.contains(&key[30..60]), "{text}");
    }
    let signer = Signer::new(Sns::new(TOPIC).unwrap(), KEY_A).unwrap();
    for body in [
        &b"not json"[..],
        b"[1,2]",
        b"\"a string\"",
        b"",
        br#"{"Message":{"order":"o_1"}}"#,
        br#"{"Type":"Other","Message":"x"}"#,
        br#"{"Type":"Notification"}"#,
        br#"{"Type":"SubscriptionConfirmation","Message":"x","SubscribeURL":"https://sns.us-east-1.amazonaws.com/?x"}"#,
        br#"{"Message":"x","MessageId":""}"#,
    ] {
        assert!(
            matches!(
                signer.sign_request(body),
                Err(webhook_receiver::ConfigError::Invalid { .. })
            ),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    // Without a topic of its own, a message must name one.
    let any = Signer::new(Sns::insecure_any_topic(), KEY_A).unwrap();
    assert!(any.sign_request(br#"{"Message":"x"}"#).is_err());
    assert!(
        any.sign_request(format!(r#"{{"Message":"x","TopicArn":"{TOPIC}"}}"#).as_bytes())
            .is_ok()
    );
    // Not the algorithms SNS signs with.
    assert!(
        signer
            .clone()
            .algorithm(Algorithm::HmacSha256)
            .sign_request(br#"{"Message":"x"}"#)
            .is_err()
    );
}
