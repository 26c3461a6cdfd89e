//! Plaid: an ES256 JWT in `Plaid-Verification`, bound to the body by `request_body_sha256`, its
//! JWK fetched by `kid` through a key source (no network).

use base64::Engine as _;
use http::HeaderMap;
use sha2::{Digest as _, Sha256};
use webhook_receiver::dedup::MemoryStore;
use webhook_receiver::keysource::{KeyCache, KeyError, KeyVerifyError};
use webhook_receiver::providers::Plaid;
use webhook_receiver::testing::{LocalKeys, Signer};
use webhook_receiver::{
    ConfigError, DedupKey, ManualClock, Outcome, Receiver, Request, Verifier, VerifyError,
};

use super::{at, headers};

// A real Plaid webhook, published in a public Q&A ("Hashing Plaid request body webhook",
// mirrored at exchangetuts.com/index.php/hashing-plaid-request-body-webhook-1641639545050570):
// the JWT, the JWK `/webhook_verification_key/get` answered for its `kid`, and the body —
// which is the JSON indented by two spaces, as Plaid sends it (its SHA-256 is the claim). The
// signature verifies under the JWK (also checked with Python's `cryptography`).
const JWT: &str = "eyJhbGciOiJFUzI1NiIsImtpZCI6IjZjNTUxNmUxLTkyZGMtNDc5ZS1hOGZmLTVhNTE5OTJlMDAwMSIsInR5cCI6IkpXVCJ9.eyJpYXQiOjE1OTA4ODcwMDEsInJlcXVlc3RfYm9keV9zaGEyNTYiOiJiNjNhMDdiNTQ3YjAwZjk5MjU0N2Y2YmJjOGQ5YWNjNjFhOGNjZWUxMzhiYzgyZjQ0YTZiYWEwOTY4M2E1ZDBmIn0.OOKvIihgqCj7Qrb2bmz7T3t7uK-0JyjiEqL2s1kWeJBM4MMmjaHKK8GmU_z91QolBWMzvPgs718EElY-rE3cwQ";
const KID: &str = "6c5516e1-92dc-479e-a8ff-5a51992e0001";
const KEY_ANSWER: &str = r#"{
  "key": {
    "alg": "ES256",
    "created_at": 1560466143,
    "crv": "P-256",
    "expired_at": null,
    "kid": "6c5516e1-92dc-479e-a8ff-5a51992e0001",
    "kty": "EC",
    "use": "sig",
    "x": "35lvC8uz2QrWpQJ3TUH8t9o9DURMp7ydU518RKDl20k",
    "y": "I8BuXB2bvxelzJAd7OKhd-ZwjCst05Fx47Mb_0ugros"
  },
  "request_id": "HvfCtrDLG1ihcp7"
}"#;
const BODY: &[u8] = b"{\n  \"error\": null,\n  \"item_id\": \"yxQbxDjnD8hr69pKbQpbcKeVn3GL9QuyA7NV3\",\n  \"new_transactions\": 390,\n  \"webhook_code\": \"HISTORICAL_UPDATE\",\n  \"webhook_type\": \"TRANSACTIONS\"\n}";
const IAT: i64 = 1_590_887_001;

fn plaid_headers(jwt: &str) -> HeaderMap {
    headers(&[("plaid-verification", jwt)])
}

fn verifier() -> Verifier {
    Verifier::builder(Plaid::new()).build().unwrap()
}

async fn verify(
    source: &LocalKeys,
    jwt: &str,
    body: &[u8],
    now: i64,
) -> Result<DedupKey<'static>, KeyVerifyError> {
    let v = verifier();
    let h = plaid_headers(jwt);
    KeyCache::new(source.clone())
        .verify_request_at(&v, &Request::new(&h, body), at(now))
        .await
        .map(|v| v.dedup_key().into_owned())
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A JWT as Plaid makes them, signed with `key`.
fn jwt(key: &p256::ecdsa::SigningKey, header: &str, claims: &str) -> String {
    use p256::ecdsa::signature::hazmat::PrehashSigner as _;
    let input = format!(
        "{}.{}",
        b64url(header.as_bytes()),
        b64url(claims.as_bytes())
    );
    let signature: p256::ecdsa::Signature =
        key.sign_prehash(&Sha256::digest(input.as_bytes())).unwrap();
    format!("{input}.{}", b64url(&signature.to_bytes()))
}

fn claims(iat: i64, body: &[u8]) -> String {
    format!(
        r#"{{"iat":{iat},"request_body_sha256":"{}"}}"#,
        hex::encode(Sha256::digest(body))
    )
}

/// A test key and its JWK, named `kid`.
fn test_key(kid: &str) -> (p256::ecdsa::SigningKey, String) {
    let key = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
    // The uncompressed SEC1 point: 0x04, then x and y.
    let point = key.verifying_key().to_sec1_point(false);
    let bytes = point.as_bytes();
    let jwk = format!(
        r#"{{"alg":"ES256","crv":"P-256","kid":"{kid}","kty":"EC","use":"sig","x":"{}","y":"{}","created_at":1,"expired_at":null}}"#,
        b64url(&bytes[1..33]),
        b64url(&bytes[33..]),
    );
    (key, jwk)
}

#[tokio::test]
async fn published_plaid_webhook_verifies() {
    let source = LocalKeys::new().with(KID, KEY_ANSWER);
    let key = verify(&source, JWT, BODY, IAT).await.unwrap();
    assert!(matches!(key, DedupKey::Digest(_)), "Plaid has no event id");
    assert_eq!(source.fetches(), 1);
    // Plaid's 5 minutes, past; 5 minutes future as policy.
    assert!(verify(&source, JWT, BODY, IAT + 300).await.is_ok());
    assert!(matches!(
        verify(&source, JWT, BODY, IAT + 301).await,
        Err(KeyVerifyError::Verify(VerifyError::TimestampTooOld { .. }))
    ));
    assert!(matches!(
        verify(&source, JWT, BODY, IAT - 301).await,
        Err(KeyVerifyError::Verify(
            VerifyError::TimestampInFuture { .. }
        ))
    ));
    // The body is bound by its hash: compact JSON of the same data is another body.
    let compact = br#"{"error": null, "item_id": "yxQbxDjnD8hr69pKbQpbcKeVn3GL9QuyA7NV3", "new_transactions": 390, "webhook_code": "HISTORICAL_UPDATE", "webhook_type": "TRANSACTIONS"}"#;
    let fetched = source.fetches();
    assert!(matches!(
        verify(&source, JWT, compact, IAT).await,
        Err(KeyVerifyError::Verify(VerifyError::SignatureMismatch))
    ));
    assert_eq!(
        source.fetches(),
        fetched,
        "the body hash is checked before any fetch"
    );
    // A bare JWK (not wrapped in Plaid's answer) and a pinned JWK work too.
    let bare = serde_json::to_string(
        &serde_json::from_str::<serde_json::Value>(KEY_ANSWER).unwrap()["key"],
    )
    .unwrap();
    assert!(
        verify(&LocalKeys::new().with(KID, &bare), JWT, BODY, IAT)
            .await
            .is_ok()
    );
    let pinned = Verifier::builder(Plaid::new())
        .public_key(&bare)
        .build()
        .unwrap();
    assert!(!pinned.fetches_keys());
    assert!(pinned.verify_at(&plaid_headers(JWT), BODY, at(IAT)).is_ok());
}

#[tokio::test]
async fn a_tampered_jwt_fails() {
    let source = LocalKeys::new().with(KID, KEY_ANSWER);
    let parts: Vec<&str> = JWT.split('.').collect();
    // Another signature (the first byte flipped).
    let mut sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts[2])
        .unwrap();
    sig[0] ^= 1;
    let forged = format!("{}.{}.{}", parts[0], parts[1], b64url(&sig));
    assert!(matches!(
        verify(&source, &forged, BODY, IAT).await,
        Err(KeyVerifyError::Verify(VerifyError::SignatureMismatch))
    ));
    // Claims re-made for another body, with the original signature.
    let claims = b64url(claims(IAT, b"{}").as_bytes());
    let forged = format!("{}.{claims}.{}", parts[0], parts[2]);
    assert!(matches!(
        verify(&source, &forged, b"{}", IAT).await,
        Err(KeyVerifyError::Verify(VerifyError::SignatureMismatch))
    ));
}

#[tokio::test]
async fn algorithm_and_shape_are_checked_before_any_fetch() {
    let source = LocalKeys::new().with(KID, KEY_ANSWER);
    let (key, _) = test_key(KID);
    let good_claims = claims(IAT, BODY);
    let mut cases = vec![
        String::new(),
        "a.b".to_owned(),
        "a.b.c.d".to_owned(),
        "!!.!!.!!".to_owned(),
        format!("{}.{}.", b64url(b"{}"), b64url(b"{}")),
        // `none`, HMAC and RSA algorithms are all refused.
        jwt(&key, r#"{"alg":"none","kid":"k"}"#, &good_claims),
        jwt(&key, r#"{"alg":"HS256","kid":"k"}"#, &good_claims),
        jwt(&key, r#"{"alg":"RS256","kid":"k"}"#, &good_claims),
        jwt(&key, r#"{"kid":"k"}"#, &good_claims),
        jwt(&key, r#"{"alg":"ES256"}"#, &good_claims),
        jwt(&key, r#"{"alg":"ES256","kid":""}"#, &good_claims),
        jwt(&key, r#"["ES256"]"#, &good_claims),
        jwt(
            &key,
            r#"{"alg":"ES256","kid":"k"}"#,
            r#"{"iat":1590887001}"#,
        ),
        jwt(
            &key,
            r#"{"alg":"ES256","kid":"k"}"#,
            r#"{"request_body_sha256":"00"}"#,
        ),
        jwt(
            &key,
            r#"{"alg":"ES256","kid":"k"}"#,
            &format!(
                r#"{{"iat":"{IAT}","request_body_sha256":"{}"}}"#,
                hex::encode(Sha256::digest(BODY))
            ),
        ),
        jwt(
            &key,
            r#"{"alg":"ES256","kid":"k"}"#,
            &format!(
                r#"{{"iat":-1,"request_body_sha256":"{}"}}"#,
                hex::encode(Sha256::digest(BODY))
            ),
        ),
        jwt(
            &key,
            r#"{"alg":"ES256","kid":"k"}"#,
            r#"{"iat":1590887001,"request_body_sha256":"not hex"}"#,
        ),
        format!("{}.{}", JWT, "x").replace(".x", ".x.y"),
        "x".repeat(5000),
    ];
    // A signature that is not 64 bytes of base64url.
    let parts: Vec<&str> = JWT.split('.').collect();
    cases.push(format!("{}.{}.{}", parts[0], parts[1], "AAAA"));
    cases.push(format!("{}.{}.{}=", parts[0], parts[1], parts[2]));
    for case in &cases {
        let result = verify(&source, case, BODY, IAT).await;
        assert!(
            matches!(
                result,
                Err(KeyVerifyError::Verify(VerifyError::MalformedHeader { .. }))
            ),
            "{case:?}: {result:?}"
        );
    }
    assert!(matches!(
        KeyCache::new(source.clone())
            .verify_request_at(&verifier(), &Request::new(&HeaderMap::new(), BODY), at(IAT))
            .await,
        Err(KeyVerifyError::Verify(VerifyError::MissingHeader { .. }))
    ));
    assert_eq!(source.fetches(), 0);
}

#[tokio::test]
async fn keys_are_refused_when_rotated_out_or_for_another_kid() {
    // Plaid's example refuses a key once `expired_at` is set.
    let expired = KEY_ANSWER.replace(r#""expired_at": null"#, r#""expired_at": 1600000000"#);
    let result = verify(&LocalKeys::new().with(KID, &expired), JWT, BODY, IAT).await;
    assert!(
        matches!(result, Err(KeyVerifyError::Key(KeyError::Expired))),
        "{result:?}"
    );
    let other_kid = KEY_ANSWER.replace(r#""kid": "6c55"#, r#""kid": "0000"#);
    let result = verify(&LocalKeys::new().with(KID, &other_kid), JWT, BODY, IAT).await;
    assert!(
        matches!(result, Err(KeyVerifyError::Key(KeyError::Invalid { .. }))),
        "{result:?}"
    );
    for bad in [
        r#"{"kty":"RSA","n":"AQAB","e":"AQAB"}"#,
        r#"{"kty":"EC","crv":"P-384","x":"AA","y":"AA"}"#,
        r#"{"kty":"EC","crv":"P-256","alg":"ES384","x":"35lvC8uz2QrWpQJ3TUH8t9o9DURMp7ydU518RKDl20k","y":"I8BuXB2bvxelzJAd7OKhd-ZwjCst05Fx47Mb_0ugros"}"#,
        r#"{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}"#,
        r#"{"kty":"EC","crv":"P-256","x":"35lvC8uz2QrWpQJ3TUH8t9o9DURMp7ydU518RKDl20k","y":"35lvC8uz2QrWpQJ3TUH8t9o9DURMp7ydU518RKDl20k"}"#,
        "not json",
    ] {
        let result = verify(&LocalKeys::new().with(KID, bad), JWT, BODY, IAT).await;
        assert!(
            matches!(result, Err(KeyVerifyError::Key(KeyError::Invalid { .. }))),
            "{bad}: {result:?}"
        );
    }
    let unknown = LocalKeys::new().with(KID, KEY_ANSWER);
    unknown.remove(KID);
    let err = verify(&unknown, JWT, BODY, IAT).await.unwrap_err();
    assert!(matches!(err, KeyVerifyError::Key(KeyError::NotFound)));
    assert_eq!(err.status(), 401);
}

#[tokio::test]
async fn own_key_round_trip_through_a_receiver() {
    let (key, jwk) = test_key("test-kid");
    let now = 1_796_040_000;
    let body =
        b"{\n  \"webhook_type\": \"ITEM\",\n  \"webhook_code\": \"WEBHOOK_UPDATE_ACKNOWLEDGED\"\n}";
    let token = jwt(
        &key,
        r#"{"alg":"ES256","kid":"test-kid","typ":"JWT"}"#,
        &claims(now, body),
    );
    let source = LocalKeys::new().with("test-kid", format!(r#"{{"key":{jwk},"request_id":"r"}}"#));
    let verifier = Verifier::builder(Plaid::new())
        .clock(ManualClock::at_unix(now))
        .build()
        .unwrap();
    let receiver = Receiver::builder(verifier, MemoryStore::new())
        .namespace("plaid-items")
        .key_cache(KeyCache::new(source.clone()))
        .build()
        .unwrap();
    let h = plaid_headers(&token);
    let Outcome::New(delivery) = receiver.receive(&h, body).await.unwrap() else {
        panic!("new");
    };
    assert_eq!(delivery.verified().key_label(), Some("test-kid"));
    assert!(delivery.key().starts_with("plaid-items:digest:"));
    assert!(delivery.complete().await.unwrap());
    // The same JWT again: a duplicate. A new JWT for the same body (a new `iat`): a new
    // delivery, as documented.
    assert!(matches!(
        receiver.receive(&h, body).await.unwrap(),
        Outcome::Duplicate(_)
    ));
    let again = jwt(
        &key,
        r#"{"alg":"ES256","kid":"test-kid","typ":"JWT"}"#,
        &claims(now - 1, body),
    );
    assert!(matches!(
        receiver
            .receive(&plaid_headers(&again), body)
            .await
            .unwrap(),
        Outcome::New(_)
    ));
    assert_eq!(source.fetches(), 1, "the key was cached");
}

// ---------------------------------------------------------------- testing::Signer

fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[tokio::test]
async fn a_generated_signer_signs_as_plaid() {
    let (signer, document) = Signer::generate(Plaid::new()).unwrap();
    let kid = signer.remote_key_id().unwrap().to_owned();
    // The document is Plaid's answer to `/webhook_verification_key/get` for that kid.
    let answer: serde_json::Value = serde_json::from_str(&document).unwrap();
    let key = &answer["key"];
    assert_eq!(key["kid"], kid.as_str());
    assert_eq!(key["alg"], "ES256");
    assert_eq!(key["crv"], "P-256");
    assert_eq!(key["kty"], "EC");
    assert_eq!(key["use"], "sig");
    assert!(key["expired_at"].is_null() && key["created_at"].is_i64());
    assert!(answer["request_id"].is_string());

    let body =
        b"{\n  \"webhook_type\": \"ITEM\",\n  \"webhook_code\": \"WEBHOOK_UPDATE_ACKNOWLEDGED\"\n}";
    let h = signer.sign(body).unwrap();
    let jwt = h["plaid-verification"].to_str().unwrap();
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(jwt.split('.').next().unwrap())
        .unwrap();
    assert_eq!(
        String::from_utf8(header).unwrap(),
        format!(r#"{{"alg":"ES256","kid":"{kid}","typ":"JWT"}}"#)
    );
    let source = LocalKeys::new().with(&kid, &document);
    assert!(verify(&source, jwt, body, unix_now()).await.is_ok());
    // The bare JWK pins the key.
    let pinned = Verifier::builder(Plaid::new())
        .public_key(&signer.public_key().unwrap())
        .build()
        .unwrap();
    assert!(pinned.verify(&h, body).is_ok());
    // Another body.
    assert!(matches!(
        verify(&source, jwt, b"{}", unix_now()).await,
        Err(KeyVerifyError::Verify(VerifyError::SignatureMismatch))
    ));
    // Another key under the same kid.
    let (other, _) = Signer::generate(Plaid::new()).unwrap();
    assert_ne!(other.remote_key_id(), Some(kid.as_str()));
    let forged = other.key_id(&kid).sign(body).unwrap();
    assert!(matches!(
        verify(
            &source,
            forged["plaid-verification"].to_str().unwrap(),
            body,
            unix_now()
        )
        .await,
        Err(KeyVerifyError::Verify(VerifyError::SignatureMismatch))
    ));
    // Issued more than 5 minutes ago.
    let old = signer.timestamp(unix_now() - 301).sign(body).unwrap();
    assert!(matches!(
        verify(
            &source,
            old["plaid-verification"].to_str().unwrap(),
            body,
            unix_now()
        )
        .await,
        Err(KeyVerifyError::Verify(VerifyError::TimestampTooOld { .. }))
    ));
    // A kid Plaid does not know.
    let unknown = Signer::generate(Plaid::new())
        .unwrap()
        .0
        .sign(body)
        .unwrap();
    assert!(matches!(
        verify(
            &source,
            unknown["plaid-verification"].to_str().unwrap(),
            body,
            unix_now()
        )
        .await,
        Err(KeyVerifyError::Key(KeyError::NotFound))
    ));
}

/// The signer's JWT for a fixed key, kid and time is the hand-made one (`jwt`, `claims`).
#[test]
fn the_signer_matches_the_hand_made_jwt() {
    let (key, _) = test_key("test-kid");
    let now = 1_796_040_000;
    let body = b"{\n  \"item_id\": \"x\"\n}";
    let expected = jwt(
        &key,
        r#"{"alg":"ES256","kid":"test-kid","typ":"JWT"}"#,
        &claims(now, body),
    );
    // The scalar in hex, and the same key in PKCS#8 PEM.
    use p256::pkcs8::EncodePrivateKey as _;
    let pem = key.to_pkcs8_pem(p256::pkcs8::LineEnding::LF).unwrap();
    for private in [hex::encode([7u8; 32]), pem.to_string()] {
        let h = Signer::new(Plaid::new(), &private)
            .unwrap()
            .key_id("test-kid")
            .timestamp(now)
            .sign(body)
            .unwrap();
        assert_eq!(h["plaid-verification"], expected.as_str());
    }
}

#[test]
fn the_signer_refuses_bad_keys() {
    let rsa = include_str!("../fixtures/keys/rsa-a.key.pem");
    for key in ["", "not a key", "00", rsa, KEY_ANSWER] {
        assert!(
            matches!(
                Signer::new(Plaid::new(), key),
                Err(ConfigError::InvalidSecret { .. })
            ),
            "{key:?}"
        );
    }
    assert!(
        Signer::new(Plaid::new(), &hex::encode([7u8; 32]))
            .unwrap()
            .algorithm(webhook_receiver::Algorithm::EcdsaP256Sha256)
            .sign(b"{}")
            .is_err(),
        "Plaid signs with ES256 only"
    );
}
